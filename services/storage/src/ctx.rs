//! What every connection and background task of one storage shares.

use std::path::PathBuf;

use ferrodfs_proto::cluster::{Member, StorageReport};
use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::sync::PushHeader;

use crate::binlog::{Binlog, Op, Pos};
use crate::config::Config;
use crate::error::{disk, Error};
use crate::replication::Replication;
use crate::stats::Stats;
use crate::store::Store;

/// FastDFS's default `upload_priority`.
pub(crate) const UPLOAD_PRIORITY: i64 = 10;

pub(crate) struct Ctx {
    pub cfg: Config,
    /// The bound port (differs from `cfg.port` when that was 0).
    pub port: u16,
    pub store: std::sync::Arc<Store>,
    pub binlog: Binlog,
    /// Places and logs uploads received in memory (page-cache writes).
    pub writers: crate::path_writer::PathWriters,
    pub stats: Stats,
    pub join_time: i64,
    pub up_time: i64,
    /// The group's members as the trackers listed them (BeatReply), this
    /// storage included; empty until a tracker answered. HTTP access reads
    /// a source storage's address and port here. See [`merge_members`].
    pub members: std::sync::RwLock<Vec<ferrodfs_proto::cluster::Member>>,
    /// Group sync: initial-copy state, synced timestamps, push workers.
    pub repl: Replication,
    /// Scrub and repair of the stored copies.
    pub scrub: crate::scrub::Scrubber,
    /// Peers' connections pushing to this storage.
    pub sync_sessions: crate::replication::sessions::Sessions,
}

impl Ctx {
    /// Takes in the members one tracker listed and the ids it reports
    /// deleted (see [`merge_members`]).
    pub fn set_members(&self, listed: &[Member], deleted: &[String]) {
        let mut known = self.members.write().unwrap_or_else(|e| e.into_inner());
        merge_members(&mut known, listed, deleted);
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
    pub fn data_path(&self, name: &LogicalName) -> Result<PathBuf, Error> {
        self.store
            .data_path(name)
            .ok_or(Error::Invalid("store path not ours"))
    }

    /// Records a change made as the source. Called only once the change is
    /// on disk; a binlog that cannot be written fails the request (EIO),
    /// since the change would otherwise never replicate. Returns where the
    /// record ends, for [`Ctx::replicated`].
    pub async fn log(&self, op: Op, name: &str) -> Result<Pos, Error> {
        let end = self
            .binlog
            .write(crate::clock::unix_now(), op, name)
            .await
            .map_err(|e| {
                tracing::error!("binlog write failed for {name}: {e}");
                Error::Binlog(e)
            })?;
        self.logged(end);
        Ok(end)
    }

    /// Notes when the record ending at `end` was logged (replication
    /// delays are measured from there).
    pub fn logged(&self, end: Pos) {
        self.repl.delays.logged(end, std::time::Instant::now());
    }

    /// With `fsync_after_write`: the file's data is on the disk before the
    /// change is logged and acknowledged (tokio runs the fsync on its
    /// blocking pool).
    pub async fn durable(&self, file: &tokio::fs::File) -> Result<(), Error> {
        if self.cfg.fsync_after_write {
            file.sync_data().await.map_err(disk)?;
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
    pub async fn replicated(&self, pos: Pos) -> Result<(), Error> {
        if self.cfg.fsync_after_write {
            if let Err(e) = self.binlog.sync().await {
                tracing::error!("cannot fsync the binlog: {e}");
                return Err(Error::Binlog(e));
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
        Err(Error::NotReplicated)
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

/// Folds one tracker's member list into what this storage knows. A tracker
/// that just restarted lists only the members that have joined it again,
/// and trackers answer in turn, so a list replacing the last one would
/// make a member vanish for a heartbeat: a file whose source is that
/// member, asked for here before it replicated, would then be a false
/// "no such file". So a listed member is added or updated (keyed by its
/// storage id, so a new address replaces the old one) and one that is not
/// listed is kept; only a tracker that reports it deleted removes it.
pub(crate) fn merge_members(known: &mut Vec<Member>, listed: &[Member], deleted: &[String]) {
    for m in listed {
        match known.iter_mut().find(|k| k.id == m.id) {
            Some(k) => *k = m.clone(),
            None => known.push(m.clone()),
        }
    }
    known.retain(|k| !deleted.iter().any(|d| *d == k.id || *d == k.ip));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, ip: &str, status: u8) -> Member {
        Member {
            id: id.into(),
            ip: ip.into(),
            port: 23000,
            http_port: 8888,
            status,
            fastdfs: false,
        }
    }

    #[test]
    fn a_member_missing_from_one_tracker_s_list_is_kept() {
        use ferrodfs_proto::cluster::state::{ACTIVE, OFFLINE};
        let mut known = Vec::new();
        merge_members(
            &mut known,
            &[
                member("10.0.0.1", "10.0.0.1", ACTIVE),
                member("10.0.0.2", "10.0.0.2", ACTIVE),
            ],
            &[],
        );
        // A restarted tracker knows only us so far.
        merge_members(&mut known, &[member("10.0.0.1", "10.0.0.1", ACTIVE)], &[]);
        let ips: Vec<&str> = known.iter().map(|m| m.ip.as_str()).collect();
        assert_eq!(ips, ["10.0.0.1", "10.0.0.2"]);
        // A listed member's state and address follow the newest list.
        merge_members(&mut known, &[member("10.0.0.2", "10.0.0.9", OFFLINE)], &[]);
        assert_eq!(known[1].ip, "10.0.0.9");
        assert_eq!(known[1].status, OFFLINE);
        assert_eq!(known.len(), 2);
    }

    #[test]
    fn only_a_deleted_member_leaves() {
        use ferrodfs_proto::cluster::state::ACTIVE;
        let mut known = vec![
            member("1", "10.0.0.1", ACTIVE),
            member("2", "10.0.0.2", ACTIVE),
        ];
        merge_members(&mut known, &[], &["2".into()]);
        assert_eq!(known, vec![member("1", "10.0.0.1", ACTIVE)]);
        merge_members(&mut known, &[], &["10.0.0.1".into()]);
        assert!(known.is_empty());
    }
}
