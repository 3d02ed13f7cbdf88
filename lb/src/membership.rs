//! Group membership learned from the trackers: every refresh interval the
//! edge asks a tracker for all groups and their storages, and keeps the
//! ACTIVE ones' HTTP addresses. Adding a storage to a group, or one going
//! offline, changes routing with no proxy config edit and no reload.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ferrodfs_client::{Client, ClientConfig, GroupStat, StorageStat};
use ferrodfs_proto::cluster::state::ACTIVE;

/// group name -> HTTP addresses of its ACTIVE storages.
pub type GroupMembers = BTreeMap<String, Vec<SocketAddr>>;

/// The pure part: which storages of what the trackers reported may serve
/// reads. A storage that is not ACTIVE (still syncing, offline, deleted) is
/// left out; a group with none left is still listed (empty) so its requests
/// get "no live upstream" rather than "unknown group". Records of the
/// FastDFS >= 6.13 layout carry no HTTP port (0 here): those storages are
/// reached on `default_http_port`.
pub fn members_from(
    groups: &[(GroupStat, Vec<StorageStat>)],
    default_http_port: u16,
) -> GroupMembers {
    groups
        .iter()
        .map(|(g, storages)| {
            let mut addrs: Vec<SocketAddr> = storages
                .iter()
                .filter(|s| s.status == ACTIVE)
                .filter_map(|s| {
                    let ip: IpAddr = s.ip.parse().ok()?;
                    let port = match s.storage_http_port {
                        0 => default_http_port,
                        p => u16::try_from(p).ok()?,
                    };
                    Some(SocketAddr::new(ip, port))
                })
                .collect();
            addrs.sort();
            addrs.dedup();
            (g.name.clone(), addrs)
        })
        .collect()
}

/// Whether a fetched picture may replace the routing. One with no group
/// at all is what trackers report right after they all restarted, before
/// the storages rejoin them (ferrodfs trackers rebuild their view from
/// storage reports; warming up, they answer EAGAIN, but FastDFS-compatible
/// trackers need not). A cluster that ever served a file has a group, so
/// the edge keeps its last good picture instead of answering 404.
pub fn is_usable(members: &GroupMembers) -> bool {
    !members.is_empty()
}

/// Every tracker's picture, merged. Trackers are peers that each rebuild
/// their view from storage reports, so one that just restarted may know no
/// group yet: asking only the first tracker that answers would empty the
/// routing table until the storages rejoin it. A storage ACTIVE on any
/// tracker is kept (health checks catch a stale one); only when no tracker
/// answers is this an error, and the caller keeps its last picture.
pub async fn fetch(trackers: &[String], default_http_port: u16) -> anyhow::Result<GroupMembers> {
    let mut views = Vec::new();
    let mut last_err = None;
    for t in trackers {
        match fetch_one(t, default_http_port).await {
            Ok(v) => views.push(v),
            Err(e) => last_err = Some(e),
        }
    }
    if views.is_empty() {
        return Err(last_err.unwrap_or_else(|| anyhow::anyhow!("no tracker configured")));
    }
    Ok(merge(views))
}

async fn fetch_one(tracker: &str, default_http_port: u16) -> anyhow::Result<GroupMembers> {
    // A tracker warming up after a start answers EAGAIN: its view is left
    // out at once rather than waited for (the poll comes round again).
    let mut cfg = ClientConfig::new(vec![tracker.to_string()]);
    cfg.warm_up_wait = std::time::Duration::ZERO;
    let client = Client::new(cfg);
    let groups = client
        .list_groups()
        .await
        .map_err(|e| anyhow::anyhow!("list groups from tracker {tracker}: {e}"))?;
    let mut all = Vec::with_capacity(groups.len());
    for g in groups {
        let storages = client.list_storages(&g.name, None).await.map_err(|e| {
            anyhow::anyhow!("list storages of {} from tracker {tracker}: {e}", g.name)
        })?;
        all.push((g, storages));
    }
    Ok(members_from(&all, default_http_port))
}

