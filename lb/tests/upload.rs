//! HTTP upload through the front tier (`[front.upload]`) over real
//! sockets: files POSTed raw or as a form land in a real cluster (a
//! ferrodfs tracker and storage) and read back through the front and edge
//! tiers; refusals (address, token, size, form, cluster) answer JSON.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::cluster::RealCluster;
use support::{free_addr, send, Lb, Resp, FAST_UPSTREAM};

const TOKEN: &str = "upload-token-0123456789";

/// A front tier with `upload` as its `[front.upload]` body (none: off),
/// in front of the edge at `edge`.
async fn front(dir: &std::path::Path, edge: SocketAddr, upload: Option<&str>) -> (Lb, SocketAddr) {
    let metrics = free_addr("127.0.0.1");
    let upload = upload.map_or(String::new(), |u| format!("[front.upload]\n{u}\n"));
    let lb = Lb::start(
        dir,
        "front",
        &format!(
            "role = \"front\"\nlisten = \"{}\"\nmetrics_listen = \"{metrics}\"\nshutdown_grace = \"0s\"\n\
             {FAST_UPSTREAM}\n[front]\nupstreams = [{{ addr = \"{edge}\" }}]\n{upload}",
            free_addr("127.0.0.1")
        ),
    )
    .await;
    (lb, metrics)
}

fn upload_section(trackers: &str, extra: &str) -> String {
    format!("trackers = [\"{trackers}\"]\nallow = [\"127.0.0.1\"]\ntoken = \"{TOKEN}\"\n{extra}")
}

fn json(r: &Resp) -> serde_json::Value {
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

const BEARER: (&str, &str) = ("Authorization", "Bearer upload-token-0123456789");

async fn post(to: SocketAddr, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    send("127.0.0.1", to, "POST", target, headers, body)
        .await
        .unwrap()
}

/// Bytes that are not text, with CRLFs and dashes a form parser could trip on.
fn content(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| match i % 97 {
            0 => b'\r',
            1 => b'\n',
            2 | 3 => b'-',
            _ => (i as u8).wrapping_mul(31).wrapping_add(seed),
        })
        .collect()
}

/// The text of one series in a metrics page.
fn series(metrics: SocketAddr, name: &str) -> Option<u64> {
    let text = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(metrics).ok()?;
        write!(s, "GET /metrics HTTP/1.0\r\n\r\n").ok()?;
        let mut t = String::new();
        s.read_to_string(&mut t).ok()?;
        Some(t)
    })
    .join()
    .unwrap()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

