//! Group replication, FastDFS style: every change is a binlog record;
//! for each other member of the group a worker ([`push`]) replays this
//! storage's binlog from a persisted mark and pushes the changes with
//! their content; the receiver ([`apply`]) applies them idempotently, so
//! a replayed record after a crash of either side is harmless. A new
//! member first gets a full copy from the member the tracker leader chose,
//! then serves. FastDFS storages of a mixed group speak their own sync
//! both ways: [`fastdfs`] takes their pushes, [`fastdfs_push`] pushes to
//! them (only within `fastdfs_peers`).
//!
//! Peer sync has its own entries: [`receive`], to which the connection
//! loop hands an authenticated connection at its first push, and
//! [`dispatch`], which it calls for the other commands [`handles`] names; the client command table
//! ([`crate::cmd`]) never sees them. The state the rest of the storage
//! reads (marks, lag, synced timestamps, the push plan) is
//! [`crate::replication`].

mod apply;
mod fastdfs;
mod fastdfs_push;
pub(crate) mod lag;
mod peers;
mod push;
mod receive;

use ferrodfs_proto::cmd;

pub(crate) use peers::Peers;
pub(crate) use receive::serve as receive;

use crate::ctx::Ctx;
use crate::error::Error;
use crate::request::{Conn, Request};

/// Whether `command` is a peer sync command, for [`dispatch`].
pub(crate) fn handles(command: u8) -> bool {
    matches!(
        command,
        cmd::SYNC_PUSH
            | cmd::REPORT_SERVER_ID
            | cmd::SYNC_CREATE_FILE
            | cmd::SYNC_DELETE_FILE
            | cmd::SYNC_UPDATE_FILE
            | cmd::SYNC_CREATE_LINK
            | cmd::SYNC_APPEND_FILE
            | cmd::SYNC_MODIFY_FILE
            | cmd::SYNC_TRUNCATE_FILE
            | cmd::SYNC_RENAME_FILE
    )
}

/// Whether a request opens a peer's stream of pushes, which
/// [`receive`] serves for the rest of the connection.
pub(crate) fn receives(command: u8, conn: &Conn) -> bool {
    command == cmd::SYNC_PUSH && conn.auth.is_done()
}

/// Runs one peer sync request (a command [`handles`] names). `Ok` carries
/// the file bytes moved, for the stats.
pub(crate) async fn dispatch(
    ctx: &Ctx,
    req: &mut Request<'_>,
    conn: &mut Conn,
) -> Result<u64, Error> {
    match req.header.cmd {
        // On an authenticated connection the pushes are a stream of their
        // own ([`receives`], [`receive`]).
        cmd::SYNC_PUSH => {
            tracing::warn!(
                "sync push from {} refused: the connection has not authenticated with the cluster secret",
                conn.peer
            );
            Err(Error::Denied("sync push needs an authenticated connection"))
        }
        cmd::REPORT_SERVER_ID => fastdfs::report_server_id(ctx, req, conn.peer.ip()).await,
        command if handles(command) => fastdfs::push(ctx, req, conn.peer.ip()).await,
        _ => Err(Error::Unsupported),
    }
}
