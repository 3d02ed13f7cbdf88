//! Refusals and broken clients: nothing partial is left behind and the
//! daemon keeps serving.

mod common;

use std::time::Duration;

use common::*;
use ferrodfs_proto::storage_req::UploadHead;
use ferrodfs_proto::{cmd, status, Header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn read_reply_header(c: &mut tokio::net::TcpStream) -> Header {
    let h = tokio::time::timeout(
        Duration::from_secs(5),
        ferrodfs_proto::io::read_header(c, 1 << 20),
    )
    .await
    .expect("a reply")
    .unwrap()
    .expect("not closed before the reply");
    assert_eq!(h.cmd, cmd::RESP);
    h
}

async fn assert_closed(c: &mut tokio::net::TcpStream) {
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut b))
        .await
        .expect("closed");
    assert!(matches!(n, Ok(0) | Err(_)), "connection still open");
}

#[tokio::test]
async fn no_space_is_enospc_and_leaves_no_file() {
    let st = start_storage("reserved_storage_space = '99.99%'").await;
    let mut c = st.connect().await;
    let r = upload_to(&mut c, cmd::UPLOAD_FILE, Some(0), &[7u8; 4096], "bin").await;
    assert_eq!(r.unwrap_err().status(), status::ENOSPC);
    assert!(st.files_on_disk().is_empty(), "{:?}", st.files_on_disk());
    // The body was skipped, so the connection is still usable.
    request(&mut c, cmd::ACTIVE_TEST, &[]).await.unwrap();
    assert!(!st.binlog().contains(" C "));
    st.stop().await;
}

#[tokio::test]
async fn a_client_closing_mid_upload_leaves_no_file() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let head = UploadHead {
        store_path_index: Some(0),
        file_size: 1 << 20,
        ext: "bin".into(),
    };
    let mut msg = Header::request(cmd::UPLOAD_FILE, (UploadHead::LEN + (1 << 20)) as u64)
        .encode()
        .to_vec();
    msg.extend_from_slice(&head.encode());
    msg.extend_from_slice(&[1u8; 300_000]);
    c.write_all(&msg).await.unwrap();
    drop(c);
    // Give the storage time to notice and clean up.
    for _ in 0..50 {
        if st.files_on_disk().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(st.files_on_disk().is_empty(), "{:?}", st.files_on_disk());
    assert!(!st.binlog().contains(" C "));
    let mut c = st.connect().await;
    request(&mut c, cmd::ACTIVE_TEST, &[]).await.unwrap();
    st.stop().await;
}

#[tokio::test]
async fn a_malformed_request_gets_einval_and_the_connection_serves_the_next_one() {
    let st = start_storage("").await;
    let mut other = st.connect().await;
    let mut c = st.connect().await;
    // An upload whose declared file size disagrees with the body length.
    let mut head = UploadHead {
        store_path_index: Some(0),
        file_size: 10,
        ext: "txt".into(),
    }
    .encode();
    head.extend_from_slice(b"12345");
    let mut msg = Header::request(cmd::UPLOAD_FILE, head.len() as u64)
        .encode()
        .to_vec();
    msg.extend_from_slice(&head);
    c.write_all(&msg).await.unwrap();
    let h = read_reply_header(&mut c).await;
    assert_eq!((h.status, h.pkg_len), (status::EINVAL, 0));
    // FastDFS keeps the connection: pooled clients send their next call on it.
    request(&mut c, cmd::ACTIVE_TEST, &[]).await.unwrap();

    // A delete body too short to hold a group name and file name.
    assert_eq!(
        status_of(request(&mut c, cmd::DELETE_FILE, b"group1").await),
        status::EINVAL
    );
    // A path-traversal file name.
    let evil = by_name(
        &mut c,
        cmd::DOWNLOAD_FILE,
        "M00/00/00/../../../../etc/passwd",
    )
    .await;
    assert_eq!(status_of(evil), status::EINVAL);
    // A well-formed name of a file that is not there.
    let missing = download(&mut c, "M00/00/00/fwAAC2sHW7eAeLM0AAAAFGcVGQw019.txt", 0, 0).await;
    assert_eq!(status_of(missing), status::ENOENT);
    let name = upload(&mut c, b"same connection", "").await;
    assert_eq!(
        download(&mut c, &name, 0, 0).await.unwrap(),
        b"same connection"
    );

    // Broken framing (a negative body length) is the one case that closes.
    let mut c = st.connect().await;
    let mut bad = [0xFFu8; 10];
    bad[8] = cmd::ACTIVE_TEST;
    bad[9] = 0;
    c.write_all(&bad).await.unwrap();
    assert_eq!(read_reply_header(&mut c).await.status, status::EINVAL);
    assert_closed(&mut c).await;

    request(&mut other, cmd::ACTIVE_TEST, &[]).await.unwrap();
    let name = upload(&mut other, b"still fine", "").await;
    assert_eq!(
        download(&mut other, &name, 0, 0).await.unwrap(),
        b"still fine"
    );
    st.stop().await;
}

