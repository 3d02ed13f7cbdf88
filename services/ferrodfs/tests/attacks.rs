//! An attacker on the cluster's network, against real daemons: each test
//! performs one attack the way a stranger without the cluster secret (or
//! an insider pretending to be another host) would, and asserts the harm
//! does not happen: nobody joins, evicts, pushes, leads or steers a fetch.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::{Cluster, Daemon, StorageSpec, SECRET};
use ferrodfs_client::{Client, ClientConfig, UploadKind};
use ferrodfs_proto::auth::{authenticate, AuthError, Secret, NONCE_LEN, PROOF_LEN};
use ferrodfs_proto::cluster::{state, StorageReport};
use ferrodfs_proto::fields::put_fixed;
use ferrodfs_proto::io::{call, ProtoError};
use ferrodfs_proto::sync::PushHeader;
use ferrodfs_proto::{cmd, status};
use ferrodfs_runtime::net::connect_from;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const MAX_REPLY: u64 = 1 << 20;

/// A connection from `from` (any loopback address: the attacker picks).
async fn from(ip: &str, to: &str) -> TcpStream {
    connect_from(to, ip.parse().unwrap()).await.unwrap()
}

async fn status_of(s: &mut TcpStream, command: u8, body: &[u8]) -> u8 {
    match call(s, command, body, MAX_REPLY).await {
        Ok(_) => status::OK,
        Err(ProtoError::Status(st)) => st,
        Err(e) => panic!("no answer to command {command}: {e}"),
    }
}

fn report(group: &str, ip: &str, trackers: &[String]) -> Vec<u8> {
    serde_json::to_vec(&StorageReport {
        group: group.into(),
        ip: ip.into(),
        port: 23000,
        http_port: 8888,
        version: "6.16".into(),
        store_paths: vec![Default::default()],
        subdir_count_per_path: 256,
        trackers: trackers.to_vec(),
        ..Default::default()
    })
    .unwrap()
}

fn wrong_secret() -> Secret {
    Secret::new("not-the-cluster-secret-at-all").unwrap()
}

/// IPs of group1's storages as `tracker` lists them.
async fn members(tracker: &str, group: &str) -> Vec<(String, u8)> {
    let c = Client::new(ClientConfig::new(vec![tracker.to_string()]));
    c.list_storages(group, None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.ip, s.status))
        .collect()
}

/// Sends AUTH_HELLO, then a made-up proof: what guessing looks like.
async fn guess_proof(s: &mut TcpStream) -> u8 {
    let hello = call(s, cmd::AUTH_HELLO, &[7; NONCE_LEN], MAX_REPLY).await;
    assert_eq!(hello.unwrap().len(), NONCE_LEN + PROOF_LEN);
    status_of(s, cmd::AUTH_PROOF, &[0; PROOF_LEN]).await
}

#[tokio::test]
async fn a_host_without_the_secret_cannot_join_and_gets_no_uploads() {
    let c = Cluster::start(2, &["group1"]);
    c.wait_active(1).await;
    let rogue = format!("{}.66", c.net);
    for t in c.tracker_addrs() {
        let mut s = from(&rogue, &t).await;
        let body = report("group1", &rogue, &[]);
        assert_eq!(
            status_of(&mut s, cmd::STORAGE_JOIN, &body).await,
            status::EACCES
        );
        assert_eq!(guess_proof(&mut s).await, status::EACCES);
        assert_eq!(
            status_of(&mut s, cmd::STORAGE_JOIN, &body).await,
            status::EACCES
        );
        let mut s = from(&rogue, &t).await;
        let e = authenticate(&mut s, &wrong_secret()).await.unwrap_err();
        assert!(matches!(e, AuthError::BadPeer), "{e}");
    }
    for t in c.tracker_addrs() {
        let listed = members(&t, "group1").await;
        assert_eq!(listed.len(), 1, "{t} lists {listed:?}");
        assert_ne!(listed[0].0, rogue);
    }
    let client = c.client();
    for _ in 0..20 {
        let target = client.query_store(None).await.unwrap();
        let ip = &target.storages[0].ip;
        assert_eq!(*ip, format!("{}.10", c.net), "uploads go to members only");
    }
}

