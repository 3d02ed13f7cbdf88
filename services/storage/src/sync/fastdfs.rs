//! The receiving side of FastDFS 6.x storages' own sync (storage/
//! storage_sync.c pushes, storage_service.c receives): a FastDFS member of
//! this group replays its binlog to us with commands 16-19, 25, 35, 37
//! and 40. Off unless `fastdfs_peers` lists the sender's network, and
//! taken only from an address the trackers list as a member of this
//! group: FastDFS has no secret, and the group a body names is only
//! checked, never believed. Each change goes through the same replica
//! path as our own pushes ([`super::apply`]), so it is written the same
//! way and logged with a lower-case letter (never pushed back).

use std::net::IpAddr;

use ferrodfs_proto::cmd;
use ferrodfs_proto::fields::{get_fixed, GROUP_NAME_LEN};

use crate::binlog::{Op, Record};
use crate::ctx::Ctx;
use crate::error::Error;
use crate::request::Request;

/// FastDFS reads a synced file name into a 128-byte buffer.
const MAX_NAME: usize = 127;
/// FastDFS's `FDFS_STORAGE_ID_MAX_SIZE`.
const ID_LEN: u64 = 16;

/// One FastDFS push, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Push {
    pub group: String,
    pub record: Record,
    /// Bytes of file content after the names: written by creates,
    /// updates, appends and modifies.
    pub content: u64,
}

/// Length of the fixed fields before the names; `None` for commands
/// that are not FastDFS pushes.
///
/// - 16, 18: `name_len(8) + file_size(8) + ts(4) + group(16)`
/// - 17: `ts(4) + group(16)`, the name is the rest
/// - 19, 40: `first_len(8) + second_len(8) + ts(4) + group(16)`
/// - 25, 35: `name_len(8) + offset(8) + length(8) + ts(4) + group(16)`
/// - 37: `name_len(8) + old_size(8) + new_size(8) + ts(4) + group(16)`
pub(crate) fn fixed_len(command: u8) -> Option<usize> {
    let g = GROUP_NAME_LEN;
    match command {
        cmd::SYNC_CREATE_FILE | cmd::SYNC_UPDATE_FILE => Some(8 + 8 + 4 + g),
        cmd::SYNC_DELETE_FILE => Some(4 + g),
        cmd::SYNC_CREATE_LINK | cmd::SYNC_RENAME_FILE => Some(8 + 8 + 4 + g),
        cmd::SYNC_APPEND_FILE | cmd::SYNC_MODIFY_FILE | cmd::SYNC_TRUNCATE_FILE => {
            Some(8 + 8 + 8 + 4 + g)
        }
        _ => None,
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn name_len(n: u64) -> Result<usize, Error> {
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_NAME).contains(&n) => Ok(n),
        _ => Err(Error::Invalid("sync name length outside FastDFS's")),
    }
}

/// The lengths of the names that follow `fixed` in a body of `body_len`
/// bytes: (first, second), second 0 for one-name commands. EINVAL when
/// they cannot be FastDFS's or do not fit the body.
pub(crate) fn name_lens(command: u8, fixed: &[u8], body_len: u64) -> Result<(usize, usize), Error> {
    let rest = body_len - fixed.len() as u64;
    let (a, b) = match command {
        cmd::SYNC_DELETE_FILE => (name_len(rest)?, 0),
        cmd::SYNC_CREATE_LINK | cmd::SYNC_RENAME_FILE => {
            (name_len(u64_at(fixed, 0))?, name_len(u64_at(fixed, 8))?)
        }
        _ => (name_len(u64_at(fixed, 0))?, 0),
    };
    if (a + b) as u64 > rest {
        return Err(Error::Invalid("sync names longer than the body"));
    }
    Ok((a, b))
}

