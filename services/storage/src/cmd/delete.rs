//! DELETE_FILE (12): removes the data file and its `-m` metadata file.
//! With `min_copies`, the files are first moved aside under a name no file
//! ID can reach; they are removed once enough members applied the delete,
//! or put back (and re-announced to the peers) when that times out.

use std::io;
use std::path::{Path, PathBuf};

use ferrodfs_proto::storage_req::GroupName;

use super::{check_group, disk, meta_path, CmdError, Request};
use crate::binlog::Op;
use crate::ctx::Ctx;

pub(crate) async fn delete(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, CmdError> {
    let file = GroupName::parse(&req.read_all().await?)?;
    check_group(ctx, &file.group)?;
    let path = ctx.data_path(&file.name)?;
    let name = file.name.to_string();
    let meta = meta_path(&path);
    if ctx.cfg.min_copies <= 1 {
        tokio::fs::remove_file(&path).await.map_err(disk)?;
        ctx.log(Op::Delete, &name)?;
        match tokio::fs::remove_file(&meta).await {
            Ok(()) => {
                ctx.log(Op::Delete, &format!("{name}-m"))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("deleted {name} but not its metadata file: {e}"),
        }
        req.reply(&[]).await?;
        return Ok(0);
    }

    let held = aside(&path);
    tokio::fs::rename(&path, &held).await.map_err(disk)?;
    let held_meta = aside(&meta);
    let had_meta = match tokio::fs::rename(&meta, &held_meta).await {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => {
            let _ = tokio::fs::rename(&held, &path).await;
            return Err(disk(e));
        }
    };
    let mut pos = ctx.log(Op::Delete, &name)?;
    if had_meta {
        pos = ctx.log(Op::Delete, &format!("{name}-m"))?;
    }
    if let Err(e) = ctx.replicated(pos).await {
        // Not enough members applied it: the file comes back here, and the
        // create records bring it back on the peers that did delete it.
        tokio::fs::rename(&held, &path).await.map_err(disk)?;
        ctx.log(Op::Create, &name)?;
        if had_meta {
            tokio::fs::rename(&held_meta, &meta).await.map_err(disk)?;
            ctx.log(Op::Create, &format!("{name}-m"))?;
        }
        return Err(e);
    }
    let _ = tokio::fs::remove_file(&held).await;
    if had_meta {
        let _ = tokio::fs::remove_file(&held_meta).await;
    }
    req.reply(&[]).await?;
    Ok(0)
}

/// `.<name>.deleting` beside the file: file IDs never start with a dot,
/// so neither protocol can serve it.
fn aside(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.deleting"))
}
