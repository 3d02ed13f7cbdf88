//! `GET /metrics` in the Prometheus text format, one registry per daemon
//! (several daemons may share a process in tests), the probes `/healthz`
//! (liveness: the process serves) and `/readyz` (readiness: the daemon
//! wants traffic), plus any pages the daemon adds on the same listener (the
//! tracker's status page). Nothing here is logged or counted, so probes
//! every second cost no log lines and leave the request metrics alone.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, Request, Response};
use hyper_util::rt::TokioIo;
use prometheus::{Encoder, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::Shutdown;

/// The version every daemon reports, the same for the whole workspace.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Renders the registry in the text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .expect("text encoding never fails");
    String::from_utf8(buf).expect("text format is utf-8")
}

/// `ferrodfs_build_info{version="..."} 1`: kept apart from the daemons'
/// registries (the lb and vip ones prefix or label every name), so every
/// `/metrics` carries it under the same name.
fn build_info() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let r = Registry::new();
        let g = IntGaugeVec::new(
            Opts::new(
                "ferrodfs_build_info",
                "Always 1; the version of the running ferrodfs binary",
            ),
            &["version"],
        )
        .expect("valid metric");
        g.with_label_values(&[VERSION]).set(1);
        r.register(Box::new(g)).expect("registered once");
        r
    })
}

/// What `/metrics` answers: the daemon's registry and the build info.
pub fn render_with_build_info(registry: &Registry) -> String {
    let mut text = render(registry);
    text.push_str(&render(build_info()));
    text
}

/// A page a daemon serves beside `/metrics`.
pub struct Page {
    pub content_type: &'static str,
    pub body: Bytes,
}

/// Answers a path with a page, or `None` (404).
pub type Pages = Arc<dyn Fn(&str) -> Option<Page> + Send + Sync>;

/// Whether the daemon is ready for traffic, asked on every `/readyz`; it
/// must be cheap and must not block (an atomic load, a snapshot).
pub type Ready = Arc<dyn Fn() -> bool + Send + Sync>;

/// What one metrics listener serves.
pub struct Endpoints {
    pub registry: Registry,
    pub pages: Option<Pages>,
    /// `None`: ready whenever the listener serves.
    pub ready: Option<Ready>,
}

impl Endpoints {
    pub fn new(registry: Registry) -> Endpoints {
        Endpoints {
            registry,
            pages: None,
            ready: None,
        }
    }

    pub fn with_pages(mut self, pages: Pages) -> Endpoints {
        self.pages = Some(pages);
        self
    }

    pub fn with_ready(mut self, ready: Ready) -> Endpoints {
        self.ready = Some(ready);
        self
    }
}

/// The answer to a probe path, or `None` when `path` is not a probe:
/// `/healthz` is 200 while the process serves; `/readyz` is 200 when
/// `ready` says so and 503 otherwise (load balancers and orchestrators
/// keep traffic away until then).
pub fn probe(path: &str, ready: impl FnOnce() -> bool) -> Option<(u16, &'static str)> {
    match path {
        "/healthz" => Some((200, "ok\n")),
        "/readyz" if ready() => Some((200, "ready\n")),
        "/readyz" => Some((503, "not ready\n")),
        _ => None,
    }
}

/// Binds `addr` and serves `/metrics` and the probes until shutdown.
/// Returns the bound address (useful when `addr` has port 0).
pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    shutdown: Shutdown,
) -> anyhow::Result<SocketAddr> {
    serve_endpoints(addr, Endpoints::new(registry), shutdown).await
}

/// [`serve`], plus the `pages` the daemon answers on other paths.
pub async fn serve_with(
    addr: SocketAddr,
    registry: Registry,
    pages: Option<Pages>,
    shutdown: Shutdown,
) -> anyhow::Result<SocketAddr> {
    let mut endpoints = Endpoints::new(registry);
    endpoints.pages = pages;
    serve_endpoints(addr, endpoints, shutdown).await
}

fn respond(endpoints: &Endpoints, path: &str) -> Response<Full<Bytes>> {
    let ready = || endpoints.ready.as_ref().is_none_or(|r| r());
    let resp = if path == "/metrics" {
        Response::builder()
            .header("content-type", "text/plain; version=0.0.4")
            .body(Full::new(Bytes::from(render_with_build_info(
                &endpoints.registry,
            ))))
    } else if let Some((status, body)) = probe(path, ready) {
        Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .header("cache-control", "no-store")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
    } else if let Some(page) = endpoints.pages.as_ref().and_then(|p| p(path)) {
        Response::builder()
            .header("content-type", page.content_type)
            .header("cache-control", "no-store")
            .body(Full::new(page.body))
    } else {
        Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"not found\n")))
    };
    resp.expect("static response")
}

/// Binds `addr` and serves `endpoints` until shutdown.
pub async fn serve_endpoints(
    addr: SocketAddr,
    endpoints: Endpoints,
    mut shutdown: Shutdown,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("metrics_listen {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let endpoints = Arc::new(endpoints);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = shutdown.wait() => break,
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => { tracing::warn!("metrics accept: {e}"); continue; }
                },
            };
            let endpoints = endpoints.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let resp = respond(&endpoints, req.uri().path());
                    async move { Ok::<_, hyper::http::Error>(resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metrics_page_carries_the_build_version() {
        let r = Registry::new();
        let text = render_with_build_info(&r);
        assert!(
            text.contains(&format!("ferrodfs_build_info{{version=\"{VERSION}\"}} 1")),
            "{text}"
        );
    }

    #[test]
    fn healthz_answers_while_serving_whatever_readiness_says() {
        assert_eq!(probe("/healthz", || false), Some((200, "ok\n")));
        assert_eq!(probe("/healthz", || true), Some((200, "ok\n")));
    }

    #[test]
    fn readyz_is_503_until_the_daemon_is_ready() {
        assert_eq!(probe("/readyz", || false).map(|p| p.0), Some(503));
        assert_eq!(probe("/readyz", || true).map(|p| p.0), Some(200));
    }

    #[test]
    fn other_paths_are_not_probes() {
        assert_eq!(probe("/metrics", || true), None);
        assert_eq!(probe("/healthz/x", || true), None);
    }

    #[tokio::test]
    async fn probes_are_served_beside_the_metrics() {
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ready.clone();
        let (_trigger, shutdown) = Shutdown::new();
        let endpoints = Endpoints::new(Registry::new()).with_ready(Arc::new(move || {
            flag.load(std::sync::atomic::Ordering::Relaxed)
        }));
        let addr = serve_endpoints("127.0.0.1:0".parse().unwrap(), endpoints, shutdown)
            .await
            .unwrap();
        assert_eq!(get(addr, "/healthz").await, 200);
        assert_eq!(get(addr, "/readyz").await, 503);
        ready.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(get(addr, "/readyz").await, 200);
        assert_eq!(get(addr, "/metrics").await, 200);
        assert_eq!(get(addr, "/nothing").await, 404);
    }

    /// The status of one HTTP/1.0 GET, read off the wire.
    async fn get(addr: SocketAddr, path: &str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.split(' ').nth(1).unwrap().parse().unwrap()
    }
}
