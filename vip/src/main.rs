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
    let _log = ferrodfs_runtime::logging::init();
    tokio::runtime::Runtime::new()?.block_on(ferrodfs_vip::run(cli.args))
}
