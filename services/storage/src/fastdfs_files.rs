//! FastDFS's own state files in `<base_path>/data`, so a storage started on
//! a FastDFS base path carries on where FastDFS stopped: `storage_stat.dat`
//! (the request counters and the round-robin directory cursor), which this
//! storage also keeps up to date, and `.data_init_flag` (join time and the
//! state of the initial full copy), read once when there is no state of
//! our own yet. Both are `key=value` lines.

use std::io;
use std::path::{Path, PathBuf};

use ferrodfs_proto::cluster::InitState;
use ferrodfs_proto::stat::{Count, StorageStats};

use crate::distribute::Rotor;

const STAT_FILE: &str = "storage_stat.dat";
const INIT_FLAG_FILE: &str = ".data_init_flag";

/// The counter pairs of the stat block under FastDFS's key names:
/// `total_<key>` and `success_<key>`.
fn pairs(s: &mut StorageStats) -> [(&'static str, &mut Count); 19] {
    [
        ("upload_count", &mut s.upload),
        ("append_count", &mut s.append),
        ("modify_count", &mut s.modify),
        ("truncate_count", &mut s.truncate),
        ("set_meta_count", &mut s.set_meta),
        ("delete_count", &mut s.delete),
        ("download_count", &mut s.download),
        ("get_meta_count", &mut s.get_meta),
        ("create_link_count", &mut s.create_link),
        ("delete_link_count", &mut s.delete_link),
        ("upload_bytes", &mut s.upload_bytes),
        ("append_bytes", &mut s.append_bytes),
        ("modify_bytes", &mut s.modify_bytes),
        ("download_bytes", &mut s.download_bytes),
        ("sync_in_bytes", &mut s.sync_in_bytes),
        ("sync_out_bytes", &mut s.sync_out_bytes),
        ("file_open_count", &mut s.file_open),
        ("file_read_count", &mut s.file_read),
        ("file_write_count", &mut s.file_write),
    ]
}

/// What `storage_stat.dat` holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StatFile {
    /// Counters and the last-update times; connection gauges and
    /// heartbeat times are not kept.
    pub stats: StorageStats,
    pub rotor: Rotor,
}

fn values(text: &str) -> impl Iterator<Item = (&str, i64)> {
    text.lines().filter_map(|l| {
        let (k, v) = l.split_once('=')?;
        Some((k.trim(), v.trim().parse().ok()?))
    })
}

impl StatFile {
    /// Unknown keys and unreadable values are skipped: a counter missing
    /// from the file starts at 0.
    pub fn parse(text: &str) -> StatFile {
        let mut f = StatFile::default();
        for (key, v) in values(text) {
            let clamp = |v: i64| u32::try_from(v).unwrap_or(0);
            match key {
                "last_source_update" => f.stats.last_source_update = v,
                "last_sync_update" => f.stats.last_sync_update = v,
                "dist_path_index_high" => f.rotor.high = clamp(v),
                "dist_path_index_low" => f.rotor.low = clamp(v),
                "dist_write_file_count" => f.rotor.count = clamp(v),
                _ => {
                    let (success, name) = match key.split_once('_') {
                        Some(("total", name)) => (false, name),
                        Some(("success", name)) => (true, name),
                        _ => continue,
                    };
                    if let Some((_, c)) = pairs(&mut f.stats).into_iter().find(|(n, _)| *n == name)
                    {
                        if success {
                            c.success = v;
                        } else {
                            c.total = v;
                        }
                    }
                }
            }
        }
        f
    }

    pub fn format(&self) -> String {
        let mut stats = self.stats.clone();
        let mut out = String::new();
        for (name, c) in pairs(&mut stats) {
            out.push_str(&format!(
                "total_{name}={}\nsuccess_{name}={}\n",
                c.total, c.success
            ));
        }
        out.push_str(&format!(
            "last_source_update={}\nlast_sync_update={}\n\
             dist_path_index_high={}\ndist_path_index_low={}\ndist_write_file_count={}\n",
            self.stats.last_source_update,
            self.stats.last_sync_update,
            self.rotor.high,
            self.rotor.low,
            self.rotor.count
        ));
        out
    }
}

fn stat_path(base_path: &Path) -> PathBuf {
    base_path.join("data").join(STAT_FILE)
}

