//! One file per command group: each parses its request body, applies it
//! to the cluster view and encodes the reply. No sockets here, so every
//! answer (including every error status) is unit-testable.

mod fastdfs;
mod fastdfs_sync;
mod fetch;
mod group;
pub(crate) mod list;
mod monitor;
mod params;
mod storage;
mod store;

use std::net::IpAddr;

use ferrodfs_proto::auth::ServerAuth;
use ferrodfs_proto::cluster::StorageReport;
use ferrodfs_proto::{cmd, status};

use crate::cluster::{Cluster, Now, Transition};
use crate::config::Config;
use crate::leader::Peers;

/// What the tracker sends back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u8,
    /// Empty on errors: FastDFS clients never read a body after a non-zero status.
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: status::OK,
            body,
        }
    }

    pub fn error(st: u8) -> Reply {
        Reply {
            status: st,
            body: Vec::new(),
        }
    }
}

impl From<Result<Vec<u8>, u8>> for Reply {
    fn from(r: Result<Vec<u8>, u8>) -> Reply {
        match r {
            Ok(body) => Reply::ok(body),
            Err(st) => Reply::error(st),
        }
    }
}

/// Per-connection state: where it comes from, whether it proved the
/// cluster secret, and the join a storage made on it.
#[derive(Debug)]
pub struct Session {
    pub storage: Option<u64>,
    /// The connection's remote address: a storage's identity is checked
    /// against it, never taken from what its report claims.
    pub peer: Option<IpAddr>,
    pub auth: ServerAuth,
    /// The peer is in `fastdfs_storages`: a FastDFS storage may join and
    /// report on this connection without the cluster secret.
    pub fastdfs: bool,
    /// A FastDFS storage's latest report: its beats and disk usage
    /// reports each carry only part of it.
    pub fastdfs_report: Option<StorageReport>,
    /// The group member list last sent to that FastDFS storage in a beat
    /// answer: it is sent again only when it changed.
    pub fastdfs_members_sent: Option<Vec<u8>>,
}

impl Session {
    pub fn new(peer: Option<IpAddr>) -> Session {
        Session {
            storage: None,
            peer,
            auth: ServerAuth::default(),
            fastdfs: false,
            fastdfs_report: None,
            fastdfs_members_sent: None,
        }
    }

    /// A session that already authenticated, from nowhere in particular.
    #[cfg(test)]
    pub fn authenticated() -> Session {
        Session {
            auth: ServerAuth::Done,
            ..Session::new(None)
        }
    }

    /// Where the connection comes from, for log lines.
    pub fn from(&self) -> String {
        self.peer.map_or_else(|| "?".into(), |p| p.to_string())
    }
}

/// Commands only an authenticated connection may send: storages joining
/// and reporting, and cluster administration.
fn is_internal(command: u8) -> bool {
    matches!(
        command,
        cmd::STORAGE_JOIN | cmd::STORAGE_BEAT | cmd::DELETE_STORAGE | cmd::DELETE_GROUP
    )
}

/// What a request did, for the shell to send, log and count.
#[derive(Debug)]
pub enum Outcome {
    Reply(Reply),
    /// QUIT: close without answering.
    Quit,
}

/// Everything a command may read or change.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub cluster: &'a mut Cluster,
    pub now: Now,
    /// Membership changes made by this request, for logs and gauges.
    pub transitions: Vec<Transition>,
    /// The tracker peers and their liveness: whether this tracker leads
    /// (see [`crate::leader`]; the leader alone decides initial copies),
    /// GET_LEADER and TRACKER_CLUSTER_STAT.
    pub peers: &'a Peers,
}

