//! The store paths on disk: FastDFS's layout (`<store_path>/data/HH/HH/name`,
//! metadata beside it as `name-m`), temp files that vanish unless placed,
//! and the disk-space view used for placement and reporting.

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferrodfs_proto::cluster::PathUsage;
use ferrodfs_proto::file_id::{ext_segment, FileInfo, LogicalName, Source, EXT_SEGMENT_LEN};
use ferrodfs_runtime::Reserved;

use crate::config::{Config, DistributeMode, StorePathPolicy};
use crate::distribute::{choose_store_path, has_room, hashed_subdir, subdir_for, Rotor};
use crate::error::Error;
use crate::recycle::{Recycled, Taken};

/// Before this layout, temp files lived here; start-up removes the
/// directory if a store path still has it.
const OLD_TMP_DIR: &str = "data/.tmp";
/// Temp files are created in the data directory their file goes to (so
/// the rename publishing them stays in one directory, and new inodes
/// spread over the whole tree instead of one directory's block group),
/// named `.<hex>.part`: a leading dot, which no FastDFS name has, so
/// downloads and the HTTP port never serve one. Removed at start.
/// Notes a name just before a new file takes it, or (`None`) withdraws the
/// name noted last: the store path writer's placing journal.
pub(crate) type Journal<'a> = &'a mut dyn FnMut(Option<&LogicalName>) -> io::Result<()>;

const TMP_PREFIX: &str = ".";
const TMP_SUFFIX: &str = ".part";
/// FastDFS tries this many names before giving up with EBUSY.
pub(crate) const NAME_ATTEMPTS: usize = 10;

/// Total and available bytes of the file system holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Space {
    pub total: u64,
    pub free: u64,
}

/// statvfs: `free` is what an unprivileged writer can use (blocking).
pub(crate) fn disk_space(path: &Path) -> io::Result<Space> {
    let s = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    let frag = s.fragment_size() as u64;
    Ok(Space {
        total: s.blocks() as u64 * frag,
        free: s.blocks_available() as u64 * frag,
    })
}

/// The disk-space figures of one store path as last read from the disk
/// ([`Store::refresh_space`], on a timer), less what uploads were admitted
/// to write since: no statvfs per upload.
#[derive(Default)]
struct CachedSpace {
    total: AtomicU64,
    free: AtomicU64,
    admitted: AtomicU64,
    /// The last statvfs failed: writes are refused (EIO) until one works.
    failed: AtomicBool,
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
    /// Tags this run's temp files, so clearing an earlier run's leaves
    /// them alone.
    run: u32,
    space: Vec<CachedSpace>,
    write_locks: crate::file_locks::FileLocks,
    /// Per store path: inodes of deleted files kept for new uploads.
    recycled: Vec<Recycled>,
    /// Set when the store is dropped: the directory-preparing thread
    /// stops, so a stopped storage's tree can be removed without it
    /// creating directories behind the remover.
    stopped: Arc<AtomicBool>,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// What [`Store::open`] found and did on the disks, for its log line.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub dirs_created: usize,
    pub temp_removed: usize,
    pub took: std::time::Duration,
    /// The store was dropped before every directory was prepared.
    pub stopped: bool,
}

