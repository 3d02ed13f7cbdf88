//! The pure decisions of the FastDFS tracker mode: what a join says of
//! the storage, how a leader's member list splits into this storage,
//! its peers and removed members (inside `fastdfs_peers` only), what the
//! sync answers mean as initial-copy states, and what the storage
//! reports as a copy source or a sync destination.

use std::collections::BTreeMap;

use ferrodfs_proto::cluster::{state, InitState, Member, SyncLag};

use super::codec::{self, Brief};

/// FastDFS's `FDFS_STORAGE_STATUS_IP_CHANGED`: a member listed under an
/// address it no longer has.
const IP_CHANGED: u8 = 3;

/// The status a join announces: the one a tracker last gave, else ACTIVE
/// for a storage that holds its group's data (a tracker that does not
/// know it would otherwise keep it INIT forever) and INIT for one that
/// does not yet.
pub(super) fn join_status(told: Option<u8>, holds_data: bool) -> u8 {
    match told {
        Some(s) => s,
        None if holds_data => state::ACTIVE,
        None => state::INIT,
    }
}

/// What this storage, as the initial-copy source of new members, tells
/// the trackers of them (REPORT_STATUS), as a FastDFS source does: SYNCING
/// once its push worker sends the full copy, OFFLINE once the copy is
/// complete (the tracker then makes the member ACTIVE on its next beat).
/// Read from the push workers' progress (`lag`, by `ip:port` or id).
pub(super) fn copy_reports(
    me: &str,
    peers: &[Brief],
    member_init: &BTreeMap<String, InitState>,
    lag: &[SyncLag],
) -> Vec<Brief> {
    peers
        .iter()
        .filter(|p| matches!(p.status, state::WAIT_SYNC | state::SYNCING))
        .filter(|p| {
            member_init
                .get(&p.ip)
                .is_some_and(|i| i.sync_src.as_deref() == Some(me))
        })
        .filter_map(|p| {
            let key = format!("{}:{}", p.ip, p.port);
            let progress = lag.iter().find(|l| l.peer == key || l.peer == p.id)?;
            let status = match (progress.full_copy, p.status) {
                (true, state::WAIT_SYNC) => state::SYNCING,
                (true, _) => return None,
                (false, _) => state::OFFLINE,
            };
            Some(Brief {
                status,
                ..p.clone()
            })
        })
        .collect()
}

/// SYNC_REPORT's entries: per peer id, the time up to which this storage
/// holds every file that peer created (0: nothing known yet).
pub(super) fn synced_entries(
    peers: &[Brief],
    synced: &BTreeMap<String, i64>,
) -> Vec<(String, i64)> {
    peers
        .iter()
        .map(|p| {
            let until = synced
                .get(&p.id)
                .or_else(|| synced.get(&p.ip))
                .copied()
                .unwrap_or(0);
            (p.id.clone(), until)
        })
        .collect()
}

/// A member list split into this storage's own entry, the members to
/// sync with, and the ids of the members removed from the group; members
/// outside `allowed` are left out (and named, to be logged).
pub(super) struct Roster {
    pub me: Option<Brief>,
    pub peers: Vec<Brief>,
    pub deleted: Vec<String>,
    pub refused: Vec<String>,
}

pub(super) fn roster(
    members: Vec<Brief>,
    me: &str,
    port: u16,
    allowed: impl Fn(&str) -> bool,
) -> Roster {
    let mut r = Roster {
        me: None,
        peers: Vec::new(),
        deleted: Vec::new(),
        refused: Vec::new(),
    };
    for b in members {
        if b.ip == me && b.port == port {
            r.me = Some(b);
        } else if !allowed(&b.ip) {
            r.refused.push(b.ip);
        } else if matches!(b.status, state::DELETED | IP_CHANGED) {
            r.deleted.push(if b.id.is_empty() { b.ip } else { b.id });
        } else {
            r.peers.push(b);
        }
    }
    r
}

pub(super) fn member_of(b: &Brief) -> Member {
    Member {
        id: if b.id.is_empty() {
            b.ip.clone()
        } else {
            b.id.clone()
        },
        ip: b.ip.clone(),
        port: b.port,
        // FastDFS briefs carry no HTTP port; 0 makes HTTP access assume
        // its own, as nginx on every member of a group usually listens.
        http_port: 0,
        status: b.status,
        // FastDFS trackers cannot say which members run ferrodfs, and
        // every member they list takes FastDFS's storage sync: FastDFS
        // storages natively, ferrodfs ones in this mode from their
        // `fastdfs_peers`, which the roster already checked.
        fastdfs: true,
    }
}

/// A sync source answer as an initial-copy state: no source means the
/// storage holds its data; `ip_of` turns the source's id into its IP.
pub(super) fn sync_state(
    answer: Option<codec::SyncSource>,
    ip_of: impl Fn(&str) -> String,
) -> InitState {
    match answer {
        Some(s) if !s.src_id.is_empty() => InitState {
            done: false,
            sync_src: Some(ip_of(&s.src_id)),
            sync_until: s.until,
            receiving: false,
        },
        _ => InitState::holding(),
    }
}

