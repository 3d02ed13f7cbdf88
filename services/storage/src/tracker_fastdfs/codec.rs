//! The bodies a FastDFS 6.11+ storage exchanges with its trackers
//! (tracker/tracker_proto.h, storage/tracker_client_thread.c), encoded
//! and decoded without I/O. Integers are big-endian, strings NUL-padded.

use ferrodfs_proto::cluster::PathUsage;
use ferrodfs_proto::fields::{get_fixed, put_fixed, put_i64, GROUP_NAME_LEN};
use ferrodfs_proto::io::ProtoError;
use ferrodfs_proto::stat::StorageStats;

/// `FDFS_STORAGE_ID_MAX_SIZE`.
pub const ID_LEN: usize = 16;
/// `IP_ADDRESS_SIZE` (the IPv6 width, since 6.x).
pub const IP_LEN: usize = 46;
/// `FDFS_VERSION_SIZE` (8 since 6.12).
const VERSION_LEN: usize = 8;
/// `sizeof(TrackerStorageJoinBody)`: group(17), port, store_path_count,
/// subdir_count_per_path, upload_priority, join_time, up_time (8 each),
/// version(8), init_flag(1), status(1), storage_id(16),
/// current_tracker_ip(46), tracker_count(8).
pub const JOIN_FIXED_LEN: usize =
    GROUP_NAME_LEN + 1 + 6 * 8 + VERSION_LEN + 2 + ID_LEN + IP_LEN + 8;
/// `sizeof(FDFSStorageBrief)`: status(1) + port(4) + id(16) + ip(46).
pub const BRIEF_LEN: usize = 1 + 4 + ID_LEN + IP_LEN;
/// `FDFS_MAX_SERVERS_EACH_GROUP`.
pub const MAX_SERVERS_EACH_GROUP: usize = 32;
/// The largest beat answer FastDFS reads: the flags, a leader and a
/// trunk server brief, and a full group.
pub const MAX_CHANGES_REPLY: u64 = (1 + (2 + MAX_SERVERS_EACH_GROUP) * BRIEF_LEN) as u64;
/// `TrackerStorageSyncReqBody`: src_id(16) + until_timestamp(8).
pub const SYNC_SOURCE_LEN: usize = ID_LEN + 8;
/// FastDFS reads the GET_MY_IP answer into 256 bytes.
pub const MAX_MY_IP_REPLY: u64 = 255;

/// `FDFS_CHANGE_FLAG_TRACKER_LEADER`, `_TRUNK_SERVER`, `_GROUP_SERVER`.
const LEADER_CHANGED: u8 = 1;
const TRUNK_CHANGED: u8 = 2;
const GROUP_CHANGED: u8 = 4;

fn bad(what: String) -> ProtoError {
    ProtoError::BadReply(what)
}

/// What the storage tells a tracker when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join<'a> {
    pub group: &'a str,
    pub port: u16,
    pub store_path_count: usize,
    pub subdir_count_per_path: u32,
    pub upload_priority: i64,
    pub join_time: i64,
    pub up_time: i64,
    pub version: &'a str,
    /// The tracker has not yet told this storage where its initial copy
    /// comes from (FastDFS's `!sync_old_done`): it asks SYNC_DEST_REQ next.
    pub needs_sync_source: bool,
    /// The storage's last known status of itself.
    pub status: u8,
    /// The tracker this join goes to, as the storage reaches it.
    pub current_tracker_ip: &'a str,
    /// Every tracker of the storage's config, `host:port`.
    pub trackers: &'a [String],
}

/// JOIN (81): the fixed part, then one `host:port\n` line per tracker.
/// `storage_id` stays empty: trackers identify the storage by its address.
pub fn join_body(j: &Join) -> Vec<u8> {
    let mut b = Vec::with_capacity(JOIN_FIXED_LEN + j.trackers.len() * 32);
    put_fixed(&mut b, j.group, GROUP_NAME_LEN + 1);
    for v in [
        i64::from(j.port),
        j.store_path_count as i64,
        i64::from(j.subdir_count_per_path),
        j.upload_priority,
        j.join_time,
        j.up_time,
    ] {
        put_i64(&mut b, v);
    }
    put_fixed(&mut b, j.version, VERSION_LEN);
    b.push(u8::from(j.needs_sync_source));
    b.push(j.status);
    put_fixed(&mut b, "", ID_LEN);
    put_fixed(&mut b, j.current_tracker_ip, IP_LEN);
    put_i64(&mut b, j.trackers.len() as i64);
    for t in j.trackers {
        b.extend_from_slice(t.as_bytes());
        b.push(b'\n');
    }
    b
}

