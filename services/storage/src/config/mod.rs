//! `storage.toml`: the FastDFS `storage.conf` keys that still mean something
//! here, checked at start so that a bad value names its key.

pub mod http;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrodfs_proto::auth::Secret;
use ferrodfs_proto::fields::{validate_group, IpWidth};
use ferrodfs_runtime::config::{parse_size, parse_toml};
use ferrodfs_runtime::guard::AllowHosts;
use ferrodfs_runtime::{parse_reserved, ConfigError, Reserved};
use serde::Deserialize;

/// FastDFS allows at most 256 store paths (`M00`..`MFF`).
const MAX_STORE_PATHS: usize = 256;

/// FastDFS's `FDFS_MAX_TRACKERS`: a join listing more is refused.
const MAX_FASTDFS_TRACKERS: usize = 16;

/// How a new file's `HH/HH` data directory is chosen
/// (`file_distribute_path_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistributeMode {
    /// Mode 0: `rotate_count` files per directory, then the next one.
    RoundRobin { rotate_count: u32 },
    /// Mode 1: PJW hash of the encoded file name.
    Hash,
}

/// Which store path an upload goes to when the client lets the storage
/// choose (store path index 255).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StorePathPolicy {
    #[default]
    RoundRobin,
    /// The store path with the most free space.
    LoadBalance,
}

/// The language a storage speaks to its trackers (`tracker_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TrackerProtocol {
    /// ferrodfs trackers: joins and beats on connections that proved the
    /// cluster secret.
    #[default]
    Ferrodfs,
    /// FastDFS 6.x trackers (fdfs_trackerd, or a ferrodfs tracker with
    /// `fastdfs_storages`): FastDFS's binary join, beat and sync
    /// bookkeeping, unauthenticated as FastDFS is.
    Fastdfs,
}

/// A size given either as a number of bytes or as text like `"4G"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

/// The file as written; defaults and cross-key checks are applied by
/// [`Config::parse`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    group_name: String,
    #[serde(default = "default_bind")]
    bind: IpAddr,
    ip: Option<Ipv4Addr>,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default = "default_http_port")]
    http_port: u16,
    metrics_listen: Option<SocketAddr>,
    base_path: PathBuf,
    store_paths: Vec<PathBuf>,
    #[serde(default)]
    tracker_servers: Vec<String>,
    #[serde(default = "default_heart_beat")]
    heart_beat_interval: f64,
    #[serde(default = "default_subdirs")]
    subdir_count_per_path: u32,
    #[serde(default)]
    file_distribute_path_mode: u8,
    #[serde(default = "default_rotate_count")]
    file_distribute_rotate_count: u32,
    #[serde(default)]
    store_path: StorePathPolicy,
    #[serde(default = "default_reserved")]
    reserved_storage_space: String,
    max_body_size: Option<SizeValue>,
    #[serde(default = "default_network_timeout")]
    network_timeout: f64,
    /// `[http]`: HTTP file access, parsed by [`http`].
    #[serde(default)]
    http: http::RawHttp,
    binlog_rotate_size: Option<SizeValue>,
    #[serde(default = "default_binlog_fsync_interval")]
    binlog_fsync_interval: f64,
    #[serde(default)]
    fsync_after_write: bool,
    #[serde(default = "default_min_copies")]
    min_copies: usize,
    #[serde(default = "default_min_copies_timeout")]
    min_copies_timeout: f64,
    response_ip_addr_size: Option<String>,
    cluster_secret: Option<String>,
    #[serde(default)]
    allow_hosts: Vec<String>,
    fastdfs_peers: Option<Vec<String>>,
    #[serde(default)]
    tracker_protocol: TrackerProtocol,
    #[serde(default = "default_max_connections")]
    max_connections: usize,
    scrub_rate: Option<SizeValue>,
    #[serde(default = "default_scrub_interval")]
    scrub_interval: f64,
}

fn default_scrub_interval() -> f64 {
    7.0 * 86_400.0
}

/// Background scrub reads 4 MiB/s by default: a small share of one disk.
const DEFAULT_SCRUB_RATE: u64 = 4 << 20;

