//! The pingora `ProxyHttp` hooks for both tiers (on the edge, plain reads
//! of entries held in memory are answered before these, in `hit`). Decisions live in the pure
//! modules (`classify`, `route`, `cache`, `upstream`'s selection, `passive`); this file
//! wires them to the request lifecycle:
//!
//! request_filter: `/healthz` and `/readyz` answered here (neither logged
//! nor counted), the front upload path (answered here, see `upload`),
//! limits, routing, purge ACL, anti-steal token, front prefix strip ->
//! request_cache_filter / cache_key_callback / is_purge (edge cache) ->
//! upstream_peer: next untried healthy upstream ->
//! upstream_request_filter: X-Real-IP / X-Forwarded-* ->
//! upstream_response_filter: 502/503/504 from an upstream become a retry; a 404
//! while revalidating evicts the stored copy ->
//! response_cache_filter: only 200s are stored, fresh for
//! min(valid, revalidate_after) -> range_header_filter: `-0` is 416 ->
//! fail_to_connect / error_while_proxy: passive marking, retry decision ->
//! response_filter: Expires, X-Cache-Status -> logging: access line, metrics.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use pingora_cache::{CacheMeta, CachePhase, NoCacheReason, RespCacheable};
use pingora_core::upstreams::peer::{HttpPeer, Peer};
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, RangeType, Session};

use crate::cache;
use crate::classify::{classify, head_limits};
use crate::config::Role;
use crate::route::Reject;
use crate::state::{Live, Shared};
use crate::upstream::{peer_options, Pool};

pub struct Lb {
    pub shared: Arc<Shared>,
}

/// Per-request state.
pub struct Ctx {
    start: Instant,
    live: Option<Arc<Live>>,
    pool: Option<Arc<Pool>>,
    /// The URI the cache key is made of (edge, file and purge requests).
    cache_uri: Option<String>,
    purge: bool,
    tried: Vec<SocketAddr>,
    current: Option<SocketAddr>,
    body_seen: u64,
    rejected: Option<u16>,
    /// The cache was looked up and could not answer.
    cache_missed: bool,
    /// A `/healthz` or `/readyz` probe, answered by the lb itself.
    probe: bool,
}

impl Ctx {
    /// Whether another attempt is allowed and has somewhere to go; when
    /// not, the failure itself (timeout, 502...) is what the client sees.
    fn can_retry(&self) -> bool {
        let max = self.live.as_ref().map_or(1, |l| l.cfg.upstream.max_tries);
        self.tried.len() < max
            && self
                .pool
                .as_ref()
                .is_some_and(|p| p.select(&self.tried, Instant::now()).is_some())
    }
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

async fn reject(session: &mut Session, r: &Reject) -> Result<()> {
    let body = Bytes::from(r.message());
    let mut resp = ResponseHeader::build(r.status(), Some(3))?;
    resp.insert_header("content-type", "text/plain; charset=utf-8")?;
    resp.insert_header("content-length", body.len().to_string())?;
    if let Some(secs) = r.retry_after() {
        resp.insert_header("retry-after", secs.to_string())?;
    }
    if matches!(
        r,
        Reject::BodyTooLarge | Reject::HeadersTooLarge | Reject::UriTooLong
    ) {
        // The rest of the request may still be on the wire; don't reuse.
        session.set_keepalive(None);
        resp.insert_header("connection", "close")?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await
}

async fn answer_probe(session: &mut Session, status: u16, body: &'static str) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(3))?;
    resp.insert_header("content-type", "text/plain")?;
    resp.insert_header("content-length", body.len().to_string())?;
    resp.insert_header("cache-control", "no-store")?;
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(Bytes::from_static(body.as_bytes())), true)
        .await
}

fn upstream_error_kind(e: &Error) -> &'static str {
    match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            "timeout"
        }
        ErrorType::HTTPStatus(_) => "status",
        ErrorType::ConnectRefused | ErrorType::ConnectError | ErrorType::ConnectNoRoute => {
            "connect"
        }
        _ => "io",
    }
}

