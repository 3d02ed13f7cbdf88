//! The lb as a standalone process (`cargo run --release -p ferrodfs-lb
//! --example lb -- --config edge.toml`), for benchmarks and signal drills;
//! in a deployment it runs as `ferrodfs lb`.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    lb: ferrodfs_lb::LbArgs,
}

fn main() -> anyhow::Result<()> {
    ferrodfs_lb::run(Cli::parse().lb)
}
