//! The FastDFS wire protocol as ferrodfs speaks it.
//!
//! Everything here is pure (no sockets, no disks) except [`io`], which holds
//! the few async read/write helpers every daemon and the client share.
//! Layouts follow FastDFS 6.x; see `shared/fastdfs-protocol.md`.

#[cfg(test)]
mod arb;
pub mod auth;
pub mod cluster;
pub mod cmd;
pub mod fields;
pub mod file_id;
#[cfg(test)]
mod fixture;
pub mod header;
pub mod io;
pub mod meta;
pub mod monitor;
pub mod overview;
pub mod stat;
pub mod status;
pub mod storage_ids;
pub mod storage_req;
pub mod sync;
pub mod token;
pub mod tracker_req;

pub use file_id::{FileId, FileInfo, LogicalName, Source};
pub use header::Header;