#[async_trait]
impl ProxyHttp for Lb {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            start: Instant::now(),
            live: None,
            pool: None,
            cache_uri: None,
            purge: false,
            tried: Vec::new(),
            current: None,
            body_seen: 0,
            rejected: None,
            cache_missed: false,
            probe: false,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let live = self.shared.live();
        if let Some((status, body)) =
            ferrodfs_runtime::metrics::probe(session.req_header().uri.path(), || {
                !self.shared.is_draining() && crate::ready::view_ready(&live)
            })
        {
            ctx.probe = true;
            answer_probe(session, status, body).await?;
            return Ok(true);
        }
        // Draining (SIGTERM): each connection ends with its next answer,
        // so its client reconnects, by then to a node that stays.
        if self.shared.is_draining() {
            session.set_keepalive(None);
        }
        ctx.live = Some(live.clone());
        if let Some(up) = &live.upload {
            if up.is_path(session.req_header().uri.path()) {
                if let Err(r) = head_limits(&live.cfg, session.req_header()) {
                    ctx.rejected = Some(r.status());
                    reject(session, &r).await?;
                    return Ok(true);
                }
                let prefix = live.cfg.front.as_ref().map_or("", |f| f.prefix.as_str());
                let ip = client_ip(session);
                up.handle(session, ip, prefix, &self.shared.metrics).await?;
                return Ok(true);
            }
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        match classify(&live, session.req_header(), client_ip(session), now) {
            Ok(t) => {
                if let Some(uri) = t.upstream_uri {
                    let parsed = uri
                        .parse()
                        .map_err(|e| Error::because(ErrorType::InternalError, "rewrite uri", e))?;
                    session.req_header_mut().set_uri(parsed);
                }
                ctx.pool = Some(t.pool);
                ctx.cache_uri = t.cache_uri;
                ctx.purge = t.purge;
                Ok(false)
            }
            Err(r) => {
                ctx.rejected = Some(r.status());
                reject(session, &r).await?;
                Ok(true)
            }
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.body_seen += body.as_ref().map_or(0, |b| b.len() as u64);
        let max = ctx.live.as_ref().map_or(u64::MAX, |l| l.cfg.max_body_size);
        if ctx.body_seen > max {
            return Error::e_explain(
                ErrorType::HTTPStatus(413),
                "request body larger than max_body_size",
            );
        }
        Ok(())
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        let (Some(storage), Some(_)) = (self.shared.cache, &ctx.cache_uri) else {
            return Ok(());
        };
        session.cache.enable(storage, None, None, None, None);
        let cap = ctx
            .live
            .as_ref()
            .and_then(|l| l.cfg.edge.as_ref()?.cache.as_ref().map(|c| c.max_size))
            .unwrap_or(u64::MAX);
        session
            .cache
            .set_max_file_size_bytes(usize::try_from(cap).unwrap_or(usize::MAX));
        Ok(())
    }

    fn cache_key_callback(
        &self,
        _session: &Session,
        ctx: &mut Ctx,
    ) -> Result<pingora_cache::CacheKey> {
        let uri = ctx.cache_uri.as_deref().unwrap_or("/");
        Ok(cache::key(uri))
    }

    async fn proxy_upstream_filter(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        ctx.cache_missed = true;
        Ok(true)
    }

    fn is_purge(&self, _session: &Session, ctx: &Ctx) -> bool {
        ctx.purge
    }

    fn response_cache_filter(
        &self,
        _session: &Session,
        resp: &ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<RespCacheable> {
        let Some(c) = ctx
            .live
            .as_ref()
            .and_then(|l| l.cfg.edge.as_ref()?.cache.clone())
        else {
            return Ok(RespCacheable::Uncacheable(NoCacheReason::NeverEnabled));
        };
        // Fresh until the next check with the storage, never past `valid`.
        let ttl = c.valid.min(c.revalidate_after);
        Ok(match cache::freshness(resp, ttl) {
            Some(ttl) => {
                let now = SystemTime::now();
                // Serve an expired copy while every upstream fails, for as
                // long as the entry may sit in the cache unread.
                let stale_if_error = u32::try_from(c.inactive.as_secs()).unwrap_or(u32::MAX);
                RespCacheable::Cacheable(CacheMeta::new(
                    now + ttl,
                    now,
                    0,
                    stale_if_error,
                    resp.clone(),
                ))
            }
            None => RespCacheable::Uncacheable(NoCacheReason::OriginNotCache),
        })
    }

    fn range_header_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        _ctx: &mut Ctx,
    ) -> RangeType {
        const MAX_RANGES: Option<usize> = Some(200);
        let req = session.req_header();
        let rewritten = req
            .headers
            .get(http::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(cache::without_empty_suffixes);
        match rewritten {
            Some(range) => {
                let mut req = req.clone();
                if req.insert_header(http::header::RANGE, range).is_err() {
                    return RangeType::None;
                }
                pingora_proxy::range_header_filter(&req, resp, MAX_RANGES)
            }
            None => pingora_proxy::range_header_filter(req, resp, MAX_RANGES),
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let pool = ctx.pool.clone().expect("request_filter set the pool");
        let live = ctx.live.clone().expect("request_filter set the snapshot");
        let Some(addr) = pool.select(&ctx.tried, Instant::now()) else {
            let mut e = Error::explain(
                ErrorType::HTTPStatus(502),
                format!(
                    "no live upstream in pool {:?} (members: {:?}, tried: {:?})",
                    pool.name,
                    pool.members(),
                    ctx.tried
                ),
            );
            e.set_retry(false);
            return Err(e);
        };
        if !ctx.tried.is_empty() {
            self.shared
                .metrics
                .retries
                .with_label_values(&[&pool.name])
                .inc();
        }
        ctx.tried.push(addr);
        ctx.current = Some(addr);
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer_options(&mut peer, &live.cfg.upstream);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(ip) = client_ip(session) else {
            return Ok(());
        };
        let ip = ip.to_string();
        let xff = match req
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
            _ => ip.clone(),
        };
        req.insert_header("x-forwarded-for", xff)?;
        let front = ctx.live.as_ref().is_some_and(|l| l.cfg.role == Role::Front);
        // The front tier faces clients, so what they claim is overwritten;
        // the edge keeps what the front set and fills in only what is missing.
        if front || !req.headers.contains_key("x-real-ip") {
            req.insert_header("x-real-ip", ip)?;
        }
        if front || !req.headers.contains_key("x-forwarded-proto") {
            req.insert_header("x-forwarded-proto", "http")?;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let status = resp.status.as_u16();
        let (Some(pool), Some(addr)) = (ctx.pool.clone(), ctx.current) else {
            return Ok(());
        };
        if status == 404
            && matches!(
                session.cache.phase(),
                CachePhase::Stale | CachePhase::Expired
            )
        {
            // The stored copy was being revalidated and the file is gone
            // (deleted through the cluster): drop it, pass the 404 on.
            if let Some(disk) = self.shared.cache {
                if disk.evict(session.cache.cache_key()).await {
                    tracing::info!(uri = ?ctx.cache_uri, "cached file evicted: the storage answered 404");
                }
            }
        }
        if matches!(status, 502..=504) && ctx.can_retry() {
            // nginx `proxy_next_upstream http_502 http_503 http_504`: nothing
            // has been sent downstream yet, so the next upstream can still
            // answer (a storage that just started and does not know its
            // group yet answers 503 for a file it has not received).
            return Err(Error::explain(
                ErrorType::HTTPStatus(status),
                format!("upstream {addr} answered {status}"),
            )
            .into_up());
        }
        pool.succeeded(addr);
        Ok(())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        self.note_failure(ctx, &e, peer);
        e.set_retry(ctx.can_retry());
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        _reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("upstream {peer}"));
        let upstream_fault = e.esource() == &ErrorSource::Upstream;
        let nothing_sent = session.response_written().is_none();
        if upstream_fault {
            self.note_failure(ctx, &e, peer);
        }
        let idempotent = session.req_header().method.is_idempotent();
        e.set_retry(upstream_fault && nothing_sent && idempotent && ctx.can_retry());
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, _ctx: &mut Ctx) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(c) => *c,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
                if e.esource() == &ErrorSource::Upstream =>
            {
                504
            }
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                _ => 500,
            },
        };
        if code > 0 && session.response_written().is_none() {
            let body = Bytes::from(format!(
                "{}\n",
                e.context
                    .as_ref()
                    .map_or("upstream failed".to_string(), |c| c.to_string())
            ));
            let _ = session.respond_error_with_body(code, body).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        finish_head(
            resp,
            ctx.live.as_deref(),
            ctx.cache_uri.is_some() && !ctx.purge,
            cache_result(session.cache.phase(), ctx.cache_missed),
        )
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        if ctx.probe {
            return;
        }
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.rejected)
            .unwrap_or(0);
        let cache = if ctx.cache_uri.is_some() && !ctx.purge {
            cache_result(session.cache.phase(), ctx.cache_missed)
        } else {
            "-"
        };
        let req = session.req_header();
        self.log_access(Access {
            client: client_ip(session),
            method: &req.method,
            uri: &req.uri,
            status,
            bytes: session.body_bytes_sent(),
            upstream: ctx.current,
            tries: ctx.tried.len(),
            cache,
            elapsed: ctx.start.elapsed(),
            error: e,
        });
    }
}

