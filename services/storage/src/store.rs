//! The store paths on disk: FastDFS's layout (`<store_path>/data/HH/HH/name`,
//! metadata beside it as `name-m`), temp files that vanish unless placed,
//! and the disk-space view used for placement and reporting.

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use ferrodfs_proto::cluster::PathUsage;
use ferrodfs_proto::file_id::{ext_segment, FileInfo, LogicalName, Source, EXT_SEGMENT_LEN};
use ferrodfs_proto::status;
use ferrodfs_runtime::Reserved;

use crate::config::{Config, DistributeMode, StorePathPolicy};
use crate::distribute::{choose_store_path, has_room, subdir_for, Rotor};

/// Temp files live here, inside each store path, so placing one is a
/// rename on the same file system. Wiped at start.
const TMP_DIR: &str = "data/.tmp";
/// FastDFS tries this many names before giving up with EBUSY.
pub(crate) const NAME_ATTEMPTS: usize = 10;
/// Appender writes to one file are serialised through one of these locks,
/// picked by name hash: enough to keep concurrent appends from
/// interleaving without a lock per file.
const WRITE_LOCKS: usize = 64;

/// Total and available bytes of the file system holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Space {
    pub total: u64,
    pub free: u64,
}

/// statvfs: `free` is what an unprivileged writer can use.
pub(crate) fn disk_space(path: &Path) -> io::Result<Space> {
    let s = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    let frag = s.fragment_size() as u64;
    Ok(Space {
        total: s.blocks() as u64 * frag,
        free: s.blocks_available() as u64 * frag,
    })
}

