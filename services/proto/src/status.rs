//! Status byte values: Linux errno numbers, as FastDFS clients expect them.

pub const OK: u8 = 0;
pub const EPERM: u8 = 1;
pub const ENOENT: u8 = 2;
pub const EIO: u8 = 5;
pub const EAGAIN: u8 = 11;
pub const ENOMEM: u8 = 12;
pub const EACCES: u8 = 13;
pub const EBUSY: u8 = 16;
pub const EEXIST: u8 = 17;
pub const EISDIR: u8 = 21;
pub const EINVAL: u8 = 22;
pub const EFBIG: u8 = 27;
pub const ENOSPC: u8 = 28;
/// A sync write at an offset past the receiver's end of file: it would
/// leave a gap of zeros, so the receiver asks for the whole file instead.
pub const ESPIPE: u8 = 29;
pub const EOPNOTSUPP: u8 = 95;
pub const ETIMEDOUT: u8 = 110;
pub const ECONNREFUSED: u8 = 111;

/// Human name of a status byte, for logs and CLI errors.
pub fn name(status: u8) -> &'static str {
    match status {
        OK => "OK",
        EPERM => "EPERM (operation not permitted)",
        ENOENT => "ENOENT (no such file, group or storage)",
        EIO => "EIO (I/O error)",
        EAGAIN => "EAGAIN (try again)",
        ENOMEM => "ENOMEM (out of memory)",
        EACCES => "EACCES (permission denied)",
        EBUSY => "EBUSY (busy)",
        EEXIST => "EEXIST (already exists)",
        EISDIR => "EISDIR (is a directory)",
        EINVAL => "EINVAL (invalid request)",
        EFBIG => "EFBIG (file too large)",
        ENOSPC => "ENOSPC (no space left: reserved space reached)",
        ESPIPE => "ESPIPE (offset past the end of the file)",
        EOPNOTSUPP => "EOPNOTSUPP (operation not supported)",
        ETIMEDOUT => "ETIMEDOUT (timed out)",
        ECONNREFUSED => "ECONNREFUSED (connection refused)",
        _ => "unknown status",
    }
}