/// `TrackerStorageJoinBodyResp`: the status the tracker holds for the
/// storage and, if it has one, the member sending its initial copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinReply {
    pub status: u8,
    pub src_id: String,
}

pub fn parse_join_reply(b: &[u8]) -> Result<JoinReply, ProtoError> {
    if b.len() != 1 + ID_LEN {
        return Err(bad(format!(
            "join answer of {} bytes, expected {}",
            b.len(),
            1 + ID_LEN
        )));
    }
    Ok(JoinReply {
        status: b[0],
        src_id: get_fixed(&b[1..]),
    })
}

/// GET_MY_IP (60): `group(17) + port(4)`.
pub fn get_my_ip_body(group: &str, port: u16) -> Vec<u8> {
    let mut b = Vec::with_capacity(GROUP_NAME_LEN + 5);
    put_fixed(&mut b, group, GROUP_NAME_LEN + 1);
    b.extend_from_slice(&i32::from(port).to_be_bytes());
    b
}

/// The GET_MY_IP answer: the address(es) the tracker sees the storage
/// connect from, comma-separated.
pub fn parse_my_ips(b: &[u8]) -> Result<Vec<String>, ProtoError> {
    let text = std::str::from_utf8(b)
        .map_err(|_| bad("GET_MY_IP answer is not text".into()))?
        .trim_end_matches('\0');
    let ips: Vec<String> = text
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if ips.is_empty() {
        return Err(bad("GET_MY_IP answer is empty".into()));
    }
    Ok(ips)
}

/// BEAT (83): the 348-byte `FDFSStorageStatBuff` when the counters moved
/// since the last beat on this connection, else nothing.
pub fn beat_body(stats: Option<&StorageStats>) -> Vec<u8> {
    let mut b = Vec::new();
    if let Some(s) = stats {
        s.encode(&mut b);
    }
    b
}

/// REPORT_DISK_USAGE (84): `total_mb(8) + free_mb(8)` per store path.
pub fn disk_usage_body(paths: &[PathUsage]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 * paths.len());
    for p in paths {
        put_i64(&mut b, p.total_mb);
        put_i64(&mut b, p.free_mb);
    }
    b
}

/// Who sends a storage its initial copy, and from when the other members
/// push only their new changes (`TrackerStorageSyncReqBody`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSource {
    pub src_id: String,
    pub until: i64,
}

/// The answer to SYNC_DEST_REQ (87), SYNC_DEST_QUERY (79) and
/// SYNC_SRC_REQ (86): nothing (no source: the storage founded its group,
/// or holds its data), or a source.
pub fn parse_sync_source(b: &[u8]) -> Result<Option<SyncSource>, ProtoError> {
    match b.len() {
        0 => Ok(None),
        SYNC_SOURCE_LEN => Ok(Some(SyncSource {
            src_id: get_fixed(&b[..ID_LEN]),
            until: i64::from_be_bytes(b[ID_LEN..].try_into().expect("8 bytes")),
        })),
        n => Err(bad(format!(
            "sync source answer of {n} bytes, expected 0 or {SYNC_SOURCE_LEN}"
        ))),
    }
}

/// SYNC_NOTIFY (88), sent after every join: the source this storage was
/// given (an empty id: none).
pub fn sync_notify_body(src_id: &str, until: i64) -> Vec<u8> {
    let mut b = Vec::with_capacity(SYNC_SOURCE_LEN);
    put_fixed(&mut b, src_id, ID_LEN);
    put_i64(&mut b, until);
    b
}

/// SYNC_SRC_REQ (86): `group(16) + dest_id(16)`: who sends member
/// `dest_id` its initial copy.
pub fn sync_src_req_body(group: &str, dest_id: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(GROUP_NAME_LEN + ID_LEN);
    put_fixed(&mut b, group, GROUP_NAME_LEN);
    put_fixed(&mut b, dest_id, ID_LEN);
    b
}

