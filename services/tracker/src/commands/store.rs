//! Query store (101/104 one storage, 106/107 all): where to upload.

use ferrodfs_proto::fields::{Reader, GROUP_NAME_LEN};
use ferrodfs_proto::{cmd, status};

use super::{Ctx, Reply};
use crate::placement::choose_store;

/// FastDFS takes an exact body: empty, or one group name for the
/// "with group" variants; anything else is EINVAL.
pub fn query_store(ctx: &mut Ctx, command: u8, body: &[u8]) -> Reply {
    let with_group = matches!(
        command,
        cmd::QUERY_STORE_WITH_GROUP_ONE | cmd::QUERY_STORE_WITH_GROUP_ALL
    );
    let all = matches!(
        command,
        cmd::QUERY_STORE_WITHOUT_GROUP_ALL | cmd::QUERY_STORE_WITH_GROUP_ALL
    );
    let named = if with_group {
        if body.len() != GROUP_NAME_LEN {
            return Reply::error(status::EINVAL);
        }
        match Reader::new(body).group() {
            Ok(g) => Some(g),
            Err(_) => return Reply::error(status::EINVAL),
        }
    } else if !body.is_empty() {
        return Reply::error(status::EINVAL);
    } else {
        None
    };
    choose_store(ctx.cluster, ctx.cfg, named.as_deref(), all, ctx.now.mono)
        .map(|t| t.encode(ctx.cfg.response_ip_addr_size))
        .into()
}

#[cfg(test)]
mod tests {
    use ferrodfs_proto::fields::{put_fixed, IpWidth};
    use ferrodfs_proto::tracker_req::StoreTarget;

    use super::super::tests::{cluster, run};
    use super::*;
    use crate::config::Config;

    fn group(name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, name, GROUP_NAME_LEN);
        b
    }

    #[test]
    fn query_store_one_answers_40_bytes() {
        let mut c = cluster(&[("group1", "10.0.0.1")]);
        let r = run(
            &mut c,
            &Config::default(),
            cmd::QUERY_STORE_WITHOUT_GROUP_ONE,
            &[],
        );
        assert_eq!(r.body.len(), StoreTarget::one_len(IpWidth::V4));
        let t = StoreTarget::parse(&r.body).unwrap();
        assert_eq!(
            (
                t.group.as_str(),
                t.storages[0].ip.as_str(),
                t.storages[0].port
            ),
            ("group1", "10.0.0.1", 23000)
        );
    }

    #[test]
    fn query_store_with_group_uses_that_group() {
        let mut c = cluster(&[("group1", "10.0.0.1"), ("group2", "10.0.0.2")]);
        for _ in 0..3 {
            let r = run(
                &mut c,
                &Config::default(),
                cmd::QUERY_STORE_WITH_GROUP_ALL,
                &group("group2"),
            );
            assert_eq!(
                StoreTarget::parse(&r.body).unwrap().storages[0].ip,
                "10.0.0.2"
            );
        }
        let r = run(
            &mut c,
            &Config::default(),
            cmd::QUERY_STORE_WITH_GROUP_ONE,
            &group("group9"),
        );
        assert_eq!(r, Reply::error(status::ENOENT));
    }

    #[test]
    fn a_tracker_warming_up_says_try_again_for_a_group_it_does_not_know_yet() {
        let mut c = cluster(&[("group1", "10.0.0.1")]);
        c.warm_up = crate::warm_up::WarmUp::starting(
            std::time::Instant::now(),
            std::time::Duration::from_secs(60),
        );
        let cfg = Config::default();
        let r = run(
            &mut c,
            &cfg,
            cmd::QUERY_STORE_WITH_GROUP_ONE,
            &group("group2"),
        );
        assert_eq!(r, Reply::error(status::EAGAIN));
        let r = run(
            &mut c,
            &cfg,
            cmd::QUERY_STORE_WITH_GROUP_ONE,
            &group("group1"),
        );
        assert_eq!(r.status, status::OK, "a group it knows is answered");
    }

    #[test]
    fn wrong_body_sizes_are_einval() {
        let mut c = cluster(&[("group1", "10.0.0.1")]);
        let cfg = Config::default();
        assert_eq!(
            run(&mut c, &cfg, cmd::QUERY_STORE_WITHOUT_GROUP_ONE, b"x").status,
            status::EINVAL
        );
        assert_eq!(
            run(&mut c, &cfg, cmd::QUERY_STORE_WITH_GROUP_ONE, b"group1").status,
            status::EINVAL
        );
        assert_eq!(
            run(&mut c, &cfg, cmd::QUERY_STORE_WITH_GROUP_ONE, &group("g-1")).status,
            status::EINVAL
        );
    }
}
