//! Readiness of this lb, answered on `/readyz` (metrics listener and proxy
//! listener alike): whether sending it traffic now makes sense. An edge is
//! ready once it knows at least one group (learned from the trackers or
//! listed statically); a front once at least one edge passes its health
//! checks; neither once SIGTERM came (`shutdown_drain`). Liveness
//! (`/healthz`) needs nothing: the process answers.

use crate::config::Role;
use crate::state::{Live, Shared, EDGE_POOL};

pub fn is_ready(shared: &Shared) -> bool {
    !shared.is_draining() && view_ready(&shared.live())
}

/// Whether this view of the cluster is enough to serve.
pub fn view_ready(live: &Live) -> bool {
    match live.cfg.role {
        Role::Edge => live.membership_known && !live.pools.is_empty(),
        Role::Front => live.pools.get(EDGE_POOL).is_some_and(|p| p.counts().1 > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::BTreeMap;

    fn edge(pools: bool, known: bool) -> Live {
        let cfg = Config::parse(
            "t.toml",
            "role = \"edge\"\n[edge]\ntrackers = [\"127.0.0.1:1\"]\n",
        )
        .expect("valid config");
        let mut map = BTreeMap::new();
        if pools {
            let pool = crate::upstream::Pool::new("group1", &[], &cfg.upstream);
            map.insert("group1".to_string(), std::sync::Arc::new(pool));
        }
        Live {
            cfg,
            pools: map,
            membership_known: known,
            upload: None,
        }
    }

    #[test]
    fn an_edge_is_not_ready_before_it_has_learned_a_group() {
        assert!(!view_ready(&edge(false, false)));
        assert!(!view_ready(&edge(false, true)));
        assert!(view_ready(&edge(true, true)));
    }

    #[tokio::test]
    async fn an_lb_told_to_stop_is_not_ready_while_it_drains() {
        let cfg = Config::parse(
            "t.toml",
            "role = \"edge\"\nshutdown_drain = \"2s\"\n[edge.groups]\ngroup1 = [\"127.0.0.1:1\"]\n",
        )
        .expect("valid config");
        let shared = Shared::new("t.toml".into(), cfg, None).await;
        assert!(is_ready(&shared));
        shared.start_draining();
        assert!(!is_ready(&shared));
    }
}
