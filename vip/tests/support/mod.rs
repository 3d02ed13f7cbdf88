//! Test bench for cross-process VRRP tests: a bridge in its own network
//! namespace, one namespace per node wired to it by a veth, daemons
//! started inside the namespaces, a TCP responder per node standing in for
//! the lb, and a client that probes the VIP. Everything is named after the
//! test process id and removed on drop, also when the test panics.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
pub const PORT: u16 = 8080;
pub const METRICS_PORT: u16 = 9412;

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// How long a test waits for an election whose timing it does not measure.
/// Generous: taking the VIP goes through the kernel's rtnl lock, which a
/// namespace being torn down elsewhere on a busy host can hold for seconds.
pub const SETTLE: Duration = Duration::from_secs(15);

/// Whether namespace tests can run here; with
/// FERRODFS_VIP_NETNS_REQUIRED=1 (CI) a missing prerequisite fails instead.
pub fn netns_available(also_needs: &[&str]) -> bool {
    let required = std::env::var("FERRODFS_VIP_NETNS_REQUIRED").is_ok_and(|v| v == "1");
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root".to_string());
    }
    for tool in std::iter::once(&"ip").chain(also_needs) {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            missing.push(tool.to_string());
        }
    }
    if missing.is_empty() {
        return true;
    }
    assert!(!required, "netns test prerequisites missing: {missing:?}");
    eprintln!("skipped: needs {missing:?} (set FERRODFS_VIP_NETNS_REQUIRED=1 to fail instead)");
    false
}

/// The usual bench: nodes 0 and 1 are lb nodes with a responder each,
/// node 2 is the client; `None` where network namespaces are unavailable.
pub fn lbs_and_client() -> Option<Net> {
    netns_available(&[]).then(|| {
        let net = Net::new(3);
        net.responder(0);
        net.responder(1);
        net
    })
}

pub fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Moves the calling thread into a named network namespace.
fn enter(ns: &str) {
    let f = File::open(format!("/run/netns/{ns}")).expect("open netns");
    // SAFETY: setns on a valid namespace fd only affects this thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Runs `f` on a thread inside namespace `ns`.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        f()
    })
    .join()
    .expect("netns thread")
}

/// Plain HTTP/1.0 GET; the body, or None on any failure.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.split_whitespace()
        .nth(1)
        .is_some_and(|c| c == "200")
        .then(|| body.to_string())
}

pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// The daemon's pid (`ip netns exec` execs it in place).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child's process group.
        unsafe { libc::kill(-(self.child.id() as i32), sig) };
    }

    /// Sends `sig` to the process itself only (keepalived's parent forwards).
    pub fn signal_leader(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.child.try_wait().ok().flatten().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }
}

struct Responder {
    node: usize,
    healthy: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A bridge, `n` node namespaces and everything started in them.
pub struct Net {
    prefix: String,
    nodes: usize,
    pub dir: tempfile::TempDir,
    procs: Mutex<Vec<Arc<Mutex<Proc>>>>,
    responders: Mutex<Vec<Responder>>,
}

impl Net {
    /// Nodes are numbered from 0 and get 10.77.0.(i+1)/24 on `eth0`.
    pub fn new(nodes: usize) -> Net {
        let prefix = format!(
            "fv{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let net = Net {
            prefix,
            nodes,
            dir: tempfile::tempdir().expect("temp dir"),
            procs: Mutex::new(Vec::new()),
            responders: Mutex::new(Vec::new()),
        };
        let sw = net.sw();
        ip(&format!("netns add {sw}"));
        ip(&format!("-n {sw} link add br0 type bridge"));
        ip(&format!("-n {sw} link set br0 up"));
        for i in 0..nodes {
            let ns = net.ns(i);
            ip(&format!("netns add {ns}"));
            ip(&format!("-n {ns} link set lo up"));
            ip(&format!(
                "-n {ns} link add eth0 type veth peer name p{i} netns {sw}"
            ));
            ip(&format!("-n {sw} link set p{i} master br0"));
            ip(&format!("-n {sw} link set p{i} up"));
            ip(&format!("-n {ns} addr add {}/24 dev eth0", net.addr(i)));
            ip(&format!("-n {ns} link set eth0 up"));
            // A new namespace inherits the host's ip_forward (on wherever
            // Docker runs). A node that forwards routes a client still on
            // its MAC to the VIP holder and hides a missing gratuitous ARP.
            in_ns(&ns, || std::fs::write("/proc/sys/net/ipv4/ip_forward", "0"))
                .expect("turn ip_forward off");
        }
        net
    }

