//! ferrodfs tracker: the FastDFS tracker (port 22122) that FastDFS 6.x
//! clients talk to unmodified. Storages join and beat with JSON reports;
//! clients ask where to upload (placement), where to download (routing by
//! the source and create time in the file name) and for cluster stats.
//!
//! Layout: `config` (tracker.toml), `cluster` (membership state machine),
//! `placement` and `download` (pure policies), `commands` (one file per
//! command group), `server` (sockets and timers), `metrics`, `history`
//! and `status` (the status page).

pub mod cluster;
pub mod commands;
pub mod config;
pub mod download;
pub mod history;
pub mod initial_copy;
pub mod leader;
pub mod metrics;
pub mod placement;
mod server;
pub mod status;
pub mod warm_up;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use ferrodfs_runtime::Shutdown;
use tokio::task::JoinHandle;

pub use config::{Config, DownloadServer, StoreLookup, StorePath, StoreServer};

use crate::cluster::Cluster;
use crate::metrics::Metrics;
use crate::server::Shared;

/// `ferrodfs tracker` command line.
#[derive(clap::Args, Debug)]
pub struct TrackerArgs {
    /// tracker.toml path
    #[arg(long, short)]
    pub config: std::path::PathBuf,
}

/// Loads and checks the config, serves until SIGTERM/SIGINT, then shuts
/// down cleanly.
pub async fn run(args: TrackerArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&args.config)?;
    let tracker = start(cfg, ferrodfs_runtime::shutdown::on_signal()).await?;
    tracing::info!(addr = %tracker.local_addr(), "tracker listening");
    tracker.join().await
}

/// A running tracker; it stops when its `Shutdown` fires.
pub struct Tracker {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    ready: Arc<Shared>,
}

impl Tracker {
    /// The bound FastDFS address (the real port when `port = 0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Whether this tracker's view can be trusted: every live storage has
    /// had time to report since the start (see [`warm_up`]). Until then
    /// it answers EAGAIN where it would say "no such group".
    pub fn is_ready(&self) -> bool {
        self.ready.is_ready()
    }

    /// Waits until shutdown has closed the listener and every connection.
    pub async fn join(self) -> anyhow::Result<()> {
        for t in self.tasks {
            t.await.context("tracker task failed")?;
        }
        Ok(())
    }
}

/// Binds the listener (and the metrics endpoint when configured) and
/// starts serving; errors name the config key at fault.
pub async fn start(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Tracker> {
    if let Some(base) = &cfg.base_path {
        std::fs::create_dir_all(base)
            .with_context(|| format!("base_path {}: cannot create", base.display()))?;
    }
    let addr = SocketAddr::new(cfg.bind, cfg.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind/port {addr}: cannot listen"))?;
    let local_addr = listener.local_addr()?;
    let metrics = Metrics::default();
    let metrics_listen = cfg.metrics_listen;
    // A tracker bound to one address knows it; one bound to all learns
    // it from the first storage that reaches it.
    let me = (!cfg.bind.is_unspecified()).then_some(local_addr);
    let mut cluster = Cluster::with_storage_ids(cfg.storage_ids.clone(), cfg.id_in_filename);
    cluster.warm_up = warm_up::WarmUp::starting(std::time::Instant::now(), cfg.warm_up_interval);
    let shared = Arc::new(Shared {
        cfg,
        cluster: Mutex::new(cluster),
        metrics,
        peers: Mutex::new(leader::Peers::new(me)),
        history: Mutex::new(history::History::default()),
    });
    let metrics_addr = match metrics_listen {
        Some(m) => Some({
            let mut endpoints =
                ferrodfs_runtime::metrics::Endpoints::new(shared.metrics.registry.clone());
            endpoints.pages = Some(server::status_pages(&shared));
            // `/readyz`: 503 while warming up (see `warm_up`).
            let s = shared.clone();
            endpoints.ready = Some(Arc::new(move || s.is_ready()));
            ferrodfs_runtime::metrics::serve_endpoints(m, endpoints, shutdown.clone()).await?
        }),
        None => None,
    };
    let ready = shared.clone();
    let tasks = vec![
        tokio::spawn(server::accept_loop(
            listener,
            shared.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(server::expiry_loop(shared.clone(), shutdown.clone())),
        tokio::spawn(server::peer_loop(shared, shutdown)),
    ];
    Ok(Tracker {
        local_addr,
        metrics_addr,
        tasks,
        ready,
    })
}
