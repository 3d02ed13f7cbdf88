//! The I/O shell: accepts connections, frames requests, runs them through
//! [`commands::handle`] under the cluster lock and writes each reply in a
//! single write; plus the timer that takes silent storages OFFLINE.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferrodfs_proto::auth::{authenticate, AuthError, Secret};
use ferrodfs_proto::cluster::state;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::io::{read_header, send, ProtoError};
use ferrodfs_proto::overview::ClusterStatus;
use ferrodfs_proto::status;
use ferrodfs_runtime::guard::ConnLimit;
use ferrodfs_runtime::net::read_body_acked;
use ferrodfs_runtime::Shutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;

use crate::cluster::{Cluster, Now, Transition};
use crate::commands::{self, Ctx, Outcome, Reply, Session};
use crate::config::Config;
use crate::history::History;
use crate::leader::Peers;
use crate::metrics::Metrics;

/// Largest body a connection that has not authenticated may announce:
/// every FastDFS client request to a tracker is far smaller; only storage
/// reports (authenticated) are bigger.
const OPEN_BODY_MAX: u64 = 64 << 10;

/// What every connection task shares.
pub struct Shared {
    pub cfg: Config,
    pub cluster: Mutex<Cluster>,
    pub metrics: Metrics,
    pub peers: Mutex<Peers>,
    /// Recent state changes, for the status page.
    pub history: Mutex<History>,
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

    fn history(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the warm-up after the start is over (see [`crate::warm_up`]).
    pub fn is_ready(&self) -> bool {
        self.cluster().warm_up.is_ready(std::time::Instant::now())
    }

    /// The status document (lock order: peers, cluster, history).
    pub fn status(&self) -> ClusterStatus {
        let peers = self.peers();
        let cluster = self.cluster();
        let history = self.history();
        crate::status::document(&self.cfg, &cluster, &peers, &history, Now::system().unix)
    }

    /// CLUSTER_STATUS: no body; the status document as JSON.
    fn status_reply(&self, body: &[u8]) -> Reply {
        if !body.is_empty() {
            return Reply::error(status::EINVAL);
        }
        match serde_json::to_vec(&self.status()) {
            Ok(json) => Reply::ok(json),
            Err(_) => Reply::error(status::EIO),
        }
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
                tracing::warn!(group = %t.group, id = %t.id, ip = %t.ip, reason = t.reason, "storage {from} -> {to}");
            } else {
                tracing::info!(group = %t.group, id = %t.id, ip = %t.ip, reason = t.reason, "storage {from} -> {to}");
            }
        }
        if !transitions.is_empty() {
            self.metrics.observe(cluster);
            self.history().record(Now::system().unix, transitions);
        }
    }
}

/// `/status` (the page) and `/status.json` (the document it polls),
/// served beside `/metrics`.
pub fn status_pages(shared: &Arc<Shared>) -> ferrodfs_runtime::metrics::Pages {
    use ferrodfs_runtime::metrics::Page;
    let shared = shared.clone();
    Arc::new(move |path: &str| match path {
        "/status" | "/status/" => Some(Page {
            content_type: "text/html; charset=utf-8",
            body: crate::status::PAGE.into(),
        }),
        "/status.json" => Some(Page {
            content_type: "application/json",
            body: serde_json::to_vec(&shared.status()).ok()?.into(),
        }),
        _ => None,
    })
}

