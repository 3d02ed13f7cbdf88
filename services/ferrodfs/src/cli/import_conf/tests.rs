//! The samples FastDFS deployments ship, imported: every key lands in
//! exactly one category, and the values come out as ferrodfs reads them.

use std::collections::HashMap;
use std::time::Duration;

use super::mapping::{import, Inputs, Options, Output};
use super::report::Verdict;
use super::*;

const TRACKER: &str = include_str!("../../../tests/fastdfs_conf/tracker.conf");
const STORAGE: &str = include_str!("../../../tests/fastdfs_conf/storage.conf");
const CLIENT: &str = include_str!("../../../tests/fastdfs_conf/client.conf");
const STORAGE_IDS: &str = include_str!("../../../tests/fastdfs_conf/storage_ids.conf");
const MOD_FASTDFS: &str = include_str!("../../../tests/fastdfs_conf/mod_fastdfs.conf");
const HTTP: &str = include_str!("../../../tests/fastdfs_conf/http.conf");
const NGINX: &str = include_str!("../../../tests/fastdfs_conf/nginx-tracker.conf");
const SECRET: &str = "imported-cluster-secret-0123";

fn entries(file: &str, text: &str) -> Vec<ini::Entry> {
    ini::parse(file, text, &mut |name: &str| match name {
        "http.conf" => Ok(("http.conf".into(), HTTP.into())),
        other => Err(format!("no fixture {other}")),
    })
    .unwrap()
}

fn samples() -> Inputs {
    Inputs {
        tracker: Some(entries("tracker.conf", TRACKER)),
        storage: Some(entries("storage.conf", STORAGE)),
        client: Some(entries("client.conf", CLIENT)),
        mod_fastdfs: Some(entries("mod_fastdfs.conf", MOD_FASTDFS)),
        http: None,
        storage_ids: Some(("storage_ids.conf".into(), STORAGE_IDS.into())),
        nginx: Some(("nginx-tracker.conf".into(), NGINX.into())),
    }
}

fn import_samples() -> Output {
    import(
        &samples(),
        &Options {
            cluster_secret: SECRET.into(),
            storage_ip: Some("10.0.0.11".parse().unwrap()),
        },
    )
}

/// Lines that set something: `key = value` of the ini files, id lines of
/// storage_ids.conf, (file, line) pairs.
fn setting_lines(file: &str, text: &str) -> Vec<(String, usize)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#')
        })
        .map(|(i, _)| (file.to_string(), i + 1))
        .collect()
}

fn verdict<'a>(out: &'a Output, file: &str, key: &str) -> &'a Verdict {
    let found: Vec<&Verdict> = out
        .report
        .items
        .iter()
        .filter(|i| i.file == file && i.key == key)
        .map(|i| &i.verdict)
        .collect();
    assert!(!found.is_empty(), "{file}: {key} is not reported");
    found[0]
}

#[test]
fn every_key_of_every_sample_is_reported_in_exactly_one_category() {
    let out = import_samples();
    let mut seen: HashMap<(String, usize), usize> = HashMap::new();
    for i in &out.report.items {
        if i.file != "nginx-tracker.conf" {
            *seen.entry((i.file.clone(), i.line)).or_default() += 1;
        }
    }
    for (file, text) in [
        ("tracker.conf", TRACKER),
        ("storage.conf", STORAGE),
        ("client.conf", CLIENT),
        ("storage_ids.conf", STORAGE_IDS),
        ("mod_fastdfs.conf", MOD_FASTDFS),
        ("http.conf", HTTP),
    ] {
        for (f, line) in setting_lines(file, text) {
            assert_eq!(
                seen.remove(&(f.clone(), line)),
                Some(1),
                "{f} line {line} ({:?}) must be reported once",
                text.lines().nth(line - 1)
            );
        }
    }
    assert!(seen.is_empty(), "reported lines that set nothing: {seen:?}");
    let text = out.report.render();
    assert!(text.contains("unmapped"), "{text}");
}

#[test]
fn every_nginx_directive_and_cache_parameter_is_reported_once() {
    let out = import_samples();
    let directives = nginx::parse(NGINX).unwrap();
    let reported: Vec<_> = out
        .report
        .items
        .iter()
        .filter(|i| i.file == "nginx-tracker.conf")
        .collect();
    let cache_params = directives
        .iter()
        .find(|d| d.words[0] == "proxy_cache_path")
        .map_or(0, |d| d.words.len() - 2);
    assert_eq!(reported.len(), directives.len() + cache_params);
}

