//! What else a FastDFS 6.x storage asks a tracker, on the same
//! `fastdfs_storages`-gated connections as its join: its group's member
//! list in beat answers, who sends a new member its initial copy
//! (SYNC_DEST_REQ / SYNC_DEST_QUERY / SYNC_SRC_REQ / SYNC_NOTIFY and the
//! source's REPORT_STATUS), how far it synced each peer (SYNC_REPORT),
//! and the lookups of tracker/tracker_service.c (GET_SERVER_ID,
//! GET_STATUS, GET_GROUP_NAME, CHANGELOG_REQ). A storage's own claims
//! about other storages are taken only where FastDFS takes them and only
//! about members of its own group.

use std::net::Ipv4Addr;

use ferrodfs_proto::cluster::{state, InitState};
use ferrodfs_proto::fields::{get_fixed, put_fixed, GROUP_NAME_LEN};
use ferrodfs_proto::status;

use super::fastdfs::record;
use super::{Ctx, Reply, Session};
use crate::cluster::Storage;

/// FastDFS's `FDFS_STORAGE_ID_MAX_SIZE`.
const ID_LEN: usize = 16;
/// FastDFS's `IP_ADDRESS_SIZE` (IPv6 width, since 6.x).
const IP_LEN: usize = 46;
/// `FDFSStorageBrief`: status(1) + port(4) + id(16) + ip(46).
pub const BRIEF_LEN: usize = 1 + 4 + ID_LEN + IP_LEN;
/// `TrackerStorageSyncReqBody`: src_id(16) + until_timestamp(8).
const SYNC_BODY_LEN: usize = ID_LEN + 8;
/// `FDFS_MAX_IP_PORT_SIZE`: an IPv6 address and ":port".
const MAX_IP_PORT: usize = IP_LEN + 6;
/// FastDFS's `FDFS_MAX_SERVERS_EACH_GROUP`.
const MAX_SERVERS_EACH_GROUP: usize = 32;
/// FastDFS's `FDFS_CHANGE_FLAG_GROUP_SERVER`.
const GROUP_CHANGED: u8 = 4;
/// Linux ENAMETOOLONG.
const ENAMETOOLONG: u8 = 36;

/// One `FDFSStorageBrief`.
pub fn brief(status: u8, port: u16, id: &str, ip: &str) -> Vec<u8> {
    let mut b = vec![status];
    b.extend_from_slice(&i32::from(port).to_be_bytes());
    put_fixed(&mut b, id, ID_LEN);
    put_fixed(&mut b, ip, IP_LEN);
    b
}

fn brief_of(s: &Storage) -> Vec<u8> {
    brief(s.status, s.report.port, &s.id, &s.report.ip)
}

/// The group's members as FastDFS pushes them (sorted by id, the
/// answering storage included).
fn member_list(ctx: &Ctx, group: &str) -> Vec<u8> {
    ctx.cluster
        .group(group)
        .map(|g| g.storages.values().flat_map(brief_of).collect())
        .unwrap_or_default()
}

/// The answer to BEAT, REPORT_DISK_USAGE and SYNC_REPORT: the change
/// flags, then, from the leader only and only when the list differs from
/// the one this connection was last sent (FastDFS's per-storage
/// `chg_count`), every member of the group; FastDFS storages start a sync
/// thread per member they learn of this way.
pub fn changes(ctx: &Ctx, session: &mut Session, group: &str) -> Reply {
    if !ctx.peers.is_leader() {
        return Reply::ok(vec![0]);
    }
    let list = member_list(ctx, group);
    if session.fastdfs_members_sent.as_ref() == Some(&list) {
        return Reply::ok(vec![0]);
    }
    let mut body = vec![GROUP_CHANGED];
    body.extend_from_slice(&list);
    session.fastdfs_members_sent = Some(list);
    Reply::ok(body)
}

/// (group, id) of the FastDFS storage that joined on this connection;
/// EACCES before its join, as FastDFS's `TRACKER_CHECK_LOGINED`.
fn me(ctx: &Ctx, session: &Session) -> Result<(String, String), u8> {
    session
        .storage
        .filter(|_| session.fastdfs_report.is_some())
        .and_then(|id| ctx.cluster.session_owner(id))
        .ok_or(status::EACCES)
}

