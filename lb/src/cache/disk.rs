//! A pingora-cache `Storage` on local disk. pingora ships only an in-memory
//! store (`MemCache`, meant for tests) and its LRU eviction manager knows
//! neither files already on disk at start nor inactivity expiry, so this
//! store keeps its own [`Index`] and implements both.
//!
//! Layout: `<path>/<k0k1>/<k>` where `k` is the hex cache-key hash (the file
//! format is in `entry.rs`). Writes go to
//! `<path>/tmp/` and are renamed into place on finish, so a reader never sees
//! a half-written entry and a crash leaves only tmp files (removed at start).

use std::any::Any;
use std::io::{SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::key::{CacheHashKey, CompactCacheKey};
use pingora_cache::storage::{
    HandleMiss, HitHandler, MissFinishType, MissHandler, PurgeOutcome, PurgeTarget, PurgeType,
};
use pingora_cache::trace::SpanHandle;
use pingora_cache::{CacheEntryKey, CacheKey, CacheMeta, Storage};
use pingora_error::{Error, ErrorType, OkOrErr, Result};
use tokio::io::AsyncWriteExt;

use super::entry::{
    encode_meta, read_entry, read_entry_cached, reopen, DiskHit, Entry, HitBody, INLINE_BODY,
};
use super::index::Index;
use super::memo::{Memo, MemoHit, MemoryHit};

/// Size and eviction counters the metrics read.
#[derive(Default)]
pub struct DiskStats {
    pub evictions: AtomicU64,
    pub expirations: AtomicU64,
    /// Entries that could not be read back, fills that could not be
    /// written (the request is still served from the storage).
    pub errors: AtomicU64,
}

/// How much of the cache is also kept in memory (`cache.memory`,
/// `cache.memory_max_body`): every entry read since it was stored keeps
/// its parsed meta, and its body when at most `max_body` bytes, within
/// `budget` bytes in all (0: nothing is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryTier {
    pub budget: u64,
    pub max_body: u64,
}

