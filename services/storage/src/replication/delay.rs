//! How long this storage's changes take to reach each peer: the time from
//! logging a change (the upload was acknowledged to its client) to the
//! peer's acknowledgement of it. Recent changes are remembered with the
//! instant they were logged; each acknowledgement of a peer takes the
//! delays of the changes it newly covers. Feeds the
//! `ferrodfs_storage_sync_delay_seconds` histogram.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::binlog::Pos;

/// Changes remembered: a peer more than this many changes behind has the
/// delays of the oldest ones left out (its lag shows in the gauges).
const RECENT: usize = 1 << 16;

#[derive(Default)]
pub(crate) struct Delays {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (where the record ends, when it was logged), oldest first.
    logged: VecDeque<(Pos, Instant)>,
    /// Per peer: up to where its delays were taken.
    taken: HashMap<String, Pos>,
}

impl Delays {
    /// A change of ours was logged, ending at `end`.
    pub fn logged(&self, end: Pos, at: Instant) {
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if i.logged.len() == RECENT {
            i.logged.pop_front();
        }
        // Concurrent changes report in any order; kept in binlog order
        // (searched for only when this one is not the newest).
        match i.logged.back() {
            Some((last, _)) if *last >= end => {
                let slot = i.logged.partition_point(|(p, _)| *p < end);
                i.logged.insert(slot, (end, at));
            }
            _ => i.logged.push_back((end, at)),
        }
    }

    /// `peer` holds everything up to `pos` as of `now`: `observe` gets the
    /// delay of each change it did not hold before.
    pub fn acked(&self, peer: &str, pos: Pos, now: Instant, mut observe: impl FnMut(Duration)) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let i = &mut *guard;
        let from = i.taken.get(peer).copied();
        if from.is_some_and(|f| f >= pos) {
            return;
        }
        let start = from.map_or(0, |f| i.logged.partition_point(|(p, _)| *p <= f));
        for (p, at) in i.logged.range(start..) {
            if *p > pos {
                break;
            }
            observe(now.saturating_duration_since(*at));
        }
        i.taken.insert(peer.to_string(), pos);
        i.trim();
    }

    /// A push to `peer` starts from `from`: changes after it are its to
    /// take, and are kept for it from now on.
    pub fn start(&self, peer: &str, from: Pos) {
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        i.taken.entry(peer.to_string()).or_insert(from);
    }

    /// The peer left the group.
    pub fn forget(&self, peer: &str) {
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        i.taken.remove(peer);
        i.trim();
    }
}

impl Inner {
    /// Drops what every peer has taken.
    fn trim(&mut self) {
        if let Some(min) = self.taken.values().min().copied() {
            let done = self.logged.partition_point(|(p, _)| *p <= min);
            self.logged.drain(..done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u64) -> Pos {
        Pos { index: 0, offset }
    }

    fn taken(d: &Delays, peer: &str, p: u64, now: Instant) -> Vec<Duration> {
        let mut out = Vec::new();
        d.acked(peer, pos(p), now, |x| out.push(x));
        out
    }

    #[test]
    fn each_peer_takes_the_delay_of_every_change_once() {
        let d = Delays::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        d.logged(pos(10), t0);
        d.logged(pos(20), t0 + ms(5));
        d.logged(pos(30), t0 + ms(8));
        d.start("a", pos(0));
        d.start("b", pos(0));
        assert_eq!(taken(&d, "a", 20, t0 + ms(12)), [ms(12), ms(7)]);
        // A repeated or older acknowledgement takes nothing again.
        assert!(taken(&d, "a", 20, t0 + ms(50)).is_empty());
        assert!(taken(&d, "a", 10, t0 + ms(50)).is_empty());
        // Another peer has its own cursor.
        assert_eq!(taken(&d, "b", 30, t0 + ms(40)), [ms(40), ms(35), ms(32)]);
        assert_eq!(taken(&d, "a", 30, t0 + ms(20)), [ms(12)]);
        // Changes logged out of order are taken in binlog order.
        d.logged(pos(45), t0 + ms(30));
        d.logged(pos(42), t0 + ms(31));
        assert_eq!(taken(&d, "b", 45, t0 + ms(41)), [ms(10), ms(11)]);
        // Positions between records (a peer's own changes) take nothing.
        d.logged(pos(50), t0 + ms(60));
        assert!(taken(&d, "a", 40, t0 + ms(61)).is_empty());
        assert_eq!(taken(&d, "a", 50, t0 + ms(62)), [ms(31), ms(32), ms(2)]);
    }

    #[test]
    fn memory_is_bounded_by_the_slowest_peer_and_a_cap() {
        let d = Delays::default();
        let t0 = Instant::now();
        for n in 1..=100 {
            d.logged(pos(n), t0);
        }
        d.start("a", pos(0));
        d.start("b", pos(0));
        assert_eq!(taken(&d, "a", 100, t0).len(), 100);
        // Kept until the slowest peer has taken them.
        assert_eq!(d.inner.lock().unwrap().logged.len(), 100);
        assert_eq!(taken(&d, "b", 60, t0).len(), 60);
        assert_eq!(d.inner.lock().unwrap().logged.len(), 40);
        d.forget("b");
        assert!(d.inner.lock().unwrap().logged.is_empty());
        d.forget("a");
        for n in 101..=(101 + RECENT as u64) {
            d.logged(pos(n), t0);
        }
        assert_eq!(d.inner.lock().unwrap().logged.len(), RECENT);
    }
}
