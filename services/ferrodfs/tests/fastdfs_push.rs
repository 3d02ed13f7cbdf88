//! A group of FastDFS and ferrodfs members converging both ways: a fake
//! FastDFS 6.x member written here joins the ferrodfs tracker with
//! FastDFS's binary join and takes FastDFS's storage-to-storage sync on
//! its port; the ferrodfs member pushes it everything uploaded to it, in
//! that protocol, while the fake pushes its own files to the ferrodfs
//! member.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::fastdfs::*;
use common::*;
use ferrodfs_client::{MetaFlag, UploadKind};
use ferrodfs_proto::cluster::state;

/// Registers a fake FastDFS member of group1 at `ip:port` with the
/// tracker: join, a disk usage report with room for uploads, heartbeats.
async fn fake_member(c: &Cluster, ip: &str, port: u16) -> FakeStorage {
    let tracker = c.tracker_addrs()[0].clone();
    let (mut f, _) = FakeStorage::join(c, ip, join_body("group1", port, &tracker)).await;
    let mut usage = 100_000i64.to_be_bytes().to_vec();
    usage.extend_from_slice(&60_000i64.to_be_bytes());
    assert_eq!(f.call(84, &usage).await.0, 0, "REPORT_DISK_USAGE");
    f.start_beating();
    f
}

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferrodfs_and_fastdfs_members_of_one_group_converge_both_ways() {
    let net = subnet();
    let (fdfs_ip, unlisted_ip) = (format!("{net}.20"), format!("{net}.21"));
    let (fdfs_port, unlisted_port) = (free_port(&fdfs_ip), free_port(&unlisted_ip));
    let fdfs = SyncReceiver::listen(&format!("{fdfs_ip}:{fdfs_port}")).await;
    let unlisted = SyncReceiver::listen(&format!("{unlisted_ip}:{unlisted_port}")).await;
    let c = Cluster::start_on(
        &net,
        1,
        "fastdfs_storages = [\"127.0.0.0/8\"]\n",
        vec![StorageSpec {
            group: "group1",
            extra: format!("fastdfs_peers = [\"{fdfs_ip}/32\"]\n"),
        }],
    );
    c.wait_active(1).await;
    let storage = c.storages[0].addr.clone();
    let storage_ip = ip_of(&c.storages[0]);
    let _members = [
        fake_member(&c, &fdfs_ip, fdfs_port).await,
        fake_member(&c, &unlisted_ip, unlisted_port).await,
    ];
    let tracker = c.tracker_addrs()[0].clone();
    for ip in [&fdfs_ip, &unlisted_ip] {
        eventually(Duration::from_secs(20), "fake members ACTIVE", &c, || {
            let (t, ip) = (tracker.clone(), ip.clone());
            async move { status_of(&t, "group1", &ip).await == Some(state::ACTIVE) }
        })
        .await;
    }

    // Uploads straight to the ferrodfs member (the tracker could place
    // them on a fake), concurrent with the fake's pushes; appends,
    // metadata and deletes go to the file's source through the tracker.
    let client = c.client();
    let to = ferrodfs_client::Addr {
        ip: storage_ip.clone(),
        port: storage.rsplit(':').next().unwrap().parse().unwrap(),
    };
    let upload = |i: u64, data: Vec<u8>, kind: UploadKind| {
        let (client, to) = (client.clone(), to.clone());
        let path = c.dir.path().join(format!("upload{i}.bin"));
        std::fs::write(&path, &data).unwrap();
        tokio::spawn(async move {
            let id = client.upload_file_to(&to, None, &path, kind).await.unwrap();
            (id, data)
        })
    };
    let uploads: Vec<_> = (0..8u64)
        .map(|i| {
            upload(
                i,
                random_bytes(1000 + 40_000 * i as usize, i),
                UploadKind::Normal,
            )
        })
        .collect();
    let fake_pushes = {
        let (fdfs_ip, storage) = (fdfs_ip.clone(), storage.clone());
        tokio::spawn(async move { push_own_files(&fdfs_ip, &storage).await })
    };
    let (appender, _) = upload(8, b"hello".to_vec(), UploadKind::Appender)
        .await
        .unwrap();
    client.append(&appender, b" world").await.unwrap();
    client.append(&appender, b"!").await.unwrap();
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let name = |id: &str| id.strip_prefix("group1/").unwrap().to_string();
    expected.insert(name(&appender), b"hello world!".to_vec());
    let mut ids = Vec::new();
    for u in uploads {
        let (id, data) = u.await.unwrap();
        expected.insert(name(&id), data);
        ids.push(id);
    }
    let items = vec![(b"author".to_vec(), b"ferro".to_vec())];
    client
        .set_meta(&ids[0], &items, MetaFlag::Overwrite)
        .await
        .unwrap();
    expected.insert(
        format!("{}-m", name(&ids[0])),
        client.metadata_from(&storage, &ids[0]).await.unwrap(),
    );
    client.delete(&ids[1]).await.unwrap();
    expected.remove(&name(&ids[1]));
    let theirs = fake_pushes.await.unwrap();

    eventually(
        Duration::from_secs(30),
        "the FastDFS member holds exactly what was uploaded to the ferrodfs one",
        &c,
        || {
            let ok = fdfs.files() == expected;
            async move { ok }
        },
    )
    .await;
    for (name, data) in &theirs {
        let got = client
            .download_from(&storage, &format!("group1/{name}"))
            .await;
        assert_eq!(got.ok().as_deref(), Some(&data[..]), "{name} on ferrodfs");
    }

    let received = fdfs.received.lock().unwrap();
    assert!(
        received
            .connections
            .iter()
            .all(|(from, first)| *from == storage_ip && *first == Some(9)),
        "every sync connection comes from the storage's address and opens \
         with REPORT_SERVER_ID: {:?}",
        received.connections
    );
    assert!(
        received
            .requests
            .iter()
            .all(|(_, n)| !theirs.contains_key(n.trim_end_matches("-m"))),
        "the fake's own files are not pushed back to it"
    );
    assert!(
        received.requests.contains(&(17, name(&ids[1]))),
        "the delete went as SYNC_DELETE_FILE"
    );
    drop(received);
    assert!(
        unlisted.received.lock().unwrap().connections.is_empty(),
        "a FastDFS member outside fastdfs_peers is never connected to"
    );
    let log = c.storages[0].wait_log("is a FastDFS storage outside fastdfs_peers");
    assert_eq!(
        log.matches("is a FastDFS storage outside fastdfs_peers")
            .count(),
        1,
        "warned once, naming the key\n{log}"
    );
}

