//! The binlog: one text line per change, in FastDFS's format
//! (storage/storage_sync.c), so that group replication can replay it and a
//! FastDFS data directory's binlog reads the same way.
//!
//! `<base_path>/data/sync/binlog.NNN`, lines `<unix_ts> <op> <Mxx/HH/HH/name>[ extra]`;
//! the index of the file being written is kept in `binlog_index.dat`
//! (`current_write=N`), and a new file starts once one reaches
//! `binlog_rotate_size` (FastDFS: 1 GiB). [`reader`] replays it for sync.

mod reader;
mod record;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub(crate) use reader::{read_from, Entry, Reader};
pub(crate) use record::{Op, Record};

/// FastDFS rolls the binlog over at 1 GiB.
pub(crate) const DEFAULT_ROTATE_BYTES: u64 = 1 << 30;
const INDEX_FILE: &str = "binlog_index.dat";

/// A place in the binlog: file index, then byte offset in that file.
/// Ordered as the records are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub index: u32,
    pub offset: u64,
}

/// When records are made durable (`binlog_fsync_interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FsyncPolicy {
    /// fsync after every record, before the client gets its reply.
    EveryRecord,
    /// Records reach the OS at once (they survive a killed process) and
    /// the disk on the housekeeping timer (`Binlog::sync`).
    Periodic,
}

pub(crate) fn binlog_file(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("binlog.{index:03}"))
}

fn read_index(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join(INDEX_FILE))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.trim().strip_prefix("current_write="))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn write_index(dir: &Path, index: u32) -> io::Result<()> {
    let tmp = dir.join(format!("{INDEX_FILE}.tmp"));
    std::fs::write(&tmp, format!("current_write={index}\ncurrent_compress=0\n"))?;
    std::fs::rename(tmp, dir.join(INDEX_FILE))
}

struct Writer {
    dir: PathBuf,
    index: u32,
    /// Bytes of whole records in the file: where the next one goes.
    size: u64,
    /// Unbuffered: every record is one `write`, so after a failure the
    /// file is cut back to `size` and nothing of it lingers in a buffer.
    out: File,
}