#[test]
fn the_tracker_sample_becomes_a_tracker_toml_the_tracker_accepts() {
    use ferrodfs_tracker::{DownloadServer, StoreLookup, StoreServer};
    let out = import_samples();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("storage_ids.conf"), STORAGE_IDS).unwrap();
    let path = dir.path().join("tracker.toml");
    let c =
        ferrodfs_tracker::Config::parse(path.to_str().unwrap(), out.tracker.as_deref().unwrap())
            .unwrap();
    assert_eq!(c.port, 22122);
    assert_eq!(c.network_timeout, Duration::from_secs(60));
    assert_eq!(c.max_connections, 1024);
    assert_eq!(c.store_lookup, StoreLookup::LoadBalance, "store_lookup = 2");
    assert_eq!(c.store_server, StoreServer::RoundRobin);
    assert_eq!(c.download_server, DownloadServer::RoundRobin);
    assert_eq!(
        c.reserved_storage_space,
        ferrodfs_runtime::Reserved::Percent(10.0)
    );
    assert_eq!(c.check_active_interval, Duration::from_secs(120));
    assert!(
        c.storage_ids.is_some() && c.id_in_filename,
        "use_storage_id, id_type_in_filename = id"
    );
    assert!(c.allow_hosts.allows("10.9.9.9".parse().unwrap()));
    assert!(
        c.allow_hosts.allows("192.168.1.11".parse().unwrap()),
        "a [10-12] range"
    );
    assert!(!c.allow_hosts.allows("192.168.1.13".parse().unwrap()));
    assert!(
        matches!(
            verdict(&out, "tracker.conf", "store_group"),
            Verdict::Ignored(_)
        ),
        "store_lookup is 2"
    );
    assert!(matches!(
        verdict(&out, "tracker.conf", "slot_max_size"),
        Verdict::Ignored(_)
    ));
    assert!(
        matches!(verdict(&out, "tracker.conf", "log_level"), Verdict::Unmapped(w) if w.contains("RUST_LOG=info"))
    );
    assert!(matches!(
        verdict(&out, "tracker.conf", "thread_stack_size"),
        Verdict::Ignored(_)
    ));
}

#[test]
fn the_storage_sample_becomes_a_storage_toml_the_storage_accepts() {
    let out = import_samples();
    let c =
        ferrodfs_storage::Config::parse("storage.toml", out.storage.as_deref().unwrap()).unwrap();
    assert_eq!(c.group_name, "group1");
    assert_eq!(c.ip.to_string(), "10.0.0.11");
    assert_eq!(c.port, 23000);
    assert_eq!(c.http_port, 8888, "http.server_port");
    assert_eq!(
        c.store_paths,
        [
            std::path::PathBuf::from("/opt/fastdfs/data0"),
            "/opt/fastdfs/data1".into()
        ],
        "store_path_count = 2"
    );
    assert_eq!(
        c.tracker_servers,
        ["10.0.0.1:22122", "10.0.0.2:22122"],
        "the dual address keeps its first"
    );
    assert_eq!(c.heart_beat_interval, Duration::from_secs(30));
    assert_eq!(c.network_timeout, Duration::from_secs(60));
    assert_eq!(
        c.binlog_fsync_interval,
        Some(Duration::from_secs(1)),
        "sync_binlog_buff_interval"
    );
    assert!(!c.fsync_after_write, "fsync_after_written_bytes = 0");
    assert_eq!(
        c.http.response_mode,
        ferrodfs_storage::http::ResponseMode::Proxy
    );
    let token = c.http.token.expect("http.anti_steal.check_token = true");
    assert_eq!(
        (token.secret.as_slice(), token.ttl),
        (&b"FastDFS1234567890"[..], 900)
    );
    for key in [
        "disk_rw_separated",
        "sync_wait_msec",
        "sync_start_time",
        "buff_size",
    ] {
        assert!(
            matches!(verdict(&out, "storage.conf", key), Verdict::Ignored(_)),
            "{key}"
        );
    }
    assert!(matches!(
        verdict(&out, "storage.conf", "store_path_count"),
        Verdict::Mapped(_)
    ));
    assert!(matches!(
        verdict(&out, "mod_fastdfs.conf", "flv_support"),
        Verdict::Unmapped(_)
    ));
    assert!(matches!(
        verdict(&out, "http.conf", "http.anti_steal.token_check_fail"),
        Verdict::Unmapped(_)
    ));
    assert!(matches!(
        verdict(&out, "client.conf", "tracker_server"),
        Verdict::Kept(_)
    ));
    assert!(matches!(
        verdict(&out, "storage_ids.conf", "100001"),
        Verdict::Kept(_)
    ));
}

