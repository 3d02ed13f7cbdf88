//! DOWNLOAD_FILE (14): `offset` and `length` (0 = to the end), clamped to
//! the file. Small ranges go out in the same write as the header; larger
//! ones with sendfile(2), header first.

use std::io;

use ferrodfs_proto::header::Header;
use ferrodfs_proto::status;
use ferrodfs_proto::storage_req::Download;

use super::{check_group, disk, Error, Request};
use crate::ctx::Ctx;

/// Ranges up to this size are read and sent with the header in one write.
const INLINE_MAX: u64 = 64 << 10;

/// The byte range to send: the doc's recommendation over FastDFS 6.15.4's
/// quirks — an offset past the end is EINVAL, an offset at the end (also
/// 0 on an empty file) sends nothing, a length past the end is clamped.
pub(crate) fn range(size: u64, offset: u64, length: u64) -> Option<u64> {
    if offset > size {
        return None;
    }
    let left = size - offset;
    Some(if length == 0 { left } else { length.min(left) })
}

/// What the disk side of a download found: the file and the range to
/// send, read already when it is small.
struct Opened {
    file: std::fs::File,
    len: u64,
    inline: Option<Vec<u8>>,
}

/// Opens the file and reads a small range (blocking: runs on the
/// blocking pool, never on a runtime thread).
fn open_range(path: &std::path::Path, offset: u64, length: u64) -> Result<Opened, Error> {
    let file = std::fs::File::open(path).map_err(disk)?;
    let meta = file.metadata().map_err(disk)?;
    if !meta.is_file() {
        return Err(Error::IsDir);
    }
    let len = range(meta.len(), offset, length).ok_or(Error::Invalid("range outside the file"))?;
    let inline = if len <= INLINE_MAX {
        let mut buf = vec![0u8; len as usize];
        read_exact_at(&file, &mut buf, offset).map_err(disk)?;
        Some(buf)
    } else {
        None
    };
    Ok(Opened { file, len, inline })
}

pub(crate) async fn download(ctx: &Ctx, req: &mut Request<'_>) -> Result<u64, Error> {
    let d = Download::parse(&req.read_all().await?)?;
    check_group(ctx, &d.file.group)?;
    let path = ctx.data_path(&d.file.name)?;
    let (offset, length) = (d.offset, d.length);
    let Opened { file, len, inline } =
        tokio::task::spawn_blocking(move || open_range(&path, offset, length))
            .await
            .map_err(|_| Error::Task("opening the file"))??;
    if let Some(buf) = inline {
        req.reply(&buf).await?;
        return Ok(len);
    }
    req.send(Header::response(status::OK, len), &[]).await?;
    let timeout = req.timeout();
    crate::zerocopy::send_file(req.stream(), &file, d.offset, len, timeout)
        .await
        .map_err(Error::Conn)?;
    req.bytes_out += len;
    Ok(len)
}

fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(test)]
mod tests {
    use super::range;

    #[test]
    fn zero_length_means_to_the_end() {
        assert_eq!(range(10, 3, 0), Some(7));
    }

    #[test]
    fn a_length_past_the_end_is_clamped() {
        assert_eq!(range(10, 8, 5), Some(2));
    }

    #[test]
    fn an_offset_past_the_end_is_refused_but_the_end_itself_is_empty() {
        assert_eq!(range(10, 11, 0), None);
        assert_eq!(range(10, 10, 0), Some(0));
        assert_eq!(range(0, 0, 0), Some(0), "empty files download");
    }
}
