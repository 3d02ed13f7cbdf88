//! One lock per file being changed in place (append, modify, truncate,
//! metadata, regenerate, applied sync records): writers of the same file
//! queue, writers of other files never wait on them, however slowly a
//! client sends its body or however long a change waits for `min_copies`.
//! An entry lives only while someone holds or waits for it, so the table
//! is as large as the number of files being changed right now.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrodfs_proto::file_id::LogicalName;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub(crate) struct FileLocks {
    table: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

/// Held while one file is changed; dropping it lets the next writer of
/// that file in and removes the entry when nobody else wants it.
pub(crate) struct FileGuard {
    // Dropped first (fields drop in order), so the count below sees it gone.
    held: Option<OwnedMutexGuard<()>>,
    lock: Arc<AsyncMutex<()>>,
    key: String,
    table: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

impl FileLocks {
    /// Waits until no one else changes `name`.
    pub(crate) async fn lock(&self, name: &LogicalName) -> FileGuard {
        self.lock_key(name.to_string()).await
    }

    async fn lock_key(&self, key: String) -> FileGuard {
        let lock = {
            let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            table.entry(key.clone()).or_default().clone()
        };
        let held = lock.clone().lock_owned().await;
        FileGuard {
            held: Some(held),
            lock,
            key,
            table: self.table.clone(),
        }
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.table.lock().unwrap().len()
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        self.held.take();
        // The table's reference and ours: no one else holds or waits. Taken
        // under the table's lock, so no one can pick the entry up meanwhile.
        if Arc::strong_count(&self.lock) == 2 {
            table.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_writer_of_another_file_does_not_wait() {
        let locks = FileLocks::default();
        let _a = locks.lock_key("group1/M00/00/00/a".into()).await;
        let b = tokio::time::timeout(
            Duration::from_secs(10),
            locks.lock_key("group1/M00/00/00/b".into()),
        )
        .await;
        assert!(b.is_ok(), "a lock on another file waited");
    }

    #[tokio::test]
    async fn writers_of_one_file_take_turns_and_the_table_empties() {
        let locks = Arc::new(FileLocks::default());
        let first = locks.lock_key("f".into()).await;
        let l = locks.clone();
        let mut second = tokio::spawn(async move { l.lock_key("f".into()).await });
        // The second writer cannot get in while the first holds the file.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut second)
                .await
                .is_err(),
            "two writers of one file at once"
        );
        assert_eq!(locks.entries(), 1, "one entry, shared by both");
        drop(first);
        let second = second.await.unwrap();
        assert_eq!(locks.entries(), 1, "the waiter holds it now");
        drop(second);
        assert_eq!(locks.entries(), 0, "nobody holds or waits: no entry left");
    }
}
