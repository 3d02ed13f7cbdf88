//! `up`: a whole cluster on loopback for a first look — two trackers and
//! two groups of two replicating storages, each daemon a child process with its own config and log
//! under DIR, plus a FastDFS-format client.conf any FastDFS client can use.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrodfs_client::{Client, ClientConfig, UploadKind};
use ferrodfs_proto::cluster::state;
use tokio::process::{Child, Command};

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Where configs, data and logs go.
    #[arg(long, env = "FERRODFS_UP_DIR", default_value = "ferrodfs-local")]
    pub dir: PathBuf,
    /// Tracker protocol port.
    #[arg(long, default_value_t = 22122)]
    pub tracker_port: u16,
    /// Storage protocol port.
    #[arg(long, default_value_t = 23000)]
    pub storage_port: u16,
    /// Storage HTTP port (what fastdfs-nginx-module served).
    #[arg(long, default_value_t = 8888)]
    pub http_port: u16,
    /// Edge tier port on each tracker address.
    #[arg(long, default_value_t = 8000)]
    pub edge_port: u16,
    /// Front tier port on 127.0.0.1 (88 in production, which needs root).
    #[arg(long, default_value_t = 8088)]
    pub front_port: u16,
    /// Stop the cluster right after the demo upload (for scripts and CI).
    #[arg(long)]
    pub exit_after_demo: bool,
    /// The trackers' list-groups/list-storages records: `current` (what
    /// FastDFS 6.16 sends) or `legacy` (what py3fdfs and tobato parse).
    #[arg(long, value_parser = ["current", "legacy"], default_value = "current")]
    pub stat_layout: String,
}

/// The local layout: tracker addresses, then (group, storage address).
const TRACKERS: &[&str] = &["127.0.0.2", "127.0.0.3"];
/// Two groups of two members each, the production layout: each group's
/// members replicate to each other.
const STORAGES: &[(&str, &str)] = &[
    ("group1", "127.0.0.11"),
    ("group1", "127.0.0.12"),
    ("group2", "127.0.0.21"),
    ("group2", "127.0.0.22"),
];
const HEART_BEAT_SECS: u32 = 1;
/// Where the front tier listens, as the VIP would in production.
const FRONT_IP: &str = "127.0.0.1";
/// `reserved_storage_space` of the demo cluster: an absolute amount, so the
/// demo upload works on a nearly full disk (the 10% default would refuse
/// it with ENOSPC as soon as less than a tenth of the disk is free).
const DEMO_RESERVED: &str = "64M";
/// `subdir_count_per_path` of the demo cluster: a 16x16 data tree per
/// store path. FastDFS's 256x256 default costs 256 MiB of directory
/// blocks per store path on ext4, a gigabyte for four storages holding a
/// handful of demo files.
const DEMO_SUBDIRS: u32 = 16;

struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

pub async fn run(a: UpArgs) -> anyhow::Result<()> {
    let dir = std::path::absolute(&a.dir).with_context(|| format!("--dir {}", a.dir.display()))?;
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("create {}", dir.display()))?;
    let exe = std::env::current_exe()?;
    let trackers: Vec<String> = TRACKERS
        .iter()
        .map(|ip| format!("{ip}:{}", a.tracker_port))
        .collect();

    let secret = cluster_secret(&dir)?;
    let mut daemons = Vec::new();
    let started = start_all(&exe, &dir, &a, &trackers, &secret, &mut daemons).await;
    let result = match started {
        Ok(()) => serve(&dir, &a, &trackers, &secret, &mut daemons).await,
        Err(e) => Err(e),
    };
    stop_all(&mut daemons).await;
    result
}

/// Writes a file that holds the cluster secret: owner-only permissions.
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // A file left by an older run keeps its mode on open: set it.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The cluster's secret: made on the first run and kept in
/// `<dir>/cluster.secret` (readable by the owner only), so a restarted
/// local cluster keeps its data and its secret.
fn cluster_secret(dir: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("cluster.secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let text = text.trim().to_string();
        ferrodfs_proto::auth::Secret::new(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(text);
    }
    let secret = ferrodfs_proto::auth::Secret::generate();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("create {}", path.display()))?;
    std::io::Write::write_all(&mut f, format!("{secret}\n").as_bytes())?;
    Ok(secret)
}