/// Union of several trackers' pictures: every group any of them knows,
/// with every storage any of them reports ACTIVE.
pub fn merge(views: Vec<GroupMembers>) -> GroupMembers {
    let mut out = GroupMembers::new();
    for view in views {
        for (group, addrs) in view {
            let e = out.entry(group).or_default();
            e.extend(addrs);
            e.sort();
            e.dedup();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodfs_proto::cluster::state::{OFFLINE, WAIT_SYNC};

    fn group(name: &str) -> GroupStat {
        GroupStat {
            name: name.into(),
            ..Default::default()
        }
    }

    fn storage(ip: &str, port: i64, status: u8) -> StorageStat {
        StorageStat {
            ip: ip.into(),
            storage_http_port: port,
            status,
            ..Default::default()
        }
    }

    #[test]
    fn only_active_storages_serve() {
        let m = members_from(
            &[(
                group("group1"),
                vec![
                    storage("10.0.0.12", 8888, ACTIVE),
                    storage("10.0.0.11", 8888, ACTIVE),
                    storage("10.0.0.13", 8888, WAIT_SYNC),
                    storage("10.0.0.14", 8888, OFFLINE),
                    storage("10.0.0.15", 70000, ACTIVE),
                ],
            )],
            8888,
        );
        assert_eq!(
            m["group1"],
            vec![
                "10.0.0.11:8888".parse().unwrap(),
                "10.0.0.12:8888".parse::<SocketAddr>().unwrap()
            ]
        );
    }

    #[test]
    fn records_without_an_http_port_use_the_configured_one() {
        // FastDFS >= 6.13's records (ferrodfs's default) carry no HTTP port.
        let m = members_from(
            &[(
                group("group1"),
                vec![
                    storage("10.0.0.11", 0, ACTIVE),
                    storage("10.0.0.12", 8080, ACTIVE),
                ],
            )],
            9999,
        );
        assert_eq!(
            m["group1"],
            vec![
                "10.0.0.11:9999".parse().unwrap(),
                "10.0.0.12:8080".parse::<SocketAddr>().unwrap()
            ]
        );
    }

    #[test]
    fn a_group_with_no_active_storage_is_known_but_empty() {
        let m = members_from(
            &[(group("group2"), vec![storage("10.0.0.21", 8888, OFFLINE)])],
            8888,
        );
        assert_eq!(m["group2"], Vec::<SocketAddr>::new());
    }

    #[test]
    fn a_tracker_that_knows_nothing_yet_does_not_empty_the_picture() {
        let full = members_from(
            &[(group("group1"), vec![storage("10.0.0.11", 8888, ACTIVE)])],
            8888,
        );
        let restarted = GroupMembers::new();
        let m = merge(vec![restarted, full.clone()]);
        assert_eq!(m, full);
    }

    #[test]
    fn a_picture_without_any_group_is_not_usable() {
        assert!(!is_usable(&GroupMembers::new()));
        let empty_group = members_from(&[(group("group1"), vec![])], 8888);
        assert!(
            is_usable(&empty_group),
            "a known group, none ACTIVE, is real"
        );
    }

    #[test]
    fn merged_pictures_hold_every_active_storage_once() {
        let a = members_from(
            &[(group("group1"), vec![storage("10.0.0.11", 8888, ACTIVE)])],
            8888,
        );
        let b = members_from(
            &[
                (
                    group("group1"),
                    vec![
                        storage("10.0.0.11", 8888, ACTIVE),
                        storage("10.0.0.12", 8888, ACTIVE),
                    ],
                ),
                (group("group2"), vec![]),
            ],
            8888,
        );
        let m = merge(vec![a, b]);
        assert_eq!(m["group1"].len(), 2);
        assert!(m["group2"].is_empty());
    }

    #[test]
    fn unparsable_ips_are_skipped_not_fatal() {
        let m = members_from(
            &[(
                group("g"),
                vec![
                    storage("not-an-ip", 8888, ACTIVE),
                    storage("10.0.0.1", 8888, ACTIVE),
                ],
            )],
            8888,
        );
        assert_eq!(m["g"].len(), 1);
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    fn storage() -> impl Strategy<Value = StorageStat> {
        (
            "[0-9.]{0,15}|[0-9a-f:]{2,39}|.{0,16}",
            prop_oneof![Just(0i64), 1i64..=65535, any::<i64>()],
            prop_oneof![Just(ACTIVE), any::<u8>()],
        )
            .prop_map(|(ip, storage_http_port, status)| StorageStat {
                ip,
                storage_http_port,
                status,
                ..Default::default()
            })
    }

    proptest! {
        #[test]
        fn any_tracker_report_gives_addresses_of_active_storages_only(
            groups in proptest::collection::btree_map(
                "[a-z0-9]{1,8}",
                proptest::collection::vec(storage(), 0..6),
                0..4,
            ),
            default_port in 1u16..,
        ) {
            let input: Vec<(GroupStat, Vec<StorageStat>)> = groups
                .into_iter()
                .map(|(name, s)| (GroupStat { name, ..Default::default() }, s))
                .collect();
            let members = members_from(&input, default_port);
            for (g, storages) in &input {
                let addrs = &members[&g.name];
                for a in addrs {
                    let from_active = storages.iter().any(|s| {
                        s.status == ACTIVE
                            && s.ip.parse() == Ok(a.ip())
                            && match s.storage_http_port {
                                0 => a.port() == default_port,
                                p => i64::from(a.port()) == p,
                            }
                    });
                    prop_assert!(from_active, "{} in {}", a, g.name);
                }
            }
        }
    }
}
