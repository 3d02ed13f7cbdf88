//! APPEND_FILE (24), MODIFY_FILE (34), TRUNCATE_FILE (36): in-place changes,
//! allowed only on appender files (EINVAL otherwise, as FastDFS). A write
//! that fails part-way (client gone, disk full) is cut back to the old
//! size, as FastDFS's dio clean-up does for appends.

use std::io::SeekFrom;
use std::path::PathBuf;

use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::status;
use ferrodfs_proto::storage_req::{Truncate, WriteHead};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{disk, CmdError, Request};
use crate::binlog::Op;
use crate::ctx::Ctx;

/// An appender file's name; EINVAL for any other name, as FastDFS.
pub(super) fn parse_name(b: &[u8]) -> Result<LogicalName, CmdError> {
    let s = std::str::from_utf8(b).map_err(|_| CmdError::Status(status::EINVAL))?;
    let name = LogicalName::parse(s)?;
    if !name.is_appender() {
        return Err(CmdError::Status(status::EINVAL));
    }
    Ok(name)
}

async fn open_rw(ctx: &Ctx, name: &LogicalName) -> Result<(tokio::fs::File, u64), CmdError> {
    let path = ctx.data_path(name)?;
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .await
        .map_err(disk)?;
    let meta = file.metadata().await.map_err(disk)?;
    if !meta.is_file() {
        return Err(CmdError::Status(status::EISDIR));
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
) -> Result<(), CmdError> {
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
pub(crate) async fn append(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, CmdError> {
    let pkg_len = req.header.pkg_len;
    let head = WriteHead::parse(
        &req.read(WriteHead::APPEND_LEN as u64).await?,
        false,
        pkg_len,
    )?;
    let name = parse_name(&req.read(head.name_len).await?)?;
    let _guard = ctx.store.write_lock(&name).lock().await;
    let (mut file, old_size) = open_rw(ctx, &name).await?;
    if head.file_size == 0 {
        req.reply(&[]).await?;
        return Ok(0);
    }
    ctx.store
        .check_room(name.store_path as usize, head.file_size)?;
    write_at(req, &mut file, old_size, head.file_size, old_size).await?;
    let pos = ctx.log(
        Op::Append {
            offset: old_size,
            length: head.file_size,
        },
        &name.to_string(),
    )?;
    if let Err(e) = ctx.replicated(pos).await {
        // Too few copies: cut the file back, and the members that got
        // the append with it.
        if file.set_len(old_size).await.is_ok() {
            let _ = ctx.log(
                Op::Truncate {
                    old_size: old_size + head.file_size,
                    new_size: old_size,
                },
                &name.to_string(),
            );
        }
        return Err(e);
    }
    req.reply(&[]).await?;
    Ok(head.file_size)
}

/// Overwrites part of an appender file; the offset may be at most its size.
pub(crate) async fn modify(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, CmdError> {
    let pkg_len = req.header.pkg_len;
    let head = WriteHead::parse(
        &req.read(WriteHead::MODIFY_LEN as u64).await?,
        true,
        pkg_len,
    )?;
    let offset = head.offset.unwrap_or(0);
    let name = parse_name(&req.read(head.name_len).await?)?;
    let _guard = ctx.store.write_lock(&name).lock().await;
    let (mut file, old_size) = open_rw(ctx, &name).await?;
    if offset > old_size {
        return Err(CmdError::Status(status::EINVAL));
    }
    let grows = (offset + head.file_size).saturating_sub(old_size);
    ctx.store.check_room(name.store_path as usize, grows)?;
    let snap = snapshot(ctx, &name).await?;
    write_at(req, &mut file, offset, head.file_size, old_size).await?;
    let pos = ctx.log(
        Op::Modify {
            offset,
            length: head.file_size,
        },
        &name.to_string(),
    )?;
    if let Err(e) = ctx.replicated(pos).await {
        undo(ctx, &name, snap).await?;
        return Err(e);
    }
    discard(snap).await;
    req.reply(&[]).await?;
    Ok(head.file_size)
}

/// Sets an appender file's size (shrinking or extending with zeros).
pub(crate) async fn truncate(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, CmdError> {
    let body = req.read_all().await?;
    let t = Truncate::parse(&body)?;
    if !t.name.is_appender() {
        return Err(CmdError::Status(status::EINVAL));
    }
    let _guard = ctx.store.write_lock(&t.name).lock().await;
    let (file, old_size) = open_rw(ctx, &t.name).await?;
    if t.new_size != old_size {
        if t.new_size > old_size {
            ctx.store
                .check_room(t.name.store_path as usize, t.new_size - old_size)?;
        }
        let snap = snapshot(ctx, &t.name).await?;
        file.set_len(t.new_size).await.map_err(disk)?;
        let pos = ctx.log(
            Op::Truncate {
                old_size,
                new_size: t.new_size,
            },
            &t.name.to_string(),
        )?;
        if let Err(e) = ctx.replicated(pos).await {
            undo(ctx, &t.name, snap).await?;
            return Err(e);
        }
        discard(snap).await;
    }
    req.reply(&[]).await?;
    Ok(0)
}

/// With `min_copies`, an in-place change (modify, truncate) starts from a
/// copy of the file, so a change too few members applied can be undone.
/// The copy's name starts with a dot: no file ID reaches it.
async fn snapshot(ctx: &Ctx, name: &LogicalName) -> Result<Option<PathBuf>, CmdError> {
    if ctx.cfg.min_copies <= 1 {
        return Ok(None);
    }
    let path = ctx.data_path(name)?;
    let copy = path.with_file_name(format!(".{}.undo", name.name));
    tokio::fs::copy(&path, &copy).await.map_err(disk)?;
    Ok(Some(copy))
}

/// Puts the pre-change copy back and logs it as a whole-file create, so
/// peers that applied the change get the old content again.
async fn undo(ctx: &Ctx, name: &LogicalName, snap: Option<PathBuf>) -> Result<(), CmdError> {
    let Some(copy) = snap else { return Ok(()) };
    tokio::fs::rename(&copy, ctx.data_path(name)?)
        .await
        .map_err(disk)?;
    ctx.log(Op::Create, &name.to_string())?;
    Ok(())
}

async fn discard(snap: Option<PathBuf>) {
    if let Some(copy) = snap {
        let _ = tokio::fs::remove_file(copy).await;
    }
}
