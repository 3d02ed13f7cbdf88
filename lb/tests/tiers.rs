//! The edge and front tiers over real sockets on 127.0.0.0/8, with small
//! HTTP origins standing in for storages.

mod support;

use std::time::{Duration, Instant};

use support::{free_addr, get, request, Lb, Origin, FAST_UPSTREAM};

fn edge_toml(listen: std::net::SocketAddr, groups: &str, extra: &str) -> String {
    format!("role = \"edge\"\nlisten = \"{listen}\"\nshutdown_grace = \"0s\"\n{extra}\n{FAST_UPSTREAM}\n[edge.groups]\n{groups}\n")
}

fn cache_toml(dir: &std::path::Path, allow: &str) -> String {
    format!(
        "[cache]\npath = \"{}\"\nmax_size = \"10M\"\npurge_allow = [{allow}]\n",
        dir.join("cache").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_get_through_front_and_edge_succeeds_with_one_storage_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let s2 = Origin::start(free_addr("127.0.0.1"), "s2", 200).await;
    let edge_addr = free_addr("127.0.0.1");
    let groups = format!("group1 = [\"{}\", \"{}\"]", s1.addr, s2.addr);
    let edge = Lb::start(dir.path(), "edge", &edge_toml(edge_addr, &groups, "")).await;
    let front_addr = free_addr("127.0.0.1");
    let front = Lb::start(
        dir.path(),
        "front",
        &format!("role = \"front\"\nlisten = \"{front_addr}\"\nshutdown_grace = \"0s\"\n{FAST_UPSTREAM}\n[front]\nupstreams = [{{ addr = \"{edge_addr}\", weight = 2 }}]\n"),
    )
    .await;

    for i in 0..10 {
        let r = get(front.addr, &format!("/dfs/group1/M00/00/00/a{i}.jpg")).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.body.ends_with(&format!(" /group1/M00/00/00/a{i}.jpg")),
            "prefix stripped: {}",
            r.body
        );
    }
    assert!(
        !s1.requests().is_empty() && !s2.requests().is_empty(),
        "round robin uses both storages"
    );

    s1.stop();
    for i in 0..20 {
        let r = get(front.addr, &format!("/dfs/group1/M00/00/00/b{i}.jpg")).await;
        assert_eq!(r.status, 200, "file b{i} with s1 stopped: {r:?}");
        assert!(r.body.starts_with("s2 "), "{}", r.body);
    }
    front.stop().await;
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_reach_the_origin_through_both_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let edge_addr = free_addr("127.0.0.1");
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(edge_addr, &format!("group1 = [\"{}\"]", s1.addr), ""),
    )
    .await;
    let front_addr = free_addr("127.0.0.1");
    let front = Lb::start(
        dir.path(),
        "front",
        &format!("role = \"front\"\nlisten = \"{front_addr}\"\nshutdown_grace = \"0s\"\n[front]\nupstreams = [{{ addr = \"{edge_addr}\" }}]\n"),
    )
    .await;

    // The client claims a forged X-Real-IP; the front tier overwrites it.
    let r = request(
        "127.0.0.3",
        front.addr,
        "GET",
        "/dfs/group1/M00/00/00/h.txt",
        &[("X-Real-IP", "6.6.6.6")],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    let seen = s1.requests().pop().unwrap();
    assert_eq!(seen.path, "/group1/M00/00/00/h.txt");
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.3"));
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.3, 127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    front.stop().await;
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_files_outlive_the_whole_group_and_uncached_ones_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let s2 = Origin::start(free_addr("127.0.0.1"), "s2", 200).await;
    let edge_addr = free_addr("127.0.0.1");
    let groups = format!("group1 = [\"{}\", \"{}\"]", s1.addr, s2.addr);
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(edge_addr, &groups, &cache_toml(dir.path(), "\"127.0.0.1\"")),
    )
    .await;

    let first = get(edge.addr, "/group1/M00/00/00/cached.jpg").await;
    assert_eq!(
        (first.status, first.header("x-cache-status")),
        (200, Some("MISS"))
    );
    assert!(first.header("expires").is_some());
    assert_eq!(
        first.header("cache-control"),
        Some("max-age=2592000"),
        "30 days by default"
    );
    let second = get(edge.addr, "/group1/M00/00/00/cached.jpg").await;
    assert_eq!(
        (second.status, second.header("x-cache-status")),
        (200, Some("HIT"))
    );
    assert_eq!(second.body, first.body);

    let range = request(
        "127.0.0.1",
        edge.addr,
        "GET",
        "/group1/M00/00/00/cached.jpg",
        &[("Range", "bytes=3-6")],
    )
    .await
    .unwrap();
    assert_eq!(
        (range.status, range.body.as_str()),
        (206, &first.body[3..7])
    );

    // A HEAD first must not leave a body-less entry behind.
    let head = request(
        "127.0.0.1",
        edge.addr,
        "HEAD",
        "/group1/M00/00/00/head-first.jpg",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(head.status, 200);
    let after_head = get(edge.addr, "/group1/M00/00/00/head-first.jpg").await;
    assert!(
        after_head
            .body
            .ends_with(" /group1/M00/00/00/head-first.jpg"),
        "{after_head:?}"
    );

    s1.stop();
    s2.stop();
    let hit = get(edge.addr, "/group1/M00/00/00/cached.jpg").await;
    assert_eq!((hit.status, hit.body.as_str()), (200, first.body.as_str()));

    let t = Instant::now();
    let miss = get(edge.addr, "/group1/M00/00/00/never-fetched.jpg").await;
    assert_eq!(miss.status, 502, "{miss:?}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "failed in {:?}",
        t.elapsed()
    );
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_storages_give_504_within_the_read_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let edge_addr = free_addr("127.0.0.1");
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(edge_addr, &format!("group1 = [\"{}\"]", s1.addr), ""),
    )
    .await;
    let t = Instant::now();
    let r = get(edge.addr, "/group1/M00/00/00/hang.jpg").await;
    assert_eq!(r.status, 504, "{r:?}");
    // One upstream, read_timeout 1 s: one try (nothing else to try).
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "took {:?}",
        t.elapsed()
    );
    edge.stop().await;
}

