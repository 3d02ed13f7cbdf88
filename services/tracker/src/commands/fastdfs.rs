//! FastDFS 6.x storages on a ferrodfs tracker (off unless
//! `fastdfs_storages` lists their networks): their binary join (81),
//! heartbeat (83), disk usage report (84) and get-my-IP (60), as
//! tracker/tracker_service.c reads them. FastDFS has no cluster secret,
//! so these commands are trusted by address alone; ferrodfs storages keep
//! their authenticated JSON join.

use ferrodfs_proto::cluster::{state, InitState, PathUsage, StorageReport};
use ferrodfs_proto::fields::{get_fixed, put_fixed, validate_group, Reader, GROUP_NAME_LEN};
use ferrodfs_proto::stat::StorageStats;
use ferrodfs_proto::status;

use super::{Ctx, Reply, Session};

/// `TrackerStorageJoinBody` (6.11+): group(17), port, store_path_count,
/// subdir_count_per_path, upload_priority, join_time, up_time (8 each),
/// version(8), init_flag(1), status(1), storage_id(16),
/// current_tracker_ip(46), tracker_count(8); then one
/// `host[,host2]:port\n` line per tracker.
pub const JOIN_BODY_LEN: usize = 17 + 6 * 8 + 8 + 1 + 1 + 16 + 46 + 8;
/// FastDFS's `FDFS_MAX_TRACKERS`.
const MAX_TRACKERS: i64 = 16;
/// Longest tracker line FastDFS accepts (`FDFS_MAX_MULTI_IP_PORT_SIZE`).
const MAX_TRACKER_LINE: usize = 2 * 46 + 8;
/// `FDFSGetMyIPReqBody`: group(17) + port(4).
const GET_MY_IP_BODY_LEN: usize = 17 + 4;

/// What a FastDFS storage says when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub group: String,
    pub port: u16,
    pub store_path_count: usize,
    pub subdir_count_per_path: u32,
    pub upload_priority: i64,
    pub join_time: i64,
    pub up_time: i64,
    pub version: String,
    /// 1 until the storage was told where its initial copy comes from
    /// (SYNC_DEST_REQ answered).
    pub init_flag: u8,
    /// The storage's last known status of itself (INIT, or 0xFF when it
    /// knows none).
    pub status: u8,
    pub trackers: Vec<String>,
}

/// Parses and checks a join body the way FastDFS's tracker does; the
/// error is the status FastDFS answers.
pub fn parse_join(body: &[u8]) -> Result<Join, u8> {
    if body.len() < JOIN_BODY_LEN {
        return Err(status::EINVAL);
    }
    let mut r = Reader::new(body);
    let bad = |_| status::EINVAL;
    let group = get_fixed(r.take(GROUP_NAME_LEN + 1).map_err(bad)?);
    validate_group(&group).map_err(|_| status::EINVAL)?;
    let port = r.i64().map_err(bad)?;
    let store_path_count = r.i64().map_err(bad)?;
    let subdir_count_per_path = r.i64().map_err(bad)?;
    let upload_priority = r.i64().map_err(bad)?;
    let join_time = r.i64().map_err(bad)?;
    let up_time = r.i64().map_err(bad)?;
    let version = r.fixed(8).map_err(bad)?;
    let init_flag = r.u8().map_err(bad)?;
    let status = r.u8().map_err(bad)?;
    let _storage_id = r.take(16).map_err(bad)?;
    let _current_tracker_ip = r.take(46).map_err(bad)?;
    let tracker_count = r.i64().map_err(bad)?;
    if !(1..=MAX_TRACKERS).contains(&tracker_count) {
        return Err(status::EINVAL);
    }
    let rest = &body[JOIN_BODY_LEN..];
    if rest.len() > tracker_count as usize * MAX_TRACKER_LINE {
        return Err(status::EINVAL);
    }
    if !(1..=65535).contains(&port)
        || !(1..=256).contains(&store_path_count)
        || !(1..=256).contains(&subdir_count_per_path)
    {
        return Err(status::EINVAL);
    }
    let text = std::str::from_utf8(rest).map_err(|_| status::EINVAL)?;
    let mut lines = text.split('\n');
    let mut trackers = Vec::new();
    for _ in 0..tracker_count {
        let line = lines.next().ok_or(status::EINVAL)?;
        if !line.contains(':') {
            return Err(status::EINVAL);
        }
        trackers.push(line.to_string());
    }
    if lines.next().is_none() {
        // The last line had no '\n'.
        return Err(status::EINVAL);
    }
    Ok(Join {
        group,
        port: port as u16,
        store_path_count: store_path_count as usize,
        subdir_count_per_path: subdir_count_per_path as u32,
        upload_priority,
        join_time,
        up_time,
        version,
        init_flag,
        status,
        trackers,
    })
}