/// Where storage `id` of `group` gets its initial copy from: the
/// source's id and the time from which other members push only their new
/// files. `None` once it holds its data, or before anyone decided.
pub fn source_of(ctx: &Ctx, group: &str, id: &str) -> Option<(String, i64)> {
    let g = ctx.cluster.group(group)?;
    let init = g.storages.get(id)?.init();
    if init.done {
        return None;
    }
    let src_ip = init.sync_src?;
    let src = g.storages.values().find(|s| s.report.ip == src_ip)?;
    Some((src.id.clone(), init.sync_until))
}

fn sync_body(src_id: &str, until: i64) -> Vec<u8> {
    let mut b = Vec::with_capacity(SYNC_BODY_LEN);
    put_fixed(&mut b, src_id, ID_LEN);
    b.extend_from_slice(&until.to_be_bytes());
    b
}

/// SYNC_DEST_REQ (87), from a storage that joined with init_flag 1: the
/// leader decides now if it has not yet. Founding member: an empty
/// answer (it serves at once); otherwise the member sending it
/// everything. ENOENT while no member holding data is ACTIVE (or on a
/// tracker that does not lead): the storage asks again a heartbeat later.
pub fn sync_dest_req(ctx: &mut Ctx, session: &Session, body: &[u8]) -> Reply {
    let (group, id) = match me(ctx, session) {
        Ok(m) => m,
        Err(st) => return Reply::error(st),
    };
    if !body.is_empty() {
        return Reply::error(status::EINVAL);
    }
    if ctx.peers.is_leader() {
        let t = ctx.cluster.decide(&group, &id, ctx.now.unix);
        ctx.transitions.extend(t);
    }
    let holds = ctx
        .cluster
        .group(&group)
        .and_then(|g| g.storages.get(&id))
        .is_some_and(|s| s.init().done);
    match source_of(ctx, &group, &id) {
        Some((src, until)) => Reply::ok(sync_body(&src, until)),
        None if holds => Reply::ok(Vec::new()),
        None => Reply::error(status::ENOENT),
    }
}

/// SYNC_DEST_QUERY (79): the asking storage's source, or nothing.
pub fn sync_dest_query(ctx: &Ctx, session: &Session, body: &[u8]) -> Reply {
    let (group, id) = match me(ctx, session) {
        Ok(m) => m,
        Err(st) => return Reply::error(st),
    };
    if !body.is_empty() {
        return Reply::error(status::EINVAL);
    }
    Reply::ok(
        source_of(ctx, &group, &id)
            .map(|(src, until)| sync_body(&src, until))
            .unwrap_or_default(),
    )
}

/// SYNC_SRC_REQ (86): `group(16) + dest_id(16)`, from a member whose
/// sync thread found a new peer: who sends that peer its initial copy
/// (the asker replays its whole binlog if it is itself), or nothing.
/// ENOENT for an unknown group or storage, or one still INIT.
///
/// fdfs_storaged's sync thread asks on a connection of its own, without
/// a join (FastDFS's tracker asks for none): the asker must be a member
/// of the group by the address it connects from (EACCES otherwise).
pub fn sync_src_req(ctx: &Ctx, session: &Session, body: &[u8]) -> Reply {
    if body.len() != GROUP_NAME_LEN + ID_LEN {
        return Reply::error(status::EINVAL);
    }
    let group = get_fixed(&body[..GROUP_NAME_LEN]);
    let dest = get_fixed(&body[GROUP_NAME_LEN..]);
    let Some(g) = ctx.cluster.group(&group) else {
        return Reply::error(status::ENOENT);
    };
    let asker = session.peer.map(|ip| ip.to_string());
    if !asker.is_some_and(|ip| g.storages.values().any(|s| s.report.ip == ip)) {
        return Reply::error(status::EACCES);
    }
    match g.storages.get(&dest) {
        None => Reply::error(status::ENOENT),
        Some(d) if d.status == state::INIT => Reply::error(status::ENOENT),
        Some(_) => {
            let serving = |src: &String| {
                g.storages.get(src).is_some_and(|s| {
                    matches!(s.status, state::OFFLINE | state::ONLINE | state::ACTIVE)
                })
            };
            Reply::ok(
                source_of(ctx, &group, &dest)
                    .filter(|(src, _)| serving(src))
                    .map(|(src, until)| sync_body(&src, until))
                    .unwrap_or_default(),
            )
        }
    }
}

