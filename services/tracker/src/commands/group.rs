//! Group administration: DELETE_GROUP (108) and SET_TRUNK_SERVER (94)
//! (tracker_service.c, tracker_mem.c).

use ferrodfs_proto::fields::{get_fixed, GROUP_NAME_LEN};
use ferrodfs_proto::monitor::STORAGE_ID_LEN;
use ferrodfs_proto::status;

use super::{Ctx, Reply};

/// DELETE_GROUP: `group(16)`. Only a group without storages goes (EBUSY
/// otherwise, ENOENT when unknown), as in FastDFS: delete its storages
/// first with DELETE_STORAGE.
pub fn delete(ctx: &mut Ctx, body: &[u8]) -> Reply {
    if body.len() != GROUP_NAME_LEN {
        return Reply::error(status::EINVAL);
    }
    match ctx.cluster.delete_group(&get_fixed(body)) {
        Ok(()) => Reply::ok(Vec::new()),
        Err(st) => Reply::error(st),
    }
}

/// SET_TRUNK_SERVER: `group(16)` and an optional storage id under 16
/// bytes. ferrodfs never uses trunk files, and a FastDFS tracker with
/// `use_trunk_file = false` answers a known group with EOPNOTSUPP (after
/// EINVAL for a bad length and ENOENT for an unknown group); so does this.
pub fn set_trunk_server(ctx: &mut Ctx, body: &[u8]) -> Reply {
    if body.len() < GROUP_NAME_LEN || body.len() >= GROUP_NAME_LEN + STORAGE_ID_LEN {
        return Reply::error(status::EINVAL);
    }
    if ctx
        .cluster
        .group(&get_fixed(&body[..GROUP_NAME_LEN]))
        .is_none()
    {
        return Reply::error(status::ENOENT);
    }
    Reply::error(status::EOPNOTSUPP)
}

#[cfg(test)]
mod tests {
    use ferrodfs_proto::cmd;
    use ferrodfs_proto::fields::put_fixed;

    use super::super::tests::{cluster, run};
    use super::*;
    use crate::config::Config;

    fn group(name: &str, extra: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, name, GROUP_NAME_LEN);
        b.extend_from_slice(extra);
        b
    }

    #[test]
    fn only_an_empty_group_can_be_deleted() {
        let cfg = Config::default();
        let mut c = cluster(&[("group1", "10.0.0.11")]);
        let del = |c: &mut _, name| run(c, &cfg, cmd::DELETE_GROUP, &group(name, b""));
        assert_eq!(del(&mut c, "group1"), Reply::error(status::EBUSY));
        assert_eq!(del(&mut c, "group9"), Reply::error(status::ENOENT));
        c.group_mut("group1").unwrap().storages.clear();
        assert_eq!(del(&mut c, "group1"), Reply::ok(Vec::new()));
        assert!(c.group("group1").is_none());
        let r = run(&mut c, &cfg, cmd::DELETE_GROUP, b"group1");
        assert_eq!(r, Reply::error(status::EINVAL), "not 16 bytes");
    }

    #[test]
    fn trunk_servers_are_not_supported_as_with_trunk_files_off() {
        let cfg = Config::default();
        let mut c = cluster(&[("group1", "10.0.0.11")]);
        let set = |c: &mut _, body: &[u8]| run(c, &cfg, cmd::SET_TRUNK_SERVER, body);
        assert_eq!(
            set(&mut c, &group("group1", b"")),
            Reply::error(status::EOPNOTSUPP)
        );
        assert_eq!(
            set(&mut c, &group("group1", b"10.0.0.11")),
            Reply::error(status::EOPNOTSUPP)
        );
        assert_eq!(
            set(&mut c, &group("group9", b"")),
            Reply::error(status::ENOENT)
        );
        assert_eq!(
            set(&mut c, &group("group1", &[b'1'; 16])),
            Reply::error(status::EINVAL)
        );
        assert_eq!(set(&mut c, b"group1"), Reply::error(status::EINVAL));
    }
}
