//! What every connection and background task of one storage shares.

use std::path::PathBuf;

use ferrodfs_proto::cluster::StorageReport;
use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::status;
use ferrodfs_proto::sync::PushHeader;

use crate::binlog::{Binlog, Op, Pos};
use crate::cmd::CmdError;
use crate::config::Config;
use crate::stats::Stats;
use crate::store::Store;
use crate::sync::Replication;

/// FastDFS's default `upload_priority`.
const UPLOAD_PRIORITY: i64 = 10;

pub(crate) struct Ctx {
    pub cfg: Config,
    /// The bound port (differs from `cfg.port` when that was 0).
    pub port: u16,
    pub store: std::sync::Arc<Store>,
    pub binlog: Binlog,
    pub stats: Stats,
    pub join_time: i64,
    pub up_time: i64,
    /// The group's members as the trackers last listed them (BeatReply),
    /// this storage included; empty until a tracker answered. HTTP access
    /// reads a source storage's HTTP port here.
    pub members: std::sync::RwLock<Vec<ferrodfs_proto::cluster::Member>>,
    /// Group sync: initial-copy state, synced timestamps, push workers.
    pub repl: Replication,
    /// Scrub and repair of the stored copies.
    pub scrub: crate::scrub::Scrubber,
}

impl Ctx {
    pub fn set_members(&self, members: &[ferrodfs_proto::cluster::Member]) {
        *self.members.write().unwrap_or_else(|e| e.into_inner()) = members.to_vec();
    }

    /// Whether `ip` is a member of this group as the trackers last listed
    /// it (ourselves included).
    pub fn is_member(&self, ip: &str) -> bool {
        self.members
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|m| m.ip == ip)
    }

    /// The data file of `name`; EINVAL when its store path is not ours.
    pub fn data_path(&self, name: &LogicalName) -> Result<PathBuf, CmdError> {
        self.store
            .data_path(name)
            .ok_or(CmdError::Status(status::EINVAL))
    }

    /// Records a change made as the source. Called only once the change is
    /// on disk; a binlog that cannot be written fails the request (EIO),
    /// since the change would otherwise never replicate. Returns where the
    /// record ends, for [`Ctx::replicated`].
    pub async fn log(&self, op: Op, name: &str) -> Result<Pos, CmdError> {
        self.binlog
            .write(crate::unix_now(), op, name)
            .await
            .map_err(|e| {
                tracing::error!("binlog write failed for {name}: {e}");
                CmdError::Status(status::EIO)
            })
    }

    /// With `fsync_after_write`: the file's data is on the disk before the
    /// change is logged and acknowledged (tokio runs the fsync on its
    /// blocking pool).
    pub async fn durable(&self, file: &tokio::fs::File) -> Result<(), CmdError> {
        if self.cfg.fsync_after_write {
            file.sync_data().await.map_err(crate::cmd::disk)?;
        }
        Ok(())
    }

    /// What a change needs before it is acknowledged, once logged at
    /// `pos`. With `fsync_after_write`, its binlog record is fsynced (off
    /// the runtime threads; concurrent changes share one): a durable change without a durable record
    /// would never replicate after a power cut. With `min_copies` above 1,
    /// waits until enough other members hold every change up to `pos`;
    /// ETIMEDOUT when they do not within `min_copies_timeout` (the caller
    /// undoes what it can first).
    pub async fn replicated(&self, pos: Pos) -> Result<(), CmdError> {
        if self.cfg.fsync_after_write {
            if let Err(e) = self.binlog.sync().await {
                tracing::error!("cannot fsync the binlog: {e}");
                return Err(CmdError::Status(status::EIO));
            }
        }
        let copies = self.cfg.min_copies.saturating_sub(1);
        if copies == 0
            || self
                .repl
                .wait_copies(pos, copies, self.cfg.min_copies_timeout)
                .await
        {
            return Ok(());
        }
        tracing::warn!(
            "a change did not reach {} member(s) within {:?}",
            copies,
            self.cfg.min_copies_timeout
        );
        Err(CmdError::Status(status::ETIMEDOUT))
    }

    /// Takes note of what a pushing peer says about its progress: its
    /// files up to `synced_until` are here; a finished full copy makes
    /// this storage a full member.
    pub fn sync_received(&self, head: &PushHeader) {
        self.repl.raise_synced(&head.from, head.synced_until);
        let init = self.repl.init();
        if init.done || init.sync_src.as_deref() != Some(head.from.as_str()) {
            return;
        }
        if head.copy_done {
            for (source, until) in &head.granted {
                self.repl.raise_synced(source, *until);
            }
        }
        let changed = self.repl.update_init(|i| {
            i.receiving = true;
            i.done |= head.copy_done;
        });
        if changed {
            if head.copy_done {
                tracing::info!(
                    "full copy from {} complete: this storage now holds the group's data",
                    head.from
                );
            }
            self.save_state();
        }
    }

    /// Persists join time, directory cursor and initial-copy state, on
    /// the blocking pool (call it from the runtime).
    pub fn save_state(&self) {
        let s = self.persisted();
        let base = self.cfg.base_path.clone();
        tokio::task::spawn_blocking(move || save_state(&base, &s));
    }

    /// [`Ctx::save_state`] for a thread that may block.
    pub fn save_state_blocking(&self) {
        save_state(&self.cfg.base_path, &self.persisted());
    }

    fn persisted(&self) -> crate::state::PersistedState {
        crate::state::PersistedState {
            join_time: self.join_time,
            rotor: self.store.rotor(),
            init: self.repl.init(),
        }
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
            synced_until: self.repl.synced_until(),
            init: Some(self.repl.init()),
            trackers: self.cfg.tracker_servers.clone(),
            full: self.store.is_full(),
            last_scrub: Some(self.scrub.last()).filter(|r| r.finished != 0),
            sync_lag: self.repl.lag.latest(),
            heart_beat_interval_ms: u64::try_from(self.cfg.heart_beat_interval.as_millis())
                .unwrap_or(u64::MAX),
        }
    }
}

fn save_state(base: &std::path::Path, s: &crate::state::PersistedState) {
    if let Err(e) = crate::state::save(base, s) {
        tracing::warn!("cannot save the storage state: {e}");
    }
}
