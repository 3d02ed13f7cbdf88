//! Files this storage does not hold yet. Right after an upload only the
//! source storage (named in the file ID) has the file; until replication
//! catches up, a request here is fetched from the source and streamed
//! back (`response_mode = "proxy"`) or answered with a 302 to it
//! (`"redirect"`), as fastdfs-nginx-module does. The source's HTTP port
//! is the one it reported to the trackers; this storage's own when it
//! reported none. Only a current member of the group is ever contacted:
//! the source IP inside a file ID is what a client claims, and a forged
//! one must not make this storage fetch from (or probe) any other host.
//! A name that carries a storage id (`use_storage_id`) is sent to that
//! member at the address it reports now.

use std::net::Ipv4Addr;

use bytes::Bytes;
use ferrodfs_proto::cluster::Member;
use ferrodfs_proto::file_id::Source;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::request::{Method, RequestHead};
use super::response::Head;
use super::target::{query_param, with_param, Target};
use super::{Body, HttpMetrics, Reply, ResponseMode, SOURCE_FETCH_HEADER};
use crate::ctx::Ctx;

/// Request headers passed on to the source, so ranges and conditional
/// requests work through a proxied fetch too.
const FORWARDED: &[&str] = &["range", "if-range", "if-none-match", "if-modified-since"];
/// Response headers relayed from the source.
const RELAYED: &[(&str, &str)] = &[
    ("content-type", "Content-Type"),
    ("content-range", "Content-Range"),
    ("content-disposition", "Content-Disposition"),
    ("accept-ranges", "Accept-Ranges"),
    ("etag", "ETag"),
    ("last-modified", "Last-Modified"),
    ("location", "Location"),
];

/// The address and HTTP port of the member that created a file
/// (`fallback` port when it listed none): the member at the source IP,
/// or the one with the source's storage id. `None` when no member of the
/// group as the trackers list it matches.
pub(crate) fn source_addr(
    members: &[Member],
    source: Source,
    fallback: u16,
) -> Option<(Ipv4Addr, u16)> {
    let m = members.iter().find(|m| match source {
        Source::Ip(ip) => m.ip.parse::<Ipv4Addr>() == Ok(ip),
        Source::Id(id) => m.id == id.to_string(),
    })?;
    let ip = m.ip.parse().ok()?;
    Some((
        ip,
        if m.http_port != 0 {
            m.http_port
        } else {
            fallback
        },
    ))
}

/// The path and query to ask the source for, marked as a
/// storage-to-storage request the way mod_fastdfs marks it.
pub(crate) fn source_path(path: &str, query: &str) -> String {
    format!("{path}?{}", with_param(query, "redirect", "1"))
}

pub(crate) async fn serve(
    ctx: &Ctx,
    metrics: &HttpMetrics,
    req: &RequestHead,
    target: &Target<'_>,
) -> Reply {
    let missing = || Reply::error(404, "no such file");
    if req.header(SOURCE_FETCH_HEADER).is_some() || query_param(target.query, "redirect").is_some()
    {
        return missing();
    }
    let Some(source) = target.name.info().map(|i| i.source) else {
        return missing();
    };
    let addr = {
        let members = ctx.members.read().unwrap_or_else(|e| e.into_inner());
        let ours = matches!(source, Source::Ip(ip) if ip == ctx.cfg.ip);
        if members.is_empty() && !ours {
            // Just started: no tracker has listed the group yet, so the
            // source cannot be told from a stranger. Not "no such file":
            // the file may well be on the source (a load balancer tries
            // the group's next member on a 503).
            let mut r = Reply::error(503, "this storage does not know its group's members yet");
            r.head.push("Retry-After", "1");
            return r;
        }
        source_addr(&members, source, ctx.cfg.http_port)
    };
    let Some((ip, port)) = addr else {
        tracing::debug!(
            "http: {} names source {source}, no member of {}: not fetched",
            target.path,
            ctx.cfg.group_name
        );
        return missing();
    };
    if ip == ctx.cfg.ip || ip.is_unspecified() {
        return missing();
    }
    let path = source_path(target.path, target.query);
    match ctx.cfg.http.response_mode {
        ResponseMode::Redirect => {
            metrics.sent_to_source("redirect");
            Reply::redirect(format!("http://{ip}:{port}{path}"))
        }
        ResponseMode::Proxy => {
            metrics.sent_to_source("proxy");
            match fetch(ctx, req, ip, port, &path).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(
                        "http: source {ip}:{port} unreachable for {}: {e:#}",
                        target.path
                    );
                    Reply::error(
                        502,
                        format!("the source storage {ip}:{port} is unreachable"),
                    )
                }
            }
        }
    }
}

