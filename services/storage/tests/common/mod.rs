//! Fixtures: a storage on 127.0.0.1 with temp dirs, and raw-protocol
//! helpers built on ferrodfs_proto (what any FastDFS client sends).
#![allow(dead_code)]

use std::path::PathBuf;

use ferrodfs_proto::io::{call, ProtoError};
use ferrodfs_proto::storage_req::{parse_upload_reply, Download, GroupName, UploadHead};
use ferrodfs_proto::{cmd, status};
use ferrodfs_runtime::shutdown::ShutdownTrigger;
use ferrodfs_runtime::Shutdown;
use ferrodfs_storage::{start, Config, Storage};
use tokio::net::TcpStream;

pub const GROUP: &str = "group1";
/// The cluster secret of test storages and the fake trackers they join.
pub const SECRET: &str = "test-cluster-secret-0123456789";

/// A fake tracker's side of the cluster handshake: answers `cmd` if it is
/// one of the two authentication commands (then `true`).
pub async fn answer_auth(
    s: &mut TcpStream,
    auth: &mut ferrodfs_proto::auth::ServerAuth,
    command: u8,
    body: &[u8],
) -> bool {
    let secret = ferrodfs_proto::auth::Secret::new(SECRET).unwrap();
    let r = match command {
        cmd::AUTH_HELLO => auth.hello(Some(&secret), body),
        cmd::AUTH_PROOF => auth.proof(Some(&secret), body).map(|_| Vec::new()),
        _ => return false,
    };
    let (st, body) = match r {
        Ok(b) => (status::OK, b),
        Err(e) => (e, Vec::new()),
    };
    let h = ferrodfs_proto::header::Header::response(st, body.len() as u64);
    ferrodfs_proto::io::send(s, h, &body).await.unwrap();
    true
}

pub struct TestStorage {
    pub storage: Storage,
    trigger: ShutdownTrigger,
    /// Last: fields drop in order, so the storage stops before its
    /// directories are removed.
    pub dir: tempfile::TempDir,
}

/// A config for a storage in `dir` with two store paths; `extra` adds
/// keys. No space is reserved unless `extra` says so, so tests pass on a
/// nearly full disk.
pub fn config_text(dir: &std::path::Path, extra: &str) -> String {
    let reserved = if extra.contains("reserved_storage_space") {
        ""
    } else {
        "reserved_storage_space = '0%'"
    };
    // HTTP on a free port, so storages in parallel tests never collide on 8888.
    let http_port = if extra.contains("http_port") {
        ""
    } else {
        "http_port = 0"
    };
    format!(
        "group_name = '{GROUP}'\nbind = '127.0.0.1'\nport = 0\nheart_beat_interval = 0.2\n\
         cluster_secret = '{SECRET}'\n\
         {reserved}\n{http_port}\nbase_path = {:?}\nstore_paths = [{:?}, {:?}]\n{extra}\n",
        dir.join("base").display().to_string(),
        dir.join("m0").display().to_string(),
        dir.join("m1").display().to_string(),
    )
}

pub async fn start_storage(extra: &str) -> TestStorage {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::parse("storage.toml", &config_text(dir.path(), extra)).unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let storage = start(cfg, shutdown).await.unwrap();
    TestStorage {
        dir,
        storage,
        trigger,
    }
}

impl TestStorage {
    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.storage.local_addr()).await.unwrap()
    }

    pub fn store_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("m{i}"))
    }

    /// The file a logical name `Mxx/HH/HH/name` lives in.
    pub fn data_file(&self, name: &str) -> PathBuf {
        let i = usize::from_str_radix(&name[1..3], 16).unwrap();
        self.store_path(i).join("data").join(&name[4..])
    }

    pub fn binlog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("base/data/sync/binlog.000"))
            .unwrap_or_default()
    }

    /// Every regular file under the store paths' `data` dirs (temp files
    /// included) but the store path writer's placing journal and the
    /// inodes of deleted files kept for new uploads (empty files named
    /// `.hold/<n>.free`; one that is not empty is listed).
    pub fn files_on_disk(&self) -> Vec<PathBuf> {
        fn walk(p: &std::path::Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if !path.ends_with(".hold/placing")
                    && !ferrodfs_storage::is_kept_inode(&path)
                {
                    out.push(path);
                }
            }
        }
        let mut out = vec![];
        for i in 0..2 {
            walk(&self.store_path(i).join("data"), &mut out);
        }
        out
    }

    pub async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(std::time::Duration::from_secs(10), self.storage.join())
            .await
            .expect("shutdown finishes")
            .unwrap();
    }
}

pub async fn request(s: &mut TcpStream, command: u8, body: &[u8]) -> Result<Vec<u8>, ProtoError> {
    call(s, command, body, 1 << 30).await
}

pub fn status_of(r: Result<Vec<u8>, ProtoError>) -> u8 {
    match r {
        Ok(_) => status::OK,
        Err(e) => e.status(),
    }
}

/// Uploads with `command` (11 or 23) to store path `idx` (None = storage
/// chooses); returns the logical name.
pub async fn upload_to(
    s: &mut TcpStream,
    command: u8,
    idx: Option<u8>,
    data: &[u8],
    ext: &str,
) -> Result<String, ProtoError> {
    let mut body = UploadHead {
        store_path_index: idx,
        file_size: data.len() as u64,
        ext: ext.into(),
    }
    .encode();
    body.extend_from_slice(data);
    let reply = request(s, command, &body).await?;
    let (group, name) = parse_upload_reply(&reply).unwrap();
    assert_eq!(group, GROUP);
    Ok(name)
}

pub async fn upload(s: &mut TcpStream, data: &[u8], ext: &str) -> String {
    upload_to(s, cmd::UPLOAD_FILE, Some(0), data, ext)
        .await
        .unwrap()
}

pub async fn download(
    s: &mut TcpStream,
    name: &str,
    offset: u64,
    length: u64,
) -> Result<Vec<u8>, ProtoError> {
    request(
        s,
        cmd::DOWNLOAD_FILE,
        &Download::encode(offset, length, GROUP, name),
    )
    .await
}

pub async fn by_name(s: &mut TcpStream, command: u8, name: &str) -> Result<Vec<u8>, ProtoError> {
    request(s, command, &GroupName::encode(GROUP, name)).await
}
