//! A tracker that just started knows only the storages that have reported
//! to it since: FastDFS trackers share no state and ferrodfs keeps none
//! across restarts. Until every live storage has had time to report, "no
//! such group" (or storage, or holder of a file) may be false, so the
//! tracker says "try again" instead (EAGAIN).
//!
//! Why EAGAIN: no FastDFS client retries on any status (the C client, the
//! Java client and the Python clients of tests/compat all give up on a
//! non-zero status), so the status cannot make them retry; what it can do
//! is tell the truth. EAGAIN ("resource temporarily unavailable") is what
//! their error messages then show, instead of a false ENOENT, and it is
//! not an answer a FastDFS tracker gives to a query otherwise. ferrodfs's
//! own client treats it as "ask another tracker, and wait if none knows".
//!
//! Every storage retries a lost tracker at least once per
//! `heart_beat_interval`, which it reports. The warm-up ends two of the
//! longest such intervals (plus slack) after the start, or after
//! `warm_up_interval` when no storage has reported.

use std::time::{Duration, Instant};

use ferrodfs_proto::{cmd, status};

use crate::cluster::BEAT_SLACK;
use crate::commands::Reply;

/// When this tracker's view of the cluster can be trusted.
#[derive(Debug, Clone, Copy, Default)]
pub struct WarmUp {
    /// `None`: ready from the start (unit tests, `warm_up_interval = 0`).
    started: Option<Instant>,
    window: Duration,
    /// The longest heartbeat interval a storage has reported.
    longest_beat: Option<Duration>,
}

impl WarmUp {
    /// A tracker started at `now` that waits at most `window`.
    pub fn starting(now: Instant, window: Duration) -> WarmUp {
        WarmUp {
            started: (!window.is_zero()).then_some(now),
            window,
            longest_beat: None,
        }
    }

    /// A storage reported, telling its heartbeat interval (0: not told).
    pub fn heard(&mut self, heart_beat_interval_ms: u64) {
        if heart_beat_interval_ms == 0 {
            return;
        }
        let b = Duration::from_millis(heart_beat_interval_ms);
        self.longest_beat = Some(self.longest_beat.map_or(b, |l| l.max(b)));
    }

    /// Whether every live storage has had time to report.
    pub fn is_ready(&self, now: Instant) -> bool {
        let Some(started) = self.started else {
            return true;
        };
        let wait = match self.longest_beat {
            Some(b) => (b.saturating_mul(2) + BEAT_SLACK).min(self.window),
            None => self.window,
        };
        now.saturating_duration_since(started) >= wait
    }

    /// The reply as sent: while warming up, ENOENT from a command that
    /// answers from membership becomes EAGAIN, and so does the group list
    /// (a partial list would drop groups from an edge's routing).
    pub fn answer(&self, now: Instant, command: u8, reply: Reply) -> Reply {
        if self.is_ready(now) {
            return reply;
        }
        let from_membership = matches!(
            command,
            cmd::QUERY_STORE_WITHOUT_GROUP_ONE
                | cmd::QUERY_STORE_WITH_GROUP_ONE
                | cmd::QUERY_STORE_WITHOUT_GROUP_ALL
                | cmd::QUERY_STORE_WITH_GROUP_ALL
                | cmd::QUERY_FETCH_ONE
                | cmd::QUERY_FETCH_ALL
                | cmd::QUERY_UPDATE
                | cmd::LIST_ONE_GROUP
                | cmd::LIST_STORAGE
        );
        if command == cmd::LIST_ALL_GROUPS || (from_membership && reply.status == status::ENOENT) {
            return Reply::error(status::EAGAIN);
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_tracker_without_reports_waits_the_whole_window() {
        let t0 = Instant::now();
        let w = WarmUp::starting(t0, secs(10));
        assert!(!w.is_ready(t0 + secs(9)));
        assert!(w.is_ready(t0 + secs(10)));
    }

    #[test]
    fn reports_shorten_the_wait_to_two_of_the_longest_heartbeats() {
        let t0 = Instant::now();
        let mut w = WarmUp::starting(t0, secs(120));
        w.heard(1000);
        w.heard(2000);
        w.heard(0);
        assert!(!w.is_ready(t0 + secs(4)));
        assert!(w.is_ready(t0 + secs(5)));
    }

    #[test]
    fn the_window_bounds_the_wait_whatever_the_heartbeat() {
        let t0 = Instant::now();
        let mut w = WarmUp::starting(t0, secs(10));
        w.heard(30_000);
        assert!(w.is_ready(t0 + secs(10)));
    }

    #[test]
    fn a_zero_window_is_ready_at_once() {
        assert!(WarmUp::starting(Instant::now(), Duration::ZERO).is_ready(Instant::now()));
    }

    #[test]
    fn while_warming_up_no_such_group_becomes_try_again() {
        let t0 = Instant::now();
        let w = WarmUp::starting(t0, secs(10));
        let enoent = Reply::error(status::ENOENT);
        for command in [
            cmd::QUERY_STORE_WITH_GROUP_ONE,
            cmd::QUERY_FETCH_ONE,
            cmd::QUERY_UPDATE,
            cmd::LIST_ONE_GROUP,
            cmd::LIST_STORAGE,
        ] {
            assert_eq!(
                w.answer(t0, command, enoent.clone()).status,
                status::EAGAIN,
                "{command}"
            );
            assert_eq!(w.answer(t0 + secs(10), command, enoent.clone()), enoent);
        }
        let found = Reply::ok(vec![1, 2, 3]);
        assert_eq!(
            w.answer(t0, cmd::QUERY_STORE_WITHOUT_GROUP_ONE, found.clone()),
            found,
            "a group it already knows is a true answer"
        );
        assert_eq!(
            w.answer(t0, cmd::LIST_ALL_GROUPS, found.clone()).status,
            status::EAGAIN
        );
        assert_eq!(
            w.answer(t0, cmd::DELETE_GROUP, enoent.clone()),
            enoent,
            "administration is not a query"
        );
    }
}
