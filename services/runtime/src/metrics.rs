//! `GET /metrics` in the Prometheus text format, one registry per daemon
//! (several daemons may share a process in tests), plus any pages the
//! daemon adds on the same listener (the tracker's status page).

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

/// Binds `addr` and serves `/metrics` until shutdown. Returns the bound
/// address (useful when `addr` has port 0).
pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    shutdown: Shutdown,
) -> anyhow::Result<SocketAddr> {
    serve_with(addr, registry, None, shutdown).await
}

/// [`serve`], plus the `pages` the daemon answers on other paths.
pub async fn serve_with(
    addr: SocketAddr,
    registry: Registry,
    pages: Option<Pages>,
    mut shutdown: Shutdown,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("metrics_listen {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = shutdown.wait() => break,
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => { tracing::warn!("metrics accept: {e}"); continue; }
                },
            };
            let registry = registry.clone();
            let pages = pages.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let registry = registry.clone();
                    let pages = pages.clone();
                    async move {
                        let path = req.uri().path();
                        let page = pages.as_ref().and_then(|p| p(path));
                        let resp = if path == "/metrics" {
                            Response::builder()
                                .header("content-type", "text/plain; version=0.0.4")
                                .body(Full::new(Bytes::from(render_with_build_info(&registry))))
                        } else if let Some(page) = page {
                            Response::builder()
                                .header("content-type", page.content_type)
                                .header("cache-control", "no-store")
                                .body(Full::new(page.body))
                        } else {
                            Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::from_static(b"not found\n")))
                        };
                        Ok::<_, hyper::http::Error>(resp.expect("static response"))
                    }
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
}
