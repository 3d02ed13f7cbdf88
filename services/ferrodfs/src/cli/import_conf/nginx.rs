//! The nginx of the classic stack's tracker nodes (proxy cache, purge,
//! per-group upstreams) → edge.toml. Only the settings the edge has an
//! equivalent for are mapped; every directive is reported.

use super::common;
use super::ini::Entry;
use super::mapping::{Cx, Target};
use super::report::{Value, Verdict};
use super::values;

/// One directive: its words, the line it starts on, and the block
/// headers it sits in (outermost first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub words: Vec<String>,
    pub line: usize,
    pub blocks: Vec<String>,
    /// A number per block opened, so two `server` blocks differ.
    pub block_ids: Vec<usize>,
}

/// Splits nginx config text into directives; `{`/`}` open and close
/// blocks, `#` comments run to the end of the line, quotes group words.
pub fn parse(text: &str) -> Result<Vec<Directive>, String> {
    let mut out = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut ids: Vec<usize> = Vec::new();
    let mut opened = 0;
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut start = 1;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        }
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else {
                word.push(c);
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '#' => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            ';' | '{' => {
                flush(&mut word, &mut words);
                if words.is_empty() {
                    return Err(format!("line {line}: {c:?} without a directive"));
                }
                let w = std::mem::take(&mut words);
                if c == '{' {
                    stack.push(w.join(" "));
                    opened += 1;
                    ids.push(opened);
                } else {
                    out.push(Directive {
                        words: w,
                        line: start,
                        blocks: stack.clone(),
                        block_ids: ids.clone(),
                    });
                }
            }
            '}' => {
                flush(&mut word, &mut words);
                if !words.is_empty() {
                    return Err(format!(
                        "line {line}: {:?} is missing its ';'",
                        words.join(" ")
                    ));
                }
                ids.pop();
                if stack.pop().is_none() {
                    return Err(format!("line {line}: '}}' closes no block"));
                }
            }
            c if c.is_whitespace() => flush(&mut word, &mut words),
            c => {
                if word.is_empty() && words.is_empty() {
                    start = line;
                }
                word.push(c);
            }
        }
    }
    flush(&mut word, &mut words);
    if !words.is_empty() {
        return Err(format!("{:?} is missing its ';'", words.join(" ")));
    }
    if let Some(open) = stack.last() {
        return Err(format!("block {open:?} is never closed"));
    }
    Ok(out)
}

/// An nginx time (`30d`, `12h`, `90`, `1h30m`, `2w`) in the edge's
/// notation (`ms`, `s`, `m`, `h`, `d`).
pub fn duration(v: &str) -> Result<String, String> {
    let bad = || format!("{v:?} is not an nginx time like 10s, 12h or 30d");
    if v.is_empty() {
        return Err(bad());
    }
    let mut total_ms: u64 = 0;
    let mut parts = 0;
    let mut rest = v;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "M" => 30 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return Err(bad()),
        };
        total_ms = n
            .checked_mul(ms)
            .and_then(|x| x.checked_add(total_ms))
            .ok_or_else(bad)?;
        parts += 1;
    }
    let simple = parts == 1 && ["ms", "s", "m", "h", "d"].iter().any(|u| v.ends_with(u));
    Ok(if simple {
        v.to_string()
    } else if total_ms.is_multiple_of(1000) {
        format!("{}s", total_ms / 1000)
    } else {
        format!("{total_ms}ms")
    })
}

