//! The pure core of `import-conf`: FastDFS config entries in, ferrodfs
//! TOML text and a report on every key out. No file is touched here.

use std::net::Ipv4Addr;

use ferrodfs_proto::storage_ids::StorageIds;

use super::ini::Entry;
use super::report::{Doc, Report, Value, Verdict};
use super::{http, nginx, storage, tracker, values};

/// Which ferrodfs file a setting goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Tracker,
    Storage,
    Edge,
}

/// The files being written and the report, as the mappers fill them.
pub struct Cx {
    pub report: Report,
    pub tracker: Doc,
    pub storage: Doc,
    pub edge: Doc,
    /// Whether edge.toml is made (the trackers' addresses are known).
    pub edge_on: bool,
}

impl Cx {
    fn doc(&mut self, t: Target) -> &mut Doc {
        match t {
            Target::Tracker => &mut self.tracker,
            Target::Storage => &mut self.storage,
            Target::Edge => &mut self.edge,
        }
    }

    /// Sets a key without reporting; returns `file: key = value`.
    pub fn set(&mut self, t: Target, table: &str, key: &str, value: Value, from: &str) -> String {
        self.doc(t).set(table, key, value, from)
    }

    pub fn map(&mut self, e: &Entry, t: Target, table: &str, key: &str, value: Value) {
        let shown = self.set(t, table, key, value, &format!("{}: {}", e.file, e.name()));
        self.report.add(e, Verdict::Mapped(shown));
    }

    /// Maps a converted value, or reports why the value could not be.
    pub fn try_map(
        &mut self,
        e: &Entry,
        t: Target,
        table: &str,
        key: &str,
        value: Result<Value, String>,
    ) {
        match value {
            Ok(v) => self.map(e, t, table, key, v),
            Err(err) => {
                let name = self.doc(t).name;
                let key = if table.is_empty() {
                    key.to_string()
                } else {
                    format!("[{table}] {key}")
                };
                self.unmapped(
                    e,
                    format!("{err}: fix the value and rerun, or set {name} {key} by hand"),
                );
            }
        }
    }

    pub fn ignored(&mut self, e: &Entry, why: impl Into<String>) {
        self.report.add(e, Verdict::Ignored(why.into()));
    }

    pub fn unmapped(&mut self, e: &Entry, what: impl Into<String>) {
        self.report.add(e, Verdict::Unmapped(what.into()));
    }
}

/// The FastDFS files given, already read (includes resolved).
#[derive(Default)]
pub struct Inputs {
    pub tracker: Option<Vec<Entry>>,
    pub storage: Option<Vec<Entry>>,
    pub client: Option<Vec<Entry>>,
    /// mod_fastdfs.conf, with the http.conf it includes.
    pub mod_fastdfs: Option<Vec<Entry>>,
    /// An http.conf given on its own.
    pub http: Option<Vec<Entry>>,
    /// (file name, text)
    pub storage_ids: Option<(String, String)>,
    /// (file name, text)
    pub nginx: Option<(String, String)>,
}

pub struct Options {
    /// Written to tracker.toml and storage.toml alike.
    pub cluster_secret: String,
    /// storage.toml `ip`, which FastDFS found by itself.
    pub storage_ip: Option<Ipv4Addr>,
}

/// What to write: the TOML texts of the files that apply.
pub struct Output {
    pub tracker: Option<String>,
    pub storage: Option<String>,
    pub edge: Option<String>,
    pub report: Report,
}

