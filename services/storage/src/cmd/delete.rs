//! DELETE_FILE (12): removes the data file and its `-m` metadata file.
//! Both are first moved to `deleting` holding files ([`crate::hold`]) and
//! the delete is logged; they are removed once enough members applied it
//! (`min_copies`), data file first, or put back (and re-announced to the
//! peers) when that times out. A crash before the reply puts them back
//! at start, so a delete is either acknowledged or undone everywhere.

use std::io;

use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::storage_req::GroupName;

use super::{check_group, disk, meta_path, Error, Request};
use crate::binlog::Op;
use crate::ctx::Ctx;
use crate::hold::Kind;

pub(crate) async fn delete(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let file = GroupName::parse(&req.read_all().await?)?;
    check_group(ctx, &file.group)?;
    let path = ctx.data_path(&file.name)?;
    let name = file.name.to_string();
    let meta = meta_path(&path);
    let meta_name = LogicalName {
        name: format!("{}-m", file.name.name),
        ..file.name.clone()
    };
    let held_path = |n: &LogicalName| {
        ctx.store
            .hold_path(n, Kind::Deleting)
            .ok_or(Error::Invalid("store path not ours"))
    };
    let (held, held_meta) = (held_path(&file.name)?, held_path(&meta_name)?);

    // Writers of this file (SET_METADATA above all) wait for the moves
    // and the records, so none of them finds the data file and then
    // writes beside a delete; not for min_copies.
    let guard = ctx.store.write_lock(&file.name).await;
    // Both moves in one trip to the blocking pool.
    let had_meta = {
        let (path, held, meta, held_meta) =
            (path.clone(), held.clone(), meta.clone(), held_meta.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::rename(&path, &held)?;
            match std::fs::rename(&meta, &held_meta) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => {
                    let _ = std::fs::rename(&held, &path);
                    Err(e)
                }
            }
        })
        .await
        .map_err(|_| Error::Task("moving the file aside"))?
        .map_err(disk)?
    };
    let logged = match ctx.log(Op::Delete, &name).await {
        Ok(_) if had_meta => ctx.log(Op::Delete, &format!("{name}-m")).await,
        other => other,
    };
    drop(guard);
    let outcome = match logged {
        Ok(pos) => ctx.replicated(pos).await,
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        // Not enough members applied it: the file comes back here, and the
        // create records bring it back on the peers that did delete it.
        let _guard = ctx.store.write_lock(&file.name).await;
        tokio::fs::rename(&held, &path).await.map_err(disk)?;
        ctx.log(Op::Create, &name).await?;
        if had_meta {
            tokio::fs::rename(&held_meta, &meta).await.map_err(disk)?;
            ctx.log(Op::Create, &format!("{name}-m")).await?;
        }
        return Err(e);
    }
    // The data file goes first: a held metadata file without its data
    // file tells start-up that this delete finished.
    let (store, idx) = (ctx.store.clone(), file.name.store_path as usize);
    tokio::task::spawn_blocking(move || {
        store.release_deleted(idx, &held);
        if had_meta {
            store.release_deleted(idx, &held_meta);
        }
    })
    .await
    .map_err(|_| Error::Task("removing the deleted file"))?;
    req.reply(&[]).await?;
    Ok(0)
}
