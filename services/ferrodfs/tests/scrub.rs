//! Scrub and repair against real daemons: flipped bits, a truncated copy
//! and a deleted one are found and replaced from the other member; a file
//! bad on every member is reported and left alone; a wiped store path is
//! refilled by itself when the storage comes back.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{random_bytes, Cluster, StorageSpec};
use ferrodfs_client::UploadKind;
use ferrodfs_proto::file_id::FileId;

fn two_storages() -> Cluster {
    let spec = || StorageSpec {
        group: "group1",
        extra: "scrub_rate = 0\n".into(),
    };
    Cluster::start_with(1, "", vec![spec(), spec()])
}

/// Where storage `i` keeps `file_id`.
fn copy(c: &Cluster, i: usize, file_id: &str) -> PathBuf {
    c.store_path(i)
        .join(FileId::parse(file_id).unwrap().name.rel_path())
}

/// Uploads `n` files and waits until both members hold every one.
async fn uploaded(c: &Cluster, n: usize) -> Vec<(String, Vec<u8>)> {
    let client = c.client();
    let mut files = Vec::new();
    for i in 0..n {
        let data = random_bytes(1000 + 997 * i, i as u64);
        let id = client
            .upload(&data, "bin", None, UploadKind::Normal)
            .await
            .unwrap();
        files.push((id, data));
    }
    let t = Instant::now();
    while !files
        .iter()
        .all(|(id, _)| copy(c, 0, id).exists() && copy(c, 1, id).exists())
    {
        assert!(t.elapsed() < Duration::from_secs(30), "replication stalled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    files
}

/// The text of storage `i`'s /metrics.
fn metrics(c: &Cluster, i: usize) -> String {
    let cfg = std::fs::read_to_string(&c.storages[i].config).unwrap();
    let addr = cfg
        .lines()
        .find_map(|l| l.strip_prefix("metrics_listen = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    common::http_get(&addr, "/metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_copies_are_found_and_repaired_from_the_group() {
    let c = two_storages();
    c.wait_active(2).await;
    let files = uploaded(&c, 5).await;
    let client = c.client();
    let storage0 = c.storages[0].addr.clone();

    // Storage 0: one copy with a flipped bit, one cut short, one gone.
    let mut flipped = std::fs::read(copy(&c, 0, &files[0].0)).unwrap();
    flipped[100] ^= 0x10;
    std::fs::write(copy(&c, 0, &files[0].0), &flipped).unwrap();
    let half = &files[1].1[..files[1].1.len() / 2];
    std::fs::write(copy(&c, 0, &files[1].0), half).unwrap();
    std::fs::remove_file(copy(&c, 0, &files[2].0)).unwrap();

    let r = client
        .scrub(&storage0, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(r.checked, 5, "{r:?}");
    assert_eq!((r.missing, r.corrupt, r.repaired), (1, 2, 3), "{r:?}");
    assert_eq!(r.unrepaired_count, 0, "{r:?}");
    for (id, data) in &files {
        assert_eq!(&std::fs::read(copy(&c, 0, id)).unwrap(), data, "{id}");
    }
    let m = metrics(&c, 0);
    assert!(
        m.contains("ferrodfs_storage_scrub_files_total{result=\"repaired\"} 3"),
        "{m}"
    );
    assert!(
        m.contains("ferrodfs_storage_scrub_files_total{result=\"ok\"} 2"),
        "{m}"
    );

    // Bad on both members: reported, and neither copy is overwritten.
    let (id, _) = &files[3];
    let mut bad = std::fs::read(copy(&c, 0, id)).unwrap();
    bad[0] ^= 0xFF;
    for i in 0..2 {
        std::fs::write(copy(&c, i, id), &bad).unwrap();
    }
    let r = client
        .scrub(&storage0, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        (r.corrupt, r.repaired, r.unrepaired_count),
        (1, 0, 1),
        "{r:?}"
    );
    let name = FileId::parse(id).unwrap().name.to_string();
    assert_eq!(r.unrepaired, [name]);
    for i in 0..2 {
        assert_eq!(std::fs::read(copy(&c, i, id)).unwrap(), bad, "storage {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_needs_the_cluster_secret() {
    let c = two_storages();
    c.wait_active(2).await;
    let mut cfg = ferrodfs_client::ClientConfig::new(c.tracker_addrs());
    cfg.cluster_secret =
        Some(ferrodfs_proto::auth::Secret::new("another-secret-0123456789").unwrap());
    let stranger = ferrodfs_client::Client::new(cfg);
    assert!(stranger
        .scrub(&c.storages[0].addr, Duration::from_secs(10))
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_store_path_is_refilled_from_the_group() {
    let mut c = two_storages();
    c.wait_active(2).await;
    let files = uploaded(&c, 6).await;

    c.storages[1].terminate(Duration::from_secs(20));
    std::fs::remove_dir_all(c.store_path(1)).unwrap();
    std::fs::create_dir_all(c.store_path(1)).unwrap();
    c.storages[1].restart();

    let t = Instant::now();
    loop {
        let done = files
            .iter()
            .all(|(id, data)| std::fs::read(copy(&c, 1, id)).ok().as_ref() == Some(data));
        if done {
            break;
        }
        if t.elapsed() > Duration::from_secs(30) {
            c.dump_logs();
            panic!("the wiped store path was not refilled");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(c.storages[1]
        .log_text()
        .contains("a store path has no data directory: a scrub pass refills it"));
}