impl Store {
    /// Sets up the store paths with the directory cursor saved by the last
    /// run (blocking: call it off the runtime threads), then creates every
    /// `data/HH/HH` directory, as FastDFS does, and removes the temp files
    /// an earlier run left in them, on a thread of its own: a file written
    /// meanwhile creates its directory if it is not there yet.
    pub fn open(cfg: &Config, rotor: Rotor) -> io::Result<Store> {
        for p in &cfg.store_paths {
            match std::fs::remove_dir_all(p.join(OLD_TMP_DIR)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            std::fs::create_dir_all(p.join(crate::hold::HOLD_DIR))?;
        }
        // With fsync_after_write uploads are not made by the store path
        // writers, which alone take kept inodes: none are kept then.
        let recycled = match cfg.fsync_after_write {
            true => Vec::new(),
            false => cfg
                .store_paths
                .iter()
                .map(|p| Recycled::open(&p.join(crate::hold::HOLD_DIR)))
                .collect::<io::Result<_>>()?,
        };
        let store = Store {
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
            run: rand::random(),
            space: cfg
                .store_paths
                .iter()
                .map(|_| CachedSpace::default())
                .collect(),
            write_locks: Default::default(),
            recycled,
            stopped: Arc::default(),
        };
        store.refresh_space();
        let (paths, subdirs, run) = (store.paths.clone(), store.subdirs, store.run);
        let stopped = store.stopped.clone();
        std::thread::Builder::new()
            .name("store-prepare".into())
            .spawn(move || match prepare_dirs(&paths, subdirs, run, &stopped) {
                Ok(p) if p.stopped => tracing::debug!("the store stopped before its directories were ready"),
                Ok(p) => tracing::info!(
                    "data directories ready in {:.2} s ({} created, {} temp files of an earlier run removed)",
                    p.took.as_secs_f64(),
                    p.dirs_created,
                    p.temp_removed
                ),
                Err(e) => tracing::error!("cannot prepare the data directories: {e}"),
            })?;
        Ok(store)
    }

    /// Reads every store path's disk space (blocking: statvfs).
    pub fn refresh_space(&self) {
        for (p, c) in self.paths.iter().zip(&self.space) {
            match disk_space(p) {
                Ok(s) => {
                    c.total.store(s.total, Ordering::Relaxed);
                    c.free.store(s.free, Ordering::Relaxed);
                    c.admitted.store(0, Ordering::Relaxed);
                    c.failed.store(false, Ordering::Relaxed);
                }
                Err(e) => {
                    if !c.failed.swap(true, Ordering::Relaxed) {
                        tracing::error!("{}: cannot read the disk space: {e}", p.display());
                    }
                }
            }
        }
    }

    /// The last disk-space figures of store path `idx`, less what was
    /// admitted since.
    fn space(&self, idx: usize) -> Option<Space> {
        let c = &self.space[idx];
        if c.failed.load(Ordering::Relaxed) {
            return None;
        }
        Some(Space {
            total: c.total.load(Ordering::Relaxed),
            free: c
                .free
                .load(Ordering::Relaxed)
                .saturating_sub(c.admitted.load(Ordering::Relaxed)),
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
    /// Store path `idx`'s directory.
    pub fn store_path(&self, idx: usize) -> Option<&Path> {
        self.paths.get(idx).map(PathBuf::as_path)
    }

    pub fn hold_path(&self, name: &LogicalName, kind: crate::hold::Kind) -> Option<PathBuf> {
        self.paths
            .get(name.store_path as usize)
            .map(|p| crate::hold::path(p, name, kind))
    }

    /// Removes the holding file `held` of a finished delete in store path
    /// `idx`, keeping its inode for a new upload when it can (blocking;
    /// see [`crate::recycle`]).
    pub fn release_deleted(&self, idx: usize, held: &Path) {
        let r = match self.recycled.get(idx) {
            Some(r) => r.release(held),
            None => std::fs::remove_file(held),
        };
        crate::hold::released(held, r);
    }

    /// Store path to write into: the client's index if valid, our policy
    /// for 255, EINVAL otherwise.
    pub fn choose(&self, requested: Option<u8>) -> Result<usize, Error> {
        match requested {
            Some(i) if (i as usize) < self.paths.len() => Ok(i as usize),
            Some(_) => Err(Error::Invalid("no such store path")),
            None => {
                let free: Vec<u64> = match self.policy {
                    StorePathPolicy::RoundRobin => vec![0; self.paths.len()],
                    StorePathPolicy::LoadBalance => (0..self.paths.len())
                        .map(|i| self.space(i).map(|s| s.free).unwrap_or(0))
                        .collect(),
                };
                let mut cur = self.path_cursor.lock().unwrap_or_else(|e| e.into_inner());
                Ok(choose_store_path(self.policy, &mut cur, &free))
            }
        }
    }

    /// ENOSPC unless `incoming` bytes fit in store path `idx` and leave the
    /// reserved space free; the bytes count as written until the next
    /// [`Store::refresh_space`].
    pub fn check_room(&self, idx: usize, incoming: u64) -> Result<(), Error> {
        let space = self.space(idx).ok_or(Error::SpaceUnknown)?;
        if has_room(self.reserved, space.free, space.total, incoming) {
            self.space[idx]
                .admitted
                .fetch_add(incoming, Ordering::Relaxed);
            Ok(())
        } else {
            Err(Error::NoSpace)
        }
    }

    /// `reserved_storage_space`, for the gauges.
    pub fn reserved(&self) -> Reserved {
        self.reserved
    }

    /// No store path has room for even one more byte.
    pub fn is_full(&self) -> bool {
        (0..self.paths.len()).all(|i| {
            self.space(i)
                .is_none_or(|s| !has_room(self.reserved, s.free, s.total, 1))
        })
    }

    /// Space per store path, in MB as trackers expect it.
    pub fn usage(&self) -> Vec<PathUsage> {
        (0..self.paths.len())
            .map(|i| {
                let s = self.space(i).unwrap_or(Space { total: 0, free: 0 });
                PathUsage {
                    total_mb: (s.total >> 20) as i64,
                    free_mb: (s.free >> 20) as i64,
                }
            })
            .collect()
    }

    /// Space per store path as last read, for the gauges.
    pub fn spaces(&self) -> Vec<Option<Space>> {
        (0..self.paths.len()).map(|i| self.space(i)).collect()
    }

    /// How many inodes of deleted files each store path keeps.
    pub fn kept_inodes(&self) -> Vec<usize> {
        self.recycled.iter().map(Recycled::len).collect()
    }

    /// The store path the next "storage chooses" upload would use.
    pub fn current_write_path(&self) -> u32 {
        let cur = *self.path_cursor.lock().unwrap_or_else(|e| e.into_inner());
        (cur % self.paths.len()) as u32
    }

    /// Serialises in-place changes of one file (see [`crate::file_locks`]).
    pub(crate) async fn write_lock(&self, name: &LogicalName) -> crate::file_locks::FileGuard {
        self.write_locks.lock(name).await
    }

    /// The data directory a new file goes to, when the distribute mode
    /// decides it before the name (round robin); `None` when the name
    /// decides it (hash).
    fn next_dir(&self) -> Option<(u8, u8)> {
        match self.mode {
            DistributeMode::RoundRobin { .. } => {
                let mut rotor = self.rotor.lock().unwrap_or_else(|e| e.into_inner());
                Some(subdir_for(self.mode, &mut rotor, self.subdirs, ""))
            }
            DistributeMode::Hash => None,
        }
    }

    /// The directory a temp file for a file going to `dir` is made in:
    /// that directory, or (dir known only once named) one of the tree
    /// picked by a counter, so temp inodes still spread.
    fn temp_dir(&self, idx: usize, dir: Option<(u8, u8)>, seq: u64) -> PathBuf {
        let (d1, d2) = dir.unwrap_or_else(|| {
            let n = self.subdirs as u64;
            ((seq % n) as u8, ((seq / n) % n) as u8)
        });
        self.paths[idx]
            .join("data")
            .join(format!("{d1:02X}"))
            .join(format!("{d2:02X}"))
    }

    /// A fresh temp file name in `dir`.
    fn temp_name(&self, dir: &Path, seq: u64) -> PathBuf {
        dir.join(format!("{TMP_PREFIX}{:08x}-{seq:x}{TMP_SUFFIX}", self.run))
    }

    /// A new FastDFS name in store path `idx`, in `dir` or (hash mode)
    /// the directory its name hashes to.
    fn new_name(
        &self,
        idx: usize,
        dir: Option<(u8, u8)>,
        ext: &str,
        make_info: &impl Fn(Source, &mut rand::rngs::ThreadRng) -> FileInfo,
    ) -> LogicalName {
        let mut rng = rand::thread_rng();
        let encoded = make_info(self.source(), &mut rng).encode();
        let (dir1, dir2) = dir.unwrap_or_else(|| hashed_subdir(&encoded, self.subdirs));
        LogicalName {
            store_path: idx as u8,
            dir1,
            dir2,
            name: format!("{encoded}{}", ext_segment(ext, &mut rng)),
        }
    }

    /// A new, empty temp file in store path `idx`, in the data directory
    /// of `dest` when known, for a file received in several writes.
    pub async fn temp_file(&self, idx: usize, dest: Option<&Path>) -> io::Result<TempFile> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let (dir, fixed) = match dest.and_then(Path::parent) {
            Some(d) => (d.to_path_buf(), None),
            None => {
                let fixed = self.next_dir();
                (self.temp_dir(idx, fixed, seq), fixed)
            }
        };
        let path = self.temp_name(&dir, seq);
        let file = tokio::task::spawn_blocking({
            let path = path.clone();
            move || create_new(&path)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(TempFile {
            path,
            dir: fixed,
            file: Some(tokio::fs::File::from_std(file)),
            placed: false,
        })
    }

    /// Writes a whole file received in memory and publishes it under a
    /// new FastDFS name, in ONE trip to the blocking pool (see
    /// [`Store::write_new_blocking`]).
    pub async fn write_new(
        self: &std::sync::Arc<Self>,
        idx: usize,
        body: Vec<u8>,
        durable: bool,
        ext: String,
        make_info: impl Fn(Source, &mut rand::rngs::ThreadRng) -> FileInfo + Send + 'static,
    ) -> Result<LogicalName, Error> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            store.write_new_blocking(idx, &body, durable, None, &ext, &make_info)
        })
        .await
        .unwrap_or(Err(Error::Task("writing the new file")))
    }

    /// Writes `body` under a new FastDFS name (blocking): created under
    /// that name for a page-cache write with a `journal`; otherwise a temp
    /// file in the target directory, write, fsync when `durable` (file,
    /// then directory), rename. `make_info` builds the 20-byte name
    /// (called again with fresh random bits if the name is taken). EBUSY
    /// when no free name was found, as FastDFS. `journal` is called with
    /// each name just before the file takes it (the store path writer's
    /// journal of unlogged placements, [`crate::hold::Placing`]), and with
    /// `None` when the name last noted turned out taken by another file
    /// (which the journal must not list); a failed note fails the write.
    pub fn write_new_blocking(
        &self,
        idx: usize,
        body: &[u8],
        durable: bool,
        journal: Option<Journal<'_>>,
        ext: &str,
        make_info: &dyn Fn(Source, &mut rand::rngs::ThreadRng) -> FileInfo,
    ) -> Result<LogicalName, Error> {
        // Only a journal lets a file be made under its name: without one,
        // a crash mid-write would leave a half file nothing removes.
        let in_place = !durable && journal.is_some();
        let mut no_journal = |_: Option<&LogicalName>| Ok(());
        let note = journal.unwrap_or(&mut no_journal);
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let dir = self.next_dir();
        let mut name = None;
        let mut attempts = 0;
        let mut noted = Ok(());
        let mut note_once = |n: Option<&LogicalName>| {
            let r = note(n);
            if r.is_err() && noted.is_ok() {
                noted = r;
            }
            noted.is_ok()
        };
        let next_dest = || {
            attempts += 1;
            // Called again: the name noted last was taken.
            if attempts > 1 && !note_once(None) {
                return None;
            }
            if attempts > NAME_ATTEMPTS {
                return None;
            }
            let n = self.new_name(idx, dir, ext, &make_info);
            if !note_once(Some(&n)) {
                return None;
            }
            let dest = self.paths[idx].join(n.rel_path());
            name = Some(n);
            Some(dest)
        };
        let placed = if in_place {
            // The name is known before the file is made (the body, hence
            // its CRC32, is in memory), so a page-cache write creates the
            // file under it: one directory operation per upload instead of
            // two (temp file, then rename). Until the write returns, the
            // file is one no client was answered for; a crash before its
            // record is logged leaves the name in the placing journal,
            // and start-up removes it.
            write_named(body, next_dest, self.recycled.get(idx))
        } else {
            let tmp = self.temp_name(&self.temp_dir(idx, dir, seq), seq);
            write_and_publish(&tmp, body, durable, next_dest).map_err(NamedWrite::from)
        };
        noted.map_err(Error::Disk)?;
        match placed {
            Ok(()) => Ok(name.expect("named before placing")),
            // Still noted in the journal: the caller keeps it listed.
            Err(NamedWrite {
                error,
                left_behind: Some(remove),
            }) => Err(Error::LeftBehind {
                name: name.expect("named before placing"),
                write: error,
                remove,
            }),
            Err(NamedWrite { error: e, .. }) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(Error::NoFreeName)
            }
            Err(NamedWrite { error: e, .. }) => Err(Error::Disk(e)),
        }
    }

    /// As [`Store::write_new`], under the given name `dest` (a slave
    /// file): `AlreadyExists` when something is there.
    pub async fn write_at(&self, dest: PathBuf, body: Vec<u8>, durable: bool) -> io::Result<()> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let tmp = self.temp_name(&dir, seq);
        tokio::task::spawn_blocking(move || {
            let mut once = Some(dest);
            write_and_publish(&tmp, &body, durable, || once.take())
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Writes a whole file received in memory to `dest`, replacing what
    /// is there (a synced copy always wins over an older copy of it), in
    /// ONE trip to the blocking pool: temp file beside `dest`, write,
    /// fsync when `durable` (file, then directory), rename. Readers see
    /// the old file or the new one, never a mix.
    pub async fn replace_at(&self, dest: PathBuf, body: Vec<u8>, durable: bool) -> io::Result<()> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let tmp = self.temp_name(&dir, seq);
        tokio::task::spawn_blocking(move || write_and_replace(&tmp, &body, durable, &dest))
            .await
            .map_err(io::Error::other)?
    }

    /// Gives a received temp file its FastDFS name and moves it into
    /// place (on the blocking pool): see [`Store::write_new`].
    pub async fn place_new(
        self: &std::sync::Arc<Self>,
        idx: usize,
        tmp: TempFile,
        ext: String,
        durable: bool,
        make_info: impl Fn(Source, &mut rand::rngs::ThreadRng) -> FileInfo + Send + 'static,
    ) -> Result<LogicalName, Error> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut tmp = tmp;
            for _ in 0..NAME_ATTEMPTS {
                let name = store.new_name(idx, tmp.dir, &ext, &make_info);
                let dest = store.paths[idx].join(name.rel_path());
                match tmp.place_blocking(&dest, durable) {
                    Ok(()) => return Ok(name),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(Error::Disk(e)),
                }
            }
            Err(Error::NoFreeName)
        })
        .await
        .unwrap_or(Err(Error::Task("placing the received file")))
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

/// Creates every data directory of `paths` and removes the temp files
/// left in them by runs other than `run` (blocking); gives up once
/// `stopped` is set.
fn prepare_dirs(
    paths: &[PathBuf],
    subdirs: u32,
    run: u32,
    stopped: &AtomicBool,
) -> io::Result<Prepared> {
    let t0 = std::time::Instant::now();
    let mut prepared = Prepared::default();
    let ours = format!("{TMP_PREFIX}{run:08x}-");
    for p in paths {
        let data = p.join("data");
        for d1 in 0..subdirs {
            if stopped.load(Ordering::Relaxed) {
                prepared.stopped = true;
                return Ok(prepared);
            }
            let top = data.join(format!("{d1:02X}"));
            // Not create_dir_all: a store path removed meanwhile (a
            // stopped storage's) stays removed.
            match std::fs::create_dir(&top) {
                Ok(()) => prepared.dirs_created += 1,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            for d2 in 0..subdirs {
                let dir = top.join(format!("{d2:02X}"));
                if prepare_dir(&dir, &ours, &mut prepared.temp_removed)? {
                    prepared.dirs_created += 1;
                }
            }
        }
    }
    prepared.took = t0.elapsed();
    Ok(prepared)
}

/// Creates `dir` unless it exists and removes temp files left in it
/// (but not this run's, named from `ours`); whether it was created.
fn prepare_dir(dir: &Path, ours: &str, removed: &mut usize) -> io::Result<bool> {
    match std::fs::create_dir(dir) {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if is_temp_name(&name) && !name.starts_with(ours) {
            match std::fs::remove_file(e.path()) {
                Ok(()) => *removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(false)
}

/// Whether a file name in a data directory is one of our temp files.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)
}

/// Creates a new file, and its directory if that is not there yet.
fn create_new(path: &Path) -> io::Result<std::fs::File> {
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            open()
        }
        other => other,
    }
}

/// Creates `tmp`, writes `body`, fsyncs it when `durable`, then renames
/// it to the first free name `dest` gives (`None`: no more names to try,
/// `AlreadyExists`), fsyncing the directory when `durable`. On failure
/// nothing is left behind (blocking).
fn write_and_publish(
    tmp: &Path,
    body: &[u8],
    durable: bool,
    mut dest: impl FnMut() -> Option<PathBuf>,
) -> io::Result<()> {
    let result = write_temp(tmp, body, durable).and_then(|()| loop {
        let Some(to) = dest() else {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        };
        match rename_noreplace(tmp, &to) {
            Ok(()) => {
                if durable {
                    sync_dir(&to)?;
                }
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    });
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(tmp);
            Err(e)
        }
    }
}

/// Creates a file holding `body` under the first free name `dest` gives
/// (AlreadyExists once it gives none); a file it could not write whole is
/// removed (blocking).
fn write_named(
    body: &[u8],
    dest: impl FnMut() -> Option<PathBuf>,
    reuse: Option<&Recycled>,
) -> Result<(), NamedWrite> {
    use std::io::Write;
    write_named_with(
        body,
        dest,
        reuse,
        |f, body| f.write_all(body),
        |p| std::fs::remove_file(p),
    )
}

/// Why [`write_named`] failed: the error, and whether the half-written
/// file stayed behind (the removal's error).
#[derive(Debug)]
struct NamedWrite {
    error: io::Error,
    left_behind: Option<io::Error>,
}

impl From<io::Error> for NamedWrite {
    fn from(error: io::Error) -> Self {
        NamedWrite {
            error,
            left_behind: None,
        }
    }
}

/// [`write_named`] with its write and removal given, so a test can fail
/// them.
fn write_named_with(
    body: &[u8],
    mut dest: impl FnMut() -> Option<PathBuf>,
    reuse: Option<&Recycled>,
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> io::Result<()>,
    remove: impl FnOnce(&Path) -> io::Result<()>,
) -> Result<(), NamedWrite> {
    let failed = |to: &Path, error: io::Error| {
        let left_behind = match remove(to) {
            Ok(()) => None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => Some(e),
        };
        NamedWrite { error, left_behind }
    };
    loop {
        let Some(to) = dest() else {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists).into());
        };
        // A kept inode of a deleted file when creating files is slow
        // (see crate::recycle), else a fresh file, timed.
        let made = match reuse.and_then(Recycled::take).map(|t| place_kept(t, &to)) {
            Some(Ok(f)) => Ok(f),
            Some(Err(PlaceError::Taken)) => continue,
            Some(Err(PlaceError::Placed(e))) => return Err(failed(&to, e)),
            // (Where renameat2 is missing, a half-done link and unlink
            // can have put it under the name anyway.)
            Some(Err(PlaceError::Unusable(e))) if std::fs::symlink_metadata(&to).is_ok() => {
                return Err(failed(&to, e))
            }
            Some(Err(PlaceError::Unusable(e))) => {
                tracing::debug!("a kept inode could not be used: {e}");
                create_new(&to)
            }
            None => {
                let started = std::time::Instant::now();
                let made = create_new(&to);
                if let Some(r) = reuse {
                    r.created(started.elapsed());
                }
                made
            }
        };
        let mut f = match made {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        };
        return match write(&mut f, body) {
            Ok(()) => Ok(()),
            Err(error) => Err(failed(&to, error)),
        };
    }
}

