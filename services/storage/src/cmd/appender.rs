//! APPEND_FILE (24), MODIFY_FILE (34), TRUNCATE_FILE (36): in-place changes,
//! allowed only on appender files (EINVAL otherwise, as FastDFS). A write
//! that fails part-way (client gone, disk full) is cut back to the old
//! size, as FastDFS's dio clean-up does for appends.
//!
//! Each change first leaves a holding file ([`crate::hold`]): its intent
//! (the record it will log) or, for a modify or truncate with
//! `min_copies`, a copy of the file. It is removed just before the reply,
//! so a crash in between is settled at start: an unacknowledged append
//! is cut back, a modify or truncate is logged as it stands or undone.
//! A change that fails here is settled the same way at once. So no
//! member keeps bytes the source has no record of.

use std::future::Future;
use std::io::SeekFrom;
use std::path::PathBuf;

use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::storage_req::{Truncate, WriteHead};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{disk, Error, Request};
use crate::binlog::Op;
use crate::ctx::Ctx;
use crate::hold::{self, Kind};

/// An appender file's name; EINVAL for any other name, as FastDFS.
pub(super) fn parse_name(b: &[u8]) -> Result<LogicalName, Error> {
    let s = std::str::from_utf8(b).map_err(|_| Error::Invalid("file name is not UTF-8"))?;
    let name = LogicalName::parse(s)?;
    if !name.is_appender() {
        return Err(Error::Invalid("not an appender file"));
    }
    Ok(name)
}

async fn open_rw(ctx: &Ctx, name: &LogicalName) -> Result<(tokio::fs::File, u64), Error> {
    let path = ctx.data_path(name)?;
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .await
        .map_err(disk)?;
    let meta = file.metadata().await.map_err(disk)?;
    if !meta.is_file() {
        return Err(Error::IsDir);
    }
    Ok((file, meta.len()))
}

/// Writes `len` body bytes at `offset`; on failure restores `old_size`.
async fn write_at(
    req: &mut Request<'_>,
    file: &mut tokio::fs::File,
    offset: u64,
    len: u64,
    old_size: u64,
) -> Result<(), Error> {
    let result = async {
        file.seek(SeekFrom::Start(offset)).await.map_err(disk)?;
        req.body_to_file(file, len).await?;
        file.flush().await.map_err(disk)
    }
    .await;
    if result.is_err() {
        let _ = file.flush().await;
        if let Err(e) = file.set_len(old_size).await {
            tracing::error!(
                "cannot restore the size of an appender file after a failed write: {e}"
            );
        }
    }
    result
}

/// Appends the body to an appender file.
pub(crate) async fn append(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let pkg_len = req.header.pkg_len;
    let head = WriteHead::parse(
        &req.read(WriteHead::APPEND_LEN as u64).await?,
        false,
        pkg_len,
    )?;
    let name = parse_name(&req.read(head.name_len).await?)?;
    let _guard = ctx.store.write_lock(&name).await;
    let (mut file, old_size) = open_rw(ctx, &name).await?;
    if head.file_size == 0 {
        req.reply(&[]).await?;
        return Ok(0);
    }
    ctx.store
        .check_room(name.store_path as usize, head.file_size)?;
    let op = Op::Append {
        offset: old_size,
        length: head.file_size,
    };
    let write = async {
        write_at(req, &mut file, old_size, head.file_size, old_size).await?;
        ctx.durable(&file).await
    };
    in_place(ctx, &name, op, write).await?;
    req.reply(&[]).await?;
    Ok(head.file_size)
}

/// Overwrites part of an appender file; the offset may be at most its size.
pub(crate) async fn modify(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let pkg_len = req.header.pkg_len;
    let head = WriteHead::parse(
        &req.read(WriteHead::MODIFY_LEN as u64).await?,
        true,
        pkg_len,
    )?;
    let offset = head.offset.unwrap_or(0);
    let name = parse_name(&req.read(head.name_len).await?)?;
    let _guard = ctx.store.write_lock(&name).await;
    let (mut file, old_size) = open_rw(ctx, &name).await?;
    if offset > old_size {
        return Err(Error::Invalid("modify offset past the end of the file"));
    }
    let grows = (offset + head.file_size).saturating_sub(old_size);
    ctx.store.check_room(name.store_path as usize, grows)?;
    let op = Op::Modify {
        offset,
        length: head.file_size,
    };
    let write = async {
        write_at(req, &mut file, offset, head.file_size, old_size).await?;
        ctx.durable(&file).await
    };
    in_place(ctx, &name, op, write).await?;
    req.reply(&[]).await?;
    Ok(head.file_size)
}

