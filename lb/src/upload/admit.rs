//! Whether an upload request may go on, decided from its head alone
//! (before a byte of the file is read): client network, token, method,
//! declared size, body type and extension. Pure over the request.

use std::net::IpAddr;

use ferrodfs_proto::fields::{ext_of, validate_upload_ext};
use pingora_http::RequestHeader;
use sha2::{Digest, Sha256};

use super::form;
use super::reply::UploadError;
use crate::config::UploadRoute;
use crate::route::split_query;

/// How the file travels in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// The body is the file (`?ext=jpg` or `?filename=a.jpg` names its type).
    Raw,
    /// `multipart/form-data`: the `file` field is the file.
    Form { boundary: String },
}

/// An upload allowed to send its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub body: Body,
    /// `?ext=`, which wins over any file name.
    pub ext: Option<String>,
    /// The extension of `?filename=`, for a raw body.
    pub filename_ext: String,
    /// `Content-Length`, when the client sent one (not chunked).
    pub declared: Option<u64>,
    /// The client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
}

impl Admitted {
    /// The extension the file is stored with: `?ext=`, else that of the
    /// form part's or `?filename=`'s name, else none.
    pub fn ext_for(&self, part_filename: Option<&str>) -> String {
        if let Some(e) = &self.ext {
            return e.clone();
        }
        match part_filename {
            Some(name) => upload_ext_of(name),
            None => self.filename_ext.clone(),
        }
    }
}

/// A name's extension if a new file may carry it, else none.
fn upload_ext_of(name: &str) -> String {
    let e = ext_of(name);
    if validate_upload_ext(&e).is_ok() {
        e
    } else {
        String::new()
    }
}

pub fn admit(
    up: &UploadRoute,
    req: &RequestHeader,
    client: Option<IpAddr>,
) -> Result<Admitted, UploadError> {
    if !client.is_some_and(|ip| up.allow.iter().any(|n| n.contains(&ip))) {
        return Err(UploadError::Forbidden);
    }
    let header = |name: http::header::HeaderName| {
        req.headers
            .get(name)
            .map(|v| v.to_str().map_err(|_| UploadError::BadHeader))
            .transpose()
    };
    if let Some(token) = &up.token {
        let given = header(http::header::AUTHORIZATION)?
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !given.is_some_and(|g| same_secret(g, token)) {
            return Err(UploadError::Token);
        }
    }
    if req.method != http::Method::POST {
        return Err(UploadError::Method);
    }
    let declared = match header(http::header::CONTENT_LENGTH)? {
        Some(v) => Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| UploadError::BadHeader)?,
        ),
        None => None,
    };
    if declared.is_some_and(|n| n > up.max_size) {
        return Err(UploadError::TooLarge { max: up.max_size });
    }
    let body = match header(http::header::CONTENT_TYPE)?.and_then(form::boundary) {
        Some(Ok(boundary)) => Body::Form { boundary },
        Some(Err(e)) => return Err(UploadError::Form(e)),
        None => Body::Raw,
    };
    let uri = req.uri.path_and_query().map_or("", |p| p.as_str());
    let (_, query) = split_query(uri);
    let ext = match query_value(query, "ext") {
        Some(e) if validate_upload_ext(&e).is_ok() => Some(e),
        Some(e) => return Err(UploadError::Ext(e)),
        None => None,
    };
    let filename_ext = query_value(query, "filename").map_or(String::new(), |f| upload_ext_of(&f));
    let expect_continue = header(http::header::EXPECT)?
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    Ok(Admitted {
        body,
        ext,
        filename_ext,
        declared,
        expect_continue,
    })
}

/// Compares a presented token with the configured one in time that does
/// not depend on where they differ, nor on the presented length: both are
/// hashed, and the digests compared without an early exit.
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The first `key=value` of a query (`?a=1&b=2`), percent-decoded.
fn query_value(query: &str, key: &str) -> Option<String> {
    query
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .map(percent_decode)
}

