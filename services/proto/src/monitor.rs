//! The tracker's cluster-statistics commands of FastDFS 6.15.5+, used by
//! the 6.16 tools `fdfs_tracker_stat`, `fdfs_storage_stat` and
//! `fdfs_volumn_stat` (tracker/tracker_proto.h, tracker_service.c):
//! GET_LEADER (95), TRACKER_CLUSTER_STAT (96), STORAGE_CLUSTER_STAT (97)
//! and STORAGE_VOLUMN_STAT (98). Each request is a fixed filter; each
//! reply is a small header and fixed-size records of NUL-padded text and
//! big-endian integers (no alignment padding: every field is bytes).

use crate::fields::{get_fixed, put_fixed, put_i64, FieldError, Reader, GROUP_NAME_LEN};

/// `FDFS_MAX_IP_PORT_SIZE`: an IPv6 address (46) plus `:port` (6).
pub const HOST_LEN: usize = 46 + 6;
/// `FDFS_VERSION_SIZE`.
pub const VERSION_LEN: usize = 8;
/// `FDFS_STORAGE_ID_MAX_SIZE`.
pub const STORAGE_ID_LEN: usize = 16;

/// `ip:port`, an IPv6 address in brackets (libfastcommon format_ip_port):
/// the host text of GET_LEADER's reply and of the stat records.
pub fn host_port(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Connection gauges (`FDFSConnectionStat`): allocated, current, max.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Connections {
    pub alloc: i32,
    pub current: i32,
    pub max: i32,
}

impl Connections {
    fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.alloc, self.current, self.max] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }

    fn parse(r: &mut Reader) -> Result<Self, FieldError> {
        let mut v = [0i32; 3];
        for x in v.iter_mut() {
            *x = i32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes"));
        }
        Ok(Connections {
            alloc: v[0],
            current: v[1],
            max: v[2],
        })
    }
}

fn flag(b: bool) -> u8 {
    u8::from(b)
}

fn exact(body: &[u8], len: usize) -> Result<(), FieldError> {
    if body.len() != len {
        return Err(FieldError::LengthMismatch {
            want: len as u64,
            got: body.len() as u64,
        });
    }
    Ok(())
}

/// Splits a reply into its header and `count` records of `record_len`
/// bytes; the body must be exactly that long, as the C client checks.
fn records(
    body: &[u8],
    header_len: usize,
    count: usize,
    record_len: usize,
) -> Result<std::slice::Chunks<'_, u8>, FieldError> {
    exact(body, header_len + count * record_len)?;
    Ok(body[header_len..].chunks(record_len))
}

/// TRACKER_CLUSTER_STAT request (`TrackerStatFilter`, 3 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStatFilter {
    /// Bit 1: by `is_active`; bit 2: by `is_leader`.
    pub filter_by: u8,
    pub is_active: u8,
    pub is_leader: u8,
}

impl TrackerStatFilter {
    pub const LEN: usize = 3;
    pub const BY_ACTIVE: u8 = 1;
    pub const BY_LEADER: u8 = 2;

    pub fn encode(&self) -> Vec<u8> {
        vec![self.filter_by, self.is_active, self.is_leader]
    }

    pub fn parse(body: &[u8]) -> Result<Self, FieldError> {
        exact(body, Self::LEN)?;
        Ok(TrackerStatFilter {
            filter_by: body[0],
            is_active: body[1],
            is_leader: body[2],
        })
    }

    pub fn admits(&self, t: &TrackerStat) -> bool {
        (self.filter_by & Self::BY_LEADER == 0 || flag(t.is_leader) == self.is_leader)
            && (self.filter_by & Self::BY_ACTIVE == 0 || flag(t.is_active) == self.is_active)
    }
}

/// One tracker in the TRACKER_CLUSTER_STAT reply
/// (`TrackerClusterStatRespBodyPart`, 90 bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackerStat {
    /// `ip:port`, see [`host_port`].
    pub host: String,
    pub is_leader: bool,
    pub is_active: bool,
    pub connections: Connections,
    pub version: String,
    /// Unix time the tracker started.
    pub up_time: i64,
    pub last_heartbeat_time: i64,
}

impl TrackerStat {
    pub const LEN: usize = HOST_LEN + 2 + 12 + VERSION_LEN + 16;