/// SYNC_NOTIFY (88), sent on every connection after the join: the
/// storage tells this tracker the source the leader gave it (an empty id:
/// it had none, it founded its group). A tracker that did not decide
/// learns the decision here; one that knows a source keeps it. ENOENT
/// when the named source is not a member (the storage then asks again).
pub fn sync_notify(ctx: &mut Ctx, session: &Session, body: &[u8]) -> Reply {
    let (group, id) = match me(ctx, session) {
        Ok(m) => m,
        Err(st) => return Reply::error(st),
    };
    if body.len() != SYNC_BODY_LEN {
        return Reply::error(status::EINVAL);
    }
    let src = get_fixed(&body[..ID_LEN]);
    let until = i64::from_be_bytes(body[ID_LEN..].try_into().unwrap_or_default());
    let Some(g) = ctx.cluster.group(&group) else {
        return Reply::error(status::ENOENT);
    };
    let Some(init) = g.storages.get(&id).map(Storage::init) else {
        return Reply::error(status::ENOENT);
    };
    if init.done || init.sync_src.is_some() {
        return Reply::ok(Vec::new());
    }
    let decision = if src.is_empty() {
        InitState::holding()
    } else {
        match g.storages.get(&src).filter(|s| s.id != id) {
            Some(s) => InitState {
                done: false,
                sync_src: Some(s.report.ip.clone()),
                sync_until: until,
                receiving: false,
            },
            None => return Reply::error(status::ENOENT),
        }
    };
    let t = ctx.cluster.set_decision(
        &group,
        &id,
        decision,
        "initial copy source told by the storage",
    );
    ctx.transitions.extend(t);
    Reply::ok(Vec::new())
}

/// REPORT_STATUS (76): `group(16) + brief`, a source telling the state
/// of the member it copies to: SYNCING when the copy starts, OFFLINE (or
/// better) when it is complete. Taken only from that member's own
/// source, about a member of the reporter's group; anything else is
/// ignored (a FastDFS source only logs a refusal).
pub fn report_status(ctx: &mut Ctx, session: &Session, body: &[u8]) -> Reply {
    let (my_group, my_id) = match me(ctx, session) {
        Ok(m) => m,
        Err(st) => return Reply::error(st),
    };
    if body.len() != GROUP_NAME_LEN + BRIEF_LEN {
        return Reply::error(status::EINVAL);
    }
    let group = get_fixed(&body[..GROUP_NAME_LEN]);
    if ctx.cluster.group(&group).is_none() {
        return Reply::error(status::ENOENT);
    }
    let b = &body[GROUP_NAME_LEN..];
    let reported = b[0];
    let dest = get_fixed(&b[5..5 + ID_LEN]);
    let from_its_source =
        group == my_group && source_of(ctx, &group, &dest).is_some_and(|(src, _)| src == my_id);
    if !from_its_source {
        tracing::warn!(%group, %dest, reporter = %my_id, "FastDFS REPORT_STATUS ignored: the reporter is not the storage's initial-copy source");
        return Reply::ok(Vec::new());
    }
    let Some(mut d) = ctx
        .cluster
        .group(&group)
        .and_then(|g| g.storages.get(&dest))
        .map(Storage::init)
    else {
        return Reply::ok(Vec::new());
    };
    let reason = match reported {
        state::SYNCING => {
            d.receiving = true;
            "initial copy started, reported by its source"
        }
        state::OFFLINE | state::ONLINE | state::ACTIVE => {
            d = InitState::holding();
            "initial copy finished, reported by its source"
        }
        _ => return Reply::ok(Vec::new()),
    };
    let t = ctx.cluster.set_decision(&group, &dest, d, reason);
    ctx.transitions.extend(t);
    Reply::ok(Vec::new())
}

/// SYNC_REPORT (89): `(source id(16) + synced-up-to(4))` per peer, from
/// the destination. Entries naming an ACTIVE member of its group other
/// than itself become its `synced_until` for that source, which download
/// routing reads (see [`crate::download::holds`]); the others are
/// skipped, as FastDFS skips them.
pub fn sync_report(ctx: &mut Ctx, session: &mut Session, body: &[u8]) -> Reply {
    let (group, id) = match me(ctx, session) {
        Ok(m) => m,
        Err(st) => return Reply::error(st),
    };
    if body.is_empty() || !body.len().is_multiple_of(ID_LEN + 4) {
        return Reply::error(status::EINVAL);
    }
    let Some(mut report) = session.fastdfs_report.clone() else {
        return Reply::error(status::EACCES);
    };
    let g = ctx.cluster.group(&group);
    for entry in body.chunks_exact(ID_LEN + 4) {
        let ts = i32::from_be_bytes(entry[ID_LEN..].try_into().unwrap_or_default());
        let src = get_fixed(&entry[..ID_LEN]);
        let active_peer = g
            .and_then(|g| g.storages.get(&src))
            .is_some_and(|s| s.is_active() && s.id != id);
        if ts > 0 && active_peer {
            report.synced_until.insert(src, i64::from(ts));
        }
    }
    record(ctx, session, report)
}