/// Builds the push from its fixed fields, its names and the number of
/// content bytes left in the body. `has_content` is the request header's
/// status being 0: a 16/18 with any other status carries no content (the
/// sender knows this storage has the file already).
pub(crate) fn parse(
    command: u8,
    has_content: bool,
    fixed: &[u8],
    names: &[u8],
    content: u64,
) -> Result<Push, Error> {
    let g = fixed.len() - GROUP_NAME_LEN;
    let group = get_fixed(&fixed[g..]);
    let ts = i64::from(i32::from_be_bytes(
        fixed[g - 4..g].try_into().expect("4 bytes"),
    ));
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| Error::Invalid("sync name is not UTF-8"))
    };
    let (first_len, _) = name_lens(command, fixed, (fixed.len() + names.len()) as u64 + content)?;
    let name = text(&names[..first_len])?;
    let second = text(&names[first_len..])?;
    let expect = |want: u64| {
        (content == want).then_some(()).ok_or(Error::Invalid(
            "sync content length differs from the fixed fields",
        ))
    };
    let op = match command {
        cmd::SYNC_CREATE_FILE | cmd::SYNC_UPDATE_FILE => {
            expect(if has_content { u64_at(fixed, 8) } else { 0 })?;
            if command == cmd::SYNC_CREATE_FILE {
                Op::Create
            } else {
                Op::Update
            }
        }
        cmd::SYNC_DELETE_FILE => {
            expect(0)?;
            Op::Delete
        }
        cmd::SYNC_APPEND_FILE | cmd::SYNC_MODIFY_FILE => {
            let (offset, length) = (u64_at(fixed, 8), u64_at(fixed, 16));
            expect(length)?;
            if command == cmd::SYNC_APPEND_FILE {
                Op::Append { offset, length }
            } else {
                Op::Modify { offset, length }
            }
        }
        cmd::SYNC_TRUNCATE_FILE => {
            expect(0)?;
            Op::Truncate {
                old_size: u64_at(fixed, 8),
                new_size: u64_at(fixed, 16),
            }
        }
        cmd::SYNC_RENAME_FILE => {
            expect(0)?;
            // `new name + old name`; the record is logged under the new.
            return Ok(Push {
                group,
                record: Record {
                    ts,
                    op: Op::Rename { from: second },
                    replica: true,
                    name,
                },
                content,
            });
        }
        _ => return Err(Error::Invalid("not a FastDFS sync command")),
    };
    Ok(Push {
        group,
        record: Record {
            ts,
            op,
            replica: true,
            name,
        },
        content,
    })
}

/// Only from a network in `fastdfs_peers`, and only from a current
/// member of this group other than this storage.
fn check_sender(ctx: &Ctx, peer: IpAddr) -> Result<(), Error> {
    let listed = ctx
        .cfg
        .fastdfs_peers
        .as_ref()
        .is_some_and(|p| p.allows(peer));
    let why = if !listed {
        "its network is not in fastdfs_peers"
    } else if peer == IpAddr::V4(ctx.cfg.ip) || !ctx.is_member(&peer.to_string()) {
        "not a current member of this group"
    } else {
        return Ok(());
    };
    tracing::warn!("FastDFS sync from {peer} refused: {why}");
    Err(Error::Denied(why))
}

/// REPORT_SERVER_ID (9): the first request of a FastDFS sync connection,
/// the sender's 16-byte id. Its address, not this id, is what is checked.
pub(crate) async fn report_server_id(
    ctx: &Ctx,
    req: &mut Request<'_>,
    peer: IpAddr,
) -> Result<u64, Error> {
    check_sender(ctx, peer)?;
    if req.remaining() != ID_LEN {
        return Err(Error::Invalid("REPORT_SERVER_ID body is not a storage id"));
    }
    req.read(ID_LEN).await?;
    req.reply(&[]).await?;
    Ok(0)
}

