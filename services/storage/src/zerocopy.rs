//! Zero-copy file bodies for both protocols: sendfile(2) from the page
//! cache straight to the socket.

use std::io;
use std::os::fd::AsFd;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Largest single sendfile call; other connections on the worker run
/// between chunks.
const SENDFILE_CHUNK: usize = 4 << 20;

/// Zero-copy: sendfile(2) on the socket's fd, waiting for writability
/// when the socket buffer is full. The head already promised `len`
/// bytes, so a file that shrank closes the connection.
pub async fn send_file(
    stream: &mut TcpStream,
    file: &std::fs::File,
    offset: u64,
    len: u64,
    timeout: std::time::Duration,
) -> io::Result<()> {
    let mut off = offset as nix::libc::off_t;
    let mut left = len;
    while left > 0 {
        tokio::time::timeout(timeout, stream.writable())
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        let chunk = left.min(SENDFILE_CHUNK as u64) as usize;
        let sent = stream.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile(stream.as_fd(), file.as_fd(), Some(&mut off), chunk)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being sent",
                ))
            }
            Ok(n) => left -= n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
        // Let other connections on this worker run between large chunks
        // (not after the last: that would cost every reply a reschedule).
        if left > 0 {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}