    fn encode(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.host, HOST_LEN);
        out.push(flag(self.is_leader));
        out.push(flag(self.is_active));
        self.connections.encode(out);
        put_fixed(out, &self.version, VERSION_LEN);
        put_i64(out, self.up_time);
        put_i64(out, self.last_heartbeat_time);
    }

    fn parse(b: &[u8]) -> Result<Self, FieldError> {
        let mut r = Reader::new(b);
        Ok(TrackerStat {
            host: r.fixed(HOST_LEN)?,
            is_leader: r.u8()? != 0,
            is_active: r.u8()? != 0,
            connections: Connections::parse(&mut r)?,
            version: r.fixed(VERSION_LEN)?,
            up_time: r.i64()?,
            last_heartbeat_time: r.i64()?,
        })
    }

    /// The reply: `count(1)` then the records (at most 255; FastDFS
    /// allows 16 trackers).
    pub fn encode_reply(trackers: &[TrackerStat]) -> Vec<u8> {
        let trackers = &trackers[..trackers.len().min(u8::MAX as usize)];
        let mut out = Vec::with_capacity(1 + trackers.len() * Self::LEN);
        out.push(trackers.len() as u8);
        for t in trackers {
            t.encode(&mut out);
        }
        out
    }

    pub fn parse_reply(body: &[u8]) -> Result<Vec<Self>, FieldError> {
        let count = *body.first().ok_or(FieldError::Short { need: 1, got: 0 })? as usize;
        records(body, 1, count, Self::LEN)?
            .map(Self::parse)
            .collect()
    }
}

/// STORAGE_CLUSTER_STAT request (`StorageStatFilter`, 4 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStatFilter {
    /// Bit 1: by `is_trunk_server` (only when trunk files are on); bit 2:
    /// by `status`, compared as `op_type` says.
    pub filter_by: u8,
    /// `=` or `!`; any other operator admits nothing.
    pub op_type: u8,
    pub status: u8,
    pub is_trunk_server: u8,
}

impl StorageStatFilter {
    pub const LEN: usize = 4;
    pub const BY_TRUNK_SERVER: u8 = 1;
    pub const BY_STATUS: u8 = 2;

    pub fn encode(&self) -> Vec<u8> {
        vec![
            self.filter_by,
            self.op_type,
            self.status,
            self.is_trunk_server,
        ]
    }

    pub fn parse(body: &[u8]) -> Result<Self, FieldError> {
        exact(body, Self::LEN)?;
        Ok(StorageStatFilter {
            filter_by: body[0],
            op_type: body[1],
            status: body[2],
            is_trunk_server: body[3],
        })
    }

    pub fn admits(&self, s: &StorageClusterStat, use_trunk_file: bool) -> bool {
        if use_trunk_file
            && self.filter_by & Self::BY_TRUNK_SERVER != 0
            && flag(s.is_trunk_server) != self.is_trunk_server
        {
            return false;
        }
        if self.filter_by & Self::BY_STATUS == 0 {
            return true;
        }
        match self.op_type {
            b'=' => s.status == self.status,
            b'!' => s.status != self.status,
            _ => false,
        }
    }
}

/// One storage in the STORAGE_CLUSTER_STAT reply
/// (`StorageClusterStatRespBodyPart`, 106 bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageClusterStat {
    pub id: String,
    /// `ip:port` of its storage port.
    pub host: String,
    pub is_trunk_server: bool,
    pub status: u8,
    pub connections: Connections,
    pub version: String,
    pub up_time: i64,
    pub last_heartbeat_time: i64,
}

/// The STORAGE_CLUSTER_STAT reply: `use_storage_id(1) use_trunk_file(1)
/// count(4)`, then the records (groups by name, storages by id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageClusterReply {
    pub use_storage_id: bool,
    pub use_trunk_file: bool,
    pub storages: Vec<StorageClusterStat>,
}

impl StorageClusterStat {
    pub const LEN: usize = STORAGE_ID_LEN + HOST_LEN + 2 + 12 + VERSION_LEN + 16;