/// `%XX` escapes and `+` (a space in forms) undone; bytes that are not
/// UTF-8 afterwards become U+FFFD, which no extension accepts.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_net, UploadRoute};

    fn route(token: Option<&str>) -> UploadRoute {
        UploadRoute {
            path: "/upload".into(),
            trackers: vec!["127.0.0.1:22122".into()],
            allow: vec![parse_net("10.1.0.0/16").unwrap()],
            token: token.map(String::from),
            max_size: 1000,
            group: None,
            public_url: None,
        }
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build(method, uri.as_bytes(), None).unwrap();
        for (k, v) in headers {
            r.insert_header(k.to_string(), *v).unwrap();
        }
        r
    }

    const INSIDE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3)));

    fn status(r: Result<Admitted, UploadError>) -> u16 {
        r.map_or_else(|e| e.http_status(), |_| 200)
    }

    #[test]
    fn only_the_allowed_networks_may_upload() {
        let up = route(None);
        let r = req("POST", "/upload", &[]);
        assert_eq!(status(admit(&up, &r, INSIDE)), 200);
        assert_eq!(
            status(admit(&up, &r, Some("10.2.0.1".parse().unwrap()))),
            403
        );
        assert_eq!(status(admit(&up, &r, None)), 403);
        // Refused before anything else is looked at.
        let get = req("GET", "/upload", &[]);
        assert_eq!(
            status(admit(&up, &get, Some("10.2.0.1".parse().unwrap()))),
            403
        );
        assert_eq!(status(admit(&up, &get, INSIDE)), 405);
    }

    #[test]
    fn with_a_token_only_the_bearer_of_it_may_upload() {
        let up = route(Some("0123456789abcdef"));
        for (auth, expect) in [
            (None, 403),
            (Some("Bearer 0123456789abcdef"), 200),
            (Some("Bearer 0123456789abcdeX"), 403),
            (Some("Bearer 0123456789abcdef0"), 403),
            (Some("Basic 0123456789abcdef"), 403),
            (Some("0123456789abcdef"), 403),
        ] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("authorization", a)).into_iter().collect();
            let r = req("POST", "/upload", &headers);
            assert_eq!(status(admit(&up, &r, INSIDE)), expect, "{auth:?}");
        }
        assert!(matches!(
            admit(&up, &req("POST", "/upload", &[]), INSIDE),
            Err(UploadError::Token)
        ));
    }

    #[test]
    fn a_declared_size_over_the_limit_is_refused_before_the_body() {
        let up = route(None);
        let ok = req("POST", "/upload", &[("content-length", "1000")]);
        assert_eq!(admit(&up, &ok, INSIDE).unwrap().declared, Some(1000));
        let big = req("POST", "/upload", &[("content-length", "1001")]);
        assert_eq!(status(admit(&up, &big, INSIDE)), 413);
        let bad = req("POST", "/upload", &[("content-length", "lots")]);
        assert_eq!(status(admit(&up, &bad, INSIDE)), 400);
    }

    #[test]
    fn the_extension_comes_from_the_query_or_the_file_name() {
        let up = route(None);
        let a = |uri: &str| admit(&up, &req("POST", uri, &[]), INSIDE);
        assert_eq!(a("/upload?ext=jpg").unwrap().ext_for(None), "jpg");
        assert_eq!(a("/upload?ext=jpg").unwrap().ext_for(Some("x.png")), "jpg");
        assert_eq!(
            a("/upload?filename=my%20cat.png").unwrap().ext_for(None),
            "png"
        );
        assert_eq!(a("/upload").unwrap().ext_for(Some("photo.tar.gz")), "gz");
        assert_eq!(a("/upload").unwrap().ext_for(Some("README")), "");
        assert_eq!(a("/upload").unwrap().ext_for(Some("x.toolongext")), "");
        assert_eq!(a("/upload?filename=x.a-m").unwrap().ext_for(None), "");
        for bad in [
            "/upload?ext=toolong7",
            "/upload?ext=.jpg",
            "/upload?ext=a%2Fb",
            "/upload?ext=a-m",
        ] {
            assert_eq!(status(a(bad)), 400, "{bad}");
        }
    }

    #[test]
    fn a_form_needs_its_boundary_and_other_types_are_raw_bodies() {
        let up = route(None);
        let a = |ct: &str| {
            admit(
                &up,
                &req("POST", "/upload", &[("content-type", ct)]),
                INSIDE,
            )
        };
        assert_eq!(
            a("multipart/form-data; boundary=zz").unwrap().body,
            Body::Form {
                boundary: "zz".into()
            }
        );
        assert_eq!(status(a("multipart/form-data")), 400);
        assert_eq!(a("image/png").unwrap().body, Body::Raw);
        let r = req("POST", "/upload", &[("expect", "100-continue")]);
        assert!(admit(&up, &r, INSIDE).unwrap().expect_continue);
    }

    #[test]
    fn percent_decoding_keeps_what_it_cannot_decode() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
