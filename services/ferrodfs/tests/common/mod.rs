//! A real cluster for tests: every tracker and storage is a `ferrodfs`
//! child process with its own config, address and data directory.

#![allow(dead_code)]

pub mod fastdfs;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ferrodfs_client::{Client, ClientConfig};
use ferrodfs_proto::cluster::state;

pub const BIN: &str = env!("CARGO_BIN_EXE_ferrodfs");
pub const HEART_BEAT: &str = "0.3";
pub const CHECK_ACTIVE: &str = "1.5";
/// `reserved_storage_space` for test daemons unless their extra config sets
/// it: an absolute amount, so tests do not fail with ENOSPC on a host whose
/// disk is more than 90% full (the default reserve is 10%).
fn small_reserve(extra: &str) -> &'static str {
    if extra.contains("reserved_storage_space") {
        ""
    } else {
        "reserved_storage_space = \"16M\"\n"
    }
}

/// `subdir_count_per_path` for test storages unless their extra config
/// sets it: a 16x16 data tree. FastDFS's 256x256 default takes 256 MiB
/// of directory blocks per store path on ext4 and seconds of mkdirs at
/// each start, which a suite of short-lived clusters pays again and again.
fn small_tree(extra: &str) -> &'static str {
    if extra.contains("subdir_count_per_path") {
        ""
    } else {
        "subdir_count_per_path = 16\n"
    }
}

/// `check_active_interval` for test trackers unless their extra config
/// sets it.
fn check_active(extra: &str) -> String {
    if extra.contains("check_active_interval") {
        String::new()
    } else {
        format!("check_active_interval = {CHECK_ACTIVE}\n")
    }
}

/// The cluster secret every daemon of a test cluster shares.
pub const SECRET: &str = "test-cluster-secret-0123456789";

static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// A /24 on loopback of our own, so parallel tests never share addresses.
pub fn subnet() -> String {
    let n = NEXT_NET.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    format!("127.{}.{}", 100 + (pid % 100), 1 + (n % 250))
}

/// A port free on `ip` now and never handed out before in this test
/// process (a tracker once got its own port as its metrics port), below
/// the kernel's ephemeral range (32768-60999 by default), where a port
/// found free could become an outgoing connection's source port before
/// the daemon binds it.
pub fn free_port(ip: &str) -> u16 {
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: std::sync::Mutex<Option<u32>> = std::sync::Mutex::new(None);
    let mut next = NEXT.lock().unwrap();
    let n = next.get_or_insert_with(|| std::process::id().wrapping_mul(7_919) % SPAN);
    for _ in 0..SPAN {
        let port = (LOW + *n % SPAN) as u16;
        *n += 1;
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip} below the ephemeral range");
}

pub struct Daemon {
    pub name: String,
    pub child: Option<Child>,
    pub config: PathBuf,
    pub log: PathBuf,
    pub addr: String,
    pub role: &'static str,
}

impl Daemon {
    pub fn start(dir: &Path, role: &'static str, name: &str, addr: &str, config: &str) -> Daemon {
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(&cfg, config).unwrap();
        let mut d = Daemon {
            name: name.into(),
            child: None,
            config: cfg,
            log: dir.join(format!("{name}.log")),
            addr: addr.into(),
            role,
        };
        d.restart();
        d
    }

