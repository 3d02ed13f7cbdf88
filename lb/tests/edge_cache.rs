//! What the edge cache must never do, over real sockets: store anything but
//! a file, answer a request the storages would refuse, keep serving a file
//! deleted from the cluster, or let the front tier purge it.

mod support;

use std::time::{Duration, Instant};

use ferrodfs_proto::token::sign;
use support::storage::RealStorage;
use support::{free_addr, get, read_response, request, Lb, Origin, FAST_UPSTREAM};

fn edge_toml(listen: std::net::SocketAddr, group1: &str, extra: &str, cache: &str) -> String {
    format!(
        "role = \"edge\"\nlisten = \"{listen}\"\nshutdown_grace = \"0s\"\n{FAST_UPSTREAM}\n\
         [edge]\n{extra}\n[edge.groups]\ngroup1 = [\"{group1}\"]\n{cache}\n"
    )
}

fn cache_toml(dir: &std::path::Path, extra: &str) -> String {
    format!(
        "[cache]\npath = \"{}\"\nmax_size = \"10M\"\npurge_allow = [\"127.0.0.1\"]\n{extra}\n",
        dir.join("cache").display()
    )
}

/// A stand-in storage answering 200 and a cached edge in front of it;
/// `extra` goes into the edge's `[edge]` table.
async fn origin_and_cached_edge(dir: &std::path::Path, extra: &str) -> (Origin, Lb) {
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let edge = Lb::start(
        dir,
        "edge",
        &edge_toml(
            free_addr("127.0.0.1"),
            &s1.addr.to_string(),
            extra,
            &cache_toml(dir, ""),
        ),
    )
    .await;
    (s1, edge)
}

