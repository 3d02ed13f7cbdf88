//! `import-conf`: FastDFS's tracker.conf, storage.conf, client.conf,
//! storage_ids.conf, mod_fastdfs.conf (with its http.conf) and the
//! tracker nodes' nginx snippet turned into tracker.toml, storage.toml and
//! edge.toml, with a report on every key: mapped, kept, ignored (no
//! meaning here) or unmapped (what to do instead). Each file written is
//! then checked by the parser of the daemon that will read it.

mod common;
mod http;
mod ini;
mod mapping;
mod nginx;
mod report;
mod storage;
mod tracker;
mod values;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use mapping::{Inputs, Options};

#[derive(clap::Args, Debug)]
pub struct ImportConfArgs {
    /// FastDFS config files. The kind is told by the file name
    /// (tracker.conf, storage.conf, client.conf, storage_ids.conf,
    /// mod_fastdfs.conf, http.conf, nginx*.conf) or else by the keys.
    pub files: Vec<PathBuf>,
    /// A tracker.conf, whatever its name.
    #[arg(long)]
    pub tracker: Option<PathBuf>,
    /// A storage.conf, whatever its name.
    #[arg(long)]
    pub storage: Option<PathBuf>,
    /// A client.conf, whatever its name.
    #[arg(long)]
    pub client: Option<PathBuf>,
    /// A storage_ids.conf, whatever its name.
    #[arg(long)]
    pub storage_ids: Option<PathBuf>,
    /// A mod_fastdfs.conf, whatever its name.
    #[arg(long)]
    pub mod_fastdfs: Option<PathBuf>,
    /// An http.conf, whatever its name.
    #[arg(long)]
    pub http: Option<PathBuf>,
    /// An nginx config of the tracker nodes (proxy cache, purge).
    #[arg(long)]
    pub nginx: Option<PathBuf>,
    /// Where the ferrodfs files and import-report.txt go.
    #[arg(short = 'o', long, default_value = "ferrodfs-conf")]
    pub out: PathBuf,
    /// This storage's IPv4 address (storage.toml `ip`): FastDFS found it
    /// by itself, ferrodfs is told.
    #[arg(long)]
    pub storage_ip: Option<Ipv4Addr>,
    /// The cluster secret to write; a new one is made if none is given.
    #[arg(
        long = "cluster-secret",
        env = "FERRODFS_CLUSTER_SECRET",
        hide_env_values = true
    )]
    pub cluster_secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tracker,
    Storage,
    Client,
    StorageIds,
    ModFastdfs,
    Http,
    Nginx,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tracker => "tracker.conf",
            Kind::Storage => "storage.conf",
            Kind::Client => "client.conf",
            Kind::StorageIds => "storage_ids.conf",
            Kind::ModFastdfs => "mod_fastdfs.conf",
            Kind::Http => "http.conf",
            Kind::Nginx => "an nginx config",
        }
    }
}

/// The kind a file's name says (`storage_ids.conf` before `storage`).
fn kind_by_name(name: &str) -> Option<Kind> {
    let n = name.to_ascii_lowercase();
    [
        ("storage_ids", Kind::StorageIds),
        ("mod_fastdfs", Kind::ModFastdfs),
        ("nginx", Kind::Nginx),
        ("tracker", Kind::Tracker),
        ("storage", Kind::Storage),
        ("client", Kind::Client),
        ("http", Kind::Http),
    ]
    .into_iter()
    .find(|(word, _)| n.contains(word))
    .map(|(_, k)| k)
}

/// The kind a file's content says, by keys only one kind has.
fn kind_by_text(text: &str) -> Option<Kind> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let has = |key: &str| {
        lines
            .iter()
            .any(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))
    };
    if lines
        .iter()
        .any(|l| l.ends_with('{') || l.ends_with(';') || l.starts_with('}'))
    {
        return Some(Kind::Nginx);
    }
    if !lines.is_empty()
        && lines.iter().all(|l| {
            !l.contains('=')
                && l.split_whitespace()
                    .next()
                    .is_some_and(|w| w.parse::<u32>().is_ok())
        })
    {
        return Some(Kind::StorageIds);
    }
    if has("url_have_group_name") || has("storage_server_port") {
        return Some(Kind::ModFastdfs);
    }
    if has("store_lookup") || has("check_active_interval") {
        return Some(Kind::Tracker);
    }
    if has("store_path0") || has("heart_beat_interval") || has("group_name") {
        return Some(Kind::Storage);
    }
    if has("tracker_server") {
        return Some(Kind::Client);
    }
    if lines.iter().any(|l| l.starts_with("http.")) {
        return Some(Kind::Http);
    }
    None
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads a FastDFS ini file, resolving `#include` beside it.
fn read_ini(path: &Path) -> anyhow::Result<Vec<ini::Entry>> {
    let text = read(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut include = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p)
            .map(|t| (display_name(&p), t))
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    ini::parse(&display_name(path), &text, &mut include).map_err(anyhow::Error::msg)
}