/// One FastDFS push from `peer`: applied, logged as a replica and
/// answered once on disk. EOPNOTSUPP for SYNC_CREATE_LINK: ferrodfs keeps
/// no symbolic links (FastDFS makes them only with
/// `store_slave_file_use_link`, which ferrodfs trackers announce off).
pub(crate) async fn push(ctx: &Ctx, req: &mut Request<'_>, peer: IpAddr) -> Result<u64, Error> {
    check_sender(ctx, peer)?;
    let command = req.header.cmd;
    if command == cmd::SYNC_CREATE_LINK {
        return Err(Error::NotSupported("FastDFS sync"));
    }
    let fixed_len = fixed_len(command).ok_or(Error::Unsupported)?;
    let body_len = req.remaining();
    if body_len < fixed_len as u64 {
        return Err(Error::Invalid("sync body shorter than its fixed fields"));
    }
    let fixed = req.read(fixed_len as u64).await?;
    let (a, b) = name_lens(command, &fixed, body_len)?;
    let names = req.read((a + b) as u64).await?;
    let content = req.remaining();
    let push = parse(command, req.header.status == 0, &fixed, &names, content)?;
    if push.group != ctx.cfg.group_name {
        return Err(Error::Invalid("sync push for another group"));
    }
    let no_content =
        matches!(command, cmd::SYNC_CREATE_FILE | cmd::SYNC_UPDATE_FILE) && req.header.status != 0;
    let applied = if no_content {
        0
    } else {
        super::apply::apply(ctx, req, &push.record).await?
    };
    // FastDFS pushes a source's records in binlog order: having this one
    // means having its earlier ones.
    ctx.repl.raise_synced(&peer.to_string(), push.record.ts);
    req.reply(&[]).await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodfs_proto::status;

    fn lens(command: u8, fixed: &[u8], body_len: u64) -> Result<(usize, usize), u8> {
        name_lens(command, fixed, body_len).map_err(|e| e.status())
    }

    fn group_field() -> Vec<u8> {
        let mut g = b"group1".to_vec();
        g.resize(16, 0);
        g
    }

    /// Fixed fields as storage_sync.c packs them: three 8-byte numbers
    /// (or two), the 4-byte source timestamp, the 16-byte group.
    fn fixed(nums: &[u64], ts: i32) -> Vec<u8> {
        let mut b: Vec<u8> = nums.iter().flat_map(|n| n.to_be_bytes()).collect();
        b.extend_from_slice(&ts.to_be_bytes());
        b.extend_from_slice(&group_field());
        b
    }

    const NAME: &str = "M00/00/00/wKgBAWZ0aBCAJ8VwAAAABQ2Y5ZQ123.txt";

    #[test]
    fn a_sync_create_is_name_size_timestamp_group_name_content() {
        let f = fixed(&[NAME.len() as u64, 5], 1_700_000_000);
        assert_eq!(f.len(), fixed_len(cmd::SYNC_CREATE_FILE).unwrap());
        assert_eq!(f.len(), 36);
        let body_len = (f.len() + NAME.len() + 5) as u64;
        assert_eq!(
            lens(cmd::SYNC_CREATE_FILE, &f, body_len),
            Ok((NAME.len(), 0))
        );
        let p = parse(cmd::SYNC_CREATE_FILE, true, &f, NAME.as_bytes(), 5).unwrap();
        assert_eq!(p.group, "group1");
        assert_eq!(
            p.record,
            Record {
                ts: 1_700_000_000,
                op: Op::Create,
                replica: true,
                name: NAME.into()
            }
        );
        assert_eq!(p.record.format(), format!("1700000000 c {NAME}\n"));
        assert_eq!(
            parse(cmd::SYNC_CREATE_FILE, true, &f, NAME.as_bytes(), 4).map_err(|e| e.status()),
            Err(status::EINVAL),
            "content shorter than the announced size"
        );
        assert_eq!(
            parse(cmd::SYNC_UPDATE_FILE, false, &f, NAME.as_bytes(), 0)
                .unwrap()
                .record
                .op,
            Op::Update,
            "no content when the header status is not 0"
        );
    }

    #[test]
    fn a_sync_delete_is_timestamp_group_then_the_name() {
        let f = fixed(&[], 7);
        assert_eq!(f.len(), 20);
        let len = (f.len() + NAME.len()) as u64;
        assert_eq!(lens(cmd::SYNC_DELETE_FILE, &f, len), Ok((NAME.len(), 0)));
        let p = parse(cmd::SYNC_DELETE_FILE, true, &f, NAME.as_bytes(), 0).unwrap();
        assert_eq!(p.record.format(), format!("7 d {NAME}\n"));
    }

    #[test]
    fn appends_modifies_and_truncates_carry_offset_and_length() {
        let f = fixed(&[NAME.len() as u64, 5, 3], 9);
        assert_eq!(f.len(), 44);
        let p = parse(cmd::SYNC_APPEND_FILE, true, &f, NAME.as_bytes(), 3).unwrap();
        assert_eq!(p.record.format(), format!("9 a {NAME} 5 3\n"));
        let p = parse(cmd::SYNC_MODIFY_FILE, true, &f, NAME.as_bytes(), 3).unwrap();
        assert_eq!(p.record.format(), format!("9 m {NAME} 5 3\n"));
        assert_eq!(
            parse(cmd::SYNC_APPEND_FILE, true, &f, NAME.as_bytes(), 2).map_err(|e| e.status()),
            Err(status::EINVAL)
        );
        let p = parse(cmd::SYNC_TRUNCATE_FILE, true, &f, NAME.as_bytes(), 0).unwrap();
        assert_eq!(p.record.format(), format!("9 t {NAME} 5 3\n"));
    }

    #[test]
    fn a_sync_rename_names_the_new_file_then_the_old() {
        let old = "M00/00/00/wKgBAWZ0aBCEAAAAAAAAAAAAAAA123.txt";
        let f = fixed(&[NAME.len() as u64, old.len() as u64], 9);
        let names = format!("{NAME}{old}");
        let len = (f.len() + names.len()) as u64;
        assert_eq!(
            lens(cmd::SYNC_RENAME_FILE, &f, len),
            Ok((NAME.len(), old.len()))
        );
        let p = parse(cmd::SYNC_RENAME_FILE, true, &f, names.as_bytes(), 0).unwrap();
        assert_eq!(p.record.format(), format!("9 r {NAME} {old}\n"));
    }

    #[test]
    fn names_longer_than_fastdfs_takes_or_past_the_body_are_einval() {
        let f = fixed(&[128, 0], 1);
        assert_eq!(
            lens(cmd::SYNC_CREATE_FILE, &f, 36 + 128),
            Err(status::EINVAL)
        );
        let f = fixed(&[10, 0], 1);
        assert_eq!(lens(cmd::SYNC_CREATE_FILE, &f, 36 + 9), Err(status::EINVAL));
        let f = fixed(&[0, 0], 1);
        assert_eq!(lens(cmd::SYNC_CREATE_FILE, &f, 36), Err(status::EINVAL));
        assert_eq!(
            lens(cmd::SYNC_DELETE_FILE, &fixed(&[], 1), 20 + 200),
            Err(status::EINVAL)
        );
        assert_eq!(fixed_len(cmd::UPLOAD_FILE), None);
    }
}
