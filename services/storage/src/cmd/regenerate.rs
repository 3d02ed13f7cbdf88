//! REGENERATE_APPENDER_FILENAME (38, FastDFS 6.02+, `fdfs_regenerate_filename`):
//! an appender file becomes a normal file. It keeps its store path, its
//! directories and its 7-char extension segment, and gets a new 27-char
//! name from this storage, the current time, its size (with the random
//! bits of a normal file) and the CRC32 of its content; the rename is
//! logged `R <new> <old>` and replicated like any change
//! (storage_service.c, storage_server_regenerate_appender_filename).
//!
//! FastDFS leaves the appender's metadata file under the old name, where
//! no file ID reaches it any more; here it moves with the file (a second
//! `R` record), so the new file keeps its metadata and deleting it leaves
//! nothing behind.

use std::path::Path;

use ferrodfs_proto::file_id::{FileInfo, LogicalName, MAX_NAME_LEN, NORMAL_NAME_LEN};
use ferrodfs_proto::storage_req::encode_upload_reply;

use super::{appender, disk, meta_path, size_and_crc, Error, Request};
use crate::binlog::{Op, Pos};
use crate::ctx::Ctx;
use crate::store::{rename_new, NAME_ATTEMPTS};

/// Size and CRC32 of a regular file; EINVAL for anything else, as FastDFS.
fn regular_size_and_crc(path: &Path) -> Result<(u64, u32), Error> {
    let mut f = std::fs::File::open(path).map_err(disk)?;
    if !f.metadata().map_err(disk)?.is_file() {
        return Err(Error::Invalid("not a regular file"));
    }
    size_and_crc(&mut f, None).map_err(disk)
}

/// Renames the metadata file along with the data file, if there is one;
/// logs it and returns where the record ends.
async fn move_meta(ctx: &Ctx, from: &LogicalName, to: &LogicalName) -> Result<Option<Pos>, Error> {
    let (src, dst) = (
        meta_path(&ctx.data_path(from)?),
        meta_path(&ctx.data_path(to)?),
    );
    match tokio::fs::rename(&src, &dst).await {
        Ok(()) => Ok(Some(
            ctx.log(
                Op::Rename {
                    from: format!("{from}-m"),
                },
                &format!("{to}-m"),
            )
            .await?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(disk(e)),
    }
}

pub(crate) async fn regenerate(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let body = req.read_all().await?;
    if body.len() < NORMAL_NAME_LEN || body.len() > MAX_NAME_LEN {
        return Err(Error::Invalid(
            "appender file name of a length FastDFS never makes",
        ));
    }
    let old = appender::parse_name(&body)?;
    let _guard = ctx.store.write_lock(&old).await;
    let old_path = ctx.data_path(&old)?;
    let (size, crc) = {
        let p = old_path.clone();
        tokio::task::spawn_blocking(move || regular_size_and_crc(&p))
            .await
            .map_err(|_| Error::Task("reading the appender file"))??
    };
    let created = crate::clock::unix_now() as u32;
    let mut renamed = None;
    for _ in 0..NAME_ATTEMPTS {
        let new = ctx.store.sibling_name(&old, |ip, rng| {
            FileInfo::normal(ip, created, size, crc, rng)
        });
        match rename_new(old_path.clone(), ctx.data_path(&new)?).await {
            Ok(()) => {
                renamed = Some(new);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(disk(e)),
        }
    }
    let new = renamed.ok_or(Error::NoFreeName)?;
    let mut pos = ctx
        .log(
            Op::Rename {
                from: old.to_string(),
            },
            &new.to_string(),
        )
        .await?;
    pos = move_meta(ctx, &old, &new).await?.unwrap_or(pos);
    if let Err(e) = ctx.replicated(pos).await {
        // Too few members renamed it: the appender file comes back, here
        // and, through the reverse records, on the members that did.
        tokio::fs::rename(ctx.data_path(&new)?, &old_path)
            .await
            .map_err(disk)?;
        ctx.log(
            Op::Rename {
                from: new.to_string(),
            },
            &old.to_string(),
        )
        .await?;
        move_meta(ctx, &new, &old).await?;
        return Err(e);
    }
    tracing::debug!(
        "regenerated {}/{old} as {new} ({size} bytes)",
        ctx.cfg.group_name
    );
    req.reply(&encode_upload_reply(&ctx.cfg.group_name, &new))
        .await?;
    Ok(0)
}
