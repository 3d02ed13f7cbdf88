//! Socket behaviour every FastDFS-protocol and HTTP port shares.
//!
//! FastDFS's C client and the Python clients send a request's header and
//! its body in separate `send()` calls and leave Nagle on: the body waits
//! until the header is acknowledged. Once a connection has exchanged a
//! request and a reply, Linux delays that ACK (up to 40 ms, "pingpong"
//! mode), so every such request would stall. A server that still expects
//! bytes of the current request therefore acknowledges what it has read at
//! once (TCP_QUICKACK), whatever the client's socket options.

use std::io;

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

/// Acknowledges the bytes read so far now instead of after the delayed-ACK
/// timer. TCP_QUICKACK is not sticky (the kernel falls back to delayed
/// ACKs after the next reply), so call it after each read that leaves the
/// request incomplete. Errors are ignored: the worst case is the delay.
pub fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_quickack(true);
}

/// Reads at least one byte into `buf` (0 at end of stream). Before it
/// waits for more it acknowledges what arrived, so a client held back by
/// Nagle sends the rest now; when the bytes are already there it costs no
/// extra syscall or packet.
pub async fn read_acked(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                quick_ack(stream);
                stream.readable().await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads a body of `len` bytes announced by a header. The buffer grows
/// with what arrives, so a peer that announces a large body and sends
/// nothing costs no memory.
pub async fn read_body_acked(stream: &mut TcpStream, len: u64) -> io::Result<Vec<u8>> {
    const STEP: usize = 64 << 10;
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    let mut body = Vec::with_capacity(len.min(STEP));
    while body.len() < len {
        let start = body.len();
        let want = (len - start).min(STEP);
        body.resize(start + want, 0);
        let n = read_acked(stream, &mut body[start..]).await?;
        body.truncate(start + n);
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(body)
}

/// Connects to `addr` (`host:port`) from the local address `from`, so the
/// peer sees the address this daemon advertises, whatever route the
/// kernel would pick. When `from` is not an address of this host (it
/// sits behind NAT, say) the connection leaves unbound and the peer
/// decides what it accepts.
pub async fn connect_from(addr: &str, from: IpAddr) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address"));
    for target in tokio::net::lookup_host(addr).await? {
        let socket = if target.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if target.is_ipv4() == from.is_ipv4() && !from.is_unspecified() {
            match socket.bind(SocketAddr::new(from, 0)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
                    tracing::debug!("{from} is not an address of this host: connecting unbound");
                }
                Err(e) => return Err(e),
            }
        }
        match socket.connect(target).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Binds `count` listening sockets to one address with SO_REUSEPORT, so
/// `count` threads each accept on their own socket and the kernel spreads
/// new connections over them (nginx's `listen ... reuseport`). Port 0
/// picks one free port for all of them. A fixed port is first bound
/// once without SO_REUSEPORT: another process listening there (even one
/// with SO_REUSEPORT set) then fails the bind with "address in use"
/// rather than silently sharing the port's connections. The sockets are
/// non-blocking, for `tokio::net::TcpListener::from_std` on the thread
/// that will accept on them.
pub fn bind_reuseport(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = |reuse_port: bool| -> io::Result<Socket> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        // As tokio's and std's bind: a port in TIME_WAIT can be reused.
        s.set_reuse_address(true)?;
        if reuse_port {
            s.set_reuse_port(true)?;
        }
        Ok(s)
    };
    if addr.port() != 0 {
        socket(false)?.bind(&addr.into())?;
    }
    let mut bound = addr;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let s = socket(true)?;
        s.bind(&bound.into())?;
        // tokio's TcpListener::bind backlog.
        s.listen(1024)?;
        s.set_nonblocking(true)?;
        let l: std::net::TcpListener = s.into();
        bound = l.local_addr()?;
        listeners.push(l);
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn read_body_acked_assembles_a_body_sent_in_pieces() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            for piece in [&b"head"[..], b"er+", b"body"] {
                s.write_all(piece).await.unwrap();
                s.flush().await.unwrap();
            }
            s
        });
        let (mut server, _) = listener.accept().await.unwrap();
        let buf = read_body_acked(&mut server, 11).await.unwrap();
        assert_eq!(&buf, b"header+body");
        drop(client.await.unwrap());
        let err = read_body_acked(&mut server, 1).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn a_huge_announced_body_costs_only_what_arrives() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"abc").await.unwrap();
            s
        });
        let (mut server, _) = listener.accept().await.unwrap();
        // 1 TiB announced; the 3 bytes that came, then the end of stream.
        let read = tokio::spawn(async move { read_body_acked(&mut server, 1 << 40).await });
        drop(client.await.unwrap());
        let err = read.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn connections_leave_from_the_given_address() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let from: IpAddr = "127.0.0.7".parse().unwrap();
        let _c = connect_from(&addr, from).await.unwrap();
        let (_s, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), from);
        // Not an address of this host: unbound, still connected.
        let _c = connect_from(&addr, "192.0.2.1".parse().unwrap())
            .await
            .unwrap();
        let (_s, peer) = listener.accept().await.unwrap();
        assert_ne!(peer.ip(), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[tokio::test]
    async fn reuseport_listeners_share_one_port_and_refuse_a_taken_one() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let ls = bind_reuseport(any, 3).unwrap();
        assert_eq!(ls.len(), 3);
        let addr = ls[0].local_addr().unwrap();
        assert!(ls.iter().all(|l| l.local_addr().unwrap() == addr));
        let err = bind_reuseport(addr, 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind_reuseport(plain.local_addr().unwrap(), 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        // Accepted connections arrive on the group's sockets.
        let listeners: Vec<TcpListener> = ls
            .into_iter()
            .map(|l| TcpListener::from_std(l).unwrap())
            .collect();
        let _c = TcpStream::connect(addr).await.unwrap();
        let accepted = accept_any(&listeners).await;
        assert_eq!(accepted.local_addr().unwrap(), addr);
    }

    /// The first connection any of `listeners` accepts within 10 s.
    async fn accept_any(listeners: &[TcpListener]) -> TcpStream {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            for l in listeners {
                let wait = std::time::Duration::from_millis(10);
                if let Ok(r) = tokio::time::timeout(wait, l.accept()).await {
                    return r.unwrap().0;
                }
            }
        }
        panic!("no listener accepted the connection");
    }
}
