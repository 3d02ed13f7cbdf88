//! Replication lag is invisible over HTTP: a member that does not hold a
//! file yet fetches it from (or redirects to) the source storage named in
//! the file ID, whose HTTP port it learnt from the trackers.

mod common;
mod http_common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{answer_auth, upload, GROUP, SECRET};
use ferrodfs_proto::cluster::{state, BeatReply, Member, StorageReport};
use ferrodfs_proto::file_id::{ext_segment, FileInfo};
use ferrodfs_proto::io::{read_body, read_header, send_ok};
use ferrodfs_runtime::shutdown::ShutdownTrigger;
use ferrodfs_runtime::Shutdown;
use ferrodfs_storage::{start, Config, Storage};
use http_common::*;
use tokio::net::TcpListener;

/// A tracker that answers join and beat as ACTIVE. Unless `everyone`, it
/// tells each storage only about the members that joined before it (and
/// itself), so the first storage never learns of the second and never
/// replicates to it: its files stay on the source only.
#[derive(Clone, Default)]
struct FakeTracker {
    everyone: bool,
    joined: Arc<Mutex<Vec<Member>>>,
    /// Per storage IP: how many members its last reply listed.
    told: Arc<Mutex<HashMap<String, usize>>>,
}

impl FakeTracker {
    async fn start(everyone: bool) -> (FakeTracker, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let t = FakeTracker {
            everyone,
            ..Default::default()
        };
        let t2 = t.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let t = t2.clone();
                tokio::spawn(async move {
                    let mut auth = ferrodfs_proto::auth::ServerAuth::default();
                    while let Ok(Some(h)) = read_header(&mut s, 1 << 20).await {
                        let Ok(body) = read_body(&mut s, h.pkg_len).await else {
                            return;
                        };
                        if answer_auth(&mut s, &mut auth, h.cmd, &body).await {
                            continue;
                        }
                        let report: StorageReport = serde_json::from_slice(&body).unwrap();
                        let members = t.member_list(&report);
                        let reply = BeatReply {
                            status: state::ACTIVE,
                            members,
                            ..Default::default()
                        };
                        if send_ok(&mut s, &serde_json::to_vec(&reply).unwrap())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        (t, addr)
    }

    fn member_list(&self, report: &StorageReport) -> Vec<Member> {
        let mut joined = self.joined.lock().unwrap();
        let me = Member {
            id: report.ip.clone(),
            ip: report.ip.clone(),
            port: report.port,
            http_port: report.http_port,
            status: state::ACTIVE,
            fastdfs: false,
        };
        let at = match joined.iter().position(|m| m.ip == me.ip) {
            Some(i) => {
                joined[i] = me;
                i
            }
            None => {
                joined.push(me);
                joined.len() - 1
            }
        };
        let list = if self.everyone {
            joined.clone()
        } else {
            joined[..=at].to_vec()
        };
        self.told
            .lock()
            .unwrap()
            .insert(report.ip.clone(), list.len());
        list
    }

    fn http_port_of(&self, ip: &str) -> Option<u16> {
        self.joined
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.ip == ip)
            .map(|m| m.http_port)
    }

    /// Waits until the storage at `ip` was told about `n` members.
    async fn until_told(&self, ip: &str, n: usize) {
        for _ in 0..100 {
            if self.told.lock().unwrap().get(ip).copied().unwrap_or(0) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{ip} was never told about {n} members");
    }
}

struct Node {
    storage: Storage,
    trigger: ShutdownTrigger,
    /// Last: dropped after the storage.
    dir: tempfile::TempDir,
}

impl Node {
    fn http(&self) -> SocketAddr {
        self.storage.http_addr().unwrap()
    }

    async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.storage.join())
            .await
            .expect("shutdown finishes")
            .unwrap();
    }
}

/// A storage of group1 on its own loopback address.
async fn node(ip: &str, tracker: &str, extra: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "group_name = '{GROUP}'\nbind = '{ip}'\nport = 0\nhttp_port = 0\nheart_beat_interval = 0.2\n\
         cluster_secret = '{SECRET}'\n\
         network_timeout = 5\nreserved_storage_space = '0%'\ntracker_servers = ['{tracker}']\n\
         base_path = {:?}\nstore_paths = [{:?}]\n{extra}\n",
        dir.path().join("base").display().to_string(),
        dir.path().join("m0").display().to_string(),
    );
    let (trigger, shutdown) = Shutdown::new();
    let storage = start(Config::parse("storage.toml", &text).unwrap(), shutdown)
        .await
        .unwrap();
    Node {
        dir,
        storage,
        trigger,
    }
}

/// A (source) storage A with a file, and a member B that knows A.
async fn pair(b_extra: &str, data: &[u8]) -> (Node, Node, String, FakeTracker) {
    let (tracker, addr) = FakeTracker::start(false).await;
    let a = node("127.0.0.1", &addr, "").await;
    tracker.until_told("127.0.0.1", 1).await;
    let b = node("127.0.0.2", &addr, b_extra).await;
    tracker.until_told("127.0.0.2", 2).await;
    let mut c = tokio::net::TcpStream::connect(a.storage.local_addr())
        .await
        .unwrap();
    let name = upload(&mut c, data, "jpg").await;
    (a, b, name, tracker)
}

fn url(name: &str) -> String {
    format!("/{GROUP}/{name}")
}

