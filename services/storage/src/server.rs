//! The client port: one task per connection, many requests per connection
//! (clients pool them), and FastDFS's rules for what follows an error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrodfs_proto::auth::ServerAuth;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::io::{read_header, send_error};
use ferrodfs_proto::status;
use ferrodfs_runtime::guard::ConnLimit;
use ferrodfs_runtime::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::ctx::Ctx;
use crate::error::Error;
use crate::listen::accept_until_shutdown;
use crate::request::{Conn, Request};
use crate::{cmd, sync};

/// After a refused request, an unread body up to this size is read and
/// dropped so the connection stays usable; a larger one closes it.
const DRAIN_LIMIT: u64 = 64 << 20;
/// How long a closing connection keeps reading (and dropping) what the
/// client still sends, so the error reply is not lost to a TCP reset.
const LINGER: Duration = Duration::from_secs(2);
/// In-flight requests get this long to finish once shutdown begins.
const GRACE: Duration = Duration::from_secs(5);

/// Accepts until shutdown, then lets open requests finish (up to
/// [`GRACE`]) and aborts what is left; dropped temp files delete themselves.
pub(crate) async fn serve(ctx: Arc<Ctx>, listener: TcpListener, shutdown: Shutdown) {
    let grace = GRACE.min(ctx.cfg.network_timeout);
    accept_until_shutdown(
        "storage",
        listener,
        shutdown.clone(),
        grace,
        ConnLimit::new("storage", ctx.cfg.max_connections),
        Some(ctx.cfg.allow_hosts.clone()),
        |stream, peer| connection(ctx.clone(), stream, peer, shutdown.clone()),
    )
    .await
}

async fn connection(
    ctx: Arc<Ctx>,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: Shutdown,
) {
    ctx.stats.connection_opened();
    serve_requests(&ctx, &mut stream, peer, &mut shutdown).await;
    ctx.stats.connection_closed();
}

async fn serve_requests(
    ctx: &Arc<Ctx>,
    stream: &mut TcpStream,
    peer: SocketAddr,
    shutdown: &mut Shutdown,
) {
    let mut conn = Conn {
        peer,
        auth: ServerAuth::default(),
    };
    loop {
        // Idle between requests: shutdown closes the connection at once.
        // A client gets `network_timeout` to start and send each header
        // (as FastDFS closes idle connections); peers that authenticated
        // keep theirs open.
        let idle_limit = !conn.auth.is_done();
        let header = tokio::select! {
            _ = shutdown.wait() => return,
            h = read_header(stream, i64::MAX as u64) => h,
            _ = tokio::time::sleep(ctx.cfg.network_timeout), if idle_limit => {
                tracing::debug!("{peer}: closed after network_timeout without a request");
                return;
            }
        };
        let header = match header {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!("{peer}: bad header: {e}");
                let _ = send_error(stream, status::EINVAL).await;
                return linger_close(stream).await;
            }
        };
        if header.cmd == ferrodfs_proto::cmd::QUIT {
            return;
        }
        if sync::receives(header.cmd, &conn) {
            // A peer's pushes: the connection is theirs from here on.
            return sync::receive(ctx, stream, header, peer, shutdown).await;
        }
        let mut req = Request::new(stream, header, ctx.cfg.network_timeout);
        let result = if sync::handles(header.cmd) {
            sync::dispatch(ctx, &mut req, &mut conn).await
        } else {
            cmd::dispatch(ctx, &mut req, &mut conn).await
        };
        let (st, payload) = match &result {
            Ok(n) => (status::OK, *n),
            Err(e) => (e.status(), 0),
        };
        let keep_open = match result {
            Ok(_) => true,
            Err(Error::Conn(e)) => {
                tracing::debug!("{peer}: connection lost during command {}: {e}", header.cmd);
                false
            }
            Err(Error::Unsupported) => {
                tracing::debug!("{peer}: unsupported command {}", header.cmd);
                refuse(&mut req, st, true).await
            }
            Err(e) => {
                if st == status::EIO {
                    tracing::error!("{peer}: command {} failed: {e}", header.cmd);
                } else {
                    tracing::debug!(
                        "{peer}: command {} refused: {}: {e}",
                        header.cmd,
                        status::name(st)
                    );
                }
                // FastDFS answers and reads the next request on the same
                // connection; pooled clients depend on that.
                refuse(&mut req, st, true).await
            }
        };
        ctx.stats
            .record(header.cmd, st, payload, req.bytes_in, req.bytes_out);
        if !keep_open {
            return;
        }
    }
}

/// Sends an error reply. The connection stays open when allowed and the
/// unread body (if any) could be skipped first; otherwise it is closed
/// gracefully, since the client's next bytes would be misread.
async fn refuse(req: &mut Request<'_>, st: u8, may_continue: bool) -> bool {
    let mut keep = may_continue;
    if keep && req.remaining() > 0 {
        keep = req.remaining() <= DRAIN_LIMIT && req.drain().await.is_ok();
    }
    if req.send(Header::error(st), &[]).await.is_err() {
        return false;
    }
    if !keep {
        linger_close(req.stream()).await;
    }
    keep
}

/// Half-closes, then discards input briefly so the client can read the
/// reply before the socket goes away.
async fn linger_close(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let mut buf = vec![0u8; 64 << 10];
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
