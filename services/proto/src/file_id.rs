//! File IDs exactly as FastDFS makes them (storage_gen_filename).
//!
//! `group1/M00/0A/3F/<27 chars><7-char ext segment>`: the 27 characters are
//! FastDFS base64 (`-_` for 62/63, no padding) of 20 bytes: source IPv4 or
//! storage id (4), create time (4), size field with flag bits (8), CRC32 (4).

use std::fmt;
use std::net::Ipv4Addr;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use rand::Rng;

use crate::fields::{
    validate_ext, validate_group, validate_prefix, FieldError, EXT_LEN, META_SUFFIX,
};

/// Bit 63 plus 23 random bits sit in the high half of a normal file's size field.
const SIZE_RANDOM_MARK: u64 = 0x8000_0000;
/// `FDFS_TRUNK_FILE_MARK_SIZE`: 512 PiB.
pub const TRUNK_FILE_MARK: u64 = 1 << 59;
/// `FDFS_APPENDER_FILE_SIZE`: 256 PiB.
pub const APPENDER_FILE_MARK: u64 = 1 << 58;
pub const BASE64_LEN: usize = 27;
pub const EXT_SEGMENT_LEN: usize = 7;
/// `Mxx/HH/HH/`
pub const PATH_PREFIX_LEN: usize = 10;
/// A normal (non-slave, non-trunk) logical name is exactly this long.
pub const NORMAL_NAME_LEN: usize = PATH_PREFIX_LEN + BASE64_LEN + EXT_SEGMENT_LEN;
const TRUNK_NAME_LEN: usize = NORMAL_NAME_LEN + 16;
/// FastDFS refuses logical names of 128 bytes or more.
pub const MAX_NAME_LEN: usize = 127;

const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Who created the file: an IPv4 address, or a numeric storage id
/// (`use_storage_id = true`), told apart the way FastDFS's decoder does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Ip(Ipv4Addr),
    Id(u32),
}

impl From<Ipv4Addr> for Source {
    fn from(ip: Ipv4Addr) -> Source {
        Source::Ip(ip)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Ip(ip) => write!(f, "{ip}"),
            Source::Id(id) => write!(f, "{id}"),
        }
    }
}

/// The 20 bytes behind the 27 base64 characters of a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub source: Source,
    pub create_time: u32,
    /// Size with FastDFS's flag and random bits; see [`FileInfo::size`].
    pub size_field: u64,
    pub crc32: u32,
}

impl FileInfo {
    /// A normal file: random bits with the top bit set above the size, as
    /// FastDFS does, so two equal files uploaded in one second differ.
    pub fn normal(
        source: impl Into<Source>,
        create_time: u32,
        size: u64,
        crc32: u32,
        rng: &mut impl Rng,
    ) -> Self {
        let size_field = if size >> 32 == 0 {
            ((SIZE_RANDOM_MARK | (rng.gen::<u32>() as u64 & 0x7F_FFFF)) << 32) | size
        } else {
            size
        };
        FileInfo {
            source: source.into(),
            create_time,
            size_field,
            crc32,
        }
    }

    /// An appender file: its content changes later, so the size half is 0
    /// and the CRC field holds random bits.
    pub fn appender(source: impl Into<Source>, create_time: u32, rng: &mut impl Rng) -> Self {
        let high = SIZE_RANDOM_MARK | (rng.gen::<u32>() as u64 & 0x7F_FFFF);
        FileInfo {
            source: source.into(),
            create_time,
            size_field: (high << 32) | APPENDER_FILE_MARK,
            crc32: rng.gen(),
        }
    }

    pub fn is_appender(&self) -> bool {
        self.size_field & APPENDER_FILE_MARK != 0
    }

    pub fn is_trunk(&self) -> bool {
        self.size_field & TRUNK_FILE_MARK != 0
    }

