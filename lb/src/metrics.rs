//! Prometheus metrics of one lb process, in its own registry (served by
//! `ferrodfs_runtime::metrics::serve` on `metrics_listen`). The cache hit
//! ratio is `ferrodfs_lb_cache_lookups_total{result="hit"}` over the sum of
//! all results.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

pub struct Metrics {
    pub registry: Registry,
    /// Requests answered, by status code.
    pub requests: IntCounterVec,
    /// Failed upstream attempts, by upstream and kind (connect, timeout, status, io).
    pub upstream_errors: IntCounterVec,
    /// Attempts beyond the first (retries on the next upstream).
    pub retries: IntCounterVec,
    /// Cache lookups by result: hit, miss, stale, expired, revalidated, bypass.
    pub cache_lookups: IntCounterVec,
    /// Cache entries unreadable and fills not written.
    pub cache_errors: IntCounter,
    /// Hits answered from memory before the cache's lookup (also counted
    /// in `cache_lookups{result="HIT"}`).
    pub cache_memory_answers: IntCounter,
    pub cache_bytes: IntGauge,
    pub cache_entries: IntGauge,
    /// Bytes of cache entries also held in memory (`cache.memory`).
    pub cache_memory_bytes: IntGauge,
    /// Request latency, first byte in to last byte out.
    pub latency: Histogram,
    /// Upstream members per pool, and how many pass active health checks.
    pub pool_members: IntGaugeVec,
    pub config_reloads: IntCounterVec,
    pub tracker_refreshes: IntCounterVec,
    /// HTTP uploads (front tier) by result: ok, forbidden, too_large,
    /// bad_request, refused (by the cluster), unreachable (the cluster).
    pub uploads: IntCounterVec,
    /// Bytes of files stored through HTTP uploads.
    pub upload_bytes: IntCounter,
}

impl Metrics {
    pub fn new(tier: &str) -> Metrics {
        let registry = Registry::new_custom(
            Some("ferrodfs_lb".into()),
            Some([("tier".to_string(), tier.to_string())].into()),
        )
        .expect("static registry prefix is valid");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("static metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let requests = counter(
            "requests_total",
            "Requests answered, by HTTP status",
            &["status"],
        );
        let upstream_errors = counter(
            "upstream_errors_total",
            "Failed upstream attempts",
            &["upstream", "kind"],
        );
        let retries = counter(
            "upstream_retries_total",
            "Attempts on a further upstream after a failure",
            &["pool"],
        );
        let cache_lookups = counter(
            "cache_lookups_total",
            "Cache lookups by result",
            &["result"],
        );
        let config_reloads = counter(
            "config_reloads_total",
            "SIGHUP reloads by result",
            &["result"],
        );
        let tracker_refreshes = counter(
            "tracker_refreshes_total",
            "Membership polls of the trackers by result",
            &["result"],
        );
        let uploads = counter(
            "uploads_total",
            "HTTP uploads into the cluster by result",
            &["result"],
        );
        let upload_bytes = IntCounter::new(
            "upload_bytes_total",
            "Bytes of files stored through HTTP uploads",
        )
        .expect("static metric");
        registry
            .register(Box::new(upload_bytes.clone()))
            .expect("unique metric");
        let cache_errors = IntCounter::new(
            "cache_errors_total",
            "Cache entries that could not be read and fills that could not be written",
        )
        .expect("static metric");
        registry
            .register(Box::new(cache_errors.clone()))
            .expect("unique metric");
        let cache_memory_answers = IntCounter::new(
            "cache_memory_answers_total",
            "Cache hits answered from memory before the cache's lookup",
        )
        .expect("static metric");
        registry
            .register(Box::new(cache_memory_answers.clone()))
            .expect("unique metric");
        let cache_bytes = gauge("cache_bytes", "Bytes held by the disk cache");
        let cache_entries = gauge("cache_entries", "Entries held by the disk cache");
        let cache_memory_bytes = gauge(
            "cache_memory_bytes",
            "Bytes of cache entries also held in memory for hits",
        );
        let latency = HistogramVec::new(
            HistogramOpts::new("request_duration_seconds", "Request latency").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &[],
        )
        .expect("static metric");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique metric");
        let pool_members = IntGaugeVec::new(
            Opts::new("pool_members", "Upstreams per pool"),
            &["pool", "state"],
        )
        .expect("static metric");
        registry
            .register(Box::new(pool_members.clone()))
            .expect("unique metric");
        Metrics {
            requests,
            upstream_errors,
            retries,
            cache_lookups,
            cache_errors,
            cache_memory_answers,
            cache_bytes,
            cache_entries,
            cache_memory_bytes,
            latency: latency.with_label_values(&[]),
            pool_members,
            config_reloads,
            tracker_refreshes,
            uploads,
            upload_bytes,
            registry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_with_prefix_and_tier() {
        let m = Metrics::new("edge");
        m.requests.with_label_values(&["200"]).inc();
        let text = ferrodfs_runtime::metrics::render(&m.registry);
        assert!(
            text.contains("ferrodfs_lb_requests_total{status=\"200\",tier=\"edge\"} 1"),
            "{text}"
        );
    }
}
