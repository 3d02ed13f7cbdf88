//! What a request needs that can change while the process runs: the config
//! and the upstream pools. Each request takes one `Arc<Live>` snapshot at its
//! start, so a SIGHUP reload or a membership change swaps in a new snapshot
//! without touching requests already in flight (they finish on the old pools;
//! no connection is dropped).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::cache::disk::DiskCache;
use crate::config::{Config, Membership};
use crate::membership::GroupMembers;
use crate::metrics::Metrics;
use crate::upload::Uploader;
use crate::upstream::Pool;

/// The front tier's pool of edge nodes is named this.
pub const EDGE_POOL: &str = "edge";
/// The front tier's pool of trackers serving the status page.
pub const STATUS_POOL: &str = "status";

pub struct Live {
    pub cfg: Config,
    /// group name -> pool on the edge; [`EDGE_POOL`] -> pool on the front.
    pub pools: BTreeMap<String, Arc<Pool>>,
    /// False in tracker mode until the first poll that found a group: an
    /// unknown group then means "not learned yet" (503), not "does not
    /// exist" (404).
    pub membership_known: bool,
    /// `[front.upload]`, with its cluster client.
    pub upload: Option<Arc<Uploader>>,
}

impl Live {
    /// Whether this process can answer requests: an edge that learns its
    /// groups from the trackers is not ready until it has learned some.
    /// Pure and cheap, for a readiness probe.
    pub fn is_ready(&self) -> bool {
        self.membership_known
    }

    /// What `Retry-After` says while not ready: one membership poll.
    pub fn retry_after_secs(&self) -> u64 {
        match self.cfg.edge.as_ref().map(|e| &e.membership) {
            Some(Membership::Trackers {
                refresh_interval, ..
            }) => refresh_interval.as_millis().div_ceil(1000).max(1) as u64,
            _ => 1,
        }
    }
}

/// Process-wide state shared by the proxy hooks and the background tasks.
pub struct Shared {
    pub config_path: PathBuf,
    live: RwLock<Arc<Live>>,
    /// The last membership the trackers reported, kept across reloads and
    /// across tracker outages (routing keeps the last known picture).
    pub learned: Mutex<Option<GroupMembers>>,
    pub metrics: Metrics,
    /// Opened once at start: the cache folder and size cap need a restart.
    pub cache: Option<&'static DiskCache>,
    /// SIGTERM came: not ready any more, still serving (`shutdown_drain`).
    draining: AtomicBool,
}

impl Shared {
    pub async fn new(
        config_path: PathBuf,
        cfg: Config,
        cache: Option<&'static DiskCache>,
    ) -> Shared {
        let tier = match cfg.role {
            crate::config::Role::Edge => "edge",
            crate::config::Role::Front => "front",
        };
        let live = build_live(cfg, None).await;
        Shared {
            config_path,
            live: RwLock::new(Arc::new(live)),
            learned: Mutex::new(None),
            metrics: Metrics::new(tier),
            cache,
            draining: AtomicBool::new(false),
        }
    }

    /// Readiness of the running snapshot (see [`Live::is_ready`]).
    pub fn is_ready(&self) -> bool {
        self.live().is_ready()
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn live(&self) -> Arc<Live> {
        self.live.read().expect("live lock").clone()
    }

    pub fn swap(&self, live: Live) {
        *self.live.write().expect("live lock") = Arc::new(live);
    }

    /// Re-reads the config file and swaps it in. On any error the running
    /// config stays as it is and the error (naming the key) is returned.
    pub async fn reload(&self) -> anyhow::Result<Vec<&'static str>> {
        let new = Config::load(&self.config_path)?;
        let old = self.live();
        if old.cfg.role != new.role {
            anyhow::bail!(
                "{}: role: changing the tier needs a restart",
                self.config_path.display()
            );
        }
        let ignored = restart_only_changes(&old.cfg, &new);
        let mut new = new;
        keep_restart_only(&old.cfg, &mut new);
        let learned = self.learned.lock().expect("learned lock").clone();
        let live = build_live(new, learned.as_ref()).await;
        self.swap(live);
        Ok(ignored)
    }

