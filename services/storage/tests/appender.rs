//! Appender files: append, modify and truncate, refused on normal files.

mod common;

use common::*;
use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::io::ProtoError;
use ferrodfs_proto::storage_req::{FileInfoReply, Truncate, WriteHead};
use ferrodfs_proto::{cmd, status};
use tokio::net::TcpStream;

async fn append(c: &mut TcpStream, name: &str, data: &[u8]) -> u8 {
    let mut body = WriteHead {
        name_len: name.len() as u64,
        offset: None,
        file_size: data.len() as u64,
    }
    .encode(name);
    body.extend_from_slice(data);
    status_of(request(c, cmd::APPEND_FILE, &body).await)
}

async fn modify(c: &mut TcpStream, name: &str, offset: u64, data: &[u8]) -> u8 {
    let mut body = WriteHead {
        name_len: name.len() as u64,
        offset: Some(offset),
        file_size: data.len() as u64,
    }
    .encode(name);
    body.extend_from_slice(data);
    status_of(request(c, cmd::MODIFY_FILE, &body).await)
}

async fn truncate(c: &mut TcpStream, name: &str, size: u64) -> u8 {
    status_of(request(c, cmd::TRUNCATE_FILE, &Truncate::encode(name, size)).await)
}

#[tokio::test]
async fn appender_files_grow_change_and_shrink() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload_to(&mut c, cmd::UPLOAD_APPENDER_FILE, Some(0), b"hello", "log")
        .await
        .unwrap();
    assert!(LogicalName::parse(&name).unwrap().is_appender(), "{name}");

    assert_eq!(append(&mut c, &name, b" world").await, status::OK);
    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), b"hello world");

    assert_eq!(modify(&mut c, &name, 6, b"WORLD").await, status::OK);
    assert_eq!(
        modify(&mut c, &name, 11, b"!!").await,
        status::OK,
        "at the end grows"
    );
    assert_eq!(
        download(&mut c, &name, 0, 0).await.unwrap(),
        b"hello WORLD!!"
    );

    assert_eq!(truncate(&mut c, &name, 5).await, status::OK);
    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), b"hello");
    assert_eq!(truncate(&mut c, &name, 7).await, status::OK);
    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), b"hello\0\0");

    let info =
        FileInfoReply::parse(&by_name(&mut c, cmd::QUERY_FILE_INFO, &name).await.unwrap()).unwrap();
    assert_eq!((info.size, info.crc32), (7, crc32fast::hash(b"hello\0\0")));
    st.stop().await;
}

#[tokio::test]
async fn modify_past_the_end_is_einval() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload_to(&mut c, cmd::UPLOAD_APPENDER_FILE, Some(0), b"abc", "")
        .await
        .unwrap();
    assert_eq!(modify(&mut c, &name, 4, b"x").await, status::EINVAL);
    let mut c = st.connect().await;
    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), b"abc");
    st.stop().await;
}

#[tokio::test]
async fn normal_files_refuse_appender_operations() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"fixed", "txt").await;
    assert_eq!(append(&mut c, &name, b"more").await, status::EINVAL);
    let mut c = st.connect().await;
    assert_eq!(modify(&mut c, &name, 0, b"F").await, status::EINVAL);
    let mut c = st.connect().await;
    assert_eq!(truncate(&mut c, &name, 1).await, status::EINVAL);
    let mut c = st.connect().await;
    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), b"fixed");
    st.stop().await;
}

#[tokio::test]
async fn appending_to_a_missing_appender_is_enoent_and_the_connection_survives() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload_to(&mut c, cmd::UPLOAD_APPENDER_FILE, Some(0), b"x", "")
        .await
        .unwrap();
    by_name(&mut c, cmd::DELETE_FILE, &name).await.unwrap();
    assert_eq!(append(&mut c, &name, b"data").await, status::ENOENT);
    request(&mut c, cmd::ACTIVE_TEST, &[]).await.unwrap();
    st.stop().await;
}

async fn regenerate(c: &mut TcpStream, name: &str) -> Result<Vec<u8>, ProtoError> {
    request(c, cmd::REGENERATE_APPENDER_FILENAME, name.as_bytes()).await
}

/// The new name from a regenerate reply, `group(16) + name`.
fn new_name(reply: &[u8]) -> String {
    let (group, new) = ferrodfs_proto::storage_req::parse_upload_reply(reply).unwrap();
    assert_eq!(group, "group1");
    new
}

#[tokio::test]
async fn regenerating_renames_an_appender_file_to_a_normal_name_and_logs_r() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let old = upload_to(&mut c, cmd::UPLOAD_APPENDER_FILE, Some(0), b"hello", "log")
        .await
        .unwrap();
    assert_eq!(append(&mut c, &old, b" world").await, status::OK);
    let meta = ferrodfs_proto::storage_req::SetMeta::encode(
        ferrodfs_proto::storage_req::MetaFlag::Overwrite,
        "group1",
        &old,
        b"k\x02v",
    );
    request(&mut c, cmd::SET_METADATA, &meta).await.unwrap();

    let new = new_name(&regenerate(&mut c, &old).await.unwrap());
    // Same `Mxx/HH/HH/` and extension segment, a normal name whose
    // 27 characters carry this storage, the size and the CRC32.
    assert_eq!(
        (new.len(), &new[..10], &new[37..]),
        (44, &old[..10], &old[37..])
    );
    let ln = LogicalName::parse(&new).unwrap();
    assert!(!ln.is_appender());
    let info = ln.info().unwrap();
    assert_eq!(info.size(), Some(11));
    assert_eq!(info.crc32, crc32fast::hash(b"hello world"));
    assert_eq!(
        info.source,
        ferrodfs_proto::file_id::Source::Ip("127.0.0.1".parse().unwrap())
    );
    assert_eq!(download(&mut c, &new, 0, 0).await.unwrap(), b"hello world");
    assert_eq!(
        by_name(&mut c, cmd::GET_METADATA, &new).await.unwrap(),
        b"k\x02v"
    );
    assert_eq!(
        status_of(download(&mut c, &old, 0, 0).await),
        status::ENOENT
    );
    assert!(!st.data_file(&old).exists());
    assert!(!st.data_file(&format!("{old}-m")).exists());
    let binlog = st.binlog();
    assert!(
        binlog.contains(&format!(" R {new} {old}\n")),
        "FastDFS's rename record: {binlog}"
    );
    assert!(
        binlog.contains(&format!(" R {new}-m {old}-m\n")),
        "{binlog}"
    );

    // The old name is gone, the new one is not an appender.
    assert_eq!(status_of(regenerate(&mut c, &old).await), status::ENOENT);
    let mut c = st.connect().await;
    assert_eq!(status_of(regenerate(&mut c, &new).await), status::EINVAL);
    st.stop().await;
}

#[tokio::test]
async fn regenerate_refuses_names_fastdfs_refuses() {
    let st = start_storage("").await;
    for body in ["M00/00/00/short", &format!("M00/00/00/{}", "A".repeat(120))] {
        let mut c = st.connect().await;
        assert_eq!(
            status_of(regenerate(&mut c, body).await),
            status::EINVAL,
            "{body}"
        );
    }
    st.stop().await;
}
