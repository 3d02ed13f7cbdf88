//! The accept loop both storage ports (client and HTTP) share.

use std::net::SocketAddr;
use std::time::Duration;

use ferrodfs_runtime::guard::{AllowHosts, ConnLimit};
use ferrodfs_runtime::Shutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The accept loop both storage ports share: one task per connection,
/// at most `limit` at once, only from `allow` (when given), until
/// shutdown; then up to `grace` for the open ones before they are aborted.
pub(crate) async fn accept_until_shutdown<F, Fut>(
    what: &str,
    listener: TcpListener,
    mut shutdown: Shutdown,
    grace: Duration,
    limit: ConnLimit,
    allow: Option<AllowHosts>,
    mut handle: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    let (l, lim) = (&listener, &limit);
    let accept = move || async move {
        let permit = lim.acquire().await;
        l.accept().await.map(|(s, p)| (s, p, permit))
    };
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            r = accept() => match r {
                Ok((stream, peer, permit)) => {
                    if allow.as_ref().is_some_and(|a| !a.allows(peer.ip())) {
                        tracing::warn!(%peer, "{what}: connection refused: not in allow_hosts");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let conn = handle(stream, peer);
                    conns.spawn(async move {
                        let _permit = permit;
                        conn.await
                    });
                }
                Err(e) => {
                    tracing::warn!("{what}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let finished =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!(
            "{what}: {} connection(s) still busy after {grace:?}; closing them",
            conns.len()
        );
        conns.shutdown().await;
    }
}
