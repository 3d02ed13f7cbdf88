//! The event loop: feeds packets, timers, health results and the shutdown
//! signal into the state machine and carries out the actions it returns.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferrodfs_runtime::Shutdown;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::net::{ArpSocket, Iface, VrrpSocket};
use crate::netlink::Addresses;
use crate::packet::{self, Advert, DropReason, VRRP_GROUP};
use crate::state::{Action, Input, Params, Router, State, OWNER_PRIORITY};
use crate::track::{self, Health};
use crate::{arp, notify, realtime};

/// Most datagrams read in one drain: more than a default receive buffer
/// holds of adverts.
const DRAIN_LIMIT: usize = 1024;

/// An address change slower than this is logged as a warning.
const SLOW_ADDRESS_CHANGE: Duration = Duration::from_millis(200);

/// Everything the actions touch.
struct Edge {
    cfg: Config,
    src: Ipv4Addr,
    iface: Iface,
    sock: VrrpSocket,
    arp: Arc<ArpSocket>,
    addrs: Addresses,
    metrics: Metrics,
    garp_task: Option<JoinHandle<()>>,
    /// When the first round of the latest gratuitous ARP burst ends.
    garp_burst_end: Instant,
}

/// Runs one virtual router until `shutdown` fires.
pub async fn run(cfg: Config, mut shutdown: Shutdown) -> anyhow::Result<()> {
    if cfg.realtime.unwrap_or_else(realtime::is_root) {
        let rttime = cfg.rlimit_rttime;
        tokio::task::spawn_blocking(move || realtime::apply(rttime))
            .await
            .context("real-time setup task")?;
    }
    let iface = Iface::lookup(&cfg.interface)?;
    let src = match cfg.src_ip {
        Some(ip) => ip,
        None => *iface
            .ipv4
            .iter()
            .find(|ip| !cfg.vips.iter().any(|(v, _)| v == *ip))
            .with_context(|| {
                format!(
                    "interface {} has no IPv4 address of its own to advertise from; \
                     add one or set unicast_src_ip",
                    cfg.interface
                )
            })?,
    };
    let metrics = Metrics::new(&cfg.name);
    if let Some(addr) = cfg.metrics_listen {
        let bound =
            ferrodfs_runtime::metrics::serve(addr, metrics.registry.clone(), shutdown.clone())
                .await?;
        tracing::info!(%bound, "metrics endpoint up");
    }
    let mut edge = Edge {
        sock: VrrpSocket::open(&iface, src)?,
        arp: Arc::new(ArpSocket::open(&iface)?),
        addrs: Addresses::open(iface.index)?,
        src,
        iface,
        metrics,
        garp_task: None,
        garp_burst_end: Instant::now(),
        cfg,
    };
    if edge.cfg.priority != OWNER_PRIORITY {
        // A previous instance killed with -9 may have left the VIP behind;
        // a node that starts as backup must not answer for it.
        edge.release_vips().await;
    }

    let mut health: Vec<Health> = edge
        .cfg
        .tracks
        .iter()
        .map(|t| Health::new(t.rise, t.fall))
        .collect();
    for t in &edge.cfg.tracks {
        edge.metrics.track(&t.name, true);
    }
    let (track_tx, mut track_rx) = mpsc::channel(16);
    track::spawn_probes(&edge.cfg.tracks, track_tx);
    let (priority, _) = effective(&edge.cfg, &health);

    let mut router = Router::new(Params {
        local_ip: src,
        priority,
        advert_int_cs: edge.cfg.advert_int_cs,
        preempt: edge.cfg.preempt,
        preempt_delay: edge.cfg.preempt_delay,
    });
    edge.metrics.priority.set(priority as i64);
    tracing::info!(
        instance = %edge.cfg.name,
        interface = %edge.iface.name,
        %src,
        vrid = edge.cfg.vrid,
        priority,
        advert_int_ms = edge.cfg.advert_int_cs as u64 * 10,
        unicast_peers = ?edge.cfg.unicast_peers,
        "vrrp instance starting"
    );
    let acts = router.handle(Input::Startup, now());
    edge.apply(&router, acts).await;

    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = router.next_deadline();
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = sleep_until(deadline) => {
                // Woken from a stall (SIGSTOP, a busy host) the timer has
                // expired with the adverts that arrived meanwhile still
                // queued: read them first, or a backup takes over from a
                // master that never stopped advertising.
                edge.drain(&mut router, &mut buf).await;
                let acts = router.handle(Input::Tick, now());
                edge.apply(&router, acts).await;
            }
            r = edge.sock.recv(&mut buf) => {
                let n = match r {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!("receive on raw socket: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                if let Some(input) = edge.accept(&buf[..n]) {
                    let acts = router.handle(input, now());
                    edge.apply(&router, acts).await;
                }
            }
            Some((i, ok)) = track_rx.recv() => {
                let Some(verdict) = health[i].observe(ok) else { continue };
                let name = &edge.cfg.tracks[i].name;
                edge.metrics.track(name, verdict);
                if verdict {
                    tracing::info!(track = %name, "tracked check healthy again");
                } else {
                    tracing::warn!(track = %name, "tracked check failed");
                }
                let (priority, fault) = effective(&edge.cfg, &health);
                if priority != router.priority() {
                    tracing::info!(from = router.priority(), to = priority, "priority changed");
                    edge.metrics.priority.set(priority as i64);
                }
                let mut acts = router.handle(Input::Priority(priority), now());
                acts.extend(router.handle(Input::Fault(fault), now()));
                edge.apply(&router, acts).await;
            }
        }
    }

    let was_master = router.state() == State::Master;
    let acts = router.handle(Input::Shutdown, now());
    edge.apply_shutdown(&router, acts, was_master, &mut buf)
        .await;
    Ok(())
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