fn cache_status(r: &support::Resp) -> &str {
    r.header("x-cache-status").unwrap_or("-")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_200_responses_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (s1, edge) = origin_and_cached_edge(dir.path(), "").await;
    for status in [404, 302, 403, 500, 503] {
        let path = format!("/group1/M00/00/00/status-{status}.jpg");
        for _ in 0..2 {
            let r = get(edge.addr, &path).await;
            assert_eq!(r.status, status, "{r:?}");
        }
        let asked = s1.requests().iter().filter(|s| s.path == path).count();
        assert_eq!(asked, 2, "a {status} is never answered from the cache");
    }
    let ok = "/group1/M00/00/00/ok.jpg";
    assert_eq!(cache_status(&get(edge.addr, ok).await), "MISS");
    assert_eq!(cache_status(&get(edge.addr, ok).await), "HIT");
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_answered_from_memory_is_the_hit_read_from_disk() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let metrics = free_addr("127.0.0.1");
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(
            free_addr("127.0.0.1"),
            &s1.addr.to_string(),
            "",
            &cache_toml(dir.path(), ""),
        )
        .replace(
            "shutdown_grace",
            &format!("metrics_listen = \"{metrics}\"\nshutdown_grace"),
        ),
    )
    .await;
    let answers = || async move {
        let r = get(metrics, "/metrics").await;
        r.body
            .lines()
            .find_map(|l| l.strip_prefix("ferrodfs_lb_cache_memory_answers_total{"))
            .and_then(|l| l.split_once("} "))
            .map_or(-1, |(_, v)| v.trim().parse::<i64>().unwrap())
    };
    let file = "/group1/M00/00/00/hot.jpg";
    assert_eq!(cache_status(&get(edge.addr, file).await), "MISS");
    // The first hit reads the entry from its file (through pingora-cache)
    // and keeps it in memory.
    let from_disk = get(edge.addr, file).await;
    assert_eq!((from_disk.status, cache_status(&from_disk)), (200, "HIT"));
    assert_eq!(answers().await, 0, "the first hit is read from disk");
    // The next ones, on a kept-alive connection, are answered from memory
    // before pingora's session, with the same head and body.
    let mut conn = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
    let mut buf = Vec::new();
    let ask = |method: &str| format!("{method} {file} HTTP/1.1\r\nHost: edge\r\n\r\n");
    conn.write_all(ask("GET").as_bytes()).await.unwrap();
    let (status, headers, body) = read_response(&mut conn, &mut buf, false).await;
    assert_eq!(answers().await, 1, "the second hit is answered from memory");
    let stable = |h: &[(String, String)]| -> Vec<(String, String)> {
        h.iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .filter(|(k, _)| !["date", "expires", "age", "connection"].contains(&k.as_str()))
            .collect()
    };
    assert_eq!(status, 200);
    assert_eq!(stable(&headers), stable(&from_disk.headers));
    assert_eq!(body, from_disk.bytes);
    for name in ["age", "expires", "date"] {
        assert!(
            headers.iter().any(|(k, _)| k == name),
            "no {name}: {headers:?}"
        );
    }
    conn.write_all(ask("HEAD").as_bytes()).await.unwrap();
    let (status, head_headers, _) = read_response(&mut conn, &mut buf, true).await;
    assert_eq!(status, 200);
    assert_eq!(
        stable(&head_headers),
        stable(&headers),
        "a HEAD gets the GET's head"
    );
    assert_eq!(answers().await, 2, "a HEAD is answered from memory too");
    // Ranges and validators take the cache's full path, answered as before.
    let ranged = format!("GET {file} HTTP/1.1\r\nHost: edge\r\nRange: bytes=1-3\r\n\r\n");
    conn.write_all(ranged.as_bytes()).await.unwrap();
    let (status, headers, part) = read_response(&mut conn, &mut buf, false).await;
    let xcs = headers
        .iter()
        .find(|(k, _)| k == "x-cache-status")
        .map(|(_, v)| v.as_str());
    assert_eq!((status, xcs), (206, Some("HIT")), "{headers:?}");
    assert_eq!(part, from_disk.bytes[1..=3]);
    assert_eq!(answers().await, 2, "a range is not answered from memory");
    // A request pingora's session refuses is refused, held entry or not.
    let two_hosts = format!("GET {file} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    conn.write_all(two_hosts.as_bytes()).await.unwrap();
    let (status, _, _) = read_response(&mut conn, &mut buf, false).await;
    assert_eq!(status, 400);
    assert_eq!(s1.requests().len(), 1, "only the miss reached the storage");
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_kept_alive_connection_mixes_hits_from_memory_with_proxied_requests() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let (s1, edge) = origin_and_cached_edge(dir.path(), "").await;
    let hot = "/group1/M00/00/00/hot.jpg";
    // Stored, then read once from disk: held in memory from then on.
    assert_eq!(cache_status(&get(edge.addr, hot).await), "MISS");
    assert_eq!(cache_status(&get(edge.addr, hot).await), "HIT");
    let mut conn = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
    let mut buf = Vec::new();
    let req = |path: &str, extra: &str| format!("GET {path} HTTP/1.1\r\nHost: edge\r\n{extra}\r\n");
    let cold = "/group1/M00/00/00/cold.jpg";
    // A hit, a miss (proxied), a range (pingora-cache), a hit again, and
    // two pipelined hits in one write, all on one connection.
    let plan = [
        (req(hot, ""), 200, "HIT", format!("s1 {hot}")),
        (req(cold, ""), 200, "MISS", format!("s1 {cold}")),
        (
            req(hot, "Range: bytes=0-1\r\n"),
            206,
            "HIT",
            "s1".to_string(),
        ),
        (req(hot, ""), 200, "HIT", format!("s1 {hot}")),
    ];
    for (wire, status, cache, body) in &plan {
        conn.write_all(wire.as_bytes()).await.unwrap();
        let (st, headers, got) = read_response(&mut conn, &mut buf, false).await;
        let xcs = headers
            .iter()
            .find(|(k, _)| k == "x-cache-status")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            (st, xcs, String::from_utf8_lossy(&got).as_ref()),
            (*status, Some(*cache), body.as_str()),
            "{wire}"
        );
        let conn_hdr = headers
            .iter()
            .find(|(k, _)| k == "connection")
            .map(|(_, v)| v.as_str());
        assert_eq!(conn_hdr, Some("keep-alive"), "{wire}");
    }
    conn.write_all(format!("{}{}", req(hot, ""), req(hot, "")).as_bytes())
        .await
        .unwrap();
    for _ in 0..2 {
        let (st, _, got) = read_response(&mut conn, &mut buf, false).await;
        assert_eq!((st, got), (200, format!("s1 {hot}").into_bytes()));
    }
    // A request that asks to close is answered, then the connection ends.
    conn.write_all(req(hot, "Connection: close\r\n").as_bytes())
        .await
        .unwrap();
    let (st, _, _) = read_response(&mut conn, &mut buf, false).await;
    assert_eq!(st, 200);
    let mut rest = Vec::new();
    use tokio::io::AsyncReadExt;
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest))
        .await
        .expect("closed after Connection: close")
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        s1.requests().iter().filter(|r| r.path == hot).count(),
        1,
        "the hot file was fetched from the storage once"
    );
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_length_suffix_range_is_416_on_hit_and_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (_s1, edge) = origin_and_cached_edge(dir.path(), "").await;
    let file = "/group1/M00/00/00/range.bin";
    let range = |target: &'static str| {
        request(
            "127.0.0.1",
            edge.addr,
            "GET",
            target,
            &[("Range", "bytes=-0")],
        )
    };
    let miss = range(file).await.unwrap();
    assert_eq!(miss.status, 416, "{miss:?}");
    let whole = get(edge.addr, file).await;
    assert_eq!((whole.status, cache_status(&whole)), (200, "HIT"));
    let hit = range(file).await.unwrap();
    assert_eq!((hit.status, cache_status(&hit)), (416, "HIT"), "{hit:?}");
    assert_eq!(
        hit.header("content-range"),
        Some(format!("bytes */{}", whole.body.len()).as_str())
    );
    assert!(hit.body.is_empty());
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_tier_never_forwards_a_purge() {
    let dir = tempfile::tempdir().unwrap();
    let (_s1, edge) = origin_and_cached_edge(dir.path(), "").await;
    let edge_addr = edge.addr;
    let front_addr = free_addr("127.0.0.1");
    let front = Lb::start(
        dir.path(),
        "front",
        &format!("role = \"front\"\nlisten = \"{front_addr}\"\nshutdown_grace = \"0s\"\n{FAST_UPSTREAM}\n[front]\nupstreams = [{{ addr = \"{edge_addr}\" }}]\n"),
    )
    .await;
    let file = "/group1/M00/00/00/keep.png";
    assert_eq!(
        cache_status(&get(front.addr, &format!("/dfs{file}")).await),
        "MISS"
    );
    // Any client of the front: the edge would see the front's own
    // (allowed) address.
    for target in [format!("/dfs/purge{file}"), format!("/dfs/purge{file}?x=1")] {
        let r = request("127.0.0.9", front.addr, "GET", &target, &[])
            .await
            .unwrap();
        assert!(r.status == 404 || r.status == 403, "{target}: {r:?}");
    }
    let r = request(
        "127.0.0.9",
        front.addr,
        "PURGE",
        &format!("/dfs/purge{file}"),
        &[],
    )
    .await
    .unwrap();
    assert!((400..500).contains(&r.status), "{r:?}");
    assert_eq!(
        cache_status(&get(edge.addr, file).await),
        "HIT",
        "still cached"
    );
    front.stop().await;
    edge.stop().await;
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_share_one_entry_and_a_bad_token_never_reads_it() {
    const SECRET: &str = "FastDFS1234567890";
    let dir = tempfile::tempdir().unwrap();
    let (s1, edge) = origin_and_cached_edge(
        dir.path(),
        &format!("token_secret = \"{SECRET}\"\ntoken_ttl = \"60s\""),
    )
    .await;
    let name = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.jpg";
    let signed = |ts: i64| {
        format!(
            "/group1/{name}?token={}&ts={ts}",
            sign(name, SECRET.as_bytes(), ts)
        )
    };
    let t = now();
    let first = get(edge.addr, &signed(t)).await;
    assert_eq!((first.status, cache_status(&first)), (200, "MISS"));
    let other = get(edge.addr, &signed(t - 5)).await;
    assert_eq!(
        (other.status, cache_status(&other)),
        (200, "HIT"),
        "another signed URL of the same file shares the entry"
    );
    assert_eq!(other.body, first.body);
    let asked = s1.requests().len();

    let bad = [
        format!("/group1/{name}"),
        format!("/group1/{name}?ts={t}"),
        format!("/group1/{name}?token={}&ts={t}", "0".repeat(32)),
        format!("/group1/{name}?token={}&ts={}", sign(name, b"wrong", t), t),
        signed(t - 3600),
        format!(
            "/group1/{name}?token={}&ts={}",
            sign(name, SECRET.as_bytes(), t),
            t + 1
        ),
    ];
    for target in &bad {
        let r = get(edge.addr, target).await;
        assert_eq!(r.status, 403, "{target}: {r:?}");
        assert_eq!(
            cache_status(&r),
            "-",
            "{target}: the cache was not consulted"
        );
        assert!(!r.body.contains(name), "{target}: {}", r.body);
    }
    assert_eq!(s1.requests().len(), asked, "nor the storage");

    // Purge needs no token (purge_allow guards it) and clears the one entry.
    let purged = get(edge.addr, &format!("/purge/group1/{name}")).await;
    assert_eq!(purged.status, 200, "{purged:?}");
    assert_eq!(cache_status(&get(edge.addr, &signed(t)).await), "MISS");
    edge.stop().await;
}

/// Polls `target` on `edge` until `done` holds for the response, or fails
/// after `within`.
async fn wait_for(
    edge: std::net::SocketAddr,
    target: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&support::Resp) -> bool,
) -> support::Resp {
    let t = Instant::now();
    loop {
        let r = get(edge, target).await;
        if done(&r) {
            return r;
        }
        assert!(
            t.elapsed() < within,
            "{what} not seen within {within:?}: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_deleted_through_the_cluster_stops_being_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let storage = RealStorage::start().await;
    let name = storage.upload(b"soon deleted", "txt").await;
    let edge = Lb::start(
        dir.path(),
        "edge",
        &edge_toml(
            free_addr("127.0.0.1"),
            &storage.http_addr().to_string(),
            "",
            &cache_toml(dir.path(), "revalidate_after = \"1s\""),
        ),
    )
    .await;
    let file = format!("/group1/{name}");
    let first = get(edge.addr, &file).await;
    assert_eq!(
        (first.status, first.body.as_str(), cache_status(&first)),
        (200, "soon deleted", "MISS")
    );
    // Past revalidate_after the copy is checked with the storage (a 304)
    // and served again.
    let checked = wait_for(
        edge.addr,
        &file,
        Duration::from_secs(20),
        "a revalidation",
        |r| cache_status(r) == "REVALIDATED",
    )
    .await;
    assert_eq!(
        (checked.status, checked.body.as_str()),
        (200, "soon deleted")
    );

    assert_eq!(storage.delete(&name).await, 0, "deleted on the storage");
    let gone = wait_for(edge.addr, &file, Duration::from_secs(20), "the 404", |r| {
        r.status != 200
    })
    .await;
    assert_eq!(gone.status, 404, "{gone:?}");

    // Evicted, not merely hidden: with the storage down, a stored copy would
    // be served stale; there is none left to serve.
    storage.stop().await;
    let after = get(edge.addr, &file).await;
    assert_ne!(after.status, 200, "{after:?}");
    assert!(!after.body.contains("soon deleted"));
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_entries_held_in_memory_are_counted_and_leave_with_a_purge() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = Origin::start(free_addr("127.0.0.1"), "s1", 200).await;
    let metrics = free_addr("127.0.0.1");
    // Gauges follow the health-check tick: a short one.
    let toml = format!(
        "role = \"edge\"\nlisten = \"{}\"\nmetrics_listen = \"{metrics}\"\nshutdown_grace = \"0s\"\n\
         [upstream]\nhealth_check_interval = \"100ms\"\n\
         [edge.groups]\ngroup1 = [\"{}\"]\n{}",
        free_addr("127.0.0.1"),
        s1.addr,
        cache_toml(dir.path(), "memory = \"1M\""),
    );
    let edge = Lb::start(dir.path(), "edge", &toml).await;
    let memory = |r: &support::Resp| -> f64 {
        r.body
            .lines()
            .find_map(|l| l.strip_prefix("ferrodfs_lb_cache_memory_bytes{"))
            .and_then(|l| l.split_once("} "))
            .map_or(-1.0, |(_, v)| v.trim().parse().unwrap())
    };
    let file = "/group1/M00/00/00/m.jpg";
    assert_eq!(cache_status(&get(edge.addr, file).await), "MISS");
    let hit = get(edge.addr, file).await;
    assert_eq!(cache_status(&hit), "HIT");
    wait_for(
        metrics,
        "/metrics",
        Duration::from_secs(10),
        "memory held",
        |r| memory(r) > 0.0,
    )
    .await;
    let again = get(edge.addr, file).await;
    assert_eq!((cache_status(&again), &again.body), ("HIT", &hit.body));
    let asked = s1.requests().len();
    assert_eq!(get(edge.addr, &format!("/purge{file}")).await.status, 200);
    wait_for(
        metrics,
        "/metrics",
        Duration::from_secs(10),
        "memory freed",
        |r| memory(r) == 0.0,
    )
    .await;
    assert_eq!(cache_status(&get(edge.addr, file).await), "MISS");
    assert_eq!(s1.requests().len(), asked + 1, "the storage is asked again");
    edge.stop().await;
}
