//! A fake FastDFS 6.x storage for tests: its tracker connection (binary
//! join, heartbeats keeping the member lists the answers push) and the
//! storage-to-storage sync bodies, packed as fdfs_storaged packs them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::Cluster;

/// One FastDFS request: `pkg_len(8) + cmd(1) + status(1)`, then the body;
/// returns the reply's status and body.
pub async fn call(s: &mut TcpStream, cmd: u8, body: &[u8]) -> (u8, Vec<u8>) {
    let mut frame = (body.len() as u64).to_be_bytes().to_vec();
    frame.extend_from_slice(&[cmd, 0]);
    frame.extend_from_slice(body);
    s.write_all(&frame).await.unwrap();
    let mut head = [0u8; 10];
    s.read_exact(&mut head).await.unwrap();
    let len = u64::from_be_bytes(head[..8].try_into().unwrap()) as usize;
    assert_eq!(head[8], 100, "a tracker reply carries cmd 100");
    let mut reply = vec![0; len];
    s.read_exact(&mut reply).await.unwrap();
    (head[9], reply)
}

pub fn fixed(s: &str, width: usize) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.resize(width, 0);
    b
}

/// FastDFS 6.16's `TrackerStorageJoinBody` for a storage of `group` on
/// `port` with one store path, then its one tracker line.
pub fn join_body(group: &str, port: u16, tracker: &str) -> Vec<u8> {
    join_body_as(group, port, tracker, 0, 7) // past its initial copy; ACTIVE
}

/// [`join_body`] with the storage's `init_flag` and own last known status.
pub fn join_body_as(group: &str, port: u16, tracker: &str, init_flag: u8, status: u8) -> Vec<u8> {
    let mut b = fixed(group, 17);
    for v in [port as i64, 1, 256, 10, 1_700_000_000, 1_700_000_100] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&fixed("6.16", 8));
    b.extend_from_slice(&[init_flag, status]);
    b.extend_from_slice(&fixed("", 16)); // storage_id
    b.extend_from_slice(&fixed(tracker.split(':').next().unwrap(), 46));
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(format!("{tracker}\n").as_bytes());
    b
}

