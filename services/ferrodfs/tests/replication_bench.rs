//! Replication figures on loopback (ignored by default; run with
//! `cargo test --release -p ferrodfs --test replication_bench -- --ignored --nocapture --test-threads 1`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ferrodfs_client::{Client, FileId, UploadKind};
use ferrodfs_proto::cluster::state;

fn spec(group: &'static str) -> StorageSpec {
    StorageSpec {
        group,
        extra: String::new(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// 16 clients (`CLIENTS` in the environment to change it) upload 64 KiB
/// files into a group of two asynchronous members; for each file, the time from the upload's acknowledgement
/// until the file is complete on the other member's disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn replication_lag_under_16_clients_of_64_kib_files() {
    let c = Cluster::start_with(1, "", vec![spec("group1"), spec("group1")]);
    c.wait_active(2).await;
    let client = c.client();
    let stores = Arc::new([c.store_path(0), c.store_path(1)]);
    let ips: Arc<Vec<String>> = Arc::new(
        c.storages
            .iter()
            .map(|s| s.addr.split(':').next().unwrap().to_string())
            .collect(),
    );
    // One watcher checks every pending file's copy on the peer's disk
    // each millisecond (a watcher per file would load the machine more
    // than the replication being measured).
    let pending: Arc<Mutex<Vec<(std::path::PathBuf, Instant)>>> = Arc::default();
    let lags = Arc::new(Mutex::new(Vec::new()));
    let per_client = 100u64;
    let clients: u64 = std::env::var("CLIENTS")
        .map(|v| v.parse().unwrap())
        .unwrap_or(16);
    let total = clients as usize * per_client as usize;
    let watcher = {
        let (pending, lags) = (pending.clone(), lags.clone());
        // An OS thread of its own, so the uploading tasks never delay it.
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while lags.lock().unwrap().len() < total && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
                let mut p = pending.lock().unwrap();
                let mut l = lags.lock().unwrap();
                p.retain(|(path, acked)| {
                    let done = std::fs::metadata(path).is_ok_and(|m| m.len() == 65_536);
                    if done {
                        l.push(acked.elapsed());
                    }
                    !done
                });
            }
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (client, stores, ips, pending) =
            (client.clone(), stores.clone(), ips.clone(), pending.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                let data = random_bytes(65_536, k * 1000 + i);
                let id = client
                    .upload(&data, "bin", None, UploadKind::Normal)
                    .await
                    .unwrap();
                let acked = Instant::now();
                let name = FileId::parse(&id).unwrap().name;
                let source = match name.info().unwrap().source {
                    ferrodfs_proto::Source::Ip(ip) => ip.to_string(),
                    ferrodfs_proto::Source::Id(id) => id.to_string(),
                };
                let peer = if ips[0] == source { 1 } else { 0 };
                let path = stores[peer].join(name.rel_path());
                pending.lock().unwrap().push((path, acked));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let uploading = started.elapsed();
    tokio::task::spawn_blocking(move || watcher.join().unwrap())
        .await
        .unwrap();
    assert_eq!(
        lags.lock().unwrap().len(),
        total,
        "every file replicated within 2 minutes"
    );
    let took = uploading;
    let mut lags = lags.lock().unwrap().clone();
    lags.sort();
    let n = lags.len();
    eprintln!(
        "replication lag, {clients} clients x {per_client} x 64 KiB ({n} files, {:.1} MB/s uploaded): \
         p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        n as f64 * 65_536.0 / 1e6 / took.as_secs_f64(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.9),
        percentile(&lags, 0.99),
        lags[n - 1]
    );
}

/// A group of two members holding `files` files of `size` bytes; a third
/// member joins and the time until it is ACTIVE gives the catch-up rate.
async fn catch_up(files: u64, size: usize) {
    let mut c = Cluster::start_with(1, "", vec![spec("group1"), spec("group1")]);
    c.wait_active(2).await;
    let client = c.client();
    let mut tasks = Vec::new();
    for k in 0..8u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in (k..files).step_by(8) {
                client
                    .upload(&random_bytes(size, i), "bin", None, UploadKind::Normal)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = c.add_storage(spec("group1"));
    let ip = c.storages[n].addr.split(':').next().unwrap().to_string();
    let started = Instant::now();
    let tracker = Client::new(ferrodfs_client::ClientConfig::new(c.tracker_addrs()));
    loop {
        let active = tracker
            .list_storages("group1", None)
            .await
            .ok()
            .and_then(|l| l.into_iter().find(|s| s.ip == ip).map(|s| s.status))
            == Some(state::ACTIVE);
        if active {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            c.dump_logs();
            panic!("the new member never became ACTIVE");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let bytes = files * size as u64;
    eprintln!(
        "catch-up of a new member: {files} files x {size} B = {:.1} MB in {:.2?}: {:.1} MB/s, {:.0} files/s",
        bytes as f64 / 1e6,
        took,
        bytes as f64 / 1e6 / took.as_secs_f64(),
        files as f64 / took.as_secs_f64()
    );
    assert_eq!(
        data_files(&c.store_path(n)).len(),
        data_files(&c.store_path(0)).len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn catch_up_throughput_of_a_new_member_1_mib_files() {
    catch_up(400, 1 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn catch_up_throughput_of_a_new_member_64_kib_files() {
    catch_up(4000, 65_536).await;
}
