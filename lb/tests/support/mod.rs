//! Test fixtures: small real HTTP origins standing in for storages, a raw
//! HTTP/1.1 client that can bind its source address (to be "another
//! client"), and an lb process-in-a-thread with a stop button.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, Request, Response};
use hyper_util::rt::TokioIo;
use pingora_core::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

pub mod cluster;
pub mod storage;
pub mod tracker;

/// A free TCP port on `ip` (bound then released).
pub fn free_addr(ip: &str) -> SocketAddr {
    // Below the kernel's ephemeral range (32768-60999 by default): a port
    // found free there can become the source port of any outgoing
    // connection before the test binds it (a metrics port once did). Each
    // test process starts at its own place and never hands a port out twice.
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if let Ok(l) = std::net::TcpListener::bind((ip, port)) {
            return l.local_addr().unwrap();
        }
    }
    panic!("no free port on {ip} below the ephemeral range");
}

/// What an origin saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A storage's HTTP side: answers `GET /groupN/...` with "<name> <path>".
/// Paths containing `/slow` answer after 1.5 s, `/hang` never; `status`
/// forces every answer's status (e.g. 502), except for paths containing
/// `/status-NNN`, answered with NNN.
pub struct Origin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Origin {
    pub async fn start(addr: SocketAddr, name: &str, status: u16) -> Origin {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let (seen2, tasks2, name) = (seen.clone(), tasks.clone(), name.to_string());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (seen, name) = (seen2.clone(), name.clone());
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (seen, name) = (seen.clone(), name.clone());
                    async move {
                        let path = req.uri().to_string();
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect();
                        seen.lock().unwrap().push(Seen {
                            path: path.clone(),
                            headers,
                        });
                        if path.contains("/hang") {
                            std::future::pending::<()>().await;
                        }
                        if path.contains("/slow") {
                            tokio::time::sleep(Duration::from_millis(1500)).await;
                        }
                        let body = format!("{name} {path}");
                        let status = path
                            .split("/status-")
                            .nth(1)
                            .and_then(|s| s.get(..3)?.parse().ok())
                            .unwrap_or(status);
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .header("content-length", body.len())
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let conn = tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
                tasks2.lock().unwrap().push(conn.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Origin { addr, seen, tasks }
    }

    /// Stops listening and cuts every open connection, like a killed storage.
    pub fn stop(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body as sent (`body` is its lossy text).
    pub bytes: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request from source address `from` (port chosen by the OS).
pub async fn request(
    from: &str,
    to: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Resp> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(format!("{from}:0").parse().unwrap())?;
    let mut stream = sock.connect(to).await?;
    let mut req =
        format!("{method} {target} HTTP/1.1\r\nHost: files.example\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no response within 20 s")
        })??;
    parse(&raw, method == "HEAD")
}

/// One HTTP/1.1 request with a body, from source address `from`. A
/// `Content-Length` is added unless the headers set it or a
/// `Transfer-Encoding` (then `body` is sent as given). With `Expect:
/// 100-continue`, the body goes only after the server's `100 Continue`;
/// a final answer instead ends the exchange, as curl does.
pub async fn send(
    from: &str,
    to: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(format!("{from}:0").parse().unwrap())?;
    let mut stream = sock.connect(to).await?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n");
    if !has("content-length") && !has("transfer-encoding") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    let within =
        |what: &'static str| move |_| std::io::Error::new(std::io::ErrorKind::TimedOut, what);
    let mut raw = Vec::new();
    if has("expect") {
        let mut buf = [0u8; 4096];
        while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf))
                .await
                .map_err(within("no interim answer within 20 s"))??;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        if !raw.starts_with(b"HTTP/1.1 100") {
            tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
                .await
                .map_err(within("no response within 20 s"))??;
            return parse(&raw, false);
        }
        raw.clear();
    }
    stream.write_all(body).await?;
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .map_err(within("no response within 20 s"))??;
    // A 100 Continue the client did not wait for comes first.
    let mut answer = &raw[..];
    if answer.starts_with(b"HTTP/1.1 100") {
        if let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            answer = &answer[i + 4..];
        }
    }
    parse(answer, method == "HEAD")
}

/// Reads one response with a Content-Length from `conn`, `buf` holding
/// what was read past the previous one: (status, headers, body).
pub async fn read_response(
    conn: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    head_only: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let len: usize = match head_only {
                true => 0,
                false => headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap()),
            };
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                return (status, headers, body);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no whole response in 10 s: {buf:?}"
        );
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk))
            .await
            .expect("a response within 10 s")
            .unwrap();
        assert!(n > 0, "connection closed; had {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub async fn get(to: SocketAddr, target: &str) -> Resp {
    request("127.0.0.1", to, "GET", target, &[]).await.unwrap()
}

fn parse(raw: &[u8], head: bool) -> std::io::Result<Resp> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head_text = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if !head
        && headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
        bytes: body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[i + 2 + size + 2..];
    }
    out
}

/// Stop button for an lb started by [`Lb::start`].
struct Stop(Arc<Notify>);

#[async_trait::async_trait]
impl ShutdownSignalWatch for Stop {
    async fn recv(&self) -> ShutdownSignal {
        self.0.notified().await;
        ShutdownSignal::GracefulTerminate
    }
}

/// An lb running in its own thread (pingora owns its runtimes there).
pub struct Lb {
    pub addr: SocketAddr,
    pub config: PathBuf,
    stop: Arc<Notify>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Lb {
    pub async fn start(dir: &Path, name: &str, toml: &str) -> Lb {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, toml).unwrap();
        let cfg = ferrodfs_lb::config::Config::load(&config).unwrap();
        let stop = Arc::new(Notify::new());
        let (path, s) = (config.clone(), stop.clone());
        let thread = std::thread::spawn(move || ferrodfs_lb::serve(&path, Box::new(Stop(s))));
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(cfg.listen).await.is_ok() {
                return Lb {
                    addr: cfg.listen,
                    config,
                    stop,
                    thread: Some(thread),
                };
            }
            assert!(
                !thread.is_finished(),
                "lb {name} exited at start: {:?}",
                thread.join()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("lb {name} did not listen on {}", cfg.listen);
    }

    /// SIGTERM's graceful stop begins (the drain, then the listener
    /// closes); [`Lb::stop`] then waits for the end.
    pub fn begin_stop(&self) {
        self.stop.notify_one();
    }

    /// Graceful stop; asserts the lb returned cleanly and in time.
    pub async fn stop(mut self) {
        self.stop.notify_one();
        let thread = self.thread.take().unwrap();
        let joined = tokio::task::spawn_blocking(move || thread.join());
        let res = tokio::time::timeout(Duration::from_secs(10), joined)
            .await
            .expect("lb stops within 10 s");
        res.unwrap().unwrap().expect("lb exits without error");
    }
}

/// `[upstream]` settings that keep tests fast: passive marking and retries
/// do the work, active checks run rarely so they don't mask them.
pub const FAST_UPSTREAM: &str = "[upstream]\nconnect_timeout = \"500ms\"\nread_timeout = \"1s\"\nmax_tries = 3\nmax_fails = 1\nfail_timeout = \"30s\"\nhealth_check_interval = \"60s\"\n";
