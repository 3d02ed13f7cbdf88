//! The I/O shell: builds the pingora server (proxy service + one upkeep
//! background service), and runs until SIGTERM (graceful) or SIGINT (fast).
//!
//! The upkeep service does what must follow the running config: SIGHUP
//! reloads, health checks and discovery of the current pools, the tracker
//! membership poll, cache inactivity expiry, metric gauges, and `/metrics`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch};
use pingora_core::services::background::{background_service, BackgroundService};
use pingora_core::services::listening::Service;

use crate::cache::disk::{DiskCache, MemoryTier};
use crate::config::{Config, Membership, Role};
use crate::hit::EdgeApp;
use crate::proxy::Lb;
use crate::state::Shared;
use crate::syn_drop;

/// Write buffer per client connection. pingora writes a response's head
/// and body separately, and with its default buffer (one segment) the head
/// of every small file went out in a send of its own; with room for both,
/// a head and a body up to about this size leave in one. Larger writes pass
/// straight through, and chunked bodies are still flushed chunk by chunk.
const WRITE_BUFFER: usize = 32 * 1024;

/// Runs the lb described by `config_path` until `stop` says so. Builds its
/// own tokio runtimes (pingora's), so call it outside any tokio runtime.
pub fn serve(
    config_path: &Path,
    stop: Box<dyn ShutdownSignalWatch + Send + Sync>,
) -> anyhow::Result<()> {
    let cfg = Config::load(config_path)?;
    check_bind("listen", cfg.listen)?;
    if let Some(m) = cfg.metrics_listen {
        check_bind("metrics_listen", m)?;
    }
    let cache = match cfg.edge.as_ref().and_then(|e| e.cache.as_ref()) {
        Some(c) => {
            let memory = MemoryTier {
                budget: c.memory,
                max_body: c.memory_max_body,
            };
            let disk = DiskCache::open(&c.path, c.max_size, memory)?;
            tracing::info!(path = %c.path.display(), entries = disk.entries(), bytes = disk.total_size(), "cache opened");
            Some(&*Box::leak(Box::new(disk)))
        }
        None => None,
    };
    // Pools are built (one discovery pass) before serving; a short-lived
    // runtime does it since pingora's runtimes exist only inside `run`.
    let setup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let shared =
        Arc::new(setup.block_on(Shared::new(config_path.to_path_buf(), cfg.clone(), cache)));
    drop(setup);

    let conf = ServerConf {
        threads: cfg.threads,
        grace_period_seconds: Some(cfg.shutdown_grace.as_secs()),
        graceful_shutdown_timeout_seconds: Some(cfg.shutdown_grace.as_secs().max(1)),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let name = match cfg.role {
        Role::Edge => "ferrodfs-lb edge",
        Role::Front => "ferrodfs-lb front",
    };
    let listener = ListenerConfig::tcp(cfg.listen.to_string())
        .l4_buffer(L4BufferSettings::default().write(WRITE_BUFFER));
    let lb = || Lb {
        shared: shared.clone(),
    };
    if cfg.role == Role::Edge && cache.is_some() {
        // Hits held in memory are answered before pingora's session.
        let proxy = pingora_proxy::http_proxy(&server.configuration, lb());
        let mut service = Service::new(name.to_string(), EdgeApp::new(proxy, lb()));
        service.add_listener(listener);
        server.add_service(service);
    } else {
        let mut proxy =
            pingora_proxy::http_proxy_service_with_name(&server.configuration, lb(), name);
        proxy.add_listener(listener);
        server.add_service(proxy);
    }
    let shared_for_drain = shared.clone();
    server.add_service(background_service("ferrodfs-lb upkeep", Upkeep { shared }));
    tracing::info!(role = ?cfg.role, listen = %cfg.listen, "ferrodfs lb starting");
    server.run(RunArgs {
        shutdown_signal: Box::new(Drain {
            signal: stop,
            shared: shared_for_drain,
        }),
    });
    tracing::info!("ferrodfs lb stopped");
    Ok(())
}

/// SIGTERM with `shutdown_drain`: `/readyz` turns 503 at once while
/// requests are served as before; only after the drain does pingora's
/// graceful shutdown (listener closed, `shutdown_grace` for in-flight
/// requests) begin. SIGINT and SIGQUIT pass straight through.
struct Drain {
    signal: Box<dyn ShutdownSignalWatch + Send + Sync>,
    shared: Arc<Shared>,
}

#[async_trait]
impl ShutdownSignalWatch for Drain {
    async fn recv(&self) -> ShutdownSignal {
        let signal = self.signal.recv().await;
        let live = self.shared.live();
        let drain = live.cfg.shutdown_drain;
        if matches!(signal, ShutdownSignal::GracefulTerminate) && !drain.is_zero() {
            self.shared.start_draining();
            tracing::info!("SIGTERM: not ready; serving {drain:?} more (shutdown_drain) before closing the listener");
            if live.cfg.shutdown_drop_syn {
                let listen = live.cfg.listen;
                match tokio::task::spawn_blocking(move || syn_drop::drop_new_connections(listen))
                    .await
                {
                    Ok(Ok(0)) => tracing::warn!(
                        %listen,
                        "shutdown_drop_syn: no listening socket found; new connections are still accepted"
                    ),
                    Ok(Ok(n)) => tracing::info!(
                        listeners = n,
                        "shutdown_drop_syn: new connections get no answer; open ones are served"
                    ),
                    Ok(Err(e)) => {
                        tracing::warn!("shutdown_drop_syn: cannot filter the listener: {e}")
                    }
                    Err(e) => tracing::warn!("shutdown_drop_syn: {e}"),
                }
            }
            tokio::time::sleep(drain).await;
        }
        signal
    }
}

/// Fails at start, naming the key, when an address cannot be bound
/// (pingora would otherwise stop with a less specific message).
fn check_bind(key: &str, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|e| anyhow::anyhow!("{key} {addr}: cannot listen: {e}"))
}