/// Why [`place_kept`] failed.
#[derive(Debug)]
enum PlaceError {
    /// The name is taken; the inode stays kept.
    Taken,
    /// The kept inode could not be renamed; it is forgotten.
    Unusable(io::Error),
    /// Renamed to the name, then not opened: an empty file is there.
    Placed(io::Error),
}

/// Renames a kept inode of a deleted file to `to` unless something is
/// there, and opens it for writing (blocking; see [`crate::recycle`]).
fn place_kept(taken: Taken<'_>, to: &Path) -> Result<std::fs::File, PlaceError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    match rename_noreplace(&taken.path(), to) {
        Ok(()) => taken.gone(),
        // Dropped: back to the pool.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(PlaceError::Taken),
        Err(e) => {
            taken.gone();
            return Err(PlaceError::Unusable(e));
        }
    }
    // Truncated again: a kept inode is empty unless a crash came between
    // its move and its emptying.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(to)
        .map_err(PlaceError::Placed)?;
    match f.metadata() {
        Ok(m) if m.is_file() && m.nlink() == 1 => Ok(f),
        Ok(_) => Err(PlaceError::Placed(io::Error::other(
            "a kept inode is not a file with one link",
        ))),
        Err(e) => Err(PlaceError::Placed(e)),
    }
}

