//! HTTP file access on one storage: what a browser, a CDN or a download
//! manager sees on `/<group>/Mxx/HH/HH/name`.

mod common;
mod http_common;

use std::net::{Ipv4Addr, SocketAddr};

use common::*;
use ferrodfs_proto::file_id::{ext_segment, FileInfo};
use ferrodfs_proto::header::Header;
use ferrodfs_proto::{cmd, token};
use http_common::*;

fn http(st: &TestStorage) -> SocketAddr {
    st.storage.http_addr().expect("HTTP enabled by default")
}

fn url(name: &str) -> String {
    format!("/{GROUP}/{name}")
}

/// Bytes that tell apart every offset.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

async fn storage_with_file(extra: &str, data: &[u8], ext: &str) -> (TestStorage, String) {
    let st = start_storage(extra).await;
    let mut c = st.connect().await;
    let name = upload(&mut c, data, ext).await;
    (st, name)
}

#[tokio::test]
async fn get_serves_the_uploaded_bytes_with_headers() {
    let data = pattern(100_000);
    let (st, name) = storage_with_file("", &data, "jpg").await;
    let r = get(http(&st), &url(&name)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data, "large body through sendfile");
    assert_eq!(r.header("content-length"), Some("100000"));
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert!(r.header("etag").unwrap().starts_with('"'));
    assert!(r.header("last-modified").unwrap().ends_with("GMT"));
    assert_eq!(r.header("content-disposition"), None);
    st.stop().await;
}

#[tokio::test]
async fn small_files_and_the_group_less_url_are_served() {
    let (st, name) = storage_with_file("", b"hello", "txt").await;
    let r = get(http(&st), &format!("/{name}")).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    st.stop().await;
}

#[tokio::test]
async fn content_type_follows_the_extension() {
    let st = start_storage("[http]\ndefault_content_type = 'application/x-unknown'").await;
    let mut c = st.connect().await;
    for (ext, expect) in [
        ("png", "image/png"),
        ("mp4", "video/mp4"),
        ("pdf", "application/pdf"),
        ("", "application/x-unknown"),
        ("qqq", "application/x-unknown"),
    ] {
        let name = upload(&mut c, b"x", ext).await;
        let r = get(http(&st), &url(&name)).await;
        assert_eq!(r.header("content-type"), Some(expect), "{ext:?}");
    }
    st.stop().await;
}

#[tokio::test]
async fn slave_files_are_served_by_name() {
    use ferrodfs_proto::cmd;
    use ferrodfs_proto::storage_req::SlaveHead;
    let (st, master) = storage_with_file("", b"master", "jpg").await;
    let mut c = st.connect().await;
    let mut body = SlaveHead {
        master_len: master.len() as u64,
        file_size: 5,
        prefix: "_150x150".into(),
        ext: "jpg".into(),
    }
    .encode(&master);
    body.extend_from_slice(b"thumb");
    let reply = request(&mut c, cmd::UPLOAD_SLAVE_FILE, &body)
        .await
        .unwrap();
    let (_, slave) = ferrodfs_proto::storage_req::parse_upload_reply(&reply).unwrap();
    assert!(slave.contains("_150x150"));
    let r = get(http(&st), &url(&slave)).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"thumb"[..]));
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    st.stop().await;
}

#[tokio::test]
async fn ranges_serve_part_of_the_file() {
    let data = pattern(1000);
    let (st, name) = storage_with_file("", &data, "bin").await;
    let addr = http(&st);
    for (range, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=900-", 900, 999),
        ("bytes=-10", 990, 999),
        ("bytes=500-5000", 500, 999),
    ] {
        let r = http_request(addr, "GET", &url(&name), &[&format!("Range: {range}")]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, &data[start..=end], "{range}");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes {start}-{end}/1000")
        );
    }
    st.stop().await;
}

#[tokio::test]
async fn unsatisfiable_and_malformed_ranges_get_416() {
    let (st, name) = storage_with_file("", &pattern(1000), "bin").await;
    for range in [
        "bytes=1000-",
        "bytes=2000-3000",
        "bytes=-0",
        "bytes=9-1",
        "bytes=x-y",
    ] {
        let r = http_request(http(&st), "GET", &url(&name), &[&format!("Range: {range}")]).await;
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */1000"), "{range}");
    }
    // Several ranges are not served as multipart: the whole file comes back.
    let r = http_request(http(&st), "GET", &url(&name), &["Range: bytes=0-1,5-6"]).await;
    assert_eq!((r.status, r.body.len()), (200, 1000));
    st.stop().await;
}

