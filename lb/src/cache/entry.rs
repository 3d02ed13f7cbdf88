//! One cache entry on disk: the file format and reading it back.
//!
//! `MAGIC | u32 internal_len | u32 header_len | internal | header | body`,
//! the two meta blobs being `CacheMeta::serialize`'s output. A hit costs one
//! blocking call (open, meta, and the body when small); larger bodies are
//! read in chunks at their offset, so range requests seek for free.

use std::any::Any;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::storage::HandleHit;
use pingora_cache::trace::SpanHandle;
use pingora_cache::{CacheKey, CacheMeta, Storage};
use pingora_error::{Error, ErrorType, Result};

use super::disk::io_err;

const MAGIC: &[u8; 6] = b"FDLB1\n";
const PREFIX_LEN: u64 = 6 + 4 + 4;
const CHUNK: usize = 64 * 1024;

/// A cache file opened for reading.
pub(super) struct Entry {
    pub(super) meta: CacheMeta,
    pub(super) file: Arc<std::fs::File>,
    pub(super) body_start: u64,
    pub(super) body_len: u64,
    /// The whole body, when it is at most [`INLINE_BODY`] bytes.
    pub(super) inline: Option<Bytes>,
}

/// Bodies up to this size are read together with the meta.
const INLINE_BODY: u64 = 256 * 1024;

pub(super) fn read_entry(path: &Path) -> std::io::Result<Entry> {
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a ferrodfs-lb cache file",
        )
    };
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut prefix = [0u8; PREFIX_LEN as usize];
    file.read_exact_at(&mut prefix, 0)?;
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
    let inline_len = if body_len <= INLINE_BODY {
        body_len as usize
    } else {
        0
    };
    let mut buf = vec![0u8; ilen + hlen + inline_len];
    file.read_exact_at(&mut buf, PREFIX_LEN)?;
    let meta = CacheMeta::deserialize(&buf[..ilen], &buf[ilen..ilen + hlen]).map_err(|_| bad())?;
    let inline = (body_len <= INLINE_BODY).then(|| Bytes::from(buf).slice(ilen + hlen..));
    Ok(Entry {
        meta,
        file: Arc::new(file),
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

/// Streams a cached body from disk in chunks; seekable for range requests.
pub(super) struct DiskHit {
    pub(super) file: Arc<std::fs::File>,
    pub(super) inline: Option<Bytes>,
    pub(super) body_start: u64,
    pub(super) body_len: u64,
    pub(super) pos: u64,
    pub(super) end: u64,
}

#[async_trait]
impl HandleHit for DiskHit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let (pos, end) = (self.pos as usize, self.end as usize);
        if let Some(body) = &self.inline {
            self.pos = self.end;
            return Ok(Some(body.slice(pos..end)));
        }
        let want = (end - pos).min(CHUNK);
        let (file, offset) = (self.file.clone(), self.body_start + self.pos);
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