/// Every file given, with its kind; a kind given twice is an error.
fn classify(a: &ImportConfArgs) -> anyhow::Result<Vec<(Kind, PathBuf)>> {
    let mut out: Vec<(Kind, PathBuf)> = Vec::new();
    let flagged = [
        (Kind::Tracker, &a.tracker),
        (Kind::Storage, &a.storage),
        (Kind::Client, &a.client),
        (Kind::StorageIds, &a.storage_ids),
        (Kind::ModFastdfs, &a.mod_fastdfs),
        (Kind::Http, &a.http),
        (Kind::Nginx, &a.nginx),
    ];
    for (kind, path) in flagged {
        if let Some(p) = path {
            out.push((kind, p.clone()));
        }
    }
    for p in &a.files {
        let kind = match kind_by_name(&display_name(p)) {
            Some(k) => k,
            None => kind_by_text(&read(p)?).with_context(|| {
                format!(
                    "{}: cannot tell which FastDFS file this is; pass it with --tracker, --storage, --client, --storage-ids, --mod-fastdfs, --http or --nginx",
                    p.display()
                )
            })?,
        };
        out.push((kind, p.clone()));
    }
    for (i, (kind, p)) in out.iter().enumerate() {
        if let Some((_, other)) = out[..i].iter().find(|(k, _)| k == kind) {
            anyhow::bail!(
                "{} and {} are both {}: import one cluster node's files at a time",
                other.display(),
                p.display(),
                kind.name()
            );
        }
    }
    if out.is_empty() {
        anyhow::bail!(
            "no FastDFS config files given (e.g. /etc/fdfs/tracker.conf /etc/fdfs/storage.conf)"
        );
    }
    Ok(out)
}

pub fn run(a: ImportConfArgs) -> anyhow::Result<()> {
    let files = classify(&a)?;
    let mut inputs = Inputs::default();
    let mut raw: Vec<(Kind, PathBuf, String)> = Vec::new();
    for (kind, path) in files {
        match kind {
            Kind::Tracker => inputs.tracker = Some(read_ini(&path)?),
            Kind::Storage => inputs.storage = Some(read_ini(&path)?),
            Kind::Client => inputs.client = Some(read_ini(&path)?),
            Kind::ModFastdfs => inputs.mod_fastdfs = Some(read_ini(&path)?),
            Kind::Http => inputs.http = Some(read_ini(&path)?),
            Kind::StorageIds => inputs.storage_ids = Some((display_name(&path), read(&path)?)),
            Kind::Nginx => inputs.nginx = Some((display_name(&path), read(&path)?)),
        }
        if matches!(kind, Kind::Client | Kind::StorageIds) {
            let text = read(&path)?;
            raw.push((kind, path, text));
        }
    }
    // An http.conf that mod_fastdfs.conf includes is read there already.
    if let (Some(m), Some(h)) = (&inputs.mod_fastdfs, &inputs.http) {
        if h.first()
            .is_some_and(|first| m.iter().any(|e| e.file == first.file))
        {
            inputs.http = None;
        }
    }
    let secret = match &a.cluster_secret {
        Some(s) => {
            ferrodfs_proto::auth::Secret::new(s)
                .map_err(|e| anyhow::anyhow!("--cluster-secret: {e}"))?;
            s.clone()
        }
        None => ferrodfs_proto::auth::Secret::generate(),
    };
    let opts = Options {
        cluster_secret: secret,
        storage_ip: a.storage_ip,
    };
    let mut out = mapping::import(&inputs, &opts);
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut refused = 0;
    let mut check =
        |name: &str, result: anyhow::Result<()>, report: &mut report::Report| match result {
            Ok(()) => report.note(format!("{name}: accepted by ferrodfs's parser")),
            Err(e) => {
                refused += 1;
                report.note(format!("{name}: NOT accepted yet: {e:#}"));
            }
        };
    // Copied first: tracker.toml reads storage_ids.conf beside it.
    for (kind, _, text) in &raw {
        let p = a.out.join(kind.name());
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
        let result = match kind {
            Kind::Client => ferrodfs_client::ClientConfig::load(&p)
                .map(drop)
                .map_err(anyhow::Error::msg),
            _ => ferrodfs_proto::storage_ids::StorageIds::parse(text)
                .map(drop)
                .map_err(|e| anyhow::anyhow!("{e}")),
        };
        check(kind.name(), result, &mut out.report);
    }
    if let Some(text) = &out.tracker {
        let p = a.out.join("tracker.toml");
        super::up::write_private(&p, text)?;
        check(
            "tracker.toml",
            ferrodfs_tracker::Config::load(&p).map(drop),
            &mut out.report,
        );
    }
    if let Some(text) = &out.storage {
        let p = a.out.join("storage.toml");
        super::up::write_private(&p, text)?;
        check(
            "storage.toml",
            ferrodfs_storage::Config::load(&p).map(drop),
            &mut out.report,
        );
    }
    if let Some(text) = &out.edge {
        let p = a.out.join("edge.toml");
        super::up::write_private(&p, text)?;
        check(
            "edge.toml",
            ferrodfs_lb::config::Config::load(&p).map(drop),
            &mut out.report,
        );
    }
    let text = out.report.render();
    let p = a.out.join("import-report.txt");
    std::fs::write(&p, &text).with_context(|| format!("cannot write {}", p.display()))?;
    print!("{text}");
    println!("written to {}", a.out.display());
    if refused > 0 {
        anyhow::bail!(
            "{refused} file(s) need the changes the notes name before ferrodfs can run them"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