    /// Whether node `i` routes packets that are not for its own addresses.
    pub fn forwards(&self, i: usize) -> bool {
        in_ns(&self.ns(i), || {
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read ip_forward")
        })
        .trim()
            != "0"
    }

    fn sw(&self) -> String {
        format!("{}sw", self.prefix)
    }

    pub fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.prefix)
    }

    pub fn addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, i as u8 + 1)
    }

    /// Takes node `i`'s bridge port down: the node is cut off the segment.
    pub fn cut(&self, i: usize) {
        ip(&format!("-n {} link set p{i} down", self.sw()));
    }

    pub fn restore(&self, i: usize) {
        ip(&format!("-n {} link set p{i} up", self.sw()));
    }

    pub fn holds_vip(&self, i: usize) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.ns(i), "-4", "-o", "addr", "show", "dev", "eth0"])
            .output()
            .expect("ip addr show");
        String::from_utf8_lossy(&out.stdout).contains(&format!(" {VIP}/"))
    }

    /// Indices of the nodes that have the VIP configured, among `among`.
    pub fn holders(&self, among: &[usize]) -> Vec<usize> {
        among
            .iter()
            .copied()
            .filter(|&i| self.holds_vip(i))
            .collect()
    }

    /// Polls `cond` every 10 ms; the time it took, or None at `limit`.
    pub fn wait_for(&self, limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if cond() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Polls until exactly `who` (and no other node of `among`) holds the VIP.
    pub fn wait_sole_holder(&self, who: usize, among: &[usize], limit: Duration) -> Duration {
        self.wait_for(limit, || self.holders(among) == vec![who])
            .unwrap_or_else(|| {
                panic!(
                    "node {who} was not the sole VIP holder within {limit:?}; holders {:?}\n{}",
                    self.holders(among),
                    self.daemons_report()
                )
            })
    }

    /// Each daemon started so far: running or how it exited, and the end of
    /// its log; for a failed wait's message.
    pub fn daemons_report(&self) -> String {
        let mut out = String::new();
        for p in self.procs.lock().unwrap().iter() {
            let mut p = p.lock().unwrap();
            let status = match p.child.try_wait() {
                Ok(None) => "running".to_string(),
                Ok(Some(s)) => format!("exited: {s}"),
                Err(e) => format!("status unknown: {e}"),
            };
            let log = std::fs::read_to_string(&p.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(8)..].join("\n  ");
            out.push_str(&format!("{} ({status}):\n  {tail}\n", p.log.display()));
        }
        out
    }

    fn spawn(&self, name: &str, ns: &str, program: &str, args: &[&str]) -> Arc<Mutex<Proc>> {
        let log = self.dir.path().join(format!("{name}.log"));
        let out = File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("spawn daemon");
        let p = Arc::new(Mutex::new(Proc { child, log }));
        self.procs.lock().unwrap().push(p.clone());
        p
    }

    /// Starts `ferrodfs vip` on node `i` with the common settings plus `extra`.
    /// No second gratuitous ARP burst unless `extra` sets
    /// `garp_master_delay`: one would go out seconds later, in the middle of
    /// what a test observes.
    pub fn start_vip(
        &self,
        i: usize,
        priority: u8,
        advert_int: f64,
        extra: &str,
    ) -> Arc<Mutex<Proc>> {
        let cfg = self.dir.path().join(format!("vip{i}.toml"));
        let text = format!(
            "name = \"node{i}\"\ninterface = \"eth0\"\nvirtual_router_id = 51\n\
             priority = {priority}\nadvert_int = {advert_int}\n\
             virtual_ipaddress = [\"{VIP}/24\"]\ngarp_master_repeat = 5\ngarp_interval = 0.05\n\
             metrics_listen = \"127.0.0.1:{METRICS_PORT}\"\n{}{extra}\n",
            if extra.contains("garp_master_delay") {
                ""
            } else {
                "garp_master_delay = 0\n"
            }
        );
        std::fs::write(&cfg, text).unwrap();
        let bin = env!("CARGO_BIN_EXE_ferrodfs-vip");
        self.spawn(
            &format!("vip{i}-{}", self.procs.lock().unwrap().len()),
            &self.ns(i),
            bin,
            &["--config", cfg.to_str().unwrap()],
        )
    }

    /// Starts keepalived (VRRPv3) on node `i` as one member of VRID 51.
    pub fn start_keepalived(&self, i: usize, priority: u8, advert_int: f64) -> Arc<Mutex<Proc>> {
        let n = self.procs.lock().unwrap().len();
        let d = self.dir.path();
        let cfg = d.join(format!("keepalived{i}-{n}.conf"));
        let text = format!(
            "global_defs {{\n  vrrp_version 3\n  router_id node{i}\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n\
             priority {priority}\n  advert_int {advert_int}\n\
             virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
        );
        std::fs::write(&cfg, text).unwrap();
        let pid = |s: &str| d.join(format!("k{i}-{n}-{s}.pid")).display().to_string();
        self.spawn(
            &format!("keepalived{i}-{n}"),
            &self.ns(i),
            "keepalived",
            &[
                "--dont-fork",
                "--log-console",
                "--vrrp",
                "-f",
                cfg.to_str().unwrap(),
                "-p",
                &pid("main"),
                "-r",
                &pid("vrrp"),
                "-c",
                &pid("checkers"),
            ],
        )
    }

    /// Serves `GET /` with the node name and `GET /health` with 200 while
    /// the returned flag is true (503 otherwise), on 0.0.0.0:8080 of node `i`.
    pub fn responder(&self, i: usize) -> Arc<AtomicBool> {
        let healthy = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (ns, h, s) = (self.ns(i), healthy.clone(), stop.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            enter(&ns);
            let l = TcpListener::bind(("0.0.0.0", PORT)).expect("bind responder");
            l.set_nonblocking(true).unwrap();
            ready_tx.send(()).unwrap();
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        c.set_read_timeout(Some(Duration::from_millis(500)))
                            .unwrap();
                        let mut buf = [0u8; 512];
                        let n = c.read(&mut buf).unwrap_or(0);
                        let req = String::from_utf8_lossy(&buf[..n]);
                        let resp = if req.starts_with("GET /health") && !h.load(Ordering::SeqCst) {
                            "HTTP/1.0 503 Unavailable\r\n\r\nunhealthy".to_string()
                        } else {
                            format!("HTTP/1.0 200 OK\r\n\r\nnode{i}")
                        };
                        let _ = c.write_all(resp.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        ready_rx.recv().unwrap();
        self.responders.lock().unwrap().push(Responder {
            node: i,
            healthy: healthy.clone(),
            stop,
            thread: Some(thread),
        });
        healthy
    }

    /// Makes node `i`'s responder answer `/health` with 200 or 503.
    pub fn set_healthy(&self, i: usize, ok: bool) {
        for r in self.responders.lock().unwrap().iter() {
            if r.node == i {
                r.healthy.store(ok, Ordering::SeqCst);
            }
        }
    }

    /// One request from node `client` to the VIP: the answering node's name.
    pub fn get_vip(&self, client: usize) -> Option<String> {
        in_ns(&self.ns(client), || {
            http_get(
                SocketAddr::from((VIP, PORT)),
                "/",
                Duration::from_millis(500),
            )
        })
    }

    /// The metrics text of the daemon on node `i`.
    pub fn metrics(&self, i: usize) -> String {
        self.try_metrics(i).expect("metrics endpoint answers")
    }

    /// The metrics text, or None while the daemon is not serving it (yet).
    pub fn try_metrics(&self, i: usize) -> Option<String> {
        in_ns(&self.ns(i), || {
            http_get(
                SocketAddr::from(([127, 0, 0, 1], METRICS_PORT)),
                "/metrics",
                Duration::from_secs(2),
            )
        })
    }

    /// Starts a client on node `client` that requests the VIP every 20 ms.
    pub fn prober(&self, client: usize) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let (ns, s) = (self.ns(client), stop.clone());
        let thread = std::thread::spawn(move || {
            enter(&ns);
            let mut log = Vec::new();
            while !s.load(Ordering::SeqCst) {
                let t = Instant::now();
                let r = http_get(
                    SocketAddr::from((VIP, PORT)),
                    "/",
                    Duration::from_millis(100),
                );
                log.push((t, r));
                let spent = t.elapsed();
                if spent < Duration::from_millis(20) {
                    std::thread::sleep(Duration::from_millis(20) - spent);
                }
            }
            log
        });
        Prober {
            stop,
            thread: Some(thread),
        }
    }

    pub fn print_logs(&self) {
        for p in self.procs.lock().unwrap().iter() {
            let p = p.lock().unwrap();
            let text = std::fs::read_to_string(&p.log).unwrap_or_default();
            eprintln!("===== {} =====\n{text}", p.log.display());
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("FERRODFS_VIP_TEST_LOGS").is_some() {
            self.print_logs();
        }
        for p in self.procs.lock().unwrap().iter() {
            let mut p = p.lock().unwrap();
            p.signal(libc::SIGKILL);
            let _ = p.child.wait();
        }
        for r in self.responders.lock().unwrap().iter_mut() {
            r.stop.store(true, Ordering::SeqCst);
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
        }
        for i in 0..self.nodes {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.sw()])
            .status();
    }
}

/// A running VIP client; `finish` returns what it saw.
pub struct Prober {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Probe>>>,
}

/// One request: when it started and the node that answered, if any.
pub type Probe = (Instant, Option<String>);

/// What a prober saw, in order.
pub struct Probes(pub Vec<Probe>);

impl Prober {
    pub fn finish(mut self) -> Probes {
        self.stop.store(true, Ordering::SeqCst);
        Probes(self.thread.take().unwrap().join().unwrap())
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Probes {
    /// The longest time between two answered requests: the outage a
    /// client saw.
    pub fn outage(&self) -> Duration {
        let ok: Vec<Instant> = self
            .0
            .iter()
            .filter(|(_, r)| r.is_some())
            .map(|(t, _)| *t)
            .collect();
        ok.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
    }

    /// Failed requests in a row, at most.
    pub fn max_consecutive_failures(&self) -> usize {
        let mut worst = 0;
        let mut run = 0;
        for (_, r) in &self.0 {
            if r.is_some() {
                run = 0;
            } else {
                run += 1;
                worst = worst.max(run);
            }
        }
        worst
    }

    pub fn last_answer(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|(_, r)| r.as_deref())
    }
}

pub fn log_contains(p: &Path, needle: &str) -> bool {
    std::fs::read_to_string(p).is_ok_and(|t| t.contains(needle))
}

/// The value of series `name` whose labels include every `labels` pair.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        let (series, value) = rest.rsplit_once(' ')?;
        labels
            .iter()
            .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.parse().ok())?
    })
}
