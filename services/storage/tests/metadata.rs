//! Metadata: overwrite vs merge, stored beside the file in FastDFS's format.

mod common;

use common::*;
use ferrodfs_proto::storage_req::{MetaFlag, SetMeta};
use ferrodfs_proto::{cmd, status};

async fn set(c: &mut tokio::net::TcpStream, name: &str, flag: MetaFlag, meta: &[u8]) -> u8 {
    status_of(
        request(
            c,
            cmd::SET_METADATA,
            &SetMeta::encode(flag, GROUP, name, meta),
        )
        .await,
    )
}

#[tokio::test]
async fn overwrite_replaces_and_merge_combines() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"img", "jpg").await;
    assert_eq!(
        status_of(by_name(&mut c, cmd::GET_METADATA, &name).await),
        status::ENOENT,
        "no metadata yet"
    );

    assert_eq!(
        set(
            &mut c,
            &name,
            MetaFlag::Overwrite,
            b"width\x02100\x01author\x02ann"
        )
        .await,
        0
    );
    let got = by_name(&mut c, cmd::GET_METADATA, &name).await.unwrap();
    assert_eq!(got, b"author\x02ann\x01width\x02100", "sorted by name");
    let side = format!("{}-m", st.data_file(&name).display());
    assert_eq!(
        std::fs::read(side).unwrap(),
        got,
        "FastDFS -m file beside the data"
    );

    assert_eq!(
        set(
            &mut c,
            &name,
            MetaFlag::Merge,
            b"width\x02200\x01height\x0250"
        )
        .await,
        0
    );
    let got = by_name(&mut c, cmd::GET_METADATA, &name).await.unwrap();
    assert_eq!(got, b"author\x02ann\x01height\x0250\x01width\x02200");

    assert_eq!(set(&mut c, &name, MetaFlag::Overwrite, b"k\x02v").await, 0);
    assert_eq!(
        by_name(&mut c, cmd::GET_METADATA, &name).await.unwrap(),
        b"k\x02v"
    );

    assert_eq!(set(&mut c, &name, MetaFlag::Overwrite, b"").await, 0);
    assert_eq!(
        status_of(by_name(&mut c, cmd::GET_METADATA, &name).await),
        status::ENOENT
    );
    st.stop().await;
}

#[tokio::test]
async fn metadata_of_a_missing_file_is_enoent() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"x", "").await;
    by_name(&mut c, cmd::DELETE_FILE, &name).await.unwrap();
    assert_eq!(
        set(&mut c, &name, MetaFlag::Merge, b"a\x021").await,
        status::ENOENT
    );
    assert_eq!(
        status_of(by_name(&mut c, cmd::GET_METADATA, &name).await),
        status::ENOENT
    );
    st.stop().await;
}

#[tokio::test]
async fn deleting_a_file_removes_its_metadata() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"x", "").await;
    assert_eq!(set(&mut c, &name, MetaFlag::Overwrite, b"a\x021").await, 0);
    by_name(&mut c, cmd::DELETE_FILE, &name).await.unwrap();
    assert!(st.files_on_disk().is_empty(), "{:?}", st.files_on_disk());
    st.stop().await;
}
