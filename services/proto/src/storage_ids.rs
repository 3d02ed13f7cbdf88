//! Storage IDs (FastDFS `use_storage_id`, storage_ids.conf): a fixed
//! numeric identity per storage, so that files keep their source when a
//! storage's address changes. One line per storage:
//! `<id> <group> <ip>[,<ip2>][:<port>] [rw=both|read|write|none]`,
//! `#` starts a comment. The same text, paged, is the reply to
//! FETCH_STORAGE_IDS (69).

use std::fmt;
use std::net::Ipv4Addr;

use crate::fields::validate_group;

/// File names hold the id in 24 bits (`FDFS_MAX_SERVER_ID`).
pub const MAX_ID: u32 = 0xFF_FFFF;
/// Ids are at most 15 characters: they fill a 16-byte NUL-padded field.
const MAX_ID_CHARS: usize = 15;

/// What a storage may serve (`rw=`): a read-only member takes no
/// uploads, a write-only one serves no downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    #[default]
    Both,
    Read,
    Write,
    None,
}

impl Access {
    pub fn can_read(self) -> bool {
        matches!(self, Access::Both | Access::Read)
    }

    pub fn can_write(self) -> bool {
        matches!(self, Access::Both | Access::Write)
    }

    fn parse(option: &str) -> Option<Access> {
        let value = option.to_ascii_lowercase();
        match value.strip_prefix("rw=")? {
            "both" | "all" => Some(Access::Both),
            "read" | "readonly" => Some(Access::Read),
            "write" | "writeonly" => Some(Access::Write),
            "none" => Some(Access::None),
            _ => None,
        }
    }

    fn option(self) -> &'static str {
        match self {
            Access::Both => "",
            Access::Read => " rw=read",
            Access::Write => " rw=write",
            Access::None => " rw=none",
        }
    }
}

/// One storage's fixed identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageIdEntry {
    /// Decimal, 1..=[`MAX_ID`].
    pub id: u32,
    pub group: String,
    /// The addresses it may connect from (more than one for a storage
    /// on two networks).
    pub ips: Vec<Ipv4Addr>,
    /// Only when several storages share an address.
    pub port: Option<u16>,
    pub access: Access,
}

impl StorageIdEntry {
    /// The line as storage_ids.conf and FETCH_STORAGE_IDS write it.
    pub fn line(&self) -> String {
        let ips: Vec<String> = self.ips.iter().map(Ipv4Addr::to_string).collect();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "{} {} {}{port}{}",
            self.id,
            self.group,
            ips.join(","),
            self.access.option()
        )
    }

    fn matches(&self, ip: Ipv4Addr, port: u16) -> bool {
        self.ips.contains(&ip) && self.port.is_none_or(|p| p == port)
    }
}

/// A line of storage_ids.conf that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdsError {
    /// 1-based; 0 for the file as a whole.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for IdsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for IdsError {}

/// Every storage's identity, sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageIds {
    entries: Vec<StorageIdEntry>,
}

fn parse_id(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > MAX_ID_CHARS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|id| (1..=MAX_ID).contains(id))
}

