//! The per-peer sync mark (FastDFS `<ip>_<port>.mark`, or `<id>.mark`
//! with storage ids): how far this storage's binlog has been pushed to one
//! peer, so a restart of either side, or a new address of the peer,
//! resumes exactly there. INI text with FastDFS's key names.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ferrodfs_proto::cluster::Member;

use crate::binlog::Pos;

/// Progress of the push to one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Mark {
    /// Next record to push.
    pub pos: Pos,
    /// Replaying everything, replica records included: this storage is
    /// sending the peer its initial full copy (FastDFS `need_sync_old`).
    pub full_copy: bool,
    /// That full copy has been completed (FastDFS `sync_old_done`).
    pub full_copy_done: bool,
    /// Records older than this are not pushed: the peer's full copy,
    /// sent by another member, covers them (FastDFS `until_timestamp`).
    pub skip_before: i64,
    /// Records pushed so far (FastDFS `sync_row_count`), for monitoring.
    pub pushed: u64,
}

impl Mark {
    pub fn format(&self) -> String {
        format!(
            "binlog_index={}\nbinlog_offset={}\nneed_sync_old={}\nsync_old_done={}\n\
             until_timestamp={}\nsync_row_count={}\n",
            self.pos.index,
            self.pos.offset,
            u8::from(self.full_copy),
            u8::from(self.full_copy_done),
            self.skip_before,
            self.pushed
        )
    }

    /// `None` when a key is missing or unreadable: the mark is then
    /// rebuilt as for a new peer, which only repeats idempotent pushes.
    pub fn parse(text: &str) -> Option<Mark> {
        let get = |key: &str| -> Option<i64> {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().parse().ok())?
            })
        };
        Some(Mark {
            pos: Pos {
                index: u32::try_from(get("binlog_index")?).ok()?,
                offset: u64::try_from(get("binlog_offset")?).ok()?,
            },
            full_copy: get("need_sync_old")? != 0,
            full_copy_done: get("sync_old_done")? != 0,
            skip_before: get("until_timestamp")?,
            pushed: get("sync_row_count").unwrap_or(0).max(0) as u64,
        })
    }
}

pub(crate) fn mark_path(sync_dir: &Path, ip: &str, port: u16) -> PathBuf {
    sync_dir.join(format!("{ip}_{port}.mark"))
}

/// Whether `m` has a storage id of its own (`use_storage_id`), rather
/// than its IP standing in for one.
fn has_storage_id(m: &Member) -> bool {
    !m.id.is_empty() && m.id != m.ip
}

/// How this storage names a peer's push worker and mark: its storage id
/// when it has one, which survives an address change, else `ip:port`.
pub(crate) fn peer_key(m: &Member) -> String {
    if has_storage_id(m) {
        m.id.clone()
    } else {
        format!("{}:{}", m.ip, m.port)
    }
}

/// The mark file of a peer: `<id>.mark` or `<ip>_<port>.mark`.
pub(crate) fn peer_mark_path(sync_dir: &Path, m: &Member) -> PathBuf {
    if has_storage_id(m) {
        sync_dir.join(format!("{}.mark", m.id))
    } else {
        mark_path(sync_dir, &m.ip, m.port)
    }
}

pub(crate) fn load(path: &Path) -> io::Result<Option<Mark>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Mark::parse(&t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Mark files of members removed from the group. A worker saves its mark
/// in the background, so a save may still run after the worker of a
/// removed member was stopped; it must not bring the mark back (a member
/// added again would then be taken for one whose full copy was sent).
/// Saves and removals run under this lock, one at a time, so two saves
/// of one mark never share the temp file either.
static RETIRED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn retired() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    RETIRED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Replaces the mark atomically (temp file, rename), unless its member
/// was removed ([`remove`]) (blocking).
pub(crate) fn save(path: &Path, m: &Mark) -> io::Result<()> {
    let retired = retired();
    if retired.contains(path) {
        return Ok(());
    }
    let tmp = path.with_extension("mark.tmp");
    std::fs::write(&tmp, m.format())?;
    std::fs::rename(tmp, path)
}

/// The member left the group: its mark goes, and no save still under
/// way writes it again until [`reinstate`] (blocking).
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    let mut retired = retired();
    retired.insert(path.to_path_buf());
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A worker for the member starts (again): its mark may be saved.
pub(crate) fn reinstate(path: &Path) {
    retired().remove(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_after_the_member_was_removed_does_not_bring_its_mark_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = mark_path(dir.path(), "10.0.0.3", 23000);
        let m = Mark::default();
        save(&path, &m).unwrap();
        remove(&path).unwrap();
        assert!(!path.exists());
        // A background save of the stopped worker, finishing late.
        save(&path, &m).unwrap();
        assert!(!path.exists(), "the removed member's mark came back");
        // Added again: its new worker saves as usual.
        reinstate(&path);
        save(&path, &m).unwrap();
        assert_eq!(load(&path).unwrap(), Some(m));
    }

    #[test]
    fn a_mark_survives_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = mark_path(dir.path(), "10.0.0.2", 23000);
        assert!(path.ends_with("10.0.0.2_23000.mark"));
        assert_eq!(load(&path).unwrap(), None);
        let m = Mark {
            pos: Pos {
                index: 2,
                offset: 4096,
            },
            full_copy: true,
            full_copy_done: false,
            skip_before: 1_700_000_000,
            pushed: 12,
        };
        save(&path, &m).unwrap();
        assert_eq!(load(&path).unwrap(), Some(m));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("binlog_offset=4096\nneed_sync_old=1\n"),
            "{text}"
        );
    }

    #[test]
    fn a_damaged_mark_reads_as_none() {
        assert_eq!(Mark::parse("binlog_index=1\n"), None);
        assert_eq!(Mark::parse("binlog_index=x\nbinlog_offset=1"), None);
    }
}
