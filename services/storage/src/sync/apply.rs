//! The receiving side of sync (SYNC_PUSH): applies one replayed binlog
//! record so that applying it twice, or after a later change already
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
use crate::request::Request;

/// Contents up to this size are received in memory, then written at once.
const SMALL_FILE: u64 = 1 << 20;

/// Handles one push from `peer` (an authenticated connection): applies
/// its record (if any), then takes note of the sender's progress.
/// Replies only once the change is on disk and logged.
pub(crate) async fn push(ctx: &Ctx, req: &mut Request<'_>, peer: IpAddr) -> Result<u64, Error> {
    let prefix: [u8; 8] = req.read(8).await?.try_into().expect("8 bytes");
    let len = PushHeader::len_of(&prefix)?;
    let head = PushHeader::parse(&req.read(len).await?)?;
    if head.group != ctx.cfg.group_name || head.content_len != req.remaining() {
        return Err(Error::Invalid(
            "sync push for another group, or its content length differs",
        ));
    }
    check_sender(ctx, &head, peer)?;
    let mut applied = 0;
    if !head.record.is_empty() {
        let rec = Record::parse(&head.record)
            .ok_or(Error::Invalid("bad binlog record in a sync push"))?;
        applied = apply(ctx, req, &rec).await?;
    }
    ctx.sync_received(&head);
    req.reply(&[]).await?;
    Ok(applied)
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

pub(super) async fn apply(ctx: &Ctx, req: &mut Request<'_>, rec: &Record) -> Result<u64, Error> {
    let name = LogicalName::parse(&rec.name)?;
    let path = ctx.data_path(&name)?;
    let len = req.remaining();
    let _guard = ctx.store.write_lock(&name).await;
    match &rec.op {
        Op::Create | Op::Update => {
            let durable = ctx.cfg.fsync_after_write;
            if len <= SMALL_FILE {
                // Received whole, then written and renamed into place in
                // one trip to the blocking pool.
                let bytes = req.read(len).await?;
                ctx.store
                    .replace_at(path.clone(), bytes, durable)
                    .await
                    .map_err(disk)?;
            } else {
                let idx = name.store_path as usize;
                let mut tmp = ctx.store.temp_file(idx, Some(&path)).await.map_err(disk)?;
                req.body_to_file(tmp.file(), len).await?;
                tmp.finish(durable).await.map_err(disk)?;
                tmp.replace(path.clone(), durable).await.map_err(disk)?;
            }
        }
        Op::Delete => match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(disk(e)),
        },
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
        Op::Truncate { new_size, .. } => {
            let file = open_existing(&path).await?;
            file.set_len(*new_size).await.map_err(disk)?;
            ctx.durable(&file).await?;
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
    ctx.binlog
        .write_replica(rec.ts, rec.op.clone(), &rec.name)
        .await
        .map_err(|e| {
            tracing::error!("binlog write failed for synced {}: {e}", rec.name);
            Error::Binlog(e)
        })?;
    Ok(len)
}

async fn open_existing(path: &std::path::Path) -> Result<tokio::fs::File, Error> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .await
        .map_err(disk)
}
