//! What an operator sees of a running cluster: the replication lag a
//! storage measures per peer (metrics, the tracker's status document,
//! `ferrodfs monitor`) and the tracker's status page rendered by a real
//! browser (headless Chromium) as members come and go and are scrubbed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ferrodfs_client::UploadKind;
use ferrodfs_proto::cluster::state;
use ferrodfs_proto::overview::{ClusterStatus, ScrubView};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn spec(group: &'static str) -> StorageSpec {
    StorageSpec {
        group,
        extra: String::new(),
    }
}

/// The body of `GET path` (HTTP/1.0, so the server closes when done).
async fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?;
    (status == "200").then(|| body.to_string())
}

/// The value of one series (`name{labels}`) in a metrics page.
fn gauge(text: &str, series: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// The lag the tracker's status document shows for `source -> peer`.
async fn reported_lag(tracker_http: &str, source: &str, peer: &str) -> Option<u64> {
    let body = http_get(tracker_http, "/status.json").await?;
    let s: ClusterStatus = serde_json::from_str(&body).ok()?;
    s.groups
        .iter()
        .flat_map(|g| &g.members)
        .filter(|m| format!("{}:{}", m.ip, m.port) == source)
        .flat_map(|m| &m.lag)
        .find(|l| l.peer == peer)
        .map(|l| l.pending_records)
}

/// The last scrub pass of `member` (`ip:port`) in the tracker's status document.
async fn last_scrub(tracker_http: &str, member: &str) -> Option<ScrubView> {
    let body = http_get(tracker_http, "/status.json").await?;
    let s: ClusterStatus = serde_json::from_str(&body).ok()?;
    s.groups
        .iter()
        .flat_map(|g| &g.members)
        .find(|m| format!("{}:{}", m.ip, m.port) == member)?
        .last_scrub
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_lag_rises_while_a_peer_is_stopped_and_falls_to_zero_when_it_returns() {
    let mut c = Cluster::start_with(1, "", vec![spec("group1"), spec("group1")]);
    c.wait_active(2).await;
    let source = c.storages[0].addr.clone();
    let peer = c.storages[1].addr.clone();
    let source_metrics = metrics_addr(&c.storages[0]);
    let tracker_http = metrics_addr(&c.trackers[0]);
    let lag = |name: &str| format!("{name}{{peer=\"{peer}\"}}");
    let (records, bytes, seconds) = (
        lag("ferrodfs_storage_sync_pending_records"),
        lag("ferrodfs_storage_sync_pending_bytes"),
        lag("ferrodfs_storage_sync_lag_seconds"),
    );
    let read = || {
        let (addr, records, bytes, seconds) = (
            source_metrics.clone(),
            records.clone(),
            bytes.clone(),
            seconds.clone(),
        );
        async move {
            let text = http_get(&addr, "/metrics").await?;
            Some((
                gauge(&text, &records)?,
                gauge(&text, &bytes)?,
                gauge(&text, &seconds)?,
            ))
        }
    };
    eventually(Duration::from_secs(20), "no lag at first", &c, || {
        let r = read();
        async move { r.await == Some((0, 0, 0)) }
    })
    .await;

    c.storages[1].kill9();
    let tracker = c.trackers[0].addr.clone();
    let peer_ip = ip_of(&c.storages[1]);
    eventually(Duration::from_secs(20), "peer OFFLINE", &c, || {
        let (t, ip) = (tracker.clone(), peer_ip.clone());
        async move { status_of(&t, "group1", &ip).await == Some(state::OFFLINE) }
    })
    .await;
    let client = c.client();
    for i in 0..5 {
        client
            .upload(
                &random_bytes(1000, i),
                "bin",
                Some("group1"),
                UploadKind::Normal,
            )
            .await
            .unwrap();
    }
    // Five records of 1000 bytes wait for the peer, and they age.
    eventually(
        Duration::from_secs(30),
        "lag while the peer is down",
        &c,
        || {
            let r = read();
            async move { matches!(r.await, Some((5, 5000, s)) if s >= 1) }
        },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the lag on the tracker's status",
        &c,
        || {
            let (t, s, p) = (tracker_http.clone(), source.clone(), peer.clone());
            async move { reported_lag(&t, &s, &p).await == Some(5) }
        },
    )
    .await;
    let mon = Command::new(BIN)
        .args(["monitor", "-c"])
        .arg(c.client_conf())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&mon.stdout);
    assert!(
        text.contains(&format!(
            "group1 {source} -> {peer}: 5 records, 5000 bytes, "
        )),
        "{text}"
    );

    c.storages[1].restart();
    eventually(
        Duration::from_secs(30),
        "no lag once the peer is back",
        &c,
        || {
            let r = read();
            async move { r.await == Some((0, 0, 0)) }
        },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "no lag on the tracker's status",
        &c,
        || {
            let (t, s, p) = (tracker_http.clone(), source.clone(), peer.clone());
            async move { reported_lag(&t, &s, &p).await == Some(0) }
        },
    )
    .await;
}

/// Chromium from Debian (`chromium`) or as other systems name it.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERRODFS_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `url` with `action` (`--dump-dom` or
/// `--screenshot=...`), giving the page's script 4 s of virtual time to
/// fetch and render; returns stdout. Gives up after 90 s of real time.
fn browse(browser: &Path, profile: &Path, url: &str, action: &[String]) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(action)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish with {url} within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The page as rendered, off the runtime threads.
async fn rendered(browser: &Path, profile: &Path, url: &str) -> String {
    let (b, p, u) = (
        browser.to_path_buf(),
        profile.to_path_buf(),
        url.to_string(),
    );
    tokio::task::spawn_blocking(move || browse(&b, &p, &u, &["--dump-dom".to_string()]))
        .await
        .unwrap()
}

/// Screenshots at desktop and phone widths, kept in the target directory.
async fn screenshots(browser: &Path, profile: &Path, url: &str, name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page");
    std::fs::create_dir_all(&dir).unwrap();
    let mut shots = Vec::new();
    for (size, w, h) in [("desktop", 1280, 900), ("phone", 390, 844)] {
        let file = dir.join(format!("{name}-{size}.png"));
        let _ = std::fs::remove_file(&file);
        let action = vec![
            format!("--screenshot={}", file.display()),
            format!("--window-size={w},{h}"),
            "--hide-scrollbars".to_string(),
        ];
        let (b, p, u) = (
            browser.to_path_buf(),
            profile.to_path_buf(),
            url.to_string(),
        );
        tokio::task::spawn_blocking(move || browse(&b, &p, &u, &action))
            .await
            .unwrap();
        let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "no screenshot at {}", file.display());
        shots.push(file);
    }
    shots
}

