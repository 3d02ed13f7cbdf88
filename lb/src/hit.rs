//! Edge hits answered before pingora's HTTP session. Most of an edge's
//! requests are plain reads of hot small files whose entries the cache
//! holds in memory; for those, pingora's per-request session (the request
//! parsed into `http` types, the proxy's phases, the response written
//! through its body writer) cost several times what the answer itself
//! does. So each connection is read here first: a request head that
//! parses as a plain GET or HEAD, passes the same checks as in the proxy
//! ([`classify`]: limits, routing, anti-steal token), and names a fresh
//! entry held in memory is answered from it with one write, with the head
//! pingora-cache's hit would send. Anything else (a miss, a range, a
//! condition, a purge, a probe, a body, an error) is put back in front of
//! the stream and handed to the pingora proxy for that one request; the
//! connection comes back here for the next.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::{Buf, Bytes, BytesMut};
use pingora_core::apps::{HttpServerApp, ServerApp};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::l4::stream::Stream as TcpStream;
use pingora_core::protocols::Stream;
use pingora_core::server::ShutdownWatch;
use pingora_error::{Error, ErrorType};
use pingora_http::RequestHeader;
use pingora_proxy::HttpProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::classify::classify;
use crate::config::Role;
use crate::proxy::{plain_read, Access, Lb};

/// Heads longer than this are left to pingora (and its limits).
const MAX_HEAD: usize = 16 * 1024;
/// How long a kept-alive connection may wait for its next request, as
/// pingora keeps it (60 s).
const KEEPALIVE: Duration = Duration::from_secs(60);
/// Headers a head may have and still be parsed here.
const MAX_HEADERS: usize = 64;

/// The edge's connection handler: memory hits here, the rest to `proxy`.
pub struct EdgeApp {
    proxy: Arc<HttpProxy<Lb>>,
    lb: Lb,
}

impl EdgeApp {
    pub fn new(proxy: HttpProxy<Lb>, lb: Lb) -> EdgeApp {
        EdgeApp {
            proxy: Arc::new(proxy),
            lb,
        }
    }
}

/// What was read of the next request.
enum Head {
    /// A whole head of this many bytes is at the start of the buffer.
    Whole(usize),
    /// Not ours to parse (too long, malformed, or the peer stopped
    /// halfway): pingora reads and answers it.
    Other,
    /// The connection ended (or idled out, or the server is stopping)
    /// between requests.
    Closed,
}

#[async_trait]
impl ServerApp for EdgeApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Only plain TCP streams can have what was read put back.
        if !stream.as_any().is::<TcpStream>() {
            return self.proxy.process_new(stream, shutdown).await;
        }
        let mut stream = stream;
        let mut buf = BytesMut::with_capacity(2048);
        let mut out = Vec::with_capacity(1024);
        loop {
            let mut shutdown_rx = shutdown.clone();
            match next_head(&mut stream, &mut buf, &mut shutdown_rx).await {
                Head::Closed => return None,
                Head::Whole(len) => {
                    let start = Instant::now();
                    // Draining too: pingora's session then says
                    // `Connection: close` (see request_filter).
                    let stopping = *shutdown.borrow() || self.lb.shared.is_draining();
                    if let Some(answer) = self.answer(&buf[..len], &stream, stopping, &mut out) {
                        let written = write_all(&mut stream, &out, &answer.body).await;
                        let failed = (!written).then(|| {
                            Error::explain(ErrorType::WriteError, "client gone mid-answer")
                                .into_down()
                        });
                        self.lb.log_access(Access {
                            client: answer.client,
                            method: &answer.req.method,
                            uri: &answer.req.uri,
                            status: answer.status,
                            bytes: if written { answer.body_len } else { 0 },
                            upstream: None,
                            tries: 0,
                            cache: "HIT",
                            elapsed: start.elapsed(),
                            error: failed.as_deref(),
                        });
                        if !written {
                            return None;
                        }
                        buf.advance(len);
                        continue;
                    }
                }
                Head::Other => {}
            }
            // pingora's turn, for this one request.
            let mut tcp = stream
                .into_any()
                .downcast::<TcpStream>()
                .expect("checked to be a TCP stream above");
            tcp.rewind(&buf);
            buf.clear();
            let mut session = ServerSession::new_http1(tcp);
            session.set_keepalive(if *shutdown.borrow() {
                None
            } else {
                Some(KEEPALIVE.as_secs())
            });
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            stream = reused.consume().0;
            if !stream.as_any().is::<TcpStream>() {
                return self.proxy.process_new(stream, shutdown).await;
            }
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}

