//! Query fetch (102 one, 105 all) and query update (103): which storage
//! holds a file.

use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::tracker_req::parse_fetch_request;
use ferrodfs_proto::{cmd, status};

use super::{Ctx, Reply};
use crate::download::{choose_fetch, FileFacts, Query};

pub fn query_fetch(ctx: &mut Ctx, command: u8, body: &[u8]) -> Reply {
    let Ok((group, name)) = parse_fetch_request(body) else {
        return Reply::error(status::EINVAL);
    };
    let Some(file) = LogicalName::parse(&name)
        .ok()
        .and_then(|n| FileFacts::in_group(&n, ctx.cluster, &group))
    else {
        return Reply::error(status::EINVAL);
    };
    let query = match command {
        cmd::QUERY_FETCH_ALL => Query::All,
        cmd::QUERY_UPDATE => Query::Update,
        _ => Query::One,
    };
    let Some(g) = ctx.cluster.group_mut(&group) else {
        return Reply::error(status::ENOENT);
    };
    choose_fetch(g, &file, query, ctx.cfg, ctx.now)
        .map(|t| t.encode(ctx.cfg.response_ip_addr_size))
        .into()
}

#[cfg(test)]
mod tests {
    use ferrodfs_proto::fields::{put_fixed, IpWidth};
    use ferrodfs_proto::file_id::{FileInfo, Source};
    use ferrodfs_proto::tracker_req::FetchTarget;

    use super::super::tests::{cluster, run};
    use super::*;
    use crate::config::Config;

    /// A normal file created by 10.0.0.1 just now.
    fn name() -> String {
        let info = FileInfo {
            source: Source::Ip([10, 0, 0, 1].into()),
            create_time: 1_700_000_000,
            size_field: (0x8000_0000 << 32) | 10,
            crc32: 0,
        };
        format!("M00/00/00/{}123.jpg", info.encode())
    }

    fn request(group: &str, name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, group, 16);
        b.extend_from_slice(name.as_bytes());
        b
    }

    #[test]
    fn fetch_one_returns_the_source_storage() {
        let mut c = cluster(&[("group1", "10.0.0.1"), ("group1", "10.0.0.2")]);
        let r = run(
            &mut c,
            &Config::default(),
            cmd::QUERY_FETCH_ONE,
            &request("group1", &name()),
        );
        assert_eq!(r.body.len(), FetchTarget::one_len(IpWidth::V4));
        assert_eq!(
            FetchTarget::parse(&r.body).unwrap().storages[0].ip,
            "10.0.0.1"
        );
    }

    #[test]
    fn unknown_group_is_enoent_and_keeps_the_connection() {
        let mut c = cluster(&[("group1", "10.0.0.1")]);
        let r = run(
            &mut c,
            &Config::default(),
            cmd::QUERY_FETCH_ONE,
            &request("group2", &name()),
        );
        assert_eq!(r, Reply::error(status::ENOENT));
    }

    #[test]
    fn malformed_names_are_einval() {
        let mut c = cluster(&[("group1", "10.0.0.1")]);
        let cfg = Config::default();
        for body in [
            request("group1", "M00/00/00/short"),
            request("group1", "../../../../etc/passwd/xxxxxxxxxxxxxxxxxx"),
            request("group1", "M00/00/00/!!!!!!!!!!!!!!!!!!!!!!!!!!!123.jpg"),
            request("gr/1", &name()),
        ] {
            let r = run(&mut c, &cfg, cmd::QUERY_UPDATE, &body);
            assert_eq!(r, Reply::error(status::EINVAL), "{body:?}");
        }
    }
}
