//! Reading the binlog back from a position: what a sync worker replays to
//! one peer. Only whole lines are returned, so a record being written is
//! never read half; a finished file leads on to the next index.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
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
/// `from` is at the end of a finished one. Blocking.
pub(crate) fn read_from(
    dir: &Path,
    from: Pos,
    end: Pos,
    max_bytes: usize,
) -> io::Result<Vec<Entry>> {
    Reader::new(dir).read(from, end, max_bytes)
}

/// A binlog reader that keeps its file open and its buffer between
/// reads: a push worker woken for every new record reads only the new
/// bytes, with no open(2) per wake-up. Blocking: use it off the runtime
/// threads.
pub(crate) struct Reader {
    dir: PathBuf,
    /// The binlog file last read, by index.
    open: Option<(u32, File)>,
    buf: Vec<u8>,
}

impl Reader {
    pub fn new(dir: &Path) -> Reader {
        Reader {
            dir: dir.to_path_buf(),
            open: None,
            buf: Vec::new(),
        }
    }

    /// [`read_from`], through the file kept open.
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
            let file = match open_kept(&mut self.open, &self.dir, pos.index) {
                Ok(f) => f,
                // A missing older file (removed by hand): go on with the next.
                Err(e) if e.kind() == io::ErrorKind::NotFound && pos.index < end.index => {
                    pos = Pos {
                        index: pos.index + 1,
                        offset: 0,
                    };
                    continue;
                }
                Err(e) => return Err(e),
            };
            let want = limit.min(max_bytes as u64) as usize;
            let buf = &mut self.buf;
            buf.resize(want, 0);
            let mut got = 0;
            while got < want {
                match file.read_at(&mut buf[got..], pos.offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(got);
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

/// Binlog file `index`, opened once and kept in `open`; the previous one
/// is closed when the reading moves on.
fn open_kept<'a>(
    open: &'a mut Option<(u32, File)>,
    dir: &Path,
    index: u32,
) -> io::Result<&'a File> {
    if open.as_ref().is_none_or(|(i, _)| *i != index) {
        *open = None;
        *open = Some((index, File::open(binlog_file(dir, index))?));
    }
    Ok(&open.as_ref().expect("opened above").1)
}

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
    fn a_kept_reader_reads_what_was_written_since_and_follows_the_rollover() {
        let dir = tempfile::tempdir().unwrap();
        let b = Binlog::open(dir.path(), 100, FsyncPolicy::Periodic).unwrap();
        let mut r = Reader::new(b.dir());
        b.write_blocking(1, Op::Create, NAME).unwrap();
        let first = r.read(Pos::default(), b.end(), 1 << 20).unwrap();
        assert_eq!(names(&first), [(1, false)]);
        let mut pos = first[0].next;
        b.write_replica_blocking(2, Op::Create, NAME).unwrap();
        b.write_blocking(3, Op::Create, NAME).unwrap();
        assert_eq!(b.end().index, 1, "the records filled the first file");
        let mut seen = Vec::new();
        let mut drain = |pos: &mut Pos| loop {
            let got = r.read(*pos, b.end(), 1 << 20).unwrap();
            let Some(last) = got.last() else { break };
            *pos = last.next;
            seen.extend(names(&got));
        };
        drain(&mut pos);
        b.write_blocking(4, Op::Create, NAME).unwrap();
        drain(&mut pos);
        assert_eq!(seen, [(2, true), (3, false), (4, false)]);
        assert_eq!(pos, b.end());
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
