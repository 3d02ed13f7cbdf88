//! Serving a file this storage holds: validators, conditional requests,
//! the range, and the headers mod_fastdfs sends.

use std::cell::RefCell;
use std::ffi::CStr;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_runtime::nowait;

use super::range::{self, RangeOutcome};
use super::request::{Method, RequestHead};
use super::response::{attachment, Head};
use super::target::{query_param, Target};
use super::validators::Validators;
use super::{mime, Body, Reply};
use crate::ctx::Ctx;

/// Files up to this size are read into memory when opened, on the same
/// blocking-pool hop, and go out with their head in one write; larger
/// ones go by sendfile.
const SMALL_FILE: u64 = 64 << 10;

/// A data file opened on the blocking pool.
pub(crate) struct Opened {
    file: std::fs::File,
    meta: std::fs::Metadata,
    /// The whole file, when it is small and a body is wanted.
    content: Option<Vec<u8>>,
}

/// Opens a data file: `Ok(None)` when it is not here (not yet replicated,
/// deleted, or never existed), or is not a regular file. With `read_small`,
/// a file of at most [`SMALL_FILE`] bytes is read too (open, fstat and
/// read in the one blocking call the caller makes).
pub(crate) fn open(path: &Path, read_small: bool) -> io::Result<Option<Opened>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(nix::libc::ENOTDIR) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut content = None;
    if read_small && meta.len() > 0 && meta.len() <= SMALL_FILE {
        let mut buf = Vec::with_capacity(meta.len() as usize);
        (&file).take(meta.len()).read_to_end(&mut buf)?;
        // A file that changed size under us goes by sendfile, which
        // checks the length it promised.
        if buf.len() as u64 == meta.len() {
            content = Some(buf);
        }
    }
    Ok(Some(Opened {
        file,
        meta,
        content,
    }))
}

/// The store paths' directories, opened once: a hot file is opened
/// relative to its store path, so the kernel walks `data/HH/HH/name`
/// rather than the whole absolute path on every request. A store path
/// that could not be opened is `None`; its files take the blocking open,
/// by full path, as does any file not found through these directories.
pub(crate) struct StoreDirs(Vec<Option<std::fs::File>>);

impl StoreDirs {
    /// Blocking: opens each store path's directory.
    pub fn open(paths: &[PathBuf]) -> StoreDirs {
        StoreDirs(paths.iter().map(|p| std::fs::File::open(p).ok()).collect())
    }

    /// Opens a data file on the calling (runtime) thread only when the
    /// kernel can do it without waiting for the disk: `openat2` with
    /// `RESOLVE_CACHED` fails with EAGAIN unless every path component is
    /// in the dentry cache, `fstat` of an open local file reads the
    /// in-memory inode, and a small file is read with
    /// `preadv2(RWF_NOWAIT)`, which fails unless all of it is in the page
    /// cache (what io_uring does inline before it punts to a worker).
    /// `None`: anything else — not cached, a kernel or seccomp filter
    /// without openat2, not a regular file, any error — and the caller
    /// takes the [`open`] path on the blocking pool, which decides. A hot
    /// file thus costs no thread-pool round trip, the profile's largest
    /// cost per small GET (futex wake and wait on both sides).
    pub fn open_cached(&self, name: &LogicalName, read_small: bool) -> Option<Opened> {
        let dir = self.0.get(usize::from(name.store_path))?.as_ref()?;
        // `data/HH/HH/name` and its NUL: a name is at most 127 bytes.
        const ROOM: usize = 160;
        let mut rel = [0u8; ROOM];
        let mut rest = &mut rel[..];
        write!(
            rest,
            "data/{:02X}/{:02X}/{}\0",
            name.dir1, name.dir2, name.name
        )
        .ok()?;
        let used = ROOM - rest.len();
        let rel = CStr::from_bytes_with_nul(&rel[..used]).ok()?;
        let file = nowait::open_at(dir.as_fd(), rel)?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        let len = meta.len();
        let mut content = None;
        if read_small && len > 0 && len <= SMALL_FILE {
            let mut buf = spare_buffer();
            nowait::read_append_at(&file, &mut buf, len as usize, 0).ok()?;
            content = Some(buf);
        }
        Some(Opened {
            file,
            meta,
            content,
        })
    }
}

thread_local! {
    /// Small-file buffers already sent, for the next files read on this
    /// thread: a fresh 16 KiB allocation per GET showed in the profile
    /// (glibc consolidating its free lists for every one).
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// How many buffers each thread keeps (each at most [`SMALL_FILE`]).
const SPARE_KEPT: usize = 4;

fn spare_buffer() -> Vec<u8> {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
}

/// Hands a body's buffer back once its bytes are sent. Only file-sized
/// ones are kept: an error text's costs little to allocate.
pub(crate) fn recycle(mut buf: Vec<u8>) {
    if !(4 << 10..=SMALL_FILE as usize).contains(&buf.capacity()) {
        return;
    }
    buf.clear();
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARE_KEPT {
            s.push(buf);
        }
    });
}