/// CHANGELOG_REQ (77): the storages whose IP changed since this storage
/// last asked. ferrodfs trackers never move a storage to a new address
/// (`storage_ip_changed_auto_adjust=0` in PARAMETER_REQ), so the log is
/// always empty; the request is checked as FastDFS checks it.
pub fn changelog_req(ctx: &Ctx, session: &Session, body: &[u8]) -> Reply {
    if me(ctx, session).is_ok() {
        return match body.is_empty() {
            true => Reply::ok(Vec::new()),
            false => Reply::error(status::EINVAL),
        };
    }
    if body.len() != GROUP_NAME_LEN + ID_LEN {
        return Reply::error(status::EINVAL);
    }
    let known = ctx
        .cluster
        .group(&get_fixed(&body[..GROUP_NAME_LEN]))
        .is_some_and(|g| g.storages.contains_key(&get_fixed(&body[GROUP_NAME_LEN..])));
    match known {
        true => Reply::ok(Vec::new()),
        false => Reply::error(status::ENOENT),
    }
}

/// `group(16) + "ip:port"`, the body of GET_SERVER_ID and GET_STATUS.
fn group_ip_port(body: &[u8]) -> Result<(String, Ipv4Addr, u16), u8> {
    if body.len() <= GROUP_NAME_LEN || body.len() > GROUP_NAME_LEN + MAX_IP_PORT {
        return Err(status::EINVAL);
    }
    let group = get_fixed(&body[..GROUP_NAME_LEN]);
    let text = std::str::from_utf8(&body[GROUP_NAME_LEN..]).map_err(|_| status::EINVAL)?;
    let (ip, port) = text
        .trim_end_matches('\0')
        .rsplit_once(':')
        .ok_or(status::EINVAL)?;
    let ip = ip.parse().map_err(|_| status::EINVAL)?;
    let port = port.parse().map_err(|_| status::EINVAL)?;
    Ok((group, ip, port))
}

/// GET_SERVER_ID (70): the storage id of `ip:port` in `group`: its
/// storage_ids.conf id with `use_storage_id` (ENOENT if unlisted there),
/// otherwise the IP itself.
pub fn get_server_id(ctx: &Ctx, body: &[u8]) -> Reply {
    let (group, ip, port) = match group_ip_port(body) {
        Ok(x) => x,
        Err(st) => return Reply::error(st),
    };
    match ctx.cluster.storage_ids() {
        None => Reply::ok(ip.to_string().into_bytes()),
        Some(ids) => match ids.by_addr(ip, port).filter(|e| e.group == group) {
            Some(e) => Reply::ok(e.id.to_string().into_bytes()),
            None => Reply::error(status::ENOENT),
        },
    }
}

/// GET_STATUS (71): the brief of the member at `ip:port` of `group`.
pub fn get_status(ctx: &Ctx, body: &[u8]) -> Reply {
    let (group, ip, port) = match group_ip_port(body) {
        Ok(x) => x,
        Err(st) => return Reply::error(st),
    };
    let ip = ip.to_string();
    ctx.cluster
        .group(&group)
        .and_then(|g| {
            g.storages
                .values()
                .find(|s| s.report.ip == ip && s.report.port == port)
        })
        .map_or(Reply::error(status::ENOENT), |s| Reply::ok(brief_of(s)))
}

/// GET_GROUP_NAME (109): `port(4)` (the asker's own address) or
/// `ip + port(4)`; the group storage_ids.conf gives that address.
/// EOPNOTSUPP without `use_storage_id`, as FastDFS.
pub fn get_group_name(ctx: &Ctx, session: &Session, body: &[u8]) -> Reply {
    let Some(ids) = ctx.cluster.storage_ids() else {
        return Reply::error(status::EOPNOTSUPP);
    };
    if body.len() < 4 {
        return Reply::error(status::EINVAL);
    }
    let (ip, port) = body.split_at(body.len() - 4);
    if ip.len() >= IP_LEN {
        return Reply::error(ENAMETOOLONG);
    }
    let ip = if ip.is_empty() {
        session.peer.map(|p| p.to_string()).unwrap_or_default()
    } else {
        get_fixed(ip)
    };
    let port = u32::from_be_bytes(port.try_into().unwrap_or_default());
    let found = ip
        .parse()
        .ok()
        .zip(u16::try_from(port).ok())
        .and_then(|(ip, port)| ids.by_addr(ip, port));
    match found {
        Some(e) => {
            let mut out = Vec::new();
            put_fixed(&mut out, &e.group, GROUP_NAME_LEN);
            Reply::ok(out)
        }
        None => Reply::error(status::ENOENT),
    }
}

