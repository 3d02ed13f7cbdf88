//! Clients that send a request in several writes and leave Nagle on (the
//! FastDFS C client, the Python clients) get answers without waiting for a
//! delayed ACK, on the tracker port, the storage port and the storage
//! HTTP port. Precise figures come from tests/bench/split_writes.sh; here
//! the margin is wide (a stall is ~40 ms per request).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use ferrodfs_proto::storage_req::{Download, UploadHead};
use ferrodfs_proto::{cmd, Header};

/// Well under one delayed-ACK timeout (40 ms), well over a loaded
/// machine's loopback round trip.
const P50_LIMIT: Duration = Duration::from_millis(10);
const ROUNDS: usize = 30;

/// A blocking client with Nagle on that writes each piece separately.
struct SplitClient(TcpStream);

impl SplitClient {
    fn connect(addr: &str) -> SplitClient {
        let s = TcpStream::connect(addr).unwrap();
        assert!(!s.nodelay().unwrap(), "the point is to leave Nagle on");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        SplitClient(s)
    }

    /// Header, then each piece in its own write; returns status and body.
    fn call(&mut self, command: u8, pieces: &[&[u8]]) -> (u8, Vec<u8>) {
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        self.0
            .write_all(&Header::request(command, len as u64).encode())
            .unwrap();
        for p in pieces {
            self.0.write_all(p).unwrap();
        }
        let mut h = [0u8; 10];
        self.0.read_exact(&mut h).unwrap();
        let h = Header::decode(&h, 1 << 30).unwrap();
        let mut body = vec![0u8; h.pkg_len as usize];
        self.0.read_exact(&mut body).unwrap();
        (h.status, body)
    }
}

/// Median time of `f` over [`ROUNDS`] runs, after two warm-up runs that
/// put the connection into its request/reply rhythm.
fn median(mut f: impl FnMut()) -> Duration {
    f();
    f();
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[ROUNDS / 2]
}

fn group_field(g: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..g.len()].copy_from_slice(g.as_bytes());
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_requests_with_nagle_on_are_answered_without_a_delayed_ack_stall() {
    let mut c = Cluster::start(1, &[]);
    let http_ip = format!("{}.10", c.net);
    let http_port = free_port(&http_ip);
    c.add_storage(StorageSpec {
        group: "group1",
        extra: format!("http_port = {http_port}\n"),
    });
    c.wait_active(1).await;
    let tracker = c.trackers[0].addr.clone();
    let storage = c.storages[0].addr.clone();
    let http = format!("{http_ip}:{http_port}");

    let report = tokio::task::spawn_blocking(move || {
        // Tracker: QUERY_STORE_WITH_GROUP_ONE, header then group name.
        let mut t = SplitClient::connect(&tracker);
        let group = group_field("group1");
        let tracker_p50 = median(|| {
            let (st, body) = t.call(cmd::QUERY_STORE_WITH_GROUP_ONE, &[&group]);
            assert_eq!((st, body.len()), (0, 40));
        });

        // Storage: a 5 KiB upload in three writes (header, fixed fields,
        // file), then downloads in two (header, body).
        let mut s = SplitClient::connect(&storage);
        let data = random_bytes(5 << 10, 7);
        let fixed = UploadHead {
            store_path_index: Some(0),
            file_size: data.len() as u64,
            ext: "bin".into(),
        }
        .encode();
        let mut name = String::new();
        let upload_p50 = median(|| {
            let (st, body) = s.call(cmd::UPLOAD_FILE, &[&fixed, &data]);
            assert_eq!(st, 0);
            name = String::from_utf8(body[16..].to_vec()).unwrap();
        });
        let request = Download::encode(0, 0, "group1", &name);
        let download_p50 = median(|| {
            let (st, body) = s.call(cmd::DOWNLOAD_FILE, &[&request]);
            assert_eq!((st, body.len()), (0, data.len()));
        });

        // Storage HTTP: request line and headers in separate writes.
        let mut h = TcpStream::connect(&http).unwrap();
        h.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let line = format!("GET /group1/{name} HTTP/1.1\r\n");
        let http_p50 = median(|| {
            h.write_all(line.as_bytes()).unwrap();
            h.write_all(b"Host: storage\r\n\r\n").unwrap();
            let body = read_http_body(&mut h);
            assert_eq!(body.len(), data.len());
        });
        [
            ("tracker query", tracker_p50),
            ("storage upload", upload_p50),
            ("storage download", download_p50),
            ("storage HTTP GET", http_p50),
        ]
    })
    .await
    .unwrap();
    for (what, p50) in report {
        assert!(
            p50 < P50_LIMIT,
            "{what}: median {p50:?} with Nagle on (a delayed-ACK stall is ~40 ms)"
        );
    }
}

/// Reads one keep-alive HTTP response and returns its body.
fn read_http_body(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    body
}
