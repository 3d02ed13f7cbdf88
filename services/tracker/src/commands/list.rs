//! List one group (90), all groups (91) and a group's storages (92): the
//! monitoring records `fdfs_monitor` and the Java/Python clients decode,
//! in the layout generation chosen by `stat_layout`, storage IPs in the
//! `response_ip_addr_size` width.

use ferrodfs_proto::fields::{get_fixed, Reader, GROUP_NAME_LEN};
use ferrodfs_proto::stat::{GroupStat, StorageStat};
use ferrodfs_proto::status;
use ferrodfs_runtime::Reserved;

use super::{Ctx, Reply};
use crate::cluster::{Group, Storage};
use crate::config::{Config, StorePath};

/// The reserved share of `total_mb`, as FastDFS reports `reserved_mb`.
pub(crate) fn reserved_mb(reserved: &Reserved, total_mb: i64) -> i64 {
    match *reserved {
        Reserved::Percent(p) => (total_mb as f64 * p / 100.0) as i64,
        Reserved::Bytes(b) => (b >> 20) as i64,
    }
}

pub fn group_stat(g: &Group, cfg: &Config) -> GroupStat {
    // The group's capacity is its fullest ACTIVE member's (see Group::free_mb).
    let fullest = g.active().min_by_key(|s| s.free_mb());
    let total_mb = fullest.map(Storage::total_mb).unwrap_or(0);
    let first = g.storages.values().next().map(|s| &s.report);
    let active_count = g.active_count();
    GroupStat {
        name: g.name.clone(),
        total_mb,
        free_mb: fullest.map(Storage::free_mb).unwrap_or(0),
        reserved_mb: reserved_mb(&cfg.reserved_storage_space, total_mb),
        storage_count: g.storages.len() as i64,
        storage_port: first.map(|r| r.port as i64).unwrap_or(0),
        storage_http_port: first.map(|r| r.http_port as i64).unwrap_or(0),
        active_count: active_count as i64,
        current_write_server: (g.write_cursor % active_count.max(1)) as i64,
        store_path_count: first.map(|r| r.store_paths.len() as i64).unwrap_or(0),
        subdir_count_per_path: first.map(|r| r.subdir_count_per_path as i64).unwrap_or(0),
    }
}

/// FastDFS's `last_synced_timestamp`: how far this storage has caught up
/// with the other members, i.e. the oldest of its synced timestamps for
/// them (0 until every other member has pushed to it).
fn last_synced(s: &Storage, g: &Group) -> i64 {
    g.storages
        .values()
        .filter(|o| o.id != s.id)
        .map(|o| {
            let get = |key: &String| s.report.synced_until.get(key).copied();
            get(&o.report.ip).or_else(|| get(&o.id)).unwrap_or(0)
        })
        .min()
        .unwrap_or(0)
}

pub fn storage_stat(s: &Storage, g: &Group, cfg: &Config) -> StorageStat {
    let r = &s.report;
    let mut stats = r.stats.clone();
    stats.last_heart_beat_time = s.last_report_unix;
    stats.last_synced_timestamp = last_synced(s, g);
    StorageStat {
        status: s.status,
        id: s.id.clone(),
        ip: r.ip.clone(),
        // The member that sent (or sends) its initial copy.
        src_id: s.init().sync_src.unwrap_or_default(),
        version: r.version.clone(),
        join_time: r.join_time,
        up_time: r.up_time,
        total_mb: s.total_mb(),
        free_mb: s.free_mb(),
        reserved_mb: reserved_mb(&cfg.reserved_storage_space, s.total_mb()),
        upload_priority: r.upload_priority,
        store_path_count: r.store_paths.len() as i64,
        subdir_count_per_path: r.subdir_count_per_path as i64,
        current_write_path: match cfg.store_path {
            StorePath::RoundRobin => s.write_path as i64,
            StorePath::LoadBalance => r.current_write_path as i64,
        },
        storage_port: r.port as i64,
        storage_http_port: r.http_port as i64,
        stats,
    }
}

pub fn one_group(ctx: &mut Ctx, body: &[u8]) -> Reply {
    if body.len() != GROUP_NAME_LEN {
        return Reply::error(status::EINVAL);
    }
    let Ok(name) = Reader::new(body).group() else {
        return Reply::error(status::EINVAL);
    };
    let Some(g) = ctx.cluster.group(&name) else {
        return Reply::error(status::ENOENT);
    };
    let mut out = Vec::new();
    group_stat(g, ctx.cfg).encode(ctx.cfg.stat_layout, &mut out);
    Reply::ok(out)
}

/// Records sorted by group name, as FastDFS sorts them.
pub fn all_groups(ctx: &mut Ctx, body: &[u8]) -> Reply {
    if !body.is_empty() {
        return Reply::error(status::EINVAL);
    }
    let mut out = Vec::new();
    for g in ctx.cluster.groups.values() {
        group_stat(g, ctx.cfg).encode(ctx.cfg.stat_layout, &mut out);
    }
    Reply::ok(out)
}