impl Lb {
    /// The response to a plain read (see [`plain_read`]) of `cache_uri`
    /// when its entry is fresh and its body held in memory: the head
    /// pingora-cache's hit path would send, and the body. Counted in
    /// `cache_memory_answers`. `None` leaves the request to that path
    /// (entries without a length it would send chunked).
    pub(crate) fn memory_answer(
        &self,
        live: &Live,
        req: &RequestHeader,
        cache_uri: &str,
    ) -> Result<Option<(ResponseHeader, Bytes)>> {
        let Some(disk) = self.shared.cache else {
            return Ok(None);
        };
        let Some(hit) = disk.fresh_memory_hit(&cache::key(cache_uri)) else {
            return Ok(None);
        };
        if !hit
            .header
            .headers
            .contains_key(http::header::CONTENT_LENGTH)
        {
            return Ok(None);
        }
        let mut resp = hit.header;
        // As pingora-cache answers a hit: HTTP/1.1, the entry's age (RFC
        // 9111 §4), and the range filter, which with no Range only adds
        // Accept-Ranges.
        resp.set_version(http::Version::HTTP_11);
        resp.insert_header(http::header::AGE, hit.age)?;
        let ranged = pingora_proxy::range_header_filter(req, &mut resp, None);
        debug_assert!(matches!(ranged, RangeType::None));
        finish_head(&mut resp, Some(live), true, "HIT")?;
        self.shared.metrics.cache_memory_answers.inc();
        Ok(Some((resp, hit.body)))
    }