/// Creates the temp file `tmp` holding `body`, on the disk when
/// `durable` (blocking).
fn write_temp(tmp: &Path, body: &[u8], durable: bool) -> io::Result<()> {
    use std::io::Write;
    let mut f = create_new(tmp)?;
    f.write_all(body)?;
    if durable {
        f.sync_data()?;
    }
    Ok(())
}

/// The blocking part of [`Store::replace_at`]; the temp file is removed
/// on failure.
fn write_and_replace(tmp: &Path, body: &[u8], durable: bool, dest: &Path) -> io::Result<()> {
    let result = write_temp(tmp, body, durable).and_then(|()| {
        std::fs::rename(tmp, dest)?;
        if durable {
            sync_dir(dest)?;
        }
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// fsyncs the directory holding `path`, so its entry survives a power
/// cut (blocking).
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Renames `from` to `to` unless something is already there
/// (`AlreadyExists`), off the runtime threads.
pub(crate) async fn rename_new(from: PathBuf, to: PathBuf) -> io::Result<()> {
    tokio::task::spawn_blocking(move || rename_noreplace(&from, &to))
        .await
        .map_err(io::Error::other)?
}

/// A file being received in several writes. Dropped without being placed
/// (error, client gone, task aborted), it is deleted on the blocking
/// pool: no partial file is ever visible under a FastDFS name.
pub(crate) struct TempFile {
    path: PathBuf,
    /// The data directory it was made in for its file, if chosen first.
    dir: Option<(u8, u8)>,
    file: Option<tokio::fs::File>,
    placed: bool,
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
    /// (`AlreadyExists`), fsyncing the directory when `durable`. Only the
    /// rename publishes the file, so readers never see a partial one.
    pub async fn place(mut self, dest: PathBuf, durable: bool) -> io::Result<()> {
        tokio::task::spawn_blocking(move || self.place_blocking(&dest, durable))
            .await
            .map_err(io::Error::other)?
    }

    fn place_blocking(&mut self, dest: &Path, durable: bool) -> io::Result<()> {
        rename_noreplace(&self.path, dest)?;
        self.placed = true;
        if durable {
            sync_dir(dest)?;
        }
        Ok(())
    }

    /// Moves the file to `dest`, replacing what is there: a synced copy
    /// of a file always wins over an older copy of it. Readers see the
    /// old file or the new one, never a mix.
    pub async fn replace(mut self, dest: PathBuf, durable: bool) -> io::Result<()> {
        tokio::task::spawn_blocking(move || self.replace_blocking(&dest, durable))
            .await
            .map_err(io::Error::other)?
    }

    fn replace_blocking(&mut self, dest: &Path, durable: bool) -> io::Result<()> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&self.path, dest)?;
        self.placed = true;
        if durable {
            sync_dir(dest)?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.placed {
            return;
        }
        let path = std::mem::take(&mut self.path);
        let remove = move || {
            let _ = std::fs::remove_file(&path);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(remove);
            }
            Err(_) => remove(),
        }
    }
}

/// `renameat2(RENAME_NOREPLACE)`, falling back to link + unlink on file
/// systems without it; both refuse to replace an existing file.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    match rename_noreplace_once(from, to) {
        // The target directory is not there yet (still being prepared).
        Err(e) if e.kind() == io::ErrorKind::NotFound && from.exists() => {
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)?;
            }
            rename_noreplace_once(from, to)
        }
        other => other,
    }
}