/// GETs `url` (as the upload answered it) until the edge serves it.
async fn read_back(url: &str) -> Vec<u8> {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let addr: SocketAddr = host.parse().unwrap();
    let t = Instant::now();
    loop {
        let r = send("127.0.0.1", addr, "GET", path, &[], b"")
            .await
            .unwrap();
        if r.status == 200 {
            return r.bytes;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{url}: {r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_posted_raw_or_as_a_form_are_stored_and_read_back_through_the_front_tier() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = RealCluster::start().await;
    let edge_addr = free_addr("127.0.0.1");
    let edge = Lb::start(
        dir.path(),
        "edge",
        &format!(
            "role = \"edge\"\nlisten = \"{edge_addr}\"\nshutdown_grace = \"0s\"\n{FAST_UPSTREAM}\n\
             [edge.groups]\ngroup1 = [\"{}\"]\n",
            cluster.storage_http
        ),
    )
    .await;
    let (front, metrics) = front(
        dir.path(),
        edge_addr,
        Some(&upload_section(
            &cluster.tracker.to_string(),
            "max_size = \"1M\"\n",
        )),
    )
    .await;

    // The body is the file; the client waits for 100 Continue as curl does.
    let raw = content(300_000, 1);
    let r = post(
        front.addr,
        "/upload?ext=bin",
        &[BEARER, ("Expect", "100-continue")],
        &raw,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let j = json(&r);
    let id = j["file_id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("group1/M00/") && id.ends_with(".bin"),
        "{id}"
    );
    assert_eq!(
        j["url"].as_str().unwrap(),
        format!("http://{}/dfs/{id}", front.addr)
    );
    assert_eq!(j["size"], raw.len());
    assert_eq!(read_back(j["url"].as_str().unwrap()).await, raw);
    let stored = cluster.client().download(&id, 0, 0).await.unwrap();
    assert_eq!(stored, raw, "the cluster holds the same bytes");

    // A form as a browser sends it: the extension comes from the file name.
    let photo = content(50_000, 2);
    let boundary = "----ferrodfsFormBoundary7MA4YWxk";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"beach.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&photo);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = post(
        front.addr,
        "/upload",
        &[BEARER, ("Content-Type", &ct)],
        &form,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let j = json(&r);
    assert!(j["file_id"].as_str().unwrap().ends_with(".jpg"), "{j}");
    assert_eq!(j["size"], photo.len());
    assert_eq!(read_back(j["url"].as_str().unwrap()).await, photo);

    // A chunked body (no Content-Length) is read to its end as well.
    let r = post(
        front.addr,
        "/upload?filename=notes.txt",
        &[BEARER, ("Transfer-Encoding", "chunked")],
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let j = json(&r);
    assert!(j["file_id"].as_str().unwrap().ends_with(".txt"), "{j}");
    assert_eq!(read_back(j["url"].as_str().unwrap()).await, b"hello world");

    assert_eq!(
        series(
            metrics,
            "ferrodfs_lb_uploads_total{result=\"ok\",tier=\"front\"}"
        ),
        Some(3)
    );
    assert_eq!(
        series(metrics, "ferrodfs_lb_upload_bytes_total{tier=\"front\"}"),
        Some((raw.len() + photo.len() + 11) as u64)
    );
    front.stop().await;
    edge.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_refused_outside_the_allow_list_and_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    // Refusals come before any tracker is asked: none listens here.
    let nowhere = free_addr("127.0.0.1");
    let (front, metrics) = front(
        dir.path(),
        free_addr("127.0.0.1"),
        Some(&upload_section(&nowhere.to_string(), "")),
    )
    .await;

    let outside = send(
        "127.0.0.2",
        front.addr,
        "POST",
        "/upload?ext=txt",
        &[BEARER],
        b"x",
    )
    .await
    .unwrap();
    assert_eq!(outside.status, 403, "{outside:?}");
    let j = json(&outside);
    assert_eq!(j["status"], 13, "EACCES: {j}");
    assert!(j["error"]
        .as_str()
        .unwrap()
        .contains("not allowed from this address"));

    for auth in [None, Some("Bearer wrong-token-0123456789"), Some(TOKEN)] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let r = post(front.addr, "/upload?ext=txt", &headers, b"x").await;
        assert_eq!(r.status, 403, "{auth:?}: {r:?}");
        assert!(json(&r)["error"].as_str().unwrap().contains("token"));
    }
    let r = send("127.0.0.1", front.addr, "GET", "/upload", &[BEARER], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(
        series(
            metrics,
            "ferrodfs_lb_uploads_total{result=\"forbidden\",tier=\"front\"}"
        ),
        Some(4)
    );
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_max_size_bad_forms_and_an_unreachable_cluster_are_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = free_addr("127.0.0.1");
    let (front, _) = front(
        dir.path(),
        free_addr("127.0.0.1"),
        Some(&upload_section(&nowhere.to_string(), "max_size = \"1K\"\n")),
    )
    .await;

    // Refused on its Content-Length, before the client sends the body.
    let big = vec![7u8; 5000];
    let r = post(
        front.addr,
        "/upload",
        &[BEARER, ("Expect", "100-continue")],
        &big,
    )
    .await;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(json(&r)["status"], 27, "EFBIG");
    // Without a length, refused as it grows past the limit.
    let r = post(
        front.addr,
        "/upload",
        &[BEARER, ("Transfer-Encoding", "chunked")],
        format!(
            "5dc\r\n{}\r\n5dc\r\n{}\r\n0\r\n\r\n",
            "a".repeat(1500),
            "b".repeat(1500)
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(r.status, 413, "{r:?}");

    let r = post(
        front.addr,
        "/upload",
        &[BEARER, ("Content-Type", "multipart/form-data; boundary=b")],
        b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nnever closed",
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    let j = json(&r);
    assert_eq!(j["status"], 22, "EINVAL: {j}");
    assert!(j["error"].as_str().unwrap().contains("not closed"), "{j}");
    let r = post(front.addr, "/upload?ext=../x", &[BEARER], b"x").await;
    assert_eq!(r.status, 400, "{r:?}");

    // Everything right, but no tracker answers.
    let r = post(front.addr, "/upload?ext=txt", &[BEARER], b"hello").await;
    assert_eq!(r.status, 502, "{r:?}");
    let j = json(&r);
    assert_eq!(j["status"], 111, "ECONNREFUSED: {j}");
    assert!(
        j["error"].as_str().unwrap().contains(&nowhere.to_string()),
        "{j}"
    );
    front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_front_upload_section_the_front_tier_takes_no_upload() {
    let dir = tempfile::tempdir().unwrap();
    let (front, metrics) = front(dir.path(), free_addr("127.0.0.1"), None).await;
    // As before uploads existed: the front tier serves reads only, and
    // /upload is no path of its.
    let r = post(front.addr, "/upload?ext=txt", &[BEARER], b"x").await;
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = send("127.0.0.1", front.addr, "GET", "/upload", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        series(
            metrics,
            "ferrodfs_lb_uploads_total{result=\"ok\",tier=\"front\"}"
        ),
        None
    );
    front.stop().await;
}
