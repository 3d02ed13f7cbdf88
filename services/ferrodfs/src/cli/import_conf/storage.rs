//! storage.conf → storage.toml (its HTTP port also → edge.toml).

use std::collections::BTreeMap;

use super::common;
use super::ini::Entry;
use super::mapping::{Cx, Target};
use super::report::{Value, Verdict};
use super::values;

/// `store_pathN` (not `store_pathN_readonly`).
fn store_path_index(key: &str) -> Option<usize> {
    let n = key.strip_prefix("store_path")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

fn last<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .rfind(|e| e.key == key && e.section.is_none())
}

/// Whether `sync_start_time`..`sync_end_time` covers the whole day: only
/// 00:00..23:59 does (FastDFS's `g_sync_part_time` test).
fn sync_all_day(entries: &[Entry]) -> bool {
    let start =
        last(entries, "sync_start_time").map_or(Ok((0, 0)), |e| values::hour_minute(&e.value));
    let end =
        last(entries, "sync_end_time").map_or(Ok((23, 59)), |e| values::hour_minute(&e.value));
    matches!((start, end), (Ok((0, 0)), Ok((23, 59))))
}

pub fn map(entries: &[Entry], cx: &mut Cx) {
    let t = Target::Storage;
    let count = match last(entries, "store_path_count") {
        None => 1,
        Some(e) => values::integer(&e.value).unwrap_or(1).clamp(1, 256) as usize,
    };
    let all_day = sync_all_day(entries);
    let check_dup = last(entries, "check_file_duplicate")
        .is_some_and(|e| values::boolean(&e.value).unwrap_or(false));
    let mut paths: BTreeMap<usize, String> = BTreeMap::new();
    let mut trackers: Vec<String> = Vec::new();
    let mut allow = Vec::new();
    for e in entries {
        if e.section.is_some() {
            common::section(e, cx);
            continue;
        }
        let v = e.value.trim();
        if let Some(i) = store_path_index(&e.key) {
            if i < count {
                paths.insert(i, v.to_string());
                let shown = format!("{}: store_paths[{i}] = {:?}", cx.storage.name, v);
                cx.report.add(e, Verdict::Mapped(shown));
            } else {
                cx.ignored(
                    e,
                    format!("beyond store_path_count = {count}, as FastDFS reads it"),
                );
            }
            continue;
        }
        if e.key.starts_with("store_path") && e.key.ends_with("_readonly") {
            match values::boolean(v) {
                Ok(false) => cx.ignored(e, "every store path takes uploads, as with false"),
                _ => cx.unmapped(
                    e,
                    "no read-only store paths: a store path stops taking uploads when it reaches reserved_storage_space",
                ),
            }
            continue;
        }
        match e.key.as_str() {
            "group_name" => cx.map(e, t, "", "group_name", Value::Str(v.into())),
            "bind_addr" => common::bind(e, t, cx),
            "port" => cx.try_map(e, t, "", "port", values::integer(v).map(Value::Int)),
            "network_timeout" => cx.try_map(e, t, "", "network_timeout", values::seconds(v).map(Value::Int)),
            "heart_beat_interval" => cx.try_map(e, t, "", "heart_beat_interval", values::seconds(v).map(Value::Int)),
            "base_path" => cx.map(e, t, "", "base_path", Value::Str(v.into())),
            "max_connections" => cx.try_map(e, t, "", "max_connections", values::integer(v).map(Value::Int)),
            "subdir_count_per_path" => cx.try_map(e, t, "", "subdir_count_per_path", values::integer(v).map(Value::Int)),
            "file_distribute_path_mode" => cx.try_map(e, t, "", "file_distribute_path_mode", values::integer(v).map(Value::Int)),
            "file_distribute_rotate_count" => cx.try_map(e, t, "", "file_distribute_rotate_count", values::integer(v).map(Value::Int)),
            "response_ip_addr_size" => cx.map(e, t, "", "response_ip_addr_size", Value::Str(v.into())),
            "store_path_count" => {
                let shown = format!(
                    "{}: store_paths lists {count} directories (store_path0..store_path{})",
                    cx.storage.name,
                    count - 1
                );
                match values::integer(v) {
                    Ok(n) if (1..=256).contains(&n) => cx.report.add(e, Verdict::Mapped(shown)),
                    _ => cx.unmapped(e, format!("{v:?} is not 1..256; store_paths takes 1 to 256 directories")),
                }
            }
            "tracker_server" => match values::tracker_server(v) {
                Ok((addr, dual)) => {
                    if !trackers.contains(&addr) {
                        trackers.push(addr.clone());
                    }
                    let mut shown = cx.set(t, "", "tracker_servers", Value::List(trackers.clone()), "storage.conf: tracker_server");
                    if dual {
                        shown.push_str(" (the first of the dual addresses: a storage reaches a tracker at one address)");
                    }
                    cx.report.add(e, Verdict::Mapped(shown));
                }
                Err(err) => cx.unmapped(e, format!("{err}: fix the line and rerun")),
            },
            "allow_hosts" => common::allow_hosts(e, t, &mut allow, cx),
            "fsync_after_written_bytes" => match values::integer(v) {
                Ok(0) => cx.map(e, t, "", "fsync_after_write", Value::Bool(false)),
                Ok(_) => {
                    let shown = cx.set(t, "", "fsync_after_write", Value::Bool(true), "storage.conf: fsync_after_written_bytes");
                    cx.report.add(e, Verdict::Mapped(format!("{shown} (every acknowledged write is fsynced, not only large ones)")));
                }
                Err(err) => cx.unmapped(e, err),
            },
            "sync_binlog_buff_interval" => match values::integer(v) {
                Ok(n) if n >= 0 => cx.map(e, t, "", "binlog_fsync_interval", Value::Int(n)),
                _ => cx.unmapped(e, format!("{v:?} is not a number of seconds; set binlog_fsync_interval by hand")),
            },
            "http.server_port" => match values::integer(v) {
                Ok(port) if (1..=65535).contains(&port) => {
                    let mut shown = cx.set(t, "", "http_port", Value::Int(port), "storage.conf: http.server_port");
                    if cx.edge_on {
                        let edge = cx.set(Target::Edge, "edge", "storage_http_port", Value::Int(port), "storage.conf: http.server_port");
                        shown = format!("{shown}; {edge}");
                    }
                    cx.report.add(e, Verdict::Mapped(shown));
                }
                _ => cx.unmapped(e, format!("{v:?} is not a port; set http_port by hand")),
            },
            "http.domain_name" if v.is_empty() => cx.ignored(e, "empty: URLs carry the storage's address, as ferrodfs's do"),
            "http.domain_name" => cx.unmapped(
                e,
                "trackers hand out addresses, not a domain: put the domain in front of the front lb (DNS for the VIP)",
            ),
            "client_bind" => cx.ignored(
                e,
                "connections to trackers and peers always leave from bind (or ip with a wildcard bind): trackers check that address",
            ),
            "server_id" => cx.unmapped(
                e,
                "a storage's id is the storage_ids.conf entry listing the address it connects from: list that address there",
            ),
            "connect_timeout" => cx.ignored(e, "network_timeout bounds connects too"),
            "stat_report_interval" => cx.ignored(e, "disk usage goes to the trackers with every heartbeat"),
            "buff_size" => cx.ignored(e, "no fixed network buffer: max_body_size bounds an upload"),
            "disk_rw_separated" | "disk_reader_threads" | "disk_writer_threads" | "disk_recovery_threads" => {
                cx.ignored(e, "disk I/O runs on the runtime's blocking pool, which sizes itself")
            }
            "sync_wait_msec" => cx.ignored(e, "members push binlog records to their peers as they are written: no polling"),
            "sync_interval" => match values::integer(v) {
                Ok(0) => cx.ignored(e, "0: no pause between synced files, as ferrodfs"),
                _ => cx.unmapped(e, "ferrodfs does not pause between synced files: limit sync bandwidth on the network if it must be paced"),
            },
            "sync_start_time" | "sync_end_time" if all_day => cx.ignored(e, "the whole day, as ferrodfs always syncs"),
            "sync_start_time" | "sync_end_time" => cx.unmapped(e, "ferrodfs syncs at any time of day: a sync window cannot be set"),
            "write_mark_file_freq" => cx.ignored(e, "sync marks are written as a peer confirms records"),
            "sync_min_threads" | "sync_max_threads" => cx.ignored(e, "one sync stream per peer"),
            "sync_stat_file_interval" => cx.ignored(e, "no stat file: counters are exported at metrics_listen"),
            "upload_priority" if v == "10" => cx.ignored(e, "10 is what every ferrodfs storage reports"),
            "upload_priority" => cx.unmapped(
                e,
                "every ferrodfs storage reports priority 10: with store_server = by_priority the trackers then take the first",
            ),
            "check_file_duplicate" if !check_dup => cx.ignored(e, "off: every upload is stored, as ferrodfs does"),
            "check_file_duplicate" => cx.unmapped(e, "no FastDHT deduplication: every upload is stored"),
            "file_signature_method" | "key_namespace" | "keep_alive" => {
                cx.ignored(e, "FastDHT settings, read only with check_file_duplicate")
            }
            "use_access_log" => match values::boolean(v) {
                Ok(false) => cx.ignored(e, "no access log, as ferrodfs"),
                _ => cx.unmapped(e, "no access log: request counters and latencies are at metrics_listen (/metrics)"),
            },
            "file_sync_skip_invalid_record" => cx.ignored(e, "no such switch: sync decides record by record"),
            "compress_binlog" | "compress_binlog_time" => {
                cx.ignored(e, "binlog files are rotated at binlog_rotate_size and kept uncompressed")
            }
            "check_store_path_mark" => cx.ignored(e, "no such switch in ferrodfs"),
            _ => common::shared(e, cx),
        }
    }
    let mut list = Vec::with_capacity(count);
    for i in 0..count {
        match paths.get(&i) {
            Some(p) => list.push(p.clone()),
            None if i == 0 => {
                let base = last(entries, "base_path").map(|e| e.value.trim().to_string());
                match base {
                    Some(b) => {
                        cx.report.note(format!(
                            "storage.toml: store_paths[0] = {b:?}: no store_path0, so FastDFS stores in base_path"
                        ));
                        list.push(b);
                    }
                    None => cx.report.note("storage.toml: store_paths: no store_path0 and no base_path"),
                }
            }
            None => cx.report.note(format!(
                "storage.toml: store_paths: store_path{i} is missing though store_path_count = {count} (FastDFS would not start); list every directory in store_paths"
            )),
        }
    }
    cx.set(
        t,
        "",
        "store_paths",
        Value::List(list),
        "storage.conf: store_path0..",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> Entry {
        Entry {
            file: "storage.conf".into(),
            line: 1,
            section: None,
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn the_sync_window_is_the_whole_day_only_from_midnight_to_23_59() {
        assert!(sync_all_day(&[]));
        assert!(sync_all_day(&[
            entry("sync_start_time", "00:00"),
            entry("sync_end_time", "23:59")
        ]));
        assert!(!sync_all_day(&[
            entry("sync_start_time", "03:00"),
            entry("sync_end_time", "03:00")
        ]));
        assert!(!sync_all_day(&[
            entry("sync_start_time", "01:00"),
            entry("sync_end_time", "05:00")
        ]));
    }

    #[test]
    fn only_numbered_store_paths_are_store_paths() {
        assert_eq!(store_path_index("store_path0"), Some(0));
        assert_eq!(store_path_index("store_path12"), Some(12));
        assert_eq!(store_path_index("store_path_count"), None);
        assert_eq!(store_path_index("store_path0_readonly"), None);
        assert_eq!(store_path_index("store_path"), None);
    }
}
