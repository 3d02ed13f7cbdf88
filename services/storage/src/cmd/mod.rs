//! Client commands, one file per group. Each handler reads its body
//! through [`Request`], does its work and sends the success reply itself
//! (downloads stream); failures come back as [`CmdError`] and the
//! connection loop answers them.

mod appender;
mod delete;
mod download;
mod metadata;
mod query;
mod regenerate;
mod upload;

use std::io;
use std::time::Duration;

use ferrodfs_proto::fields::FieldError;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::{cmd, status};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::ctx::Ctx;
use crate::server::Conn;
use crate::store::disk_status;

/// Non-streaming bodies (delete, metadata, queries) must fit in this; FastDFS
/// bounds them by its 256 KiB network buffer too.
pub(crate) const SMALL_BODY_MAX: u64 = 1 << 20;
const CHUNK: usize = 256 << 10;

#[derive(Debug)]
pub(crate) enum CmdError {
    /// Answer with this status byte.
    Status(u8),
    /// A command this storage does not serve: EINVAL, but the connection
    /// survives if its body can be skipped.
    Unsupported,
    /// The client connection failed (gone, timed out): nothing to answer.
    Conn(io::Error),
}

impl From<FieldError> for CmdError {
    fn from(_: FieldError) -> Self {
        CmdError::Status(status::EINVAL)
    }
}

impl From<u8> for CmdError {
    fn from(st: u8) -> Self {
        CmdError::Status(st)
    }
}

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

/// A disk error as the status the client sees.
pub(crate) fn disk(e: io::Error) -> CmdError {
    CmdError::Status(disk_status(&e))
}

/// One request on a connection: its header and the body still unread.
pub(crate) struct Request<'a> {
    stream: &'a mut TcpStream,
    pub header: Header,
    remaining: u64,
    timeout: Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl<'a> Request<'a> {
    pub fn new(stream: &'a mut TcpStream, header: Header, timeout: Duration) -> Self {
        Request {
            stream,
            header,
            remaining: header.pkg_len,
            timeout,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Body bytes not read yet.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    async fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, CmdError> {
        let read = ferrodfs_runtime::net::read_acked(self.stream, buf);
        let n = match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(0)) => return Err(CmdError::Conn(io::ErrorKind::UnexpectedEof.into())),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(CmdError::Conn(e)),
            Err(_) => return Err(CmdError::Conn(io::ErrorKind::TimedOut.into())),
        };
        self.remaining -= n as u64;
        self.bytes_in += n as u64;
        Ok(n)
    }

    /// Reads exactly `n` body bytes; EINVAL if the body is shorter.
    /// The buffer grows with what arrives: a declared length costs no
    /// memory before its bytes are here.
    pub async fn read(&mut self, n: u64) -> Result<Vec<u8>, CmdError> {
        if n > self.remaining || n > SMALL_BODY_MAX {
            return Err(CmdError::Status(status::EINVAL));
        }
        let n = n as usize;
        let mut buf = Vec::with_capacity(n.min(CHUNK));
        while buf.len() < n {
            let start = buf.len();
            buf.resize(start + (n - start).min(CHUNK), 0);
            let got = self.read_some(&mut buf[start..]).await?;
            buf.truncate(start + got);
        }
        Ok(buf)
    }

    /// Reads the whole (small) body; EINVAL if it is over [`SMALL_BODY_MAX`].
    pub async fn read_all(&mut self) -> Result<Vec<u8>, CmdError> {
        self.read(self.remaining).await
    }

    /// Streams the next `n` body bytes into `file`, returning their CRC32.
    /// Socket failures are `Conn`, disk failures their status.
    pub async fn body_to_file(
        &mut self,
        file: &mut tokio::fs::File,
        n: u64,
    ) -> Result<u32, CmdError> {
        if n > self.remaining {
            return Err(CmdError::Status(status::EINVAL));
        }
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; CHUNK.min(n as usize).max(1)];
        let mut left = n;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let got = self.read_some(&mut buf[..want]).await?;
            crc.update(&buf[..got]);
            file.write_all(&buf[..got]).await.map_err(disk)?;
            left -= got as u64;
        }
        Ok(crc.finalize())
    }

    /// Reads and discards the rest of the body, keeping the connection in
    /// step after a refusal.
    pub async fn drain(&mut self) -> Result<(), CmdError> {
        let mut buf = vec![0u8; CHUNK.min(self.remaining as usize).max(1)];
        while self.remaining > 0 {
            let want = buf.len().min(self.remaining as usize);
            self.read_some(&mut buf[..want]).await?;
        }
        Ok(())
    }

    /// Sends a success reply with `body`, header and body in one write.
    pub async fn reply(&mut self, body: &[u8]) -> Result<(), CmdError> {
        self.send(Header::response(status::OK, body.len() as u64), body)
            .await
    }

    pub async fn send(&mut self, header: Header, body: &[u8]) -> Result<(), CmdError> {
        let fut = ferrodfs_proto::io::send(&mut *self.stream, header, body);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(())) => {
                self.bytes_out += body.len() as u64;
                Ok(())
            }
            Ok(Err(e)) => Err(CmdError::Conn(io::Error::other(e))),
            Err(_) => Err(CmdError::Conn(io::ErrorKind::TimedOut.into())),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.stream
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Runs one request. `Ok` carries the file bytes moved, for the stats.
pub(crate) async fn dispatch(
    ctx: &Ctx,
    req: &mut Request<'_>,
    conn: &mut Conn,
) -> Result<u64, CmdError> {
    match req.header.cmd {
        cmd::AUTH_HELLO => {
            let body = req.read_all().await?;
            let reply = conn.auth.hello(Some(&ctx.cfg.cluster_secret), &body)?;
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
                return Err(st.into());
            }
            req.reply(&[]).await?;
            Ok(0)
        }
        cmd::SYNC_PUSH if !conn.auth.is_done() => {
            tracing::warn!(
                "sync push from {} refused: the connection has not authenticated with the cluster secret",
                conn.peer
            );
            Err(CmdError::Status(status::EACCES))
        }
        cmd::SYNC_PUSH => crate::sync::apply::push(ctx, req, conn.peer.ip()).await,
        cmd::SCRUB if !conn.auth.is_done() => {
            tracing::warn!(
                "scrub request from {} refused: the connection has not authenticated with the cluster secret",
                conn.peer
            );
            Err(CmdError::Status(status::EACCES))
        }
        cmd::SCRUB => {
            if req.remaining() != 0 {
                return Err(CmdError::Status(status::EINVAL));
            }
            let report = ctx
                .scrub
                .run_pass(ctx, ctx.cfg.scrub_rate)
                .await
                .map_err(|e| {
                    tracing::error!("scrub pass failed: {e:#}");
                    CmdError::Status(status::EIO)
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
                return Err(CmdError::Status(status::EINVAL));
            }
            req.reply(&[]).await?;
            Ok(0)
        }
        _ => Err(CmdError::Unsupported),
    }
}

/// Refuses a file of another group, as FastDFS does (EINVAL).
pub(crate) fn check_group(ctx: &Ctx, group: &str) -> Result<(), CmdError> {
    if group == ctx.cfg.group_name {
        Ok(())
    } else {
        Err(CmdError::Status(status::EINVAL))
    }
}