/// Every `tracker_server` of storage.conf, mod_fastdfs.conf and
/// client.conf, first seen first: the cluster's trackers, for the edge.
fn cluster_trackers(inputs: &Inputs) -> Vec<String> {
    let mut out = Vec::new();
    let files = [&inputs.storage, &inputs.mod_fastdfs, &inputs.client];
    for e in files.into_iter().flatten().flatten() {
        if e.key == "tracker_server" && e.section.is_none() {
            if let Ok((addr, _)) = values::tracker_server(&e.value) {
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
    }
    out
}

pub fn import(inputs: &Inputs, opts: &Options) -> Output {
    let header = "Made by `ferrodfs import-conf` from FastDFS's configs; import-report.txt\nsays what became of every FastDFS key.";
    let trackers = cluster_trackers(inputs);
    let mut cx = Cx {
        report: Report::default(),
        tracker: Doc::new("tracker.toml", header),
        storage: Doc::new("storage.toml", header),
        edge: Doc::new("edge.toml", header),
        edge_on: !trackers.is_empty(),
    };
    if cx.edge_on {
        cx.set(Target::Edge, "", "role", Value::Str("edge".into()), "");
        cx.set(
            Target::Edge,
            "",
            "listen",
            Value::Str("0.0.0.0:8000".into()),
            "the classic stack's nginx port on tracker nodes",
        );
        cx.set(
            Target::Edge,
            "edge",
            "trackers",
            Value::List(trackers),
            "tracker_server lines",
        );
    }
    let secret_from = "the cluster's shared secret: the same on every tracker and storage";
    if let Some(entries) = &inputs.tracker {
        cx.set(
            Target::Tracker,
            "",
            "cluster_secret",
            Value::Str(opts.cluster_secret.clone()),
            secret_from,
        );
        tracker::map(entries, &mut cx);
    }
    let storage_on =
        inputs.storage.is_some() || inputs.mod_fastdfs.is_some() || inputs.http.is_some();
    if storage_on {
        cx.set(
            Target::Storage,
            "",
            "cluster_secret",
            Value::Str(opts.cluster_secret.clone()),
            secret_from,
        );
        if let Some(ip) = opts.storage_ip {
            cx.set(
                Target::Storage,
                "",
                "ip",
                Value::Str(ip.to_string()),
                "--storage-ip",
            );
        }
    }
    if let Some(entries) = &inputs.storage {
        storage::map(entries, &mut cx);
        let bind_is_v4 = matches!(
            cx.storage.get("", "bind"),
            Some(Value::Str(b)) if b.parse::<Ipv4Addr>().is_ok_and(|a| !a.is_unspecified())
        );
        if opts.storage_ip.is_none() && !bind_is_v4 {
            cx.report.note(
                "storage.toml: ip: FastDFS found this host's address itself; ferrodfs needs it: rerun with --storage-ip ADDR or add ip = \"ADDR\"",
            );
        }
    } else if storage_on {
        cx.report.note(
            "storage.toml: made without a storage.conf, so only its [http] settings are set: add group_name, base_path, store_paths and tracker_servers",
        );
    }
    // A FastDFS storage takes reserved_storage_space from its tracker; a
    // ferrodfs storage checks its own, so it gets the tracker's value.
    if storage_on {
        if let Some(v) = cx.tracker.get("", "reserved_storage_space").cloned() {
            cx.set(
                Target::Storage,
                "",
                "reserved_storage_space",
                v,
                "tracker.conf: reserved_storage_space (a FastDFS storage takes it from its tracker)",
            );
        }
    }
    for entries in [&inputs.mod_fastdfs, &inputs.http].into_iter().flatten() {
        http::map(entries, &mut cx);
    }
    if let Some(entries) = &inputs.client {
        client(entries, &mut cx);
    }
    if let Some((file, text)) = &inputs.storage_ids {
        storage_ids(file, text, &mut cx);
        if cx.tracker.get("", "use_storage_id") == Some(&Value::Bool(true)) {
            cx.set(
                Target::Tracker,
                "",
                "storage_ids_filename",
                Value::Str("storage_ids.conf".into()),
                "copied beside tracker.toml",
            );
            cx.report.note(format!(
                "tracker.toml: storage_ids_filename = \"storage_ids.conf\": {file} is copied beside it"
            ));
        }
    }
    if let Some((file, text)) = &inputs.nginx {
        if let Err(err) = nginx::map(file, text, &mut cx) {
            cx.report
                .note(format!("{err}: the nginx settings were not read"));
        }
    }
    if inputs.tracker.is_some() || storage_on {
        cx.report.note(
            "cluster_secret: a new secret is written to tracker.toml and storage.toml; every tracker and storage of the cluster needs the same one (rerun with --cluster-secret to reuse it)",
        );
    }
    Output {
        tracker: inputs.tracker.is_some().then(|| cx.tracker.render()),
        storage: storage_on.then(|| cx.storage.render()),
        edge: cx.edge_on.then(|| cx.edge.render()),
        report: cx.report,
    }
}

/// client.conf is read by ferrodfs's client and tools as it is.
fn client(entries: &[Entry], cx: &mut Cx) {
    for e in entries {
        let verdict = match e.key.as_str() {
            "tracker_server" | "connect_timeout" | "network_timeout" => Verdict::Kept(
                "read as it is by ferrodfs's client and tools (client.conf is copied)".into(),
            ),
            "use_storage_id" | "storage_ids_filename" | "load_fdfs_parameters_from_tracker" => {
                Verdict::Ignored(
                    "the client asks the trackers; storage ids are the trackers' business".into(),
                )
            }
            "base_path" | "log_level" => Verdict::Ignored("the client logs to stderr".into()),
            "use_connection_pool" | "connection_pool_max_idle_time" | "connect_first_by" => {
                Verdict::Ignored(
                    "ferrodfs's client connects per command, trying the trackers in order".into(),
                )
            }
            k if k.starts_with("http.") => Verdict::Ignored(
                "HTTP URLs go through the front lb (/dfs/<group>/...) or a storage's http_port"
                    .into(),
            ),
            _ => Verdict::Ignored(
                "not read by ferrodfs's client; FastDFS clients keep reading it".into(),
            ),
        };
        cx.report.add(e, verdict);
    }
}

/// storage_ids.conf is read by the trackers as it is: each line is
/// checked the way they will read it.
fn storage_ids(file: &str, text: &str, cx: &mut Cx) {
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (id, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let e = Entry {
            file: file.to_string(),
            line: i + 1,
            section: None,
            key: id.to_string(),
            value: rest.trim().to_string(),
        };
        match StorageIds::parse(line) {
            Ok(_) => cx.report.add(
                &e,
                Verdict::Kept("read as it is by the trackers (storage_ids.conf is copied)".into()),
            ),
            Err(err) => cx.unmapped(
                &e,
                format!("{err}: the trackers would refuse the file; fix or remove this line"),
            ),
        }
    }
    if let Err(err) = StorageIds::parse(text) {
        cx.report.note(format!("{file}: {err}"));
    }
}
