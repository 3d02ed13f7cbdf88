//! Scrub: every copy this storage holds is read again, paced at
//! `scrub_rate` bytes per second so foreground traffic keeps the disk, and
//! checked against what its name records: size and CRC32 for normal files
//! (appender and slave names do not record their own content, so for them
//! only presence is checked). What the storage must hold is what its binlog
//! created and did not delete. This module is the check ([`scan`], blocking)
//! and the state passes share ([`Scrubber`]); a pass as the storage runs
//! it, with the repair of what the check finds, is [`crate::repair`].

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrodfs_proto::cluster::ScrubReport;
use ferrodfs_proto::fields::META_SUFFIX;
use ferrodfs_proto::file_id::LogicalName;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::binlog::{read_from, Op, Pos};

pub(crate) const CHUNK: usize = 256 << 10;

/// What a copy on the disk looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Good,
    Missing,
    Corrupt(&'static str),
}

/// Names of the data files the binlog says this storage holds: created
/// here or by sync, or renamed to, and not deleted since. Metadata side
/// files (`-m`) carry no checksum and are left out.
fn expected_files(dir: &Path, end: Pos) -> io::Result<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    let mut pos = Pos::default();
    loop {
        let batch = read_from(dir, pos, end, 1 << 20)?;
        let Some(last) = batch.last() else {
            return Ok(files);
        };
        pos = last.next;
        for r in batch.into_iter().filter_map(|e| e.record) {
            if r.name.ends_with(META_SUFFIX) {
                continue;
            }
            match r.op {
                Op::Delete => {
                    files.remove(&r.name);
                }
                Op::Rename { from } => {
                    files.remove(&from);
                    files.insert(r.name);
                }
                _ => {
                    files.insert(r.name);
                }
            }
        }
    }
}

/// Keeps reads at `rate` bytes per second (0: unpaced).
struct Pacer {
    rate: u64,
    start: Instant,
    bytes: u64,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            rate,
            start: Instant::now(),
            bytes: 0,
        }
    }

    fn took(&mut self, n: u64) {
        self.bytes += n;
        if self.rate == 0 {
            return;
        }
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        if let Some(wait) = due.checked_sub(self.start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

/// The size and CRC32 a name records, when it records its content's.
pub(crate) fn recorded(name: &LogicalName) -> Option<(u64, u32)> {
    if name.is_slave() || name.is_appender() {
        return None;
    }
    let info = name.info()?;
    Some((info.size()?, info.crc32))
}

/// Checks one copy (blocking); returns the verdict and the bytes read.
fn check(path: &Path, name: &LogicalName, pacer: &mut Pacer) -> (Verdict, u64) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (Verdict::Missing, 0),
        Err(_) => return (Verdict::Corrupt("unreadable"), 0),
    };
    let Some((size, crc32)) = recorded(name) else {
        return (Verdict::Good, 0);
    };
    if meta.len() != size {
        return (Verdict::Corrupt("size"), 0);
    }
    let Ok(mut f) = File::open(path) else {
        return (Verdict::Corrupt("unreadable"), 0);
    };
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut read = 0;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                crc.update(&buf[..n]);
                read += n as u64;
                pacer.took(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return (Verdict::Corrupt("unreadable"), read),
        }
    }
    if crc.finalize() == crc32 {
        (Verdict::Good, read)
    } else {
        (Verdict::Corrupt("crc32"), read)
    }
}

/// The checking half of a pass (blocking): every expected file of
/// `store_paths`; returns the counts and the copies to repair.
pub(crate) fn scan(
    binlog_dir: &Path,
    end: Pos,
    store_paths: &[PathBuf],
    rate: u64,
    stop: &AtomicBool,
) -> io::Result<(ScrubReport, Vec<(LogicalName, Verdict)>)> {
    let mut report = ScrubReport::default();
    let mut bad = Vec::new();
    let mut pacer = Pacer::new(rate);
    for text in expected_files(binlog_dir, end)? {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(name) = LogicalName::parse(&text) else {
            continue;
        };
        let Some(root) = store_paths.get(name.store_path as usize) else {
            continue;
        };
        let (verdict, read) = check(&root.join(name.rel_path()), &name, &mut pacer);
        report.checked += 1;
        report.bytes += read;
        match verdict {
            Verdict::Good => {}
            Verdict::Missing => report.missing += 1,
            Verdict::Corrupt(_) => report.corrupt += 1,
        }
        if verdict != Verdict::Good {
            bad.push((name, verdict));
        }
    }
    Ok((report, bad))
}

