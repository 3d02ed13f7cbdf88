//! Upload placement: group, storage and store path for a query-store
//! (FastDFS `store_lookup`, `store_server`, `store_path`; see
//! tracker_service.c, tracker_deal_service_query_storage). Only ACTIVE
//! storages with a store path that respects `reserved_storage_space` are
//! ever chosen.

use std::time::Instant;

use ferrodfs_proto::cluster::{PathUsage, StorageReport};
use ferrodfs_proto::status;
use ferrodfs_proto::tracker_req::{Addr, StoreTarget};
use ferrodfs_runtime::Reserved;

use crate::cluster::{Cluster, Group, Storage};
use crate::config::{Config, StoreLookup, StorePath, StoreServer};

/// FastDFS addresses store paths with one byte (`M00`..`MFF`).
const MAX_PATHS: usize = 256;

/// Whether one store path may take new files. A percentage applies to each
/// path; an absolute size is shared equally between the paths (FastDFS
/// `avg_reserved_mb`).
pub fn path_has_room(reserved: &Reserved, path: &PathUsage, path_count: usize) -> bool {
    let (free, total) = (path.free_mb.max(0) as u64, path.total_mb.max(0) as u64);
    match *reserved {
        Reserved::Percent(_) => reserved.allows(free, total),
        Reserved::Bytes(b) => {
            let share = b / path_count.max(1) as u64;
            Reserved::Bytes(share).allows(free << 20, total << 20)
        }
    }
}

fn paths(report: &StorageReport) -> &[PathUsage] {
    &report.store_paths[..report.store_paths.len().min(MAX_PATHS)]
}

/// A storage takes uploads when at least one of its paths has room.
pub fn storage_has_room(reserved: &Reserved, storage: &Storage) -> bool {
    let p = paths(&storage.report);
    p.iter().any(|u| path_has_room(reserved, u, p.len()))
}

/// ACTIVE, allowed to take uploads, with room by our reservation and by
/// its own.
fn writable(reserved: &Reserved, s: &Storage) -> bool {
    s.is_writable() && storage_has_room(reserved, s) && !s.report.full
}

/// Why no group qualifies: nobody ACTIVE (ENOENT) or nobody with room (ENOSPC).
fn unusable(group: &Group) -> u8 {
    if group.active_count() == 0 {
        status::ENOENT
    } else {
        status::ENOSPC
    }
}

fn group_has_room(reserved: &Reserved, g: &Group) -> bool {
    g.storages.values().any(|s| writable(reserved, s))
}

/// Picks the group: the named one, or by `store_lookup`.
fn choose_group(cluster: &mut Cluster, cfg: &Config, named: Option<&str>) -> Result<String, u8> {
    let reserved = &cfg.reserved_storage_space;
    let named = named.or(match &cfg.store_lookup {
        StoreLookup::SpecifiedGroup(g) => Some(g.as_str()),
        _ => None,
    });
    if let Some(name) = named {
        let g = cluster.group(name).ok_or(status::ENOENT)?;
        return if group_has_room(reserved, g) {
            Ok(name.to_string())
        } else {
            Err(unusable(g))
        };
    }
    let names: Vec<&String> = cluster.groups.keys().collect();
    if cluster.groups.values().all(|g| g.active_count() == 0) {
        return Err(status::ENOENT);
    }
    if cfg.store_lookup == StoreLookup::LoadBalance {
        let best = cluster
            .groups
            .values()
            .filter(|g| group_has_room(reserved, g))
            .fold(None::<&Group>, |best, g| match best {
                Some(b) if b.free_mb() >= g.free_mb() => Some(b),
                _ => Some(g),
            });
        return best.map(|g| g.name.clone()).ok_or(status::ENOSPC);
    }
    let n = names.len();
    let start = cluster.group_cursor % n;
    let found = (0..n)
        .map(|i| (start + i) % n)
        .find(|&i| group_has_room(reserved, &cluster.groups[names[i]]));
    let Some(i) = found else {
        return Err(status::ENOSPC);
    };
    let name = names[i].clone();
    cluster.group_cursor = (i + 1) % n;
    Ok(name)
}

/// Picks the storage inside the group by `store_server`; returns its id.
/// Storages still beating come first: one that missed its last beats
/// (cut off, frozen) gets uploads only when no other member can take them.
fn choose_storage(group: &mut Group, cfg: &Config, now: Instant) -> Option<String> {
    pick_storage(group, cfg, |s| s.is_beating(now)).or_else(|| pick_storage(group, cfg, |_| true))
}

