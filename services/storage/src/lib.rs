//! ferrodfs storage: the `fdfs_storaged` of ferrodfs. Serves FastDFS 6.x
//! clients byte for byte (upload, appender and slave files, download,
//! metadata, file info), keeps FastDFS's on-disk layout so a FastDFS store
//! path can be adopted unchanged, writes the binlog replication will
//! replay, and reports to every tracker.
//!
//! Layout: [`config`] (storage.toml), `distribute` (placement decisions),
//! `store` (disk layout, temp files), `binlog`, `cmd/*` (one file per
//! command group), `server` (connections), `tracker` (join/beat), `stats`.

mod binlog;
mod cmd;
mod config;
mod ctx;
mod distribute;
mod server;
mod state;
mod stats;
mod store;
mod tracker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferrodfs_runtime::Shutdown;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{Config, DistributeMode, StorePathPolicy};

use crate::binlog::Binlog;
use crate::ctx::Ctx;
use crate::stats::Stats;
use crate::store::Store;

/// `ferrodfs storage` command line.
#[derive(clap::Args, Debug)]
pub struct StorageArgs {
    /// storage.toml path
    #[arg(long, short)]
    pub config: PathBuf,
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Loads the config, starts, and runs until SIGTERM/SIGINT.
pub async fn run(args: StorageArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&args.config)?;
    let storage = start(cfg, ferrodfs_runtime::shutdown::on_signal()).await?;
    storage.join().await
}

/// A running storage.
pub struct Storage {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Storage {
    /// The bound client port (the real one when the config said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Resolves once shutdown has completed: connections closed, tracker
    /// reporting stopped, binlog and state flushed.
    pub async fn join(self) -> anyhow::Result<()> {
        self.task.await.context("storage task panicked")?
    }
}

/// Prepares the directories, binds the ports and starts serving; returns
/// once the storage accepts connections.
pub async fn start(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Storage> {
    cfg.prepare_dirs()?;
    let up_time = unix_now();
    let persisted = state::load_or_init(&cfg.base_path, up_time)
        .with_context(|| format!("{}: base_path: cannot write state", cfg.file))?;
    let store = Store::open(&cfg, persisted.rotor).context("cannot prepare the store paths")?;
    let binlog = Binlog::open(&cfg.base_path)
        .with_context(|| format!("{}: base_path: cannot open the binlog", cfg.file))?;

    let listener = TcpListener::bind((cfg.bind, cfg.port))
        .await
        .with_context(|| {
            format!(
                "{}: port: cannot listen on {}:{}",
                cfg.file, cfg.bind, cfg.port
            )
        })?;
    let local_addr = listener.local_addr()?;
    let stats = Stats::new();
    stats.refresh_space(&store);
    let metrics_addr = match cfg.metrics_listen {
        Some(addr) => Some(
            ferrodfs_runtime::metrics::serve(addr, stats.registry.clone(), shutdown.clone())
                .await?,
        ),
        None => None,
    };
    let ctx = Arc::new(Ctx {
        port: local_addr.port(),
        store,
        binlog,
        stats,
        join_time: persisted.join_time,
        up_time,
        cfg,
    });
    tracing::info!(
        "storage {} of {} listening on {local_addr} (advertised {}:{}), store paths {:?}{}",
        ctx.cfg.ip,
        ctx.cfg.group_name,
        ctx.cfg.ip,
        ctx.port,
        ctx.cfg.store_paths,
        metrics_addr
            .map(|a| format!(", metrics on {a}"))
            .unwrap_or_default()
    );

    let mut background = tokio::task::JoinSet::new();
    for addr in ctx.cfg.tracker_servers.clone() {
        background.spawn(tracker::report_to(ctx.clone(), addr, shutdown.clone()));
    }
    background.spawn(housekeeping(ctx.clone(), persisted, shutdown.clone()));
    let task = tokio::spawn(async move {
        server::serve(ctx.clone(), listener, shutdown).await;
        while background.join_next().await.is_some() {}
        ctx.binlog.sync().context("cannot flush the binlog")?;
        save_state(&ctx, persisted.join_time)?;
        tracing::info!("storage {}:{} stopped", ctx.cfg.ip, ctx.port);
        Ok(())
    });
    Ok(Storage {
        local_addr,
        metrics_addr,
        task,
    })
}

fn save_state(ctx: &Ctx, join_time: i64) -> anyhow::Result<()> {
    let s = state::PersistedState {
        join_time,
        rotor: ctx.store.rotor(),
    };
    state::save(&ctx.cfg.base_path, &s).context("cannot save the storage state")
}

/// Periodic chores: refresh the free-space gauges and persist the
/// directory cursor when it moved.
async fn housekeeping(ctx: Arc<Ctx>, mut saved: state::PersistedState, mut shutdown: Shutdown) {
    let period = ctx.cfg.heart_beat_interval.min(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(period) => {}
        }
        ctx.stats.refresh_space(&ctx.store);
        let rotor = ctx.store.rotor();
        if rotor != saved.rotor {
            saved.rotor = rotor;
            if let Err(e) = state::save(&ctx.cfg.base_path, &saved) {
                tracing::warn!("cannot save the storage state: {e}");
            }
        }
    }
}