/// Accepts until shutdown, then waits for the open connections to finish.
/// At most `max_connections` are open at once; hosts outside
/// `allow_hosts` are closed at once.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut shutdown: Shutdown) {
    let mut connections = JoinSet::new();
    let limit = ConnLimit::new("tracker", shared.cfg.max_connections);
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            accepted = accept(&listener, &limit) => match accepted {
                Ok((stream, peer, permit)) => {
                    if !shared.cfg.allow_hosts.allows(peer.ip()) {
                        tracing::warn!(%peer, "connection refused: not in allow_hosts");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().ok();
                    let shared = shared.clone();
                    let shutdown = shutdown.clone();
                    connections.spawn(async move {
                        let _permit = permit;
                        if let Err(e) = connection(stream, peer, local, &shared, shutdown).await {
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

async fn accept(
    listener: &TcpListener,
    limit: &ConnLimit,
) -> std::io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = limit.acquire().await;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, permit))
}

/// Serves one connection: many requests until QUIT, EOF, a broken frame
/// or shutdown. An error reply keeps the connection open, as FastDFS's
/// tracker does: pooled clients reuse it for their next call.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    shared: &Shared,
    mut shutdown: Shutdown,
) -> Result<(), ProtoError> {
    let mut session = Session::new(Some(peer.ip()));
    session.fastdfs = shared
        .cfg
        .fastdfs_storages
        .as_ref()
        .is_some_and(|a| a.allows(peer.ip()));
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
    let timeout = shared.cfg.network_timeout;
    loop {
        // A connection that has not authenticated gets `network_timeout`
        // to send each whole request, idle time included; trackers and
        // storages keep theirs open between heartbeats.
        let trusted = session.auth.is_done();
        let max_body = if trusted {
            shared.cfg.max_body_size
        } else {
            shared.cfg.max_body_size.min(OPEN_BODY_MAX)
        };
        let header = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            h = read_header(stream, max_body) => h,
            _ = tokio::time::sleep(timeout), if !trusted => {
                return Err(ProtoError::Io(std::io::ErrorKind::TimedOut.into()));
            }
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
        let body = tokio::time::timeout(timeout, read_body_acked(stream, header.pkg_len))
            .await
            .map_err(|_| ProtoError::Io(std::io::ErrorKind::TimedOut.into()))??;
        // Peers named by a joining storage count before its join is
        // answered, so a tracker that just started does not decide alone.
        // Only an authenticated storage names them.
        if let (Some(local), ferrodfs_proto::cmd::STORAGE_JOIN, true) =
            (local, header.cmd, session.auth.is_done())
        {
            if let Ok(r) = serde_json::from_slice::<ferrodfs_proto::cluster::StorageReport>(&body) {
                shared.learn_trackers(local, &r.trackers).await;
            }
        }
        let outcome = if header.cmd == ferrodfs_proto::cmd::CLUSTER_STATUS {
            Outcome::Reply(shared.status_reply(&body))
        } else {
            // Lock order: peers, then cluster, then history.
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

/// Takes storages silent for `check_active_interval` OFFLINE until
/// shutdown; logs once when the warm-up after the start is over.
pub async fn expiry_loop(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let interval = shared.cfg.check_active_interval;
    let mut timer = tokio::time::interval(tick(interval));
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warming = true;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = timer.tick() => {
                let now = std::time::Instant::now();
                let mut cluster = shared.cluster();
                let transitions = cluster.expire(now, interval);
                shared.changed(&cluster, &transitions);
                if warming && cluster.warm_up.is_ready(now) {
                    warming = false;
                    let storages: usize = cluster.groups.values().map(|g| g.storages.len()).sum();
                    tracing::info!(groups = cluster.groups.len(), storages, "warm-up over: answering from the storages that reported");
                }
            }
        }
    }
}

/// How often peer trackers are probed.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Probes every known peer tracker (authenticated ACTIVE_TEST) until
/// shutdown, keeping the leader view current; logs when the leadership
/// moves, and once when a peer cannot prove the cluster secret.
pub async fn peer_loop(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let mut leading = shared.peers().is_leader();
    let mut strangers = std::collections::BTreeSet::new();
    let Some(secret) = shared.cfg.cluster_secret.clone() else {
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(PROBE_EVERY) => {}
        }
        let known = shared.peers().known();
        for addr in known {
            let r = tokio::time::timeout(PROBE_EVERY, probe(addr, &secret)).await;
            match r {
                Ok(Ok(())) => {
                    if strangers.remove(&addr) {
                        tracing::info!("tracker {addr} now proves the cluster secret");
                    }
                    shared.peers().probed(addr, true);
                }
                Ok(Err(Probe::Refused(e))) => {
                    if strangers.insert(addr) {
                        tracing::warn!("tracker {addr} is not counted as a peer: {e}");
                    }
                    shared.peers().refused(addr);
                }
                Ok(Err(Probe::Down)) | Err(_) => shared.peers().probed(addr, false),
            }
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

/// Why a probe failed: a peer that is down may come back; one that
/// answers without the secret is not one of ours.
enum Probe {
    Down,
    Refused(AuthError),
}

async fn probe(addr: SocketAddr, secret: &Secret) -> Result<(), Probe> {
    let mut s = TcpStream::connect(addr).await.map_err(|_| Probe::Down)?;
    match authenticate(&mut s, secret).await {
        Ok(()) => {}
        Err(AuthError::Proto(_)) => return Err(Probe::Down),
        Err(e) => return Err(Probe::Refused(e)),
    }
    ferrodfs_proto::io::call(&mut s, ferrodfs_proto::cmd::ACTIVE_TEST, &[], 0)
        .await
        .map_err(|_| Probe::Down)?;
    Ok(())
}
