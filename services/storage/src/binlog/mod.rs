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
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub(crate) use reader::read_from;
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

fn binlog_file(dir: &Path, index: u32) -> PathBuf {
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
    size: u64,
    out: BufWriter<File>,
}

impl Writer {
    fn open(dir: &Path, index: u32) -> io::Result<Writer> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(binlog_file(dir, index))?;
        let size = file.metadata()?.len();
        Ok(Writer {
            dir: dir.to_path_buf(),
            index,
            size,
            out: BufWriter::new(file),
        })
    }

    fn pos(&self) -> Pos {
        Pos {
            index: self.index,
            offset: self.size,
        }
    }
}

/// The binlog writer shared by every connection and the sync receiver.
/// Each record reaches the OS as soon as it is written (after the change
/// it describes is on disk), so a reply never precedes its binlog line;
/// sync workers are woken through [`Binlog::watch`].
pub(crate) struct Binlog {
    dir: PathBuf,
    rotate_bytes: u64,
    fsync: FsyncPolicy,
    inner: Mutex<Writer>,
    end: tokio::sync::watch::Sender<Pos>,
}

impl Binlog {
    /// Opens (creating) `<base_path>/data/sync/` and the current binlog file.
    pub fn open(base_path: &Path, rotate_bytes: u64, fsync: FsyncPolicy) -> io::Result<Binlog> {
        let dir = base_path.join("data").join("sync");
        std::fs::create_dir_all(&dir)?;
        let index = read_index(&dir);
        if !dir.join(INDEX_FILE).exists() {
            write_index(&dir, index)?;
        }
        let w = Writer::open(&dir, index)?;
        let (end, _) = tokio::sync::watch::channel(w.pos());
        Ok(Binlog {
            dir,
            rotate_bytes: rotate_bytes.max(1),
            fsync,
            inner: Mutex::new(w),
            end,
        })
    }

    /// `<base_path>/data/sync`: binlog files, index and sync marks.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record as this file's source; returns the position
    /// just after it.
    pub fn write(&self, ts: i64, op: Op, name: &str) -> io::Result<Pos> {
        self.append(Record {
            ts,
            op,
            replica: false,
            name: name.to_string(),
        })
    }

    /// Appends a change received from a peer (lower-case letter), stamped
    /// with the source's time.
    pub fn write_replica(&self, ts: i64, op: Op, name: &str) -> io::Result<Pos> {
        self.append(Record {
            ts,
            op,
            replica: true,
            name: name.to_string(),
        })
    }

    fn append(&self, r: Record) -> io::Result<Pos> {
        let line = r.format();
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        w.out.write_all(line.as_bytes())?;
        w.out.flush()?;
        if self.fsync == FsyncPolicy::EveryRecord {
            w.out.get_ref().sync_data()?;
        }
        w.size += line.len() as u64;
        let after = w.pos();
        if w.size >= self.rotate_bytes {
            let next = w.index + 1;
            let dir = w.dir.clone();
            w.out.get_ref().sync_data()?;
            *w = Writer::open(&dir, next)?;
            write_index(&dir, next)?;
        }
        // Readers stop at `end`; after a rollover it is the new file's start.
        self.end.send_replace(w.pos());
        Ok(after)
    }

    /// The position the next record will be written at.
    #[cfg(test)]
    pub fn end(&self) -> Pos {
        *self.end.borrow()
    }

    /// Changes whenever a record is written.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<Pos> {
        self.end.subscribe()
    }

    /// Flushes and fsyncs the current binlog file.
    pub fn sync(&self) -> io::Result<()> {
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        w.out.flush()?;
        w.out.get_ref().sync_data()
    }
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
        b.write(5, Op::Create, NAME).unwrap();
        b.write_replica(6, Op::Delete, NAME).unwrap();
        let text = std::fs::read_to_string(dir.path().join("data/sync/binlog.000")).unwrap();
        assert_eq!(text, format!("5 C {NAME}\n6 d {NAME}\n"));
        let index = std::fs::read_to_string(dir.path().join("data/sync/binlog_index.dat")).unwrap();
        assert!(index.starts_with("current_write=0\n"), "{index}");
    }

    #[test]
    fn write_returns_the_position_after_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path(), DEFAULT_ROTATE_BYTES);
        let p = b.write(5, Op::Create, NAME).unwrap();
        assert_eq!(p, b.end());
        assert_eq!(p.offset as usize, format!("5 C {NAME}\n").len());
        let mut watch = b.watch();
        b.write(6, Op::Create, NAME).unwrap();
        assert!(watch.has_changed().unwrap());
        assert!(*watch.borrow_and_update() > p);
    }

    #[test]
    fn reopening_appends_to_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path(), DEFAULT_ROTATE_BYTES)
            .write(1, Op::Create, NAME)
            .unwrap();
        let b = open(dir.path(), DEFAULT_ROTATE_BYTES);
        assert_eq!(b.end().offset as usize, format!("1 C {NAME}\n").len());
        b.write(2, Op::Create, NAME).unwrap();
        let text = std::fs::read_to_string(dir.path().join("data/sync/binlog.000")).unwrap();
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn a_full_binlog_rolls_over_to_the_next_index() {
        let dir = tempfile::tempdir().unwrap();
        let line = format!("1 C {NAME}\n").len() as u64;
        let b = open(dir.path(), line);
        b.write(1, Op::Create, NAME).unwrap();
        b.write(2, Op::Delete, NAME).unwrap();
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
        b.write(3, Op::Create, NAME).unwrap();
        let next = std::fs::read_to_string(dir.path().join("data/sync/binlog.002")).unwrap();
        assert_eq!(
            next,
            format!("3 C {NAME}\n"),
            "restart continues in the current file"
        );
    }
}
