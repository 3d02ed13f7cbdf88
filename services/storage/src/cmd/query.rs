//! QUERY_FILE_INFO (22): size and time from the disk, CRC32 and source
//! from the name (storage_service.c, storage_server_query_file_info).

use ferrodfs_proto::file_id::Source;
use ferrodfs_proto::status;
use ferrodfs_proto::storage_req::{FileInfoReply, GroupName};

use super::{check_group, disk, size_and_crc, CmdError, Request};
use crate::ctx::Ctx;

/// Request status bit (FastDFS 6.15.1+): the client does not want the CRC
/// computed for appender and slave files.
const NO_CRC32: u8 = 1;

fn crc_of(path: &std::path::Path) -> std::io::Result<u32> {
    Ok(size_and_crc(&mut std::fs::File::open(path)?)?.1)
}

pub(crate) async fn file_info(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, CmdError> {
    let flags = req.header.status;
    let file = GroupName::parse(&req.read_all().await?)?;
    check_group(ctx, &file.group)?;
    let info = file.name.info().ok_or(CmdError::Status(status::EINVAL))?;
    let path = ctx.data_path(&file.name)?;
    let meta = tokio::fs::metadata(&path).await.map_err(disk)?;
    if !meta.is_file() {
        return Err(CmdError::Status(status::EISDIR));
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
        tokio::task::spawn_blocking(move || crc_of(&path))
            .await
            .map_err(|_| CmdError::Status(status::EIO))?
            .map_err(disk)?
    };
    let source_ip = match info.source {
        Source::Ip(ip) => ip.to_string(),
        Source::Id(id) => id.to_string(),
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
