//! Fixed-width fields and the validation rules FastDFS applies to them.

pub const GROUP_NAME_LEN: usize = 16;
/// An IPv4 address field in requests (`INET_ADDRSTRLEN`).
pub const IP_LEN: usize = 16;
pub const EXT_LEN: usize = 6;
pub const PREFIX_LEN: usize = 16;
pub const META_NAME_MAX: usize = 64;
pub const META_VALUE_MAX: usize = 256;

/// The width of the IP fields in replies: FastDFS 6.15+'s
/// `response_ip_addr_size` (tracker.conf; storages take the tracker's).
/// 16 bytes (`INET_ADDRSTRLEN`) is what FastDFS <= 6.10 and 6.15+ send by
/// default; 46 (`INET6_ADDRSTRLEN`) is what 6.11-6.13 always sent. Tracker
/// query replies use one byte less (FastDFS writes `size - 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpWidth {
    #[default]
    V4,
    V6,
}

impl IpWidth {
    /// Both widths, narrowest first.
    pub const ALL: [IpWidth; 2] = [IpWidth::V4, IpWidth::V6];

    /// The field in stat records and in query-file-info replies.
    pub const fn field(self) -> usize {
        match self {
            IpWidth::V4 => 16,
            IpWidth::V6 => 46,
        }
    }

    /// The field in tracker query replies (101-107).
    pub const fn query(self) -> usize {
        self.field() - 1
    }

    /// Reads the config word as FastDFS spells it, case-insensitively.
    /// `auto` means IPv6 in FastDFS only when `use_storage_id` is on and
    /// storage_ids.conf holds an IPv6 address; ferrodfs has neither, so
    /// `auto` is IPv4, as a default FastDFS 6.16 cluster answers. (FastDFS
    /// reads every word but `auto` as IPv6, `IPv4` included; here `IPv4`
    /// means what it says and other words are refused.)
    pub fn from_config(word: &str) -> Option<IpWidth> {
        match word.to_ascii_lowercase().as_str() {
            "auto" | "ipv4" => Some(IpWidth::V4),
            "ipv6" => Some(IpWidth::V6),
            _ => None,
        }
    }

    /// What `from_config` accepts, for error messages.
    pub const CONFIG_WORDS: &'static str = "auto, IPv4, IPv6";
}

/// Why a request field was refused; every variant maps to EINVAL on the wire.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldError {
    #[error("body too short: need {need} bytes, got {got}")]
    Short { need: usize, got: usize },
    #[error("body length {got} does not match the announced sizes ({want})")]
    LengthMismatch { want: u64, got: u64 },
    #[error("bad group name {0:?}: 1-16 characters of [A-Za-z0-9]")]
    Group(String),
    #[error("bad file extension {0:?}: up to 6 characters of [A-Za-z0-9_.-]")]
    Ext(String),
    #[error("bad slave prefix {0:?}: 1-16 characters of [A-Za-z0-9_.-]")]
    Prefix(String),
    #[error("bad file name {0:?}")]
    FileName(String),
    #[error("bad {field}: {value}")]
    Value { field: &'static str, value: i64 },
    #[error("bad sync header: {0}")]
    SyncHeader(String),
}

/// Writes `s` NUL-padded (or cut) to exactly `width` bytes.
pub fn put_fixed(out: &mut Vec<u8>, s: &str, width: usize) {
    let b = s.as_bytes();
    let n = b.len().min(width);
    out.extend_from_slice(&b[..n]);
    out.resize(out.len() + width - n, 0);
}

