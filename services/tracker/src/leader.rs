//! Tracker peers and the leader among them. Trackers share no state (each
//! builds its view from storage reports, as in FastDFS); they only need
//! one voice for the decisions that must not be taken twice, such as
//! which member sends a new storage its initial copy. The rule is simple
//! and needs no voting: the leader is the live tracker with the lowest
//! address among those a tracker can reach. Peers are learned from the
//! `tracker_servers` lists authenticated storages report; each tracker
//! probes them, and only a peer that proves the cluster secret counts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// Probes a peer must fail in a row before it counts as down, so one
/// lost probe does not move the leadership.
pub const DOWN_AFTER: u32 = 2;

/// What one tracker knows of its peers.
#[derive(Debug, Default, Clone)]
pub struct Peers {
    /// This tracker's own address, once known (config, or the address a
    /// storage reached it at).
    pub me: Option<SocketAddr>,
    /// Unix time this tracker started (its `up_time` in cluster stats).
    pub started: i64,
    /// Peer tracker addresses as storages list them, resolved.
    known: BTreeSet<SocketAddr>,
    /// Failed probes in a row, per peer.
    failures: BTreeMap<SocketAddr, u32>,
    /// Unix time of each peer's last answered probe.
    last_seen: BTreeMap<SocketAddr, i64>,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Peers {
    pub fn new(me: Option<SocketAddr>) -> Peers {
        Peers {
            me,
            started: unix_now(),
            ..Default::default()
        }
    }

    /// Adds a peer address; our own is ignored. A new peer counts as
    /// live until probes say otherwise: two trackers that just heard of
    /// each other must not both lead, even for a moment.
    pub fn learn(&mut self, addr: SocketAddr) {
        if Some(addr) != self.me && self.known.insert(addr) {
            self.failures.insert(addr, 0);
        }
    }

    pub fn known(&self) -> Vec<SocketAddr> {
        self.known.iter().copied().collect()
    }

    /// Records a probe result.
    pub fn probed(&mut self, addr: SocketAddr, ok: bool) {
        self.probed_at(addr, ok, unix_now());
    }

    /// Records a probe result made at unix time `now`.
    pub fn probed_at(&mut self, addr: SocketAddr, ok: bool, now: i64) {
        let f = self.failures.entry(addr).or_insert(0);
        *f = if ok { 0 } else { f.saturating_add(1) };
        if ok {
            self.last_seen.insert(addr, now);
        }
    }

    /// When `addr` last answered a probe (0: never).
    pub fn last_seen(&self, addr: &SocketAddr) -> i64 {
        self.last_seen.get(addr).copied().unwrap_or(0)
    }

    /// Records a peer that answered but could not prove the cluster
    /// secret (a stranger, or a FastDFS tracker): down at once, so it
    /// never leads even for a moment.
    pub fn refused(&mut self, addr: SocketAddr) {
        self.failures.insert(addr, DOWN_AFTER);
    }

    pub fn reachable(&self, addr: &SocketAddr) -> bool {
        self.failures.get(addr).is_some_and(|&f| f < DOWN_AFTER)
    }

    /// The leader: the lowest address among ourselves and the peers we
    /// reach. `None` only while our own address is unknown and no peer
    /// answers; with no peer at all we lead alone.
    pub fn leader(&self) -> Option<SocketAddr> {
        let live = self.known.iter().filter(|a| self.reachable(a)).copied();
        self.me.into_iter().chain(live).min()
    }

    pub fn is_leader(&self) -> bool {
        match self.me {
            Some(me) => self.leader() == Some(me),
            None => self.known.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_lone_tracker_leads() {
        assert!(Peers::new(None).is_leader());
        assert!(Peers::new(Some(a("10.0.0.9:22122"))).is_leader());
    }

    #[test]
    fn the_lowest_reachable_address_leads() {
        let mut p = Peers::new(Some(a("10.0.0.2:22122")));
        p.learn(a("10.0.0.1:22122"));
        p.learn(a("10.0.0.3:22122"));
        p.learn(a("10.0.0.2:22122"));
        assert_eq!(p.known().len(), 2, "own address is not a peer");
        assert!(!p.is_leader(), "a new peer counts as live at once");
        assert_eq!(p.leader(), Some(a("10.0.0.1:22122")));
        p.probed(a("10.0.0.1:22122"), false);
        p.probed(a("10.0.0.1:22122"), false);
        assert!(p.is_leader(), "the lower peer does not answer");
    }

    #[test]
    fn a_peer_without_the_cluster_secret_never_leads() {
        let mut p = Peers::new(Some(a("10.0.0.2:22122")));
        p.learn(a("10.0.0.1:22122"));
        p.refused(a("10.0.0.1:22122"));
        assert!(p.is_leader());
    }

    #[test]
    fn leadership_moves_only_after_repeated_failed_probes() {
        let mut p = Peers::new(Some(a("10.0.0.2:22122")));
        p.learn(a("10.0.0.1:22122"));
        p.probed(a("10.0.0.1:22122"), true);
        p.probed(a("10.0.0.1:22122"), false);
        assert!(!p.is_leader(), "one lost probe");
        p.probed(a("10.0.0.1:22122"), false);
        assert!(p.is_leader());
        p.probed(a("10.0.0.1:22122"), true);
        assert!(!p.is_leader(), "the lower tracker is back");
    }
}