/// Runs one request.
pub fn handle(ctx: &mut Ctx, session: &mut Session, command: u8, body: &[u8]) -> Outcome {
    if session.fastdfs && !session.auth.is_done() {
        let reply = match command {
            cmd::STORAGE_JOIN => Some(fastdfs::join(ctx, session, body)),
            cmd::STORAGE_BEAT => Some(fastdfs::beat(ctx, session, body)),
            cmd::STORAGE_REPORT_DISK_USAGE => Some(fastdfs::disk_usage(ctx, session, body)),
            cmd::STORAGE_GET_MY_IP => Some(fastdfs::get_my_ip(session, body)),
            cmd::STORAGE_SYNC_REPORT => Some(fastdfs_sync::sync_report(ctx, session, body)),
            cmd::STORAGE_SYNC_DEST_REQ => Some(fastdfs_sync::sync_dest_req(ctx, session, body)),
            cmd::STORAGE_SYNC_DEST_QUERY => Some(fastdfs_sync::sync_dest_query(ctx, session, body)),
            cmd::STORAGE_SYNC_SRC_REQ => Some(fastdfs_sync::sync_src_req(ctx, session, body)),
            cmd::STORAGE_SYNC_NOTIFY => Some(fastdfs_sync::sync_notify(ctx, session, body)),
            cmd::STORAGE_REPORT_STATUS => Some(fastdfs_sync::report_status(ctx, session, body)),
            cmd::STORAGE_CHANGELOG_REQ => Some(fastdfs_sync::changelog_req(ctx, session, body)),
            cmd::STORAGE_GET_SERVER_ID => Some(fastdfs_sync::get_server_id(ctx, body)),
            cmd::STORAGE_GET_STATUS => Some(fastdfs_sync::get_status(ctx, body)),
            cmd::STORAGE_GET_GROUP_NAME => Some(fastdfs_sync::get_group_name(ctx, session, body)),
            cmd::STORAGE_CHANGE_STATUS => Some(fastdfs_sync::change_status(ctx, session, body)),
            cmd::STORAGE_REPLICA_CHG => Some(fastdfs_sync::replica_chg(ctx, session, body)),
            cmd::STORAGE_REPORT_IP_CHANGED => Some(fastdfs_sync::report_ip_changed(ctx, body)),
            cmd::STORAGE_FETCH_TRUNK_FID
            | cmd::STORAGE_REPORT_TRUNK_FID
            | cmd::STORAGE_REPORT_TRUNK_FREE => {
                // Trunk files are off (PARAMETER_REQ says use_trunk_file=0).
                Some(Reply::error(status::EOPNOTSUPP))
            }
            _ => None,
        };
        if let Some(reply) = reply {
            return Outcome::Reply(reply);
        }
    }
    if is_internal(command) && !session.auth.is_done() {
        tracing::warn!(
            "{} from {} refused: the connection has not authenticated with the cluster secret",
            name(command),
            session.from()
        );
        return Outcome::Reply(Reply::error(status::EACCES));
    }
    let reply = match command {
        cmd::QUIT => return Outcome::Quit,
        cmd::AUTH_HELLO => session
            .auth
            .hello(ctx.cfg.cluster_secret.as_ref(), body)
            .into(),
        cmd::AUTH_PROOF => {
            let r = session.auth.proof(ctx.cfg.cluster_secret.as_ref(), body);
            if r.is_err() {
                tracing::warn!(
                    "{} failed cluster authentication: its cluster_secret differs",
                    session.from()
                );
            }
            r.map(|_| Vec::new()).into()
        }
        cmd::ACTIVE_TEST if body.is_empty() => Reply::ok(Vec::new()),
        cmd::QUERY_STORE_WITHOUT_GROUP_ONE
        | cmd::QUERY_STORE_WITH_GROUP_ONE
        | cmd::QUERY_STORE_WITHOUT_GROUP_ALL
        | cmd::QUERY_STORE_WITH_GROUP_ALL => store::query_store(ctx, command, body),
        cmd::QUERY_FETCH_ONE | cmd::QUERY_FETCH_ALL | cmd::QUERY_UPDATE => {
            fetch::query_fetch(ctx, command, body)
        }
        cmd::LIST_ONE_GROUP => list::one_group(ctx, body),
        cmd::LIST_ALL_GROUPS => list::all_groups(ctx, body),
        cmd::LIST_STORAGE => list::storages(ctx, body),
        cmd::STORAGE_JOIN => storage::join(ctx, session, body),
        cmd::STORAGE_BEAT => storage::beat(ctx, session, body),
        cmd::DELETE_STORAGE => storage::delete(ctx, body),
        cmd::DELETE_GROUP => group::delete(ctx, body),
        cmd::SET_TRUNK_SERVER => group::set_trunk_server(ctx, body),
        cmd::GET_LEADER => monitor::get_leader(ctx, body),
        cmd::TRACKER_CLUSTER_STAT => monitor::tracker_cluster_stat(ctx, body),
        cmd::STORAGE_CLUSTER_STAT => monitor::storage_cluster_stat(ctx, body),
        cmd::STORAGE_VOLUME_STAT => monitor::volume_stat(ctx, body),
        cmd::FETCH_STORAGE_IDS => params::fetch_storage_ids(ctx.cfg, body),
        cmd::PARAMETER_REQ => params::parameters(ctx.cfg, body),
        _ => Reply::error(status::EINVAL),
    };
    Outcome::Reply(ctx.cluster.warm_up.answer(ctx.now.mono, command, reply))
}

