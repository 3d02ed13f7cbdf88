//! `monitor` (and `fdfs_monitor list`): groups and storages as a tracker
//! reports them, in FastDFS 6.16's fdfs_monitor layout line for line
//! (client/fdfs_monitor.c), so scripts that parse it keep working;
//! `--delete-storage` removes a member (fdfs_monitor's `delete`).

use std::fmt::Write;

use ferrodfs_client::{Client, ClientConfig, ClientError, GroupStat, StorageStat};
use ferrodfs_proto::overview::ClusterStatus;

use super::human;
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
    let (tracker, out) = connect(client.config(), None).await?;
    print!("{out}");
    print!("{}", report(&tracker, a.group.as_deref()).await?);
    // Beyond fdfs_monitor's layout (a FastDFS tracker has no such command).
    if let Ok(status) = tracker.cluster_status().await {
        print!("{}", lag_report(&status, a.group.as_deref()));
    }
    Ok(())
}

/// Replication lag per source -> peer pair, as each source last reported
/// it to the tracker.
pub fn lag_report(status: &ClusterStatus, only: Option<&str>) -> String {
    let mut out =
        String::from("\nreplication lag (source -> peer: pending records, bytes, oldest):\n");
    let mut any = false;
    for g in status
        .groups
        .iter()
        .filter(|g| only.is_none_or(|o| o == g.name))
    {
        for m in &g.members {
            for l in &m.lag {
                any = true;
                let oldest = if l.pending_records == 0 {
                    "-".to_string()
                } else {
                    human::seconds(l.age_secs)
                };
                let _ = writeln!(
                    out,
                    "\t{} {}:{} -> {}: {} records, {} bytes, {oldest}{}",
                    g.name,
                    m.ip,
                    m.port,
                    l.peer,
                    l.pending_records,
                    l.pending_bytes,
                    if l.full_copy { " (full copy)" } else { "" }
                );
            }
        }
    }
    if !any {
        out.push_str("\tnone reported\n");
    }
    out
}

/// fdfs_monitor's opening lines and the tracker it will ask: the first
/// of the configured trackers that answers (`only`: that one, by index).
pub async fn connect(cfg: &ClientConfig, only: Option<usize>) -> anyhow::Result<(Client, String)> {
    let mut last = None;
    let candidates: Vec<usize> = match only {
        Some(i) => vec![i],
        None => (0..cfg.trackers.len()).collect(),
    };
    for i in candidates {
        let one = Client::new(ClientConfig {
            trackers: vec![cfg.trackers[i].clone()],
            ..cfg.clone()
        });
        match one.list_groups().await {
            Ok(_) => {
                let addr = tokio::net::lookup_host(cfg.trackers[i].as_str())
                    .await
                    .ok()
                    .and_then(|mut a| a.next())
                    .map_or_else(|| cfg.trackers[i].clone(), |a| a.to_string());
                let head = format!(
                    "tracker server count={}, current server index={i}\n\ntracker server is {addr}\n\n",
                    cfg.trackers.len()
                );
                return Ok((one, head));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .map(anyhow::Error::from)
        .unwrap_or_else(|| anyhow::anyhow!("no tracker_server in the client config")))
}

/// `list [group]`: every group (or the one named, without the group
/// count) with its storages.
pub async fn report(client: &Client, only: Option<&str>) -> Result<String, ClientError> {
    let groups = client.list_groups().await?;
    let mut out = String::new();
    match only {
        None => {
            out.push_str(&format!("group count: {}\n", groups.len()));
            for (i, g) in groups.iter().enumerate() {
                out.push_str(&format!("\nGroup {}:\n", i + 1));
                let storages = client.list_storages(&g.name, None).await?;
                write_group(&mut out, g, &storages);
            }
        }
        Some(name) => {
            if let Some(g) = groups.iter().find(|g| g.name == name) {
                let storages = client.list_storages(&g.name, None).await?;
                write_group(&mut out, g, &storages);
            }
        }
    }
    Ok(out)
}

/// get_storage_status_caption (tracker/tracker_proto.c).
fn status_caption(s: u8) -> &'static str {
    match s {
        0 => "INIT",
        1 => "WAIT_SYNC",
        2 => "SYNCING",
        3 => "IP_CHANGED",
        4 => "DELETED",
        5 => "OFFLINE",
        6 => "ONLINE",
        7 => "ACTIVE",
        9 => "RECOVERY",
        _ => "UNKNOWN",
    }
}

/// One group as fdfs_monitor's list_storages prints it. ferrodfs storages
/// all read and write, and trunk files are off (no trunk lines).
pub fn write_group(out: &mut String, g: &GroupStat, storages: &[StorageStat]) {
    let avail = (g.free_mb - g.reserved_mb).max(0);
    let _ = write!(
        out,
        "group name = {}\n\
         disk total space     = {:>7}\n\
         disk free space      = {:>7}\n\
         disk reserved space  = {:>7}\n\
         disk available space = {:>7}\n\
         storage server count = {}\n\
         readable server count = {}\n\
         writable server count = {}\n\
         storage server port = {}\n\
         store path count = {}\n\
         subdir count per path = {}\n\
         current write server index = {}\n\n",
        g.name,
        human::mb(g.total_mb),
        human::mb(g.free_mb),
        human::mb(g.reserved_mb),
        human::mb(avail),
        g.storage_count,
        g.active_count,
        g.active_count,
        g.storage_port,
        g.store_path_count,
        g.subdir_count_per_path,
        g.current_write_server,
    );
    for (k, s) in storages.iter().enumerate() {
        // Delay behind the latest change any other member made.
        let newest_elsewhere = storages
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, p)| p.stats.last_source_update)
            .max()
            .unwrap_or(0)
            .max(0);
        let delay = if newest_elsewhere == 0 {
            String::new()
        } else if s.stats.last_synced_timestamp == 0 {
            "(never synced)".into()
        } else {
            format!(
                "({} delay)",
                human::seconds(newest_elsewhere - s.stats.last_synced_timestamp)
            )
        };
        write_storage(out, k + 1, s, &delay);
    }
}

