//! The tracker over real sockets: fake storages join and beat with JSON
//! reports, clients query with the FastDFS framing.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ferrodfs_proto::auth::{authenticate, Secret};
use ferrodfs_proto::cluster::{state, BeatReply, PathUsage, StorageReport};
use ferrodfs_proto::fields::put_fixed;
use ferrodfs_proto::file_id::{FileInfo, Source};
use ferrodfs_proto::header::Header;
use ferrodfs_proto::io::{call, read_header, send, ProtoError};
use ferrodfs_proto::stat::{GroupStat, StorageStat};
use ferrodfs_proto::tracker_req::{FetchTarget, StoreTarget};
use ferrodfs_proto::{cmd, status};
use ferrodfs_runtime::net::connect_from;
use ferrodfs_runtime::shutdown::ShutdownTrigger;
use ferrodfs_runtime::Shutdown;
use ferrodfs_tracker::{start, Config, Tracker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_REPLY: u64 = 1 << 20;
const SECRET: &str = "test-cluster-secret-0123456789";

fn secret() -> Secret {
    Secret::new(SECRET).unwrap()
}

async fn tracker(extra: &str) -> (Tracker, ShutdownTrigger) {
    // No warm-up: the fake storages here do not report a heartbeat
    // interval, and each test has every storage it needs join first.
    let text = format!(
        "bind = \"127.0.0.1\"\nport = 0\nwarm_up_interval = 0\ncluster_secret = \"{SECRET}\"\n{extra}"
    );
    let cfg = Config::parse("tracker.toml", &text).unwrap();
    let (trigger, shutdown) = Shutdown::new();
    (start(cfg, shutdown).await.unwrap(), trigger)
}

fn report(group: &str, ip: &str, free_mb: &[i64]) -> StorageReport {
    StorageReport {
        group: group.into(),
        ip: ip.into(),
        port: 23000,
        http_port: 8888,
        version: "6.08".into(),
        join_time: 1_700_000_000,
        up_time: 1_700_000_100,
        store_paths: free_mb
            .iter()
            .map(|&free_mb| PathUsage {
                total_mb: 1000,
                free_mb,
            })
            .collect(),
        subdir_count_per_path: 256,
        ..Default::default()
    }
}

/// A storage's long-lived connection to the tracker.
struct FakeStorage {
    conn: TcpStream,
    report: StorageReport,
}

impl FakeStorage {
    /// Joins from the report's own address, after the cluster handshake,
    /// as a real storage does.
    async fn join(addr: SocketAddr, report: StorageReport) -> FakeStorage {
        let from = report.ip.parse().unwrap();
        let mut conn = connect_from(&addr.to_string(), from).await.unwrap();
        authenticate(&mut conn, &secret()).await.unwrap();
        let mut s = FakeStorage { conn, report };
        let reply = s.send(cmd::STORAGE_JOIN).await.unwrap();
        assert_eq!(reply.status, state::ACTIVE);
        s
    }

    async fn send(&mut self, command: u8) -> Result<BeatReply, ProtoError> {
        let body = serde_json::to_vec(&self.report).unwrap();
        let reply = call(&mut self.conn, command, &body, MAX_REPLY).await?;
        Ok(serde_json::from_slice(&reply).unwrap())
    }

    async fn beat(&mut self) -> BeatReply {
        self.send(cmd::STORAGE_BEAT).await.unwrap()
    }
}

async fn client(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

fn group_body(group: &str) -> Vec<u8> {
    let mut b = Vec::new();
    put_fixed(&mut b, group, 16);
    b
}

/// `group(16) name` for a normal file created by `source` `age` seconds ago.
fn fetch_body(group: &str, source: &str, age: u32) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let info = FileInfo {
        source: Source::Ip(source.parse::<Ipv4Addr>().unwrap()),
        create_time: now - age,
        size_field: (0x8000_1234 << 32) | 100,
        crc32: 7,
    };
    let mut b = group_body(group);
    b.extend_from_slice(format!("M00/00/00/{}123.jpg", info.encode()).as_bytes());
    b
}

async fn query(c: &mut TcpStream, command: u8, body: &[u8]) -> Result<Vec<u8>, u8> {
    call(c, command, body, MAX_REPLY)
        .await
        .map_err(|e| e.status())
}

async fn store_one(c: &mut TcpStream) -> Result<StoreTarget, u8> {
    query(c, cmd::QUERY_STORE_WITHOUT_GROUP_ONE, &[])
        .await
        .map(|b| StoreTarget::parse(&b).unwrap())
}

#[tokio::test]
async fn upload_query_returns_a_joined_storage_with_its_path_index() {
    let (t, _stop) = tracker("store_server = \"first_by_ip\"").await;
    // Path 0 is below the 10% reservation: the storage must write to path 1.
    let _s = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[50, 600])).await;
    let mut c = client(t.local_addr()).await;
    for _ in 0..3 {
        let target = store_one(&mut c).await.unwrap();
        assert_eq!(target.group, "group1");
        assert_eq!(target.storages[0].ip, "127.0.0.11");
        assert_eq!(target.storages[0].port, 23000);
        assert_eq!(target.store_path_index, 1);
    }
}