async fn start_all(
    exe: &Path,
    dir: &Path,
    a: &UpArgs,
    trackers: &[String],
    secret: &str,
    daemons: &mut Vec<Daemon>,
) -> anyhow::Result<()> {
    for (i, ip) in TRACKERS.iter().enumerate() {
        let name = format!("tracker{}", i + 1);
        let cfg = format!(
            "bind = \"{ip}\"\nport = {port}\nmetrics_listen = \"{ip}:9122\"\nbase_path = \"{base}\"\n\
             check_active_interval = {check}\nstat_layout = \"{layout}\"\n\
             cluster_secret = \"{secret}\"\nreserved_storage_space = \"{DEMO_RESERVED}\"\n",
            port = a.tracker_port,
            layout = a.stat_layout,
            base = dir.join(&name).display(),
            check = HEART_BEAT_SECS * 5,
        );
        daemons.push(spawn(exe, dir, &name, "tracker", &cfg)?);
    }
    for (group, ip) in STORAGES {
        let name = format!("storage-{ip}");
        let base = dir.join(&name);
        let store = base.join("store0");
        std::fs::create_dir_all(&store)?;
        let cfg = format!(
            "group_name = \"{group}\"\nbind = \"{ip}\"\nip = \"{ip}\"\nport = {port}\n\
             metrics_listen = \"{ip}:9123\"\nbase_path = \"{base}\"\nstore_paths = [\"{store}\"]\n\
             tracker_servers = [{trackers}]\nheart_beat_interval = {HEART_BEAT_SECS}\n\
             http_port = {http}\ncluster_secret = \"{secret}\"\n\
             reserved_storage_space = \"{DEMO_RESERVED}\"\n\
             subdir_count_per_path = {DEMO_SUBDIRS}\n",
            port = a.storage_port,
            http = a.http_port,
            base = base.display(),
            store = store.display(),
            trackers = trackers
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(", "),
        );
        daemons.push(spawn(exe, dir, &name, "storage", &cfg)?);
    }
    let quoted = |v: &[String]| {
        v.iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for ip in TRACKERS {
        let name = format!("edge-{ip}");
        let cfg = format!(
            "role = \"edge\"\nlisten = \"{ip}:{port}\"\nmetrics_listen = \"{ip}:9124\"\n\
             [edge]\ntrackers = [{trackers}]\nrefresh_interval = \"1s\"\nstorage_http_port = {http}\n\
             [cache]\npath = \"{cache}\"\nmax_size = \"256M\"\n",
            port = a.edge_port,
            http = a.http_port,
            trackers = quoted(trackers),
            cache = dir.join(&name).join("cache").display(),
        );
        daemons.push(spawn(exe, dir, &name, "lb", &cfg)?);
    }
    let edges: Vec<String> = TRACKERS
        .iter()
        .map(|ip| format!("{{ addr = \"{ip}:{}\", weight = 1 }}", a.edge_port))
        .collect();
    let cfg = format!(
        "role = \"front\"\nlisten = \"{FRONT_IP}:{port}\"\nmetrics_listen = \"{FRONT_IP}:9125\"\n\
         [front]\nprefix = \"/dfs\"\nupstreams = [{edges}]\n",
        port = a.front_port,
        edges = edges.join(", "),
    );
    daemons.push(spawn(exe, dir, "front", "lb", &cfg)?);
    wait_ready(trackers, daemons).await
}

fn spawn(exe: &Path, dir: &Path, name: &str, role: &str, cfg: &str) -> anyhow::Result<Daemon> {
    let cfg_path = dir.join(format!("{name}.toml"));
    write_private(&cfg_path, cfg)?;
    let log = dir.join("logs").join(format!("{name}.log"));
    let out = std::fs::File::create(&log)?;
    let mut cmd = Command::new(exe);
    cmd.arg(role)
        .arg("--config")
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true);
    // The daemons must not outlive `up`, even if it is killed.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn().with_context(|| format!("start {name}"))?;
    Ok(Daemon {
        name: name.to_string(),
        child,
        log,
    })
}