/// `group(16)` and an optional storage id/IP under 16 bytes to filter on;
/// an unknown filter is ENOENT.
pub fn storages(ctx: &mut Ctx, body: &[u8]) -> Reply {
    if body.len() < GROUP_NAME_LEN || body.len() >= 2 * GROUP_NAME_LEN {
        return Reply::error(status::EINVAL);
    }
    let mut r = Reader::new(body);
    let Ok(name) = r.group() else {
        return Reply::error(status::EINVAL);
    };
    let filter = get_fixed(r.rest());
    let Some(g) = ctx.cluster.group(&name) else {
        return Reply::error(status::ENOENT);
    };
    let mut out = Vec::new();
    for s in g.storages.values() {
        if filter.is_empty() || s.id == filter || s.report.ip == filter {
            storage_stat(s, g, ctx.cfg).encode(
                ctx.cfg.stat_layout,
                ctx.cfg.response_ip_addr_size,
                &mut out,
            );
        }
    }
    if out.is_empty() && !filter.is_empty() {
        return Reply::error(status::ENOENT);
    }
    Reply::ok(out)
}

#[cfg(test)]
mod tests {
    use ferrodfs_proto::cluster::state;
    use ferrodfs_proto::cmd;
    use ferrodfs_proto::fields::put_fixed;
    use ferrodfs_proto::stat::Layout;

    use super::super::tests::{cluster, run};
    use super::*;

    fn body(group: &str, filter: &str) -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, group, GROUP_NAME_LEN);
        b.extend_from_slice(filter.as_bytes());
        b
    }

    #[test]
    fn all_groups_are_listed_sorted_in_both_layouts() {
        let mut c = cluster(&[("g2", "10.0.0.3"), ("g1", "10.0.0.1"), ("g1", "10.0.0.2")]);
        c.group_mut("g1")
            .unwrap()
            .storages
            .get_mut("10.0.0.2")
            .unwrap()
            .status = state::OFFLINE;
        for layout in [Layout::Legacy, Layout::Current] {
            let cfg = Config {
                stat_layout: layout,
                ..Config::default()
            };
            let r = run(&mut c, &cfg, cmd::LIST_ALL_GROUPS, &[]);
            assert_eq!(r.body.len(), 2 * layout.group_len());
            let groups = GroupStat::decode_all(&r.body).unwrap();
            assert_eq!(groups[0].name, "g1");
            assert_eq!((groups[0].storage_count, groups[0].active_count), (2, 1));
            assert_eq!((groups[0].total_mb, groups[0].free_mb), (1000, 500));
            assert_eq!(groups[0].storage_port, 23000);
            assert_eq!(groups[1].name, "g2");
        }
    }

    #[test]
    fn list_storage_reports_each_storage_and_filters_by_ip() {
        let mut c = cluster(&[("g1", "10.0.0.1"), ("g1", "10.0.0.2")]);
        let cfg = Config::default();
        let all =
            StorageStat::decode_all(&run(&mut c, &cfg, cmd::LIST_STORAGE, &body("g1", "")).body)
                .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].status, all[0].ip.as_str()),
            (state::ACTIVE, "10.0.0.1")
        );
        assert_eq!(
            (all[0].total_mb, all[0].free_mb, all[0].storage_port),
            (1000, 500, 23000)
        );
        assert_eq!(all[0].version, "6.08");
        let one = StorageStat::decode_all(
            &run(&mut c, &cfg, cmd::LIST_STORAGE, &body("g1", "10.0.0.2")).body,
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            run(&mut c, &cfg, cmd::LIST_STORAGE, &body("g1", "10.0.0.9")).status,
            status::ENOENT
        );
        assert_eq!(
            run(&mut c, &cfg, cmd::LIST_STORAGE, &body("g9", "")).status,
            status::ENOENT
        );
        assert_eq!(
            run(
                &mut c,
                &cfg,
                cmd::LIST_STORAGE,
                &body("g1", "0123456789abcdef")
            )
            .status,
            status::EINVAL
        );
    }

    #[test]
    fn list_one_group_needs_exactly_a_group_name() {
        let mut c = cluster(&[("g1", "10.0.0.1")]);
        let cfg = Config::default();
        let r = run(&mut c, &cfg, cmd::LIST_ONE_GROUP, &body("g1", ""));
        assert_eq!(GroupStat::decode_all(&r.body).unwrap()[0].name, "g1");
        assert_eq!(
            run(&mut c, &cfg, cmd::LIST_ONE_GROUP, &body("g5", "")).status,
            status::ENOENT
        );
        assert_eq!(
            run(&mut c, &cfg, cmd::LIST_ONE_GROUP, b"g1").status,
            status::EINVAL
        );
        assert_eq!(
            run(&mut c, &cfg, cmd::LIST_ALL_GROUPS, b"x").status,
            status::EINVAL
        );
    }

    #[test]
    fn reserved_mb_follows_the_reservation_form() {
        assert_eq!(reserved_mb(&Reserved::Percent(10.0), 1000), 100);
        assert_eq!(reserved_mb(&Reserved::Bytes(2 << 30), 1000), 2048);
    }
}
