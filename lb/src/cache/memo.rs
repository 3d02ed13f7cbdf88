//! What a hit needs of an entry, kept in memory after its first read: the
//! parsed response header (decoding the stored one, zstd and all, was a
//! sizeable part of every hit), and the body itself when it is small
//! enough, so such a hit touches neither the disk nor the blocking pool.
//! The index holds memos within their own byte budget (`cache.memory`) and
//! drops each with its entry.

use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;
use pingora_cache::CacheMeta;
use pingora_error::Result;
use pingora_http::ResponseHeader;

use super::entry::{DiskHit, Entry, FileId, HitBody};

/// Counted per memo on top of its header's and body's bytes: the structs,
/// the key, the index's bookkeeping.
const OVERHEAD: u64 = 512;

pub(super) struct Memo {
    /// The stored internal meta (freshness, stale windows, age), as
    /// serialized: small, and cheap to decode next to the header.
    internal: Vec<u8>,
    header: ResponseHeader,
    body: MemoBody,
    body_len: u64,
    /// From the stored meta: until when the entry is served without asking
    /// the storage, and when it was stored or last revalidated (its age).
    fresh_until: SystemTime,
    updated: SystemTime,
}

enum MemoBody {
    Memory(Bytes),
    /// Too large to keep: read from the file, if it is still this one.
    File {
        id: FileId,
        start: u64,
    },
}

/// How a hit is served from a memo.
pub(super) enum MemoHit {
    Ready(DiskHit),
    /// The body must be read from the entry's file, opened anew.
    File {
        id: FileId,
        start: u64,
    },
}

impl Memo {
    /// The memo of an entry just read, keeping its body when it is whole
    /// in `e` and at most `max_body` bytes; with its weight in bytes.
    pub(super) fn of(e: &Entry, max_body: u64) -> (Memo, u64) {
        let header = e.meta.response_header().clone();
        let body = match &e.inline {
            Some(b) if e.body_len <= max_body => MemoBody::Memory(b.clone()),
            _ => MemoBody::File {
                id: e.id,
                start: e.body_start,
            },
        };
        let header_bytes: usize = header
            .headers
            .iter()
            .map(|(n, v)| 2 * (n.as_str().len() + v.len()))
            .sum();
        let weight = OVERHEAD
            + e.internal.len() as u64
            + header_bytes as u64
            + match &body {
                MemoBody::Memory(b) => b.len() as u64,
                MemoBody::File { .. } => 0,
            };
        let memo = Memo {
            internal: e.internal.clone(),
            header,
            body,
            body_len: e.body_len,
            fresh_until: e.meta.fresh_until(),
            updated: e.meta.updated(),
        };
        (memo, weight)
    }

    /// The entry's meta as if read from its file.
    pub(super) fn meta(&self) -> Result<CacheMeta> {
        let mut meta = CacheMeta::deserialize(&self.internal, bare_header()?)?;
        *meta.response_header_mut() = self.header.clone();
        Ok(meta)
    }

    pub(super) fn hit(&self) -> MemoHit {
        match &self.body {
            MemoBody::Memory(b) => {
                MemoHit::Ready(DiskHit::new(HitBody::Memory(b.clone()), self.body_len))
            }
            MemoBody::File { id, start } => MemoHit::File {
                id: *id,
                start: *start,
            },
        }
    }

    pub(super) fn body_len(&self) -> u64 {
        self.body_len
    }

    /// A hit that needs nothing but this memo: the body is in memory and
    /// the entry is fresh at `now`. `None` sends the request down the
    /// cache's full path (a stale entry is revalidated there).
    pub(super) fn fresh_in_memory(&self, now: SystemTime) -> Option<MemoryHit> {
        let MemoBody::Memory(body) = &self.body else {
            return None;
        };
        if now >= self.fresh_until {
            return None;
        }
        let age = now.duration_since(self.updated).map_or(0, |d| d.as_secs());
        Some(MemoryHit {
            header: self.header.clone(),
            body: body.clone(),
            age,
        })
    }
}

/// A fresh entry whose body is in memory: everything a hit is answered with.
pub struct MemoryHit {
    /// The stored response header, as the storage sent it.
    pub header: ResponseHeader,
    pub body: Bytes,
    /// Seconds since the entry was stored or revalidated (the `Age` header).
    pub age: u64,
}

/// A serialized header with nothing in it, decoded in place of the stored
/// one: pingora builds a `CacheMeta` only from both serialized halves.
fn bare_header() -> Result<&'static [u8]> {
    static BARE: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(b) = BARE.get() {
        return Ok(b);
    }
    let now = std::time::SystemTime::now();
    let meta = CacheMeta::new(now, now, 0, 0, ResponseHeader::build(200, Some(0))?);
    let (_, header) = meta.serialize()?;
    Ok(BARE.get_or_init(|| header))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::encode_meta;
    use std::time::{Duration, UNIX_EPOCH};

    fn entry(body: &[u8], inline: bool) -> (Entry, CacheMeta) {
        let at = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut h = ResponseHeader::build(200, None).unwrap();
        h.append_header("content-length", body.len().to_string())
            .unwrap();
        h.append_header("etag", "\"abc\"").unwrap();
        let mut meta = CacheMeta::new(at + Duration::from_secs(60), at, 1, 86_400, h);
        meta.update_freshness(at + Duration::from_secs(600), 1, 86_400);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e");
        let mut bytes = encode_meta(&meta).unwrap();
        bytes.extend_from_slice(body);
        std::fs::write(&path, &bytes).unwrap();
        let max = if inline { u64::MAX } else { 0 };
        (crate::cache::entry::read_entry(&path, max).unwrap(), meta)
    }

    #[test]
    fn the_meta_of_a_memo_is_the_stored_one() {
        let (e, stored) = entry(b"hello", true);
        let (memo, _) = Memo::of(&e, 1 << 20);
        let again = memo.meta().unwrap();
        assert_eq!(again.serialize().unwrap(), stored.serialize().unwrap());
        assert_eq!(again.updated(), stored.updated(), "the age counts from it");
        assert_eq!(
            again.headers().get("etag").unwrap(),
            stored.headers().get("etag").unwrap()
        );
    }

    #[test]
    fn small_bodies_are_kept_large_ones_are_read_from_their_file() {
        let (small, _) = entry(b"hello", true);
        let (memo, weight) = Memo::of(&small, 5);
        assert!(matches!(memo.hit(), MemoHit::Ready(_)));
        let (large, _) = entry(b"hello!", true);
        let (memo_large, weight_large) = Memo::of(&large, 5);
        match memo_large.hit() {
            MemoHit::File { id, start } => {
                assert_eq!(id, large.id);
                assert_eq!(start, large.body_start);
            }
            MemoHit::Ready(_) => panic!("a body over the limit was kept"),
        }
        assert!(weight > weight_large, "the kept body is counted");
        let (not_read, _) = entry(b"hi", false);
        assert!(matches!(
            Memo::of(&not_read, 5).0.hit(),
            MemoHit::File { .. }
        ));
    }
}
