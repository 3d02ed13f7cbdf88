//! Upload, download, delete, file info and slave files over the raw protocol.

mod common;

use common::*;
use ferrodfs_proto::file_id::{LogicalName, Source};
use ferrodfs_proto::storage_req::{FileInfoReply, SlaveHead};
use ferrodfs_proto::{cmd, status};

fn sample(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[tokio::test]
async fn upload_then_download_is_byte_identical_and_the_name_carries_size_and_crc() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let data = sample(1000);
    let name = upload(&mut c, &data, "jpg").await;
    assert!(
        name.starts_with("M00/00/00/") && name.ends_with(".jpg"),
        "{name}"
    );
    assert_eq!(name.len(), 44, "normal FastDFS name length");

    let ln = LogicalName::parse(&name).unwrap();
    let info = ln.info().unwrap();
    assert_eq!(info.crc32, crc32fast::hash(&data));
    assert_eq!(info.size(), Some(1000));
    assert_eq!(info.source, Source::Ip("127.0.0.1".parse().unwrap()));

    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), data);
    assert_eq!(std::fs::read(st.data_file(&name)).unwrap(), data);
    st.stop().await;
}

#[tokio::test]
async fn large_downloads_stream_the_whole_file() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let data = sample(3 << 20);
    let name = upload(&mut c, &data, "bin").await;
    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), data);
    let part = download(&mut c, &name, 100_000, 1 << 20).await.unwrap();
    assert_eq!(part, &data[100_000..100_000 + (1 << 20)]);
    // The connection is still in step after the streamed bodies.
    assert_eq!(download(&mut c, &name, 5, 3).await.unwrap(), &data[5..8]);
    st.stop().await;
}

#[tokio::test]
async fn download_honours_offset_and_length() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"0123456789", "txt").await;
    assert_eq!(download(&mut c, &name, 2, 3).await.unwrap(), b"234");
    assert_eq!(download(&mut c, &name, 7, 0).await.unwrap(), b"789");
    assert_eq!(
        download(&mut c, &name, 8, 100).await.unwrap(),
        b"89",
        "clamped"
    );
    assert_eq!(download(&mut c, &name, 10, 0).await.unwrap(), b"");
    let mut c = st.connect().await;
    assert_eq!(
        status_of(download(&mut c, &name, 11, 0).await),
        status::EINVAL
    );
    st.stop().await;
}

#[tokio::test]
async fn an_empty_file_uploads_and_downloads() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"", "").await;
    assert_eq!(name.len(), 44);
    assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), b"");
    st.stop().await;
}

#[tokio::test]
async fn a_deleted_file_is_gone_with_its_metadata() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"bye", "txt").await;
    by_name(&mut c, cmd::DELETE_FILE, &name).await.unwrap();
    assert_eq!(
        status_of(download(&mut c, &name, 0, 0).await),
        status::ENOENT
    );
    assert_eq!(
        status_of(by_name(&mut c, cmd::DELETE_FILE, &name).await),
        status::ENOENT
    );
    assert!(!st.data_file(&name).exists());
    st.stop().await;
}

#[tokio::test]
async fn store_path_index_picks_the_store_path() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let name = upload_to(&mut c, cmd::UPLOAD_FILE, Some(1), b"x", "")
        .await
        .unwrap();
    assert!(name.starts_with("M01/"), "{name}");
    assert!(st.store_path(1).join("data").join(&name[4..]).is_file());
    // 255: round robin over both paths.
    let a = upload_to(&mut c, cmd::UPLOAD_FILE, None, b"a", "")
        .await
        .unwrap();
    let b = upload_to(&mut c, cmd::UPLOAD_FILE, None, b"b", "")
        .await
        .unwrap();
    assert_ne!(a[..3], b[..3], "{a} {b}");
    let r = upload_to(&mut c, cmd::UPLOAD_FILE, Some(2), b"x", "").await;
    assert_eq!(r.unwrap_err().status(), status::EINVAL);
    st.stop().await;
}

#[tokio::test]
async fn query_file_info_reports_size_time_crc_and_source() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let data = sample(4321);
    let name = upload(&mut c, &data, "dat").await;
    let reply = by_name(&mut c, cmd::QUERY_FILE_INFO, &name).await.unwrap();
    assert_eq!(reply.len(), 40, "py3fdfs needs exactly 40 bytes");
    let info = FileInfoReply::parse(&reply).unwrap();
    assert_eq!(info.size, 4321);
    assert_eq!(info.crc32, crc32fast::hash(&data));
    assert_eq!(info.source_ip, "127.0.0.1");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(info.create_time) < 60);
    let missing = name.replace(".dat", ".dax");
    assert_eq!(
        status_of(by_name(&mut c, cmd::QUERY_FILE_INFO, &missing).await),
        status::ENOENT
    );
    st.stop().await;
}

#[tokio::test]
async fn query_file_info_source_ip_follows_response_ip_addr_size() {
    let st = start_storage("response_ip_addr_size = 'IPv6'").await;
    let mut c = st.connect().await;
    let name = upload(&mut c, b"abc", "txt").await;
    let reply = by_name(&mut c, cmd::QUERY_FILE_INFO, &name).await.unwrap();
    // FastDFS 6.11-6.13 clients read exactly 3 * 8 + 46 bytes.
    assert_eq!(reply.len(), 70);
    assert_eq!(&reply[24..33], b"127.0.0.1");
    assert!(reply[33..].iter().all(|&b| b == 0), "NUL-padded to 46");
    assert_eq!(FileInfoReply::parse(&reply).unwrap().size, 3);
    st.stop().await;
}

