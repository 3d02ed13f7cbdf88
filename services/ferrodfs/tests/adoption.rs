//! A storage started on a base path that a FastDFS storage left behind
//! carries on from it: the join time and full-copy state of
//! `.data_init_flag`, the request counters and the round-robin directory
//! cursor of `storage_stat.dat`; and it keeps `storage_stat.dat` current
//! itself, so the counters also survive its own restarts.

mod common;

use std::time::Duration;

use common::{eventually, Cluster, StorageSpec};
use ferrodfs_client::UploadKind;
use ferrodfs_proto::stat::StorageStat;

const JOIN_TIME: i64 = 1_600_000_000;

/// What the tracker lists for the group's one storage.
async fn listed(c: &Cluster) -> Option<StorageStat> {
    let list = c.client().list_storages("group1", None).await.ok()?;
    list.into_iter().next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_on_a_fastdfs_base_path_keeps_its_join_time_counters_and_cursor() {
    let mut c = Cluster::start_with(1, "", vec![]);
    // The base path add_storage gives storage 0, as FastDFS left it.
    let data = c.dir.path().join("storage0").join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join(".data_init_flag"),
        format!(
            "storage_join_time={JOIN_TIME}\nsync_old_done=1\nsync_src_server=\n\
             sync_until_timestamp=0\nlast_ip_addr=10.9.9.9\nlast_server_port=23000\n\
             last_http_port=8888\ncurrent_trunk_file_id=0\ntrunk_last_compress_time=0\n"
        ),
    )
    .unwrap();
    std::fs::write(
        data.join("storage_stat.dat"),
        "total_upload_count=1234\nsuccess_upload_count=1230\ntotal_download_count=99\n\
         success_download_count=98\ntotal_upload_bytes=5050\nsuccess_upload_bytes=5000\n\
         total_delete_count=4\nsuccess_delete_count=4\nlast_source_update=1700000000\n\
         last_sync_update=0\ndist_path_index_high=2\ndist_path_index_low=9\n\
         dist_write_file_count=4\n",
    )
    .unwrap();
    c.add_storage(StorageSpec {
        group: "group1",
        extra: String::new(),
    });
    c.wait_active(1).await;

    eventually(
        Duration::from_secs(20),
        "FastDFS's figures listed",
        &c,
        || async {
            listed(&c).await.is_some_and(|s| {
                s.join_time == JOIN_TIME
                    && s.stats.upload.success == 1230
                    && s.stats.download.total == 99
                    && s.stats.delete.success == 4
            })
        },
    )
    .await;

    // The next file goes where FastDFS's cursor points: data/02/09.
    let id = c
        .client()
        .upload(b"adopted", "txt", None, UploadKind::Normal)
        .await
        .unwrap();
    assert!(id.starts_with("group1/M00/02/09/"), "{id}");

    eventually(
        Duration::from_secs(20),
        "storage_stat.dat updated",
        &c,
        || async {
            std::fs::read_to_string(data.join("storage_stat.dat"))
                .is_ok_and(|t| t.contains("success_upload_count=1231\n"))
        },
    )
    .await;

    c.storages[0].restart();
    c.wait_active(1).await;
    eventually(
        Duration::from_secs(20),
        "counters kept across a restart",
        &c,
        || async {
            listed(&c)
                .await
                .is_some_and(|s| s.join_time == JOIN_TIME && s.stats.upload.success == 1231)
        },
    )
    .await;
}