/// [`choose_storage`] among the writable storages that also pass `also`.
fn pick_storage(
    group: &mut Group,
    cfg: &Config,
    also: impl Fn(&Storage) -> bool,
) -> Option<String> {
    let reserved = &cfg.reserved_storage_space;
    match cfg.store_server {
        StoreServer::FirstByIp => group
            .storages
            .values()
            .find(|s| writable(reserved, s) && also(s))
            .map(|s| s.id.clone()),
        StoreServer::ByPriority => group
            .storages
            .values()
            .filter(|s| writable(reserved, s) && also(s))
            .min_by_key(|s| s.report.upload_priority)
            .map(|s| s.id.clone()),
        StoreServer::RoundRobin => {
            let active: Vec<&Storage> = group
                .storages
                .values()
                .filter(|s| s.is_writable() && also(s))
                .collect();
            let n = active.len();
            if n == 0 {
                return None;
            }
            let start = group.write_cursor % n;
            let i = (0..n)
                .map(|i| (start + i) % n)
                .find(|&i| storage_has_room(reserved, active[i]))?;
            let id = active[i].id.clone();
            group.write_cursor = (i + 1) % n;
            Some(id)
        }
    }
}

/// Picks the store path on `storage` by `store_path`. Round robin starts
/// at the storage's cursor and moves on to the next path with room, then
/// advances past the path used (FastDFS restarts its scan at path 0, which
/// starves later paths once one is full).
pub fn choose_path(storage: &mut Storage, policy: StorePath, reserved: &Reserved) -> Option<u8> {
    let p = paths(&storage.report);
    let n = p.len();
    let room = |i: usize| path_has_room(reserved, &p[i], n);
    let chosen = match policy {
        StorePath::RoundRobin => {
            let start = storage.write_path as usize % n.max(1);
            (0..n).map(|i| (start + i) % n).find(|&i| room(i))
        }
        StorePath::LoadBalance => {
            (0..n)
                .filter(|&i| room(i))
                .fold(None::<usize>, |best, i| match best {
                    Some(b) if p[b].free_mb >= p[i].free_mb => Some(b),
                    _ => Some(i),
                })
        }
    }?;
    if policy == StorePath::RoundRobin {
        storage.write_path = ((chosen + 1) % n) as u32;
    }
    Some(chosen as u8)
}

