//! The edge tier's response cache: what is cacheable and for how long
//! (nginx `proxy_cache_valid`, 200s only), the cache key, byte ranges on
//! hits, the `Expires` headers, and the disk store pingora-cache reads and
//! writes through.

pub mod disk;
mod entry;
pub mod index;
mod memo;

pub use memo::MemoryHit;

use std::time::{Duration, SystemTime};

use pingora_cache::CacheKey;
use pingora_http::ResponseHeader;

/// Query parameters that say who may read a file, not which file: the
/// anti-steal token and its timestamp.
const ACCESS_PARAMS: [&str; 2] = ["token", "ts"];

/// The cache key is the file's URI (path and query, as nginx's default
/// `$request_uri` part) without the anti-steal `token` and `ts`, so every
/// signed URL of a file shares one entry; a `/purge/<uri>` request names
/// the same key.
pub fn key(uri: &str) -> CacheKey {
    CacheKey::new(key_uri(uri).into_bytes(), "")
}

/// `uri` with [`ACCESS_PARAMS`] left out of its query.
pub fn key_uri(uri: &str) -> String {
    let Some((path, query)) = uri.split_once('?') else {
        return uri.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !ACCESS_PARAMS.contains(&kv.split('=').next().unwrap_or(kv)))
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// How long an upstream response stays fresh (`ttl`), or `None` if it must
/// not be stored: anything but a 200 (a 404, an error or a redirect stored
/// would outlive what it said), or the origin forbade storing it
/// (`Cache-Control: no-store/no-cache/private`, `Set-Cookie`), as nginx does.
pub fn freshness(resp: &ResponseHeader, ttl: Duration) -> Option<Duration> {
    if resp.status.as_u16() != 200 {
        return None;
    }
    if resp.headers.contains_key(http::header::SET_COOKIE) {
        return None;
    }
    let forbidden = resp
        .headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .any(|v| {
            v.to_str().unwrap_or("").split(',').any(|d| {
                matches!(
                    d.trim().to_ascii_lowercase().as_str(),
                    "no-store" | "no-cache" | "private"
                )
            })
        });
    (!forbidden).then_some(ttl)
}

/// A `Range` value with its zero-length suffix specs (`-0`) left out:
/// they select no byte (RFC 9110 §14.1.1), so when nothing else is asked
/// the result is `bytes=`, which the range filter answers with 416, as
/// the storages do. `None` when the value has no such spec.
pub fn without_empty_suffixes(range: &str) -> Option<String> {
    let (unit, set) = range.split_once('=')?;
    let empty = |spec: &str| {
        spec.trim()
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b == b'0'))
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || !set.split(',').any(empty) {
        return None;
    }
    let kept: Vec<&str> = set.split(',').filter(|s| !empty(s)).collect();
    Some(format!("bytes={}", kept.join(",")))
}

/// Statuses nginx's `expires` applies to.
pub fn expires_applies(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// `Expires` and `Cache-Control` values for a response sent at `now`.
pub fn expires_headers(now: SystemTime, ttl: Duration) -> (String, String) {
    (
        httpdate::fmt_http_date(now + ttl),
        format!("max-age={}", ttl.as_secs()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&'static str, &'static str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap();
        for (k, v) in headers {
            r.append_header(*k, *v).unwrap();
        }
        r
    }

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn ok_responses_are_fresh_for_the_ttl() {
        assert_eq!(freshness(&resp(200, &[]), TTL), Some(TTL));
    }

    #[test]
    fn only_200s_are_stored() {
        for status in [201, 204, 206, 301, 302, 304, 403, 404, 410, 500, 502, 503] {
            assert_eq!(freshness(&resp(status, &[]), TTL), None, "{status}");
        }
    }

    #[test]
    fn origin_can_forbid_storing() {
        assert_eq!(
            freshness(&resp(200, &[("cache-control", "public, no-store")]), TTL),
            None
        );
        assert_eq!(freshness(&resp(200, &[("set-cookie", "a=b")]), TTL), None);
    }

    #[test]
    fn expires_is_an_http_date_ttl_ahead() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let (e, cc) = expires_headers(t, Duration::from_secs(60));
        assert_eq!(e, "Sun, 06 Nov 1994 08:50:37 GMT");
        assert_eq!(cc, "max-age=60");
    }

    #[test]
    fn the_key_ignores_the_token_and_its_timestamp() {
        use pingora_cache::key::CacheHashKey;
        let plain = key("/g/M00/a.jpg").combined();
        assert_eq!(key("/g/M00/a.jpg?token=ab&ts=5").combined(), plain);
        assert_eq!(key("/g/M00/a.jpg?ts=7&token=cd").combined(), plain);
        assert_eq!(
            key_uri("/g/M00/a?token=x&filename=b.jpg&ts=1"),
            "/g/M00/a?filename=b.jpg"
        );
        assert_ne!(
            key("/g/M00/a.jpg?filename=x.jpg").combined(),
            plain,
            "other parameters change the response"
        );
        assert_eq!(key_uri("/g/M00/a?tokens=1"), "/g/M00/a?tokens=1");
    }

    #[test]
    fn zero_length_suffix_ranges_are_dropped() {
        assert_eq!(
            without_empty_suffixes("bytes=-0").as_deref(),
            Some("bytes=")
        );
        assert_eq!(
            without_empty_suffixes("bytes=-00").as_deref(),
            Some("bytes=")
        );
        assert_eq!(
            without_empty_suffixes("bytes=0-1,-0").as_deref(),
            Some("bytes=0-1")
        );
        assert_eq!(without_empty_suffixes("bytes=-5"), None);
        assert_eq!(without_empty_suffixes("bytes=0-0"), None);
        assert_eq!(without_empty_suffixes("items=-0"), None);
    }

    #[test]
    fn purge_and_get_of_the_same_uri_share_a_key() {
        use pingora_cache::key::CacheHashKey;
        assert_eq!(key("/g/M00/a").combined(), key("/g/M00/a").combined());
        assert_ne!(key("/g/M00/a").combined(), key("/g/M00/b").combined());
    }
}