/// One storage's scrubbing: a pass at a time, the last report, counters.
pub(crate) struct Scrubber {
    pass: tokio::sync::Mutex<()>,
    last: Mutex<ScrubReport>,
    stop: Arc<AtomicBool>,
    files: IntCounterVec,
    bytes: IntCounter,
    last_finished: IntGauge,
}

impl Scrubber {
    pub fn new(registry: &Registry) -> Scrubber {
        let files = IntCounterVec::new(
            Opts::new(
                "ferrodfs_storage_scrub_files_total",
                "Copies checked by scrub, by result: ok, missing, corrupt, repaired, unrepaired",
            ),
            &["result"],
        )
        .expect("valid metric");
        let bytes = IntCounter::new("ferrodfs_storage_scrub_bytes_total", "Bytes read by scrub")
            .expect("valid metric");
        let last_finished = IntGauge::new(
            "ferrodfs_storage_scrub_last_finished_seconds",
            "Unix time the last scrub pass finished",
        )
        .expect("valid metric");
        for c in [
            Box::new(files.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(bytes.clone()),
            Box::new(last_finished.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Scrubber {
            pass: tokio::sync::Mutex::new(()),
            last: Mutex::new(ScrubReport::default()),
            stop: Arc::new(AtomicBool::new(false)),
            files,
            bytes,
            last_finished,
        }
    }

    /// The last finished pass (all zero before the first).
    pub fn last(&self) -> ScrubReport {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for the pass running, if any: one pass at a time.
    pub async fn one_at_a_time(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.pass.lock().await
    }

    /// The flag that ends a scan early (set at shutdown).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Takes in a finished pass: counters, gauge and the last report.
    pub fn finished(&self, report: &ScrubReport) {
        let ok = report.checked - report.missing - report.corrupt;
        for (result, n) in [
            ("ok", ok),
            ("missing", report.missing),
            ("corrupt", report.corrupt),
            ("repaired", report.repaired),
            ("unrepaired", report.unrepaired_count),
        ] {
            self.files.with_label_values(&[result]).inc_by(n);
        }
        self.bytes.inc_by(report.bytes);
        self.last_finished.set(report.finished);
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = report.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodfs_proto::file_id::FileInfo;

    fn normal_name(content: &[u8]) -> LogicalName {
        let info = FileInfo::normal(
            std::net::Ipv4Addr::LOCALHOST,
            1_700_000_000,
            content.len() as u64,
            crc32fast::hash(content),
            &mut rand::thread_rng(),
        );
        LogicalName::parse(&format!("M00/00/00/{}0000000", info.encode())).unwrap()
    }

    #[test]
    fn a_copy_is_checked_against_the_size_and_crc_its_name_records() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"hello scrub".to_vec();
        let name = normal_name(&content);
        let path = dir.path().join("f");
        let mut pacer = Pacer::new(0);
        assert_eq!(check(&path, &name, &mut pacer).0, Verdict::Missing);
        std::fs::write(&path, &content).unwrap();
        assert_eq!(check(&path, &name, &mut pacer), (Verdict::Good, 11));
        std::fs::write(&path, b"hello scrub!").unwrap();
        assert_eq!(check(&path, &name, &mut pacer).0, Verdict::Corrupt("size"));
        std::fs::write(&path, b"hellO scrub").unwrap();
        assert_eq!(check(&path, &name, &mut pacer).0, Verdict::Corrupt("crc32"));
    }

    #[tokio::test]
    async fn the_binlog_says_which_files_must_be_here() {
        let dir = tempfile::tempdir().unwrap();
        let b = crate::binlog::Binlog::open(
            dir.path(),
            1 << 20,
            crate::binlog::FsyncPolicy::EveryRecord,
        )
        .unwrap();
        b.write(1, Op::Create, "M00/00/00/a").await.unwrap();
        b.write_replica(2, Op::Create, "M00/00/00/b").await.unwrap();
        b.write(3, Op::Update, "M00/00/00/a-m").await.unwrap();
        b.write(4, Op::Create, "M00/00/00/c").await.unwrap();
        b.write(5, Op::Delete, "M00/00/00/c").await.unwrap();
        b.write(
            6,
            Op::Rename {
                from: "M00/00/00/b".into(),
            },
            "M00/00/00/d",
        )
        .await
        .unwrap();
        let files = expected_files(b.dir(), b.end()).unwrap();
        assert_eq!(
            files.into_iter().collect::<Vec<_>>(),
            ["M00/00/00/a", "M00/00/00/d"]
        );
    }

    #[test]
    fn pacing_holds_reads_to_the_rate() {
        let mut p = Pacer::new(1000);
        let t = Instant::now();
        p.took(100);
        assert!(t.elapsed() >= Duration::from_millis(100));
    }
}