/// CHANGE_STATUS (59): one status byte, sent by a storage recovering a
/// disk. No change between available states is accepted as FastDFS does;
/// ferrodfs trackers take a storage's state from its reports and do not
/// run FastDFS's disk recovery, so any other change is EOPNOTSUPP.
pub fn change_status(ctx: &Ctx, session: &Session, body: &[u8]) -> Reply {
    let (group, id) = match me(ctx, session) {
        Ok(m) => m,
        Err(st) => return Reply::error(st),
    };
    let [new] = body else {
        return Reply::error(status::EINVAL);
    };
    let available = |s: u8| matches!(s, state::OFFLINE | state::ONLINE | state::ACTIVE);
    let old = ctx
        .cluster
        .group(&group)
        .and_then(|g| g.storages.get(&id))
        .map_or(state::OFFLINE, |s| s.status);
    if old == *new || (available(old) && available(*new)) {
        Reply::ok(Vec::new())
    } else {
        tracing::warn!(%group, %id, old, new, "FastDFS storage asked to change its status (disk recovery), which ferrodfs trackers do not do");
        Reply::error(status::EOPNOTSUPP)
    }
}

/// REPLICA_CHG (85): a storage relaying a member list it got from
/// another tracker. FastDFS's leader ignores it; ferrodfs trackers take
/// members only from their own joins, so every tracker does.
pub fn replica_chg(ctx: &Ctx, session: &Session, body: &[u8]) -> Reply {
    if let Err(st) = me(ctx, session) {
        return Reply::error(st);
    }
    let count = body.len() / BRIEF_LEN;
    if body.is_empty() || !body.len().is_multiple_of(BRIEF_LEN) || count > MAX_SERVERS_EACH_GROUP {
        return Reply::error(status::EINVAL);
    }
    Reply::ok(Vec::new())
}