#[tokio::test]
async fn trackers_learn_the_bound_http_port() {
    let (tracker, addr) = FakeTracker::start(false).await;
    let a = node("127.0.0.1", &addr, "").await;
    tracker.until_told("127.0.0.1", 1).await;
    assert_eq!(
        tracker.http_port_of("127.0.0.1"),
        Some(a.http().port()),
        "not 0"
    );
    a.stop().await;
}

#[tokio::test]
async fn download_before_sync_is_proxied_to_source() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let (a, b, name, _t) = pair("", &data).await;
    assert_eq!(get(a.http(), &url(&name)).await.body, data, "A holds it");

    let r = get(b.http(), &url(&name)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert!(
        !b.dir.path().join("m0/data").join(&name[4..]).exists(),
        "served by proxy, not from a replica"
    );
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert!(r.header("etag").is_some());

    let r = http_request(b.http(), "GET", &url(&name), &["Range: bytes=10-19"]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/300000"));

    let r = http_request(b.http(), "HEAD", &url(&name), &[]).await;
    assert_eq!(
        (r.status, r.header("content-length")),
        (200, Some("300000"))
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn redirect_mode_sends_the_client_to_the_source() {
    let cfg = "[http]\nresponse_mode = 'redirect'";
    let (a, b, name, _t) = pair(cfg, b"redirected").await;
    let r = get(b.http(), &format!("{}?filename=x.jpg", url(&name))).await;
    assert_eq!(r.status, 302);
    let location = r.header("location").unwrap();
    let expect = format!(
        "http://127.0.0.1:{}{}?filename=x.jpg&redirect=1",
        a.http().port(),
        url(&name)
    );
    assert_eq!(location, expect);
    let followed = get(a.http(), &location[location.find(&url(&name)).unwrap()..]).await;
    assert_eq!(
        (followed.status, followed.body.as_slice()),
        (200, &b"redirected"[..])
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_file_missing_everywhere_is_404_without_a_loop() {
    let (tracker, addr) = FakeTracker::start(true).await;
    let a = node("127.0.0.1", &addr, "").await;
    let b = node("127.0.0.2", &addr, "").await;
    tracker.until_told("127.0.0.1", 2).await;
    // Created "by B" but B does not have it: A asks B, B refuses to go on.
    let mut rng = rand::thread_rng();
    let info = FileInfo::normal(Ipv4Addr::new(127, 0, 0, 2), 1_700_000_000, 1, 0, &mut rng);
    let ghost = format!(
        "M00/00/00/{}{}",
        info.encode(),
        ext_segment("jpg", &mut rng)
    );
    assert_eq!(get(a.http(), &url(&ghost)).await.status, 404);
    assert_eq!(get(b.http(), &url(&ghost)).await.status, 404);
    // A storage-to-storage request is never passed on.
    let r = http_request(
        b.http(),
        "GET",
        &url(&ghost),
        &["X-Ferrodfs-Source-Fetch: 1"],
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        get(a.http(), &format!("{}?redirect=1", url(&ghost)))
            .await
            .status,
        404
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_forged_source_that_is_no_member_is_never_contacted() {
    let (tracker, addr) = FakeTracker::start(false).await;
    let b = node("127.0.0.2", &addr, "").await;
    tracker.until_told("127.0.0.2", 1).await;
    // The file ID names 127.0.0.3, no member of the group. A listener
    // there on the port B would use shows whether B reached out.
    let trap = std::net::TcpListener::bind(("127.0.0.3", b.http().port())).unwrap();
    trap.set_nonblocking(true).unwrap();
    let mut rng = rand::thread_rng();
    let info = FileInfo::normal(Ipv4Addr::new(127, 0, 0, 3), 1_700_000_000, 1, 0, &mut rng);
    let name = format!(
        "M00/00/00/{}{}",
        info.encode(),
        ext_segment("jpg", &mut rng)
    );
    assert_eq!(get(b.http(), &url(&name)).await.status, 404);
    let reached = trap.accept();
    assert!(
        reached
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the storage connected to a host named only by a file ID: {reached:?}"
    );
    b.stop().await;
}

#[tokio::test]
async fn an_unreachable_source_is_a_bad_gateway() {
    // A never hears of B, so its file stays on A; then A goes away.
    let (a, b, name, tracker) = pair("", b"only on the source").await;
    a.stop().await;
    assert_eq!(get(b.http(), &url(&name)).await.status, 502);
    b.stop().await;
    drop(tracker);
}

#[tokio::test]
async fn before_any_tracker_answered_a_missing_file_is_503_not_404() {
    // No tracker listens there: the storage never learns its group, so it
    // cannot tell whether the file's source is a member.
    let b = node("127.0.0.2", "127.0.0.2:1", "").await;
    let mut rng = rand::thread_rng();
    let info = FileInfo::normal(Ipv4Addr::new(127, 0, 0, 1), 1_700_000_000, 1, 0, &mut rng);
    let name = format!(
        "M00/00/00/{}{}",
        info.encode(),
        ext_segment("jpg", &mut rng)
    );
    let r = get(b.http(), &url(&name)).await;
    assert_eq!(r.status, 503, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("retry-after"), Some("1"));
    // A file that names this storage as its source and is not here is
    // missing whatever the trackers say.
    let info = FileInfo::normal(Ipv4Addr::new(127, 0, 0, 2), 1_700_000_000, 1, 0, &mut rng);
    let own = format!(
        "M00/00/00/{}{}",
        info.encode(),
        ext_segment("jpg", &mut rng)
    );
    assert_eq!(get(b.http(), &url(&own)).await.status, 404);
    b.stop().await;
}