/// Reads a NUL-padded field: the text up to the first NUL (a full field has none).
pub fn get_fixed(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A fixed field as FastDFS fills one: non-empty text, then only NULs.
/// Tells reply layouts apart when two of them have the same length.
pub fn is_padded_text(b: &[u8]) -> bool {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    end > 0 && b[end..].iter().all(|&c| c == 0)
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A bounds-checked cursor over a request body.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], FieldError> {
        if self.buf.len() - self.pos < n {
            return Err(FieldError::Short {
                // Saturating: `n` may be a length a peer announced.
                need: self.pos.saturating_add(n),
                got: self.buf.len(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, FieldError> {
        Ok(self.take(1)?[0])
    }

    pub fn i64(&mut self) -> Result<i64, FieldError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// An 8-byte length/offset that must not be negative.
    pub fn len(&mut self, field: &'static str) -> Result<u64, FieldError> {
        let v = self.i64()?;
        if v < 0 {
            return Err(FieldError::Value { field, value: v });
        }
        Ok(v as u64)
    }

    pub fn fixed(&mut self, width: usize) -> Result<String, FieldError> {
        Ok(get_fixed(self.take(width)?))
    }

    pub fn group(&mut self) -> Result<String, FieldError> {
        let g = self.fixed(GROUP_NAME_LEN)?;
        validate_group(&g)?;
        Ok(g)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

pub fn validate_group(g: &str) -> Result<(), FieldError> {
    if g.is_empty() || g.len() > GROUP_NAME_LEN || !g.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(FieldError::Group(g.to_string()));
    }
    Ok(())
}

fn name_chars_ok(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Whether a name part keeps the file name addressable: `.`, `..` and
/// anything else holding `..` give names that
/// [`LogicalName::parse`](crate::file_id::LogicalName::parse) refuses (or,
/// for a lone `.` as slave prefix, a name shorter than any slave's), so
/// the file could never be downloaded, deleted or replicated as itself.
fn dots_ok(s: &str) -> bool {
    s != "." && !s.contains("..")
}

/// An extension as a slave upload may give it (a leading dot is allowed:
/// FastDFS then uses it as is).
pub fn validate_ext(e: &str) -> Result<(), FieldError> {
    if e.len() > EXT_LEN || !name_chars_ok(e) || !dots_ok(e) {
        return Err(FieldError::Ext(e.to_string()));
    }
    Ok(())
}

/// An extension for a new file's name (UPLOAD_FILE, UPLOAD_APPENDER_FILE):
/// the name gets `.` + `ext`, so a leading dot would make `..`; and a name
/// ending in `-m` would look like a metadata file, which is never served.
pub fn validate_upload_ext(e: &str) -> Result<(), FieldError> {
    validate_ext(e)?;
    if e.starts_with('.') || e.ends_with(META_SUFFIX) {
        return Err(FieldError::Ext(e.to_string()));
    }
    Ok(())
}

pub fn validate_prefix(p: &str) -> Result<(), FieldError> {
    if p.is_empty() || p.len() > PREFIX_LEN || !name_chars_ok(p) || !dots_ok(p) {
        return Err(FieldError::Prefix(p.to_string()));
    }
    Ok(())
}

/// What FastDFS appends to a data file's name for its metadata file.
pub const META_SUFFIX: &str = "-m";

/// The extension FastDFS clients derive from a local file name: the text
/// after the last dot, if it is a valid extension (<= 6 chars).
pub fn ext_of(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    match base.rfind('.') {
        Some(i) if i > 0 => {
            let e = &base[i + 1..];
            if validate_ext(e).is_ok() {
                e.to_string()
            } else {
                String::new()
            }
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_fields_pad_and_cut() {
        let mut v = Vec::new();
        put_fixed(&mut v, "group1", 16);
        assert_eq!(v.len(), 16);
        assert_eq!(get_fixed(&v), "group1");
        let mut v = Vec::new();
        put_fixed(&mut v, "abcdefghijklmnopqrs", 16);
        assert_eq!(get_fixed(&v), "abcdefghijklmnop");
    }

    #[test]
    fn group_names_are_alphanumeric_only() {
        assert!(validate_group("group1").is_ok());
        assert!(validate_group("").is_err());
        assert!(validate_group("../etc").is_err());
        assert!(validate_group("g/1").is_err());
        assert!(validate_group("abcdefghijklmnopq").is_err());
    }

    #[test]
    fn extensions_follow_fastdfs_charset() {
        assert!(validate_ext("tar.gz").is_ok());
        assert!(validate_ext("").is_ok());
        assert!(validate_ext("jpeg123").is_err());
        assert!(validate_ext("a/b").is_err());
        assert_eq!(ext_of("/tmp/photo.JPG"), "JPG");
        assert_eq!(ext_of("/tmp/archive.verylongext"), "");
        assert_eq!(ext_of("/tmp/.hidden"), "");
        assert_eq!(ext_of("noext"), "");
    }

    #[test]
    fn dot_only_parts_are_refused() {
        for bad in [".", "..", "...", "a..b"] {
            assert!(validate_ext(bad).is_err(), "ext {bad:?}");
            assert!(validate_upload_ext(bad).is_err(), "upload ext {bad:?}");
            assert!(validate_prefix(bad).is_err(), "prefix {bad:?}");
        }
        assert!(
            validate_ext(".png").is_ok(),
            "a slave's ext may lead with a dot"
        );
        assert!(
            validate_upload_ext(".png").is_err(),
            "the name would hold .."
        );
        assert!(
            validate_upload_ext("x-m").is_err(),
            "looks like a metadata file"
        );
        assert!(validate_upload_ext("tar.gz").is_ok());
        assert!(validate_prefix("_s.x").is_ok());
    }

    #[test]
    fn reader_refuses_short_bodies() {
        let mut r = Reader::new(&[0, 0, 0]);
        assert_eq!(r.i64(), Err(FieldError::Short { need: 8, got: 3 }));
    }

    #[test]
    fn reader_refuses_negative_lengths() {
        let b = (-5i64).to_be_bytes();
        assert!(matches!(
            Reader::new(&b).len("offset"),
            Err(FieldError::Value {
                field: "offset",
                value: -5
            })
        ));
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use crate::arb;
    use proptest::prelude::*;

    /// One call on a [`Reader`]; `Take` with any length, huge ones included.
    #[derive(Debug, Clone)]
    enum Op {
        Take(usize),
        U8,
        I64,
        Len,
        Fixed(usize),
        Group,
        Rest,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<usize>().prop_map(Op::Take),
            (0usize..64).prop_map(Op::Take),
            Just(Op::U8),
            Just(Op::I64),
            Just(Op::Len),
            (0usize..64).prop_map(Op::Fixed),
            Just(Op::Group),
            Just(Op::Rest),
        ]
    }

    proptest! {
        #[test]
        fn a_reader_never_reads_past_its_body(
            body in proptest::collection::vec(any::<u8>(), 0..128),
            ops in proptest::collection::vec(op(), 0..16),
        ) {
            let mut r = Reader::new(&body);
            for op in ops {
                let before = r.remaining();
                let took = match op {
                    Op::Take(n) => r.take(n).map(|s| s.len()),
                    Op::U8 => r.u8().map(|_| 1),
                    Op::I64 => r.i64().map(|_| 8),
                    Op::Len => r.len("len").map(|_| 8),
                    Op::Fixed(n) => r.fixed(n).map(|_| n),
                    Op::Group => r.group().map(|_| GROUP_NAME_LEN),
                    Op::Rest => Ok(r.rest().len()),
                };
                match took {
                    Ok(n) => prop_assert_eq!(r.remaining(), before - n),
                    Err(FieldError::Short { need, got }) => {
                        prop_assert!(need > got);
                        prop_assert_eq!(r.remaining(), before);
                    }
                    Err(_) => {}
                }
            }
        }

        #[test]
        fn fixed_fields_round_trip(s in arb::text(16), width in 16usize..48) {
            let mut b = Vec::new();
            put_fixed(&mut b, &s, width);
            prop_assert_eq!(b.len(), width);
            prop_assert_eq!(get_fixed(&b), s);
        }

        #[test]
        fn any_fixed_field_reads_as_text(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = get_fixed(&b);
            prop_assert!(!s.contains('\0'));
        }

        #[test]
        fn validators_take_any_text(s in ".{0,40}") {
            let _ = validate_group(&s);
            let _ = validate_prefix(&s);
            let _ = validate_ext(&s);
            let e = ext_of(&s);
            prop_assert!(validate_ext(&e).is_ok(), "{:?} gave {:?}", s, e);
        }
    }

    #[test]
    fn a_reader_refuses_a_take_of_usize_max() {
        let mut r = Reader::new(&[1, 2, 3]);
        r.u8().unwrap();
        assert_eq!(
            r.take(usize::MAX),
            Err(FieldError::Short {
                need: usize::MAX,
                got: 3
            })
        );
        assert_eq!(r.remaining(), 2);
    }
}
