//! Scrub and repair: every copy this storage holds is read again, paced at
//! `scrub_rate` bytes per second so foreground traffic keeps the disk, and
//! checked against what its name records: size and CRC32 for normal files
//! (appender and slave names do not record their own content, so for them
//! only presence is checked). What the storage must hold is what its binlog
//! created and did not delete. A missing or corrupt copy is fetched again
//! from another ACTIVE member of the group and kept only if it passes the
//! same check; when no member has a good copy, the file is reported and
//! left as it is, never overwritten with another bad copy.
//!
//! Passes run in the background every `scrub_interval`, at once when a
//! store path comes back empty (a replaced disk refills from the group),
//! and on demand with `ferrodfs scrub` (command [`cmd::SCRUB`]).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferrodfs_proto::cluster::{state, Member, ScrubReport};
use ferrodfs_proto::cmd;
use ferrodfs_proto::fields::META_SUFFIX;
use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::io::{read_response_header, send};
use ferrodfs_proto::storage_req::Download;
use ferrodfs_runtime::net::connect_from;
use ferrodfs_runtime::Shutdown;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::binlog::{read_from, Op, Pos};
use crate::ctx::Ctx;

/// Names listed in a report's `unrepaired`.
const MAX_LISTED: usize = 100;
const CHUNK: usize = 256 << 10;

/// What a copy on the disk looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
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
fn recorded(name: &LogicalName) -> Option<(u64, u32)> {
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
fn scan(
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

/// Fetches `name` from member `m` into place, keeping it only if it passes
/// the check its name allows.
async fn fetch_from(ctx: &Ctx, m: &Member, name: &LogicalName) -> anyhow::Result<()> {
    let timeout = ctx.cfg.network_timeout;
    let addr = format!("{}:{}", m.ip, m.port);
    let mut s = tokio::time::timeout(timeout, connect_from(&addr, ctx.cfg.source_ip()))
        .await
        .context("connect timed out")??;
    let _ = s.set_nodelay(true);
    let body = Download::encode(0, 0, &ctx.cfg.group_name, &name.to_string());
    send(
        &mut s,
        Header::request(cmd::DOWNLOAD_FILE, body.len() as u64),
        &body,
    )
    .await?;
    let head = tokio::time::timeout(timeout, read_response_header(&mut s, u64::MAX))
        .await
        .context("no answer")??;
    let recorded = recorded(name);
    if let Some((size, _)) = recorded {
        anyhow::ensure!(
            head.pkg_len == size,
            "its copy has {} bytes, the name records {size}",
            head.pkg_len
        );
    }
    let path = ctx
        .data_path(name)
        .map_err(|_| anyhow::anyhow!("store path not ours"))?;
    let dir = path.parent().context("no directory")?.to_path_buf();
    let tmp = dir.join(format!(".{}.repair", name.name));
    tokio::fs::create_dir_all(&dir).await?;
    let mut f = tokio::fs::File::create(&tmp).await?;
    let copied = async {
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; CHUNK];
        let mut left = head.pkg_len;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = tokio::time::timeout(timeout, s.read(&mut buf[..want]))
                .await
                .context("stalled")??;
            anyhow::ensure!(n > 0, "closed after {} bytes", head.pkg_len - left);
            crc.update(&buf[..n]);
            f.write_all(&buf[..n]).await?;
            left -= n as u64;
        }
        f.flush().await?;
        if ctx.cfg.fsync_after_write {
            f.sync_data().await?;
        }
        if let Some((_, want)) = recorded {
            anyhow::ensure!(crc.finalize() == want, "its copy fails the CRC32 check too");
        }
        Ok(())
    }
    .await;
    if let Err(e) = copied {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    tokio::fs::rename(&tmp, &path).await?;
    Ok(())
}

/// Replaces a bad copy with a good one from any other ACTIVE member.
async fn repair(ctx: &Ctx, name: &LogicalName) -> anyhow::Result<String> {
    let me = ctx.cfg.ip.to_string();
    let mut members: Vec<Member> = ctx
        .members
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|m| m.ip != me && m.status != state::DELETED)
        .cloned()
        .collect();
    // ACTIVE members first. A copy whose name records its checksum is
    // checked before it is kept, so it may come from any member (our view
    // of their states lags a heartbeat); one that records none only from
    // an ACTIVE member.
    members.sort_by_key(|m| m.status != state::ACTIVE);
    if recorded(name).is_none() {
        members.retain(|m| m.status == state::ACTIVE);
    }
    anyhow::ensure!(!members.is_empty(), "no other member to copy from");
    let mut why = Vec::new();
    for m in &members {
        match fetch_from(ctx, m, name).await {
            Ok(()) => return Ok(format!("{}:{}", m.ip, m.port)),
            Err(e) => why.push(format!("{}:{}: {e:#}", m.ip, m.port)),
        }
    }
    anyhow::bail!("{}", why.join("; "))
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

    /// Runs one pass now (after the one running, if any) at `rate`.
    pub async fn run_pass(&self, ctx: &Ctx, rate: u64) -> anyhow::Result<ScrubReport> {
        let _one_at_a_time = self.pass.lock().await;
        let started = crate::unix_now();
        let (dir, end, paths, stop) = (
            ctx.binlog.dir().to_path_buf(),
            *ctx.binlog.watch().borrow(),
            ctx.cfg.store_paths.clone(),
            self.stop.clone(),
        );
        let (mut report, bad) =
            tokio::task::spawn_blocking(move || scan(&dir, end, &paths, rate, &stop))
                .await
                .context("scrub scan panicked")?
                .context("reading the binlog")?;
        report.started = started;
        for (name, verdict) in bad {
            let what = match verdict {
                Verdict::Missing => "missing".to_string(),
                Verdict::Corrupt(why) => format!("corrupt ({why})"),
                Verdict::Good => continue,
            };
            match repair(ctx, &name).await {
                Ok(from) => {
                    report.repaired += 1;
                    tracing::warn!("scrub: {name} was {what}; repaired from {from}");
                }
                Err(e) => {
                    report.unrepaired_count += 1;
                    if report.unrepaired.len() < MAX_LISTED {
                        report.unrepaired.push(name.to_string());
                    }
                    tracing::error!("scrub: {name} is {what} and no member has a good copy: {e:#}");
                }
            }
        }
        report.finished = crate::unix_now();
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
        tracing::info!(
            "scrub pass: {} copies checked ({} bytes), {} missing, {} corrupt, {} repaired, {} not repairable",
            report.checked,
            report.bytes,
            report.missing,
            report.corrupt,
            report.repaired,
            report.unrepaired_count
        );
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = report.clone();
        Ok(report)
    }
}

