//! The HTTP port's sockets: worker threads each with its own event loop
//! and listener, keep-alive connections reading request heads
//! (pipelined ones included), and replies written without copying file
//! bytes: the head is written with MSG_MORE, then the file goes with
//! sendfile(2) from the page cache to the socket, never through a
//! user-space buffer. A small file, already read with its open, goes out
//! with its head in one writev, tried at once with no timer armed. Each
//! connection keeps, from one request to the next, its request head and
//! response-head buffers, the Date value of the current second, and one
//! timer and one shutdown wait.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use bytes::BufMut;
use ferrodfs_runtime::guard::ConnLimit;
use ferrodfs_runtime::Shutdown;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use super::local::StoreDirs;
use super::request::{Method, RequestHead, MAX_HEAD_LEN};
use super::response::DateCache;
use super::{probe, respond, Body, HttpMetrics, Reply};
use crate::ctx::Ctx;

/// In-flight replies get this long to finish once shutdown begins.
const GRACE: Duration = Duration::from_secs(5);

/// What every connection of the port shares.
struct Port {
    ctx: Arc<Ctx>,
    metrics: HttpMetrics,
    dirs: StoreDirs,
}

/// Starts one worker thread per listener (`[http] workers`, bound with
/// SO_REUSEPORT on the same address), each running a single-threaded
/// runtime that accepts on its own socket and serves those connections
/// on that thread only, as an nginx worker process does. A multi-threaded
/// runtime moved connections between threads and woke one thread from
/// another; when a thread was descheduled, the tasks it held waited with
/// it, and requests per second trailed nginx's while CPU per request was
/// lower. The returned future resolves once every worker has stopped:
/// after shutdown begins, each stops accepting and lets its replies in
/// flight finish (up to [`GRACE`]).
pub(crate) async fn start(
    ctx: Arc<Ctx>,
    listeners: Vec<std::net::TcpListener>,
    shutdown: Shutdown,
) -> anyhow::Result<impl Future<Output = ()>> {
    let metrics = HttpMetrics::register(&ctx.stats.registry);
    let grace = GRACE.min(ctx.cfg.network_timeout);
    let paths = ctx.cfg.store_paths.clone();
    let dirs = tokio::task::spawn_blocking(move || StoreDirs::open(&paths))
        .await
        .unwrap_or_else(|_| StoreDirs::open(&[]));
    // One bound for the port, whichever worker a connection lands on.
    let limit = ConnLimit::new("storage http", ctx.cfg.max_connections);
    let port = Arc::new(Port { ctx, metrics, dirs });
    let mut stopped = Vec::with_capacity(listeners.len());
    for (i, listener) in listeners.into_iter().enumerate() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("http: cannot build a worker's runtime")?;
        // Registered with the worker's own event loop.
        let listener = {
            let _in_worker = rt.enter();
            TcpListener::from_std(listener).context("http: cannot watch a listener")?
        };
        let (done, worker_stopped) = tokio::sync::oneshot::channel::<()>();
        let (port, shutdown, limit) = (port.clone(), shutdown.clone(), limit.clone());
        std::thread::Builder::new()
            .name(format!("http-worker-{i}"))
            .spawn(move || {
                let accepted = port.metrics.connections_of(i);
                rt.block_on(crate::listen::accept_until_shutdown(
                    "http",
                    listener,
                    shutdown.clone(),
                    grace,
                    limit,
                    None,
                    |stream, peer| {
                        accepted.inc();
                        connection(port.clone(), stream, peer, shutdown.clone())
                    },
                ));
                // Connections are closed by now; a file open still stuck
                // on the blocking pool (a failing disk) is not waited for
                // past the grace.
                rt.shutdown_timeout(grace);
                let _ = done.send(());
            })
            .context("http: cannot start a worker thread")?;
        stopped.push(worker_stopped);
    }
    Ok(async move {
        for worker in stopped {
            if worker.await.is_err() {
                tracing::error!("http: a worker thread ended without stopping cleanly (panic)");
            }
        }
    })
}

