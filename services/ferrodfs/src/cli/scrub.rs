//! `ferrodfs scrub`: a scrub pass now on chosen storages (or every member
//! of a group), printing what each found and repaired.

use std::time::Duration;

use clap::Args;
use ferrodfs_proto::cluster::ScrubReport;

use super::Conn;

#[derive(Args, Debug)]
pub struct ScrubArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Storage to scrub (`ip:port`), repeatable.
    #[arg(short, long = "storage", value_name = "IP:PORT")]
    pub storages: Vec<String>,
    /// Scrub every member of this group, as the trackers list it.
    #[arg(short, long)]
    pub group: Option<String>,
    /// Longest wait for one storage's pass, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
}

/// One storage's report as a line of text.
pub fn describe(addr: &str, r: &ScrubReport) -> String {
    let mut line = format!(
        "{addr}: {} copies checked ({} bytes read), {} missing, {} corrupt, {} repaired",
        r.checked, r.bytes, r.missing, r.corrupt, r.repaired
    );
    if r.unrepaired_count > 0 {
        line.push_str(&format!(
            ", {} with no good copy in the group: {}",
            r.unrepaired_count,
            r.unrepaired.join(" ")
        ));
    }
    line
}

pub async fn run(a: ScrubArgs) -> anyhow::Result<()> {
    let client = a.conn.client()?;
    let mut targets = a.storages.clone();
    if let Some(group) = &a.group {
        for s in client.list_storages(group, None).await? {
            targets.push(format!("{}:{}", s.ip, s.storage_port));
        }
    }
    anyhow::ensure!(
        !targets.is_empty(),
        "name the storages to scrub: --storage ip:port or --group name"
    );
    let mut unrepaired = 0;
    for addr in &targets {
        let r = client
            .scrub(addr, Duration::from_secs(a.timeout))
            .await
            .map_err(|e| anyhow::anyhow!("{addr}: {e}"))?;
        unrepaired += r.unrepaired_count;
        println!("{}", describe(addr, &r));
    }
    anyhow::ensure!(
        unrepaired == 0,
        "{unrepaired} file(s) have no good copy left in the group"
    );
    Ok(())
}
