//! The VRRPv3 state machine of RFC 5798 §6.4, pure: inputs carry the
//! current time, outputs are actions for the daemon to perform. Timers are
//! deadlines the daemon sleeps until, so tests drive time by hand.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// RFC 5798 states plus keepalived's FAULT (a failed tracked check that is
/// configured to take this node out of the election).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initialize,
    Backup,
    Master,
    Fault,
}

impl State {
    pub const ALL: [State; 4] = [
        State::Initialize,
        State::Backup,
        State::Master,
        State::Fault,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }

    /// Numeric value of the `vrrp_state` gauge.
    pub fn code(self) -> i64 {
        match self {
            State::Initialize => 0,
            State::Backup => 1,
            State::Master => 2,
            State::Fault => 3,
        }
    }
}

/// The address owner's priority: it is master from startup (RFC 5798 §6.1).
pub const OWNER_PRIORITY: u8 = 255;

/// Fixed settings of one virtual router.
#[derive(Debug, Clone)]
pub struct Params {
    /// Our primary address: the advert source and the tie-breaker on equal
    /// priorities.
    pub local_ip: Ipv4Addr,
    pub priority: u8,
    /// Advertisement_Interval, centiseconds.
    pub advert_int_cs: u16,
    pub preempt: bool,
    /// How long a backup that outranks the master keeps deferring to it
    /// (keepalived's `preempt_delay`).
    pub preempt_delay: Duration,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Startup,
    Shutdown,
    /// Time passed; expired timers fire.
    Tick,
    /// An advertisement that passed the codec checks.
    Advert {
        src: Ipv4Addr,
        priority: u8,
        interval_cs: u16,
    },
    /// Tracked checks changed the effective priority.
    Priority(u8),
    /// A tracked check with weight 0 failed (`true`) or recovered.
    Fault(bool),
}

/// What the daemon must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SendAdvert {
        priority: u8,
    },
    /// Add the virtual addresses and send gratuitous ARPs.
    TakeVip,
    /// Send the gratuitous ARPs again: `rival` claimed MASTER with a lower
    /// priority (`priority`), and its own ARPs may have moved the segment
    /// to its MAC (keepalived's `garp_lower_prio_repeat`).
    Reannounce {
        rival: Ipv4Addr,
        priority: u8,
    },
    ReleaseVip,
    Changed {
        from: State,
        to: State,
    },
}

/// One virtual router.
#[derive(Debug)]
pub struct Router {
    params: Params,
    state: State,
    faulted: bool,
    /// Master_Adver_Interval learnt from the current master, centiseconds.
    master_adver_cs: u16,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    /// When a lower-priority master was first seen, for the preempt delay.
    lower_master_since: Option<Instant>,
}

fn cs(v: u64) -> Duration {
    Duration::from_millis(v * 10)
}