/// Whether another ACTIVE member is known, so a pass can repair.
fn peers_known(ctx: &Ctx) -> bool {
    let me = ctx.cfg.ip.to_string();
    ctx.members
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|m| m.ip != me && m.status == state::ACTIVE)
}

/// Background passes every `scrub_interval`; with `refill`, a first pass
/// as soon as another member is known (a store path came back empty).
pub(crate) async fn background(ctx: Arc<Ctx>, refill: bool, mut shutdown: Shutdown) {
    if ctx.cfg.scrub_rate == 0 && !refill {
        return;
    }
    let stop = ctx.scrub.stop.clone();
    let mut next = if refill {
        tracing::info!(
            "a store path has no data directory: a scrub pass refills it from the group"
        );
        loop {
            if peers_known(&ctx) {
                break;
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        Instant::now()
    } else {
        Instant::now() + ctx.cfg.scrub_interval
    };
    loop {
        tokio::select! {
            _ = shutdown.wait() => {
                stop.store(true, Ordering::Relaxed);
                return;
            }
            _ = tokio::time::sleep_until(next.into()) => {}
        }
        next = Instant::now() + ctx.cfg.scrub_interval;
        let pass = ctx.scrub.run_pass(&ctx, ctx.cfg.scrub_rate);
        tokio::select! {
            _ = shutdown.wait() => {
                stop.store(true, Ordering::Relaxed);
                return;
            }
            r = pass => if let Err(e) = r {
                tracing::error!("scrub pass failed: {e:#}");
            }
        }
        if ctx.cfg.scrub_rate == 0 {
            return;
        }
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