    /// Starts the daemon again; a running one is killed first, so it never
    /// outlives the test holding its ports.
    pub fn restart(&mut self) {
        self.kill9();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BIN)
            .args([self.role, "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        let mut c = self.child.take().expect("daemon is running");
        unsafe { libc_kill(c.id() as i32, 15) };
        let t = Instant::now();
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if t.elapsed() > within {
                let _ = c.kill();
                panic!("{} did not stop within {within:?} after SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes the process (SIGSTOP) as a network cut would look to its
    /// peers: connections stay open, nothing answers, no RST.
    /// Returns once every thread is stopped: SIGSTOP is only queued when
    /// kill returns, and a thread still running could answer one more
    /// request.
    pub fn freeze(&self) {
        self.signal(19);
        let pid = self.child.as_ref().expect("daemon is running").id();
        let t = Instant::now();
        while !all_threads_stopped(pid) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{} did not stop within 10 s of SIGSTOP",
                self.name
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Lets a [`Daemon::freeze`]d process run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal(18);
    }

    /// [`Daemon::freeze`] until the guard is dropped, so a test that
    /// fails half-way leaves no process stopped.
    pub fn frozen(&self) -> Frozen<'_> {
        self.freeze();
        Frozen(self)
    }

    fn signal(&self, sig: i32) {
        let c = self.child.as_ref().expect("daemon is running");
        unsafe { libc_kill(c.id() as i32, sig) };
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it holds `needle` (daemons write their lines on a
    /// thread of their own, so a line may land just after the event it
    /// tells of); panics with the log after 10 s.
    pub fn wait_log(&self, needle: &str) -> String {
        let t = Instant::now();
        loop {
            let log = self.log_text();
            if log.contains(needle) {
                return log;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{} never logged {needle:?}:\n{log}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// A frozen daemon, thawed on drop (see [`Daemon::frozen`]).
/// Whether every thread of `pid` is in the stopped state (`T` in
/// /proc/PID/task/TID/stat, after the command name).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('T'))
        })
    })
}

pub struct Frozen<'a>(&'a Daemon);

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        self.0.thaw();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub struct StorageSpec {
    pub group: &'static str,
    pub extra: String,
}

pub struct Cluster {
    pub trackers: Vec<Daemon>,
    pub storages: Vec<Daemon>,
    pub net: String,
    /// Last: fields drop in order, so the daemons are killed before
    /// their directories are removed.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// `n_trackers` trackers and one storage per entry of `groups`.
    pub fn start(n_trackers: usize, groups: &[&'static str]) -> Cluster {
        Self::start_with(
            n_trackers,
            "",
            groups
                .iter()
                .map(|g| StorageSpec {
                    group: g,
                    extra: String::new(),
                })
                .collect(),
        )
    }

    pub fn start_with(
        n_trackers: usize,
        tracker_extra: &str,
        storages: Vec<StorageSpec>,
    ) -> Cluster {
        Self::start_on(&subnet(), n_trackers, tracker_extra, storages)
    }

    /// Like [`Cluster::start_with`] on a given [`subnet`]: trackers at
    /// `.1`, `.2`..., storages at `.10`, `.11`...
    pub fn start_on(
        net: &str,
        n_trackers: usize,
        tracker_extra: &str,
        storages: Vec<StorageSpec>,
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let net = net.to_string();
        let mut c = Cluster {
            dir,
            trackers: Vec::new(),
            storages: Vec::new(),
            net: net.clone(),
        };
        for i in 0..n_trackers {
            let ip = format!("{net}.{}", 1 + i);
            let port = free_port(&ip);
            let metrics = free_port(&ip);
            let cfg = format!(
                "bind = \"{ip}\"\nport = {port}\nmetrics_listen = \"{ip}:{metrics}\"\n\
                 base_path = \"{}\"\n{}\
                 cluster_secret = \"{SECRET}\"\n{}{tracker_extra}\n",
                c.dir.path().join(format!("tracker{i}")).display(),
                check_active(tracker_extra),
                small_reserve(tracker_extra),
            );
            let d = Daemon::start(
                c.dir.path(),
                "tracker",
                &format!("tracker{i}"),
                &format!("{ip}:{port}"),
                &cfg,
            );
            c.trackers.push(d);
        }
        for spec in storages {
            c.add_storage(spec);
        }
        c
    }

    pub fn add_storage(&mut self, spec: StorageSpec) -> usize {
        let i = self.storages.len();
        let ip = format!("{}.{}", self.net, 10 + i);
        let port = free_port(&ip);
        let metrics = free_port(&ip);
        let base = self.dir.path().join(format!("storage{i}"));
        let store = base.join("store0");
        std::fs::create_dir_all(&store).unwrap();
        let trackers: Vec<String> = self
            .trackers
            .iter()
            .map(|t| format!("\"{}\"", t.addr))
            .collect();
        let cfg = format!(
            "group_name = \"{}\"\nbind = \"{ip}\"\nip = \"{ip}\"\nport = {port}\nmetrics_listen = \"{ip}:{metrics}\"\n\
             base_path = \"{}\"\nstore_paths = [\"{}\"]\ntracker_servers = [{}]\nheart_beat_interval = {HEART_BEAT}\n\
             cluster_secret = \"{SECRET}\"\n{}{}{}\n",
            spec.group,
            base.display(),
            store.display(),
            trackers.join(", "),
            small_reserve(&spec.extra),
            small_tree(&spec.extra),
            spec.extra
        );
        let d = Daemon::start(
            self.dir.path(),
            "storage",
            &format!("storage{i}"),
            &format!("{ip}:{port}"),
            &cfg,
        );
        self.storages.push(d);
        i
    }

    pub fn tracker_addrs(&self) -> Vec<String> {
        self.trackers.iter().map(|t| t.addr.clone()).collect()
    }

    pub fn client(&self) -> Client {
        let mut cfg = ClientConfig::new(self.tracker_addrs());
        cfg.connect_timeout = Duration::from_secs(2);
        cfg.network_timeout = Duration::from_secs(10);
        cfg.cluster_secret = Some(ferrodfs_proto::auth::Secret::new(SECRET).unwrap());
        Client::new(cfg)
    }

    /// A FastDFS-format client.conf for this cluster.
    pub fn client_conf(&self) -> PathBuf {
        let p = self.dir.path().join("client.conf");
        let mut text =
            format!("connect_timeout = 2\nnetwork_timeout = 10\ncluster_secret = {SECRET}\n");
        for t in self.tracker_addrs() {
            text.push_str(&format!("tracker_server = {t}\n"));
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn store_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("storage{i}")).join("store0")
    }

    /// Waits until every live tracker lists `n` ACTIVE storages.
    pub async fn wait_active(&self, n: usize) {
        let t = Instant::now();
        loop {
            let mut ok = true;
            for addr in self.tracker_addrs() {
                ok &= active_count(&addr).await == Some(n);
            }
            if ok {
                return;
            }
            if t.elapsed() > Duration::from_secs(20) {
                self.dump_logs();
                panic!("cluster never reached {n} ACTIVE storages");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn dump_logs(&self) {
        for d in self.trackers.iter().chain(&self.storages) {
            eprintln!("----- {} -----\n{}", d.name, d.log_text());
        }
    }
}

/// ACTIVE storages as one tracker reports them; `None` if it is down.
pub async fn active_count(tracker: &str) -> Option<usize> {
    let c = Client::new(ClientConfig::new(vec![tracker.to_string()]));
    let groups = c.list_groups().await.ok()?;
    let mut n = 0;
    for g in groups {
        n += c
            .list_storages(&g.name, None)
            .await
            .ok()?
            .iter()
            .filter(|s| s.status == state::ACTIVE)
            .count();
    }
    Some(n)
}

/// Files (not directories) under a store path's data directory, but
/// the store path writer's placing journal and the inodes of deleted
/// files kept for new uploads (empty files named `.hold/<n>.free`; one
/// that is not empty is listed).
pub fn data_files(store: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![store.join("data")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with(".hold/placing") && !ferrodfs_storage::is_kept_inode(&p) {
                // (The store path writer's journal, not a file.)
                out.push(p);
            }
        }
    }
    out
}

/// A storage's temp file: the old `data/.tmp/` directory, or a
/// `.<hex>.part` file beside the data files.
pub fn is_temp(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.to_string_lossy().contains("/.tmp/") || (name.starts_with('.') && name.ends_with(".part"))
}

/// Every file under a store path's `data/` except temp files, keyed by
/// its path relative to `data/`, with its bytes (a file deleted while
/// this looks is left out).
pub fn held_files(store: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    data_files(store)
        .into_iter()
        .filter(|p| !is_temp(p))
        .filter_map(|p| {
            let rel = p.strip_prefix(store.join("data")).unwrap();
            let bytes = std::fs::read(&p).ok()?;
            Some((rel.to_string_lossy().into_owned(), bytes))
        })
        .collect()
}

/// Waits until the two storages' `files` (of storage 0 and 1) are the
/// same and `done` holds for them; returns them. Past `within`, dumps the
/// logs and panics naming the files that differ.
pub async fn members_agree(
    c: &Cluster,
    within: Duration,
    files: impl Fn(usize) -> std::collections::BTreeMap<String, Vec<u8>>,
    done: impl Fn(&std::collections::BTreeMap<String, Vec<u8>>) -> bool,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let t = Instant::now();
    loop {
        let (a, b) = (files(0), files(1));
        if a == b && done(&a) {
            return a;
        }
        if t.elapsed() > within {
            c.dump_logs();
            let differ: Vec<_> = a
                .keys()
                .chain(b.keys())
                .filter(|k| a.get(*k) != b.get(*k))
                .collect();
            panic!("members did not converge within {within:?}; differing: {differ:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The files of store path 0 that a storage's binlog (under `base`,
/// its base path) says exist: those whose last record, in either case
/// (its own change or a synced one), is not a delete; keyed like
/// [`held_files`]. A rename ends its old name.
pub fn logged_files(base: &Path) -> std::collections::BTreeSet<String> {
    let dir = base.join("data").join("sync");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    logs.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("binlog.") && n[7..].bytes().all(|b| b.is_ascii_digit()))
    });
    logs.sort();
    let mut exists = std::collections::BTreeMap::new();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap();
        for line in text.lines() {
            let mut f = line.split(' ');
            let (_, op, name) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
            let Some(rel) = name.strip_prefix("M00/") else {
                continue;
            };
            let op = op.to_ascii_uppercase();
            if op == "R" {
                if let Some(old) = f.next().and_then(|o| o.strip_prefix("M00/")) {
                    exists.insert(old.to_string(), false);
                }
            }
            exists.insert(rel.to_string(), op != "D");
        }
    }
    exists
        .into_iter()
        .filter_map(|(name, there)| there.then_some(name))
        .collect()
}

pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The whole response (head and body) to a GET of `path` on `addr`.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// Polls `check` every 50 ms until it holds, or dumps the logs and fails
/// once `limit` has passed.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, c: &Cluster, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t = Instant::now();
    while !check().await {
        if t.elapsed() > limit {
            c.dump_logs();
            panic!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The state one tracker lists for the storage at `ip`; `None` if the
/// tracker is down or does not list it.
pub async fn status_of(tracker: &str, group: &str, ip: &str) -> Option<u8> {
    let c = Client::new(ClientConfig::new(vec![tracker.to_string()]));
    let list = c.list_storages(group, None).await.ok()?;
    list.into_iter().find(|s| s.ip == ip).map(|s| s.status)
}

/// The IP a daemon listens on.
/// The `metrics_listen` address in a daemon's config.
pub fn metrics_addr(d: &Daemon) -> String {
    let cfg = std::fs::read_to_string(&d.config).unwrap();
    cfg.lines()
        .find_map(|l| l.strip_prefix("metrics_listen = "))
        .expect("metrics_listen in the config")
        .trim_matches('"')
        .to_string()
}

pub fn ip_of(d: &Daemon) -> String {
    d.addr.split(':').next().unwrap().to_string()
}