fn parse_line(line: &str) -> Result<StorageIdEntry, String> {
    let mut words = line.split_ascii_whitespace();
    let (Some(id), Some(group), Some(host)) = (words.next(), words.next(), words.next()) else {
        return Err(format!("{line:?}: expected `<id> <group> <ip>[:<port>]`"));
    };
    let id = parse_id(id)
        .ok_or_else(|| format!("storage id {id:?} must be a whole number from 1 to {MAX_ID}"))?;
    validate_group(group)
        .map_err(|_| format!("group {group:?}: 1-16 characters of [A-Za-z0-9]"))?;
    let (ips, port) = match host.rsplit_once(':') {
        Some((ips, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("port {port:?} must be 1-65535"))?;
            (ips, Some(port))
        }
        None => (host, None),
    };
    let ips = ips
        .split(',')
        .map(|ip| {
            ip.parse::<Ipv4Addr>()
                .map_err(|_| format!("{ip:?} is not an IPv4 address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let access = match words.next() {
        None => Access::Both,
        Some(o) => Access::parse(o)
            .ok_or_else(|| format!("{o:?}: expected rw=both, rw=read, rw=write or rw=none"))?,
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected {extra:?} after the options"));
    }
    Ok(StorageIdEntry {
        id,
        group: group.to_string(),
        ips,
        port,
        access,
    })
}

impl StorageIds {
    /// Parses storage_ids.conf; refuses an empty list, duplicate ids and
    /// an address (and port) listed twice, as FastDFS does.
    pub fn parse(text: &str) -> Result<StorageIds, IdsError> {
        let mut entries: Vec<StorageIdEntry> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let e = parse_line(line).map_err(|message| IdsError {
                line: n + 1,
                message,
            })?;
            let clash = |o: &StorageIdEntry| {
                if o.id == e.id {
                    return Some(format!("storage id {} is listed twice", e.id));
                }
                let shared = e.ips.iter().find(|ip| o.ips.contains(ip))?;
                (o.port.is_none() || e.port.is_none() || o.port == e.port).then(|| {
                    format!(
                        "{shared} is already storage {} (give each a :port to share an address)",
                        o.id
                    )
                })
            };
            if let Some(message) = entries.iter().find_map(clash) {
                return Err(IdsError {
                    line: n + 1,
                    message,
                });
            }
            entries.push(e);
        }
        if entries.is_empty() {
            return Err(IdsError {
                line: 0,
                message: "no storage id in the file".into(),
            });
        }
        entries.sort_by_key(|e| e.id);
        Ok(StorageIds { entries })
    }

    pub fn entries(&self) -> &[StorageIdEntry] {
        &self.entries
    }

    pub fn by_id(&self, id: u32) -> Option<&StorageIdEntry> {
        self.entries
            .binary_search_by_key(&id, |e| e.id)
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The storage that connects from `ip` and listens on `port`.
    pub fn by_addr(&self, ip: Ipv4Addr, port: u16) -> Option<&StorageIdEntry> {
        self.entries.iter().find(|e| e.matches(ip, port))
    }

    /// A FETCH_STORAGE_IDS reply from entry `start` on: total (4), count
    /// in this reply (4), then the lines. At most `max_bytes` of lines,
    /// but always at least one so a client paging through makes progress.
    pub fn reply(&self, start: usize, max_bytes: usize) -> Vec<u8> {
        let mut text = String::new();
        let mut count = 0u32;
        for e in self.entries.iter().skip(start) {
            let line = e.line();
            if count > 0 && text.len() + line.len() + 1 > max_bytes {
                break;
            }
            text.push_str(&line);
            text.push('\n');
            count += 1;
        }
        let mut out = Vec::with_capacity(8 + text.len());
        out.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(text.as_bytes());
        out
    }
}

/// Reads one FETCH_STORAGE_IDS reply: (total, entries in it).
pub fn parse_reply(body: &[u8]) -> Result<(u32, Vec<StorageIdEntry>), IdsError> {
    let bad = |message: &str| IdsError {
        line: 0,
        message: message.to_string(),
    };
    if body.len() < 8 {
        return Err(bad("reply shorter than its 8-byte head"));
    }
    let total = u32::from_be_bytes(body[..4].try_into().expect("4 bytes"));
    let count = u32::from_be_bytes(body[4..8].try_into().expect("4 bytes"));
    let text = std::str::from_utf8(&body[8..]).map_err(|_| bad("lines are not UTF-8"))?;
    let entries = if count == 0 {
        Vec::new()
    } else {
        StorageIds::parse(text)?.entries
    };
    if entries.len() != count as usize {
        return Err(bad("line count differs from the count in the head"));
    }
    Ok((total, entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = "\
# <id> <group> <ip>[:port]
100001   group1  192.168.0.196
100002   group1  192.168.0.197,10.0.0.197

100003   group2  192.168.0.199:23001 rw=read
";

    #[test]
    fn parses_the_sample_file() {
        let ids = StorageIds::parse(SAMPLE).unwrap();
        assert_eq!(ids.entries().len(), 3);
        let e = ids.by_id(100_002).unwrap();
        assert_eq!(e.group, "group1");
        assert_eq!(
            e.ips,
            vec![
                Ipv4Addr::new(192, 168, 0, 197),
                Ipv4Addr::new(10, 0, 0, 197)
            ]
        );
        assert_eq!(ids.by_id(100_003).unwrap().port, Some(23001));
        assert_eq!(ids.by_id(100_003).unwrap().access, Access::Read);
    }

    #[test]
    fn a_storage_is_found_by_any_of_its_addresses_and_its_port() {
        let ids = StorageIds::parse(SAMPLE).unwrap();
        assert_eq!(
            ids.by_addr("10.0.0.197".parse().unwrap(), 23000)
                .unwrap()
                .id,
            100_002
        );
        assert_eq!(
            ids.by_addr("192.168.0.199".parse().unwrap(), 23001)
                .unwrap()
                .id,
            100_003
        );
        assert!(ids
            .by_addr("192.168.0.199".parse().unwrap(), 23000)
            .is_none());
        assert!(ids
            .by_addr("192.168.0.200".parse().unwrap(), 23000)
            .is_none());
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let cases = [
            ("0 group1 10.0.0.1", "from 1 to"),
            ("16777216 group1 10.0.0.1", "from 1 to"),
            ("1x group1 10.0.0.1", "whole number"),
            ("1 group_1 10.0.0.1", "group"),
            ("1 group1", "expected"),
            ("1 group1 10.0.0.300", "IPv4"),
            ("1 group1 10.0.0.1:0", "port"),
            ("1 group1 10.0.0.1 rw=maybe", "rw=read"),
            ("1 group1 10.0.0.1\n1 group1 10.0.0.2", "listed twice"),
            ("1 group1 10.0.0.1\n2 group1 10.0.0.1", "already storage 1"),
        ];
        for (text, want) in cases {
            let err = StorageIds::parse(text).unwrap_err();
            assert!(err.line >= 1, "{text}: {err}");
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
        assert_eq!(StorageIds::parse("# nothing\n").unwrap_err().line, 0);
    }

    #[test]
    fn two_storages_may_share_an_address_on_different_ports() {
        let ids = StorageIds::parse("1 g 10.0.0.1:23000\n2 g 10.0.0.1:23001\n").unwrap();
        assert_eq!(
            ids.by_addr("10.0.0.1".parse().unwrap(), 23001).unwrap().id,
            2
        );
    }

    #[test]
    fn the_reply_pages_and_always_makes_progress() {
        let ids = StorageIds::parse(SAMPLE).unwrap();
        let all = ids.reply(0, 1 << 16);
        let (total, got) = parse_reply(&all).unwrap();
        assert_eq!((total, got.as_slice()), (3, ids.entries()));
        let (_, first) = parse_reply(&ids.reply(0, 1)).unwrap();
        assert_eq!(first, ids.entries()[..1]);
        let (_, rest) = parse_reply(&ids.reply(1, 1 << 16)).unwrap();
        assert_eq!(rest, ids.entries()[1..]);
        assert_eq!(parse_reply(&ids.reply(3, 1 << 16)).unwrap(), (3, vec![]));
    }

    fn entry() -> impl Strategy<Value = StorageIdEntry> {
        (
            1..=MAX_ID,
            crate::arb::group(),
            proptest::collection::vec(any::<[u8; 4]>(), 1..3),
            proptest::option::of(1u16..),
            prop_oneof![
                Just(Access::Both),
                Just(Access::Read),
                Just(Access::Write),
                Just(Access::None)
            ],
        )
            .prop_map(|(id, group, ips, port, access)| StorageIdEntry {
                id,
                group,
                ips: ips.into_iter().map(Ipv4Addr::from).collect(),
                port,
                access,
            })
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in ".{0,200}") {
            let _ = StorageIds::parse(&text);
        }

        #[test]
        fn reply_parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_reply(&body);
        }

        #[test]
        fn a_line_reads_back_as_itself(e in entry()) {
            let back = StorageIds::parse(&e.line()).unwrap();
            prop_assert_eq!(back.entries(), std::slice::from_ref(&e));
        }
    }
}
