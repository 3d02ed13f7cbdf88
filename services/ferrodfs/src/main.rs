//! The `ferrodfs` binary: every daemon and client tool behind one command.
//! Invoked under a FastDFS tool name (`fdfs_upload_file`, ...) it takes
//! that tool's arguments instead, so existing scripts keep working.

mod cli;

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
    /// Run a tracker: storages report to it, clients ask it where to go.
    Tracker(ferrodfs_tracker::TrackerArgs),
    /// Run a storage: holds the files of one group.
    Storage(ferrodfs_storage::StorageArgs),
    /// Run the VRRPv3 daemon that moves the virtual IP between LB nodes.
    Vip(ferrodfs_vip::VipArgs),
    /// Run the HTTP load balancer (edge or front tier, by config).
    Lb(ferrodfs_lb::LbArgs),
    /// Start a local cluster (2 trackers, 2 groups) in the foreground.
    Up(cli::up::UpArgs),
    /// Upload local files (or stdin with `-`); prints one file ID per file.
    Upload(cli::files::UploadArgs),
    /// Download a file by its ID.
    Download(cli::files::DownloadArgs),
    /// Delete files by ID.
    Delete(cli::files::DeleteArgs),
    /// Append a local file to an appender file.
    Append(cli::files::AppendArgs),
    /// Overwrite part of an appender file.
    Modify(cli::files::ModifyArgs),
    /// Truncate an appender file.
    Truncate(cli::files::TruncateArgs),
    /// Turn an appender file into a normal file; prints its new ID.
    Regenerate(cli::files::RegenerateArgs),
    /// Upload a slave file (e.g. a thumbnail) beside a master file.
    UploadSlave(cli::files::SlaveArgs),
    /// Show or change a file's metadata.
    Meta(cli::files::MetaArgs),
    /// Decode a file ID offline (source, time, size, CRC32); `--remote` asks the storage too.
    Info(cli::info::InfoArgs),
    /// Show the cluster as the trackers see it, like fdfs_monitor.
    Monitor(cli::monitor::MonitorArgs),
    /// Check every stored copy now (size, CRC32) and repair bad ones from
    /// the group; needs the cluster secret.
    Scrub(cli::scrub::ScrubArgs),
    /// Load generator speaking the FastDFS protocol to any tracker.
    Bench(cli::bench::BenchArgs),
    /// Print a file's HTTP URL, signed with the anti-steal token given a secret.
    Url(cli::url::UrlArgs),
    /// Turn FastDFS configs (tracker.conf, storage.conf, client.conf,
    /// storage_ids.conf, mod_fastdfs.conf, nginx) into ferrodfs TOML, with a
    /// report on every key.
    ImportConf(cli::import_conf::ImportConfArgs),
    /// Print a new random cluster secret (the `cluster_secret` every
    /// tracker, storage and admin client of one cluster shares).
    Secret,
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let code = match cli::fdfs::tool_name(&argv) {
        Some(tool) => cli::fdfs::main(tool, &argv),
        None => ferrodfs_main(),
    };
    std::process::exit(code);
}

fn ferrodfs_main() -> i32 {
    let cli = Cli::parse();
    let is_daemon = matches!(
        cli.command,
        Command::Tracker(_)
            | Command::Storage(_)
            | Command::Vip(_)
            | Command::Up(_)
            | Command::Lb(_)
    );
    // Held until the daemon returns: dropping it writes the queued lines.
    let _log = if is_daemon {
        ferrodfs_runtime::logging::init()
    } else {
        None
    };
    // pingora builds its own runtimes, so the lb runs outside ours.
    let cli = match cli.command {
        Command::Lb(a) => return exit_code(ferrodfs_lb::run(a)),
        // Reads and writes files only: no runtime needed.
        Command::ImportConf(a) => return exit_code(cli::import_conf::run(a)),
        other => Cli { command: other },
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrodfs: cannot start the runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Tracker(a) => ferrodfs_tracker::run(a).await,
            Command::Storage(a) => ferrodfs_storage::run(a).await,
            Command::Vip(a) => ferrodfs_vip::run(a).await,
            Command::Lb(_) | Command::ImportConf(_) => {
                unreachable!("handled before the runtime starts")
            }
            Command::Up(a) => cli::up::run(a).await,
            Command::Upload(a) => cli::files::upload(a).await,
            Command::Download(a) => cli::files::download(a).await,
            Command::Delete(a) => cli::files::delete(a).await,
            Command::Append(a) => cli::files::append(a).await,
            Command::Modify(a) => cli::files::modify(a).await,
            Command::Truncate(a) => cli::files::truncate(a).await,
            Command::Regenerate(a) => cli::files::regenerate(a).await,
            Command::UploadSlave(a) => cli::files::upload_slave(a).await,
            Command::Meta(a) => cli::files::meta(a).await,
            Command::Info(a) => cli::info::run(a).await,
            Command::Monitor(a) => cli::monitor::run(a).await,
            Command::Scrub(a) => cli::scrub::run(a).await,
            Command::Bench(a) => cli::bench::run(a).await,
            Command::Url(a) => cli::url::run(a),
            Command::Secret => {
                println!("{}", ferrodfs_proto::auth::Secret::generate());
                Ok(())
            }
        }
    });
    exit_code(result)
}

fn exit_code(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ferrodfs: {e:#}");
            1
        }
    }
}