/// `storage_stat.dat`, if there is one (blocking).
pub(crate) fn load_stat(base_path: &Path) -> io::Result<Option<StatFile>> {
    match std::fs::read_to_string(stat_path(base_path)) {
        Ok(text) => Ok(Some(StatFile::parse(&text))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Rewrites `storage_stat.dat` atomically (blocking).
pub(crate) fn save_stat(base_path: &Path, f: &StatFile) -> io::Result<()> {
    let path = stat_path(base_path);
    let tmp = path.with_extension("dat.tmp");
    std::fs::write(&tmp, f.format())?;
    std::fs::rename(tmp, path)
}

/// What a FastDFS storage recorded of itself in `.data_init_flag`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InitFlag {
    pub join_time: i64,
    pub init: InitState,
}

impl InitFlag {
    pub fn parse(text: &str) -> Option<InitFlag> {
        let mut join_time = None;
        let mut init = InitState::default();
        for l in text.lines() {
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            let v = v.trim();
            match k.trim() {
                "storage_join_time" => join_time = v.parse().ok(),
                "sync_old_done" => init.done = v == "1",
                "sync_src_server" if !v.is_empty() => init.sync_src = Some(v.to_string()),
                "sync_until_timestamp" => init.sync_until = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        Some(InitFlag {
            join_time: join_time?,
            init,
        })
    }
}

/// `.data_init_flag`, if there is a readable one (blocking).
pub(crate) fn load_init_flag(base_path: &Path) -> io::Result<Option<InitFlag>> {
    match std::fs::read_to_string(base_path.join("data").join(INIT_FLAG_FILE)) {
        Ok(text) => Ok(InitFlag::parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys as a FastDFS 6.x storage writes them (a subset is enough: the
    /// rest default to 0).
    const FASTDFS_STAT: &str = "total_upload_count=1234\nsuccess_upload_count=1230\n\
        total_download_count=99\nsuccess_download_count=98\ntotal_upload_bytes=5050\n\
        success_upload_bytes=5000\nlast_source_update=1700000000\nlast_sync_update=1700000100\n\
        total_file_open_count=7\nsuccess_file_open_count=7\n\
        dist_path_index_high=3\ndist_path_index_low=7\ndist_write_file_count=42\n";

    #[test]
    fn a_fastdfs_stat_file_gives_counters_and_the_directory_cursor() {
        let f = StatFile::parse(FASTDFS_STAT);
        assert_eq!(
            f.stats.upload,
            Count {
                total: 1234,
                success: 1230
            }
        );
        assert_eq!(
            f.stats.download,
            Count {
                total: 99,
                success: 98
            }
        );
        assert_eq!(
            f.stats.upload_bytes,
            Count {
                total: 5050,
                success: 5000
            }
        );
        assert_eq!(
            f.stats.file_open,
            Count {
                total: 7,
                success: 7
            }
        );
        assert_eq!(f.stats.last_sync_update, 1_700_000_100);
        assert_eq!(
            f.rotor,
            Rotor {
                high: 3,
                low: 7,
                count: 42
            }
        );
    }

    #[test]
    fn the_stat_file_round_trips_with_every_fastdfs_key() {
        let mut f = StatFile::parse(FASTDFS_STAT);
        f.stats.delete_link = Count {
            total: 5,
            success: 4,
        };
        let text = f.format();
        assert_eq!(StatFile::parse(&text), f);
        // FastDFS refuses a stat file with fewer than 12 items.
        assert_eq!(text.lines().count(), 19 * 2 + 5);
        assert!(text.contains("success_delete_link_count=4\n"), "{text}");
    }

    #[test]
    fn damaged_lines_are_skipped() {
        let f = StatFile::parse("total_upload_count=x\nsuccess_upload_count=3\nnoise\n=\n");
        assert_eq!(
            f.stats.upload,
            Count {
                total: 0,
                success: 3
            }
        );
    }

    #[test]
    fn the_init_flag_gives_join_time_and_full_copy_state() {
        let done = InitFlag::parse(
            "storage_join_time=1600000000\nsync_old_done=1\nsync_src_server=\n\
             sync_until_timestamp=0\nlast_ip_addr=10.0.0.5\nlast_server_port=23000\n",
        )
        .unwrap();
        assert_eq!(done.join_time, 1_600_000_000);
        assert!(done.init.done);
        assert_eq!(done.init.sync_src, None);
        let copying = InitFlag::parse(
            "storage_join_time=5\nsync_old_done=0\nsync_src_server=10.0.0.6\nsync_until_timestamp=77\n",
        )
        .unwrap();
        assert!(!copying.init.done);
        assert_eq!(copying.init.sync_src.as_deref(), Some("10.0.0.6"));
        assert_eq!(copying.init.sync_until, 77);
        assert_eq!(InitFlag::parse("sync_old_done=1\n"), None, "no join time");
    }
}
