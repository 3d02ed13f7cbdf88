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
    pub headers: Vec<(&'static str, String)>,
    /// `None`: the body runs until the connection closes (only for a
    /// relayed response of unknown length).
    pub content_length: Option<u64>,
}

impl Head {
    pub fn new(status: u16) -> Head {
        Head {
            status,
            headers: Vec::new(),
            content_length: Some(0),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Head {
        self.headers.push((name, value.into()));
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status line and headers, ending with the blank line.
    pub fn encode(&self, keep_alive: bool, now: SystemTime) -> Vec<u8> {
        use std::fmt::Write;
        let mut s = String::with_capacity(256);
        let _ = write!(
            s,
            "HTTP/1.1 {} {}\r\nServer: ferrodfs\r\nDate: {}\r\n",
            self.status,
            reason(self.status),
            httpdate::fmt_http_date(now)
        );
        for (n, v) in &self.headers {
            let _ = write!(s, "{n}: {v}\r\n");
        }
        if let Some(len) = self.content_length {
            let _ = write!(s, "Content-Length: {len}\r\n");
        }
        let keep_alive = keep_alive && self.content_length.is_some();
        s.push_str(if keep_alive {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        s.into_bytes()
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
            prop_assert_eq!(percent_decode(encoded, false), Some(name));
        }
    }
}
