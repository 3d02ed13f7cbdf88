//! DELETE_FILE (12): removes the data file and its `-m` metadata file.

use std::io;

use ferrodfs_proto::storage_req::GroupName;

use super::{check_group, disk, CmdError, Request};
use crate::binlog::Op;
use crate::ctx::Ctx;

pub(crate) async fn delete(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, CmdError> {
    let file = GroupName::parse(&req.read_all().await?)?;
    check_group(ctx, &file.group)?;
    let path = ctx.data_path(&file.name)?;
    tokio::fs::remove_file(&path).await.map_err(disk)?;
    let name = file.name.to_string();
    let mut pos = ctx.log(Op::Delete, &name)?;
    let mut meta = path.into_os_string();
    meta.push("-m");
    match tokio::fs::remove_file(&meta).await {
        Ok(()) => pos = ctx.log(Op::Delete, &format!("{name}-m"))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("deleted {name} but not its metadata file: {e}"),
    }
    ctx.replicated(pos).await?;
    req.reply(&[]).await?;
    Ok(0)
}
