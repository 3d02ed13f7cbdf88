//! Counters kept twice over: FastDFS's stat block (reported to trackers,
//! shown by `ferrodfs monitor` / fdfs_monitor) and Prometheus metrics in a
//! registry owned by this storage instance.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use ferrodfs_proto::cluster::SyncLag;
use ferrodfs_proto::stat::StorageStats;
use ferrodfs_proto::{cmd, status};
use ferrodfs_runtime::Reserved;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::store::Store;

/// Metric label for a command code.
pub(crate) fn command_name(c: u8) -> &'static str {
    match c {
        cmd::UPLOAD_FILE => "upload",
        cmd::UPLOAD_APPENDER_FILE => "upload_appender",
        cmd::UPLOAD_SLAVE_FILE => "upload_slave",
        cmd::APPEND_FILE => "append",
        cmd::MODIFY_FILE => "modify",
        cmd::TRUNCATE_FILE => "truncate",
        cmd::REGENERATE_APPENDER_FILENAME => "regenerate_appender_filename",
        cmd::DELETE_FILE => "delete",
        cmd::DOWNLOAD_FILE => "download",
        cmd::SET_METADATA => "set_metadata",
        cmd::GET_METADATA => "get_metadata",
        cmd::QUERY_FILE_INFO => "query_file_info",
        cmd::ACTIVE_TEST => "active_test",
        cmd::SYNC_PUSH => "sync_push",
        _ => "unknown",
    }
}

/// Metric label for a status byte: its errno name (`OK`, `ENOENT`, ...).
fn status_label(s: u8) -> &'static str {
    status::name(s).split(' ').next().unwrap_or("unknown")
}

pub(crate) struct Stats {
    block: Mutex<StorageStats>,
    pub registry: Registry,
    requests: IntCounterVec,
    bytes_in: IntCounter,
    bytes_out: IntCounter,
    connections: IntGauge,
    free_bytes: IntGaugeVec,
    total_bytes: IntGaugeVec,
    reserved_bytes: IntGaugeVec,
    kept_inodes: IntGaugeVec,
    lag_seconds: IntGaugeVec,
    pending_records: IntGaugeVec,
    pending_bytes: IntGaugeVec,
    sync_delay: HistogramVec,
    /// A tracker has accepted this storage's join since it started: the
    /// readiness this storage reports on `/readyz`.
    joined: AtomicBool,
}

fn now() -> i64 {
    crate::clock::unix_now()
}