#[tokio::test]
async fn if_range_with_a_stale_validator_sends_the_whole_file() {
    let (st, name) = storage_with_file("", &pattern(100), "bin").await;
    let etag = get(http(&st), &url(&name))
        .await
        .header("etag")
        .unwrap()
        .to_string();
    let fresh = http_request(
        http(&st),
        "GET",
        &url(&name),
        &["Range: bytes=0-9", &format!("If-Range: {etag}")],
    )
    .await;
    assert_eq!((fresh.status, fresh.body.len()), (206, 10));
    let stale = http_request(
        http(&st),
        "GET",
        &url(&name),
        &["Range: bytes=0-9", "If-Range: \"old\""],
    )
    .await;
    assert_eq!((stale.status, stale.body.len()), (200, 100));
    st.stop().await;
}

#[tokio::test]
async fn conditional_requests_get_304() {
    let (st, name) = storage_with_file("", b"cached", "css").await;
    let addr = http(&st);
    let first = get(addr, &url(&name)).await;
    let etag = first.header("etag").unwrap().to_string();
    let date = first.header("last-modified").unwrap().to_string();

    let r = http_request(
        addr,
        "GET",
        &url(&name),
        &[&format!("If-None-Match: {etag}")],
    )
    .await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let r = http_request(
        addr,
        "GET",
        &url(&name),
        &[&format!("If-Modified-Since: {date}")],
    )
    .await;
    assert_eq!(r.status, 304);

    let r = http_request(addr, "GET", &url(&name), &["If-None-Match: \"other\""]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"cached"[..]));
    let r = http_request(
        addr,
        "GET",
        &url(&name),
        &["If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"],
    )
    .await;
    assert_eq!(r.status, 200);
    st.stop().await;
}

#[tokio::test]
async fn head_sends_the_headers_without_the_body() {
    let (st, name) = storage_with_file("", &pattern(70_000), "png").await;
    let r = http_request(http(&st), "HEAD", &url(&name), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("70000"));
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(r.body.is_empty());
    // Nothing followed the head: the raw reply ends with it.
    let raw = format!(
        "HEAD {} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        url(&name)
    );
    let all = exchange_raw(http(&st), raw.as_bytes(), true).await;
    assert_eq!(all.len(), 1);
    st.stop().await;
}

#[tokio::test]
async fn a_download_name_sets_content_disposition() {
    let (st, name) = storage_with_file("", b"%PDF", "pdf").await;
    let r = get(
        http(&st),
        &format!("{}?filename=Annual%20report%202024.pdf", url(&name)),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"Annual report 2024.pdf\"; filename*=UTF-8''Annual%20report%202024.pdf")
    );
    let r = get(
        http(&st),
        &format!("{}?filename=a%0D%0ASet-Cookie:%20x", url(&name)),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("set-cookie"), None, "no header injection");
    st.stop().await;
}

#[tokio::test]
async fn keep_alive_serves_pipelined_requests_on_one_connection() {
    let (st, name) = storage_with_file("", &pattern(50_000), "bin").await;
    let one = format!("GET {} HTTP/1.1\r\nHost: t\r\n\r\n", url(&name));
    let last = format!(
        "GET {} HTTP/1.1\r\nHost: t\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n",
        url(&name)
    );
    let raw = format!("{one}{one}{last}");
    let rs = exchange_raw(http(&st), raw.as_bytes(), false).await;
    assert_eq!(
        rs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 206]
    );
    assert_eq!(rs[1].body.len(), 50_000);
    assert_eq!(rs[0].header("connection"), Some("keep-alive"));
    assert_eq!(rs[2].header("connection"), Some("close"));
    st.stop().await;
}