/// Where the last whole record of `file` ends: a crash can leave a
/// record half written (no newline yet), and the next record must not be
/// glued onto it.
fn whole_records_end(file: &mut File, len: u64) -> io::Result<u64> {
    const TAIL: u64 = 64 << 10;
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(TAIL);
        let mut buf = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

impl Writer {
    /// Opens binlog file `index` for appending; a torn last record (a
    /// crash in the middle of writing it) is cut off with a warning.
    fn open(dir: &Path, index: u32) -> io::Result<Writer> {
        let path = binlog_file(dir, index);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let len = file.metadata()?.len();
        let size = whole_records_end(&mut file, len)?;
        if size < len {
            tracing::warn!(
                "{}: dropping a torn last record ({} bytes without a newline) left by a crash",
                path.display(),
                len - size
            );
            file.set_len(size)?;
        }
        Ok(Writer {
            dir: dir.to_path_buf(),
            index,
            size,
            out: file,
        })
    }

    /// Writes one whole line. On failure the file is cut back to where
    /// the line started, so neither a partial line stays in it nor does
    /// `size` disagree with it; if even that fails, `size` takes the real
    /// length and the next line starts on a fresh line.
    fn write_line(&mut self, line: &[u8], fsync: bool) -> io::Result<()> {
        let result =
            self.out.write_all(line).and_then(
                |()| {
                    if fsync {
                        self.out.sync_data()
                    } else {
                        Ok(())
                    }
                },
            );
        match result {
            Ok(()) => {
                self.size += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                if let Err(cut) = self.out.set_len(self.size) {
                    tracing::error!("binlog: cannot cut back a failed write: {cut}");
                    if let Ok(m) = self.out.metadata() {
                        if m.len() > self.size {
                            self.size = m.len();
                            // A newline closes the torn line; readers skip it.
                            if self.out.write_all(b"\n").is_ok() {
                                self.size += 1;
                            }
                        }
                    }
                }
                Err(e)
            }
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            index: self.index,
            offset: self.size,
        }
    }
}

/// The binlog shared by every connection and the sync receiver: one
/// writer thread writes the file for them (threads that may block write
/// through an [`Appender`] instead). Records sent while it writes queue up
/// and go out together in the next write (group commit), with one fsync
/// for all of them when the policy asks for it; each caller gets the
/// position after its record through a oneshot. A record reaches the OS
/// before its caller hears back, so a reply never precedes its binlog
/// line; sync workers are woken through [`Binlog::watch`].
pub(crate) struct Binlog {
    dir: PathBuf,
    tx: std::sync::mpsc::Sender<Msg>,
    shared: std::sync::Arc<Shared>,
}

/// The open binlog file, written by the writer thread and by the
/// threads holding an [`Appender`], one batch at a time.
struct Shared {
    w: std::sync::Mutex<Writer>,
    rotate_bytes: u64,
    fsync: FsyncPolicy,
    end: tokio::sync::watch::Sender<Pos>,
}

impl Shared {
    /// Writes `lines` in one write (fsynced per the policy, rolling over
    /// when the file is full) and returns the position after each line,
    /// in order; readers are told the new end.
    fn commit<'a>(
        &self,
        lines: impl Iterator<Item = &'a [u8]>,
        buf: &mut Vec<u8>,
    ) -> io::Result<Vec<Pos>> {
        buf.clear();
        let mut ends = Vec::new();
        for l in lines {
            buf.extend_from_slice(l);
            ends.push(buf.len() as u64);
        }
        let mut w = self.w.lock().unwrap_or_else(|e| e.into_inner());
        let start = w.pos();
        w.write_line(buf, self.fsync == FsyncPolicy::EveryRecord)?;
        if w.size >= self.rotate_bytes {
            // The records are written whatever happens here: a
            // rollover that fails is retried after the next write.
            if let Err(e) = rotate(&mut w) {
                tracing::warn!("binlog: cannot start binlog.{:03}: {e}", w.index + 1);
            }
        }
        // Readers stop at `end`; after a rollover it is the new file's start.
        self.end.send_replace(w.pos());
        Ok(ends
            .into_iter()
            .map(|end| Pos {
                index: start.index,
                offset: start.offset + end,
            })
            .collect())
    }

    /// fsyncs what was written; the end it covers.
    fn sync(&self) -> io::Result<Pos> {
        let w = self.w.lock().unwrap_or_else(|e| e.into_inner());
        w.out.sync_data().map(|()| w.pos())
    }
}

/// Appends records from a thread that may block, without a trip through
/// the writer thread: a store path writer logs the files it just placed
/// in the same pass. Shares the file (and its order) with [`Binlog`].
#[derive(Clone)]
pub(crate) struct Appender {
    shared: std::sync::Arc<Shared>,
}

impl Appender {
    /// Writes `records` in one write; the position after each, in order.
    pub fn append(&self, records: &[Record]) -> io::Result<Vec<Pos>> {
        let lines: Vec<Vec<u8>> = records.iter().map(|r| r.format().into_bytes()).collect();
        let mut buf = Vec::new();
        self.shared
            .commit(lines.iter().map(Vec::as_slice), &mut buf)
    }
}

/// Where a request's answer goes: an awaiting task or a blocked thread.
enum Reply {
    Task(tokio::sync::oneshot::Sender<io::Result<Pos>>),
    Thread(std::sync::mpsc::SyncSender<io::Result<Pos>>),
}

impl Reply {
    fn send(self, r: io::Result<Pos>) {
        match self {
            Reply::Task(t) => {
                let _ = t.send(r);
            }
            Reply::Thread(t) => {
                let _ = t.send(r);
            }
        }
    }
}

enum Msg {
    /// Append this line; answer with the position after it.
    Append(Vec<u8>, Reply),
    /// fsync what was written; answer with the end.
    Sync(Reply),
}

/// Most records one write takes.
const BATCH: usize = 1024;

