//! A FastDFS 6.x storage on a ferrodfs tracker: a peer written here that
//! speaks FastDFS's binary join, disk usage report, heartbeat and sync
//! bookkeeping, as fdfs_storaged does, is listed ACTIVE, chosen for
//! uploads, told its group's members, and given an initial-copy source.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::fastdfs::*;
use common::*;
use ferrodfs_client::{Client, ClientConfig};
use ferrodfs_proto::cluster::state;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fastdfs_storage_joins_is_listed_active_and_takes_uploads() {
    let c = Cluster::start_with(1, "fastdfs_storages = [\"127.0.0.0/8\"]\n", vec![]);
    let tracker = c.tracker_addrs()[0].clone();
    let ip = format!("{}.10", c.net);
    let mut s = connect_from(&ip, &tracker, &c).await;

    let mut get_my_ip = fixed("group1", 17);
    get_my_ip.extend_from_slice(&23000i32.to_be_bytes());
    let (st, body) = call(&mut s, 60, &get_my_ip).await;
    assert_eq!(
        (st, String::from_utf8(body).unwrap()),
        (0, ip.clone()),
        "GET_MY_IP"
    );

    let (st, body) = call(&mut s, 81, &join_body("group1", 23000, &tracker)).await;
    assert_eq!(st, 0, "join refused\n{}", c.trackers[0].log_text());
    assert_eq!(body.len(), 17, "my_status(1) + src_id(16)");

    let mut usage = Vec::new();
    for mb in [100_000i64, 60_000] {
        usage.extend_from_slice(&mb.to_be_bytes());
    }
    let (st, body) = call(&mut s, 84, &usage).await;
    assert_eq!(st, 0, "REPORT_DISK_USAGE");
    assert_eq!(
        members_in(&body),
        Some([(ip.clone(), state::ACTIVE)].into()),
        "the first answer pushes the group: this storage alone, ACTIVE"
    );
    assert_eq!(
        call(&mut s, 83, &[]).await,
        (0, vec![0]),
        "BEAT without stats: no changes since"
    );
    assert_eq!(
        call(&mut s, 83, &[0u8; 348]).await,
        (0, vec![0]),
        "BEAT with the stat block"
    );
    assert_eq!(
        call(&mut s, 83, &[0u8; 10]).await.0,
        22,
        "a stat block of the wrong size is EINVAL"
    );

    // This connection beats only when the test says so, and test trackers
    // take a storage silent for CHECK_ACTIVE seconds OFFLINE: on a busy
    // machine that can pass between two steps, so each step beats first.
    assert_eq!(call(&mut s, 83, &[]).await.0, 0);
    assert_eq!(
        status_of(&tracker, "group1", &ip).await,
        Some(state::ACTIVE)
    );
    let client = Client::new(ClientConfig::new(vec![tracker.clone()]));
    assert_eq!(call(&mut s, 83, &[]).await.0, 0);
    let target = client.query_store(None).await.unwrap();
    assert_eq!(target.group, "group1");
    assert_eq!(
        (target.storages[0].ip.as_str(), target.storages[0].port),
        (ip.as_str(), 23000)
    );
    // The group's free space is its ACTIVE members'.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert_eq!(call(&mut s, 83, &[]).await.0, 0);
        let free = client.list_groups().await.unwrap()[0].free_mb;
        if free == 60_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reported free space: {free} MB, not 60000"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fastdfs_storages_a_fastdfs_join_is_refused() {
    let c = Cluster::start_with(1, "", vec![]);
    let tracker = c.tracker_addrs()[0].clone();
    let ip = format!("{}.10", c.net);
    let mut s = connect_from(&ip, &tracker, &c).await;
    let (st, _) = call(&mut s, 81, &join_body("group1", 23000, &tracker)).await;
    assert_eq!(st, 13, "EACCES: FastDFS storages are off by default");
    assert_eq!(status_of(&tracker, "group1", &ip).await, None);
}

