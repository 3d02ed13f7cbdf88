//! Group and storage stat records for list-groups (90/91) and
//! list-storages (92), laid out as FastDFS's `TrackerGroupStat` and
//! `TrackerStorageStat` (tracker/tracker_proto.h). Two incompatible
//! generations exist: `Legacy` (FastDFS <= 6.12; py3fdfs and tobato parse
//! only this) and `Current` (6.13.1+, what FastDFS 6.16 sends; the Java
//! client >= 1.35 and FastDFS's own tools >= 6.13 need it). The storage
//! record also carries an IP field whose width is `response_ip_addr_size`.
//! The tracker sends one combination, chosen in its config; decoders take
//! any of them, told apart by record size.

use serde::{Deserialize, Serialize};

use crate::fields::{get_fixed, is_padded_text, put_fixed, put_i64, FieldError, IpWidth, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Legacy,
    #[default]
    Current,
}

impl Layout {
    pub fn group_len(self) -> usize {
        match self {
            Layout::Legacy => 105,
            Layout::Current => 113,
        }
    }
}

/// The widths that vary inside one storage record shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    layout: Layout,
    ip: usize,
    version: usize,
}

impl Shape {
    /// Every shape a tracker may send, in the order decoders try them:
    /// FastDFS <= 6.10 (612 bytes), 6.11 (642), 6.12 (644), and the current
    /// one with either IP width (487, 517).
    const KNOWN: [Shape; 5] = [
        Shape::new(Layout::Legacy, 16, 6),
        Shape::new(Layout::Legacy, 46, 6),
        Shape::new(Layout::Legacy, 46, 8),
        Shape::new(Layout::Current, 16, 8),
        Shape::new(Layout::Current, 46, 8),
    ];

    const fn new(layout: Layout, ip: usize, version: usize) -> Shape {
        Shape {
            layout,
            ip,
            version,
        }
    }

    /// What ferrodfs sends: the legacy layout with the IPv6 width is
    /// FastDFS 6.12's (8-byte version); 6.11's 642-byte variant is only read.
    fn sent(layout: Layout, width: IpWidth) -> Shape {
        match (layout, width) {
            (Layout::Legacy, IpWidth::V4) => Shape::new(layout, 16, 6),
            (Layout::Legacy, IpWidth::V6) => Shape::new(layout, 46, 8),
            (Layout::Current, w) => Shape::new(layout, w.field(), 8),
        }
    }

    fn len(self) -> usize {
        let names = 16 + self.ip + 16 + self.version;
        let head = match self.layout {
            // status, names, domain_name(128), 10 eight-byte fields
            Layout::Legacy => 1 + names + 128 + 10 * 8,
            // status, rw_mode, names, 10 eight-byte fields
            Layout::Current => 2 + names + 10 * 8,
        };
        head + StorageStats::LEN + 1
    }

    /// Offsets of the id and IP fields, which must hold text.
    fn text_fields(self) -> [(usize, usize); 2] {
        let id = match self.layout {
            Layout::Legacy => 1,
            Layout::Current => 2,
        };
        [(id, 16), (id + 16, self.ip)]
    }
}

/// Picks the one of `candidates` whose record length divides `b` and whose
/// text fields all hold text in every record.
fn find_shape<T: Copy>(
    b: &[u8],
    candidates: &[T],
    len: impl Fn(T) -> usize,
    text: impl Fn(T) -> Vec<(usize, usize)>,
) -> Option<T> {
    candidates.iter().copied().find(|&c| {
        let n = len(c);
        b.len().is_multiple_of(n)
            && b.chunks(n).all(|rec| {
                text(c)
                    .iter()
                    .all(|&(at, w)| is_padded_text(&rec[at..at + w]))
            })
    })
}

/// A total/success counter pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Count {
    pub total: i64,
    pub success: i64,
}

impl Count {
    pub fn record(&mut self, ok: bool) {
        self.total += 1;
        if ok {
            self.success += 1;
        }
    }

    pub fn add(&mut self, n: i64, ok: bool) {
        self.total += n;
        if ok {
            self.success += n;
        }
    }
}

