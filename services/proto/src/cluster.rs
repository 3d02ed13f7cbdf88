//! Storage <-> tracker messages. FastDFS clients never see these, so
//! ferrodfs frames them like every other packet (cmd 81 join / 83 beat)
//! but carries a JSON body that can grow without a layout change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stat::StorageStats;

/// Storage states as FastDFS numbers them (tracker/tracker_types.h).
pub mod state {
    pub const INIT: u8 = 0;
    pub const WAIT_SYNC: u8 = 1;
    pub const SYNCING: u8 = 2;
    pub const DELETED: u8 = 4;
    pub const OFFLINE: u8 = 5;
    pub const ONLINE: u8 = 6;
    pub const ACTIVE: u8 = 7;

    pub fn name(s: u8) -> &'static str {
        match s {
            INIT => "INIT",
            WAIT_SYNC => "WAIT_SYNC",
            SYNCING => "SYNCING",
            DELETED => "DELETED",
            OFFLINE => "OFFLINE",
            ONLINE => "ONLINE",
            ACTIVE => "ACTIVE",
            _ => "UNKNOWN",
        }
    }
}

/// Space of one store path, in MB as FastDFS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PathUsage {
    pub total_mb: i64,
    pub free_mb: i64,
}

/// Sent by a storage to every tracker on join and on every heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StorageReport {
    pub group: String,
    /// Address clients connect to; also the storage's id, as in FastDFS
    /// with `use_storage_id = false`.
    pub ip: String,
    pub port: u16,
    pub http_port: u16,
    pub version: String,
    pub join_time: i64,
    pub up_time: i64,
    pub store_paths: Vec<PathUsage>,
    pub subdir_count_per_path: u32,
    pub current_write_path: u32,
    pub upload_priority: i64,
    pub stats: StorageStats,
    /// Per source storage id: every file that source created up to this
    /// unix time is present here (FastDFS's synced timestamp).
    #[serde(default)]
    pub synced_until: BTreeMap<String, i64>,
    /// Where the storage stands in its initial full copy. `None` from a
    /// storage that predates group sync: it is taken to hold its data.
    #[serde(default)]
    pub init: Option<InitState>,
    /// Every store path is down to the storage's own
    /// `reserved_storage_space`: it refuses uploads (ENOSPC), so trackers
    /// place them elsewhere whatever their own reservation says.
    #[serde(default)]
    pub full: bool,
    /// The storage's `tracker_servers`: how trackers learn their peers.
    #[serde(default)]
    pub trackers: Vec<String>,
    /// The storage's last finished scrub pass, if any.
    #[serde(default)]
    pub last_scrub: Option<ScrubReport>,
    /// How far behind each peer this storage pushes to is: what the
    /// status page and `ferrodfs monitor` show per source -> peer pair.
    #[serde(default)]
    pub sync_lag: Vec<SyncLag>,
    /// The storage's `heart_beat_interval` in milliseconds (0: not told):
    /// trackers stop placing uploads on a storage silent for two of them,
    /// long before `check_active_interval` takes it OFFLINE.
    #[serde(default)]
    pub heart_beat_interval_ms: u64,
}

/// Replication lag from the reporting storage to one peer: its binlog
/// records the peer has not applied yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncLag {
    /// The peer, `ip:port`.
    pub peer: String,
    /// Records still to push.
    pub pending_records: u64,
    /// Bytes of file content those records carry (whole files for
    /// creates, the changed range for appends and modifications).
    pub pending_bytes: u64,
    /// Age in seconds of the oldest of them when the report was made
    /// (0 when nothing is pending).
    pub age_secs: i64,
    /// Sending the peer its initial full copy.
    #[serde(default)]
    pub full_copy: bool,
}

/// A storage's initial full copy (FastDFS `.data_init_flag` and the
/// SYNC_DEST_REQ answer). A new member of a group holds nothing until one
/// ACTIVE member, chosen by the tracker leader, has replayed its whole
/// binlog to it: WAIT_SYNC (chosen, nothing received yet), SYNCING
/// (receiving), ACTIVE (done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InitState {
    /// The full copy finished, or the storage founded its group.
    pub done: bool,
    /// The member sending the full copy (its IP).
    #[serde(default)]
    pub sync_src: Option<String>,
    /// Unix time the source was chosen: other members push only their
    /// changes from about then on, the source sends everything.
    #[serde(default)]
    pub sync_until: i64,
    /// Full-copy content has started arriving.
    #[serde(default)]
    pub receiving: bool,
}

impl InitState {
    /// The state of a storage that holds its group's data.
    pub fn holding() -> InitState {
        InitState {
            done: true,
            ..Default::default()
        }
    }
}

/// A group member as the tracker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Member {
    /// Its storage id: the number storage_ids.conf gives it with
    /// `use_storage_id`, otherwise its IP (as in FastDFS). Trackers key
    /// storages by it, so a storage whose address changes stays itself.
    #[serde(default)]
    pub id: String,
    pub ip: String,
    pub port: u16,
    pub http_port: u16,
    pub status: u8,
    /// It joined the tracker with FastDFS's own binary protocol (a FastDFS
    /// storage of a mixed group): ferrodfs members push to it with
    /// FastDFS's storage sync commands, if their `fastdfs_peers` allows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fastdfs: bool,
}