/// SYNC_REPORT (89): per member, `id(16)` and the time (4 bytes) up to
/// which this storage holds every file that member created.
pub fn sync_report_body(entries: &[(String, i64)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(entries.len() * (ID_LEN + 4));
    for (id, until) in entries {
        put_fixed(&mut b, id, ID_LEN);
        let ts = (*until).clamp(0, i64::from(i32::MAX)) as i32;
        b.extend_from_slice(&ts.to_be_bytes());
    }
    b
}

/// One `FDFSStorageBrief`: a group member as a tracker lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brief {
    pub status: u8,
    pub port: u16,
    pub id: String,
    pub ip: String,
}

fn put_brief(out: &mut Vec<u8>, b: &Brief) {
    out.push(b.status);
    out.extend_from_slice(&i32::from(b.port).to_be_bytes());
    put_fixed(out, &b.id, ID_LEN);
    put_fixed(out, &b.ip, IP_LEN);
}

/// REPORT_STATUS (76): `group(16) + brief`, an initial-copy source
/// telling the tracker the state of the member it copies to.
pub fn report_status_body(group: &str, member: &Brief) -> Vec<u8> {
    let mut b = Vec::with_capacity(GROUP_NAME_LEN + BRIEF_LEN);
    put_fixed(&mut b, group, GROUP_NAME_LEN);
    put_brief(&mut b, member);
    b
}

fn parse_brief(b: &[u8]) -> Result<Brief, ProtoError> {
    let port = i32::from_be_bytes(b[1..5].try_into().expect("4 bytes"));
    Ok(Brief {
        status: b[0],
        port: u16::try_from(port).map_err(|_| bad(format!("member port {port}")))?,
        id: get_fixed(&b[5..5 + ID_LEN]),
        ip: get_fixed(&b[5 + ID_LEN..BRIEF_LEN]),
    })
}

/// What the answer to BEAT, REPORT_DISK_USAGE or SYNC_REPORT says changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// The tracker leader (flag 1); an empty ip means none.
    pub leader: Option<Brief>,
    /// The trunk server (flag 2); ferrodfs stores no trunk files.
    pub trunk: Option<Brief>,
    /// The whole group, this storage included (flag 4).
    pub members: Option<Vec<Brief>>,
}

/// Reads `flags(1)` and the briefs each flag announces, in flag order;
/// an empty body says nothing changed.
pub fn parse_changes(b: &[u8]) -> Result<Changes, ProtoError> {
    let Some((&flags, rest)) = b.split_first() else {
        return Ok(Changes::default());
    };
    if b.len() as u64 > MAX_CHANGES_REPLY || !rest.len().is_multiple_of(BRIEF_LEN) {
        return Err(bad(format!("change answer of {} bytes", b.len())));
    }
    let mut briefs = rest
        .chunks_exact(BRIEF_LEN)
        .map(parse_brief)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let mut one = |what: &str| {
        briefs
            .next()
            .ok_or_else(|| bad(format!("change flags {flags} without the {what}")))
    };
    let leader = (flags & LEADER_CHANGED != 0)
        .then(|| one("leader"))
        .transpose()?;
    let trunk = (flags & TRUNK_CHANGED != 0)
        .then(|| one("trunk server"))
        .transpose()?;
    let members = (flags & GROUP_CHANGED != 0).then(|| briefs.collect());
    Ok(Changes {
        leader,
        trunk,
        members,
    })
}

#[cfg(test)]
mod tests {
    use ferrodfs_proto::stat::Count;

    use super::*;

    fn be(v: i64) -> [u8; 8] {
        v.to_be_bytes()
    }

    fn padded(s: &str, width: usize) -> Vec<u8> {
        let mut b = s.as_bytes().to_vec();
        b.resize(width, 0);
        b
    }