pub struct DiskCache {
    root: PathBuf,
    index: Mutex<Index<Memo>>,
    memory: MemoryTier,
    tmp_seq: AtomicU64,
    pub stats: DiskStats,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn io_err(context: String) -> impl FnOnce(std::io::Error) -> Box<Error> {
    move |e| Error::because(ErrorType::InternalError, context, e)
}

impl DiskCache {
    /// Opens (creating if needed) the cache folder and indexes the entries
    /// already there, so a restart keeps the cache warm and within its cap.
    pub fn open(root: &Path, max_size: u64, memory: MemoryTier) -> anyhow::Result<DiskCache> {
        let tmp = root.join("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)
            .map_err(|e| anyhow::anyhow!("cache.path {}: cannot create: {e}", root.display()))?;
        let mut found = Vec::new();
        for dir in std::fs::read_dir(root)
            .map_err(|e| anyhow::anyhow!("cache.path {}: {e}", root.display()))?
        {
            let dir = dir?;
            if dir.file_name() == "tmp" || !dir.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(dir.path())? {
                let f = f?;
                let name = f.file_name().to_string_lossy().into_owned();
                // Only files named as this store names them: anything else
                // is not an entry, and its name may not even make a path
                // under the root (`..x`).
                if !is_key(&name) {
                    continue;
                }
                let md = f.metadata()?;
                let atime = md
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                found.push((atime, name, md.len()));
            }
        }
        // Oldest first, so if the cap shrank the least recently written go.
        found.sort();
        let cache = DiskCache {
            root: root.to_path_buf(),
            index: Mutex::new(Index::new(max_size, memory.budget)),
            memory,
            tmp_seq: AtomicU64::new(0),
            stats: DiskStats::default(),
        };
        let mut evicted = Vec::new();
        {
            let mut ix = cache.index.lock().expect("index lock");
            for (atime, key, size) in found {
                evicted.extend(ix.insert(&key, size, atime));
            }
        }
        for k in evicted {
            let _ = std::fs::remove_file(cache.path_of(&k));
        }
        Ok(cache)
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(&key[..2.min(key.len())]).join(key)
    }

    pub fn total_size(&self) -> u64 {
        self.index.lock().expect("index lock").total_size()
    }

    pub fn entries(&self) -> usize {
        self.index.lock().expect("index lock").len()
    }

    /// Bytes held in memory for hits (see [`MemoryTier`]).
    pub fn memory_size(&self) -> u64 {
        self.index.lock().expect("index lock").memo_size()
    }

    /// The largest body read whole with its meta: what a memo may keep.
    fn inline_max(&self) -> u64 {
        if self.memory.budget == 0 {
            INLINE_BODY
        } else {
            INLINE_BODY.max(self.memory.max_body)
        }
    }

    /// Removes entries not read for `inactive_secs`; run periodically.
    pub async fn expire_inactive(&self, inactive_secs: u64) {
        let gone = self
            .index
            .lock()
            .expect("index lock")
            .expire_inactive(now_secs(), inactive_secs);
        self.stats
            .expirations
            .fetch_add(gone.len() as u64, Ordering::Relaxed);
        for k in gone {
            let _ = tokio::fs::remove_file(self.path_of(&k)).await;
        }
    }

    /// Reads an entry's meta, and its body too when small, on this thread
    /// when it is all in the kernel's caches, else in one blocking call:
    /// each `tokio::fs` operation is a thread-pool hop, and a cache hit
    /// made of six of them cost a third of nginx's throughput.
    async fn read_entry(&self, key: &str) -> std::io::Result<Entry> {
        let path = self.path_of(key);
        let inline_max = self.inline_max();
        if let Some(hot) = read_entry_cached(&path, inline_max) {
            return Ok(hot);
        }
        tokio::task::spawn_blocking(move || read_entry(&path, inline_max))
            .await
            .map_err(std::io::Error::other)?
    }

    fn new_tmp(&self, key: &str) -> PathBuf {
        let n = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{key}.{}.{n}", std::process::id()))
    }

    /// Removes the entry of `key`, if any: what a storage's 404 on
    /// revalidation does to a file deleted since it was stored.
    pub async fn evict(&self, key: &CacheKey) -> bool {
        let k = key.combined();
        let known = self.forget(&k);
        let removed = tokio::fs::remove_file(self.path_of(&k)).await.is_ok();
        known || removed
    }

    /// The entry of `key` if it is fresh and its body is held in memory
    /// (see [`MemoryTier`]), marked as read as a lookup would. `None` in
    /// every other case: the lookup through pingora-cache then decides.
    pub fn fresh_memory_hit(&self, key: &CacheKey) -> Option<MemoryHit> {
        let k = key.combined();
        let memo = self
            .index
            .lock()
            .expect("index lock")
            .touch(&k, now_secs())?
            .memo?;
        memo.fresh_in_memory(SystemTime::now())
    }

    fn forget(&self, key: &str) -> bool {
        self.index.lock().expect("index lock").remove(key)
    }
}

#[async_trait]
impl Storage for DiskCache {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let k = key.combined();
        let Some(found) = self.index.lock().expect("index lock").touch(&k, now_secs()) else {
            return Ok(None);
        };
        if let Some(memo) = found.memo {
            let hit = match memo.hit() {
                MemoHit::Ready(hit) => Some(hit),
                MemoHit::File { id, start } => reopen(&self.path_of(&k), id)
                    .await
                    .map(|file| DiskHit::new(HitBody::File { file, start }, memo.body_len())),
            };
            // A file that is no longer the one the memo was made from
            // (replaced or removed meanwhile) is read again below.
            if let Some(hit) = hit {
                return Ok(Some((memo.meta()?, Box::new(hit))));
            }
        }
        match self.read_entry(&k).await {
            Ok(e) => {
                if self.memory.budget > 0 {
                    let (memo, weight) = Memo::of(&e, self.memory.max_body);
                    self.index.lock().expect("index lock").remember(
                        &k,
                        found.generation,
                        Arc::new(memo),
                        weight,
                    );
                }
                let body = match e.inline {
                    Some(b) => HitBody::Memory(b),
                    None => HitBody::File {
                        file: e.file,
                        start: e.body_start,
                    },
                };
                Ok(Some((e.meta, Box::new(DiskHit::new(body, e.body_len)))))
            }
            Err(e) => {
                // Deleted behind our back or corrupt: treat as a miss and forget it.
                tracing::warn!(key = %k, "cache entry unreadable, dropping it: {e}");
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.forget(&k);
                let _ = tokio::fs::remove_file(self.path_of(&k)).await;
                Ok(None)
            }
        }
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        let k = key.combined();
        let tmp = self.new_tmp(&k);
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(io_err(format!("create cache tmp {}", tmp.display())))?;
        let head = encode_meta(meta)?;
        file.write_all(&head)
            .await
            .map_err(io_err(format!("write {}", tmp.display())))?;
        Ok(Box::new(DiskMiss {
            cache: self,
            key: k,
            tmp,
            file: Some(file),
            size: head.len() as u64,
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        _t: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        // Entries carry no ids here; an exact-id target cannot be ours.
        if matches!(target, PurgeTarget::Exact(CacheEntryKey::Identified { .. })) {
            return Ok(PurgeOutcome::NotFound);
        }
        let k = compact_hex(target.key());
        let known = self.forget(&k);
        let removed = tokio::fs::remove_file(self.path_of(&k)).await.is_ok();
        Ok(if known || removed {
            PurgeOutcome::Purged(None)
        } else {
            PurgeOutcome::NotFound
        })
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        // Revalidation (a 304 from the origin) refreshes the stored headers:
        // rewrite the entry with the new meta in front of the same body.
        let k = key.combined();
        let path = self.path_of(&k);
        let Ok(old) = self.read_entry(&k).await else {
            return Ok(false);
        };
        let tmp = self.new_tmp(&k);
        let head = encode_meta(meta)?;
        let (from, dest) = (tmp.clone(), path.clone());
        let rewrite = move || -> std::io::Result<u64> {
            let mut new = std::fs::File::create(&from)?;
            new.write_all(&head)?;
            let mut body = std::io::Read::take(&*old.file, old.body_len);
            std::io::Seek::seek(&mut &*old.file, SeekFrom::Start(old.body_start))?;
            std::io::copy(&mut body, &mut new)?;
            let size = new.metadata()?.len();
            std::fs::rename(&from, &dest)?;
            Ok(size)
        };
        let size = tokio::task::spawn_blocking(rewrite)
            .await
            .map_err(|e| Error::because(ErrorType::InternalError, "rewrite cache entry", e))?
            .map_err(io_err(format!("rewrite cache entry {}", path.display())))?;
        self.index
            .lock()
            .expect("index lock")
            .insert(&k, size, now_secs());
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

fn compact_hex(key: &CompactCacheKey) -> String {
    key.combined()
}

/// Whether a file name is one [`compact_hex`] makes: hex digits only.
fn is_key(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Writes a response body to a tmp file; `finish` renames it into place and
/// admits it to the index (evicting others if over the cap).
struct DiskMiss {
    cache: &'static DiskCache,
    key: String,
    tmp: PathBuf,
    file: Option<tokio::fs::File>,
    size: u64,
}

#[async_trait]
impl HandleMiss for DiskMiss {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        let file = self
            .file
            .as_mut()
            .or_err(ErrorType::InternalError, "write after finish")?;
        if let Err(e) = file.write_all(&data).await {
            self.cache.stats.errors.fetch_add(1, Ordering::Relaxed);
            return Err(io_err(format!("write {}", self.tmp.display()))(e));
        }
        self.size += data.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<MissFinishType> {
        let mut file = self
            .file
            .take()
            .or_err(ErrorType::InternalError, "finish twice")?;
        file.flush()
            .await
            .map_err(io_err(format!("flush {}", self.tmp.display())))?;
        drop(file);
        let dest = self.cache.path_of(&self.key);
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(io_err(format!("create {}", dir.display())))?;
        }
        tokio::fs::rename(&self.tmp, &dest)
            .await
            .map_err(io_err(format!("rename into {}", dest.display())))?;
        let evicted =
            self.cache
                .index
                .lock()
                .expect("index lock")
                .insert(&self.key, self.size, now_secs());
        self.cache
            .stats
            .evictions
            .fetch_add(evicted.len() as u64, Ordering::Relaxed);
        for k in evicted {
            let _ = tokio::fs::remove_file(self.cache.path_of(&k)).await;
        }
        Ok(MissFinishType::Created(self.size as usize))
    }
}

impl Drop for DiskMiss {
    fn drop(&mut self) {
        // An aborted fill (upstream died mid-body) leaves no partial entry;
        // the removal runs on the blocking pool, not on a proxy thread.
        if self.file.take().is_some() {
            let tmp = std::mem::take(&mut self.tmp);
            let remove = move || {
                let _ = std::fs::remove_file(&tmp);
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(remove)),
                Err(_) => remove(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora_cache::trace::Span;
    use pingora_http::ResponseHeader;
    use std::time::Duration;

    fn open(dir: &Path, max: u64) -> &'static DiskCache {
        let memory = MemoryTier {
            budget: 1 << 20,
            max_body: 64 << 10,
        };
        Box::leak(Box::new(DiskCache::open(dir, max, memory).unwrap()))
    }

    fn meta() -> CacheMeta {
        let now = SystemTime::now();
        let header = ResponseHeader::build(200, None).unwrap();
        CacheMeta::new(now + Duration::from_secs(60), now, 0, 0, header)
    }

    async fn put(cache: &'static DiskCache, uri: &str, body: &[u8]) {
        let span = Span::inactive().handle();
        let mut miss = cache
            .get_miss_handler(&crate::cache::key(uri), &meta(), &span)
            .await
            .unwrap();
        miss.write_body(Bytes::copy_from_slice(body), true)
            .await
            .unwrap();
        miss.finish().await.unwrap();
    }

    async fn get(
        cache: &'static DiskCache,
        uri: &str,
        range: Option<(usize, usize)>,
    ) -> Option<Vec<u8>> {
        let span = Span::inactive().handle();
        let (meta, mut hit) = cache
            .lookup(&crate::cache::key(uri), &span)
            .await
            .unwrap()?;
        assert_eq!(meta.response_header().status.as_u16(), 200);
        if let Some((start, end)) = range {
            hit.seek(start, Some(end)).unwrap();
        }
        let mut out = Vec::new();
        while let Some(b) = hit.read_body().await.unwrap() {
            out.extend_from_slice(&b);
        }
        Some(out)
    }

    #[tokio::test]
    async fn stored_bodies_read_back_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 20);
        put(cache, "/g/M00/a", b"hello").await;
        assert_eq!(get(cache, "/g/M00/a", None).await.unwrap(), b"hello");
        assert_eq!(get(cache, "/g/M00/other", None).await, None);
        let reopened = open(dir.path(), 1 << 20);
        assert_eq!(reopened.entries(), 1);
        assert_eq!(get(reopened, "/g/M00/a", None).await.unwrap(), b"hello");
    }

    #[tokio::test]
    async fn byte_ranges_are_served_by_seeking() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 20);
        put(cache, "/g/M00/r", b"0123456789").await;
        assert_eq!(get(cache, "/g/M00/r", Some((2, 5))).await.unwrap(), b"234");
    }

    #[tokio::test]
    async fn large_bodies_stream_from_the_file_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 24);
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        put(cache, "/g/M00/big", &body).await;
        assert_eq!(get(cache, "/g/M00/big", None).await.unwrap(), body);
        let range = get(cache, "/g/M00/big", Some((70_000, 270_001)))
            .await
            .unwrap();
        assert_eq!(range, &body[70_000..270_001]);
    }