impl Router {
    pub fn new(params: Params) -> Router {
        Router {
            master_adver_cs: params.advert_int_cs,
            params,
            state: State::Initialize,
            faulted: false,
            adver_timer: None,
            master_down_timer: None,
            lower_master_since: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn priority(&self) -> u8 {
        self.params.priority
    }

    /// Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256.
    pub fn skew_time(&self) -> Duration {
        let p = self.params.priority as u64;
        Duration::from_micros((256 - p) * self.master_adver_cs as u64 * 10_000 / 256)
    }

    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        cs(3 * self.master_adver_cs as u64) + self.skew_time()
    }

    /// The earliest moment a `Tick` can change anything.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Master => self.adver_timer,
            State::Backup => self.master_down_timer,
            State::Initialize | State::Fault => None,
        }
    }

    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Startup => self.startup(now, &mut out),
            Input::Shutdown => self.shutdown(&mut out),
            Input::Tick => self.tick(now, &mut out),
            Input::Advert {
                src,
                priority,
                interval_cs,
            } => {
                if src != self.params.local_ip {
                    self.advert(src, priority, interval_cs.max(1), now, &mut out);
                }
            }
            Input::Priority(p) => {
                let changed = p != self.params.priority;
                self.params.priority = p;
                if changed && self.state == State::Master {
                    // Tell the backups at once so a higher one can preempt.
                    self.send_advert(now, &mut out);
                }
            }
            Input::Fault(f) => self.fault(f, now, &mut out),
        }
        out
    }

    fn startup(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state != State::Initialize {
            return;
        }
        if self.faulted {
            self.go(State::Fault, out);
        } else if self.params.priority == OWNER_PRIORITY {
            self.become_master(now, out);
        } else {
            self.become_backup(self.params.advert_int_cs, now, out);
        }
    }

    fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Master {
            // Priority 0 lets a backup take over after Skew_Time instead of
            // Master_Down_Interval (RFC 5798 §6.4.3).
            out.push(Action::SendAdvert { priority: 0 });
            out.push(Action::ReleaseVip);
        }
        self.adver_timer = None;
        self.master_down_timer = None;
        self.go(State::Initialize, out);
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Backup if self.master_down_timer.is_some_and(|t| now >= t) => {
                self.become_master(now, out)
            }
            State::Master if self.adver_timer.is_some_and(|t| now >= t) => {
                self.send_advert(now, out)
            }
            _ => {}
        }
    }

    fn advert(
        &mut self,
        src: Ipv4Addr,
        priority: u8,
        interval_cs: u16,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let local = self.params.priority;
        match self.state {
            State::Backup => {
                if priority == 0 {
                    self.master_down_timer = Some(now + self.skew_time());
                    return;
                }
                let defer = if !self.params.preempt || priority >= local {
                    self.lower_master_since = None;
                    true
                } else {
                    let since = *self.lower_master_since.get_or_insert(now);
                    now.duration_since(since) < self.params.preempt_delay
                };
                if defer {
                    self.master_adver_cs = interval_cs;
                    self.master_down_timer = Some(now + self.master_down_interval());
                }
            }
            State::Master => {
                if priority == 0 {
                    self.send_advert(now, out);
                } else if priority > local || (priority == local && src > self.params.local_ip) {
                    out.push(Action::ReleaseVip);
                    self.become_backup(interval_cs, now, out);
                } else {
                    // Another master that loses to us (split brain healing,
                    // or a takeover while we were stalled): answer at once
                    // so it steps down within one packet, and announce the
                    // VIP again. We stay MASTER (RFC 5798 §6.4.3).
                    self.send_advert(now, out);
                    out.push(Action::Reannounce {
                        rival: src,
                        priority,
                    });
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn fault(&mut self, faulted: bool, now: Instant, out: &mut Vec<Action>) {
        self.faulted = faulted;
        match (faulted, self.state) {
            (true, State::Master) => {
                out.push(Action::SendAdvert { priority: 0 });
                out.push(Action::ReleaseVip);
                self.adver_timer = None;
                self.go(State::Fault, out);
            }
            (true, State::Backup) => {
                self.master_down_timer = None;
                self.go(State::Fault, out);
            }
            (false, State::Fault) => self.become_backup(self.params.advert_int_cs, now, out),
            _ => {}
        }
    }

    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.master_down_timer = None;
        self.lower_master_since = None;
        self.master_adver_cs = self.params.advert_int_cs;
        self.send_advert(now, out);
        out.push(Action::TakeVip);
        self.go(State::Master, out);
    }

    fn become_backup(&mut self, master_adver_cs: u16, now: Instant, out: &mut Vec<Action>) {
        self.adver_timer = None;
        self.master_adver_cs = master_adver_cs;
        self.master_down_timer = Some(now + self.master_down_interval());
        self.go(State::Backup, out);
    }

    fn send_advert(&mut self, now: Instant, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: self.params.priority,
        });
        self.adver_timer = Some(now + cs(self.params.advert_int_cs as u64));
    }

    fn go(&mut self, to: State, out: &mut Vec<Action>) {
        if to != self.state {
            out.push(Action::Changed {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
    const LOWER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const HIGHER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);

    fn params(priority: u8) -> Params {
        Params {
            local_ip: ME,
            priority,
            advert_int_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
        }
    }

    fn advert(src: Ipv4Addr, priority: u8) -> Input {
        Input::Advert {
            src,
            priority,
            interval_cs: 100,
        }
    }

    fn started(p: Params, t0: Instant) -> Router {
        let mut r = Router::new(p);
        r.handle(Input::Startup, t0);
        r
    }

    fn master(priority: u8, t0: Instant) -> Router {
        let mut r = started(params(priority), t0);
        let at = t0 + r.master_down_interval();
        r.handle(Input::Tick, at);
        assert_eq!(r.state(), State::Master);
        r
    }

    #[test]
    fn master_down_interval_is_three_intervals_plus_skew() {
        let r = Router::new(params(100));
        // skew = (256-100)*1s/256 = 609.375 ms
        assert_eq!(r.skew_time(), Duration::from_micros(609_375));
        assert_eq!(r.master_down_interval(), Duration::from_micros(3_609_375));
        let fast = Router::new(Params {
            advert_int_cs: 10,
            ..params(200)
        });
        assert_eq!(fast.master_down_interval(), Duration::from_micros(321_875));
    }

    #[test]
    fn startup_enters_backup_and_arms_master_down_timer() {
        let t0 = Instant::now();
        let r = started(params(100), t0);
        assert_eq!(r.state(), State::Backup);
        assert_eq!(r.next_deadline(), Some(t0 + r.master_down_interval()));
    }

    #[test]
    fn address_owner_becomes_master_at_startup() {
        let t0 = Instant::now();
        let mut r = Router::new(params(OWNER_PRIORITY));
        let acts = r.handle(Input::Startup, t0);
        assert_eq!(r.state(), State::Master);
        assert_eq!(acts[0], Action::SendAdvert { priority: 255 });
        assert!(acts.contains(&Action::TakeVip));
    }

    #[test]
    fn silent_segment_makes_backup_master_after_master_down_interval() {
        let t0 = Instant::now();
        let mut r = started(params(100), t0);
        let mdi = r.master_down_interval();
        assert!(r
            .handle(Input::Tick, t0 + mdi - Duration::from_millis(1))
            .is_empty());
        let acts = r.handle(Input::Tick, t0 + mdi);
        assert_eq!(
            acts,
            vec![
                Action::SendAdvert { priority: 100 },
                Action::TakeVip,
                Action::Changed {
                    from: State::Backup,
                    to: State::Master
                }
            ]
        );
    }

    #[test]
    fn master_advertises_every_interval() {
        let t0 = Instant::now();
        let mut r = master(100, t0);
        let next = r.next_deadline().unwrap();
        assert_eq!(
            r.handle(Input::Tick, next),
            vec![Action::SendAdvert { priority: 100 }]
        );
        assert_eq!(r.next_deadline(), Some(next + Duration::from_secs(1)));
    }

    #[test]
    fn backup_hearing_higher_master_resets_its_timer() {
        let t0 = Instant::now();
        let mut r = started(params(100), t0);
        let t1 = t0 + Duration::from_secs(3);
        r.handle(advert(LOWER_IP, 150), t1);
        assert_eq!(r.next_deadline(), Some(t1 + r.master_down_interval()));
    }

    #[test]
    fn advert_read_after_the_deadline_still_keeps_the_backup_from_taking_over() {
        // A stalled daemon reads the adverts queued during the stall before
        // its expired timer; they must count as a live master.
        let t0 = Instant::now();
        let mut r = started(params(100), t0);
        let late = r.next_deadline().unwrap() + Duration::from_secs(1);
        r.handle(advert(LOWER_IP, 150), late);
        assert!(r.handle(Input::Tick, late).is_empty());
        assert_eq!(r.state(), State::Backup);
    }

    #[test]
    fn backup_learns_the_masters_interval() {
        let t0 = Instant::now();
        let mut r = started(params(100), t0);
        r.handle(
            Input::Advert {
                src: LOWER_IP,
                priority: 150,
                interval_cs: 10,
            },
            t0,
        );
        assert_eq!(
            r.next_deadline(),
            Some(t0 + Duration::from_millis(300) + Duration::from_micros(60_937))
        );
    }

    #[test]
    fn preempting_backup_ignores_lower_master_and_takes_over() {
        let t0 = Instant::now();
        let mut r = started(params(200), t0);
        let deadline = r.next_deadline().unwrap();
        r.handle(advert(LOWER_IP, 100), t0 + Duration::from_secs(1));
        assert_eq!(r.next_deadline(), Some(deadline));
        r.handle(Input::Tick, deadline);
        assert_eq!(r.state(), State::Master);
    }

    #[test]
    fn nopreempt_backup_defers_to_lower_master() {
        let t0 = Instant::now();
        let mut r = started(
            Params {
                preempt: false,
                ..params(200)
            },
            t0,
        );
        let t1 = t0 + Duration::from_secs(1);
        r.handle(advert(LOWER_IP, 100), t1);
        assert_eq!(r.next_deadline(), Some(t1 + r.master_down_interval()));
    }

    #[test]
    fn preempt_delay_defers_to_lower_master_until_it_elapses() {
        let t0 = Instant::now();
        let mut r = started(
            Params {
                preempt_delay: Duration::from_secs(5),
                ..params(200)
            },
            t0,
        );
        let mut t = t0;
        for _ in 0..5 {
            t += Duration::from_secs(1);
            r.handle(advert(LOWER_IP, 100), t);
            assert_eq!(r.next_deadline(), Some(t + r.master_down_interval()));
        }
        let last = r.next_deadline().unwrap();
        r.handle(advert(LOWER_IP, 100), t + Duration::from_secs(1));
        assert_eq!(r.next_deadline(), Some(last), "delay over: stop deferring");
    }

    #[test]
    fn priority_zero_makes_backup_take_over_after_skew_time() {
        let t0 = Instant::now();
        let mut r = started(params(100), t0);
        r.handle(advert(LOWER_IP, 0), t0);
        assert_eq!(r.next_deadline(), Some(t0 + r.skew_time()));
    }

    #[test]
    fn master_yields_to_higher_priority() {
        let t0 = Instant::now();
        let mut r = master(100, t0);
        let acts = r.handle(advert(LOWER_IP, 101), t0 + Duration::from_secs(5));
        assert_eq!(acts[0], Action::ReleaseVip);
        assert_eq!(r.state(), State::Backup);
    }

    #[test]
    fn equal_priority_tie_breaks_on_the_higher_primary_address() {
        let t0 = Instant::now();
        let mut r = master(100, t0);
        let acts = r.handle(advert(LOWER_IP, 100), t0);
        assert_eq!(acts[0], Action::SendAdvert { priority: 100 });
        assert_eq!(r.state(), State::Master);
        r.handle(advert(HIGHER_IP, 100), t0);
        assert_eq!(r.state(), State::Backup);
    }

    #[test]
    fn master_answers_lower_master_at_once_and_reannounces_the_vip() {
        let t0 = Instant::now();
        let mut r = master(200, t0);
        let acts = r.handle(advert(LOWER_IP, 100), t0);
        assert_eq!(
            acts,
            vec![
                Action::SendAdvert { priority: 200 },
                Action::Reannounce {
                    rival: LOWER_IP,
                    priority: 100
                }
            ]
        );
        assert_eq!(r.state(), State::Master);
    }

    #[test]
    fn master_answers_priority_zero_with_an_advert() {
        let t0 = Instant::now();
        let mut r = master(100, t0);
        assert_eq!(
            r.handle(advert(HIGHER_IP, 0), t0),
            vec![Action::SendAdvert { priority: 100 }]
        );
    }

    #[test]
    fn own_looped_back_advert_is_ignored() {
        let t0 = Instant::now();
        let mut r = master(100, t0);
        assert!(r.handle(advert(ME, 100), t0).is_empty());
    }

    #[test]
    fn master_shutdown_sends_priority_zero_and_releases() {
        let t0 = Instant::now();
        let mut r = master(100, t0);
        let acts = r.handle(Input::Shutdown, t0);
        assert_eq!(acts[0], Action::SendAdvert { priority: 0 });
        assert_eq!(acts[1], Action::ReleaseVip);
        assert_eq!(r.state(), State::Initialize);
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn priority_change_on_master_is_advertised_at_once() {
        let t0 = Instant::now();
        let mut r = master(100, t0);
        assert_eq!(
            r.handle(Input::Priority(80), t0),
            vec![Action::SendAdvert { priority: 80 }]
        );
        assert!(r.handle(Input::Priority(80), t0).is_empty());
    }

    #[test]
    fn fault_releases_the_vip_and_recovery_returns_to_backup() {
        let t0 = Instant::now();
        let mut r = master(100, t0);
        let acts = r.handle(Input::Fault(true), t0);
        assert_eq!(acts[0], Action::SendAdvert { priority: 0 });
        assert_eq!(acts[1], Action::ReleaseVip);
        assert_eq!(r.state(), State::Fault);
        assert_eq!(r.next_deadline(), None);
        r.handle(advert(LOWER_IP, 50), t0);
        assert_eq!(r.state(), State::Fault, "a faulted node never takes over");
        r.handle(Input::Fault(false), t0);
        assert_eq!(r.state(), State::Backup);
    }

    #[test]
    fn faulted_at_startup_stays_out_of_the_election() {
        let t0 = Instant::now();
        let mut r = Router::new(params(100));
        r.handle(Input::Fault(true), t0);
        r.handle(Input::Startup, t0);
        assert_eq!(r.state(), State::Fault);
    }
}
