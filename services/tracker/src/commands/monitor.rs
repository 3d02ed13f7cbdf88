//! The monitoring commands of FastDFS 6.15.5+ (tracker_service.c):
//! GET_LEADER (95) and the tracker, storage and volume cluster stats
//! (96-98) that 6.16's `fdfs_tracker_stat`, `fdfs_storage_stat` and
//! `fdfs_volumn_stat` send. Trunk files are always off in ferrodfs, so
//! no storage is a trunk server and no group has trunk space, as FastDFS
//! reports with `use_trunk_file = false`.

use ferrodfs_proto::monitor::{
    host_port, Connections, StorageClusterReply, StorageClusterStat, StorageStatFilter,
    TrackerStat, TrackerStatFilter, VolumeReply, VolumeStat, VolumeStatFilter,
};
use ferrodfs_proto::status;
use ferrodfs_runtime::Reserved;

use super::{list, Ctx, Reply};

/// What this tracker reports as its version in TRACKER_CLUSTER_STAT.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// GET_LEADER: no body; the leader's `ip:port` as text, ENOENT while
/// there is none.
pub fn get_leader(ctx: &mut Ctx, body: &[u8]) -> Reply {
    if !body.is_empty() {
        return Reply::error(status::EINVAL);
    }
    match ctx.peers.leader() {
        Some(a) => Reply::ok(host_port(&a.ip().to_string(), a.port()).into_bytes()),
        None => Reply::error(status::ENOENT),
    }
}

/// TRACKER_CLUSTER_STAT: only the leader answers (EOPNOTSUPP elsewhere,
/// as FastDFS; its client asks GET_LEADER first). Peers are listed by
/// address; ferrodfs trackers learn only their peers' liveness (probes),
/// so a peer's connection counts, version and up time are 0 / empty and
/// its last heartbeat is its last answered probe.
pub fn tracker_cluster_stat(ctx: &mut Ctx, body: &[u8]) -> Reply {
    let Ok(filter) = TrackerStatFilter::parse(body) else {
        return Reply::error(status::EINVAL);
    };
    if !ctx.peers.is_leader() {
        return Reply::error(status::EOPNOTSUPP);
    }
    let peers = ctx.peers;
    let leader = peers.leader();
    let mut all: Vec<_> = peers.known();
    all.extend(peers.me);
    all.sort();
    let trackers: Vec<TrackerStat> = all
        .into_iter()
        .map(|a| {
            let host = host_port(&a.ip().to_string(), a.port());
            let is_leader = leader == Some(a);
            if Some(a) == peers.me {
                TrackerStat {
                    host,
                    is_leader,
                    is_active: true,
                    connections: Connections::default(),
                    version: VERSION.into(),
                    up_time: peers.started,
                    last_heartbeat_time: ctx.now.unix,
                }
            } else {
                TrackerStat {
                    host,
                    is_leader,
                    is_active: is_leader || peers.reachable(&a),
                    last_heartbeat_time: peers.last_seen(&a),
                    ..Default::default()
                }
            }
        })
        .filter(|t| filter.admits(t))
        .collect();
    Reply::ok(TrackerStat::encode_reply(&trackers))
}

/// STORAGE_CLUSTER_STAT: every storage, groups by name and storages by
/// id (the IP unless `use_storage_id`).
pub fn storage_cluster_stat(ctx: &mut Ctx, body: &[u8]) -> Reply {
    let Ok(filter) = StorageStatFilter::parse(body) else {
        return Reply::error(status::EINVAL);
    };
    let storages = ctx
        .cluster
        .groups
        .values()
        .flat_map(|g| g.storages.values())
        .map(|s| {
            let r = &s.report;
            let [alloc, current, max] = r.stats.connections;
            StorageClusterStat {
                id: s.id.clone(),
                host: host_port(&r.ip, r.port),
                is_trunk_server: false,
                status: s.status,
                connections: Connections {
                    alloc,
                    current,
                    max,
                },
                version: r.version.clone(),
                up_time: r.up_time,
                last_heartbeat_time: s.last_report_unix,
            }
        })
        .filter(|s| filter.admits(s, false))
        .collect();
    Reply::ok(
        StorageClusterReply {
            use_storage_id: ctx.cfg.storage_ids.is_some(),
            use_trunk_file: false,
            storages,
        }
        .encode(),
    )
}

/// Whether a group may take uploads by `reserved_storage_space`
/// (fdfs_check_reserved_space): free above the reserved MB, or above the
/// reserved share of a non-empty total.
fn disk_available(reserved: &Reserved, total_mb: i64, free_mb: i64) -> bool {
    match *reserved {
        Reserved::Bytes(b) => free_mb > (b >> 20) as i64,
        Reserved::Percent(p) => total_mb > 0 && free_mb as f64 / total_mb as f64 > p / 100.0,
    }
}