#[tokio::test]
async fn uploads_rotate_over_groups_and_a_named_group_is_honoured() {
    let (t, _stop) = tracker("").await;
    let _a = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500])).await;
    let _b = FakeStorage::join(t.local_addr(), report("group2", "127.0.0.21", &[500])).await;
    let mut c = client(t.local_addr()).await;
    let mut groups = Vec::new();
    for _ in 0..4 {
        groups.push(store_one(&mut c).await.unwrap().group);
    }
    assert_eq!(groups, ["group1", "group2", "group1", "group2"]);
    let b = query(
        &mut c,
        cmd::QUERY_STORE_WITH_GROUP_ALL,
        &group_body("group2"),
    )
    .await
    .unwrap();
    let all = StoreTarget::parse(&b).unwrap();
    assert_eq!((all.group.as_str(), all.storages.len()), ("group2", 1));
    assert_eq!(
        query(
            &mut c,
            cmd::QUERY_STORE_WITH_GROUP_ONE,
            &group_body("group7")
        )
        .await,
        Err(status::ENOENT)
    );
}

#[tokio::test]
async fn full_storages_get_no_uploads() {
    let (t, _stop) = tracker("reserved_storage_space = \"20%\"").await;
    let _s = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[150, 199])).await;
    let mut c = client(t.local_addr()).await;
    assert_eq!(store_one(&mut c).await.unwrap_err(), status::ENOSPC);
}

#[tokio::test]
async fn downloads_go_to_members_that_hold_the_file() {
    let (t, _stop) = tracker("download_server = \"source_first\"").await;
    let _src = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500])).await;
    let mut peer_report = report("group1", "127.0.0.12", &[500]);
    peer_report.synced_until.insert("127.0.0.11".into(), 0);
    let mut peer = FakeStorage::join(t.local_addr(), peer_report).await;
    let mut c = client(t.local_addr()).await;
    let body = fetch_body("group1", "127.0.0.11", 10);

    let one =
        FetchTarget::parse(&query(&mut c, cmd::QUERY_FETCH_ONE, &body).await.unwrap()).unwrap();
    assert_eq!(
        (one.storages[0].ip.as_str(), one.storages[0].port),
        ("127.0.0.11", 23000)
    );
    let all =
        FetchTarget::parse(&query(&mut c, cmd::QUERY_FETCH_ALL, &body).await.unwrap()).unwrap();
    assert_eq!(
        all.storages.len(),
        1,
        "the peer has not synced the file yet"
    );

    peer.report
        .synced_until
        .insert("127.0.0.11".into(), i64::MAX);
    peer.beat().await;
    let all =
        FetchTarget::parse(&query(&mut c, cmd::QUERY_FETCH_ALL, &body).await.unwrap()).unwrap();
    let ips: Vec<&str> = all.storages.iter().map(|a| a.ip.as_str()).collect();
    assert_eq!(ips, ["127.0.0.11", "127.0.0.12"]);
    let update =
        FetchTarget::parse(&query(&mut c, cmd::QUERY_UPDATE, &body).await.unwrap()).unwrap();
    assert_eq!(update.storages[0].ip, "127.0.0.11");
    assert_eq!(
        query(
            &mut c,
            cmd::QUERY_FETCH_ONE,
            &fetch_body("group2", "127.0.0.11", 10)
        )
        .await,
        Err(status::ENOENT)
    );
}

