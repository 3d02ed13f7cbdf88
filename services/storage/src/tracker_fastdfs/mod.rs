//! Reporting to FastDFS 6.x trackers (`tracker_protocol = "fastdfs"`):
//! fdfs_trackerd, or a ferrodfs tracker with `fastdfs_storages`. One task
//! per `tracker_servers` entry does what storage/tracker_client_thread.c
//! does on each connection: GET_MY_IP, JOIN, SYNC_DEST_REQ until the
//! tracker has told where the initial copy comes from, SYNC_NOTIFY, then
//! a BEAT every `heart_beat_interval`, REPORT_DISK_USAGE when the space
//! moved and SYNC_REPORT when the synced timestamps moved; as the
//! initial-copy source of a new member it reports that member SYNCING
//! and then OFFLINE (REPORT_STATUS) as its push worker starts and
//! finishes the copy, after which the tracker makes it ACTIVE. The leader's
//! answers carry the group's member list, which starts and feeds the
//! push workers like a ferrodfs tracker's BeatReply does.
//!
//! FastDFS trackers prove nothing: a member they list is taken only if
//! its address is inside `fastdfs_peers` (required in this mode), so a
//! forged tracker answer cannot make this storage push files to, or take
//! sync from, an address outside the networks the operator named.
//!
//! The bodies are in `codec`, the decisions in `roster`; this file is
//! the socket loop.

mod codec;
mod roster;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use ferrodfs_proto::cluster::{state, BeatReply, InitState, Member, PathUsage};
use ferrodfs_proto::cmd;
use ferrodfs_proto::io::{call, ProtoError};
use ferrodfs_proto::stat::StorageStats;
use ferrodfs_runtime::net::connect_from;
use ferrodfs_runtime::Shutdown;
use tokio::net::TcpStream;

use self::codec::{Brief, Changes};
use self::roster::{
    copy_reports, join_status, member_of, roster, source_ip, sync_state, synced_entries,
};
use crate::ctx::Ctx;
use crate::sync::Peers;
use crate::tracker::{next_backoff, FIRST_RETRY};

/// What every tracker connection of this storage shares: FastDFS keeps
/// it in globals of the storage process.
#[derive(Default)]
pub(crate) struct Shared {
    known: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    /// The status a tracker last gave this storage (join answers and the
    /// leader's member lists): what the next join says of itself.
    my_status: Option<u8>,
    /// The group's members as the leader last listed them, inside
    /// `fastdfs_peers`, this storage excluded: who SYNC_REPORT covers.
    peers: Vec<Brief>,
    /// Per member IP, who sends it its initial copy (SYNC_SRC_REQ).
    member_init: BTreeMap<String, InitState>,
}

impl Shared {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One connection to a tracker, every exchange bounded by
/// `network_timeout`.
struct Conn {
    stream: TcpStream,
    ctx: Arc<Ctx>,
}

impl Conn {
    async fn call(&mut self, command: u8, body: &[u8], max_reply: u64) -> anyhow::Result<Vec<u8>> {
        let name = name(command);
        tokio::time::timeout(
            self.ctx.cfg.network_timeout,
            call(&mut self.stream, command, body, max_reply),
        )
        .await
        .map_err(|_| ProtoError::Io(std::io::ErrorKind::TimedOut.into()))
        .and_then(|r| r)
        .with_context(|| format!("{name} ({command})"))
    }
}

/// FastDFS's name of a command this module sends, for errors and logs.
fn name(command: u8) -> &'static str {
    match command {
        cmd::STORAGE_GET_MY_IP => "GET_MY_IP",
        cmd::STORAGE_JOIN => "JOIN",
        cmd::STORAGE_SYNC_DEST_REQ => "SYNC_DEST_REQ",
        cmd::STORAGE_SYNC_NOTIFY => "SYNC_NOTIFY",
        cmd::STORAGE_BEAT => "BEAT",
        cmd::STORAGE_REPORT_DISK_USAGE => "REPORT_DISK_USAGE",
        cmd::STORAGE_SYNC_REPORT => "SYNC_REPORT",
        cmd::STORAGE_SYNC_SRC_REQ => "SYNC_SRC_REQ",
        cmd::STORAGE_REPORT_STATUS => "REPORT_STATUS",
        _ => "command",
    }
}

/// What was last sent on this connection, so that only changes are sent.
#[derive(Default)]
struct Sent {
    stats: Option<StorageStats>,
    usage: Option<Vec<PathUsage>>,
    synced: Option<Vec<(String, i64)>>,
    /// (member IP, status) pairs told with REPORT_STATUS.
    copy_reported: BTreeSet<(String, u8)>,
}