    #[test]
    fn the_join_body_is_fastdfs_6_11_layout_then_one_line_per_tracker() {
        let trackers = ["10.0.0.1:22122".to_string(), "10.0.0.2:22122".to_string()];
        let b = join_body(&Join {
            group: "group1",
            port: 23000,
            store_path_count: 2,
            subdir_count_per_path: 256,
            upload_priority: 10,
            join_time: 1_700_000_000,
            up_time: 1_700_000_100,
            version: "0.1.0",
            needs_sync_source: true,
            status: 0,
            current_tracker_ip: "10.0.0.1",
            trackers: &trackers,
        });
        assert_eq!(JOIN_FIXED_LEN, 145, "sizeof(TrackerStorageJoinBody)");
        let mut want = padded("group1", 17);
        for v in [23000, 2, 256, 10, 1_700_000_000, 1_700_000_100] {
            want.extend_from_slice(&be(v));
        }
        want.extend_from_slice(b"0.1.0\0\0\0");
        want.extend_from_slice(&[1, 0]);
        want.extend_from_slice(&[0; 16]);
        want.extend_from_slice(&padded("10.0.0.1", 46));
        want.extend_from_slice(&be(2));
        want.extend_from_slice(b"10.0.0.1:22122\n10.0.0.2:22122\n");
        assert_eq!(b, want);
        assert_eq!(&b[17..25], &be(23000), "port right after the 17-byte group");
        assert_eq!(b[73], 1, "init_flag at offset 73");
        assert_eq!(b[74], 0, "status at offset 74");
        assert_eq!(&b[137..145], &be(2), "tracker_count ends the fixed part");
    }

    #[test]
    fn the_join_answer_is_a_status_and_a_16_byte_source_id() {
        let mut b = vec![7];
        b.extend_from_slice(&padded("10.0.0.5", 16));
        assert_eq!(
            parse_join_reply(&b).unwrap(),
            JoinReply {
                status: 7,
                src_id: "10.0.0.5".into()
            }
        );
        assert!(parse_join_reply(&b[..16]).is_err());
        assert!(parse_join_reply(&[b.clone(), vec![0]].concat()).is_err());
    }

