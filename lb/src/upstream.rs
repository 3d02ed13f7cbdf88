//! One upstream pool (a group's storages on the edge, the edge nodes on the
//! front): pingora's `LoadBalancer` for weighted round robin and active
//! health checks, plus passive marking and per-request "already tried"
//! exclusion for retries on the next upstream.
//!
//! pingora's `LoadBalancer` normally runs as its own background service
//! registered once at server start; here pools are replaced on SIGHUP and
//! created when the trackers report a new group, so the daemon's own
//! background task drives `update()` and `run_health_check()` on whatever
//! pools are current (see `server.rs`).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora_load_balancing::health_check::{HttpHealthCheck, TcpHealthCheck};
use pingora_load_balancing::selection::RoundRobin;
use pingora_load_balancing::{discovery::ServiceDiscovery, Backend, Backends, LoadBalancer};

use crate::config::{HealthCheckKind, UpstreamConfig};
use crate::passive::Passive;

/// The member list a pool's discovery reports; replaced when the trackers
/// report a change, so membership follows the cluster without a reload.
#[derive(Clone, Default)]
struct SharedMembers(Arc<RwLock<BTreeSet<Backend>>>);

#[async_trait]
impl ServiceDiscovery for SharedMembers {
    async fn discover(&self) -> pingora_error::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        Ok((self.0.read().expect("members lock").clone(), HashMap::new()))
    }
}

pub struct Pool {
    pub name: String,
    members: SharedMembers,
    lb: LoadBalancer<RoundRobin>,
    passive: Passive,
}

fn backend(addr: SocketAddr, weight: usize) -> Backend {
    Backend::new_with_weight(&addr.to_string(), weight).expect("a SocketAddr always parses")
}

impl Pool {
    /// Builds a pool; call [`Pool::refresh`] once before serving so the
    /// selector knows the members.
    pub fn new(name: &str, members: &[(SocketAddr, usize)], cfg: &UpstreamConfig) -> Pool {
        let shared = SharedMembers::default();
        *shared.0.write().expect("members lock") =
            members.iter().map(|&(a, w)| backend(a, w)).collect();
        let mut lb =
            LoadBalancer::<RoundRobin>::from_backends(Backends::new(Box::new(shared.clone())));
        match &cfg.health_check {
            HealthCheckKind::Tcp => {
                let mut hc = TcpHealthCheck::new();
                hc.peer_template.options.connection_timeout = Some(cfg.connect_timeout);
                lb.set_health_check(hc);
            }
            HealthCheckKind::Http { path } => {
                let mut hc = HttpHealthCheck::new("ferrodfs-lb-health", false);
                hc.req
                    .set_uri(path.parse().expect("config checked the path"));
                hc.peer_template.options.connection_timeout = Some(cfg.connect_timeout);
                hc.peer_template.options.read_timeout = Some(cfg.connect_timeout);
                lb.set_health_check(Box::new(hc));
            }
            HealthCheckKind::None => {}
        }
        Pool {
            name: name.to_string(),
            members: shared,
            lb,
            passive: Passive::new(cfg.max_fails, cfg.fail_timeout),
        }
    }

    /// Replaces the member list (tracker-learned membership) and rebuilds the selector.
    pub async fn set_members(&self, members: &[(SocketAddr, usize)]) {
        *self.members.0.write().expect("members lock") =
            members.iter().map(|&(a, w)| backend(a, w)).collect();
        self.refresh().await;
    }

    /// Reruns discovery so the selector reflects the current member list.
    pub async fn refresh(&self) {
        // SharedMembers::discover never fails.
        let _ = self.lb.update().await;
    }

    pub async fn health_check(&self) {
        self.lb.backends().run_health_check(true).await;
    }

    pub fn members(&self) -> Vec<SocketAddr> {
        self.members
            .0
            .read()
            .expect("members lock")
            .iter()
            .filter_map(|b| b.as_inet().copied())
            .collect()
    }

    /// Picks the next upstream not in `tried`: first among those healthy and
    /// not passively marked down; then among the healthy ones regardless of
    /// passive marks; then among any member. A health verdict can be stale
    /// (the storage came back a second ago), and trying costs at most a
    /// connect timeout, while refusing is a sure failure.
    pub fn select(&self, tried: &[SocketAddr], now: Instant) -> Option<SocketAddr> {
        // Weighted round robin repeats a backend `weight` times in its
        // iteration; this bound lets every member come up.
        let n = self
            .lb
            .backends()
            .get_backend()
            .iter()
            .map(|b| b.weight.max(1))
            .sum::<usize>()
            * 2
            + 1;
        let untried = |b: &Backend| b.as_inet().is_some_and(|a| !tried.contains(a));
        let usable = |b: &Backend| b.as_inet().is_some_and(|a| self.passive.available(*a, now));
        self.lb
            .select_with(b"", n, |b, healthy| healthy && untried(b) && usable(b))
            .or_else(|| {
                self.lb
                    .select_with(b"", n, |b, healthy| healthy && untried(b))
            })
            .or_else(|| self.lb.select_with(b"", n, |b, _| untried(b)))
            .and_then(|b| b.as_inet().copied())
    }

