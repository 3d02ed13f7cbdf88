//! tracker.conf → tracker.toml (and the storage HTTP checks → edge.toml).

use super::common;
use super::ini::Entry;
use super::mapping::{Cx, Target};
use super::report::Value;
use super::values;

pub fn map(entries: &[Entry], cx: &mut Cx) {
    let lookup = entries
        .iter()
        .rfind(|e| e.key == "store_lookup" && e.section.is_none())
        .map(|e| e.value.trim().to_string());
    let use_ids = entries
        .iter()
        .rfind(|e| e.key == "use_storage_id" && e.section.is_none())
        .is_some_and(|e| values::boolean(&e.value).unwrap_or(false));
    let check_alive_off = entries
        .iter()
        .rfind(|e| e.key == "http.check_alive_interval")
        .is_some_and(|e| values::integer(&e.value).is_ok_and(|n| n <= 0));
    let mut allow = Vec::new();
    for e in entries {
        if e.section.is_some() {
            common::section(e, cx);
            continue;
        }
        let v = e.value.as_str();
        let t = Target::Tracker;
        match e.key.as_str() {
            "bind_addr" => common::bind(e, t, cx),
            "port" => cx.try_map(e, t, "", "port", values::integer(v).map(Value::Int)),
            "network_timeout" => cx.try_map(
                e,
                t,
                "",
                "network_timeout",
                values::seconds(v).map(Value::Int),
            ),
            "base_path" => cx.map(e, t, "", "base_path", Value::Str(v.into())),
            "max_connections" => cx.try_map(
                e,
                t,
                "",
                "max_connections",
                values::integer(v).map(Value::Int),
            ),
            "store_lookup" => {
                let word = match v {
                    "0" => Ok("round_robin"),
                    "1" => Ok("specified_group"),
                    "2" => Ok("load_balance"),
                    _ => Err(format!("{v:?} is not 0, 1 or 2")),
                };
                cx.try_map(e, t, "", "store_lookup", word.map(|w| Value::Str(w.into())));
            }
            "store_group" if lookup.as_deref() == Some("1") => {
                cx.map(e, t, "", "store_group", Value::Str(v.into()))
            }
            "store_group" => cx.ignored(e, "only read with store_lookup = 1"),
            "store_server" => {
                let word = match v {
                    "0" => Ok("round_robin"),
                    "1" => Ok("first_by_ip"),
                    "2" => Ok("by_priority"),
                    _ => Err(format!("{v:?} is not 0, 1 or 2")),
                };
                cx.try_map(e, t, "", "store_server", word.map(|w| Value::Str(w.into())));
            }
            "store_path" => {
                let word = match v {
                    "0" => Ok("round_robin"),
                    "2" => Ok("load_balance"),
                    _ => Err(format!("{v:?} is not 0 or 2")),
                };
                cx.try_map(e, t, "", "store_path", word.map(|w| Value::Str(w.into())));
            }
            "download_server" => {
                let word = match v {
                    "0" => Ok("round_robin"),
                    "1" => Ok("source_first"),
                    _ => Err(format!("{v:?} is not 0 or 1")),
                };
                cx.try_map(
                    e,
                    t,
                    "",
                    "download_server",
                    word.map(|w| Value::Str(w.into())),
                );
            }
            "reserved_storage_space" => cx.try_map(
                e,
                t,
                "",
                "reserved_storage_space",
                values::reserved(v).map(Value::Str),
            ),
            "allow_hosts" => common::allow_hosts(e, t, &mut allow, cx),
            "check_active_interval" => cx.try_map(
                e,
                t,
                "",
                "check_active_interval",
                values::seconds(v).map(Value::Int),
            ),
            "storage_sync_file_max_delay" => cx.try_map(
                e,
                t,
                "",
                "storage_sync_file_max_delay",
                values::seconds(v).map(Value::Int),
            ),
            "response_ip_addr_size" => {
                cx.map(e, t, "", "response_ip_addr_size", Value::Str(v.into()))
            }
            "use_storage_id" => cx.try_map(
                e,
                t,
                "",
                "use_storage_id",
                values::boolean(v).map(Value::Bool),
            ),
            "storage_ids_filename" | "id_type_in_filename" if !use_ids => {
                cx.ignored(e, "only read with use_storage_id = true")
            }
            "storage_ids_filename" => {
                cx.map(e, t, "", "storage_ids_filename", Value::Str(v.into()))
            }
            "id_type_in_filename" => {
                cx.map(e, t, "", "id_type_in_filename", Value::Str(v.into()))
            }
            "connect_timeout" => cx.ignored(
                e,
                "trackers bound every exchange with network_timeout, connects included",
            ),
            "min_buff_size" | "max_buff_size" => cx.ignored(
                e,
                "buffers grow to each request; max_body_size (1 MiB) bounds a request",
            ),
            "storage_ip_changed_auto_adjust" => cx.ignored(
                e,
                "without storage ids a storage is its address; use_storage_id keeps a storage's identity when its address changes",
            ),
            "storage_sync_file_max_time" => cx.ignored(
                e,
                "where a file can be read is decided from the members' sync progress and storage_sync_file_max_delay",
            ),
            "trust_storage_server_id" => cx.ignored(
                e,
                "a storage's id is the storage_ids.conf entry that lists the address it connects from",
            ),
            "use_trunk_file" => common::trunk(e, cx),
            k if k.contains("trunk") || k == "slot_min_size" || k == "slot_max_size" => {
                cx.ignored(e, "trunk files are not used (see use_trunk_file)")
            }
            "store_slave_file_use_link" => match values::boolean(v) {
                Ok(false) => cx.ignored(e, "slave files are files of their own, as with false"),
                _ => cx.unmapped(
                    e,
                    "slave files are always stored as files of their own, never as links; nothing to set",
                ),
            },
            "http.server_port" => cx.ignored(
                e,
                "the tracker serves no files over HTTP; the edge lb (edge.toml listen) is the HTTP entry on a tracker node",
            ),
            "http.check_alive_interval" if cx.edge_on => {
                let value = match values::integer(v) {
                    Ok(n) if n <= 0 => Ok(("health_check", Value::Str("none".into()))),
                    Ok(n) => Ok(("health_check_interval", Value::Str(format!("{n}s")))),
                    Err(err) => Err(err),
                };
                match value {
                    Ok((key, value)) => cx.map(e, Target::Edge, "upstream", key, value),
                    Err(err) => cx.try_map(
                        e,
                        Target::Edge,
                        "upstream",
                        "health_check_interval",
                        Err(err),
                    ),
                }
            }
            "http.check_alive_type" if cx.edge_on && check_alive_off => {
                cx.ignored(e, "http.check_alive_interval <= 0 turns the check off")
            }
            "http.check_alive_type" if cx.edge_on => match v {
                "tcp" => cx.map(e, Target::Edge, "upstream", "health_check", Value::Str("tcp".into())),
                "http" => {
                    let uri = entries
                        .iter()
                        .rfind(|e| e.key == "http.check_alive_uri")
                        .map_or("/status.html", |e| e.value.as_str());
                    cx.map(
                        e,
                        Target::Edge,
                        "upstream",
                        "health_check",
                        Value::Str(format!("http:{uri}")),
                    )
                }
                _ => cx.unmapped(e, "not tcp or http; set [upstream] health_check in edge.toml"),
            },
            "http.check_alive_uri" if cx.edge_on => cx.ignored(
                e,
                "read with http.check_alive_type = http (edge.toml [upstream] health_check = \"http:<uri>\")",
            ),
            "http.check_alive_interval" | "http.check_alive_type" | "http.check_alive_uri" => {
                cx.unmapped(e, common::NO_EDGE)
            }
            _ => common::shared(e, cx),
        }
    }
    if use_ids && !entries.iter().any(|e| e.key == "id_type_in_filename") {
        cx.set(
            Target::Tracker,
            "",
            "id_type_in_filename",
            Value::Str("ip".into()),
            "FastDFS's default",
        );
        cx.report.note(
            "tracker.toml: id_type_in_filename = \"ip\" written: FastDFS's default when the key is absent (ferrodfs's own default is \"id\")",
        );
    }
}
