//! What a request asks for, decided from its path alone: which group (edge),
//! a purge (edge), or the stripped path (front). Pure, so every rejection
//! rule is unit-tested without a socket.

/// Why a request is refused before it reaches any upstream; each maps to
/// one 4xx status and a one-line body telling the client what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// 400: `..`, `.`, empty or encoded-dot segments, backslashes, control bytes.
    BadPath(&'static str),
    /// 404: the path is not a file ID (`/groupN/Mxx/...`) or lacks the front prefix.
    NotFound(String),
    /// 405: only GET and HEAD read files.
    Method,
    /// 414 / 431 / 413.
    UriTooLong,
    HeadersTooLarge,
    BodyTooLarge,
    /// 403: purge from a network not in `cache.purge_allow`.
    PurgeForbidden,
    /// 403: the status page from a network not in `front.status.allow`.
    StatusForbidden,
    /// 403: `edge.token_secret` is set and the anti-steal token is missing,
    /// wrong or expired.
    Token(ferrodfs_proto::token::TokenError),
    /// 503: the edge cannot tell yet (group membership not learned);
    /// `retry_after` seconds go out in `Retry-After`.
    Unavailable {
        why: String,
        retry_after: u64,
    },
}

impl Reject {
    pub fn status(&self) -> u16 {
        match self {
            Reject::BadPath(_) => 400,
            Reject::NotFound(_) => 404,
            Reject::Method => 405,
            Reject::UriTooLong => 414,
            Reject::HeadersTooLarge => 431,
            Reject::BodyTooLarge => 413,
            Reject::PurgeForbidden | Reject::StatusForbidden | Reject::Token(_) => 403,
            Reject::Unavailable { .. } => 503,
        }
    }

    /// Seconds a client should wait before asking again, for 503s.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Reject::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Reject::BadPath(why) => format!("bad path: {why}\n"),
            Reject::NotFound(why) | Reject::Unavailable { why, .. } => format!("{why}\n"),
            Reject::Method => "only GET and HEAD are served here\n".into(),
            Reject::UriTooLong => "request URI longer than max_uri_len\n".into(),
            Reject::HeadersTooLarge => "request headers larger than max_header_size\n".into(),
            Reject::BodyTooLarge => "request body larger than max_body_size\n".into(),
            Reject::PurgeForbidden => "purge is not allowed from this address\n".into(),
            Reject::StatusForbidden => "the status page is not allowed from this address\n".into(),
            Reject::Token(e) => format!("anti-steal token refused: {}\n", e.as_str()),
        }
    }
}

/// An edge-tier request after classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeRoute {
    /// Fetch a file of `group`; `uri` (path and query) goes upstream as is.
    File { group: String, uri: String },
    /// Remove the cached entry of `uri` (the `/purge` prefix stripped).
    Purge { group: String, uri: String },
}

