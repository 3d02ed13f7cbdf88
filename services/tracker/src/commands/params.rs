//! Fetch storage ids (69) and parameter request (75): the Java client
//! sends 69 at start-up and mod_fastdfs-style clients load parameters with
//! 75, with or without `use_storage_id`.

use ferrodfs_proto::status;
use ferrodfs_runtime::Reserved;

use super::Reply;
use crate::config::{Config, StorePath};

/// Lines of storage ids in one reply; a client pages through the rest.
const IDS_REPLY_BYTES: usize = 64 * 1024;

/// `start_index(4)` plus, since FastDFS 6.11, `allow_empty(1)`. With
/// `use_storage_id`, storage_ids.conf's lines from `start_index` on
/// (EINVAL past the end). Without it FastDFS answers an empty list (total
/// 0, count 0) when empty is allowed, EOPNOTSUPP otherwise.
pub fn fetch_storage_ids(cfg: &Config, body: &[u8]) -> Reply {
    let (start, allow_empty) = match body {
        [a, b, c, d] => (u32::from_be_bytes([*a, *b, *c, *d]), false),
        [a, b, c, d, e] => (u32::from_be_bytes([*a, *b, *c, *d]), *e == 1),
        _ => return Reply::error(status::EINVAL),
    };
    match &cfg.storage_ids {
        Some(ids) if (start as usize) < ids.entries().len() => {
            Reply::ok(ids.reply(start as usize, IDS_REPLY_BYTES))
        }
        Some(_) => Reply::error(status::EINVAL),
        None if allow_empty => Reply::ok(vec![0; 8]),
        None => Reply::error(status::EOPNOTSUPP),
    }
}

/// `key=value` lines, with the keys clients read (tracker_service.c,
/// tracker_deal_parameter_req); trunk files are off in ferrodfs. FastDFS
/// 6.15+ storages take `response_ip_addr_size` (16 or 46) from here.
pub fn parameters(cfg: &Config, body: &[u8]) -> Reply {
    if !body.is_empty() {
        return Reply::error(status::EINVAL);
    }
    let reserved = match cfg.reserved_storage_space {
        Reserved::Percent(p) => format!("{p:.2}%"),
        Reserved::Bytes(b) => format!("{}MB", b >> 20),
    };
    let store_path = match cfg.store_path {
        StorePath::RoundRobin => 0,
        StorePath::LoadBalance => 2,
    };
    let text = format!(
        "use_storage_id={}\n\
         id_type_in_filename={}\n\
         response_ip_addr_size={}\n\
         storage_ip_changed_auto_adjust=0\n\
         storage_sync_file_max_delay={}\n\
         store_path={store_path}\n\
         reserved_storage_space={reserved}\n\
         use_trunk_file=0\n\
         slot_min_size=256\n\
         slot_max_size=1048576\n\
         trunk_file_size=67108864\n\
         trunk_create_file_advance=0\n\
         trunk_create_file_time_base=02:00\n\
         trunk_create_file_interval=86400\n\
         trunk_create_file_space_threshold=21474836480\n\
         trunk_init_check_occupying=0\n\
         trunk_init_reload_from_binlog=0\n\
         trunk_compress_binlog_min_interval=0\n\
         store_slave_file_use_link=0\n",
        u8::from(cfg.storage_ids.is_some()),
        if cfg.id_in_filename { "id" } else { "ip" },
        cfg.response_ip_addr_size.field(),
        cfg.storage_sync_file_max_delay.as_secs()
    );
    Reply::ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrodfs_proto::storage_ids::{parse_reply, StorageIds};

    #[test]
    fn storage_ids_are_empty_when_allowed_and_unsupported_otherwise() {
        let cfg = Config::default();
        assert_eq!(
            fetch_storage_ids(&cfg, &[0, 0, 0, 0, 1]),
            Reply::ok(vec![0; 8])
        );
        assert_eq!(
            fetch_storage_ids(&cfg, &[0, 0, 0, 0]).status,
            status::EOPNOTSUPP
        );
        assert_eq!(
            fetch_storage_ids(&cfg, &[0, 0, 0, 0, 0]).status,
            status::EOPNOTSUPP
        );
        assert_eq!(fetch_storage_ids(&cfg, &[0]).status, status::EINVAL);
    }

    #[test]
    fn with_storage_ids_the_list_is_served_from_the_start_index() {
        let ids =
            StorageIds::parse("100001 group1 10.0.0.1\n100002 group1 10.0.0.2:23001\n").unwrap();
        let cfg = Config {
            storage_ids: Some(ids.clone().into()),
            id_in_filename: true,
            ..Config::default()
        };
        for body in [&[0, 0, 0, 0][..], &[0, 0, 0, 0, 0]] {
            let r = fetch_storage_ids(&cfg, body);
            let (total, got) = parse_reply(&r.body).unwrap();
            assert_eq!((total, got.as_slice()), (2, ids.entries()));
        }
        let (_, rest) = parse_reply(&fetch_storage_ids(&cfg, &[0, 0, 0, 1, 1]).body).unwrap();
        assert_eq!(rest, ids.entries()[1..]);
        assert_eq!(
            fetch_storage_ids(&cfg, &[0, 0, 0, 2, 1]).status,
            status::EINVAL
        );
        let text = String::from_utf8(parameters(&cfg, &[]).body).unwrap();
        assert!(
            text.contains("use_storage_id=1\nid_type_in_filename=id\n"),
            "{text}"
        );
    }

    #[test]
    fn parameters_reflect_the_config() {
        let cfg = Config {
            store_path: StorePath::LoadBalance,
            reserved_storage_space: Reserved::Bytes(2 << 30),
            ..Config::default()
        };
        let text = String::from_utf8(parameters(&cfg, &[]).body).unwrap();
        assert!(text.contains("store_path=2\n"), "{text}");
        assert!(text.contains("reserved_storage_space=2048MB\n"), "{text}");
        assert!(text.contains("use_storage_id=0\n"), "{text}");
        assert!(
            text.contains("storage_sync_file_max_delay=86400\n"),
            "{text}"
        );
        let default = String::from_utf8(parameters(&Config::default(), &[]).body).unwrap();
        assert!(
            default.contains("reserved_storage_space=10.00%\n"),
            "{default}"
        );
        assert!(default.contains("response_ip_addr_size=16\n"), "{default}");
        let ipv6 = Config {
            response_ip_addr_size: ferrodfs_proto::fields::IpWidth::V6,
            ..Config::default()
        };
        let text = String::from_utf8(parameters(&ipv6, &[]).body).unwrap();
        assert!(text.contains("response_ip_addr_size=46\n"), "{text}");
    }
}
