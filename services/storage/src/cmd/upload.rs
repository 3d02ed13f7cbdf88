//! UPLOAD_FILE (11), UPLOAD_APPENDER_FILE (23) and UPLOAD_SLAVE_FILE (21):
//! a file up to 256 KiB bound for the page cache is received whole and
//! created under its FastDFS name by its store path's writer (the CRC32 in
//! the name is known first); any other is received into a temp file while
//! computing the CRC32, then published under the name with one rename
//! (storage_service.c, upload naming).

use ferrodfs_proto::file_id::{FileInfo, Source};
use ferrodfs_proto::storage_req::{encode_upload_reply, SlaveHead, UploadHead};

use super::{disk, Error, Request};
use crate::binlog::Op;
use crate::ctx::Ctx;

/// Files up to this size are received into memory and written in one
/// go; larger ones stream to a temp file (FastDFS's buffer is 256 KiB too).
const IN_MEMORY_MAX: u64 = 256 << 10;

/// Uploads a normal or appender file; replies `group(16) + Mxx/HH/HH/name`.
pub(crate) async fn upload(ctx: &Ctx, req: &mut Request<'_>, appender: bool) -> Result<u64, Error> {
    let pkg_len = req.header.pkg_len;
    // A small file's head and body are read together (one read when they
    // arrived together); a larger one's body streams to a temp file.
    let whole = pkg_len <= UploadHead::LEN as u64 + IN_MEMORY_MAX;
    let mut body = req
        .read(if whole {
            pkg_len
        } else {
            UploadHead::LEN as u64
        })
        .await?;
    let head = UploadHead::parse(&body[..UploadHead::LEN.min(body.len())], pkg_len)?;
    body.drain(..UploadHead::LEN);
    if head.file_size > ctx.cfg.max_body_size {
        return Err(Error::Invalid("file larger than max_body_size"));
    }
    let idx = ctx.store.choose(head.store_path_index)?;
    ctx.store.check_room(idx, head.file_size)?;

    let size = head.file_size;
    let created = crate::clock::unix_now() as u32;
    let durable = ctx.cfg.fsync_after_write;
    // The name's info, once the content's CRC is known.
    let info = move |crc: u32| {
        move |ip: Source, rng: &mut rand::rngs::ThreadRng| {
            if appender {
                FileInfo::appender(ip, created, rng)
            } else {
                FileInfo::normal(ip, created, size, crc, rng)
            }
        }
    };
    let (name, pos) = if whole && !durable {
        // Small files: received whole, then written, named and logged by
        // the store path's writer thread, in one trip off the runtime.
        let crc = crc32fast::hash(&body);
        let (name, pos) = ctx
            .writers
            .write_new(idx, body, head.ext.clone(), Box::new(info(crc)))
            .await?;
        ctx.logged(pos);
        (name, pos)
    } else {
        let name = if whole {
            // Durable small files: written, synced and named in one trip
            // to the blocking pool, where concurrent fsyncs overlap.
            let crc = crc32fast::hash(&body);
            ctx.store
                .write_new(idx, body, durable, head.ext.clone(), info(crc))
                .await?
        } else {
            let mut tmp = ctx.store.temp_file(idx, None).await.map_err(disk)?;
            let crc = req.body_to_file(tmp.file(), size).await?;
            tmp.finish(durable).await.map_err(disk)?;
            ctx.store
                .place_new(idx, tmp, head.ext.clone(), durable, info(crc))
                .await?
        };
        let pos = ctx.log(Op::Create, &name.to_string()).await?;
        (name, pos)
    };
    let text = name.to_string();
    replicated_or_undo(ctx, pos, &text).await?;
    tracing::debug!("uploaded {}/{text} ({size} bytes)", ctx.cfg.group_name);
    req.reply(&encode_upload_reply(&ctx.cfg.group_name, &name))
        .await?;
    Ok(size)
}

/// Uploads a slave file beside its master (which must be here), named as
/// FastDFS names it: the master's name up to its extension's dot, the
/// prefix, then `.ext` (none for an empty `ext`); see [`LogicalName::slave`].
///
/// [`LogicalName::slave`]: ferrodfs_proto::file_id::LogicalName::slave
pub(crate) async fn upload_slave(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let pkg_len = req.header.pkg_len;
    let head = SlaveHead::parse(&req.read(SlaveHead::LEN as u64).await?, pkg_len)?;
    let master = head.master(&req.read(head.master_len).await?)?;
    if head.file_size > ctx.cfg.max_body_size {
        return Err(Error::Invalid("file larger than max_body_size"));
    }
    let master_path = ctx.data_path(&master)?;
    let slave = master.slave(&head.prefix, &head.ext)?;
    let slave_path = ctx.data_path(&slave)?;
    let (master_is_file, slave_exists) = tokio::task::spawn_blocking({
        let slave_path = slave_path.clone();
        move || (master_path.is_file(), slave_path.exists())
    })
    .await
    .map_err(|_| Error::Task("looking up the master and slave files"))?;
    if !master_is_file {
        return Err(Error::NotFound);
    }
    if slave_exists {
        return Err(Error::Exists);
    }
    let idx = master.store_path as usize;
    ctx.store.check_room(idx, head.file_size)?;

    let durable = ctx.cfg.fsync_after_write;
    let placed = if head.file_size <= IN_MEMORY_MAX {
        let body = req.read(head.file_size).await?;
        ctx.store.write_at(slave_path, body, durable).await
    } else {
        let mut tmp = ctx
            .store
            .temp_file(idx, Some(&slave_path))
            .await
            .map_err(disk)?;
        req.body_to_file(tmp.file(), head.file_size).await?;
        tmp.finish(durable).await.map_err(disk)?;
        tmp.place(slave_path, durable).await
    };
    placed.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::Exists,
        _ => disk(e),
    })?;
    let text = slave.to_string();
    let pos = ctx.log(Op::Create, &text).await?;
    replicated_or_undo(ctx, pos, &text).await?;
    req.reply(&encode_upload_reply(&ctx.cfg.group_name, &slave))
        .await?;
    Ok(head.file_size)
}

/// Synchronous replication for a new file: when too few members got it
/// in time, the file is deleted again (here and, through the binlog, on
/// the members that did get it) so no ID the client never received
/// stays visible anywhere.
async fn replicated_or_undo(ctx: &Ctx, pos: crate::binlog::Pos, name: &str) -> Result<(), Error> {
    let Err(e) = ctx.replicated(pos).await else {
        return Ok(());
    };
    if let Ok(path) = ctx.data_path(&ferrodfs_proto::file_id::LogicalName::parse(name)?) {
        if tokio::fs::remove_file(&path).await.is_ok() {
            let _ = ctx.log(Op::Delete, name).await;
        }
    }
    Err(e)
}
