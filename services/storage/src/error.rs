//! Why a request failed. Each variant keeps its cause for the log; the
//! connection loop turns it into the status byte the client reads with
//! [`Error::status`], the one place that maps reasons to FastDFS's
//! errno-valued statuses.

use std::fmt;
use std::io;

use ferrodfs_proto::fields::FieldError;
use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::status;

#[derive(Debug)]
pub(crate) enum Error {
    /// The client connection failed (gone, timed out): nothing to answer.
    Conn(io::Error),
    /// A command this storage does not serve: EINVAL, but the connection
    /// survives if its body can be skipped.
    Unsupported,
    /// A disk operation failed. Clients see its errno when it is one they
    /// know (EPERM, ENOENT, EACCES, EEXIST, EISDIR, EINVAL, ENOSPC), EIO
    /// otherwise.
    Disk(io::Error),
    /// A new file's write failed (`write`, whose errno the client sees as
    /// for [`Error::Disk`]) and its half-written file, `name`, could not
    /// be removed (`remove`): its store path's writer keeps it listed for
    /// removal.
    LeftBehind {
        name: LogicalName,
        write: io::Error,
        remove: io::Error,
    },
    /// A request field FastDFS would refuse (EINVAL).
    Field(FieldError),
    /// A request this storage refuses, and why (EINVAL).
    Invalid(&'static str),
    /// The file, or its metadata, does not exist (ENOENT).
    NotFound,
    /// The name to create is taken (EEXIST).
    Exists,
    /// The name is a directory, not a file (EISDIR).
    IsDir,
    /// No free FastDFS name was found for a new file (EBUSY).
    NoFreeName,
    /// The store path lacks the room, reserved space kept (ENOSPC).
    NoSpace,
    /// The peer may not do this, and why (EACCES).
    Denied(&'static str),
    /// A synced append or modify starts past the end of this storage's
    /// copy (ESPIPE: the sender then sends the whole file).
    PastEnd,
    /// A FastDFS sync command this storage does not take, and why
    /// (EOPNOTSUPP).
    NotSupported(&'static str),
    /// `min_copies`: too few members held the change in time (ETIMEDOUT).
    NotReplicated,
    /// The binlog could not record (or fsync) a change, which therefore
    /// would never replicate (EIO).
    Binlog(io::Error),
    /// A step on the blocking pool did not finish, and which (EIO).
    Task(&'static str),
    /// The free space of the store path is not known yet (EIO).
    SpaceUnknown,
    /// A scrub pass failed (EIO).
    Scrub(anyhow::Error),
}

impl Error {
    /// The FastDFS status byte the client is answered with.
    pub fn status(&self) -> u8 {
        match self {
            Error::Disk(e) | Error::LeftBehind { write: e, .. } => disk_status(e),
            Error::Unsupported | Error::Field(_) | Error::Invalid(_) => status::EINVAL,
            Error::NotFound => status::ENOENT,
            Error::Exists => status::EEXIST,
            Error::IsDir => status::EISDIR,
            Error::NoFreeName => status::EBUSY,
            Error::NoSpace => status::ENOSPC,
            Error::Denied(_) => status::EACCES,
            Error::PastEnd => status::ESPIPE,
            Error::NotSupported(_) => status::EOPNOTSUPP,
            Error::NotReplicated => status::ETIMEDOUT,
            Error::Conn(_)
            | Error::Binlog(_)
            | Error::Task(_)
            | Error::SpaceUnknown
            | Error::Scrub(_) => status::EIO,
        }
    }

    /// The refusal of the cluster handshake (AUTH_HELLO, AUTH_PROOF),
    /// which answers EACCES or, for a malformed body, EINVAL.
    pub fn handshake(st: u8) -> Error {
        if st == status::EACCES {
            Error::Denied("cluster authentication failed")
        } else {
            Error::Invalid("malformed cluster handshake")
        }
    }
}

/// The status for a disk error: its errno when it is one clients know,
/// EIO otherwise.
fn disk_status(e: &io::Error) -> u8 {
    match e.raw_os_error() {
        Some(n) if matches!(n, 1 | 2 | 13 | 17 | 21 | 22 | 28) => n as u8,
        _ => status::EIO,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Conn(e) => write!(f, "connection failed: {e}"),
            Error::Unsupported => f.write_str("command not served by a storage"),
            Error::Disk(e) => write!(f, "disk error: {e}"),
            Error::LeftBehind {
                name,
                write,
                remove,
            } => write!(
                f,
                "disk error writing {name}: {write}; the half-written file could not be removed: {remove}"
            ),
            Error::Field(e) => write!(f, "bad request field: {e}"),
            Error::Invalid(why) => write!(f, "invalid request: {why}"),
            Error::NotFound => f.write_str("no such file"),
            Error::Exists => f.write_str("the file exists already"),
            Error::IsDir => f.write_str("the name is a directory"),
            Error::NoFreeName => f.write_str("no free file name found"),
            Error::NoSpace => f.write_str("the store path is full (reserved space kept)"),
            Error::Denied(why) => write!(f, "refused: {why}"),
            Error::PastEnd => f.write_str("synced change starts past the end of our copy"),
            Error::NotSupported(why) => write!(f, "not supported: {why}"),
            Error::NotReplicated => f.write_str("too few members held the change in time"),
            Error::Binlog(e) => write!(f, "binlog write failed: {e}"),
            Error::Task(what) => write!(f, "{what} did not finish"),
            Error::SpaceUnknown => f.write_str("the free space of the store path is unknown"),
            Error::Scrub(e) => write!(f, "scrub pass failed: {e:#}"),
        }
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Field(e)
    }
}

/// A disk error, for `map_err`.
pub(crate) fn disk(e: io::Error) -> Error {
    Error::Disk(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_errors_keep_the_errnos_clients_know_and_are_eio_otherwise() {
        let os = |n| Error::Disk(io::Error::from_raw_os_error(n)).status();
        for known in [1, 2, 13, 17, 21, 22, 28] {
            assert_eq!(os(known), known as u8);
        }
        assert_eq!(os(5), status::EIO);
        assert_eq!(os(36), status::EIO, "ENAMETOOLONG is not one of them");
        let synthetic = Error::Disk(io::ErrorKind::NotFound.into());
        assert_eq!(synthetic.status(), status::EIO, "no errno, no guess");
    }

    #[test]
    fn every_reason_answers_the_status_fastdfs_clients_expect() {
        let cases = [
            (Error::Unsupported, status::EINVAL),
            (Error::Invalid("x"), status::EINVAL),
            (Error::NotFound, status::ENOENT),
            (Error::Exists, status::EEXIST),
            (Error::IsDir, status::EISDIR),
            (Error::NoFreeName, status::EBUSY),
            (Error::NoSpace, status::ENOSPC),
            (Error::Denied("x"), status::EACCES),
            (Error::PastEnd, status::ESPIPE),
            (Error::NotSupported("x"), status::EOPNOTSUPP),
            (Error::NotReplicated, status::ETIMEDOUT),
            (Error::Conn(io::ErrorKind::TimedOut.into()), status::EIO),
            (Error::Binlog(io::Error::other("x")), status::EIO),
            (Error::Task("x"), status::EIO),
            (Error::SpaceUnknown, status::EIO),
        ];
        for (e, st) in cases {
            assert_eq!(e.status(), st, "{e}");
        }
    }

    #[test]
    fn handshake_refusals_keep_their_status() {
        for st in [status::EACCES, status::EINVAL] {
            assert_eq!(Error::handshake(st).status(), st);
        }
    }
}