/// The 348-byte stat block: connection gauges, then 19 counter pairs and
/// four timestamps, in FastDFS's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StorageStats {
    pub connections: [i32; 3],
    pub upload: Count,
    pub append: Count,
    pub modify: Count,
    pub truncate: Count,
    pub set_meta: Count,
    pub delete: Count,
    pub download: Count,
    pub get_meta: Count,
    pub create_link: Count,
    pub delete_link: Count,
    pub upload_bytes: Count,
    pub append_bytes: Count,
    pub modify_bytes: Count,
    pub download_bytes: Count,
    pub sync_in_bytes: Count,
    pub sync_out_bytes: Count,
    pub file_open: Count,
    pub file_read: Count,
    pub file_write: Count,
    pub last_source_update: i64,
    pub last_sync_update: i64,
    pub last_synced_timestamp: i64,
    pub last_heart_beat_time: i64,
}

impl StorageStats {
    pub const LEN: usize = 348;

    fn pairs(&self) -> [Count; 19] {
        [
            self.upload,
            self.append,
            self.modify,
            self.truncate,
            self.set_meta,
            self.delete,
            self.download,
            self.get_meta,
            self.create_link,
            self.delete_link,
            self.upload_bytes,
            self.append_bytes,
            self.modify_bytes,
            self.download_bytes,
            self.sync_in_bytes,
            self.sync_out_bytes,
            self.file_open,
            self.file_read,
            self.file_write,
        ]
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        for c in self.connections {
            out.extend_from_slice(&c.to_be_bytes());
        }
        for p in self.pairs() {
            put_i64(out, p.total);
            put_i64(out, p.success);
        }
        for t in [
            self.last_source_update,
            self.last_sync_update,
            self.last_synced_timestamp,
            self.last_heart_beat_time,
        ] {
            put_i64(out, t);
        }
    }

    /// The block alone, as a FastDFS storage's heartbeat carries it.
    pub fn decode_block(b: &[u8]) -> Result<Self, FieldError> {
        if b.len() != Self::LEN {
            return Err(FieldError::Short {
                need: Self::LEN,
                got: b.len(),
            });
        }
        Self::decode(&mut Reader::new(b))
    }

    fn decode(r: &mut Reader) -> Result<Self, FieldError> {
        let mut s = StorageStats::default();
        for c in s.connections.iter_mut() {
            *c = i32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes"));
        }
        let mut pairs = [Count::default(); 19];
        for p in pairs.iter_mut() {
            *p = Count {
                total: r.i64()?,
                success: r.i64()?,
            };
        }
        [
            s.upload,
            s.append,
            s.modify,
            s.truncate,
            s.set_meta,
            s.delete,
            s.download,
            s.get_meta,
            s.create_link,
            s.delete_link,
            s.upload_bytes,
            s.append_bytes,
            s.modify_bytes,
            s.download_bytes,
            s.sync_in_bytes,
            s.sync_out_bytes,
            s.file_open,
            s.file_read,
            s.file_write,
        ] = pairs;
        s.last_source_update = r.i64()?;
        s.last_sync_update = r.i64()?;
        s.last_synced_timestamp = r.i64()?;
        s.last_heart_beat_time = r.i64()?;
        Ok(s)
    }
}

/// One group as list-groups reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupStat {
    pub name: String,
    pub total_mb: i64,
    pub free_mb: i64,
    pub reserved_mb: i64,
    pub storage_count: i64,
    pub storage_port: i64,
    pub storage_http_port: i64,
    pub active_count: i64,
    pub current_write_server: i64,
    pub store_path_count: i64,
    pub subdir_count_per_path: i64,
}

