//! Generators the property tests share.

use ferrodfs_proto::file_id::LogicalName;
use proptest::prelude::*;

/// Logical names shaped like the ones uploads make (27+ characters of the
/// file-ID alphabet, an optional extension), in any store path and
/// directory.
pub(crate) fn logical_name() -> impl Strategy<Value = LogicalName> {
    (
        any::<(u8, u8, u8)>(),
        "[A-Za-z0-9_-]{27}[A-Za-z0-9_-]{0,20}(\\.[a-z]{1,6})?",
    )
        .prop_map(|((store_path, dir1, dir2), name)| LogicalName {
            store_path,
            dir1,
            dir2,
            name,
        })
}
