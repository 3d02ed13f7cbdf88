//! `edge.toml` / `front.toml`: the raw TOML shape (unknown keys rejected) and
//! the checked [`Config`] the daemon runs on. Every check names the key, so a
//! typo or a bad value stops the daemon at start (or makes a SIGHUP reload
//! keep the old config) with a message the operator can act on.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrodfs_runtime::config::{parse_size, ConfigError};
use ipnet::IpNet;
use serde::Deserialize;

/// Which tier this process is: the edge (tracker nodes, `/groupN/...`, cache,
/// purge) or the front (LB nodes, `/dfs/...` to the edge tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Edge,
    Front,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    role: Role,
    listen: Option<String>,
    metrics_listen: Option<String>,
    threads: Option<usize>,
    max_body_size: Option<String>,
    max_uri_len: Option<usize>,
    max_header_size: Option<String>,
    expires: Option<String>,
    shutdown_grace: Option<String>,
    shutdown_drain: Option<String>,
    #[serde(default)]
    shutdown_drop_syn: bool,
    #[serde(default)]
    upstream: RawUpstream,
    edge: Option<RawEdge>,
    cache: Option<RawCache>,
    front: Option<RawFront>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    connect_timeout: Option<String>,
    read_timeout: Option<String>,
    max_tries: Option<usize>,
    max_fails: Option<u32>,
    fail_timeout: Option<String>,
    health_check: Option<String>,
    health_check_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdge {
    trackers: Option<Vec<String>>,
    refresh_interval: Option<String>,
    storage_http_port: Option<u16>,
    groups: Option<BTreeMap<String, Vec<String>>>,
    token_secret: Option<String>,
    token_ttl: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    path: PathBuf,
    max_size: Option<String>,
    memory: Option<String>,
    memory_max_body: Option<String>,
    inactive: Option<String>,
    valid: Option<BTreeMap<String, String>>,
    revalidate_after: Option<String>,
    purge_allow: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFront {
    prefix: Option<String>,
    upstreams: Vec<RawWeighted>,
    status: Option<RawStatus>,
    upload: Option<RawUpload>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpload {
    path: Option<String>,
    trackers: Vec<String>,
    allow: Option<Vec<String>>,
    token: Option<String>,
    max_size: Option<String>,
    group: Option<String>,
    public_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    path: Option<String>,
    trackers: Vec<String>,
    allow: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeighted {
    addr: String,
    weight: Option<usize>,
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub role: Role,
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub threads: usize,
    pub max_body_size: u64,
    pub max_uri_len: usize,
    pub max_header_size: usize,
    /// `Expires` / `Cache-Control: max-age` added to successful responses
    /// (nginx `expires`); `None` leaves the upstream's headers alone.
    pub expires: Option<Duration>,
    pub shutdown_grace: Duration,
    /// SIGTERM: how long `/readyz` says 503 while requests are still served
    /// as usual, before the listener closes, so that the balancers in
    /// front (health checks, the VIP's track) move away first.
    pub shutdown_drain: Duration,
    /// SIGTERM: for the drain, new connections get no answer at all (their
    /// SYNs are dropped, not refused), while connections already open are
    /// served. Behind a VIP: clients send a dropped SYN again about a second
    /// later, by when the VIP has moved to the peer, so none of them fails;
    /// and when the VIP moves, no request accepted here is still in flight
    /// (a refused or cut connection would be a failed request).
    pub shutdown_drop_syn: bool,
    pub upstream: UpstreamConfig,
    pub edge: Option<EdgeConfig>,
    pub front: Option<FrontConfig>,
}

/// Timeouts, retries and health for every upstream pool of this process.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    pub connect_timeout: Duration,
    /// Longest silence on any one read of an upstream's response: the head
    /// and every read of the body after it (pingora times each read), so a
    /// storage that stalls mid-file ends the request, while a slow one
    /// whose bytes keep coming is never cut, whatever the file's size.
    pub read_timeout: Duration,
    /// Attempts per request, the first included (nginx `proxy_next_upstream_tries`).
    pub max_tries: usize,
    /// Failures within `fail_timeout` that take an upstream out for
    /// `fail_timeout` (nginx `max_fails` / `fail_timeout`); 0 disables.
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub health_check: HealthCheckKind,
    pub health_check_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HealthCheckKind {
    /// A TCP connect succeeds.
    Tcp,
    /// `GET <path>` answers 200 (pingora's `HttpHealthCheck` accepts only
    /// 200, so pick a path that exists, e.g. a small probe file).
    Http {
        path: String,
    },
    None,
}

/// Where the edge tier learns group membership.
#[derive(Debug, Clone, PartialEq)]
pub enum Membership {
    /// Poll the trackers; storages join and leave with their ACTIVE state.
    Trackers {
        trackers: Vec<String>,
        refresh_interval: Duration,
        /// Where storages serve HTTP when the trackers do not say: the
        /// records of FastDFS 6.13+ (ferrodfs's default `stat_layout`)
        /// carry no HTTP port; the legacy ones do, and win.
        storage_http_port: u16,
    },
    /// Fixed lists, like nginx `upstream` blocks.
    Static(BTreeMap<String, Vec<SocketAddr>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EdgeConfig {
    pub membership: Membership,
    pub cache: Option<CacheConfig>,
    /// The storages' anti-steal token (`[http] token_secret` there): when
    /// set, the edge checks every file request's `token` and `ts` itself,
    /// so a cached copy is never handed to a request the storages would
    /// refuse.
    pub token: Option<EdgeToken>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EdgeToken {
    pub secret: String,
    /// How long a signed URL stays valid after its `ts` (the storages'
    /// `token_ttl`; FastDFS's default is 600 s).
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub path: PathBuf,
    pub max_size: u64,
    /// Bytes of memory for the entries read most recently: their parsed
    /// headers, and their bodies up to `memory_max_body`, so a hit on them
    /// reads no file (0: every hit reads its file).
    pub memory: u64,
    pub memory_max_body: u64,
    /// Entries not read for this long are removed (nginx `inactive=`).
    pub inactive: Duration,
    /// How long a stored 200 stays fresh (nginx `proxy_cache_valid 200`).
    /// Only 200s are stored: a 404 or an error cached would hide a file
    /// that exists, a redirect would pin a client to one storage.
    pub valid: Duration,
    /// A stored file older than this is checked with the storage (a
    /// conditional GET) before it is served again; a 404 then removes it.
    /// So a deleted file stops being served within this time.
    pub revalidate_after: Duration,
    /// Client networks allowed to `/purge/...` (ngx_cache_purge `allow`).
    pub purge_allow: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FrontConfig {
    pub prefix: String,
    pub upstreams: Vec<(SocketAddr, usize)>,
    /// The trackers' status page, passed through at a path of its own.
    pub status: Option<StatusRoute>,
    /// HTTP upload into the cluster; `None`: off (the path is a 404).
    pub upload: Option<UploadRoute>,
}

/// `[front.upload]`: `POST path` stores the request's file in the cluster
/// through `trackers` (FastDFS protocol, as any client) and answers its
/// file ID and URL as JSON. Only for clients of the `allow` networks, and
/// with `token` set only for requests carrying `Authorization: Bearer
/// <token>`. The file is held in memory until it is sent to the storage,
/// so one upload takes up to `max_size` of memory.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRoute {
    pub path: String,
    /// FastDFS trackers, `host:port` (their `port`, 22122 by default).
    pub trackers: Vec<String>,
    pub allow: Vec<IpNet>,
    pub token: Option<String>,
    pub max_size: u64,
    /// Upload into this group; `None`: the trackers choose
    /// (their `store_lookup`).
    pub group: Option<String>,
    /// What the answered `url` starts with, the file ID appended
    /// (e.g. `https://files.example.com/dfs`); `None`:
    /// `http://<the request's Host><front.prefix>`.
    pub public_url: Option<String>,
}

/// `[front.status]`: `path` (the page) and `path.json` (what it polls) go
/// to the trackers' `metrics_listen` as `/status` and `/status.json`, for
/// clients of the `allow` networks only (like purge on the edge).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRoute {
    pub path: String,
    pub trackers: Vec<SocketAddr>,
    pub allow: Vec<IpNet>,
}

impl Config {
    /// Reads, parses and checks `path`.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read config: {e}", path.display()))?;
        Config::parse(&path.display().to_string(), &text)
    }

    pub fn parse(file: &str, text: &str) -> anyhow::Result<Config> {
        let raw: RawConfig = ferrodfs_runtime::config::parse_toml(file, text)?;
        Ok(check(file, raw)?)
    }
}

fn check(file: &str, raw: RawConfig) -> Result<Config, ConfigError> {
    let err = |key: &str, problem: String| ConfigError::new(file, key, problem);
    let default_listen = match raw.role {
        Role::Edge => "0.0.0.0:8000",
        Role::Front => "0.0.0.0:88",
    };
    let listen =
        addr(raw.listen.as_deref().unwrap_or(default_listen)).map_err(|p| err("listen", p))?;
    let metrics_listen = raw
        .metrics_listen
        .as_deref()
        .map(addr)
        .transpose()
        .map_err(|p| err("metrics_listen", p))?;
    let threads = raw.threads.unwrap_or(2);
    if threads == 0 {
        return Err(err("threads", "must be at least 1".into()));
    }
    let size = |key: &str, v: &Option<String>, default: &str| {
        parse_size(v.as_deref().unwrap_or(default)).map_err(|p| err(key, p))
    };
    let max_body_size = size("max_body_size", &raw.max_body_size, "1M")?;
    let max_header_size = size("max_header_size", &raw.max_header_size, "32K")? as usize;
    let max_uri_len = raw.max_uri_len.unwrap_or(8192);
    if max_uri_len < 16 {
        return Err(err(
            "max_uri_len",
            format!("{max_uri_len} is too small (at least 16)"),
        ));
    }
    let default_expires = match raw.role {
        Role::Edge => "30d",
        Role::Front => "off",
    };
    let expires = match raw.expires.as_deref().unwrap_or(default_expires) {
        "off" => None,
        v => Some(parse_duration(v).map_err(|p| err("expires", p))?),
    };
    let dur = |key: &str, v: &Option<String>, default: &str| {
        parse_duration(v.as_deref().unwrap_or(default)).map_err(|p| err(key, p))
    };
    let shutdown_grace = dur("shutdown_grace", &raw.shutdown_grace, "5s")?;
    let shutdown_drain = dur("shutdown_drain", &raw.shutdown_drain, "0s")?;
    if raw.shutdown_drop_syn && shutdown_drain.is_zero() {
        return Err(err(
            "shutdown_drop_syn",
            "needs a shutdown_drain above 0 s (it acts during the drain)".into(),
        ));
    }
    let upstream = check_upstream(&raw.upstream, raw.role, &err, &dur)?;

    let (edge, front) = match raw.role {
        Role::Edge => {
            if raw.front.is_some() {
                return Err(err(
                    "front",
                    "only for role = \"front\"; remove it or change role".into(),
                ));
            }
            let edge = raw.edge.ok_or_else(|| {
                err(
                    "edge",
                    "role = \"edge\" needs an [edge] table with trackers or groups".into(),
                )
            })?;
            let token = check_token(&edge, &err, &dur)?;
            let membership = check_membership(edge, &err, &dur)?;
            let cache = raw.cache.map(|c| check_cache(c, &err, &dur)).transpose()?;
            (
                Some(EdgeConfig {
                    membership,
                    cache,
                    token,
                }),
                None,
            )
        }
        Role::Front => {
            if raw.edge.is_some() {
                return Err(err(
                    "edge",
                    "only for role = \"edge\"; remove it or change role".into(),
                ));
            }
            if raw.cache.is_some() {
                return Err(err(
                    "cache",
                    "the cache lives on the edge tier; remove [cache] or set role = \"edge\""
                        .into(),
                ));
            }
            let front = raw.front.ok_or_else(|| {
                err(
                    "front",
                    "role = \"front\" needs a [front] table with upstreams".into(),
                )
            })?;
            (None, Some(check_front(front, &err)?))
        }
    };
    Ok(Config {
        role: raw.role,
        listen,
        metrics_listen,
        threads,
        max_body_size,
        max_uri_len,
        max_header_size,
        expires,
        shutdown_grace,
        shutdown_drain,
        shutdown_drop_syn: raw.shutdown_drop_syn,
        upstream,
        edge,
        front,
    })
}

type ErrFn<'a> = dyn Fn(&str, String) -> ConfigError + 'a;
type DurFn<'a> = dyn Fn(&str, &Option<String>, &str) -> Result<Duration, ConfigError> + 'a;

fn check_upstream(
    u: &RawUpstream,
    role: Role,
    err: &ErrFn,
    dur: &DurFn,
) -> Result<UpstreamConfig, ConfigError> {
    let max_tries = u.max_tries.unwrap_or(3);
    if max_tries == 0 {
        return Err(err("upstream.max_tries", "must be at least 1".into()));
    }
    let health_check = match u.health_check.as_deref().unwrap_or("tcp") {
        "tcp" => HealthCheckKind::Tcp,
        "none" => HealthCheckKind::None,
        v => match v.strip_prefix("http:") {
            Some(path)
                if path.starts_with('/') && path.parse::<http::uri::PathAndQuery>().is_ok() =>
            {
                HealthCheckKind::Http {
                    path: path.to_string(),
                }
            }
            _ => {
                return Err(err(
                    "upstream.health_check",
                    format!(
                        "{v:?}: use \"tcp\", \"none\" or \"http:/path\" (a path that answers 200)"
                    ),
                ))
            }
        },
    };
    Ok(UpstreamConfig {
        connect_timeout: dur("upstream.connect_timeout", &u.connect_timeout, "2s")?,
        // An edge reads from storages on the same network, which answer
        // in milliseconds: one that sends nothing for 5 s is frozen or cut
        // off, and the request goes to the next member. A front waits on
        // edges, which may themselves be retrying such a storage.
        read_timeout: dur(
            "upstream.read_timeout",
            &u.read_timeout,
            match role {
                Role::Edge => "5s",
                Role::Front => "30s",
            },
        )?,
        max_tries,
        max_fails: u.max_fails.unwrap_or(1),
        fail_timeout: dur("upstream.fail_timeout", &u.fail_timeout, "10s")?,
        health_check,
        health_check_interval: dur(
            "upstream.health_check_interval",
            &u.health_check_interval,
            "2s",
        )?,
    })
}

fn check_membership(edge: RawEdge, err: &ErrFn, dur: &DurFn) -> Result<Membership, ConfigError> {
    match (edge.trackers, edge.groups) {
        (Some(_), Some(_)) => Err(err(
            "edge",
            "set either edge.trackers (learn groups from the cluster) or edge.groups (static lists), not both".into(),
        )),
        (None, None) => Err(err("edge", "set edge.trackers or edge.groups".into())),
        (Some(trackers), None) => {
            if trackers.is_empty() {
                return Err(err("edge.trackers", "is empty; list at least one tracker \"host:22122\"".into()));
            }
            for (i, t) in trackers.iter().enumerate() {
                if !t.contains(':') {
                    return Err(err(&format!("edge.trackers[{i}]"), format!("{t:?} needs a port, like \"{t}:22122\"")));
                }
            }
            let refresh_interval = dur("edge.refresh_interval", &edge.refresh_interval, "3s")?;
            let storage_http_port = match edge.storage_http_port {
                Some(0) => return Err(err("edge.storage_http_port", "must be 1-65535".into())),
                Some(p) => p,
                None => 8888,
            };
            Ok(Membership::Trackers { trackers, refresh_interval, storage_http_port })
        }
        (None, Some(_)) if edge.storage_http_port.is_some() => Err(err(
            "edge.storage_http_port",
            "only applies to edge.trackers; edge.groups lists each storage's \"ip:port\"".into(),
        )),
        (None, Some(groups)) => {
            if groups.is_empty() {
                return Err(err("edge.groups", "is empty; add a group like group1 = [\"10.0.0.11:8888\"]".into()));
            }
            let mut out = BTreeMap::new();
            for (name, addrs) in groups {
                if !crate::route::is_group_name(&name) {
                    return Err(err(&format!("edge.groups.{name}"), "a group name is 1-16 letters, digits, '_' or '-'".into()));
                }
                if addrs.is_empty() {
                    return Err(err(&format!("edge.groups.{name}"), "is empty; list the group's storages \"ip:8888\"".into()));
                }
                let parsed = addrs
                    .iter()
                    .enumerate()
                    .map(|(i, a)| addr(a).map_err(|p| err(&format!("edge.groups.{name}[{i}]"), p)))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert(name, parsed);
            }
            Ok(Membership::Static(out))
        }
    }
}

fn check_cache(c: RawCache, err: &ErrFn, dur: &DurFn) -> Result<CacheConfig, ConfigError> {
    let max_size =
        parse_size(c.max_size.as_deref().unwrap_or("1G")).map_err(|p| err("cache.max_size", p))?;
    if max_size == 0 {
        return Err(err(
            "cache.max_size",
            "must be above 0; remove [cache] to turn caching off".into(),
        ));
    }
    let memory =
        parse_size(c.memory.as_deref().unwrap_or("64M")).map_err(|p| err("cache.memory", p))?;
    let memory_max_body = parse_size(c.memory_max_body.as_deref().unwrap_or("1M"))
        .map_err(|p| err("cache.memory_max_body", p))?;
    let inactive = dur("cache.inactive", &c.inactive, "1d")?;
    let mut valid = Duration::from_secs(12 * 3600);
    for (status, ttl) in c.valid.unwrap_or_default() {
        let key = format!("cache.valid.{status}");
        if status != "200" {
            return Err(err(
                &key,
                "only 200 responses (whole files) are stored; remove this key".into(),
            ));
        }
        valid = parse_duration(&ttl).map_err(|p| err(&key, p))?;
    }
    if valid.is_zero() {
        return Err(err(
            "cache.valid.200",
            "must be above 0; remove [cache] to turn caching off".into(),
        ));
    }
    let revalidate_after = dur("cache.revalidate_after", &c.revalidate_after, "60s")?;
    let purge_allow = c
        .purge_allow
        .unwrap_or_else(|| vec!["127.0.0.0/8".into()])
        .iter()
        .enumerate()
        .map(|(i, n)| parse_net(n).map_err(|p| err(&format!("cache.purge_allow[{i}]"), p)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CacheConfig {
        path: c.path,
        max_size,
        memory,
        memory_max_body,
        inactive,
        valid,
        revalidate_after,
        purge_allow,
    })
}

fn check_token(edge: &RawEdge, err: &ErrFn, dur: &DurFn) -> Result<Option<EdgeToken>, ConfigError> {
    let Some(secret) = &edge.token_secret else {
        if edge.token_ttl.is_some() {
            return Err(err(
                "edge.token_ttl",
                "has no effect without edge.token_secret (the token check is off)".into(),
            ));
        }
        return Ok(None);
    };
    if secret.is_empty() {
        return Err(err(
            "edge.token_secret",
            "is empty; set the storages' [http] token_secret, or remove the key to check no tokens"
                .into(),
        ));
    }
    let ttl = dur("edge.token_ttl", &edge.token_ttl, "600s")?;
    if ttl.is_zero() {
        return Err(err(
            "edge.token_ttl",
            "must be above 0 (the storages' [http] token_ttl)".into(),
        ));
    }
    Ok(Some(EdgeToken {
        secret: secret.clone(),
        ttl,
    }))
}

fn check_front(f: RawFront, err: &ErrFn) -> Result<FrontConfig, ConfigError> {
    let prefix = f.prefix.unwrap_or_else(|| "/dfs".into());
    if !prefix.starts_with('/') || prefix.ends_with('/') || prefix.len() < 2 {
        return Err(err(
            "front.prefix",
            format!("{prefix:?}: write it like \"/dfs\" (leading slash, none at the end)"),
        ));
    }
    if f.upstreams.is_empty() {
        return Err(err(
            "front.upstreams",
            "is empty; list the edge tier nodes { addr = \"ip:8000\" }".into(),
        ));
    }
    let upstreams = f
        .upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let a = addr(&u.addr).map_err(|p| err(&format!("front.upstreams[{i}].addr"), p))?;
            let w = u.weight.unwrap_or(1);
            if w == 0 {
                return Err(err(
                    &format!("front.upstreams[{i}].weight"),
                    "must be at least 1".into(),
                ));
            }
            Ok((a, w))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let status = f
        .status
        .map(|st| check_status(st, &prefix, err))
        .transpose()?;
    let upload = f
        .upload
        .map(|up| check_upload(up, &prefix, status.as_ref(), err))
        .transpose()?;
    Ok(FrontConfig {
        prefix,
        upstreams,
        status,
        upload,
    })
}

/// Shortest `front.upload.token` accepted: a guessable token would make the
/// upload path an open one.
const MIN_UPLOAD_TOKEN: usize = 16;

fn check_upload(
    up: RawUpload,
    prefix: &str,
    status: Option<&StatusRoute>,
    err: &ErrFn,
) -> Result<UploadRoute, ConfigError> {
    let path = up.path.unwrap_or_else(|| "/upload".into());
    if !path.starts_with('/') || path.ends_with('/') || path.len() < 2 || path.contains('?') {
        return Err(err(
            "front.upload.path",
            format!("{path:?}: write it like \"/upload\" (leading slash, none at the end)"),
        ));
    }
    if path == prefix || path.starts_with(&format!("{prefix}/")) {
        return Err(err(
            "front.upload.path",
            format!("{path:?} is under front.prefix {prefix:?}, where files are"),
        ));
    }
    if let Some(st) = status {
        if path == st.path || path.strip_suffix(".json") == Some(st.path.as_str()) {
            return Err(err(
                "front.upload.path",
                format!("{path:?} is the status page's (front.status.path)"),
            ));
        }
    }
    if up.trackers.is_empty() {
        return Err(err(
            "front.upload.trackers",
            "is empty; list the trackers \"host:22122\"".into(),
        ));
    }
    for (i, t) in up.trackers.iter().enumerate() {
        let port_ok = t.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            return Err(err(
                &format!("front.upload.trackers[{i}]"),
                format!("{t:?} is not \"host:port\" (the trackers' port, like \"10.0.0.1:22122\")"),
            ));
        }
    }
    let allow = up
        .allow
        .unwrap_or_else(|| vec!["127.0.0.0/8".into()])
        .iter()
        .enumerate()
        .map(|(i, n)| parse_net(n).map_err(|p| err(&format!("front.upload.allow[{i}]"), p)))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(t) = &up.token {
        if t.len() < MIN_UPLOAD_TOKEN || t.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(err(
                "front.upload.token",
                format!("must be at least {MIN_UPLOAD_TOKEN} printable characters without spaces; remove the key to upload without one"),
            ));
        }
    }
    let max_size = parse_size(up.max_size.as_deref().unwrap_or("64M"))
        .map_err(|p| err("front.upload.max_size", p))?;
    if max_size == 0 {
        return Err(err(
            "front.upload.max_size",
            "must be above 0; remove [front.upload] to turn uploads off".into(),
        ));
    }
    if let Some(g) = &up.group {
        if !crate::route::is_group_name(g) {
            return Err(err(
                "front.upload.group",
                format!("{g:?}: a group name is 1-16 letters, digits, '_' or '-'"),
            ));
        }
    }
    if let Some(u) = &up.public_url {
        let scheme_ok = u.starts_with("http://") || u.starts_with("https://");
        if !scheme_ok || u.ends_with('/') || u.parse::<http::Uri>().is_err() {
            return Err(err(
                "front.upload.public_url",
                format!(
                    "{u:?}: write it like \"https://files.example.com/dfs\" (no slash at the end)"
                ),
            ));
        }
    }
    Ok(UploadRoute {
        path,
        trackers: up.trackers,
        allow,
        token: up.token,
        max_size,
        group: up.group,
        public_url: up.public_url,
    })
}

fn check_status(st: RawStatus, prefix: &str, err: &ErrFn) -> Result<StatusRoute, ConfigError> {
    let path = st.path.unwrap_or_else(|| "/status".into());
    if !path.starts_with('/') || path.ends_with('/') || path.len() < 2 || path.contains('?') {
        return Err(err(
            "front.status.path",
            format!("{path:?}: write it like \"/status\" (leading slash, none at the end)"),
        ));
    }
    if path == prefix || path.starts_with(&format!("{prefix}/")) {
        return Err(err(
            "front.status.path",
            format!("{path:?} is under front.prefix {prefix:?}, where files are"),
        ));
    }
    if st.trackers.is_empty() {
        return Err(err(
            "front.status.trackers",
            "is empty; list the trackers' metrics_listen addresses (\"ip:port\")".into(),
        ));
    }
    let trackers = st
        .trackers
        .iter()
        .enumerate()
        .map(|(i, t)| addr(t).map_err(|p| err(&format!("front.status.trackers[{i}]"), p)))
        .collect::<Result<Vec<_>, _>>()?;
    let allow = st
        .allow
        .unwrap_or_else(|| vec!["127.0.0.0/8".into()])
        .iter()
        .enumerate()
        .map(|(i, n)| parse_net(n).map_err(|p| err(&format!("front.status.allow[{i}]"), p)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StatusRoute {
        path,
        trackers,
        allow,
    })
}

fn addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an \"ip:port\" address"))
}

/// A network ("10.0.0.0/8") or a single address ("10.0.0.5").
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not a network like \"10.0.0.0/8\" or an address"))
}

