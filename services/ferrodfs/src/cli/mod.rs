//! Client commands and the local cluster; daemons live in their crates.

pub mod bench;
pub mod fdfs;
pub mod files;
pub mod human;
pub mod import_conf;
pub mod info;
pub mod monitor;
pub mod scrub;
pub mod up;
pub mod url;

use std::path::PathBuf;

use ferrodfs_client::{Client, ClientConfig};

/// How a client command finds the trackers.
#[derive(clap::Args, Debug, Clone)]
pub struct Conn {
    /// FastDFS client.conf (`tracker_server = host:port` lines).
    #[arg(short = 'c', long = "conf", env = "FERRODFS_CLIENT_CONF")]
    pub conf: Option<PathBuf>,
    /// Tracker address, repeatable; overrides the config file.
    #[arg(short = 't', long = "tracker")]
    pub trackers: Vec<String>,
    /// The cluster secret, for admin commands (deleting a storage or a
    /// group); overrides `cluster_secret` in the config file.
    #[arg(
        long = "cluster-secret",
        env = "FERRODFS_CLUSTER_SECRET",
        hide_env_values = true
    )]
    pub cluster_secret: Option<String>,
}

impl Conn {
    pub fn client(&self) -> anyhow::Result<Client> {
        let cfg = if !self.trackers.is_empty() {
            let text: String = self
                .trackers
                .iter()
                .map(|t| format!("tracker_server={t}\n"))
                .collect();
            ClientConfig::parse(&text).map_err(|e| anyhow::anyhow!("--tracker: {e}"))?
        } else {
            let path = match &self.conf {
                Some(p) => p.clone(),
                None => {
                    let default = PathBuf::from("/etc/fdfs/client.conf");
                    if !default.exists() {
                        anyhow::bail!(
                            "no trackers: pass --conf client.conf or --tracker host:port \
                             (`ferrodfs up` writes a client.conf)"
                        );
                    }
                    default
                }
            };
            ClientConfig::load(&path).map_err(anyhow::Error::msg)?
        };
        let mut cfg = cfg;
        if let Some(s) = &self.cluster_secret {
            let secret = ferrodfs_proto::auth::Secret::new(s)
                .map_err(|e| anyhow::anyhow!("--cluster-secret: {e}"))?;
            cfg.cluster_secret = Some(secret);
        }
        Ok(Client::new(cfg))
    }
}

pub fn client_from_conf(path: &str) -> anyhow::Result<Client> {
    let cfg = ClientConfig::load(std::path::Path::new(path)).map_err(anyhow::Error::msg)?;
    Ok(Client::new(cfg))
}

/// Parses "4K", "64KiB", "1M", "1048576".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches("iB").trim_end_matches('B');
    ferrodfs_runtime::config::parse_size(t).map_err(|e| e.to_string())
}