/// Connects, joins and reports until the connection fails or shutdown.
/// `Ok` only on shutdown.
async fn session(
    ctx: &Arc<Ctx>,
    shared: &Shared,
    peers: &Peers,
    addr: &str,
    shutdown: &mut Shutdown,
    outage: &mut bool,
) -> anyhow::Result<()> {
    let connect_timeout = ctx.cfg.network_timeout.min(ctx.cfg.heart_beat_interval);
    let stream = tokio::time::timeout(connect_timeout, connect_from(addr, ctx.cfg.source_ip()))
        .await
        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
    let _ = stream.set_nodelay(true);
    let tracker_ip = stream.peer_addr()?.ip().to_string();
    let mut conn = Conn {
        stream,
        ctx: ctx.clone(),
    };
    let group = ctx.cfg.group_name.as_str();
    let me = ctx.cfg.ip.to_string();

    let seen = codec::parse_my_ips(
        &conn
            .call(
                cmd::STORAGE_GET_MY_IP,
                &codec::get_my_ip_body(group, ctx.port),
                codec::MAX_MY_IP_REPLY,
            )
            .await?,
    )?;
    if !seen.contains(&me) {
        anyhow::bail!(
            "the tracker sees this storage as {}, but storage.toml: ip is {me}; FastDFS trackers \
             list a storage under the address it connects from: set bind (or ip) so they agree",
            seen.join(",")
        );
    }

    let init = ctx.repl.init();
    let decided = init.done || init.sync_src.is_some();
    let status = join_status(shared.known().my_status, init.done);
    let join = codec::join_body(&codec::Join {
        group,
        port: ctx.port,
        store_path_count: ctx.cfg.store_paths.len(),
        subdir_count_per_path: ctx.cfg.subdir_count_per_path,
        upload_priority: crate::ctx::UPLOAD_PRIORITY,
        join_time: ctx.join_time,
        up_time: ctx.up_time,
        version: env!("CARGO_PKG_VERSION"),
        needs_sync_source: !decided,
        status,
        current_tracker_ip: &tracker_ip,
        trackers: &ctx.cfg.tracker_servers,
    });
    let joined = codec::parse_join_reply(
        &conn
            .call(cmd::STORAGE_JOIN, &join, (1 + codec::ID_LEN) as u64)
            .await?,
    )?;
    shared.known().my_status = Some(joined.status);

    if !decided {
        // ENOENT: no member holding data is up yet; asked again after a
        // backoff, on a new connection, as FastDFS does.
        let answer = match conn
            .call(
                cmd::STORAGE_SYNC_DEST_REQ,
                &[],
                codec::SYNC_SOURCE_LEN as u64,
            )
            .await
        {
            Err(e) if is_status(&e) => {
                return Err(
                    e.context("the tracker names no member to copy this storage's data from yet")
                )
            }
            r => r?,
        };
        let decision = sync_state(codec::parse_sync_source(&answer)?, |id| id.to_string());
        if ctx.repl.adopt(&decision) {
            match &decision.sync_src {
                Some(src) => tracing::info!("new member of {group}: full copy from {src}"),
                None => tracing::info!("first member of {group}: serving at once"),
            }
            ctx.save_state();
        }
    }
    // An empty source would tell a FastDFS tracker this storage needs no
    // copy: the source it was given is sent again on every connection.
    let init = ctx.repl.init();
    conn.call(
        cmd::STORAGE_SYNC_NOTIFY,
        &codec::sync_notify_body(init.sync_src.as_deref().unwrap_or(""), init.sync_until),
        0,
    )
    .await?;

    ctx.stats.tracker_joined();
    tracing::info!(
        "joined FastDFS tracker {addr}{}: status {}",
        if *outage { " again" } else { "" },
        state::name(joined.status)
    );
    *outage = false;

    let mut sent = Sent::default();
    report_changes(ctx, shared, peers, &mut conn, &mut sent, shutdown).await?;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep(ctx.cfg.heart_beat_interval) => {}
        }
        let mut stats = ctx.stats.snapshot();
        stats.last_heart_beat_time = 0;
        let moved = sent.stats.as_ref() != Some(&stats);
        let reply = conn
            .call(
                cmd::STORAGE_BEAT,
                &codec::beat_body(moved.then_some(&stats)),
                codec::MAX_CHANGES_REPLY,
            )
            .await?;
        ctx.stats.heart_beat_sent();
        if moved {
            sent.stats = Some(stats);
        }
        take_changes(ctx, shared, peers, &mut conn, &reply, shutdown).await?;
        report_changes(ctx, shared, peers, &mut conn, &mut sent, shutdown).await?;
    }
}