impl Join {
    /// The report ferrodfs's cluster view keeps, the storage being who
    /// it connects from (FastDFS takes the address from the socket too).
    /// Disk usage is unknown until its first REPORT_DISK_USAGE.
    ///
    /// A storage past its SYNC_DEST_REQ holds its data unless it knows
    /// itself to be still waiting for or receiving its initial copy; one
    /// before it waits for the leader's decision (founding member, or
    /// which member sends it everything), which its source's
    /// REPORT_STATUS or its SYNC_NOTIFY then complete.
    pub fn report(&self, ip: &str) -> StorageReport {
        let copying = matches!(self.status, state::WAIT_SYNC | state::SYNCING);
        let init = (self.init_flag != 0 || copying).then(InitState::default);
        StorageReport {
            group: self.group.clone(),
            ip: ip.to_string(),
            port: self.port,
            version: self.version.clone(),
            join_time: self.join_time,
            up_time: self.up_time,
            store_paths: vec![PathUsage::default(); self.store_path_count],
            subdir_count_per_path: self.subdir_count_per_path,
            upload_priority: self.upload_priority,
            trackers: self.trackers.clone(),
            init,
            ..StorageReport::default()
        }
    }
}

/// `TrackerStorageJoinBodyResp`: my_status(1) + src_id(16).
pub fn join_reply(my_status: u8, src_id: &str) -> Vec<u8> {
    let mut out = vec![my_status];
    put_fixed(&mut out, src_id, 16);
    out
}

pub fn join(ctx: &mut Ctx, session: &mut Session, body: &[u8]) -> Reply {
    let Some(peer) = session.peer else {
        return Reply::error(status::EPERM);
    };
    let joined = match parse_join(body) {
        Ok(j) => j,
        Err(st) => {
            tracing::warn!("FastDFS storage join from {peer} refused: malformed body");
            return Reply::error(st);
        }
    };
    let report = joined.report(&peer.to_string());
    match ctx.cluster.join_fastdfs(report.clone(), ctx.now) {
        Ok((id, transition)) => {
            session.storage = Some(id);
            ctx.transitions.extend(transition);
            tracing::info!(group = %joined.group, ip = %peer, port = joined.port, version = %joined.version, "FastDFS storage joined");
            let is_leader = ctx.peers.is_leader();
            let me = ctx
                .cluster
                .resolve(&report.group, &report.ip)
                .unwrap_or_else(|| report.ip.clone());
            if is_leader {
                let t = ctx.cluster.decide(&report.group, &me, ctx.now.unix);
                ctx.transitions.extend(t);
            }
            let state = ctx.cluster.reply(&report.group, &me, is_leader);
            let src = crate::commands::fastdfs_sync::source_of(ctx, &report.group, &me)
                .map(|(id, _)| id)
                .unwrap_or_default();
            session.fastdfs_report = Some(report);
            Reply::ok(join_reply(state.status, &src))
        }
        Err(e) => {
            tracing::warn!(group = %joined.group, ip = %peer, "FastDFS storage join refused: {e}");
            Reply::error(e.status())
        }
    }
}

/// Records `report` as the joined storage's newest and answers with
/// what changed since this connection last heard (see
/// [`fastdfs_sync::changes`](crate::commands::fastdfs_sync::changes)).
pub(crate) fn record(ctx: &mut Ctx, session: &mut Session, report: StorageReport) -> Reply {
    let Some(id) = session.storage else {
        return Reply::error(status::EINVAL);
    };
    match ctx.cluster.beat(id, report.clone(), ctx.now) {
        Ok(transition) => {
            ctx.transitions.extend(transition);
            if ctx.peers.is_leader() {
                if let Some((group, me)) = ctx.cluster.session_owner(id) {
                    let t = ctx.cluster.decide(&group, &me, ctx.now.unix);
                    ctx.transitions.extend(t);
                }
            }
            let reply = crate::commands::fastdfs_sync::changes(ctx, session, &report.group);
            session.fastdfs_report = Some(report);
            reply
        }
        Err(e) => Reply::error(e.status()),
    }
}

/// BEAT: an empty body, or the 348-byte `FDFSStorageStatBuff`.
pub fn beat(ctx: &mut Ctx, session: &mut Session, body: &[u8]) -> Reply {
    let Some(mut report) = session.fastdfs_report.clone() else {
        return Reply::error(status::EINVAL);
    };
    match body.len() {
        0 => {}
        StorageStats::LEN => match StorageStats::decode_block(body) {
            Ok(stats) => report.stats = stats,
            Err(_) => return Reply::error(status::EINVAL),
        },
        _ => return Reply::error(status::EINVAL),
    }
    record(ctx, session, report)
}