    #[tokio::test]
    async fn size_cap_deletes_the_least_recently_read_file() {
        let dir = tempfile::tempdir().unwrap();
        // Each entry is its meta (~100 bytes) plus a 1000-byte body.
        let cache = open(dir.path(), 2500);
        put(cache, "/g/M00/1", &[1; 1000]).await;
        put(cache, "/g/M00/2", &[2; 1000]).await;
        get(cache, "/g/M00/1", None).await.unwrap();
        put(cache, "/g/M00/3", &[3; 1000]).await;
        assert!(
            get(cache, "/g/M00/2", None).await.is_none(),
            "least recently read went"
        );
        assert!(get(cache, "/g/M00/1", None).await.is_some());
        assert_eq!(cache.stats.evictions.load(Ordering::Relaxed), 1);
        let files = walk(dir.path());
        assert_eq!(files, 2, "the evicted file is gone from disk");
    }

    #[tokio::test]
    async fn purge_removes_the_entry_and_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 20);
        put(cache, "/g/M00/p", b"x").await;
        let span = Span::inactive().handle();
        let key = crate::cache::key("/g/M00/p").to_compact();
        let out = cache
            .purge(PurgeTarget::Active(&key), PurgeType::Invalidation, &span)
            .await
            .unwrap();
        assert_eq!(out, PurgeOutcome::Purged(None));
        assert_eq!(get(cache, "/g/M00/p", None).await, None);
        assert_eq!(walk(dir.path()), 0);
        let again = cache
            .purge(PurgeTarget::Active(&key), PurgeType::Invalidation, &span)
            .await
            .unwrap();
        assert_eq!(again, PurgeOutcome::NotFound);
    }

