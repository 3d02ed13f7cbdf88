//! The core behaviour of a cluster of real processes: placement, reads,
//! changes to files, failover and bad input.

mod common;

use std::time::Duration;

use common::*;
use ferrodfs_client::{FileId, MetaFlag, UploadKind};
use ferrodfs_proto::status;

fn meta(items: &[(&str, &str)]) -> ferrodfs_client::Meta {
    items
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_round_trip_byte_identical_and_ids_carry_size_and_crc() {
    let c = Cluster::start(2, &["group1", "group2"]);
    c.wait_active(2).await;
    let client = c.client();
    for (i, size) in [0usize, 1, 4096, 65_536, 1 << 20, 3_000_001]
        .into_iter()
        .enumerate()
    {
        let data = random_bytes(size, i as u64);
        let id = client
            .upload(&data, "bin", None, UploadKind::Normal)
            .await
            .unwrap();
        let parsed = FileId::parse(&id).unwrap();
        let info = parsed.name.info().unwrap();
        assert_eq!(info.size(), Some(size as u64), "{id}");
        assert_eq!(info.crc32, crc32fast::hash(&data), "{id}");
        assert!(id.ends_with(".bin"), "{id}");
        assert_eq!(client.download(&id, 0, 0).await.unwrap(), data, "{id}");
        let remote = client.file_info(&id).await.unwrap();
        assert_eq!(
            (remote.size, remote.crc32),
            (size as u64, crc32fast::hash(&data))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_uploads_over_groups_and_a_named_group_wins() {
    let c = Cluster::start(1, &["group1", "group2"]);
    c.wait_active(2).await;
    let client = c.client();
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..6 {
        let id = client
            .upload(b"x", "txt", None, UploadKind::Normal)
            .await
            .unwrap();
        seen.insert(id.split('/').next().unwrap().to_string());
        let named = client
            .upload(&[i], "", Some("group2"), UploadKind::Normal)
            .await
            .unwrap();
        assert!(named.starts_with("group2/"), "{named}");
    }
    assert_eq!(seen.len(), 2, "round robin used only {seen:?}");
    let err = client
        .upload(b"x", "", Some("nosuch"), UploadKind::Normal)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(status::ENOENT), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranged_download_delete_and_missing_files() {
    let c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    let client = c.client();
    let data = random_bytes(100_000, 9);
    let id = client
        .upload(&data, "dat", None, UploadKind::Normal)
        .await
        .unwrap();
    assert_eq!(
        client.download(&id, 1000, 500).await.unwrap(),
        &data[1000..1500]
    );
    assert_eq!(
        client.download(&id, 99_000, 0).await.unwrap(),
        &data[99_000..]
    );
    client.delete(&id).await.unwrap();
    assert!(client.download(&id, 0, 0).await.unwrap_err().is_not_found());
    assert!(client.delete(&id).await.unwrap_err().is_not_found());
    assert!(
        data_files(&c.store_path(0)).is_empty(),
        "{:?}",
        data_files(&c.store_path(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appender_files_take_append_modify_truncate() {
    let c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    let client = c.client();
    let id = client
        .upload(b"hello", "log", None, UploadKind::Appender)
        .await
        .unwrap();
    assert!(FileId::parse(&id).unwrap().name.is_appender(), "{id}");
    client.append(&id, b" world").await.unwrap();
    client.modify(&id, 0, b"J").await.unwrap();
    assert_eq!(client.download(&id, 0, 0).await.unwrap(), b"Jello world");
    client.truncate(&id, 5).await.unwrap();
    assert_eq!(client.download(&id, 0, 0).await.unwrap(), b"Jello");
    assert_eq!(client.file_info(&id).await.unwrap().size, 5);

    let normal = client
        .upload(b"fixed", "txt", None, UploadKind::Normal)
        .await
        .unwrap();
    let err = client.append(&normal, b"more").await.unwrap_err();
    assert!(
        err.status().is_some(),
        "appending to a normal file must be refused: {err}"
    );
    assert_eq!(client.download(&normal, 0, 0).await.unwrap(), b"fixed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_overwrite_and_merge_and_slave_files() {
    let c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    let client = c.client();
    let id = client
        .upload(b"img", "jpg", None, UploadKind::Normal)
        .await
        .unwrap();
    client
        .set_meta(
            &id,
            &meta(&[("width", "10"), ("height", "20")]),
            MetaFlag::Overwrite,
        )
        .await
        .unwrap();
    client
        .set_meta(
            &id,
            &meta(&[("width", "11"), ("tag", "cat")]),
            MetaFlag::Merge,
        )
        .await
        .unwrap();
    assert_eq!(
        client.get_meta(&id).await.unwrap(),
        meta(&[("height", "20"), ("tag", "cat"), ("width", "11")])
    );
    client
        .set_meta(&id, &meta(&[("only", "1")]), MetaFlag::Overwrite)
        .await
        .unwrap();
    assert_eq!(client.get_meta(&id).await.unwrap(), meta(&[("only", "1")]));

    let slave = client
        .upload_slave(&id, "_150x150", "jpg", b"thumb")
        .await
        .unwrap();
    // FastDFS's slave name: the master's whole ID up to its extension's
    // dot (the random digits before it included), prefix, extension.
    let master_stem = id.strip_suffix(".jpg").unwrap();
    assert_eq!(slave, format!("{master_stem}_150x150.jpg"));
    assert_eq!(client.download(&slave, 0, 0).await.unwrap(), b"thumb");
    // A client that never stored the slave's ID derives it from the
    // master's, as FastDFS's genSlaveFilename does, and finds the file.
    for ext in [None, Some("jpg"), Some(".jpg")] {
        let derived = ferrodfs_client::slave_file_id(&id, "_150x150", ext).unwrap();
        assert_eq!(derived, slave, "{ext:?}");
    }
    let derived = ferrodfs_client::slave_file_id(&id, "_150x150", None).unwrap();
    assert_eq!(client.download(&derived, 0, 0).await.unwrap(), b"thumb");
    assert_eq!(client.file_info(&derived).await.unwrap().size, 5);
    let again = client
        .upload_slave(&id, "_150x150", "jpg", b"thumb")
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(status::EEXIST), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_that_stops_beating_goes_offline_and_gets_no_uploads() {
    let mut c = Cluster::start(1, &["group1", "group2"]);
    c.wait_active(2).await;
    c.storages[0].kill9();
    c.wait_active(1).await;
    let client = c.client();
    for _ in 0..8 {
        let id = client
            .upload(b"after", "", None, UploadKind::Normal)
            .await
            .unwrap();
        assert!(
            id.starts_with("group2/"),
            "upload placed on the dead group: {id}"
        );
    }
    let err = client
        .upload(b"x", "", Some("group1"), UploadKind::Normal)
        .await
        .unwrap_err();
    assert!(err.status().is_some(), "{err}");
    c.storages[0].restart();
    c.wait_active(2).await;
    client
        .upload(b"back", "", Some("group1"), UploadKind::Normal)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_fail_over_to_the_next_tracker() {
    let mut c = Cluster::start(2, &["group1"]);
    c.wait_active(1).await;
    c.trackers[0].kill9();
    let client = c.client();
    for i in 0..10u8 {
        let id = client
            .upload(&[i; 100], "", None, UploadKind::Normal)
            .await
            .unwrap();
        assert_eq!(client.download(&id, 0, 0).await.unwrap(), vec![i; 100]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_uploads_with_enospc_and_keeps_nothing() {
    let c = Cluster::start_with(
        1,
        "",
        vec![StorageSpec {
            group: "group1",
            extra: "reserved_storage_space = \"99.99%\"".into(),
        }],
    );
    c.wait_active(1).await;
    let err = c
        .client()
        .upload(&random_bytes(10_000, 1), "bin", None, UploadKind::Normal)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(status::ENOSPC), "{err}");
    assert!(
        data_files(&c.store_path(0)).is_empty(),
        "{:?}",
        data_files(&c.store_path(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_wire_never_stops_a_daemon() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    let client = c.client();
    let id = client
        .upload(b"kept", "", None, UploadKind::Normal)
        .await
        .unwrap();
    let targets = [c.trackers[0].addr.clone(), c.storages[0].addr.clone()];
    let garbage: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\n\r\n",
        &[0xff; 10],
        &[0, 0, 0, 0, 0, 0, 0, 3, 11, 0, 1],
        &[0, 0, 0, 0, 0, 0, 0, 0, 200, 0],
        &[0x7f, 0, 0, 0, 0, 0, 0, 0, 11, 0],
    ];
    for t in &targets {
        for g in garbage {
            let mut s = tokio::net::TcpStream::connect(t).await.unwrap();
            s.write_all(g).await.unwrap();
            let mut buf = vec![0u8; 64];
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
        }
        // A known command with a malformed body gets EINVAL on the wire.
        let mut s = tokio::net::TcpStream::connect(t).await.unwrap();
        let cmd = if t == &targets[0] {
            ferrodfs_proto::cmd::QUERY_FETCH_ONE
        } else {
            ferrodfs_proto::cmd::DELETE_FILE
        };
        let err = ferrodfs_proto::io::call(&mut s, cmd, b"short", 1024)
            .await
            .unwrap_err();
        assert_eq!(err.status(), status::EINVAL, "{t}: {err}");
    }
    assert!(c.trackers[0].is_running() && c.storages[0].is_running());
    assert_eq!(client.download(&id, 0, 0).await.unwrap(), b"kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_stop_cleanly_on_sigterm() {
    let mut c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    c.client()
        .upload(b"x", "", None, UploadKind::Normal)
        .await
        .unwrap();
    let s = c.storages[0].terminate(Duration::from_secs(10));
    assert!(
        s.success(),
        "storage exit: {s}\n{}",
        c.storages[0].log_text()
    );
    let t = c.trackers[0].terminate(Duration::from_secs(10));
    assert!(
        t.success(),
        "tracker exit: {t}\n{}",
        c.trackers[0].log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoints_count_requests() {
    let c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    c.client()
        .upload(b"count me", "", None, UploadKind::Normal)
        .await
        .unwrap();
    for d in [&c.trackers[0], &c.storages[0]] {
        let cfg = std::fs::read_to_string(&d.config).unwrap();
        let metrics = cfg
            .lines()
            .find_map(|l| l.strip_prefix("metrics_listen = "))
            .unwrap()
            .trim_matches('"');
        let body = http_get(metrics, "/metrics").await;
        assert!(body.contains("# TYPE"), "{}: {body}", d.name);
        assert!(
            body.lines()
                .any(|l| !l.starts_with('#') && !l.trim().is_empty()),
            "{}: {body}",
            d.name
        );
    }
}

async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracker_that_knows_no_storage_yet_does_not_fail_requests() {
    let c = Cluster::start(1, &["group1"]);
    c.wait_active(1).await;
    // A second tracker no storage reports to: like a tracker just restarted.
    let ip = format!("{}.9", c.net);
    let port = free_port(&ip);
    let cfg = format!("bind = \"{ip}\"\nport = {port}\ncluster_secret = \"{SECRET}\"\n");
    let _empty = Daemon::start(
        c.dir.path(),
        "tracker",
        "empty",
        &format!("{ip}:{port}"),
        &cfg,
    );
    // It is warming up (EAGAIN) for all of this test: no storage reports.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect((ip.as_str(), port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the empty tracker never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = ferrodfs_client::Client::new(ferrodfs_client::ClientConfig::new(vec![
        format!("{ip}:{port}"),
        c.trackers[0].addr.clone(),
    ]));
    for i in 0..6u8 {
        let id = client
            .upload(&[i; 10], "", None, UploadKind::Normal)
            .await
            .unwrap();
        assert_eq!(client.download(&id, 0, 0).await.unwrap(), vec![i; 10]);
    }
    let err = client
        .download("group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.bin", 0, 0)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_one_storage_by_its_id_returns_just_that_storage() {
    let c = Cluster::start(1, &["group1", "group1"]);
    c.wait_active(2).await;
    let ip = c.storages[1].addr.split(':').next().unwrap().to_string();
    let one = c.client().list_storages("group1", Some(&ip)).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].ip, ip);
    let err = c
        .client()
        .list_storages("group1", Some("10.9.9.9"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
