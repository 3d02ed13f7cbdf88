//! VRRPv3 (RFC 5798) daemon: keeps one virtual IP on exactly one healthy LB node.

/// Command-line arguments of `ferrodfs vip`.
#[derive(Debug, clap::Args)]
pub struct VipArgs {
    /// Path to the vip TOML config.
    #[arg(short, long)]
    pub config: std::path::PathBuf,
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(args: VipArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "vip: {} not loaded: daemon not built yet",
        args.config.display()
    )
}
