//! `shutdown_drop_syn`: new connections to a draining lb get no answer.
//!
//! pingora owns the listening socket, so it is found among the process's
//! open descriptors: a socket in the listening state bound to the lb's
//! `listen` address. A classic BPF program is attached to it that drops
//! the segments opening a connection (SYN without ACK) and passes every
//! other: the kernel discards such a SYN without a reply (no RST), and
//! the client sends it again a second later. A handshake already half
//! done still completes (its last ACK passes the listener's filter), and
//! connections accepted before are sockets of their own: all of them are
//! served to the end. Sockets accepted after inherit the filter, which
//! never drops anything an open connection sends.

use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

/// Attaches the drop-SYN filter to every listening socket of this process
/// bound to `listen`; returns how many it filtered. Blocking (reads
/// /proc): call it from a blocking thread.
pub fn drop_new_connections(listen: SocketAddr) -> std::io::Result<usize> {
    let mut found = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Ok(entry) = entry else {
            continue;
        };
        let Some(fd) = entry
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
        sock.attach_filter(&DROP_SYN)?;
        found += 1;
    }
    Ok(found)
}

/// A TCP socket's filter sees the segment from its TCP header on, whose
/// byte 13 holds the flags: a SYN without ACK is dropped (`ret #0`: keep
/// no byte), everything else kept whole.
const DROP_SYN: [libc::sock_filter; 5] = [
    // ldb [13]
    op(
        (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16,
        0,
        0,
        13,
    ),
    // and #(SYN | ACK)
    op(
        (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16,
        0,
        0,
        0x12,
    ),
    // jeq #SYN, drop, keep
    op(
        (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        0,
        1,
        0x02,
    ),
    op((libc::BPF_RET | libc::BPF_K) as u16, 0, 0, 0),
    op((libc::BPF_RET | libc::BPF_K) as u16, 0, 0, u32::MAX),
];

const fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

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
        // And a connection made now on another address is left alone.
        TcpStream::connect_timeout(&other.local_addr().unwrap(), Duration::from_secs(5)).unwrap();
    }
}
