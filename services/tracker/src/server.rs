//! The I/O shell: accepts connections, frames requests, runs them through
//! [`commands::handle`] under the cluster lock and writes each reply in a
//! single write; plus the timer that takes silent storages OFFLINE.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferrodfs_proto::cluster::state;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::io::{read_header, send, ProtoError};
use ferrodfs_proto::status;
use ferrodfs_runtime::net::read_exact_acked;
use ferrodfs_runtime::Shutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::cluster::{Cluster, Now, Transition};
use crate::commands::{self, Ctx, Outcome, Session};
use crate::config::Config;
use crate::leader::Peers;
use crate::metrics::Metrics;

/// A client that announced a body must deliver it within this time.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// What every connection task shares.
pub struct Shared {
    pub cfg: Config,
    pub cluster: Mutex<Cluster>,
    pub metrics: Metrics,
    pub peers: Mutex<Peers>,
}

impl Shared {
    /// Requests never panic while holding the lock, but a poisoned lock
    /// must not take the whole tracker down either.
    fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn peers(&self) -> MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Learns peer trackers from a storage's tracker list, and our own
    /// address from the connection it reached us on.
    async fn learn_trackers(&self, local: SocketAddr, trackers: &[String]) {
        let mut resolved = Vec::new();
        for t in trackers {
            match tokio::net::lookup_host(t.as_str()).await {
                Ok(mut addrs) => resolved.extend(addrs.next()),
                Err(e) => tracing::debug!("tracker {t} from a storage report: {e}"),
            }
        }
        let mut peers = self.peers();
        if peers.me.is_none() {
            peers.me = Some(local);
        }
        for a in resolved {
            if a != local {
                peers.learn(a);
            }
        }
    }

    /// Logs membership changes and refreshes the gauges.
    fn changed(&self, cluster: &Cluster, transitions: &[Transition]) {
        for t in transitions {
            let from = t.from.map(state::name).unwrap_or("NEW");
            let to = state::name(t.to);
            if t.to == state::OFFLINE {
                tracing::warn!(group = %t.group, ip = %t.ip, reason = t.reason, "storage {from} -> {to}");
            } else {
                tracing::info!(group = %t.group, ip = %t.ip, reason = t.reason, "storage {from} -> {to}");
            }
        }
        if !transitions.is_empty() {
            self.metrics.observe(cluster);
        }
    }
}

/// Accepts until shutdown, then waits for the open connections to finish.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut shutdown: Shutdown) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().ok();
                    let shared = shared.clone();
                    let shutdown = shutdown.clone();
                    connections.spawn(async move {
                        if let Err(e) = connection(stream, local, &shared, shutdown).await {
                            tracing::debug!(%peer, "connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    while connections.join_next().await.is_some() {}
}

/// Serves one connection: many requests until QUIT, EOF, a broken frame
/// or shutdown. An error reply keeps the connection open, as FastDFS's
/// tracker does: pooled clients reuse it for their next call.
async fn connection(
    mut stream: TcpStream,
    local: Option<SocketAddr>,
    shared: &Shared,
    mut shutdown: Shutdown,
) -> Result<(), ProtoError> {
    let mut session = Session::default();
    let result = serve_requests(&mut stream, local, shared, &mut session, &mut shutdown).await;
    if let Some(id) = session.storage {
        let mut cluster = shared.cluster();
        let transitions: Vec<Transition> = cluster.disconnect(id).into_iter().collect();
        shared.changed(&cluster, &transitions);
    }
    result
}

async fn serve_requests(
    stream: &mut TcpStream,
    local: Option<SocketAddr>,
    shared: &Shared,
    session: &mut Session,
    shutdown: &mut Shutdown,
) -> Result<(), ProtoError> {
    loop {
        let header = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            h = read_header(stream, shared.cfg.max_body_size) => h,
        };
        let header = match header {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(e @ ProtoError::Header(_)) => {
                shared.metrics.request(0, status::EINVAL);
                send(stream, Header::error(status::EINVAL), &[]).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let mut body = vec![0u8; header.pkg_len as usize];
        tokio::time::timeout(BODY_TIMEOUT, read_exact_acked(stream, &mut body))
            .await
            .map_err(|_| ProtoError::Io(std::io::ErrorKind::TimedOut.into()))??;
        // Peers named by a joining storage count before its join is
        // answered, so a tracker that just started does not decide alone.
        if let (Some(local), ferrodfs_proto::cmd::STORAGE_JOIN) = (local, header.cmd) {
            if let Ok(r) = serde_json::from_slice::<ferrodfs_proto::cluster::StorageReport>(&body) {
                shared.learn_trackers(local, &r.trackers).await;
            }
        }
        let outcome = {
            // Lock order: peers, then cluster (nothing else holds both).
            let peers = shared.peers();
            let mut cluster = shared.cluster();
            let mut ctx = Ctx {
                cfg: &shared.cfg,
                cluster: &mut cluster,
                now: Now::system(),
                transitions: Vec::new(),
                peers: &peers,
            };
            let outcome = commands::handle(&mut ctx, session, header.cmd, &body);
            let transitions = std::mem::take(&mut ctx.transitions);
            shared.changed(&cluster, &transitions);
            outcome
        };
        let reply = match outcome {
            Outcome::Quit => return Ok(()),
            Outcome::Reply(r) => r,
        };
        shared.metrics.request(header.cmd, reply.status);
        if reply.status != status::OK {
            tracing::debug!(
                cmd = commands::name(header.cmd),
                "answered {}",
                status::name(reply.status)
            );
        }
        send(
            stream,
            Header::response(reply.status, reply.body.len() as u64),
            &reply.body,
        )
        .await?;
    }
}

/// How often silence is checked: often enough that a storage goes
/// OFFLINE within a quarter interval of its deadline.
fn tick(interval: Duration) -> Duration {
    (interval / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

/// Takes storages silent for `check_active_interval` OFFLINE until shutdown.
pub async fn expiry_loop(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let interval = shared.cfg.check_active_interval;
    let mut timer = tokio::time::interval(tick(interval));
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = timer.tick() => {
                let mut cluster = shared.cluster();
                let transitions = cluster.expire(std::time::Instant::now(), interval);
                shared.changed(&cluster, &transitions);
            }
        }
    }
}

/// How often peer trackers are probed.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Probes every known peer tracker (ACTIVE_TEST) until shutdown, keeping
/// the leader view current; logs when the leadership moves.
pub async fn peer_loop(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let mut leading = shared.peers().is_leader();
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(PROBE_EVERY) => {}
        }
        let known = shared.peers().known();
        for addr in known {
            let ok = tokio::time::timeout(PROBE_EVERY, probe(addr))
                .await
                .is_ok_and(|r| r.is_ok());
            shared.peers().probed(addr, ok);
        }
        let (now_leading, leader) = {
            let p = shared.peers();
            (p.is_leader(), p.leader())
        };
        if now_leading != leading {
            match leader {
                Some(l) if now_leading => tracing::info!("this tracker ({l}) is now the leader"),
                Some(l) => tracing::info!("tracker {l} is now the leader"),
                None => {}
            }
            leading = now_leading;
        }
    }
}

async fn probe(addr: SocketAddr) -> Result<(), ProtoError> {
    let mut s = TcpStream::connect(addr).await?;
    ferrodfs_proto::io::call(&mut s, ferrodfs_proto::cmd::ACTIVE_TEST, &[], 0).await?;
    Ok(())
}
