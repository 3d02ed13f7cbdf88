//! Request heads: HTTP/1.x parsed with httparse, under limits that keep a
//! client from holding memory (overlong target 414, overlong or too many
//! header fields 431). Only GET and HEAD exist here, so a request with a
//! body is answered and the connection closed rather than read on.

use super::target::MAX_TARGET_LEN;

/// Most bytes a request head may take, request line included.
pub const MAX_HEAD_LEN: usize = 16 << 10;
/// Most header fields in one request.
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Other,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// As sent, for the access log and 405 replies.
    pub method_text: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Names in lower case, values trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
}

/// A head that cannot be served; each maps to one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// 400
    Malformed,
    /// 414
    TargetTooLong,
    /// 431
    HeadersTooLarge,
}

impl HeadError {
    pub fn status(self) -> u16 {
        match self {
            HeadError::Malformed => 400,
            HeadError::TargetTooLong => 414,
            HeadError::HeadersTooLarge => 431,
        }
    }
}

impl RequestHead {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client may send another request on this connection
    /// (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| conn.split(',').any(|x| x.trim() == t);
        if self.minor_version == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }

    /// Whether a body follows the head (which this server never reads).
    pub fn has_body(&self) -> bool {
        self.header("transfer-encoding").is_some()
            || self
                .header("content-length")
                .is_some_and(|v| v.trim() != "0")
    }
}