/// FastDFS group names: up to 16 bytes (`FDFS_GROUP_NAME_MAX_LEN`) of
/// letters, digits, `_` and `-`.
pub fn is_group_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 16
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Rejects paths that could escape a store path or confuse an origin:
/// dot segments (plain or percent-encoded), empty segments, backslashes,
/// control characters, and encoded slashes.
pub fn check_path(path: &str) -> Result<(), Reject> {
    if !path.starts_with('/') {
        return Err(Reject::BadPath("must start with '/'"));
    }
    if path.bytes().any(|b| b.is_ascii_control() || b == b'\\') {
        return Err(Reject::BadPath("control characters or backslashes"));
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%00")
    {
        return Err(Reject::BadPath("percent-encoded dots, slashes or NUL"));
    }
    if path == "/" {
        return Ok(());
    }
    for seg in path[1..].split('/') {
        match seg {
            "." | ".." => return Err(Reject::BadPath("'.' or '..' segments")),
            "" => return Err(Reject::BadPath("empty segment ('//' or trailing '/')")),
            _ => {}
        }
    }
    Ok(())
}

/// Checks the anti-steal token of a file request (`uri` is
/// `/<group>/Mxx/..?token=..&ts=..`) as the storages do: signed over the
/// file ID without its group (fastdfs-nginx-module's rule).
pub fn check_token(token: &crate::config::EdgeToken, uri: &str, now: i64) -> Result<(), Reject> {
    let (path, query) = split_query(uri);
    let name = path[1..].split_once('/').map_or("", |(_, name)| name);
    let param = |key: &str| {
        query
            .trim_start_matches('?')
            .split('&')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    ferrodfs_proto::token::check(
        name,
        token.secret.as_bytes(),
        token.ttl.as_secs(),
        param("token"),
        param("ts"),
        now,
    )
    .map_err(Reject::Token)
}

/// Splits "/p?q" into ("/p", "?q").
pub fn split_query(uri: &str) -> (&str, &str) {
    match uri.find('?') {
        Some(i) => uri.split_at(i),
        None => (uri, ""),
    }
}

/// Classifies an edge request. `uri` is the request target (path and query).
pub fn edge_route(method: &str, uri: &str) -> Result<EdgeRoute, Reject> {
    let (path, _) = split_query(uri);
    check_path(path)?;
    let (purge, file_uri) = match uri.strip_prefix("/purge") {
        Some(rest) if rest.starts_with('/') => (true, rest),
        _ => (false, uri),
    };
    // ngx_cache_purge answers GET (and PURGE) on /purge/...; reads are GET/HEAD.
    let method_ok = if purge {
        method == "GET" || method == "PURGE"
    } else {
        method == "GET" || method == "HEAD"
    };
    if !method_ok {
        return Err(Reject::Method);
    }
    let (file_path, _) = split_query(file_uri);
    let mut segs = file_path[1..].split('/');
    let group = segs.next().unwrap_or_default();
    let store = segs.next();
    let has_name = segs.next().is_some();
    let is_store_path = |s: &str| {
        s.len() == 3 && s.starts_with('M') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
    };
    if !is_group_name(group) || !store.is_some_and(is_store_path) || !has_name {
        return Err(Reject::NotFound(format!(
            "{file_path:?} is not a file ID; expected /<group>/Mxx/XX/YY/<name>"
        )));
    }
    let group = group.to_string();
    let uri = file_uri.to_string();
    Ok(if purge {
        EdgeRoute::Purge { group, uri }
    } else {
        EdgeRoute::File { group, uri }
    })
}

/// Classifies a front request: strips `prefix` and returns what the edge
/// tier gets. Never a purge: the edge trusts purges by the client address,
/// which for a forwarded request is the front's own, so a `{prefix}/purge/...`
/// from anyone would pass the edge's `purge_allow`.
pub fn front_route(method: &str, uri: &str, prefix: &str) -> Result<String, Reject> {
    let (path, _) = split_query(uri);
    check_path(path)?;
    if method != "GET" && method != "HEAD" {
        return Err(Reject::Method);
    }
    let outside = || {
        Reject::NotFound(format!(
            "{path:?} is outside {prefix}/; files are served under {prefix}/<group>/Mxx/..."
        ))
    };
    let rest = match uri.strip_prefix(prefix) {
        Some(rest) if rest.starts_with('/') => rest,
        _ => return Err(outside()),
    };
    let (rest_path, _) = split_query(rest);
    if rest_path == "/purge" || rest_path.starts_with("/purge/") {
        return Err(Reject::NotFound(
            "purge is not served through the front tier; ask an edge node from purge_allow".into(),
        ));
    }
    Ok(rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_id_routes_to_its_group_with_query_kept() {
        assert_eq!(
            edge_route("GET", "/group1/M00/00/0A/abc.jpg?token=t&ts=1").unwrap(),
            EdgeRoute::File {
                group: "group1".into(),
                uri: "/group1/M00/00/0A/abc.jpg?token=t&ts=1".into()
            }
        );
    }

    #[test]
    fn purge_prefix_is_stripped() {
        assert_eq!(
            edge_route("GET", "/purge/group2/M01/00/00/x").unwrap(),
            EdgeRoute::Purge {
                group: "group2".into(),
                uri: "/group2/M01/00/00/x".into()
            }
        );
    }

    #[test]
    fn traversal_is_a_bad_path() {
        for p in [
            "/group1/M00/../../etc/passwd",
            "/group1/M00/./x",
            "/group1/M00/%2e%2e/x",
            "/group1/M00/%2E./x",
            "/group1/M00/a%2fb",
            "/group1/M00/a\\b",
            "/group1//M00/x",
            "/purge/group1/M00/../x",
        ] {
            assert!(
                matches!(edge_route("GET", p), Err(Reject::BadPath(_))),
                "{p}"
            );
        }
    }

    #[test]
    fn non_file_ids_are_not_found() {
        for p in [
            "/",
            "/group1",
            "/group1/M00",
            "/group1/X00/a/b",
            "/group1/M0G/a",
            "/favicon.ico",
            "/this-group-name-is-too-long/M00/a",
        ] {
            assert!(
                matches!(edge_route("GET", p), Err(Reject::NotFound(_))),
                "{p}"
            );
        }
    }

    #[test]
    fn only_reads_and_purges_are_allowed() {
        assert_eq!(
            edge_route("POST", "/group1/M00/00/00/x"),
            Err(Reject::Method)
        );
        assert_eq!(
            edge_route("PURGE", "/group1/M00/00/00/x"),
            Err(Reject::Method)
        );
        assert!(edge_route("PURGE", "/purge/group1/M00/00/00/x").is_ok());
        assert!(edge_route("HEAD", "/group1/M00/00/00/x").is_ok());
    }

    #[test]
    fn front_strips_its_prefix_only_at_a_segment_boundary() {
        assert_eq!(
            front_route("GET", "/dfs/group1/M00/00/00/x?a=1", "/dfs").unwrap(),
            "/group1/M00/00/00/x?a=1"
        );
        assert!(matches!(
            front_route("GET", "/dfsx/group1/M00/x", "/dfs"),
            Err(Reject::NotFound(_))
        ));
        assert!(matches!(
            front_route("GET", "/dfs", "/dfs"),
            Err(Reject::NotFound(_))
        ));
        assert!(matches!(
            front_route("GET", "/dfs/../x", "/dfs"),
            Err(Reject::BadPath(_))
        ));
        assert_eq!(
            front_route("DELETE", "/dfs/g/M00/x", "/dfs"),
            Err(Reject::Method)
        );
    }

    #[test]
    fn tokens_are_checked_over_the_file_id_without_its_group() {
        use ferrodfs_proto::token::{sign, TokenError};
        let t = crate::config::EdgeToken {
            secret: "s3cret".into(),
            ttl: std::time::Duration::from_secs(600),
        };
        let name = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.jpg";
        let good = sign(name, b"s3cret", 1000);
        let uri = |tok: &str, ts: &str| format!("/group1/{name}?token={tok}&ts={ts}");
        assert_eq!(check_token(&t, &uri(&good, "1000"), 1000), Ok(()));
        assert_eq!(check_token(&t, &uri(&good, "1000"), 1600), Ok(()));
        assert_eq!(
            check_token(&t, &uri(&good, "1000"), 1601),
            Err(Reject::Token(TokenError::Expired))
        );
        assert_eq!(
            check_token(&t, &uri(&good, "1001"), 1001),
            Err(Reject::Token(TokenError::Mismatch))
        );
        assert_eq!(
            check_token(&t, &format!("/group1/{name}"), 1000),
            Err(Reject::Token(TokenError::Missing))
        );
        assert_eq!(
            check_token(&t, &format!("/group1/{name}?ts=1000&xtoken={good}"), 1000),
            Err(Reject::Token(TokenError::Missing))
        );
    }

    #[test]
    fn front_never_forwards_a_purge() {
        for uri in [
            "/dfs/purge/group1/M00/00/00/x",
            "/dfs/purge",
            "/dfs/purge?x=1",
            "/dfs/purge/group1/M00/00/00/x?token=a",
        ] {
            assert!(
                matches!(front_route("GET", uri, "/dfs"), Err(Reject::NotFound(_))),
                "{uri}"
            );
        }
        assert_eq!(
            front_route("GET", "/dfs/purgeable/M00/00/00/x", "/dfs").unwrap(),
            "/purgeable/M00/00/00/x",
            "a group may start with the word"
        );
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Request targets: any text, and file-ID shapes with dot segments,
    /// escapes, purges, prefixes and queries mixed in.
    fn uri_like() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,80}",
            "(/dfs|/purge)?(/[a-zA-Z0-9_.%-]{0,18}){0,6}(\\?[ -~]{0,20})?",
            "(/purge)?/[a-z0-9]{1,8}/M[0-9A-Fa-fG]{2}/[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9_.-]{1,40}(\\?[a-z=&]{0,10})?",
        ]
    }

    fn method() -> impl Strategy<Value = String> {
        "GET|HEAD|PURGE|POST|[A-Z]{0,6}"
    }

    proptest! {
        #[test]
        fn any_edge_request_is_routed_to_a_file_id_or_refused(m in method(), uri in uri_like()) {
            let (group, routed) = match edge_route(&m, &uri) {
                Ok(EdgeRoute::File { group, uri: u }) => {
                    prop_assert!(m == "GET" || m == "HEAD");
                    prop_assert_eq!(&u, &uri);
                    (group, u)
                }
                Ok(EdgeRoute::Purge { group, uri: u }) => {
                    prop_assert!(m == "GET" || m == "PURGE");
                    prop_assert_eq!(format!("/purge{u}"), uri.clone());
                    (group, u)
                }
                Err(_) => return Ok(()),
            };
            prop_assert!(is_group_name(&group));
            let head = format!("/{group}/M");
            prop_assert!(routed.starts_with(&head));
            prop_assert!(check_path(split_query(&routed).0).is_ok());
        }

        #[test]
        fn any_front_request_keeps_what_follows_its_prefix_or_is_refused(
            m in method(),
            uri in uri_like(),
            prefix in "/dfs|/[a-z]{1,4}",
        ) {
            if let Ok(rest) = front_route(&m, &uri, &prefix) {
                prop_assert!(rest.starts_with('/'));
                prop_assert_eq!(format!("{prefix}{rest}"), uri);
            }
        }

        #[test]
        fn a_path_that_passes_cannot_climb(path in uri_like()) {
            if check_path(&path).is_ok() {
                prop_assert!(path.starts_with('/'));
                prop_assert!(!path.bytes().any(|b| b.is_ascii_control() || b == b'\\'));
                let climbs = path[1..].split('/').any(|s| s == ".." || s == ".");
                prop_assert!(!climbs || path == "/", "{}", path);
            }
        }

        #[test]
        fn file_ids_route_to_their_group(
            group in "[A-Za-z0-9_-]{1,16}",
            store in "M[0-9A-F]{2}",
            name in "[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9_-]{27}(\\.[a-z]{1,6})?",
            query in "(\\?[a-z]{1,5}=[a-z0-9]{0,5})?",
        ) {
            let uri = format!("/{group}/{store}/{name}{query}");
            prop_assert_eq!(
                edge_route("GET", &uri),
                Ok(EdgeRoute::File { group: group.clone(), uri: uri.clone() })
            );
            prop_assert_eq!(
                edge_route("PURGE", &format!("/purge{uri}")),
                Ok(EdgeRoute::Purge { group, uri })
            );
        }
    }
}