/// Waits until every tracker sees every storage ACTIVE.
async fn wait_ready(trackers: &[String], daemons: &mut [Daemon]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for d in daemons.iter_mut() {
            if let Some(status) = d.child.try_wait()? {
                let tail = std::fs::read_to_string(&d.log).unwrap_or_default();
                anyhow::bail!(
                    "{} exited ({status}) during start; its log:\n{tail}",
                    d.name
                );
            }
        }
        let mut ready = true;
        for t in trackers {
            let c = Client::new(ClientConfig::new(vec![t.clone()]));
            let active: usize = match c.list_groups().await {
                Ok(groups) => {
                    let mut n = 0;
                    for g in &groups {
                        n += c
                            .list_storages(&g.name, None)
                            .await
                            .map(|s| s.iter().filter(|s| s.status == state::ACTIVE).count())
                            .unwrap_or(0);
                    }
                    n
                }
                Err(_) => 0,
            };
            ready &= active == STORAGES.len();
        }
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the cluster did not become ready within 30 s; see the logs in {}",
                daemons[0].log.parent().unwrap().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn serve(
    dir: &Path,
    a: &UpArgs,
    trackers: &[String],
    secret: &str,
    daemons: &mut [Daemon],
) -> anyhow::Result<()> {
    let conf = dir.join("client.conf");
    let mut text = String::from("# FastDFS client config for the local ferrodfs cluster\nconnect_timeout = 5\nnetwork_timeout = 30\n");
    for t in trackers {
        text.push_str(&format!("tracker_server = {t}\n"));
    }
    text.push_str(&format!(
        "# ferrodfs: admin commands (delete a storage or group) prove this\ncluster_secret = {secret}\n"
    ));
    write_private(&conf, &text)?;
    let client = Client::new(ClientConfig::load(&conf).map_err(anyhow::Error::msg)?);

    let demo = dir.join("hello.txt");
    std::fs::write(&demo, "hello from ferrodfs\n")?;
    let id = client
        .upload_file(&demo, None, UploadKind::Normal)
        .await
        .context("demo upload")?;

    println!(
        "ferrodfs local cluster is up (data, configs and logs in {})",
        dir.display()
    );
    for t in trackers {
        let ip = t.split(':').next().unwrap_or_default();
        println!("  tracker  {t}   metrics http://{ip}:9122/metrics");
    }
    for (g, ip) in STORAGES {
        println!(
            "  storage  {ip}:{}  {g}   metrics http://{ip}:9123/metrics",
            a.storage_port
        );
    }
    for ip in TRACKERS {
        println!(
            "  edge lb  {ip}:{}   /groupN/... with cache; metrics http://{ip}:9124/metrics",
            a.edge_port
        );
    }
    println!(
        "  front lb {FRONT_IP}:{}   /dfs/...; metrics http://{FRONT_IP}:9125/metrics",
        a.front_port
    );
    let front_url = format!("http://{FRONT_IP}:{}/dfs/{id}", a.front_port);
    let body = wait_http(&front_url)
        .await
        .context("demo download through the front tier")?;
    anyhow::ensure!(
        body == b"hello from ferrodfs\n",
        "{front_url} returned other bytes"
    );
    let source = ferrodfs_client::FileId::parse(&id)
        .ok()
        .and_then(|f| f.name.info())
        .map(|i| i.source.to_string())
        .unwrap_or_default();
    println!("client config: {}", conf.display());
    println!("demo upload:   {id}");
    println!("open it:       {front_url}");
    println!("from storage:  http://{source}:{}/{id}", a.http_port);
    println!(
        "download it:   ferrodfs download -c {} {id} -",
        conf.display()
    );
    println!("file info:     ferrodfs info {id}");
    println!("cluster view:  ferrodfs monitor -c {}", conf.display());
    println!("FastDFS tools: fdfs_upload_file {} <file>   (via a symlink named fdfs_upload_file -> ferrodfs)", conf.display());

    if a.exit_after_demo {
        let back = client.download(&id, 0, 0).await.context("demo download")?;
        anyhow::ensure!(
            back == b"hello from ferrodfs\n",
            "demo download returned other bytes"
        );
        println!("demo download verified; stopping (--exit-after-demo)");
        return Ok(());
    }
    println!("press Ctrl-C to stop");
    tokio::select! {
        _ = ferrodfs_runtime::shutdown::signal() => {}
        r = watch_children(daemons) => return r,
    }
    Ok(())
}

/// GETs `url` until it answers 200 (the edge learns the groups from the
/// trackers within a refresh interval); returns the body.
async fn wait_http(url: &str) -> anyhow::Result<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match http_get(url).await {
            Ok((200, body)) => return Ok(body),
            Ok((status, _)) if Instant::now() > deadline => anyhow::bail!("{url}: HTTP {status}"),
            Err(e) if Instant::now() > deadline => return Err(e),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A one-shot HTTP/1.1 GET (`Connection: close`): status and body.
async fn http_get(url: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("only http:// URLs")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = tokio::net::TcpStream::connect(host).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw)).await??;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no HTTP head")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status")?;
    let body = &raw[end + 4..];
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok((status, dechunk(body)?));
    }
    Ok((status, body.to_vec()))
}

fn dechunk(mut b: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk size line")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        anyhow::ensure!(b.len() >= size + 2, "truncated chunk");
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

async fn watch_children(daemons: &mut [Daemon]) -> anyhow::Result<()> {
    loop {
        for d in daemons.iter_mut() {
            if let Some(status) = d.child.try_wait()? {
                anyhow::bail!(
                    "{} exited unexpectedly ({status}); see {}",
                    d.name,
                    d.log.display()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// SIGTERM to every daemon (storages first, so their last report reaches
/// the trackers), then a bounded wait; SIGKILL for any that hang.
async fn stop_all(daemons: &mut [Daemon]) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for d in daemons.iter_mut().rev() {
        if let Some(pid) = d.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    for d in daemons.iter_mut() {
        match tokio::time::timeout(Duration::from_secs(10), d.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => {
                eprintln!("{} stopped with {status}; see {}", d.name, d.log.display())
            }
            _ => {
                eprintln!("{} did not stop within 10 s; killing it", d.name);
                let _ = d.child.kill().await;
            }
        }
    }
    eprintln!("stopped");
}
