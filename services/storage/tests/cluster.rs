//! What the rest of the cluster sees: the binlog, tracker join/beat, metrics.

mod common;

use std::time::Duration;

use common::*;
use ferrodfs_proto::cluster::{state, BeatReply, Member, StorageReport};
use ferrodfs_proto::io::{read_body, read_header, send_ok};
use ferrodfs_proto::storage_req::{MetaFlag, SetMeta, Truncate, WriteHead};
use ferrodfs_proto::{cmd, status};
use tokio::net::TcpListener;

#[tokio::test]
async fn every_change_gets_a_binlog_line() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let normal = upload(&mut c, b"abc", "txt").await;
    let app = upload_to(&mut c, cmd::UPLOAD_APPENDER_FILE, Some(1), b"12", "")
        .await
        .unwrap();
    let mut body = WriteHead {
        name_len: app.len() as u64,
        offset: None,
        file_size: 3,
    }
    .encode(&app);
    body.extend_from_slice(b"345");
    request(&mut c, cmd::APPEND_FILE, &body).await.unwrap();
    let mut body = WriteHead {
        name_len: app.len() as u64,
        offset: Some(1),
        file_size: 2,
    }
    .encode(&app);
    body.extend_from_slice(b"xx");
    request(&mut c, cmd::MODIFY_FILE, &body).await.unwrap();
    request(&mut c, cmd::TRUNCATE_FILE, &Truncate::encode(&app, 1))
        .await
        .unwrap();
    request(
        &mut c,
        cmd::SET_METADATA,
        &SetMeta::encode(MetaFlag::Overwrite, GROUP, &normal, b"a\x021"),
    )
    .await
    .unwrap();
    request(
        &mut c,
        cmd::SET_METADATA,
        &SetMeta::encode(MetaFlag::Merge, GROUP, &normal, b"b\x022"),
    )
    .await
    .unwrap();
    by_name(&mut c, cmd::DELETE_FILE, &normal).await.unwrap();
    // Reads leave no trace.
    let _ = download(&mut c, &app, 0, 0).await.unwrap();

    let lines: Vec<(String, String)> = st
        .binlog()
        .lines()
        .map(|l| {
            let mut p = l.splitn(3, ' ');
            let ts: i64 = p.next().unwrap().parse().expect("unix time first");
            assert!(ts > 1_600_000_000);
            (p.next().unwrap().to_string(), p.next().unwrap().to_string())
        })
        .collect();
    let expect: Vec<(String, String)> = [
        ("C", normal.clone()),
        ("C", app.clone()),
        ("A", format!("{app} 2 3")),
        ("M", format!("{app} 1 2")),
        ("T", format!("{app} 5 1")),
        ("C", format!("{normal}-m")),
        ("U", format!("{normal}-m")),
        ("D", normal.clone()),
        ("D", format!("{normal}-m")),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b))
    .collect();
    assert_eq!(lines, expect);
    st.stop().await;
}

type Reports = tokio::sync::mpsc::UnboundedReceiver<(u8, StorageReport)>;

async fn next(rx: &mut Reports) -> (u8, StorageReport) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a report within 5 s")
        .expect("tracker still running")
}

/// A tracker that answers join and beat with ACTIVE and hands every
/// report it receives to the test.
async fn fake_tracker() -> (String, Reports) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut auth = ferrodfs_proto::auth::ServerAuth::default();
        while let Ok(Some(h)) = read_header(&mut s, 1 << 20).await {
            let body = read_body(&mut s, h.pkg_len).await.unwrap();
            if common::answer_auth(&mut s, &mut auth, h.cmd, &body).await {
                continue;
            }
            assert!(auth.is_done(), "a report before the handshake");
            let report: StorageReport = serde_json::from_slice(&body).expect("StorageReport JSON");
            let reply = BeatReply {
                status: state::ACTIVE,
                members: vec![Member {
                    id: report.ip.clone(),
                    ip: report.ip.clone(),
                    port: report.port,
                    http_port: report.http_port,
                    status: state::ACTIVE,
                    fastdfs: false,
                }],
                ..Default::default()
            };
            send_ok(&mut s, &serde_json::to_vec(&reply).unwrap())
                .await
                .unwrap();
            if tx.send((h.cmd, report)).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn storage_joins_then_beats_with_its_report() {
    let (tracker, mut reports) = fake_tracker().await;
    let st = start_storage(&format!(
        "tracker_servers = ['{tracker}']\nhttp_port = 8080"
    ))
    .await;
    let (command, join) = next(&mut reports).await;
    assert_eq!(command, cmd::STORAGE_JOIN);
    assert_eq!(join.group, GROUP);
    assert_eq!(join.ip, "127.0.0.1");
    assert_eq!(
        join.port,
        st.storage.local_addr().port(),
        "the real port, not 0"
    );
    assert_eq!(join.http_port, 8080);
    assert_eq!(join.store_paths.len(), 2);
    assert!(join.store_paths[0].total_mb > 0);
    assert_eq!(join.subdir_count_per_path, 256);
    assert!(join.join_time > 0 && join.up_time >= join.join_time);

    let mut c = st.connect().await;
    upload(&mut c, b"counted", "").await;
    // Beats follow every heart_beat_interval (0.2 s) and carry the stats.
    let mut saw_upload = false;
    for _ in 0..20 {
        let (command, beat) = next(&mut reports).await;
        assert_eq!(command, cmd::STORAGE_BEAT);
        if beat.stats.upload.success == 1 {
            assert_eq!(beat.stats.upload_bytes.success, 7);
            saw_upload = true;
            break;
        }
    }
    assert!(saw_upload, "a beat reported the upload");
    st.stop().await;
}

#[tokio::test]
async fn storage_serves_without_a_reachable_tracker() {
    let st = start_storage("tracker_servers = ['127.0.0.1:1']").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"alone", "").await;
    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), b"alone");
    st.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_command_and_status() {
    let st = start_storage("metrics_listen = '127.0.0.1:0'").await;
    let mut c = st.connect().await;
    upload(&mut c, b"m", "").await;
    let missing = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";
    assert_eq!(
        status_of(download(&mut c, missing, 0, 0).await),
        status::ENOENT
    );

    let addr = st.storage.metrics_addr().expect("metrics enabled");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    assert!(
        text.contains(r#"ferrodfs_storage_requests_total{command="upload",status="OK"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"command="download",status="ENOENT""#),
        "{text}"
    );
    assert!(
        text.contains(r#"ferrodfs_storage_store_path_free_bytes{store_path="M00"}"#),
        "{text}"
    );
    st.stop().await;
}

#[tokio::test]
async fn join_time_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), "");
    let first = {
        let (t, s) = ferrodfs_runtime::Shutdown::new();
        let st = ferrodfs_storage::start(
            ferrodfs_storage::Config::parse("storage.toml", &text).unwrap(),
            s,
        )
        .await
        .unwrap();
        t.trigger();
        st.join().await.unwrap();
        std::fs::read_to_string(dir.path().join("base/data/storage_state.json")).unwrap()
    };
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (t, s) = ferrodfs_runtime::Shutdown::new();
    let st = ferrodfs_storage::start(
        ferrodfs_storage::Config::parse("storage.toml", &text).unwrap(),
        s,
    )
    .await
    .unwrap();
    t.trigger();
    st.join().await.unwrap();
    let second = std::fs::read_to_string(dir.path().join("base/data/storage_state.json")).unwrap();
    let jt = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["join_time"].clone();
    assert_eq!(jt(&first), jt(&second));
}