impl Stats {
    pub fn new() -> Stats {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "ferrodfs_storage_requests_total",
                "Client requests by command and reply status",
            ),
            &["command", "status"],
        )
        .expect("valid metric");
        let bytes_in = IntCounter::new(
            "ferrodfs_storage_received_bytes_total",
            "Request body bytes received",
        )
        .expect("valid metric");
        let bytes_out =
            IntCounter::new("ferrodfs_storage_sent_bytes_total", "Reply body bytes sent")
                .expect("valid metric");
        let connections = IntGauge::new("ferrodfs_storage_connections", "Open client connections")
            .expect("valid metric");
        let free_bytes = IntGaugeVec::new(
            Opts::new(
                "ferrodfs_storage_store_path_free_bytes",
                "Free bytes per store path",
            ),
            &["store_path"],
        )
        .expect("valid metric");
        let total_bytes = IntGaugeVec::new(
            Opts::new(
                "ferrodfs_storage_store_path_total_bytes",
                "Size per store path",
            ),
            &["store_path"],
        )
        .expect("valid metric");
        let reserved_bytes = IntGaugeVec::new(
            Opts::new(
                "ferrodfs_storage_store_path_reserved_bytes",
                "reserved_storage_space per store path: below it uploads are refused",
            ),
            &["store_path"],
        )
        .expect("valid metric");
        let kept_inodes = IntGaugeVec::new(
            Opts::new(
                "ferrodfs_storage_store_path_kept_inodes",
                "Inodes of deleted files kept for new uploads per store path (ext4 without a journal creates files slowly for minutes after a wave of deletes)",
            ),
            &["store_path"],
        )
        .expect("valid metric");
        let per_peer = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["peer"]).expect("valid metric")
        };
        let lag_seconds = per_peer(
            "ferrodfs_storage_sync_lag_seconds",
            "Age of the oldest binlog record this storage has not yet pushed to the peer (0: none pending)",
        );
        let pending_records = per_peer(
            "ferrodfs_storage_sync_pending_records",
            "Binlog records not yet pushed to the peer",
        );
        let pending_bytes = per_peer(
            "ferrodfs_storage_sync_pending_bytes",
            "File content bytes those pending records carry",
        );
        let sync_delay = HistogramVec::new(
            HistogramOpts::new(
                "ferrodfs_storage_sync_delay_seconds",
                "Time from logging a change of this storage (its client was answered) to the peer's acknowledgement of it",
            )
            .buckets(vec![
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
            ]),
            &["peer"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(bytes_in.clone()),
            Box::new(bytes_out.clone()),
            Box::new(connections.clone()),
            Box::new(free_bytes.clone()),
            Box::new(total_bytes.clone()),
            Box::new(reserved_bytes.clone()),
            Box::new(kept_inodes.clone()),
            Box::new(lag_seconds.clone()),
            Box::new(pending_records.clone()),
            Box::new(pending_bytes.clone()),
            Box::new(sync_delay.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Stats {
            block: Mutex::new(StorageStats::default()),
            registry,
            requests,
            bytes_in,
            bytes_out,
            connections,
            free_bytes,
            total_bytes,
            reserved_bytes,
            kept_inodes,
            lag_seconds,
            pending_records,
            pending_bytes,
            sync_delay,
            joined: AtomicBool::new(false),
        }
    }

    pub fn tracker_joined(&self) {
        self.joined.store(true, Ordering::Relaxed);
    }

    /// Ready for traffic: at least one tracker knows this storage again.
    pub fn has_joined(&self) -> bool {
        self.joined.load(Ordering::Relaxed)
    }

    fn with<R>(&self, f: impl FnOnce(&mut StorageStats) -> R) -> R {
        f(&mut self.block.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn snapshot(&self) -> StorageStats {
        self.with(|s| s.clone())
    }

    /// The counters and last-update times, without the connection gauges
    /// and heartbeat time (what `storage_stat.dat` keeps).
    pub fn counters(&self) -> StorageStats {
        let mut s = self.snapshot();
        s.connections = [0; 3];
        s.last_heart_beat_time = 0;
        s.last_synced_timestamp = 0;
        s
    }

    /// Starts from counters kept across a restart (or by FastDFS).
    pub fn restore(&self, kept: &StorageStats) {
        self.with(|s| {
            let connections = s.connections;
            *s = kept.clone();
            s.connections = connections;
        });
    }

    /// Connection gauges of the stat block: allocated (ever), current, max.
    pub fn connection_opened(&self) {
        self.connections.inc();
        self.with(|s| {
            s.connections[0] = s.connections[0].saturating_add(1);
            s.connections[1] += 1;
            s.connections[2] = s.connections[2].max(s.connections[1]);
        });
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
        self.with(|s| s.connections[1] -= 1);
    }

    pub fn heart_beat_sent(&self) {
        self.with(|s| s.last_heart_beat_time = now());
    }

    /// Records one finished request. `payload` is the file bytes moved
    /// (uploaded, appended, modified or downloaded).
    pub fn record(&self, command: u8, st: u8, payload: u64, bytes_in: u64, bytes_out: u64) {
        self.requests
            .with_label_values(&[command_name(command), status_label(st)])
            .inc();
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
        let ok = st == status::OK;
        let n = payload as i64;
        self.with(|s| {
            let changed = match command {
                cmd::UPLOAD_FILE | cmd::UPLOAD_APPENDER_FILE | cmd::UPLOAD_SLAVE_FILE => {
                    s.upload.record(ok);
                    s.upload_bytes.add(n, ok);
                    true
                }
                cmd::APPEND_FILE => {
                    s.append.record(ok);
                    s.append_bytes.add(n, ok);
                    true
                }
                cmd::MODIFY_FILE => {
                    s.modify.record(ok);
                    s.modify_bytes.add(n, ok);
                    true
                }
                cmd::TRUNCATE_FILE => {
                    s.truncate.record(ok);
                    true
                }
                cmd::SET_METADATA => {
                    s.set_meta.record(ok);
                    true
                }
                cmd::DELETE_FILE => {
                    s.delete.record(ok);
                    true
                }
                cmd::DOWNLOAD_FILE => {
                    s.download.record(ok);
                    s.download_bytes.add(n, ok);
                    false
                }
                cmd::GET_METADATA => {
                    s.get_meta.record(ok);
                    false
                }
                _ => false,
            };
            if changed && ok {
                s.last_source_update = now();
            }
        });
    }

    /// Sets the free-space gauges from the store's figures (as last read
    /// from the disks by [`Store::refresh_space`]).
    pub fn refresh_space(&self, store: &Store) {
        for (i, s) in store.spaces().into_iter().enumerate() {
            if let Some(s) = s {
                let label = format!("M{i:02X}");
                self.free_bytes
                    .with_label_values(&[&label])
                    .set(s.free as i64);
                self.total_bytes
                    .with_label_values(&[&label])
                    .set(s.total as i64);
                let reserved = match store.reserved() {
                    Reserved::Percent(p) => (s.total as f64 * p / 100.0) as i64,
                    Reserved::Bytes(b) => b as i64,
                };
                self.reserved_bytes
                    .with_label_values(&[&label])
                    .set(reserved);
            }
        }
        for (i, kept) in store.kept_inodes().into_iter().enumerate() {
            self.kept_inodes
                .with_label_values(&[&format!("M{i:02X}")])
                .set(kept as i64);
        }
    }

    /// The replication delay histogram of one peer.
    pub fn sync_delay(&self, peer: &str) -> Histogram {
        self.sync_delay.with_label_values(&[peer])
    }

    /// Sets the replication lag gauges; `gone`: peers that left the
    /// group, whose series are dropped.
    pub fn set_sync_lag(&self, lag: &[SyncLag], gone: &[String]) {
        for l in lag {
            let peer = [l.peer.as_str()];
            self.lag_seconds.with_label_values(&peer).set(l.age_secs);
            self.pending_records
                .with_label_values(&peer)
                .set(l.pending_records as i64);
            self.pending_bytes
                .with_label_values(&peer)
                .set(l.pending_bytes as i64);
        }
        for p in gone {
            for g in [
                &self.lag_seconds,
                &self.pending_records,
                &self.pending_bytes,
            ] {
                let _ = g.remove_label_values(&[p]);
            }
            let _ = self.sync_delay.remove_label_values(&[p]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_count_in_the_stat_block_and_metrics() {
        let s = Stats::new();
        s.record(cmd::UPLOAD_FILE, status::OK, 100, 115, 60);
        s.record(cmd::UPLOAD_SLAVE_FILE, status::ENOSPC, 0, 10, 0);
        let b = s.snapshot();
        assert_eq!((b.upload.total, b.upload.success), (2, 1));
        assert_eq!(b.upload_bytes.success, 100);
        assert!(b.last_source_update > 0);
        let text = ferrodfs_runtime::metrics::render(&s.registry);
        assert!(
            text.contains(r#"ferrodfs_storage_requests_total{command="upload",status="OK"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"command="upload_slave",status="ENOSPC""#),
            "{text}"
        );
        assert!(
            text.contains("ferrodfs_storage_received_bytes_total 125"),
            "{text}"
        );
    }

    #[test]
    fn reads_do_not_count_as_source_updates() {
        let s = Stats::new();
        s.record(cmd::DOWNLOAD_FILE, status::OK, 5, 0, 5);
        let b = s.snapshot();
        assert_eq!(b.download_bytes.success, 5);
        assert_eq!(b.last_source_update, 0);
    }

    #[test]
    fn connection_gauges_track_the_maximum() {
        let s = Stats::new();
        s.connection_opened();
        s.connection_opened();
        s.connection_closed();
        assert_eq!(s.snapshot().connections, [2, 1, 2]);
    }
}
