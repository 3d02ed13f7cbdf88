//! Reading the binlog back from a position: what a sync worker replays to
//! one peer. Only whole lines are returned, so a record being written is
//! never read half; a finished file leads on to the next index.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::{binlog_file, Pos, Record};

/// One record read back, with the position just after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `None` when the line is not one this storage understands.
    pub record: Option<Record>,
    pub next: Pos,
}

/// Reads up to `max_bytes` of whole lines starting at `from`, never past
/// `end` (the writer's position). Moves to the next binlog file when
/// `from` is at the end of a finished one.
pub(crate) fn read_from(
    dir: &Path,
    from: Pos,
    end: Pos,
    max_bytes: usize,
) -> io::Result<Vec<Entry>> {
    Reader::new(dir).read(from, end, max_bytes)
}

/// A reader of one binlog directory that keeps the file it last read
/// open, so a sync worker that wakes for every few records it replays
/// opens each binlog file once, not once per wake-up (blocking).
pub(crate) struct Reader {
    dir: PathBuf,
    open: Option<(u32, File)>,
}

impl Reader {
    pub fn new(dir: &Path) -> Reader {
        Reader {
            dir: dir.to_path_buf(),
            open: None,
        }
    }

    /// The binlog file of `index`, opened once; `None` when it is missing.
    fn file(&mut self, index: u32) -> io::Result<Option<&File>> {
        if self.open.as_ref().is_none_or(|(i, _)| *i != index) {
            self.open = None;
            match File::open(binlog_file(&self.dir, index)) {
                Ok(f) => self.open = Some((index, f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(self.open.as_ref().map(|(_, f)| f))
    }

    /// See [`read_from`].
    pub fn read(&mut self, from: Pos, end: Pos, max_bytes: usize) -> io::Result<Vec<Entry>> {
        let mut pos = from;
        loop {
            if pos >= end {
                return Ok(Vec::new());
            }
            let limit = if pos.index == end.index {
                end.offset - pos.offset
            } else {
                u64::MAX
            };
            let file = match self.file(pos.index)? {
                Some(f) => f,
                // A missing older file (removed by hand): go on with the next.
                None if pos.index < end.index => {
                    pos = Pos {
                        index: pos.index + 1,
                        offset: 0,
                    };
                    continue;
                }
                None => return Err(io::ErrorKind::NotFound.into()),
            };
            let buf = read_at(file, pos.offset, limit.min(max_bytes as u64) as usize)?;
            let whole = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if whole == 0 {
                if pos.index < end.index && buf.is_empty() {
                    pos = Pos {
                        index: pos.index + 1,
                        offset: 0,
                    };
                    continue;
                }
                if buf.len() >= max_bytes {
                    // A line longer than a whole batch is damage: skip it.
                    return Ok(vec![Entry {
                        record: None,
                        next: Pos {
                            index: pos.index,
                            offset: pos.offset + buf.len() as u64,
                        },
                    }]);
                }
                return Ok(Vec::new());
            }
            let mut out = Vec::new();
            let mut offset = pos.offset;
            for line in buf[..whole].split_inclusive(|&b| b == b'\n') {
                offset += line.len() as u64;
                out.push(Entry {
                    record: std::str::from_utf8(line).ok().and_then(Record::parse),
                    next: Pos {
                        index: pos.index,
                        offset,
                    },
                });
            }
            return Ok(out);
        }
    }
}

/// Up to `max` bytes of `file` from `offset`, fewer at its end.
fn read_at(file: &File, offset: u64, max: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; max.min(READ_CHUNK)];
    let mut got = 0;
    loop {
        if got == buf.len() {
            if buf.len() >= max {
                break;
            }
            buf.resize(max.min(buf.len() * 2), 0);
        }
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The first read's buffer: a wake-up usually finds a few records.
const READ_CHUNK: usize = 16 << 10;

#[cfg(test)]
mod tests {
    use super::super::{Binlog, FsyncPolicy, Op};
    use super::*;

    const NAME: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.txt";

    fn names(entries: &[Entry]) -> Vec<(i64, bool)> {
        entries
            .iter()
            .map(|e| {
                let r = e.record.as_ref().unwrap();
                (r.ts, r.replica)
            })
            .collect()
    }

    #[test]
    fn reading_resumes_exactly_after_the_last_entry_read() {
        let dir = tempfile::tempdir().unwrap();
        let b = Binlog::open(dir.path(), 1 << 30, FsyncPolicy::Periodic).unwrap();
        b.write_blocking(1, Op::Create, NAME).unwrap();
        b.write_replica_blocking(2, Op::Create, NAME).unwrap();
        let sync = b.dir().to_path_buf();
        let first = read_from(&sync, Pos::default(), b.end(), 1 << 20).unwrap();
        assert_eq!(names(&first), [(1, false), (2, true)]);
        b.write_blocking(3, Op::Delete, NAME).unwrap();
        let more = read_from(&sync, first[1].next, b.end(), 1 << 20).unwrap();
        assert_eq!(names(&more), [(3, false)]);
        assert_eq!(more[0].next, b.end());
        assert!(read_from(&sync, b.end(), b.end(), 1 << 20)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_partly_written_line_is_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("binlog.000"), format!("1 C {NAME}\n2 C M0")).unwrap();
        let end = Pos {
            index: 0,
            offset: 1000,
        };
        let got = read_from(dir.path(), Pos::default(), end, 1 << 20).unwrap();
        assert_eq!(got.len(), 1);
        let again = read_from(dir.path(), got[0].next, end, 1 << 20).unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn reading_follows_the_rollover_into_the_next_file() {
        let dir = tempfile::tempdir().unwrap();
        let b = Binlog::open(dir.path(), 40, FsyncPolicy::Periodic).unwrap();
        for ts in 1..=3 {
            b.write_blocking(ts, Op::Create, NAME).unwrap();
        }
        assert_eq!(b.end().index, 3, "each record fills a 40-byte file");
        let mut pos = Pos::default();
        let mut seen = Vec::new();
        loop {
            let got = read_from(b.dir(), pos, b.end(), 1 << 20).unwrap();
            let Some(last) = got.last() else { break };
            pos = last.next;
            seen.extend(names(&got));
        }
        assert_eq!(seen, [(1, false), (2, false), (3, false)]);
    }

    #[test]
    fn a_kept_reader_sees_records_appended_after_its_last_read_and_the_next_file() {
        let dir = tempfile::tempdir().unwrap();
        // Three records fill a file: the fourth starts binlog.001.
        let b = Binlog::open(dir.path(), 150, FsyncPolicy::Periodic).unwrap();
        let mut reader = Reader::new(b.dir());
        let mut pos = Pos::default();
        let mut seen = Vec::new();
        for ts in 1..=5 {
            b.write_blocking(ts, Op::Create, NAME).unwrap();
            let got = reader.read(pos, b.end(), 1 << 20).unwrap();
            assert_eq!(got.len(), 1, "record {ts} is read once it is written");
            pos = got[0].next;
            seen.extend(names(&got));
        }
        assert_eq!(seen, [1, 2, 3, 4, 5].map(|ts| (ts, false)));
        assert!(b.end().index >= 1, "the records went on in a later file");
        assert_eq!(pos, b.end());
        assert!(reader.read(pos, b.end(), 1 << 20).unwrap().is_empty());
    }

    #[test]
    fn small_batches_still_make_progress() {
        let dir = tempfile::tempdir().unwrap();
        let b = Binlog::open(dir.path(), 1 << 30, FsyncPolicy::Periodic).unwrap();
        b.write_blocking(1, Op::Create, NAME).unwrap();
        b.write_blocking(2, Op::Create, NAME).unwrap();
        let got = read_from(b.dir(), Pos::default(), b.end(), 60).unwrap();
        assert_eq!(names(&got), [(1, false)]);
    }
}