/// STORAGE_VOLUMN_STAT: per group, the space LIST_ALL_GROUPS reports and
/// what of it uploads may still use.
pub fn volume_stat(ctx: &mut Ctx, body: &[u8]) -> Reply {
    let Ok(filter) = VolumeStatFilter::parse(body) else {
        return Reply::error(status::EINVAL);
    };
    let groups = ctx
        .cluster
        .groups
        .values()
        .map(|g| {
            let stat = list::group_stat(g, ctx.cfg);
            let available =
                disk_available(&ctx.cfg.reserved_storage_space, stat.total_mb, stat.free_mb);
            VolumeStat {
                group: g.name.clone(),
                total_mb: stat.total_mb,
                free_mb: stat.free_mb,
                reserved_mb: stat.reserved_mb,
                avail_mb: if available {
                    (stat.free_mb - stat.reserved_mb).max(0)
                } else {
                    0
                },
                trunk_free_mb: 0,
                is_disk_available: available,
                is_trunk_available: false,
            }
        })
        .filter(|v| filter.admits(v, false))
        .collect();
    Reply::ok(
        VolumeReply {
            use_trunk_file: false,
            groups,
        }
        .encode(),
    )
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use ferrodfs_proto::cmd;

    use super::super::tests::{cluster, run, run_with_peers};
    use super::*;
    use crate::cluster::Cluster;
    use crate::config::Config;
    use crate::leader::Peers;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn get_leader_answers_the_leaders_address_as_text() {
        let mut peers = Peers::new(Some(addr("10.0.0.2:22122")));
        peers.learn(addr("10.0.0.1:22122"));
        let r = run_with_peers(
            &mut Cluster::default(),
            &Config::default(),
            &peers,
            cmd::GET_LEADER,
            &[],
        );
        assert_eq!(r, Reply::ok(b"10.0.0.1:22122".to_vec()));
        let r = run_with_peers(
            &mut Cluster::default(),
            &Config::default(),
            &peers,
            cmd::GET_LEADER,
            &[0],
        );
        assert_eq!(r, Reply::error(status::EINVAL));
        // Our own address unknown yet, the only peer down.
        let mut lost = Peers::new(None);
        lost.learn(addr("10.0.0.1:22122"));
        lost.probed_at(addr("10.0.0.1:22122"), false, 0);
        lost.probed_at(addr("10.0.0.1:22122"), false, 0);
        let r = run_with_peers(
            &mut Cluster::default(),
            &Config::default(),
            &lost,
            cmd::GET_LEADER,
            &[],
        );
        assert_eq!(r, Reply::error(status::ENOENT), "no leader known");
    }

    #[test]
    fn the_leader_lists_every_tracker_and_others_refuse() {
        let me = addr("10.0.0.1:22122");
        let mut peers = Peers::new(Some(me));
        peers.started = 1_700_000_000;
        peers.learn(addr("10.0.0.3:22122"));
        peers.learn(addr("10.0.0.2:22122"));
        peers.probed_at(addr("10.0.0.2:22122"), true, 1_700_000_100);
        for _ in 0..crate::leader::DOWN_AFTER {
            peers.probed_at(addr("10.0.0.3:22122"), false, 1_700_000_100);
        }
        let r = run_with_peers(
            &mut Cluster::default(),
            &Config::default(),
            &peers,
            cmd::TRACKER_CLUSTER_STAT,
            &[0, 0, 0],
        );
        assert_eq!(r.status, status::OK);
        let t = TrackerStat::parse_reply(&r.body).unwrap();
        let hosts: Vec<_> = t
            .iter()
            .map(|t| (t.host.as_str(), t.is_leader, t.is_active))
            .collect();
        assert_eq!(
            hosts,
            [
                ("10.0.0.1:22122", true, true),
                ("10.0.0.2:22122", false, true),
                ("10.0.0.3:22122", false, false)
            ]
        );
        assert_eq!(
            (t[0].up_time, t[0].version.as_str()),
            (1_700_000_000, VERSION)
        );
        assert_eq!(t[1].last_heartbeat_time, 1_700_000_100);

        // FDFS_TRACKER_STAT_FILTER_BY_IS_ACTIVE with is_active = 0.
        let r = run_with_peers(
            &mut Cluster::default(),
            &Config::default(),
            &peers,
            cmd::TRACKER_CLUSTER_STAT,
            &[1, 0, 0],
        );
        let down = TrackerStat::parse_reply(&r.body).unwrap();
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].host, "10.0.0.3:22122");

        let mut follower = Peers::new(Some(addr("10.0.0.9:22122")));
        follower.learn(me);
        assert!(!follower.is_leader());
        let mut c = Cluster::default();
        let cfg = Config::default();
        let mut ctx = Ctx {
            cfg: &cfg,
            cluster: &mut c,
            now: crate::cluster::tests::at(std::time::Instant::now(), 0),
            transitions: Vec::new(),
            peers: &follower,
        };
        let r = tracker_cluster_stat(&mut ctx, &[0, 0, 0]);
        assert_eq!(r, Reply::error(status::EOPNOTSUPP));
        let r = run_with_peers(&mut c, &cfg, &peers, cmd::TRACKER_CLUSTER_STAT, &[0, 0]);
        assert_eq!(r, Reply::error(status::EINVAL));
    }

    #[test]
    fn storage_cluster_stat_lists_every_storage_with_its_status() {
        let mut c = cluster(&[
            ("group2", "10.0.0.21"),
            ("group1", "10.0.0.12"),
            ("group1", "10.0.0.11"),
        ]);
        c.group_mut("group1")
            .unwrap()
            .storages
            .get_mut("10.0.0.12")
            .unwrap()
            .status = ferrodfs_proto::cluster::state::OFFLINE;
        let r = run(
            &mut c,
            &Config::default(),
            cmd::STORAGE_CLUSTER_STAT,
            &[0, 0, 0, 0],
        );
        let reply = StorageClusterReply::parse(&r.body).unwrap();
        assert!(!reply.use_storage_id && !reply.use_trunk_file);
        let listed: Vec<_> = reply
            .storages
            .iter()
            .map(|s| (s.id.as_str(), s.host.as_str(), s.status))
            .collect();
        assert_eq!(
            listed,
            [
                ("10.0.0.11", "10.0.0.11:23000", 7),
                ("10.0.0.12", "10.0.0.12:23000", 5),
                ("10.0.0.21", "10.0.0.21:23000", 7)
            ]
        );
        assert_eq!(reply.storages[0].version, "6.08");
        // FDFS_STORAGE_STAT_FILTER_BY_STATUS, op '!', ACTIVE.
        let r = run(
            &mut c,
            &Config::default(),
            cmd::STORAGE_CLUSTER_STAT,
            &[2, b'!', 7, 0],
        );
        let reply = StorageClusterReply::parse(&r.body).unwrap();
        assert_eq!(reply.storages.len(), 1);
        assert_eq!(reply.storages[0].id, "10.0.0.12");
        let r = run(&mut c, &Config::default(), cmd::STORAGE_CLUSTER_STAT, &[]);
        assert_eq!(r, Reply::error(status::EINVAL));
    }

    #[test]
    fn volume_stat_reports_space_left_above_the_reservation() {
        // Each storage: 1000 MB, 500 MB free.
        let mut c = cluster(&[("group1", "10.0.0.11"), ("group2", "10.0.0.21")]);
        let mut cfg = Config::default(); // 10% reserved
        let r = run(&mut c, &cfg, cmd::STORAGE_VOLUME_STAT, &[0, 0, 0, 0]);
        let reply = VolumeReply::parse(&r.body).unwrap();
        assert!(!reply.use_trunk_file);
        let g1 = VolumeStat {
            group: "group1".into(),
            total_mb: 1000,
            free_mb: 500,
            reserved_mb: 100,
            avail_mb: 400,
            trunk_free_mb: 0,
            is_disk_available: true,
            is_trunk_available: false,
        };
        let g2 = VolumeStat {
            group: "group2".into(),
            ..g1.clone()
        };
        assert_eq!(reply.groups, [g1.clone(), g2]);

        cfg.reserved_storage_space = Reserved::Percent(60.0);
        let r = run(&mut c, &cfg, cmd::STORAGE_VOLUME_STAT, &[0, 0, 0, 0]);
        let full = VolumeReply::parse(&r.body).unwrap().groups;
        assert_eq!(
            (
                full[0].reserved_mb,
                full[0].avail_mb,
                full[0].is_disk_available
            ),
            (600, 0, false)
        );
        // FDFS_VOLUMN_STAT_FILTER_BY_IS_SPACE_AVAILABLE = 1: none left.
        let r = run(&mut c, &cfg, cmd::STORAGE_VOLUME_STAT, &[4, 0, 0, 1]);
        assert!(VolumeReply::parse(&r.body).unwrap().groups.is_empty());
        let r = run(&mut c, &cfg, cmd::STORAGE_VOLUME_STAT, &[0, 0, 0]);
        assert_eq!(r, Reply::error(status::EINVAL));
    }

    #[test]
    fn reservation_rules_follow_fdfs_check_reserved_space() {
        assert!(disk_available(&Reserved::Percent(20.0), 1000, 201));
        assert!(!disk_available(&Reserved::Percent(20.0), 1000, 200));
        assert!(!disk_available(&Reserved::Percent(0.0), 0, 0), "no disk");
        assert!(disk_available(&Reserved::Bytes(100 << 20), 0, 101));
        assert!(!disk_available(&Reserved::Bytes(100 << 20), 1000, 100));
    }
}