/// A copy of `e` for each of the callers a failed write answers.
pub(crate) fn copy_err(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(n) => io::Error::from_raw_os_error(n),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// The writer thread: takes what is queued, writes it in one go, syncs
/// once if asked, answers everyone; stops when the last [`Binlog`]
/// handle is gone.
fn run_writer(shared: std::sync::Arc<Shared>, rx: std::sync::mpsc::Receiver<Msg>) {
    let mut lines: Vec<(Vec<u8>, Reply)> = Vec::new();
    let mut syncs: Vec<Reply> = Vec::new();
    let mut buf = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Append(l, r) => lines.push((l, r)),
                Msg::Sync(r) => syncs.push(r),
            }
            if lines.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !lines.is_empty() {
            match shared.commit(lines.iter().map(|(l, _)| l.as_slice()), &mut buf) {
                Ok(ends) => {
                    for ((_, r), end) in lines.drain(..).zip(ends) {
                        r.send(Ok(end));
                    }
                }
                Err(e) => {
                    for (_, r) in lines.drain(..) {
                        r.send(Err(copy_err(&e)));
                    }
                }
            }
        }
        if !syncs.is_empty() {
            let done = shared.sync();
            for r in syncs.drain(..) {
                r.send(done.as_ref().map(|p| *p).map_err(copy_err));
            }
        }
    }
}

impl Binlog {
    /// Opens (creating) `<base_path>/data/sync/` and the current binlog
    /// file, and starts the writer thread (blocking).
    pub fn open(base_path: &Path, rotate_bytes: u64, fsync: FsyncPolicy) -> io::Result<Binlog> {
        let dir = base_path.join("data").join("sync");
        std::fs::create_dir_all(&dir)?;
        let index = read_index(&dir);
        if !dir.join(INDEX_FILE).exists() {
            write_index(&dir, index)?;
        }
        let w = Writer::open(&dir, index)?;
        let (end, _) = tokio::sync::watch::channel(w.pos());
        let shared = std::sync::Arc::new(Shared {
            w: std::sync::Mutex::new(w),
            rotate_bytes: rotate_bytes.max(1),
            fsync,
            end,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("binlog-writer".into())
            .spawn(move || run_writer(writer, rx))?;
        Ok(Binlog { dir, tx, shared })
    }

    /// A handle for threads that log their own changes (see [`Appender`]).
    pub fn appender(&self) -> Appender {
        Appender {
            shared: self.shared.clone(),
        }
    }

    /// `<base_path>/data/sync`: binlog files, index and sync marks.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record as this file's source; returns the position
    /// just after it.
    pub async fn write(&self, ts: i64, op: Op, name: &str) -> io::Result<Pos> {
        self.append(Record {
            ts,
            op,
            replica: false,
            name: name.to_string(),
        })
        .await
    }

    /// [`Binlog::write`] for a thread that may block (start-up recovery).
    pub fn write_blocking(&self, ts: i64, op: Op, name: &str) -> io::Result<Pos> {
        let line = Record {
            ts,
            op,
            replica: false,
            name: name.to_string(),
        }
        .format();
        self.ask_blocking(|r| Msg::Append(line.into_bytes(), r))
    }

    /// [`Binlog::write_replica`] for a thread that may block.
    #[cfg(test)]
    pub fn write_replica_blocking(&self, ts: i64, op: Op, name: &str) -> io::Result<Pos> {
        let line = Record {
            ts,
            op,
            replica: true,
            name: name.to_string(),
        }
        .format();
        self.ask_blocking(|r| Msg::Append(line.into_bytes(), r))
    }

    /// Appends a change received from a peer (lower-case letter), stamped
    /// with the source's time.
    pub async fn write_replica(&self, ts: i64, op: Op, name: &str) -> io::Result<Pos> {
        self.append(Record {
            ts,
            op,
            replica: true,
            name: name.to_string(),
        })
        .await
    }

    async fn append(&self, r: Record) -> io::Result<Pos> {
        let line = r.format().into_bytes();
        self.ask(|r| Msg::Append(line, r)).await
    }

    async fn ask(&self, msg: impl FnOnce(Reply) -> Msg) -> io::Result<Pos> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(msg(Reply::Task(tx)))
            .map_err(|_| io::Error::other("the binlog writer stopped"))?;
        rx.await
            .map_err(|_| io::Error::other("the binlog writer stopped"))?
    }

    fn ask_blocking(&self, msg: impl FnOnce(Reply) -> Msg) -> io::Result<Pos> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.tx
            .send(msg(Reply::Thread(tx)))
            .map_err(|_| io::Error::other("the binlog writer stopped"))?;
        rx.recv()
            .map_err(|_| io::Error::other("the binlog writer stopped"))?
    }