/// Connects from `ip` (the storage's address) once the tracker listens.
pub async fn connect_from(ip: &str, tracker: &str, c: &Cluster) -> TcpStream {
    let t0 = Instant::now();
    loop {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        match socket.connect(tracker.parse().unwrap()).await {
            Ok(s) => return s,
            Err(e) if t0.elapsed() > Duration::from_secs(20) => {
                c.dump_logs();
                panic!("tracker never listened: {e}");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A fake fdfs_storaged's tracker connection: it beats every 200 ms in
/// the background, as a FastDFS storage must to stay ACTIVE, and keeps
/// the last group member list a beat answer pushed (id -> status).
pub struct FakeStorage {
    conn: Arc<tokio::sync::Mutex<TcpStream>>,
    members: Arc<Mutex<BTreeMap<String, u8>>>,
    beater: Option<tokio::task::JoinHandle<()>>,
}

/// Reads `flags(1)` and, with flag 4, the `FDFSStorageBrief` records
/// (`status(1) + port(4) + id(16) + ip(46)`) of a beat answer.
pub fn members_in(body: &[u8]) -> Option<BTreeMap<String, u8>> {
    assert!(
        !body.is_empty() && (body.len() - 1).is_multiple_of(67),
        "beat answer of {} bytes",
        body.len()
    );
    if body[0] & 4 == 0 {
        return None;
    }
    Some(
        body[1..]
            .chunks(67)
            .map(|b| (trimmed(&b[5..21]), b[0]))
            .collect(),
    )
}

pub fn trimmed(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end_matches('\0')
        .to_string()
}

impl FakeStorage {
    /// Joins `group1` from `ip` with `join`, as fdfs_storaged does.
    pub async fn join(c: &Cluster, ip: &str, join: Vec<u8>) -> (FakeStorage, Vec<u8>) {
        let tracker = c.tracker_addrs()[0].clone();
        let mut s = connect_from(ip, &tracker, c).await;
        let (st, body) = call(&mut s, 81, &join).await;
        assert_eq!(
            st,
            0,
            "join from {ip} refused\n{}",
            c.trackers[0].log_text()
        );
        let fake = FakeStorage {
            conn: Arc::new(tokio::sync::Mutex::new(s)),
            members: Arc::default(),
            beater: None,
        };
        (fake, body)
    }

    pub async fn call(&self, cmd: u8, body: &[u8]) -> (u8, Vec<u8>) {
        call(&mut *self.conn.lock().await, cmd, body).await
    }

    /// Beats from now on, keeping what the answers push.
    pub fn start_beating(&mut self) {
        let conn = self.conn.clone();
        let members = self.members.clone();
        self.beater = Some(tokio::spawn(async move {
            loop {
                let (st, body) = call(&mut *conn.lock().await, 83, &[]).await;
                assert_eq!(st, 0, "BEAT");
                if let Some(m) = members_in(&body) {
                    *members.lock().unwrap() = m;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }

    pub fn members(&self) -> BTreeMap<String, u8> {
        self.members.lock().unwrap().clone()
    }
}

impl Drop for FakeStorage {
    fn drop(&mut self) {
        if let Some(b) = self.beater.take() {
            b.abort();
        }
    }
}

/// A FastDFS sync push body as storage_sync.c packs it: its 8-byte
/// numbers, the 4-byte source timestamp, the 16-byte group, the names,
/// then the content.
pub fn push_body(nums: &[u64], ts: i32, names: &[&str], content: &[u8]) -> Vec<u8> {
    let mut b: Vec<u8> = nums.iter().flat_map(|n| n.to_be_bytes()).collect();
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&fixed("group1", 16));
    for n in names {
        b.extend_from_slice(n.as_bytes());
    }
    b.extend_from_slice(content);
    b
}

/// `M00/00/00/<name>` of a file created by `source` at `ts`.
pub fn name_from(source: &str, ts: u32, size_field: u64, crc: u32) -> String {
    let info = ferrodfs_proto::file_id::FileInfo {
        source: ferrodfs_proto::file_id::Source::Ip(source.parse().unwrap()),
        create_time: ts,
        size_field,
        crc32: crc,
    };
    format!("M00/00/00/{}123.txt", info.encode())
}

/// SYNC_CREATE_FILE (16) of `name` with `content`.
pub fn create(name: &str, ts: i32, content: &[u8]) -> Vec<u8> {
    push_body(
        &[name.len() as u64, content.len() as u64],
        ts,
        &[name],
        content,
    )
}

/// What a fake FastDFS member received by storage sync.
#[derive(Default)]
pub struct Received {
    /// Files by their `Mxx/...` name.
    pub files: BTreeMap<String, Vec<u8>>,
    /// `(command, first name)` of every sync request, in order.
    pub requests: Vec<(u8, String)>,
    /// Connections accepted, with the address they came from and the
    /// first command each sent.
    pub connections: Vec<(String, Option<u8>)>,
}

/// The storage side of a fake FastDFS member: it takes FastDFS's
/// storage-to-storage sync on `addr` and applies it to an in-memory copy,
/// answering as storage_service.c does (EEXIST for a create of a file it
/// has, ENOENT for a change or delete of one it lacks).
pub struct SyncReceiver {
    pub received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl SyncReceiver {
    pub async fn listen(addr: &str) -> SyncReceiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let received: Arc<Mutex<Received>> = Arc::default();
        let r = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let (s, from) = listener.accept().await.unwrap();
                let r = r.clone();
                tokio::spawn(async move {
                    let at = {
                        let mut g = r.lock().unwrap();
                        g.connections.push((from.ip().to_string(), None));
                        g.connections.len() - 1
                    };
                    serve_sync(s, &r, at).await;
                });
            }
        });
        SyncReceiver { received, task }
    }

    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        self.received.lock().unwrap().files.clone()
    }
}

impl Drop for SyncReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// Serves one sync connection until it closes or sends what FastDFS
/// would refuse (the test then sees the push never converge).
async fn serve_sync(mut s: TcpStream, r: &Mutex<Received>, at: usize) {
    loop {
        let mut head = [0u8; 10];
        if s.read_exact(&mut head).await.is_err() {
            return;
        }
        let (len, cmd, st) = (be64(&head, 0) as usize, head[8], head[9]);
        assert!(len < 64 << 20, "a sync request of {len} bytes");
        let mut body = vec![0; len];
        s.read_exact(&mut body).await.unwrap();
        let first = {
            let mut g = r.lock().unwrap();
            g.connections[at].1.get_or_insert(cmd);
            g.connections[at].1
        };
        if first != Some(9) {
            return; // FastDFS's own sender always reports its id first.
        }
        let reply = apply_sync(r, cmd, st, &body);
        let mut out = vec![0u8; 8];
        out.extend_from_slice(&[100, reply]);
        s.write_all(&out).await.unwrap();
    }
}

fn apply_sync(r: &Mutex<Received>, cmd: u8, st: u8, b: &[u8]) -> u8 {
    const G: usize = 16;
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    let mut g = r.lock().unwrap();
    let name_at = |fixed: usize, n: usize| text(&b[fixed..fixed + n]);
    match cmd {
        9 => 0,
        111 => 0,
        16 | 18 => {
            let (n, size) = (be64(b, 0) as usize, be64(b, 8) as usize);
            let name = name_at(16 + 4 + G, n);
            let content = b[16 + 4 + G + n..].to_vec();
            assert_eq!(content.len(), if st == 0 { size } else { 0 }, "{name}");
            g.requests.push((cmd, name.clone()));
            if cmd == 16 && g.files.contains_key(&name) {
                return 17;
            }
            g.files.insert(name, content);
            0
        }
        17 => {
            let name = text(&b[4 + G..]);
            g.requests.push((cmd, name.clone()));
            if g.files.remove(&name).is_some() {
                0
            } else {
                2
            }
        }
        25 | 35 => {
            let (n, offset, length) = (be64(b, 0) as usize, be64(b, 8) as usize, be64(b, 16));
            let name = name_at(24 + 4 + G, n);
            let data = &b[24 + 4 + G + n..];
            assert_eq!(data.len() as u64, length, "{name}");
            g.requests.push((cmd, name.clone()));
            let Some(f) = g.files.get_mut(&name) else {
                return 2;
            };
            if f.len() < offset {
                return 22;
            }
            let end = (offset + data.len()).max(f.len());
            f.resize(end, 0);
            f[offset..offset + data.len()].copy_from_slice(data);
            0
        }
        37 => {
            let (n, new_size) = (be64(b, 0) as usize, be64(b, 16) as usize);
            let name = name_at(24 + 4 + G, n);
            g.requests.push((cmd, name.clone()));
            match g.files.get_mut(&name) {
                Some(f) => {
                    f.resize(new_size, 0);
                    0
                }
                None => 2,
            }
        }
        40 => {
            let (n, m) = (be64(b, 0) as usize, be64(b, 8) as usize);
            let new = name_at(16 + 4 + G, n);
            let old = name_at(16 + 4 + G + n, m);
            g.requests.push((cmd, new.clone()));
            if g.files.contains_key(&new) {
                return 17;
            }
            match g.files.remove(&old) {
                Some(f) => {
                    g.files.insert(new, f);
                    0
                }
                None => 2,
            }
        }
        _ => 22,
    }
}