    /// The file size the name records; `None` for appender files, whose
    /// size is only known from the disk.
    pub fn size(&self) -> Option<u64> {
        if self.is_appender() {
            None
        } else if self.size_field & (1 << 63) != 0 || self.is_trunk() {
            Some(self.size_field & 0xFFFF_FFFF)
        } else {
            Some(self.size_field)
        }
    }

    pub fn to_bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        match self.source {
            Source::Ip(ip) => b[..4].copy_from_slice(&ip.octets()),
            Source::Id(id) => b[..4].copy_from_slice(&id.to_le_bytes()),
        }
        b[4..8].copy_from_slice(&self.create_time.to_be_bytes());
        b[8..16].copy_from_slice(&self.size_field.to_be_bytes());
        b[16..20].copy_from_slice(&self.crc32.to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; 20]) -> Self {
        let raw: [u8; 4] = b[..4].try_into().expect("4 bytes");
        let as_id = u32::from_le_bytes(raw);
        let source = if (1..=0xFF_FFFF).contains(&as_id) {
            Source::Id(as_id)
        } else {
            Source::Ip(Ipv4Addr::from(raw))
        };
        FileInfo {
            source,
            create_time: u32::from_be_bytes(b[4..8].try_into().expect("4 bytes")),
            size_field: u64::from_be_bytes(b[8..16].try_into().expect("8 bytes")),
            crc32: u32::from_be_bytes(b[16..20].try_into().expect("4 bytes")),
        }
    }

    /// The 27 base64 characters.
    pub fn encode(&self) -> String {
        ENGINE.encode(self.to_bytes())
    }

    pub fn decode(s: &str) -> Option<Self> {
        if s.len() != BASE64_LEN {
            return None;
        }
        let v = ENGINE.decode(s).ok()?;
        Some(Self::from_bytes(v.as_slice().try_into().ok()?))
    }
}

/// The 7-character extension segment: random digits pad `ext` to six,
/// then `.ext`; no extension means seven digits.
pub fn ext_segment(ext: &str, rng: &mut impl Rng) -> String {
    let digits = if ext.is_empty() {
        EXT_SEGMENT_LEN
    } else {
        6 - ext.len()
    };
    let mut s: String = (0..digits)
        .map(|_| char::from(b'0' + rng.gen_range(0..10)))
        .collect();
    if !ext.is_empty() {
        s.push('.');
        s.push_str(ext);
    }
    s
}

/// `Mxx/HH/HH/name`: a file ID without its group, as storages and the
/// protocol address files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogicalName {
    pub store_path: u8,
    pub dir1: u8,
    pub dir2: u8,
    pub name: String,
}

