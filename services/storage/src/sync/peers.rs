//! One push worker per other member of the group, started and stopped as
//! the trackers' member lists change. A member the trackers flag as a
//! FastDFS storage is pushed to in FastDFS's protocol, and only when its
//! address is in `fastdfs_peers`: FastDFS has no cluster secret, so that
//! list, not the flag alone, is what lets this storage talk to it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ferrodfs_proto::cluster::{state, BeatReply};
use ferrodfs_runtime::Shutdown;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::push::Wire;
use crate::ctx::Ctx;
use crate::replication::mark;
use crate::replication::plan::PeerView;

struct Worker {
    info: watch::Sender<PeerView>,
    task: JoinHandle<()>,
    wire: Wire,
}

/// The running push workers, by peer storage id or `ip:port`
/// ([`mark::peer_key`]).
#[derive(Default)]
pub(crate) struct Peers {
    workers: Mutex<HashMap<String, Worker>>,
    /// FastDFS members not pushed to (outside `fastdfs_peers`), each
    /// warned about once.
    refused: Mutex<HashSet<String>>,
}

/// How to push to `m`: `None` for a FastDFS member whose address
/// `fastdfs_peers` does not list (or that has no address).
fn wire_for(ctx: &Ctx, m: &PeerView) -> Option<Wire> {
    if !m.member.fastdfs {
        return Some(Wire::Ferrodfs);
    }
    let ip: IpAddr = m.member.ip.parse().ok()?;
    let allowed = ctx.cfg.fastdfs_peers.as_ref().is_some_and(|p| p.allows(ip));
    allowed.then_some(Wire::Fastdfs)
}

fn key(p: &PeerView) -> String {
    mark::peer_key(&p.member)
}

impl Peers {
    /// Starts a worker for every new member a tracker listed and refreshes
    /// what the others know. Members the tracker says were removed from
    /// the group lose their worker and their mark (a re-added member
    /// starts afresh).
    pub fn update(&self, ctx: &Arc<Ctx>, reply: &BeatReply, shutdown: &Shutdown) {
        let me = ctx.cfg.ip.to_string();
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        let peers: Vec<PeerView> = reply
            .members
            .iter()
            .filter(|m| m.ip != me && m.status != state::DELETED)
            // A tracker that does not describe a member's initial copy
            // does not run group sync: leave that member alone.
            .filter_map(|m| {
                Some(PeerView {
                    member: m.clone(),
                    init: reply.member_init.get(&m.ip)?.clone(),
                })
            })
            .collect();
        let peers: Vec<&PeerView> = peers.iter().collect();
        for m in &peers {
            let Some(wire) = wire_for(ctx, m) else {
                if let Some(w) = workers.remove(&key(m)) {
                    w.task.abort();
                }
                let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
                if refused.insert(key(m)) {
                    tracing::warn!(
                        "group member {} is a FastDFS storage outside fastdfs_peers: \
                         nothing is synced to it; list its network in storage.toml \
                         fastdfs_peers to sync to it",
                        key(m)
                    );
                }
                continue;
            };
            if workers.get(&key(m)).is_some_and(|w| w.wire != wire) {
                // The member was replaced by one of the other kind at the
                // same address or id (a node migrated in place): the new
                // worker resumes from the same mark.
                if let Some(w) = workers.remove(&key(m)) {
                    w.task.abort();
                }
            }
            match workers.get(&key(m)) {
                Some(w) => {
                    w.info.send_if_modified(|cur| {
                        let changed = *cur != **m;
                        if changed {
                            *cur = (*m).clone();
                        }
                        changed
                    });
                }
                None => {
                    tracing::info!(
                        "group member {} ({}{}): starting sync",
                        key(m),
                        state::name(m.member.status),
                        if wire == Wire::Fastdfs {
                            ", FastDFS"
                        } else {
                            ""
                        }
                    );
                    let (info, rx) = watch::channel((*m).clone());
                    let task =
                        tokio::spawn(super::push::run(ctx.clone(), rx, shutdown.clone(), wire));
                    workers.insert(key(m), Worker { info, task, wire });
                }
            }
        }
        // Deleted members are named by storage id, which is the IP
        // unless the cluster uses storage ids.
        for id in &reply.deleted {
            let gone: Vec<String> = workers
                .iter()
                .filter(|(_, w)| {
                    let m = &w.info.borrow().member;
                    m.id == *id || m.ip == *id
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                if let Some(w) = workers.remove(&k) {
                    w.task.abort();
                    tracing::info!("{k} was removed from the group: sync to it stopped");
                    ctx.repl.forget_peer(&k);
                    let path = mark::peer_mark_path(ctx.binlog.dir(), &w.info.borrow().member);
                    tokio::task::spawn_blocking(move || {
                        if let Err(e) = mark::remove(&path) {
                            tracing::warn!("cannot remove sync mark {}: {e}", path.display());
                        }
                    });
                }
            }
        }
    }

    /// Waits for every worker to save its mark and stop (after shutdown).
    pub async fn join(&self) {
        let tasks: Vec<JoinHandle<()>> = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, w)| w.task)
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}
