//! SET_METADATA (13) and GET_METADATA (15): the `<data file>-m` side file
//! in FastDFS's format (items sorted by name, `\x01` / `\x02` separators).

use std::io;
use std::path::{Path, PathBuf};

use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::meta;
use ferrodfs_proto::storage_req::{GroupName, MetaFlag, SetMeta};

use super::{check_group, disk, meta_path, Error, Request};
use crate::binlog::{Op, Pos};
use crate::ctx::Ctx;
use crate::hold::{self, Kind};

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
    // Serialise with other writers of this file so merges do not race,
    // and with a delete: the data file is looked for under the lock, so
    // no metadata file outlives a delete that came first.
    let guard = ctx.store.write_lock(&sm.file.name).await;
    let data = existing_data(ctx, &sm.file).await?;
    let path = meta_path(&data);
    let old = read_meta(&path).await.map_err(disk)?;
    let items = match sm.flag {
        MetaFlag::Overwrite => meta::decode(&sm.meta),
        MetaFlag::Merge => meta::merge(
            meta::decode(old.as_deref().unwrap_or_default()),
            meta::decode(&sm.meta),
        ),
    };
    let new = (!items.is_empty()).then(|| meta::encode(&items));
    let pos = change(ctx, &sm.file.name, &path, old.is_some(), new.clone()).await?;
    drop(guard);
    if let Some(pos) = pos {
        if let Err(e) = ctx.replicated(pos).await {
            restore_meta(ctx, &sm.file.name, &path, old, new).await?;
            return Err(e);
        }
    }
    req.reply(&[]).await?;
    Ok(0)
}

/// Puts `new` in place of the metadata file of `name` (`None`: removes
/// it) and logs the change: C for a new file, U for a rewritten one, D
/// for a removed one; `None` when there was nothing to change. An intent
/// holding file covers the time between the change and its record, so a
/// crash in between is announced to the group at the next start
/// ([`hold::recover`]) instead of leaving members with different
/// metadata.
async fn change(
    ctx: &Ctx,
    name: &LogicalName,
    path: &Path,
    existed: bool,
    new: Option<Vec<u8>>,
) -> Result<Option<Pos>, Error> {
    let op = match (&new, existed) {
        (None, false) => return Ok(None),
        (None, true) => Op::Delete,
        (Some(_), true) => Op::Update,
        (Some(_), false) => Op::Create,
    };
    let meta_name = LogicalName {
        name: format!("{}-m", name.name),
        ..name.clone()
    };
    let intent = ctx
        .store
        .hold_path(&meta_name, Kind::Intent)
        .ok_or(Error::Invalid("store path not ours"))?;
    hold::write_intent(&intent, &meta_name, op.clone())
        .await
        .map_err(disk)?;
    let changed = match new {
        Some(bytes) => write_meta(ctx, path, bytes).await,
        None => match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(disk(e)),
        },
    };
    let logged = match changed {
        Ok(()) => ctx.log(op, &meta_name.to_string()).await,
        Err(e) => Err(e),
    };
    // A failed change or record keeps the intent: the next start
    // announces what the disk holds.
    if logged.is_ok() {
        hold::release(&intent).await;
    }
    logged.map(Some)
}

/// Under `min_copies`, a change too few members applied is undone: the
/// old metadata (or its absence) comes back here and is logged again, so
/// the peers that did apply the change get the old state back too. Not
/// if a later change (acknowledged, maybe) replaced `written` meanwhile.
async fn restore_meta(
    ctx: &Ctx,
    name: &LogicalName,
    path: &Path,
    old: Option<Vec<u8>>,
    written: Option<Vec<u8>>,
) -> Result<(), Error> {
    let _guard = ctx.store.write_lock(name).await;
    if read_meta(path).await.map_err(disk)? != written {
        return Ok(());
    }
    // Deleted meanwhile: its metadata went with it.
    if !tokio::fs::try_exists(ctx.data_path(name)?)
        .await
        .map_err(disk)?
    {
        return Ok(());
    }
    // Logged as a change whatever the file holds now: peers may differ.
    change(ctx, name, path, true, old).await?;
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
