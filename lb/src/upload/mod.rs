//! HTTP upload on the front tier (`[front.upload]`): `POST <path>` with
//! the file as the body (`?ext=jpg` or `?filename=a.jpg` gives its type)
//! or as the `file` field of a `multipart/form-data` form. The file is
//! stored through the trackers with the FastDFS protocol, as any client
//! stores one (query store, then upload to the storage named), and the
//! answer is JSON: `{"file_id", "url", "size"}`, or `{"error", "status"}`
//! (see [`reply`]).
//!
//! The decisions are pure ([`admit`] on the request head, [`form`] on the
//! body, [`reply`] for the answer); this file reads the body and talks to
//! the cluster. The body is held in memory, up to `max_size`, because a
//! FastDFS upload names the file's size before its first byte and a form
//! does not tell it.

pub mod admit;
pub mod form;
pub mod reply;

use std::net::IpAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrodfs_client::{Client, ClientConfig, UploadKind};
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use crate::config::{UploadRoute, UpstreamConfig};
use crate::metrics::Metrics;
use admit::{admit, Body};
use reply::UploadError;

/// Longest wait for the next piece of a body: a client that stalls
/// longer gets a 400 and its connection closed.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The upload route and its FastDFS client (whose connections to the
/// storages are pooled across uploads).
pub struct Uploader {
    pub route: UploadRoute,
    client: Client,
}

impl Uploader {
    /// The cluster is reached with the `[upstream]` timeouts: connect, and
    /// each exchange with a tracker or storage.
    pub fn new(route: UploadRoute, upstream: &UpstreamConfig) -> Uploader {
        let mut cfg = ClientConfig::new(route.trackers.clone());
        cfg.connect_timeout = upstream.connect_timeout;
        cfg.network_timeout = upstream.read_timeout;
        Uploader {
            route,
            client: Client::new(cfg),
        }
    }

    pub fn is_path(&self, path: &str) -> bool {
        path == self.route.path
    }

    /// Answers one request to the upload path (JSON, success or not) and
    /// counts it; returns the HTTP status sent.
    pub async fn handle(
        &self,
        session: &mut Session,
        client: Option<IpAddr>,
        prefix: &str,
        metrics: &Metrics,
    ) -> Result<u16> {
        let (status, body) = match self.store(session, client).await {
            Ok((file_id, size)) => {
                let host = session
                    .req_header()
                    .headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok());
                let base = reply::url_base(self.route.public_url.as_deref(), host, prefix);
                metrics.uploads.with_label_values(&["ok"]).inc();
                metrics.upload_bytes.inc_by(size);
                tracing::info!(file_id, size, client = ?client, "uploaded over HTTP");
                (200, reply::stored_json(&file_id, &base, size))
            }
            Err(e) => {
                metrics.uploads.with_label_values(&[e.result()]).inc();
                if matches!(e, UploadError::Cluster(_)) {
                    tracing::warn!(client = ?client, "HTTP upload failed: {}", e.message());
                }
                // What is left of the body may still be on the wire.
                session.set_keepalive(None);
                (e.http_status(), e.json())
            }
        };
        let body = Bytes::from(body + "\n");
        let mut resp = ResponseHeader::build(status, Some(3))?;
        resp.insert_header("content-type", "application/json")?;
        resp.insert_header("content-length", body.len().to_string())?;
        resp.insert_header("cache-control", "no-store")?;
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(body), true).await?;
        Ok(status)
    }

    /// Admits the request, reads its file and stores it; the file ID and size.
    async fn store(
        &self,
        session: &mut Session,
        client: Option<IpAddr>,
    ) -> std::result::Result<(String, u64), UploadError> {
        let admitted = admit(&self.route, session.req_header(), client)?;
        if admitted.expect_continue {
            session
                .write_continue_response()
                .await
                .map_err(|e| UploadError::Body(e.to_string()))?;
        }
        let body = read_body(session, admitted.declared, self.route.max_size).await?;
        let (content, filename) = match &admitted.body {
            Body::Raw => (&body[..], None),
            Body::Form { boundary } => {
                let part = form::file_part(&body, boundary).map_err(UploadError::Form)?;
                (part.content, part.filename)
            }
        };
        let ext = admitted.ext_for(filename.as_deref());
        let file_id = self
            .client
            .upload(
                content,
                &ext,
                self.route.group.as_deref(),
                UploadKind::Normal,
            )
            .await
            .map_err(UploadError::Cluster)?;
        Ok((file_id, content.len() as u64))
    }
}

/// The whole body, refused as soon as it grows past `max`.
async fn read_body(
    session: &mut Session,
    declared: Option<u64>,
    max: u64,
) -> std::result::Result<BytesMut, UploadError> {
    session.set_read_timeout(Some(BODY_READ_TIMEOUT));
    // Reserve what the client announced (already checked against `max`),
    // never more than a little when it announced nothing.
    let first = declared.unwrap_or(64 << 10).min(max);
    let mut buf = BytesMut::with_capacity(usize::try_from(first).unwrap_or(0));
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if (buf.len() + chunk.len()) as u64 > max {
                    return Err(UploadError::TooLarge { max });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf),
            Err(e) => return Err(UploadError::Body(e.to_string())),
        }
    }
}