#[tokio::test]
async fn nobody_evicts_a_member_in_its_name() {
    let c = Cluster::start(1, &["group1", "group1"]);
    c.wait_active(2).await;
    let tracker = &c.tracker_addrs()[0];
    let victim = format!("{}.11", c.net);
    let mut delete = Vec::new();
    put_fixed(&mut delete, "group1", 16);
    delete.extend_from_slice(victim.as_bytes());

    // A stranger claims the victim's address, then asks for its removal.
    let mut s = from(&format!("{}.66", c.net), tracker).await;
    let join = report("group1", &victim, &[]);
    assert_eq!(
        status_of(&mut s, cmd::STORAGE_JOIN, &join).await,
        status::EACCES
    );
    drop(s);
    let mut s = from(&format!("{}.66", c.net), tracker).await;
    assert_eq!(
        status_of(&mut s, cmd::DELETE_STORAGE, &delete).await,
        status::EACCES
    );
    let mut group = Vec::new();
    put_fixed(&mut group, "group1", 16);
    assert_eq!(
        status_of(&mut s, cmd::DELETE_GROUP, &group).await,
        status::EACCES
    );

    // An insider with the secret still cannot speak for another host.
    let mut s = from(&format!("{}.67", c.net), tracker).await;
    authenticate(&mut s, &Secret::new(SECRET).unwrap())
        .await
        .unwrap();
    assert_eq!(
        status_of(&mut s, cmd::STORAGE_JOIN, &join).await,
        status::EPERM
    );
    drop(s);

    // The admin client needs the secret too; with it, an ACTIVE member
    // is still refused (EBUSY), as in FastDFS.
    let mut cfg = ClientConfig::new(c.tracker_addrs());
    cfg.cluster_secret = Some(wrong_secret());
    let outsider = Client::new(cfg);
    for (_, r) in outsider.delete_storage("group1", &victim).await {
        let e = r.unwrap_err();
        assert!(e.to_string().contains("cluster authentication"), "{e}");
    }
    for (_, r) in c.client().delete_storage("group1", &victim).await {
        assert_eq!(r.unwrap_err().status(), Some(status::EBUSY));
    }
    let listed = members(tracker, "group1").await;
    assert!(
        listed.contains(&(victim.clone(), state::ACTIVE)),
        "the victim is still an ACTIVE member: {listed:?}"
    );
    c.wait_active(2).await;
}