fn hex2(s: &str) -> Option<u8> {
    if s.len() == 2
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
    {
        u8::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

impl LogicalName {
    /// Parses and validates: uppercase hex path parts, a name of FastDFS
    /// characters only, nothing that could climb out of a store path.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::FileName(s.chars().take(160).collect());
        if s.len() > MAX_NAME_LEN || s.len() < PATH_PREFIX_LEN + BASE64_LEN {
            return Err(bad());
        }
        let mut parts = s.splitn(4, '/');
        let (m, d1, d2, name) = (parts.next(), parts.next(), parts.next(), parts.next());
        let (Some(m), Some(d1), Some(d2), Some(name)) = (m, d1, d2, name) else {
            return Err(bad());
        };
        let store_path = m.strip_prefix('M').and_then(hex2).ok_or_else(bad)?;
        let dir1 = hex2(d1).ok_or_else(bad)?;
        let dir2 = hex2(d2).ok_or_else(bad)?;
        let chars_ok = name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !chars_ok || name.starts_with('.') || name.contains("..") || name.len() < BASE64_LEN {
            return Err(bad());
        }
        Ok(LogicalName {
            store_path,
            dir1,
            dir2,
            name: name.to_string(),
        })
    }

    /// Path relative to the store path: `data/HH/HH/name`.
    pub fn rel_path(&self) -> String {
        format!("data/{:02X}/{:02X}/{}", self.dir1, self.dir2, self.name)
    }

    pub fn info(&self) -> Option<FileInfo> {
        FileInfo::decode(&self.name[..BASE64_LEN])
    }

    fn len(&self) -> usize {
        PATH_PREFIX_LEN + self.name.len()
    }

    /// FastDFS IS_SLAVE_FILE: longer than a normal (or trunk) name.
    pub fn is_slave(&self) -> bool {
        let trunk = self.info().is_some_and(|i| i.is_trunk());
        self.len() > TRUNK_NAME_LEN || (self.len() > NORMAL_NAME_LEN && !trunk)
    }

    pub fn is_appender(&self) -> bool {
        !self.is_slave() && self.info().is_some_and(|i| i.is_appender())
    }

    /// Whether this names a metadata file (`<data file>-m`) rather than a
    /// data file: storages never create data files so named, and never
    /// hand metadata files out as files.
    pub fn is_metadata(&self) -> bool {
        self.name.ends_with(META_SUFFIX)
    }

    /// The slave name the storage gives a file uploaded beside this
    /// master with `prefix` and `ext` (UPLOAD_SLAVE_FILE): FastDFS's rule
    /// applied to `HH/HH/name`, as storage_service.c does. The prefix must
    /// be non-empty; an empty `ext` gives a slave without extension.
    pub fn slave(&self, prefix: &str, ext: &str) -> Result<LogicalName, FieldError> {
        validate_prefix(prefix)?;
        validate_ext(ext)?;
        let true_name = format!("{:02X}/{:02X}/{}", self.dir1, self.dir2, self.name);
        let slave = slave_filename(&true_name, prefix, Some(ext))?;
        // Our stricter name rules (no `..`, length) hold for slaves too, so
        // every slave can be addressed, replicated and deleted later.
        let name = LogicalName::parse(&format!("M{:02X}/{slave}", self.store_path))?;
        if name.is_metadata() {
            return Err(FieldError::Ext(ext.to_string()));
        }
        Ok(name)
    }
}

/// FastDFS's slave file name (fdfs_gen_slave_filename, common/fdfs_global.c;
/// the Java client's `ProtoCommon.genSlaveFilename`): the master name up
/// to the first dot of its last 7 characters (the whole name without
/// one), then `prefix`, then the extension: `ext` with a dot added unless
/// it has one, nothing for `Some("")`, the master's own (dot included)
/// for `None`. So `M00/00/00/<27>331.jpg` + `_s` + `png` is
/// `M00/00/00/<27>331_s.png`. Works on any form of the master name
/// (`group/Mxx/..`, `Mxx/..`, `HH/HH/..`); only the end matters. Refused
/// (EINVAL in FastDFS): masters under 34 characters, prefix `-m` without
/// extension (the metadata file's name), an empty prefix that would
/// give the master's own name.
pub fn slave_filename(master: &str, prefix: &str, ext: Option<&str>) -> Result<String, FieldError> {
    if master.len() < 28 + EXT_LEN {
        return Err(FieldError::FileName(master.chars().take(160).collect()));
    }
    let tail = master.len() - (EXT_LEN + 1);
    let dot = master.as_bytes()[tail..]
        .iter()
        .position(|&c| c == b'.')
        .map(|i| tail + i);
    let master_ext = dot.map_or("", |d| &master[d..]);
    let true_ext = match ext {
        Some("") => String::new(),
        Some(e) if e.starts_with('.') => cut(e, EXT_LEN + 1).to_string(),
        Some(e) => format!(".{}", cut(e, EXT_LEN)),
        None => master_ext.to_string(),
    };
    if true_ext.is_empty() && prefix == "-m" {
        return Err(FieldError::Prefix(prefix.to_string()));
    }
    if prefix.is_empty() && master_ext == true_ext {
        return Err(FieldError::Prefix(prefix.to_string()));
    }
    let stem = &master[..dot.unwrap_or(master.len())];
    Ok(format!("{stem}{prefix}{true_ext}"))
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl fmt::Display for LogicalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "M{:02X}/{:02X}/{:02X}/{}",
            self.store_path, self.dir1, self.dir2, self.name
        )
    }
}