fn default_max_connections() -> usize {
    1024
}
fn default_bind() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}
fn default_port() -> u16 {
    23000
}
fn default_http_port() -> u16 {
    8888
}
fn default_heart_beat() -> f64 {
    30.0
}
fn default_subdirs() -> u32 {
    256
}
fn default_rotate_count() -> u32 {
    100
}
fn default_reserved() -> String {
    "10%".into()
}
fn default_network_timeout() -> f64 {
    30.0
}
fn default_binlog_fsync_interval() -> f64 {
    1.0
}
fn default_min_copies() -> usize {
    1
}
fn default_min_copies_timeout() -> f64 {
    10.0
}

/// Largest upload accepted unless `max_body_size` says otherwise. FastDFS
/// has no such limit; this one keeps a bad header from filling a disk.
pub const DEFAULT_MAX_BODY_SIZE: u64 = 4 << 30;

/// A validated storage configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config came from, for error messages (`storage.toml`).
    pub file: String,
    pub group_name: String,
    pub bind: IpAddr,
    /// Advertised address; embedded in every file ID made here.
    pub ip: Ipv4Addr,
    /// 0 picks a free port; the bound one is reported to trackers.
    pub port: u16,
    /// HTTP file access port; 0 picks a free port (the bound one is
    /// reported to trackers). `[http] enabled = false` serves none.
    pub http_port: u16,
    pub metrics_listen: Option<SocketAddr>,
    pub base_path: PathBuf,
    /// Index i is the `Mxx` store path with xx = i.
    pub store_paths: Vec<PathBuf>,
    pub tracker_servers: Vec<String>,
    pub heart_beat_interval: Duration,
    pub subdir_count_per_path: u32,
    pub file_distribute: DistributeMode,
    pub store_path: StorePathPolicy,
    pub reserved_storage_space: Reserved,
    pub max_body_size: u64,
    pub network_timeout: Duration,
    /// `[http]`: HTTP file access settings.
    pub http: http::HttpConfig,
    /// A binlog file is closed and the next begun at this size.
    pub binlog_rotate_size: u64,
    /// How often the binlog is fsynced; `None` (0 in the file): after
    /// every record, before the reply.
    pub binlog_fsync_interval: Option<Duration>,
    /// fsync a file's data (and, for a new name, its directory) before a
    /// change is acknowledged, and its binlog record with it: an
    /// acknowledged change survives a power cut, not only a crash. Off by
    /// default, as FastDFS (which leaves writes to the page cache).
    pub fsync_after_write: bool,
    /// Members of the group that must hold a change before the client
    /// gets its reply (1: asynchronous, as FastDFS). Set it alike on every
    /// member of the group.
    pub min_copies: usize,
    /// Bytes per second a scrub pass reads (0: no background scrub, and
    /// `ferrodfs scrub` passes read unpaced).
    pub scrub_rate: u64,
    /// Time from the start of one background scrub pass to the next.
    pub scrub_interval: Duration,
    /// How long an upload or change waits for `min_copies`; then it is
    /// undone where possible and the client gets ETIMEDOUT.
    pub min_copies_timeout: Duration,
    /// Width of the source IP in query-file-info replies. FastDFS storages
    /// take the tracker's `response_ip_addr_size`; set both alike.
    pub response_ip_addr_size: IpWidth,
    /// Shared by every tracker and storage of the cluster: joins,
    /// heartbeats and sync run only on connections that proved it.
    pub cluster_secret: Secret,
    /// Who may connect to the FastDFS port (FastDFS `allow_hosts`).
    pub allow_hosts: AllowHosts,
    /// Networks whose FastDFS 6.x storages may push this storage their
    /// changes with FastDFS's own sync commands (16-19, 25, 35, 37, 40).
    /// FastDFS has no secret: such a push is trusted by address alone,
    /// and taken only from a member of this group as the trackers list
    /// it. `None` (the default): off.
    pub fastdfs_peers: Option<AllowHosts>,
    /// How this storage talks to its trackers. With `Fastdfs` the group's
    /// member list comes from trackers that prove nothing, so members are
    /// taken only inside `fastdfs_peers` (required then).
    pub tracker_protocol: TrackerProtocol,
    /// Connections open at once on the FastDFS port, and again on the
    /// HTTP port (FastDFS `max_connections`).
    pub max_connections: usize,
}

