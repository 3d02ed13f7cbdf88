//! `ferrodfs import-conf` on the configs a FastDFS deployment ships: the
//! files it writes are what the daemons read, and a tracker and a storage
//! started from them serve an upload.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use ferrodfs_client::{Client, ClientConfig, UploadKind};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fastdfs_conf")
        .join(name)
}

fn import(out: &Path, files: &[PathBuf], extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("import-conf")
        .arg("--out")
        .arg(out)
        .args(extra)
        .args(files)
        .output()
        .unwrap()
}

/// A FastDFS config with some keys set anew: the first line of each key
/// takes the value, later lines of the same key go.
fn with_keys(text: &str, keys: &[(&str, &str)]) -> String {
    let set: HashMap<&str, &str> = keys.iter().copied().collect();
    let mut done = Vec::new();
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split_once('=').map(|(k, _)| k.trim()).unwrap_or("");
        match set.get(key) {
            Some(_) if done.contains(&key) => continue,
            Some(v) => {
                done.push(key);
                out.push_str(&format!("{key} = {v}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn the_fastdfs_samples_become_configs_every_daemon_accepts_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("conf");
    let files: Vec<PathBuf> = [
        "tracker.conf",
        "storage.conf",
        "client.conf",
        "storage_ids.conf",
        "mod_fastdfs.conf",
        "nginx-tracker.conf",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    let o = import(&out, &files, &["--storage-ip", "10.0.0.11"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    ferrodfs_tracker::Config::load(&out.join("tracker.toml")).unwrap();
    ferrodfs_storage::Config::load(&out.join("storage.toml")).unwrap();
    ferrodfs_lb::config::Config::load(&out.join("edge.toml")).unwrap();
    ClientConfig::load(&out.join("client.conf")).unwrap();
    let report = std::fs::read_to_string(out.join("import-report.txt")).unwrap();
    assert_eq!(
        report,
        stdout.trim_end_matches(&format!("written to {}\n", out.display()))
    );
    for line in [
        "mapped   tracker.conf:15 store_lookup = \"2\": tracker.toml: store_lookup = \"load_balance\"",
        "mapped   storage.conf:28 store_path_count = \"2\"",
        "kept     client.conf:5 tracker_server",
        "ignored  storage.conf:17 disk_rw_separated",
        "unmapped http.conf:7 http.anti_steal.token_check_fail",
        "mapped   nginx-tracker.conf:7 [http] proxy_cache_path max_size = \"10g\": edge.toml: [cache] max_size = \"10G\"",
        "tracker.toml: accepted",
    ] {
        assert!(report.contains(line), "{line:?} not in\n{report}");
    }
    use std::os::unix::fs::PermissionsExt;
    for secret_holder in ["tracker.toml", "storage.toml", "edge.toml"] {
        let mode = std::fs::metadata(out.join(secret_holder))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{secret_holder} holds secrets");
    }
}

#[test]
fn a_storage_without_its_address_is_written_but_the_command_says_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("conf");
    let o = import(&out, &[fixture("storage.conf")], &[]);
    assert!(!o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("--storage-ip"), "{stdout}");
    assert!(
        stdout.contains("storage.toml: NOT accepted yet") && stdout.contains("ip:"),
        "{stdout}"
    );
    assert!(out.join("storage.toml").exists());
}

#[test]
fn a_file_of_unknown_kind_is_refused_naming_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("fdfs.cfg");
    std::fs::write(&odd, "foo = bar\n").unwrap();
    let o = import(&dir.path().join("conf"), &[odd], &[]);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("--tracker") && stderr.contains("fdfs.cfg"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracker_and_storage_started_from_imported_configs_take_an_upload() {
    let dir = tempfile::tempdir().unwrap();
    let net = subnet();
    let (tracker_ip, storage_ip) = (format!("{net}.1"), format!("{net}.10"));
    let tracker_port = free_port(&tracker_ip);
    let tracker = format!("{tracker_ip}:{tracker_port}");
    let src = dir.path().join("fastdfs");
    std::fs::create_dir_all(&src).unwrap();
    let base = |name: &str| dir.path().join(name).display().to_string();
    let port = tracker_port.to_string();
    let tracker_conf = with_keys(
        &std::fs::read_to_string(fixture("tracker.conf")).unwrap(),
        &[
            ("bind_addr", &tracker_ip),
            ("port", &port),
            ("base_path", &base("tracker")),
            ("allow_hosts", "127.0.0.0/8"),
            // The sample's 10% would refuse uploads on a host whose disk
            // is more than 90% full; storage.toml gets the same value.
            ("reserved_storage_space", "16MB"),
        ],
    );
    let storage_port = free_port(&storage_ip).to_string();
    let http_port = free_port(&storage_ip).to_string();
    let storage_conf = with_keys(
        &std::fs::read_to_string(fixture("storage.conf")).unwrap(),
        &[
            ("bind_addr", &storage_ip),
            ("port", &storage_port),
            ("base_path", &base("storage")),
            ("store_path0", &base("data0")),
            ("store_path1", &base("data1")),
            ("tracker_server", &tracker),
            ("heart_beat_interval", "1"),
            ("http.server_port", &http_port),
        ],
    );
    let client_conf = with_keys(
        &std::fs::read_to_string(fixture("client.conf")).unwrap(),
        &[("tracker_server", &tracker)],
    );
    for (name, text) in [
        ("tracker.conf", tracker_conf),
        ("storage.conf", storage_conf),
        ("client.conf", client_conf),
        ("storage_ids.conf", format!("100001 group1 {storage_ip}\n")),
    ] {
        std::fs::write(src.join(name), text).unwrap();
    }
    let out = dir.path().join("conf");
    let files: Vec<PathBuf> = [
        "tracker.conf",
        "storage.conf",
        "client.conf",
        "storage_ids.conf",
    ]
    .iter()
    .map(|n| src.join(n))
    .collect();
    let o = import(&out, &files, &[]);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    let text = |n: &str| std::fs::read_to_string(out.join(n)).unwrap();
    let _t = Daemon::start(&out, "tracker", "tracker", &tracker, &text("tracker.toml"));
    let s = Daemon::start(
        &out,
        "storage",
        "storage",
        &format!("{storage_ip}:{storage_port}"),
        &text("storage.toml"),
    );
    let t0 = Instant::now();
    while active_count(&tracker).await != Some(1) {
        if t0.elapsed() > Duration::from_secs(30) {
            panic!(
                "the imported storage never became ACTIVE\n--- tracker ---\n{}\n--- storage ---\n{}",
                _t.log_text(),
                s.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = Client::new(ClientConfig::load(&out.join("client.conf")).unwrap());
    let data = random_bytes(10_000, 13);
    let id = client
        .upload(&data, "bin", None, UploadKind::Normal)
        .await
        .unwrap();
    assert!(id.starts_with("group1/M0"), "{id}");
    assert_eq!(client.download(&id, 0, 0).await.unwrap(), data);
}
