//! Replication lag per peer: the binlog records a peer has not applied
//! yet, their content bytes and the age of the oldest. Each push worker
//! publishes its mark; a timer ([`crate::sync::lag`]) counts from every mark to the
//! binlog's end, incrementally (only what was pushed and what was written
//! since the last count is read), off the runtime threads. The result
//! feeds the `ferrodfs_storage_sync_*` gauges and the reports to trackers.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Mutex;

use ferrodfs_proto::cluster::SyncLag;
use ferrodfs_proto::file_id::LogicalName;

use super::mark::Mark;
use super::plan::should_push;
use crate::binlog::{read_from, Op, Pos, Record};

/// Binlog bytes read per batch while counting.
const BATCH_BYTES: usize = 1 << 20;

/// What the push workers publish and the counter keeps between counts.
#[derive(Default)]
pub(crate) struct Lag {
    /// Each peer's mark (`ip:port`), as its worker last saved it.
    marks: Mutex<BTreeMap<String, Mark>>,
    /// The last count per peer, which the next one continues.
    counts: Mutex<BTreeMap<String, Count>>,
    /// The lag as of the last count, for reports.
    latest: Mutex<Vec<SyncLag>>,
}

impl Lag {
    /// A worker's mark moved (or the worker started).
    pub fn mark(&self, peer: &str, mark: &Mark) {
        lock(&self.marks).insert(peer.to_string(), *mark);
    }

    /// The peer left the group: it lags no more.
    pub fn forget(&self, peer: &str) {
        lock(&self.marks).remove(peer);
    }

    /// The lag to every peer as of the last count.
    pub fn latest(&self) -> Vec<SyncLag> {
        lock(&self.latest).clone()
    }

