//! What an upload answers, as JSON: the file ID and its URL, or an error
//! with the HTTP status and the FastDFS status (errno) behind it: the one
//! the cluster answered when it refused, else the errno a FastDFS client
//! reports for the same failure.

use ferrodfs_client::ClientError;
use ferrodfs_proto::io::ProtoError;
use ferrodfs_proto::status;
use serde::Serialize;

use super::form::FormError;

/// Why an upload failed.
#[derive(Debug)]
pub enum UploadError {
    /// 403: the client is not in `front.upload.allow`.
    Forbidden,
    /// 403: `front.upload.token` is set and the request's bearer token is
    /// missing or another.
    Token,
    /// 405: uploads are POSTs.
    Method,
    /// 413: the body is larger than `front.upload.max_size`.
    TooLarge { max: u64 },
    /// 400: a header that is not text, or a `Content-Length` that is not a number.
    BadHeader,
    /// 400: `?ext=` is not an extension a FastDFS file may have.
    Ext(String),
    /// 400: the multipart form cannot be read.
    Form(FormError),
    /// 400: the client stopped sending the body (closed, or silent too long).
    Body(String),
    /// 502 / 503 / 504: the trackers or the storage refused or failed.
    Cluster(ClientError),
}

/// The JSON of an error.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    status: u8,
}

/// The JSON of a stored file.
#[derive(Debug, Serialize)]
struct Stored<'a> {
    file_id: &'a str,
    url: &'a str,
    size: u64,
}

impl UploadError {
    pub fn http_status(&self) -> u16 {
        match self {
            UploadError::Forbidden | UploadError::Token => 403,
            UploadError::Method => 405,
            UploadError::TooLarge { .. } => 413,
            UploadError::BadHeader
            | UploadError::Ext(_)
            | UploadError::Form(_)
            | UploadError::Body(_) => 400,
            UploadError::Cluster(e) => match e.status() {
                // No ACTIVE storage in the group, or none with room.
                Some(status::ENOENT | status::ENOSPC) => 503,
                Some(_) => 502,
                None if matches!(e, ClientError::Timeout(_)) => 504,
                None => 502,
            },
        }
    }

    /// The FastDFS status behind the error.
    pub fn fdfs_status(&self) -> u8 {
        match self {
            UploadError::Forbidden | UploadError::Token => status::EACCES,
            UploadError::TooLarge { .. } => status::EFBIG,
            UploadError::Method
            | UploadError::BadHeader
            | UploadError::Ext(_)
            | UploadError::Form(_)
            | UploadError::Body(_) => status::EINVAL,
            UploadError::Cluster(e) => match e {
                ClientError::Proto(ProtoError::Status(s)) => *s,
                ClientError::Timeout(_) => status::ETIMEDOUT,
                ClientError::NoTracker { .. } | ClientError::Connect { .. } => status::ECONNREFUSED,
                _ => status::EIO,
            },
        }
    }

    pub fn message(&self) -> String {
        match self {
            UploadError::Forbidden => "uploads are not allowed from this address".into(),
            UploadError::Token => {
                "upload token missing or wrong (send Authorization: Bearer <token>)".into()
            }
            UploadError::Method => "uploads are POST requests".into(),
            UploadError::TooLarge { max } => {
                format!("the file is larger than the upload limit of {max} bytes")
            }
            UploadError::BadHeader => {
                "a header is not readable (Content-Length must be a number)".into()
            }
            UploadError::Ext(e) => format!(
                "ext {e:?}: an extension is up to 6 letters, digits, '-' or '_', without a leading dot"
            ),
            UploadError::Form(e) => e.message(),
            UploadError::Body(why) => format!("the request body was not received: {why}"),
            UploadError::Cluster(e) => match e.status() {
                Some(s) => format!("the cluster refused the upload: {}", status::name(s)),
                None => format!("the cluster could not be reached: {e}"),
            },
        }
    }