/// A short stable name per command, for metrics labels and logs.
pub fn name(command: u8) -> &'static str {
    match command {
        cmd::QUIT => "quit",
        cmd::ACTIVE_TEST => "active_test",
        cmd::AUTH_HELLO => "auth_hello",
        cmd::AUTH_PROOF => "auth_proof",
        cmd::QUERY_STORE_WITHOUT_GROUP_ONE => "query_store_one",
        cmd::QUERY_STORE_WITH_GROUP_ONE => "query_store_group_one",
        cmd::QUERY_STORE_WITHOUT_GROUP_ALL => "query_store_all",
        cmd::QUERY_STORE_WITH_GROUP_ALL => "query_store_group_all",
        cmd::QUERY_FETCH_ONE => "query_fetch_one",
        cmd::QUERY_FETCH_ALL => "query_fetch_all",
        cmd::QUERY_UPDATE => "query_update",
        cmd::LIST_ONE_GROUP => "list_one_group",
        cmd::LIST_ALL_GROUPS => "list_all_groups",
        cmd::LIST_STORAGE => "list_storage",
        cmd::STORAGE_JOIN => "storage_join",
        cmd::STORAGE_BEAT => "storage_beat",
        cmd::STORAGE_REPORT_DISK_USAGE => "storage_report_disk_usage",
        cmd::STORAGE_GET_MY_IP => "storage_get_my_ip",
        cmd::STORAGE_SYNC_REPORT => "storage_sync_report",
        cmd::STORAGE_SYNC_DEST_REQ => "storage_sync_dest_req",
        cmd::STORAGE_SYNC_DEST_QUERY => "storage_sync_dest_query",
        cmd::STORAGE_SYNC_SRC_REQ => "storage_sync_src_req",
        cmd::STORAGE_SYNC_NOTIFY => "storage_sync_notify",
        cmd::STORAGE_REPORT_STATUS => "storage_report_status",
        cmd::STORAGE_CHANGELOG_REQ => "storage_changelog_req",
        cmd::STORAGE_GET_SERVER_ID => "storage_get_server_id",
        cmd::STORAGE_GET_STATUS => "storage_get_status",
        cmd::STORAGE_GET_GROUP_NAME => "storage_get_group_name",
        cmd::STORAGE_CHANGE_STATUS => "storage_change_status",
        cmd::STORAGE_REPLICA_CHG => "storage_replica_chg",
        cmd::STORAGE_REPORT_IP_CHANGED => "storage_report_ip_changed",
        cmd::STORAGE_FETCH_TRUNK_FID => "storage_fetch_trunk_fid",
        cmd::STORAGE_REPORT_TRUNK_FID => "storage_report_trunk_fid",
        cmd::STORAGE_REPORT_TRUNK_FREE => "storage_report_trunk_free",
        cmd::DELETE_STORAGE => "delete_storage",
        cmd::DELETE_GROUP => "delete_group",
        cmd::SET_TRUNK_SERVER => "set_trunk_server",
        cmd::GET_LEADER => "get_leader",
        cmd::TRACKER_CLUSTER_STAT => "tracker_cluster_stat",
        cmd::STORAGE_CLUSTER_STAT => "storage_cluster_stat",
        cmd::STORAGE_VOLUME_STAT => "storage_volume_stat",
        cmd::FETCH_STORAGE_IDS => "fetch_storage_ids",
        cmd::PARAMETER_REQ => "parameter_req",
        cmd::CLUSTER_STATUS => "cluster_status",
        _ => "unknown",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Instant;

    use super::*;
    use crate::cluster::tests::{at, report};

    /// Runs one request against `cluster` with `cfg`; a fresh session,
    /// on a lone tracker (it leads).
    pub fn run(cluster: &mut Cluster, cfg: &Config, command: u8, body: &[u8]) -> Reply {
        run_with_peers(cluster, cfg, &Peers::new(None), command, body)
    }

    /// [`run`] on a tracker with these peers.
    pub fn run_with_peers(
        cluster: &mut Cluster,
        cfg: &Config,
        peers: &Peers,
        command: u8,
        body: &[u8],
    ) -> Reply {
        run_in(
            cluster,
            cfg,
            peers,
            &mut Session::authenticated(),
            command,
            body,
        )
    }

    /// [`run_with_peers`] on the connection `session`.
    pub fn run_in(
        cluster: &mut Cluster,
        cfg: &Config,
        peers: &Peers,
        session: &mut Session,
        command: u8,
        body: &[u8],
    ) -> Reply {
        let mut ctx = Ctx {
            cfg,
            cluster,
            now: at(Instant::now(), 0),
            transitions: Vec::new(),
            peers,
        };
        match handle(&mut ctx, session, command, body) {
            Outcome::Reply(r) => r,
            Outcome::Quit => panic!("unexpected quit"),
        }
    }

    /// A cluster with one ACTIVE storage per (group, ip).
    pub fn cluster(members: &[(&str, &str)]) -> Cluster {
        let mut c = Cluster::default();
        for (g, ip) in members {
            c.join(report(g, ip), at(Instant::now(), 0)).unwrap();
        }
        c
    }

    #[test]
    fn active_test_answers_ok_with_no_body() {
        let r = run(
            &mut Cluster::default(),
            &Config::default(),
            cmd::ACTIVE_TEST,
            &[],
        );
        assert_eq!(r, Reply::ok(Vec::new()));
    }

    #[test]
    fn internal_commands_need_an_authenticated_connection() {
        let mut c = Cluster::default();
        let cfg = Config::default();
        let json = serde_json::to_vec(&report("group1", "10.0.0.1")).unwrap();
        for command in [
            cmd::STORAGE_JOIN,
            cmd::STORAGE_BEAT,
            cmd::DELETE_STORAGE,
            cmd::DELETE_GROUP,
        ] {
            let mut session = Session::new(Some("10.0.0.1".parse().unwrap()));
            let r = run_in(
                &mut c,
                &cfg,
                &Peers::new(None),
                &mut session,
                command,
                &json,
            );
            assert_eq!(r, Reply::error(status::EACCES), "{command}");
        }
        assert!(c.group("group1").is_none(), "nothing joined");
    }

    #[test]
    fn unknown_command_is_einval() {
        let r = run(&mut Cluster::default(), &Config::default(), 250, &[]);
        assert_eq!(r, Reply::error(status::EINVAL));
    }

    #[test]
    fn quit_closes_without_a_reply() {
        let mut c = Cluster::default();
        let cfg = Config::default();
        let mut ctx = Ctx {
            cfg: &cfg,
            cluster: &mut c,
            now: at(Instant::now(), 0),
            transitions: Vec::new(),
            peers: &Peers::new(None),
        };
        assert!(matches!(
            handle(&mut ctx, &mut Session::new(None), cmd::QUIT, &[]),
            Outcome::Quit
        ));
    }
}
