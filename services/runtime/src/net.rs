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

use tokio::net::TcpStream;

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

/// Fills `buf` with [`read_acked`]; `UnexpectedEof` if the stream ends first.
pub async fn read_exact_acked(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        let n = read_acked(stream, &mut buf[got..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn read_exact_acked_assembles_a_body_sent_in_pieces() {
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
        let mut buf = [0u8; 11];
        read_exact_acked(&mut server, &mut buf).await.unwrap();
        assert_eq!(&buf, b"header+body");
        drop(client.await.unwrap());
        let mut more = [0u8; 1];
        let err = read_exact_acked(&mut server, &mut more).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