fn brief(status: u8, id: &str) -> Vec<u8> {
    let mut b = vec![status];
    b.extend_from_slice(&23000i32.to_be_bytes());
    b.extend_from_slice(&fixed(id, 16));
    b.extend_from_slice(&fixed(id, 46));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastdfs_members_learn_their_group_from_beats_and_a_new_one_is_given_an_active_source() {
    let mut c = Cluster::start_with(
        1,
        "fastdfs_storages = [\"127.0.0.0/8\"]\n",
        vec![StorageSpec {
            group: "group1",
            extra: String::new(),
        }],
    );
    c.wait_active(1).await;
    let tracker = c.tracker_addrs()[0].clone();
    let ferro = ip_of(&c.storages[0]);
    let (a_ip, b_ip, new_ip) = (
        format!("{}.20", c.net),
        format!("{}.21", c.net),
        format!("{}.22", c.net),
    );
    let mut fakes = Vec::new();
    for ip in [&a_ip, &b_ip] {
        let (mut f, _) = FakeStorage::join(&c, ip, join_body("group1", 23000, &tracker)).await;
        // What fdfs_storaged sends right after every join: its source (none).
        assert_eq!(f.call(88, &[0; 24]).await, (0, vec![]), "SYNC_NOTIFY");
        f.start_beating();
        fakes.push(f);
    }
    let (a, b) = (&fakes[0], &fakes[1]);
    let all_active: BTreeMap<String, u8> = [&ferro, &a_ip, &b_ip]
        .into_iter()
        .map(|ip| (ip.clone(), state::ACTIVE))
        .collect();
    eventually(
        Duration::from_secs(20),
        "both FastDFS members are pushed the group",
        &c,
        || {
            let ok = a.members() == all_active && b.members() == all_active;
            async move { ok }
        },
    )
    .await;
    assert_eq!(
        a.call(83, &[]).await,
        (0, vec![0]),
        "an unchanged list is not pushed again"
    );

    // With the ferrodfs member down, the first ACTIVE member by id is a.
    c.storages[0].kill9();
    eventually(
        Duration::from_secs(20),
        "the pushed list shows the ferrodfs member OFFLINE",
        &c,
        || {
            let ok = a.members().get(&ferro) == Some(&state::OFFLINE);
            async move { ok }
        },
    )
    .await;

    let (mut new, reply) = FakeStorage::join(
        &c,
        &new_ip,
        join_body_as("group1", 23000, &tracker, 1, state::INIT),
    )
    .await;
    new.start_beating();
    assert_eq!(reply[0], state::WAIT_SYNC, "the join answer's status");
    assert_eq!(trimmed(&reply[1..]), a_ip, "the join answer's source id");
    let (st, dest) = new.call(87, &[]).await;
    assert_eq!(
        (st, dest.len()),
        (0, 24),
        "SYNC_DEST_REQ: src_id(16) + until(8)"
    );
    assert_eq!(trimmed(&dest[..16]), a_ip);
    let until = i64::from_be_bytes(dest[16..].try_into().unwrap());
    assert!(until > 1_700_000_000, "until is the decision time: {until}");
    assert_eq!(
        new.call(79, &[]).await,
        (0, dest.clone()),
        "SYNC_DEST_QUERY"
    );
    let mut src_req = fixed("group1", 16);
    src_req.extend_from_slice(&fixed(&new_ip, 16));
    assert_eq!(
        b.call(86, &src_req).await,
        (0, dest.clone()),
        "SYNC_SRC_REQ from another member"
    );
    // fdfs_storaged's sync thread asks on a connection without a join.
    let mut fresh = connect_from(&b_ip, &tracker, &c).await;
    assert_eq!(
        call(&mut fresh, 86, &src_req).await,
        (0, dest.clone()),
        "SYNC_SRC_REQ from a member, on a connection that did not join"
    );
    let mut stranger = connect_from(&format!("{}.99", c.net), &tracker, &c).await;
    assert_eq!(
        call(&mut stranger, 86, &src_req).await.0,
        13,
        "SYNC_SRC_REQ from an address no member has: EACCES"
    );
    assert_eq!(
        status_of(&tracker, "group1", &new_ip).await,
        Some(state::WAIT_SYNC)
    );

    // Only the new member's source may say its copy is done.
    let mut report = fixed("group1", 16);
    report.extend_from_slice(&brief(state::OFFLINE, &new_ip));
    assert_eq!(
        b.call(76, &report).await,
        (0, vec![]),
        "REPORT_STATUS from a non-source"
    );
    assert_eq!(
        status_of(&tracker, "group1", &new_ip).await,
        Some(state::WAIT_SYNC)
    );
    let mut syncing = fixed("group1", 16);
    syncing.extend_from_slice(&brief(state::SYNCING, &new_ip));
    assert_eq!(a.call(76, &syncing).await, (0, vec![]));
    assert_eq!(
        status_of(&tracker, "group1", &new_ip).await,
        Some(state::SYNCING)
    );
    assert_eq!(a.call(76, &report).await, (0, vec![]));
    assert_eq!(
        status_of(&tracker, "group1", &new_ip).await,
        Some(state::ACTIVE)
    );
    eventually(
        Duration::from_secs(20),
        "the others are pushed the new ACTIVE member",
        &c,
        || {
            let ok = a.members().get(&new_ip) == Some(&state::ACTIVE)
                && b.members().get(&new_ip) == Some(&state::ACTIVE);
            async move { ok }
        },
    )
    .await;

    // A file a created 10 s ago: only a holds it until the new member
    // reports having synced a past its creation.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let info = ferrodfs_proto::file_id::FileInfo {
        source: ferrodfs_proto::file_id::Source::Ip(a_ip.parse().unwrap()),
        create_time: now - 10,
        size_field: 5,
        crc32: 0,
    };
    let file_id = format!("group1/M00/00/00/{}123.txt", info.encode());
    let client = Client::new(ClientConfig::new(vec![tracker.clone()]));
    let holders = |t: ferrodfs_client::FetchTarget| {
        let mut ips: Vec<String> = t.storages.into_iter().map(|s| s.ip).collect();
        ips.sort();
        ips
    };
    assert_eq!(
        holders(client.query_fetch_all(&file_id).await.unwrap()),
        vec![a_ip.clone()]
    );
    let mut sync_report = fixed(&a_ip, 16);
    sync_report.extend_from_slice(&(now as i32).to_be_bytes());
    sync_report.extend_from_slice(&fixed(&b_ip, 16));
    sync_report.extend_from_slice(&0i32.to_be_bytes());
    let (st, body) = new.call(89, &sync_report).await;
    assert_eq!(st, 0, "SYNC_REPORT");
    members_in(&body);
    assert_eq!(
        holders(client.query_fetch_all(&file_id).await.unwrap()),
        vec![a_ip.clone(), new_ip.clone()]
    );
    assert_eq!(
        new.call(89, &[0; 19]).await.0,
        22,
        "a SYNC_REPORT of a bad size is EINVAL"
    );

    // The rest of what fdfs_storaged asks.
    assert_eq!(
        new.call(77, &[]).await,
        (0, vec![]),
        "CHANGELOG_REQ: no IP changes"
    );
    let mut whose = fixed("group1", 16);
    whose.extend_from_slice(format!("{a_ip}:23000").as_bytes());
    assert_eq!(
        new.call(70, &whose).await,
        (0, a_ip.clone().into_bytes()),
        "GET_SERVER_ID"
    );
    let (st, status) = new.call(71, &whose).await;
    assert_eq!((st, status), (0, brief(state::ACTIVE, &a_ip)), "GET_STATUS");
    assert_eq!(
        new.call(109, &23000u32.to_be_bytes()).await.0,
        95,
        "GET_GROUP_NAME without storage ids"
    );
    assert_eq!(
        new.call(74, &[0; 8]).await.0,
        95,
        "trunk commands: trunk files are off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ferrodfs_storage_applies_a_fastdfs_members_sync_and_logs_it_as_replica() {
    let net = subnet();
    let (a_ip, unlisted_ip, stranger_ip) = (
        format!("{net}.20"),
        format!("{net}.21"),
        format!("{net}.22"),
    );
    let c = Cluster::start_on(
        &net,
        1,
        "fastdfs_storages = [\"127.0.0.0/8\"]\n",
        vec![StorageSpec {
            group: "group1",
            extra: format!("fastdfs_peers = [\"{a_ip}/32\", \"{stranger_ip}/32\"]\n"),
        }],
    );
    c.wait_active(1).await;
    let tracker = c.tracker_addrs()[0].clone();
    let storage = c.storages[0].addr.clone();
    let mut fakes = Vec::new();
    for ip in [&a_ip, &unlisted_ip] {
        let (mut f, _) = FakeStorage::join(&c, ip, join_body("group1", 23000, &tracker)).await;
        f.start_beating();
        fakes.push(f);
    }
    let server_id = fixed(&a_ip, 16);

    // The ferrodfs member takes a's pushes once its trackers list a.
    let mut s = connect_from(&a_ip, &storage, &c).await;
    let t0 = Instant::now();
    loop {
        let (st, _) = call(&mut s, 9, &server_id).await;
        if st == 0 {
            break;
        }
        assert_eq!(st, 13, "REPORT_SERVER_ID before a is a member: EACCES");
        if t0.elapsed() > Duration::from_secs(20) {
            c.dump_logs();
            panic!("the storage never took a as a member");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let ts = now as i32;
    let appender = name_from(&a_ip, now, ferrodfs_proto::file_id::APPENDER_FILE_MARK, 0);
    let normal = name_from(&a_ip, now, 3, crc32fast::hash(b"bye"));
    let doomed = name_from(&a_ip, now, 4, crc32fast::hash(b"gone"));
    let meta_name = format!("{normal}-m");
    let meta = b"author\x02fake\x01width\x02100";

    assert_eq!(
        call(&mut s, 16, &create(&appender, ts, b"hello")).await,
        (0, vec![]),
        "SYNC_CREATE_FILE"
    );
    let append = push_body(&[appender.len() as u64, 5, 6], ts, &[&appender], b" world");
    assert_eq!(
        call(&mut s, 25, &append).await,
        (0, vec![]),
        "SYNC_APPEND_FILE"
    );
    assert_eq!(
        call(&mut s, 16, &create(&normal, ts, b"bye")).await,
        (0, vec![])
    );
    let update = push_body(
        &[meta_name.len() as u64, meta.len() as u64],
        ts,
        &[&meta_name],
        meta,
    );
    assert_eq!(
        call(&mut s, 18, &update).await,
        (0, vec![]),
        "SYNC_UPDATE_FILE of the metadata"
    );
    assert_eq!(
        call(&mut s, 16, &create(&doomed, ts, b"gone")).await,
        (0, vec![])
    );
    let delete = push_body(&[], ts, &[&doomed], b"");
    assert_eq!(
        call(&mut s, 17, &delete).await,
        (0, vec![]),
        "SYNC_DELETE_FILE"
    );
    let short = push_body(&[normal.len() as u64, 10], ts, &[&normal], b"abc");
    assert_eq!(
        call(&mut s, 16, &short).await.0,
        22,
        "content shorter than announced: EINVAL"
    );
    let link = push_body(
        &[normal.len() as u64, normal.len() as u64],
        ts,
        &[&normal, &normal],
        b"",
    );
    assert_eq!(
        call(&mut s, 19, &link).await.0,
        95,
        "SYNC_CREATE_LINK: no links"
    );

    let client = c.client();
    let id = |name: &str| format!("group1/{name}");
    assert_eq!(
        client
            .download_from(&storage, &id(&appender))
            .await
            .unwrap(),
        b"hello world"
    );
    assert_eq!(
        client.download_from(&storage, &id(&normal)).await.unwrap(),
        b"bye"
    );
    assert_eq!(
        client.metadata_from(&storage, &id(&normal)).await.unwrap(),
        meta.to_vec()
    );
    assert!(
        client.download_from(&storage, &id(&doomed)).await.is_err(),
        "deleted"
    );
    let storage_ip = ip_of(&c.storages[0]);
    let http = http_get(
        &format!("{storage_ip}:8888"),
        &format!("/{}", id(&appender)),
    );
    assert!(
        http.starts_with("HTTP/1.1 200") && http.ends_with("\r\n\r\nhello world"),
        "{http}"
    );

    let binlog = c.dir.path().join("storage0/data/sync/binlog.000");
    let text = std::fs::read_to_string(&binlog).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("{ts} c {appender}"),
            format!("{ts} a {appender} 5 6"),
            format!("{ts} c {normal}"),
            format!("{ts} u {meta_name}"),
            format!("{ts} c {doomed}"),
            format!("{ts} d {doomed}"),
        ],
        "replica records only: nothing of a's is pushed back"
    );

    // A group member outside fastdfs_peers, and a listed address that is
    // no member, change nothing.
    let intruder = name_from(&a_ip, now, 3, crc32fast::hash(b"bad"));
    for ip in [&unlisted_ip, &stranger_ip] {
        let mut s = connect_from(ip, &storage, &c).await;
        assert_eq!(
            call(&mut s, 9, &server_id).await.0,
            13,
            "REPORT_SERVER_ID from {ip}"
        );
        assert_eq!(
            call(&mut s, 16, &create(&intruder, ts, b"bad")).await.0,
            13,
            "SYNC_CREATE_FILE from {ip}"
        );
        assert_eq!(
            call(&mut s, 17, &push_body(&[], ts, &[&normal], b""))
                .await
                .0,
            13,
            "SYNC_DELETE_FILE from {ip}"
        );
    }
    assert!(client
        .download_from(&storage, &id(&intruder))
        .await
        .is_err());
    assert_eq!(
        client.download_from(&storage, &id(&normal)).await.unwrap(),
        b"bye"
    );
    assert_eq!(
        std::fs::read_to_string(&binlog).unwrap(),
        text,
        "no record added"
    );
}
