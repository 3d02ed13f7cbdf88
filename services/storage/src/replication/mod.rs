//! The state of group sync that the rest of the storage reads and
//! updates, and the pure decisions behind it: the initial-copy state
//! reported to trackers, the synced timestamps received from peers, the
//! acknowledgements that synchronous replication (`min_copies`) waits
//! for, the per-peer [`mark`], [`lag`] and [`delay`], and the push [`plan`]. The
//! network side (push workers, the handler of incoming pushes) is
//! [`crate::sync`]; it sits above [`crate::ctx`], this module below.

pub(crate) mod delay;
pub(crate) mod lag;
pub(crate) mod mark;
pub(crate) mod plan;
pub(crate) mod sessions;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ferrodfs_proto::cluster::InitState;
use tokio::sync::Notify;

use crate::binlog::Pos;

const PROGRESS_FILE: &str = "synced_until.json";

/// Replication state shared by the whole storage.
pub(crate) struct Replication {
    init: Mutex<InitState>,
    /// Per source storage: its files created up to this time are here.
    synced: Mutex<(BTreeMap<String, i64>, bool)>,
    progress_file: PathBuf,
    acks: Acks,
    /// How far behind each peer is (see [`lag`]).
    pub lag: lag::Lag,
    /// How long changes take to reach each peer (see [`delay`]).
    pub delays: delay::Delays,
}

impl Replication {
    /// Reads the synced timestamps from `sync_dir` (blocking: call it off
    /// the runtime threads).
    pub fn open(sync_dir: PathBuf, init: InitState) -> Replication {
        let progress_file = sync_dir.join(PROGRESS_FILE);
        let synced = std::fs::read(&progress_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Replication {
            init: Mutex::new(init),
            synced: Mutex::new((synced, false)),
            progress_file,
            acks: Acks::default(),
            lag: lag::Lag::default(),
            delays: delay::Delays::default(),
        }
    }

    pub fn init(&self) -> InitState {
        self.init.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies `f` to the initial-copy state; `true` when it changed (the
    /// caller persists it).
    pub fn update_init(&self, f: impl FnOnce(&mut InitState)) -> bool {
        let mut i = self.init.lock().unwrap_or_else(|e| e.into_inner());
        let before = i.clone();
        f(&mut i);
        *i != before
    }

    /// Takes the leader's decision for our initial copy, unless one was
    /// taken already; `true` when it changed something (persist it).
    pub fn adopt(&self, decision: &InitState) -> bool {
        self.update_init(|i| adopt_decision(i, decision))
    }

    pub fn synced_until(&self) -> BTreeMap<String, i64> {
        self.synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Raises the synced timestamp of `source`; it never goes back.
    pub fn raise_synced(&self, source: &str, until: i64) {
        let mut s = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        let cur = s.0.entry(source.to_string()).or_insert(0);
        if until > *cur {
            *cur = until;
            s.1 = true;
        }
    }

    /// Persists the synced timestamps when they moved, so that after a
    /// restart this storage keeps serving files whose source is down.
    pub fn save_progress(&self) -> io::Result<()> {
        let snapshot = {
            let mut s = self.synced.lock().unwrap_or_else(|e| e.into_inner());
            if !s.1 {
                return Ok(());
            }
            s.1 = false;
            s.0.clone()
        };
        let tmp = self.progress_file.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec(&snapshot).map_err(io::Error::other)?,
        )?;
        std::fs::rename(tmp, &self.progress_file)
    }

    /// Records that `peer` holds everything up to `pos` of our binlog.
    pub fn acked(&self, peer: &str, pos: Pos) {
        self.acks.set(peer, pos);
    }

    pub fn forget_peer(&self, peer: &str) {
        self.acks.remove(peer);
        self.lag.forget(peer);
        self.delays.forget(peer);
    }

    /// Waits until `copies` peers hold everything up to `pos`.
    pub async fn wait_copies(&self, pos: Pos, copies: usize, timeout: Duration) -> bool {
        self.acks.wait(pos, copies, timeout).await
    }
}

/// The first decision wins: a storage that holds the data, or has a
/// source, never switches because another tracker answered differently.
fn adopt_decision(cur: &mut InitState, d: &InitState) {
    if cur.done || cur.sync_src.is_some() {
        return;
    }
    if d.done {
        cur.done = true;
    } else if let Some(src) = &d.sync_src {
        cur.sync_src = Some(src.clone());
        cur.sync_until = d.sync_until;
    }
}

/// How far each peer has acknowledged our binlog.
#[derive(Default)]
struct Acks {
    at: Mutex<HashMap<String, Pos>>,
    moved: Notify,
}

impl Acks {
    fn set(&self, peer: &str, pos: Pos) {
        self.at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer.to_string(), pos);
        self.moved.notify_waiters();
    }

    fn remove(&self, peer: &str) {
        self.at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(peer);
    }

    fn count_at(&self, pos: Pos) -> usize {
        self.at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|&&p| p >= pos)
            .count()
    }

    async fn wait(&self, pos: Pos, copies: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if self.count_at(pos) >= copies {
                return true;
            }
            tokio::select! {
                _ = moved => {}
                _ = tokio::time::sleep_until(deadline) => return self.count_at(pos) >= copies,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u64) -> Pos {
        Pos { index: 0, offset }
    }

    #[tokio::test]
    async fn waiting_for_copies_ends_when_enough_peers_acknowledged() {
        let r = Replication::open(PathBuf::from("/nonexistent"), InitState::holding());
        r.acked("a", pos(10));
        assert!(r.wait_copies(pos(10), 1, Duration::from_millis(10)).await);
        assert!(!r.wait_copies(pos(11), 1, Duration::from_millis(20)).await);
        let r = std::sync::Arc::new(r);
        let r2 = r.clone();
        let waiter =
            tokio::spawn(async move { r2.wait_copies(pos(20), 2, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        r.acked("a", pos(25));
        r.acked("b", pos(20));
        assert!(waiter.await.unwrap());
    }

    #[test]
    fn the_first_decision_for_the_initial_copy_sticks() {
        let from = |src: &str| InitState {
            sync_src: Some(src.into()),
            sync_until: 9,
            ..Default::default()
        };
        let mut i = InitState::default();
        adopt_decision(&mut i, &InitState::default());
        assert_eq!(i, InitState::default(), "no decision yet");
        adopt_decision(&mut i, &from("10.0.0.1"));
        adopt_decision(&mut i, &from("10.0.0.2"));
        adopt_decision(&mut i, &InitState::holding());
        assert_eq!(i, from("10.0.0.1"));
        let mut founder = InitState::default();
        adopt_decision(&mut founder, &InitState::holding());
        assert!(founder.done);
    }

    #[test]
    fn synced_timestamps_only_move_forward_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let r = Replication::open(dir.path().to_path_buf(), InitState::holding());
        r.raise_synced("10.0.0.1", 50);
        r.raise_synced("10.0.0.1", 40);
        assert_eq!(r.synced_until()["10.0.0.1"], 50);
        r.save_progress().unwrap();
        let again = Replication::open(dir.path().to_path_buf(), InitState::holding());
        assert_eq!(again.synced_until()["10.0.0.1"], 50);
    }
}
