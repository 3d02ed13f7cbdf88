//! Storage join (81) and heartbeat (83). ferrodfs frames them like FastDFS
//! but carries a JSON `StorageReport`; both answer a JSON `BeatReply`
//! with the storage's state and every member of its group (and, from the
//! leader, the decision on its initial copy). Also DELETE_STORAGE (93).

use ferrodfs_proto::cluster::StorageReport;
use ferrodfs_proto::fields::{get_fixed, GROUP_NAME_LEN, IP_LEN};
use ferrodfs_proto::status;

use super::{Ctx, Reply, Session};
use crate::cluster::ReportError;

fn parse(body: &[u8]) -> Result<StorageReport, Reply> {
    serde_json::from_slice(body).map_err(|e| {
        tracing::warn!("storage report is not valid JSON: {e}");
        Reply::error(status::EINVAL)
    })
}

/// Lets the leader decide the initial copy of the storage that joined on
/// `session` if it is new, then answers.
fn answer(ctx: &mut Ctx, session: u64) -> Reply {
    let Some((group, id)) = ctx.cluster.session_owner(session) else {
        return Reply::error(status::EACCES);
    };
    let is_leader = ctx.peers.is_leader();
    if is_leader {
        let t = ctx.cluster.decide(&group, &id, ctx.now.unix);
        ctx.transitions.extend(t);
    }
    let reply = ctx.cluster.reply(&group, &id, is_leader);
    Reply::ok(serde_json::to_vec(&reply).expect("BeatReply serializes"))
}

/// DELETE_STORAGE: `group(16) + storage id or ip`. Only a storage that is
/// not ACTIVE can go (EBUSY otherwise), as in FastDFS.
pub fn delete(ctx: &mut Ctx, body: &[u8]) -> Reply {
    if body.len() <= GROUP_NAME_LEN || body.len() > GROUP_NAME_LEN + IP_LEN {
        return Reply::error(status::EINVAL);
    }
    let group = get_fixed(&body[..GROUP_NAME_LEN]);
    let ip = get_fixed(&body[GROUP_NAME_LEN..]);
    match ctx.cluster.delete_storage(&group, &ip) {
        Ok(t) => {
            ctx.transitions.push(t);
            Reply::ok(Vec::new())
        }
        Err(st) => Reply::error(st),
    }
}

fn refused(report: &StorageReport, e: ReportError) -> Reply {
    tracing::warn!(group = %report.group, ip = %report.ip, "storage report refused: {e}");
    Reply::error(e.status())
}

/// A storage is who it connects from: a report naming another address
/// is refused (EPERM), so nobody can join, beat or be evicted in another
/// storage's name. FastDFS takes the address from the connection too.
fn check_identity(session: &Session, report: &StorageReport) -> Result<(), Reply> {
    let Some(peer) = session.peer else {
        return Ok(());
    };
    if report.ip.parse::<std::net::IpAddr>() == Ok(peer) {
        return Ok(());
    }
    tracing::warn!(
        group = %report.group,
        "storage report refused: it claims ip {} but connects from {peer} \
         (set the storage's bind or ip to the address it connects from)",
        report.ip
    );
    Err(Reply::error(status::EPERM))
}

