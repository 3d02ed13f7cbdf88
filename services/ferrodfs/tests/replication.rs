//! Group replication between real processes: every acknowledged change
//! reaches every member, a killed storage or tracker loses nothing, a new
//! member gets a full copy before it serves.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use ferrodfs_client::{FileId, MetaFlag, UploadKind};
use ferrodfs_proto::cluster::state;
use ferrodfs_proto::status;

fn spec(group: &'static str, extra: &str) -> StorageSpec {
    StorageSpec {
        group,
        extra: extra.to_string(),
    }
}

/// Every data file under a store path (temp files excluded), keyed by its
/// path relative to `data/`, with its bytes' size and CRC32.
fn holdings(store: &Path) -> BTreeMap<String, (u64, u32)> {
    data_files(store)
        .into_iter()
        .filter(|p| !is_temp(p))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let rel = p
                .strip_prefix(store.join("data"))
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, (bytes.len() as u64, crc32fast::hash(&bytes)))
        })
        .collect()
}

/// A file whose name claims a size and CRC (a normal, non-slave file)
/// must hold exactly those bytes: anything else is a partial file.
fn assert_no_partial_files(store: &Path) {
    for (rel, (size, crc)) in holdings(store) {
        let name = rel.rsplit('/').next().unwrap();
        if name.ends_with("-m") || name.len() != 34 {
            continue;
        }
        let id = FileId::parse(&format!("g/M00/{rel}")).unwrap();
        let info = id.name.info().unwrap();
        if let Some(claimed) = info.size() {
            assert_eq!((claimed, info.crc32), (size, crc), "partial file {rel}");
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_min_copies_a_file_is_on_every_member_when_acknowledged() {
    let extra = "min_copies = 2\nmin_copies_timeout = 5";
    let c = Cluster::start_with(2, "", vec![spec("group1", extra), spec("group1", extra)]);
    c.wait_active(2).await;
    let client = c.client();
    for i in 0..50u64 {
        let data = random_bytes(4096 + i as usize, i);
        let id = client
            .upload(&data, "bin", None, UploadKind::Normal)
            .await
            .unwrap();
        for s in &c.storages {
            let got = client.download_from(&s.addr, &id).await;
            assert_eq!(got.ok().as_deref(), Some(&data[..]), "{id} on {}", s.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_min_copies_and_the_peer_down_an_upload_fails_and_leaves_nothing() {
    let extra = "min_copies = 2\nmin_copies_timeout = 1";
    let mut c = Cluster::start_with(1, "", vec![spec("group1", extra), spec("group1", extra)]);
    c.wait_active(2).await;
    c.storages[1].kill9();
    let client = c.client();
    let target = &c.storages[0].addr;
    let before = holdings(&c.store_path(0)).len();
    let mut failed = 0;
    for i in 0..3u64 {
        match client
            .upload(
                &random_bytes(1000, i),
                "bin",
                Some("group1"),
                UploadKind::Normal,
            )
            .await
        {
            Err(e) => {
                assert_eq!(e.status(), Some(status::ETIMEDOUT), "{e}");
                failed += 1;
            }
            // The tracker may still list the dead member as ACTIVE for a
            // moment; an upload that went there cannot succeed either.
            Ok(id) => panic!("acknowledged {id} with one copy"),
        }
    }
    assert_eq!(failed, 3);
    assert_eq!(
        holdings(&c.store_path(0)).len(),
        before,
        "{target} kept a file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_min_copies_and_the_peer_down_changes_to_existing_files_are_undone() {
    let extra = "min_copies = 2\nmin_copies_timeout = 1";
    let mut c = Cluster::start_with(1, "", vec![spec("group1", extra), spec("group1", extra)]);
    c.wait_active(2).await;
    let client = c.client();
    let source_of = |id: &str| {
        FileId::parse(id)
            .unwrap()
            .name
            .info()
            .unwrap()
            .source
            .to_string()
    };
    // Both files must come from the same member: the other one is stopped.
    let data = random_bytes(5000, 7);
    let id = client
        .upload(&data, "bin", None, UploadKind::Normal)
        .await
        .unwrap();
    let mut app = String::new();
    for _ in 0..10 {
        app = client
            .upload(b"0123456789", "log", Some("group1"), UploadKind::Appender)
            .await
            .unwrap();
        if source_of(&app) == source_of(&id) {
            break;
        }
    }
    assert_eq!(
        source_of(&app),
        source_of(&id),
        "uploads never reached the same member"
    );
    let old = vec![(b"k".to_vec(), b"v1".to_vec())];
    client
        .set_meta(&id, &old, MetaFlag::Overwrite)
        .await
        .unwrap();
    let (src, other) = if ip_of(&c.storages[0]) == source_of(&id) {
        (0, 1)
    } else {
        (1, 0)
    };
    let source = c.storages[src].addr.clone();
    c.storages[other].kill9();

    let new = vec![(b"k".to_vec(), b"v2".to_vec())];
    let e = client
        .set_meta(&id, &new, MetaFlag::Overwrite)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(status::ETIMEDOUT), "{e}");
    assert_eq!(
        client.metadata_from(&source, &id).await.unwrap(),
        b"k\x02v1"
    );

    let e = client.delete(&id).await.unwrap_err();
    assert_eq!(e.status(), Some(status::ETIMEDOUT), "{e}");
    assert_eq!(client.download_from(&source, &id).await.unwrap(), data);

    let e = client.modify(&app, 2, b"AB").await.unwrap_err();
    assert_eq!(e.status(), Some(status::ETIMEDOUT), "{e}");
    let e = client.truncate(&app, 3).await.unwrap_err();
    assert_eq!(e.status(), Some(status::ETIMEDOUT), "{e}");
    assert_eq!(
        client.download_from(&source, &app).await.unwrap(),
        b"0123456789"
    );

    // The returning member ends with the files and the old metadata.
    c.storages[other].restart();
    let peer = c.storages[other].addr.clone();
    eventually(
        Duration::from_secs(20),
        "peer holds the file again",
        &c,
        || {
            let (client, peer, id, data, app) = (
                client.clone(),
                peer.clone(),
                id.clone(),
                data.clone(),
                app.clone(),
            );
            async move {
                client.download_from(&peer, &id).await.ok().as_deref() == Some(&data[..])
                    && client.download_from(&peer, &app).await.ok().as_deref()
                        == Some(&b"0123456789"[..])
                    && client.metadata_from(&peer, &id).await.ok().as_deref()
                        == Some(&b"k\x02v1"[..])
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_replication_lag_is_measured() {
    let c = Cluster::start_with(1, "", vec![spec("group1", ""), spec("group1", "")]);
    c.wait_active(2).await;
    let client = c.client();
    let mut lags = Vec::new();
    for i in 0..40u64 {
        let data = random_bytes(65_536, i);
        let id = client
            .upload(&data, "bin", Some("group1"), UploadKind::Normal)
            .await
            .unwrap();
        let acked = Instant::now();
        let info = FileId::parse(&id).unwrap().name.info().unwrap();
        let peer = c
            .storages
            .iter()
            .find(|s| !id.is_empty() && ip_of(s) != source_ip(&info))
            .unwrap();
        loop {
            if client.download_from(&peer.addr, &id).await.ok().as_deref() == Some(&data[..]) {
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(10),
                "{id} never reached {}",
                peer.name
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lags.push(acked.elapsed());
    }
    lags.sort();
    eprintln!(
        "async replication lag, 64 KiB files, one client: p50 {:?} p99 {:?} max {:?}",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().unwrap()
    );
    assert!(percentile(&lags, 0.5) < Duration::from_secs(2));
}

fn source_ip(info: &ferrodfs_proto::FileInfo) -> String {
    match info.source {
        ferrodfs_proto::Source::Ip(ip) => ip.to_string(),
        ferrodfs_proto::Source::Id(id) => id.to_string(),
    }
}

/// Contents over 1 MiB go out of the source's page cache (sendfile) and
/// into a file on the peer as they arrive: a whole large file, and a
/// large append at an offset, reach the peer byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_and_large_appends_reach_every_member_byte_identical() {
    let c = Cluster::start_with(1, "", vec![spec("group1", ""), spec("group1", "")]);
    c.wait_active(2).await;
    let client = c.client();
    let whole = random_bytes(3_000_001, 41);
    let big = client
        .upload(&whole, "bin", None, UploadKind::Normal)
        .await
        .unwrap();
    let head = random_bytes(1000, 42);
    let tail = random_bytes((2 << 20) + 5, 43);
    let app = client
        .upload(&head, "log", None, UploadKind::Appender)
        .await
        .unwrap();
    client.append(&app, &tail).await.unwrap();
    let expect_app = [head, tail].concat();
    eventually(
        Duration::from_secs(20),
        "the large file and the appended file, whole, on both members",
        &c,
        || {
            let addrs: Vec<String> = c.storages.iter().map(|s| s.addr.clone()).collect();
            let (client, big, app) = (client.clone(), big.clone(), app.clone());
            let (whole, expect_app) = (whole.clone(), expect_app.clone());
            async move {
                for a in &addrs {
                    if client.download_from(a, &big).await.ok().as_ref() != Some(&whole)
                        || client.download_from(a, &app).await.ok().as_ref() != Some(&expect_app)
                    {
                        return false;
                    }
                }
                true
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_appends_modifications_truncations_and_metadata_reach_every_member() {
    let c = Cluster::start_with(1, "", vec![spec("group1", ""), spec("group1", "")]);
    c.wait_active(2).await;
    let client = c.client();
    let meta = |items: &[(&str, &str)]| -> ferrodfs_client::Meta {
        items
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    };

    let gone = client
        .upload(b"short-lived", "txt", None, UploadKind::Normal)
        .await
        .unwrap();
    let app = client
        .upload(b"0123456789", "log", None, UploadKind::Appender)
        .await
        .unwrap();
    let master = client
        .upload(b"master", "jpg", None, UploadKind::Normal)
        .await
        .unwrap();
    let slave = client
        .upload_slave(&master, "_small", "jpg", b"thumb")
        .await
        .unwrap();
    client.append(&app, b"abcdef").await.unwrap();
    client.modify(&app, 2, b"XY").await.unwrap();
    client.truncate(&app, 12).await.unwrap();
    client
        .set_meta(
            &master,
            &meta(&[("w", "100"), ("h", "50")]),
            MetaFlag::Overwrite,
        )
        .await
        .unwrap();
    client
        .set_meta(&master, &meta(&[("h", "60")]), MetaFlag::Merge)
        .await
        .unwrap();
    // Wait until the peer has the slave and metadata, then delete.
    let peer_has = |id: String| {
        let addrs: Vec<String> = c.storages.iter().map(|s| s.addr.clone()).collect();
        let client = client.clone();
        async move {
            for a in addrs {
                if client.download_from(&a, &id).await.is_err() {
                    return false;
                }
            }
            true
        }
    };
    eventually(Duration::from_secs(10), "gone reached both", &c, || {
        peer_has(gone.clone())
    })
    .await;
    client.delete(&gone).await.unwrap();

    let expect_app = b"01XY456789ab".to_vec();
    let expect_meta = client.get_meta(&master).await.unwrap();
    eventually(
        Duration::from_secs(10),
        "every change on every member",
        &c,
        || {
            let (client, app, slave, master, gone) = (
                client.clone(),
                app.clone(),
                slave.clone(),
                master.clone(),
                gone.clone(),
            );
            let addrs: Vec<String> = c.storages.iter().map(|s| s.addr.clone()).collect();
            let (expect_app, expect_meta) = (expect_app.clone(), expect_meta.clone());
            async move {
                for a in &addrs {
                    let ok = client.download_from(a, &app).await.ok() == Some(expect_app.clone())
                        && client.download_from(a, &slave).await.ok().as_deref()
                            == Some(&b"thumb"[..])
                        && client
                            .metadata_from(a, &master)
                            .await
                            .ok()
                            .map(|m| ferrodfs_proto::meta::decode(&m))
                            == Some(expect_meta.clone())
                        && client
                            .download_from(a, &gone)
                            .await
                            .is_err_and(|e| e.is_not_found());
                    if !ok {
                        return false;
                    }
                }
                true
            }
        },
    )
    .await;
    assert_eq!(holdings(&c.store_path(0)), holdings(&c.store_path(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_copy_ends_early_gets_the_whole_file_instead_of_zeros() {
    let mut c = Cluster::start_with(1, "", vec![spec("group1", ""), spec("group1", "")]);
    c.wait_active(2).await;
    let client = c.client();
    let head = random_bytes(10_000, 1);
    let app = client
        .upload(&head, "log", None, UploadKind::Appender)
        .await
        .unwrap();
    let info = FileId::parse(&app).unwrap().name.info().unwrap();
    let replica = if ip_of(&c.storages[0]) == source_ip(&info) {
        1
    } else {
        0
    };
    let copy = c
        .store_path(replica)
        .join("data")
        .join(app.split_once("/M00/").unwrap().1);
    eventually(
        Duration::from_secs(10),
        "the replica has the file",
        &c,
        || {
            let copy = copy.clone();
            let head = head.clone();
            async move { std::fs::read(&copy).ok() == Some(head) }
        },
    )
    .await;
    // The replica lost the end of its copy (say, a power cut before it
    // reached the disk); the source goes on appending.
    c.storages[replica].kill9();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&copy)
        .unwrap()
        .set_len(3)
        .unwrap();
    c.storages[replica].restart();
    c.wait_active(2).await;
    client.append(&app, b"tail").await.unwrap();
    let mut want = head.clone();
    want.extend_from_slice(b"tail");
    eventually(
        Duration::from_secs(10),
        "the replica's copy equals the source's",
        &c,
        || {
            let (copy, want) = (copy.clone(), want.clone());
            async move { std::fs::read(&copy).ok() == Some(want) }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regenerated_appender_file_is_renamed_on_every_member_and_in_a_full_copy() {
    let mut c = Cluster::start_with(1, "", vec![spec("group1", ""), spec("group1", "")]);
    c.wait_active(2).await;
    let client = c.client();
    let app = client
        .upload(b"head-", "log", None, UploadKind::Appender)
        .await
        .unwrap();
    client.append(&app, b"tail").await.unwrap();
    let tags = vec![(b"kind".to_vec(), b"log".to_vec())];
    client
        .set_meta(&app, &tags, MetaFlag::Overwrite)
        .await
        .unwrap();
    let addrs: Vec<String> = c.storages.iter().map(|s| s.addr.clone()).collect();
    eventually(Duration::from_secs(10), "appender on both", &c, || {
        let (client, app, addrs) = (client.clone(), app.clone(), addrs.clone());
        async move {
            for a in &addrs {
                if client.download_from(a, &app).await.ok().as_deref() != Some(b"head-tail") {
                    return false;
                }
            }
            true
        }
    })
    .await;

    let new = client.regenerate_appender_filename(&app).await.unwrap();
    // Same group, store path, directories and extension segment; a
    // normal name carrying the content's size and CRC32.
    let (old_id, new_id) = (FileId::parse(&app).unwrap(), FileId::parse(&new).unwrap());
    assert_eq!(new.len(), app.len(), "{new}");
    assert_eq!(new[..new.len() - 34], app[..app.len() - 34], "{new}");
    assert_eq!(new[new.len() - 7..], app[app.len() - 7..], "{new}");
    assert!(
        !new_id.name.is_appender() && !new_id.name.is_slave(),
        "{new}"
    );
    let info = new_id.name.info().unwrap();
    assert_eq!(info.size(), Some(9));
    assert_eq!(info.crc32, crc32fast::hash(b"head-tail"));
    assert!(info.create_time >= old_id.name.info().unwrap().create_time);
    let err = client.append(&new, b"more").await.unwrap_err();
    assert_eq!(err.status(), Some(status::EINVAL), "no longer an appender");
    let err = client.download(&app, 0, 0).await.unwrap_err();
    assert_eq!(err.status(), Some(status::ENOENT), "{err}");

    let on_every_member = |addrs: Vec<String>| {
        let (client, app, new, tags) = (client.clone(), app.clone(), new.clone(), tags.clone());
        async move {
            for a in &addrs {
                let ok = client.download_from(a, &new).await.ok().as_deref() == Some(b"head-tail")
                    && client
                        .metadata_from(a, &new)
                        .await
                        .ok()
                        .map(|m| ferrodfs_proto::meta::decode(&m))
                        == Some(tags.clone())
                    && client
                        .download_from(a, &app)
                        .await
                        .is_err_and(|e| e.is_not_found());
                if !ok {
                    return false;
                }
            }
            true
        }
    };
    eventually(Duration::from_secs(10), "renamed on both", &c, || {
        on_every_member(addrs.clone())
    })
    .await;
    assert_eq!(holdings(&c.store_path(0)), holdings(&c.store_path(1)));

    // A member that joins later replays the create, append and rename of
    // a file that no longer exists under its old name: it gets the
    // renamed file whole.
    let n = c.add_storage(spec("group1", ""));
    c.wait_active(3).await;
    let newest = vec![c.storages[n].addr.clone()];
    eventually(
        Duration::from_secs(20),
        "renamed on the new member",
        &c,
        || on_every_member(newest.clone()),
    )
    .await;
    assert_eq!(holdings(&c.store_path(n)), holdings(&c.store_path(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_storage_catches_up_and_no_acknowledged_file_is_lost() {
    let mut c = Cluster::start_with(2, "", vec![spec("group1", ""), spec("group1", "")]);
    c.wait_active(2).await;
    let client = c.client();
    let clients = 4;
    let per_client = 250;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (client, done) = (client.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..per_client {
                let data = random_bytes(1000 + (i * 7) % 5000, (k * 100_000 + i) as u64);
                // Failures are expected while a storage dies: only
                // acknowledged uploads count.
                if let Ok(id) = client
                    .upload(&data, "bin", Some("group1"), UploadKind::Normal)
                    .await
                {
                    acked.push((id, data.len() as u64, crc32fast::hash(&data)));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Keep the stream going long enough to span the restart.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            acked
        }));
    }
    let reached = |n: usize| {
        let done = done.clone();
        async move {
            while done.load(std::sync::atomic::Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    reached(300).await;
    c.storages[1].kill9();
    let killed_at = done.load(std::sync::atomic::Ordering::Relaxed);
    reached(600).await;
    c.storages[1].restart();
    let restarted_at = done.load(std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(
        restarted_at < clients * per_client,
        "the restart came after the stream"
    );
    assert!(
        acked.len() > 500,
        "only {} uploads acknowledged",
        acked.len()
    );
    c.wait_active(2).await;
    let stores = [c.store_path(0), c.store_path(1)];
    eventually(
        Duration::from_secs(30),
        "both members hold every acknowledged file",
        &c,
        || {
            let (stores, acked) = (stores.clone(), acked.clone());
            async move {
                let h: Vec<_> = stores.iter().map(|s| holdings(s)).collect();
                acked.iter().all(|(id, size, crc)| {
                    let rel = id.split_once("/M00/").unwrap().1;
                    h.iter().all(|m| m.get(rel) == Some(&(*size, *crc)))
                })
            }
        },
    )
    .await;
    for s in &stores {
        assert_no_partial_files(s);
    }
    eprintln!(
        "killed after {killed_at} uploads, restarted after {restarted_at}; {} of {} acknowledged, all on both members",
        acked.len(),
        clients * per_client
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_continue_through_the_other_tracker_when_one_is_killed() {
    let mut c = Cluster::start_with(2, "", vec![spec("group1", ""), spec("group1", "")]);
    c.wait_active(2).await;
    let client = c.client();
    let uploader = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..300u64 {
                if let Err(e) = client
                    .upload(&random_bytes(2000, i), "bin", None, UploadKind::Normal)
                    .await
                {
                    failures.push(e.to_string());
                }
            }
            failures
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.trackers[0].kill9();
    let failures = uploader.await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_gets_a_full_copy_before_it_serves() {
    let mut c = Cluster::start_with(2, "", vec![spec("group1", ""), spec("group1", "")]);
    c.wait_active(2).await;
    let client = c.client();
    let files = 10_000u64;
    let mut tasks = Vec::new();
    for k in 0..8u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (k..files).step_by(8) {
                let id = client
                    .upload(
                        &random_bytes(64 + (i % 200) as usize, i),
                        "txt",
                        None,
                        UploadKind::Normal,
                    )
                    .await
                    .unwrap();
                if i % 100 == 0 {
                    let m = vec![(b"n".to_vec(), i.to_string().into_bytes())];
                    client.set_meta(&id, &m, MetaFlag::Overwrite).await.unwrap();
                }
                ids.push(id);
            }
            ids
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Let the two members converge, then bring in the third.
    eventually(Duration::from_secs(30), "members converge", &c, || {
        let (a, b) = (c.store_path(0), c.store_path(1));
        async move { holdings(&a) == holdings(&b) }
    })
    .await;
    let bytes: u64 = holdings(&c.store_path(0)).values().map(|v| v.0).sum();
    let joined = Instant::now();
    let n = c.add_storage(spec("group1", ""));
    let ip = ip_of(&c.storages[n]);
    let tracker = c.trackers[0].addr.clone();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    eventually(Duration::from_secs(60), "new member ACTIVE", &c, || {
        let (tracker, ip, seen) = (tracker.clone(), ip.clone(), seen.clone());
        async move {
            let s = status_of(&tracker, "group1", &ip).await;
            if let Some(s) = s {
                let mut seen = seen.lock().unwrap();
                if seen.last() != Some(&s) {
                    seen.push(s);
                }
            }
            s == Some(state::ACTIVE)
        }
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    let took = joined.elapsed();
    assert!(
        seen.iter()
            .all(|s| [state::INIT, state::WAIT_SYNC, state::SYNCING, state::ACTIVE].contains(s)),
        "{seen:?}"
    );
    assert!(
        seen.first() != Some(&state::ACTIVE),
        "served before its copy: {seen:?}"
    );
    let want = holdings(&c.store_path(0));
    assert!(want.len() >= 10_000, "{}", want.len());
    assert_eq!(holdings(&c.store_path(n)), want, "the new member differs");
    eprintln!(
        "full copy: {} files, {} bytes to the new member in {:?} ({:.1} MB/s, {:.0} files/s); states {:?}",
        want.len(),
        bytes,
        took,
        bytes as f64 / 1e6 / took.as_secs_f64(),
        want.len() as f64 / took.as_secs_f64(),
        seen.iter().map(|s| state::name(*s)).collect::<Vec<_>>()
    );
    c.storages[n].kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_group_refuses_uploads_and_unnamed_ones_go_to_another_group() {
    let full = "reserved_storage_space = '99.99%'";
    let c = Cluster::start_with(
        1,
        "reserved_storage_space = '1%'",
        vec![spec("group1", full), spec("group2", "")],
    );
    c.wait_active(2).await;
    let client = c.client();
    // The storage itself refuses, whatever the tracker thinks.
    let err = client
        .upload(b"x", "bin", Some("group1"), UploadKind::Normal)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(status::ENOSPC), "{err}");
    for i in 0..6u64 {
        let id = client
            .upload(&random_bytes(100, i), "bin", None, UploadKind::Normal)
            .await
            .unwrap();
        assert!(id.starts_with("group2/"), "{id}");
    }
    assert_no_partial_files(&c.store_path(0));
    assert!(holdings(&c.store_path(0)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_goes_offline_and_can_be_removed() {
    let mut c = Cluster::start_with(2, "", vec![spec("group1", ""), spec("group1", "")]);
    c.wait_active(2).await;
    let client = c.client();
    let ip = ip_of(&c.storages[1]);
    let mon = std::process::Command::new(BIN)
        .args(["monitor", "-c"])
        .arg(c.client_conf())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&mon.stdout);
    let member = &c.storages[1].addr;
    assert!(text.contains(&format!("host = {member}  ACTIVE")), "{text}");
    assert!(text.contains("last_synced_timestamp = "), "{text}");
    let busy = client.delete_storage("group1", &ip).await;
    assert!(busy
        .iter()
        .all(|(_, r)| r.as_ref().is_err_and(|e| e.status() == Some(status::EBUSY))));
    c.storages[1].kill9();
    let trackers = c.tracker_addrs();
    eventually(
        Duration::from_secs(10),
        "OFFLINE on every tracker",
        &c,
        || {
            let (trackers, ip) = (trackers.clone(), ip.clone());
            async move {
                for t in &trackers {
                    if status_of(t, "group1", &ip).await != Some(state::OFFLINE) {
                        return false;
                    }
                }
                true
            }
        },
    )
    .await;
    let removed = std::process::Command::new(BIN)
        .args(["monitor", "-g", "group1", "--delete-storage", &ip, "-c"])
        .arg(c.client_conf())
        .output()
        .unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stdout)
    );
    assert_eq!(c.storages.len(), 2);
    for t in &trackers {
        assert_eq!(status_of(t, "group1", &ip).await, None, "{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_tracker_leads_when_the_leader_dies_and_a_restarted_tracker_catches_up() {
    let mut c = Cluster::start_with(2, "", vec![spec("group1", "")]);
    c.wait_active(1).await;
    let client = c.client();
    let id = client
        .upload(b"before", "txt", None, UploadKind::Normal)
        .await
        .unwrap();
    // tracker0 has the lower address: it leads until it dies.
    c.trackers[0].kill9();
    let n = c.add_storage(spec("group1", ""));
    let ip = ip_of(&c.storages[n]);
    let survivor = c.trackers[1].addr.clone();
    eventually(
        Duration::from_secs(20),
        "decided by the surviving tracker",
        &c,
        || {
            let (t, ip) = (survivor.clone(), ip.clone());
            async move { status_of(&t, "group1", &ip).await == Some(state::ACTIVE) }
        },
    )
    .await;
    let addr = c.storages[n].addr.clone();
    eventually(Duration::from_secs(10), "copied to the new member", &c, || {
        let (client, addr, id) = (client.clone(), addr.clone(), id.clone());
        async move { client.download_from(&addr, &id).await.ok().as_deref() == Some(&b"before"[..]) }
    })
    .await;
    // A restarted tracker knows the cluster again within a heartbeat or two.
    c.trackers[0].restart();
    let restarted = Instant::now();
    let back = c.trackers[0].addr.clone();
    eventually(
        Duration::from_secs(5),
        "restarted tracker sees both ACTIVE",
        &c,
        || {
            let t = back.clone();
            async move { active_count(&t).await == Some(2) }
        },
    )
    .await;
    eprintln!(
        "restarted tracker rebuilt its view in {:?}",
        restarted.elapsed()
    );
    assert!(restarted.elapsed() < Duration::from_secs(3));
}