/// Reads until `buf` starts with a whole request head.
async fn next_head(stream: &mut Stream, buf: &mut BytesMut, shutdown: &mut ShutdownWatch) -> Head {
    loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::Request::new(&mut headers).parse(buf) {
                Ok(httparse::Status::Complete(n)) => return Head::Whole(n),
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
                _ => return Head::Other,
            }
        } else if *shutdown.borrow() {
            return Head::Closed;
        }
        buf.reserve(2048);
        let read = tokio::select! {
            // A request already arriving is served even as the server stops.
            biased;
            r = tokio::time::timeout(KEEPALIVE, stream.read_buf(buf)) => r,
            _ = shutdown.changed(), if buf.is_empty() => return Head::Closed,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) if buf.is_empty() => return Head::Closed,
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Head::Other,
            Ok(Ok(_)) => {}
        }
    }
}

/// Head and body leave in one send: both go through the stream's write
/// buffer (32 KiB) and are flushed together.
async fn write_all(stream: &mut Stream, head: &[u8], body: &[u8]) -> bool {
    stream.write_all(head).await.is_ok()
        && stream.write_all(body).await.is_ok()
        && stream.flush().await.is_ok()
}

/// An answered request, for its access line.
struct Answered {
    req: RequestHeader,
    status: u16,
    client: Option<IpAddr>,
    /// Empty for a HEAD.
    body: Bytes,
    body_len: usize,
}

impl EdgeApp {
    /// The response to `head` (its head in `out`) if it is a plain read
    /// of a fresh entry held in memory; `None` otherwise, and while the
    /// server is `stopping` (pingora then closes the connection after it).
    fn answer(
        &self,
        head: &[u8],
        stream: &Stream,
        stopping: bool,
        out: &mut Vec<u8>,
    ) -> Option<Answered> {
        if stopping {
            return None;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        if !matches!(parsed.parse(head), Ok(httparse::Status::Complete(_))) {
            return None;
        }
        // HTTP/1.1 with the connection kept: what pingora would keep too.
        if parsed.version != Some(1) {
            return None;
        }
        let method = parsed.method?;
        if method != "GET" && method != "HEAD" {
            return None;
        }
        let path = parsed.path?;
        // The probes and anything with a body or an upgrade are pingora's.
        if ferrodfs_runtime::metrics::probe(path, || true).is_some() {
            return None;
        }
        for h in parsed.headers.iter() {
            let name = h.name;
            let refused = ["content-length", "transfer-encoding", "expect", "upgrade"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n));
            let closing = name.eq_ignore_ascii_case("connection")
                && std::str::from_utf8(h.value).map_or(true, |v| {
                    v.split(',').any(|t| {
                        let t = t.trim();
                        t.eq_ignore_ascii_case("close") || t.eq_ignore_ascii_case("upgrade")
                    })
                });
            if refused || closing {
                return None;
            }
        }
        let live = self.lb.shared.live();
        if live.cfg.role != Role::Edge {
            return None;
        }
        let mut req =
            RequestHeader::build(method, path.as_bytes(), Some(parsed.headers.len())).ok()?;
        for h in parsed.headers.iter() {
            req.append_header(h.name.to_string(), h.value).ok()?;
        }
        // What pingora's session refuses (400) before any routing: two
        // Hosts, userinfo, an absolute URI naming another host.
        pingora_core::protocols::http::authority::validate_request_authority(&req).ok()?;
        if !plain_read(&req) {
            return None;
        }
        let client = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        // Rejections are answered by the proxy, with their own status.
        let target = classify(&live, &req, client, now).ok()?;
        let cache_uri = target.cache_uri.as_deref()?;
        if target.purge {
            return None;
        }
        let (mut resp, body) = self.lb.memory_answer(&live, &req, cache_uri).ok()??;
        // As pingora's session writes every response head.
        resp.insert_header(
            http::header::DATE,
            pingora_core::protocols::http::date::get_cached_date(),
        )
        .ok()?;
        resp.insert_header(http::header::CONNECTION, "keep-alive")
            .ok()?;
        out.clear();
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(resp.status.as_str().as_bytes());
        out.push(b' ');
        if let Some(reason) = resp.get_reason_phrase() {
            out.extend_from_slice(reason.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        resp.header_to_h1_wire(out);
        out.extend_from_slice(b"\r\n");
        let body = if req.method == http::Method::HEAD {
            Bytes::new()
        } else {
            body
        };
        Some(Answered {
            req,
            status: resp.status.as_u16(),
            client,
            body_len: body.len(),
            body,
        })
    }
}