/// Parses the head at the start of `buf`: `Ok(None)` when more bytes are
/// needed, else the head and how many bytes it took.
pub fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() < MAX_HEAD_LEN {
                Ok(None)
            } else if !buf.contains(&b'\n') {
                Err(HeadError::TargetTooLong)
            } else {
                Err(HeadError::HeadersTooLarge)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadersTooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    if used > MAX_HEAD_LEN {
        return Err(HeadError::HeadersTooLarge);
    }
    let target = req.path.ok_or(HeadError::Malformed)?;
    if target.len() > MAX_TARGET_LEN {
        return Err(HeadError::TargetTooLong);
    }
    let method_text = req.method.ok_or(HeadError::Malformed)?.to_string();
    let method = match method_text.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    let headers = req
        .headers
        .iter()
        .map(|h| {
            let value = std::str::from_utf8(h.value).map_err(|_| HeadError::Malformed)?;
            Ok((h.name.to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect::<Result<Vec<_>, HeadError>>()?;
    check_framing(&headers)?;
    Ok(Some((
        RequestHead {
            method,
            method_text,
            target: target.to_string(),
            minor_version: req.version.ok_or(HeadError::Malformed)?,
            headers,
        },
        used,
    )))
}

/// Refuses heads whose body length two readers could take differently
/// (RFC 9112 §6.3): several Content-Length fields, even equal ones, a
/// value that is not a plain number, or Content-Length beside
/// Transfer-Encoding. A proxy in front that picked another length would
/// otherwise see our next "request" where it sent body bytes.
fn check_framing(headers: &[(String, String)]) -> Result<(), HeadError> {
    let mut lengths = headers.iter().filter(|(n, _)| n == "content-length");
    let chunked = headers.iter().any(|(n, _)| n == "transfer-encoding");
    if let Some((_, v)) = lengths.next() {
        let plain = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        if !plain || lengths.next().is_some() || chunked {
            return Err(HeadError::Malformed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> RequestHead {
        parse_head(text.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn a_complete_head_is_parsed_and_measured() {
        let text = "GET /a?b HTTP/1.1\r\nHost: x\r\nRange:  bytes=0-1 \r\n\r\nNEXT";
        let (h, used) = parse_head(text.as_bytes()).unwrap().unwrap();
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.target, "/a?b");
        assert_eq!(h.header("range"), Some("bytes=0-1"));
        assert_eq!(&text[used..], "NEXT", "pipelined bytes are left alone");
    }

    #[test]
    fn a_partial_head_asks_for_more() {
        assert_eq!(parse_head(b"GET /a HTTP/1.1\r\nHost:"), Ok(None));
    }

    #[test]
    fn keep_alive_follows_the_version_defaults() {
        assert!(head("GET / HTTP/1.1\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
    }

    #[test]
    fn bodies_are_detected() {
        assert!(!head("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").has_body());
        assert!(head("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n").has_body());
        assert!(head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").has_body());
    }

    #[test]
    fn ambiguous_body_lengths_are_malformed() {
        for text in [
            "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 0, 5\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(
                parse_head(text.as_bytes()),
                Err(HeadError::Malformed),
                "{text:?}"
            );
        }
        assert!(parse_head(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").is_ok());
    }

    #[test]
    fn oversized_heads_get_their_own_statuses() {
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET_LEN));
        assert_eq!(
            parse_head(long_target.as_bytes()),
            Err(HeadError::TargetTooLong)
        );
        let endless_line = format!("GET /{}", "a".repeat(MAX_HEAD_LEN));
        assert_eq!(
            parse_head(endless_line.as_bytes()),
            Err(HeadError::TargetTooLong)
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(MAX_HEAD_LEN));
        assert_eq!(parse_head(big.as_bytes()), Err(HeadError::HeadersTooLarge));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse_head(many.as_bytes()), Err(HeadError::HeadersTooLarge));
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(
            parse_head(b"\x01\x02 nonsense\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(HeadError::Malformed.status(), 400);
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Request heads with any method, target, version and fields, complete
    /// or cut anywhere.
    fn head_like() -> impl Strategy<Value = Vec<u8>> {
        let field = ("[A-Za-z-]{0,12}", "[ -~\t\u{80}-\u{ff}]{0,40}")
            .prop_map(|(n, v)| format!("{n}: {v}\r\n"));
        (
            "[A-Z]{0,7}",
            "[ -~]{0,60}",
            "HTTP/1\\.[01]|[ -~]{0,10}",
            proptest::collection::vec(field, 0..8),
            any::<proptest::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(m, t, v, fields, cut, whole)| {
                let text = format!("{m} {t} {v}\r\n{}\r\n", fields.concat());
                let b = text.into_bytes();
                if whole {
                    b
                } else {
                    b[..cut.index(b.len() + 1)].to_vec()
                }
            })
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_head_a_wait_or_a_status(
            b in prop_oneof![proptest::collection::vec(any::<u8>(), 0..300), head_like()],
        ) {
            match parse_head(&b) {
                Ok(Some((h, used))) => {
                    prop_assert!(used <= b.len() && used <= MAX_HEAD_LEN);
                    prop_assert!(h.target.len() <= MAX_TARGET_LEN);
                    prop_assert!(h.minor_version <= 1);
                    prop_assert!(h.headers.iter().all(|(n, _)| *n == n.to_ascii_lowercase()));
                    let _ = (h.keep_alive(), h.has_body());
                }
                Ok(None) => prop_assert!(b.len() < MAX_HEAD_LEN),
                Err(e) => prop_assert!(matches!(e.status(), 400 | 414 | 431)),
            }
        }

        #[test]
        fn a_complete_head_is_measured_exactly(
            target in "/[!-~]{0,80}",
            fields in proptest::collection::vec(("[A-Za-z][A-Za-z-]{0,10}", "[!-~]{0,20}"), 0..6),
            next in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let mut text = format!("GET {target} HTTP/1.1\r\n");
            for (n, v) in &fields {
                text.push_str(&format!("{n}: {v}\r\n"));
            }
            text.push_str("\r\n");
            let mut b = text.clone().into_bytes();
            b.extend_from_slice(&next);
            let (h, used) = parse_head(&b).unwrap().unwrap();
            prop_assert_eq!(used, text.len());
            prop_assert_eq!(h.target, target);
            prop_assert_eq!(h.headers.len(), fields.len());
        }
    }
}