#[tokio::test]
async fn silent_storage_goes_offline_gets_no_traffic_and_comes_back_on_beat() {
    let (t, _stop) = tracker("check_active_interval = 1").await;
    let mut s = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500])).await;
    let mut c = client(t.local_addr()).await;
    assert!(store_one(&mut c).await.is_ok());

    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(store_one(&mut c).await.unwrap_err(), status::ENOENT);
    let body = fetch_body("group1", "127.0.0.11", 10);
    assert_eq!(
        query(&mut c, cmd::QUERY_FETCH_ONE, &body).await,
        Err(status::ENOENT)
    );
    let listed = query(&mut c, cmd::LIST_STORAGE, &group_body("group1"))
        .await
        .unwrap();
    assert_eq!(
        StorageStat::decode_all(&listed).unwrap()[0].status,
        state::OFFLINE
    );

    assert_eq!(s.beat().await.status, state::ACTIVE);
    assert_eq!(
        store_one(&mut c).await.unwrap().storages[0].ip,
        "127.0.0.11"
    );
}

#[tokio::test]
async fn closing_the_storage_connection_takes_it_offline() {
    let (t, _stop) = tracker("").await;
    let s = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500])).await;
    drop(s);
    let mut c = client(t.local_addr()).await;
    let mut last = Ok(Default::default());
    for _ in 0..50 {
        last = query(&mut c, cmd::LIST_ONE_GROUP, &group_body("group1")).await;
        if GroupStat::decode_all(last.as_ref().unwrap()).unwrap()[0].active_count == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        GroupStat::decode_all(&last.unwrap()).unwrap()[0].active_count,
        0
    );
}

/// The text of an IP field FastDFS-style: the address, then only NULs.
fn ip_field(b: &[u8], at: usize, width: usize) -> String {
    let f = &b[at..at + width];
    let end = f.iter().position(|&c| c == 0).unwrap_or(width);
    assert!(
        f[end..].iter().all(|&c| c == 0),
        "field at {at} is not NUL-padded"
    );
    String::from_utf8(f[..end].to_vec()).unwrap()
}

fn be64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// The tracker's settings, and the record sizes and IP width (storage
/// records and query-file-info: `w`; tracker queries: `w - 1`) they mean.
const SETTINGS: [(&str, &str, usize, usize, usize); 5] = [
    // extra config, stat_layout, group record, storage record, w
    ("", "current", 113, 487, 16),
    ("response_ip_addr_size = \"auto\"", "current", 113, 487, 16),
    ("response_ip_addr_size = \"IPv6\"", "current", 113, 517, 46),
    ("stat_layout = \"legacy\"", "legacy", 105, 612, 16),
    (
        "stat_layout = \"legacy\"\nresponse_ip_addr_size = \"IPv6\"",
        "legacy",
        105,
        644,
        46,
    ),
];