#[tokio::test]
async fn sync_pushes_from_outside_the_group_change_nothing() {
    let c = Cluster::start(1, &["group1", "group1"]);
    c.wait_active(2).await;
    let client = c.client();
    let original = b"the real bytes".to_vec();
    let id = client
        .upload(&original, "txt", None, UploadKind::Normal)
        .await
        .unwrap();
    let name = id.split_once('/').unwrap().1.to_string();
    let (a, b) = (c.storages[0].addr.clone(), c.storages[1].addr.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.download_from(&b, &id).await.ok().as_deref() != Some(&original[..]) {
        assert!(Instant::now() < deadline, "never replicated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let evil = b"<script>attacker</script>".to_vec();
    let push = |from_ip: &str| {
        let head = PushHeader {
            from: from_ip.into(),
            group: "group1".into(),
            record: format!("1700000000 C {name}"),
            content_len: evil.len() as u64,
            ..Default::default()
        };
        let mut body = head.encode();
        body.extend_from_slice(&evil);
        body
    };
    let member_a = format!("{}.10", c.net);
    let outsider = format!("{}.66", c.net);
    for target in [&a, &b] {
        // Without the secret, in a member's name.
        let mut s = from(&outsider, target).await;
        assert_eq!(
            status_of(&mut s, cmd::SYNC_PUSH, &push(&member_a)).await,
            status::EACCES
        );
        // With the secret, from a host that is no member, in a member's
        // name and in its own.
        let mut s = from(&outsider, target).await;
        authenticate(&mut s, &Secret::new(SECRET).unwrap())
            .await
            .unwrap();
        assert_eq!(
            status_of(&mut s, cmd::SYNC_PUSH, &push(&member_a)).await,
            status::EACCES
        );
        assert_eq!(
            status_of(&mut s, cmd::SYNC_PUSH, &push(&outsider)).await,
            status::EACCES
        );
    }
    for target in [&a, &b] {
        assert_eq!(client.download_from(target, &id).await.unwrap(), original);
    }
}

/// A process that answers every request with OK: what a stranger (or a
/// FastDFS tracker, which knows no AUTH command) looks like to a probe
/// that does not check the secret.
async fn fake_tracker(addr: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let local = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                while let Ok(Some(h)) = ferrodfs_proto::io::read_header(&mut s, 1 << 20).await {
                    let mut body = vec![0u8; h.pkg_len as usize];
                    if s.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let reply = if h.cmd == cmd::AUTH_HELLO {
                        vec![1u8; NONCE_LEN + PROOF_LEN]
                    } else {
                        Vec::new()
                    };
                    let head = ferrodfs_proto::header::Header::response(0, reply.len() as u64);
                    if ferrodfs_proto::io::send(&mut s, head, &reply)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    local
}

async fn leader_of(tracker: &str) -> String {
    let mut s = TcpStream::connect(tracker).await.unwrap();
    String::from_utf8(call(&mut s, cmd::GET_LEADER, &[], MAX_REPLY).await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_fake_tracker_at_a_lower_address_never_leads() {
    let mut c = Cluster::start(2, &["group1"]);
    c.wait_active(1).await;
    // Lower than every real tracker (.1, .2), so it would lead if counted.
    let fake = fake_tracker(&format!("{}.0:0", c.net)).await.to_string();
    let real_leader = c.tracker_addrs()[0].clone();

    // A refused join that names it, as storages name their trackers.
    for t in c.tracker_addrs() {
        let mut s = from(&format!("{}.66", c.net), &t).await;
        let body = report(
            "group1",
            &format!("{}.66", c.net),
            std::slice::from_ref(&fake),
        );
        assert_eq!(
            status_of(&mut s, cmd::STORAGE_JOIN, &body).await,
            status::EACCES
        );
    }
    // A real storage whose tracker_servers names it too (a FastDFS
    // tracker left in a config): the trackers learn of it and probe it.
    let ip = format!("{}.11", c.net);
    let port = common::free_port(&ip);
    let base = c.dir.path().join("storage-extra");
    let store = base.join("store0");
    std::fs::create_dir_all(&store).unwrap();
    let trackers: Vec<String> = c
        .tracker_addrs()
        .iter()
        .chain([&fake])
        .map(|t| format!("\"{t}\""))
        .collect();
    let cfg = format!(
        "group_name = \"group1\"\nbind = \"{ip}\"\nport = {port}\nhttp_port = {http}\n\
         base_path = \"{}\"\nstore_paths = [\"{}\"]\ntracker_servers = [{}]\n\
         heart_beat_interval = {}\ncluster_secret = \"{SECRET}\"\nreserved_storage_space = \"16M\"\n",
        base.display(),
        store.display(),
        trackers.join(", "),
        common::HEART_BEAT,
        http = common::free_port(&ip),
    );
    let d = Daemon::start(
        c.dir.path(),
        "storage",
        "storage-extra",
        &format!("{ip}:{port}"),
        &cfg,
    );
    c.storages.push(d);
    // The new member needs the leader's decision on its full copy: with a
    // fake leader it would sit in INIT.
    c.wait_active(2).await;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        for t in c.tracker_addrs() {
            assert_eq!(leader_of(&t).await, real_leader, "asked {t}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = c.trackers[0].log_text();
    assert!(
        log.contains(&format!("tracker {fake} is not counted as a peer")),
        "{log}"
    );
}

#[tokio::test]
async fn hosts_outside_allow_hosts_are_closed_at_once() {
    let c = Cluster::start_with(1, "allow_hosts = [\"127.0.0.9/32\"]", vec![]);
    let tracker = c.tracker_addrs()[0].clone();
    // The allowed host is served (once the tracker listens)...
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = connect_from(&tracker, "127.0.0.9".parse().unwrap()).await {
            assert_eq!(status_of(&mut s, cmd::ACTIVE_TEST, &[]).await, status::OK);
            break;
        }
        assert!(Instant::now() < deadline, "the tracker never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...another is closed without an answer.
    let mut s = from(&format!("{}.66", c.net), &tracker).await;
    let r = call(&mut s, cmd::ACTIVE_TEST, &[], MAX_REPLY).await;
    assert!(r.is_err(), "a host outside allow_hosts got an answer");
    c.trackers[0].wait_log("not in allow_hosts");
}

/// Every refused host is logged; a daemon whose stderr nobody reads (a
/// stuck journald, a full pipe) must keep serving all the same: log lines
/// wait for a writer thread of their own, never block the threads that
/// serve.
#[tokio::test]
async fn a_log_flood_with_a_stalled_log_reader_does_not_stall_the_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let ip = format!("{}.1", common::subnet());
    let tracker = format!("{ip}:{}", common::free_port(&ip));
    let cfg = dir.path().join("tracker.toml");
    std::fs::write(
        &cfg,
        format!(
            "bind = \"{ip}\"\nport = {}\nbase_path = \"{}\"\ncluster_secret = \"{SECRET}\"\n\
             reserved_storage_space = \"16M\"\nallow_hosts = [\"127.0.0.9/32\"]\n",
            tracker.rsplit_once(':').unwrap().1,
            dir.path().join("base").display()
        ),
    )
    .unwrap();
    // stderr is a pipe that is never read: once its 64 KiB are full, a
    // write to it blocks.
    let mut child = std::process::Command::new(common::BIN)
        .args(["tracker", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let allowed = "127.0.0.9".parse().unwrap();
    let answered = |deadline: Duration| {
        let tracker = tracker.clone();
        async move {
            let t = Instant::now();
            while t.elapsed() < deadline {
                if let Ok(Ok(mut s)) =
                    tokio::time::timeout(Duration::from_secs(2), connect_from(&tracker, allowed))
                        .await
                {
                    let r = tokio::time::timeout(
                        Duration::from_secs(2),
                        call(&mut s, cmd::ACTIVE_TEST, &[], MAX_REPLY),
                    )
                    .await;
                    if matches!(r, Ok(Ok(_))) {
                        return true;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(
        answered(Duration::from_secs(20)).await,
        "the tracker never answered"
    );
    // Each refused connection logs a line of about 100 bytes: 3,000 of
    // them are several times what the pipe holds.
    for n in 0..3_000 {
        let mut s = from(&format!("{}.66", common::subnet()), &tracker).await;
        assert!(
            closed_before(&mut s, Duration::from_secs(5)).await,
            "the tracker stalled after {n} refused connections"
        );
    }
    assert!(
        answered(Duration::from_secs(10)).await,
        "the allowed host is no longer answered"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads until the peer closes; `true` if it did before `deadline`.
async fn closed_before(s: &mut TcpStream, deadline: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(deadline, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed_after_network_timeout() {
    let c = Cluster::start_with(
        1,
        "network_timeout = 1",
        vec![StorageSpec {
            group: "group1",
            extra: "network_timeout = 1".into(),
        }],
    );
    c.wait_active(1).await;
    let attacker = format!("{}.66", c.net);
    let mut held = Vec::new();
    for target in [c.tracker_addrs()[0].clone(), c.storages[0].addr.clone()] {
        for i in 0..100 {
            let mut s = from(&attacker, &target).await;
            if i % 2 == 1 {
                // Half a header, never finished.
                tokio::io::AsyncWriteExt::write_all(&mut s, &[0, 0, 0])
                    .await
                    .unwrap();
            }
            held.push(s);
        }
    }
    // Normal clients are served meanwhile.
    let client = c.client();
    let id = client
        .upload(b"still served", "txt", None, UploadKind::Normal)
        .await
        .unwrap();
    assert_eq!(client.download(&id, 0, 0).await.unwrap(), b"still served");
    for s in &mut held {
        assert!(
            closed_before(s, Duration::from_secs(20)).await,
            "a connection outlived network_timeout"
        );
    }
}

#[tokio::test]
async fn max_connections_bounds_what_one_host_can_hold_open() {
    let c = Cluster::start_with(
        1,
        "",
        vec![StorageSpec {
            group: "group1",
            extra: "max_connections = 4".into(),
        }],
    );
    c.wait_active(1).await;
    let storage = c.storages[0].addr.clone();
    let attacker = format!("{}.66", c.net);
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = from(&attacker, &storage).await;
        assert_eq!(status_of(&mut s, cmd::ACTIVE_TEST, &[]).await, status::OK);
        held.push(s);
    }
    // The fifth waits in the backlog, unanswered, until one closes.
    let mut fifth = from(&attacker, &storage).await;
    let waiting = tokio::time::timeout(
        Duration::from_millis(500),
        call(&mut fifth, cmd::ACTIVE_TEST, &[], MAX_REPLY),
    )
    .await;
    assert!(waiting.is_err(), "answered beyond max_connections");
    held.pop();
    let mut buf = [0u8; 10];
    tokio::time::timeout(Duration::from_secs(10), fifth.read_exact(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert_eq!(buf[9], status::OK);
    c.storages[0].wait_log("max_connections (4) reached");
}

#[tokio::test]
async fn a_slowloris_http_head_is_cut_off_after_network_timeout() {
    let mut c = Cluster::start_with(1, "", vec![]);
    let ip: IpAddr = format!("{}.10", c.net).parse().unwrap();
    let http_port = common::free_port(&ip.to_string());
    c.add_storage(StorageSpec {
        group: "group1",
        extra: format!("network_timeout = 1\nhttp_port = {http_port}"),
    });
    c.wait_active(1).await;
    let mut s = TcpStream::connect((ip, http_port)).await.unwrap();
    let started = Instant::now();
    tokio::io::AsyncWriteExt::write_all(&mut s, b"GET /group1/M00/00/00/x HTTP/1.1\r\n")
        .await
        .unwrap();
    // One header byte every 200 ms: each read alone is well inside the timeout.
    loop {
        let r = tokio::io::AsyncWriteExt::write_all(&mut s, b"X").await;
        if r.is_err() || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => break,
            Err(_) => {}
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a trickled head held the connection for 20 s"
    );
}
