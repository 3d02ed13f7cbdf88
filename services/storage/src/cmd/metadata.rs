//! SET_METADATA (13) and GET_METADATA (15): the `<data file>-m` side file
//! in FastDFS's format (items sorted by name, `\x01` / `\x02` separators).

use std::io;
use std::path::{Path, PathBuf};

use ferrodfs_proto::meta;
use ferrodfs_proto::storage_req::{GroupName, MetaFlag, SetMeta};

use super::{check_group, disk, meta_path, Error, Request};
use crate::binlog::Op;
use crate::ctx::Ctx;

/// The data file must exist (ENOENT otherwise); returns its path.
async fn existing_data(ctx: &Ctx, file: &GroupName) -> Result<PathBuf, Error> {
    check_group(ctx, &file.group)?;
    let path = ctx.data_path(&file.name)?;
    let m = tokio::fs::metadata(&path).await.map_err(disk)?;
    if !m.is_file() {
        return Err(Error::NotFound);
    }
    Ok(path)
}

async fn read_meta(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match tokio::fs::read(path).await {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Overwrite replaces all items (an empty list deletes the file); merge
/// keeps existing items and lets new values win. Binlog: C for a new
/// metadata file, U for a rewritten one, D for a removed one.
pub(crate) async fn set(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let sm = SetMeta::parse(&req.read_all().await?)?;
    let data = existing_data(ctx, &sm.file).await?;
    // Serialise with other writers of this file so merges do not race.
    let guard = ctx.store.write_lock(&sm.file.name).await;
    let path = meta_path(&data);
    let log_name = format!("{}-m", sm.file.name);
    let old = read_meta(&path).await.map_err(disk)?;
    let items = match sm.flag {
        MetaFlag::Overwrite => meta::decode(&sm.meta),
        MetaFlag::Merge => meta::merge(
            meta::decode(old.as_deref().unwrap_or_default()),
            meta::decode(&sm.meta),
        ),
    };
    let mut pos = None;
    if items.is_empty() {
        if old.is_some() {
            tokio::fs::remove_file(&path).await.map_err(disk)?;
            pos = Some(ctx.log(Op::Delete, &log_name).await?);
        }
    } else {
        write_meta(ctx, &path, meta::encode(&items)).await?;
        pos = Some(
            ctx.log(
                if old.is_some() {
                    Op::Update
                } else {
                    Op::Create
                },
                &log_name,
            )
            .await?,
        );
    }
    drop(guard);
    if let Some(pos) = pos {
        if let Err(e) = ctx.replicated(pos).await {
            restore_meta(ctx, &sm.file.name, &path, &log_name, old.as_deref()).await?;
            return Err(e);
        }
    }
    req.reply(&[]).await?;
    Ok(0)
}

/// Under `min_copies`, a change too few members applied is undone: the
/// old metadata (or its absence) comes back here and is logged again, so
/// the peers that did apply the change get the old state back too.
async fn restore_meta(
    ctx: &Ctx,
    name: &ferrodfs_proto::file_id::LogicalName,
    path: &Path,
    log_name: &str,
    old: Option<&[u8]>,
) -> Result<(), Error> {
    let _guard = ctx.store.write_lock(name).await;
    match old {
        Some(bytes) => {
            write_meta(ctx, path, bytes.to_vec()).await?;
            ctx.log(Op::Update, log_name).await?;
        }
        None => {
            match tokio::fs::remove_file(path).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(disk(e)),
            }
            ctx.log(Op::Delete, log_name).await?;
        }
    }
    Ok(())
}

/// Replies the raw metadata bytes; ENOENT both without the file and
/// without metadata, as FastDFS.
pub(crate) async fn get(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let file = GroupName::parse(&req.read_all().await?)?;
    let data = existing_data(ctx, &file).await?;
    let bytes = read_meta(&meta_path(&data))
        .await
        .map_err(disk)?
        .ok_or(Error::NotFound)?;
    req.reply(&bytes).await?;
    Ok(0)
}

/// Replaces the metadata file atomically (readers see old or new, never
/// half) through the store's temp files, which a start after a crash
/// sweeps away.
async fn write_meta(ctx: &Ctx, path: &Path, bytes: Vec<u8>) -> Result<(), Error> {
    ctx.store
        .replace_at(path.to_path_buf(), bytes, false)
        .await
        .map_err(disk)
}