/// The fake member pushes three files of its own to the ferrodfs member
/// as fdfs_storaged does (an appender with an append, a normal file, one
/// created then deleted), once the storage takes it as a member; returns
/// what the ferrodfs member must then hold.
async fn push_own_files(ip: &str, storage: &str) -> BTreeMap<String, Vec<u8>> {
    let t0 = Instant::now();
    let mut s = loop {
        let mut s = connect_to(ip, storage).await;
        if call(&mut s, 9, &fixed(ip, 16)).await.0 == 0 {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the storage never took {ip} as a member"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ts = now();
    let appender = name_from(ip, ts, ferrodfs_proto::file_id::APPENDER_FILE_MARK, 0);
    let normal = name_from(ip, ts, 3, crc32fast::hash(b"abc"));
    let doomed = name_from(ip, ts, 4, crc32fast::hash(b"gone"));
    let ts = ts as i32;
    assert_eq!(
        call(&mut s, 16, &create(&appender, ts, b"12345")).await.0,
        0
    );
    let append = push_body(&[appender.len() as u64, 5, 3], ts, &[&appender], b"678");
    assert_eq!(call(&mut s, 25, &append).await.0, 0);
    assert_eq!(call(&mut s, 16, &create(&normal, ts, b"abc")).await.0, 0);
    assert_eq!(call(&mut s, 16, &create(&doomed, ts, b"gone")).await.0, 0);
    let delete = push_body(&[], ts, &[&doomed], b"");
    assert_eq!(call(&mut s, 17, &delete).await.0, 0);
    [(appender, b"12345678".to_vec()), (normal, b"abc".to_vec())].into()
}

/// A connection from `ip` to a storage that is up.
async fn connect_to(ip: &str, addr: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}
