//! QUERY_FILE_INFO (22): size and time from the disk, CRC32 and source
//! from the name (storage_service.c, storage_server_query_file_info).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ferrodfs_proto::file_id::Source;
use ferrodfs_proto::storage_req::{FileInfoReply, GroupName};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::{check_group, disk, size_and_crc, Error, Request};
use crate::ctx::Ctx;

/// Request status bit (FastDFS 6.15.1+): the client does not want the CRC
/// computed for appender and slave files.
const NO_CRC32: u8 = 1;

/// CRC computations running at once: each may read a whole (large,
/// perhaps sparse) appender file, so a flood of queries cannot take every
/// core or every blocking thread.
static CRC_SLOTS: Semaphore = Semaphore::const_new(2);

/// The CRC32 of a whole file, read off the runtime; stops early (with
/// `Interrupted`) once `cancel` is set.
fn crc_of(path: &std::path::Path, cancel: &AtomicBool) -> std::io::Result<u32> {
    let mut f = std::fs::File::open(path)?;
    Ok(size_and_crc(&mut f, Some(cancel))?.1)
}

/// Resolves when the client has closed its side (or the socket failed);
/// a client that already sent its next request is still there.
async fn client_left(stream: &TcpStream) {
    let mut b = [0u8; 1];
    match stream.peek(&mut b).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// The CRC of an appender or slave file, computed for as long as the
/// client waits for it.
async fn crc_while_connected(req: &mut Request<'_>, path: PathBuf) -> Result<u32, Error> {
    let _slot = CRC_SLOTS
        .acquire()
        .await
        .map_err(|_| Error::Task("waiting for a CRC slot"))?;
    let cancel = Arc::new(AtomicBool::new(false));
    let task = tokio::task::spawn_blocking({
        let cancel = cancel.clone();
        move || crc_of(&path, &cancel)
    });
    tokio::select! {
        r = task => r.map_err(|_| Error::Task("computing the CRC32"))?.map_err(disk),
        _ = client_left(req.stream()) => {
            cancel.store(true, Ordering::Relaxed);
            Err(Error::Conn(std::io::ErrorKind::ConnectionAborted.into()))
        }
    }
}

pub(crate) async fn file_info(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let flags = req.header.status;
    let file = GroupName::parse(&req.read_all().await?)?;
    check_group(ctx, &file.group)?;
    let info = file
        .name
        .info()
        .ok_or(Error::Invalid("the name carries no file info"))?;
    let path = ctx.data_path(&file.name)?;
    let meta = tokio::fs::metadata(&path).await.map_err(disk)?;
    if !meta.is_file() {
        return Err(Error::IsDir);
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    // Appender and slave names do not carry the content's CRC.
    let crc32 = if !file.name.is_slave() && !file.name.is_appender() {
        info.crc32
    } else if flags & NO_CRC32 != 0 {
        0
    } else {
        crc_while_connected(req, path).await?
    };
    // A storage id is looked up among the members, as FastDFS looks it
    // up in storage_ids.conf.
    let source_ip = match info.source {
        Source::Ip(ip) => ip.to_string(),
        Source::Id(_) => {
            let members = ctx.members.read().unwrap_or_else(|e| e.into_inner());
            crate::http::source::source_addr(&members, info.source, 0)
                .map(|(ip, _)| ip.to_string())
                .unwrap_or_default()
        }
    };
    let reply = FileInfoReply {
        size: meta.len(),
        create_time: mtime,
        crc32,
        source_ip,
    };
    req.reply(&reply.encode(ctx.cfg.response_ip_addr_size))
        .await?;
    Ok(0)
}