/// REPORT_IP_CHANGED (78): `group(16) + old_ip(46) + new_ip(46)`.
/// EOPNOTSUPP: with `use_storage_id` as FastDFS; without it because
/// ferrodfs trackers do not rename a storage (the storage keeps its old
/// identity only if it rejoins from its old address).
pub fn report_ip_changed(ctx: &Ctx, body: &[u8]) -> Reply {
    if ctx.cluster.storage_ids().is_none() && body.len() != GROUP_NAME_LEN + 2 * IP_LEN {
        return Reply::error(status::EINVAL);
    }
    Reply::error(status::EOPNOTSUPP)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::cluster::tests::{at, report};
    use crate::cluster::Cluster;
    use crate::commands::tests::run_in;
    use crate::config::Config;
    use crate::leader::Peers;
    use ferrodfs_proto::cmd;

    #[test]
    fn sync_notify_gives_an_undecided_fastdfs_member_the_source_it_names() {
        let mut c = Cluster::default();
        let t0 = Instant::now();
        c.join(report("group1", "10.0.0.1"), at(t0, 0)).unwrap();
        c.expire(t0 + Duration::from_secs(10), Duration::from_secs(1));
        let (cfg, peers) = (Config::default(), Peers::new(None));
        let mut s = Session::new(Some("10.0.0.2".parse().unwrap()));
        s.fastdfs = true;
        let mut join = crate::commands::fastdfs::tests::join_fixture();
        join[73] = 1; // init_flag: not past SYNC_DEST_REQ
        join[74] = state::INIT;
        let mut run = |command, body: &[u8]| run_in(&mut c, &cfg, &peers, &mut s, command, body);
        let joined = run(cmd::STORAGE_JOIN, &join);
        assert_eq!(
            joined.body[0],
            state::INIT,
            "undecided: the only holder is down"
        );
        assert_eq!(
            run(cmd::STORAGE_SYNC_DEST_REQ, &[]),
            Reply::error(status::ENOENT),
            "no ACTIVE member to copy from yet"
        );
        assert_eq!(
            run(cmd::STORAGE_SYNC_NOTIFY, &sync_body("10.0.0.9", 5)),
            Reply::error(status::ENOENT),
            "a source that is no member"
        );
        assert_eq!(
            run(cmd::STORAGE_SYNC_NOTIFY, &sync_body("10.0.0.1", 123)),
            Reply::ok(Vec::new())
        );
        assert_eq!(
            run(cmd::STORAGE_SYNC_DEST_QUERY, &[]),
            Reply::ok(sync_body("10.0.0.1", 123))
        );
        assert_eq!(
            c.group("group1").unwrap().storages["10.0.0.2"].status,
            state::WAIT_SYNC
        );
    }

    #[test]
    fn sync_commands_before_a_join_are_eacces() {
        let mut c = Cluster::default();
        let (cfg, peers) = (Config::default(), Peers::new(None));
        let mut s = Session::new(Some("10.0.0.2".parse().unwrap()));
        s.fastdfs = true;
        for command in [
            cmd::STORAGE_SYNC_REPORT,
            cmd::STORAGE_SYNC_DEST_REQ,
            cmd::STORAGE_SYNC_DEST_QUERY,
            cmd::STORAGE_SYNC_NOTIFY,
            cmd::STORAGE_REPORT_STATUS,
        ] {
            let r = run_in(&mut c, &cfg, &peers, &mut s, command, &[0; 24]);
            assert_eq!(r, Reply::error(status::EACCES), "{command}");
        }
        // SYNC_SRC_REQ needs no join, only an asker that is a member.
        c.join(
            crate::cluster::tests::report("group1", "10.0.0.1"),
            crate::cluster::tests::at(std::time::Instant::now(), 0),
        )
        .unwrap();
        let mut body = b"group1".to_vec();
        body.resize(16, 0);
        body.extend_from_slice(b"10.0.0.1\0\0\0\0\0\0\0\0");
        let r = run_in(
            &mut c,
            &cfg,
            &peers,
            &mut s,
            cmd::STORAGE_SYNC_SRC_REQ,
            &body,
        );
        assert_eq!(r, Reply::error(status::EACCES), "from a non-member");
        let mut member = Session::new(Some("10.0.0.1".parse().unwrap()));
        member.fastdfs = true;
        let r = run_in(
            &mut c,
            &cfg,
            &peers,
            &mut member,
            cmd::STORAGE_SYNC_SRC_REQ,
            &body,
        );
        assert_eq!(r, Reply::ok(Vec::new()), "from a member: no source to name");
    }

    #[test]
    fn a_storage_brief_is_status_port_id_ip_in_67_bytes() {
        let b = brief(state::ACTIVE, 23000, "10.0.0.5", "10.0.0.5");
        assert_eq!(b.len(), BRIEF_LEN);
        assert_eq!(BRIEF_LEN, 67, "sizeof(FDFSStorageBrief)");
        assert_eq!(b[0], 7);
        assert_eq!(&b[1..5], &23000i32.to_be_bytes());
        assert_eq!(&b[5..13], b"10.0.0.5");
        assert!(b[13..21].iter().all(|&c| c == 0), "id padded to 16");
        assert_eq!(&b[21..29], b"10.0.0.5");
        assert!(b[29..].iter().all(|&c| c == 0), "ip padded to 46");
    }

    #[test]
    fn a_sync_answer_is_the_source_id_then_an_8_byte_timestamp() {
        let b = sync_body("10.0.0.1", 1_700_000_000);
        assert_eq!(b.len(), 24);
        assert_eq!(&b[..8], b"10.0.0.1");
        assert_eq!(&b[16..], &1_700_000_000i64.to_be_bytes());
    }

    #[test]
    fn get_server_id_and_get_status_take_group_then_ip_colon_port() {
        let mut b = Vec::new();
        put_fixed(&mut b, "group1", 16);
        b.extend_from_slice(b"10.0.0.5:23000");
        assert_eq!(
            group_ip_port(&b),
            Ok(("group1".into(), "10.0.0.5".parse().unwrap(), 23000))
        );
        assert_eq!(group_ip_port(&b[..16]), Err(status::EINVAL));
        let mut long = b.clone();
        long.resize(16 + MAX_IP_PORT + 1, b'1');
        assert_eq!(group_ip_port(&long), Err(status::EINVAL));
        let mut no_port = Vec::new();
        put_fixed(&mut no_port, "group1", 16);
        no_port.extend_from_slice(b"10.0.0.5");
        assert_eq!(group_ip_port(&no_port), Err(status::EINVAL));
    }
}