#[tokio::test]
async fn list_answers_have_the_configured_layout_and_ip_width() {
    for (extra, layout, group_len, storage_len, w) in SETTINGS {
        let (t, _stop) = tracker(extra).await;
        let _a = FakeStorage::join(t.local_addr(), report("group2", "127.0.0.21", &[700])).await;
        let _b =
            FakeStorage::join(t.local_addr(), report("group1", "127.0.0.12", &[600, 300])).await;
        let _c =
            FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500, 400])).await;
        let mut c = client(t.local_addr()).await;

        let raw = query(&mut c, cmd::LIST_ALL_GROUPS, &[]).await.unwrap();
        assert_eq!(raw.len(), 2 * group_len, "{extra:?}");
        let groups = GroupStat::decode_all(&raw).unwrap();
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["group1", "group2"], "{layout}");
        assert_eq!((groups[0].storage_count, groups[0].active_count), (2, 2));
        assert_eq!(
            (groups[0].total_mb, groups[0].free_mb),
            (2000, 900),
            "fullest member bounds the group"
        );
        assert_eq!(
            (groups[0].store_path_count, groups[0].subdir_count_per_path),
            (2, 256)
        );
        if layout == "current" {
            // readable and writable counts, then -1: trunk files are off.
            assert_eq!((be64(&raw, 65), be64(&raw, 73)), (2, 2), "{extra:?}");
            assert_eq!(be64(&raw, 105), -1, "{extra:?}");
        }

        let raw = query(&mut c, cmd::LIST_STORAGE, &group_body("group1"))
            .await
            .unwrap();
        assert_eq!(raw.len(), 2 * storage_len, "{extra:?}");
        // Current: status, rw_mode, id(16), then the IP; legacy: status, id(16).
        let ip_at = if layout == "current" { 18 } else { 17 };
        assert_eq!(ip_field(&raw, ip_at, w), "127.0.0.11", "{extra:?}");
        assert_eq!(
            ip_field(&raw, storage_len + ip_at, w),
            "127.0.0.12",
            "{extra:?}"
        );
        if layout == "current" {
            assert_eq!(raw[1], 6, "rw_mode: read and write");
            assert_eq!(
                be64(&raw, ip_at + w + 16 + 8 + 9 * 8),
                23000,
                "storage_port"
            );
        }
        let storages = StorageStat::decode_all(&raw).unwrap();
        let ips: Vec<&str> = storages.iter().map(|s| s.ip.as_str()).collect();
        assert_eq!(ips, ["127.0.0.11", "127.0.0.12"], "{extra:?}");
        let s = &storages[0];
        assert_eq!(
            (s.status, s.id.as_str(), s.version.as_str()),
            (state::ACTIVE, "127.0.0.11", "6.08")
        );
        assert_eq!((s.total_mb, s.free_mb, s.storage_port), (2000, 900, 23000));
        assert_eq!((s.join_time, s.up_time), (1_700_000_000, 1_700_000_100));
        assert!(s.stats.last_heart_beat_time > 1_700_000_000);

        let mut filter = group_body("group1");
        filter.extend_from_slice(b"127.0.0.12");
        let one = query(&mut c, cmd::LIST_STORAGE, &filter).await.unwrap();
        assert_eq!(one.len(), storage_len, "{extra:?}");
        assert_eq!(StorageStat::decode_all(&one).unwrap()[0].ip, "127.0.0.12");
    }
}