pub fn join(ctx: &mut Ctx, session: &mut Session, body: &[u8]) -> Reply {
    let report = match parse(body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    if let Err(reply) = check_identity(session, &report) {
        return reply;
    }
    let (group, ip) = (report.group.clone(), report.ip.clone());
    match ctx.cluster.join(report.clone(), ctx.now) {
        Ok((joined, transition)) => {
            session.storage = Some(joined);
            tracing::info!(%group, %ip, port = report.port, version = %report.version, "storage joined");
            ctx.transitions.extend(transition);
            answer(ctx, joined)
        }
        Err(e) => refused(&report, e),
    }
}

pub fn beat(ctx: &mut Ctx, session: &mut Session, body: &[u8]) -> Reply {
    let Some(id) = session.storage else {
        return Reply::error(status::EACCES);
    };
    let report = match parse(body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    if let Err(reply) = check_identity(session, &report) {
        return reply;
    }
    match ctx.cluster.beat(id, report.clone(), ctx.now) {
        Ok(transition) => {
            ctx.transitions.extend(transition);
            answer(ctx, id)
        }
        Err(e) => refused(&report, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tests::report;
    use crate::cluster::Cluster;
    use crate::config::Config;
    use ferrodfs_proto::cluster::{state, BeatReply};
    use ferrodfs_proto::cmd;

    /// Whether a reply tells the storage it may serve.
    fn is_active(reply: &Reply) -> bool {
        serde_json::from_slice::<BeatReply>(&reply.body).is_ok_and(|b| b.status == state::ACTIVE)
    }

    fn send(c: &mut Cluster, session: &mut Session, command: u8, body: &[u8]) -> Reply {
        let peers = crate::leader::Peers::new(None);
        crate::commands::tests::run_in(c, &Config::default(), &peers, session, command, body)
    }

    #[test]
    fn join_then_beat_on_one_connection_stays_active() {
        let mut c = Cluster::default();
        let mut s = Session::authenticated();
        let json = serde_json::to_vec(&report("group1", "10.0.0.1")).unwrap();
        assert!(is_active(&send(&mut c, &mut s, cmd::STORAGE_JOIN, &json)));
        assert!(is_active(&send(&mut c, &mut s, cmd::STORAGE_BEAT, &json)));
    }

    #[test]
    fn only_a_storage_that_is_not_active_can_be_deleted() {
        let mut c = Cluster::default();
        let mut s = Session::authenticated();
        let json = serde_json::to_vec(&report("group1", "10.0.0.1")).unwrap();
        send(&mut c, &mut s, cmd::STORAGE_JOIN, &json);
        let mut body = Vec::new();
        ferrodfs_proto::fields::put_fixed(&mut body, "group1", 16);
        body.extend_from_slice(b"10.0.0.1");
        let r = send(
            &mut c,
            &mut Session::authenticated(),
            cmd::DELETE_STORAGE,
            &body,
        );
        assert_eq!(r.status, status::EBUSY);
        c.disconnect(s.storage.unwrap());
        let r = send(
            &mut c,
            &mut Session::authenticated(),
            cmd::DELETE_STORAGE,
            &body,
        );
        assert_eq!(r.status, status::OK);
        assert!(c.group("group1").unwrap().storages.is_empty());
        let r = send(
            &mut c,
            &mut Session::authenticated(),
            cmd::DELETE_STORAGE,
            &body,
        );
        assert_eq!(r.status, status::ENOENT);
        let r = send(
            &mut c,
            &mut Session::authenticated(),
            cmd::STORAGE_JOIN,
            &json,
        );
        assert_eq!(r.status, status::EPERM, "it must come back empty");
    }

    #[test]
    fn a_storage_claiming_another_address_than_its_connection_is_refused() {
        let mut c = Cluster::default();
        let json = serde_json::to_vec(&report("group1", "10.0.0.1")).unwrap();
        let mut liar = Session::authenticated();
        liar.peer = Some("10.0.0.66".parse().unwrap());
        let r = send(&mut c, &mut liar, cmd::STORAGE_JOIN, &json);
        assert_eq!(r.status, status::EPERM);
        assert!(c.group("group1").is_none());
        let mut honest = Session::authenticated();
        honest.peer = Some("10.0.0.1".parse().unwrap());
        assert!(is_active(&send(
            &mut c,
            &mut honest,
            cmd::STORAGE_JOIN,
            &json
        )));
    }

    #[test]
    fn beat_before_join_is_eacces() {
        let json = serde_json::to_vec(&report("group1", "10.0.0.1")).unwrap();
        let r = send(
            &mut Cluster::default(),
            &mut Session::authenticated(),
            cmd::STORAGE_BEAT,
            &json,
        );
        assert_eq!(r.status, status::EACCES);
    }

    #[test]
    fn invalid_json_is_einval() {
        let r = send(
            &mut Cluster::default(),
            &mut Session::authenticated(),
            cmd::STORAGE_JOIN,
            b"{nope",
        );
        assert_eq!(r, Reply::error(status::EINVAL));
    }

    #[test]
    fn join_with_a_bad_group_name_is_einval() {
        let json = serde_json::to_vec(&report("group_1", "10.0.0.1")).unwrap();
        let r = send(
            &mut Cluster::default(),
            &mut Session::authenticated(),
            cmd::STORAGE_JOIN,
            &json,
        );
        assert_eq!(r.status, status::EINVAL);
    }
}
