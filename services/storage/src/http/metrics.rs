//! HTTP counters, registered in the storage's own Prometheus registry so
//! they appear beside the FastDFS-protocol ones on the same endpoint.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// Statuses whose counters are resolved once, at start: a label lookup
/// (a status formatted, hashed and found under a lock) per request showed
/// in the profile of small-file GETs.
const COMMON: [u16; 5] = [200, 206, 304, 404, 416];

#[derive(Clone)]
pub(crate) struct HttpMetrics {
    requests: IntCounterVec,
    common: [IntCounter; COMMON.len()],
    sent: IntCounter,
    source: IntCounterVec,
    connections: IntCounterVec,
}

impl HttpMetrics {
    pub fn register(registry: &Registry) -> HttpMetrics {
        let requests = IntCounterVec::new(
            Opts::new(
                "ferrodfs_storage_http_requests_total",
                "HTTP requests by response status",
            ),
            &["status"],
        )
        .expect("valid metric");
        let sent = IntCounter::new(
            "ferrodfs_storage_http_sent_bytes_total",
            "HTTP response body bytes sent",
        )
        .expect("valid metric");
        let source = IntCounterVec::new(
            Opts::new(
                "ferrodfs_storage_http_source_requests_total",
                "Requests for files not held here yet, sent on to their source storage",
            ),
            &["mode"],
        )
        .expect("valid metric");
        let connections = IntCounterVec::new(
            Opts::new(
                "ferrodfs_storage_http_connections_total",
                "HTTP connections accepted, by worker thread (the kernel spreads them)",
            ),
            &["worker"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(sent.clone()),
            Box::new(source.clone()),
            Box::new(connections.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        let common = COMMON.map(|s| requests.with_label_values(&[&s.to_string()]));
        HttpMetrics {
            requests,
            common,
            sent,
            source,
            connections,
        }
    }

    /// The accepted-connections counter of worker `i`, resolved once by
    /// the worker.
    pub fn connections_of(&self, worker: usize) -> IntCounter {
        self.connections.with_label_values(&[&worker.to_string()])
    }

    pub fn record(&self, status: u16, body_bytes: u64) {
        match COMMON.iter().position(|&s| s == status) {
            Some(i) => self.common[i].inc(),
            None => self
                .requests
                .with_label_values(&[&status.to_string()])
                .inc(),
        }
        self.sent.inc_by(body_bytes);
    }

    /// `mode`: "proxy" or "redirect".
    pub fn sent_to_source(&self, mode: &str) {
        self.source.with_label_values(&[mode]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_by_status_with_bytes() {
        let r = Registry::new();
        let m = HttpMetrics::register(&r);
        m.record(200, 10);
        m.record(206, 5);
        m.record(404, 0);
        m.sent_to_source("proxy");
        let text = ferrodfs_runtime::metrics::render(&r);
        assert!(
            text.contains(r#"ferrodfs_storage_http_requests_total{status="206"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("ferrodfs_storage_http_sent_bytes_total 15"),
            "{text}"
        );
        assert!(
            text.contains(r#"ferrodfs_storage_http_source_requests_total{mode="proxy"} 1"#),
            "{text}"
        );
    }
}
