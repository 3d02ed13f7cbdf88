//! Reporting to trackers: one task per `tracker_servers` entry keeps a
//! connection, joins (81) and then beats (83) every `heart_beat_interval`,
//! each time with the current [`StorageReport`] as JSON. Trackers being
//! away never stops the storage from serving; it reconnects with backoff.

use std::sync::Arc;
use std::time::Duration;

use ferrodfs_proto::auth::authenticate;
use ferrodfs_proto::cluster::{state, BeatReply};
use ferrodfs_proto::cmd;
use ferrodfs_proto::io::{call, ProtoError};
use ferrodfs_runtime::net::connect_from;
use ferrodfs_runtime::Shutdown;
use tokio::net::TcpStream;

use crate::ctx::Ctx;
use crate::sync::Peers;

/// Replies larger than this are not a BeatReply.
const MAX_REPLY: u64 = 1 << 20;
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(200);

/// The wait before the next reconnect: doubling from [`FIRST_RETRY`],
/// never longer than the heartbeat interval.
pub(crate) fn next_backoff(current: Duration, cap: Duration) -> Duration {
    (current * 2).min(cap).max(FIRST_RETRY.min(cap))
}

async fn exchange(ctx: &Ctx, stream: &mut TcpStream, command: u8) -> anyhow::Result<BeatReply> {
    let body = serde_json::to_vec(&ctx.report())?;
    let reply = tokio::time::timeout(
        ctx.cfg.network_timeout,
        call(stream, command, &body, MAX_REPLY),
    )
    .await
    .map_err(|_| ProtoError::Io(std::io::ErrorKind::TimedOut.into()))??;
    let reply: BeatReply = serde_json::from_slice(&reply)
        .map_err(|e| ProtoError::BadReply(format!("not a BeatReply: {e}")))?;
    ctx.set_members(&reply.members, &reply.deleted);
    if ctx.store.set_filename_id(reply.filename_id) {
        match reply.filename_id {
            Some(id) => tracing::info!("new file names carry storage id {id} (use_storage_id)"),
            None => tracing::info!("new file names carry this storage's IP"),
        }
    }
    Ok(reply)
}

/// Connects, joins and beats until the connection fails or shutdown.
/// `Ok` only on shutdown.
/// Takes in what a tracker answered: the leader's decision for our
/// initial copy, and the group's members to sync with.
fn take_reply(ctx: &Arc<Ctx>, peers: &Peers, reply: &BeatReply, shutdown: &Shutdown) {
    if let Some(d) = &reply.init {
        if ctx.repl.adopt(d) {
            let i = ctx.repl.init();
            match &i.sync_src {
                Some(src) => {
                    tracing::info!("new member of {}: full copy from {src}", ctx.cfg.group_name)
                }
                None => tracing::info!("first member of {}: serving at once", ctx.cfg.group_name),
            }
            ctx.save_state();
        }
    }
    peers.update(ctx, reply, shutdown);
}

async fn session(
    ctx: &Arc<Ctx>,
    peers: &Peers,
    addr: &str,
    shutdown: &mut Shutdown,
    outage: &mut bool,
) -> anyhow::Result<()> {
    // A connect to a host that is down hangs until ARP gives up; bounding
    // it by the heartbeat keeps a restarted tracker from waiting seconds for
    // this storage to rejoin.
    let connect_timeout = ctx.cfg.network_timeout.min(ctx.cfg.heart_beat_interval);
    let mut stream = tokio::time::timeout(connect_timeout, connect_from(addr, ctx.cfg.source_ip()))
        .await
        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
    let _ = stream.set_nodelay(true);
    tokio::time::timeout(
        ctx.cfg.network_timeout,
        authenticate(&mut stream, &ctx.cfg.cluster_secret),
    )
    .await
    .map_err(|_| anyhow::anyhow!("cluster authentication timed out"))??;
    let joined = exchange(ctx, &mut stream, cmd::STORAGE_JOIN).await?;
    take_reply(ctx, peers, &joined, shutdown);
    ctx.stats.tracker_joined();
    tracing::info!(
        "joined tracker {addr}{}: status {}, {} member(s) in {}",
        if *outage { " again" } else { "" },
        state::name(joined.status),
        joined.members.len(),
        ctx.cfg.group_name
    );
    *outage = false;
    let mut last_status = joined.status;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep(ctx.cfg.heart_beat_interval) => {}
        }
        let reply = exchange(ctx, &mut stream, cmd::STORAGE_BEAT).await?;
        take_reply(ctx, peers, &reply, shutdown);
        ctx.stats.heart_beat_sent();
        if reply.status != last_status {
            tracing::info!(
                "tracker {addr}: status {} -> {}",
                state::name(last_status),
                state::name(reply.status)
            );
            last_status = reply.status;
        }
    }
}

/// One tracker's reporting loop; ends at shutdown.
pub(crate) async fn report_to(
    ctx: Arc<Ctx>,
    peers: Arc<Peers>,
    addr: String,
    mut shutdown: Shutdown,
) {
    let cap = ctx.cfg.heart_beat_interval;
    let mut backoff = FIRST_RETRY.min(cap);
    let mut outage = false;
    let mut stop = shutdown.clone();
    loop {
        let result = tokio::select! {
            _ = stop.wait() => return,
            r = session(&ctx, &peers, &addr, &mut shutdown, &mut outage) => r,
        };
        match result {
            Ok(()) => return,
            Err(e) if !outage => {
                tracing::warn!("tracker {addr} unreachable: {e:#}; retrying every {cap:?} at most");
                outage = true;
                backoff = FIRST_RETRY.min(cap);
            }
            Err(e) => tracing::debug!("tracker {addr} still unreachable: {e:#}"),
        }
        tokio::select! {
            _ = stop.wait() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = next_backoff(backoff, cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_heart_beat_interval() {
        let cap = Duration::from_secs(1);
        let mut b = FIRST_RETRY;
        let mut seen = vec![];
        for _ in 0..5 {
            seen.push(b.as_millis());
            b = next_backoff(b, cap);
        }
        assert_eq!(seen, [200, 400, 800, 1000, 1000]);
        assert_eq!(
            next_backoff(Duration::from_millis(50), Duration::from_millis(100)),
            Duration::from_millis(100)
        );
    }
}
