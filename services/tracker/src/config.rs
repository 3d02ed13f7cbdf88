//! `tracker.toml`: the FastDFS `tracker.conf` keys that change behaviour,
//! checked at start so a typo fails with the key's name instead of
//! silently falling back to a default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferrodfs_proto::auth::Secret;
use ferrodfs_proto::fields::{validate_group, IpWidth};
use ferrodfs_proto::stat::Layout;
use ferrodfs_proto::storage_ids::StorageIds;
use ferrodfs_runtime::config::parse_size;
use ferrodfs_runtime::guard::AllowHosts;
use ferrodfs_runtime::{parse_reserved, ConfigError, Reserved};
use serde::Deserialize;

/// How a group is chosen for an upload that names none (FastDFS `store_lookup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLookup {
    /// 0: rotate over the groups sorted by name.
    RoundRobin,
    /// 1: always this group (`store_group`).
    SpecifiedGroup(String),
    /// 2: the group with the most free space.
    LoadBalance,
}

/// How a storage is chosen inside the group (FastDFS `store_server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreServer {
    RoundRobin,
    FirstByIp,
    /// The lowest `upload_priority` a storage reports.
    ByPriority,
}

/// How the store path index is chosen on the storage (FastDFS `store_path`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorePath {
    RoundRobin,
    /// The path with the most free space.
    LoadBalance,
}

/// Which member serves a download (FastDFS `download_server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadServer {
    RoundRobin,
    SourceFirst,
}

/// A validated tracker configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: IpAddr,
    /// 0 binds a free port (tests).
    pub port: u16,
    pub metrics_listen: Option<SocketAddr>,
    /// Where tracker data lives; created at start when missing.
    pub base_path: Option<PathBuf>,
    pub store_lookup: StoreLookup,
    pub store_server: StoreServer,
    pub store_path: StorePath,
    pub download_server: DownloadServer,
    /// Space every store path must keep free; a storage with no path that
    /// respects it gets no uploads.
    pub reserved_storage_space: Reserved,
    /// A storage silent for this long goes OFFLINE.
    pub check_active_interval: Duration,
    /// After a start, the longest the tracker waits for storages to
    /// report before "no such group" is a true answer (see
    /// [`crate::warm_up`]); zero: no warm-up. Defaults to
    /// `check_active_interval`.
    pub warm_up_interval: Duration,
    /// Files older than this are assumed replicated to every member
    /// (FastDFS `storage_sync_file_max_delay`).
    pub storage_sync_file_max_delay: Duration,
    /// List-groups/list-storages record layout: `Current` is what FastDFS
    /// 6.13.1+ sends (6.16's tools and the Java client >= 1.35 need it),
    /// `Legacy` what py3fdfs, tobato and FastDFS <= 6.12 read.
    pub stat_layout: Layout,
    /// Width of the IP fields in query replies and storage records
    /// (FastDFS `response_ip_addr_size`).
    pub response_ip_addr_size: IpWidth,
    /// Largest request body accepted; storage reports are the biggest.
    pub max_body_size: u64,
    /// Shared by every tracker and storage of the cluster: internal
    /// commands (joins, heartbeats, admin) need it (see
    /// `ferrodfs_proto::auth`). Required by [`Config::parse`].
    pub cluster_secret: Option<Secret>,
    /// Who may connect at all (FastDFS `allow_hosts`).
    pub allow_hosts: AllowHosts,
    /// Connections open at once (FastDFS `max_connections`).
    pub max_connections: usize,
    /// How long a connection that has not authenticated may stay idle
    /// or take to send a request (FastDFS `network_timeout`).
    pub network_timeout: Duration,
    /// With `use_storage_id`: every storage's fixed identity, read from
    /// `storage_ids_filename`. A storage is then known by its id, not its
    /// address, and only the addresses listed may join.
    pub storage_ids: Option<Arc<StorageIds>>,
    /// `id_type_in_filename = "id"`: storages write their id, not their
    /// IP, into new file names, so the files keep their source when the
    /// storage's IP changes.
    pub id_in_filename: bool,
    /// Networks whose FastDFS 6.x storages may join with FastDFS's own
    /// binary join and heartbeats. FastDFS has no secret: these storages
    /// are trusted by address alone. `None` (the default): off.
    pub fastdfs_storages: Option<AllowHosts>,
}