/// Answers query-store: one storage (101/104) or, with `all` (106/107),
/// every writable one with the chosen storage first and those still
/// beating before those that are not. `named` is the group a client asked
/// for (104/107).
pub fn choose_store(
    cluster: &mut Cluster,
    cfg: &Config,
    named: Option<&str>,
    all: bool,
    now: Instant,
) -> Result<StoreTarget, u8> {
    let name = choose_group(cluster, cfg, named)?;
    let group = cluster.group_mut(&name).ok_or(status::ENOENT)?;
    let id = choose_storage(group, cfg, now).ok_or(status::ENOSPC)?;
    let storage = group.storages.get_mut(&id).ok_or(status::ENOENT)?;
    let store_path_index =
        choose_path(storage, cfg.store_path, &cfg.reserved_storage_space).ok_or(status::ENOSPC)?;
    let addr = |s: &Storage| Addr {
        ip: s.report.ip.clone(),
        port: s.report.port,
    };
    let mut storages = vec![addr(storage)];
    if all {
        let mut others: Vec<&Storage> = group
            .storages
            .values()
            .filter(|s| s.id != id && writable(&cfg.reserved_storage_space, s))
            .collect();
        others.sort_by_key(|s| !s.is_beating(now));
        storages.extend(others.into_iter().map(addr));
    }
    Ok(StoreTarget {
        group: name,
        storages,
        store_path_index,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cluster::tests::{at, report};
    use ferrodfs_proto::cluster::state;

    fn usage(total_mb: i64, free_mb: i64) -> PathUsage {
        PathUsage { total_mb, free_mb }
    }

    /// A cluster from (group, ip, per-path free MB out of 1000, priority).
    fn cluster(storages: &[(&str, &str, &[i64], i64)]) -> Cluster {
        let mut c = Cluster::default();
        for (g, ip, free, prio) in storages {
            let mut r = report(g, ip);
            r.store_paths = free.iter().map(|f| usage(1000, *f)).collect();
            r.upload_priority = *prio;
            c.join(r, at(Instant::now(), 0)).unwrap();
        }
        c
    }

    fn offline(c: &mut Cluster, group: &str, ip: &str) {
        c.group_mut(group)
            .unwrap()
            .storages
            .get_mut(ip)
            .unwrap()
            .status = state::OFFLINE;
    }

    fn pick(c: &mut Cluster, cfg: &Config) -> Result<(String, String, u8), u8> {
        choose_store(c, cfg, None, false, Instant::now())
            .map(|t| (t.group, t.storages[0].ip.clone(), t.store_path_index))
    }

    #[test]
    fn percentage_applies_per_path_and_size_is_shared_between_paths() {
        let ten = Reserved::Percent(10.0);
        assert!(path_has_room(&ten, &usage(1000, 101), 2));
        assert!(!path_has_room(&ten, &usage(1000, 100), 2));
        let gig = Reserved::Bytes(1 << 30); // 512 MB per path with two paths
        assert!(path_has_room(&gig, &usage(1000, 513), 2));
        assert!(!path_has_room(&gig, &usage(1000, 512), 2));
        assert!(!path_has_room(&gig, &usage(1000, 1000), 1));
    }

    #[test]
    fn a_storage_at_its_own_reservation_gets_no_uploads() {
        let mut c = cluster(&[("g1", "10.0.0.1", &[500], 0), ("g2", "10.0.0.2", &[500], 0)]);
        c.group_mut("g1")
            .unwrap()
            .storages
            .get_mut("10.0.0.1")
            .unwrap()
            .report
            .full = true;
        let cfg = Config::default();
        for _ in 0..4 {
            assert_eq!(pick(&mut c, &cfg).unwrap().0, "g2");
        }
        let named = choose_store(&mut c, &cfg, Some("g1"), false, Instant::now()).map(|t| t.group);
        assert_eq!(named, Err(status::ENOSPC));
    }

    #[test]
    fn round_robin_rotates_over_groups_fairly() {
        let mut c = cluster(&[
            ("g1", "10.0.0.1", &[500], 0),
            ("g2", "10.0.0.2", &[500], 0),
            ("g3", "10.0.0.3", &[500], 0),
        ]);
        let cfg = Config::default();
        let groups: Vec<String> = (0..6).map(|_| pick(&mut c, &cfg).unwrap().0).collect();
        assert_eq!(groups, ["g1", "g2", "g3", "g1", "g2", "g3"]);
    }

    #[test]
    fn round_robin_skips_offline_and_full_groups() {
        let mut c = cluster(&[
            ("g1", "10.0.0.1", &[500], 0),
            ("g2", "10.0.0.2", &[50], 0),
            ("g3", "10.0.0.3", &[500], 0),
        ]);
        offline(&mut c, "g1", "10.0.0.1");
        let cfg = Config::default();
        for _ in 0..3 {
            assert_eq!(pick(&mut c, &cfg).unwrap().0, "g3");
        }
    }

    #[test]
    fn nothing_active_is_enoent_and_everything_full_is_enospc() {
        let cfg = Config::default();
        assert_eq!(pick(&mut Cluster::default(), &cfg), Err(status::ENOENT));
        let mut c = cluster(&[("g1", "10.0.0.1", &[500], 0)]);
        offline(&mut c, "g1", "10.0.0.1");
        assert_eq!(pick(&mut c, &cfg), Err(status::ENOENT));
        let mut c = cluster(&[("g1", "10.0.0.1", &[20, 30], 0)]);
        assert_eq!(pick(&mut c, &cfg), Err(status::ENOSPC));
    }

    #[test]
    fn load_balance_picks_the_group_with_most_free_space() {
        let mut c = cluster(&[
            ("g1", "10.0.0.1", &[300], 0),
            ("g2", "10.0.0.2", &[800], 0),
            ("g2", "10.0.0.3", &[700], 0),
            ("g3", "10.0.0.4", &[750], 0),
        ]);
        let cfg = Config {
            store_lookup: StoreLookup::LoadBalance,
            ..Config::default()
        };
        // g2 is bounded by its fullest member (700); g3 has 750.
        assert_eq!(pick(&mut c, &cfg).unwrap().0, "g3");
        offline(&mut c, "g3", "10.0.0.4");
        assert_eq!(pick(&mut c, &cfg).unwrap().0, "g2");
    }

    #[test]
    fn named_group_is_used_even_against_the_lookup_policy() {
        let mut c = cluster(&[("g1", "10.0.0.1", &[500], 0), ("g2", "10.0.0.2", &[500], 0)]);
        let cfg = Config {
            store_lookup: StoreLookup::SpecifiedGroup("g1".into()),
            ..Config::default()
        };
        assert_eq!(pick(&mut c, &cfg).unwrap().0, "g1");
        assert_eq!(
            choose_store(&mut c, &cfg, Some("g2"), false, Instant::now())
                .unwrap()
                .group,
            "g2"
        );
        assert_eq!(
            choose_store(&mut c, &cfg, Some("nope"), false, Instant::now()),
            Err(status::ENOENT)
        );
    }

    #[test]
    fn store_server_policies_choose_inside_the_group() {
        let members: &[(&str, &str, &[i64], i64)] = &[
            ("g", "10.0.0.3", &[500], 1),
            ("g", "10.0.0.1", &[50], 0),
            ("g", "10.0.0.2", &[500], 5),
        ];
        let first = Config {
            store_server: StoreServer::FirstByIp,
            ..Config::default()
        };
        let prio = Config {
            store_server: StoreServer::ByPriority,
            ..Config::default()
        };
        // 10.0.0.1 is full: skipped by every policy.
        assert_eq!(pick(&mut cluster(members), &first).unwrap().1, "10.0.0.2");
        assert_eq!(pick(&mut cluster(members), &prio).unwrap().1, "10.0.0.3");
        let mut c = cluster(members);
        let rr: Vec<String> = (0..4)
            .map(|_| pick(&mut c, &Config::default()).unwrap().1)
            .collect();
        assert_eq!(rr, ["10.0.0.2", "10.0.0.3", "10.0.0.2", "10.0.0.3"]);
    }

    #[test]
    fn store_path_round_robin_cycles_and_skips_full_paths() {
        let mut c = cluster(&[("g", "10.0.0.1", &[500, 50, 500], 0)]);
        let cfg = Config::default();
        let idx: Vec<u8> = (0..4).map(|_| pick(&mut c, &cfg).unwrap().2).collect();
        assert_eq!(
            idx,
            [0, 2, 0, 2],
            "path 1 is full: the next path with room is used"
        );
    }

    #[test]
    fn store_path_load_balance_picks_most_free_path() {
        let mut c = cluster(&[("g", "10.0.0.1", &[300, 900, 600], 0)]);
        let cfg = Config {
            store_path: StorePath::LoadBalance,
            ..Config::default()
        };
        assert_eq!(pick(&mut c, &cfg).unwrap().2, 1);
        assert_eq!(pick(&mut c, &cfg).unwrap().2, 1);
    }

    #[test]
    fn query_all_lists_writable_storages_chosen_first() {
        let mut c = cluster(&[
            ("g", "10.0.0.1", &[500], 0),
            ("g", "10.0.0.2", &[500], 0),
            ("g", "10.0.0.3", &[10], 0),
        ]);
        offline(&mut c, "g", "10.0.0.1");
        let t = choose_store(&mut c, &Config::default(), None, true, Instant::now()).unwrap();
        let ips: Vec<&str> = t.storages.iter().map(|a| a.ip.as_str()).collect();
        assert_eq!(ips, ["10.0.0.2"]);
    }

    /// Members that beat every second, joined at `t0`; `fresh` beat again
    /// two seconds later.
    fn beating(t0: Instant, ips: &[&str], fresh: &[&str]) -> Cluster {
        let mut c = Cluster::default();
        for ip in ips {
            let mut r = report("g", ip);
            r.heart_beat_interval_ms = 1000;
            let (session, _) = c.join(r.clone(), at(t0, 0)).unwrap();
            if fresh.contains(ip) {
                c.beat(session, r, at(t0, 2)).unwrap();
            }
        }
        c
    }

    #[test]
    fn uploads_avoid_a_member_that_missed_its_beats_before_it_goes_offline() {
        let t0 = Instant::now();
        let mut c = beating(t0, &["10.0.0.1", "10.0.0.2"], &["10.0.0.2"]);
        let later = t0 + Duration::from_secs(4);
        for _ in 0..4 {
            let t = choose_store(&mut c, &Config::default(), None, false, later).unwrap();
            assert_eq!(t.storages[0].ip, "10.0.0.2");
        }
        let t = choose_store(&mut c, &Config::default(), None, true, later).unwrap();
        let ips: Vec<&str> = t.storages.iter().map(|a| a.ip.as_str()).collect();
        assert_eq!(ips, ["10.0.0.2", "10.0.0.1"], "the silent one listed last");
    }

    #[test]
    fn a_member_that_missed_its_beats_still_takes_uploads_when_it_is_the_only_one() {
        let t0 = Instant::now();
        let mut c = beating(t0, &["10.0.0.1"], &[]);
        let later = t0 + Duration::from_secs(4);
        let t = choose_store(&mut c, &Config::default(), None, false, later).unwrap();
        assert_eq!(t.storages[0].ip, "10.0.0.1");
    }
}
