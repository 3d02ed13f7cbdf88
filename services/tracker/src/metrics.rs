//! Prometheus metrics of one tracker instance (its own registry, so several
//! trackers can run in one test process).

use std::collections::BTreeSet;
use std::sync::Mutex;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use ferrodfs_proto::cluster::state;
use ferrodfs_proto::status;

use crate::cluster::Cluster;
use crate::commands;

/// States a storage can be in today; gauges for all of them are kept so a
/// state that empties reads 0 instead of keeping its last value.
const STATES: [u8; 6] = [
    state::INIT,
    state::WAIT_SYNC,
    state::SYNCING,
    state::OFFLINE,
    state::ONLINE,
    state::ACTIVE,
];

pub struct Metrics {
    pub registry: Registry,
    requests: IntCounterVec,
    storages: IntGaugeVec,
    member_state: IntGaugeVec,
    /// (group, ip) of the members with `member_state` series, so a
    /// removed member's series are dropped.
    members: Mutex<BTreeSet<(String, String)>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "ferrodfs_tracker_requests_total",
                "Requests answered, by command and status",
            ),
            &["cmd", "status"],
        )
        .expect("valid metric");
        let storages = IntGaugeVec::new(
            Opts::new(
                "ferrodfs_tracker_storages",
                "Storages known to this tracker, by group and state",
            ),
            &["group", "state"],
        )
        .expect("valid metric");
        let member_state = IntGaugeVec::new(
            Opts::new(
                "ferrodfs_tracker_storage_state",
                "1 for the state each storage is in, 0 for the others",
            ),
            &["group", "storage", "state"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(storages.clone()))
            .expect("registered once");
        registry
            .register(Box::new(member_state.clone()))
            .expect("registered once");
        Metrics {
            registry,
            requests,
            storages,
            member_state,
            members: Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn request(&self, command: u8, st: u8) {
        let st = status::name(st)
            .split_whitespace()
            .next()
            .unwrap_or("unknown");
        self.requests
            .with_label_values(&[commands::name(command), st])
            .inc();
    }

    /// Sets the storage gauges from the current membership.
    pub fn observe(&self, cluster: &Cluster) {
        let mut now = BTreeSet::new();
        for g in cluster.groups.values() {
            for st in STATES {
                let n = g.storages.values().filter(|s| s.status == st).count();
                self.storages
                    .with_label_values(&[&g.name, state::name(st)])
                    .set(n as i64);
            }
            for (ip, s) in &g.storages {
                for st in STATES {
                    self.member_state
                        .with_label_values(&[&g.name, ip, state::name(st)])
                        .set(i64::from(s.status == st));
                }
                now.insert((g.name.clone(), ip.clone()));
            }
        }
        let mut known = self.members.lock().unwrap_or_else(|e| e.into_inner());
        for (g, ip) in known.difference(&now) {
            for st in STATES {
                let _ = self
                    .member_state
                    .remove_label_values(&[g, ip, state::name(st)]);
            }
        }
        *known = now;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::cluster::tests::{at, report};
    use ferrodfs_proto::cmd;

    #[test]
    fn gauges_and_counters_render_with_their_labels() {
        let m = Metrics::default();
        let mut c = Cluster::default();
        c.join(report("group1", "10.0.0.1"), at(Instant::now(), 0))
            .unwrap();
        m.observe(&c);
        m.request(cmd::QUERY_FETCH_ONE, status::ENOENT);
        let text = ferrodfs_runtime::metrics::render(&m.registry);
        assert!(
            text.contains(r#"ferrodfs_tracker_storages{group="group1",state="ACTIVE"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"ferrodfs_tracker_storages{group="group1",state="OFFLINE"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ferrodfs_tracker_requests_total{cmd="query_fetch_one",status="ENOENT"} 1"#
            ),
            "{text}"
        );
        for (st, v) in [("ACTIVE", 1), ("OFFLINE", 0)] {
            let line = format!(
                r#"ferrodfs_tracker_storage_state{{group="group1",state="{st}",storage="10.0.0.1"}} {v}"#
            );
            assert!(text.contains(&line), "{line} in {text}");
        }
    }

    #[test]
    fn a_deleted_storage_loses_its_state_series() {
        let m = Metrics::default();
        let mut c = Cluster::default();
        let (session, _) = c
            .join(report("group1", "10.0.0.1"), at(Instant::now(), 0))
            .unwrap();
        m.observe(&c);
        c.disconnect(session).unwrap();
        c.delete_storage("group1", "10.0.0.1").unwrap();
        m.observe(&c);
        let text = ferrodfs_runtime::metrics::render(&m.registry);
        assert!(!text.contains("ferrodfs_tracker_storage_state"), "{text}");
    }
}