/// A full file ID: `group/Mxx/HH/HH/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileId {
    pub group: String,
    pub name: LogicalName,
}

impl FileId {
    /// Splits at the first `/`, as FastDFS clients do, and validates both parts.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let (group, rest) = s
            .split_once('/')
            .ok_or_else(|| FieldError::FileName(s.to_string()))?;
        validate_group(group)?;
        Ok(FileId {
            group: group.to_string(),
            name: LogicalName::parse(rest)?,
        })
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.group, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn decodes_a_real_fastdfs_id() {
        let id = FileId::parse("group1/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz").unwrap();
        assert_eq!(id.group, "group1");
        assert_eq!((id.name.store_path, id.name.dir1, id.name.dir2), (0, 0, 0));
        let info = id.name.info().unwrap();
        assert_eq!(info.source, Source::Ip(Ipv4Addr::new(192, 168, 1, 135)));
        assert_eq!(info.create_time, 1_441_640_415); // 2015-09-07 15:40:15 UTC
        assert_eq!(info.size(), Some(345_400));
        assert_eq!(info.crc32, 0xBEC5_254E);
        assert!(!id.name.is_slave() && !id.name.is_appender());
        assert_eq!(info.encode(), "wKgBh1Xtr9-AeTfWAAVFOL7FJU4");
    }

    #[test]
    fn decodes_the_fastdfs_6_16_sample() {
        let id = FileId::parse("group1/M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331.bin").unwrap();
        let info = id.name.info().unwrap();
        assert_eq!(info.source, Source::Ip(Ipv4Addr::new(10, 250, 0, 11)));
        assert_eq!(info.size(), Some(0x186A0)); // 100 000 bytes
        assert_eq!(id.name.to_string().len(), NORMAL_NAME_LEN);
    }

    #[test]
    fn storage_ids_are_read_little_endian() {
        let info = FileInfo::decode("oYYBAFXtr9-AeTfWAAVFOL7FJU4").unwrap();
        assert_eq!(info.source, Source::Id(100_001));
    }

    #[test]
    fn names_written_with_a_storage_id_carry_it_as_fastdfs_does() {
        let info = FileInfo::normal(Source::Id(100_001), 1_700_000_000, 5, 1, &mut rng());
        let encoded = info.encode();
        assert!(encoded.starts_with("oYYB"), "{encoded}");
        assert_eq!(
            FileInfo::decode(&encoded).unwrap().source,
            Source::Id(100_001)
        );
    }

    #[test]
    fn our_names_round_trip() {
        let mut r = rng();
        let info = FileInfo::normal(
            Ipv4Addr::new(127, 0, 0, 11),
            1_700_000_000,
            4096,
            0xDEAD_BEEF,
            &mut r,
        );
        let name = format!("{}{}", info.encode(), ext_segment("jpg", &mut r));
        let ln = LogicalName {
            store_path: 1,
            dir1: 0x0A,
            dir2: 0x3F,
            name,
        };
        let id = FileId::parse(&format!("group2/{ln}")).unwrap();
        assert!(id.to_string().starts_with("group2/M01/0A/3F/"));
        assert!(id.to_string().ends_with(".jpg"));
        assert_eq!(id.name.to_string().len(), NORMAL_NAME_LEN);
        assert_eq!(id.name.info().unwrap(), info);
        assert_eq!(info.size(), Some(4096));
        assert_ne!(info.size_field >> 63, 0, "top bit marks the random bits");
    }

    #[test]
    fn appender_names_carry_the_flag_and_no_size() {
        let info = FileInfo::appender(Ipv4Addr::LOCALHOST, 1, &mut rng());
        assert!(info.is_appender());
        assert_eq!(info.size(), None);
        let ln = LogicalName::parse(&format!(
            "M00/00/00/{}{}",
            info.encode(),
            ext_segment("", &mut rng())
        ))
        .unwrap();
        assert!(ln.is_appender());
    }