/// Parses nginx-style durations: "500ms", "3s", "5m", "12h", "30d", or
/// plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like \"3s\", \"12h\" or \"30d\""))?;
    let secs = |mul: u64| {
        n.checked_mul(mul)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{s:?} is too long"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => Err(format!(
            "{s:?}: unknown unit {unit:?} (use ms, s, m, h or d)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Config> {
        Config::parse("lb.toml", text)
    }

    fn err_of(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_static_edge_gets_classic_defaults() {
        let c = parse("role = \"edge\"\n[edge.groups]\ngroup1 = [\"127.0.0.1:8888\"]\n[cache]\npath = \"/tmp/c\"\n").unwrap();
        assert_eq!(c.listen, "0.0.0.0:8000".parse().unwrap());
        assert_eq!(c.expires, Some(Duration::from_secs(30 * 86_400)));
        let edge = c.edge.unwrap();
        assert_eq!(edge.token, None);
        let cache = edge.cache.unwrap();
        assert_eq!(cache.valid, Duration::from_secs(12 * 3600));
        assert_eq!(cache.revalidate_after, Duration::from_secs(60));
        assert_eq!(cache.purge_allow, vec![parse_net("127.0.0.0/8").unwrap()]);
        assert_eq!((cache.memory, cache.memory_max_body), (64 << 20, 1 << 20));
    }

    #[test]
    fn front_status_route_defaults_and_errors_name_the_key() {
        let base = "role = \"front\"\n[front]\nupstreams = [{ addr = \"127.0.0.1:8000\" }]\n[front.status]\n";
        let c = Config::parse(
            "t.toml",
            &format!("{base}trackers = [\"127.0.0.2:9122\"]\n"),
        )
        .unwrap();
        let st = c.front.unwrap().status.unwrap();
        assert_eq!(st.path, "/status");
        assert_eq!(st.trackers, vec!["127.0.0.2:9122".parse().unwrap()]);
        assert_eq!(st.allow, vec![parse_net("127.0.0.0/8").unwrap()]);
        for (extra, key) in [
            ("trackers = []\n", "front.status.trackers"),
            ("trackers = [\"x\"]\n", "front.status.trackers[0]"),
            (
                "trackers = [\"1.2.3.4:1\"]\npath = \"/dfs/status\"\n",
                "front.status.path",
            ),
            (
                "trackers = [\"1.2.3.4:1\"]\npath = \"status\"\n",
                "front.status.path",
            ),
            (
                "trackers = [\"1.2.3.4:1\"]\nallow = [\"10.0.0.0/40\"]\n",
                "front.status.allow[0]",
            ),
        ] {
            let e = err_of(&format!("{base}{extra}"));
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn front_upload_is_off_unless_configured_and_errors_name_the_key() {
        let base = "role = \"front\"\n[front]\nupstreams = [{ addr = \"127.0.0.1:8000\" }]\n";
        assert_eq!(parse(base).unwrap().front.unwrap().upload, None);
        let on = format!("{base}[front.upload]\ntrackers = [\"tracker1:22122\"]\n");
        let up = parse(&on).unwrap().front.unwrap().upload.unwrap();
        assert_eq!(up.path, "/upload");
        assert_eq!(up.trackers, vec!["tracker1:22122"]);
        assert_eq!(up.allow, vec![parse_net("127.0.0.0/8").unwrap()]);
        assert_eq!(up.max_size, 64 << 20);
        assert_eq!((up.token, up.group, up.public_url), (None, None, None));
        for (extra, key) in [
            ("trackers = []\n", "front.upload.trackers"),
            ("trackers = [\"a:1\", \"b\"]\n", "front.upload.trackers[1]"),
            (
                "trackers = [\"a:1\"]\npath = \"/dfs/up\"\n",
                "front.upload.path",
            ),
            (
                "trackers = [\"a:1\"]\npath = \"up/\"\n",
                "front.upload.path",
            ),
            (
                "trackers = [\"a:1\"]\nallow = [\"10.0.0.0/8\", \"x\"]\n",
                "front.upload.allow[1]",
            ),
            (
                "trackers = [\"a:1\"]\ntoken = \"short\"\n",
                "front.upload.token",
            ),
            (
                "trackers = [\"a:1\"]\nmax_size = \"0\"\n",
                "front.upload.max_size",
            ),
            (
                "trackers = [\"a:1\"]\nmax_size = \"lots\"\n",
                "front.upload.max_size",
            ),
            (
                "trackers = [\"a:1\"]\ngroup = \"a/b\"\n",
                "front.upload.group",
            ),
            (
                "trackers = [\"a:1\"]\npublic_url = \"files.example\"\n",
                "front.upload.public_url",
            ),
            ("trackers = [\"a:1\"]\nsize = 1\n", "size"),
        ] {
            let e = err_of(&format!("{base}[front.upload]\n{extra}"));
            assert!(e.contains(key), "{key}: {e}");
        }
        let e = err_of(&format!("{base}[front.status]\ntrackers = [\"1.2.3.4:1\"]\n[front.upload]\ntrackers = [\"a:1\"]\npath = \"/status\"\n"));
        assert!(e.contains("front.upload.path"), "{e}");
    }

    #[test]
    fn front_defaults_to_port_88_and_dfs_prefix() {
        let c = parse(
            "role = \"front\"\n[front]\nupstreams = [{ addr = \"127.0.0.1:8000\", weight = 2 }]\n",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 88);
        assert_eq!(c.expires, None);
        let f = c.front.unwrap();
        assert_eq!(f.prefix, "/dfs");
        assert_eq!(f.upstreams, vec![("127.0.0.1:8000".parse().unwrap(), 2)]);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = err_of("role = \"edge\"\nlisten_port = 1\n[edge]\ntrackers = [\"a:1\"]\n");
        assert!(e.contains("listen_port"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = err_of("role = \"edge\"\n[edge.groups]\ngroup1 = [\"nope\"]\n");
        assert!(e.contains("edge.groups.group1[0]"), "{e}");
        let e = err_of("role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\n[cache]\npath = \"/c\"\n[cache.valid]\n200 = \"12x\"\n");
        assert!(e.contains("cache.valid.200"), "{e}");
        let e = err_of("role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\n[cache]\npath = \"/c\"\npurge_allow = [\"10.0.0.0/33\"]\n");
        assert!(e.contains("cache.purge_allow[0]"), "{e}");
        let e = err_of(
            "role = \"front\"\n[front]\nupstreams = [{ addr = \"1.2.3.4:8000\", weight = 0 }]\n",
        );
        assert!(e.contains("front.upstreams[0].weight"), "{e}");
        let e = err_of(
            "role = \"front\"\nshutdown_drop_syn = true\n[front]\nupstreams = [{ addr = \"1.2.3.4:8000\" }]\n",
        );
        assert!(
            e.contains("shutdown_drop_syn") && e.contains("shutdown_drain"),
            "{e}"
        );
    }

    #[test]
    fn only_200_responses_may_be_given_a_validity() {
        let base = "role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\n[cache]\npath = \"/c\"\n[cache.valid]\n";
        let c = parse(&format!("{base}200 = \"1h\"\n")).unwrap();
        assert_eq!(
            c.edge.unwrap().cache.unwrap().valid,
            Duration::from_secs(3600)
        );
        for status in ["304", "404", "302", "500", "abc"] {
            let e = err_of(&format!("{base}{status} = \"1h\"\n"));
            assert!(e.contains(&format!("cache.valid.{status}")), "{e}");
        }
        let e = err_of(&format!("{base}200 = \"0s\"\n"));
        assert!(e.contains("cache.valid.200"), "{e}");
    }

    #[test]
    fn an_edge_gives_up_on_a_silent_storage_sooner_than_a_front_on_an_edge() {
        let edge = parse("role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\n").unwrap();
        assert_eq!(edge.upstream.read_timeout, Duration::from_secs(5));
        let front =
            parse("role = \"front\"\n[front]\nupstreams = [{ addr = \"127.0.0.1:8000\" }]\n")
                .unwrap();
        assert_eq!(front.upstream.read_timeout, Duration::from_secs(30));
        let set = parse(
            "role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\n[upstream]\nread_timeout = \"12s\"\n",
        )
        .unwrap();
        assert_eq!(set.upstream.read_timeout, Duration::from_secs(12));
    }

    #[test]
    fn the_edge_token_check_needs_a_secret_and_a_ttl() {
        let base = "role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\n";
        let c = parse(&format!("{base}token_secret = \"s3\"\n")).unwrap();
        assert_eq!(
            c.edge.unwrap().token,
            Some(EdgeToken {
                secret: "s3".into(),
                ttl: Duration::from_secs(600)
            })
        );
        let e = err_of(&format!("{base}token_secret = \"\"\n"));
        assert!(e.contains("edge.token_secret"), "{e}");
        let e = err_of(&format!("{base}token_ttl = \"60s\"\n"));
        assert!(e.contains("edge.token_ttl"), "{e}");
        let e = err_of(&format!("{base}token_secret = \"s\"\ntoken_ttl = \"0s\"\n"));
        assert!(e.contains("edge.token_ttl"), "{e}");
        let e = err_of(&format!(
            "{base}[cache]\npath = \"/c\"\nrevalidate_after = \"soon\"\n"
        ));
        assert!(e.contains("cache.revalidate_after"), "{e}");
        let e = err_of(&format!(
            "{base}[cache]\npath = \"/c\"\nmemory = \"lots\"\n"
        ));
        assert!(e.contains("cache.memory"), "{e}");
        let e = err_of(&format!(
            "{base}[cache]\npath = \"/c\"\nmemory_max_body = \"-1\"\n"
        ));
        assert!(e.contains("cache.memory_max_body"), "{e}");
    }

    #[test]
    fn http_health_check_needs_a_valid_path() {
        let e = err_of("role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\n[upstream]\nhealth_check = \"http:/a b\"\n");
        assert!(e.contains("upstream.health_check"), "{e}");
    }

    #[test]
    fn tier_sections_must_match_the_role() {
        let e = err_of("role = \"front\"\n[front]\nupstreams = [{ addr = \"1.2.3.4:8000\" }]\n[cache]\npath = \"/c\"\n");
        assert!(e.contains("cache:"), "{e}");
        let e = err_of("role = \"edge\"\n");
        assert!(e.contains("edge:"), "{e}");
        let e = err_of(
            "role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\n[edge.groups]\ng = [\"1.2.3.4:1\"]\n",
        );
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn storages_learned_from_trackers_default_to_http_port_8888() {
        let port = |text: &str| match parse(text).unwrap().edge.unwrap().membership {
            Membership::Trackers {
                storage_http_port, ..
            } => storage_http_port,
            Membership::Static(_) => unreachable!(),
        };
        assert_eq!(
            port("role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\n"),
            8888
        );
        assert_eq!(
            port("role = \"edge\"\n[edge]\ntrackers = [\"a:1\"]\nstorage_http_port = 80\n"),
            80
        );
        let e = err_of(
            "role = \"edge\"\n[edge]\nstorage_http_port = 80\n[edge.groups]\ng = [\"1.2.3.4:1\"]\n",
        );
        assert!(e.contains("edge.storage_http_port"), "{e}");
    }

    #[test]
    fn shipped_example_configs_are_valid() {
        for f in ["edge.toml", "front.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(f);
            Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn durations_accept_nginx_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43_200));
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
