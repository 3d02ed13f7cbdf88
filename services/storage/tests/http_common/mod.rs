//! A raw HTTP/1.1 client for the storage's HTTP tests: requests exactly as
//! written (so malformed ones can be sent too) and responses split by
//! their Content-Length.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one response from the front of `buf`: `None` until complete.
/// `head_request`: the response to a HEAD carries no body.
pub fn parse_response(buf: &[u8], head_request: bool) -> Option<(Response, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&buf[..end]).expect("ASCII head");
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let len = if head_request {
        0
    } else {
        headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse::<usize>().unwrap())
            .unwrap_or(buf.len() - end)
    };
    if buf.len() < end + len {
        return None;
    }
    Some((
        Response {
            status,
            headers,
            body: buf[end..end + len].to_vec(),
        },
        end + len,
    ))
}

/// Sends `raw` as is on a new connection and reads until the server
/// closes it; returns every response received.
pub async fn exchange_raw(addr: SocketAddr, raw: &[u8], head_request: bool) -> Vec<Response> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("the server answers and closes")
        .ok();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((r, used)) = parse_response(&buf[at..], head_request) {
        out.push(r);
        at += used;
        if at >= buf.len() {
            break;
        }
    }
    out
}

/// One request with extra header lines (`"Range: bytes=0-1"`), on its own
/// connection.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[&str],
) -> Response {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    exchange_raw(addr, raw.as_bytes(), method == "HEAD")
        .await
        .into_iter()
        .next()
        .expect("a response")
}

pub async fn get(addr: SocketAddr, target: &str) -> Response {
    http_request(addr, "GET", target, &[]).await
}

/// The metrics page of a storage started with `metrics_listen`.
pub async fn metrics(addr: SocketAddr) -> String {
    let r = get(addr, "/metrics").await;
    String::from_utf8(r.body).unwrap()
}