#[tokio::test]
async fn query_replies_have_the_configured_ip_width() {
    for (extra, _, _, _, w) in SETTINGS {
        let q = w - 1; // FastDFS writes IP_ADDRESS_SIZE - 1 in query replies
        let (t, _stop) = tracker(extra).await;
        let _src = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500])).await;
        let mut peer = report("group1", "127.0.0.12", &[500]);
        peer.synced_until.insert("127.0.0.11".into(), i64::MAX);
        let _peer = FakeStorage::join(t.local_addr(), peer).await;
        let mut c = client(t.local_addr()).await;

        for (command, body) in [
            (cmd::QUERY_STORE_WITHOUT_GROUP_ONE, vec![]),
            (cmd::QUERY_STORE_WITH_GROUP_ONE, group_body("group1")),
        ] {
            let b = query(&mut c, command, &body).await.unwrap();
            assert_eq!(b.len(), 16 + q + 8 + 1, "{command} {extra:?}");
            assert!(ip_field(&b, 16, q).starts_with("127.0.0.1"));
            assert_eq!(be64(&b, 16 + q), 23000);
            assert_eq!(StoreTarget::parse(&b).unwrap().storages.len(), 1);
        }
        for (command, body) in [
            (cmd::QUERY_STORE_WITHOUT_GROUP_ALL, vec![]),
            (cmd::QUERY_STORE_WITH_GROUP_ALL, group_body("group1")),
        ] {
            let b = query(&mut c, command, &body).await.unwrap();
            assert_eq!(b.len(), 16 + 2 * (q + 8) + 1, "{command} {extra:?}");
            let second = 16 + q + 8;
            let mut ips = [ip_field(&b, 16, q), ip_field(&b, second, q)];
            ips.sort();
            assert_eq!(ips, ["127.0.0.11", "127.0.0.12"]);
            assert_eq!(be64(&b, second + q), 23000);
        }

        let file = fetch_body("group1", "127.0.0.11", 10);
        for command in [cmd::QUERY_FETCH_ONE, cmd::QUERY_UPDATE] {
            let b = query(&mut c, command, &file).await.unwrap();
            assert_eq!(b.len(), 16 + q + 8, "{command} {extra:?}");
            assert!(ip_field(&b, 16, q).starts_with("127.0.0.1"));
            assert_eq!(be64(&b, 16 + q), 23000);
        }
        // Fetch all: the first server with its port, then the other's IP.
        let b = query(&mut c, cmd::QUERY_FETCH_ALL, &file).await.unwrap();
        assert_eq!(b.len(), 16 + q + 8 + q, "{extra:?}");
        let mut ips = [ip_field(&b, 16, q), ip_field(&b, 16 + q + 8, q)];
        ips.sort();
        assert_eq!(ips, ["127.0.0.11", "127.0.0.12"]);
        assert_eq!(FetchTarget::parse(&b).unwrap().storages.len(), 2);

        let params = query(&mut c, cmd::PARAMETER_REQ, &[]).await.unwrap();
        let params = String::from_utf8(params).unwrap();
        assert!(
            params.contains(&format!("\nresponse_ip_addr_size={w}\n")),
            "{params}"
        );
    }
}

#[tokio::test]
async fn malformed_requests_get_einval_and_the_tracker_keeps_serving() {
    let (t, _stop) = tracker("").await;
    let _s = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500])).await;

    let mut bad = client(t.local_addr()).await;
    assert_eq!(
        query(&mut bad, cmd::QUERY_STORE_WITH_GROUP_ONE, b"abc").await,
        Err(status::EINVAL)
    );
    // As FastDFS's tracker: the error is answered and the same connection
    // serves the next request (pooled clients reuse it).
    assert!(store_one(&mut bad).await.is_ok());
    let name = group_body("group1");
    assert_eq!(
        query(&mut bad, cmd::QUERY_FETCH_ONE, &name).await,
        Err(status::EINVAL)
    );
    assert_eq!(query(&mut bad, cmd::ACTIVE_TEST, &[]).await, Ok(Vec::new()));

    // Broken framing (a body the tracker will not take) closes.
    let mut huge = client(t.local_addr()).await;
    huge.write_all(&Header::request(cmd::QUERY_FETCH_ONE, 1 << 40).encode())
        .await
        .unwrap();
    let h = read_header(&mut huge, MAX_REPLY).await.unwrap().unwrap();
    assert_eq!(h.status, status::EINVAL);
    let mut rest = Vec::new();
    huge.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "a broken frame closes the connection");

    let mut garbage = client(t.local_addr()).await;
    let body = group_body("group1");
    assert_eq!(
        query(&mut garbage, cmd::QUERY_FETCH_ONE, &body).await,
        Err(status::EINVAL)
    );
    let mut join = client(t.local_addr()).await;
    authenticate(&mut join, &secret()).await.unwrap();
    assert_eq!(
        query(&mut join, cmd::STORAGE_JOIN, b"{not json").await,
        Err(status::EINVAL)
    );

    let mut good = client(t.local_addr()).await;
    assert_eq!(
        query(&mut good, cmd::ACTIVE_TEST, &[]).await,
        Ok(Vec::new())
    );
    assert!(store_one(&mut good).await.is_ok());
}

