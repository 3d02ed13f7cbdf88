//! What every connection and background task of one storage shares.

use std::path::PathBuf;

use ferrodfs_proto::cluster::StorageReport;
use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::status;

use crate::binlog::{Binlog, Op};
use crate::cmd::CmdError;
use crate::config::Config;
use crate::stats::Stats;
use crate::store::Store;

/// FastDFS's default `upload_priority`.
const UPLOAD_PRIORITY: i64 = 10;

pub(crate) struct Ctx {
    pub cfg: Config,
    /// The bound port (differs from `cfg.port` when that was 0).
    pub port: u16,
    pub store: Store,
    pub binlog: Binlog,
    pub stats: Stats,
    pub join_time: i64,
    pub up_time: i64,
}

impl Ctx {
    /// The data file of `name`; EINVAL when its store path is not ours.
    pub fn data_path(&self, name: &LogicalName) -> Result<PathBuf, CmdError> {
        self.store
            .data_path(name)
            .ok_or(CmdError::Status(status::EINVAL))
    }

    /// Records a change made as the source. Called only once the change is
    /// on disk; a binlog that cannot be written fails the request (EIO),
    /// since the change would otherwise never replicate.
    pub fn log(&self, op: Op, name: &str) -> Result<(), CmdError> {
        self.binlog.write(crate::unix_now(), op, name).map_err(|e| {
            tracing::error!("binlog write failed for {name}: {e}");
            CmdError::Status(status::EIO)
        })
    }

    /// The join/heartbeat body for trackers.
    pub fn report(&self) -> StorageReport {
        StorageReport {
            group: self.cfg.group_name.clone(),
            ip: self.cfg.ip.to_string(),
            port: self.port,
            http_port: self.cfg.http_port,
            version: env!("CARGO_PKG_VERSION").to_string(),
            join_time: self.join_time,
            up_time: self.up_time,
            store_paths: self.store.usage(),
            subdir_count_per_path: self.cfg.subdir_count_per_path,
            current_write_path: self.store.current_write_path(),
            upload_priority: UPLOAD_PRIORITY,
            stats: self.stats.snapshot(),
            synced_until: Default::default(),
        }
    }
}
