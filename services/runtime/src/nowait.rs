//! Opening and reading a file on an async runtime thread only when the
//! kernel can answer without waiting for the disk, so serving a hot file
//! (a storage's small GET, an edge's cache hit) costs no thread-pool round
//! trip (futex wake and wait on both sides, the largest cost per small
//! request in the profiles). `openat2` with `RESOLVE_CACHED`
//! fails unless every path component is in the dentry cache, `fstat` of an
//! open local file reads the in-memory inode, and `preadv2(RWF_NOWAIT)`
//! fails unless the bytes are in the page cache: what io_uring does inline
//! before it punts to a worker. Every failure (not cached, no openat2 under
//! this kernel or seccomp filter, a short read) is `None`/an error, and the
//! caller does the same work on the blocking pool.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Opens `path` read-only if its lookup needs no I/O.
pub fn open(path: &Path) -> Option<File> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    open_cached(libc::AT_FDCWD, &c_path)
}

/// [`open`] of `path` relative to the directory `dir`: a server that keeps
/// its root directory open spares the kernel the walk down to it.
pub fn open_at(dir: BorrowedFd<'_>, path: &CStr) -> Option<File> {
    open_cached(dir.as_raw_fd(), path)
}

fn open_cached(dir: RawFd, path: &CStr) -> Option<File> {
    // SAFETY: open_how is plain data; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_CACHED;
    // SAFETY: a valid C string and open_how, with its size, for the call;
    // `dir` is AT_FDCWD or a descriptor the caller keeps open.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    (fd >= 0).then(|| unsafe { File::from_raw_fd(fd as i32) })
}

/// Fills `buf` from `offset` if all of it is in the page cache;
/// `WouldBlock` when it is not (or only part of it is).
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    // SAFETY: `buf` is initialised, so viewing it as maybe-uninitialised
    // bytes is sound; only bytes are written through the view.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
    read_nowait(file, uninit, offset)
}

/// [`read_exact_at`] of `len` bytes appended to `buf`, whose new bytes
/// are never zeroed first: the kernel writes every one or the read fails
/// (and `buf` is left as it was).
pub fn read_append_at(file: &File, buf: &mut Vec<u8>, len: usize, offset: u64) -> io::Result<()> {
    buf.reserve(len);
    read_nowait(file, &mut buf.spare_capacity_mut()[..len], offset)?;
    // SAFETY: read_nowait filled the `len` bytes after the old length.
    unsafe { buf.set_len(buf.len() + len) };
    Ok(())
}

/// Fills all of `buf` with `preadv2(RWF_NOWAIT)`, or fails.
fn read_nowait(file: &File, buf: &mut [std::mem::MaybeUninit<u8>], offset: u64) -> io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: iov spans `buf`, which outlives the call; the kernel only
    // writes bytes into it.
    let n = unsafe {
        libc::preadv2(
            file.as_raw_fd(),
            &iov,
            1,
            offset as libc::off_t,
            libc::RWF_NOWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != buf.len() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn hot_files_read_back_exactly_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e");
        let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &body).unwrap();
        assert!(open(&dir.path().join("missing")).is_none());
        let root = File::open(dir.path()).unwrap();
        if let Some(f) = open_at(root.as_fd(), c"e") {
            assert_eq!(f.metadata().unwrap().len(), body.len() as u64);
        }
        assert!(open_at(root.as_fd(), c"missing").is_none());
        // Just written: cached, unless this kernel has no openat2.
        let Some(file) = open(&path) else { return };
        let mut buf = vec![0u8; 100];
        if read_exact_at(&file, &mut buf, 9_000).is_ok() {
            assert_eq!(buf, &body[9_000..9_100]);
        }
        let mut past = vec![0u8; 100];
        assert!(
            read_exact_at(&file, &mut past, 9_950).is_err(),
            "a short read is never taken for the whole"
        );
        let mut whole = b"kept".to_vec();
        if read_append_at(&file, &mut whole, body.len(), 0).is_ok() {
            assert_eq!(&whole[..4], b"kept");
            assert_eq!(&whole[4..], body);
        }
        let mut short = b"kept".to_vec();
        assert!(read_append_at(&file, &mut short, 100, 9_950).is_err());
        assert_eq!(short, b"kept", "a failed read appends nothing");
    }
}
