//! A FastDFS 6.x storage on a ferrodfs tracker: a peer written here that
//! speaks FastDFS's binary join, disk usage report and heartbeat, as
//! fdfs_storaged does, is listed ACTIVE and chosen for uploads.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferrodfs_client::{Client, ClientConfig};
use ferrodfs_proto::cluster::state;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// One FastDFS request: `pkg_len(8) + cmd(1) + status(1)`, then the body;
/// returns the reply's status and body.
async fn call(s: &mut TcpStream, cmd: u8, body: &[u8]) -> (u8, Vec<u8>) {
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

fn fixed(s: &str, width: usize) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.resize(width, 0);
    b
}

/// FastDFS 6.16's `TrackerStorageJoinBody` for a storage of `group` on
/// `port` with one store path, then its one tracker line.
fn join_body(group: &str, port: u16, tracker: &str) -> Vec<u8> {
    let mut b = fixed(group, 17);
    for v in [port as i64, 1, 256, 10, 1_700_000_000, 1_700_000_100] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&fixed("6.16", 8));
    b.extend_from_slice(&[0, 7]); // init_flag: synced; status: ACTIVE
    b.extend_from_slice(&fixed("", 16)); // storage_id
    b.extend_from_slice(&fixed(tracker.split(':').next().unwrap(), 46));
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(format!("{tracker}\n").as_bytes());
    b
}

/// Connects from `ip` (the storage's address) once the tracker listens.
async fn connect_from(ip: &str, tracker: &str, c: &Cluster) -> TcpStream {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fastdfs_storage_joins_is_listed_active_and_takes_uploads() {
    let c = Cluster::start_with(1, "fastdfs_storages = [\"127.0.0.0/8\"]\n", vec![]);
    let tracker = c.tracker_addrs()[0].clone();
    let ip = format!("{}.10", c.net);
    let mut s = connect_from(&ip, &tracker, &c).await;

    let mut get_my_ip = fixed("group1", 17);
    get_my_ip.extend_from_slice(&23000i32.to_be_bytes());
    let (st, body) = call(&mut s, 60, &get_my_ip).await;
    assert_eq!(
        (st, String::from_utf8(body).unwrap()),
        (0, ip.clone()),
        "GET_MY_IP"
    );

    let (st, body) = call(&mut s, 81, &join_body("group1", 23000, &tracker)).await;
    assert_eq!(st, 0, "join refused\n{}", c.trackers[0].log_text());
    assert_eq!(body.len(), 17, "my_status(1) + src_id(16)");

    let mut usage = Vec::new();
    for mb in [100_000i64, 60_000] {
        usage.extend_from_slice(&mb.to_be_bytes());
    }
    assert_eq!(
        call(&mut s, 84, &usage).await,
        (0, vec![0]),
        "REPORT_DISK_USAGE: no changes"
    );
    assert_eq!(
        call(&mut s, 83, &[]).await,
        (0, vec![0]),
        "BEAT without stats"
    );
    assert_eq!(
        call(&mut s, 83, &[0u8; 348]).await,
        (0, vec![0]),
        "BEAT with the stat block"
    );
    assert_eq!(
        call(&mut s, 83, &[0u8; 10]).await.0,
        22,
        "a stat block of the wrong size is EINVAL"
    );

    assert_eq!(
        status_of(&tracker, "group1", &ip).await,
        Some(state::ACTIVE)
    );
    let client = Client::new(ClientConfig::new(vec![tracker.clone()]));
    let target = client.query_store(None).await.unwrap();
    assert_eq!(target.group, "group1");
    assert_eq!(
        (target.storages[0].ip.as_str(), target.storages[0].port),
        (ip.as_str(), 23000)
    );
    let groups = client.list_groups().await.unwrap();
    assert_eq!(groups[0].free_mb, 60_000, "the reported free space");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fastdfs_storages_a_fastdfs_join_is_refused() {
    let c = Cluster::start_with(1, "", vec![]);
    let tracker = c.tracker_addrs()[0].clone();
    let ip = format!("{}.10", c.net);
    let mut s = connect_from(&ip, &tracker, &c).await;
    let (st, _) = call(&mut s, 81, &join_body("group1", 23000, &tracker)).await;
    assert_eq!(st, 13, "EACCES: FastDFS storages are off by default");
    assert_eq!(status_of(&tracker, "group1", &ip).await, None);
}
