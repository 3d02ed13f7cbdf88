//! VRRPv3 (RFC 5798, IPv4) daemon: keeps one virtual IP on exactly one
//! healthy LB node, interoperable with keepalived in the same virtual router.
//!
//! Pure core: `packet` (wire format), `state` (RFC 5798 §6.4 state machine),
//! `track` debouncing, `arp` frames, `config` validation. Edge: `net`
//! (raw sockets), `netlink` (addresses), `realtime` (scheduling, memory
//! locking), `daemon` (event loop).

pub mod arp;
pub mod config;
pub mod daemon;
pub mod metrics;
pub mod net;
pub mod netlink;
pub mod notify;
pub mod packet;
pub mod realtime;
pub mod state;
pub mod track;

/// Command-line arguments of `ferrodfs vip`.
#[derive(Debug, clap::Args)]
pub struct VipArgs {
    /// Path to the vip TOML config.
    #[arg(short, long)]
    pub config: std::path::PathBuf,
}

/// Runs the daemon until SIGTERM/SIGINT; a master hands over with a
/// priority-0 advertisement before exiting.
pub async fn run(args: VipArgs) -> anyhow::Result<()> {
    let raw: config::RawConfig = ferrodfs_runtime::load_toml(&args.config)?;
    let cfg = raw.validate(&args.config.display().to_string())?;
    daemon::run(cfg, ferrodfs_runtime::shutdown::on_signal()).await
}
