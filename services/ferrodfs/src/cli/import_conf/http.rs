//! mod_fastdfs.conf and its `#include`d http.conf → storage.toml `[http]`
//! (the storage serves files itself) and the anti-steal token → edge.toml.

use super::common;
use super::ini::Entry;
use super::mapping::{Cx, Target};
use super::report::{Value, Verdict};
use super::values;

const STORAGE_CONF_APPLIES: &str =
    "the storage's own setting (storage.toml, from storage.conf) applies; FastDFS needs both alike";

fn last<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .rfind(|e| e.key == key && e.section.is_none())
}

pub fn map(entries: &[Entry], cx: &mut Cx) {
    let t = Target::Storage;
    let token_on = last(entries, "http.anti_steal.check_token")
        .is_some_and(|e| values::boolean(&e.value).unwrap_or(false));
    let groups = last(entries, "group_count").map_or(0, |e| values::integer(&e.value).unwrap_or(0));
    for e in entries {
        let v = e.value.trim();
        if e.section.is_some() {
            if groups > 0 {
                cx.unmapped(e, "one ferrodfs storage serves one group: run a storage per group, each with its own storage.toml");
            } else {
                cx.ignored(e, "group sections are read only with group_count > 0");
            }
            continue;
        }
        if e.key.starts_with("store_path") {
            cx.ignored(e, STORAGE_CONF_APPLIES);
            continue;
        }
        match e.key.as_str() {
            "connect_timeout" | "network_timeout" => {
                cx.ignored(e, "the storage's network_timeout bounds HTTP requests and its fetches from peers")
            }
            "base_path" | "log_filename" => {
                cx.ignored(e, "the module's log location: ferrodfs logs to stderr")
            }
            "load_fdfs_parameters_from_tracker" => {
                cx.ignored(e, "the storage serves HTTP itself and knows the cluster's settings")
            }
            "storage_sync_file_max_delay" => cx.ignored(e, "set on the trackers (tracker.toml)"),
            "use_storage_id" | "storage_ids_filename" => {
                cx.ignored(e, "the trackers' use_storage_id applies; storages learn the ids from them")
            }
            "tracker_server" if cx.edge_on => match values::tracker_server(v) {
                Ok((addr, _)) => cx.report.add(
                    e,
                    Verdict::Mapped(format!("{}: [edge] trackers lists {addr:?}", cx.edge.name)),
                ),
                Err(err) => cx.unmapped(e, format!("{err}: fix the line and rerun")),
            },
            "tracker_server" => cx.unmapped(e, common::NO_EDGE),
            "storage_server_port" | "group_name" => cx.ignored(e, STORAGE_CONF_APPLIES),
            "url_have_group_name" => match values::boolean(v) {
                Ok(true) => cx.ignored(e, "URLs carry the group (/group1/M00/...), the only form ferrodfs serves"),
                _ => cx.unmapped(
                    e,
                    "ferrodfs serves /<group>/Mxx/... only: URLs without the group (/M00/...) need it added in front (the front lb's prefix routes /dfs/<group>/...)",
                ),
            },
            "response_mode" => match v {
                "proxy" | "redirect" => cx.map(e, t, "http", "response_mode", Value::Str(v.into())),
                _ => cx.unmapped(e, format!("{v:?} is not proxy or redirect; set [http] response_mode by hand")),
            },
            "flv_support" => match values::boolean(v) {
                Ok(false) => cx.ignored(e, "off, as ferrodfs"),
                _ => cx.unmapped(e, "no FLV start= seeking: players can seek with Range requests"),
            },
            "flv_extension" => cx.ignored(e, "read only with flv_support"),
            "group_count" if groups <= 0 => cx.ignored(e, "0: one group, as a ferrodfs storage serves"),
            "group_count" => cx.unmapped(
                e,
                "one ferrodfs storage serves one group: run a storage per group, each with its own storage.toml",
            ),
            "anti_steal_bypass_header_name" | "anti_steal_bypass_header_value" => cx.unmapped(
                e,
                "no bypass header: give those clients signed URLs (`ferrodfs url --secret`)",
            ),
            "http.default_content_type" => {
                cx.map(e, t, "http", "default_content_type", Value::Str(v.into()))
            }
            "http.mime_types_filename" => cx.ignored(
                e,
                "a built-in MIME table; other extensions get [http] default_content_type",
            ),
            "http.multi_range.enabled" => cx.ignored(
                e,
                "a request for several ranges gets the whole file (200), which RFC 9110 allows",
            ),
            "http.anti_steal.check_token" if token_on => cx.report.add(
                e,
                Verdict::Mapped(format!(
                    "{}: [http] token_secret set (the check is on when a secret is); see http.anti_steal.secret_key",
                    cx.storage.name
                )),
            ),
            "http.anti_steal.check_token" => cx.ignored(e, "off: no token_secret is written, as without a check"),
            k if k.starts_with("http.anti_steal.") && !token_on => {
                cx.ignored(e, "the token check is off (http.anti_steal.check_token)")
            }
            "http.anti_steal.secret_key" => {
                if v.is_empty() {
                    cx.unmapped(e, "empty: FastDFS refuses a token check without a secret; set [http] token_secret");
                    continue;
                }
                let mut shown = cx.set(t, "http", "token_secret", Value::Str(v.into()), &format!("{}: {}", e.file, e.key));
                if cx.edge_on {
                    let edge = cx.set(Target::Edge, "edge", "token_secret", Value::Str(v.into()), &format!("{}: {}", e.file, e.key));
                    shown = format!("{shown}; {edge}");
                }
                cx.report.add(e, Verdict::Mapped(shown));
            }
            "http.anti_steal.token_ttl" => match values::seconds(v) {
                Ok(n) => {
                    let mut shown = cx.set(t, "http", "token_ttl", Value::Int(n), &format!("{}: {}", e.file, e.key));
                    if cx.edge_on {
                        let edge = cx.set(Target::Edge, "edge", "token_ttl", Value::Str(format!("{n}s")), &format!("{}: {}", e.file, e.key));
                        shown = format!("{shown}; {edge}");
                    }
                    cx.report.add(e, Verdict::Mapped(shown));
                }
                Err(err) => cx.unmapped(e, format!("{err}; set [http] token_ttl by hand")),
            },
            "http.anti_steal.token_check_fail" if v.is_empty() => {
                cx.ignored(e, "empty: a refused request gets an error, as in ferrodfs (403)")
            }
            "http.anti_steal.token_check_fail" => cx.unmapped(
                e,
                "a refused request gets 403, or a 302 to [http] token_fail_redirect: publish that file at a URL and set it there",
            ),
            _ => common::shared(e, cx),
        }
    }
}
