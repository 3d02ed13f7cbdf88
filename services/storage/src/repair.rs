//! A scrub pass as the storage runs it: the check ([`crate::scrub`]), then
//! every missing or corrupt copy fetched again from another ACTIVE member
//! of the group and kept only if it passes the same check; when no member
//! has a good copy, the file is reported and left as it is, never
//! overwritten with another bad copy.
//!
//! Passes run in the background every `scrub_interval`, at once when a
//! store path comes back empty (a replaced disk refills from the group),
//! and on demand with `ferrodfs scrub` (command [`cmd::SCRUB`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferrodfs_proto::cluster::{state, Member, ScrubReport};
use ferrodfs_proto::cmd;
use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::io::{read_response_header, send};
use ferrodfs_proto::storage_req::Download;
use ferrodfs_runtime::net::connect_from;
use ferrodfs_runtime::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ctx::Ctx;
use crate::scrub::{recorded, scan, Verdict, CHUNK};

/// Names listed in a report's `unrepaired`.
const MAX_LISTED: usize = 100;

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

/// Runs one pass now (after the one running, if any) at `rate`.
pub(crate) async fn run_pass(ctx: &Ctx, rate: u64) -> anyhow::Result<ScrubReport> {
    let _one_at_a_time = ctx.scrub.one_at_a_time().await;
    let started = crate::clock::unix_now();
    let (dir, end, paths, stop) = (
        ctx.binlog.dir().to_path_buf(),
        *ctx.binlog.watch().borrow(),
        ctx.cfg.store_paths.clone(),
        ctx.scrub.stop_flag(),
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
    report.finished = crate::clock::unix_now();
    tracing::info!(
        "scrub pass: {} copies checked ({} bytes), {} missing, {} corrupt, {} repaired, {} not repairable",
        report.checked,
        report.bytes,
        report.missing,
        report.corrupt,
        report.repaired,
        report.unrepaired_count
    );
    ctx.scrub.finished(&report);
    Ok(report)
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
    let stop = ctx.scrub.stop_flag();
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
        let pass = run_pass(&ctx, ctx.cfg.scrub_rate);
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