    /// (members, members passing active health checks), for the metrics.
    pub fn counts(&self) -> (usize, usize) {
        let backends = self.lb.backends();
        let all = backends.get_backend();
        let ready = all.iter().filter(|b| backends.ready(b)).count();
        (all.len(), ready)
    }

    /// Records a failed attempt; true when it takes the upstream out.
    pub fn failed(&self, addr: SocketAddr) -> bool {
        self.passive.failed(addr, Instant::now())
    }

    pub fn succeeded(&self, addr: SocketAddr) {
        self.passive.succeeded(addr)
    }
}

/// Timeouts every upstream attempt gets, so a dead or hung upstream costs a
/// bounded time before the next one is tried. `read_timeout` bounds each
/// read, the body's included (tests/body_reads.rs): once the head has gone
/// to the client a stall cannot be retried, so the client's connection is
/// closed with the body short and the upstream counted as a timeout.
pub fn peer_options(peer: &mut pingora_core::upstreams::peer::HttpPeer, cfg: &UpstreamConfig) {
    peer.options.connection_timeout = Some(cfg.connect_timeout);
    peer.options.total_connection_timeout = Some(cfg.connect_timeout);
    peer.options.read_timeout = Some(cfg.read_timeout);
    peer.options.write_timeout = Some(cfg.read_timeout);
    peer.options.idle_timeout = Some(Duration::from_secs(60));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn cfg() -> UpstreamConfig {
        Config::parse("t.toml", "role = \"edge\"\n[edge.groups]\ng = [\"127.0.0.1:1\"]\n[upstream]\nhealth_check = \"none\"\nmax_fails = 1\n")
            .unwrap()
            .upstream
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn retries_never_pick_an_upstream_twice() {
        let pool = Pool::new(
            "g",
            &[(addr("127.0.0.1:1"), 1), (addr("127.0.0.2:1"), 1)],
            &cfg(),
        );
        pool.refresh().await;
        let now = Instant::now();
        let first = pool.select(&[], now).unwrap();
        let second = pool.select(&[first], now).unwrap();
        assert_ne!(first, second);
        assert_eq!(pool.select(&[first, second], now), None);
    }

    #[tokio::test]
    async fn passively_failed_upstream_is_skipped_while_another_is_available() {
        let pool = Pool::new(
            "g",
            &[(addr("127.0.0.1:1"), 1), (addr("127.0.0.2:1"), 1)],
            &cfg(),
        );
        pool.refresh().await;
        assert!(pool.failed(addr("127.0.0.1:1")));
        for _ in 0..4 {
            assert_eq!(pool.select(&[], Instant::now()), Some(addr("127.0.0.2:1")));
        }
        // With the only other one tried, the marked one is still better than nothing.
        assert_eq!(
            pool.select(&[addr("127.0.0.2:1")], Instant::now()),
            Some(addr("127.0.0.1:1"))
        );
    }

    #[tokio::test]
    async fn new_members_are_picked_up_without_rebuilding_the_pool() {
        let pool = Pool::new("g", &[(addr("127.0.0.1:1"), 1)], &cfg());
        pool.refresh().await;
        pool.set_members(&[(addr("127.0.0.3:1"), 1)]).await;
        assert_eq!(pool.select(&[], Instant::now()), Some(addr("127.0.0.3:1")));
        assert_eq!(pool.members(), vec![addr("127.0.0.3:1")]);
    }

    #[tokio::test]
    async fn a_heavy_weight_does_not_hide_the_other_members_from_retries() {
        let pool = Pool::new(
            "g",
            &[(addr("127.0.0.1:1"), 50), (addr("127.0.0.2:1"), 1)],
            &cfg(),
        );
        pool.refresh().await;
        assert_eq!(
            pool.select(&[addr("127.0.0.1:1")], Instant::now()),
            Some(addr("127.0.0.2:1"))
        );
    }

    #[tokio::test]
    async fn members_failing_active_checks_are_still_tried_when_none_pass() {
        let mut tcp = cfg();
        tcp.health_check = HealthCheckKind::Tcp;
        // Nothing listens on port 1: the check marks both down.
        let pool = Pool::new(
            "g",
            &[(addr("127.0.0.1:1"), 1), (addr("127.0.0.2:1"), 1)],
            &tcp,
        );
        pool.refresh().await;
        pool.health_check().await;
        assert_eq!(pool.counts(), (2, 0));
        let first = pool.select(&[], Instant::now()).expect("still tried");
        assert!(pool.select(&[first], Instant::now()).is_some());
    }

    #[tokio::test]
    async fn http_health_check_wants_a_200_from_the_probe_path() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let alive = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let ok = String::from_utf8_lossy(&buf[..n]).starts_with("GET /probe ");
                let line = if ok { "200 OK" } else { "404 Not Found" };
                let _ = s
                    .write_all(format!("HTTP/1.1 {line}\r\ncontent-length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let mut http = cfg();
        http.health_check = HealthCheckKind::Http {
            path: "/probe".into(),
        };
        let pool = Pool::new("g", &[(alive, 1), (addr("127.0.0.1:1"), 1)], &http);
        pool.refresh().await;
        pool.health_check().await;
        assert_eq!(pool.counts(), (2, 1));
    }
}