fn write_storage(out: &mut String, k: usize, s: &StorageStat, delay: &str) {
    let st = &s.stats;
    let up = if s.up_time != 0 {
        human::datetime(s.up_time)
    } else {
        String::new()
    };
    let avail = (s.free_mb - s.reserved_mb).max(0);
    let _ = write!(
        out,
        "\tStorage {k}:\n\
         \t\tid = {}\n\
         \t\thost = {}:{}  {}\n\
         \t\tread write mode = both (normal)\n\
         \t\tversion = {}\n\
         \t\tjoin time = {}\n\
         \t\tup time = {up}\n\
         \t\tdisk total space     = {:>7}\n\
         \t\tdisk free space      = {:>7}\n\
         \t\tdisk reserved space  = {:>7}\n\
         \t\tdisk available space = {:>7}\n\
         \t\tupload priority = {}\n\
         \t\tstore_path_count = {}\n\
         \t\tsubdir_count_per_path = {}\n\
         \t\tcurrent_write_path = {}\n\
         \t\tsource storage id = {}\n\
         \t\tif_trunk_server = 0\n\
         \t\tconnection.alloc_count = {}\n\
         \t\tconnection.current_count = {}\n\
         \t\tconnection.max_count = {}\n",
        s.id,
        s.ip,
        s.storage_port,
        status_caption(s.status),
        s.version,
        human::datetime(s.join_time),
        human::mb(s.total_mb),
        human::mb(s.free_mb),
        human::mb(s.reserved_mb),
        human::mb(avail),
        s.upload_priority,
        s.store_path_count,
        s.subdir_count_per_path,
        s.current_write_path,
        s.src_id,
        st.connections[0],
        st.connections[1],
        st.connections[2],
    );
    let counters = [
        ("upload_count", st.upload),
        ("append_count", st.append),
        ("modify_count", st.modify),
        ("truncate_count", st.truncate),
        ("set_meta_count", st.set_meta),
        ("delete_count", st.delete),
        ("download_count", st.download),
        ("get_meta_count", st.get_meta),
        ("create_link_count", st.create_link),
        ("delete_link_count", st.delete_link),
        ("upload_bytes", st.upload_bytes),
        ("append_bytes", st.append_bytes),
        ("modify_bytes", st.modify_bytes),
        ("download_bytes", st.download_bytes),
        ("sync_in_bytes", st.sync_in_bytes),
        ("sync_out_bytes", st.sync_out_bytes),
        ("file_open_count", st.file_open),
        ("file_read_count", st.file_read),
        ("file_write_count", st.file_write),
    ];
    for (name, c) in counters {
        // fdfs_monitor misspells this one; scripts grep the misspelling.
        let total = if name == "download_bytes" {
            "stotal"
        } else {
            "total"
        };
        let _ = writeln!(out, "\t\t{total}_{name} = {}", c.total);
        let _ = writeln!(out, "\t\tsuccess_{name} = {}", c.success);
    }
    let _ = write!(
        out,
        "\t\tlast_heart_beat_time = {}\n\
         \t\tlast_source_update = {}\n\
         \t\tlast_sync_update = {}\n\
         \t\tlast_synced_timestamp = {} {delay}\n",
        human::datetime(st.last_heart_beat_time),
        human::datetime(st.last_source_update),
        human::datetime(st.last_sync_update),
        human::datetime(st.last_synced_timestamp),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodfs_proto::stat::{Count, StorageStats};

    fn group() -> GroupStat {
        GroupStat {
            name: "group1".into(),
            total_mb: 1000,
            free_mb: 500,
            reserved_mb: 100,
            storage_count: 2,
            storage_port: 23000,
            active_count: 2,
            store_path_count: 1,
            subdir_count_per_path: 256,
            ..Default::default()
        }
    }

    fn storage(ip: &str, source_update: i64, synced: i64) -> StorageStat {
        StorageStat {
            status: 7,
            id: ip.into(),
            ip: ip.into(),
            version: "0.1.0".into(),
            join_time: 1_700_000_000,
            total_mb: 1000,
            free_mb: 500,
            reserved_mb: 100,
            upload_priority: 10,
            store_path_count: 1,
            subdir_count_per_path: 256,
            storage_port: 23000,
            stats: StorageStats {
                connections: [256, 1, 3],
                upload: Count {
                    total: 5,
                    success: 4,
                },
                download_bytes: Count {
                    total: 9,
                    success: 9,
                },
                last_source_update: source_update,
                last_synced_timestamp: synced,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn lag_prints_one_line_per_source_and_peer() {
        use ferrodfs_proto::cluster::SyncLag;
        use ferrodfs_proto::overview::{GroupView, MemberView};
        let member = |ip: &str, peer: &str, pending| MemberView {
            ip: ip.into(),
            port: 23000,
            lag: vec![SyncLag {
                peer: peer.into(),
                pending_records: pending,
                pending_bytes: pending * 100,
                age_secs: 65,
                full_copy: false,
            }],
            ..Default::default()
        };
        let status = ClusterStatus {
            groups: vec![
                GroupView {
                    name: "group1".into(),
                    members: vec![
                        member("10.0.0.11", "10.0.0.12:23000", 3),
                        member("10.0.0.12", "10.0.0.11:23000", 0),
                    ],
                    ..Default::default()
                },
                GroupView {
                    name: "group2".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let text = lag_report(&status, None);
        assert!(
            text.contains("\tgroup1 10.0.0.11:23000 -> 10.0.0.12:23000: 3 records, 300 bytes, 1 minute 5 seconds\n"),
            "{text}"
        );
        assert!(
            text.contains("\tgroup1 10.0.0.12:23000 -> 10.0.0.11:23000: 0 records, 0 bytes, -\n"),
            "{text}"
        );
        assert!(lag_report(&status, Some("group2")).contains("none reported"));
    }

    #[test]
    fn groups_and_storages_print_in_the_fdfs_monitor_6_16_layout() {
        let mut out = String::new();
        let t0 = 1_700_000_000;
        write_group(
            &mut out,
            &group(),
            &[
                storage("10.0.0.11", t0 + 100, t0 + 35),
                storage("10.0.0.12", 0, 0),
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..14],
            [
                "group name = group1",
                "disk total space     = 1000 MB",
                "disk free space      =  500 MB",
                "disk reserved space  =  100 MB",
                "disk available space =  400 MB",
                "storage server count = 2",
                "readable server count = 2",
                "writable server count = 2",
                "storage server port = 23000",
                "store path count = 1",
                "subdir count per path = 256",
                "current write server index = 0",
                "",
                "\tStorage 1:",
            ]
        );
        for line in [
            "\t\thost = 10.0.0.11:23000  ACTIVE",
            "\t\tread write mode = both (normal)",
            "\t\tup time = ",
            "\t\tdisk available space =  400 MB",
            "\t\tif_trunk_server = 0",
            "\t\tconnection.alloc_count = 256",
            "\t\ttotal_upload_count = 5",
            "\t\tsuccess_upload_count = 4",
            "\t\tstotal_download_bytes = 9",
            "\t\tsuccess_download_bytes = 9",
            "\tStorage 2:",
        ] {
            assert!(lines.contains(&line), "missing {line:?} in\n{out}");
        }
        let synced = human::datetime(t0 + 35);
        // Storage 1 is behind nobody's changes: no delay; storage 2 never
        // synced storage 1's.
        assert!(
            lines.contains(&format!("\t\tlast_synced_timestamp = {synced} ").as_str()),
            "{out}"
        );
        let epoch = human::datetime(0);
        assert!(
            lines.contains(&format!("\t\tlast_synced_timestamp = {epoch} (never synced)").as_str()),
            "{out}"
        );
        let mut lagging = String::new();
        write_group(
            &mut lagging,
            &group(),
            &[
                storage("10.0.0.11", 0, t0 + 35),
                storage("10.0.0.12", t0 + 100, 0),
            ],
        );
        assert!(
            lagging.contains(&format!(
                "last_synced_timestamp = {synced} (1 minute 5 seconds delay)\n"
            )),
            "{lagging}"
        );
        assert_eq!(lines.len(), 13 + 2 * 62, "{out}");
    }
}