async fn connection(port: Arc<Port>, mut stream: TcpStream, peer: SocketAddr, shutdown: Shutdown) {
    let Port { ctx, metrics, dirs } = &*port;
    let timeout = ctx.cfg.network_timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut head = RequestHead::default();
    let mut out = Out {
        head: Vec::with_capacity(512),
        dates: DateCache::default(),
    };
    // One shutdown wait and one timer for the connection's life: made per
    // request, each was a registration and a removal under a lock shared
    // by every connection.
    let mut stop = shutdown.clone();
    let mut stopping = pin!(async move { stop.wait().await });
    let mut timer = pin!(tokio::time::sleep(timeout));
    loop {
        let waits = Waits {
            timeout,
            stopping: stopping.as_mut(),
            timer: timer.as_mut(),
        };
        match read_head(&mut stream, &mut buf, &mut head, waits).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(Refused(status)) => {
                let reply = Reply::error(status, super::response::reason(status));
                let _ = write_reply(&mut stream, &mut out, reply, false, false, timeout).await;
                metrics.record(status, 0);
                tracing::info!(target: "http_access", "{peer} - {status} (bad request head)");
                return;
            }
        }
        let started =
            tracing::enabled!(target: "http_access", tracing::Level::INFO).then(Instant::now);
        // A body is never read, so the connection cannot continue after one.
        let keep_alive = head.keep_alive() && !head.has_body() && !shutdown.is_requested();
        let is_head = head.method == Method::Head;
        // Probes every second must cost no log line and leave the request
        // metrics alone, as on the metrics listener.
        if let Some(reply) = probe(ctx, &head) {
            match write_reply(&mut stream, &mut out, reply, keep_alive, is_head, timeout).await {
                Ok(_) if keep_alive => continue,
                _ => return,
            }
        }
        let reply = respond(ctx, metrics, dirs, &head).await;
        let status = reply.head.status;
        let result = write_reply(&mut stream, &mut out, reply, keep_alive, is_head, timeout).await;
        let sent = *result.as_ref().unwrap_or(&0);
        metrics.record(status, sent);
        if let Some(started) = started {
            let line = AccessLine {
                peer,
                method: head.method_text(),
                path: head.target().split('?').next().unwrap_or_default(),
                status,
                sent,
                ms: started.elapsed().as_millis(),
            };
            // Formatted by hand into the log where it can be (the line
            // tracing's formatter writes, at a third of its cost); a
            // request line with bytes tracing would escape goes its way.
            let plain = |t: &str| t.bytes().all(|b| (0x20..0x7f).contains(&b));
            let written = plain(line.method)
                && plain(line.path)
                && ferrodfs_runtime::logging::info_line("http_access", |out| {
                    use std::io::Write;
                    let _ = write!(out, "{line}");
                });
            if !written {
                tracing::info!(target: "http_access", "{line}");
            }
        }
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

/// What a connection waits on besides its socket.
struct Waits<'a, S> {
    timeout: Duration,
    /// Resolves once shutdown begins.
    stopping: Pin<&'a mut S>,
    /// Set to some earlier head's deadline and moved on only when it
    /// fires, so a connection touches the timer wheel about once per
    /// `timeout`, not once per request.
    timer: Pin<&'a mut Sleep>,
}

