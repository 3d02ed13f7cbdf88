//! The `[http]` table of storage.toml: what mod_fastdfs.conf and http.conf
//! configured for fastdfs-nginx-module. The port itself stays the
//! top-level `http_port` (FastDFS's `http.server_port`, also reported to
//! trackers).

use ferrodfs_runtime::ConfigError;
use serde::Deserialize;

/// FastDFS's `http.anti_steal.token_ttl` default, in seconds.
const DEFAULT_TOKEN_TTL: u64 = 600;
/// FastDFS keeps at most 128 bytes of `http.anti_steal.secret_key`.
const MAX_SECRET_LEN: usize = 128;
/// More accepting threads than this only cost memory and wake-ups.
const MAX_WORKERS: i64 = 256;

/// The table as written; [`HttpConfig::from_raw`] applies defaults and checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    enabled: Option<bool>,
    response_mode: Option<String>,
    default_content_type: Option<String>,
    token_secret: Option<String>,
    token_ttl: Option<i64>,
    token_fail_redirect: Option<String>,
    workers: Option<i64>,
}

/// What to do with a request for a file this storage does not hold yet
/// but another member of its group created (mod_fastdfs `response_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Fetch it from the source storage and stream it (the default).
    Proxy,
    /// Answer 302 with the source storage's URL.
    Redirect,
}

/// The anti-steal token check (`http.anti_steal.*`); absent = off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    pub secret: Vec<u8>,
    /// Seconds a `ts` stays valid; `ts=0` never expires, as in FastDFS.
    pub ttl: u64,
    /// Where a refused request is sent (302); `None` answers 403.
    pub fail_redirect: Option<String>,
}

/// Validated `[http]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `false`: no HTTP listener (files are served elsewhere, if at all);
    /// `http_port` is still what trackers are told.
    pub enabled: bool,
    pub response_mode: ResponseMode,
    /// For extensions the built-in table does not know.
    pub default_content_type: String,
    pub token: Option<TokenConfig>,
    /// Threads serving the port, each with its own event loop and its own
    /// SO_REUSEPORT listener (nginx's `worker_processes`); defaults to
    /// the number of cores.
    pub workers: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig::from_raw("", RawHttp::default()).expect("defaults are valid")
    }
}

/// Header values must not be able to smuggle a second header in.
fn header_safe(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl HttpConfig {
    pub(crate) fn from_raw(file: &str, raw: RawHttp) -> anyhow::Result<HttpConfig> {
        let err = |key: &str, problem: String| -> anyhow::Error {
            ConfigError::new(file, format!("http.{key}"), problem).into()
        };
        let response_mode = match raw.response_mode.as_deref() {
            None | Some("proxy") => ResponseMode::Proxy,
            Some("redirect") => ResponseMode::Redirect,
            Some(other) => {
                return Err(err(
                    "response_mode",
                    format!("{other:?}: use \"proxy\" or \"redirect\""),
                ))
            }
        };
        let default_content_type = raw
            .default_content_type
            .unwrap_or_else(|| "application/octet-stream".into());
        if default_content_type.is_empty() || !header_safe(&default_content_type) {
            return Err(err(
                "default_content_type",
                format!("{default_content_type:?} is not a valid media type"),
            ));
        }
        let secret = raw.token_secret.filter(|s| !s.is_empty());
        if secret.is_none() {
            for (key, set) in [
                ("token_ttl", raw.token_ttl.is_some()),
                ("token_fail_redirect", raw.token_fail_redirect.is_some()),
            ] {
                if set {
                    return Err(err(
                        key,
                        "has no effect without http.token_secret (the token check is off)".into(),
                    ));
                }
            }
        }
        let token = match secret {
            None => None,
            Some(secret) => {
                if secret.len() > MAX_SECRET_LEN {
                    return Err(err(
                        "token_secret",
                        format!(
                            "{} bytes; FastDFS allows at most {MAX_SECRET_LEN}",
                            secret.len()
                        ),
                    ));
                }
                let ttl = match raw.token_ttl {
                    None => DEFAULT_TOKEN_TTL,
                    Some(t) if (1..=10 * 365 * 86_400).contains(&t) => t as u64,
                    Some(t) => {
                        return Err(err(
                            "token_ttl",
                            format!("{t} must be between 1 and 315360000 seconds"),
                        ))
                    }
                };
                let fail_redirect = match raw.token_fail_redirect {
                    None => None,
                    Some(u)
                        if header_safe(&u)
                            && (u.starts_with("http://")
                                || u.starts_with("https://")
                                || u.starts_with('/')) =>
                    {
                        Some(u)
                    }
                    Some(u) => {
                        return Err(err(
                            "token_fail_redirect",
                            format!("{u:?} is not an http(s) URL or an absolute path"),
                        ))
                    }
                };
                Some(TokenConfig {
                    secret: secret.into_bytes(),
                    ttl,
                    fail_redirect,
                })
            }
        };
        let workers = match raw.workers {
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Some(n) if (1..=MAX_WORKERS).contains(&n) => n as usize,
            Some(n) => {
                return Err(err(
                    "workers",
                    format!("{n} must be between 1 and {MAX_WORKERS} (threads serving the HTTP port; default: one per core)"),
                ))
            }
        };
        Ok(HttpConfig {
            enabled: raw.enabled.unwrap_or(true),
            workers,
            response_mode,
            default_content_type,
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<HttpConfig> {
        let raw: RawHttp = ferrodfs_runtime::config::parse_toml("storage.toml", text).unwrap();
        HttpConfig::from_raw("storage.toml", raw)
    }

    #[test]
    fn defaults_serve_with_proxy_mode_and_no_token() {
        let c = parse("").unwrap();
        assert!(c.enabled);
        assert_eq!(c.response_mode, ResponseMode::Proxy);
        assert_eq!(c.default_content_type, "application/octet-stream");
        assert_eq!(c.token, None);
        assert_eq!(
            c.workers,
            std::thread::available_parallelism().unwrap().get(),
            "one worker per core"
        );
        assert_eq!(parse("workers = 3").unwrap().workers, 3);
    }

    #[test]
    fn a_secret_turns_the_token_check_on_with_fastdfs_ttl() {
        let c = parse("token_secret = 'FastDFS1234567890'").unwrap();
        let t = c.token.unwrap();
        assert_eq!(t.secret, b"FastDFS1234567890");
        assert_eq!(t.ttl, 600);
        assert_eq!(t.fail_redirect, None);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            (
                "response_mode = 'mirror'",
                "storage.toml: http.response_mode:",
            ),
            (
                "token_secret = 's'\ntoken_ttl = 0",
                "storage.toml: http.token_ttl:",
            ),
            (
                "token_ttl = 60",
                "storage.toml: http.token_ttl: has no effect",
            ),
            (
                "token_secret = 's'\ntoken_fail_redirect = 'ftp://x'",
                "storage.toml: http.token_fail_redirect:",
            ),
            (
                "token_secret = 's'\ntoken_fail_redirect = \"/x\\r\\nSet-Cookie: a\"",
                "storage.toml: http.token_fail_redirect:",
            ),
            ("workers = 0", "storage.toml: http.workers:"),
            ("workers = 257", "storage.toml: http.workers:"),
            ("workers = -1", "storage.toml: http.workers:"),
            (
                "default_content_type = ''",
                "storage.toml: http.default_content_type:",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.starts_with(key), "{text}: {e}");
        }
        let long = format!("token_secret = '{}'", "k".repeat(129));
        assert!(parse(&long)
            .unwrap_err()
            .to_string()
            .starts_with("storage.toml: http.token_secret:"));
    }
}
