//! Async FastDFS-protocol client used by the CLI, the bench tool and the
//! tests. It speaks to any FastDFS-compatible tracker (ferrodfs or FastDFS
//! itself): trackers are tried in turn until one answers, and storage
//! connections are pooled and reused across requests.

mod conf;
mod direct;
mod pool;
mod storage;
mod tracker;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub use conf::ClientConfig;
pub use ferrodfs_proto::file_id::FileId;
pub use ferrodfs_proto::meta::Meta;
pub use ferrodfs_proto::stat::{GroupStat, StorageStat};
pub use ferrodfs_proto::storage_req::{FileInfoReply, MetaFlag};
pub use ferrodfs_proto::tracker_req::{Addr, FetchTarget, StoreTarget};
use ferrodfs_proto::{io::ProtoError, status};
pub use storage::UploadKind;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Proto(#[from] ProtoError),
    #[error("invalid file id {id:?}: {reason}")]
    BadFileId { id: String, reason: String },
    #[error("no tracker answered (tried {tried}): {last}")]
    NoTracker { tried: String, last: String },
    #[error("cannot connect to {addr}: {err}")]
    Connect { addr: String, err: std::io::Error },
    #[error("{0} timed out")]
    Timeout(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cluster authentication: {0}")]
    Auth(String),
}

impl ClientError {
    /// The FastDFS status the server answered, if the failure was an
    /// error reply rather than a transport problem.
    pub fn status(&self) -> Option<u8> {
        match self {
            ClientError::Proto(ProtoError::Status(s)) => Some(*s),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(status::ENOENT)
    }

    /// A pooled connection the server closed while it sat idle: the
    /// request never reached the server, so a fresh connection may resend
    /// it. A timeout is not that: the server is there but not answering.
    fn is_stale_connection(&self) -> bool {
        self.is_transport() && !matches!(self, ClientError::Timeout(_))
    }

    /// Transport failures (worth trying another server for), as opposed
    /// to a server's considered answer.
    fn is_transport(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. }
                | ClientError::Timeout(_)
                | ClientError::Io(_)
                | ClientError::Proto(ProtoError::Io(_))
                | ClientError::Proto(ProtoError::UnexpectedCmd(_))
                | ClientError::Proto(ProtoError::Header(_))
        )
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ClientConfig,
    next_tracker: AtomicUsize,
    pool: pool::Pool,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Self {
        Client {
            inner: Arc::new(Inner {
                pool: pool::Pool::new(cfg.connect_timeout),
                cfg,
                next_tracker: AtomicUsize::new(0),
            }),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    fn pool(&self) -> &pool::Pool {
        &self.inner.pool
    }
}

pub(crate) fn parse_id(id: &str) -> Result<FileId> {
    FileId::parse(id).map_err(|e| ClientError::BadFileId {
        id: id.to_string(),
        reason: e.to_string(),
    })
}

/// The file ID of `master_id`'s slave with `prefix` and `ext`, computed
/// as FastDFS clients do (fdfs_gen_slave_filename; the Java client's
/// `ProtoCommon.genSlaveFilename`), so a thumbnail is found from its
/// master's ID without storing its own. `ext`: `None` reuses the
/// master's extension, `Some("")` means none.
pub fn slave_file_id(master_id: &str, prefix: &str, ext: Option<&str>) -> Result<String> {
    let id = parse_id(master_id)?;
    let name = ferrodfs_proto::file_id::slave_filename(&id.name.to_string(), prefix, ext).map_err(
        |e| ClientError::BadFileId {
            id: master_id.to_string(),
            reason: e.to_string(),
        },
    )?;
    Ok(format!("{}/{name}", id.group))
}

pub(crate) fn next_index(counter: &AtomicUsize, n: usize) -> usize {
    counter.fetch_add(1, Ordering::Relaxed) % n.max(1)
}