/// Reads until a whole head is buffered and parses it into `head`.
/// `Ok(false)`: the client closed, idled past the timeout, or shutdown
/// began between requests. The whole head (idle time before it included)
/// must arrive within the timeout: a client trickling a byte at a time
/// cannot hold the connection.
async fn read_head<S: Future<Output = ()>>(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    head: &mut RequestHead,
    mut waits: Waits<'_, S>,
) -> Result<bool, Refused> {
    let deadline = tokio::time::Instant::now() + waits.timeout;
    loop {
        if !buf.is_empty() {
            match head.parse(buf) {
                Ok(Some(used)) => {
                    buf.drain(..used);
                    return Ok(true);
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
            biased;
            r = stream.read_buf(&mut limited) => match r {
                Ok(n) => n,
                Err(_) => return Ok(false),
            },
            _ = waits.stopping.as_mut(), if idle => return Ok(false),
            _ = waits.timer.as_mut() => {
                if tokio::time::Instant::now() < deadline {
                    waits.timer.as_mut().reset(deadline);
                    continue;
                }
                return if idle { Ok(false) } else { Err(Refused(408)) };
            }
        };
        if n == 0 {
            return Ok(false);
        }
        if buf.len() >= MAX_HEAD_LEN {
            // parse decides between 414 and 431 on a full buffer.
            if let Err(e) = head.parse(buf) {
                return Err(Refused(e.status()));
            }
        }
    }
}

/// What a connection reuses from one reply to the next.
struct Out {
    head: Vec<u8>,
    dates: DateCache,
}

/// Writes a reply; returns the body bytes sent.
async fn write_reply(
    stream: &mut TcpStream,
    out: &mut Out,
    reply: Reply,
    keep_alive: bool,
    is_head: bool,
    timeout: Duration,
) -> io::Result<u64> {
    out.head.clear();
    let date = out.dates.at(SystemTime::now());
    reply.head.encode_into(&mut out.head, keep_alive, date);
    let out = &out.head;
    let body = if is_head { Body::Empty } else { reply.body };
    match body {
        Body::Empty => {
            write_all(stream, out, &[], timeout).await?;
            Ok(0)
        }
        Body::Bytes(b) => {
            write_all(stream, out, &b, timeout).await?;
            let sent = b.len() as u64;
            super::local::recycle(b);
            Ok(sent)
        }
        Body::File { file, offset, len } => {
            write_more(stream, out, timeout).await?;
            crate::zerocopy::send_file(stream, &file, offset, len, timeout).await?;
            Ok(len)
        }
        Body::Relay(mut incoming) => {
            write_all(stream, out, &[], timeout).await?;
            let mut sent = 0u64;
            while let Some(frame) = tokio::time::timeout(timeout, incoming.frame())
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
            {
                let frame = frame.map_err(io::Error::other)?;
                if let Ok(data) = frame.into_data() {
                    sent += data.len() as u64;
                    write_all(stream, &data, &[], timeout).await?;
                }
            }
            Ok(sent)
        }
    }
}

/// Writes `head` then `body` with writev: one system call and one segment
/// for a small reply, and no copy of the body into the head's buffer. The
/// first write is tried at once, with no timer: a reply that fits the
/// socket buffer never needs one. Each later write must make progress
/// within `timeout`.
async fn write_all(
    stream: &mut TcpStream,
    head: &[u8],
    body: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    let total = head.len() + body.len();
    let parts = |done: usize| {
        if done < head.len() {
            [IoSlice::new(&head[done..]), IoSlice::new(body)]
        } else {
            [IoSlice::new(&body[done - head.len()..]), IoSlice::new(&[])]
        }
    };
    let mut done = match stream.try_write_vectored(&parts(0)) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    while done < total {
        let n = tokio::time::timeout(timeout, stream.write_vectored(&parts(done)))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        done += n;
    }
    Ok(())
}

/// Writes with MSG_MORE: the kernel holds the bytes back until the next
/// write without it (the sendfile that follows), so a head and a small
/// file still leave in one segment despite TCP_NODELAY — nginx's
/// `tcp_nopush` effect without toggling TCP_CORK. Waits (within
/// `timeout`) only when the socket buffer is full.
async fn write_more(stream: &mut TcpStream, bytes: &[u8], timeout: Duration) -> io::Result<()> {
    let mut at = 0;
    while at < bytes.len() {
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
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::time::timeout(timeout, stream.writable())
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An access line: `peer "METHOD /path" status bytes 3ms`.
struct AccessLine<'a, P> {
    peer: P,
    method: &'a str,
    path: &'a str,
    status: u16,
    sent: u64,
    ms: u128,
}

impl<P: std::fmt::Display> std::fmt::Display for AccessLine<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let AccessLine {
            peer,
            method,
            path,
            status,
            sent,
            ms,
        } = self;
        write!(f, "{peer} \"{method} {path}\" {status} {sent} {ms}ms")
    }
}