/// Sets an appender file's size (shrinking or extending with zeros).
pub(crate) async fn truncate(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let body = req.read_all().await?;
    let t = Truncate::parse(&body)?;
    if !t.name.is_appender() {
        return Err(Error::Invalid("not an appender file"));
    }
    let _guard = ctx.store.write_lock(&t.name).await;
    let (file, old_size) = open_rw(ctx, &t.name).await?;
    if t.new_size != old_size {
        if t.new_size > old_size {
            ctx.store
                .check_room(t.name.store_path as usize, t.new_size - old_size)?;
        }
        let op = Op::Truncate {
            old_size,
            new_size: t.new_size,
        };
        let change = async {
            file.set_len(t.new_size).await.map_err(disk)?;
            ctx.durable(&file).await
        };
        in_place(ctx, &t.name, op, change).await?;
    }
    req.reply(&[]).await?;
    Ok(0)
}

/// Runs `change` (the write, made durable) on `name` and logs `op`, with
/// a holding file from before the first byte changes until the outcome
/// is settled. With `min_copies`, a modify or truncate holds a copy of the
/// file and a failure puts it back (re-announced once peers may have the
/// change); everything else holds its intent, and a failure is settled
/// as start-up would settle a crash ([`hold::repair`]).
async fn in_place(
    ctx: &Ctx,
    name: &LogicalName,
    op: Op,
    change: impl Future<Output = Result<(), Error>>,
) -> Result<(), Error> {
    let copy = match op {
        Op::Append { .. } => None,
        _ => snapshot(ctx, name).await?,
    };
    if let Some(copy) = copy {
        let logged = match change.await {
            Ok(()) => ctx.log(op, &name.to_string()).await,
            Err(e) => Err(e),
        };
        let pos = match logged {
            Ok(pos) => pos,
            Err(e) => {
                put_back(ctx, name, &copy).await?;
                return Err(e);
            }
        };
        if let Err(e) = ctx.replicated(pos).await {
            put_back(ctx, name, &copy).await?;
            ctx.log(Op::Create, &name.to_string()).await?;
            return Err(e);
        }
        hold::release(&copy).await;
        return Ok(());
    }
    let intent = ctx
        .store
        .hold_path(name, Kind::Intent)
        .ok_or(Error::Invalid("store path not ours"))?;
    hold::write_intent(&intent, name, op.clone())
        .await
        .map_err(disk)?;
    let outcome = match change.await {
        Ok(()) => match ctx.log(op.clone(), &name.to_string()).await {
            Ok(pos) => ctx.replicated(pos).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if outcome.is_err() {
        settle(ctx, name, &op).await?;
    }
    hold::release(&intent).await;
    outcome
}

/// Settles a failed change at once, as start-up would after a crash;
/// on error the intent stays for start-up.
async fn settle(ctx: &Ctx, name: &LogicalName, op: &Op) -> Result<(), Error> {
    let path = ctx.data_path(name)?;
    let size = match tokio::fs::metadata(&path).await {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(disk(e)),
    };
    let fix = hold::repair(Some(op), size);
    if let Some(len) = fix.cut_to {
        let (file, _) = open_rw(ctx, name).await?;
        file.set_len(len).await.map_err(disk)?;
    }
    if let Some(op) = fix.log {
        ctx.log(op, &name.to_string()).await?;
    }
    Ok(())
}

/// With `min_copies`, a modify or truncate starts from a copy of the
/// file (an `undo` holding file), so a change too few members applied
/// can be undone, and a crash before the reply undoes it at start.
async fn snapshot(ctx: &Ctx, name: &LogicalName) -> Result<Option<PathBuf>, Error> {
    if ctx.cfg.min_copies <= 1 {
        return Ok(None);
    }
    let path = ctx.data_path(name)?;
    let copy = ctx
        .store
        .hold_path(name, Kind::Undo)
        .ok_or(Error::Invalid("store path not ours"))?;
    hold::snapshot(&path, &copy).await.map_err(disk)?;
    Ok(Some(copy))
}

/// Puts the pre-change copy back over the file.
async fn put_back(ctx: &Ctx, name: &LogicalName, copy: &std::path::Path) -> Result<(), Error> {
    tokio::fs::rename(copy, ctx.data_path(name)?)
        .await
        .map_err(disk)
}
