//! Client -> storage request bodies (storage/storage_service.c layouts).
//!
//! Streaming commands (upload, slave upload, append, modify) split into a
//! fixed-size head, parsed first, and the content that follows; the rest are
//! small bodies parsed whole. `encode` is the client side, `parse` the server.

use crate::fields::{
    put_fixed, put_u64, validate_upload_ext, FieldError, IpWidth, Reader, EXT_LEN, GROUP_NAME_LEN,
    PREFIX_LEN,
};
use crate::file_id::LogicalName;

fn check_len(want: u64, got: u64) -> Result<(), FieldError> {
    if want != got {
        return Err(FieldError::LengthMismatch { want, got });
    }
    Ok(())
}

fn name_of(b: &[u8]) -> Result<LogicalName, FieldError> {
    let s = std::str::from_utf8(b)
        .map_err(|_| FieldError::FileName(String::from_utf8_lossy(b).into_owned()))?;
    LogicalName::parse(s)
}

/// Upload (11) and upload appender (23): `store_path_index(1) size(8) ext(6)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadHead {
    /// `None` (wire 0xFF) lets the storage choose.
    pub store_path_index: Option<u8>,
    pub file_size: u64,
    pub ext: String,
}

impl UploadHead {
    pub const LEN: usize = 1 + 8 + EXT_LEN;

    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![self.store_path_index.unwrap_or(0xFF)];
        put_u64(&mut b, self.file_size);
        put_fixed(&mut b, &self.ext, EXT_LEN);
        b
    }

    pub fn parse(head: &[u8], pkg_len: u64) -> Result<Self, FieldError> {
        let mut r = Reader::new(head);
        let idx = r.u8()?;
        let file_size = r.len("file_size")?;
        let ext = r.fixed(EXT_LEN)?;
        validate_upload_ext(&ext)?;
        check_len(Self::LEN as u64 + file_size, pkg_len)?;
        Ok(UploadHead {
            store_path_index: (idx != 0xFF).then_some(idx),
            file_size,
            ext,
        })
    }
}

/// Upload slave (21): `master_len(8) size(8) prefix(16) ext(6) master`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveHead {
    pub master_len: u64,
    pub file_size: u64,
    pub prefix: String,
    pub ext: String,
}

impl SlaveHead {
    pub const LEN: usize = 8 + 8 + PREFIX_LEN + EXT_LEN;

    pub fn encode(&self, master: &str) -> Vec<u8> {
        let mut b = Vec::new();
        put_u64(&mut b, master.len() as u64);
        put_u64(&mut b, self.file_size);
        put_fixed(&mut b, &self.prefix, PREFIX_LEN);
        put_fixed(&mut b, &self.ext, EXT_LEN);
        b.extend_from_slice(master.as_bytes());
        b
    }

    pub fn parse(head: &[u8], pkg_len: u64) -> Result<Self, FieldError> {
        let mut r = Reader::new(head);
        let master_len = r.len("master_filename_len")?;
        let file_size = r.len("file_size")?;
        let prefix = r.fixed(PREFIX_LEN)?;
        let ext = r.fixed(EXT_LEN)?;
        if master_len <= 10 || master_len >= 128 {
            return Err(FieldError::Value {
                field: "master_filename_len",
                value: master_len as i64,
            });
        }
        check_len(Self::LEN as u64 + master_len + file_size, pkg_len)?;
        Ok(SlaveHead {
            master_len,
            file_size,
            prefix,
            ext,
        })
    }

    pub fn master(&self, b: &[u8]) -> Result<LogicalName, FieldError> {
        name_of(b)
    }
}

/// Append (24): `name_len(8) size(8) name`, then content.
/// Modify (34): `name_len(8) offset(8) size(8) name`, then content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteHead {
    pub name_len: u64,
    /// `None` for append.
    pub offset: Option<u64>,
    pub file_size: u64,
}

impl WriteHead {
    pub const APPEND_LEN: usize = 16;
    pub const MODIFY_LEN: usize = 24;

    pub fn encode(&self, name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        put_u64(&mut b, name.len() as u64);
        if let Some(off) = self.offset {
            put_u64(&mut b, off);
        }
        put_u64(&mut b, self.file_size);
        b.extend_from_slice(name.as_bytes());
        b
    }

