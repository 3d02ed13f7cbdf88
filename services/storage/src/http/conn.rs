//! The HTTP port's sockets: keep-alive connections reading request heads
//! (pipelined ones included), and replies written without copying file
//! bytes: the head is written with MSG_MORE, then the file goes with
//! sendfile(2) from the page cache to the socket, never through a
//! user-space buffer, whatever its size.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::BufMut;
use ferrodfs_runtime::Shutdown;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};

use super::request::{parse_head, Method, RequestHead, MAX_HEAD_LEN};
use super::{respond, Body, HttpMetrics, Reply};
use crate::ctx::Ctx;

/// In-flight replies get this long to finish once shutdown begins.
const GRACE: Duration = Duration::from_secs(5);

/// Accepts until shutdown, then lets replies in flight finish (up to
/// [`GRACE`]) and closes what is left.
pub(crate) async fn serve(ctx: Arc<Ctx>, listener: TcpListener, shutdown: Shutdown) {
    let metrics = HttpMetrics::register(&ctx.stats.registry);
    let grace = GRACE.min(ctx.cfg.network_timeout);
    crate::server::accept_until_shutdown(
        "http",
        listener,
        shutdown.clone(),
        grace,
        ferrodfs_runtime::guard::ConnLimit::new("storage http", ctx.cfg.max_connections),
        None,
        |stream, peer| connection(ctx.clone(), metrics.clone(), stream, peer, shutdown.clone()),
    )
    .await
}

async fn connection(
    ctx: Arc<Ctx>,
    metrics: HttpMetrics,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: Shutdown,
) {
    let timeout = ctx.cfg.network_timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let head = match read_head(&mut stream, &mut buf, timeout, &mut shutdown).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(Refused(status)) => {
                let reply = Reply::error(status, super::response::reason(status));
                let _ = write_reply(&mut stream, reply, false, false, timeout).await;
                metrics.record(status, 0);
                tracing::info!(target: "http_access", "{peer} - {status} (bad request head)");
                return;
            }
        };
        let started = Instant::now();
        // A body is never read, so the connection cannot continue after one.
        let keep_alive = head.keep_alive() && !head.has_body() && !shutdown.is_requested();
        let reply = respond(&ctx, &metrics, &head).await;
        let status = reply.head.status;
        let is_head = head.method == Method::Head;
        let result = write_reply(&mut stream, reply, keep_alive, is_head, timeout).await;
        let sent = *result.as_ref().unwrap_or(&0);
        metrics.record(status, sent);
        let path = head.target.split('?').next().unwrap_or_default();
        tracing::info!(
            target: "http_access",
            "{peer} \"{} {path}\" {status} {sent} {}ms",
            head.method_text,
            started.elapsed().as_millis()
        );
        match result {
            Ok(_) if keep_alive => {}
            Ok(_) => return,
            Err(e) => {
                tracing::debug!("http: {peer}: reply not completed: {e}");
                return;
            }
        }
    }
}

/// A request head that gets this status and a closed connection.
struct Refused(u16);

/// Reads until a whole head is buffered. `Ok(None)`: the client closed,
/// idled past the timeout, or shutdown began between requests. The whole
/// head (idle time before it included) must arrive within `timeout`: a
/// client trickling a byte at a time cannot hold the connection.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    timeout: Duration,
    shutdown: &mut Shutdown,
) -> Result<Option<RequestHead>, Refused> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if !buf.is_empty() {
            match parse_head(buf) {
                Ok(Some((head, used))) => {
                    buf.drain(..used);
                    return Ok(Some(head));
                }
                // Part of a head: acknowledge it now, or a client that
                // sends the rest in another write with Nagle on waits
                // for our delayed ACK.
                Ok(None) => ferrodfs_runtime::net::quick_ack(stream),
                Err(e) => return Err(Refused(e.status())),
            }
        }
        let room = MAX_HEAD_LEN - buf.len();
        buf.reserve(room.min(4096));
        let idle = buf.is_empty();
        let mut limited = (&mut *buf).limit(room);
        let n = tokio::select! {
            _ = shutdown.wait(), if idle => return Ok(None),
            r = tokio::time::timeout_at(deadline, stream.read_buf(&mut limited)) => match r {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => return Ok(None),
                Err(_) if idle => return Ok(None),
                Err(_) => return Err(Refused(408)),
            },
        };
        if n == 0 {
            return Ok(None);
        }
        if buf.len() >= MAX_HEAD_LEN {
            // parse_head decides between 414 and 431 on a full buffer.
            if let Err(e) = parse_head(buf) {
                return Err(Refused(e.status()));
            }
        }
    }
}

/// Writes a reply; returns the body bytes sent.
async fn write_reply(
    stream: &mut TcpStream,
    reply: Reply,
    keep_alive: bool,
    is_head: bool,
    timeout: Duration,
) -> io::Result<u64> {
    let mut out = reply.head.encode(keep_alive, SystemTime::now());
    let body = if is_head { Body::Empty } else { reply.body };
    match body {
        Body::Empty => {
            write(stream, &out, timeout).await?;
            Ok(0)
        }
        Body::Bytes(b) => {
            out.extend_from_slice(&b);
            write(stream, &out, timeout).await?;
            Ok(b.len() as u64)
        }
        Body::File { file, offset, len } => {
            write_more(stream, &out, timeout).await?;
            crate::zerocopy::send_file(stream, &file, offset, len, timeout).await?;
            Ok(len)
        }
        Body::Relay(mut incoming) => {
            write(stream, &out, timeout).await?;
            let mut sent = 0u64;
            while let Some(frame) = tokio::time::timeout(timeout, incoming.frame())
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
            {
                let frame = frame.map_err(io::Error::other)?;
                if let Ok(data) = frame.into_data() {
                    sent += data.len() as u64;
                    write(stream, &data, timeout).await?;
                }
            }
            Ok(sent)
        }
    }
}

async fn write(stream: &mut TcpStream, bytes: &[u8], timeout: Duration) -> io::Result<()> {
    tokio::time::timeout(timeout, stream.write_all(bytes))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// Writes with MSG_MORE: the kernel holds the bytes back until the next
/// write without it (the sendfile that follows), so a head and a small
/// file still leave in one segment despite TCP_NODELAY — nginx's
/// `tcp_nopush` effect without toggling TCP_CORK.
async fn write_more(stream: &mut TcpStream, bytes: &[u8], timeout: Duration) -> io::Result<()> {
    let mut at = 0;
    while at < bytes.len() {
        tokio::time::timeout(timeout, stream.writable())
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let fd = stream.as_raw_fd();
        match stream.try_io(Interest::WRITABLE, || {
            let rest = &bytes[at..];
            // SAFETY: `rest` is a live slice; the fd belongs to `stream`.
            let n = unsafe {
                nix::libc::send(fd, rest.as_ptr().cast(), rest.len(), nix::libc::MSG_MORE)
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }) {
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
