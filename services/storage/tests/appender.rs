//! Appender files: append, modify and truncate, refused on normal files.

mod common;

use common::*;
use ferrodfs_proto::file_id::LogicalName;
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
