//! ferrodfs storage: the `fdfs_storaged` of ferrodfs. Serves FastDFS 6.x
//! clients byte for byte (upload, appender and slave files, download,
//! metadata, file info), keeps FastDFS's on-disk layout so a FastDFS store
//! path can be adopted unchanged, writes the binlog replication will
//! replay, and reports to every tracker.
//!
//! Layout, in layers: every module imports only from the layers below
//! it (`tests/module_layering.rs` checks that no import circle forms).
//! - Bottom: `config` (storage.toml, with its `[http]` table), `binlog`,
//!   `clock`, `distribute` (placement decisions), `hold` (holding files of
//!   changes in progress, settled at start after a crash), `store` (disk
//!   layout, temp files), `stats`, `error` (what a request fails with and
//!   the status byte the client sees), `replication` (sync state: marks,
//!   lag, synced timestamps), `scrub` (the copy check), `listen` (the
//!   accept loop), `request` (one request on a client connection).
//! - `ctx`: what every connection and background task shares.
//! - Above it: `cmd/*` (client commands, one file per group), `sync` (peer
//!   sync: push workers and the handler of incoming pushes), `repair`
//!   (scrub passes), `tracker` (join/beat; with `tracker_protocol =
//!   "fastdfs"`, `tracker_fastdfs`), [`http`] (HTTP file access, what
//!   nginx with fastdfs-nginx-module did).
//! - Top: `server` (the client port; routes sync commands to `sync`, the
//!   rest to `cmd`) and this file, which starts everything.

#[cfg(test)]
mod arb;
mod binlog;
mod clock;
mod cmd;
mod config;
mod ctx;
mod distribute;
mod error;
mod fastdfs_files;
mod file_locks;
mod hold;
pub mod http;
mod listen;
mod path_writer;
mod recycle;
mod repair;
mod replication;
mod request;
mod scrub;
mod server;
mod state;
mod stats;
mod store;
mod sync;
mod tracker;
mod tracker_fastdfs;
mod zerocopy;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferrodfs_proto::stat::StorageStats;
use ferrodfs_runtime::metrics::{serve_endpoints, Endpoints};
use ferrodfs_runtime::Shutdown;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{Config, DistributeMode, StorePathPolicy, TrackerProtocol};
pub use recycle::is_kept_inode;

use crate::binlog::Binlog;
use crate::ctx::Ctx;
use crate::distribute::Rotor;
use crate::stats::Stats;
use crate::store::Store;

/// `ferrodfs storage` command line.
#[derive(clap::Args, Debug)]
pub struct StorageArgs {
    /// storage.toml path
    #[arg(long, short)]
    pub config: PathBuf,
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
    http_addr: Option<SocketAddr>,
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

    /// The bound HTTP file access port; `None` with `[http] enabled = false`.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
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
    let up_time = clock::unix_now();
    // Directories, state, counters, store paths, binlog and synced
    // timestamps: disk work, done on the blocking pool before serving.
    let (cfg, refill, persisted, store, binlog, counters, repl) =
        tokio::task::spawn_blocking(move || {
            // A store path without its data directory is new or was wiped (a
            // replaced disk): a scrub pass refills it from the group at once.
            let refill = cfg.store_paths.iter().any(|p| !p.join("data").exists());
            cfg.prepare_dirs()?;
            let persisted = state::load_or_init(&cfg.base_path, up_time)
                .with_context(|| format!("{}: base_path: cannot write state", cfg.file))?;
            let counters = fastdfs_files::load_stat(&cfg.base_path).with_context(|| {
                format!("{}: base_path: cannot read storage_stat.dat", cfg.file)
            })?;
            let store =
                Store::open(&cfg, persisted.rotor).context("cannot prepare the store paths")?;
            let fsync = match cfg.binlog_fsync_interval {
                None => binlog::FsyncPolicy::EveryRecord,
                Some(_) => binlog::FsyncPolicy::Periodic,
            };
            let binlog = Binlog::open(&cfg.base_path, cfg.binlog_rotate_size, fsync)
                .with_context(|| format!("{}: base_path: cannot open the binlog", cfg.file))?;
            // Reads the synced timestamps' file.
            let repl =
                replication::Replication::open(binlog.dir().to_path_buf(), persisted.init.clone());
            anyhow::Ok((
                cfg,
                refill,
                persisted,
                Arc::new(store),
                binlog,
                counters,
                repl,
            ))
        })
        .await
        .context("start-up preparation panicked")??;
    let mut cfg = cfg;

    let listener = TcpListener::bind((cfg.bind, cfg.port))
        .await
        .with_context(|| {
            format!(
                "{}: port: cannot listen on {}:{}",
                cfg.file, cfg.bind, cfg.port
            )
        })?;
    let local_addr = listener.local_addr()?;
    let http_listeners = http::bind(&cfg)?;
    let http_addr = http_listeners.first().map(|l| l.local_addr()).transpose()?;
    if let Some(a) = http_addr {
        // Trackers (and so the other members) must learn the real port.
        cfg.http_port = a.port();
    }
    let stats = Stats::new();
    if let Some(f) = counters {
        stats.restore(&f.stats);
    }
    stats.refresh_space(&store);
    let scrub = scrub::Scrubber::new(&stats.registry);
    let writers =
        path_writer::PathWriters::start(store.clone(), binlog.appender(), cfg.store_paths.len())
            .context("cannot start the store path writers")?;
    let ctx = Arc::new(Ctx {
        scrub,
        writers,
        port: local_addr.port(),
        store,
        binlog,
        stats,
        join_time: persisted.join_time,
        up_time,
        cfg,
        members: Default::default(),
        repl,
        sync_sessions: Default::default(),
    });
    let metrics_addr = match ctx.cfg.metrics_listen {
        Some(addr) => {
            let ready = ctx.clone();
            let endpoints = Endpoints::new(ctx.stats.registry.clone())
                .with_ready(Arc::new(move || ready.stats.has_joined()));
            Some(serve_endpoints(addr, endpoints, shutdown.clone()).await?)
        }
        None => None,
    };
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