impl Default for Config {
    /// FastDFS's defaults, except `reserved_storage_space` (10%).
    fn default() -> Self {
        Config {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 22122,
            metrics_listen: None,
            base_path: None,
            store_lookup: StoreLookup::RoundRobin,
            store_server: StoreServer::RoundRobin,
            store_path: StorePath::RoundRobin,
            download_server: DownloadServer::RoundRobin,
            reserved_storage_space: Reserved::Percent(10.0),
            check_active_interval: Duration::from_secs(120),
            warm_up_interval: Duration::from_secs(120),
            storage_sync_file_max_delay: Duration::from_secs(86_400),
            stat_layout: Layout::Current,
            response_ip_addr_size: IpWidth::V4,
            max_body_size: 1 << 20,
            cluster_secret: None,
            allow_hosts: AllowHosts::default(),
            max_connections: 1024,
            network_timeout: Duration::from_secs(60),
            storage_ids: None,
            id_in_filename: false,
            fastdfs_storages: None,
        }
    }
}

/// A size given as bytes (`65536`) or with a unit (`"64K"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

/// The file as written; every value is checked in [`Config::parse`].
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    bind: Option<String>,
    port: Option<u16>,
    metrics_listen: Option<String>,
    base_path: Option<PathBuf>,
    store_lookup: Option<String>,
    store_group: Option<String>,
    store_server: Option<String>,
    store_path: Option<String>,
    download_server: Option<String>,
    reserved_storage_space: Option<String>,
    check_active_interval: Option<f64>,
    warm_up_interval: Option<f64>,
    storage_sync_file_max_delay: Option<f64>,
    stat_layout: Option<String>,
    response_ip_addr_size: Option<String>,
    max_body_size: Option<Size>,
    cluster_secret: Option<String>,
    allow_hosts: Option<Vec<String>>,
    max_connections: Option<usize>,
    network_timeout: Option<f64>,
    use_storage_id: Option<bool>,
    storage_ids_filename: Option<PathBuf>,
    id_type_in_filename: Option<String>,
    fastdfs_storages: Option<Vec<String>>,
}

/// Maps a config word to its value, or says which words are allowed.
fn one_of<T: Clone>(
    file: &str,
    key: &str,
    value: Option<&str>,
    choices: &[(&str, T)],
    default: T,
) -> Result<T, ConfigError> {
    let Some(v) = value else {
        return Ok(default);
    };
    choices
        .iter()
        .find(|(name, _)| *name == v)
        .map(|(_, t)| t.clone())
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            ConfigError::new(
                file,
                key,
                format!("{v:?} is not one of {}", names.join(", ")),
            )
        })
}

fn seconds(
    file: &str,
    key: &str,
    v: Option<f64>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(ConfigError::new(
            file,
            key,
            format!("{s} is not a positive number of seconds"),
        )),
    }
}

