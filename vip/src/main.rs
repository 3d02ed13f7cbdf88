//! Stand-alone `ferrodfs vip`, for this crate's cross-process tests and
//! for LB nodes that want the VIP daemon alone.

use clap::Parser;

#[derive(Parser)]
#[command(name = "ferrodfs-vip", version, about = "VRRPv3 virtual IP daemon")]
struct Cli {
    #[command(flatten)]
    args: ferrodfs_vip::VipArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into journald,
        // `docker logs` or a file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    tokio::runtime::Runtime::new()?.block_on(ferrodfs_vip::run(cli.args))
}
