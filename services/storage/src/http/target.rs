//! The request target: `/<group>/Mxx/HH/HH/name` (mod_fastdfs with
//! `url_have_group_name = true`) or `/Mxx/HH/HH/name` (its default), plus
//! the query. Everything is validated here, before any path touches the
//! disk: percent-escapes are decoded first, so `%2e%2e` is judged as `..`,
//! and only names [`LogicalName::parse`] accepts get through — those can
//! never leave their store path.

use std::borrow::Cow;

use ferrodfs_proto::fields::validate_group;
use ferrodfs_proto::file_id::LogicalName;

/// Longest request target accepted (414 beyond). File IDs are under 150
/// bytes; the rest is room for a token and a download name.
pub const MAX_TARGET_LEN: usize = 2048;

/// A request target naming a file; borrows from the request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// `None` for the group-less form, which means this storage's group.
    pub group: Option<Cow<'a, str>>,
    pub name: LogicalName,
    /// The path as sent (still percent-encoded), without the query.
    pub path: &'a str,
    /// The raw query (after `?`), empty if none.
    pub query: &'a str,
}

/// Why a target names no file; all are the client's fault (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    NotAPath,
    BadEscape,
    NotAFileId(String),
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetError::NotAPath => write!(f, "the request target is not an absolute path"),
            TargetError::BadEscape => write!(f, "the path has an invalid percent-escape"),
            TargetError::NotAFileId(p) => {
                write!(f, "{p:?} is not a file ID (expected /group/Mxx/HH/HH/name)")
            }
        }
    }
}

impl std::error::Error for TargetError {}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`, as in
/// query strings). `None` for a truncated or non-hex escape or a result
/// that is not UTF-8. Text without escapes is returned as it is.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<Cow<'_, str>> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || (plus_is_space && c == b'+')) {
        return Some(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                // Two hex digits: `from_str_radix` alone would take `+1`.
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Parses an origin-form target (`/path?query`); an absolute-form one
/// (`http://host/path`) is reduced to its path first, as mod_fastdfs does.
pub fn parse_target(raw: &str) -> Result<Target<'_>, TargetError> {
    let raw = match raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"))
    {
        Some(rest) => &rest[rest.find('/').ok_or(TargetError::NotAPath)?..],
        None => raw,
    };
    let (sent_path, query) = raw.split_once('?').unwrap_or((raw, ""));
    let raw_path = sent_path.strip_prefix('/').ok_or(TargetError::NotAPath)?;
    let path = percent_decode(raw_path, false).ok_or(TargetError::BadEscape)?;
    let not_id = || TargetError::NotAFileId(path.chars().take(200).collect());
    // A logical name has exactly four segments, so five means a group.
    let (group, rest) = match path.matches('/').count() {
        3 => (None, &*path),
        4 => {
            let (g, rest) = path.split_once('/').expect("has a slash");
            validate_group(g).map_err(|_| not_id())?;
            (Some(g), rest)
        }
        _ => return Err(not_id()),
    };
    let name = LogicalName::parse(rest).map_err(|_| not_id())?;
    // The group borrows from the request unless the path had escapes.
    let group = group.map(|g| match &path {
        Cow::Borrowed(p) => Cow::Borrowed(&p[..g.len()]),
        Cow::Owned(_) => Cow::Owned(g.to_string()),
    });
    Ok(Target {
        group,
        name,
        path: sent_path,
        query,
    })
}

/// The first value of `key` in a query string, percent-decoded.
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| percent_decode(v, true))
        .map(Cow::into_owned)
}

