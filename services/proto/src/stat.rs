//! Group and storage stat records for list-groups (90/91) and
//! list-storages (92). Two incompatible generations exist: `Legacy`
//! (FastDFS <= 6.10; py3fdfs and tobato parse only this) and `Current`
//! (6.13+; the Java client >= 1.35 needs it). The tracker serves one,
//! chosen in its config.

use serde::{Deserialize, Serialize};

use crate::fields::{get_fixed, put_fixed, put_i64, FieldError, Reader, IP_LEN};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Legacy,
    Current,
}

impl Layout {
    pub fn group_len(self) -> usize {
        match self {
            Layout::Legacy => 105,
            Layout::Current => 113,
        }
    }

    pub fn storage_len(self) -> usize {
        match self {
            Layout::Legacy => 612,
            Layout::Current => 487,
        }
    }
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
                put_i64(out, -1); // trunk off
            }
        }
    }

    /// Decodes a list of records; the layout is told by the record size.
    pub fn decode_all(b: &[u8]) -> Result<Vec<GroupStat>, FieldError> {
        let layout = [Layout::Legacy, Layout::Current]
            .into_iter()
            .find(|l| b.len().is_multiple_of(l.group_len()))
            .ok_or(FieldError::Short {
                need: 105,
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
                    r.i64()?;
                    g.active_count = r.i64()?;
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
    pub reserved_mb: i64,
    pub upload_priority: i64,
    pub store_path_count: i64,
    pub subdir_count_per_path: i64,
    pub current_write_path: i64,
    pub storage_port: i64,
    pub storage_http_port: i64,
    pub stats: StorageStats,
}

impl StorageStat {
    pub fn encode(&self, layout: Layout, out: &mut Vec<u8>) {
        out.push(self.status);
        let tail = |out: &mut Vec<u8>, fields: &[i64]| fields.iter().for_each(|v| put_i64(out, *v));
        match layout {
            Layout::Legacy => {
                put_fixed(out, &self.id, 16);
                put_fixed(out, &self.ip, IP_LEN);
                put_fixed(out, "", 128); // domain_name
                put_fixed(out, &self.src_id, 16);
                put_fixed(out, &self.version, 6);
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
                out.push(6); // rw_mode: read and write
                put_fixed(out, &self.id, 16);
                put_fixed(out, &self.ip, IP_LEN);
                put_fixed(out, &self.src_id, 16);
                put_fixed(out, &self.version, 8);
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

    pub fn decode_all(b: &[u8]) -> Result<Vec<StorageStat>, FieldError> {
        let layout = [Layout::Legacy, Layout::Current]
            .into_iter()
            .find(|l| b.len().is_multiple_of(l.storage_len()))
            .ok_or(FieldError::Short {
                need: 487,
                got: b.len(),
            })?;
        b.chunks(layout.storage_len())
            .map(|c| {
                let mut r = Reader::new(c);
                let mut s = StorageStat {
                    status: r.u8()?,
                    ..Default::default()
                };
                if layout == Layout::Legacy {
                    s.id = r.fixed(16)?;
                    s.ip = r.fixed(IP_LEN)?;
                    r.take(128)?;
                    s.src_id = r.fixed(16)?;
                    s.version = r.fixed(6)?;
                } else {
                    r.u8()?;
                    s.id = r.fixed(16)?;
                    s.ip = r.fixed(IP_LEN)?;
                    s.src_id = r.fixed(16)?;
                    s.version = r.fixed(8)?;
                }
                s.join_time = r.i64()?;
                s.up_time = r.i64()?;
                s.total_mb = r.i64()?;
                s.free_mb = r.i64()?;
                if layout == Layout::Current {
                    s.reserved_mb = r.i64()?;
                }
                s.upload_priority = r.i64()?;
                s.store_path_count = r.i64()?;
                s.subdir_count_per_path = r.i64()?;
                s.current_write_path = r.i64()?;
                s.storage_port = r.i64()?;
                if layout == Layout::Legacy {
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

    fn storage() -> StorageStat {
        StorageStat {
            status: 7,
            id: "127.0.0.11".into(),
            ip: "127.0.0.11".into(),
            version: "6.08".into(),
            total_mb: 1000,
            free_mb: 500,
            storage_port: 23000,
            storage_http_port: 8888,
            stats: StorageStats {
                upload: Count {
                    total: 3,
                    success: 2,
                },
                last_heart_beat_time: 42,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn stat_block_is_348_bytes() {
        let mut v = Vec::new();
        StorageStats::default().encode(&mut v);
        assert_eq!(v.len(), StorageStats::LEN);
    }

    #[test]
    fn storage_records_have_the_fastdfs_sizes_and_round_trip() {
        for layout in [Layout::Legacy, Layout::Current] {
            let mut v = Vec::new();
            storage().encode(layout, &mut v);
            assert_eq!(v.len(), layout.storage_len(), "{layout:?}");
            let back = StorageStat::decode_all(&v).unwrap();
            assert_eq!(back[0].stats, storage().stats);
            assert_eq!(back[0].free_mb, 500);
        }
        let mut v = Vec::new();
        storage().encode(Layout::Legacy, &mut v);
        assert_eq!(&v[1..11], b"127.0.0.11", "legacy id at offset 1");
        assert_eq!(
            i64::from_be_bytes(v[255..263].try_into().unwrap()),
            8888,
            "legacy http port at 255"
        );
    }

    #[test]
    fn group_records_have_the_fastdfs_sizes_and_round_trip() {
        let g = GroupStat {
            name: "group1".into(),
            total_mb: 9,
            free_mb: 8,
            storage_count: 2,
            active_count: 1,
            storage_port: 23000,
            ..Default::default()
        };
        for layout in [Layout::Legacy, Layout::Current] {
            let mut v = Vec::new();
            g.encode(layout, &mut v);
            g.encode(layout, &mut v);
            assert_eq!(v.len(), 2 * layout.group_len());
            let back = GroupStat::decode_all(&v).unwrap();
            assert_eq!(
                (back.len(), back[1].name.as_str(), back[1].active_count),
                (2, "group1", 1)
            );
        }
    }
}
