//! `upstream.read_timeout` bounds every read of an upstream's response, the
//! body's included: a storage that stalls half-way through a file (frozen,
//! cut off, a dying disk) ends the client's request instead of holding it
//! open, while a slow storage whose bytes keep coming is never cut, however
//! long the whole body takes. Fake storages on 127.0.0.1 send the bytes by
//! hand.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{free_addr, get, Lb, FAST_UPSTREAM};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The body every fake storage announces.
const BODY_LEN: usize = 4000;

/// How a fake storage sends the body after the response head.
#[derive(Clone, Copy)]
enum Pace {
    /// Half of it, then nothing more while the connection stays open.
    StallHalfway,
    /// `pieces` equal pieces, `every` apart: never quiet for long, but
    /// longer than one read_timeout in total.
    Trickle { pieces: usize, every: Duration },
}

/// A storage's HTTP side sending a 200 of `BODY_LEN` bytes at `pace`;
/// counts the requests it got.
struct FakeStorage {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeStorage {
    async fn start(pace: Pace) -> FakeStorage {
        let listener = tokio::net::TcpListener::bind(free_addr("127.0.0.1"))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let n = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let n = n.clone();
                tokio::spawn(async move { serve(sock, pace, &n).await });
            }
        });
        FakeStorage {
            addr,
            requests,
            task,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FakeStorage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The file every fake storage serves.
fn file() -> Vec<u8> {
    (0..BODY_LEN).map(|i| b'a' + (i % 26) as u8).collect()
}

async fn serve(mut sock: tokio::net::TcpStream, pace: Pace, requests: &AtomicUsize) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let body = file();
    let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {BODY_LEN}\r\ncontent-type: application/octet-stream\r\n\r\n");
    if sock.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    match pace {
        Pace::StallHalfway => {
            let _ = sock.write_all(&body[..BODY_LEN / 2]).await;
            // Held open and silent until the lb gives up and closes it.
            let _ = sock.read(&mut buf).await;
        }
        Pace::Trickle { pieces, every } => {
            for piece in body.chunks(BODY_LEN / pieces) {
                tokio::time::sleep(every).await;
                if sock.write_all(piece).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// What a client got from one GET read to the end of the connection.
struct Got {
    status: u16,
    body_bytes: usize,
    /// The whole announced body arrived.
    complete: bool,
    took: Duration,
}

/// A GET over a fresh connection, read until the lb closes it; panics if
/// that takes more than `limit` (the client would still be hanging).
async fn get_to_the_end(to: SocketAddr, target: &str, limit: Duration) -> Got {
    let t = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(to).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: files.example\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "GET {target}: the connection was still open after {limit:?} with {} bytes received",
        raw.len()
    );
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = &raw[split + 4..];
    let chunked = head.contains("transfer-encoding: chunked");
    // A chunked body is whole only with its last chunk, a sized one with
    // every byte.
    let complete = if chunked {
        body.ends_with(b"0\r\n\r\n")
    } else {
        body == file()
    };
    Got {
        status,
        body_bytes: body.len(),
        complete,
        took: t.elapsed(),
    }
}

fn edge_toml(listen: SocketAddr, metrics: SocketAddr, storage: SocketAddr, cache: &str) -> String {
    format!(
        "role = \"edge\"\nlisten = \"{listen}\"\nmetrics_listen = \"{metrics}\"\nshutdown_grace = \"0s\"\n\
         {FAST_UPSTREAM}\n[edge.groups]\ngroup1 = [\"{storage}\"]\n{cache}\n"
    )
}

fn cache_toml(dir: &std::path::Path) -> String {
    format!(
        "[cache]\npath = \"{}\"\nmax_size = \"10M\"\npurge_allow = [\"127.0.0.1\"]\n",
        dir.join("cache").display()
    )
}

/// `ferrodfs_lb_upstream_errors_total` of that upstream and kind (0 when absent).
async fn upstream_errors(metrics: SocketAddr, upstream: SocketAddr, kind: &str) -> f64 {
    let text = get(metrics, "/metrics").await.body;
    let (kind, upstream) = (
        format!("kind=\"{kind}\""),
        format!("upstream=\"{upstream}\""),
    );
    text.lines()
        .filter_map(|l| l.strip_prefix("ferrodfs_lb_upstream_errors_total{"))
        .filter_map(|l| l.split_once("} "))
        .find(|(labels, _)| {
            labels.split(',').any(|x| x == kind) && labels.split(',').any(|x| x == upstream)
        })
        .map_or(0.0, |(_, v)| v.trim().parse().unwrap())
}

/// The test's own patience: far beyond the 1 s read_timeout of
/// FAST_UPSTREAM, far below "hangs until the storage comes back".
const LIMIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_stalling_mid_body_ends_the_request_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let stalled = FakeStorage::start(Pace::StallHalfway).await;
    let metrics = free_addr("127.0.0.1");
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(free_addr("127.0.0.1"), metrics, stalled.addr, ""),
    )
    .await;
    let got = get_to_the_end(edge.addr, "/group1/M00/00/00/stall.bin", LIMIT).await;
    assert_eq!(got.status, 200, "the head had been passed on");
    assert!(
        !got.complete && got.body_bytes < BODY_LEN,
        "a truncated body, not a whole one: {} bytes",
        got.body_bytes
    );
    assert_eq!(stalled.requests(), 1);
    assert_eq!(
        upstream_errors(metrics, stalled.addr, "timeout").await,
        1.0,
        "the stall is counted as an upstream timeout"
    );
    eprintln!("stalled body ended after {:?}", got.took);
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_not_cached_and_the_next_get_asks_again() {
    let dir = tempfile::tempdir().unwrap();
    let stalled = FakeStorage::start(Pace::StallHalfway).await;
    let metrics = free_addr("127.0.0.1");
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(
            free_addr("127.0.0.1"),
            metrics,
            stalled.addr,
            &cache_toml(dir.path()),
        ),
    )
    .await;
    for round in 1..=2 {
        let got = get_to_the_end(edge.addr, "/group1/M00/00/00/cached-stall.bin", LIMIT).await;
        assert!(
            !got.complete,
            "round {round}: status {}, {} bytes",
            got.status, got.body_bytes
        );
        assert_eq!(
            stalled.requests(),
            round,
            "round {round}: the half file was not served from the cache"
        );
    }
    assert_eq!(upstream_errors(metrics, stalled.addr, "timeout").await, 2.0);
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_behind_the_edge_ends_the_front_tier_request_too() {
    let dir = tempfile::tempdir().unwrap();
    let stalled = FakeStorage::start(Pace::StallHalfway).await;
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(
            free_addr("127.0.0.1"),
            free_addr("127.0.0.1"),
            stalled.addr,
            "",
        ),
    )
    .await;
    // The front waits on the edge far longer than the test does: only the
    // edge's own read_timeout can end the request in time.
    let front_addr = free_addr("127.0.0.1");
    let front = Lb::start(
        dir.path(),
        "front",
        &format!(
            "role = \"front\"\nlisten = \"{front_addr}\"\nshutdown_grace = \"0s\"\n\
             [upstream]\nread_timeout = \"60s\"\nhealth_check = \"none\"\n\
             [front]\nupstreams = [{{ addr = \"{}\" }}]\n",
            edge.addr
        ),
    )
    .await;
    let got = get_to_the_end(front.addr, "/dfs/group1/M00/00/00/stall.bin", LIMIT).await;
    assert!(
        !got.complete && got.body_bytes < BODY_LEN,
        "status {}, {} bytes",
        got.status,
        got.body_bytes
    );
    front.stop().await;
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_that_never_stalls_for_a_read_timeout_completes() {
    let dir = tempfile::tempdir().unwrap();
    // 8 pieces 400 ms apart: 3.2 s in all against a 1 s read_timeout.
    let slow = FakeStorage::start(Pace::Trickle {
        pieces: 8,
        every: Duration::from_millis(400),
    })
    .await;
    for (name, cache) in [("plain", String::new()), ("cached", cache_toml(dir.path()))] {
        let metrics = free_addr("127.0.0.1");
        let edge = Lb::start(
            dir.path(),
            name,
            &edge_toml(free_addr("127.0.0.1"), metrics, slow.addr, &cache),
        )
        .await;
        let got = get_to_the_end(
            edge.addr,
            &format!("/group1/M00/00/00/slow-{name}.bin"),
            LIMIT,
        )
        .await;
        assert_eq!(got.status, 200, "{name}");
        assert!(
            got.complete,
            "{name}: the whole body, {} of {BODY_LEN} bytes",
            got.body_bytes
        );
        assert!(
            got.took >= Duration::from_millis(8 * 400),
            "{name}: the body really took longer than read_timeout ({:?})",
            got.took
        );
        assert_eq!(upstream_errors(metrics, slow.addr, "timeout").await, 0.0);
        edge.stop().await;
    }
}