    /// Counts a finished request and writes its access line.
    pub(crate) fn log_access(&self, a: Access<'_>) {
        let m = &self.shared.metrics;
        m.requests.with_label_values(&[&a.status.to_string()]).inc();
        m.latency.observe(a.elapsed.as_secs_f64());
        if a.cache != "-" {
            m.cache_lookups.with_label_values(&[a.cache]).inc();
        }
        if !tracing::enabled!(target: ACCESS, tracing::Level::INFO) {
            return;
        }
        // The line tracing's formatter would write, written by hand.
        if !ferrodfs_runtime::logging::info_line(ACCESS, |line| a.push_fields(line)) {
            a.trace();
        }
    }

    fn note_failure(&self, ctx: &Ctx, e: &Error, peer: &HttpPeer) {
        let addr = peer.address().to_string();
        self.shared
            .metrics
            .upstream_errors
            .with_label_values(&[&addr, upstream_error_kind(e)])
            .inc();
        if let (Some(pool), Some(a)) = (&ctx.pool, ctx.current) {
            if pool.failed(a) {
                tracing::warn!(pool = %pool.name, upstream = %a, "upstream marked failed (max_fails reached): {e}");
            }
        }
    }
}

/// What the lb adds to every response head it sends: `Expires` and
/// `Cache-Control` (`expires`), and on cached paths (`cached`)
/// `X-Cache-Status`.
fn finish_head(
    resp: &mut ResponseHeader,
    live: Option<&Live>,
    cached: bool,
    cache_status: &'static str,
) -> Result<()> {
    let Some(live) = live else {
        return Ok(());
    };
    if let Some(ttl) = live.cfg.expires {
        if cache::expires_applies(resp.status.as_u16()) {
            let (expires, cc) = cache::expires_headers(SystemTime::now(), ttl);
            resp.insert_header("expires", expires)?;
            resp.insert_header("cache-control", cc)?;
        }
    }
    if cached {
        resp.insert_header("x-cache-status", cache_status)?;
    }
    Ok(())
}

/// A GET or HEAD of the whole file with no condition: what a hit from
/// memory may answer. Ranges and validators are left to pingora-cache.
pub(crate) fn plain_read(req: &RequestHeader) -> bool {
    use http::header::{
        IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE,
    };
    matches!(req.method, http::Method::GET | http::Method::HEAD)
        && ![
            RANGE,
            IF_NONE_MATCH,
            IF_MODIFIED_SINCE,
            IF_MATCH,
            IF_UNMODIFIED_SINCE,
            IF_RANGE,
        ]
        .iter()
        .any(|h| req.headers.contains_key(h))
}

