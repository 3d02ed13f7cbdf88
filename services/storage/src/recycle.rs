//! Inodes of deleted files, kept for new uploads.
//!
//! On ext4 without a journal, creating a file scans the block group's
//! inode bitmap from its start and, for every free inode freed in the last
//! 60 s (360 s while its inode-table block is dirty), looks that block up
//! to skip it. Files go to the first group of their directory's flex group
//! that has free inodes, and FastDFS's 65,536 data directories all sit in
//! one flex group, so after a wave of deletes every create pays for every
//! inode the wave freed: hundreds of microseconds each instead of tens,
//! for minutes.
//!
//! So a delete that has finished does not free its inode: unless some
//! reader still has it open, the file is truncated (its blocks are freed
//! as before) and kept in the store path's holding directory as
//! `<n>.free`, and when creating files has become
//! slow, the store path writer renames one of them to the new upload's
//! name instead of creating a file. While creates are fast a fresh file is
//! cheaper than a rename out of the pool, so the pool is used only then,
//! with a fresh create every [`PROBE_EVERY`] uploads to see whether they
//! still are. The pool is bounded ([`CAPACITY`]); past it deletes free
//! their inodes as before. What a crash leaves in it is taken back at the
//! next start: an empty file under no FastDFS name harms nothing.

use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Kept inodes per store path, at most.
pub(crate) const CAPACITY: usize = 65_536;
/// When fresh creates take longer than this on average (an exponential
/// average over the last ones, so one create a busy host delayed does not
/// count), the writer takes kept inodes.
pub(crate) const SLOW_CREATE: Duration = Duration::from_micros(150);
/// While taking kept inodes, one upload in this many is created fresh, to
/// learn whether creating has become fast again.
pub(crate) const PROBE_EVERY: u32 = 32;
const EXT: &str = ".free";
/// The weight of the newest create in the average is 1 in this.
const AVERAGE_OVER: u64 = 8;

/// One store path's kept inodes and whether to use them.
pub(crate) struct Recycled {
    dir: PathBuf,
    pool: Mutex<Vec<u64>>,
    next: AtomicU64,
    /// The average time of the last fresh creates, in nanoseconds.
    create_ns: AtomicU64,
    /// Uploads since the last fresh create, while `slow`.
    since_probe: AtomicU32,
}

/// A kept inode taken from the pool: goes back to it when dropped
/// without being placed.
pub(crate) struct Taken<'a> {
    owner: &'a Recycled,
    id: Option<u64>,
}

impl Recycled {
    /// Takes back the `<n>.free` files in `dir`, a store path's holding
    /// directory (blocking); those past [`CAPACITY`], and any that is not
    /// an empty file with one link (a crash before it was emptied), are
    /// removed.
    pub fn open(dir: &Path) -> io::Result<Recycled> {
        let dir = dir.to_path_buf();
        let mut pool = Vec::new();
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let Some(id) = id_of(&e.file_name().to_string_lossy()) else {
                continue;
            };
            let meta = std::fs::symlink_metadata(e.path())?;
            let empty = meta.is_file() && meta.len() == 0 && meta.nlink() == 1;
            if empty && pool.len() < CAPACITY {
                pool.push(id);
            } else {
                std::fs::remove_file(e.path())?;
            }
        }
        let next = pool.iter().max().map_or(0, |m| m + 1);
        Ok(Recycled {
            dir,
            pool: Mutex::new(pool),
            next: AtomicU64::new(next),
            create_ns: AtomicU64::new(0),
            since_probe: AtomicU32::new(0),
        })
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id}{EXT}"))
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many inodes are kept.
    pub fn len(&self) -> usize {
        self.pool().len()
    }

    /// Removes the holding file `held` of a finished delete, keeping its
    /// inode when the pool has room and it is a plain file with no other
    /// link (never through a symlink: that would empty its target);
    /// blocking. A file that cannot be kept is removed.
    pub fn release(&self, held: &Path) -> io::Result<()> {
        if self.pool().len() < CAPACITY {
            if let Some(id) = self.keep(held) {
                self.pool().push(id);
                return Ok(());
            }
        }
        match std::fs::remove_file(held) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Renames `held` into the pool and empties it; its id, or `None`
    /// when it is not a file to keep or a step failed (`held` may then be
    /// gone already). Renamed first: a crash between the two steps must
    /// not leave an emptied holding file, which start-up would put back
    /// as the file (a kept inode that is not empty is removed at start).
    fn keep(&self, held: &Path) -> Option<u64> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc_flags::O_NOFOLLOW | libc_flags::O_NONBLOCK)
            .open(held)
            .ok()?;
        let meta = f.metadata().ok()?;
        if !meta.is_file() || meta.nlink() != 1 || !alone(&f) {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let kept = self.path(id);
        // A rename does not break the lease: no one opens it meanwhile.
        std::fs::rename(held, &kept).ok()?;
        if f.set_len(0).is_err() {
            let _ = std::fs::remove_file(&kept);
            return None;
        }
        // Closing ends the lease.
        drop(f);
        Some(id)
    }

    /// A kept inode for the next upload, when creating files is slow and
    /// this upload is not the one that probes a fresh create.
    pub fn take(&self) -> Option<Taken<'_>> {
        if self.create_ns.load(Ordering::Relaxed) <= SLOW_CREATE.as_nanos() as u64 {
            return None;
        }
        if self.since_probe.fetch_add(1, Ordering::Relaxed) + 1 >= PROBE_EVERY {
            self.since_probe.store(0, Ordering::Relaxed);
            return None;
        }
        let id = self.pool().pop()?;
        Some(Taken {
            owner: self,
            id: Some(id),
        })
    }

    /// What a fresh create took: decides whether the next uploads take
    /// kept inodes.
    pub fn created(&self, took: Duration) {
        // One writer thread per store path calls this: load and store
        // need no compare-and-swap.
        let avg = self.create_ns.load(Ordering::Relaxed);
        let took = took.as_nanos().min(u64::MAX as u128 / 8) as u64;
        let next = avg - avg / AVERAGE_OVER + took / AVERAGE_OVER;
        self.create_ns.store(next, Ordering::Relaxed);
    }
}