/// Store paths plus the placement state shared by all connections.
pub(crate) struct Store {
    paths: Vec<PathBuf>,
    policy: StorePathPolicy,
    mode: DistributeMode,
    subdirs: u32,
    reserved: Reserved,
    ip: Ipv4Addr,
    /// The storage id trackers say to write into new file names instead
    /// of the IP (`id_type_in_filename = id`); 0 for the IP.
    filename_id: AtomicU32,
    rotor: Mutex<Rotor>,
    path_cursor: Mutex<usize>,
    tmp_seq: AtomicU64,
    write_locks: Vec<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Sets up the store paths (clearing leftover temp files) with the
    /// directory cursor saved by the last run.
    pub fn open(cfg: &Config, rotor: Rotor) -> io::Result<Store> {
        for p in &cfg.store_paths {
            let tmp = p.join(TMP_DIR);
            match std::fs::remove_dir_all(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            std::fs::create_dir_all(&tmp)?;
            std::fs::create_dir_all(p.join(crate::hold::HOLD_DIR))?;
        }
        Ok(Store {
            paths: cfg.store_paths.clone(),
            policy: cfg.store_path,
            mode: cfg.file_distribute,
            subdirs: cfg.subdir_count_per_path,
            reserved: cfg.reserved_storage_space,
            ip: cfg.ip,
            filename_id: AtomicU32::new(0),
            rotor: Mutex::new(rotor),
            path_cursor: Mutex::new(0),
            tmp_seq: AtomicU64::new(0),
            write_locks: (0..WRITE_LOCKS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        })
    }

    /// Who new file names say created them: our storage id when the
    /// trackers gave one for names, else our IP.
    pub fn source(&self) -> Source {
        match self.filename_id.load(Ordering::Relaxed) {
            0 => Source::Ip(self.ip),
            id => Source::Id(id),
        }
    }

    /// Takes the trackers' `filename_id`; `true` when it changed.
    pub fn set_filename_id(&self, id: Option<u32>) -> bool {
        self.filename_id.swap(id.unwrap_or(0), Ordering::Relaxed) != id.unwrap_or(0)
    }

    pub fn rotor(&self) -> Rotor {
        *self.rotor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The data file behind a logical name; `None` when its `Mxx` is not
    /// one of our store paths.
    pub fn data_path(&self, name: &LogicalName) -> Option<PathBuf> {
        self.paths
            .get(name.store_path as usize)
            .map(|p| p.join(name.rel_path()))
    }

    /// The holding file of `kind` for `name` (see [`crate::hold`]).
    pub fn hold_path(&self, name: &LogicalName, kind: crate::hold::Kind) -> Option<PathBuf> {
        self.paths
            .get(name.store_path as usize)
            .map(|p| crate::hold::path(p, name, kind))
    }

    /// Store path to write into: the client's index if valid, our policy
    /// for 255, EINVAL otherwise.
    pub fn choose(&self, requested: Option<u8>) -> Result<usize, u8> {
        match requested {
            Some(i) if (i as usize) < self.paths.len() => Ok(i as usize),
            Some(_) => Err(status::EINVAL),
            None => {
                let free: Vec<u64> = match self.policy {
                    StorePathPolicy::RoundRobin => vec![0; self.paths.len()],
                    StorePathPolicy::LoadBalance => self
                        .paths
                        .iter()
                        .map(|p| disk_space(p).map(|s| s.free).unwrap_or(0))
                        .collect(),
                };
                let mut cur = self.path_cursor.lock().unwrap_or_else(|e| e.into_inner());
                Ok(choose_store_path(self.policy, &mut cur, &free))
            }
        }
    }

    /// ENOSPC unless `incoming` bytes fit in store path `idx` and leave the
    /// reserved space free.
    pub fn check_room(&self, idx: usize, incoming: u64) -> Result<(), u8> {
        let space = disk_space(&self.paths[idx]).map_err(|_| status::EIO)?;
        if has_room(self.reserved, space.free, space.total, incoming) {
            Ok(())
        } else {
            Err(status::ENOSPC)
        }
    }

    /// `reserved_storage_space`, for the gauges.
    pub fn reserved(&self) -> Reserved {
        self.reserved
    }

    /// No store path has room for even one more byte.
    pub fn is_full(&self) -> bool {
        (0..self.paths.len()).all(|i| self.check_room(i, 1).is_err())
    }

    /// Space per store path, in MB as trackers expect it.
    pub fn usage(&self) -> Vec<PathUsage> {
        self.paths
            .iter()
            .map(|p| {
                let s = disk_space(p).unwrap_or(Space { total: 0, free: 0 });
                PathUsage {
                    total_mb: (s.total >> 20) as i64,
                    free_mb: (s.free >> 20) as i64,
                }
            })
            .collect()
    }

    /// The store path the next "storage chooses" upload would use.
    pub fn current_write_path(&self) -> u32 {
        let cur = *self.path_cursor.lock().unwrap_or_else(|e| e.into_inner());
        (cur % self.paths.len()) as u32
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The lock serialising writes to one appender file.
    pub fn write_lock(&self, name: &LogicalName) -> &tokio::sync::Mutex<()> {
        let h = crate::distribute::pjw_hash(name.to_string().as_bytes()) as usize;
        &self.write_locks[h % WRITE_LOCKS]
    }

    /// A new, empty temp file in store path `idx`.
    pub async fn temp_file(&self, idx: usize) -> io::Result<TempFile> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let path = self.paths[idx].join(TMP_DIR).join(format!(
            "{}-{seq}-{:08x}.part",
            std::process::id(),
            rand::random::<u32>()
        ));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(TempFile {
            path,
            file: Some(file),
        })
    }

    /// Gives a received file its FastDFS name and moves it into place:
    /// `make_info` builds the 20-byte name (called again with fresh random
    /// bits if the name is taken), the directory follows the distribute
    /// mode. EBUSY when no free name was found, as FastDFS.
    pub fn place_new(
        &self,
        idx: usize,
        tmp: TempFile,
        ext: &str,
        make_info: impl Fn(Source, &mut rand::rngs::ThreadRng) -> FileInfo,
    ) -> Result<LogicalName, u8> {
        for _ in 0..NAME_ATTEMPTS {
            let name = {
                let mut rng = rand::thread_rng();
                let encoded = make_info(self.source(), &mut rng).encode();
                let (dir1, dir2) = {
                    let mut rotor = self.rotor.lock().unwrap_or_else(|e| e.into_inner());
                    subdir_for(self.mode, &mut rotor, self.subdirs, &encoded)
                };
                LogicalName {
                    store_path: idx as u8,
                    dir1,
                    dir2,
                    name: format!("{encoded}{}", ext_segment(ext, &mut rng)),
                }
            };
            let dest = self.paths[idx].join(name.rel_path());
            match tmp.place(&dest) {
                Ok(()) => return Ok(name),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(disk_status(&e)),
            }
        }
        Err(status::EBUSY)
    }

    /// A fresh FastDFS name beside `old`, from `make_info`: same store
    /// path and directories, same 7-char extension segment. What an
    /// appender file is renamed to when its name is regenerated
    /// (storage_service.c keeps the sub path and the formatted extension).
    pub fn sibling_name(
        &self,
        old: &LogicalName,
        make_info: impl Fn(Source, &mut rand::rngs::ThreadRng) -> FileInfo,
    ) -> LogicalName {
        let segment = &old.name[old.name.len().saturating_sub(EXT_SEGMENT_LEN)..];
        let info = make_info(self.source(), &mut rand::thread_rng());
        LogicalName {
            name: format!("{}{segment}", info.encode()),
            ..old.clone()
        }
    }
}

/// Renames `from` to `to` unless something is already there
/// (`AlreadyExists`), off the runtime threads.
pub(crate) async fn rename_new(from: PathBuf, to: PathBuf) -> io::Result<()> {
    tokio::task::spawn_blocking(move || rename_noreplace(&from, &to))
        .await
        .map_err(io::Error::other)?
}

/// The status byte for a disk error: its errno when it is one clients
/// know (ENOENT, ENOSPC, EISDIR...), EIO otherwise.
pub(crate) fn disk_status(e: &io::Error) -> u8 {
    match e.raw_os_error() {
        Some(n) if matches!(n, 1 | 2 | 13 | 17 | 21 | 22 | 28) => n as u8,
        _ => {
            tracing::error!("disk error: {e}");
            status::EIO
        }
    }
}

/// A file being received. Dropped without [`TempFile::place`] succeeding
/// (error, client gone, task aborted), it is deleted: no partial file is
/// ever visible under a FastDFS name.
pub(crate) struct TempFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl TempFile {
    pub fn file(&mut self) -> &mut tokio::fs::File {
        self.file.as_mut().expect("open until placed")
    }

    /// Closes the file after its last write reached the OS and, when
    /// `durable` (`fsync_after_write`), the disk.
    pub async fn finish(&mut self, durable: bool) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            use tokio::io::AsyncWriteExt;
            f.flush().await?;
            if durable {
                f.sync_data().await?;
            }
        }
        Ok(())
    }

    /// Moves the file to `dest` unless something is already there
    /// (`AlreadyExists`), creating the data directories on first use.
    /// Only the rename publishes the file, so readers never see a partial one.
    pub fn place(&self, dest: &Path) -> io::Result<()> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        rename_noreplace(&self.path, dest)
    }
}

