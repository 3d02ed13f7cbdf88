//! Request heads: HTTP/1.x parsed with httparse, under limits that keep a
//! client from holding memory (overlong target 414, overlong or too many
//! header fields 431). Only GET and HEAD exist here, so a request with a
//! body is answered and the connection closed rather than read on.

use super::target::MAX_TARGET_LEN;

/// Most bytes a request head may take, request line included.
pub const MAX_HEAD_LEN: usize = 16 << 10;
/// Most header fields in one request.
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Method {
    #[default]
    Get,
    Head,
    Other,
}

/// A parsed request head. Its text is copied once into `raw`, and the
/// method, target and fields are spans of it: a connection parses each
/// head into the same value, so after the first request parsing
/// allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    raw: String,
    method_text: Span,
    target: Span,
    /// Name and value (trimmed) of each field, in arrival order.
    fields: Vec<(Span, Span)>,
}

/// Byte offsets of a part of [`RequestHead::raw`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// Where `part`, a slice of `whole`, lies in it.
    fn of(whole: &[u8], part: &[u8]) -> Span {
        let start = part.as_ptr() as usize - whole.as_ptr() as usize;
        Span {
            start,
            end: start + part.len(),
        }
    }
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
    /// Parses the head at the start of `buf` into `self`: `Ok(None)` when
    /// more bytes are needed, else how many bytes the head took. `self`
    /// holds the head only after `Ok(Some(_))`.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, HeadError> {
        let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let used = match req.parse_with_uninit_headers(buf, &mut fields) {
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
        let method = req.method.ok_or(HeadError::Malformed)?;
        // Everything httparse accepted outside field values is ASCII, so
        // this is the check that every value is UTF-8.
        let text = std::str::from_utf8(&buf[..used]).map_err(|_| HeadError::Malformed)?;
        let whole = text.as_bytes();
        self.method = match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            _ => Method::Other,
        };
        self.minor_version = req.version.ok_or(HeadError::Malformed)?;
        self.method_text = Span::of(whole, method.as_bytes());
        self.target = Span::of(whole, target.as_bytes());
        self.fields.clear();
        for h in req.headers.iter() {
            let value = std::str::from_utf8(h.value).map_err(|_| HeadError::Malformed)?;
            self.fields.push((
                Span::of(whole, h.name.as_bytes()),
                Span::of(whole, value.trim().as_bytes()),
            ));
        }
        self.raw.clear();
        self.raw.push_str(text);
        self.check_framing()?;
        Ok(Some(used))
    }

    fn text(&self, span: Span) -> &str {
        &self.raw[span.start..span.end]
    }

    /// As sent, for the access log and 405 replies.
    pub fn method_text(&self) -> &str {
        self.text(self.method_text)
    }

    /// The request target as sent.
    pub fn target(&self) -> &str {
        self.text(self.target)
    }

    /// Every field as sent (name, trimmed value), in arrival order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|&(n, v)| (self.text(n), self.text(v)))
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether the client may send another request on this connection
    /// (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("");
        let has = |t: &str| conn.split(',').any(|x| x.trim().eq_ignore_ascii_case(t));
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

    /// Refuses heads whose body length two readers could take differently
    /// (RFC 9112 §6.3): several Content-Length fields, even equal ones, a
    /// value that is not a plain number, or Content-Length beside
    /// Transfer-Encoding. A proxy in front that picked another length would
    /// otherwise see our next "request" where it sent body bytes.
    fn check_framing(&self) -> Result<(), HeadError> {
        let named = |name: &'static str| {
            self.headers()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        };
        let mut lengths = named("content-length");
        let chunked = named("transfer-encoding").next().is_some();
        if let Some((_, v)) = lengths.next() {
            let plain = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
            if !plain || lengths.next().is_some() || chunked {
                return Err(HeadError::Malformed);
            }
        }
        Ok(())
    }
}

/// Parses the head at the start of `buf`: `Ok(None)` when more bytes are
/// needed, else the head and how many bytes it took. (A connection reuses
/// one head with [`RequestHead::parse`] instead.)
pub fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut head = RequestHead::default();
    Ok(head.parse(buf)?.map(|used| (head, used)))
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
        assert_eq!(h.target(), "/a?b");
        assert_eq!(h.header("range"), Some("bytes=0-1"));
        assert_eq!(&text[used..], "NEXT", "pipelined bytes are left alone");
    }

    #[test]
    fn a_reused_head_holds_only_the_latest_request() {
        let mut h = RequestHead::default();
        let first = b"GET /a HTTP/1.1\r\nRange: bytes=0-1\r\nX-Long: vvvvvvvvvvvv\r\n\r\n";
        assert_eq!(h.parse(first), Ok(Some(first.len())));
        let second = b"HEAD /b HTTP/1.0\r\nHOST: x\r\n\r\n";
        assert_eq!(h.parse(second), Ok(Some(second.len())));
        assert_eq!(
            (h.method, h.method_text(), h.target()),
            (Method::Head, "HEAD", "/b")
        );
        assert_eq!(h.minor_version, 0);
        assert_eq!(h.header("range"), None);
        assert_eq!(h.header("host"), Some("x"), "names match in any case");
        assert_eq!(h.headers().collect::<Vec<_>>(), [("HOST", "x")]);
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
                    prop_assert!(h.target().len() <= MAX_TARGET_LEN);
                    prop_assert!(h.minor_version <= 1);
                    prop_assert!(h.headers().all(|(n, _)| h.header(n).is_some()));
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
            prop_assert_eq!(h.target(), target);
            prop_assert_eq!(h.headers().count(), fields.len());
        }
    }
}