impl Taken<'_> {
    /// Where the kept inode is, to be renamed to its new name.
    pub fn path(&self) -> PathBuf {
        self.owner.path(self.id.expect("taken until gone"))
    }

    /// The inode was renamed away (or could not be): no longer kept.
    /// Dropped without this, it goes back to the pool.
    pub fn gone(mut self) {
        self.id = None;
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.owner.pool().push(id);
        }
    }
}

/// Whether `f` is the file's only open description, by taking a write
/// lease on it, which the kernel grants only then (it counts every open
/// file and mapping): a download still reading a deleted file would
/// otherwise see it emptied, then filled with another upload's bytes. No
/// one can open the file anew, moved aside as it is.
fn alone(f: &std::fs::File) -> bool {
    use nix::libc;
    use std::os::fd::AsRawFd;
    /// fcntl(2)'s F_SETSIG on Linux (asm-generic, as on x86_64 and
    /// aarch64; not in the libc crate for glibc).
    const F_SETSIG: libc::c_int = 10;
    let fd = f.as_raw_fd();
    // SAFETY: fcntl with integer arguments on a descriptor `f` owns. A
    // lease is broken with a signal, SIGIO by default, whose default
    // action ends the process: SIGURG instead, ignored by default.
    unsafe {
        libc::fcntl(fd, F_SETSIG, libc::SIGURG) == 0
            && libc::fcntl(fd, libc::F_SETLEASE, libc::F_WRLCK) == 0
    }
}

