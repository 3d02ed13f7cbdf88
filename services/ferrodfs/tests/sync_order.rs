//! Replication of many concurrent changes to the same few files: a
//! receiver applies several records at once, yet each file's changes in
//! their order. Once sync settles both members hold the same data files
//! byte for byte.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ferrodfs_client::{Client, MetaFlag, UploadKind};

const SETTLE: Duration = Duration::from_secs(60);

/// A small deterministic generator, one per worker.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Appender files the workers change; a delete replaces its file with a
/// new upload.
type Pool = Arc<Mutex<Vec<String>>>;

fn pick(pool: &Pool, rng: &mut Rng) -> String {
    let p = pool.lock().unwrap();
    p[rng.below(p.len() as u64) as usize].clone()
}

/// One worker's changes: appends, metadata (overwrite and merge),
/// truncates, deletes with a new upload in the file's place, and plain
/// uploads. A change may fail when another worker deleted its file
/// first; only the end state is checked.
async fn churn(client: Client, pool: Pool, seed: u64, ops: u64) {
    let mut rng = Rng(seed | 1);
    for i in 0..ops {
        let id = pick(&pool, &mut rng);
        let data = random_bytes(1 + rng.below(12 << 10) as usize, seed << 20 | i);
        match rng.below(10) {
            0..=3 => {
                let _ = client.append(&id, &data).await;
            }
            4 | 5 => {
                let flag = if rng.below(2) == 0 {
                    MetaFlag::Overwrite
                } else {
                    MetaFlag::Merge
                };
                let items = vec![(
                    format!("k{}", rng.below(4)).into_bytes(),
                    format!("{seed}-{i}").into_bytes(),
                )];
                let _ = client.set_meta(&id, &items, flag).await;
            }
            6 => {
                let _ = client.truncate(&id, rng.below(8 << 10)).await;
            }
            7 => {
                if client.delete(&id).await.is_ok() {
                    if let Ok(new) = client
                        .upload(&data, "bin", Some("group1"), UploadKind::Appender)
                        .await
                    {
                        let mut p = pool.lock().unwrap();
                        if let Some(slot) = p.iter_mut().find(|s| **s == id) {
                            *slot = new;
                        }
                    }
                }
            }
            _ => {
                let _ = client
                    .upload(&data, "bin", Some("group1"), UploadKind::Normal)
                    .await;
            }
        }
    }
}

/// One tracker and two ACTIVE members of group1.
async fn two_members() -> Cluster {
    let spec = || StorageSpec {
        group: "group1",
        extra: String::new(),
    };
    let c = Cluster::start_with(1, "", vec![spec(), spec()]);
    c.wait_active(2).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_to_the_same_files_leave_both_members_identical() {
    let c = two_members().await;
    let client = c.client();
    // The tracker spreads the uploads: each member is the source of some
    // files and receives the others.
    let mut ids = Vec::new();
    for k in 0..8u64 {
        let id = client
            .upload(
                &random_bytes(4096, k),
                "bin",
                Some("group1"),
                UploadKind::Appender,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    let pool: Pool = Arc::new(Mutex::new(ids));
    let workers: Vec<_> = (0..8u64)
        .map(|w| tokio::spawn(churn(client.clone(), pool.clone(), 1000 + w, 150)))
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    // Metadata files (`-m`) are left out: concurrent metadata changes of
    // one file can leave its members with different metadata, with this
    // receiver and with the one that applied a record at a time alike.
    let data = |i: usize| {
        let mut f = held_files(&c.store_path(i));
        f.retain(|name, _| !name.ends_with("-m"));
        f
    };
    let held = members_agree(&c, SETTLE, data, |_| true).await;
    assert!(held.len() > 8, "only {} files", held.len());
    for i in 0..2 {
        let orphans = orphan_metadata(&held_files(&c.store_path(i)));
        assert!(
            orphans.is_empty(),
            "member {i}: metadata without its file: {orphans:?}"
        );
    }
    eprintln!("both members hold the same {} files", held.len());
}

/// `-m` files whose data file is not there: metadata that outlived its file.
fn orphan_metadata(files: &std::collections::BTreeMap<String, Vec<u8>>) -> Vec<String> {
    files
        .keys()
        .filter_map(|k| k.strip_suffix("-m"))
        .filter(|data| !files.contains_key(*data))
        .map(|data| format!("{data}-m"))
        .collect()
}

/// A SET_METADATA racing a DELETE of the same file either lands before
/// the delete (and goes with it) or finds the file gone: no member is
/// left with metadata of a deleted file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_set_while_its_file_is_deleted_never_outlives_the_file() {
    let c = two_members().await;
    let client = c.client();
    let mut ids = Vec::new();
    for k in 0..200u64 {
        let data = random_bytes(64, k);
        ids.push(
            client
                .upload(&data, "bin", Some("group1"), UploadKind::Normal)
                .await
                .unwrap(),
        );
    }
    let races: Vec<_> = ids
        .iter()
        .map(|id| {
            let (client, id) = (client.clone(), id.clone());
            tokio::spawn(async move {
                let items = vec![(b"k".to_vec(), b"v".to_vec())];
                let (deleted, _) = tokio::join!(
                    client.delete(&id),
                    client.set_meta(&id, &items, MetaFlag::Overwrite)
                );
                deleted.unwrap();
            })
        })
        .collect();
    for r in races {
        r.await.unwrap();
    }
    let held = members_agree(
        &c,
        SETTLE,
        |i| held_files(&c.store_path(i)),
        |f| f.keys().all(|k| k.ends_with("-m")),
    )
    .await;
    let orphans = orphan_metadata(&held);
    assert!(
        orphans.is_empty(),
        "{} of 200 deleted files left their metadata, e.g. {:?}",
        orphans.len(),
        &orphans[..orphans.len().min(3)]
    );
}