fn rename_noreplace_once(from: &Path, to: &Path) -> io::Result<()> {
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
    use ferrodfs_proto::status;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn config(dir: &Path, paths: usize) -> Config {
        let stores: Vec<String> = (0..paths)
            .map(|i| format!("{:?}", dir.join(format!("m{i}")).display().to_string()))
            .collect();
        let text = format!(
            "group_name='group1'\nip='10.0.0.7'\ncluster_secret='0123456789abcdef'\nbase_path={:?}\nstore_paths=[{}]\nreserved_storage_space='0%'\nsubdir_count_per_path=4",
            dir.join("base").display().to_string(),
            stores.join(",")
        );
        let c = Config::parse("storage.toml", &text).unwrap();
        c.prepare_dirs().unwrap();
        c
    }

    fn open(dir: &Path, paths: usize) -> Arc<Store> {
        Arc::new(Store::open(&config(dir, paths), Rotor::default()).unwrap())
    }

    /// Temp files anywhere under a store path's data directory.
    fn temp_files(store_path: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut dirs = vec![store_path.join("data")];
        while let Some(d) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if is_temp_name(&e.file_name().to_string_lossy())
                    || p.to_string_lossy().contains("/.tmp/")
                {
                    found.push(p);
                }
            }
        }
        found
    }

    /// Waits (with a deadline) until `cond` holds.
    fn eventually(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[tokio::test]
    async fn placed_files_follow_the_fastdfs_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), 2);
        let name = store
            .write_new(1, b"abc".to_vec(), true, "txt".into(), |ip, rng| {
                FileInfo::normal(ip, 1, 3, 7, rng)
            })
            .await
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
        assert_eq!(temp_files(&dir.path().join("m1")), Vec::<PathBuf>::new());
    }

    #[tokio::test]
    async fn a_streamed_file_is_made_in_its_target_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), 1);
        let mut tmp = store.temp_file(0, None).await.unwrap();
        assert_eq!(
            tmp.path.parent().unwrap(),
            dir.path().join("m0/data/00/00"),
            "the temp file sits beside where its file goes"
        );
        tokio::io::AsyncWriteExt::write_all(tmp.file(), b"streamed")
            .await
            .unwrap();
        tmp.finish(false).await.unwrap();
        let name = store
            .place_new(0, tmp, "bin".into(), false, |ip, rng| {
                FileInfo::normal(ip, 1, 8, 7, rng)
            })
            .await
            .unwrap();
        assert!(name.to_string().starts_with("M00/00/00/"), "{name}");
        assert_eq!(
            std::fs::read(store.data_path(&name).unwrap()).unwrap(),
            b"streamed"
        );
        assert_eq!(temp_files(&dir.path().join("m0")), Vec::<PathBuf>::new());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_dropped_temp_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), 1);
        let tmp = store.temp_file(0, None).await.unwrap();
        assert_eq!(temp_files(&dir.path().join("m0")).len(), 1);
        drop(tmp);
        let root = dir.path().join("m0");
        tokio::task::spawn_blocking(move || {
            eventually("the dropped temp file is removed", || {
                temp_files(&root).is_empty()
            })
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn placing_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), 1);
        let dest = dir.path().join("m0/data/00/00/taken");
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, b"old").unwrap();
        let e = store
            .write_at(dest.clone(), b"new".to_vec(), false)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(temp_files(&dir.path().join("m0")), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_failed_write_under_its_name_says_whether_the_half_file_stayed() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("00/00/f.txt");
        let failing = |_: &mut std::fs::File, _: &[u8]| Err(io::Error::other("EIO"));
        let mut once = Some(to.clone());
        let e = write_named_with(
            b"abc",
            || once.take(),
            None,
            failing,
            |p| std::fs::remove_file(p),
        )
        .unwrap_err();
        assert_eq!(e.error.to_string(), "EIO");
        assert!(e.left_behind.is_none(), "removed");
        assert!(!to.exists());

        let mut once = Some(to.clone());
        let e = write_named_with(
            b"abc",
            || once.take(),
            None,
            failing,
            |_| Err(io::Error::other("EROFS")),
        )
        .unwrap_err();
        assert_eq!(e.left_behind.expect("stayed").to_string(), "EROFS");
        assert!(to.exists(), "the half file is still there");
    }

    #[test]
    fn a_page_cache_upload_is_created_under_its_name_and_skips_a_taken_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), 1);
        let make = |ip: Source, rng: &mut rand::rngs::ThreadRng| FileInfo::normal(ip, 1, 3, 7, rng);
        // Another file takes the first name between its noting and its
        // creation.
        let mut noted = Vec::new();
        let mut taken = None;
        let name = store
            .write_new_blocking(
                0,
                b"abc",
                false,
                Some(&mut |n| {
                    if let (Some(n), None) = (n, &taken) {
                        let path = store.data_path(n).unwrap();
                        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                        std::fs::write(&path, b"old").unwrap();
                        taken = Some(path);
                    }
                    // No temp file: the upload is made under its name.
                    assert_eq!(temp_files(&dir.path().join("m0")), Vec::<PathBuf>::new());
                    noted.push(n.map(|n| n.to_string()));
                    Ok(())
                }),
                "txt",
                &make,
            )
            .unwrap();
        let taken = taken.expect("a name was noted");
        let path = store.data_path(&name).unwrap();
        assert_ne!(path, taken);
        assert_eq!(
            std::fs::read(&taken).unwrap(),
            b"old",
            "a taken name is never replaced"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        assert_eq!(noted.len(), 3, "{noted:?}");
        assert_eq!(noted[1], None, "the taken name is withdrawn: {noted:?}");
        assert_eq!(noted[2], Some(name.to_string()), "{noted:?}");
        assert_eq!(temp_files(&dir.path().join("m0")), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_deleted_files_inode_takes_the_next_upload_once_creates_are_slow() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), 1);
        let make = |ip: Source, rng: &mut rand::rngs::ThreadRng| FileInfo::normal(ip, 1, 3, 7, rng);
        let upload = |noted: &mut Vec<String>| {
            let name = store
                .write_new_blocking(
                    0,
                    b"abc",
                    false,
                    Some(&mut |n| {
                        noted.extend(n.map(|n| n.to_string()));
                        Ok(())
                    }),
                    "txt",
                    &make,
                )
                .unwrap();
            store.data_path(&name).unwrap()
        };
        let mut noted = Vec::new();
        let first = upload(&mut noted);
        let ino = std::fs::metadata(&first).unwrap().ino();
        // A finished delete: the file moved aside, then released.
        let held = dir.path().join("m0/data/.hold/00_00_x.deleting");
        std::fs::rename(&first, &held).unwrap();
        store.release_deleted(0, &held);
        assert!(!held.exists());
        assert_eq!(store.kept_inodes(), [1]);

        crate::recycle::tests::creates(&store.recycled[0], crate::recycle::SLOW_CREATE * 2, 16);
        let second = upload(&mut noted);
        assert_eq!(std::fs::read(&second).unwrap(), b"abc");
        assert_eq!(std::fs::metadata(&second).unwrap().ino(), ino);
        assert_eq!(store.kept_inodes(), [0]);
        assert_eq!(noted.len(), 2, "each name noted before it was placed");
        let last = LogicalName::parse(&noted[1]).unwrap();
        assert_eq!(store.data_path(&last).unwrap(), second);
    }

    #[test]
    fn store_path_index_out_of_range_is_einval() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), 2);
        assert_eq!(store.choose(Some(1)).map_err(|e| e.status()), Ok(1));
        assert_eq!(
            store.choose(Some(2)).map_err(|e| e.status()),
            Err(status::EINVAL)
        );
        assert_eq!(store.choose(None).map_err(|e| e.status()), Ok(0));
        assert_eq!(store.choose(None).map_err(|e| e.status()), Ok(1));
    }

    #[test]
    fn data_directories_are_made_and_leftover_temp_files_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 1);
        let root = dir.path().join("m0");
        let old = root.join("data/.tmp");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("stale.part"), b"x").unwrap();
        let sub = root.join("data/03/02");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(".0badf00d-7.part"), b"x").unwrap();
        std::fs::write(sub.join("wKgBh1Xtr9-AeTfWAAVFOL7FJU4.txt"), b"kept").unwrap();
        let _store = Store::open(&cfg, Rotor::default()).unwrap();
        assert!(!old.exists());
        eventually("every data directory exists", || {
            (0..4).all(|a| (0..4).all(|b| root.join(format!("data/{a:02X}/{b:02X}")).is_dir()))
        });
        eventually("the leftover temp file is removed", || {
            temp_files(&root).is_empty()
        });
        assert_eq!(
            std::fs::read(sub.join("wKgBh1Xtr9-AeTfWAAVFOL7FJU4.txt")).unwrap(),
            b"kept"
        );
    }

    #[test]
    fn admitted_bytes_count_until_the_disk_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), 1);
        let free = store.space(0).unwrap().free;
        assert!(free > 1);
        // Some room must stay free (the reservation is "more than 0%").
        assert_eq!(
            store.check_room(0, free - 1).map_err(|e| e.status()),
            Ok(())
        );
        assert_eq!(
            store.check_room(0, 1).map_err(|e| e.status()),
            Err(status::ENOSPC)
        );
        assert!(store.is_full());
        store.refresh_space();
        assert_eq!(store.check_room(0, 1).map_err(|e| e.status()), Ok(()));
    }
}
