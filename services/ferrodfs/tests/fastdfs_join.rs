//! A ferrodfs storage with `tracker_protocol = "fastdfs"` reports to its
//! trackers as a FastDFS 6.x storage does (binary join, beat with the
//! stat block, disk usage, sync bookkeeping): a tracker that accepts
//! FastDFS storages lists it ACTIVE, places uploads on it, shows its
//! counters, and takes it back after a restart.

mod common;

use std::time::Duration;

use common::*;
use ferrodfs_client::UploadKind;
use ferrodfs_proto::cluster::state;
use ferrodfs_proto::stat::StorageStat;

const FASTDFS_STORAGES: &str = "fastdfs_storages = [\"127.0.0.0/8\"]\n";

fn fastdfs_storage() -> StorageSpec {
    StorageSpec {
        group: "group1",
        extra: "tracker_protocol = \"fastdfs\"\nfastdfs_peers = [\"127.0.0.0/8\"]\n".into(),
    }
}

/// The tracker's listing of the storage at `ip`, if it lists it.
async fn listed(c: &Cluster, ip: &str) -> Option<StorageStat> {
    let list = c.client().list_storages("group1", None).await.ok()?;
    list.into_iter().find(|s| s.ip == ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_speaking_fastdfs_joins_goes_active_takes_uploads_and_rejoins_a_restarted_tracker(
) {
    let mut c = Cluster::start_with(1, FASTDFS_STORAGES, vec![fastdfs_storage()]);
    let tracker = c.tracker_addrs()[0].clone();
    let ip = ip_of(&c.storages[0]);
    let port: i64 = c.storages[0]
        .addr
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    eventually(
        Duration::from_secs(20),
        "the FastDFS-speaking storage is listed ACTIVE",
        &c,
        || {
            let (t, ip) = (tracker.clone(), ip.clone());
            async move { status_of(&t, "group1", &ip).await == Some(state::ACTIVE) }
        },
    )
    .await;
    let s = listed(&c, &ip).await.unwrap();
    assert_eq!(s.storage_port, port, "listed at the port it serves on");
    assert_eq!(s.store_path_count, 1);
    assert_eq!(s.version, env!("CARGO_PKG_VERSION"));
    eventually(
        Duration::from_secs(20),
        "its disk usage reaches the tracker",
        &c,
        || async { listed(&c, &ip).await.is_some_and(|s| s.total_mb > 0) },
    )
    .await;

    let client = c.client();
    let data = random_bytes(70_000, 13);
    let file_id = client
        .upload(&data, "bin", None, UploadKind::Normal)
        .await
        .unwrap();
    assert!(file_id.starts_with("group1/M00/"), "{file_id}");
    assert_eq!(client.download(&file_id, 0, 0).await.unwrap(), data);
    eventually(
        Duration::from_secs(20),
        "the upload and download show in the beat's stat block",
        &c,
        || async {
            listed(&c, &ip).await.is_some_and(|s| {
                s.stats.upload.success == 1
                    && s.stats.upload_bytes.success == data.len() as i64
                    && s.stats.download.success == 1
            })
        },
    )
    .await;

    c.trackers[0].restart();
    eventually(
        Duration::from_secs(30),
        "the storage rejoins the restarted tracker and is ACTIVE again",
        &c,
        || {
            let (t, ip) = (tracker.clone(), ip.clone());
            async move { status_of(&t, "group1", &ip).await == Some(state::ACTIVE) }
        },
    )
    .await;
    assert!(
        c.storages[0].is_running(),
        "the storage survived the outage"
    );
    assert!(
        c.storages[0].log_text().contains(" again: status"),
        "the storage logged its rejoin:\n{}",
        c.storages[0].log_text()
    );
    let after = client
        .upload(b"after the restart", "txt", None, UploadKind::Normal)
        .await
        .unwrap();
    assert_eq!(
        client.download(&after, 0, 0).await.unwrap(),
        b"after the restart"
    );
    assert_eq!(
        client.download(&file_id, 0, 0).await.unwrap(),
        data,
        "the first file still downloads through the restarted tracker"
    );
    eventually(
        Duration::from_secs(20),
        "the restarted tracker gets the counters kept across the outage",
        &c,
        || async {
            listed(&c, &ip)
                .await
                .is_some_and(|s| s.stats.upload.success == 2)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_gets_its_full_copy_and_its_source_reports_it_until_it_is_active() {
    let mut c = Cluster::start_with(1, FASTDFS_STORAGES, vec![fastdfs_storage()]);
    let first = ip_of(&c.storages[0]);
    eventually(
        Duration::from_secs(20),
        "the first member is ACTIVE",
        &c,
        || async { listed(&c, &first).await.map(|s| s.status) == Some(state::ACTIVE) },
    )
    .await;
    let client = c.client();
    let data = random_bytes(20_000, 7);
    let file_id = client
        .upload(&data, "bin", None, UploadKind::Normal)
        .await
        .unwrap();

    c.add_storage(fastdfs_storage());
    let second = ip_of(&c.storages[1]);
    eventually(
        Duration::from_secs(30),
        "the new member is ACTIVE once its source reported the copy complete",
        &c,
        || async { listed(&c, &second).await.map(|s| s.status) == Some(state::ACTIVE) },
    )
    .await;
    assert!(
        c.storages[0]
            .log_text()
            .contains(&format!("told the tracker: new member {second} is OFFLINE")),
        "the source reported the finished copy:\n{}",
        c.storages[0].log_text()
    );
    assert_eq!(
        client
            .download_from(&c.storages[1].addr, &file_id)
            .await
            .unwrap(),
        data,
        "the file uploaded before it joined is on the new member"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracker_that_takes_no_fastdfs_storages_never_lists_it_and_the_storage_keeps_running() {
    let mut c = Cluster::start_with(1, "", vec![fastdfs_storage()]);
    let tracker = c.tracker_addrs()[0].clone();
    let ip = ip_of(&c.storages[0]);
    eventually(
        Duration::from_secs(20),
        "the storage reports the tracker's refusal",
        &c,
        || {
            let log = c.storages[0].log_text();
            let refused = log.contains(&format!("FastDFS tracker {tracker}: GET_MY_IP (60)"))
                && log.contains("retrying every");
            async move { refused }
        },
    )
    .await;
    assert!(c.storages[0].is_running());
    assert!(!c.storages[0].log_text().contains("joined FastDFS tracker"));
    assert_eq!(listed(&c, &ip).await.map(|s| s.status), None);
}
