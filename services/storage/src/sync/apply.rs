//! The receiving side of sync (SYNC_PUSH): applies one replayed binlog
//! record (the stream of pushes is [`super::receive`]) so that applying it twice, or after a later change already
//! arrived, leaves the same file. Creates and updates replace the whole
//! file, deletes ignore a missing file, appends and modifies write their
//! bytes at their offset, truncates set the size, renames move the file
//! unless the new name is already there. An append or modify whose offset
//! lies past this copy's end is refused (ESPIPE) rather than leaving a
//! gap of zeros: the sender then sends the whole file. Each applied change is
//! logged with a lower-case letter and the source's time, so this member
//! can later send a full copy but never pushes it back.

use std::io::SeekFrom;
use std::net::IpAddr;

use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::sync::PushHeader;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::binlog::{Op, Record};
use crate::ctx::Ctx;
use crate::error::{disk, Error};
use crate::file_locks::FileGuard;
use crate::request::Request;

/// Contents up to this size are received in memory, then written at once.
const SMALL_FILE: u64 = 1 << 20;

/// Reads the header of one push from `peer` (an authenticated
/// connection) and the record it carries, if any; its content is left
/// unread.
pub(super) async fn read_head(
    ctx: &Ctx,
    req: &mut Request<'_>,
    peer: IpAddr,
) -> Result<(PushHeader, Option<Record>), Error> {
    let prefix: [u8; 8] = req.read(8).await?.try_into().expect("8 bytes");
    let len = PushHeader::len_of(&prefix)?;
    let head = PushHeader::parse(&req.read(len).await?)?;
    if head.group != ctx.cfg.group_name || head.content_len != req.remaining() {
        return Err(Error::Invalid(
            "sync push for another group, or its content length differs",
        ));
    }
    check_sender(ctx, &head, peer)?;
    let rec = if head.record.is_empty() {
        None
    } else {
        Some(
            Record::parse(&head.record)
                .ok_or(Error::Invalid("bad binlog record in a sync push"))?,
        )
    };
    Ok((head, rec))
}

/// Only a current member of this group, pushing in its own name from its
/// own address, may change what this storage holds.
fn check_sender(ctx: &Ctx, head: &PushHeader, peer: IpAddr) -> Result<(), Error> {
    let is_member = ctx.is_member(&peer.to_string());
    if head.from == peer.to_string() && is_member && peer != IpAddr::V4(ctx.cfg.ip) {
        return Ok(());
    }
    tracing::warn!(
        "sync push from {peer} (in the name of {}) refused: {}",
        head.from,
        if is_member {
            "it pushes in another member's name"
        } else {
            "not a current member of this group"
        }
    );
    Err(Error::Denied(if is_member {
        "sync push in another member's name"
    } else {
        "sync push from a host outside the group"
    }))
}

/// The files `rec` changes, locked: writers of the same file (local
/// clients, other peers, earlier records of this push) go first, in the
/// order they asked. A rename holds both names, taken in one order so
/// that two renames never wait on each other.
pub(super) async fn lock(ctx: &Ctx, rec: &Record) -> Result<Vec<FileGuard>, Error> {
    let mut names = vec![LogicalName::parse(&rec.name)?];
    if let Op::Rename { from } = &rec.op {
        names.push(LogicalName::parse(from)?);
    }
    names.sort_by_cached_key(|n| n.to_string());
    names.dedup_by_key(|n| n.to_string());
    let mut guards = Vec::with_capacity(names.len());
    for name in &names {
        guards.push(ctx.store.write_lock(name).await);
    }
    Ok(guards)
}

/// Locks the record's files and applies it with the request's body.
pub(super) async fn apply(ctx: &Ctx, req: &mut Request<'_>, rec: &Record) -> Result<u64, Error> {
    let _guards = lock(ctx, rec).await?;
    apply_locked(ctx, req, rec).await
}

