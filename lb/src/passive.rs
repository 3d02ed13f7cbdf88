//! Passive health: an upstream that fails `max_fails` times within
//! `fail_timeout` is skipped for `fail_timeout` (nginx `max_fails` /
//! `fail_timeout`). Active health checks find a dead host within an interval;
//! this reacts on the very request that failed. Time is passed in, so the
//! rules are tested without sleeping.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, Copy)]
struct State {
    fails: u32,
    window_start: Option<Instant>,
    down_until: Option<Instant>,
}

pub struct Passive {
    max_fails: u32,
    fail_timeout: Duration,
    states: Mutex<HashMap<SocketAddr, State>>,
}

impl Passive {
    pub fn new(max_fails: u32, fail_timeout: Duration) -> Self {
        Passive {
            max_fails,
            fail_timeout,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failed attempt; returns true when this failure takes the
    /// upstream out.
    pub fn failed(&self, addr: SocketAddr, now: Instant) -> bool {
        if self.max_fails == 0 {
            return false;
        }
        let mut states = self.states.lock().expect("passive lock");
        let s = states.entry(addr).or_default();
        let window_over = s
            .window_start
            .is_none_or(|t| now.duration_since(t) >= self.fail_timeout);
        if window_over {
            s.fails = 0;
            s.window_start = Some(now);
        }
        s.fails += 1;
        if s.fails >= self.max_fails {
            s.fails = 0;
            s.window_start = None;
            s.down_until = Some(now + self.fail_timeout);
            return true;
        }
        false
    }

    /// A success clears the failure count (the upstream is back).
    pub fn succeeded(&self, addr: SocketAddr) {
        let mut states = self.states.lock().expect("passive lock");
        if let Some(s) = states.get_mut(&addr) {
            *s = State::default();
        }
    }

    pub fn available(&self, addr: SocketAddr, now: Instant) -> bool {
        let states = self.states.lock().expect("passive lock");
        states
            .get(&addr)
            .and_then(|s| s.down_until)
            .is_none_or(|t| now >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> SocketAddr {
        "127.0.0.1:8888".parse().unwrap()
    }

    #[test]
    fn max_fails_within_window_takes_upstream_out_for_fail_timeout() {
        let p = Passive::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(!p.failed(a(), t0));
        assert!(p.available(a(), t0));
        assert!(p.failed(a(), t0 + Duration::from_secs(1)));
        assert!(!p.available(a(), t0 + Duration::from_secs(5)));
        assert!(p.available(a(), t0 + Duration::from_secs(11)));
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_add_up() {
        let p = Passive::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        p.failed(a(), t0);
        assert!(!p.failed(a(), t0 + Duration::from_secs(20)));
        assert!(p.available(a(), t0 + Duration::from_secs(20)));
    }

    #[test]
    fn success_resets_the_count() {
        let p = Passive::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        p.failed(a(), t0);
        p.succeeded(a());
        assert!(!p.failed(a(), t0));
    }

    #[test]
    fn zero_max_fails_disables_passive_marking() {
        let p = Passive::new(0, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(!p.failed(a(), t0));
        assert!(p.available(a(), t0));
    }
}