/// A member's IP from its id (they differ only with storage ids).
pub(super) fn source_ip(peers: &[Brief], id: &str) -> String {
    peers
        .iter()
        .find(|p| p.id == id)
        .map_or_else(|| id.to_string(), |p| p.ip.clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn ips(bs: &[Brief]) -> BTreeSet<String> {
        bs.iter().map(|b| b.ip.clone()).collect()
    }

    fn brief(status: u8, ip: &str) -> Brief {
        Brief {
            status,
            port: 23000,
            id: ip.into(),
            ip: ip.into(),
        }
    }

    #[test]
    fn a_join_says_the_status_last_told_else_what_the_data_allows() {
        assert_eq!(join_status(Some(state::WAIT_SYNC), true), state::WAIT_SYNC);
        assert_eq!(join_status(None, true), state::ACTIVE);
        assert_eq!(join_status(None, false), state::INIT);
    }

    #[test]
    fn a_member_list_is_split_into_me_peers_and_removed_members_inside_fastdfs_peers() {
        let r = roster(
            vec![
                brief(state::ACTIVE, "10.0.0.5"),
                brief(state::WAIT_SYNC, "10.0.0.6"),
                brief(state::DELETED, "10.0.0.7"),
                brief(state::ACTIVE, "192.168.1.9"),
                brief(state::ACTIVE, "10.0.0.8"),
            ],
            "10.0.0.8",
            23000,
            |ip| ip.starts_with("10.0.0."),
        );
        assert_eq!(r.me, Some(brief(state::ACTIVE, "10.0.0.8")));
        assert_eq!(
            ips(&r.peers),
            ["10.0.0.5", "10.0.0.6"].map(String::from).into()
        );
        assert_eq!(r.deleted, ["10.0.0.7"]);
        assert_eq!(r.refused, ["192.168.1.9"], "outside fastdfs_peers");
    }

    #[test]
    fn the_sync_report_covers_every_peer_by_id_with_0_when_nothing_is_known() {
        let synced: BTreeMap<String, i64> = [("10.0.0.5".to_string(), 1_700_000_000)].into();
        assert_eq!(
            synced_entries(
                &[
                    brief(state::ACTIVE, "10.0.0.5"),
                    brief(state::ACTIVE, "10.0.0.6")
                ],
                &synced
            ),
            [
                ("10.0.0.5".to_string(), 1_700_000_000),
                ("10.0.0.6".to_string(), 0)
            ]
        );
        assert!(synced_entries(&[], &synced).is_empty());
    }

    #[test]
    fn a_sync_source_answer_is_a_copy_to_wait_for_or_data_held() {
        let waiting = sync_state(
            Some(codec::SyncSource {
                src_id: "7".into(),
                until: 99,
            }),
            |id| format!("10.0.0.{id}"),
        );
        assert_eq!(
            (
                waiting.done,
                waiting.sync_src.as_deref(),
                waiting.sync_until
            ),
            (false, Some("10.0.0.7"), 99)
        );
        assert_eq!(sync_state(None, |id| id.to_string()), InitState::holding());
    }

    #[test]
    fn the_copy_source_reports_a_new_member_syncing_then_offline() {
        let me = "10.0.0.5";
        let peers = [
            brief(state::WAIT_SYNC, "10.0.0.6"),
            brief(state::SYNCING, "10.0.0.7"),
            brief(state::WAIT_SYNC, "10.0.0.8"),
            brief(state::ACTIVE, "10.0.0.9"),
        ];
        let from = |src: &str| InitState {
            sync_src: Some(src.into()),
            sync_until: 1,
            ..InitState::default()
        };
        let init: BTreeMap<String, InitState> = [
            ("10.0.0.6".to_string(), from(me)),
            ("10.0.0.7".to_string(), from(me)),
            ("10.0.0.8".to_string(), from("10.0.0.9")),
            ("10.0.0.9".to_string(), InitState::holding()),
        ]
        .into();
        let lag = |ip: &str, full_copy| SyncLag {
            peer: format!("{ip}:23000"),
            full_copy,
            ..SyncLag::default()
        };
        let reported = |lag: &[SyncLag]| -> Vec<(String, u8)> {
            copy_reports(me, &peers, &init, lag)
                .into_iter()
                .map(|b| (b.ip, b.status))
                .collect()
        };
        assert!(reported(&[]).is_empty(), "no push worker progress yet");
        assert_eq!(
            reported(&[
                lag("10.0.0.6", true),
                lag("10.0.0.7", true),
                lag("10.0.0.8", false)
            ]),
            [("10.0.0.6".to_string(), state::SYNCING)],
            "copying: WAIT_SYNC becomes SYNCING; 10.0.0.8 is another member's to report"
        );
        assert_eq!(
            reported(&[lag("10.0.0.6", false), lag("10.0.0.7", false)]),
            [
                ("10.0.0.6".to_string(), state::OFFLINE),
                ("10.0.0.7".to_string(), state::OFFLINE)
            ],
            "copy complete"
        );
    }

    #[test]
    fn a_member_without_an_id_is_known_by_its_ip() {
        let m = member_of(&Brief {
            status: state::ACTIVE,
            port: 23001,
            id: String::new(),
            ip: "10.0.0.5".into(),
        });
        assert_eq!(
            (m.id.as_str(), m.ip.as_str(), m.port),
            ("10.0.0.5", "10.0.0.5", 23001)
        );
    }
}
