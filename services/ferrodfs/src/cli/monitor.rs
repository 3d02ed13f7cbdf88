//! `monitor`: groups and storages as a tracker reports them, in the
//! layout of fdfs_monitor, with each member's state and sync progress;
//! `--delete-storage` removes a member (fdfs_monitor's `delete`).

use std::fmt::Write;

use ferrodfs_client::{Client, GroupStat, StorageStat};
use ferrodfs_proto::cluster::state;

use super::Conn;

#[derive(clap::Args, Debug)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Only this group.
    #[arg(short, long)]
    pub group: Option<String>,
    /// Remove this storage (IP) from --group on every tracker; it must not
    /// be ACTIVE (stop it first).
    #[arg(long, value_name = "IP", requires = "group")]
    pub delete_storage: Option<String>,
}

pub async fn run(a: MonitorArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    if let (Some(ip), Some(group)) = (&a.delete_storage, &a.group) {
        let mut failed = false;
        for (tracker, r) in client.delete_storage(group, ip).await {
            match r {
                Ok(()) => println!("tracker {tracker}: {ip} removed from {group}"),
                Err(e) => {
                    failed = true;
                    println!("tracker {tracker}: {e}");
                }
            }
        }
        anyhow::ensure!(
            !failed,
            "not every tracker removed {ip} (EBUSY: it is still ACTIVE, stop it first)"
        );
        return Ok(());
    }
    print!("{}", report(&client, a.group.as_deref()).await?);
    Ok(())
}

pub async fn report(client: &Client, only: Option<&str>) -> anyhow::Result<String> {
    let mut groups = client.list_groups().await?;
    if let Some(g) = only {
        groups.retain(|x| x.name == g);
        if groups.is_empty() {
            anyhow::bail!("group {g:?} is unknown to the tracker");
        }
    }
    let mut out = String::new();
    writeln!(
        out,
        "tracker server count: {}",
        client.config().trackers.len()
    )?;
    writeln!(out, "group count: {}", groups.len())?;
    for (i, g) in groups.iter().enumerate() {
        let storages = client.list_storages(&g.name, None).await?;
        write_group(&mut out, i + 1, g, &storages)?;
    }
    Ok(out)
}

fn write_group(
    out: &mut String,
    n: usize,
    g: &GroupStat,
    storages: &[StorageStat],
) -> std::fmt::Result {
    writeln!(out, "\nGroup {n}:")?;
    writeln!(out, "group name = {}", g.name)?;
    writeln!(out, "disk total space = {} MB", g.total_mb)?;
    writeln!(out, "disk free space = {} MB", g.free_mb)?;
    writeln!(out, "storage server count = {}", g.storage_count)?;
    writeln!(out, "active server count = {}", g.active_count)?;
    writeln!(out, "storage server port = {}", g.storage_port)?;
    writeln!(out, "store path count = {}", g.store_path_count)?;
    writeln!(out, "subdir count per path = {}", g.subdir_count_per_path)?;
    writeln!(
        out,
        "current write server index = {}",
        g.current_write_server
    )?;
    for (j, s) in storages.iter().enumerate() {
        writeln!(out, "\n\tStorage {}:", j + 1)?;
        writeln!(out, "\t\tid = {}", s.id)?;
        writeln!(out, "\t\tip_addr = {}  {}", s.ip, state::name(s.status))?;
        if !s.src_id.is_empty() {
            writeln!(out, "\t\tsync src storage = {}", s.src_id)?;
        }
        writeln!(out, "\t\tversion = {}", s.version)?;
        writeln!(out, "\t\tjoin time = {}", fmt_time(s.join_time))?;
        writeln!(out, "\t\tup time = {}", fmt_time(s.up_time))?;
        writeln!(out, "\t\ttotal storage = {} MB", s.total_mb)?;
        writeln!(out, "\t\tfree storage = {} MB", s.free_mb)?;
        writeln!(out, "\t\tstore_path_count = {}", s.store_path_count)?;
        writeln!(out, "\t\tstorage_port = {}", s.storage_port)?;
        writeln!(out, "\t\tstorage_http_port = {}", s.storage_http_port)?;
        writeln!(out, "\t\tcurrent_write_path = {}", s.current_write_path)?;
        let st = &s.stats;
        writeln!(out, "\t\ttotal_upload_count = {}", st.upload.total)?;
        writeln!(out, "\t\tsuccess_upload_count = {}", st.upload.success)?;
        writeln!(out, "\t\ttotal_download_count = {}", st.download.total)?;
        writeln!(out, "\t\tsuccess_download_count = {}", st.download.success)?;
        writeln!(out, "\t\ttotal_delete_count = {}", st.delete.total)?;
        writeln!(out, "\t\tsuccess_delete_count = {}", st.delete.success)?;
        writeln!(out, "\t\ttotal_upload_bytes = {}", st.upload_bytes.total)?;
        writeln!(
            out,
            "\t\ttotal_download_bytes = {}",
            st.download_bytes.total
        )?;
        writeln!(
            out,
            "\t\tlast_heart_beat_time = {}",
            fmt_time(st.last_heart_beat_time)
        )?;
        writeln!(
            out,
            "\t\tlast_synced_timestamp = {}{}",
            fmt_time(st.last_synced_timestamp),
            sync_delay(st.last_synced_timestamp, storages.len())
        )?;
    }
    Ok(())
}

/// fdfs_monitor's "(Ns delay)" after the synced timestamp; nothing for a
/// storage alone in its group.
fn sync_delay(synced: i64, members: usize) -> String {
    if members < 2 {
        return String::new();
    }
    if synced <= 0 {
        return " (never synced)".into();
    }
    let now = chrono::Utc::now().timestamp();
    format!(" ({}s delay)", (now - synced).max(0))
}

fn fmt_time(t: i64) -> String {
    if t <= 0 {
        return "-".into();
    }
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| {
            d.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| t.to_string())
}
