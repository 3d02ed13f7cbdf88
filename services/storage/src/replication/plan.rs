//! Pure sync decisions: how a push to a peer begins, which records it
//! carries, and what "synced up to" it may claim.

use ferrodfs_proto::cluster::{InitState, Member};

/// A peer as the trackers describe it: its member record and its
/// initial-copy state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PeerView {
    pub member: Member,
    pub init: InitState,
}

use super::mark::Mark;
use crate::binlog::Record;

/// A member that is not the full-copy source still pushes records from
/// this long before the copy began: a change it made just before may not
/// have reached the source in time to be part of the copy.
pub(crate) const SKIP_MARGIN_SECS: i64 = 60;

/// A file's create time is taken before its binlog record is written, so
/// a record stamped T proves nothing about files created in T or the
/// second before: claims stay this far behind.
pub(crate) const CLAIM_MARGIN_SECS: i64 = 2;

/// Where pushing to `peer` starts when there is no mark: `None` while the
/// peer awaits the leader's choice of its full-copy source.
pub(crate) fn first_mark(me: &str, peer: &PeerView) -> Option<Mark> {
    match &peer.init {
        InitState { done: true, .. } => Some(Mark::default()),
        InitState {
            sync_src: Some(src),
            sync_until,
            ..
        } => Some(if src == me {
            Mark {
                full_copy: true,
                ..Mark::default()
            }
        } else {
            Mark {
                skip_before: sync_until - SKIP_MARGIN_SECS,
                ..Mark::default()
            }
        }),
        _ => None,
    }
}

/// A peer that (again) needs its full copy from us while our mark says
/// we never sent one, e.g. it was removed and re-added with an empty
/// disk: start over from the first record.
pub(crate) fn needs_restart(me: &str, peer: &PeerView, mark: &Mark) -> bool {
    let i = &peer.init;
    !i.done && i.sync_src.as_deref() == Some(me) && !mark.full_copy && !mark.full_copy_done
}

/// Whether a record goes to the peer: only our own changes (upper case)
/// unless we are sending the full copy, and nothing the copy covers.
pub(crate) fn should_push(mark: &Mark, r: &Record) -> bool {
    r.ts >= mark.skip_before && (mark.full_copy || !r.replica)
}

/// What the receiver may be told after pushing everything before a
/// record stamped `next_ts`, or after finding the binlog drained at
/// `drained_at`.
pub(crate) fn claim(upto: i64) -> i64 {
    upto - CLAIM_MARGIN_SECS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::Op;

    fn member(init: InitState) -> PeerView {
        PeerView {
            member: Member {
                ip: "10.0.0.3".into(),
                port: 23000,
                ..Default::default()
            },
            init,
        }
    }

    fn waiting_for(src: &str) -> InitState {
        InitState {
            done: false,
            sync_src: Some(src.into()),
            sync_until: 1000,
            receiving: false,
        }
    }

    #[test]
    fn the_chosen_source_replays_everything_from_the_start() {
        let m = first_mark("10.0.0.1", &member(waiting_for("10.0.0.1"))).unwrap();
        assert!(m.full_copy);
        assert_eq!(m.skip_before, 0);
    }

    #[test]
    fn other_members_push_only_changes_from_about_the_copy_start() {
        let m = first_mark("10.0.0.2", &member(waiting_for("10.0.0.1"))).unwrap();
        assert!(!m.full_copy);
        assert_eq!(m.skip_before, 1000 - SKIP_MARGIN_SECS);
    }

    #[test]
    fn nothing_starts_before_the_leader_chose_a_source() {
        assert_eq!(first_mark("10.0.0.1", &member(InitState::default())), None);
        assert_eq!(
            first_mark("10.0.0.1", &member(InitState::holding())),
            Some(Mark::default())
        );
    }

    #[test]
    fn a_re_added_peer_gets_a_new_full_copy_but_a_finished_one_is_not_repeated() {
        let peer = member(waiting_for("10.0.0.1"));
        assert!(needs_restart("10.0.0.1", &peer, &Mark::default()));
        let done = Mark {
            full_copy_done: true,
            ..Mark::default()
        };
        assert!(!needs_restart("10.0.0.1", &peer, &done));
        assert!(!needs_restart("10.0.0.2", &peer, &Mark::default()));
    }

    #[test]
    fn replica_records_travel_only_in_a_full_copy() {
        let rec = |replica, ts| Record {
            ts,
            op: Op::Create,
            replica,
            name: "M00/00/00/x".into(),
        };
        let tail = Mark::default();
        assert!(should_push(&tail, &rec(false, 5)));
        assert!(!should_push(&tail, &rec(true, 5)), "no ping-pong");
        let full = Mark {
            full_copy: true,
            ..Mark::default()
        };
        assert!(should_push(&full, &rec(true, 5)));
        let late = Mark {
            skip_before: 10,
            ..Mark::default()
        };
        assert!(!should_push(&late, &rec(false, 9)));
        assert!(should_push(&late, &rec(false, 10)));
    }
}
