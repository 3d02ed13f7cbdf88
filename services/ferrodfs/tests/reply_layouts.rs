//! ferrodfs's own client and tools against trackers and storages set to
//! each FastDFS reply layout: the records and IP fields change size on the
//! wire, nothing changes for the user.

mod common;

use std::process::Command;

use common::*;
use ferrodfs_client::UploadKind;

/// (tracker.toml, storage.toml) extras: FastDFS 6.16's defaults, 6.13's
/// widths, and 6.12's legacy records with 46-byte IPs.
const SETTINGS: [(&str, &str); 3] = [
    ("", ""),
    (
        "response_ip_addr_size = \"IPv6\"",
        "response_ip_addr_size = \"IPv6\"",
    ),
    (
        "stat_layout = \"legacy\"\nresponse_ip_addr_size = \"IPv6\"",
        "response_ip_addr_size = \"IPv6\"",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_monitor_read_every_layout_and_ip_width() {
    for (tracker, storage) in SETTINGS {
        let c = Cluster::start_with(
            1,
            tracker,
            vec![StorageSpec {
                group: "group1",
                extra: storage.into(),
            }],
        );
        c.wait_active(1).await;
        let client = c.client();
        let ip = format!("{}.10", c.net);

        let id = client
            .upload(b"layouts", "txt", None, UploadKind::Normal)
            .await
            .unwrap();
        let all = client.query_fetch_all(&id).await.unwrap();
        assert_eq!(all.storages[0].ip, ip, "{tracker:?}");
        assert_eq!(client.download(&id, 0, 0).await.unwrap(), b"layouts");
        let info = client.file_info(&id).await.unwrap();
        assert_eq!((info.size, info.source_ip.as_str()), (7, ip.as_str()));

        let groups = client.list_groups().await.unwrap();
        assert_eq!(
            (groups[0].name.as_str(), groups[0].active_count),
            ("group1", 1)
        );
        let storages = client.list_storages("group1", None).await.unwrap();
        assert_eq!(storages[0].ip, ip, "{tracker:?}");

        let conf = c.client_conf();
        let mon = Command::new(BIN)
            .args(["monitor", "-c", conf.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&mon.stdout);
        assert!(
            mon.status.success(),
            "{tracker:?}: {}",
            String::from_utf8_lossy(&mon.stderr)
        );
        assert!(
            text.contains(&ip) && text.contains("ACTIVE"),
            "{tracker:?}: {text}"
        );
    }
}
