//! A real one-storage cluster in this process: a ferrodfs tracker and a
//! ferrodfs storage reporting to it, on 127.0.0.1 with free ports, as the
//! front tier's HTTP upload reaches a cluster (FastDFS protocol).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrodfs_client::{Client, ClientConfig};
use ferrodfs_runtime::shutdown::ShutdownTrigger;
use ferrodfs_runtime::Shutdown;

const SECRET: &str = "lb-test-cluster-secret-0123";

pub struct RealCluster {
    pub tracker: SocketAddr,
    pub storage_http: SocketAddr,
    storage: ferrodfs_storage::Storage,
    tracker_task: ferrodfs_tracker::Tracker,
    trigger: ShutdownTrigger,
    /// Last: dropped after the daemons.
    _dir: tempfile::TempDir,
}

impl RealCluster {
    /// Starts both and waits until the tracker places uploads on the storage.
    pub async fn start() -> RealCluster {
        let dir = tempfile::tempdir().unwrap();
        let (trigger, shutdown) = Shutdown::new();
        let tracker_cfg = ferrodfs_tracker::Config::parse(
            "tracker.toml",
            &format!(
                "bind = \"127.0.0.1\"\nport = 0\nbase_path = {:?}\n\
                 reserved_storage_space = \"0%\"\ncluster_secret = \"{SECRET}\"\n",
                dir.path().join("tracker").display().to_string()
            ),
        )
        .unwrap();
        let tracker = ferrodfs_tracker::start(tracker_cfg, shutdown.clone())
            .await
            .unwrap();
        let storage_cfg = ferrodfs_storage::Config::parse(
            "storage.toml",
            &format!(
                "group_name = \"group1\"\nbind = \"127.0.0.1\"\nport = 0\nhttp_port = 0\n\
                 reserved_storage_space = \"0%\"\nbase_path = {:?}\nstore_paths = [{:?}]\n\
                 tracker_servers = [\"{}\"]\nheart_beat_interval = 0.3\ncluster_secret = \"{SECRET}\"\n",
                dir.path().join("base").display().to_string(),
                dir.path().join("m0").display().to_string(),
                tracker.local_addr(),
            ),
        )
        .unwrap();
        let storage = ferrodfs_storage::start(storage_cfg, shutdown)
            .await
            .unwrap();
        let c = RealCluster {
            tracker: tracker.local_addr(),
            storage_http: storage.http_addr().expect("HTTP on by default"),
            _dir: dir,
            storage,
            tracker_task: tracker,
            trigger,
        };
        let t = Instant::now();
        while c.client().query_store(None).await.is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the storage never became ACTIVE on the tracker"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c
    }

    pub fn client(&self) -> Client {
        let mut cfg = ClientConfig::new(vec![self.tracker.to_string()]);
        cfg.connect_timeout = Duration::from_secs(2);
        cfg.network_timeout = Duration::from_secs(10);
        Client::new(cfg)
    }

    pub async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), async {
            self.storage.join().await.unwrap();
            self.tracker_task.join().await.unwrap();
        })
        .await
        .expect("shutdown finishes");
    }
}