    let resolved = {
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || hold::recover(&ctx.cfg.store_paths, &ctx.binlog))
            .await
            .context("start-up recovery panicked")?
            .context("cannot resolve the changes a crash left unfinished")?
    };
    if resolved != hold::Resolved::default() {
        tracing::warn!(
            "changes left unfinished by a crash: {} put back, {} finished, {} cut back, {} re-announced to the group, {} unlogged uploads removed",
            resolved.restored,
            resolved.finished,
            resolved.cut_back,
            resolved.announced,
            resolved.unlogged
        );
    }

    let mut background = tokio::task::JoinSet::new();
    let fastdfs_trackers = Arc::new(tracker_fastdfs::Shared::default());
    // The push workers, started and stopped as the trackers list members.
    let peers = Arc::new(sync::Peers::default());
    for addr in ctx.cfg.tracker_servers.clone() {
        match ctx.cfg.tracker_protocol {
            TrackerProtocol::Ferrodfs => background.spawn(tracker::report_to(
                ctx.clone(),
                peers.clone(),
                addr,
                shutdown.clone(),
            )),
            TrackerProtocol::Fastdfs => background.spawn(tracker_fastdfs::report_to(
                ctx.clone(),
                fastdfs_trackers.clone(),
                peers.clone(),
                addr,
                shutdown.clone(),
            )),
        };
    }
    background.spawn(housekeeping(ctx.clone(), persisted, shutdown.clone()));
    background.spawn(repair::background(ctx.clone(), refill, shutdown.clone()));
    background.spawn(sync::lag::run(ctx.clone(), shutdown.clone()));
    if let Some(addr) = http_addr {
        let workers = http_listeners.len();
        let serving = http::start(ctx.clone(), http_listeners, shutdown.clone()).await?;
        tracing::info!(
            "storage {}: HTTP file access on {addr} ({workers} worker threads)",
            ctx.cfg.ip
        );
        background.spawn(serving);
    }
    let task = tokio::spawn(async move {
        server::serve(ctx.clone(), listener, shutdown).await;
        while background.join_next().await.is_some() {}
        peers.join().await;
        let flushed = ctx.clone();
        tokio::task::spawn_blocking(move || {
            flushed
                .binlog
                .sync_blocking()
                .context("cannot flush the binlog")?;
            flushed
                .repl
                .save_progress()
                .context("cannot save the synced timestamps")?;
            flushed.save_state_blocking();
            anyhow::Ok(())
        })
        .await
        .context("final flush panicked")??;
        tracing::info!("storage {}:{} stopped", ctx.cfg.ip, ctx.port);
        Ok(())
    });
    Ok(Storage {
        local_addr,
        metrics_addr,
        http_addr,
        task,
    })
}

/// Periodic chores: refresh the free-space gauges, persist the directory
/// cursor when it moved and the synced timestamps, fsync the binlog.
async fn housekeeping(ctx: Arc<Ctx>, mut saved: state::PersistedState, mut shutdown: Shutdown) {
    // Written at the first round, so a FastDFS tool (or a return to
    // FastDFS) finds the file current.
    let mut saved_counters = fastdfs_files::StatFile {
        stats: StorageStats::default(),
        rotor: Rotor::default(),
    };
    let period = ctx
        .cfg
        .heart_beat_interval
        .min(ctx.cfg.binlog_fsync_interval.unwrap_or(Duration::MAX))
        .min(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(period) => {}
        }
        // The chores touch the disk: one trip to the blocking pool.
        let chores = {
            let ctx = ctx.clone();
            let saved = saved.clone();
            let saved_counters = saved_counters.clone();
            tokio::task::spawn_blocking(move || {
                ctx.store.refresh_space();
                ctx.stats.refresh_space(&ctx.store);
                if let Err(e) = ctx.binlog.sync_blocking() {
                    tracing::warn!("cannot fsync the binlog: {e}");
                }
                if let Err(e) = ctx.repl.save_progress() {
                    tracing::warn!("cannot save the synced timestamps: {e}");
                }
                let rotor = ctx.store.rotor();
                if rotor != saved.rotor {
                    ctx.save_state_blocking();
                }
                let counters = fastdfs_files::StatFile {
                    stats: ctx.stats.counters(),
                    rotor,
                };
                if counters != saved_counters {
                    if let Err(e) = fastdfs_files::save_stat(&ctx.cfg.base_path, &counters) {
                        tracing::warn!("cannot save storage_stat.dat: {e}");
                    }
                }
                (rotor, counters)
            })
        };
        if let Ok((rotor, counters)) = chores.await {
            saved.rotor = rotor;
            saved_counters = counters;
        }
    }
}