/// `use_storage_id`, `storage_ids_filename` (relative to the config
/// file's directory, as in FastDFS) and `id_type_in_filename`.
fn storage_ids(file: &str, raw: &Raw) -> Result<(Option<Arc<StorageIds>>, bool), ConfigError> {
    let err = |key: &str, problem: String| ConfigError::new(file, key, problem);
    let id_in_filename = one_of(
        file,
        "id_type_in_filename",
        raw.id_type_in_filename.as_deref(),
        &[("ip", false), ("id", true)],
        true,
    )?;
    if raw.use_storage_id != Some(true) {
        if raw.storage_ids_filename.is_some() || raw.id_type_in_filename.is_some() {
            let key = if raw.storage_ids_filename.is_some() {
                "storage_ids_filename"
            } else {
                "id_type_in_filename"
            };
            return Err(err(key, "is only read with use_storage_id = true".into()));
        }
        return Ok((None, false));
    }
    let name = raw
        .storage_ids_filename
        .clone()
        .unwrap_or_else(|| PathBuf::from("storage_ids.conf"));
    let path = match Path::new(file).parent() {
        Some(dir) if name.is_relative() => dir.join(&name),
        _ => name,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| err("storage_ids_filename", format!("{}: {e}", path.display())))?;
    let ids = StorageIds::parse(&text)
        .map_err(|e| err("storage_ids_filename", format!("{}: {e}", path.display())))?;
    Ok((Some(Arc::new(ids)), id_in_filename))
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let (file, text) = ferrodfs_runtime::config::read_config(path)?;
        Config::parse(&file, &text)
    }

    /// Parses and validates; `file` names the source in error messages.
    pub fn parse(file: &str, text: &str) -> anyhow::Result<Config> {
        let raw: Raw = ferrodfs_runtime::config::parse_toml(file, text)?;
        Ok(Config::validate(file, raw)?)
    }

    fn validate(file: &str, raw: Raw) -> Result<Config, ConfigError> {
        let d = Config::default();
        let (storage_ids, id_in_filename) = storage_ids(file, &raw)?;
        let err = |key: &str, problem: String| ConfigError::new(file, key, problem);
        let bind = match raw.bind {
            None => d.bind,
            Some(b) => b
                .parse()
                .map_err(|_| err("bind", format!("{b:?} is not an IP address")))?,
        };
        let metrics_listen = raw
            .metrics_listen
            .map(|m| {
                m.parse().map_err(|_| {
                    err(
                        "metrics_listen",
                        format!("{m:?} is not an \"ip:port\" address"),
                    )
                })
            })
            .transpose()?;
        let lookup = one_of(
            file,
            "store_lookup",
            raw.store_lookup.as_deref(),
            &[
                ("round_robin", 0),
                ("specified_group", 1),
                ("load_balance", 2),
            ],
            0,
        )?;
        let store_lookup = match (lookup, raw.store_group) {
            (1, None) => {
                return Err(err(
                    "store_group",
                    "is required when store_lookup = \"specified_group\"".into(),
                ))
            }
            (1, Some(g)) => {
                validate_group(&g).map_err(|e| err("store_group", e.to_string()))?;
                StoreLookup::SpecifiedGroup(g)
            }
            (0, _) => StoreLookup::RoundRobin,
            _ => StoreLookup::LoadBalance,
        };
        let store_server = one_of(
            file,
            "store_server",
            raw.store_server.as_deref(),
            &[
                ("round_robin", StoreServer::RoundRobin),
                ("first_by_ip", StoreServer::FirstByIp),
                ("by_priority", StoreServer::ByPriority),
            ],
            d.store_server,
        )?;
        let store_path = one_of(
            file,
            "store_path",
            raw.store_path.as_deref(),
            &[
                ("round_robin", StorePath::RoundRobin),
                ("load_balance", StorePath::LoadBalance),
            ],
            d.store_path,
        )?;
        let download_server = one_of(
            file,
            "download_server",
            raw.download_server.as_deref(),
            &[
                ("round_robin", DownloadServer::RoundRobin),
                ("source_first", DownloadServer::SourceFirst),
            ],
            d.download_server,
        )?;
        let stat_layout = one_of(
            file,
            "stat_layout",
            raw.stat_layout.as_deref(),
            &[("legacy", Layout::Legacy), ("current", Layout::Current)],
            d.stat_layout,
        )?;
        let response_ip_addr_size = match raw.response_ip_addr_size {
            None => d.response_ip_addr_size,
            Some(w) => IpWidth::from_config(&w).ok_or_else(|| {
                err(
                    "response_ip_addr_size",
                    format!("{w:?} is not one of {}", IpWidth::CONFIG_WORDS),
                )
            })?,
        };
        let reserved_storage_space = match raw.reserved_storage_space {
            None => d.reserved_storage_space,
            Some(r) => parse_reserved(&r).map_err(|e| err("reserved_storage_space", e))?,
        };
        let max_body_size = match raw.max_body_size {
            None => d.max_body_size,
            Some(Size::Bytes(n)) => n,
            Some(Size::Text(t)) => parse_size(&t).map_err(|e| err("max_body_size", e))?,
        };
        if max_body_size < 1024 {
            return Err(err(
                "max_body_size",
                format!("{max_body_size} bytes is too small for a storage report (at least 1K)"),
            ));
        }
        let cluster_secret =
            match raw.cluster_secret {
                None => return Err(err(
                    "cluster_secret",
                    "is required: every tracker and storage of a cluster holds the same secret \
                     (`ferrodfs secret` prints a new one)"
                        .into(),
                )),
                Some(s) => Secret::new(&s).map_err(|e| err("cluster_secret", e))?,
            };
        let allow_hosts = AllowHosts::parse(&raw.allow_hosts.unwrap_or_default())
            .map_err(|e| err("allow_hosts", e))?;
        let fastdfs_storages = match raw.fastdfs_storages {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(err(
                    "fastdfs_storages",
                    "is empty: list the networks of the FastDFS storages (\"10.0.0.0/24\"), or remove the key to keep them out".into(),
                ))
            }
            Some(list) => {
                Some(AllowHosts::parse(&list).map_err(|e| err("fastdfs_storages", e))?)
            }
        };
        let max_connections = raw.max_connections.unwrap_or(d.max_connections);
        if max_connections == 0 {
            return Err(err("max_connections", "must be at least 1".into()));
        }
        let check_active_interval = seconds(
            file,
            "check_active_interval",
            raw.check_active_interval,
            d.check_active_interval,
        )?;
        let warm_up_interval = match raw.warm_up_interval {
            None => check_active_interval,
            Some(0.0) => Duration::ZERO,
            v => seconds(file, "warm_up_interval", v, check_active_interval)?,
        };
        Ok(Config {
            fastdfs_storages,
            check_active_interval,
            warm_up_interval,
            storage_ids,
            id_in_filename,
            cluster_secret: Some(cluster_secret),
            allow_hosts,
            max_connections,
            network_timeout: seconds(
                file,
                "network_timeout",
                raw.network_timeout,
                d.network_timeout,
            )?,
            bind,
            port: raw.port.unwrap_or(d.port),
            metrics_listen,
            base_path: raw.base_path,
            store_lookup,
            store_server,
            store_path,
            download_server,
            reserved_storage_space,
            storage_sync_file_max_delay: seconds(
                file,
                "storage_sync_file_max_delay",
                raw.storage_sync_file_max_delay,
                d.storage_sync_file_max_delay,
            )?,
            stat_layout,
            response_ip_addr_size,
            max_body_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "cluster_secret = \"0123456789abcdef\"\n";

    fn parse(text: &str) -> anyhow::Result<Config> {
        Config::parse("tracker.toml", &format!("{SECRET}{text}"))
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn empty_file_gives_fastdfs_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.port, 22122);
        assert_eq!(c.bind, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(c.store_lookup, StoreLookup::RoundRobin);
        assert_eq!(c.reserved_storage_space, Reserved::Percent(10.0));
        assert_eq!(c.check_active_interval, Duration::from_secs(120));
        assert_eq!(c.stat_layout, Layout::Current, "what FastDFS 6.16 sends");
        assert_eq!(c.response_ip_addr_size, IpWidth::V4, "6.16's auto");
        assert!(c.metrics_listen.is_none());
    }

    #[test]
    fn every_key_is_read() {
        let c = parse(
            r#"
            bind = "127.0.0.1"
            port = 0
            metrics_listen = "127.0.0.1:9100"
            base_path = "/tmp/t"
            store_lookup = "specified_group"
            store_group = "group2"
            store_server = "by_priority"
            store_path = "load_balance"
            download_server = "source_first"
            reserved_storage_space = "2G"
            check_active_interval = 2.5
            storage_sync_file_max_delay = 600
            stat_layout = "legacy"
            response_ip_addr_size = "IPv6"
            max_body_size = "64K"
            allow_hosts = ["10.0.0.0/8"]
            max_connections = 10
            network_timeout = 5
            "#,
        )
        .unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(c.store_lookup, StoreLookup::SpecifiedGroup("group2".into()));
        assert_eq!(c.store_server, StoreServer::ByPriority);
        assert_eq!(c.store_path, StorePath::LoadBalance);
        assert_eq!(c.download_server, DownloadServer::SourceFirst);
        assert_eq!(c.reserved_storage_space, Reserved::Bytes(2 << 30));
        assert_eq!(c.check_active_interval, Duration::from_millis(2500));
        assert_eq!(
            c.warm_up_interval, c.check_active_interval,
            "the warm-up defaults to one check_active_interval"
        );
        assert_eq!(c.storage_sync_file_max_delay, Duration::from_secs(600));
        assert_eq!(c.stat_layout, Layout::Legacy);
        assert_eq!(c.response_ip_addr_size, IpWidth::V6);
        assert_eq!(c.max_body_size, 64 << 10);
        assert!(c.allow_hosts.allows("10.1.2.3".parse().unwrap()));
        assert!(!c.allow_hosts.allows("127.0.0.1".parse().unwrap()));
        assert_eq!(c.max_connections, 10);
        assert_eq!(c.network_timeout, Duration::from_secs(5));
    }

    #[test]
    fn the_cluster_secret_is_required_and_long_enough() {
        let e = Config::parse("tracker.toml", "port = 1")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("tracker.toml: cluster_secret: is required"),
            "{e}"
        );
        let e = Config::parse("tracker.toml", "cluster_secret = \"abc\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("tracker.toml: cluster_secret: 3 characters is too short"),
            "{e}"
        );
        assert!(parse("").unwrap().cluster_secret.is_some());
    }

    #[test]
    fn unknown_policy_word_lists_the_choices() {
        assert_eq!(
            error("store_lookup = \"rand\""),
            "tracker.toml: store_lookup: \"rand\" is not one of round_robin, specified_group, load_balance"
        );
        assert!(error("download_server = \"x\"").starts_with("tracker.toml: download_server:"));
        assert!(error("stat_layout = \"v7\"").contains("legacy, current"));
    }

    #[test]
    fn response_ip_addr_size_takes_fastdfs_words() {
        for (word, width) in [
            ("auto", IpWidth::V4),
            ("AUTO", IpWidth::V4),
            ("IPv4", IpWidth::V4),
            ("IPv6", IpWidth::V6),
            ("ipv6", IpWidth::V6),
        ] {
            let c = parse(&format!("response_ip_addr_size = \"{word}\"")).unwrap();
            assert_eq!(c.response_ip_addr_size, width, "{word}");
        }
        assert_eq!(
            error("response_ip_addr_size = \"46\""),
            "tracker.toml: response_ip_addr_size: \"46\" is not one of auto, IPv4, IPv6"
        );
    }

    #[test]
    fn specified_group_requires_a_valid_store_group() {
        assert!(error("store_lookup = \"specified_group\"").contains("store_group: is required"));
        assert!(
            error("store_lookup = \"specified_group\"\nstore_group = \"g/1\"")
                .starts_with("tracker.toml: store_group:")
        );
    }

    #[test]
    fn a_zero_warm_up_interval_turns_the_warm_up_off() {
        assert_eq!(
            parse("warm_up_interval = 0").unwrap().warm_up_interval,
            Duration::ZERO
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        assert!(error("bind = \"localhost:1\"").starts_with("tracker.toml: bind:"));
        assert!(error("metrics_listen = \"9100\"").starts_with("tracker.toml: metrics_listen:"));
        assert!(error("reserved_storage_space = \"150%\"")
            .starts_with("tracker.toml: reserved_storage_space:"));
        assert!(
            error("check_active_interval = 0").starts_with("tracker.toml: check_active_interval:")
        );
        assert!(error("max_body_size = 10").starts_with("tracker.toml: max_body_size:"));
        assert!(error("allow_hosts = [\"x\"]").starts_with("tracker.toml: allow_hosts:"));
        assert!(error("max_connections = 0").starts_with("tracker.toml: max_connections:"));
        assert!(error("network_timeout = -1").starts_with("tracker.toml: network_timeout:"));
        assert!(error("warm_up_interval = -1").starts_with("tracker.toml: warm_up_interval:"));
    }

    #[test]
    fn fastdfs_storages_are_off_unless_their_networks_are_listed() {
        assert!(parse("").unwrap().fastdfs_storages.is_none());
        let a = parse("fastdfs_storages = [\"10.0.0.0/24\"]")
            .unwrap()
            .fastdfs_storages
            .unwrap();
        assert!(a.allows("10.0.0.5".parse().unwrap()));
        assert!(!a.allows("10.0.1.5".parse().unwrap()));
        assert!(
            error("fastdfs_storages = []").starts_with("tracker.toml: fastdfs_storages: is empty")
        );
        assert!(error("fastdfs_storages = [\"x\"]").starts_with("tracker.toml: fastdfs_storages:"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = error("store_lookup = \"round_robin\"\nstore_lokup = 1");
        assert!(e.contains("store_lokup"), "{e}");
    }

    #[test]
    fn storage_ids_are_read_beside_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("storage_ids.conf"),
            "100001 group1 10.0.0.1\n",
        )
        .unwrap();
        let file = dir.path().join("tracker.toml");
        let c = Config::parse(
            file.to_str().unwrap(),
            &format!("{SECRET}use_storage_id = true\n"),
        )
        .unwrap();
        assert_eq!(
            c.storage_ids.unwrap().by_id(100_001).unwrap().group,
            "group1"
        );
        assert!(c.id_in_filename, "FastDFS's sample writes ids into names");
        let c = Config::parse(
            file.to_str().unwrap(),
            &format!("{SECRET}use_storage_id = true\nid_type_in_filename = \"ip\"\n"),
        )
        .unwrap();
        assert!(c.storage_ids.is_some() && !c.id_in_filename);
    }

    #[test]
    fn storage_id_errors_name_the_key_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tracker.toml");
        let parse_in = |text: &str| {
            Config::parse(file.to_str().unwrap(), &format!("{SECRET}{text}"))
                .unwrap_err()
                .to_string()
        };
        let e = parse_in("use_storage_id = true\n");
        assert!(
            e.contains("storage_ids_filename:") && e.contains("storage_ids.conf"),
            "{e}"
        );
        std::fs::write(
            dir.path().join("ids"),
            "100001 group1 10.0.0.1\nx group1 10.0.0.2\n",
        )
        .unwrap();
        let e = parse_in("use_storage_id = true\nstorage_ids_filename = \"ids\"\n");
        assert!(
            e.contains("storage_ids_filename:") && e.contains("line 2"),
            "{e}"
        );
        let e = parse_in("storage_ids_filename = \"ids\"\n");
        assert!(
            e.contains("storage_ids_filename: is only read with use_storage_id"),
            "{e}"
        );
        let e = parse_in("use_storage_id = true\nstorage_ids_filename = \"ids\"\nid_type_in_filename = \"name\"\n");
        assert!(e.contains("id_type_in_filename:"), "{e}");
    }
}
