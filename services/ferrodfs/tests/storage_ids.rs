//! Storage ids (`use_storage_id`, storage_ids.conf) against real daemons:
//! file names carry the storage's id, and a storage whose IP changes stays
//! the same member, so every file it created stays reachable (downloads,
//! appends routed to the source, HTTP redirects to the source) and
//! replication resumes where it stopped.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{random_bytes, Cluster, StorageSpec};
use ferrodfs_client::UploadKind;
use ferrodfs_proto::file_id::{FileId, FileInfo, LogicalName, Source};

fn source_of(file_id: &str) -> Source {
    FileId::parse(file_id).unwrap().name.info().unwrap().source
}

fn write_ids(path: &Path, net: &str, first_host: u8) {
    std::fs::write(
        path,
        format!("# id group ip\n100001 group1 {net}.{first_host}\n100002 group1 {net}.11\n"),
    )
    .unwrap();
}

/// One tracker reading storage ids from `ids`, two storages of group1.
fn with_ids(net: &str, ids: &Path, storage: impl Fn() -> StorageSpec) -> Cluster {
    let tracker = format!(
        "use_storage_id = true\nstorage_ids_filename = \"{}\"\n",
        ids.display()
    );
    Cluster::start_on(net, 1, &tracker, vec![storage(), storage()])
}

/// Waits for `path` to exist, with a deadline.
fn wait_for_file(path: &Path, what: &str) {
    let t = Instant::now();
    while !path.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{what} never appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status line and `Location` of a GET on `addr`.
fn http_get(addr: &str, path: &str) -> (u16, Option<String>) {
    let text = common::http_get(addr, path);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let location = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or(l.strip_prefix("location: "))
        })
        .map(str::to_string);
    (status, location)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_keeps_its_files_when_its_ip_changes() {
    let net = common::subnet();
    let ids_dir = tempfile::tempdir().unwrap();
    let ids = ids_dir.path().join("storage_ids.conf");
    write_ids(&ids, &net, 10);
    let storage = || StorageSpec {
        group: "group1",
        extra: "[http]\nresponse_mode = \"redirect\"\n".into(),
    };
    let mut c = with_ids(&net, &ids, storage);
    c.wait_active(2).await;
    let client = c.client();

    let listed = client.list_storages("group1", None).await.unwrap();
    let mut pairs: Vec<(String, String)> = listed
        .iter()
        .map(|s| (s.id.clone(), s.ip.clone()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("100001".to_string(), format!("{net}.10")),
            ("100002".to_string(), format!("{net}.11"))
        ]
    );

    // Round robin puts uploads on both members; each name carries its
    // creator's id, never an IP.
    let mut files = Vec::new();
    for i in 0..6 {
        let data = random_bytes(3000 + i, i as u64);
        let id = client
            .upload(&data, "bin", None, UploadKind::Normal)
            .await
            .unwrap();
        files.push((id, data));
    }
    let mut appender = None;
    for i in 0..4 {
        let id = client
            .upload(b"head-", "log", None, UploadKind::Appender)
            .await
            .unwrap();
        if source_of(&id) == Source::Id(100_001) {
            appender = Some(id);
            break;
        }
        assert!(i < 3, "no appender file landed on 100001");
    }
    let appender = appender.unwrap();
    assert!(files
        .iter()
        .any(|(id, _)| source_of(id) == Source::Id(100_001)));
    for (id, _) in &files {
        assert!(
            matches!(source_of(id), Source::Id(100_001 | 100_002)),
            "{id} does not carry a storage id"
        );
    }

    // Storage 100001 moves from .10 to .20: storage_ids.conf says so, the
    // tracker restarts with it, the storage restarts on its new address.
    c.storages[0].terminate(Duration::from_secs(20));
    write_ids(&ids, &net, 20);
    c.trackers[0].terminate(Duration::from_secs(20));
    c.trackers[0].restart();
    let cfg = std::fs::read_to_string(&c.storages[0].config).unwrap();
    let moved = cfg
        .replace(&format!("\"{net}.10\""), &format!("\"{net}.20\""))
        .replace(&format!("\"{net}.10:"), &format!("\"{net}.20:"));
    assert_ne!(cfg, moved);
    std::fs::write(&c.storages[0].config, moved).unwrap();
    c.storages[0].restart();
    c.wait_active(2).await;

    let listed = client
        .list_storages("group1", Some("100001"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "still one member 100001");
    assert_eq!(listed[0].ip, format!("{net}.20"));
    assert_eq!(client.list_storages("group1", None).await.unwrap().len(), 2);

    // Every file, whoever made it, downloads through the tracker.
    for (id, data) in &files {
        let got = client.download(id, 0, 0).await.unwrap();
        assert_eq!(&got, data, "{id}");
    }
    // An update goes to the source at its new address.
    let target = client.query_update(&appender).await.unwrap();
    assert_eq!(target.storages[0].ip, format!("{net}.20"));
    client.append(&appender, b"tail").await.unwrap();
    assert_eq!(
        client.download(&appender, 0, 0).await.unwrap(),
        b"head-tail"
    );

    // A name that says 100001 made it, asked of 100002 before it holds
    // it, is redirected to 100001's new address.
    let info = FileInfo::normal(
        Source::Id(100_001),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32,
        5,
        0,
        &mut rand::thread_rng(),
    );
    let name = LogicalName::parse(&format!("M00/00/00/{}0000000", info.encode())).unwrap();
    let (status, location) = http_get(&format!("{net}.11:8888"), &format!("/group1/{name}"));
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(
        location.starts_with(&format!("http://{net}.20:8888/group1/{name}")),
        "{location}"
    );

    // Replication both ways resumes under the same marks (FastDFS names
    // them by storage id: `<id>.mark`).
    let mut new_on_moved = None;
    for i in 0..4 {
        let data = random_bytes(2000, 100 + i);
        let id = client
            .upload(&data, "dat", None, UploadKind::Normal)
            .await
            .unwrap();
        if source_of(&id) == Source::Id(100_001) {
            new_on_moved = Some(id);
            break;
        }
    }
    let new_on_moved = new_on_moved.expect("an upload landed on 100001");
    let name = FileId::parse(&new_on_moved).unwrap().name;
    wait_for_file(
        &c.store_path(1).join(name.rel_path()),
        "the file made by 100001 at its new address, on 100002",
    );
    let marks = |i: usize| -> Vec<String> {
        let mut found = Vec::new();
        for e in walk(&c.dir.path().join(format!("storage{i}"))) {
            let n = e.file_name().unwrap().to_string_lossy().to_string();
            if n.ends_with(".mark") {
                found.push(n);
            }
        }
        found
    };
    assert_eq!(marks(0), ["100002.mark"]);
    assert_eq!(marks(1), ["100001.mark"]);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_missing_from_storage_ids_cannot_join() {
    let net = common::subnet();
    let ids_dir = tempfile::tempdir().unwrap();
    let ids = ids_dir.path().join("ids.conf");
    std::fs::write(&ids, format!("100001 group1 {net}.10\n")).unwrap();
    let storage = || StorageSpec {
        group: "group1",
        extra: String::new(),
    };
    let c = with_ids(&net, &ids, storage);
    c.wait_active(1).await;
    let t = Instant::now();
    loop {
        let log = c.trackers[0].log_text();
        if log.contains(&format!("{net}.11")) && log.contains("is not listed in storage_ids.conf") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no refusal logged:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = c.client().list_storages("group1", None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].ip.clone()),
        ("100001", format!("{net}.10"))
    );
}