impl GroupStat {
    /// Current: FastDFS 6.16's `TrackerGroupStat`. Trunk files are off in
    /// ferrodfs, so `trunk_free_mb` is 0 and `current_trunk_file_id` is what
    /// 6.13+ sends then (-1; older versions sent the raw id, 0). Every
    /// member reads and writes, so the readable and writable counts are
    /// both the ACTIVE count.
    pub fn encode(&self, layout: Layout, out: &mut Vec<u8>) {
        put_fixed(out, &self.name, 17);
        put_i64(out, self.total_mb);
        put_i64(out, self.free_mb);
        match layout {
            Layout::Legacy => {
                put_i64(out, 0); // trunk_free_mb
                put_i64(out, self.storage_count);
                put_i64(out, self.storage_port);
                put_i64(out, self.storage_http_port);
                put_i64(out, self.active_count);
                put_i64(out, self.current_write_server);
                put_i64(out, self.store_path_count);
                put_i64(out, self.subdir_count_per_path);
                put_i64(out, 0); // current_trunk_file_id
            }
            Layout::Current => {
                put_i64(out, self.reserved_mb);
                put_i64(out, 0); // trunk_free_mb
                put_i64(out, self.storage_count);
                put_i64(out, self.storage_port);
                put_i64(out, self.active_count); // readable
                put_i64(out, self.active_count); // writable
                put_i64(out, self.current_write_server);
                put_i64(out, self.store_path_count);
                put_i64(out, self.subdir_count_per_path);
                put_i64(out, -1); // current_trunk_file_id: trunk off
            }
        }
    }

    /// Decodes a list of records in either layout, told apart by the
    /// record size (and, should both sizes divide the body, by which one
    /// puts a group name at the start of every record).
    pub fn decode_all(b: &[u8]) -> Result<Vec<GroupStat>, FieldError> {
        let layout = find_shape(
            b,
            &[Layout::Legacy, Layout::Current],
            Layout::group_len,
            |_| vec![(0, 17)],
        )
        .ok_or(FieldError::Short {
            need: Layout::Legacy.group_len(),
            got: b.len(),
        })?;
        b.chunks(layout.group_len())
            .map(|c| {
                let mut r = Reader::new(c);
                let mut g = GroupStat {
                    name: get_fixed(r.take(17)?),
                    total_mb: r.i64()?,
                    free_mb: r.i64()?,
                    ..Default::default()
                };
                if layout == Layout::Current {
                    g.reserved_mb = r.i64()?;
                }
                r.i64()?; // trunk_free_mb
                g.storage_count = r.i64()?;
                g.storage_port = r.i64()?;
                if layout == Layout::Legacy {
                    g.storage_http_port = r.i64()?;
                    g.active_count = r.i64()?;
                } else {
                    r.i64()?; // readable
                    g.active_count = r.i64()?; // writable
                }
                g.current_write_server = r.i64()?;
                g.store_path_count = r.i64()?;
                g.subdir_count_per_path = r.i64()?;
                Ok(g)
            })
            .collect()
    }
}

/// One storage as list-storages reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StorageStat {
    pub status: u8,
    pub id: String,
    pub ip: String,
    pub src_id: String,
    pub version: String,
    pub join_time: i64,
    pub up_time: i64,
    pub total_mb: i64,
    pub free_mb: i64,
    /// Current layout only.
    pub reserved_mb: i64,
    pub upload_priority: i64,
    pub store_path_count: i64,
    pub subdir_count_per_path: i64,
    pub current_write_path: i64,
    pub storage_port: i64,
    /// Legacy layout only: the current one has no HTTP port (0 here).
    pub storage_http_port: i64,
    pub stats: StorageStats,
}

/// `rw_mode` of the current layout: read (4) | write (2), what FastDFS
/// sets for every storage when `use_storage_id` is off.
const RW_BOTH: u8 = 6;

impl StorageStat {
    /// The record size sent for `layout` with IP fields of `width`:
    /// 612 / 644 (legacy), 487 / 517 (current).
    pub fn record_len(layout: Layout, width: IpWidth) -> usize {
        Shape::sent(layout, width).len()
    }

