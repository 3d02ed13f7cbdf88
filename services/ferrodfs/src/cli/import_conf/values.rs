//! FastDFS value syntax turned into what ferrodfs's configs take.

use std::net::IpAddr;

use ipnet::IpNet;

/// FastDFS booleans (libfastcommon): `true`, `yes`, `on`, `1`, any case;
/// everything else is false, but anything unexpected is an error here so
/// the report can say so.
pub fn boolean(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "{v:?} is not a boolean (true/false, yes/no, on/off, 1/0)"
        )),
    }
}

/// A whole number, e.g. seconds or a count.
pub fn integer(v: &str) -> Result<i64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{v:?} is not a whole number"))
}

/// Seconds that must be above 0.
pub fn seconds(v: &str) -> Result<i64, String> {
    match integer(v)? {
        n if n > 0 => Ok(n),
        n => Err(format!("{n} is not a positive number of seconds")),
    }
}

/// A FastDFS size (`256KB`, `16MB`, `20G`, `4096`) in ferrodfs's
/// notation (`256K`, `16M`, `20G`, `4096`), checked to parse.
pub fn size(v: &str) -> Result<String, String> {
    let t = v.trim();
    let upper = t.to_ascii_uppercase();
    let t = match upper.strip_suffix('B') {
        Some(rest) if rest.ends_with(['K', 'M', 'G', 'T']) => rest.to_string(),
        _ => upper,
    };
    ferrodfs_runtime::config::parse_size(&t).map_err(|e| format!("{v:?}: {e}"))?;
    Ok(t)
}

/// `reserved_storage_space`: a size or `xx.xx%`.
pub fn reserved(v: &str) -> Result<String, String> {
    let t = v.trim();
    if t.ends_with('%') {
        ferrodfs_runtime::parse_reserved(t)?;
        return Ok(t.to_string());
    }
    let s = size(t)?;
    ferrodfs_runtime::parse_reserved(&s)?;
    Ok(s)
}

/// Largest `[a-b,c]` expansion taken from one `allow_hosts` entry.
const MAX_RANGE_HOSTS: usize = 256;

/// One FastDFS `allow_hosts` value as ferrodfs entries: `*`, an address,
/// a CIDR network, or an address with one `[a-b,c]` range (expanded).
/// Host names and name patterns cannot be matched by ferrodfs, which
/// checks addresses only.
pub fn allow_host(v: &str) -> Result<Vec<String>, String> {
    let v = v.trim();
    if v == "*" {
        return Ok(vec!["*".into()]);
    }
    let candidates = match (v.find('['), v.find(']')) {
        (Some(open), Some(close)) if open < close => {
            let (head, tail) = (&v[..open], &v[close + 1..]);
            let mut out = Vec::new();
            for part in v[open + 1..close].split(',') {
                let (lo, hi) = match part.split_once('-') {
                    Some((a, b)) => (a.trim(), b.trim()),
                    None => (part.trim(), part.trim()),
                };
                let (lo, hi) = match (lo.parse::<u32>(), hi.parse::<u32>()) {
                    (Ok(a), Ok(b)) if a <= b => (a, b),
                    _ => return Err(format!("{v:?}: range {part:?} is not \"a-b\"")),
                };
                for n in lo..=hi {
                    if out.len() >= MAX_RANGE_HOSTS {
                        return Err(format!(
                            "{v:?} expands to more than {MAX_RANGE_HOSTS} addresses; write it as a CIDR network"
                        ));
                    }
                    out.push(format!("{head}{n}{tail}"));
                }
            }
            out
        }
        _ => vec![v.to_string()],
    };
    for c in &candidates {
        if c.parse::<IpAddr>().is_err() && c.parse::<IpNet>().is_err() {
            return Err(format!(
                "{c:?} is not an address or CIDR network: ferrodfs matches addresses, not host names; list the hosts' addresses"
            ));
        }
    }
    Ok(candidates)
}

/// `HH:MM`, for the sync window keys.
pub fn hour_minute(v: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{v:?} is not a time of day HH:MM");
    let (h, m) = v.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok((h, m))
}

/// `tracker_server` values: `host:port`, or FastDFS's dual form
/// `ip1,ip2:port` (inner and outer address); the first host is kept.
pub fn tracker_server(v: &str) -> Result<(String, bool), String> {
    let v = v.trim();
    let (hosts, port) = v
        .rsplit_once(':')
        .ok_or_else(|| format!("{v:?} has no port (host:port)"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(format!("{v:?}: port {port:?} is not in 1..65535")),
    }
    let hosts = hosts.trim_start_matches('[').trim_end_matches(']');
    let mut parts = hosts.split(',');
    let first = parts.next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(format!("{v:?} has no host"));
    }
    let dual = parts.next().is_some();
    let host = if first.contains(':') {
        format!("[{first}]")
    } else {
        first.to_string()
    };
    Ok((format!("{host}:{port}"), dual))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastdfs_sizes_become_ferrodfs_sizes() {
        assert_eq!(size("256MB").unwrap(), "256M");
        assert_eq!(size("64KB").unwrap(), "64K");
        assert_eq!(size("20g").unwrap(), "20G");
        assert_eq!(size("1gb").unwrap(), "1G");
        assert_eq!(size("4096").unwrap(), "4096");
        assert!(size("lots").is_err());
        assert!(size("10XB").is_err());
    }

    #[test]
    fn reserved_space_keeps_percentages_and_converts_sizes() {
        assert_eq!(reserved("10%").unwrap(), "10%");
        assert_eq!(reserved("12.5%").unwrap(), "12.5%");
        assert_eq!(reserved("1024MB").unwrap(), "1024M");
        assert!(reserved("150%").is_err());
    }

    #[test]
    fn booleans_take_every_fastdfs_spelling() {
        for t in ["true", "TRUE", "yes", "On", "1"] {
            assert!(boolean(t).unwrap(), "{t}");
        }
        for f in ["false", "no", "off", "0", ""] {
            assert!(!boolean(f).unwrap(), "{f}");
        }
        assert!(boolean("maybe").is_err());
    }

    #[test]
    fn allow_hosts_ranges_expand_and_names_are_refused() {
        assert_eq!(allow_host("*").unwrap(), ["*"]);
        assert_eq!(allow_host("192.168.5.64/26").unwrap(), ["192.168.5.64/26"]);
        assert_eq!(
            allow_host("10.0.1.[1-3,20]").unwrap(),
            ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.20"]
        );
        assert!(allow_host("host[01-08].domain.com")
            .unwrap_err()
            .contains("host names"));
        assert!(allow_host("10.0.[0-255].[0-255]").is_err());
    }

    #[test]
    fn dual_tracker_addresses_keep_the_first() {
        assert_eq!(
            tracker_server("192.168.1.10,172.17.4.21:22122").unwrap(),
            ("192.168.1.10:22122".into(), true)
        );
        assert_eq!(
            tracker_server("tracker:22122").unwrap(),
            ("tracker:22122".into(), false)
        );
        assert_eq!(
            tracker_server("[fe80::1]:22122").unwrap(),
            ("[fe80::1]:22122".into(), false)
        );
        assert!(tracker_server("10.0.0.1").is_err());
    }

    #[test]
    fn times_of_day_are_checked() {
        assert_eq!(hour_minute("23:59").unwrap(), (23, 59));
        assert!(hour_minute("24:00").is_err());
    }
}