async fn upload_slave(
    c: &mut tokio::net::TcpStream,
    master: &str,
    prefix: &str,
    ext: &str,
    data: &[u8],
) -> Result<String, ferrodfs_proto::io::ProtoError> {
    let mut body = SlaveHead {
        master_len: master.len() as u64,
        file_size: data.len() as u64,
        prefix: prefix.into(),
        ext: ext.into(),
    }
    .encode(master);
    body.extend_from_slice(data);
    let reply = request(c, cmd::UPLOAD_SLAVE_FILE, &body).await?;
    Ok(ferrodfs_proto::storage_req::parse_upload_reply(&reply)
        .unwrap()
        .1)
}

#[tokio::test]
async fn slave_files_sit_beside_their_master() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let master = upload(&mut c, b"master", "jpg").await;
    let slave = upload_slave(&mut c, &master, "_150x150", "png", b"thumb")
        .await
        .unwrap();
    // FastDFS keeps the master's name up to its extension's dot, random
    // digits included: `M00/00/00/<27 chars>123.jpg` -> `..123_150x150.png`.
    let stem = &master[..master.len() - 4];
    assert_eq!(slave, format!("{stem}_150x150.png"));
    let bare = upload_slave(&mut c, &master, "_raw", "", b"raw")
        .await
        .unwrap();
    assert_eq!(
        bare,
        format!("{stem}_raw"),
        "no extension asked, none given"
    );
    assert_eq!(download(&mut c, &bare, 0, 0).await.unwrap(), b"raw");
    assert_eq!(download(&mut c, &slave, 0, 0).await.unwrap(), b"thumb");
    let info = FileInfoReply::parse(&by_name(&mut c, cmd::QUERY_FILE_INFO, &slave).await.unwrap())
        .unwrap();
    assert_eq!(
        (info.size, info.crc32),
        (5, crc32fast::hash(b"thumb")),
        "computed, not the master's"
    );

    let again = upload_slave(&mut c, &master, "_150x150", "png", b"other").await;
    assert_eq!(again.unwrap_err().status(), status::EEXIST);
    assert_eq!(
        download(&mut c, &slave, 0, 0).await.unwrap(),
        b"thumb",
        "not replaced"
    );

    let missing = master.replace(".jpg", ".png");
    let r = upload_slave(&mut c, &missing, "_s", "", b"x").await;
    assert_eq!(r.unwrap_err().status(), status::ENOENT);
    st.stop().await;
}

#[tokio::test]
async fn one_connection_serves_many_requests_until_quit() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    for i in 0..20u8 {
        request(&mut c, cmd::ACTIVE_TEST, &[]).await.unwrap();
        let name = upload(&mut c, &[i; 3], "").await;
        assert_eq!(download(&mut c, &name, 0, 0).await.unwrap(), [i; 3]);
    }
    ferrodfs_proto::io::send(&mut c, ferrodfs_proto::Header::request(cmd::QUIT, 0), &[])
        .await
        .unwrap();
    let mut b = [0u8; 1];
    let n = tokio::io::AsyncReadExt::read(&mut c, &mut b).await.unwrap();
    assert_eq!(n, 0, "QUIT closes without a reply");
    st.stop().await;
}

#[tokio::test]
async fn data_directories_rotate_every_file_distribute_rotate_count_files() {
    let st = start_storage("file_distribute_rotate_count = 2\nsubdir_count_per_path = 2").await;
    let mut c = st.connect().await;
    let mut dirs = vec![];
    for _ in 0..5 {
        let name = upload(&mut c, b"x", "").await;
        dirs.push(name[4..9].to_string());
    }
    assert_eq!(dirs, ["00/00", "00/00", "00/01", "00/01", "01/00"]);
    st.stop().await;
}

#[tokio::test]
async fn dot_only_extensions_and_slave_prefixes_are_einval_and_store_nothing() {
    let st = start_storage("").await;
    let mut c = st.connect().await;
    let master = upload(&mut c, b"master", "jpg").await;
    let before = st.files_on_disk();
    let binlog = st.binlog();

    for ext in [".", "..", ".jpg", "a..b", "x-m"] {
        for command in [cmd::UPLOAD_FILE, cmd::UPLOAD_APPENDER_FILE] {
            let r = upload_to(&mut c, command, Some(0), b"body", ext).await;
            assert_eq!(
                r.map_err(|e| e.status()),
                Err(status::EINVAL),
                "command {command} with ext {ext:?}"
            );
        }
    }
    for (prefix, ext) in [
        (".", ""),
        ("..", ""),
        (".", "png"),
        ("..", "png"),
        ("_s", "."),
        ("_s", ".."),
        ("_s-m", ""),
    ] {
        let r = upload_slave(&mut c, &master, prefix, ext, b"body").await;
        assert_eq!(
            r.map_err(|e| e.status()),
            Err(status::EINVAL),
            "slave prefix {prefix:?} ext {ext:?}"
        );
    }

    assert_eq!(st.files_on_disk(), before, "nothing stored");
    assert_eq!(st.binlog(), binlog, "nothing to replicate");
    // The refusals kept the connection in step.
    assert_eq!(download(&mut c, &master, 0, 0).await.unwrap(), b"master");
    st.stop().await;
}