    pub fn encode(&self, layout: Layout, width: IpWidth, out: &mut Vec<u8>) {
        let shape = Shape::sent(layout, width);
        let tail = |out: &mut Vec<u8>, fields: &[i64]| fields.iter().for_each(|v| put_i64(out, *v));
        out.push(self.status);
        match layout {
            Layout::Legacy => {
                put_fixed(out, &self.id, 16);
                put_fixed(out, &self.ip, shape.ip);
                put_fixed(out, "", 128); // domain_name
                put_fixed(out, &self.src_id, 16);
                put_fixed(out, &self.version, shape.version);
                tail(
                    out,
                    &[
                        self.join_time,
                        self.up_time,
                        self.total_mb,
                        self.free_mb,
                        self.upload_priority,
                        self.store_path_count,
                        self.subdir_count_per_path,
                        self.current_write_path,
                        self.storage_port,
                        self.storage_http_port,
                    ],
                );
            }
            Layout::Current => {
                out.push(RW_BOTH);
                put_fixed(out, &self.id, 16);
                put_fixed(out, &self.ip, shape.ip);
                put_fixed(out, &self.src_id, 16);
                put_fixed(out, &self.version, shape.version);
                tail(
                    out,
                    &[
                        self.join_time,
                        self.up_time,
                        self.total_mb,
                        self.free_mb,
                        self.reserved_mb,
                        self.upload_priority,
                        self.store_path_count,
                        self.subdir_count_per_path,
                        self.current_write_path,
                        self.storage_port,
                    ],
                );
            }
        }
        self.stats.encode(out);
        out.push(0); // if_trunk_server
    }