/// What an access line says of one request.
pub(crate) struct Access<'a> {
    pub client: Option<IpAddr>,
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub status: u16,
    pub bytes: usize,
    pub upstream: Option<SocketAddr>,
    pub tries: usize,
    /// nginx's `$upstream_cache_status` word, or `-` off the cache.
    pub cache: &'static str,
    pub elapsed: std::time::Duration,
    pub error: Option<&'a Error>,
}

/// The access lines' target.
const ACCESS: &str = "ferrodfs_lb::access";

impl Access<'_> {
    /// The access line as a `tracing` event (target `ferrodfs_lb::access`).
    fn trace(&self) {
        tracing::info!(
            target: ACCESS,
            client = %Shown(self.client, "-"),
            method = %self.method,
            uri = %self.uri,
            status = self.status,
            bytes = self.bytes,
            upstream = %Shown(self.upstream, "-"),
            tries = self.tries,
            cache = self.cache,
            ms = self.elapsed.as_secs_f64() * 1000.0,
            error = %Shown(self.error, ""),
        );
    }

    /// The same event as `tracing`'s formatter writes it after the
    /// target: each field as `name=value` (the cache word quoted, as a
    /// `str` is).
    fn push_fields(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let _ = write!(
            out,
            "client={} method={} uri={} status={} bytes={} upstream={} tries={} cache={:?} ms={:?} error={}",
            Shown(self.client, "-"),
            self.method,
            self.uri,
            self.status,
            self.bytes,
            Shown(self.upstream, "-"),
            self.tries,
            self.cache,
            self.elapsed.as_secs_f64() * 1000.0,
            Shown(self.error, ""),
        );
    }
}

/// An optional access-log field, written straight into the line (no
/// string built for it), `absent` when there is none.
struct Shown<T>(Option<T>, &'static str);

impl<T: std::fmt::Display> std::fmt::Display for Shown<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str(self.1),
        }
    }
}

/// nginx `$upstream_cache_status` words. A lookup that missed and whose
/// response was then not stored (a 404, `no-store`) is still a MISS.
fn cache_result(phase: CachePhase, missed: bool) -> &'static str {
    match phase {
        CachePhase::Hit => "HIT",
        CachePhase::Miss => "MISS",
        CachePhase::Stale | CachePhase::StaleUpdating => "STALE",
        CachePhase::Expired => "EXPIRED",
        CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => "REVALIDATED",
        _ if missed => "MISS",
        _ => "BYPASS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    #[test]
    fn the_access_line_written_by_hand_is_the_line_tracing_writes() {
        let uri: http::Uri = "/group1/M00/00/01/rB1ZFmsNyb-AP4xSAAA1OP3vyuA470.bin?token=ab&ts=1"
            .parse()
            .unwrap();
        let err = pingora_error::Error::explain(
            pingora_error::ErrorType::ConnectTimedout,
            "connect to 10.0.0.1:8888 timed out",
        );
        let full = Access {
            client: Some("172.29.89.131".parse().unwrap()),
            method: &http::Method::GET,
            uri: &uri,
            status: 504,
            bytes: 13_624,
            upstream: Some("[fe80::1]:8888".parse().unwrap()),
            tries: 3,
            cache: "MISS",
            elapsed: std::time::Duration::from_nanos(55_593),
            error: Some(&err),
        };
        let bare = Access {
            client: None,
            method: &http::Method::HEAD,
            uri: &uri,
            status: 200,
            bytes: 0,
            upstream: None,
            tries: 0,
            cache: "-",
            elapsed: std::time::Duration::from_micros(47),
            error: None,
        };
        for access in [full, bare] {
            let captured = Captured::default();
            let subscriber = tracing_subscriber::fmt()
                .without_time()
                .with_ansi(false)
                .with_writer(captured.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || access.trace());
            let traced = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            let mut hand = Vec::new();
            access.push_fields(&mut hand);
            let hand = String::from_utf8(hand).unwrap();
            assert_eq!(traced.trim_start(), format!("INFO {ACCESS}: {hand}\n"));
        }
    }
}
