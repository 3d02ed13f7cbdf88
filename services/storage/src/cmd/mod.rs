//! Client commands, one file per group. Each handler reads its body
//! through [`Request`], does its work and sends the success reply itself
//! (downloads stream); failures come back as [`Error`] and the
//! connection loop answers them.

mod appender;
mod delete;
mod download;
mod metadata;
mod query;
mod regenerate;
mod upload;

use std::io;

use ferrodfs_proto::cmd;

use crate::ctx::Ctx;
use crate::error::{disk, Error};
use crate::request::CHUNK;
use crate::request::{Conn, Request};

/// The metadata file beside a data file: its name plus `-m`, as FastDFS.
pub(crate) fn meta_path(data: &std::path::Path) -> std::path::PathBuf {
    let mut p = data.as_os_str().to_owned();
    p.push("-m");
    std::path::PathBuf::from(p)
}

/// Size and CRC32 of what is left to read in `f` (blocking: call it from
/// spawn_blocking), for names that do not carry the content's CRC. Once
/// `cancel` is set it stops with `Interrupted`.
pub(crate) fn size_and_crc(
    f: &mut std::fs::File,
    cancel: Option<&std::sync::atomic::AtomicBool>,
) -> io::Result<(u64, u32)> {
    use std::io::Read;
    let mut h = crc32fast::Hasher::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((size, h.finalize()));
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
}

/// Runs one client request (peer sync commands go to [`crate::sync`]).
/// `Ok` carries the file bytes moved, for the stats.
pub(crate) async fn dispatch(
    ctx: &Ctx,
    req: &mut Request<'_>,
    conn: &mut Conn,
) -> Result<u64, Error> {
    match req.header.cmd {
        cmd::AUTH_HELLO => {
            let body = req.read_all().await?;
            let reply = conn
                .auth
                .hello(Some(&ctx.cfg.cluster_secret), &body)
                .map_err(Error::handshake)?;
            req.reply(&reply).await?;
            Ok(0)
        }
        cmd::AUTH_PROOF => {
            let body = req.read_all().await?;
            if let Err(st) = conn.auth.proof(Some(&ctx.cfg.cluster_secret), &body) {
                tracing::warn!(
                    "{} failed cluster authentication: its cluster_secret differs",
                    conn.peer
                );
                return Err(Error::handshake(st));
            }
            req.reply(&[]).await?;
            Ok(0)
        }
        cmd::SCRUB if !conn.auth.is_done() => {
            tracing::warn!(
                "scrub request from {} refused: the connection has not authenticated with the cluster secret",
                conn.peer
            );
            Err(Error::Denied("scrub needs an authenticated connection"))
        }
        cmd::SCRUB => {
            if req.remaining() != 0 {
                return Err(Error::Invalid("SCRUB takes no body"));
            }
            let report = crate::repair::run_pass(ctx, ctx.cfg.scrub_rate)
                .await
                .map_err(|e| {
                    tracing::error!("scrub pass failed: {e:#}");
                    Error::Scrub(e)
                })?;
            let json = serde_json::to_vec(&report).expect("ScrubReport serializes");
            req.reply(&json).await?;
            Ok(0)
        }
        cmd::UPLOAD_FILE => upload::upload(ctx, req, false).await,
        cmd::UPLOAD_APPENDER_FILE => upload::upload(ctx, req, true).await,
        cmd::UPLOAD_SLAVE_FILE => upload::upload_slave(ctx, req).await,
        cmd::APPEND_FILE => appender::append(ctx, req).await,
        cmd::MODIFY_FILE => appender::modify(ctx, req).await,
        cmd::TRUNCATE_FILE => appender::truncate(ctx, req).await,
        cmd::REGENERATE_APPENDER_FILENAME => regenerate::regenerate(ctx, req).await,
        cmd::DELETE_FILE => delete::delete(ctx, req).await,
        cmd::DOWNLOAD_FILE => download::download(ctx, req).await,
        cmd::SET_METADATA => metadata::set(ctx, req).await,
        cmd::GET_METADATA => metadata::get(ctx, req).await,
        cmd::QUERY_FILE_INFO => query::file_info(ctx, req).await,
        cmd::ACTIVE_TEST => {
            if req.remaining() != 0 {
                return Err(Error::Invalid("ACTIVE_TEST takes no body"));
            }
            req.reply(&[]).await?;
            Ok(0)
        }
        _ => Err(Error::Unsupported),
    }
}

/// Refuses a file of another group, as FastDFS does (EINVAL).
pub(crate) fn check_group(ctx: &Ctx, group: &str) -> Result<(), Error> {
    if group == ctx.cfg.group_name {
        Ok(())
    } else {
        Err(Error::Invalid("file of another group"))
    }
}