/// Renders the page until `pred` holds on it; returns that rendering.
async fn wait_page(
    c: &Cluster,
    (browser, profile, url): (&Path, &Path, &str),
    limit: Duration,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let t = Instant::now();
    loop {
        let dom = rendered(browser, profile, url).await;
        if pred(&dom) {
            return dom;
        }
        if t.elapsed() > limit {
            c.dump_logs();
            panic!("{what}: not within {limit:?}; last rendering:\n{dom}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn member_state(dom: &str, addr: &str, st: &str) -> bool {
    dom.contains(&format!("data-member=\"{addr}\" data-state=\"{st}\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_members_and_their_last_scrub_in_a_browser_and_a_stopped_one_goes_offline(
) {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("FERRODFS_BROWSER_REQUIRED").is_none(),
            "chromium is required (tests/prereqs.sh --tests installs it)"
        );
        eprintln!(
            "SKIPPED: chromium is not installed; tests/prereqs.sh --tests installs it (set FERRODFS_CHROMIUM to use another)"
        );
        return;
    };
    let mut c = Cluster::start_with(1, "", vec![spec("group1"), spec("group1"), spec("group2")]);
    c.wait_active(3).await;
    let profile = c.dir.path().join("chromium-profile");
    let url = format!("http://{}/status", metrics_addr(&c.trackers[0]));
    let addrs: Vec<String> = c.storages.iter().map(|d| d.addr.clone()).collect();

    let page = (browser.as_path(), profile.as_path(), url.as_str());
    let dom = wait_page(
        &c,
        page,
        Duration::from_secs(60),
        "every member ACTIVE in the page",
        |dom| addrs.iter().all(|a| member_state(dom, a, "ACTIVE")),
    )
    .await;
    let tracker = &c.trackers[0].addr;
    for shown in [
        format!("tracker {tracker} (version {})", env!("CARGO_PKG_VERSION")),
        format!("leader {tracker}"),
        format!("data-lag=\"{}&gt;{}\"", addrs[0], addrs[1]),
        format!("data-lag=\"{}&gt;{}\"", addrs[1], addrs[0]),
        "data-group=\"group2\"".to_string(),
        "new → INIT".to_string(),
    ] {
        let found = dom.contains(&shown) || dom.contains(&shown.replace("&gt;", ">"));
        assert!(found, "{shown:?} not in the page:\n{dom}");
    }
    screenshots(&browser, &profile, &url, "active").await;

    // Through the front tier of `ferrodfs lb`, at its own path.
    let ip = format!("{}.100", c.net);
    let front_addr = format!("{ip}:{}", free_port(&ip));
    let front_cfg = format!(
        "role = \"front\"\nlisten = \"{front_addr}\"\nthreads = 1\nshutdown_grace = \"0s\"\n\
         [front]\nupstreams = [{{ addr = \"{ip}:{}\" }}]\n\
         [front.status]\npath = \"/cluster\"\ntrackers = [\"{}\"]\nallow = [\"127.0.0.0/8\"]\n",
        free_port(&ip),
        metrics_addr(&c.trackers[0])
    );
    let _front = Daemon::start(c.dir.path(), "lb", "front", &front_addr, &front_cfg);
    let front_url = format!("http://{front_addr}/cluster");
    wait_page(
        &c,
        (browser.as_path(), profile.as_path(), front_url.as_str()),
        Duration::from_secs(60),
        "the page through the front tier",
        |dom| addrs.iter().all(|a| member_state(dom, a, "ACTIVE")),
    )
    .await;

    // `ferrodfs scrub` on group2: its member's pass shows in the document
    // and the page once its next heartbeat reports it.
    let id = c
        .client()
        .upload(b"scrubbed", "txt", Some("group2"), UploadKind::Normal)
        .await
        .unwrap();
    let scrub = Command::new(BIN)
        .args(["scrub", "--group", "group2", "-c"])
        .arg(c.client_conf())
        .output()
        .unwrap();
    assert!(
        scrub.status.success(),
        "ferrodfs scrub: {}",
        String::from_utf8_lossy(&scrub.stderr)
    );
    let tracker_http = metrics_addr(&c.trackers[0]);
    eventually(
        Duration::from_secs(30),
        "the scrub pass in /status.json",
        &c,
        || {
            let (t, member) = (tracker_http.clone(), addrs[2].clone());
            async move {
                last_scrub(&t, &member)
                    .await
                    .is_some_and(|p| p.checked == 1)
            }
        },
    )
    .await;
    let pass = last_scrub(&tracker_http, &addrs[2]).await.unwrap();
    assert_eq!(
        (pass.missing, pass.corrupt, pass.repaired),
        (0, 0, 0),
        "{id}"
    );
    assert!(
        pass.finished >= pass.started && pass.started > 0,
        "{pass:?}"
    );
    let dom = wait_page(
        &c,
        page,
        Duration::from_secs(60),
        "the scrub pass in the page",
        |dom| dom.contains("data-scrub=\"checked=1 bad=0 repaired=0\""),
    )
    .await;
    assert!(dom.contains("1 checked, 0 bad, 0 repaired"), "{dom}");

    c.storages[1].kill9();
    let dom = wait_page(
        &c,
        page,
        Duration::from_secs(90),
        "the stopped member OFFLINE in the page",
        |dom| {
            member_state(dom, &addrs[1], "OFFLINE")
                && member_state(dom, &addrs[0], "ACTIVE")
                && member_state(dom, &addrs[2], "ACTIVE")
        },
    )
    .await;
    assert!(dom.contains("ACTIVE → OFFLINE"), "{dom}");
    let shots = screenshots(&browser, &profile, &url, "offline").await;
    eprintln!("screenshots: {shots:?}");
}