    /// Decodes a list of records of any shape FastDFS 5.x-6.16 or ferrodfs
    /// sends, told apart by the record size.
    pub fn decode_all(b: &[u8]) -> Result<Vec<StorageStat>, FieldError> {
        let shape = find_shape(b, &Shape::KNOWN, Shape::len, |s| s.text_fields().to_vec()).ok_or(
            FieldError::Short {
                need: Shape::sent(Layout::Current, IpWidth::V4).len(),
                got: b.len(),
            },
        )?;
        b.chunks(shape.len())
            .map(|c| {
                let mut r = Reader::new(c);
                let mut s = StorageStat {
                    status: r.u8()?,
                    ..Default::default()
                };
                if shape.layout == Layout::Current {
                    r.u8()?; // rw_mode
                }
                s.id = r.fixed(16)?;
                s.ip = r.fixed(shape.ip)?;
                if shape.layout == Layout::Legacy {
                    r.take(128)?; // domain_name
                }
                s.src_id = r.fixed(16)?;
                s.version = r.fixed(shape.version)?;
                s.join_time = r.i64()?;
                s.up_time = r.i64()?;
                s.total_mb = r.i64()?;
                s.free_mb = r.i64()?;
                if shape.layout == Layout::Current {
                    s.reserved_mb = r.i64()?;
                }
                s.upload_priority = r.i64()?;
                s.store_path_count = r.i64()?;
                s.subdir_count_per_path = r.i64()?;
                s.current_write_path = r.i64()?;
                s.storage_port = r.i64()?;
                if shape.layout == Layout::Legacy {
                    s.storage_http_port = r.i64()?;
                }
                s.stats = StorageStats::decode(&mut r)?;
                Ok(s)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::fixture;

    // Field values as FastDFS writes them: NUL-padded text, 8-byte
    // big-endian integers (long2buff), 4-byte ones (int2buff).
    const GROUP1: &str = "67726f757031"; // "group1"
    const ID: &str = "31302e302e302e3131"; // "10.0.0.11"
    const SRC: &str = "31302e302e302e3132"; // "10.0.0.12"
    const VERSION: &str = "362e31362e31"; // "6.16.1", fills a 6-byte field
    const JOIN: &str = "000000006553f100"; // 1_700_000_000
    const UP: &str = "000000006553f164"; // 1_700_000_100
    const TOTAL: &str = "00000000000003e8"; // 1000 MB
    const FREE: &str = "00000000000001f4"; // 500 MB
    const RESERVED: &str = "0000000000000064"; // 100 MB
    const PRIORITY: &str = "000000000000000a"; // 10
    const TWO: &str = "0000000000000002";
    const ONE: &str = "0000000000000001";
    const SUBDIRS: &str = "0000000000000100"; // 256
    const PORT: &str = "00000000000059d8"; // 23000
    const HTTP_PORT: &str = "00000000000022b8"; // 8888

    fn storage() -> StorageStat {
        StorageStat {
            status: 7,
            id: "10.0.0.11".into(),
            ip: "10.0.0.11".into(),
            src_id: "10.0.0.12".into(),
            version: "6.16.1".into(),
            join_time: 1_700_000_000,
            up_time: 1_700_000_100,
            total_mb: 1000,
            free_mb: 500,
            reserved_mb: 100,
            upload_priority: 10,
            store_path_count: 2,
            subdir_count_per_path: 256,
            current_write_path: 1,
            storage_port: 23000,
            storage_http_port: 8888,
            stats: StorageStats {
                connections: [256, 3, 9],
                upload: Count {
                    total: 5,
                    success: 4,
                },
                file_write: Count {
                    total: 0,
                    success: 7,
                },
                last_heart_beat_time: 1_700_000_200,
                ..Default::default()
            },
        }
    }

    /// The `FDFSStorageStatBuff` fields set in [`storage`], at their
    /// offsets inside the 348-byte block that starts at `at`.
    fn stat_block(at: usize) -> Vec<(usize, &'static str)> {
        vec![
            (at, "00000100"),               // connection.sz_alloc_count
            (at + 4, "00000003"),           // connection.sz_current_count
            (at + 8, "00000009"),           // connection.sz_max_count
            (at + 12, "0000000000000005"),  // sz_total_upload_count
            (at + 20, "0000000000000004"),  // sz_success_upload_count
            (at + 308, "0000000000000007"), // sz_success_file_write_count
            (at + 340, "000000006553f1c8"), // sz_last_heart_beat_time
        ]
    }

    fn encoded(layout: Layout, width: IpWidth) -> Vec<u8> {
        let mut v = Vec::new();
        storage().encode(layout, width, &mut v);
        v
    }

    #[test]
    fn a_heartbeat_stat_block_decodes_to_what_was_encoded() {
        let stats = storage().stats;
        let mut b = Vec::new();
        stats.encode(&mut b);
        assert_eq!(StorageStats::decode_block(&b).unwrap(), stats);
        assert!(StorageStats::decode_block(&b[1..]).is_err());
    }

    #[test]
    fn stat_block_is_348_bytes() {
        let mut v = Vec::new();
        StorageStats::default().encode(&mut v);
        assert_eq!(v.len(), StorageStats::LEN);
    }

    #[test]
    fn current_storage_record_is_fastdfs_6_16s_ipv4_struct() {
        // TrackerStorageStatIPv4: 487 bytes.
        let mut fields = vec![
            (0, "07"), // status: ACTIVE
            (1, "06"), // rw_mode: R_OK | W_OK
            (2, ID),
            (18, ID), // ip_addr[16]
            (34, SRC),
            (50, VERSION), // version[8]
            (58, JOIN),
            (66, UP),
            (74, TOTAL),
            (82, FREE),
            (90, RESERVED),
            (98, PRIORITY),
            (106, TWO), // store_path_count
            (114, SUBDIRS),
            (122, ONE), // current_write_path
            (130, PORT),
        ];
        fields.extend(stat_block(138));
        fields.push((486, "00")); // if_trunk_server
        assert_eq!(encoded(Layout::Current, IpWidth::V4), fixture(487, &fields));
    }

    #[test]
    fn current_storage_record_is_fastdfs_6_16s_ipv6_struct() {
        // TrackerStorageStatIPv6: the IP field is 46 bytes, 517 in all.
        let mut fields = vec![
            (0, "07"),
            (1, "06"),
            (2, ID),
            (18, ID), // ip_addr[46]
            (64, SRC),
            (80, VERSION),
            (88, JOIN),
            (96, UP),
            (104, TOTAL),
            (112, FREE),
            (120, RESERVED),
            (128, PRIORITY),
            (136, TWO),
            (144, SUBDIRS),
            (152, ONE),
            (160, PORT),
        ];
        fields.extend(stat_block(168));
        fields.push((516, "00"));
        assert_eq!(encoded(Layout::Current, IpWidth::V6), fixture(517, &fields));
    }

    #[test]
    fn legacy_storage_record_is_fastdfs_6_10s_struct() {
        // TrackerStorageStat up to 6.10: domain_name, a 6-byte version and
        // the HTTP port, no rw_mode or reserved_mb; 612 bytes.
        let mut fields = vec![
            (0, "07"),
            (1, ID),
            (17, ID), // ip_addr[16]; domain_name[128] at 33 stays empty
            (161, SRC),
            (177, VERSION), // version[6], no NUL left
            (183, JOIN),
            (191, UP),
            (199, TOTAL),
            (207, FREE),
            (215, PRIORITY),
            (223, TWO),
            (231, SUBDIRS),
            (239, ONE),
            (247, PORT),
            (255, HTTP_PORT),
        ];
        fields.extend(stat_block(263));
        assert_eq!(encoded(Layout::Legacy, IpWidth::V4), fixture(612, &fields));
    }

    #[test]
    fn legacy_storage_record_with_the_ipv6_width_is_fastdfs_6_12s_struct() {
        // 6.12: the legacy shape with IP_ADDRESS_SIZE 46 and an 8-byte
        // version; 644 bytes.
        let mut fields = vec![
            (0, "07"),
            (1, ID),
            (17, ID), // ip_addr[46]
            (191, SRC),
            (207, VERSION), // version[8]
            (215, JOIN),
            (223, UP),
            (231, TOTAL),
            (239, FREE),
            (247, PRIORITY),
            (255, TWO),
            (263, SUBDIRS),
            (271, ONE),
            (279, PORT),
            (287, HTTP_PORT),
        ];
        fields.extend(stat_block(295));
        assert_eq!(encoded(Layout::Legacy, IpWidth::V6), fixture(644, &fields));
    }

    #[test]
    fn record_lengths_follow_layout_and_width() {
        let lens: Vec<usize> = [Layout::Legacy, Layout::Current]
            .into_iter()
            .flat_map(|l| IpWidth::ALL.map(|w| StorageStat::record_len(l, w)))
            .collect();
        assert_eq!(lens, [612, 644, 487, 517]);
        assert_eq!(
            Layout::default(),
            Layout::Current,
            "what FastDFS 6.16 sends"
        );
    }

    #[test]
    fn every_shape_decodes_by_its_size() {
        for layout in [Layout::Legacy, Layout::Current] {
            for width in IpWidth::ALL {
                let mut v = encoded(layout, width);
                v.extend(encoded(layout, width));
                let back = StorageStat::decode_all(&v).unwrap();
                assert_eq!(back.len(), 2, "{layout:?} {width:?}");
                let mut want = storage();
                match layout {
                    Layout::Legacy => want.reserved_mb = 0,
                    Layout::Current => want.storage_http_port = 0,
                }
                assert_eq!(back[1], want, "{layout:?} {width:?}");
            }
        }
    }

    #[test]
    fn fastdfs_6_11_records_decode() {
        // 6.11: 46-byte IP but still a 6-byte version; 642 bytes.
        let mut fields = vec![
            (0, "07"),
            (1, ID),
            (17, ID),
            (191, SRC),
            (207, VERSION),
            (213, JOIN),
            (221, UP),
            (229, TOTAL),
            (237, FREE),
            (245, PRIORITY),
            (253, TWO),
            (261, SUBDIRS),
            (269, ONE),
            (277, PORT),
            (285, HTTP_PORT),
        ];
        fields.extend(stat_block(293));
        let back = StorageStat::decode_all(&fixture(642, &fields)).unwrap();
        let mut want = storage();
        want.reserved_mb = 0;
        assert_eq!(back, [want]);
    }

    #[test]
    fn an_empty_list_and_a_torn_one() {
        assert!(StorageStat::decode_all(&[]).unwrap().is_empty());
        assert!(StorageStat::decode_all(&encoded(Layout::Current, IpWidth::V4)[..486]).is_err());
        assert!(GroupStat::decode_all(&[0; 112]).is_err());
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bodies() {
        for len in (0..1400).chain([487 * 2, 517 * 3, 612, 642, 644, 113 * 4]) {
            for fill in [0u8, b'1'] {
                let b: Vec<u8> = (0..len)
                    .map(|i| {
                        if i % 5 == 0 {
                            fill
                        } else {
                            (i * 17 % 253) as u8
                        }
                    })
                    .collect();
                let _ = StorageStat::decode_all(&b);
                let _ = GroupStat::decode_all(&b);
            }
        }
    }

    fn group() -> GroupStat {
        GroupStat {
            name: "group1".into(),
            total_mb: 1000,
            free_mb: 500,
            reserved_mb: 100,
            storage_count: 2,
            storage_port: 23000,
            storage_http_port: 8888,
            active_count: 1,
            current_write_server: 1,
            store_path_count: 2,
            subdir_count_per_path: 256,
        }
    }

    #[test]
    fn current_group_record_is_fastdfs_6_16s_struct() {
        let mut v = Vec::new();
        group().encode(Layout::Current, &mut v);
        let want = fixture(
            113,
            &[
                (0, GROUP1), // group_name[17]
                (17, TOTAL),
                (25, FREE),
                (33, RESERVED),
                // sz_trunk_free_mb at 41: 0, trunk files are off
                (49, TWO),  // sz_storage_count
                (57, PORT), // sz_storage_port
                (65, ONE),  // sz_readable_server_count
                (73, ONE),  // sz_writable_server_count
                (81, ONE),  // sz_current_write_server
                (89, TWO),  // sz_store_path_count
                (97, SUBDIRS),
                (105, "ffffffffffffffff"), // sz_current_trunk_file_id: -1, trunk off
            ],
        );
        assert_eq!(v, want);
    }

    #[test]
    fn legacy_group_record_is_fastdfs_6_10s_struct() {
        let mut v = Vec::new();
        group().encode(Layout::Legacy, &mut v);
        let want = fixture(
            105,
            &[
                (0, GROUP1),
                (17, TOTAL),
                (25, FREE),
                // sz_trunk_free_mb at 33: 0
                (41, TWO), // sz_count
                (49, PORT),
                (57, HTTP_PORT),
                (65, ONE), // sz_active_count
                (73, ONE), // sz_current_write_server
                (81, TWO),
                (89, SUBDIRS),
                // sz_current_trunk_file_id at 97: 0
            ],
        );
        assert_eq!(v, want);
    }

    #[test]
    fn group_records_decode_in_both_layouts() {
        for layout in [Layout::Legacy, Layout::Current] {
            let mut v = Vec::new();
            group().encode(layout, &mut v);
            group().encode(layout, &mut v);
            let back = GroupStat::decode_all(&v).unwrap();
            let mut want = group();
            match layout {
                Layout::Legacy => want.reserved_mb = 0,
                Layout::Current => want.storage_http_port = 0,
            }
            assert_eq!(back, [want.clone(), want], "{layout:?}");
        }
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use crate::arb;
    use proptest::prelude::*;

    fn layout() -> impl Strategy<Value = Layout> {
        prop_oneof![Just(Layout::Legacy), Just(Layout::Current)]
    }

    fn width() -> impl Strategy<Value = IpWidth> {
        prop_oneof![Just(IpWidth::V4), Just(IpWidth::V6)]
    }

    fn count() -> impl Strategy<Value = Count> {
        (any::<i64>(), any::<i64>()).prop_map(|(total, success)| Count { total, success })
    }

    fn stats() -> impl Strategy<Value = StorageStats> {
        (
            any::<[i32; 3]>(),
            proptest::collection::vec(count(), 19),
            any::<[i64; 4]>(),
        )
            .prop_map(|(connections, c, t)| StorageStats {
                connections,
                upload: c[0],
                append: c[1],
                modify: c[2],
                truncate: c[3],
                set_meta: c[4],
                delete: c[5],
                download: c[6],
                get_meta: c[7],
                create_link: c[8],
                delete_link: c[9],
                upload_bytes: c[10],
                append_bytes: c[11],
                modify_bytes: c[12],
                download_bytes: c[13],
                sync_in_bytes: c[14],
                sync_out_bytes: c[15],
                file_open: c[16],
                file_read: c[17],
                file_write: c[18],
                last_source_update: t[0],
                last_sync_update: t[1],
                last_synced_timestamp: t[2],
                last_heart_beat_time: t[3],
            })
    }

    /// A storage record as `layout` carries it: fields the layout lacks are 0.
    fn storage(layout: Layout, width: IpWidth) -> impl Strategy<Value = StorageStat> {
        let version = match (layout, width) {
            (Layout::Legacy, IpWidth::V4) => 6,
            _ => 8,
        };
        (
            any::<u8>(),
            (
                arb::text1(16),
                arb::text1(width.field()),
                arb::text(16),
                arb::text(version),
            ),
            any::<[i64; 11]>(),
            stats(),
        )
            .prop_map(
                move |(status, (id, ip, src_id, version), v, stats)| StorageStat {
                    status,
                    id,
                    ip,
                    src_id,
                    version,
                    join_time: v[0],
                    up_time: v[1],
                    total_mb: v[2],
                    free_mb: v[3],
                    reserved_mb: if layout == Layout::Current { v[4] } else { 0 },
                    upload_priority: v[5],
                    store_path_count: v[6],
                    subdir_count_per_path: v[7],
                    current_write_path: v[8],
                    storage_port: v[9],
                    storage_http_port: if layout == Layout::Legacy { v[10] } else { 0 },
                    stats,
                },
            )
    }

    fn group(layout: Layout) -> impl Strategy<Value = GroupStat> {
        (arb::group(), any::<[i64; 10]>()).prop_map(move |(name, v)| GroupStat {
            name,
            total_mb: v[0],
            free_mb: v[1],
            reserved_mb: if layout == Layout::Current { v[2] } else { 0 },
            storage_count: v[3],
            storage_port: v[4],
            storage_http_port: if layout == Layout::Legacy { v[5] } else { 0 },
            active_count: v[6],
            current_write_server: v[7],
            store_path_count: v[8],
            subdir_count_per_path: v[9],
        })
    }

    /// Any bytes, or a whole number of records of one known size.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..1400),
            (
                prop_oneof![
                    Just(105usize),
                    Just(113),
                    Just(487),
                    Just(517),
                    Just(612),
                    Just(642),
                    Just(644)
                ],
                1usize..3,
                any::<u8>(),
                proptest::collection::vec((any::<usize>(), any::<u8>()), 0..40),
            )
                .prop_map(|(len, n, fill, pokes)| {
                    let mut b = vec![fill; len * n];
                    for (at, v) in pokes {
                        let at = at % b.len();
                        b[at] = v;
                    }
                    b
                }),
        ]
    }

    proptest! {
        #[test]
        fn decoders_take_any_bytes(b in body()) {
            let _ = StorageStat::decode_all(&b);
            let _ = GroupStat::decode_all(&b);
        }

        #[test]
        fn storage_records_round_trip(
            (layout, width, records) in (layout(), width()).prop_flat_map(|(l, w)| {
                (Just(l), Just(w), proptest::collection::vec(storage(l, w), 0..4))
            }),
        ) {
            let mut b = Vec::new();
            for r in &records {
                r.encode(layout, width, &mut b);
            }
            prop_assert_eq!(b.len(), records.len() * StorageStat::record_len(layout, width));
            prop_assert_eq!(StorageStat::decode_all(&b), Ok(records));
        }

        #[test]
        fn group_records_round_trip(
            (layout, groups) in layout().prop_flat_map(|l| {
                (Just(l), proptest::collection::vec(group(l), 0..4))
            }),
        ) {
            let mut b = Vec::new();
            for g in &groups {
                g.encode(layout, &mut b);
            }
            prop_assert_eq!(GroupStat::decode_all(&b), Ok(groups));
        }
    }
}