/// A storage frozen by SIGSTOP (or cut off after the connection was made)
/// as the network sees it: the kernel accepts connections, nothing answers.
async fn frozen_storage() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let listener = tokio::net::TcpListener::bind(free_addr("127.0.0.1"))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(sock);
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_sent_to_a_frozen_storage_are_answered_by_its_partner() {
    let dir = tempfile::tempdir().unwrap();
    let (frozen, accepted) = frozen_storage().await;
    let good = Origin::start(free_addr("127.0.0.1"), "good", 200).await;
    let edge_addr = free_addr("127.0.0.1");
    let groups = format!("group1 = [\"{frozen}\", \"{}\"]", good.addr);
    let edge = Lb::start(dir.path(), "edge", &edge_toml(edge_addr, &groups, "")).await;
    for i in 0..6 {
        let r = get(edge.addr, &format!("/group1/M00/00/00/f{i}.jpg")).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.starts_with("good "), "{}", r.body);
    }
    assert!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the frozen storage was tried, and given up after read_timeout"
    );
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_or_503_from_one_storage_is_retried_on_the_next() {
    // 503: a storage that just started and does not know its group yet.
    for status in [502, 503] {
        let dir = tempfile::tempdir().unwrap();
        let bad = Origin::start(free_addr("127.0.0.1"), "bad", status).await;
        let good = Origin::start(free_addr("127.0.0.1"), "good", 200).await;
        let edge_addr = free_addr("127.0.0.1");
        let groups = format!("group1 = [\"{}\", \"{}\"]", bad.addr, good.addr);
        let edge = Lb::start(dir.path(), "edge", &edge_toml(edge_addr, &groups, "")).await;
        for i in 0..6 {
            let r = get(edge.addr, &format!("/group1/M00/00/00/r{i}")).await;
            assert_eq!(r.status, 200, "{status}: {r:?}");
            assert!(r.body.starts_with("good "));
        }
        assert!(!bad.requests().is_empty(), "the {status} storage was tried");
        edge.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_works_from_an_allowed_address_and_is_refused_from_another() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let edge_addr = free_addr("127.0.0.1");
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(
            edge_addr,
            &format!("group1 = [\"{}\"]", s1.addr),
            &cache_toml(dir.path(), "\"127.0.0.1/32\""),
        ),
    )
    .await;
    let file = "/group1/M00/00/00/p.png";
    assert_eq!(
        get(edge.addr, file).await.header("x-cache-status"),
        Some("MISS")
    );
    assert_eq!(
        get(edge.addr, file).await.header("x-cache-status"),
        Some("HIT")
    );

    let refused = request("127.0.0.2", edge.addr, "GET", &format!("/purge{file}"), &[])
        .await
        .unwrap();
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        get(edge.addr, file).await.header("x-cache-status"),
        Some("HIT"),
        "still cached"
    );

    let purged = request("127.0.0.1", edge.addr, "GET", &format!("/purge{file}"), &[])
        .await
        .unwrap();
    assert_eq!(purged.status, 200, "{purged:?}");
    let again = request("127.0.0.1", edge.addr, "GET", &format!("/purge{file}"), &[])
        .await
        .unwrap();
    assert_eq!(again.status, 404, "nothing left to purge");
    assert_eq!(
        get(edge.addr, file).await.header("x-cache-status"),
        Some("MISS")
    );
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_clear_4xx_and_never_reach_a_storage() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let edge_addr = free_addr("127.0.0.1");
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(
            edge_addr,
            &format!("group1 = [\"{}\"]", s1.addr),
            "max_uri_len = 1024\nmax_header_size = \"8K\"\nmax_body_size = \"1K\"",
        ),
    )
    .await;
    let long_uri = format!("/group1/M00/00/00/{}", "a".repeat(2000));
    let big_header = "b".repeat(10_000);
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, u16);
    let cases: Vec<Case> = vec![
        ("GET", "/group1/M00/../../etc/passwd".into(), vec![], 400),
        ("GET", "/group1/M00/%2e%2e/x".into(), vec![], 400),
        ("GET", long_uri, vec![], 414),
        (
            "GET",
            "/group1/M00/00/00/x".into(),
            vec![("X-Big", big_header.as_str())],
            431,
        ),
        ("GET", "/group9/M00/00/00/x".into(), vec![], 404),
        ("GET", "/index.html".into(), vec![], 404),
        (
            "POST",
            "/group1/M00/00/00/x".into(),
            vec![("Content-Length", "0")],
            405,
        ),
        (
            "GET",
            "/group1/M00/00/00/x".into(),
            vec![("Content-Length", "5000")],
            413,
        ),
    ];
    for (method, target, headers, want) in cases {
        let r = request("127.0.0.1", edge.addr, method, &target, &headers)
            .await
            .unwrap();
        assert_eq!(
            r.status,
            want,
            "{method} {}: {r:?}",
            &target[..target.len().min(60)]
        );
        assert!(!r.body.is_empty(), "a reason is given");
    }
    let unknown = get(edge.addr, "/group9/M00/00/00/x").await;
    assert!(
        unknown.body.contains("group9") && unknown.body.contains("group1"),
        "{}",
        unknown.body
    );
    assert!(s1.requests().is_empty(), "no bad request was proxied");
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_switches_upstreams_without_dropping_an_in_flight_request() {
    // Keep this process alive whatever else is running when SIGHUP lands.
    let mut own_hup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let old = Origin::start(free_addr("127.0.0.1"), "old", 200).await;
    let new = Origin::start(free_addr("127.0.0.1"), "new", 200).await;
    let edge_addr = free_addr("127.0.0.1");
    let metrics = free_addr("127.0.0.1");
    let extra = format!("metrics_listen = \"{metrics}\"");
    // The slow file takes 1.5 s; give reads more than that.
    let with_slow = |groups: String| {
        edge_toml(edge_addr, &groups, &extra)
            .replace("read_timeout = \"1s\"", "read_timeout = \"5s\"")
    };
    let edge = Lb::start(
        dir.path(),
        "edge",
        &with_slow(format!("group1 = [\"{}\"]", old.addr)),
    )
    .await;

    let slow = tokio::spawn(async move { get(edge_addr, "/group1/M00/00/00/slow.bin").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(
        &edge.config,
        with_slow(format!("group1 = [\"{}\"]", new.addr)),
    )
    .unwrap();
    sighup_self();
    own_hup.recv().await;

    let mut switched = false;
    for _ in 0..40 {
        let r = get(edge.addr, "/group1/M00/00/00/after.txt").await;
        assert_eq!(r.status, 200);
        if r.body.starts_with("new ") {
            switched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(switched, "reload moved group1 to the new storage");
    let in_flight = slow.await.unwrap();
    assert_eq!(
        in_flight.status, 200,
        "in-flight request survived the reload"
    );
    assert!(in_flight.body.starts_with("old "));

    let m = get(metrics, "/metrics").await.body;
    assert!(
        m.contains("ferrodfs_lb_config_reloads_total{result=\"ok\",tier=\"edge\"}"),
        "{m}"
    );
    assert!(
        m.contains("ferrodfs_lb_requests_total{status=\"200\",tier=\"edge\"}"),
        "{m}"
    );
    assert!(
        m.contains("ferrodfs_lb_request_duration_seconds_bucket"),
        "{m}"
    );
    edge.stop().await;
}

/// Sends SIGHUP to this test process (the lb under test reloads on it).
fn sighup_self() {
    std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_follows_tracker_membership_without_a_reload() {
    use ferrodfs_proto::cluster::state::{ACTIVE, OFFLINE, WAIT_SYNC};
    use support::tracker;
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let s2 = Origin::start(free_addr("127.0.0.1"), "s2", 200).await;
    let picture: tracker::Picture = Default::default();
    *picture.lock().unwrap() = vec![tracker::group(
        "group1",
        &[(s1.addr, ACTIVE), (s2.addr, WAIT_SYNC)],
    )];
    let tracker_addr = free_addr("127.0.0.1");
    tracker::start(tracker_addr, picture.clone()).await;
    let edge_addr = free_addr("127.0.0.1");
    let toml = format!(
        "role = \"edge\"\nlisten = \"{edge_addr}\"\nshutdown_grace = \"0s\"\n{FAST_UPSTREAM}\n[edge]\ntrackers = [\"{tracker_addr}\"]\nrefresh_interval = \"200ms\"\n"
    );
    let edge = Lb::start(dir.path(), "edge", &toml).await;

    // Only the ACTIVE storage serves; the one still syncing is left out.
    let served_by = |want: &'static str, path: &'static str| async move {
        for _ in 0..60 {
            let r = get(edge_addr, path).await;
            if r.status == 200 && r.body.starts_with(want) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(served_by("s1 ", "/group1/M00/00/00/a").await);
    for _ in 0..6 {
        assert!(get(edge.addr, "/group1/M00/00/00/a")
            .await
            .body
            .starts_with("s1 "));
    }

    // s2 finishes syncing, s1 goes offline, a second group appears.
    *picture.lock().unwrap() = vec![
        tracker::group("group1", &[(s1.addr, OFFLINE), (s2.addr, ACTIVE)]),
        tracker::group("group2", &[(s1.addr, ACTIVE)]),
    ];
    assert!(
        served_by("s2 ", "/group1/M00/00/00/b").await,
        "group1 moved to s2"
    );
    for _ in 0..6 {
        assert!(get(edge.addr, "/group1/M00/00/00/b")
            .await
            .body
            .starts_with("s2 "));
    }
    assert!(
        served_by("s1 ", "/group2/M00/00/00/c").await,
        "group2 is routed"
    );
    edge.stop().await;
}

/// `shutdown_drop_syn` (a front behind the VIP): once SIGTERM came, a new
/// connection gets no answer at all, neither accepted nor refused, so the
/// client sends its SYN again a second later, by when the VIP is on the
/// peer; a connection opened before is still served during the drain, its
/// answer saying `Connection: close`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_front_leaves_new_connections_unanswered_and_serves_open_ones() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let edge_addr = free_addr("127.0.0.1");
    let groups = format!("group1 = [\"{}\"]", s1.addr);
    let edge = Lb::start(dir.path(), "edge", &edge_toml(edge_addr, &groups, "")).await;
    let front_addr = free_addr("127.0.0.1");
    let front = Lb::start(
        dir.path(),
        "front",
        &format!("role = \"front\"\nlisten = \"{front_addr}\"\nshutdown_grace = \"0s\"\nshutdown_drain = \"4s\"\nshutdown_drop_syn = true\n{FAST_UPSTREAM}\n[front]\nupstreams = [{{ addr = \"{edge_addr}\" }}]\n"),
    )
    .await;
    let ask =
        |target: &str| format!("GET /dfs/group1/M00/00/00/{target} HTTP/1.1\r\nHost: dfs\r\n\r\n");
    let mut open = TcpStream::connect(front.addr).await.unwrap();
    let mut buf = Vec::new();
    open.write_all(ask("before.jpg").as_bytes()).await.unwrap();
    let (status, _, body) = support::read_response(&mut open, &mut buf, false).await;
    assert_eq!(
        (status, &body[..]),
        (200, &b"s1 /group1/M00/00/00/before.jpg"[..])
    );

    front.begin_stop();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(front.addr)).await
        {
            Err(_) => break,
            Ok(Ok(_)) => assert!(
                Instant::now() < deadline,
                "new connections still accepted 3 s into the drain"
            ),
            Ok(Err(e)) => panic!("a new connection was refused during the drain: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    open.write_all(ask("during.jpg").as_bytes()).await.unwrap();
    let (status, headers, body) = support::read_response(&mut open, &mut buf, false).await;
    assert_eq!(
        (status, &body[..]),
        (200, &b"s1 /group1/M00/00/00/during.jpg"[..])
    );
    // ... and told to reconnect (to the node that stays).
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close")),
        "{headers:?}"
    );
    drop(open);
    front.stop().await;
    edge.stop().await;
}
