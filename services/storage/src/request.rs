//! One request on a client connection: its header, its body read on
//! demand with the connection's deadline, and the reply; plus what the
//! connection has established so far ([`Conn`]).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ferrodfs_proto::auth::ServerAuth;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::status;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::error::{disk, Error};

/// Non-streaming bodies (delete, metadata, queries) must fit in this; FastDFS
/// bounds them by its 256 KiB network buffer too.
pub(crate) const SMALL_BODY_MAX: u64 = 1 << 20;
pub(crate) const CHUNK: usize = 256 << 10;

/// What one connection has established: where it comes from and
/// whether it proved the cluster secret (sync pushes need both).
pub(crate) struct Conn {
    pub peer: SocketAddr,
    pub auth: ServerAuth,
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

    async fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let read = ferrodfs_runtime::net::read_acked(self.stream, buf);
        let n = match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(0)) => return Err(Error::Conn(io::ErrorKind::UnexpectedEof.into())),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(Error::Conn(e)),
            Err(_) => return Err(Error::Conn(io::ErrorKind::TimedOut.into())),
        };
        self.remaining -= n as u64;
        self.bytes_in += n as u64;
        Ok(n)
    }

    /// Reads exactly `n` body bytes; EINVAL if the body is shorter.
    /// The buffer grows with what arrives: a declared length costs no
    /// memory before its bytes are here.
    pub async fn read(&mut self, n: u64) -> Result<Vec<u8>, Error> {
        if n > self.remaining || n > SMALL_BODY_MAX {
            return Err(Error::Invalid("body shorter than its fields, or too large"));
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
    pub async fn read_all(&mut self) -> Result<Vec<u8>, Error> {
        self.read(self.remaining).await
    }

    /// Streams the next `n` body bytes into `file`, returning their CRC32.
    /// Socket failures are `Conn`, disk failures their status.
    pub async fn body_to_file(&mut self, file: &mut tokio::fs::File, n: u64) -> Result<u32, Error> {
        if n > self.remaining {
            return Err(Error::Invalid("body shorter than its fields"));
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
    pub async fn drain(&mut self) -> Result<(), Error> {
        let mut buf = vec![0u8; CHUNK.min(self.remaining as usize).max(1)];
        while self.remaining > 0 {
            let want = buf.len().min(self.remaining as usize);
            self.read_some(&mut buf[..want]).await?;
        }
        Ok(())
    }

    /// Sends a success reply with `body`, header and body in one write.
    pub async fn reply(&mut self, body: &[u8]) -> Result<(), Error> {
        self.send(Header::response(status::OK, body.len() as u64), body)
            .await
    }

    pub async fn send(&mut self, header: Header, body: &[u8]) -> Result<(), Error> {
        let fut = ferrodfs_proto::io::send(&mut *self.stream, header, body);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(())) => {
                self.bytes_out += body.len() as u64;
                Ok(())
            }
            Ok(Err(e)) => Err(Error::Conn(io::Error::other(e))),
            Err(_) => Err(Error::Conn(io::ErrorKind::TimedOut.into())),
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.stream
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}
