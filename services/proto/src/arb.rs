//! Proptest strategies shared by the codec property tests: values a
//! well-behaved peer sends, for the encode/decode round trips. The
//! no-panic properties use plain `any::<Vec<u8>>()` instead.

use proptest::prelude::*;

use crate::file_id::LogicalName;

/// A group name FastDFS accepts.
pub fn group() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,16}"
}

/// Dotted-quad text, as IPv4 storages report themselves.
pub fn ipv4() -> impl Strategy<Value = String> {
    any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string())
}

/// Text of at most `max` bytes without NULs: what survives a NUL-padded field.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(1u8..=0x7F, 0..=max)
        .prop_map(|b| String::from_utf8(b).expect("ASCII"))
}

/// Like [`text`], but never empty.
pub fn text1(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(1u8..=0x7F, 1..=max)
        .prop_map(|b| String::from_utf8(b).expect("ASCII"))
}

/// A logical name [`LogicalName::parse`] accepts: normal, slave and
/// extension-less shapes, any store path and directories.
pub fn logical_name() -> impl Strategy<Value = LogicalName> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        "[A-Za-z0-9_-]{27}[A-Za-z0-9_-]{0,40}(\\.[A-Za-z0-9_-]{1,6})?",
    )
        .prop_map(|(store_path, dir1, dir2, name)| LogicalName {
            store_path,
            dir1,
            dir2,
            name,
        })
}