fn effective(cfg: &Config, health: &[Health]) -> (u8, bool) {
    let checks: Vec<(i32, bool)> = cfg
        .tracks
        .iter()
        .zip(health)
        .map(|(t, h)| (t.weight, h.healthy()))
        .collect();
    track::effective_priority(cfg.priority, &checks)
}

impl Edge {
    /// Validates a received datagram; drops are counted, never fatal.
    fn accept(&self, datagram: &[u8]) -> Option<Input> {
        let parsed = packet::parse_datagram(datagram, self.cfg.vrid).and_then(|r| {
            let unicast = !self.cfg.unicast_peers.is_empty();
            if unicast && !self.cfg.unicast_peers.contains(&r.src) {
                Err(DropReason::UnknownPeer)
            } else {
                Ok(r)
            }
        });
        match parsed {
            Ok(r) if r.src == self.src => None,
            Ok(r) => {
                self.metrics.adverts_received.inc();
                tracing::trace!(src = %r.src, priority = r.advert.priority, "advert");
                Some(Input::Advert {
                    src: r.src,
                    priority: r.advert.priority,
                    interval_cs: r.advert.interval_cs,
                })
            }
            Err(reason) => {
                let count = self.metrics.dropped(reason);
                // Logged at 1, 2, 4, 8, ... so a flood cannot fill the log.
                if count.is_power_of_two() {
                    tracing::warn!(%reason, count, len = datagram.len(), "dropped packet");
                } else {
                    tracing::debug!(%reason, count, len = datagram.len(), "dropped packet");
                }
                None
            }
        }
    }

