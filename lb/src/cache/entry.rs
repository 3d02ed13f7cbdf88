//! One cache entry on disk: the file format and reading it back.
//!
//! `MAGIC | u32 internal_len | u32 header_len | internal | header | body`,
//! the two meta blobs being `CacheMeta::serialize`'s output. A read takes
//! the meta, and the body when small, on the proxy thread when all of it
//! is in the kernel's caches ([`ferrodfs_runtime::nowait`]), else in one
//! blocking call; larger bodies are read in chunks at their offset the same
//! way, so range requests seek for free.

use std::any::Any;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferrodfs_runtime::nowait;
use pingora_cache::storage::HandleHit;
use pingora_cache::trace::SpanHandle;
use pingora_cache::{CacheKey, CacheMeta, Storage};
use pingora_error::{Error, ErrorType, Result};

use super::disk::io_err;

const MAGIC: &[u8; 6] = b"FDLB1\n";
const PREFIX_LEN: u64 = 6 + 4 + 4;
/// Reads of a large body: a quarter of a 1 MiB file per read, so a cold
/// one costs four blocking-pool hops, not sixteen.
const CHUNK: usize = 256 * 1024;

/// Which file an entry was read from: a new fill or a revalidation writes
/// a new file (a new inode) and renames it over the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
}

impl FileId {
    pub(super) fn of(file: &std::fs::File) -> std::io::Result<FileId> {
        let md = file.metadata()?;
        Ok(FileId {
            dev: md.dev(),
            ino: md.ino(),
            len: md.len(),
        })
    }
}

/// A cache file opened for reading.
pub(super) struct Entry {
    pub(super) meta: CacheMeta,
    /// The serialized internal meta, as stored.
    pub(super) internal: Vec<u8>,
    pub(super) file: Arc<std::fs::File>,
    pub(super) id: FileId,
    pub(super) body_start: u64,
    pub(super) body_len: u64,
    /// The whole body, when it is at most the `inline_max` it was read with.
    pub(super) inline: Option<Bytes>,
}

/// Bodies up to this size are read together with the meta.
pub(super) const INLINE_BODY: u64 = 256 * 1024;

/// Reads an entry on the blocking pool, with bodies up to `inline_max`.
pub(super) fn read_entry(path: &Path, inline_max: u64) -> std::io::Result<Entry> {
    parse_entry(std::fs::File::open(path)?, inline_max, |f, buf, at| {
        f.read_exact_at(buf, at)
    })
}

/// Reads an entry on the calling thread if nothing needs the disk; `None`
/// leaves it to [`read_entry`], which also reports what is wrong.
pub(super) fn read_entry_cached(path: &Path, inline_max: u64) -> Option<Entry> {
    parse_entry(nowait::open(path)?, inline_max, nowait::read_exact_at).ok()
}

/// Opens the file of an entry known by its meta, on the calling thread if
/// that needs no I/O, else on the blocking pool; `None` unless it is still
/// the file `id` names.
pub(super) async fn reopen(path: &Path, id: FileId) -> Option<Arc<std::fs::File>> {
    let file = match nowait::open(path) {
        Some(f) => f,
        None => {
            let path = path.to_path_buf();
            tokio::task::spawn_blocking(move || std::fs::File::open(path))
                .await
                .ok()?
                .ok()?
        }
    };
    (FileId::of(&file).ok()? == id).then(|| Arc::new(file))
}

fn parse_entry(
    file: std::fs::File,
    inline_max: u64,
    read_at: impl Fn(&std::fs::File, &mut [u8], u64) -> std::io::Result<()>,
) -> std::io::Result<Entry> {
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a ferrodfs-lb cache file",
        )
    };
    let id = FileId::of(&file)?;
    let len = id.len;
    let mut prefix = [0u8; PREFIX_LEN as usize];
    if len < PREFIX_LEN {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    read_at(&file, &mut prefix, 0)?;
    if &prefix[..6] != MAGIC {
        return Err(bad());
    }
    let ilen = u32::from_le_bytes(prefix[6..10].try_into().expect("4 bytes")) as usize;
    let hlen = u32::from_le_bytes(prefix[10..14].try_into().expect("4 bytes")) as usize;
    let body_start = PREFIX_LEN + ilen as u64 + hlen as u64;
    if body_start > len {
        return Err(bad());
    }
    let body_len = len - body_start;
    let inline_len = if body_len <= inline_max {
        body_len as usize
    } else {
        0
    };
    let mut buf = vec![0u8; ilen + hlen + inline_len];
    read_at(&file, &mut buf, PREFIX_LEN)?;
    let meta = CacheMeta::deserialize(&buf[..ilen], &buf[ilen..ilen + hlen]).map_err(|_| bad())?;
    let internal = buf[..ilen].to_vec();
    let inline = (body_len <= inline_max).then(|| Bytes::from(buf).slice(ilen + hlen..));
    Ok(Entry {
        meta,
        internal,
        file: Arc::new(file),
        id,
        body_start,
        body_len,
        inline,
    })
}