    #[test]
    fn get_my_ip_asks_with_group_and_a_4_byte_port_and_reads_text() {
        let b = get_my_ip_body("group1", 23000);
        let mut want = padded("group1", 17);
        want.extend_from_slice(&23000i32.to_be_bytes());
        assert_eq!(b, want);
        assert_eq!(parse_my_ips(b"10.0.0.11").unwrap(), ["10.0.0.11"]);
        assert_eq!(
            parse_my_ips(b"10.0.0.11,fe80::1").unwrap(),
            ["10.0.0.11", "fe80::1"]
        );
        assert!(parse_my_ips(b"").is_err());
        assert!(parse_my_ips(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn a_beat_carries_the_348_byte_stat_block_only_when_given_one() {
        assert!(beat_body(None).is_empty());
        let stats = StorageStats {
            connections: [3, 2, 5],
            upload: Count {
                total: 11,
                success: 10,
            },
            download: Count {
                total: 4,
                success: 4,
            },
            upload_bytes: Count {
                total: 2048,
                success: 1024,
            },
            last_source_update: 1_700_000_200,
            last_heart_beat_time: 1_700_000_300,
            ..StorageStats::default()
        };
        let b = beat_body(Some(&stats));
        assert_eq!(b.len(), 348, "sizeof(FDFSStorageStatBuff)");
        assert_eq!(&b[..12], &[0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 5]);
        // Counter pairs from offset 12, in FDFSStorageStatBuff's order:
        // upload, append, modify, truncate, set_meta, delete, download...
        assert_eq!(&b[12..20], &be(11), "total_upload_count");
        assert_eq!(&b[20..28], &be(10), "success_upload_count");
        assert_eq!(
            &b[12 + 6 * 16..12 + 6 * 16 + 8],
            &be(4),
            "total_download_count"
        );
        assert_eq!(
            &b[12 + 10 * 16..12 + 10 * 16 + 8],
            &be(2048),
            "total_upload_bytes"
        );
        assert_eq!(
            &b[12 + 10 * 16 + 8..12 + 11 * 16],
            &be(1024),
            "success_upload_bytes"
        );
        assert_eq!(&b[316..324], &be(1_700_000_200), "last_source_update");
        assert_eq!(&b[340..348], &be(1_700_000_300), "last_heart_beat_time");
        assert_eq!(StorageStats::decode_block(&b).unwrap(), stats);
    }

    #[test]
    fn disk_usage_is_total_then_free_mb_per_store_path() {
        let b = disk_usage_body(&[
            PathUsage {
                total_mb: 100_000,
                free_mb: 60_000,
            },
            PathUsage {
                total_mb: 5,
                free_mb: 1,
            },
        ]);
        assert_eq!(
            b,
            [be(100_000), be(60_000), be(5), be(1)].concat(),
            "path_count x (total_mb(8) + free_mb(8))"
        );
    }

    #[test]
    fn sync_bodies_are_ids_padded_to_16_and_big_endian_times() {
        assert_eq!(
            sync_notify_body("10.0.0.5", 1_700_000_000),
            [padded("10.0.0.5", 16), be(1_700_000_000).to_vec()].concat()
        );
        assert_eq!(sync_notify_body("", 0), vec![0; 24], "no source");
        assert_eq!(
            sync_src_req_body("group1", "10.0.0.6"),
            [padded("group1", 16), padded("10.0.0.6", 16)].concat()
        );
        assert_eq!(
            sync_report_body(&[("10.0.0.5".into(), 1_700_000_000), ("10.0.0.6".into(), -3)]),
            [
                padded("10.0.0.5", 16),
                1_700_000_000i32.to_be_bytes().to_vec(),
                padded("10.0.0.6", 16),
                vec![0; 4],
            ]
            .concat(),
            "id(16) + a 4-byte timestamp each"
        );
        assert_eq!(parse_sync_source(&[]).unwrap(), None);
        assert_eq!(
            parse_sync_source(&sync_notify_body("10.0.0.5", 99)).unwrap(),
            Some(SyncSource {
                src_id: "10.0.0.5".into(),
                until: 99
            })
        );
        assert!(parse_sync_source(&[0; 23]).is_err());
    }

    fn brief_bytes(status: u8, port: i32, id: &str, ip: &str) -> Vec<u8> {
        [
            vec![status],
            port.to_be_bytes().to_vec(),
            padded(id, 16),
            padded(ip, 46),
        ]
        .concat()
    }

    #[test]
    fn a_change_answer_is_flags_then_the_briefs_each_flag_announces() {
        assert_eq!(BRIEF_LEN, 67, "sizeof(FDFSStorageBrief)");
        assert_eq!(parse_changes(&[]).unwrap(), Changes::default());
        assert_eq!(parse_changes(&[0]).unwrap(), Changes::default());
        let member = |status, ip: &str| Brief {
            status,
            port: 23000,
            id: ip.into(),
            ip: ip.into(),
        };
        let body = [
            vec![1 | 4],
            brief_bytes(0, 22122, "", "10.0.0.1"),
            brief_bytes(7, 23000, "10.0.0.5", "10.0.0.5"),
            brief_bytes(1, 23000, "10.0.0.6", "10.0.0.6"),
        ]
        .concat();
        let c = parse_changes(&body).unwrap();
        assert_eq!(c.leader.unwrap().ip, "10.0.0.1");
        assert_eq!(c.trunk, None);
        assert_eq!(
            c.members.unwrap(),
            [member(7, "10.0.0.5"), member(1, "10.0.0.6")]
        );
        let group_only = [vec![4], brief_bytes(7, 23000, "10.0.0.5", "10.0.0.5")].concat();
        assert_eq!(
            parse_changes(&group_only).unwrap().members.unwrap(),
            [member(7, "10.0.0.5")]
        );
    }

    #[test]
    fn report_status_is_the_group_then_the_members_brief() {
        let b = report_status_body(
            "group1",
            &Brief {
                status: 5,
                port: 23000,
                id: "10.0.0.6".into(),
                ip: "10.0.0.6".into(),
            },
        );
        assert_eq!(b.len(), 16 + 67);
        assert_eq!(
            b,
            [
                padded("group1", 16),
                brief_bytes(5, 23000, "10.0.0.6", "10.0.0.6")
            ]
            .concat()
        );
    }

    #[test]
    fn a_change_answer_fastdfs_would_refuse_is_a_bad_reply() {
        let one = brief_bytes(7, 23000, "10.0.0.5", "10.0.0.5");
        for (why, b) in [
            ("not whole briefs", [vec![4], one[..66].to_vec()].concat()),
            ("leader flag without a brief", vec![1]),
            (
                "port out of range",
                [vec![4], brief_bytes(7, 70000, "a", "a")].concat(),
            ),
            ("more than a group", [vec![4], one.repeat(35)].concat()),
        ] {
            assert!(
                matches!(parse_changes(&b), Err(ProtoError::BadReply(_))),
                "{why}"
            );
        }
    }
}
