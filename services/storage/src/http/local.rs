//! Serving a file this storage holds: validators, conditional requests,
//! the range, and the headers mod_fastdfs sends.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::range::{self, RangeOutcome};
use super::request::{Method, RequestHead};
use super::response::{attachment, Head};
use super::target::{query_param, Target};
use super::validators::Validators;
use super::{mime, Body, Reply};
use crate::ctx::Ctx;

/// Opens a data file: `Ok(None)` when it is not here (not yet replicated,
/// deleted, or never existed), or is not a regular file.
pub(crate) fn open(path: &Path) -> io::Result<Option<(std::fs::File, std::fs::Metadata)>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(nix::libc::ENOTDIR) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    Ok(meta.is_file().then_some((file, meta)))
}

pub(crate) fn serve(
    ctx: &Ctx,
    req: &RequestHead,
    target: &Target,
    (file, meta): (std::fs::File, std::fs::Metadata),
) -> Reply {
    let size = meta.len();
    let v = Validators::of(&target.name, size, meta.mtime().max(0) as u64);
    let mut head = Head::new(200)
        .header("ETag", v.etag.clone())
        .header("Last-Modified", v.last_modified_http());
    if v.not_modified(req.header("if-none-match"), req.header("if-modified-since")) {
        head.status = 304;
        return Reply {
            head,
            body: Body::Empty,
        };
    }
    head.headers.push((
        "Content-Type",
        mime::content_type(&target.name.name, &ctx.cfg.http.default_content_type).to_string(),
    ));
    head.headers.push(("Accept-Ranges", "bytes".into()));
    if let Some(name) = query_param(&target.query, "filename").filter(|n| !n.is_empty()) {
        head.headers
            .push(("Content-Disposition", attachment(&name)));
    }
    let wanted = match (req.header("range"), req.header("if-range")) {
        (Some(r), None) => range::resolve(r, size),
        (Some(r), Some(ir)) if v.if_range_holds(ir) => range::resolve(r, size),
        _ => RangeOutcome::Full,
    };
    let (offset, len) = match wanted {
        RangeOutcome::Full => (0, size),
        RangeOutcome::Partial { start, end } => {
            head.status = 206;
            head.headers
                .push(("Content-Range", format!("bytes {start}-{end}/{size}")));
            (start, end - start + 1)
        }
        RangeOutcome::Unsatisfiable => {
            let mut r = Reply::error(416, format!("range not satisfiable for {size} bytes"));
            r.head
                .headers
                .push(("Content-Range", format!("bytes */{size}")));
            return r;
        }
    };
    head.content_length = Some(len);
    let body = if req.method == Method::Head || len == 0 {
        Body::Empty
    } else {
        Body::File { file, offset, len }
    };
    Reply { head, body }
}