struct Upkeep {
    shared: Arc<Shared>,
}

#[async_trait]
impl BackgroundService for Upkeep {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let shared = &self.shared;
        let (trigger, stop) = ferrodfs_runtime::Shutdown::new();
        let live = shared.live();
        if let Some(addr) = live.cfg.metrics_listen {
            let view = shared.clone();
            let endpoints =
                ferrodfs_runtime::metrics::Endpoints::new(shared.metrics.registry.clone())
                    .with_ready(Arc::new(move || crate::ready::is_ready(&view)));
            match ferrodfs_runtime::metrics::serve_endpoints(addr, endpoints, stop.clone()).await {
                Ok(bound) => tracing::info!(%bound, "metrics listening"),
                Err(e) => tracing::error!("{e}"),
            }
        }
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .expect("install SIGHUP handler");
        let mut next_health = tokio::time::Instant::now();
        let mut next_poll = tokio::time::Instant::now();
        let mut next_expire = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let wake = next_health.min(next_poll).min(next_expire);
            tokio::select! {
                _ = shutdown.changed() => if *shutdown.borrow() { break },
                _ = hup.recv() => reload(shared).await,
                _ = tokio::time::sleep_until(wake) => {}
            }
            let now = tokio::time::Instant::now();
            let live = shared.live();
            if now >= next_health {
                for pool in live.pools.values() {
                    pool.health_check().await;
                }
                update_gauges(shared);
                next_health = now + live.cfg.upstream.health_check_interval;
            }
            if now >= next_poll {
                next_poll = now + poll_trackers(shared).await;
            }
            if now >= next_expire {
                if let (Some(disk), Some(c)) = (
                    shared.cache,
                    live.cfg.edge.as_ref().and_then(|e| e.cache.as_ref()),
                ) {
                    disk.expire_inactive(c.inactive.as_secs()).await;
                    next_expire = now
                        + c.inactive
                            .min(Duration::from_secs(60))
                            .max(Duration::from_secs(1));
                } else {
                    next_expire = now + Duration::from_secs(60);
                }
            }
        }
        trigger.trigger();
    }
}

async fn reload(shared: &Shared) {
    match shared.reload().await {
        Ok(ignored) => {
            shared
                .metrics
                .config_reloads
                .with_label_values(&["ok"])
                .inc();
            let live = shared.live();
            tracing::info!(pools = ?live.pools.keys().collect::<Vec<_>>(), "config reloaded (SIGHUP)");
            if !ignored.is_empty() {
                tracing::warn!(keys = ?ignored, "changed keys need a restart; running values kept");
            }
        }
        Err(e) => {
            shared
                .metrics
                .config_reloads
                .with_label_values(&["error"])
                .inc();
            tracing::error!("config reload failed, running config kept: {e:#}");
        }
    }
}

/// One membership poll if the config says trackers; returns the wait until the next.
async fn poll_trackers(shared: &Shared) -> Duration {
    let live = shared.live();
    let Some(Membership::Trackers {
        trackers,
        refresh_interval,
        storage_http_port,
    }) = live.cfg.edge.as_ref().map(|e| &e.membership)
    else {
        return Duration::from_secs(1);
    };
    let fetched = tokio::time::timeout(
        *refresh_interval * 2,
        crate::membership::fetch(trackers, *storage_http_port),
    )
    .await;
    match fetched {
        Ok(Ok(members)) => {
            shared
                .metrics
                .tracker_refreshes
                .with_label_values(&["ok"])
                .inc();
            shared.apply_learned(members).await;
        }
        Ok(Err(e)) => {
            shared
                .metrics
                .tracker_refreshes
                .with_label_values(&["error"])
                .inc();
            tracing::warn!("membership poll failed, keeping the last known groups: {e:#}");
        }
        Err(_) => {
            shared
                .metrics
                .tracker_refreshes
                .with_label_values(&["error"])
                .inc();
            tracing::warn!(trackers = ?trackers, "membership poll timed out, keeping the last known groups");
        }
    }
    *refresh_interval
}

fn update_gauges(shared: &Shared) {
    let m = &shared.metrics;
    if let Some(disk) = shared.cache {
        m.cache_bytes.set(disk.total_size() as i64);
        m.cache_entries.set(disk.entries() as i64);
        m.cache_memory_bytes.set(disk.memory_size() as i64);
        // The counter follows the cache's own tally.
        let errors = disk.stats.errors.load(std::sync::atomic::Ordering::Relaxed);
        m.cache_errors
            .inc_by(errors.saturating_sub(m.cache_errors.get()));
    }
    m.pool_members.reset();
    for (name, pool) in &shared.live().pools {
        let (all, ready) = pool.counts();
        m.pool_members
            .with_label_values(&[name, "member"])
            .set(all as i64);
        m.pool_members
            .with_label_values(&[name, "healthy"])
            .set(ready as i64);
    }
}