/// One request to the source on a fresh connection; the reply streams its
/// body as it arrives.
async fn fetch(
    ctx: &Ctx,
    req: &RequestHead,
    ip: Ipv4Addr,
    port: u16,
    path_and_query: &str,
) -> anyhow::Result<Reply> {
    let timeout = ctx.cfg.network_timeout;
    let stream = tokio::time::timeout(timeout, TcpStream::connect((ip, port)))
        .await
        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("http: source connection ended: {e}");
        }
    });
    let method = if req.method == Method::Head {
        hyper::Method::HEAD
    } else {
        hyper::Method::GET
    };
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", format!("{ip}:{port}"))
        .header(SOURCE_FETCH_HEADER, "1");
    for name in FORWARDED {
        if let Some(v) = req.header(name) {
            builder = builder.header(*name, v);
        }
    }
    let resp = tokio::time::timeout(
        timeout,
        sender.send_request(builder.body(Empty::<Bytes>::new())?),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no response within {timeout:?}"))??;
    let mut head = Head::new(resp.status().as_u16());
    for (lower, shown) in RELAYED {
        if let Some(v) = resp.headers().get(*lower).and_then(|v| v.to_str().ok()) {
            head.push(shown, v);
        }
    }
    let no_body = req.method == Method::Head || matches!(head.status, 204 | 304);
    head.content_length = match resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(n) => Some(n),
        None if no_body => Some(0),
        None => None,
    };
    let body = if no_body {
        Body::Empty
    } else {
        Body::Relay(resp.into_body())
    };
    Ok(Reply { head, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, ip: &str, http_port: u16) -> Member {
        Member {
            id: id.into(),
            ip: ip.into(),
            port: 23000,
            http_port,
            status: 7,
            fastdfs: false,
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_source_port_comes_from_the_members_list() {
        let members = [
            member("10.0.0.1", "10.0.0.1", 8080),
            member("10.0.0.2", "10.0.0.2", 0),
        ];
        let by_ip = |s: &str| source_addr(&members, Source::Ip(ip(s)), 8888);
        assert_eq!(by_ip("10.0.0.1"), Some((ip("10.0.0.1"), 8080)));
        assert_eq!(
            by_ip("10.0.0.2"),
            Some((ip("10.0.0.2"), 8888)),
            "no port listed"
        );
        assert_eq!(by_ip("10.0.0.3"), None, "not a member: never contacted");
    }

    #[test]
    fn a_storage_id_leads_to_the_members_current_address() {
        let members = [member("100001", "10.0.0.7", 8080)];
        assert_eq!(
            source_addr(&members, Source::Id(100_001), 8888),
            Some((ip("10.0.0.7"), 8080))
        );
        assert_eq!(source_addr(&members, Source::Id(100_002), 8888), None);
        assert_eq!(
            source_addr(&members, Source::Ip(ip("10.0.0.1")), 8888),
            None,
            "the IP it had before is nobody now"
        );
    }

    #[test]
    fn source_paths_carry_the_query_and_the_redirect_mark() {
        assert_eq!(
            source_path("/group1/M00/00/00/x", ""),
            "/group1/M00/00/00/x?redirect=1"
        );
        assert_eq!(
            source_path("/group1/M00/00/00/x", "token=a&ts=1"),
            "/group1/M00/00/00/x?token=a&ts=1&redirect=1"
        );
    }
}
