//! A new member's initial full copy, as the trackers see it: which state
//! a storage is in follows from what it reports (a storage persists the
//! leader's decision and reports it to every tracker, so all trackers
//! agree), and the leader alone decides which member sends the copy.

use ferrodfs_proto::cluster::{state, InitState};

use crate::cluster::{Group, Storage};

/// The state a reporting storage is in: ACTIVE once it holds the group's
/// data, WAIT_SYNC with a source chosen, SYNCING while the copy arrives,
/// INIT until the leader has decided.
pub fn serving_status(init: &InitState) -> u8 {
    match init {
        InitState { done: true, .. } => state::ACTIVE,
        InitState {
            sync_src: Some(_),
            receiving: true,
            ..
        } => state::SYNCING,
        InitState {
            sync_src: Some(_), ..
        } => state::WAIT_SYNC,
        _ => state::INIT,
    }
}

/// The leader's decision for storage `id` of `group`, if it needs one:
/// founding member (serve at once) when no other member holds data, else
/// the first ACTIVE member holding data (sorted by id, as FastDFS picks
/// the first writable server) sends it everything. `None` when nothing is
/// to decide, or when every member with data is down (wait for one).
pub fn decide(group: &Group, id: &str, now_unix: i64) -> Option<InitState> {
    let mine = group.storages.get(id)?.init();
    if mine.done || mine.sync_src.is_some() {
        return None;
    }
    let holders: Vec<&Storage> = group
        .storages
        .values()
        .filter(|s| s.id != id && s.init().done)
        .collect();
    if holders.is_empty() {
        return Some(InitState::holding());
    }
    holders
        .into_iter()
        .find(|s| s.is_active())
        .map(|s| InitState {
            done: false,
            sync_src: Some(s.report.ip.clone()),
            sync_until: now_unix,
            receiving: false,
        })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::cluster::tests::{at, report};
    use crate::cluster::Cluster;

    fn fresh(group: &str, ip: &str) -> ferrodfs_proto::cluster::StorageReport {
        let mut r = report(group, ip);
        r.init = Some(InitState::default());
        r
    }

    #[test]
    fn states_follow_the_initial_copy() {
        let mut i = InitState::default();
        assert_eq!(serving_status(&i), state::INIT);
        i.sync_src = Some("10.0.0.1".into());
        assert_eq!(serving_status(&i), state::WAIT_SYNC);
        i.receiving = true;
        assert_eq!(serving_status(&i), state::SYNCING);
        i.done = true;
        assert_eq!(serving_status(&i), state::ACTIVE);
    }

    #[test]
    fn the_first_storage_of_a_group_founds_it_and_the_next_copies_from_it() {
        let mut c = Cluster::default();
        let now = at(Instant::now(), 0);
        c.join(fresh("g", "10.0.0.2"), now).unwrap();
        c.decide("g", "10.0.0.2", now.unix);
        assert_eq!(
            c.group("g").unwrap().storages["10.0.0.2"].status,
            state::ACTIVE
        );
        c.join(fresh("g", "10.0.0.1"), now).unwrap();
        let t = c.decide("g", "10.0.0.1", now.unix).unwrap();
        assert_eq!(t.to, state::WAIT_SYNC);
        let g = c.group("g").unwrap();
        let new = g.storages["10.0.0.1"].init();
        assert_eq!(new.sync_src.as_deref(), Some("10.0.0.2"));
        assert_eq!(new.sync_until, now.unix);
        assert_eq!(decide(g, "10.0.0.1", now.unix), None, "decided once");
    }

    #[test]
    fn no_source_is_chosen_while_every_member_with_data_is_down() {
        let mut c = Cluster::default();
        let t0 = Instant::now();
        c.join(report("g", "10.0.0.1"), at(t0, 0)).unwrap();
        c.expire(
            t0 + std::time::Duration::from_secs(10),
            std::time::Duration::from_secs(1),
        );
        c.join(fresh("g", "10.0.0.2"), at(t0, 10)).unwrap();
        assert_eq!(decide(c.group("g").unwrap(), "10.0.0.2", 0), None);
    }
}
