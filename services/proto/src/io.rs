//! Async framing helpers shared by the daemons and the client.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::fields::FieldError;
use crate::header::{Header, HeaderError, HEADER_LEN};
use crate::{cmd, status};

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad header: {0}")]
    Header(#[from] HeaderError),
    #[error("bad request: {0}")]
    Field(#[from] FieldError),
    #[error("server answered {}", status::name(*.0))]
    Status(u8),
    #[error("server answered with command {0}, expected {resp}", resp = cmd::RESP)]
    UnexpectedCmd(u8),
    #[error("bad reply: {0}")]
    BadReply(String),
}

impl ProtoError {
    /// The status byte to send back for this error.
    pub fn status(&self) -> u8 {
        match self {
            ProtoError::Status(s) => *s,
            ProtoError::Io(_) => status::EIO,
            _ => status::EINVAL,
        }
    }
}

/// Reads one header; `Ok(None)` when the peer closed between requests.
pub async fn read_header<R: AsyncRead + Unpin>(
    r: &mut R,
    max_body: u64,
) -> Result<Option<Header>, ProtoError> {
    let mut b = [0u8; HEADER_LEN];
    let n = r.read(&mut b[..]).await?;
    if n == 0 {
        return Ok(None);
    }
    r.read_exact(&mut b[n..]).await?;
    Ok(Some(Header::decode(&b, max_body)?))
}

/// Reads a body of `len` bytes. The buffer grows as the bytes arrive, from
/// at most [`BODY_PREALLOC`]: `len` is what the peer announced, and a peer
/// announcing a large body and sending nothing must not make us allocate it.
pub async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: u64) -> Result<Vec<u8>, ProtoError> {
    let mut body = Vec::with_capacity(len.min(BODY_PREALLOC) as usize);
    r.take(len).read_to_end(&mut body).await?;
    if (body.len() as u64) < len {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    }
    Ok(body)
}

/// Most bytes [`read_body`] reserves before any have arrived.
pub const BODY_PREALLOC: u64 = 64 << 10;

/// Sends header and body in one write: py3fdfs reads small replies with a
/// single `recv`, so they must not be split.
pub async fn send<W: AsyncWrite + Unpin>(
    w: &mut W,
    header: Header,
    body: &[u8],
) -> Result<(), ProtoError> {
    let mut b = Vec::with_capacity(HEADER_LEN + body.len());
    b.extend_from_slice(&header.encode());
    b.extend_from_slice(body);
    w.write_all(&b).await?;
    Ok(())
}

pub async fn send_ok<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Result<(), ProtoError> {
    send(w, Header::response(status::OK, body.len() as u64), body).await
}

pub async fn send_error<W: AsyncWrite + Unpin>(w: &mut W, st: u8) -> Result<(), ProtoError> {
    send(w, Header::error(st), &[]).await
}

/// Reads a response header, turning a non-zero status into an error.
pub async fn read_response_header<R: AsyncRead + Unpin>(
    r: &mut R,
    max_body: u64,
) -> Result<Header, ProtoError> {
    let h = read_header(r, max_body)
        .await?
        .ok_or_else(|| ProtoError::Io(std::io::ErrorKind::UnexpectedEof.into()))?;
    if h.cmd != cmd::RESP {
        return Err(ProtoError::UnexpectedCmd(h.cmd));
    }
    if h.status != status::OK {
        return Err(ProtoError::Status(h.status));
    }
    Ok(h)
}

/// One request/response exchange with a small reply read whole.
pub async fn call<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    command: u8,
    body: &[u8],
    max_reply: u64,
) -> Result<Vec<u8>, ProtoError> {
    send(s, Header::request(command, body.len() as u64), body).await?;
    let h = read_response_header(s, max_reply).await?;
    read_body(s, h.pkg_len).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn truncated_header_is_an_io_error() {
        let mut r: &[u8] = &[0, 0, 0];
        assert!(matches!(
            read_header(&mut r, 10).await,
            Err(ProtoError::Io(_))
        ));
    }

    #[tokio::test]
    async fn clean_close_is_none() {
        let mut r: &[u8] = &[];
        assert!(read_header(&mut r, 10).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn call_surfaces_error_status() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let server = tokio::spawn(async move {
            let h = read_header(&mut b, 100).await.unwrap().unwrap();
            assert_eq!(h.cmd, cmd::QUERY_FETCH_ONE);
            send_error(&mut b, status::ENOENT).await.unwrap();
        });
        let err = call(&mut a, cmd::QUERY_FETCH_ONE, &[], 100)
            .await
            .unwrap_err();
        assert_eq!(err.status(), status::ENOENT);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_body_announced_longer_than_sent_is_an_eof_not_an_allocation() {
        let mut r: &[u8] = b"abc";
        let err = read_body(&mut r, i64::MAX as u64).await.unwrap_err();
        assert!(
            matches!(&err, ProtoError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_body_is_read_exactly_and_the_next_bytes_are_left() {
        let mut r: &[u8] = b"abcdef";
        assert_eq!(read_body(&mut r, 4).await.unwrap(), b"abcd");
        assert_eq!(r, b"ef");
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_body_is_all_its_announced_bytes_or_an_eof(
            sent in proptest::collection::vec(any::<u8>(), 0..300),
            len in prop_oneof![0u64..400, any::<u64>()],
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut r: &[u8] = &sent;
            match rt.block_on(read_body(&mut r, len)) {
                Ok(body) => prop_assert_eq!(&body[..], &sent[..len as usize]),
                Err(ProtoError::Io(e)) => {
                    prop_assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
                    prop_assert!(len > sent.len() as u64);
                }
                Err(e) => prop_assert!(false, "unexpected {}", e),
            }
        }
    }
}