/// The id of a kept inode's file name.
fn id_of(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_suffix(EXT)?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Whether a file in the holding directory is a kept inode.
pub(crate) fn is_kept(file_name: &str) -> bool {
    id_of(file_name).is_some()
}

/// Whether `path` is a deleted file's inode kept for new uploads: an empty
/// file named `data/.hold/<n>.free` (for tools and tests that list a store
/// path's files; one that is not empty is not, and start-up removes it).
pub fn is_kept_inode(path: &Path) -> bool {
    let in_hold = path.parent().is_some_and(|d| d.ends_with(".hold"));
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(is_kept);
    in_hold && named && std::fs::metadata(path).is_ok_and(|m| m.len() == 0)
}

/// open(2) flags std does not name.
mod libc_flags {
    pub const O_NOFOLLOW: i32 = nix::fcntl::OFlag::O_NOFOLLOW.bits();
    pub const O_NONBLOCK: i32 = nix::fcntl::OFlag::O_NONBLOCK.bits();
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    const HOLD: &str = "hold";

    /// `n` fresh creates that took `took` each.
    pub(crate) fn creates(r: &Recycled, took: Duration, n: usize) {
        for _ in 0..n {
            r.created(took);
        }
    }

    fn fixture() -> (tempfile::TempDir, Recycled) {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(HOLD)).unwrap();
        let r = Recycled::open(&root.path().join(HOLD)).unwrap();
        (root, r)
    }

    fn held(root: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = root.join(HOLD).join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn a_deleted_file_is_emptied_and_its_inode_placed_under_a_new_name_once_creates_are_slow() {
        let (root, r) = fixture();
        let old = held(root.path(), "00_00_a.deleting", &[7u8; 4096]);
        let ino = std::fs::metadata(&old).unwrap().ino();
        r.release(&old).unwrap();
        assert!(!old.exists());
        assert_eq!(r.len(), 1);
        let kept = r.path(0);
        assert_eq!(
            std::fs::metadata(&kept).unwrap().len(),
            0,
            "its blocks are freed"
        );

        assert!(
            r.take().is_none(),
            "creates are fast: a fresh file is cheaper"
        );
        r.created(SLOW_CREATE * 4);
        assert!(r.take().is_none(), "one slow create is not enough");
        creates(&r, SLOW_CREATE * 2, 16);
        let to = root.path().join("new");
        let taken = r.take().expect("creates are slow");
        std::fs::rename(taken.path(), &to).unwrap();
        taken.gone();
        std::fs::write(&to, b"new body").unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"new body");
        assert_eq!(std::fs::metadata(&to).unwrap().ino(), ino, "the same inode");
        assert_eq!(r.len(), 0);
        assert!(!kept.exists());
        creates(&r, SLOW_CREATE / 4, 16);
        assert!(r.take().is_none(), "fast again");
    }

    #[test]
    fn while_slow_every_32nd_upload_probes_a_fresh_create() {
        let (root, r) = fixture();
        for i in 0..PROBE_EVERY * 2 {
            r.release(&held(root.path(), &format!("00_00_{i}.deleting"), b"x"))
                .unwrap();
        }
        creates(&r, SLOW_CREATE * 2, 16);
        let fresh = (0..PROBE_EVERY * 2)
            .filter(|_| r.take().map(std::mem::forget).is_none())
            .count();
        assert_eq!(fresh, 2);
    }

    #[test]
    fn an_unused_inode_goes_back_and_a_file_still_open_or_linked_elsewhere_is_not_kept() {
        let (root, r) = fixture();
        r.release(&held(root.path(), "00_00_a.deleting", b"x"))
            .unwrap();
        creates(&r, SLOW_CREATE * 2, 16);
        drop(r.take().unwrap());
        assert_eq!(r.len(), 1, "not used: put back");

        // A FastDFS slave stored as a symlink to its master.
        let master = root.path().join("master");
        std::fs::write(&master, b"master body").unwrap();
        let link = root.path().join(HOLD).join("00_00_s.deleting");
        std::os::unix::fs::symlink(&master, &link).unwrap();
        r.release(&link).unwrap();
        assert!(std::fs::symlink_metadata(&link).is_err(), "removed");
        assert_eq!(std::fs::read(&master).unwrap(), b"master body");
        // A file someone still reads (a download of it in progress) is
        // neither emptied nor kept.
        let read = held(root.path(), "00_00_r.deleting", b"read body");
        let reader = std::fs::File::open(&read).unwrap();
        r.release(&read).unwrap();
        assert!(!read.exists(), "removed");
        let mut body = String::new();
        std::io::Read::read_to_string(&mut &reader, &mut body).unwrap();
        assert_eq!(body, "read body");
        // A file with a second link is not emptied either.
        let linked = held(root.path(), "00_00_l.deleting", b"linked body");
        let other = root.path().join("other");
        std::fs::hard_link(&linked, &other).unwrap();
        r.release(&linked).unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"linked body");
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn kept_inodes_are_taken_back_at_start_and_new_ids_follow_them() {
        let (root, r) = fixture();
        for i in 0..3 {
            r.release(&held(root.path(), &format!("00_00_{i}.deleting"), b"x"))
                .unwrap();
        }
        drop(r);
        held(root.path(), "00_00_z.deleting", b"a holding file");
        let r = Recycled::open(&root.path().join(HOLD)).unwrap();
        assert_eq!(r.len(), 3);
        // Not emptied before a crash: removed, never handed out.
        std::fs::write(r.path(1), b"old bytes").unwrap();
        drop(r);
        let r = Recycled::open(&root.path().join(HOLD)).unwrap();
        assert_eq!(r.len(), 2);
        assert!(!r.path(1).exists());
        r.release(&held(root.path(), "00_00_y.deleting", b"x"))
            .unwrap();
        assert!(r.path(3).exists());
        assert!(is_kept("12.free") && !is_kept("00_00_a.free") && !is_kept(".free"));
    }
}