    /// The label of `ferrodfs_lb_uploads_total`.
    pub fn result(&self) -> &'static str {
        match self {
            UploadError::Forbidden | UploadError::Token => "forbidden",
            UploadError::Method
            | UploadError::BadHeader
            | UploadError::Ext(_)
            | UploadError::Form(_)
            | UploadError::Body(_) => "bad_request",
            UploadError::TooLarge { .. } => "too_large",
            UploadError::Cluster(e) if e.status().is_some() => "refused",
            UploadError::Cluster(_) => "unreachable",
        }
    }

    pub fn json(&self) -> String {
        let body = ErrorBody {
            error: &self.message(),
            status: self.fdfs_status(),
        };
        serde_json::to_string(&body).expect("plain struct serializes")
    }
}

/// The answer to a stored file: `url` is `base` + `/` + the file ID.
pub fn stored_json(file_id: &str, base: &str, size: u64) -> String {
    let url = format!("{base}/{file_id}");
    serde_json::to_string(&Stored {
        file_id,
        url: &url,
        size,
    })
    .expect("plain struct serializes")
}

/// Where the stored file is read back: `front.upload.public_url`, else
/// this front tier as the client reached it (`Host`) under `front.prefix`.
pub fn url_base(public_url: Option<&str>, host: Option<&str>, prefix: &str) -> String {
    match (public_url, host) {
        (Some(u), _) => u.to_string(),
        (None, Some(h)) if is_host(h) => format!("http://{h}{prefix}"),
        (None, _) => prefix.to_string(),
    }
}

/// A `Host` value safe to echo into a URL: a name or address and a port.
fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: u8) -> UploadError {
        UploadError::Cluster(ClientError::Proto(ProtoError::Status(s)))
    }

    #[test]
    fn a_refusal_by_the_cluster_keeps_its_fastdfs_status() {
        let e = refused(status::ENOSPC);
        assert_eq!((e.http_status(), e.fdfs_status()), (503, 28));
        assert_eq!(e.result(), "refused");
        let json: serde_json::Value = serde_json::from_str(&e.json()).unwrap();
        assert_eq!(json["status"], 28);
        assert!(json["error"].as_str().unwrap().contains("ENOSPC"), "{json}");
        assert_eq!(refused(status::ENOENT).http_status(), 503);
        assert_eq!(refused(status::EINVAL).http_status(), 502);
    }

    #[test]
    fn unreachable_trackers_are_a_bad_gateway() {
        let e = UploadError::Cluster(ClientError::NoTracker {
            tried: "127.0.0.1:1".into(),
            last: "refused".into(),
        });
        assert_eq!((e.http_status(), e.fdfs_status()), (502, 111));
        assert_eq!(e.result(), "unreachable");
        let e = UploadError::Cluster(ClientError::Timeout("upload".into()));
        assert_eq!((e.http_status(), e.fdfs_status()), (504, 110));
    }

    #[test]
    fn refusals_of_the_request_itself_map_to_4xx() {
        for (e, http, fdfs) in [
            (UploadError::Forbidden, 403, 13),
            (UploadError::Token, 403, 13),
            (UploadError::TooLarge { max: 5 }, 413, 27),
            (UploadError::Form(FormError::NoFile), 400, 22),
            (UploadError::Method, 405, 22),
        ] {
            assert_eq!((e.http_status(), e.fdfs_status()), (http, fdfs), "{e:?}");
        }
    }

    #[test]
    fn the_url_follows_the_public_url_or_the_host_the_client_used() {
        assert_eq!(
            url_base(Some("https://f.example/dfs"), Some("x"), "/dfs"),
            "https://f.example/dfs"
        );
        assert_eq!(
            url_base(None, Some("10.0.0.1:88"), "/dfs"),
            "http://10.0.0.1:88/dfs"
        );
        assert_eq!(url_base(None, Some("evil\"/<x>"), "/dfs"), "/dfs");
        assert_eq!(url_base(None, None, "/dfs"), "/dfs");
        let json: serde_json::Value =
            serde_json::from_str(&stored_json("group1/M00/00/00/a.jpg", "http://h/dfs", 3))
                .unwrap();
        assert_eq!(json["url"], "http://h/dfs/group1/M00/00/00/a.jpg");
        assert_eq!(json["file_id"], "group1/M00/00/00/a.jpg");
        assert_eq!(json["size"], 3);
    }
}