/// A file ID this storage could have made (source 127.0.0.1) but did not.
fn absent_local_name() -> String {
    let mut rng = rand::thread_rng();
    let info = FileInfo::normal(Ipv4Addr::LOCALHOST, 1_700_000_000, 3, 0, &mut rng);
    format!(
        "M00/00/00/{}{}",
        info.encode(),
        ext_segment("jpg", &mut rng)
    )
}

#[tokio::test]
async fn missing_files_wrong_groups_and_unknown_store_paths_are_refused() {
    let (st, name) = storage_with_file("", b"x", "jpg").await;
    let addr = http(&st);
    assert_eq!(get(addr, &url(&absent_local_name())).await.status, 404);
    assert_eq!(get(addr, &format!("/group2/{name}")).await.status, 404);
    let other_path = format!("M05{}", &name[3..]);
    let r = get(addr, &url(&other_path)).await;
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("M05"));
    assert_eq!(
        http_request(addr, "POST", &url(&name), &["Content-Length: 0"])
            .await
            .status,
        405
    );
    st.stop().await;
}

#[tokio::test]
async fn traversal_attempts_never_read_outside_the_store_paths() {
    let (st, name) = storage_with_file("", b"inside", "txt").await;
    let secret = b"TOP-SECRET-OUTSIDE";
    std::fs::write(st.dir.path().join("secret.txt"), secret).unwrap();
    std::fs::write(st.dir.path().join("m0/secret.txt"), secret).unwrap();
    std::fs::write(st.dir.path().join("m0/data/secret.txt"), secret).unwrap();
    let addr = http(&st);
    let attempts = [
        "/group1/M00/../../secret.txt".to_string(),
        "/group1/M00/00/../../secret.txt".to_string(),
        "/group1/M00/00/00/../../../../secret.txt".to_string(),
        "/group1/M00/00/00/%2e%2e/%2e%2e/%2e%2e/secret.txt".to_string(),
        "/group1/M00/%2e%2e/%2e%2e/secret.txt".to_string(),
        "/group1/M00/00/00/..%2f..%2f..%2fsecret.txt".to_string(),
        "/group1/M00/00/00/%2E%2E%2F%2E%2E%2Fsecret.txt".to_string(),
        "/group1/M00/00/00/%252e%252e%252fsecret.txt".to_string(),
        "/../secret.txt".to_string(),
        "/group1/../../../../../../etc/passwd".to_string(),
        "/group1/M00/00/00/secret.txt".to_string(),
        format!("/group1/{}%00.txt", &name[..name.len() - 4]),
        "//group1/M00/00/00/secret.txt".to_string(),
    ];
    for target in &attempts {
        let r = get(addr, target).await;
        assert!((400..500).contains(&r.status), "{target}: {}", r.status);
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("TOP-SECRET"), "{target} leaked: {body}");
        assert!(!body.contains("root:"), "{target} leaked: {body}");
    }
    // The legitimate file still works afterwards.
    assert_eq!(get(addr, &url(&name)).await.body, b"inside");
    st.stop().await;
}