    /// Applies a membership picture from the trackers: pools of known groups
    /// get their new member lists in place; groups that appeared or vanished
    /// change the pool map.
    /// A picture with no group at all is ignored (see
    /// [`crate::membership::is_usable`]): the edge keeps serving from its
    /// last good one, or stays not ready.
    pub async fn apply_learned(&self, members: GroupMembers) {
        if !crate::membership::is_usable(&members) {
            if self.learned.lock().expect("learned lock").is_some() {
                tracing::warn!("the trackers report no group (restarted, storages not back yet?); keeping the last known groups");
            } else {
                tracing::info!("the trackers report no group yet; not ready");
            }
            return;
        }
        *self.learned.lock().expect("learned lock") = Some(members.clone());
        let live = self.live();
        if !matches!(
            live.cfg.edge.as_ref().map(|e| &e.membership),
            Some(Membership::Trackers { .. })
        ) {
            return;
        }
        for (group, addrs) in &members {
            if let Some(pool) = live.pools.get(group) {
                if &pool.members() != addrs {
                    tracing::info!(group = %group, members = ?addrs, "group membership changed");
                    pool.set_members(&weighted(addrs)).await;
                }
            }
        }
        let same_groups = live.pools.keys().eq(members.keys());
        if !same_groups || !live.membership_known {
            tracing::info!(groups = ?members.keys().collect::<Vec<_>>(), "cluster groups changed");
            let mut pools = BTreeMap::new();
            for (group, addrs) in &members {
                let pool = match live.pools.get(group) {
                    Some(p) => p.clone(),
                    None => new_pool(group, &weighted(addrs), &live.cfg).await,
                };
                pools.insert(group.clone(), pool);
            }
            self.swap(Live {
                cfg: live.cfg.clone(),
                pools,
                membership_known: true,
                upload: live.upload.clone(),
            });
        }
    }
}

fn weighted(addrs: &[SocketAddr]) -> Vec<(SocketAddr, usize)> {
    addrs.iter().map(|&a| (a, 1)).collect()
}

async fn new_pool(name: &str, members: &[(SocketAddr, usize)], cfg: &Config) -> Arc<Pool> {
    let pool = Pool::new(name, members, &cfg.upstream);
    pool.refresh().await;
    Arc::new(pool)
}

/// Builds the pools a config describes. In tracker mode the groups come from
/// `learned` (empty until the first successful poll).
pub async fn build_live(cfg: Config, learned: Option<&GroupMembers>) -> Live {
    let mut pools = BTreeMap::new();
    let mut membership_known = true;
    if let Some(front) = &cfg.front {
        pools.insert(
            EDGE_POOL.to_string(),
            new_pool(EDGE_POOL, &front.upstreams, &cfg).await,
        );
        if let Some(st) = &front.status {
            pools.insert(
                STATUS_POOL.to_string(),
                new_pool(STATUS_POOL, &weighted(&st.trackers), &cfg).await,
            );
        }
    }
    if let Some(edge) = &cfg.edge {
        match &edge.membership {
            Membership::Static(groups) => {
                for (g, addrs) in groups {
                    pools.insert(g.clone(), new_pool(g, &weighted(addrs), &cfg).await);
                }
            }
            Membership::Trackers { .. } => {
                membership_known = learned.is_some();
                for (g, addrs) in learned.into_iter().flatten() {
                    pools.insert(g.clone(), new_pool(g, &weighted(addrs), &cfg).await);
                }
            }
        }
    }
    let upload = cfg
        .front
        .as_ref()
        .and_then(|f| f.upload.clone())
        .map(|route| Arc::new(Uploader::new(route, &cfg.upstream)));
    Live {
        cfg,
        pools,
        membership_known,
        upload,
    }
}

/// Keys whose change a reload cannot apply (sockets, threads, the cache
/// folder); they are reported and the running values kept.
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.listen != new.listen {
        out.push("listen");
    }
    if old.metrics_listen != new.metrics_listen {
        out.push("metrics_listen");
    }
    if old.threads != new.threads {
        out.push("threads");
    }
    if old.shutdown_grace != new.shutdown_grace {
        out.push("shutdown_grace");
    }
    let cache_of = |c: &Config| {
        c.edge
            .as_ref()
            .and_then(|e| e.cache.as_ref())
            .map(|c| (c.path.clone(), c.max_size, c.memory, c.memory_max_body))
    };
    if cache_of(old) != cache_of(new) {
        out.push(
            "cache.path / cache.max_size / cache.memory / cache.memory_max_body / [cache] presence",
        );
    }
    out
}

