//! HTTP file access: what nginx with fastdfs-nginx-module does for a
//! FastDFS storage, built into the storage daemon. GET and HEAD of
//! `/<group>/Mxx/HH/HH/name` serve the file from the store path with
//! ranges, validators and conditional requests; a file this storage does
//! not hold yet is fetched from (or redirected to) its source storage, so
//! replication lag never shows as a 404; the anti-steal token is checked
//! when configured (the check itself is [`ferrodfs_proto::token`],
//! shared with the lb's edge cache).
//!
//! The probes `/healthz` and `/readyz` are answered here too, as the
//! storage's metrics listener answers them (same readiness, neither
//! logged nor counted), so a load balancer that only reaches port 8888
//! can check it. No file URL can be one: a file ID has four or five path
//! segments.
//!
//! Layout: pure parts — [`target`] (URL to file, traversal-proof),
//! [`range`], [`validators`], [`mime`], [`request`] (heads and
//! their limits), [`response`] (head bytes); edges — `local` (files on
//! disk), `source` (the source storage), `conn` (sockets, sendfile).
//!
//! The port is served by `[http] workers` threads (default: one per
//! core), each with a single-threaded runtime and its own SO_REUSEPORT
//! listener, like nginx's worker processes; see `conn::start`.
//!
//! The connection loop is this module's own, not hyper's server: a file
//! body goes out with sendfile(2) straight from the page cache, which a
//! hyper body (frames of owned bytes) cannot do. hyper is the client used
//! to fetch from a source storage.

mod conn;
mod local;
mod metrics;
pub mod mime;
pub mod range;
pub mod request;
pub mod response;
pub(crate) mod source;
pub mod target;
pub mod validators;

pub(crate) use self::conn::start;
use self::local::StoreDirs;
pub(crate) use self::metrics::HttpMetrics;
use self::request::{Method, RequestHead};
use self::response::Head;
use self::target::{parse_target, query_param, Target};
pub use crate::config::http::{HttpConfig, ResponseMode, TokenConfig};
use crate::ctx::Ctx;
use anyhow::Context;
use ferrodfs_proto::token;

/// Marks a request one storage makes to another for a file it lacks; the
/// receiver then never asks a third one, so two storages missing a file
/// cannot bounce a request between them. (FastDFS's own mark, the
/// `redirect` query parameter, is honoured too and also sent.)
pub const SOURCE_FETCH_HEADER: &str = "x-ferrodfs-source-fetch";

/// Binds `bind:http_port` unless `[http] enabled = false`: one
/// SO_REUSEPORT listener per worker (`[http] workers`), all on the same
/// address; port 0 picks a free port (the bound one is what trackers are
/// told).
pub(crate) fn bind(cfg: &crate::config::Config) -> anyhow::Result<Vec<std::net::TcpListener>> {
    if !cfg.http.enabled {
        return Ok(Vec::new());
    }
    let addr = std::net::SocketAddr::new(cfg.bind, cfg.http_port);
    ferrodfs_runtime::net::bind_reuseport(addr, cfg.http.workers).with_context(|| {
        format!(
            "{}: http_port: cannot listen on {}:{} (set [http] enabled = false to serve no HTTP)",
            cfg.file, cfg.bind, cfg.http_port
        )
    })
}

/// What goes after the head.
pub(crate) enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of `file` from `offset`, sent with sendfile.
    File {
        file: std::fs::File,
        offset: u64,
        len: u64,
    },
    /// A source storage's response body, relayed as it arrives.
    Relay(hyper::body::Incoming),
}

pub(crate) struct Reply {
    pub head: Head,
    pub body: Body,
}

impl Reply {
    /// An error with a one-line text body saying what was wrong.
    pub fn error(status: u16, why: impl std::fmt::Display) -> Reply {
        let text = format!("{why}\n").into_bytes();
        let mut head = Head::new(status).header("Content-Type", "text/plain; charset=utf-8");
        head.content_length = Some(text.len() as u64);
        Reply {
            head,
            body: Body::Bytes(text),
        }
    }

    pub fn redirect(location: String) -> Reply {
        Reply {
            head: Head::new(302).header("Location", &location),
            body: Body::Empty,
        }
    }
}

/// The answer to `GET`/`HEAD /healthz` or `/readyz` (any query), or
/// `None` when the request is not a probe.
pub(crate) fn probe(ctx: &Ctx, req: &RequestHead) -> Option<Reply> {
    if req.method == Method::Other {
        return None;
    }
    let path = req.target().split('?').next().unwrap_or_default();
    let (status, text) = ferrodfs_runtime::metrics::probe(path, || ctx.stats.has_joined())?;
    let mut head = Head::new(status)
        .header("Content-Type", "text/plain")
        .header("Cache-Control", "no-store");
    head.content_length = Some(text.len() as u64);
    Some(Reply {
        head,
        body: Body::Bytes(text.as_bytes().to_vec()),
    })
}

/// Answers one request head.
pub(crate) async fn respond(
    ctx: &Ctx,
    metrics: &HttpMetrics,
    dirs: &StoreDirs,
    req: &RequestHead,
) -> Reply {
    if req.method == Method::Other {
        let mut r = Reply::error(
            405,
            format!("{} is not served; use GET or HEAD", req.method_text()),
        );
        r.head.push("Allow", "GET, HEAD");
        return r;
    }
    let target = match parse_target(req.target()) {
        Ok(t) => t,
        Err(e) => return Reply::error(400, e),
    };
    if let Some(g) = &target.group {
        if **g != *ctx.cfg.group_name {
            return Reply::error(404, format!("{g} is not this storage's group"));
        }
    }
    if let Some(refused) = check_token(ctx, &target) {
        return refused;
    }
    // `<file>-m` is the metadata beside a data file, not a file of its own:
    // answered as if absent (mod_fastdfs serves data files only).
    if target.name.is_metadata() {
        return Reply::error(404, "no such file");
    }
    let read_small = req.method == Method::Get;
    let opened = match dirs.open_cached(&target.name, read_small) {
        Some(hot) => Ok(Some(hot)),
        None => {
            let Some(path) = ctx.store.data_path(&target.name) else {
                return Reply::error(
                    400,
                    format!("store path M{:02X} does not exist", target.name.store_path),
                );
            };
            let opened = {
                let path = path.clone();
                tokio::task::spawn_blocking(move || local::open(&path, read_small))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            };
            if let Err(e) = &opened {
                tracing::error!("http: cannot open {}: {e}", path.display());
            }
            opened
        }
    };
    match opened {
        Ok(Some(file)) => local::serve(ctx, req, &target, file),
        Ok(None) => source::serve(ctx, metrics, req, &target).await,
        Err(_) => Reply::error(500, "the file cannot be read"),
    }
}

/// `None` when the request may proceed.
fn check_token(ctx: &Ctx, target: &Target<'_>) -> Option<Reply> {
    let t = ctx.cfg.http.token.as_ref()?;
    let token = query_param(target.query, "token");
    let ts = query_param(target.query, "ts");
    let e = token::check(
        &target.name.to_string(),
        &t.secret,
        t.ttl,
        token.as_deref(),
        ts.as_deref(),
        crate::clock::unix_now(),
    )
    .err()?;
    Some(match &t.fail_redirect {
        Some(url) => Reply::redirect(url.clone()),
        None => Reply::error(403, e.as_str()),
    })
}