    /// Feeds every datagram already queued on the socket to the router,
    /// without waiting. Bounded, so a flood cannot hold off the timers.
    async fn drain(&mut self, router: &mut Router, buf: &mut [u8]) {
        for _ in 0..DRAIN_LIMIT {
            match self.sock.try_recv(buf) {
                Ok(Some(n)) => {
                    if let Some(input) = self.accept(&buf[..n]) {
                        let acts = router.handle(input, now());
                        self.apply(router, acts).await;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("receive on raw socket: {e}");
                    return;
                }
            }
        }
    }

    async fn apply(&mut self, router: &Router, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::SendAdvert { priority } => self.send_advert(priority),
                Action::TakeVip => self.take_vips().await,
                Action::Reannounce { rival, priority } => self.reannounce(router, rival, priority),
                Action::ReleaseVip => self.release_vips().await,
                Action::Changed { from, to } => self.changed(router, from, to),
            }
        }
    }

    /// On shutdown a master lingers with the VIP until a new master speaks
    /// (or Master_Down_Interval passes): the client sees the new master's
    /// gratuitous ARP before the old address disappears, so no gap.
    async fn apply_shutdown(
        &mut self,
        router: &Router,
        actions: Vec<Action>,
        was_master: bool,
        buf: &mut [u8],
    ) {
        let mut release = false;
        for a in actions {
            match a {
                Action::ReleaseVip => release = true,
                other => self.apply(router, vec![other]).await,
            }
        }
        if !release {
            return;
        }
        if was_master {
            let limit = Instant::now() + router.master_down_interval();
            let handed_over = tokio::time::timeout_at(limit, async {
                loop {
                    let Ok(n) = self.sock.recv(buf).await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    if let Some(Input::Advert { priority, .. }) = self.accept(&buf[..n]) {
                        if priority > 0 {
                            return;
                        }
                    }
                }
            })
            .await
            .is_ok();
            if handed_over {
                // Let the new master's first gratuitous ARPs go out.
                tokio::time::sleep(self.cfg.garp_interval.max(Duration::from_millis(20))).await;
            }
            tracing::info!(handed_over, "releasing the VIP on shutdown");
        }
        self.release_vips().await;
    }

    fn send_advert(&self, priority: u8) {
        let advert = Advert {
            vrid: self.cfg.vrid,
            priority,
            interval_cs: self.cfg.advert_int_cs,
            addresses: self.cfg.vips.iter().map(|(ip, _)| *ip).collect(),
        };
        let dsts: Vec<Ipv4Addr> = if self.cfg.unicast_peers.is_empty() {
            vec![VRRP_GROUP]
        } else {
            self.cfg.unicast_peers.clone()
        };
        for dst in dsts {
            let msg = advert.encode(self.src, dst);
            match self.sock.send(self.src, dst, &msg) {
                Ok(()) => self.metrics.adverts_sent.inc(),
                Err(e) => tracing::warn!(%dst, "send advertisement: {e}"),
            }
        }
    }

    async fn take_vips(&mut self) {
        // The kernel serialises address changes on its rtnl lock, which
        // other work on the host (a namespace torn down, Docker changing
        // its networks) can hold for seconds: say so, or a daemon stuck
        // there looks as if it never decided to take over.
        tracing::info!(vips = self.cfg.vips.len(), "taking the VIP");
        let started = Instant::now();
        for (ip, prefix) in &self.cfg.vips {
            if let Err(e) = self.addrs.add(*ip, *prefix).await {
                tracing::error!("{e:#}");
            }
        }
        let took = started.elapsed();
        if took > SLOW_ADDRESS_CHANGE {
            tracing::warn!(
                took_ms = took.as_millis() as u64,
                "adding the VIP took long: the kernel's address lock (rtnl) was busy"
            );
        }
        self.announce(self.cfg.garp_repeat, self.cfg.garp_master_delay);
    }

    /// Another router claimed MASTER with a lower priority; point the
    /// segment back at our MAC. A first round already going out is left to
    /// run, so a rival that keeps advertising cannot multiply the ARPs; a
    /// burst only waiting for its second round is replaced.
    fn reannounce(&mut self, router: &Router, rival: Ipv4Addr, priority: u8) {
        let repeat = self.cfg.garp_lower_prio_repeat;
        if repeat == 0 || Instant::now() < self.garp_burst_end {
            return;
        }
        tracing::info!(
            %rival,
            priority,
            ours = router.priority(),
            repeat,
            "lower-priority advert while MASTER: sending gratuitous ARPs again"
        );
        self.announce(repeat, self.cfg.garp_lower_prio_delay);
    }

    /// Sends `repeat` rounds of gratuitous ARPs, `garp_interval` apart, from
    /// a task of their own, and the same again after `second` if set;
    /// replaces any burst still going out (or waiting for its second round).
    fn announce(&mut self, repeat: u32, second: Option<Duration>) {
        if let Some(t) = self.garp_task.take() {
            t.abort();
        }
        let frames: Vec<_> = self
            .cfg
            .vips
            .iter()
            .map(|(ip, _)| arp::gratuitous_arp(self.iface.mac, *ip))
            .collect();
        let (arp, gap) = (self.arp.clone(), self.cfg.garp_interval);
        self.garp_burst_end = Instant::now() + gap * repeat.saturating_sub(1);
        let counter = self.metrics.garp_sent.clone();
        self.garp_task = Some(tokio::spawn(async move {
            let bursts = [Some(Duration::ZERO), second];
            for delay in bursts.into_iter().flatten() {
                tokio::time::sleep(delay).await;
                for i in 0..repeat {
                    if i > 0 {
                        tokio::time::sleep(gap).await;
                    }
                    for f in &frames {
                        match arp.send(f) {
                            Ok(()) => counter.inc(),
                            Err(e) => tracing::warn!("gratuitous ARP: {e}"),
                        }
                    }
                }
            }
        }));
    }

    async fn release_vips(&mut self) {
        if let Some(t) = self.garp_task.take() {
            t.abort();
        }
        for (ip, _) in &self.cfg.vips {
            if let Err(e) = self.addrs.remove(*ip).await {
                tracing::error!("{e:#}");
            }
        }
    }

    fn changed(&self, router: &Router, from: State, to: State) {
        self.metrics.transition(to);
        tracing::info!(
            instance = %self.cfg.name,
            from = from.name(),
            to = to.name(),
            priority = router.priority(),
            "vrrp state change"
        );
        notify::state_changed(&self.cfg.notify, &self.cfg.name, to, router.priority());
    }
}