/// The tracker's answer to a join or heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BeatReply {
    /// The state the tracker holds for this storage.
    pub status: u8,
    /// Every member of the storage's group, itself included.
    pub members: Vec<Member>,
    /// Only from the leader tracker: its decision for this storage's
    /// initial copy (founding member, or which member sends it).
    #[serde(default)]
    pub init: Option<InitState>,
    /// Per member IP, its initial-copy state as this tracker knows it
    /// (the leader's decisions included): tells the chosen source to send
    /// everything. Members missing here predate group sync.
    #[serde(default)]
    pub member_init: BTreeMap<String, InitState>,
    /// The answering tracker is the leader (its `init` is a decision).
    #[serde(default)]
    pub leader: bool,
    /// Ids of members removed from the group (DELETE_STORAGE): the others
    /// stop syncing to them. A member merely missing from `members` may
    /// just not have reached this tracker yet.
    #[serde(default)]
    pub deleted: Vec<String>,
    /// With `use_storage_id` and `id_type_in_filename = id`: the storage
    /// id this storage writes into new file names instead of its IP.
    #[serde(default)]
    pub filename_id: Option<u32>,
}

/// What one scrub pass of a storage found and fixed (JSON, the answer to
/// [`crate::cmd::SCRUB`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScrubReport {
    /// Unix times; `finished` is 0 while the pass runs.
    pub started: i64,
    pub finished: i64,
    /// Files the binlog says this storage holds, checked.
    pub checked: u64,
    /// Bytes read to check them.
    pub bytes: u64,
    /// Copies absent from the disk.
    pub missing: u64,
    /// Copies whose size or CRC32 differs from what the name records.
    pub corrupt: u64,
    /// Missing or corrupt copies replaced by a good copy from a member.
    pub repaired: u64,
    /// Names of copies no member had a good copy of: reported, left as
    /// they are (at most 100 listed).
    pub unrepaired: Vec<String>,
    pub unrepaired_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_survives_json() {
        let r = StorageReport {
            group: "group1".into(),
            ip: "127.0.0.11".into(),
            port: 23000,
            ..Default::default()
        };
        let back: StorageReport = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Arbitrary bytes, arbitrary text, and JSON whose keys are this
    /// module's field names with values of any JSON type.
    fn json_like() -> impl Strategy<Value = Vec<u8>> {
        let key = prop_oneof![
            Just("group"),
            Just("ip"),
            Just("port"),
            Just("status"),
            Just("members"),
            Just("init"),
            Just("member_init"),
            Just("stats"),
            Just("store_paths"),
            Just("synced_until"),
            Just("done"),
        ];
        let value = prop_oneof![
            Just("null".to_string()),
            any::<i64>().prop_map(|v| v.to_string()),
            any::<u64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:?}")),
            ".{0,10}".prop_map(|s| format!("{s:?}")),
            Just("[]".to_string()),
            Just("{}".to_string()),
            Just("[{\"ip\":1}]".to_string()),
            Just("{\"a\":{\"done\":\"x\"}}".to_string()),
        ];
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            ".{0,300}".prop_map(String::into_bytes),
            proptest::collection::vec((key, value), 0..6).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", fields.join(",")).into_bytes()
            }),
        ]
    }

    proptest! {
        #[test]
        fn any_body_decodes_or_is_refused(b in json_like()) {
            let _ = serde_json::from_slice::<StorageReport>(&b);
            let _ = serde_json::from_slice::<BeatReply>(&b);
            let _ = serde_json::from_slice::<Member>(&b);
            let _ = serde_json::from_slice::<InitState>(&b);
        }

        #[test]
        fn reports_and_replies_round_trip(
            (group, ip, version) in (".{0,16}", ".{0,40}", ".{0,8}"),
            (port, http_port, status) in any::<(u16, u16, u8)>(),
            paths in proptest::collection::vec(any::<(i64, i64)>(), 0..3),
            synced in proptest::collection::btree_map(".{0,15}", any::<i64>(), 0..3),
            init in proptest::option::of(any::<(bool, bool, i64)>()),
        ) {
            let init = init.map(|(done, receiving, sync_until)| InitState {
                done,
                sync_src: Some(ip.clone()),
                sync_until,
                receiving,
            });
            let r = StorageReport {
                group,
                ip: ip.clone(),
                port,
                http_port,
                version,
                store_paths: paths
                    .into_iter()
                    .map(|(total_mb, free_mb)| PathUsage { total_mb, free_mb })
                    .collect(),
                synced_until: synced,
                init: init.clone(),
                ..Default::default()
            };
            let back: StorageReport = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
            prop_assert_eq!(back, r);
            let reply = BeatReply {
                status,
                members: vec![Member { id: ip.clone(), ip: ip.clone(), port, http_port, status, fastdfs: port % 2 == 0 }],
                member_init: init.iter().map(|i| (ip.clone(), i.clone())).collect(),
                init,
                ..Default::default()
            };
            let back: BeatReply = serde_json::from_slice(&serde_json::to_vec(&reply).unwrap()).unwrap();
            prop_assert_eq!(back, reply);
        }
    }
}
