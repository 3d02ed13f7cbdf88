//! The daemon's Prometheus series: state, priority and packet counters,
//! so a dashboard shows which node holds the VIP and why.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::packet::DropReason;
use crate::state::State;

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    state: IntGauge,
    state_info: IntGaugeVec,
    pub priority: IntGauge,
    pub adverts_sent: IntCounter,
    pub adverts_received: IntCounter,
    dropped: IntCounterVec,
    transitions: IntCounterVec,
    pub garp_sent: IntCounter,
    track_healthy: IntGaugeVec,
}

impl Metrics {
    pub fn new(instance: &str) -> Metrics {
        let registry = Registry::new_custom(
            None,
            Some([("instance_name".into(), instance.into())].into()),
        )
        .expect("static registry labels are valid");
        let m = Metrics {
            state: IntGauge::new("vrrp_state", "0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT").unwrap(),
            state_info: IntGaugeVec::new(
                Opts::new("vrrp_state_info", "1 for the current state"),
                &["state"],
            )
            .unwrap(),
            priority: IntGauge::new("vrrp_priority", "effective priority after tracking").unwrap(),
            adverts_sent: IntCounter::new("vrrp_adverts_sent_total", "advertisements sent")
                .unwrap(),
            adverts_received: IntCounter::new(
                "vrrp_adverts_received_total",
                "valid advertisements received",
            )
            .unwrap(),
            dropped: IntCounterVec::new(
                Opts::new("vrrp_adverts_dropped_total", "received packets dropped"),
                &["reason"],
            )
            .unwrap(),
            transitions: IntCounterVec::new(
                Opts::new("vrrp_transitions_total", "state changes, by new state"),
                &["to"],
            )
            .unwrap(),
            garp_sent: IntCounter::new("vrrp_garp_sent_total", "gratuitous ARPs sent").unwrap(),
            track_healthy: IntGaugeVec::new(
                Opts::new("vrrp_track_healthy", "1 while the tracked check passes"),
                &["track"],
            )
            .unwrap(),
            registry,
        };
        for c in [
            Box::new(m.state.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.state_info.clone()),
            Box::new(m.priority.clone()),
            Box::new(m.adverts_sent.clone()),
            Box::new(m.adverts_received.clone()),
            Box::new(m.dropped.clone()),
            Box::new(m.transitions.clone()),
            Box::new(m.garp_sent.clone()),
            Box::new(m.track_healthy.clone()),
        ] {
            m.registry.register(c).expect("metric names are unique");
        }
        for r in DropReason::ALL {
            m.dropped.with_label_values(&[r.label()]);
        }
        // Exported at 0 from the start, so "never became MASTER" is a
        // reading (`vrrp_transitions_total{to="MASTER"} 0`), not a gap.
        for s in State::ALL {
            m.transitions.with_label_values(&[s.name()]);
        }
        m.set_state(State::Initialize);
        m
    }

    pub fn set_state(&self, s: State) {
        self.state.set(s.code());
        for other in State::ALL {
            self.state_info
                .with_label_values(&[other.name()])
                .set((other == s) as i64);
        }
    }

    pub fn transition(&self, to: State) {
        self.transitions.with_label_values(&[to.name()]).inc();
        self.set_state(to);
    }

    /// Counts a dropped packet; returns the new count for that reason.
    pub fn dropped(&self, r: DropReason) -> u64 {
        let c = self.dropped.with_label_values(&[r.label()]);
        c.inc();
        c.get()
    }

    pub fn track(&self, name: &str, healthy: bool) {
        self.track_healthy
            .with_label_values(&[name])
            .set(healthy as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_series_is_exported_before_the_first_change() {
        let m = Metrics::new("VI_1");
        let families = m.registry.gather();
        let transitions = families
            .iter()
            .find(|f| f.get_name() == "vrrp_transitions_total")
            .expect("vrrp_transitions_total is registered");
        assert_eq!(transitions.get_metric().len(), State::ALL.len());
        assert!(transitions
            .get_metric()
            .iter()
            .all(|s| s.get_counter().get_value() == 0.0));
    }
}