#[tokio::test]
async fn one_connection_serves_many_requests_until_quit() {
    let (t, _stop) = tracker("").await;
    let _s = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500])).await;
    let mut c = client(t.local_addr()).await;
    for _ in 0..20 {
        assert!(store_one(&mut c).await.is_ok());
        assert_eq!(query(&mut c, cmd::ACTIVE_TEST, &[]).await, Ok(Vec::new()));
    }
    send(&mut c, Header::request(cmd::QUIT, 0), &[])
        .await
        .unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "QUIT closes without a reply");
}

#[tokio::test]
async fn metrics_count_requests_and_storages() {
    let (t, _stop) = tracker("metrics_listen = \"127.0.0.1:0\"").await;
    let _s = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500])).await;
    let mut c = client(t.local_addr()).await;
    store_one(&mut c).await.unwrap();

    let mut http = TcpStream::connect(t.metrics_addr().unwrap()).await.unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    http.read_to_string(&mut text).await.unwrap();
    assert!(
        text.contains(r#"ferrodfs_tracker_requests_total{cmd="query_store_one",status="OK"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ferrodfs_tracker_storages{group="group1",state="ACTIVE"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_closes_connections_and_join_returns() {
    let (t, stop) = tracker("").await;
    let _s = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.11", &[500])).await;
    let mut idle = client(t.local_addr()).await;
    assert_eq!(
        query(&mut idle, cmd::ACTIVE_TEST, &[]).await,
        Ok(Vec::new())
    );
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(5), t.join())
        .await
        .expect("join returns after shutdown")
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).await.unwrap(), 0);
}

#[tokio::test]
async fn a_lone_tracker_names_itself_leader_and_serves_the_6_16_cluster_stats() {
    let (t, _stop) = tracker("").await;
    let mut c = client(t.local_addr()).await;
    let leader = call(&mut c, cmd::GET_LEADER, &[], MAX_REPLY).await.unwrap();
    assert_eq!(leader, t.local_addr().to_string().as_bytes());

    let body = call(&mut c, cmd::TRACKER_CLUSTER_STAT, &[0, 0, 0], MAX_REPLY)
        .await
        .unwrap();
    let trackers = ferrodfs_proto::monitor::TrackerStat::parse_reply(&body).unwrap();
    assert_eq!(trackers.len(), 1);
    assert_eq!(trackers[0].host, t.local_addr().to_string());
    assert!(trackers[0].is_leader && trackers[0].is_active);

    let mut s = FakeStorage::join(t.local_addr(), report("group1", "127.0.0.31", &[500])).await;
    s.beat().await;
    let body = call(&mut c, cmd::STORAGE_CLUSTER_STAT, &[0, 0, 0, 0], MAX_REPLY)
        .await
        .unwrap();
    let storages = ferrodfs_proto::monitor::StorageClusterReply::parse(&body).unwrap();
    assert_eq!(storages.storages.len(), 1);
    assert_eq!(storages.storages[0].host, "127.0.0.31:23000");
    let body = call(&mut c, cmd::STORAGE_VOLUME_STAT, &[0, 0, 0, 0], MAX_REPLY)
        .await
        .unwrap();
    let groups = ferrodfs_proto::monitor::VolumeReply::parse(&body)
        .unwrap()
        .groups;
    assert_eq!(
        (groups[0].group.as_str(), groups[0].free_mb),
        ("group1", 500)
    );
}