    /// The position the next record will be written at.
    pub fn end(&self) -> Pos {
        *self.shared.end.borrow()
    }

    /// Changes whenever a record is written.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<Pos> {
        self.shared.end.subscribe()
    }

    /// Fsyncs what was written so far; concurrent requests share one
    /// fsync with each other and with the records written beside them.
    pub async fn sync(&self) -> io::Result<()> {
        self.ask(Msg::Sync).await.map(|_| ())
    }

    /// [`Binlog::sync`] for a thread that may block.
    pub fn sync_blocking(&self) -> io::Result<()> {
        self.ask_blocking(Msg::Sync).map(|_| ())
    }
}

/// Closes the full file and starts the next; the index file names the
/// new one only once it exists, and the writer moves only when both did.
fn rotate(w: &mut Writer) -> io::Result<()> {
    let next = w.index + 1;
    w.out.sync_data()?;
    let fresh = Writer::open(&w.dir, next)?;
    write_index(&w.dir, next)?;
    *w = fresh;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";

    fn open(dir: &Path, rotate: u64) -> Binlog {
        Binlog::open(dir, rotate, FsyncPolicy::Periodic).unwrap()
    }

    #[test]
    fn records_land_in_binlog_000_under_data_sync() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), DEFAULT_ROTATE_BYTES);
        b.write_blocking(5, Op::Create, NAME).unwrap();
        b.write_replica_blocking(6, Op::Delete, NAME).unwrap();
        let text = std::fs::read_to_string(dir.path().join("data/sync/binlog.000")).unwrap();
        assert_eq!(text, format!("5 C {NAME}\n6 d {NAME}\n"));
        let index = std::fs::read_to_string(dir.path().join("data/sync/binlog_index.dat")).unwrap();
        assert!(index.starts_with("current_write=0\n"), "{index}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_records_each_get_the_position_after_their_own_line() {
        let dir = tempfile::tempdir().unwrap();
        let b = std::sync::Arc::new(open(dir.path(), DEFAULT_ROTATE_BYTES));
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("M00/00/00/file{i:04}");
                let pos = b.write(i, Op::Create, &name).await.unwrap();
                (pos, name)
            }));
        }
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap());
        }
        b.sync().await.unwrap();
        let text = std::fs::read_to_string(dir.path().join("data/sync/binlog.000")).unwrap();
        assert_eq!(text.lines().count(), 200);
        for (pos, name) in &got {
            let upto = &text[..pos.offset as usize];
            assert!(upto.ends_with(&format!(" C {name}\n")), "{name} at {pos:?}");
        }
        let mut offsets: Vec<u64> = got.iter().map(|(p, _)| p.offset).collect();
        offsets.sort_unstable();
        offsets.dedup();
        assert_eq!(offsets.len(), 200);
        assert_eq!(b.end().offset, text.len() as u64);
    }

    #[test]
    fn write_returns_the_position_after_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), DEFAULT_ROTATE_BYTES);
        let p = b.write_blocking(5, Op::Create, NAME).unwrap();
        assert_eq!(p, b.end());
        assert_eq!(p.offset as usize, format!("5 C {NAME}\n").len());
        let mut watch = b.watch();
        b.write_blocking(6, Op::Create, NAME).unwrap();
        assert!(watch.has_changed().unwrap());
        assert!(*watch.borrow_and_update() > p);
    }

    #[test]
    fn reopening_appends_to_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path(), DEFAULT_ROTATE_BYTES)
            .write_blocking(1, Op::Create, NAME)
            .unwrap();
        let b = open(dir.path(), DEFAULT_ROTATE_BYTES);
        assert_eq!(b.end().offset as usize, format!("1 C {NAME}\n").len());
        b.write_blocking(2, Op::Create, NAME).unwrap();
        let text = std::fs::read_to_string(dir.path().join("data/sync/binlog.000")).unwrap();
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn a_full_binlog_rolls_over_to_the_next_index() {
        let dir = tempfile::tempdir().unwrap();
        let line = format!("1 C {NAME}\n").len() as u64;
        let b = open(dir.path(), line);
        b.write_blocking(1, Op::Create, NAME).unwrap();
        b.write_blocking(2, Op::Delete, NAME).unwrap();
        let next = std::fs::read_to_string(dir.path().join("data/sync/binlog.001")).unwrap();
        assert_eq!(next, format!("2 D {NAME}\n"));
        assert_eq!(
            b.end(),
            Pos {
                index: 2,
                offset: 0
            }
        );
        drop(b);
        let b = open(dir.path(), 1 << 30);
        b.write_blocking(3, Op::Create, NAME).unwrap();
        let next = std::fs::read_to_string(dir.path().join("data/sync/binlog.002")).unwrap();
        assert_eq!(
            next,
            format!("3 C {NAME}\n"),
            "restart continues in the current file"
        );
    }

    #[test]
    fn a_torn_last_record_is_cut_off_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let sync = dir.path().join("data/sync");
        std::fs::create_dir_all(&sync).unwrap();
        let whole = format!("1 C {NAME}\n");
        std::fs::write(sync.join("binlog.000"), format!("{whole}2 A M00/00/0")).unwrap();
        let b = open(dir.path(), DEFAULT_ROTATE_BYTES);
        assert_eq!(b.end().offset as usize, whole.len());
        b.write_blocking(3, Op::Delete, NAME).unwrap();
        let text = std::fs::read_to_string(sync.join("binlog.000")).unwrap();
        assert_eq!(text, format!("{whole}3 D {NAME}\n"));
        let got = read_from(&sync, Pos::default(), b.end(), 1 << 20).unwrap();
        assert!(got.iter().all(|e| e.record.is_some()), "{got:?}");
    }

    #[test]
    fn a_failed_rollover_keeps_the_record_and_the_position() {
        let dir = tempfile::tempdir().unwrap();
        let line = format!("1 C {NAME}\n").len() as u64;
        let b = open(dir.path(), line);
        // The index cannot be rewritten: its temp name is a directory.
        std::fs::create_dir(dir.path().join("data/sync/binlog_index.dat.tmp")).unwrap();
        let p = b.write_blocking(1, Op::Create, NAME).unwrap();
        assert_eq!(
            p,
            Pos {
                index: 0,
                offset: line
            }
        );
        assert_eq!(b.end(), p, "still writing binlog.000");
        let p = b.write_blocking(2, Op::Delete, NAME).unwrap();
        assert_eq!(p.offset, 2 * line);
        std::fs::remove_dir(dir.path().join("data/sync/binlog_index.dat.tmp")).unwrap();
        b.write_blocking(3, Op::Create, NAME).unwrap();
        assert_eq!(
            b.end(),
            Pos {
                index: 1,
                offset: 0
            }
        );
        let text = std::fs::read_to_string(dir.path().join("data/sync/binlog.000")).unwrap();
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn a_failed_write_leaves_the_position_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let sync = dir.path().join("data/sync");
        std::fs::create_dir_all(&sync).unwrap();
        std::os::unix::fs::symlink("/dev/full", sync.join("binlog.000")).unwrap();
        let b = open(dir.path(), DEFAULT_ROTATE_BYTES);
        assert!(b.write_blocking(1, Op::Create, NAME).is_err());
        assert_eq!(b.end(), Pos::default());
        assert!(b.write_blocking(2, Op::Create, NAME).is_err());
        assert_eq!(b.end(), Pos::default());
    }
}
