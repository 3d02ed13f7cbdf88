//! Which of a peer's push connections may apply records: a peer that
//! connects again supersedes its older connection, which stops reading
//! and finishes what it started before the new one goes on (see
//! [`crate::sync`]'s receiver), so records still queued on the old
//! connection cannot land after the ones the new one sends again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Mutex as AsyncMutex, OwnedMutexGuard};

/// The push connections of each peer: the newest one goes on, older ones
/// stop reading (see the module docs).
#[derive(Default)]
pub(crate) struct Sessions {
    table: Mutex<HashMap<IpAddr, Arc<Slot>>>,
}

struct Slot {
    /// Held by the connection whose frames are being read.
    turn: Arc<AsyncMutex<()>>,
    /// Bumped by each new connection of the peer.
    newest: watch::Sender<u64>,
}

/// One connection's place in its peer's line.
pub(crate) struct Turn {
    _held: OwnedMutexGuard<()>,
    newest: watch::Receiver<u64>,
    mine: u64,
}

impl Sessions {
    /// Tells `peer`'s older connection to stop, then waits until it has.
    pub(crate) async fn join(&self, peer: IpAddr) -> Turn {
        let slot = {
            let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            table
                .entry(peer)
                .or_insert_with(|| {
                    Arc::new(Slot {
                        turn: Default::default(),
                        newest: watch::Sender::new(0),
                    })
                })
                .clone()
        };
        slot.newest.send_modify(|n| *n += 1);
        let mine = *slot.newest.borrow();
        let newest = slot.newest.subscribe();
        let held = slot.turn.clone().lock_owned().await;
        Turn {
            _held: held,
            newest,
            mine,
        }
    }
}

/// Resolves once a newer connection of the same peer exists.
pub(crate) async fn superseded(turn: &mut Option<Turn>) {
    let Some(t) = turn else {
        return std::future::pending().await;
    };
    while *t.newest.borrow_and_update() == t.mine {
        if t.newest.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_new_connection_stops_the_old_one_and_waits_for_it() {
        let sessions = Arc::new(Sessions::default());
        let peer: IpAddr = "127.0.0.2".parse().unwrap();
        let mut old = Some(sessions.join(peer).await);
        let s = sessions.clone();
        let mut new = tokio::spawn(async move { s.join(peer).await });
        // The old connection learns it is superseded...
        tokio::time::timeout(Duration::from_secs(10), superseded(&mut old))
            .await
            .expect("the old connection was not told to stop");
        // ...and the new one goes on only once the old one finished.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut new)
                .await
                .is_err(),
            "two connections of one peer applying at once"
        );
        drop(old);
        let mut new = Some(new.await.unwrap());
        let other = sessions.join("127.0.0.3".parse().unwrap()).await;
        drop(other);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), superseded(&mut new))
                .await
                .is_err(),
            "another peer's connection superseded this one"
        );
    }
}