#[tokio::test]
async fn overlong_and_malformed_requests_get_clear_4xx() {
    let (st, name) = storage_with_file("", b"x", "jpg").await;
    let addr = http(&st);
    let long_url = format!("{}?pad={}", url(&name), "a".repeat(5000));
    assert_eq!(get(addr, &long_url).await.status, 414);
    let huge_header = format!("X-Pad: {}", "b".repeat(20_000));
    assert_eq!(
        http_request(addr, "GET", &url(&name), &[&huge_header])
            .await
            .status,
        431
    );
    let many: Vec<String> = (0..100).map(|i| format!("X-H{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        http_request(addr, "GET", &url(&name), &many).await.status,
        431
    );
    let garbage = exchange_raw(addr, b"\x16\x03\x01 not http\r\n\r\n", false).await;
    assert_eq!(garbage[0].status, 400);
    st.stop().await;
}

const TOKEN_CFG: &str = "[http]\ntoken_secret = 'FastDFS1234567890'\ntoken_ttl = 60";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn signed(name: &str, secret: &[u8], ts: i64) -> String {
    format!(
        "{}?token={}&ts={ts}",
        url(name),
        token::sign(name, secret, ts)
    )
}

#[tokio::test]
async fn with_a_secret_only_signed_fresh_urls_are_served() {
    let (st, name) = storage_with_file(TOKEN_CFG, b"guarded", "jpg").await;
    let addr = http(&st);
    let secret = b"FastDFS1234567890";
    let ok = get(addr, &signed(&name, secret, now())).await;
    assert_eq!((ok.status, ok.body.as_slice()), (200, &b"guarded"[..]));
    assert_eq!(
        get(addr, &signed(&name, secret, 0)).await.status,
        200,
        "ts=0 never expires"
    );

    let missing = get(addr, &url(&name)).await;
    assert_eq!(missing.status, 403);
    assert_eq!(
        get(addr, &signed(&name, b"wrong-secret", now()))
            .await
            .status,
        403
    );
    let expired = get(addr, &signed(&name, secret, now() - 61)).await;
    assert_eq!(expired.status, 403);
    assert!(String::from_utf8_lossy(&expired.body).contains("expired"));
    let with_group = format!(
        "{}?token={}&ts={}",
        url(&name),
        token::sign(&format!("{GROUP}/{name}"), secret, now()),
        now()
    );
    assert_eq!(
        get(addr, &with_group).await.status,
        403,
        "the token hashes the path without the group"
    );
    st.stop().await;
}

#[tokio::test]
async fn without_a_secret_tokens_are_not_needed() {
    let (st, name) = storage_with_file("", b"open", "jpg").await;
    assert_eq!(get(http(&st), &url(&name)).await.status, 200);
    assert_eq!(
        get(http(&st), &format!("{}?token=junk&ts=1", url(&name)))
            .await
            .status,
        200
    );
    st.stop().await;
}

#[tokio::test]
async fn a_refused_token_can_redirect() {
    let cfg = format!("{TOKEN_CFG}\ntoken_fail_redirect = 'http://example.com/anti-steal.jpg'");
    let (st, name) = storage_with_file(&cfg, b"guarded", "jpg").await;
    let r = get(http(&st), &url(&name)).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("http://example.com/anti-steal.jpg")
    );
    st.stop().await;
}

#[tokio::test]
async fn http_can_be_disabled() {
    let st = start_storage("[http]\nenabled = false").await;
    assert_eq!(st.storage.http_addr(), None);
    st.stop().await;
}