/// `query` with `key=value` appended.
pub fn with_param(query: &str, key: &str, value: &str) -> String {
    if query.is_empty() {
        format!("{key}={value}")
    } else {
        format!("{query}&{key}={value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";

    #[test]
    fn a_file_id_path_with_group_and_query() {
        let raw = format!("/group1/{NAME}?token=abc&ts=5");
        let t = parse_target(&raw).unwrap();
        assert_eq!(t.group.as_deref(), Some("group1"));
        assert_eq!(t.name.to_string(), NAME);
        assert_eq!(t.query, "token=abc&ts=5");
        assert_eq!(t.path, format!("/group1/{NAME}"));
    }

    #[test]
    fn the_group_less_form_is_accepted() {
        let raw = format!("/{NAME}");
        let t = parse_target(&raw).unwrap();
        assert_eq!(t.group, None);
        assert_eq!(t.name.to_string(), NAME);
    }

    #[test]
    fn absolute_form_targets_are_reduced_to_their_path() {
        let raw = format!("http://example.com:8888/group1/{NAME}");
        let t = parse_target(&raw).unwrap();
        assert_eq!(t.group.as_deref(), Some("group1"));
    }

    #[test]
    fn slave_names_parse() {
        let slave = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4_150x150.jpg";
        let raw = format!("/group1/{slave}");
        let t = parse_target(&raw).unwrap();
        assert!(t.name.is_slave());
    }

    #[test]
    fn traversal_is_refused_plain_or_encoded() {
        for p in [
            "/group1/M00/../../etc/passwd",
            "/group1/M00/00/00/../../../../etc/passwd",
            "/group1/M00/00/%2e%2e/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz",
            "/group1/M00/00/00/%2e%2e%2f%2e%2e%2fwKgBh1Xtr9-AeTfWAAVFOL7FJU4",
            "/group1/M00/00/00/..%2F..%2F..%2Fetc%2Fpasswd_aaaaaaaaaaaaaaaaaaaaa",
            "/group1/M00/00/00/%252e%252e/wKgBh1Xtr9-AeTfWAAVFOL7FJU4",
            "/group1/M00/00/00/.wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz",
            "/group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4%00.jpg",
            "/../group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4",
            "//etc/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4",
            "/group1/M00/0/000/wKgBh1Xtr9-AeTfWAAVFOL7FJU4",
            "/group1/m00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4",
            "/group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4%zz",
        ] {
            assert!(parse_target(p).is_err(), "{p} must be refused");
        }
    }

    #[test]
    fn non_paths_and_short_names_are_refused() {
        assert_eq!(parse_target("*"), Err(TargetError::NotAPath));
        assert!(parse_target("/").is_err());
        assert!(parse_target("/group1/M00/00/00/short.jpg").is_err());
        assert!(parse_target("/group1/extra/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4").is_err());
    }

    #[test]
    fn query_values_are_decoded() {
        let q = "filename=my+photo%20%C3%A9.jpg&token=ab&empty&ts=";
        assert_eq!(query_param(q, "filename").unwrap(), "my photo é.jpg");
        assert_eq!(query_param(q, "token").unwrap(), "ab");
        assert_eq!(query_param(q, "empty").unwrap(), "");
        assert_eq!(query_param(q, "ts").unwrap(), "");
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param("filename=%E9", "filename"), None, "not UTF-8");
    }

    #[test]
    fn params_append_to_any_query() {
        assert_eq!(with_param("", "redirect", "1"), "redirect=1");
        assert_eq!(with_param("a=b", "redirect", "1"), "a=b&redirect=1");
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Every byte as `%XX`, so any text can be put in a target.
    fn escape_all(s: &str) -> String {
        s.bytes().map(|b| format!("%{b:02X}")).collect()
    }

    /// Targets of any text, and file-ID-shaped ones with escapes, dot
    /// segments and queries mixed in.
    fn target_like() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,120}",
            "(https?://[a-z:0-9]{0,12})?/([a-z0-9]{1,6}/)?M[0-9A-F]{2}/[0-9A-F%.]{2,4}/[0-9A-F]{2}/[A-Za-z0-9_.%+-]{20,60}(\\?[a-z=&%+0-9]{0,20})?",
        ]
    }

    proptest! {
        #[test]
        fn any_target_names_a_file_id_or_is_refused(t in target_like()) {
            if let Ok(target) = parse_target(&t) {
                let s = target.name.to_string();
                prop_assert!(!s.contains(".."), "{} gave {}", t, s);
                prop_assert_eq!(LogicalName::parse(&s), Ok(target.name.clone()));
                if let Some(g) = &target.group {
                    prop_assert!(validate_group(g).is_ok());
                }
            }
        }

        #[test]
        fn file_ids_round_trip_plain_or_escaped(
            group in proptest::option::of("[A-Za-z0-9]{1,16}"),
            n in crate::arb::logical_name(),
            query in "[a-z0-9=&]{0,20}",
            escaped: bool,
        ) {
            let mut path = match &group {
                Some(g) => format!("{g}/{n}"),
                None => n.to_string(),
            };
            if escaped {
                path = escape_all(&path).replace("%2F", "/");
            }
            let raw = if query.is_empty() {
                format!("/{path}")
            } else {
                format!("/{path}?{query}")
            };
            let t = parse_target(&raw).unwrap();
            prop_assert_eq!(t.group.as_deref(), group.as_deref());
            prop_assert_eq!(t.name, n);
            prop_assert_eq!(t.path, format!("/{path}"));
            prop_assert_eq!(t.query, query);
        }

        #[test]
        fn any_escaped_text_decodes_to_itself(s in ".{0,40}") {
            let escaped = escape_all(&s);
            let plain = percent_decode(&escaped, false);
            let query = percent_decode(&escaped, true);
            prop_assert_eq!(plain.as_deref(), Some(s.as_str()));
            prop_assert_eq!(query.as_deref(), Some(s.as_str()));
        }

        #[test]
        fn any_query_gives_values_or_nothing(
            q in "[a-z=&%+0-9A-F.]{0,60}|.{0,60}",
            key in "[a-z]{0,3}",
        ) {
            let _ = query_param(&q, &key);
            if percent_decode(&q, true).is_some() {
                let b = q.as_bytes();
                for (i, _) in q.match_indices('%') {
                    let hex = b.get(i + 1..i + 3).unwrap_or_default();
                    prop_assert!(
                        hex.len() == 2 && hex.iter().all(u8::is_ascii_hexdigit),
                        "{:?} decoded with a bad escape at {}", q, i
                    );
                }
            }
        }

        #[test]
        fn appended_params_read_back(
            q in "([a-z]{1,4}=[a-z0-9]{0,4})?(&[a-z]{1,4}=[a-z0-9]{0,4}){0,3}",
            v in "[A-Za-z0-9]{0,10}",
        ) {
            let q2 = with_param(&q, "zkey", &v);
            prop_assert_eq!(query_param(&q2, "zkey"), Some(v));
        }
    }

    #[test]
    fn a_sign_inside_an_escape_is_not_hex() {
        for bad in ["%+1", "%-1", "%+F", "%1+"] {
            assert_eq!(percent_decode(bad, false), None, "{bad}");
        }
    }
}