/// REPORT_DISK_USAGE: `total_mb(8) + free_mb(8)` per store path, exactly
/// as many as the join announced.
pub fn disk_usage(ctx: &mut Ctx, session: &mut Session, body: &[u8]) -> Reply {
    let Some(mut report) = session.fastdfs_report.clone() else {
        return Reply::error(status::EINVAL);
    };
    if body.len() != 16 * report.store_paths.len() {
        return Reply::error(status::EINVAL);
    }
    let mut r = Reader::new(body);
    for p in report.store_paths.iter_mut() {
        match (r.i64(), r.i64()) {
            (Ok(total_mb), Ok(free_mb)) => *p = PathUsage { total_mb, free_mb },
            _ => return Reply::error(status::EINVAL),
        }
    }
    record(ctx, session, report)
}

/// GET_MY_IP: `group(17) + port(4)`; the answer is the address the
/// storage connects from, as text.
pub fn get_my_ip(session: &Session, body: &[u8]) -> Reply {
    match (body.len(), session.peer) {
        (GET_MY_IP_BODY_LEN, Some(peer)) => Reply::ok(peer.to_string().into_bytes()),
        _ => Reply::error(status::EINVAL),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A join body as FastDFS 6.16's storage packs it: group1, port
    /// 23000, 2 store paths, 256 subdirs, priority 10, joined at
    /// 1_700_000_000, up since 1_700_000_100, version "6.16", init done,
    /// status ACTIVE (7), no storage id, current tracker 10.0.0.1, two
    /// trackers.
    pub(crate) fn join_fixture() -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, "group1", 17);
        for v in [23000i64, 2, 256, 10, 1_700_000_000, 1_700_000_100] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        put_fixed(&mut b, "6.16", 8);
        b.push(0);
        b.push(7);
        put_fixed(&mut b, "", 16);
        put_fixed(&mut b, "10.0.0.1", 46);
        b.extend_from_slice(&2i64.to_be_bytes());
        b.extend_from_slice(b"10.0.0.1:22122\n10.0.0.2:22122\n");
        b
    }

    #[test]
    fn a_fastdfs_6_join_body_is_read_field_by_field() {
        let b = join_fixture();
        assert_eq!(b.len(), JOIN_BODY_LEN + 30);
        assert_eq!(
            JOIN_BODY_LEN, 145,
            "sizeof(TrackerStorageJoinBody) with 46-byte IPs"
        );
        assert_eq!(
            &b[17..25],
            &23000i64.to_be_bytes(),
            "port right after the 17-byte group"
        );
        assert_eq!(&b[65..73], b"6.16\0\0\0\0", "version at offset 65");
        assert_eq!(b[73], 0, "init_flag");
        assert_eq!(b[74], 7, "status");
        let j = parse_join(&b).unwrap();
        assert_eq!(
            j,
            Join {
                group: "group1".into(),
                port: 23000,
                store_path_count: 2,
                subdir_count_per_path: 256,
                upload_priority: 10,
                join_time: 1_700_000_000,
                up_time: 1_700_000_100,
                version: "6.16".into(),
                init_flag: 0,
                status: 7,
                trackers: vec!["10.0.0.1:22122".into(), "10.0.0.2:22122".into()],
            }
        );
        let r = j.report("10.0.0.11");
        assert_eq!(
            (r.ip.as_str(), r.port, r.store_paths.len()),
            ("10.0.0.11", 23000, 2)
        );
    }

    #[test]
    fn a_join_fastdfs_would_refuse_is_einval() {
        let good = join_fixture();
        let mut cases: Vec<Vec<u8>> = vec![good[..JOIN_BODY_LEN - 1].to_vec()];
        let mut bad_group = good.clone();
        bad_group[..17].copy_from_slice(b"g/1\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        cases.push(bad_group);
        for (at, v) in [(17, 0i64), (25, 0), (25, 257), (33, 0), (137, 0), (137, 17)] {
            let mut b = good.clone();
            b[at..at + 8].copy_from_slice(&v.to_be_bytes());
            cases.push(b);
        }
        let mut no_newline = good.clone();
        no_newline.pop();
        cases.push(no_newline);
        for (i, b) in cases.iter().enumerate() {
            assert_eq!(parse_join(b), Err(status::EINVAL), "case {i}");
        }
    }

    #[test]
    fn the_join_reply_is_status_then_a_16_byte_source_id() {
        let r = join_reply(7, "");
        assert_eq!(r.len(), 17);
        assert_eq!(r[0], 7);
        assert!(r[1..].iter().all(|&b| b == 0));
    }
}