impl Config {
    /// The address outgoing connections (to trackers, to peers) leave
    /// from: trackers and peers check a storage's identity against it.
    pub fn source_ip(&self) -> IpAddr {
        if self.bind.is_unspecified() {
            IpAddr::V4(self.ip)
        } else {
            self.bind
        }
    }
}

fn seconds(file: &str, key: &str, v: f64) -> anyhow::Result<Duration> {
    if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
        return Err(ConfigError::new(
            file,
            key,
            format!("{v} must be between 0 and 86400 seconds"),
        )
        .into());
    }
    Ok(Duration::from_secs_f64(v))
}

fn check_tracker(file: &str, i: usize, s: &str) -> anyhow::Result<()> {
    let bad = |why: &str| {
        ConfigError::new(
            file,
            format!("tracker_servers[{i}]"),
            format!("{s:?} {why}"),
        )
    };
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| bad("is not \"host:port\""))?;
    if host.is_empty() {
        return Err(bad("has no host").into());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(bad("has no valid port").into()),
    }
}

impl Config {
    /// Reads and validates `path` (no disk checks beyond reading it; the
    /// directories are checked and created by [`crate::start`]).
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let (file, text) = ferrodfs_runtime::config::read_config(path)?;
        Config::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> anyhow::Result<Config> {
        let raw: RawConfig = parse_toml(file, text)?;
        let err = |key: &str, problem: String| -> anyhow::Error {
            ConfigError::new(file, key, problem).into()
        };

        validate_group(&raw.group_name).map_err(|_| {
            err(
                "group_name",
                format!(
                    "{:?} must be 1-16 characters of [A-Za-z0-9]",
                    raw.group_name
                ),
            )
        })?;
        let ip = match (raw.ip, raw.bind) {
            (Some(ip), _) => ip,
            (None, IpAddr::V4(b)) if !b.is_unspecified() => b,
            (None, b) => {
                return Err(err(
                    "ip",
                    format!("required when bind is {b}: the IPv4 address clients and trackers reach this storage at"),
                ))
            }
        };
        if ip.is_unspecified() {
            return Err(err(
                "ip",
                format!("{ip} cannot be advertised; give this host's address"),
            ));
        }
        if raw.base_path.as_os_str().is_empty() {
            return Err(err("base_path", "must not be empty".into()));
        }
        if raw.store_paths.is_empty() {
            return Err(err("store_paths", "needs at least one directory".into()));
        }
        if raw.store_paths.len() > MAX_STORE_PATHS {
            return Err(err(
                "store_paths",
                format!(
                    "{} entries; at most {MAX_STORE_PATHS} (M00..MFF)",
                    raw.store_paths.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (i, p) in raw.store_paths.iter().enumerate() {
            let key = format!("store_paths[{i}]");
            if p.as_os_str().is_empty() {
                return Err(err(&key, "must not be empty".into()));
            }
            if !seen.insert(p) {
                return Err(err(
                    &key,
                    format!("{:?} is listed twice", p.display().to_string()),
                ));
            }
        }
        for (i, t) in raw.tracker_servers.iter().enumerate() {
            check_tracker(file, i, t)?;
        }
        if !(1..=256).contains(&raw.subdir_count_per_path) {
            return Err(err(
                "subdir_count_per_path",
                format!("{} must be between 1 and 256", raw.subdir_count_per_path),
            ));
        }
        let file_distribute = match raw.file_distribute_path_mode {
            0 if raw.file_distribute_rotate_count == 0 => {
                return Err(err(
                    "file_distribute_rotate_count",
                    "must be at least 1".into(),
                ))
            }
            0 => DistributeMode::RoundRobin {
                rotate_count: raw.file_distribute_rotate_count,
            },
            1 => DistributeMode::Hash,
            m => {
                return Err(err(
                    "file_distribute_path_mode",
                    format!("{m}: use 0 (round robin) or 1 (hash)"),
                ))
            }
        };
        let reserved_storage_space = parse_reserved(&raw.reserved_storage_space)
            .map_err(|e| err("reserved_storage_space", e))?;
        let max_body_size = match raw.max_body_size {
            None => DEFAULT_MAX_BODY_SIZE,
            Some(SizeValue::Bytes(n)) => n,
            Some(SizeValue::Text(s)) => parse_size(&s).map_err(|e| err("max_body_size", e))?,
        };
        if max_body_size == 0 || max_body_size > i64::MAX as u64 {
            return Err(err(
                "max_body_size",
                format!("{max_body_size} is out of range"),
            ));
        }
        let binlog_rotate_size = match raw.binlog_rotate_size {
            None => crate::binlog::DEFAULT_ROTATE_BYTES,
            Some(SizeValue::Bytes(n)) => n,
            Some(SizeValue::Text(s)) => parse_size(&s).map_err(|e| err("binlog_rotate_size", e))?,
        };
        if binlog_rotate_size < 4096 {
            return Err(err(
                "binlog_rotate_size",
                format!("{binlog_rotate_size} is too small; at least 4096 bytes"),
            ));
        }
        let scrub_rate = match raw.scrub_rate {
            None => DEFAULT_SCRUB_RATE,
            Some(SizeValue::Bytes(n)) => n,
            Some(SizeValue::Text(s)) => parse_size(&s).map_err(|e| err("scrub_rate", e))?,
        };
        let binlog_fsync_interval = if raw.binlog_fsync_interval == 0.0 {
            None
        } else {
            Some(seconds(
                file,
                "binlog_fsync_interval",
                raw.binlog_fsync_interval,
            )?)
        };
        if !(1..=32).contains(&raw.min_copies) {
            return Err(err(
                "min_copies",
                format!(
                    "{} must be between 1 and 32 (members in a group)",
                    raw.min_copies
                ),
            ));
        }
        let response_ip_addr_size = match raw.response_ip_addr_size {
            None => IpWidth::default(),
            Some(w) => IpWidth::from_config(&w).ok_or_else(|| {
                err(
                    "response_ip_addr_size",
                    format!("{w:?} is not one of {}", IpWidth::CONFIG_WORDS),
                )
            })?,
        };
        let cluster_secret =
            match &raw.cluster_secret {
                None => return Err(err(
                    "cluster_secret",
                    "is required: every tracker and storage of a cluster holds the same secret \
                     (`ferrodfs secret` prints a new one)"
                        .into(),
                )),
                Some(s) => Secret::new(s).map_err(|e| err("cluster_secret", e))?,
            };
        let allow_hosts = AllowHosts::parse(&raw.allow_hosts).map_err(|e| err("allow_hosts", e))?;
        let fastdfs_peers = match &raw.fastdfs_peers {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(err(
                    "fastdfs_peers",
                    "is empty: list the networks of the group's FastDFS storages (\"10.0.0.0/24\"), or remove the key to refuse their sync".into(),
                ))
            }
            Some(list) => Some(AllowHosts::parse(list).map_err(|e| err("fastdfs_peers", e))?),
        };
        if raw.tracker_protocol == TrackerProtocol::Fastdfs && fastdfs_peers.is_none() {
            return Err(err(
                "tracker_protocol",
                "\"fastdfs\" needs fastdfs_peers: FastDFS trackers are not authenticated, so \
                 the group members they list are taken only inside the fastdfs_peers networks \
                 (list the networks of the group's storages)"
                    .into(),
            ));
        }
        if raw.tracker_protocol == TrackerProtocol::Fastdfs
            && raw.tracker_servers.len() > MAX_FASTDFS_TRACKERS
        {
            return Err(err(
                "tracker_servers",
                format!(
                    "{} entries; a FastDFS tracker takes at most {MAX_FASTDFS_TRACKERS} (tracker_protocol = \"fastdfs\")",
                    raw.tracker_servers.len()
                ),
            ));
        }
        if raw.max_connections == 0 {
            return Err(err("max_connections", "must be at least 1".into()));
        }
        Ok(Config {
            cluster_secret,
            allow_hosts,
            fastdfs_peers,
            tracker_protocol: raw.tracker_protocol,
            max_connections: raw.max_connections,
            file: file.to_string(),
            group_name: raw.group_name,
            bind: raw.bind,
            ip,
            port: raw.port,
            http_port: raw.http_port,
            metrics_listen: raw.metrics_listen,
            base_path: raw.base_path,
            store_paths: raw.store_paths,
            tracker_servers: raw.tracker_servers,
            heart_beat_interval: seconds(file, "heart_beat_interval", raw.heart_beat_interval)?,
            subdir_count_per_path: raw.subdir_count_per_path,
            file_distribute,
            store_path: raw.store_path,
            reserved_storage_space,
            max_body_size,
            network_timeout: seconds(file, "network_timeout", raw.network_timeout)?,
            http: http::HttpConfig::from_raw(file, raw.http)?,
            binlog_rotate_size,
            binlog_fsync_interval,
            fsync_after_write: raw.fsync_after_write,
            scrub_rate,
            scrub_interval: {
                let v = raw.scrub_interval;
                if !(v.is_finite() && (1.0..=3.2e8).contains(&v)) {
                    return Err(err(
                        "scrub_interval",
                        format!("{v} must be between 1 and 320000000 seconds"),
                    ));
                }
                Duration::from_secs_f64(v)
            },
            min_copies: raw.min_copies,
            min_copies_timeout: seconds(file, "min_copies_timeout", raw.min_copies_timeout)?,
            response_ip_addr_size,
        })
    }

    /// Creates `base_path` and every store path if missing; an error names
    /// the key of the directory that is unusable.
    pub(crate) fn prepare_dirs(&self) -> anyhow::Result<()> {
        let mut dirs = vec![("base_path".to_string(), &self.base_path)];
        dirs.extend(
            self.store_paths
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("store_paths[{i}]"), p)),
        );
        for (key, dir) in dirs {
            let shown = format!("{:?}", dir.display().to_string());
            if dir.exists() && !dir.is_dir() {
                return Err(ConfigError::new(
                    &self.file,
                    key,
                    format!("{shown} is not a directory"),
                )
                .into());
            }
            std::fs::create_dir_all(dir.join("data")).map_err(|e| {
                ConfigError::new(
                    &self.file,
                    &key,
                    format!("{shown} does not exist and cannot be created: {e}"),
                )
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        group_name = "group1"
        ip = "127.0.0.1"
        cluster_secret = "0123456789abcdef"
        base_path = "/tmp/fdfs"
        store_paths = ["/tmp/fdfs/m0"]
    "#;

    fn parse(extra: &str) -> anyhow::Result<Config> {
        Config::parse("storage.toml", &format!("{MINIMAL}\n{extra}"))
    }

    fn error_of(extra: &str) -> String {
        parse(extra).unwrap_err().to_string()
    }

    #[test]
    fn minimal_config_gets_fastdfs_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.port, 23000);
        assert_eq!(c.http_port, 8888);
        assert_eq!(c.heart_beat_interval, Duration::from_secs(30));
        assert_eq!(c.subdir_count_per_path, 256);
        assert_eq!(
            c.file_distribute,
            DistributeMode::RoundRobin { rotate_count: 100 }
        );
        assert_eq!(c.store_path, StorePathPolicy::RoundRobin);
        assert_eq!(c.reserved_storage_space, Reserved::Percent(10.0));
        assert_eq!(c.max_body_size, DEFAULT_MAX_BODY_SIZE);
        assert!(c.tracker_servers.is_empty());
        assert_eq!(c.binlog_rotate_size, 1 << 30);
        assert_eq!(c.binlog_fsync_interval, Some(Duration::from_secs(1)));
        assert_eq!(c.min_copies, 1, "asynchronous like FastDFS");
        assert!(!c.fsync_after_write, "page cache only, like FastDFS");
        assert_eq!(c.response_ip_addr_size, IpWidth::V4, "FastDFS 6.16's auto");
    }

    #[test]
    fn response_ip_addr_size_takes_fastdfs_words() {
        assert_eq!(
            parse("response_ip_addr_size = 'IPv6'")
                .unwrap()
                .response_ip_addr_size,
            IpWidth::V6
        );
        assert_eq!(
            parse("response_ip_addr_size = 'auto'")
                .unwrap()
                .response_ip_addr_size,
            IpWidth::V4
        );
        assert_eq!(
            error_of("response_ip_addr_size = 'v6'"),
            "storage.toml: response_ip_addr_size: \"v6\" is not one of auto, IPv4, IPv6"
        );
    }

    #[test]
    fn scrub_keys_are_read_and_checked() {
        let d = parse("").unwrap();
        assert_eq!(d.scrub_rate, 4 << 20);
        assert_eq!(d.scrub_interval, Duration::from_secs(7 * 86_400));
        let c = parse("scrub_rate = '16M'\nscrub_interval = 3600").unwrap();
        assert_eq!(
            (c.scrub_rate, c.scrub_interval),
            (16 << 20, Duration::from_secs(3600))
        );
        assert_eq!(parse("scrub_rate = 0").unwrap().scrub_rate, 0);
        assert!(error_of("scrub_rate = 'fast'").starts_with("storage.toml: scrub_rate:"));
        assert!(error_of("scrub_interval = 0").starts_with("storage.toml: scrub_interval:"));
    }

    #[test]
    fn the_cluster_secret_is_required_and_long_enough() {
        let base = MINIMAL.replace("cluster_secret = \"0123456789abcdef\"", "");
        let e = Config::parse("storage.toml", &base)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("storage.toml: cluster_secret: is required"),
            "{e}"
        );
        let e = Config::parse("storage.toml", &format!("{base}\ncluster_secret = 'x'"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("storage.toml: cluster_secret: 1 characters"),
            "{e}"
        );
    }

    #[test]
    fn connections_are_bounded_by_host_and_count() {
        let c = parse("allow_hosts = ['10.0.0.0/24']\nmax_connections = 7").unwrap();
        assert!(c.allow_hosts.allows("10.0.0.9".parse().unwrap()));
        assert!(!c.allow_hosts.allows("10.0.1.9".parse().unwrap()));
        assert_eq!(c.max_connections, 7);
        assert_eq!(parse("").unwrap().max_connections, 1024);
        assert!(error_of("allow_hosts = ['nope']").starts_with("storage.toml: allow_hosts:"));
    }

    #[test]
    fn fastdfs_peers_are_off_unless_their_networks_are_listed() {
        assert!(parse("").unwrap().fastdfs_peers.is_none());
        let c = parse("fastdfs_peers = ['10.0.0.0/24']").unwrap();
        let peers = c.fastdfs_peers.unwrap();
        assert!(peers.allows("10.0.0.9".parse().unwrap()));
        assert!(!peers.allows("10.0.1.9".parse().unwrap()));
        assert!(error_of("fastdfs_peers = []").starts_with("storage.toml: fastdfs_peers: is empty"));
        assert!(error_of("fastdfs_peers = ['x']").starts_with("storage.toml: fastdfs_peers:"));
        assert!(error_of("max_connections = 0").starts_with("storage.toml: max_connections:"));
    }

    #[test]
    fn the_fastdfs_tracker_protocol_is_off_by_default_and_needs_fastdfs_peers() {
        assert_eq!(
            parse("").unwrap().tracker_protocol,
            TrackerProtocol::Ferrodfs
        );
        let c = parse("tracker_protocol = 'fastdfs'\nfastdfs_peers = ['10.0.0.0/24']").unwrap();
        assert_eq!(c.tracker_protocol, TrackerProtocol::Fastdfs);
        let e = error_of("tracker_protocol = 'fastdfs'");
        assert!(
            e.starts_with("storage.toml: tracker_protocol:") && e.contains("fastdfs_peers"),
            "{e}"
        );
        let many: Vec<String> = (0..17).map(|i| format!("'10.0.0.{i}:22122'")).collect();
        let e = error_of(&format!(
            "tracker_protocol = 'fastdfs'\nfastdfs_peers = ['10.0.0.0/24']\ntracker_servers = [{}]",
            many.join(",")
        ));
        assert!(
            e.starts_with("storage.toml: tracker_servers: 17 entries"),
            "{e}"
        );
        let e = error_of("tracker_protocol = 'FastDFS5'");
        assert!(e.contains("tracker_protocol"), "{e}");
    }

    #[test]
    fn outgoing_connections_leave_from_the_storage_address() {
        assert_eq!(parse("").unwrap().source_ip(), IpAddr::from([127, 0, 0, 1]));
        let c = parse("bind = '127.0.0.5'").unwrap();
        assert_eq!(c.source_ip(), IpAddr::from([127, 0, 0, 5]));
    }

    #[test]
    fn fsync_after_write_is_a_boolean_named_when_wrong() {
        assert!(parse("fsync_after_write = true").unwrap().fsync_after_write);
        let e = error_of("fsync_after_write = 1");
        assert!(e.contains("fsync_after_write"), "{e}");
        let e = error_of("fsync_after_write = 'yes'");
        assert!(e.contains("fsync_after_write"), "{e}");
    }

    #[test]
    fn fractional_heart_beat_is_accepted() {
        let c = parse("heart_beat_interval = 0.5").unwrap();
        assert_eq!(c.heart_beat_interval, Duration::from_millis(500));
    }

    #[test]
    fn ip_defaults_to_a_specific_bind_address() {
        let c = Config::parse(
            "storage.toml",
            "group_name='g1'\nbind='10.0.0.5'\nbase_path='/b'\nstore_paths=['/s']\n\
             cluster_secret='0123456789abcdef'",
        )
        .unwrap();
        assert_eq!(c.ip, Ipv4Addr::new(10, 0, 0, 5));
    }

    #[test]
    fn ip_is_required_with_a_wildcard_bind() {
        let e = Config::parse(
            "storage.toml",
            "group_name='g1'\nbase_path='/b'\nstore_paths=['/s']",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("storage.toml: ip: required"), "{e}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = error_of("store_path0 = '/x'");
        assert!(
            e.contains("storage.toml") && e.contains("store_path0"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (extra, key) in [
            ("subdir_count_per_path = 0", "subdir_count_per_path:"),
            ("subdir_count_per_path = 257", "subdir_count_per_path:"),
            (
                "file_distribute_path_mode = 2",
                "file_distribute_path_mode:",
            ),
            ("reserved_storage_space = '120%'", "reserved_storage_space:"),
            ("max_body_size = '5Q'", "max_body_size:"),
            ("heart_beat_interval = 0", "heart_beat_interval:"),
            ("network_timeout = -1", "network_timeout:"),
            (
                "tracker_servers = ['t1:22122', 'nohost']",
                "tracker_servers[1]:",
            ),
            ("tracker_servers = [':22122']", "tracker_servers[0]:"),
            ("store_path = 'fastest'", "store_path"),
            ("binlog_rotate_size = 10", "binlog_rotate_size:"),
            ("binlog_fsync_interval = -1", "binlog_fsync_interval:"),
            ("min_copies = 0", "min_copies:"),
            ("min_copies_timeout = 0", "min_copies_timeout:"),
        ] {
            let e = error_of(extra);
            assert!(e.contains(key), "{extra}: {e}");
        }
    }

    #[test]
    fn group_names_follow_fastdfs_rules() {
        let e = Config::parse(
            "storage.toml",
            "group_name='group/1'\nip='1.2.3.4'\nbase_path='/b'\nstore_paths=['/s']",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("storage.toml: group_name:"), "{e}");
        let e = Config::parse(
            "storage.toml",
            "group_name='abcdefghijklmnopq'\nip='1.2.3.4'\nbase_path='/b'\nstore_paths=['/s']",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("group_name"), "{e}");
    }

    #[test]
    fn store_paths_must_be_present_and_distinct() {
        let e = Config::parse(
            "storage.toml",
            "group_name='g'\nip='1.2.3.4'\nbase_path='/b'\nstore_paths=[]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("storage.toml: store_paths:"), "{e}");
        let e = Config::parse(
            "storage.toml",
            "group_name='g'\nip='1.2.3.4'\nbase_path='/b'\nstore_paths=['/a','/a']",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("storage.toml: store_paths[1]:"), "{e}");
    }

    #[test]
    fn sizes_accept_numbers_and_units() {
        assert_eq!(parse("max_body_size = 1024").unwrap().max_body_size, 1024);
        assert_eq!(
            parse("max_body_size = '1G'").unwrap().max_body_size,
            1 << 30
        );
        assert_eq!(
            parse("reserved_storage_space = '2G'")
                .unwrap()
                .reserved_storage_space,
            Reserved::Bytes(2 << 30)
        );
    }

    #[test]
    fn an_uncreatable_store_path_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let mut c = parse("").unwrap();
        c.base_path = dir.path().join("base");
        c.store_paths = vec![dir.path().join("m0"), file.join("sub")];
        let e = c.prepare_dirs().unwrap_err().to_string();
        assert!(e.starts_with("storage.toml: store_paths[1]:"), "{e}");
        assert!(e.contains("cannot be created"), "{e}");
        assert!(dir.path().join("m0/data").is_dir());
    }
}