    pub fn parse(head: &[u8], modify: bool, pkg_len: u64) -> Result<Self, FieldError> {
        let mut r = Reader::new(head);
        let name_len = r.len("appender_filename_len")?;
        let offset = if modify { Some(r.len("offset")?) } else { None };
        let file_size = r.len("file_size")?;
        if name_len >= 128 {
            return Err(FieldError::Value {
                field: "appender_filename_len",
                value: name_len as i64,
            });
        }
        let head_len = if modify {
            Self::MODIFY_LEN
        } else {
            Self::APPEND_LEN
        } as u64;
        check_len(head_len + name_len + file_size, pkg_len)?;
        Ok(WriteHead {
            name_len,
            offset,
            file_size,
        })
    }
}

/// Truncate (36): `name_len(8) new_size(8) name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncate {
    pub name: LogicalName,
    pub new_size: u64,
}

impl Truncate {
    pub fn encode(name: &str, new_size: u64) -> Vec<u8> {
        let mut b = Vec::new();
        put_u64(&mut b, name.len() as u64);
        put_u64(&mut b, new_size);
        b.extend_from_slice(name.as_bytes());
        b
    }

    pub fn parse(body: &[u8]) -> Result<Self, FieldError> {
        let mut r = Reader::new(body);
        let name_len = r.len("appender_filename_len")?;
        let new_size = r.len("truncated_file_size")?;
        check_len(16 + name_len, body.len() as u64)?;
        Ok(Truncate {
            name: name_of(r.rest())?,
            new_size,
        })
    }
}

/// `group(16) name`: delete (12), get metadata (15), query file info (22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName {
    pub group: String,
    pub name: LogicalName,
}

impl GroupName {
    pub fn encode(group: &str, name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, group, GROUP_NAME_LEN);
        b.extend_from_slice(name.as_bytes());
        b
    }

    pub fn parse(body: &[u8]) -> Result<Self, FieldError> {
        let mut r = Reader::new(body);
        let group = r.group()?;
        Ok(GroupName {
            group,
            name: name_of(r.rest())?,
        })
    }
}

/// Download (14): `offset(8) length(8, 0 = to the end) group(16) name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub offset: u64,
    pub length: u64,
    pub file: GroupName,
}

impl Download {
    pub fn encode(offset: u64, length: u64, group: &str, name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        put_u64(&mut b, offset);
        put_u64(&mut b, length);
        b.extend_from_slice(&GroupName::encode(group, name));
        b
    }

    pub fn parse(body: &[u8]) -> Result<Self, FieldError> {
        let mut r = Reader::new(body);
        let offset = r.len("file_offset")?;
        let length = r.len("download_bytes")?;
        Ok(Download {
            offset,
            length,
            file: GroupName::parse(r.rest())?,
        })
    }
}

/// How set-metadata combines the new items with the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaFlag {
    Overwrite,
    Merge,
}

impl MetaFlag {
    pub fn byte(self) -> u8 {
        match self {
            MetaFlag::Overwrite => b'O',
            MetaFlag::Merge => b'M',
        }
    }
}

/// Set metadata (13): `name_len(8) meta_len(8) flag(1) group(16) name meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMeta {
    pub flag: MetaFlag,
    pub file: GroupName,
    pub meta: Vec<u8>,
}

impl SetMeta {
    pub fn encode(flag: MetaFlag, group: &str, name: &str, meta: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        put_u64(&mut b, name.len() as u64);
        put_u64(&mut b, meta.len() as u64);
        b.push(flag.byte());
        put_fixed(&mut b, group, GROUP_NAME_LEN);
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(meta);
        b
    }

    pub fn parse(body: &[u8]) -> Result<Self, FieldError> {
        let mut r = Reader::new(body);
        let name_len = r.len("filename_len")?;
        let meta_len = r.len("meta_len")?;
        let flag = match r.u8()? {
            b'O' => MetaFlag::Overwrite,
            b'M' => MetaFlag::Merge,
            other => {
                return Err(FieldError::Value {
                    field: "op_flag",
                    value: other as i64,
                })
            }
        };
        let group = r.group()?;
        check_len(name_len.saturating_add(meta_len), r.remaining() as u64)?;
        let name = name_of(r.take(name_len as usize)?)?;
        Ok(SetMeta {
            flag,
            file: GroupName { group, name },
            meta: r.rest().to_vec(),
        })
    }
}

