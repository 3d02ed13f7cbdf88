//! The recent state changes of storages, for the status page: a small
//! ring, so a flapping member cannot grow the tracker's memory.

use std::collections::VecDeque;

use ferrodfs_proto::cluster::state;
use ferrodfs_proto::overview::StateChange;

use crate::cluster::Transition;

/// Changes kept; older ones fall off.
pub const KEEP: usize = 64;

#[derive(Debug, Default)]
pub struct History {
    ring: VecDeque<StateChange>,
}

impl History {
    /// Records `transitions`, made at unix time `now`.
    pub fn record(&mut self, now: i64, transitions: &[Transition]) {
        for t in transitions {
            if self.ring.len() == KEEP {
                self.ring.pop_front();
            }
            self.ring.push_back(StateChange {
                time: now,
                group: t.group.clone(),
                ip: t.ip.clone(),
                from: t.from.map(state::name).unwrap_or_default().to_string(),
                to: state::name(t.to).to_string(),
                reason: t.reason.to_string(),
            });
        }
    }

    /// Oldest first.
    pub fn changes(&self) -> Vec<StateChange> {
        self.ring.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tests::{at, report};

    /// What a storage's first join changes (NEW -> its state).
    fn joined(ip: &str) -> Vec<Transition> {
        let mut c = crate::cluster::Cluster::default();
        let now = at(std::time::Instant::now(), 0);
        c.join(report("group1", ip), now)
            .unwrap()
            .1
            .into_iter()
            .collect()
    }

    #[test]
    fn the_ring_keeps_the_latest_changes_in_order() {
        let mut h = History::default();
        h.record(1, &joined("10.0.0.1"));
        let many: Vec<Transition> = (0..KEEP + 5)
            .flat_map(|i| joined(&format!("10.0.1.{i}")))
            .collect();
        h.record(2, &many);
        let c = h.changes();
        assert_eq!(c.len(), KEEP);
        assert_eq!(c[0].ip, "10.0.1.5", "the oldest fell off");
        assert_eq!(c[KEEP - 1].ip, format!("10.0.1.{}", KEEP + 4));
        assert_eq!((c[0].from.as_str(), c[0].to.as_str()), ("", "ACTIVE"));
    }
}
