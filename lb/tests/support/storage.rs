//! A real ferrodfs storage in this process (FastDFS port and HTTP port on
//! 127.0.0.1, free ports), with the raw-protocol calls the cache tests
//! need: upload and delete, as any FastDFS client sends them.

use std::net::SocketAddr;

use ferrodfs_proto::io::call;
use ferrodfs_proto::storage_req::{parse_upload_reply, GroupName, UploadHead};
use ferrodfs_proto::{cmd, status};
use ferrodfs_runtime::shutdown::ShutdownTrigger;
use ferrodfs_runtime::Shutdown;
use tokio::net::TcpStream;

pub const GROUP: &str = "group1";

pub struct RealStorage {
    pub storage: ferrodfs_storage::Storage,
    trigger: ShutdownTrigger,
    /// Last: dropped after the storage.
    _dir: tempfile::TempDir,
}

impl RealStorage {
    pub async fn start() -> RealStorage {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "group_name = '{GROUP}'\nbind = '127.0.0.1'\nport = 0\nhttp_port = 0\n\
             reserved_storage_space = '0%'\nbase_path = {:?}\nstore_paths = [{:?}]\n\
             cluster_secret = 'lb-test-cluster-secret-0123'\n",
            dir.path().join("base").display().to_string(),
            dir.path().join("m0").display().to_string(),
        );
        let cfg = ferrodfs_storage::Config::parse("storage.toml", &text).unwrap();
        let (trigger, shutdown) = Shutdown::new();
        let storage = ferrodfs_storage::start(cfg, shutdown).await.unwrap();
        RealStorage {
            _dir: dir,
            storage,
            trigger,
        }
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.storage.http_addr().expect("HTTP on by default")
    }

    /// Uploads `data`; returns the logical name `Mxx/HH/HH/...`.
    pub async fn upload(&self, data: &[u8], ext: &str) -> String {
        let mut s = TcpStream::connect(self.storage.local_addr()).await.unwrap();
        let mut body = UploadHead {
            store_path_index: None,
            file_size: data.len() as u64,
            ext: ext.into(),
        }
        .encode();
        body.extend_from_slice(data);
        let reply = call(&mut s, cmd::UPLOAD_FILE, &body, 1 << 20)
            .await
            .unwrap();
        parse_upload_reply(&reply).unwrap().1
    }

    /// DELETE_FILE; returns the status byte.
    pub async fn delete(&self, name: &str) -> u8 {
        let mut s = TcpStream::connect(self.storage.local_addr()).await.unwrap();
        match call(
            &mut s,
            cmd::DELETE_FILE,
            &GroupName::encode(GROUP, name),
            1 << 20,
        )
        .await
        {
            Ok(_) => status::OK,
            Err(e) => e.status(),
        }
    }

    pub async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(std::time::Duration::from_secs(10), self.storage.join())
            .await
            .expect("shutdown finishes")
            .unwrap();
    }
}