    fn encode(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.id, STORAGE_ID_LEN);
        put_fixed(out, &self.host, HOST_LEN);
        out.push(flag(self.is_trunk_server));
        out.push(self.status);
        self.connections.encode(out);
        put_fixed(out, &self.version, VERSION_LEN);
        put_i64(out, self.up_time);
        put_i64(out, self.last_heartbeat_time);
    }

    fn parse(b: &[u8]) -> Result<Self, FieldError> {
        let mut r = Reader::new(b);
        Ok(StorageClusterStat {
            id: r.fixed(STORAGE_ID_LEN)?,
            host: r.fixed(HOST_LEN)?,
            is_trunk_server: r.u8()? != 0,
            status: r.u8()?,
            connections: Connections::parse(&mut r)?,
            version: r.fixed(VERSION_LEN)?,
            up_time: r.i64()?,
            last_heartbeat_time: r.i64()?,
        })
    }
}

impl StorageClusterReply {
    pub const HEADER_LEN: usize = 6;

    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(Self::HEADER_LEN + self.storages.len() * StorageClusterStat::LEN);
        out.push(flag(self.use_storage_id));
        out.push(flag(self.use_trunk_file));
        out.extend_from_slice(&(self.storages.len() as i32).to_be_bytes());
        for s in &self.storages {
            s.encode(&mut out);
        }
        out
    }

    pub fn parse(body: &[u8]) -> Result<Self, FieldError> {
        let mut r = Reader::new(body);
        let use_storage_id = r.u8()? != 0;
        let use_trunk_file = r.u8()? != 0;
        let count = i32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes")).max(0);
        let storages = records(
            body,
            Self::HEADER_LEN,
            count as usize,
            StorageClusterStat::LEN,
        )?
        .map(StorageClusterStat::parse)
        .collect::<Result<_, _>>()?;
        Ok(StorageClusterReply {
            use_storage_id,
            use_trunk_file,
            storages,
        })
    }
}

/// STORAGE_VOLUMN_STAT request (`VolumnStatFilter`, 4 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VolumeStatFilter {
    /// Bit 1: by `is_disk_available`; bit 2: by `is_trunk_available`
    /// (only when trunk files are on); bit 4: by either being available.
    pub filter_by: u8,
    pub is_disk_available: u8,
    pub is_trunk_available: u8,
    pub is_space_available: u8,
}

impl VolumeStatFilter {
    pub const LEN: usize = 4;
    pub const BY_DISK: u8 = 1;
    pub const BY_TRUNK: u8 = 2;
    pub const BY_SPACE: u8 = 4;

    pub fn encode(&self) -> Vec<u8> {
        vec![
            self.filter_by,
            self.is_disk_available,
            self.is_trunk_available,
            self.is_space_available,
        ]
    }

    pub fn parse(body: &[u8]) -> Result<Self, FieldError> {
        exact(body, Self::LEN)?;
        Ok(VolumeStatFilter {
            filter_by: body[0],
            is_disk_available: body[1],
            is_trunk_available: body[2],
            is_space_available: body[3],
        })
    }

    pub fn admits(&self, v: &VolumeStat, use_trunk_file: bool) -> bool {
        let (disk, trunk) = (flag(v.is_disk_available), flag(v.is_trunk_available));
        (self.filter_by & Self::BY_DISK == 0 || disk == self.is_disk_available)
            && (!use_trunk_file
                || self.filter_by & Self::BY_TRUNK == 0
                || trunk == self.is_trunk_available)
            && (self.filter_by & Self::BY_SPACE == 0
                || flag(v.is_disk_available || v.is_trunk_available) == self.is_space_available)
    }
}

/// One group in the STORAGE_VOLUMN_STAT reply
/// (`StorageVolumnStatRespBodyPart`, 59 bytes), sizes in MB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeStat {
    pub group: String,
    pub total_mb: i64,
    pub free_mb: i64,
    pub reserved_mb: i64,
    /// `free_mb - reserved_mb` (not below 0) when the disk is available, else 0.
    pub avail_mb: i64,
    /// 0 unless trunk files are on and have room.
    pub trunk_free_mb: i64,
    pub is_disk_available: bool,
    pub is_trunk_available: bool,
}

/// The STORAGE_VOLUMN_STAT reply: `use_trunk_file(1) count(4)`, then one
/// record per group, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeReply {
    pub use_trunk_file: bool,
    pub groups: Vec<VolumeStat>,
}

impl VolumeStat {
    pub const LEN: usize = GROUP_NAME_LEN + 1 + 5 * 8 + 2;

