//! The request-phase decision, pure over the request header, the client
//! address and the live config: reject with a 4xx/503 (limits, bad paths,
//! unknown groups, purge ACL) or pick the pool and the upstream URI.

use std::net::IpAddr;
use std::sync::Arc;

use pingora_http::RequestHeader;

use crate::config::Role;
use crate::route::{self, EdgeRoute, Reject};
use crate::state::{Live, EDGE_POOL, STATUS_POOL};
use crate::upstream::Pool;

fn header_bytes(req: &RequestHeader) -> usize {
    req.headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// `max_uri_len` and `max_header_size`, which every request meets.
pub fn head_limits(cfg: &crate::config::Config, req: &RequestHeader) -> Result<(), Reject> {
    let uri = req.uri.path_and_query().map_or("/", |p| p.as_str());
    if uri.len() > cfg.max_uri_len {
        return Err(Reject::UriTooLong);
    }
    if header_bytes(req) > cfg.max_header_size {
        return Err(Reject::HeadersTooLarge);
    }
    Ok(())
}

/// The request-phase checks, pure over what the request says; `now` (Unix
/// seconds) judges anti-steal tokens.
pub fn classify(
    live: &Live,
    req: &RequestHeader,
    client: Option<IpAddr>,
    now: i64,
) -> Result<Target, Reject> {
    let cfg = &live.cfg;
    head_limits(cfg, req)?;
    let uri = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let declared_body = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_body.is_some_and(|n| n > cfg.max_body_size) {
        return Err(Reject::BodyTooLarge);
    }
    let method = req.method.as_str();
    let pool_of = |name: &str| live.pools.get(name).cloned();
    match cfg.role {
        Role::Front => {
            let front = cfg.front.as_ref().expect("front role has [front]");
            if let Some(target) = status_route(live, front, method, uri, client)? {
                return Ok(target);
            }
            let upstream_uri = route::front_route(method, uri, &front.prefix)?;
            let pool = pool_of(EDGE_POOL).expect("front always has its edge pool");
            Ok(Target {
                pool,
                upstream_uri: Some(upstream_uri),
                cache_uri: None,
                purge: false,
            })
        }
        Role::Edge => {
            let edge = cfg.edge.as_ref().expect("edge role has [edge]");
            let cache = edge.cache.as_ref();
            let (group, uri, purge) = match route::edge_route(method, uri)? {
                EdgeRoute::File { group, uri } => (group, uri, false),
                EdgeRoute::Purge { group, uri } => (group, uri, true),
            };
            // Before the cache is looked at: a stored copy is served only
            // to requests the storages themselves would answer.
            if let (Some(token), false) = (&edge.token, purge) {
                route::check_token(token, &uri, now)?;
            }
            if purge {
                let Some(cache) = cache else {
                    return Err(Reject::NotFound(
                        "this edge has no [cache]; nothing to purge".into(),
                    ));
                };
                if !client.is_some_and(|ip| cache.purge_allow.iter().any(|n| n.contains(&ip))) {
                    return Err(Reject::PurgeForbidden);
                }
            }
            let pool = match pool_of(&group) {
                Some(p) => p,
                None if !live.is_ready() => {
                    return Err(Reject::Unavailable {
                        why: "group membership not learned from the trackers yet; retry shortly"
                            .into(),
                        retry_after: live.retry_after_secs(),
                    })
                }
                None => {
                    let known: Vec<&str> = live.pools.keys().map(String::as_str).collect();
                    return Err(Reject::NotFound(format!(
                        "group {group:?} does not exist (known groups: {})",
                        known.join(", ")
                    )));
                }
            };
            Ok(Target {
                pool,
                upstream_uri: None,
                cache_uri: cache.map(|_| uri),
                purge,
            })
        }
    }
}

/// The trackers' status page and its document on the front tier, for
/// the `front.status.allow` networks; `None`: not the status path.
fn status_route(
    live: &Live,
    front: &crate::config::FrontConfig,
    method: &str,
    uri: &str,
    client: Option<IpAddr>,
) -> Result<Option<Target>, Reject> {
    let Some(st) = &front.status else {
        return Ok(None);
    };
    let (path, _) = route::split_query(uri);
    let upstream = if path == st.path {
        "/status"
    } else if path.strip_suffix(".json") == Some(st.path.as_str()) {
        "/status.json"
    } else {
        return Ok(None);
    };
    if method != "GET" && method != "HEAD" {
        return Err(Reject::Method);
    }
    if !client.is_some_and(|ip| st.allow.iter().any(|n| n.contains(&ip))) {
        return Err(Reject::StatusForbidden);
    }
    let pool = live
        .pools
        .get(STATUS_POOL)
        .cloned()
        .expect("front with [front.status] has its status pool");
    Ok(Some(Target {
        pool,
        upstream_uri: Some(upstream.to_string()),
        cache_uri: None,
        purge: false,
    }))
}

pub struct Target {
    pub pool: Arc<Pool>,
    /// A rewritten upstream URI (front: prefix stripped).
    pub upstream_uri: Option<String>,
    pub cache_uri: Option<String>,
    pub purge: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::state::build_live;

    async fn live(toml: &str) -> Live {
        build_live(Config::parse("t.toml", toml).unwrap(), None).await
    }

    fn req(method: &str, uri: &str) -> RequestHeader {
        RequestHeader::build(method, uri.as_bytes(), None).unwrap()
    }

    fn status(r: Result<Target, Reject>) -> u16 {
        r.map(|_| 200).unwrap_or_else(|r| r.status())
    }

    #[tokio::test]
    async fn unknown_group_before_the_first_tracker_poll_is_503_not_404() {
        let l = live("role = \"edge\"\n[edge]\ntrackers = [\"127.0.0.1:22122\"]\nrefresh_interval = \"2500ms\"\n").await;
        let Err(r) = classify(&l, &req("GET", "/group1/M00/00/00/x"), None, 0) else {
            panic!("routed before any group was learned");
        };
        assert_eq!(r.status(), 503);
        assert_eq!(r.retry_after(), Some(3), "one poll, rounded up");
    }

    #[tokio::test]
    async fn purge_is_checked_against_the_client_network() {
        let l = live("role = \"edge\"\n[edge.groups]\ngroup1 = [\"127.0.0.1:1\"]\n[cache]\npath = \"/nonexistent\"\npurge_allow = [\"10.1.0.0/16\"]\n").await;
        let r = req("GET", "/purge/group1/M00/00/00/x");
        assert_eq!(
            status(classify(&l, &r, Some("10.1.2.3".parse().unwrap()), 0)),
            200
        );
        assert_eq!(
            status(classify(&l, &r, Some("10.2.0.1".parse().unwrap()), 0)),
            403
        );
        assert_eq!(status(classify(&l, &r, None, 0)), 403);
    }

    #[tokio::test]
    async fn the_status_page_goes_to_the_trackers_for_allowed_networks_only() {
        let l = live("role = \"front\"\n[front]\nupstreams = [{ addr = \"127.0.0.1:8000\" }]\n[front.status]\npath = \"/cluster\"\ntrackers = [\"127.0.0.2:9122\"]\nallow = [\"10.1.0.0/16\"]\n").await;
        let inside = Some("10.1.2.3".parse().unwrap());
        for (path, upstream) in [("/cluster", "/status"), ("/cluster.json", "/status.json")] {
            let t = classify(&l, &req("GET", path), inside, 0).ok().unwrap();
            assert_eq!(t.pool.name, STATUS_POOL);
            assert_eq!(t.upstream_uri.as_deref(), Some(upstream));
        }
        let outside = Some("10.2.0.1".parse().unwrap());
        assert_eq!(
            status(classify(&l, &req("GET", "/cluster"), outside, 0)),
            403
        );
        assert_eq!(status(classify(&l, &req("GET", "/cluster"), None, 0)), 403);
        assert_eq!(
            status(classify(&l, &req("POST", "/cluster"), inside, 0)),
            405
        );
        // Other paths are the front's as before.
        assert_eq!(status(classify(&l, &req("GET", "/status"), inside, 0)), 404);
        let file = classify(&l, &req("GET", "/dfs/group1/M00/00/00/x"), outside, 0)
            .ok()
            .unwrap();
        assert_eq!(file.pool.name, EDGE_POOL);
    }

    #[tokio::test]
    async fn purge_without_a_cache_is_404() {
        let l = live("role = \"edge\"\n[edge.groups]\ngroup1 = [\"127.0.0.1:1\"]\n").await;
        let r = req("GET", "/purge/group1/M00/00/00/x");
        assert_eq!(
            status(classify(&l, &r, Some("127.0.0.1".parse().unwrap()), 0)),
            404
        );
    }

    #[tokio::test]
    async fn front_rewrites_to_the_edge_path() {
        let l = live("role = \"front\"\n[front]\nupstreams = [{ addr = \"127.0.0.1:1\" }]\n").await;
        let t = classify(&l, &req("GET", "/dfs/group1/M00/00/00/x?t=1"), None, 0)
            .ok()
            .unwrap();
        assert_eq!(t.upstream_uri.as_deref(), Some("/group1/M00/00/00/x?t=1"));
        assert_eq!(t.pool.name, EDGE_POOL);
    }
}