/// [`apply`] for a record whose files the caller holds ([`lock`]).
/// Contents up to [`SMALL_FILE`] are read whole first; larger ones are
/// streamed to disk.
pub(super) async fn apply_locked(
    ctx: &Ctx,
    req: &mut Request<'_>,
    rec: &Record,
) -> Result<u64, Error> {
    let len = req.remaining();
    if len <= SMALL_FILE {
        let bytes = req.read(len).await?;
        return apply_bytes(ctx, rec, bytes).await;
    }
    let name = LogicalName::parse(&rec.name)?;
    let path = ctx.data_path(&name)?;
    let durable = ctx.cfg.fsync_after_write;
    match &rec.op {
        Op::Create | Op::Update => {
            let idx = name.store_path as usize;
            let mut tmp = ctx.store.temp_file(idx, Some(&path)).await.map_err(disk)?;
            req.body_to_file(tmp.file(), len).await?;
            tmp.finish(durable).await.map_err(disk)?;
            tmp.replace(path.clone(), durable).await.map_err(disk)?;
        }
        Op::Append { offset, .. } | Op::Modify { offset, .. } => {
            // ENOENT and ESPIPE tell the sender to send the whole file.
            let mut file = open_existing(&path).await?;
            let size = file.metadata().await.map_err(disk)?.len();
            if *offset > size {
                return Err(Error::PastEnd);
            }
            file.seek(SeekFrom::Start(*offset)).await.map_err(disk)?;
            req.body_to_file(&mut file, len).await?;
            file.flush().await.map_err(disk)?;
            ctx.durable(&file).await?;
        }
        Op::Delete | Op::Truncate { .. } | Op::Rename { .. } => {
            return Err(Error::Invalid(
                "sync push with content for a change that takes none",
            ));
        }
    }
    log_applied(ctx, rec).await?;
    Ok(len)
}

/// Applies `rec` with its whole content `bytes` (empty for changes that
/// take none), each disk step in one trip to the blocking pool, then logs
/// it. The caller holds the record's files ([`lock`]).
pub(super) async fn apply_bytes(ctx: &Ctx, rec: &Record, bytes: Vec<u8>) -> Result<u64, Error> {
    let name = LogicalName::parse(&rec.name)?;
    let path = ctx.data_path(&name)?;
    let len = bytes.len() as u64;
    let durable = ctx.cfg.fsync_after_write;
    match &rec.op {
        Op::Create | Op::Update => {
            ctx.store
                .replace_at(path, bytes, durable)
                .await
                .map_err(disk)?;
        }
        Op::Delete => match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(disk(e)),
        },
        Op::Append { offset, .. } | Op::Modify { offset, .. } => {
            let offset = *offset;
            blocking(move || {
                use std::os::unix::fs::FileExt;
                // ENOENT and ESPIPE tell the sender to send the whole file.
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(disk)?;
                if offset > file.metadata().map_err(disk)?.len() {
                    return Err(Error::PastEnd);
                }
                file.write_all_at(&bytes, offset).map_err(disk)?;
                if durable {
                    file.sync_data().map_err(disk)?;
                }
                Ok(())
            })
            .await?;
        }
        Op::Truncate { new_size, .. } => {
            let new_size = *new_size;
            blocking(move || {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(disk)?;
                file.set_len(new_size).map_err(disk)?;
                if durable {
                    file.sync_data().map_err(disk)?;
                }
                Ok(())
            })
            .await?;
        }
        Op::Rename { from } => {
            // Already renamed (a replay) counts as done, as FastDFS's
            // EEXIST does; a missing old file answers ENOENT and the
            // sender sends the renamed file whole.
            if !tokio::fs::try_exists(&path).await.map_err(disk)? {
                let from_path = ctx.data_path(&LogicalName::parse(from)?)?;
                tokio::fs::rename(&from_path, &path).await.map_err(disk)?;
            }
        }
    }
    log_applied(ctx, rec).await?;
    Ok(len)
}

/// Logs an applied change with the source's time (lower-case letter).
async fn log_applied(ctx: &Ctx, rec: &Record) -> Result<(), Error> {
    ctx.binlog
        .write_replica(rec.ts, rec.op.clone(), &rec.name)
        .await
        .map_err(|e| {
            tracing::error!("binlog write failed for synced {}: {e}", rec.name);
            Error::Binlog(e)
        })?;
    Ok(())
}

async fn blocking(f: impl FnOnce() -> Result<(), Error> + Send + 'static) -> Result<(), Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::Task("applying a synced change"))?
}

async fn open_existing(path: &std::path::Path) -> Result<tokio::fs::File, Error> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .await
        .map_err(disk)
}