    fn encode(&self, out: &mut Vec<u8>) {
        put_fixed(out, &self.group, GROUP_NAME_LEN + 1);
        for v in [
            self.total_mb,
            self.free_mb,
            self.reserved_mb,
            self.avail_mb,
            self.trunk_free_mb,
        ] {
            put_i64(out, v);
        }
        out.push(flag(self.is_disk_available));
        out.push(flag(self.is_trunk_available));
    }

    fn parse(b: &[u8]) -> Result<Self, FieldError> {
        let mut r = Reader::new(b);
        Ok(VolumeStat {
            group: get_fixed(&r.take(GROUP_NAME_LEN + 1)?[..GROUP_NAME_LEN]),
            total_mb: r.i64()?,
            free_mb: r.i64()?,
            reserved_mb: r.i64()?,
            avail_mb: r.i64()?,
            trunk_free_mb: r.i64()?,
            is_disk_available: r.u8()? != 0,
            is_trunk_available: r.u8()? != 0,
        })
    }
}

impl VolumeReply {
    pub const HEADER_LEN: usize = 5;

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::HEADER_LEN + self.groups.len() * VolumeStat::LEN);
        out.push(flag(self.use_trunk_file));
        out.extend_from_slice(&(self.groups.len() as i32).to_be_bytes());
        for g in &self.groups {
            g.encode(&mut out);
        }
        out
    }

    pub fn parse(body: &[u8]) -> Result<Self, FieldError> {
        let mut r = Reader::new(body);
        let use_trunk_file = r.u8()? != 0;
        let count = i32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes")).max(0);
        let groups = records(body, Self::HEADER_LEN, count as usize, VolumeStat::LEN)?
            .map(VolumeStat::parse)
            .collect::<Result<_, _>>()?;
        Ok(VolumeReply {
            use_trunk_file,
            groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{fixture, hex};

    /// `text` as NUL-padded hex.
    fn text(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn record_sizes_match_fastdfs_structs() {
        assert_eq!(TrackerStat::LEN, 90);
        assert_eq!(StorageClusterStat::LEN, 106);
        assert_eq!(VolumeStat::LEN, 59);
    }

    #[test]
    fn hosts_are_formatted_like_format_ip_port() {
        assert_eq!(host_port("10.0.0.1", 22122), "10.0.0.1:22122");
        assert_eq!(host_port("fe80::1", 23000), "[fe80::1]:23000");
    }

    #[test]
    fn tracker_cluster_stat_reply_is_byte_exact() {
        let t = TrackerStat {
            host: "10.0.0.1:22122".into(),
            is_leader: true,
            is_active: true,
            connections: Connections {
                alloc: 256,
                current: 3,
                max: 9,
            },
            version: "6.16.1".into(),
            up_time: 1_700_000_000,
            last_heartbeat_time: 1_700_000_200,
        };
        let body = TrackerStat::encode_reply(std::slice::from_ref(&t));
        let want = fixture(
            91,
            &[
                (0, "01"),                    // count
                (1, &text("10.0.0.1:22122")), // host[52]
                (53, "01"),                   // is_leader
                (54, "01"),                   // is_active
                (55, "00000100"),             // sz_alloc_count
                (59, "00000003"),             // sz_current_count
                (63, "00000009"),             // sz_max_count
                (67, &text("6.16.1")),        // version[8]
                (75, "000000006553f100"),     // up_time
                (83, "000000006553f1c8"),     // last_heartbeat_time
            ],
        );
        assert_eq!(body, want);
        assert_eq!(TrackerStat::parse_reply(&body).unwrap(), vec![t]);
        assert_eq!(TrackerStat::encode_reply(&[]), hex("00"));
        assert!(TrackerStat::parse_reply(&body[..90]).is_err(), "short");
    }

    #[test]
    fn storage_cluster_stat_reply_is_byte_exact() {
        let reply = StorageClusterReply {
            use_storage_id: false,
            use_trunk_file: false,
            storages: vec![StorageClusterStat {
                id: "10.0.0.11".into(),
                host: "10.0.0.11:23000".into(),
                is_trunk_server: false,
                status: 7,
                connections: Connections {
                    alloc: 256,
                    current: 3,
                    max: 9,
                },
                version: "6.16.1".into(),
                up_time: 1_700_000_000,
                last_heartbeat_time: 1_700_000_200,
            }],
        };
        let body = reply.encode();
        let want = fixture(
            112,
            &[
                (0, "00"),                      // use_storage_id
                (1, "00"),                      // use_trunk_file
                (2, "00000001"),                // count
                (6, &text("10.0.0.11")),        // id[16]
                (22, &text("10.0.0.11:23000")), // host[52]
                (74, "00"),                     // is_trunk_server
                (75, "07"),                     // status ACTIVE
                (76, "00000100"),               // sz_alloc_count
                (80, "00000003"),               // sz_current_count
                (84, "00000009"),               // sz_max_count
                (88, &text("6.16.1")),          // version[8]
                (96, "000000006553f100"),       // up_time
                (104, "000000006553f1c8"),      // last_heartbeat_time
            ],
        );
        assert_eq!(body, want);
        assert_eq!(StorageClusterReply::parse(&body).unwrap(), reply);
        assert_eq!(
            StorageClusterReply::default().encode(),
            hex("0000 00000000")
        );
    }

    #[test]
    fn volume_stat_reply_is_byte_exact() {
        let reply = VolumeReply {
            use_trunk_file: false,
            groups: vec![VolumeStat {
                group: "group1".into(),
                total_mb: 1000,
                free_mb: 500,
                reserved_mb: 200,
                avail_mb: 300,
                trunk_free_mb: 0,
                is_disk_available: true,
                is_trunk_available: false,
            }],
        };
        let body = reply.encode();
        let want = fixture(
            64,
            &[
                (0, "00"),                // use_trunk_file
                (1, "00000001"),          // count
                (5, &text("group1")),     // group_name[17]
                (22, "00000000000003e8"), // sz_total_mb
                (30, "00000000000001f4"), // sz_free_mb
                (38, "00000000000000c8"), // sz_reserved_mb
                (46, "000000000000012c"), // sz_avail_mb
                (54, "0000000000000000"), // sz_trunk_free_mb
                (62, "01"),               // is_disk_available
                (63, "00"),               // is_trunk_available
            ],
        );
        assert_eq!(body, want);
        assert_eq!(VolumeReply::parse(&body).unwrap(), reply);
    }

    #[test]
    fn filters_parse_fixed_lengths_only() {
        assert_eq!(
            TrackerStatFilter::parse(&hex("020001")).unwrap(),
            TrackerStatFilter {
                filter_by: 2,
                is_active: 0,
                is_leader: 1
            }
        );
        assert!(TrackerStatFilter::parse(&hex("0200")).is_err());
        assert!(StorageStatFilter::parse(&hex("023d0700")).is_ok());
        assert!(StorageStatFilter::parse(&hex("023d070000")).is_err());
        assert!(VolumeStatFilter::parse(&hex("00000000")).is_ok());
        assert!(VolumeStatFilter::parse(&[]).is_err());
    }

    #[test]
    fn filters_select_as_fastdfs_does() {
        let leader = TrackerStat {
            is_leader: true,
            is_active: true,
            ..Default::default()
        };
        let down = TrackerStat::default();
        let only_leader = TrackerStatFilter {
            filter_by: TrackerStatFilter::BY_LEADER,
            is_leader: 1,
            ..Default::default()
        };
        assert!(only_leader.admits(&leader) && !only_leader.admits(&down));
        assert!(TrackerStatFilter::default().admits(&down));

        let active = StorageClusterStat {
            status: 7,
            ..Default::default()
        };
        let by = |op: u8| StorageStatFilter {
            filter_by: StorageStatFilter::BY_STATUS,
            op_type: op,
            status: 7,
            is_trunk_server: 0,
        };
        assert!(by(b'=').admits(&active, false));
        assert!(!by(b'!').admits(&active, false));
        assert!(!by(b'<').admits(&active, false), "unknown operator");
        let trunk_only = StorageStatFilter {
            filter_by: StorageStatFilter::BY_TRUNK_SERVER,
            is_trunk_server: 1,
            ..Default::default()
        };
        assert!(trunk_only.admits(&active, false), "ignored with trunk off");
        assert!(!trunk_only.admits(&active, true));

        let full = VolumeStat::default();
        let with_space = VolumeStatFilter {
            filter_by: VolumeStatFilter::BY_SPACE,
            is_space_available: 1,
            ..Default::default()
        };
        assert!(!with_space.admits(&full, false));
        assert!(with_space.admits(
            &VolumeStat {
                is_disk_available: true,
                ..full
            },
            false
        ));
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use crate::arb;
    use proptest::prelude::*;

    fn connections() -> impl Strategy<Value = Connections> {
        any::<[i32; 3]>().prop_map(|[alloc, current, max]| Connections {
            alloc,
            current,
            max,
        })
    }

    fn tracker() -> impl Strategy<Value = TrackerStat> {
        (
            arb::text(HOST_LEN),
            any::<(bool, bool)>(),
            connections(),
            arb::text(VERSION_LEN),
            any::<(i64, i64)>(),
        )
            .prop_map(
                |(host, (is_leader, is_active), connections, version, (up, beat))| TrackerStat {
                    host,
                    is_leader,
                    is_active,
                    connections,
                    version,
                    up_time: up,
                    last_heartbeat_time: beat,
                },
            )
    }

    fn storage() -> impl Strategy<Value = StorageClusterStat> {
        (
            (arb::text(STORAGE_ID_LEN), arb::text(HOST_LEN)),
            any::<(bool, u8)>(),
            connections(),
            arb::text(VERSION_LEN),
            any::<(i64, i64)>(),
        )
            .prop_map(
                |((id, host), (is_trunk_server, status), connections, version, (up, beat))| {
                    StorageClusterStat {
                        id,
                        host,
                        is_trunk_server,
                        status,
                        connections,
                        version,
                        up_time: up,
                        last_heartbeat_time: beat,
                    }
                },
            )
    }

    fn volume() -> impl Strategy<Value = VolumeStat> {
        (
            arb::text(GROUP_NAME_LEN),
            any::<[i64; 5]>(),
            any::<(bool, bool)>(),
        )
            .prop_map(|(group, v, (disk, trunk))| VolumeStat {
                group,
                total_mb: v[0],
                free_mb: v[1],
                reserved_mb: v[2],
                avail_mb: v[3],
                trunk_free_mb: v[4],
                is_disk_available: disk,
                is_trunk_available: trunk,
            })
    }

    /// A reply header announcing any record count, huge and negative
    /// included, then fewer bytes than that.
    fn counted(prefix: usize) -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(any::<u8>(), prefix),
            any::<i32>(),
            proptest::collection::vec(any::<u8>(), 0..400),
        )
            .prop_map(|(p, count, tail)| {
                let mut b = p;
                b.extend_from_slice(&count.to_be_bytes());
                b.extend_from_slice(&tail);
                b
            })
    }

    proptest! {
        #[test]
        fn parsers_take_any_bytes(
            b in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..600),
                counted(1),
                counted(2),
            ],
        ) {
            let _ = TrackerStatFilter::parse(&b);
            let _ = StorageStatFilter::parse(&b);
            let _ = VolumeStatFilter::parse(&b);
            let _ = TrackerStat::parse_reply(&b);
            let _ = StorageClusterReply::parse(&b);
            let _ = VolumeReply::parse(&b);
        }

        #[test]
        fn filters_round_trip(b: [u8; 4]) {
            let t = TrackerStatFilter { filter_by: b[0], is_active: b[1], is_leader: b[2] };
            prop_assert_eq!(TrackerStatFilter::parse(&t.encode()), Ok(t));
            let s = StorageStatFilter {
                filter_by: b[0],
                op_type: b[1],
                status: b[2],
                is_trunk_server: b[3],
            };
            prop_assert_eq!(StorageStatFilter::parse(&s.encode()), Ok(s));
            let v = VolumeStatFilter {
                filter_by: b[0],
                is_disk_available: b[1],
                is_trunk_available: b[2],
                is_space_available: b[3],
            };
            prop_assert_eq!(VolumeStatFilter::parse(&v.encode()), Ok(v));
        }

        #[test]
        fn replies_round_trip(
            trackers in proptest::collection::vec(tracker(), 0..5),
            storages in proptest::collection::vec(storage(), 0..5),
            groups in proptest::collection::vec(volume(), 0..5),
            flags: (bool, bool),
        ) {
            prop_assert_eq!(
                TrackerStat::parse_reply(&TrackerStat::encode_reply(&trackers)),
                Ok(trackers)
            );
            let s = StorageClusterReply {
                use_storage_id: flags.0,
                use_trunk_file: flags.1,
                storages,
            };
            prop_assert_eq!(StorageClusterReply::parse(&s.encode()), Ok(s));
            let v = VolumeReply { use_trunk_file: flags.0, groups };
            prop_assert_eq!(VolumeReply::parse(&v.encode()), Ok(v));
        }
    }
}