#[test]
fn the_nginx_cache_and_purge_settings_become_an_edge_toml_the_lb_accepts() {
    let out = import_samples();
    let c = ferrodfs_lb::config::Config::parse("edge.toml", out.edge.as_deref().unwrap()).unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:8000");
    assert_eq!(c.max_body_size, 100 << 20);
    assert_eq!(c.expires, Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(c.upstream.max_tries, 3);
    assert_eq!(c.upstream.connect_timeout, Duration::from_secs(2));
    assert_eq!(
        c.upstream.health_check,
        ferrodfs_lb::config::HealthCheckKind::Tcp,
        "http.check_alive_type"
    );
    assert_eq!(c.upstream.health_check_interval, Duration::from_secs(30));
    let edge = c.edge.unwrap();
    match &edge.membership {
        ferrodfs_lb::config::Membership::Trackers {
            trackers,
            storage_http_port,
            ..
        } => {
            assert_eq!(trackers, &["10.0.0.1:22122", "10.0.0.2:22122"]);
            assert_eq!(*storage_http_port, 8888);
        }
        other => panic!("{other:?}"),
    }
    let cache = edge.cache.unwrap();
    assert_eq!(
        cache.path,
        std::path::PathBuf::from("/var/cache/nginx/fastdfs")
    );
    assert_eq!(cache.max_size, 10 << 30, "max_size=10g");
    assert_eq!(cache.inactive, Duration::from_secs(30 * 86_400));
    assert_eq!(
        cache.valid,
        Duration::from_secs(12 * 3600),
        "proxy_cache_valid 200 304 12h"
    );
    let allow: Vec<String> = cache.purge_allow.iter().map(|n| n.to_string()).collect();
    assert_eq!(allow, ["127.0.0.1/32", "192.168.1.0/24"]);
    let token = edge.token.unwrap();
    assert_eq!(
        (token.secret.as_str(), token.ttl),
        ("FastDFS1234567890", Duration::from_secs(900))
    );
    let storage_server = out
        .report
        .items
        .iter()
        .find(|i| i.file == "nginx-tracker.conf" && i.key.ends_with("listen") && i.value == "8888")
        .unwrap();
    assert!(
        matches!(storage_server.verdict, Verdict::Ignored(_)),
        "the ngx_fastdfs_module server"
    );
}

fn import_one(kind: &str, text: &str) -> Output {
    let mut inputs = Inputs::default();
    let e = entries(kind, text);
    match kind {
        "tracker.conf" => inputs.tracker = Some(e),
        "storage.conf" => inputs.storage = Some(e),
        _ => inputs.mod_fastdfs = Some(e),
    }
    import(
        &inputs,
        &Options {
            cluster_secret: SECRET.into(),
            storage_ip: None,
        },
    )
}

#[test]
fn features_ferrodfs_lacks_are_unmapped_with_what_to_do() {
    let out = import_one(
        "tracker.conf",
        "use_trunk_file = true\nstore_slave_file_use_link = true\nallow_hosts = host[01-08].example.com\nrun_by_user = fdfs\n",
    );
    for key in [
        "use_trunk_file",
        "store_slave_file_use_link",
        "allow_hosts",
        "run_by_user",
    ] {
        assert!(
            matches!(verdict(&out, "tracker.conf", key), Verdict::Unmapped(_)),
            "{key}"
        );
    }
    let out = import_one(
        "storage.conf",
        "group_name = g1\nbase_path = /d\nsync_start_time = 01:00\nsync_end_time = 05:00\nsync_interval = 10\nstore_path0_readonly = true\nupload_priority = 1\ncheck_file_duplicate = 1\n",
    );
    for key in [
        "sync_start_time",
        "sync_end_time",
        "sync_interval",
        "store_path0_readonly",
        "upload_priority",
        "check_file_duplicate",
    ] {
        assert!(
            matches!(verdict(&out, "storage.conf", key), Verdict::Unmapped(_)),
            "{key}"
        );
    }
    assert!(
        out.report.notes.iter().any(|n| n.contains("--storage-ip")),
        "{:?}",
        out.report.notes
    );
    assert!(
        out.report
            .notes
            .iter()
            .any(|n| n.contains("no store_path0, so FastDFS stores in base_path")),
        "{:?}",
        out.report.notes
    );
    let out = import_one(
        "mod_fastdfs.conf",
        "url_have_group_name = false\ngroup_count = 2\n[group1]\ngroup_name = group1\n",
    );
    assert!(matches!(
        verdict(&out, "mod_fastdfs.conf", "url_have_group_name"),
        Verdict::Unmapped(_)
    ));
    assert!(matches!(
        verdict(&out, "mod_fastdfs.conf", "[group1] group_name"),
        Verdict::Unmapped(_)
    ));
}

#[test]
fn values_convert_from_fastdfs_notation() {
    let out = import_one(
        "tracker.conf",
        "reserved_storage_space = 1024MB\nstore_lookup = 1\nstore_group = group2\nstore_server = 2\nstore_path = 2\ndownload_server = 1\nbind_addr = 127.0.0.1\nuse_storage_id = true\n",
    );
    let t = out.tracker.unwrap();
    for line in [
        "reserved_storage_space = \"1024M\"",
        "store_lookup = \"specified_group\"",
        "store_group = \"group2\"",
        "store_server = \"by_priority\"",
        "store_path = \"load_balance\"",
        "download_server = \"source_first\"",
        "bind = \"127.0.0.1\"",
        "id_type_in_filename = \"ip\"",
    ] {
        assert!(t.contains(line), "{line} missing from\n{t}");
    }
    let out = import_one(
        "storage.conf",
        "fsync_after_written_bytes = 1048576\nsync_binlog_buff_interval = 0\nport = x\n",
    );
    let s = out.storage.clone().unwrap();
    assert!(s.contains("fsync_after_write = true"), "{s}");
    assert!(s.contains("binlog_fsync_interval = 0"), "{s}");
    assert!(
        matches!(verdict(&out, "storage.conf", "port"), Verdict::Unmapped(w) if w.contains("storage.toml port"))
    );
}

#[test]
fn without_tracker_addresses_no_edge_toml_is_made_and_edge_keys_say_why() {
    let out = import_one("tracker.conf", "http.check_alive_interval = 30\n");
    assert!(out.edge.is_none());
    assert!(
        matches!(verdict(&out, "tracker.conf", "http.check_alive_interval"), Verdict::Unmapped(w) if w.contains("tracker_server"))
    );
}

#[test]
fn files_are_told_apart_by_name_then_by_keys() {
    assert_eq!(kind_by_name("storage_ids.conf"), Some(Kind::StorageIds));
    assert_eq!(kind_by_name("storage.conf"), Some(Kind::Storage));
    assert_eq!(kind_by_name("fdfs-tracker.conf"), Some(Kind::Tracker));
    assert_eq!(kind_by_name("nginx-tracker.conf"), Some(Kind::Nginx));
    assert_eq!(kind_by_name("mod_fastdfs.conf"), Some(Kind::ModFastdfs));
    assert_eq!(kind_by_name("a.conf"), None);
    for (text, kind) in [
        (TRACKER, Kind::Tracker),
        (STORAGE, Kind::Storage),
        (CLIENT, Kind::Client),
        (STORAGE_IDS, Kind::StorageIds),
        (MOD_FASTDFS, Kind::ModFastdfs),
        (HTTP, Kind::Http),
        (NGINX, Kind::Nginx),
    ] {
        assert_eq!(kind_by_text(text), Some(kind), "{kind:?}");
    }
}

#[test]
fn the_storage_gets_the_trackers_reserved_space() {
    let inputs = Inputs {
        tracker: Some(entries("tracker.conf", "reserved_storage_space = 1024MB\n")),
        storage: Some(entries("storage.conf", "group_name = group1\n")),
        ..Default::default()
    };
    let opts = Options {
        cluster_secret: SECRET.into(),
        storage_ip: None,
    };
    let s = import(&inputs, &opts).storage.unwrap();
    assert!(s.contains("reserved_storage_space = \"1024M\""), "{s}");
    let alone = Inputs {
        storage: Some(entries("storage.conf", "group_name = group1\n")),
        ..Default::default()
    };
    let s = import(&alone, &opts).storage.unwrap();
    assert!(!s.contains("reserved_storage_space"), "{s}");
}