#[tokio::test]
async fn an_unknown_command_gets_einval_and_the_connection_continues() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    assert_eq!(
        status_of(request(&mut c, 250, b"some body bytes").await),
        status::EINVAL
    );
    request(&mut c, cmd::ACTIVE_TEST, &[]).await.unwrap();
    st.stop().await;
}

#[tokio::test]
async fn another_groups_file_is_einval() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"x", "").await;
    let body = ferrodfs_proto::storage_req::GroupName::encode("group9", &name);
    assert_eq!(
        status_of(request(&mut c, cmd::DELETE_FILE, &body).await),
        status::EINVAL
    );
    let mut c = st.connect().await;
    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), b"x");
    st.stop().await;
}

#[tokio::test]
async fn uploads_over_max_body_size_are_refused() {
    let st = start_storage("max_body_size = 100").await;
    let mut c = st.connect().await;
    let r = upload_to(&mut c, cmd::UPLOAD_FILE, Some(0), &[0u8; 101], "").await;
    assert_eq!(r.unwrap_err().status(), status::EINVAL);
    assert!(st.files_on_disk().is_empty());
    let mut c = st.connect().await;
    upload_to(&mut c, cmd::UPLOAD_FILE, Some(0), &[0u8; 100], "")
        .await
        .unwrap();
    st.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_completes() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    request(&mut c, cmd::ACTIVE_TEST, &[]).await.unwrap();
    let addr = st.storage.local_addr();
    st.stop().await;
    assert_closed(&mut c).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn abandoned_file_info_queries_on_a_huge_appender_stop_computing() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let big = upload_to(&mut c, cmd::UPLOAD_APPENDER_FILE, Some(0), b"x", "log")
        .await
        .unwrap();
    let small = upload_to(&mut c, cmd::UPLOAD_APPENDER_FILE, Some(0), b"y", "log")
        .await
        .unwrap();
    // 1 TiB of holes: its CRC takes minutes of CPU.
    std::fs::OpenOptions::new()
        .write(true)
        .open(st.data_file(&big))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    // Clients ask for its info and leave, more of them than there are
    // CRC slots.
    for _ in 0..4 {
        let mut q = st.connect().await;
        let body = ferrodfs_proto::storage_req::GroupName::encode(GROUP, &big);
        let mut msg = Header::request(cmd::QUERY_FILE_INFO, body.len() as u64)
            .encode()
            .to_vec();
        msg.extend_from_slice(&body);
        q.write_all(&msg).await.unwrap();
        drop(q);
    }
    // Computations for clients that left are stopped, so a query that
    // needs a CRC is answered long before one of them could finish.
    let info = tokio::time::timeout(
        Duration::from_secs(60),
        by_name(&mut c, cmd::QUERY_FILE_INFO, &small),
    )
    .await
    .expect("a CRC slot was freed by the clients that left")
    .unwrap();
    let reply = ferrodfs_proto::storage_req::FileInfoReply::parse(&info).unwrap();
    assert_eq!(reply.crc32, crc32fast::hash(b"y"));
    st.stop().await;
}
