//! `url`: the HTTP URL of a file on the storages' HTTP access port,
//! signed with the anti-steal token (`token` and `ts`, as
//! fastdfs-nginx-module checks them) when a secret is given.

use ferrodfs_proto::file_id::{FileId, Source};
use ferrodfs_proto::token;

/// FastDFS's storage HTTP port.
const DEFAULT_HTTP_PORT: u16 = 8888;

#[derive(clap::Args, Debug)]
pub struct UrlArgs {
    /// The file ID, e.g. group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.jpg
    pub file_id: String,
    /// Scheme, host and port in front of the path; default: the file's
    /// source storage (from the file ID) on port 8888.
    #[arg(long)]
    pub base: Option<String>,
    /// The storages' `[http] token_secret`: signs the URL.
    #[arg(long, env = "FERRODFS_HTTP_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Signing time in unix seconds (default: now; 0 never expires).
    #[arg(long, requires = "secret")]
    pub ts: Option<i64>,
    /// Download name, sent back as Content-Disposition.
    #[arg(long)]
    pub filename: Option<String>,
}

pub fn run(a: UrlArgs) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    println!("{}", build(&a, now)?);
    Ok(())
}

/// Query-string encoding: everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn build(a: &UrlArgs, now: i64) -> anyhow::Result<String> {
    let id = FileId::parse(&a.file_id).map_err(|e| anyhow::anyhow!("{:?}: {e}", a.file_id))?;
    let base = match &a.base {
        Some(b) if b.starts_with("http://") || b.starts_with("https://") => {
            b.trim_end_matches('/').to_string()
        }
        Some(b) => anyhow::bail!("--base {b:?}: give a URL like http://host:8888"),
        None => match id.name.info().map(|i| i.source) {
            Some(Source::Ip(ip)) => format!("http://{ip}:{DEFAULT_HTTP_PORT}"),
            _ => anyhow::bail!(
                "{id}: the source storage is a storage id, not an address; pass --base http://host:port"
            ),
        },
    };
    let mut query = Vec::new();
    if let Some(secret) = a.secret.as_deref().filter(|s| !s.is_empty()) {
        let ts = a.ts.unwrap_or(now);
        let t = token::sign(&id.name.to_string(), secret.as_bytes(), ts);
        query.push(format!("token={t}&ts={ts}"));
    }
    if let Some(name) = &a.filename {
        query.push(format!("filename={}", encode(name)));
    }
    let mut url = format!("{base}/{id}");
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";

    fn args(base: Option<&str>, secret: Option<&str>, ts: Option<i64>) -> UrlArgs {
        UrlArgs {
            file_id: ID.into(),
            base: base.map(Into::into),
            secret: secret.map(Into::into),
            ts,
            filename: None,
        }
    }

    #[test]
    fn without_a_secret_the_url_points_at_the_source_storage() {
        assert_eq!(
            build(&args(None, None, None), 5).unwrap(),
            format!("http://192.168.1.135:8888/{ID}")
        );
        assert_eq!(
            build(&args(Some("http://cdn.example.com/"), None, None), 5).unwrap(),
            format!("http://cdn.example.com/{ID}")
        );
    }

    #[test]
    fn a_secret_signs_the_path_without_the_group() {
        let url = build(
            &args(
                Some("http://h:1"),
                Some("FastDFS1234567890"),
                Some(1_700_000_000),
            ),
            5,
        )
        .unwrap();
        let expect = token::sign(
            "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz",
            b"FastDFS1234567890",
            1_700_000_000,
        );
        assert_eq!(url, format!("http://h:1/{ID}?token={expect}&ts=1700000000"));
        let now = build(&args(Some("http://h:1"), Some("s"), None), 42).unwrap();
        assert!(now.ends_with("&ts=42"), "{now}");
    }

    #[test]
    fn a_download_name_is_encoded() {
        let mut a = args(Some("http://h:1"), None, None);
        a.filename = Some("my file é.tar.gz".into());
        assert!(build(&a, 0)
            .unwrap()
            .ends_with("?filename=my%20file%20%C3%A9.tar.gz"));
    }

    #[test]
    fn bad_input_is_explained() {
        let mut a = args(Some("h:1"), None, None);
        assert!(build(&a, 0).unwrap_err().to_string().contains("--base"));
        a.file_id = "not-an-id".into();
        assert!(build(&a, 0).is_err());
    }
}