    #[test]
    fn ext_segment_is_always_seven_chars() {
        let mut r = rng();
        for ext in ["", "a", "jpg", "tar.gz"] {
            let s = ext_segment(ext, &mut r);
            assert_eq!(s.len(), 7, "{ext:?} -> {s}");
        }
        assert_eq!(ext_segment("tar.gz", &mut r), ".tar.gz");
    }

    /// fdfs_gen_slave_filename's results, worked out from its source
    /// (common/fdfs_global.c) for masters with and without extension.
    #[test]
    fn slave_names_are_fastdfs_exact() {
        const BIN: &str = "M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331.bin";
        const TGZ: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";
        const NO_EXT: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU41234567";
        const ONE: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU412345.a";
        let table: &[(&str, &str, Option<&str>, &str)] = &[
            (
                BIN,
                "_150x150",
                Some("jpg"),
                "M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331_150x150.jpg",
            ),
            (
                BIN,
                "_s",
                None,
                "M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331_s.bin",
            ),
            (
                BIN,
                "_s",
                Some(""),
                "M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331_s",
            ),
            (
                BIN,
                "_s",
                Some(".png"),
                "M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331_s.png",
            ),
            (
                BIN,
                "-m",
                Some("txt"),
                "M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331-m.txt",
            ),
            (
                BIN,
                "",
                Some("png"),
                "M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331.png",
            ),
            (
                TGZ,
                "_150x150",
                None,
                "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4_150x150.tar.gz",
            ),
            (
                TGZ,
                "_t",
                Some("jpg"),
                "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4_t.jpg",
            ),
            (
                NO_EXT,
                "_s",
                None,
                "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU41234567_s",
            ),
            (
                NO_EXT,
                "_s",
                Some("png"),
                "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU41234567_s.png",
            ),
            (
                ONE,
                "-x",
                None,
                "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU412345-x.a",
            ),
            (
                "group1/M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331.bin",
                "_s",
                Some("jpg"),
                "group1/M00/00/00/CvoAC2sFvZSAFK0PAAGGoPHv2PY331_s.jpg",
            ),
        ];
        for (master, prefix, ext, want) in table {
            assert_eq!(
                slave_filename(master, prefix, *ext).as_deref(),
                Ok(*want),
                "{master} + {prefix:?} + {ext:?}"
            );
        }
        let ok_34 = format!("{}.jpg", "A".repeat(30));
        assert_eq!(
            slave_filename(&ok_34, "_s", None).unwrap(),
            format!("{}_s.jpg", "A".repeat(30))
        );
        for (master, prefix, ext) in [
            (NO_EXT, "-m", None),
            (BIN, "-m", Some("")),
            (BIN, "", None),
            (BIN, "", Some("bin")),
            (NO_EXT, "", Some("")),
            (&ok_34[1..], "_s", None),
        ] {
            assert!(
                slave_filename(master, prefix, ext).is_err(),
                "{master} + {prefix:?} + {ext:?} accepted"
            );
        }
    }

