//! The `ferrodfs` binary: every daemon and client tool behind one command.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferrodfs",
    version,
    about = "FastDFS-compatible distributed file system"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the VRRPv3 daemon that moves the virtual IP between LB nodes.
    Vip(ferrodfs_vip::VipArgs),
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    let rt = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Vip(args) => rt.block_on(ferrodfs_vip::run(args)),
    }
}