/// REPORT_DISK_USAGE when the space moved, SYNC_REPORT when the synced
/// timestamps did (and the leader has listed the members they are for).
async fn report_changes(
    ctx: &Arc<Ctx>,
    shared: &Shared,
    peers: &Peers,
    conn: &mut Conn,
    sent: &mut Sent,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let usage = ctx.store.usage();
    if sent.usage.as_ref() != Some(&usage) {
        let reply = conn
            .call(
                cmd::STORAGE_REPORT_DISK_USAGE,
                &codec::disk_usage_body(&usage),
                codec::MAX_CHANGES_REPLY,
            )
            .await?;
        sent.usage = Some(usage);
        take_changes(ctx, shared, peers, conn, &reply, shutdown).await?;
    }
    let synced = synced_entries(&shared.known().peers, &ctx.repl.synced_until());
    if !synced.is_empty() && sent.synced.as_ref() != Some(&synced) {
        let reply = conn
            .call(
                cmd::STORAGE_SYNC_REPORT,
                &codec::sync_report_body(&synced),
                codec::MAX_CHANGES_REPLY,
            )
            .await?;
        sent.synced = Some(synced);
        take_changes(ctx, shared, peers, conn, &reply, shutdown).await?;
    }
    let reports = {
        let k = shared.known();
        copy_reports(
            &ctx.cfg.ip.to_string(),
            &k.peers,
            &k.member_init,
            &ctx.repl.lag.latest(),
        )
    };
    for member in reports {
        if !sent
            .copy_reported
            .insert((member.ip.clone(), member.status))
        {
            continue;
        }
        let body = codec::report_status_body(&ctx.cfg.group_name, &member);
        match conn.call(cmd::STORAGE_REPORT_STATUS, &body, 0).await {
            Ok(_) => tracing::info!(
                "told the tracker: new member {} is {}",
                member.ip,
                state::name(member.status)
            ),
            // FastDFS's source only logs a refusal too.
            Err(e) if is_status(&e) => {
                tracing::warn!("the tracker refused the state of {}: {e:#}", member.ip)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Takes in a change answer: a new member list updates this storage's
/// status, the members HTTP access and incoming sync check against, and
/// the push workers (each member's initial-copy source asked with
/// SYNC_SRC_REQ, as a FastDFS storage's sync thread asks).
async fn take_changes(
    ctx: &Arc<Ctx>,
    shared: &Shared,
    peers: &Peers,
    conn: &mut Conn,
    reply: &[u8],
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let Changes { members, .. } = codec::parse_changes(reply)?;
    let Some(members) = members else {
        return Ok(());
    };
    let me = ctx.cfg.ip.to_string();
    let peers_net = ctx.cfg.fastdfs_peers.as_ref();
    let r = roster(members, &me, ctx.port, |ip| {
        ip.parse()
            .is_ok_and(|ip| peers_net.is_some_and(|n| n.allows(ip)))
    });
    for ip in &r.refused {
        tracing::warn!(
            "the tracker lists {ip} as a member of {}, outside fastdfs_peers: ignored",
            ctx.cfg.group_name
        );
    }
    let mut member_init = BTreeMap::new();
    for p in &r.peers {
        let body = codec::sync_src_req_body(&ctx.cfg.group_name, &member_of(p).id);
        match conn
            .call(
                cmd::STORAGE_SYNC_SRC_REQ,
                &body,
                codec::SYNC_SOURCE_LEN as u64,
            )
            .await
        {
            Ok(answer) => {
                let init = sync_state(codec::parse_sync_source(&answer)?, |id| {
                    source_ip(&r.peers, id)
                });
                member_init.insert(p.ip.clone(), init);
            }
            // ENOENT: the member is still INIT; its source is asked for
            // again when the next list comes.
            Err(e) if is_status(&e) => {
                tracing::debug!("no initial-copy source yet for {}: {e:#}", p.ip)
            }
            Err(e) => return Err(e),
        }
    }
    let my_status = r.me.as_ref().map(|b| b.status);
    let before = {
        let mut k = shared.known();
        let before = k.my_status;
        if my_status.is_some() {
            k.my_status = my_status;
        }
        k.peers = r.peers.clone();
        k.member_init = member_init.clone();
        before
    };
    if let Some(s) = my_status.filter(|s| Some(*s) != before) {
        tracing::info!(
            "FastDFS tracker: status {} -> {}",
            before.map_or("none", state::name),
            state::name(s)
        );
    }
    // The tracker serving this storage means its initial copy is over.
    if my_status.is_some_and(|s| matches!(s, state::ONLINE | state::ACTIVE))
        && ctx.repl.update_init(|i| i.done = true)
    {
        ctx.save_state();
    }
    let mut listed: Vec<Member> = r.peers.iter().map(member_of).collect();
    listed.extend(r.me.as_ref().map(member_of));
    ctx.set_members(&listed, &r.deleted);
    let reply = BeatReply {
        status: my_status.unwrap_or(state::INIT),
        members: listed,
        member_init,
        leader: true,
        deleted: r.deleted,
        ..BeatReply::default()
    };
    peers.update(ctx, &reply, shutdown);
    Ok(())
}

fn is_status(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<ProtoError>(), Some(ProtoError::Status(_)))
}

/// One FastDFS tracker's reporting loop; ends at shutdown.
pub(crate) async fn report_to(
    ctx: Arc<Ctx>,
    shared: Arc<Shared>,
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
            r = session(&ctx, &shared, &peers, &addr, &mut shutdown, &mut outage) => r,
        };
        match result {
            Ok(()) => return,
            Err(e) if !outage => {
                tracing::warn!("FastDFS tracker {addr}: {e:#}; retrying every {cap:?} at most");
                outage = true;
                backoff = FIRST_RETRY.min(cap);
            }
            Err(e) => tracing::debug!("FastDFS tracker {addr} still failing: {e:#}"),
        }
        tokio::select! {
            _ = stop.wait() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = next_backoff(backoff, cap);
    }
}