    #[test]
    fn the_storage_names_slaves_with_the_requested_extension_only() {
        let master = LogicalName::parse("M01/0A/3F/CvoAC2sFvZSAFK0PAAGGoPHv2PY331.bin").unwrap();
        let slave = master.slave("_150x150", "jpg").unwrap();
        assert_eq!(
            slave.to_string(),
            "M01/0A/3F/CvoAC2sFvZSAFK0PAAGGoPHv2PY331_150x150.jpg"
        );
        assert!(slave.is_slave());
        assert_eq!(
            master.slave("_s", "").unwrap().name,
            "CvoAC2sFvZSAFK0PAAGGoPHv2PY331_s",
            "an empty extension in the request is no extension"
        );
        assert!(
            master.slave("", "png").is_err(),
            "the storage needs a prefix"
        );
        assert!(master.slave("a..b", "png").is_err(), "unaddressable name");
        for (prefix, ext) in [
            (".", ""),
            ("..", ""),
            ("_s", "."),
            ("_s", ".."),
            ("_x-m", ""),
        ] {
            assert!(
                master.slave(prefix, ext).is_err(),
                "{prefix:?} + {ext:?} accepted"
            );
        }
        let no_ext = LogicalName::parse("M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU41234567").unwrap();
        assert!(
            no_ext.slave("-m", "").is_err(),
            "would collide with the metadata file"
        );
    }

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "M00/00/00/../../../../etc/passwd",
            "M00/00/00/..wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar",
            "M00/00/00//etc/passwdxxxxxxxxxxxxxxxxxxxxxxxx",
            "/M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz",
            "M00/00/0/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gzz",
            "M00/0a/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz",
            "MZZ/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz",
            "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4/x.tar.gz",
            "M00/00/00/short",
        ] {
            assert!(LogicalName::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(FileId::parse("../M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz").is_err());
        assert!(FileId::parse(&format!("group1/M00/00/00/{}", "A".repeat(200))).is_err());
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use crate::arb;
    use proptest::prelude::*;

    /// Strings that look like file IDs, to reach past the first checks.
    fn id_like() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,140}",
            "([a-z0-9]{1,8}/)?M[0-9A-Fa-f]{2}/[0-9A-F]{1,3}/[0-9A-F]{2}/[A-Za-z0-9_./-]{20,100}",
        ]
    }

    proptest! {
        #[test]
        fn any_string_parses_to_its_canonical_self_or_is_refused(s in id_like()) {
            if let Ok(n) = LogicalName::parse(&s) {
                prop_assert_eq!(n.to_string(), s.clone());
                let _ = (n.info(), n.is_slave(), n.is_appender(), n.rel_path());
            }
            if let Ok(id) = FileId::parse(&s) {
                prop_assert_eq!(id.to_string(), s);
            }
        }

        #[test]
        fn logical_names_round_trip(n in arb::logical_name(), group in arb::group()) {
            prop_assert_eq!(LogicalName::parse(&n.to_string()), Ok(n.clone()));
            let id = FileId { group, name: n };
            prop_assert_eq!(FileId::parse(&id.to_string()), Ok(id));
        }

        #[test]
        fn the_twenty_bytes_round_trip(b in any::<[u8; 20]>()) {
            let info = FileInfo::from_bytes(&b);
            prop_assert_eq!(info.to_bytes(), b);
            let text = info.encode();
            prop_assert_eq!(text.len(), BASE64_LEN);
            prop_assert_eq!(FileInfo::decode(&text), Some(info));
            let _ = info.size();
        }

        #[test]
        fn any_27_characters_decode_or_are_refused(s in ".{27}|[A-Za-z0-9_-]{27}") {
            if let Some(info) = FileInfo::decode(&s) {
                prop_assert_eq!(FileInfo::decode(&info.encode()), Some(info));
            }
        }

        #[test]
        fn slave_names_of_any_text_never_panic(
            master in ".{0,80}",
            prefix in ".{0,20}",
            ext in proptest::option::of(".{0,10}"),
        ) {
            let _ = slave_filename(&master, &prefix, ext.as_deref());
        }

        #[test]
        fn slaves_keep_the_masters_directory_and_stem(
            master in arb::logical_name(),
            prefix in "[A-Za-z0-9_.-]{1,16}",
            ext in "[A-Za-z0-9_.-]{0,6}",
        ) {
            if let Ok(slave) = master.slave(&prefix, &ext) {
                prop_assert_eq!(
                    (slave.store_path, slave.dir1, slave.dir2),
                    (master.store_path, master.dir1, master.dir2)
                );
                prop_assert!(slave.name.starts_with(&master.name[..BASE64_LEN]));
                prop_assert!(slave.name.contains(&prefix));
                prop_assert_eq!(LogicalName::parse(&slave.to_string()), Ok(slave));
            }
        }
    }
}