/// Reply to upload / slave upload / regenerate: `group(16) name`.
pub fn encode_upload_reply(group: &str, name: &LogicalName) -> Vec<u8> {
    GroupName::encode(group, &name.to_string())
}

pub fn parse_upload_reply(body: &[u8]) -> Result<(String, String), FieldError> {
    let mut r = Reader::new(body);
    let group = r.fixed(GROUP_NAME_LEN)?;
    let name = String::from_utf8_lossy(r.rest())
        .trim_end_matches('\0')
        .to_string();
    Ok((group, name))
}

/// Reply to query file info (22): size, create time, CRC32 (sign-extended,
/// as FastDFS sends it) and the source IP in a `response_ip_addr_size`
/// field: 40 bytes with the IPv4 width (py3fdfs and FastDFS <= 6.10 need
/// exactly that), 70 with the IPv6 one (what 6.11-6.13 clients need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfoReply {
    pub size: u64,
    pub create_time: u64,
    pub crc32: u32,
    pub source_ip: String,
}

impl FileInfoReply {
    pub const fn len(width: IpWidth) -> usize {
        24 + width.field()
    }

    pub fn encode(&self, width: IpWidth) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::len(width));
        put_u64(&mut b, self.size);
        put_u64(&mut b, self.create_time);
        b.extend_from_slice(&(self.crc32 as i32 as i64).to_be_bytes());
        put_fixed(&mut b, &self.source_ip, width.field());
        b
    }

    /// Either width, told by the body length.
    pub fn parse(b: &[u8]) -> Result<Self, FieldError> {
        let width = IpWidth::ALL
            .into_iter()
            .find(|w| b.len() == Self::len(*w))
            .ok_or(FieldError::Short {
                need: Self::len(IpWidth::V4),
                got: b.len(),
            })?;
        let mut r = Reader::new(b);
        Ok(FileInfoReply {
            size: r.i64()? as u64,
            create_time: r.i64()? as u64,
            crc32: r.i64()? as u32,
            source_ip: r.fixed(width.field())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::fixture;

    const NAME: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";

    #[test]
    fn upload_head_round_trips_and_checks_the_length() {
        let h = UploadHead {
            store_path_index: None,
            file_size: 5,
            ext: "jpg".into(),
        };
        let b = h.encode();
        assert_eq!(b.len(), UploadHead::LEN);
        assert_eq!(b[0], 0xFF);
        assert_eq!(UploadHead::parse(&b, 20).unwrap(), h);
        assert!(matches!(
            UploadHead::parse(&b, 19),
            Err(FieldError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn upload_head_refuses_a_bad_extension() {
        let h = UploadHead {
            store_path_index: Some(0),
            file_size: 0,
            ext: "a/b".into(),
        };
        assert!(matches!(
            UploadHead::parse(&h.encode(), 15),
            Err(FieldError::Ext(_))
        ));
    }

    #[test]
    fn slave_head_round_trips() {
        let h = SlaveHead {
            master_len: NAME.len() as u64,
            file_size: 3,
            prefix: "_s".into(),
            ext: "png".into(),
        };
        let b = h.encode(NAME);
        let pkg = (b.len() + 3) as u64;
        let parsed = SlaveHead::parse(&b[..SlaveHead::LEN], pkg).unwrap();
        assert_eq!(parsed, h);
        assert_eq!(
            parsed.master(&b[SlaveHead::LEN..]).unwrap().to_string(),
            NAME
        );
    }

    #[test]
    fn modify_head_round_trips() {
        let h = WriteHead {
            name_len: NAME.len() as u64,
            offset: Some(7),
            file_size: 2,
        };
        let b = h.encode(NAME);
        let parsed =
            WriteHead::parse(&b[..WriteHead::MODIFY_LEN], true, (b.len() + 2) as u64).unwrap();
        assert_eq!(parsed, h);
    }

    #[test]
    fn set_meta_round_trips_and_refuses_unknown_flags() {
        let b = SetMeta::encode(MetaFlag::Merge, "group1", NAME, b"a\x021");
        let m = SetMeta::parse(&b).unwrap();
        assert_eq!(
            (m.flag, m.file.group.as_str(), m.meta.as_slice()),
            (MetaFlag::Merge, "group1", &b"a\x021"[..])
        );
        let mut bad = b.clone();
        bad[16] = b'X';
        assert!(SetMeta::parse(&bad).is_err());
        assert!(
            SetMeta::parse(&b[..b.len() - 1]).is_err(),
            "meta shorter than announced"
        );
    }

    #[test]
    fn download_refuses_traversal_and_bad_groups() {
        assert!(Download::parse(&Download::encode(
            0,
            0,
            "group1",
            "M00/00/00/../../../etc/passwd"
        ))
        .is_err());
        assert!(Download::parse(&Download::encode(0, 0, "gr/up", NAME)).is_err());
        assert!(Download::parse(&[0u8; 12]).is_err());
        let d = Download::parse(&Download::encode(3, 4, "group1", NAME)).unwrap();
        assert_eq!((d.offset, d.length), (3, 4));
    }

    #[test]
    fn file_info_reply_is_fastdfs_bytes_in_both_widths() {
        // storage_service.c query_file_info_response: fsize(8) mtime(8)
        // crc32(8, sign-extended) then the source IP in
        // response_ip_addr_size bytes (16 or 46).
        let r = FileInfoReply {
            size: 1,
            create_time: 1_700_000_000,
            crc32: 0xBEC5_254E,
            source_ip: "10.0.0.1".into(),
        };
        let fields = [
            (0, "0000000000000001"),
            (8, "000000006553f100"),
            (16, "ffffffffbec5254e"),
            (24, "31302e302e302e31"), // "10.0.0.1"
        ];
        let v4 = fixture(40, &fields);
        let v6 = fixture(70, &fields);
        assert_eq!(r.encode(IpWidth::V4), v4);
        assert_eq!(r.encode(IpWidth::V6), v6);
        assert_eq!(FileInfoReply::parse(&v4).unwrap(), r);
        assert_eq!(FileInfoReply::parse(&v6).unwrap(), r);
        assert!(FileInfoReply::parse(&v6[..69]).is_err());
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use crate::arb;
    use proptest::prelude::*;

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    /// Eight-byte length fields of any value, huge and negative included,
    /// then a short tail: what a hostile client announces but never sends.
    fn lengths_then(n: usize, tail: usize) -> impl Strategy<Value = Vec<u8>> {
        (proptest::collection::vec(any::<i64>(), n), bytes(tail)).prop_map(|(lens, tail)| {
            let mut b: Vec<u8> = lens.iter().flat_map(|l| l.to_be_bytes()).collect();
            b.extend_from_slice(&tail);
            b
        })
    }

    fn width() -> impl Strategy<Value = IpWidth> {
        prop_oneof![Just(IpWidth::V4), Just(IpWidth::V6)]
    }

    proptest! {
        #[test]
        fn request_parsers_take_any_bytes(
            b in prop_oneof![bytes(200), lengths_then(3, 200)],
            pkg_len: u64,
        ) {
            let _ = UploadHead::parse(&b, pkg_len);
            let _ = SlaveHead::parse(&b, pkg_len);
            let _ = WriteHead::parse(&b, false, pkg_len);
            let _ = WriteHead::parse(&b, true, pkg_len);
            let _ = Truncate::parse(&b);
            let _ = GroupName::parse(&b);
            let _ = Download::parse(&b);
            let _ = SetMeta::parse(&b);
            let _ = parse_upload_reply(&b);
            let _ = FileInfoReply::parse(&b);
        }

        #[test]
        fn set_meta_with_any_announced_lengths_is_parsed_or_refused(
            name_len: i64,
            meta_len: i64,
            flag in prop_oneof![Just(b'O'), Just(b'M'), any::<u8>()],
            group in arb::group(),
            tail in bytes(200),
        ) {
            let mut b = Vec::new();
            put_u64(&mut b, name_len as u64);
            put_u64(&mut b, meta_len as u64);
            b.push(flag);
            put_fixed(&mut b, &group, GROUP_NAME_LEN);
            b.extend_from_slice(&tail);
            if let Ok(m) = SetMeta::parse(&b) {
                prop_assert_eq!(name_len as usize + m.meta.len(), tail.len());
            }
        }

        #[test]
        fn upload_heads_round_trip(
            store_path_index in prop_oneof![Just(None), (0u8..0xFF).prop_map(Some)],
            file_size in 0..i64::MAX as u64 - UploadHead::LEN as u64,
            // Extensions the storage accepts: no leading dot, no "..", no "-m" end.
            ext in "([A-Za-z0-9_]{1,3}(\\.[A-Za-z0-9_]{1,2})?)?",
        ) {
            let h = UploadHead { store_path_index, file_size, ext };
            let b = h.encode();
            prop_assert_eq!(b.len(), UploadHead::LEN);
            prop_assert_eq!(UploadHead::parse(&b, UploadHead::LEN as u64 + file_size), Ok(h));
        }

        #[test]
        fn slave_heads_round_trip(
            master in arb::logical_name(),
            file_size in 0..i64::MAX as u64 / 2,
            prefix in arb::text(PREFIX_LEN),
            ext in arb::text(EXT_LEN),
        ) {
            let master = master.to_string();
            let h = SlaveHead { master_len: master.len() as u64, file_size, prefix, ext };
            let b = h.encode(&master);
            let pkg_len = (b.len() as u64) + file_size;
            prop_assert_eq!(SlaveHead::parse(&b[..SlaveHead::LEN], pkg_len), Ok(h.clone()));
            prop_assert_eq!(h.master(&b[SlaveHead::LEN..]).unwrap().to_string(), master);
        }

        #[test]
        fn write_heads_round_trip(
            name in arb::logical_name(),
            offset in proptest::option::of(0..=i64::MAX as u64),
            file_size in 0..i64::MAX as u64 / 2,
        ) {
            let name = name.to_string();
            let h = WriteHead { name_len: name.len() as u64, offset, file_size };
            let b = h.encode(&name);
            let modify = offset.is_some();
            let head = if modify { WriteHead::MODIFY_LEN } else { WriteHead::APPEND_LEN };
            let pkg_len = b.len() as u64 + file_size;
            prop_assert_eq!(WriteHead::parse(&b[..head], modify, pkg_len), Ok(h));
            prop_assert_eq!(&b[head..], name.as_bytes());
        }

        #[test]
        fn small_bodies_round_trip(
            group in arb::group(),
            name in arb::logical_name(),
            a in 0..=i64::MAX as u64,
            b in 0..=i64::MAX as u64,
            merge: bool,
            meta in bytes(300),
        ) {
            let s = name.to_string();
            prop_assert_eq!(
                Truncate::parse(&Truncate::encode(&s, a)),
                Ok(Truncate { name: name.clone(), new_size: a })
            );
            let file = GroupName { group: group.clone(), name: name.clone() };
            prop_assert_eq!(GroupName::parse(&GroupName::encode(&group, &s)), Ok(file.clone()));
            prop_assert_eq!(
                Download::parse(&Download::encode(a, b, &group, &s)),
                Ok(Download { offset: a, length: b, file: file.clone() })
            );
            let flag = if merge { MetaFlag::Merge } else { MetaFlag::Overwrite };
            prop_assert_eq!(
                SetMeta::parse(&SetMeta::encode(flag, &group, &s, &meta)),
                Ok(SetMeta { flag, file, meta })
            );
            prop_assert_eq!(
                parse_upload_reply(&encode_upload_reply(&group, &name)),
                Ok((group, s))
            );
        }

        #[test]
        fn file_info_replies_round_trip(
            size: u64,
            create_time: u64,
            crc32: u32,
            ip in arb::ipv4(),
            width in width(),
        ) {
            let r = FileInfoReply { size, create_time, crc32, source_ip: ip };
            prop_assert_eq!(FileInfoReply::parse(&r.encode(width)), Ok(r));
        }
    }
}