fn keep_restart_only(old: &Config, new: &mut Config) {
    new.listen = old.listen;
    new.metrics_listen = old.metrics_listen;
    new.threads = old.threads;
    new.shutdown_grace = old.shutdown_grace;
    if let (Some(n), Some(o)) = (&mut new.edge, &old.edge) {
        match (&mut n.cache, &o.cache) {
            (Some(nc), Some(oc)) => {
                nc.path = oc.path.clone();
                nc.max_size = oc.max_size;
                nc.memory = oc.memory;
                nc.memory_max_body = oc.memory_max_body;
            }
            _ => n.cache = o.cache.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(extra: &str) -> Config {
        Config::parse("e.toml", &format!("role = \"edge\"\n{extra}\n[edge.groups]\ngroup1 = [\"127.0.0.1:1\"]\n[cache]\npath = \"/tmp/a\"\n")).unwrap()
    }

    #[test]
    fn socket_and_cache_folder_changes_need_a_restart() {
        let old = edge("listen = \"127.0.0.1:8000\"");
        let new = edge("listen = \"127.0.0.1:9000\"");
        assert_eq!(restart_only_changes(&old, &new), vec!["listen"]);
        let mut kept = new.clone();
        keep_restart_only(&old, &mut kept);
        assert_eq!(kept.listen, old.listen);
    }

    #[test]
    fn upstream_changes_apply_on_reload() {
        let old = edge("");
        let new = edge("[upstream]\nmax_tries = 5");
        assert!(restart_only_changes(&old, &new).is_empty());
        let mut kept = new.clone();
        keep_restart_only(&old, &mut kept);
        assert_eq!(kept.upstream.max_tries, 5);
    }

    #[tokio::test]
    async fn learned_groups_become_pools_and_follow_membership() {
        let cfg = Config::parse("e.toml", "role = \"edge\"\n[edge]\ntrackers = [\"127.0.0.1:22122\"]\n[upstream]\nhealth_check = \"none\"\n").unwrap();
        let shared = Shared::new("e.toml".into(), cfg, None).await;
        assert!(shared.live().pools.is_empty());
        assert!(!shared.live().membership_known);
        let a: SocketAddr = "127.0.0.1:8888".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:8888".parse().unwrap();
        shared
            .apply_learned([("group1".to_string(), vec![a])].into())
            .await;
        let pool = shared.live().pools["group1"].clone();
        assert_eq!(pool.members(), vec![a]);
        assert!(shared.live().membership_known);
        shared
            .apply_learned([("group1".to_string(), vec![a, b])].into())
            .await;
        // Same pool object, new members: in-flight requests keep their pool.
        assert!(Arc::ptr_eq(&pool, &shared.live().pools["group1"]));
        assert_eq!(pool.members(), vec![a, b]);
        shared
            .apply_learned([("group2".to_string(), vec![b])].into())
            .await;
        assert_eq!(
            shared.live().pools.keys().collect::<Vec<_>>(),
            vec!["group2"]
        );
    }

    #[tokio::test]
    async fn trackers_that_report_no_group_leave_the_last_good_view_in_place() {
        let cfg = Config::parse("e.toml", "role = \"edge\"\n[edge]\ntrackers = [\"127.0.0.1:22122\"]\n[upstream]\nhealth_check = \"none\"\n").unwrap();
        let shared = Shared::new("e.toml".into(), cfg, None).await;
        shared.apply_learned(GroupMembers::new()).await;
        assert!(!shared.is_ready(), "no group learned yet");
        let a: SocketAddr = "127.0.0.1:8888".parse().unwrap();
        shared
            .apply_learned([("group1".to_string(), vec![a])].into())
            .await;
        assert!(shared.is_ready());
        shared.apply_learned(GroupMembers::new()).await;
        assert!(shared.is_ready());
        assert_eq!(shared.live().pools["group1"].members(), vec![a]);
    }

    #[tokio::test]
    async fn static_groups_are_ready_from_the_start() {
        assert!(Shared::new("e.toml".into(), edge(""), None)
            .await
            .is_ready());
    }
}
