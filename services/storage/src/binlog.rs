//! The binlog: one text line per change, in FastDFS's format
//! (storage/storage_sync.c), so that group replication can replay it and a
//! FastDFS data directory's binlog reads the same way.
//!
//! `<base_path>/data/sync/binlog.NNN`, lines `<unix_ts> <op> <Mxx/HH/HH/name>[ extra]`;
//! the index of the file being written is kept in `binlog_index.dat`
//! (`current_write=N`), and a new file starts after [`ROLLOVER_BYTES`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// FastDFS rolls the binlog over at 1 GiB.
const ROLLOVER_BYTES: u64 = 1 << 30;
const INDEX_FILE: &str = "binlog_index.dat";

/// What changed. Upper-case letters: this storage is the file's source
/// (replicas, written by the sync of a later issue, use lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Delete,
    /// Whole-file update: a metadata file rewritten.
    Update,
    Append {
        offset: u64,
        length: u64,
    },
    Modify {
        offset: u64,
        length: u64,
    },
    Truncate {
        old_size: u64,
        new_size: u64,
    },
}

/// One binlog line, newline included.
pub(crate) fn format_record(ts: i64, op: Op, name: &str) -> String {
    match op {
        Op::Create => format!("{ts} C {name}\n"),
        Op::Delete => format!("{ts} D {name}\n"),
        Op::Update => format!("{ts} U {name}\n"),
        Op::Append { offset, length } => format!("{ts} A {name} {offset} {length}\n"),
        Op::Modify { offset, length } => format!("{ts} M {name} {offset} {length}\n"),
        Op::Truncate { old_size, new_size } => format!("{ts} T {name} {old_size} {new_size}\n"),
    }
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
}

/// The binlog writer shared by every connection. Each record is flushed to
/// the OS as soon as it is written (after the change it describes is on
/// disk), so a reply never precedes its binlog line; `sync` makes it
/// durable at shutdown.
pub(crate) struct Binlog {
    inner: Mutex<Writer>,
}

impl Binlog {
    /// Opens (creating) `<base_path>/data/sync/` and the current binlog file.
    pub fn open(base_path: &Path) -> io::Result<Binlog> {
        let dir = base_path.join("data").join("sync");
        std::fs::create_dir_all(&dir)?;
        let index = read_index(&dir);
        if !dir.join(INDEX_FILE).exists() {
            write_index(&dir, index)?;
        }
        Ok(Binlog {
            inner: Mutex::new(Writer::open(&dir, index)?),
        })
    }

    /// Appends one record stamped `ts`.
    pub fn write(&self, ts: i64, op: Op, name: &str) -> io::Result<()> {
        let line = format_record(ts, op, name);
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        w.out.write_all(line.as_bytes())?;
        w.out.flush()?;
        w.size += line.len() as u64;
        if w.size >= ROLLOVER_BYTES {
            let next = w.index + 1;
            let dir = w.dir.clone();
            *w = Writer::open(&dir, next)?;
            write_index(&dir, next)?;
        }
        Ok(())
    }

    /// Flushes and fsyncs the current binlog file.
    pub fn sync(&self) -> io::Result<()> {
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        w.out.flush()?;
        w.out.get_ref().sync_data()
    }

    #[cfg(test)]
    fn force_rollover_size(&self) {
        self.inner.lock().unwrap().size = ROLLOVER_BYTES - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";

    #[test]
    fn records_use_fastdfs_letters_and_extras() {
        assert_eq!(
            format_record(1700000000, Op::Create, NAME),
            format!("1700000000 C {NAME}\n")
        );
        assert_eq!(format_record(1, Op::Delete, NAME), format!("1 D {NAME}\n"));
        assert_eq!(
            format_record(1, Op::Update, "M00/00/00/x-m"),
            "1 U M00/00/00/x-m\n"
        );
        assert_eq!(
            format_record(
                2,
                Op::Append {
                    offset: 10,
                    length: 5
                },
                NAME
            ),
            format!("2 A {NAME} 10 5\n")
        );
        assert_eq!(
            format_record(
                3,
                Op::Modify {
                    offset: 0,
                    length: 4
                },
                NAME
            ),
            format!("3 M {NAME} 0 4\n")
        );
        assert_eq!(
            format_record(
                4,
                Op::Truncate {
                    old_size: 9,
                    new_size: 2
                },
                NAME
            ),
            format!("4 T {NAME} 9 2\n")
        );
    }

    #[test]
    fn records_land_in_binlog_000_under_data_sync() {
        let dir = tempfile::tempdir().unwrap();
        let b = Binlog::open(dir.path()).unwrap();
        b.write(5, Op::Create, NAME).unwrap();
        b.write(6, Op::Delete, NAME).unwrap();
        let text = std::fs::read_to_string(dir.path().join("data/sync/binlog.000")).unwrap();
        assert_eq!(text, format!("5 C {NAME}\n6 D {NAME}\n"));
        let index = std::fs::read_to_string(dir.path().join("data/sync/binlog_index.dat")).unwrap();
        assert!(index.starts_with("current_write=0\n"), "{index}");
    }

    #[test]
    fn reopening_appends_to_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        Binlog::open(dir.path())
            .unwrap()
            .write(1, Op::Create, NAME)
            .unwrap();
        Binlog::open(dir.path())
            .unwrap()
            .write(2, Op::Create, NAME)
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join("data/sync/binlog.000")).unwrap();
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn a_full_binlog_rolls_over_to_the_next_index() {
        let dir = tempfile::tempdir().unwrap();
        let b = Binlog::open(dir.path()).unwrap();
        b.force_rollover_size();
        b.write(1, Op::Create, NAME).unwrap();
        b.write(2, Op::Delete, NAME).unwrap();
        let next = std::fs::read_to_string(dir.path().join("data/sync/binlog.001")).unwrap();
        assert_eq!(next, format!("2 D {NAME}\n"));
        drop(b);
        let b = Binlog::open(dir.path()).unwrap();
        b.write(3, Op::Create, NAME).unwrap();
        let next = std::fs::read_to_string(dir.path().join("data/sync/binlog.001")).unwrap();
        assert_eq!(next.lines().count(), 2, "restart continues in binlog.001");
    }
}
