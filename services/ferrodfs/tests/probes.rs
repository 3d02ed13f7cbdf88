//! The probes on a storage's HTTP port (8888), for a load balancer that
//! reaches only that port: `/healthz` while it serves, `/readyz` once a
//! tracker took its join, neither logged nor counted.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

/// Status and body of one request on its own connection.
fn request(addr: &str, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The storage's HTTP request counters that moved, one line per status
/// (the common statuses are listed at 0 from the start).
fn http_request_counts(storage: &Daemon) -> Vec<String> {
    let page = http_get(&metrics_addr(storage), "/metrics");
    page.lines()
        .filter(|l| l.starts_with("ferrodfs_storage_http_requests_total") && !l.ends_with(" 0"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_http_port_answers_the_probes_without_logging_or_counting_them() {
    let mut c = Cluster::start_with(1, "", Vec::new());
    // No tracker yet: the storage serves but has joined none.
    c.trackers[0].kill9();
    c.add_storage(StorageSpec {
        group: "group1",
        extra: String::new(),
    });
    let http = format!("{}:8888", ip_of(&c.storages[0]));
    eventually(
        Duration::from_secs(20),
        "the storage answers /healthz on its HTTP port",
        &c,
        || async { request(&http, "GET", "/healthz") == Some((200, "ok\n".into())) },
    )
    .await;
    assert_eq!(
        request(&http, "HEAD", "/healthz"),
        Some((200, String::new()))
    );
    assert_eq!(
        request(&http, "GET", "/readyz?probe=lb"),
        Some((503, "not ready\n".into()))
    );
    assert_eq!(
        request(&http, "HEAD", "/readyz"),
        Some((503, String::new()))
    );

    c.trackers[0].restart();
    eventually(
        Duration::from_secs(20),
        "/readyz says ready once the tracker took the join",
        &c,
        || async { request(&http, "GET", "/readyz") == Some((200, "ready\n".into())) },
    )
    .await;
    assert_eq!(
        request(&http, "HEAD", "/readyz"),
        Some((200, String::new()))
    );
    assert_eq!(
        http_request_counts(&c.storages[0]),
        Vec::<String>::new(),
        "probes are not counted as HTTP requests"
    );

    // A file request beside them is counted and logged as usual.
    let (status, _) = request(&http, "GET", "/group1/M00/00/00/healthz").unwrap();
    assert_eq!(status, 400, "not a file ID, and not a probe either");
    assert_eq!(
        http_request_counts(&c.storages[0]),
        vec![r#"ferrodfs_storage_http_requests_total{status="400"} 1"#.to_string()]
    );
    // Logged after the probes, so their lines would be there by now.
    let log = c.storages[0].wait_log("\"GET /group1/M00/00/00/healthz\" 400");
    assert!(
        !log.contains("/readyz") && !log.contains("\"GET /healthz"),
        "{log}"
    );
}
