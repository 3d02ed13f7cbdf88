//! Keys tracker.conf and storage.conf share, and the verdicts several
//! files give alike.

use std::net::IpAddr;

use super::ini::Entry;
use super::mapping::{Cx, Target};
use super::report::Value;
use super::values;

/// Why an edge setting could not be written.
pub const NO_EDGE: &str = "edge.toml is made only when the trackers' addresses are known: pass a storage.conf, client.conf or mod_fastdfs.conf with tracker_server lines";

const LOGS: &str =
    "ferrodfs logs to stderr (journald or docker keep and rotate it): no log files here";

/// `bind_addr`: empty binds every address; FastDFS 6.11's `ipv4,ipv6`
/// keeps its IPv4 part.
pub fn bind(e: &Entry, t: Target, cx: &mut Cx) {
    let v = e.value.trim();
    if v.is_empty() {
        return cx.map(e, t, "", "bind", Value::Str("0.0.0.0".into()));
    }
    let addrs: Vec<&str> = v.split(',').map(str::trim).collect();
    let pick = addrs
        .iter()
        .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        .or_else(|| addrs.iter().find(|a| a.parse::<IpAddr>().is_ok()));
    match pick {
        Some(a) => cx.map(e, t, "", "bind", Value::Str(a.to_string())),
        None => cx.unmapped(
            e,
            format!("{v:?} is not an IP address: set bind to the address to listen on"),
        ),
    }
}

/// `allow_hosts` (repeatable): the list so far, rewritten each time.
pub fn allow_hosts(e: &Entry, t: Target, list: &mut Vec<String>, cx: &mut Cx) {
    match values::allow_host(&e.value) {
        Ok(items) => {
            list.extend(items);
            cx.map(e, t, "", "allow_hosts", Value::List(list.clone()));
        }
        Err(err) => cx.unmapped(e, format!("{err} in allow_hosts")),
    }
}

/// `use_trunk_file`.
pub fn trunk(e: &Entry, cx: &mut Cx) {
    match values::boolean(&e.value) {
        Ok(false) => cx.ignored(e, "every file is a file of its own, as FastDFS without trunk files"),
        _ => cx.unmapped(
            e,
            "ferrodfs has no trunk files: files FastDFS packed into trunks cannot be served from its data directories; copy them (download from FastDFS, upload to ferrodfs)",
        ),
    }
}

/// A key inside a `[section]` of tracker.conf or storage.conf (6.14's
/// `[error-log]`, `[access-log]`).
pub fn section(e: &Entry, cx: &mut Cx) {
    if e.section.as_deref().is_some_and(|s| s.contains("log")) {
        cx.ignored(e, LOGS);
    } else {
        unknown(e, cx);
    }
}

pub fn unknown(e: &Entry, cx: &mut Cx) {
    cx.unmapped(
        e,
        "not a FastDFS key import-conf knows (misspelt, or from another version): check what it did and set the ferrodfs equivalent by hand",
    );
}

/// The syslog level names FastDFS takes, as `RUST_LOG` levels.
fn rust_log_level(v: &str) -> &'static str {
    match v.trim().to_ascii_lowercase().as_str() {
        "emerg" | "alert" | "crit" | "error" | "err" => "error",
        "warn" | "warning" => "warn",
        "debug" => "debug",
        _ => "info",
    }
}

/// Keys of tracker.conf, storage.conf and mod_fastdfs.conf alike;
/// anything else is unknown.
pub fn shared(e: &Entry, cx: &mut Cx) {
    let v = e.value.trim();
    match e.key.as_str() {
        "disabled" => match values::boolean(v) {
            Ok(false) => cx.ignored(e, "the file's own on/off switch; ferrodfs runs the config it is given"),
            _ => cx.unmapped(e, "FastDFS refuses to start with this file: do not deploy its ferrodfs config either"),
        },
        "accept_threads" | "work_threads" | "thread_stack_size" => cx.ignored(
            e,
            "ferrodfs runs on an async runtime with a worker per core: no threads to size",
        ),
        "log_level" => cx.unmapped(
            e,
            format!(
                "the log level is not a config key: set RUST_LOG={} in the daemon's environment",
                rust_log_level(v)
            ),
        ),
        "run_by_group" | "run_by_user" if v.is_empty() => {
            cx.ignored(e, "empty: the daemon runs as the user that starts it, as ferrodfs does")
        }
        "run_by_group" | "run_by_user" => cx.unmapped(
            e,
            "start the daemon as that user and group (systemd User=/Group=, or the Ansible role)",
        ),
        "sync_log_buff_interval"
        | "log_filename"
        | "rotate_error_log"
        | "error_log_rotate_time"
        | "rotate_error_log_size"
        | "compress_old_error_log"
        | "compress_error_log_days_before"
        | "rotate_access_log"
        | "access_log_rotate_time"
        | "rotate_access_log_size"
        | "compress_old_access_log"
        | "compress_access_log_days_before"
        | "log_file_keep_days" => cx.ignored(e, LOGS),
        "use_connection_pool" | "connection_pool_max_idle_time" => cx.ignored(
            e,
            "ferrodfs keeps its connections to trackers and peers open and reuses them itself",
        ),
        "address_family" => match v.to_ascii_lowercase().as_str() {
            "" | "auto" | "ipv4" => cx.ignored(
                e,
                "the address family follows bind; storages advertise an IPv4 ip, as with auto",
            ),
            _ => cx.unmapped(
                e,
                "storages advertise one IPv4 address (storage.toml ip); a tracker listens on IPv6 with an IPv6 bind",
            ),
        },
        "if_alias_prefix" => cx.ignored(
            e,
            "interfaces are not scanned: storage.toml ip is the address a storage advertises",
        ),
        _ => unknown(e, cx),
    }
}
