//! Response heads as bytes, and the header values built from user input
//! (download names), which must never be able to break a header.

use std::time::SystemTime;

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Status and headers of one response. `Content-Length`, `Date`,
/// `Server` and `Connection` are added by [`Head::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// The other headers as they go on the wire, `Name: value\r\n` each:
    /// one buffer, written once, however many headers a reply has.
    fields: String,
    /// `None`: the body runs until the connection closes (only for a
    /// relayed response of unknown length).
    pub content_length: Option<u64>,
}

impl Head {
    pub fn new(status: u16) -> Head {
        Head {
            status,
            fields: String::new(),
            content_length: Some(0),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Head {
        self.push(name, value);
        self
    }

    /// Adds a header. The value must hold no CR or LF: values built from
    /// what a client sent go through [`attachment`] or are numbers.
    pub fn push(&mut self, name: &str, value: &str) {
        self.name(name);
        self.fields.push_str(value);
        self.fields.push_str("\r\n");
    }

    /// [`Head::push`] with a value formatted in place.
    pub fn push_fmt(&mut self, name: &str, value: std::fmt::Arguments<'_>) {
        use std::fmt::Write;
        self.name(name);
        let _ = self.fields.write_fmt(value);
        self.fields.push_str("\r\n");
    }

    fn name(&mut self, name: &str) {
        if self.fields.capacity() == 0 {
            // Room for what a file reply carries, so it grows once.
            self.fields.reserve(224);
        }
        self.fields.push_str(name);
        self.fields.push_str(": ");
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .split_terminator("\r\n")
            .filter_map(|line| line.split_once(": "))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The status line and headers, ending with the blank line.
    pub fn encode(&self, keep_alive: bool, now: SystemTime) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(
            &mut out,
            keep_alive,
            httpdate::fmt_http_date(now).as_bytes(),
        );
        out
    }

    /// [`Head::encode`] appended to `out`, with `date` (an HTTP date, see
    /// [`DateCache`]) given: the per-request path reuses one buffer and
    /// formats the date once a second, not once a request.
    pub fn encode_into(&self, out: &mut Vec<u8>, keep_alive: bool, date: &[u8]) {
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\nServer: ferrodfs\r\nDate: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.fields.as_bytes());
        if let Some(len) = self.content_length {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, len);
            out.extend_from_slice(b"\r\n");
        }
        let keep_alive = keep_alive && self.content_length.is_some();
        out.extend_from_slice(if keep_alive {
            b"Connection: keep-alive\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The `Date` header value, formatted again only when the second changes
/// (one per connection, so no lock is shared between connections).
#[derive(Default)]
pub struct DateCache {
    second: u64,
    text: String,
}

impl DateCache {
    /// The HTTP date of `now`.
    pub fn at(&mut self, now: SystemTime) -> &[u8] {
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.text.is_empty() || second != self.second {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        self.text.as_bytes()
    }
}

/// `Content-Disposition` for a `?filename=` download name (RFC 6266): a
/// quoted ASCII fallback with anything risky replaced by `_`, plus the
/// exact name as RFC 8187 `filename*`.
pub fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_carry_length_and_connection() {
        let h = Head::new(404).header("Content-Type", "text/plain");
        let text = String::from_utf8(h.encode(true, SystemTime::UNIX_EPOCH)).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
        assert!(text.contains("\r\nContent-Type: text/plain\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn headers_keep_their_order_and_read_back() {
        let mut h = Head::new(206).header("ETag", "\"1-2\"");
        h.push_fmt("Content-Range", format_args!("bytes {}-{}/{}", 0, 9, 100));
        h.push("Accept-Ranges", "bytes");
        assert_eq!(h.get("content-range"), Some("bytes 0-9/100"));
        assert_eq!(h.get("etag"), Some("\"1-2\""));
        assert_eq!(h.get("location"), None);
        let text = String::from_utf8(h.encode(true, SystemTime::UNIX_EPOCH)).unwrap();
        assert!(
            text.contains("\r\nETag: \"1-2\"\r\nContent-Range: bytes 0-9/100\r\nAccept-Ranges: bytes\r\nContent-Length: 0\r\n"),
            "{text}"
        );
    }

    #[test]
    fn the_date_changes_with_the_second_only() {
        let mut dates = DateCache::default();
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(dates.at(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
        let later = t + std::time::Duration::from_millis(999);
        assert_eq!(dates.at(later), b"Sun, 06 Nov 1994 08:49:37 GMT");
        let next = t + std::time::Duration::from_secs(1);
        assert_eq!(dates.at(next), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }

    #[test]
    fn lengths_are_written_in_decimal() {
        for len in [0u64, 7, 10, 16_384, 1 << 20, u64::MAX] {
            let mut h = Head::new(200);
            h.content_length = Some(len);
            let text = String::from_utf8(h.encode(false, SystemTime::UNIX_EPOCH)).unwrap();
            assert!(
                text.contains(&format!("\r\nContent-Length: {len}\r\n")),
                "{text}"
            );
        }
    }

    #[test]
    fn an_unknown_length_closes_the_connection() {
        let mut h = Head::new(200);
        h.content_length = None;
        let text = String::from_utf8(h.encode(true, SystemTime::UNIX_EPOCH)).unwrap();
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn download_names_cannot_break_the_header() {
        assert_eq!(
            attachment("report.pdf"),
            "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
        );
        let v = attachment("a\"b\r\nSet-Cookie: x=1;é.txt");
        assert!(!v.contains('\r') && !v.contains('\n'), "{v}");
        assert!(
            v.starts_with("attachment; filename=\"a_b__Set-Cookie: x=1;_.txt\""),
            "{v}"
        );
        assert!(
            v.ends_with("filename*=UTF-8''a%22b%0D%0ASet-Cookie%3A%20x%3D1%3B%C3%A9.txt"),
            "{v}"
        );
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use crate::http::target::percent_decode;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_download_name_stays_one_header_value_and_reads_back(name in ".{0,60}") {
            let v = attachment(&name);
            prop_assert!(v.bytes().all(|b| (b' '..=b'~').contains(&b)), "{:?}", v);
            let (_, encoded) = v.rsplit_once("filename*=UTF-8''").unwrap();
            let decoded = percent_decode(encoded, false);
            prop_assert_eq!(decoded.as_deref(), Some(name.as_str()));
        }
    }
}
