//! Client settings, read from FastDFS's `client.conf` so existing
//! deployments need no new file: `tracker_server = host:port` lines plus
//! the two timeouts. Every other FastDFS key is accepted and ignored.
//! ferrodfs adds one: `cluster_secret`, which admin commands (delete a
//! storage or a group) need, as trackers hold them to the same secret as
//! their storages.

use std::path::Path;

use ferrodfs_proto::auth::Secret;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// `host:port` of every tracker, in the order they are tried.
    pub trackers: Vec<String>,
    pub connect_timeout: Duration,
    pub network_timeout: Duration,
    /// The cluster's secret, for admin commands only.
    pub cluster_secret: Option<Secret>,
    /// How long a call keeps asking while every tracker answers EAGAIN
    /// (ferrodfs trackers warming up after a start); zero: give up at
    /// once with that status.
    pub warm_up_wait: Duration,
}

impl ClientConfig {
    pub fn new(trackers: Vec<String>) -> Self {
        ClientConfig {
            trackers,
            connect_timeout: Duration::from_secs(5),
            network_timeout: Duration::from_secs(30),
            cluster_secret: None,
            warm_up_wait: Duration::from_secs(30),
        }
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read client config: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses `key = value` lines; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut cfg = ClientConfig::new(Vec::new());
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!(
                    "line {}: expected key = value, got {line:?}",
                    n + 1
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "tracker_server" => {
                    check_addr(value)
                        .map_err(|e| format!("line {}: tracker_server: {e}", n + 1))?;
                    cfg.trackers.push(value.to_string());
                }
                "connect_timeout" => cfg.connect_timeout = secs(key, value, n)?,
                "network_timeout" => cfg.network_timeout = secs(key, value, n)?,
                "cluster_secret" => {
                    cfg.cluster_secret = Some(
                        Secret::new(value)
                            .map_err(|e| format!("line {}: cluster_secret: {e}", n + 1))?,
                    )
                }
                _ => {}
            }
        }
        if cfg.trackers.is_empty() {
            return Err(
                "tracker_server: no tracker_server line (expected tracker_server = host:port)"
                    .into(),
            );
        }
        Ok(cfg)
    }
}

fn secs(key: &str, value: &str, line: usize) -> Result<Duration, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            format!(
                "line {}: {key}: {value:?} is not a positive number of seconds",
                line + 1
            )
        })
}

fn check_addr(a: &str) -> Result<(), String> {
    let (host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| format!("{a:?} has no port (expected host:port)"))?;
    if host.is_empty() {
        return Err(format!("{a:?} has no host"));
    }
    port.parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .map(|_| ())
        .ok_or_else(|| format!("{a:?}: port {port:?} is not a number in 1..65535"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fastdfs_client_conf() {
        let text = "# FastDFS client\nconnect_timeout=2\nnetwork_timeout = 60\nbase_path=/tmp\n\
                    tracker_server=10.0.0.1:22122\ntracker_server = 10.0.0.2:22122\nhttp.tracker_server_port=80\n";
        let c = ClientConfig::parse(text).unwrap();
        assert_eq!(c.trackers, vec!["10.0.0.1:22122", "10.0.0.2:22122"]);
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.network_timeout, Duration::from_secs(60));
    }

    #[test]
    fn a_config_without_trackers_names_the_key() {
        let e = ClientConfig::parse("base_path=/tmp\n").unwrap_err();
        assert!(e.contains("tracker_server"), "{e}");
    }

    #[test]
    fn a_tracker_without_port_is_rejected_with_its_line() {
        let e = ClientConfig::parse("tracker_server=10.0.0.1\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("port"), "{e}");
    }

    #[test]
    fn a_bad_timeout_names_the_key() {
        let e = ClientConfig::parse("tracker_server=a:1\nnetwork_timeout=soon\n").unwrap_err();
        assert!(e.contains("network_timeout"), "{e}");
    }
}
