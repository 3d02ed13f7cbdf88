//! `ferrodfs lb`: the HTTP load balancer of a ferrodfs deployment, on pingora.
//!
//! One binary, two roles chosen by config: the **edge** tier (tracker nodes,
//! `:8000`) sends `/groupN/Mxx/...` to the storages of group N, learned from
//! the trackers or listed statically, with retries, health checks, a disk
//! cache and `/purge/...`; the **front** tier (LB nodes, `:88`) strips `/dfs`
//! and spreads requests over the edge nodes by weight; with `[front.upload]`
//! it also stores files `POST`ed to it in the cluster.
//!
//! Configuration, every key with its default: `examples/edge.toml` and
//! `examples/front.toml` (a unit test keeps them valid).

pub mod cache;
pub mod classify;
pub mod config;
mod hit;
pub mod membership;
pub mod metrics;
pub mod passive;
pub mod proxy;
pub mod ready;
pub mod route;
pub mod server;
pub mod state;
mod syn_drop;
pub mod upload;
pub mod upstream;

use std::path::PathBuf;

pub use server::serve;

/// `ferrodfs lb --config edge.toml`
#[derive(clap::Args, Debug)]
pub struct LbArgs {
    /// The lb config (TOML): `role = "edge"` or `role = "front"`.
    #[arg(long, short)]
    pub config: PathBuf,
}

/// Runs the lb until SIGTERM (graceful: not ready for `shutdown_drain`,
/// then in-flight requests finish within `shutdown_grace`) or SIGINT (fast). SIGHUP reloads the config.
///
/// Must be called **outside** any tokio runtime: pingora builds and owns
/// its runtimes. Logs with `tracing` (a subscriber is installed unless the
/// caller already set one; `RUST_LOG` filters, default `info`).
pub fn run(args: LbArgs) -> anyhow::Result<()> {
    let _log = ferrodfs_runtime::logging::init();
    serve(
        &args.config,
        Box::new(pingora_core::server::UnixShutdownSignalWatch),
    )
}