    /// Counts the lag of every peer with a mark against the binlog
    /// ending at `end`, at unix time `now`; returns it and the peers
    /// that no longer have a mark. Blocking (reads the binlog).
    pub fn count(&self, dir: &Path, end: Pos, now: i64) -> io::Result<(Vec<SyncLag>, Vec<String>)> {
        let marks = lock(&self.marks).clone();
        let mut counts = lock(&self.counts);
        let gone: Vec<String> = counts
            .keys()
            .filter(|p| !marks.contains_key(*p))
            .cloned()
            .collect();
        for p in &gone {
            counts.remove(p);
        }
        let mut out = Vec::new();
        for (peer, mark) in marks {
            let c = recount(dir, &mark, end, counts.get(&peer))?;
            out.push(SyncLag {
                peer: peer.clone(),
                pending_records: c.records,
                pending_bytes: c.bytes,
                age_secs: c.oldest.map_or(0, |ts| (now - ts).max(0)),
                full_copy: mark.full_copy,
            });
            counts.insert(peer, c);
        }
        *lock(&self.latest) = out.clone();
        Ok((out, gone))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The records a peer still needs in `[from, to)` of the binlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Count {
    /// The mark's filter the count was made with.
    full_copy: bool,
    skip_before: i64,
    from: Pos,
    to: Pos,
    records: u64,
    bytes: u64,
    /// Time of the first record counted.
    oldest: Option<i64>,
}

/// Content bytes a record makes the peer fetch: the whole file for a
/// create (its size as the file name records it; appender files, whose
/// name does not, count 0) and the changed range of an append or modify.
fn content_bytes(r: &Record) -> u64 {
    match r.op {
        Op::Create | Op::Update => LogicalName::parse(&r.name)
            .ok()
            .and_then(|n| n.info())
            .and_then(|i| i.size())
            .unwrap_or(0),
        Op::Append { length, .. } | Op::Modify { length, .. } => length,
        Op::Delete | Op::Truncate { .. } | Op::Rename { .. } => 0,
    }
}

/// Tallies the records of `[from, to)` the peer needs; with `first_only`
/// stops at the first one.
fn tally(
    dir: &Path,
    mark: &Mark,
    from: Pos,
    to: Pos,
    first_only: bool,
) -> io::Result<(u64, u64, Option<i64>)> {
    let (mut records, mut bytes, mut first) = (0u64, 0u64, None);
    let mut pos = from;
    while pos < to {
        let entries = read_from(dir, pos, to, BATCH_BYTES)?;
        let Some(last) = entries.last() else { break };
        pos = last.next;
        for r in entries.iter().filter_map(|e| e.record.as_ref()) {
            if !should_push(mark, r) {
                continue;
            }
            records += 1;
            bytes += content_bytes(r);
            first.get_or_insert(r.ts);
            if first_only {
                return Ok((records, bytes, first));
            }
        }
    }
    Ok((records, bytes, first))
}

/// Continues `prev` to the mark and the binlog end: subtracts what was
/// pushed since, adds what was written since. A mark that moved back or
/// changed filter (a new full copy) is counted afresh.
fn recount(dir: &Path, mark: &Mark, end: Pos, prev: Option<&Count>) -> io::Result<Count> {
    let fresh = |dir: &Path| -> io::Result<Count> {
        let (records, bytes, oldest) = tally(dir, mark, mark.pos, end, false)?;
        Ok(Count {
            full_copy: mark.full_copy,
            skip_before: mark.skip_before,
            from: mark.pos,
            to: end.max(mark.pos),
            records,
            bytes,
            oldest,
        })
    };
    let Some(p) = prev.filter(|p| {
        p.full_copy == mark.full_copy
            && p.skip_before == mark.skip_before
            && p.from <= mark.pos
            && mark.pos <= p.to
            && p.to <= end
    }) else {
        return fresh(dir);
    };
    let (pushed, pushed_bytes, _) = tally(dir, mark, p.from, mark.pos, false)?;
    let (added, added_bytes, added_first) = tally(dir, mark, p.to, end, false)?;
    let left = p.records.saturating_sub(pushed);
    let oldest = if left == 0 {
        added_first
    } else if pushed == 0 {
        p.oldest
    } else {
        tally(dir, mark, mark.pos, p.to, true)?.2
    };
    Ok(Count {
        from: mark.pos,
        to: end,
        records: left + added,
        bytes: p.bytes.saturating_sub(pushed_bytes) + added_bytes,
        oldest,
        ..*p
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::{Binlog, FsyncPolicy};

    /// A normal file's name, which records its size.
    fn name_with_size(size: u64) -> String {
        use ferrodfs_proto::file_id::FileInfo;
        let info = FileInfo::normal(
            "192.168.1.135".parse::<std::net::Ipv4Addr>().unwrap(),
            1_700_000_000,
            size,
            0xDEADBEEF,
            &mut rand::thread_rng(),
        );
        format!("M00/00/00/{}.txt", info.encode())
    }

    #[tokio::test]
    async fn pending_records_bytes_and_age_follow_the_mark_and_the_binlog() {
        let dir = tempfile::tempdir().unwrap();
        let b = Binlog::open(dir.path(), 1 << 30, FsyncPolicy::Periodic).unwrap();
        let lag = Lag::default();
        let mut mark = Mark::default();
        lag.mark("10.0.0.2:23000", &mark);
        let count = |now| lag.count(b.dir(), b.end(), now).unwrap().0[0].clone();
        assert_eq!(count(100).pending_records, 0);
        assert_eq!(count(100).age_secs, 0);

        let big = name_with_size(1000);
        b.write(10, Op::Create, &big).await.unwrap();
        b.write_replica(11, Op::Create, &name_with_size(5))
            .await
            .unwrap();
        b.write(
            12,
            Op::Append {
                offset: 0,
                length: 30,
            },
            &big,
        )
        .await
        .unwrap();
        let l = count(100);
        assert_eq!(l.pending_records, 2, "replica records are not pushed");
        assert_eq!(l.pending_bytes, 1030);
        assert_eq!(l.age_secs, 90);

        // The first record was pushed: the oldest is now the append.
        let first = read_from(b.dir(), Pos::default(), b.end(), 1 << 20).unwrap();
        mark.pos = first[0].next;
        lag.mark("10.0.0.2:23000", &mark);
        b.write(13, Op::Delete, &big).await.unwrap();
        let l = count(100);
        assert_eq!(
            (l.pending_records, l.pending_bytes, l.age_secs),
            (2, 30, 88)
        );

        // Everything pushed.
        mark.pos = b.end();
        lag.mark("10.0.0.2:23000", &mark);
        let l = count(100);
        assert_eq!((l.pending_records, l.pending_bytes, l.age_secs), (0, 0, 0));

        // A full copy counts replica records too, from the start.
        let full = Mark {
            full_copy: true,
            ..Mark::default()
        };
        lag.mark("10.0.0.2:23000", &full);
        let l = count(100);
        assert_eq!((l.pending_records, l.full_copy), (4, true));

        lag.forget("10.0.0.2:23000");
        let (now, gone) = lag.count(b.dir(), b.end(), 100).unwrap();
        assert!(now.is_empty());
        assert_eq!(gone, ["10.0.0.2:23000"]);
    }
}
