//! The cluster as one tracker sees it, as JSON: what its status page
//! (`/status.json` on `metrics_listen`) polls and what CLUSTER_STATUS
//! (244) answers for `ferrodfs monitor`. Fields only ever get added, each
//! with a default, so an older reader keeps working.

use serde::{Deserialize, Serialize};

use crate::cluster::{PathUsage, ScrubReport, SyncLag};
use crate::stat::Count;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ClusterStatus {
    /// Unix time the document was made (the tracker's clock).
    pub now: i64,
    /// The answering tracker, `ip:port` (empty while it does not know
    /// its own address).
    pub tracker: String,
    /// Its version.
    pub version: String,
    /// The leader, `ip:port`, when known.
    pub leader: Option<String>,
    /// This tracker and the peers it knows.
    pub trackers: Vec<TrackerView>,
    pub groups: Vec<GroupView>,
    /// Recent state changes, oldest first.
    pub changes: Vec<StateChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TrackerView {
    pub addr: String,
    /// This tracker answered its peer's probes (always true for itself).
    pub reachable: bool,
    pub leader: bool,
    /// Unix time of the last answered probe (0: never; `now` for itself).
    pub last_seen: i64,
    /// Known for the answering tracker only.
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GroupView {
    pub name: String,
    /// Capacity as list-groups reports it (the fullest ACTIVE member).
    pub total_mb: i64,
    pub free_mb: i64,
    pub members: Vec<MemberView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MemberView {
    pub ip: String,
    pub port: u16,
    pub http_port: u16,
    /// ACTIVE, WAIT_SYNC, SYNCING, OFFLINE... (FastDFS's names).
    pub state: String,
    pub version: String,
    pub join_time: i64,
    pub up_time: i64,
    /// Unix time of its last join or heartbeat.
    pub last_heartbeat: i64,
    pub store_paths: Vec<PathUsage>,
    /// Free space under which the tracker sends it no uploads, per store
    /// path (MB): the tracker's `reserved_storage_space`.
    pub reserved_mb: Vec<i64>,
    /// Refuses uploads: every store path is down to its reservation.
    pub full: bool,
    pub upload: Count,
    pub download: Count,
    pub upload_bytes: Count,
    pub download_bytes: Count,
    /// The member sending it its initial copy.
    pub sync_src: Option<String>,
    /// Records of the initial copy still to come, as its source reports
    /// them (while SYNCING or WAIT_SYNC, when the source has said).
    pub copy_pending: Option<u64>,
    /// Its lag to each peer it pushes to.
    pub lag: Vec<SyncLag>,
    /// Its last finished scrub pass (none since it started).
    pub last_scrub: Option<ScrubView>,
}

/// What a member's last scrub pass found, without the names of the copies
/// it could not repair (`ferrodfs scrub` prints those).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ScrubView {
    /// Unix times the pass started and finished.
    pub started: i64,
    pub finished: i64,
    /// Copies checked, and the bytes read to check them.
    pub checked: u64,
    pub bytes: u64,
    /// Copies found bad: absent, or whose size or CRC32 differs from their name.
    pub missing: u64,
    pub corrupt: u64,
    /// Bad copies replaced from a member.
    pub repaired: u64,
    /// Bad copies no member had a good copy of.
    pub unrepaired: u64,
}

impl From<&ScrubReport> for ScrubView {
    fn from(r: &ScrubReport) -> ScrubView {
        ScrubView {
            started: r.started,
            finished: r.finished,
            checked: r.checked,
            bytes: r.bytes,
            missing: r.missing,
            corrupt: r.corrupt,
            repaired: r.repaired,
            unrepaired: r.unrepaired_count,
        }
    }
}

/// One change of a member's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct StateChange {
    pub time: i64,
    pub group: String,
    pub ip: String,
    /// Empty for a member seen for the first time.
    pub from: String,
    pub to: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_survives_json_and_missing_fields_take_defaults() {
        let s = ClusterStatus {
            now: 5,
            tracker: "10.0.0.1:22122".into(),
            groups: vec![GroupView {
                name: "group1".into(),
                members: vec![MemberView {
                    ip: "10.0.0.11".into(),
                    state: "ACTIVE".into(),
                    lag: vec![SyncLag {
                        peer: "10.0.0.12:23000".into(),
                        pending_records: 3,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let back: ClusterStatus = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let old: ClusterStatus =
            serde_json::from_str(r#"{"now":1,"groups":[{"name":"g"}]}"#).unwrap();
        assert_eq!(old.groups[0].name, "g");
        assert!(old.groups[0].members.is_empty());
    }
}