#[tokio::test]
async fn metrics_count_http_requests_by_status_and_bytes() {
    let (st, name) =
        storage_with_file("metrics_listen = '127.0.0.1:0'", &pattern(1234), "bin").await;
    let addr = http(&st);
    assert_eq!(get(addr, &url(&name)).await.status, 200);
    assert_eq!(get(addr, &url(&absent_local_name())).await.status, 404);
    let text = metrics(st.storage.metrics_addr().unwrap()).await;
    assert!(
        text.contains(r#"ferrodfs_storage_http_requests_total{status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ferrodfs_storage_http_requests_total{status="404"} 1"#),
        "{text}"
    );
    let sent: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("ferrodfs_storage_http_sent_bytes_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(sent >= 1234, "{sent}");
    st.stop().await;
}

#[tokio::test]
async fn the_metadata_file_beside_a_data_file_is_never_served() {
    let (st, name) = storage_with_file("", b"data", "jpg").await;
    let mut c = st.connect().await;
    let meta = ferrodfs_proto::storage_req::SetMeta::encode(
        ferrodfs_proto::storage_req::MetaFlag::Overwrite,
        GROUP,
        &name,
        b"owner\x02alice",
    );
    request(&mut c, cmd::SET_METADATA, &meta).await.unwrap();
    let meta_name = format!("{name}-m");
    assert!(
        st.data_file(&meta_name).is_file(),
        "the metadata is on disk"
    );

    let addr = http(&st);
    let get_meta = get(addr, &url(&meta_name)).await;
    assert_eq!(get_meta.status, 404, "{get_meta:?}");
    assert!(!String::from_utf8_lossy(&get_meta.body).contains("alice"));
    let head = http_request(addr, "HEAD", &url(&meta_name), &[]).await;
    assert_eq!(head.status, 404);
    let ranged = http_request(addr, "GET", &url(&meta_name), &["Range: bytes=0-3"]).await;
    assert_eq!(ranged.status, 404);
    assert!(!String::from_utf8_lossy(&ranged.body).contains("alice"));
    let group_less = get(addr, &format!("/{meta_name}")).await;
    assert_eq!(group_less.status, 404);
    assert_eq!(get(addr, &url(&name)).await.body, b"data");
    st.stop().await;
}

#[tokio::test]
async fn duplicate_or_conflicting_content_lengths_get_400_and_nothing_more() {
    let (st, name) = storage_with_file("", b"secret-body", "txt").await;
    let addr = http(&st);
    for framing in [
        "Content-Length: 0\r\nContent-Length: 0",
        "Content-Length: 0\r\nContent-Length: 40",
        "Content-Length: 0, 40",
        "Content-Length: 40\r\nTransfer-Encoding: chunked",
    ] {
        // What follows the head would be a second, smuggled request to
        // whoever took the shorter length.
        let smuggled = format!("GET {} HTTP/1.1\r\nHost: t\r\n\r\n", url(&name));
        let raw = format!(
            "GET {} HTTP/1.1\r\nHost: t\r\n{framing}\r\n\r\n{smuggled}",
            url(&name)
        );
        let rs = exchange_raw(addr, raw.as_bytes(), false).await;
        assert_eq!(
            rs.iter().map(|r| r.status).collect::<Vec<_>>(),
            [400],
            "{framing:?}"
        );
    }
    st.stop().await;
}

/// Sends `raw`, then shuts down the write side at once, and reads all that
/// comes back until the server closes.
async fn send_and_half_close(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    s.shutdown().await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("the server answers and closes")
        .unwrap();
    buf
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_gets_the_whole_reply() {
    let data = pattern(300_000);
    let (st, name) = storage_with_file("", &data, "bin").await;
    let raw = format!("GET {} HTTP/1.1\r\nHost: t\r\n\r\n", url(&name));
    let buf = send_and_half_close(http(&st), raw.as_bytes()).await;
    let (r, _) = parse_response(&buf, false).expect("a complete response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);

    // The FastDFS port: a download request, then the write side closed.
    let body = ferrodfs_proto::storage_req::Download::encode(0, 0, GROUP, &name);
    let mut req = Header::request(cmd::DOWNLOAD_FILE, body.len() as u64)
        .encode()
        .to_vec();
    req.extend_from_slice(&body);
    let buf = send_and_half_close(st.storage.local_addr(), &req).await;
    assert!(buf.len() >= 10, "a reply header: {buf:?}");
    assert_eq!((buf[8], buf[9]), (cmd::RESP, 0), "status OK");
    let len = u64::from_be_bytes(buf[..8].try_into().unwrap()) as usize;
    assert_eq!(len, data.len());
    assert_eq!(&buf[10..], &data[..], "the whole file");
    st.stop().await;
}

#[tokio::test]
async fn every_configured_worker_accepts_and_all_stop_at_shutdown() {
    const WORKERS: usize = 3;
    const CONNECTIONS: usize = 64;
    let data = pattern(20_000);
    let (st, name) = storage_with_file(
        &format!("metrics_listen = '127.0.0.1:0'\n[http]\nworkers = {WORKERS}"),
        &data,
        "bin",
    )
    .await;
    let addr = http(&st);
    for _ in 0..CONNECTIONS {
        let r = get(addr, &url(&name)).await;
        assert_eq!((r.status, r.body.len()), (200, data.len()));
    }
    // The kernel spreads connections over the listeners by their address
    // hash: with 64 of them, a worker that got none (1 chance in 10^10)
    // is one that does not accept.
    let text = metrics(st.storage.metrics_addr().unwrap()).await;
    let per_worker: Vec<u64> = (0..=WORKERS)
        .map(|i| {
            let line = format!("ferrodfs_storage_http_connections_total{{worker=\"{i}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(line.as_str()))
                .map_or(0, |n| n.parse().unwrap())
        })
        .collect();
    assert!(
        per_worker[..WORKERS].iter().all(|&n| n > 0),
        "{per_worker:?}"
    );
    assert_eq!(per_worker[WORKERS], 0, "only {WORKERS} workers");
    assert_eq!(per_worker.iter().sum::<u64>(), CONNECTIONS as u64);
    st.stop().await;
    // Every worker closed its listener: nothing accepts on the port.
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