/// The report's view of a directive: the key is the directive name.
fn entry(file: &str, d: &Directive, key: &str, value: &str) -> Entry {
    Entry {
        file: file.to_string(),
        line: d.line,
        section: d.blocks.last().cloned(),
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn in_block(d: &Directive, word: &str) -> bool {
    d.blocks
        .iter()
        .any(|b| b.split_whitespace().next() == Some(word))
}

pub fn map(file: &str, text: &str, cx: &mut Cx) -> Result<(), String> {
    let directives = parse(text).map_err(|e| format!("{file}: {e}"))?;
    // A server block with ngx_fastdfs_module is a storage's HTTP server,
    // which the storage itself replaces.
    let server_of = |d: &Directive| {
        d.blocks
            .iter()
            .position(|h| h == "server")
            .map(|i| d.block_ids[i])
    };
    let storage_servers: Vec<usize> = directives
        .iter()
        .filter(|d| d.words[0] == "ngx_fastdfs_module")
        .filter_map(server_of)
        .collect();
    let in_storage_server =
        |d: &Directive| server_of(d).is_some_and(|s| storage_servers.contains(&s));
    let mut purge_allow: Vec<String> = Vec::new();
    let e_ = |d: &Directive| entry(file, d, &d.words[0], &d.words[1..].join(" "));
    for d in &directives {
        let name = d.words[0].as_str();
        let args = &d.words[1..];
        let e = e_(d);
        if in_storage_server(d) {
            cx.ignored(
                &e,
                "a storage's HTTP server: the ferrodfs storage serves HTTP on its http_port itself",
            );
            continue;
        }
        let purge = d
            .blocks
            .iter()
            .any(|b| b.starts_with("location") && b.contains("purge"));
        let edge_setting = matches!(
            name,
            "proxy_cache_path"
                | "proxy_cache_valid"
                | "listen"
                | "expires"
                | "client_max_body_size"
                | "proxy_connect_timeout"
                | "proxy_read_timeout"
                | "proxy_next_upstream_tries"
        ) || (purge && matches!(name, "allow" | "deny"));
        if edge_setting && !cx.edge_on {
            cx.unmapped(&e, common::NO_EDGE);
            continue;
        }
        let edge = Target::Edge;
        match name {
            "proxy_cache_path" => {
                let Some(path) = args.first() else {
                    cx.unmapped(&e, "no path given");
                    continue;
                };
                cx.map(&entry(file, d, "proxy_cache_path", path), edge, "cache", "path", Value::Str(path.clone()));
                for a in &args[1..] {
                    let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
                    let pe = entry(file, d, &format!("proxy_cache_path {k}"), v);
                    match k {
                        "max_size" => cx.try_map(&pe, edge, "cache", "max_size", values::size(v).map(Value::Str)),
                        "inactive" => cx.try_map(&pe, edge, "cache", "inactive", duration(v).map(Value::Str)),
                        "levels" | "use_temp_path" => cx.ignored(&pe, "the edge lays out its cache directory itself"),
                        "keys_zone" => cx.ignored(&pe, "the cache index is kept by the edge; no shared-memory zone to size"),
                        _ => cx.ignored(&pe, "an nginx cache tuning parameter with no edge setting"),
                    }
                }
            }
            "proxy_cache_valid" => {
                let Some((time, codes)) = args.split_last() else {
                    cx.unmapped(&e, "no time given");
                    continue;
                };
                let stores_200 = codes.is_empty() || codes.iter().any(|c| c == "200" || c == "any");
                if !stores_200 {
                    cx.ignored(&e, "only 200 responses (whole files) are cached");
                    continue;
                }
                match duration(time) {
                    Ok(t) => {
                        let mut shown = cx.set(edge, "cache.valid", "200", Value::Str(t), &format!("{file}: proxy_cache_valid"));
                        if codes.iter().any(|c| c != "200") {
                            shown.push_str(" (only 200 responses are cached; the other codes are not)");
                        }
                        cx.report.add(&e, Verdict::Mapped(shown));
                    }
                    Err(err) => cx.unmapped(&e, format!("{err}; set [cache.valid] 200 by hand")),
                }
            }
            "allow" if purge => {
                let nets: Result<Vec<String>, String> = match args.first().map(String::as_str) {
                    Some("all") => Ok(vec!["0.0.0.0/0".into(), "::/0".into()]),
                    Some(a) => values::allow_host(a).and_then(|v| {
                        if v.iter().any(|x| x == "*") { Err("\"*\" is not an nginx address".into()) } else { Ok(v) }
                    }),
                    None => Err("no address given".into()),
                };
                match nets {
                    Ok(n) => {
                        purge_allow.extend(n);
                        cx.map(&e, edge, "cache", "purge_allow", Value::List(purge_allow.clone()));
                    }
                    Err(err) => cx.unmapped(&e, format!("{err}; list the networks in [cache] purge_allow")),
                }
            }
            "deny" if purge && args.first().map(String::as_str) == Some("all") => {
                cx.ignored(&e, "purge is refused to every client not in [cache] purge_allow, as deny all")
            }
            "deny" if purge => cx.unmapped(
                &e,
                "purge takes an allow list only: leave this network out of [cache] purge_allow",
            ),
            "proxy_cache_purge" => cx.ignored(&e, "/purge/<group>/M00/... is built into the edge when [cache] is set"),
            "listen" if in_block(d, "server") => {
                let spec = args.first().cloned().unwrap_or_default();
                let addr = if spec.parse::<u16>().is_ok() {
                    Ok(format!("0.0.0.0:{spec}"))
                } else if spec.parse::<std::net::SocketAddr>().is_ok() {
                    Ok(spec.clone())
                } else {
                    Err(format!("{spec:?}: write edge.toml listen as \"ip:port\""))
                };
                cx.try_map(&e, edge, "", "listen", addr.map(Value::Str));
            }
            "expires" => match args.first().map(String::as_str) {
                Some("off") => cx.map(&e, edge, "", "expires", Value::Str("off".into())),
                Some(t) => match duration(t) {
                    Ok(t) => cx.map(&e, edge, "", "expires", Value::Str(t)),
                    Err(err) => cx.unmapped(&e, format!("{err}; set expires by hand")),
                },
                None => cx.unmapped(&e, "no time given"),
            },
            "client_max_body_size" => cx.try_map(
                &e,
                edge,
                "",
                "max_body_size",
                values::size(args.first().map_or("", String::as_str)).map(Value::Str),
            ),
            "proxy_connect_timeout" | "proxy_read_timeout" => {
                let key = if name == "proxy_connect_timeout" { "connect_timeout" } else { "read_timeout" };
                cx.try_map(&e, edge, "upstream", key, duration(args.first().map_or("", String::as_str)).map(Value::Str));
            }
            "proxy_next_upstream_tries" => cx.try_map(
                &e,
                edge,
                "upstream",
                "max_tries",
                values::integer(args.first().map_or("", String::as_str)).map(Value::Int),
            ),
            "server" if in_block(d, "upstream") => cx.ignored(
                &e,
                "the edge learns each group's storages from the trackers ([edge] trackers)",
            ),
            "ngx_fastdfs_module" => cx.ignored(&e, "the storage serves files over HTTP itself (storage.toml [http])"),
            _ => cx.ignored(
                &e,
                "no edge setting: routing by group, proxy headers, cache keys and the purge handler are built in",
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_keep_their_blocks_and_lines() {
        let d = parse(
            "http {\n  # cache\n  proxy_cache_path /var/cache levels=1:2 max_size=10g;\n  server {\n    listen 8000;\n    location ~/purge(/.*) { allow 127.0.0.1; deny all; }\n  }\n}\n",
        )
        .unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(
            d[0].words,
            [
                "proxy_cache_path",
                "/var/cache",
                "levels=1:2",
                "max_size=10g"
            ]
        );
        assert_eq!(
            (d[0].line, d[0].blocks.clone()),
            (3, vec!["http".to_string()])
        );
        assert_eq!(d[1].line, 5);
        assert_eq!(d[2].blocks, ["http", "server", "location ~/purge(/.*)"]);
        assert_eq!(d[3].words, ["deny", "all"]);
    }

    #[test]
    fn quotes_group_words_and_broken_blocks_are_reported() {
        let d = parse("add_header X-Cache \"$upstream_cache_status hit\";").unwrap();
        assert_eq!(d[0].words[2], "$upstream_cache_status hit");
        assert!(parse("server { listen 80;")
            .unwrap_err()
            .contains("never closed"));
        assert!(parse("listen 80 }")
            .unwrap_err()
            .contains("missing its ';'"));
        assert!(parse("}").unwrap_err().contains("closes no block"));
    }

    #[test]
    fn nginx_times_become_edge_durations() {
        assert_eq!(duration("30d").unwrap(), "30d");
        assert_eq!(duration("12h").unwrap(), "12h");
        assert_eq!(duration("90").unwrap(), "90s");
        assert_eq!(duration("1h30m").unwrap(), "5400s");
        assert_eq!(duration("2w").unwrap(), "1209600s");
        assert_eq!(duration("500ms").unwrap(), "500ms");
        assert!(duration("soon").is_err());
        assert!(duration("").is_err());
    }
}