    #[tokio::test]
    async fn an_aborted_fill_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 20);
        let span = Span::inactive().handle();
        let mut miss = cache
            .get_miss_handler(&crate::cache::key("/g/M00/x"), &meta(), &span)
            .await
            .unwrap();
        miss.write_body(Bytes::from_static(b"partial"), false)
            .await
            .unwrap();
        drop(miss);
        assert_eq!(get(cache, "/g/M00/x", None).await, None);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_dir(dir.path().join("tmp")).unwrap().count() != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the partial file stayed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn stray_files_in_the_cache_folder_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let shard = root.join("ab");
        std::fs::create_dir_all(&shard).unwrap();
        // Not keys: one that cuts a character at the shard split, one
        // whose shard would be the parent folder.
        for name in ["a\u{e9}", "..x"] {
            std::fs::write(shard.join(name), b"stray").unwrap();
        }
        std::fs::write(dir.path().join("..x"), b"outside").unwrap();
        // A zero cap would evict every indexed file at once.
        let cache = open(&root, 0);
        assert_eq!(cache.entries(), 0);
        assert_eq!(walk(&root), 2, "stray files stay where they are");
        assert!(
            dir.path().join("..x").exists(),
            "nothing outside is touched"
        );
    }

    /// The stored header `x-v` of `uri`'s entry.
    async fn version(cache: &'static DiskCache, uri: &str) -> Option<String> {
        let span = Span::inactive().handle();
        let (meta, _) = cache
            .lookup(&crate::cache::key(uri), &span)
            .await
            .unwrap()?;
        let v = meta.headers().get("x-v")?;
        Some(v.to_str().unwrap().to_string())
    }

    fn meta_v(v: &str) -> CacheMeta {
        let now = SystemTime::now();
        let mut header = ResponseHeader::build(200, None).unwrap();
        header.append_header("x-v", v).unwrap();
        CacheMeta::new(now + Duration::from_secs(60), now, 0, 0, header)
    }

    #[tokio::test]
    async fn hits_after_the_first_read_are_answered_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 20);
        put(cache, "/g/M00/m", b"in memory").await;
        assert_eq!(cache.memory_size(), 0, "nothing is kept before a read");
        assert_eq!(get(cache, "/g/M00/m", None).await.unwrap(), b"in memory");
        assert!(cache.memory_size() > 9);
        // The file is gone, the copy in memory still answers...
        std::fs::remove_file(cache.path_of(&crate::cache::key("/g/M00/m").combined())).unwrap();
        assert_eq!(
            get(cache, "/g/M00/m", Some((3, 9))).await.unwrap(),
            b"memory"
        );
        // ... until the entry itself goes.
        let span = Span::inactive().handle();
        let key = crate::cache::key("/g/M00/m").to_compact();
        cache
            .purge(PurgeTarget::Active(&key), PurgeType::Invalidation, &span)
            .await
            .unwrap();
        assert_eq!(get(cache, "/g/M00/m", None).await, None);
        assert_eq!(cache.memory_size(), 0);
    }

    #[tokio::test]
    async fn a_new_fill_or_a_revalidation_replaces_the_copy_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 20);
        put(cache, "/g/M00/n", b"first").await;
        assert_eq!(get(cache, "/g/M00/n", None).await.unwrap(), b"first");
        put(cache, "/g/M00/n", b"second").await;
        assert_eq!(get(cache, "/g/M00/n", None).await.unwrap(), b"second");
        assert_eq!(get(cache, "/g/M00/n", None).await.unwrap(), b"second");
        let span = Span::inactive().handle();
        let key = crate::cache::key("/g/M00/n");
        assert!(cache.update_meta(&key, &meta_v("2"), &span).await.unwrap());
        assert_eq!(version(cache, "/g/M00/n").await.as_deref(), Some("2"));
        assert_eq!(version(cache, "/g/M00/n").await.as_deref(), Some("2"));
        assert_eq!(get(cache, "/g/M00/n", None).await.unwrap(), b"second");
    }

    #[tokio::test]
    async fn a_body_over_memory_max_body_is_read_from_its_file_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 22);
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        put(cache, "/g/M00/l", &body).await;
        assert_eq!(get(cache, "/g/M00/l", None).await.unwrap(), body);
        let kept = cache.memory_size();
        assert!(kept > 0 && kept < 10_000, "the meta only: {kept}");
        assert_eq!(get(cache, "/g/M00/l", None).await.unwrap(), body);
        // Replaced behind the memo's back: the file is read afresh, never
        // its body under the old meta's offsets.
        let path = cache.path_of(&crate::cache::key("/g/M00/l").combined());
        let mut other = encode_meta(&meta_v("other")).unwrap();
        other.extend_from_slice(b"short");
        std::fs::write(path.with_extension("new"), &other).unwrap();
        std::fs::rename(path.with_extension("new"), &path).unwrap();
        assert_eq!(get(cache, "/g/M00/l", None).await.unwrap(), b"short");
        assert_eq!(version(cache, "/g/M00/l").await.as_deref(), Some("other"));
    }

    /// Cache files on disk, tmp excluded.
    fn walk(root: &Path) -> usize {
        std::fs::read_dir(root)
            .unwrap()
            .flatten()
            .filter(|d| d.file_name() != "tmp")
            .map(|d| std::fs::read_dir(d.path()).unwrap().count())
            .sum()
    }
}
