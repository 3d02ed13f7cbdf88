//! The edge tier's response cache: what is cacheable and for how long
//! (nginx `proxy_cache_valid`), the cache key, the `Expires` headers, and
//! the disk store pingora-cache reads and writes through.

pub mod disk;
mod entry;
pub mod index;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use pingora_cache::CacheKey;
use pingora_http::ResponseHeader;

/// The cache key is the file's URI (path and query, as nginx's default
/// `$request_uri` part): a `/purge/<uri>` request names the same key.
pub fn key(uri: &str) -> CacheKey {
    CacheKey::new(uri.as_bytes().to_vec(), "")
}

/// How long an upstream response stays fresh, or `None` if it must not be
/// stored: its status has no entry in `cache.valid`, or the origin forbade
/// storing it (`Cache-Control: no-store/no-cache/private`, `Set-Cookie`), as
/// nginx does.
pub fn freshness(resp: &ResponseHeader, valid: &BTreeMap<u16, Duration>) -> Option<Duration> {
    let ttl = *valid.get(&resp.status.as_u16())?;
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
    (!forbidden && !ttl.is_zero()).then_some(ttl)
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

    fn classic() -> BTreeMap<u16, Duration> {
        [
            (200, Duration::from_secs(43_200)),
            (304, Duration::from_secs(43_200)),
        ]
        .into()
    }

    #[test]
    fn ok_responses_are_fresh_for_their_status_validity() {
        assert_eq!(
            freshness(&resp(200, &[]), &classic()),
            Some(Duration::from_secs(43_200))
        );
    }

    #[test]
    fn statuses_without_validity_are_not_stored() {
        assert_eq!(freshness(&resp(404, &[]), &classic()), None);
        assert_eq!(freshness(&resp(502, &[]), &classic()), None);
    }

    #[test]
    fn origin_can_forbid_storing() {
        assert_eq!(
            freshness(
                &resp(200, &[("cache-control", "public, no-store")]),
                &classic()
            ),
            None
        );
        assert_eq!(
            freshness(&resp(200, &[("set-cookie", "a=b")]), &classic()),
            None
        );
    }

    #[test]
    fn expires_is_an_http_date_ttl_ahead() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let (e, cc) = expires_headers(t, Duration::from_secs(60));
        assert_eq!(e, "Sun, 06 Nov 1994 08:50:37 GMT");
        assert_eq!(cc, "max-age=60");
    }

    #[test]
    fn purge_and_get_of_the_same_uri_share_a_key() {
        use pingora_cache::key::CacheHashKey;
        assert_eq!(key("/g/M00/a").combined(), key("/g/M00/a").combined());
        assert_ne!(key("/g/M00/a").combined(), key("/g/M00/b").combined());
    }
}
