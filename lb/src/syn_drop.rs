//! `shutdown_drop_syn`: new connections to a draining lb get no answer.
//!
//! pingora owns the listening socket, so it is found among the process's
//! open descriptors: a socket in the listening state bound to the lb's
//! `listen` address. A classic BPF program that accepts nothing is attached
//! to it: the kernel then discards every SYN that reaches it without a
//! reply (no RST), and the client sends the SYN again a second later.
//! Connections accepted before are sockets of their own, which the filter
//! does not reach: they are served to the end.

use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

/// Attaches the drop-everything filter to every listening socket of this
/// process bound to `listen`; returns how many it found. Blocking (reads
/// /proc): call it from a blocking thread.
pub fn drop_new_connections(listen: SocketAddr) -> std::io::Result<usize> {
    let mut found = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Some(fd) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: the descriptor is only borrowed for these calls; one that
        // closed meanwhile (or was reused for something else) fails them
        // (EBADF, ENOTSOCK) or is not a listener on `listen`.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&fd);
        if !sock.is_listener().unwrap_or(false) {
            continue;
        }
        let bound = sock.local_addr().ok().and_then(|a| a.as_socket());
        if bound != Some(listen) {
            continue;
        }
        sock.attach_filter(&[DROP_ALL])?;
        found += 1;
    }
    Ok(found)
}

/// `ret #0`: keep 0 bytes of the packet, i.e. drop it.
const DROP_ALL: libc::sock_filter = libc::sock_filter {
    code: (libc::BPF_RET | libc::BPF_K) as u16,
    jt: 0,
    jf: 0,
    k: 0,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    #[test]
    fn a_filtered_listener_leaves_new_connections_unanswered_and_open_ones_working() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut open = TcpStream::connect(addr).unwrap();
        let (mut served, _) = listener.accept().unwrap();

        assert_eq!(drop_new_connections(addr).unwrap(), 1);

        // A new connection is neither accepted nor refused: no answer.
        let err = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        // The connection opened before still carries data both ways.
        use std::io::{Read, Write};
        open.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        served.read_exact(&mut buf).unwrap();
        served.write_all(b"pong").unwrap();
        open.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
        // Another address is left alone.
        TcpStream::connect_timeout(&other.local_addr().unwrap(), Duration::from_secs(5)).unwrap();
    }
}