pub(super) fn encode_meta(meta: &CacheMeta) -> Result<Vec<u8>> {
    let (internal, header) = meta.serialize()?;
    let mut out = Vec::with_capacity(PREFIX_LEN as usize + internal.len() + header.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(internal.len() as u32).to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&internal);
    out.extend_from_slice(&header);
    Ok(out)
}

/// Where a hit's body comes from.
pub(super) enum HitBody {
    /// All of it, from the entry's memo or read with its meta.
    Memory(Bytes),
    /// Read in chunks from the entry's file, the body starting at `start`.
    File {
        file: Arc<std::fs::File>,
        start: u64,
    },
}

/// Streams a cached body; seekable for range requests.
pub(super) struct DiskHit {
    body: HitBody,
    body_len: u64,
    pos: u64,
    end: u64,
}

impl DiskHit {
    pub(super) fn new(body: HitBody, body_len: u64) -> DiskHit {
        DiskHit {
            body,
            body_len,
            pos: 0,
            end: body_len,
        }
    }
}

#[async_trait]
impl HandleHit for DiskHit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let (pos, end) = (self.pos as usize, self.end as usize);
        let (file, start) = match &self.body {
            HitBody::Memory(body) => {
                self.pos = self.end;
                return Ok(Some(body.slice(pos..end)));
            }
            HitBody::File { file, start } => (file.clone(), *start),
        };
        let want = (end - pos).min(CHUNK);
        let offset = start + self.pos;
        let mut hot = vec![0u8; want];
        if nowait::read_exact_at(&file, &mut hot, offset).is_ok() {
            self.pos += want as u64;
            return Ok(Some(Bytes::from(hot)));
        }
        let chunk = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; want];
            file.read_exact_at(&mut buf, offset).map(|_| buf)
        })
        .await
        .map_err(|e| Error::because(ErrorType::InternalError, "read cache entry", e))?
        .map_err(io_err(
            "read cache entry (shorter than its index says?)".into(),
        ))?;
        self.pos += want as u64;
        Ok(Some(Bytes::from(chunk)))
    }

    async fn finish(
        self: Box<Self>,
        _s: &'static (dyn Storage + Sync),
        _k: &CacheKey,
        _t: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        let start = start as u64;
        if start >= self.body_len {
            return Error::e_explain(
                ErrorType::InternalError,
                format!("seek {start} past body length {}", self.body_len),
            );
        }
        self.pos = start;
        self.end = end.map_or(self.body_len, |e| (e as u64).min(self.body_len));
        Ok(())
    }

    fn get_eviction_weight(&self) -> usize {
        self.body_len as usize
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use pingora_http::ResponseHeader;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn meta(status: u16, secs: u32, headers: &[(String, String)]) -> CacheMeta {
        let at = UNIX_EPOCH + Duration::from_secs(secs as u64);
        let mut h = ResponseHeader::build(status, None).unwrap();
        for (n, v) in headers {
            h.append_header(n.clone(), v.clone()).unwrap();
        }
        CacheMeta::new(at + Duration::from_secs(60), at, 1, 2, h)
    }

    /// Reads `bytes` back as a cache file.
    fn read(bytes: &[u8]) -> std::io::Result<Entry> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e");
        std::fs::write(&path, bytes).unwrap();
        read_entry(&path, INLINE_BODY)
    }

    /// A prefix announcing any meta lengths, then fewer bytes than that.
    fn announced(ilen: u32, hlen: u32, tail: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&ilen.to_le_bytes());
        b.extend_from_slice(&hlen.to_le_bytes());
        b.extend_from_slice(tail);
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_file_is_an_entry_or_refused(
            b in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                (any::<u32>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..200))
                    .prop_map(|(i, h, t)| announced(i, h, &t)),
                (0u32..100, 0u32..100, proptest::collection::vec(any::<u8>(), 0..300))
                    .prop_map(|(i, h, t)| announced(i, h, &t)),
            ],
        ) {
            if let Ok(e) = read(&b) {
                prop_assert!(e.body_start + e.body_len == b.len() as u64);
            }
        }

        #[test]
        fn lengths_past_the_end_of_the_file_are_refused(
            ilen: u32,
            hlen: u32,
            tail in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            prop_assume!(ilen as u64 + hlen as u64 > tail.len() as u64);
            let err = read(&announced(ilen, hlen, &tail)).err().unwrap();
            prop_assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        }

        #[test]
        fn entries_round_trip(
            status in 200u16..600,
            secs in 0u32..=u32::MAX / 2,
            // Values without outer spaces: the header codec trims those.
            headers in proptest::collection::vec(
                ("x-[a-z]{1,8}", "([!-~]([ -~]{0,18}[!-~])?)?"),
                0..4,
            ),
            body in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let m = meta(status, secs, &headers);
            let mut b = encode_meta(&m).unwrap();
            let meta_len = b.len() as u64;
            b.extend_from_slice(&body);
            let e = read(&b).unwrap();
            prop_assert_eq!(e.meta.serialize().unwrap(), m.serialize().unwrap());
            prop_assert_eq!(e.body_start, meta_len);
            prop_assert_eq!(e.body_len, body.len() as u64);
            prop_assert_eq!(e.inline.as_deref(), Some(&body[..]));
            prop_assert_eq!(&e.internal, &m.serialize().unwrap().0);
        }
    }
}