impl TempFile {
    /// Moves the file to `dest`, replacing what is there: a synced copy
    /// of a file always wins over an older copy of it. Readers see the
    /// old file or the new one, never a mix.
    pub fn replace(&self, dest: &Path) -> io::Result<()> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&self.path, dest)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // After a successful place the temp name no longer exists.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `renameat2(RENAME_NOREPLACE)`, falling back to link + unlink on file
/// systems without it; both refuse to replace an existing file.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags};
    match renameat2(None, from, None, to, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOSYS) => {
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        Err(e) => Err(io::Error::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, paths: usize) -> Config {
        let stores: Vec<String> = (0..paths)
            .map(|i| format!("{:?}", dir.join(format!("m{i}")).display().to_string()))
            .collect();
        let text = format!(
            "group_name='group1'\nip='10.0.0.7'\ncluster_secret='0123456789abcdef'\nbase_path={:?}\nstore_paths=[{}]\nreserved_storage_space='0%'",
            dir.join("base").display().to_string(),
            stores.join(",")
        );
        let c = Config::parse("storage.toml", &text).unwrap();
        c.prepare_dirs().unwrap();
        c
    }

    #[tokio::test]
    async fn placed_files_follow_the_fastdfs_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&config(dir.path(), 2), Rotor::default()).unwrap();
        let mut tmp = store.temp_file(1).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(tmp.file(), b"abc")
            .await
            .unwrap();
        tmp.finish(false).await.unwrap();
        let name = store
            .place_new(1, tmp, "txt", |ip, rng| FileInfo::normal(ip, 1, 3, 7, rng))
            .unwrap();
        let text = name.to_string();
        assert!(
            text.starts_with("M01/00/00/") && text.ends_with(".txt"),
            "{text}"
        );
        assert_eq!(text.len(), 44);
        let on_disk = dir.path().join("m1/data/00/00").join(&name.name);
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"abc");
        assert_eq!(store.data_path(&name).unwrap(), on_disk);
        assert_eq!(
            std::fs::read_dir(dir.path().join("m1/data/.tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn a_dropped_temp_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&config(dir.path(), 1), Rotor::default()).unwrap();
        let tmp = store.temp_file(0).await.unwrap();
        drop(tmp);
        assert_eq!(
            std::fs::read_dir(dir.path().join("m0/data/.tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn placing_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&config(dir.path(), 1), Rotor::default()).unwrap();
        let dest = dir.path().join("m0/data/00/00/taken");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, b"old").unwrap();
        let tmp = store.temp_file(0).await.unwrap();
        let e = tmp.place(&dest).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
    }

    #[test]
    fn store_path_index_out_of_range_is_einval() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&config(dir.path(), 2), Rotor::default()).unwrap();
        assert_eq!(store.choose(Some(1)), Ok(1));
        assert_eq!(store.choose(Some(2)), Err(status::EINVAL));
        assert_eq!(store.choose(None), Ok(0));
        assert_eq!(store.choose(None), Ok(1));
    }

    #[test]
    fn leftover_temp_files_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 1);
        let tmp = dir.path().join("m0/data/.tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("stale.part"), b"x").unwrap();
        Store::open(&cfg, Rotor::default()).unwrap();
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    }
}