pub(crate) fn serve(ctx: &Ctx, req: &RequestHead, target: &Target<'_>, opened: Opened) -> Reply {
    let Opened {
        file,
        meta,
        content,
    } = opened;
    let size = meta.len();
    let v = Validators::of(&target.name, size, meta.mtime().max(0) as u64);
    let mut head = Head::new(200);
    head.push("ETag", v.etag());
    head.push_fmt("Last-Modified", format_args!("{}", v.last_modified_date()));
    if v.not_modified(req.header("if-none-match"), req.header("if-modified-since")) {
        head.status = 304;
        return Reply {
            head,
            body: Body::Empty,
        };
    }
    head.push(
        "Content-Type",
        mime::content_type(&target.name.name, &ctx.cfg.http.default_content_type),
    );
    head.push("Accept-Ranges", "bytes");
    if let Some(name) = query_param(target.query, "filename").filter(|n| !n.is_empty()) {
        head.push("Content-Disposition", &attachment(&name));
    }
    let wanted = match (req.header("range"), req.header("if-range")) {
        (Some(r), None) => range::resolve(r, size),
        (Some(r), Some(ir)) if v.if_range_holds(ir) => range::resolve(r, size),
        _ => RangeOutcome::Full,
    };
    let (offset, len) = match wanted {
        RangeOutcome::Full => (0, size),
        RangeOutcome::Partial { start, end } => {
            head.status = 206;
            head.push_fmt("Content-Range", format_args!("bytes {start}-{end}/{size}"));
            (start, end - start + 1)
        }
        RangeOutcome::Unsatisfiable => {
            let mut r = Reply::error(416, format!("range not satisfiable for {size} bytes"));
            r.head
                .push_fmt("Content-Range", format_args!("bytes */{size}"));
            return r;
        }
    };
    head.content_length = Some(len);
    let body = match content {
        _ if req.method == Method::Head || len == 0 => Body::Empty,
        Some(mut bytes) => {
            bytes.truncate((offset + len) as usize);
            bytes.drain(..offset as usize);
            Body::Bytes(bytes)
        }
        None => Body::File { file, offset, len },
    };
    Reply { head, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store path holding `files` (name in `data/00/00`, bytes).
    fn store(files: &[(&str, &[u8])]) -> (tempfile::TempDir, StoreDirs) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data/00/00")).unwrap();
        for (name, body) in files {
            std::fs::write(dir.path().join("data/00/00").join(name), body).unwrap();
        }
        let dirs = StoreDirs::open(&[dir.path().to_path_buf()]);
        (dir, dirs)
    }

    fn name(n: &str) -> LogicalName {
        LogicalName::parse(&format!("M00/00/00/{n}")).unwrap()
    }

    const SMALL: &str = "wKgBh1Xtr9-AeTfWAAVFOL7FJU4.bin";
    const LARGE: &str = "wKgBh1Xtr9-AeTfWAAVFOL7FJU5.bin";

    #[test]
    fn a_cached_open_reads_what_the_blocking_open_reads() {
        let body: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        let large = vec![7u8; (SMALL_FILE + 1) as usize];
        let (dir, dirs) = store(&[(SMALL, &body), (LARGE, &large)]);
        let path = dir.path().join("data/00/00").join(SMALL);
        let slow = open(&path, true).unwrap().unwrap();
        assert_eq!(slow.content.as_deref(), Some(&body[..]));
        // A buffer handed back is reused, holding only the new file.
        let mut earlier = Vec::with_capacity(8 << 10);
        earlier.extend_from_slice(b"an earlier file");
        recycle(earlier);
        // Just written and read: in the dentry and page caches, unless
        // this kernel has no openat2 (then the blocking open is used).
        if let Some(fast) = dirs.open_cached(&name(SMALL), true) {
            assert_eq!(fast.content.as_deref(), Some(&body[..]));
            assert_eq!(fast.meta.len(), body.len() as u64);
        }
        if let Some(fast) = dirs.open_cached(&name(SMALL), false) {
            assert!(fast.content.is_none(), "HEAD reads no bytes");
        }
        let large_path = dir.path().join("data/00/00").join(LARGE);
        assert!(open(&large_path, true).unwrap().unwrap().content.is_none());
        if let Some(fast) = dirs.open_cached(&name(LARGE), true) {
            assert!(fast.content.is_none(), "large files go by sendfile");
        }
    }

    #[test]
    fn what_is_not_a_regular_file_is_left_to_the_blocking_open() {
        let (dir, dirs) = store(&[]);
        std::fs::create_dir(dir.path().join("data/00/00").join(SMALL)).unwrap();
        assert!(dirs.open_cached(&name(LARGE), true).is_none(), "missing");
        assert!(
            dirs.open_cached(&name(SMALL), true).is_none(),
            "a directory"
        );
        let other_path = LogicalName::parse(&format!("M01/00/00/{SMALL}")).unwrap();
        assert!(
            dirs.open_cached(&other_path, true).is_none(),
            "no such store path"
        );
        let data = dir.path().join("data/00/00");
        assert!(open(&data.join(LARGE), true).unwrap().is_none());
        assert!(open(&data.join(SMALL), true).unwrap().is_none());
    }
}
