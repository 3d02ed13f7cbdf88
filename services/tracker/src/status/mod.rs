//! The status page: the cluster as this tracker sees it, as a JSON
//! document ([`document`], pure) and a self-contained HTML page that polls
//! it (`/status` and `/status.json` on `metrics_listen`; the same document
//! answers CLUSTER_STATUS for `ferrodfs monitor`).

use ferrodfs_proto::cluster::state;
use ferrodfs_proto::overview::{ClusterStatus, GroupView, MemberView, ScrubView, TrackerView};

use crate::cluster::{Cluster, Group, Storage};
use crate::commands::list::{group_stat, reserved_mb};
use crate::config::Config;
use crate::history::History;
use crate::leader::Peers;

/// The page: inline CSS and script, no external asset.
pub const PAGE: &str = include_str!("page.html");

/// The document `/status.json` serves, made at unix time `now`.
pub fn document(
    cfg: &Config,
    cluster: &Cluster,
    peers: &Peers,
    history: &History,
    now: i64,
) -> ClusterStatus {
    let version = ferrodfs_runtime::metrics::VERSION.to_string();
    let leader = peers.leader();
    let mut trackers: Vec<TrackerView> = peers
        .known()
        .into_iter()
        .map(|a| TrackerView {
            addr: a.to_string(),
            reachable: peers.reachable(&a),
            leader: leader == Some(a),
            last_seen: peers.last_seen(&a),
            version: None,
        })
        .collect();
    if let Some(me) = peers.me {
        trackers.push(TrackerView {
            addr: me.to_string(),
            reachable: true,
            leader: leader == Some(me),
            last_seen: now,
            version: Some(version.clone()),
        });
    }
    trackers.sort_by(|a, b| a.addr.cmp(&b.addr));
    ClusterStatus {
        now,
        tracker: peers.me.map(|a| a.to_string()).unwrap_or_default(),
        version,
        leader: leader.map(|a| a.to_string()),
        trackers,
        groups: cluster
            .groups
            .values()
            .map(|g| group_view(cfg, g))
            .collect(),
        changes: history.changes(),
    }
}

fn group_view(cfg: &Config, g: &Group) -> GroupView {
    let stat = group_stat(g, cfg);
    GroupView {
        name: g.name.clone(),
        total_mb: stat.total_mb,
        free_mb: stat.free_mb,
        members: g
            .storages
            .values()
            .map(|s| member_view(cfg, g, s))
            .collect(),
    }
}

fn member_view(cfg: &Config, g: &Group, s: &Storage) -> MemberView {
    let r = &s.report;
    let init = s.init();
    // The initial copy's progress is what its source reports about it.
    let me = format!("{}:{}", r.ip, r.port);
    let copy_pending = init
        .sync_src
        .as_ref()
        .filter(|_| !init.done)
        .and_then(|src| g.storages.values().find(|s| s.report.ip == *src))
        .and_then(|src| src.report.sync_lag.iter().find(|l| l.peer == me))
        .map(|l| l.pending_records);
    MemberView {
        ip: r.ip.clone(),
        port: r.port,
        http_port: r.http_port,
        state: state::name(s.status).to_string(),
        version: r.version.clone(),
        join_time: r.join_time,
        up_time: r.up_time,
        last_heartbeat: s.last_report_unix,
        store_paths: r.store_paths.clone(),
        reserved_mb: r
            .store_paths
            .iter()
            .map(|p| reserved_mb(&cfg.reserved_storage_space, p.total_mb))
            .collect(),
        full: r.full,
        upload: r.stats.upload,
        download: r.stats.download,
        upload_bytes: r.stats.upload_bytes,
        download_bytes: r.stats.download_bytes,
        sync_src: init.sync_src,
        copy_pending,
        lag: r.sync_lag.clone(),
        last_scrub: r.last_scrub.as_ref().map(ScrubView::from),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::cluster::tests::{at, report};
    use ferrodfs_proto::cluster::{InitState, ScrubReport, SyncLag};

    #[test]
    fn the_document_shows_members_lag_copy_progress_last_scrub_leader_and_changes() {
        let cfg = Config::default();
        let mut c = Cluster::default();
        let mut h = History::default();
        let t0 = Instant::now();
        let mut a = report("group1", "10.0.0.1");
        a.sync_lag = vec![SyncLag {
            peer: "10.0.0.2:23000".into(),
            pending_records: 7,
            pending_bytes: 700,
            age_secs: 12,
            full_copy: true,
        }];
        a.last_scrub = Some(ScrubReport {
            started: 50,
            finished: 60,
            checked: 9,
            missing: 1,
            corrupt: 2,
            repaired: 2,
            unrepaired: vec!["M00/00/00/x".into()],
            unrepaired_count: 1,
            ..Default::default()
        });
        let (_, t) = c.join(a, at(t0, 0)).unwrap();
        h.record(1, &t.into_iter().collect::<Vec<_>>());
        let mut b = report("group1", "10.0.0.2");
        b.init = Some(InitState {
            sync_src: Some("10.0.0.1".into()),
            sync_until: 1,
            ..Default::default()
        });
        let (_, t) = c.join(b, at(t0, 1)).unwrap();
        h.record(2, &t.into_iter().collect::<Vec<_>>());
        let peers = Peers::new(Some("10.0.0.100:22122".parse().unwrap()));
        let d = document(&cfg, &c, &peers, &h, 99);
        assert_eq!(d.leader.as_deref(), Some("10.0.0.100:22122"));
        assert_eq!(d.trackers.len(), 1);
        assert_eq!(d.trackers[0].version.as_deref(), Some(d.version.as_str()));
        let g = &d.groups[0];
        assert_eq!(g.members[0].state, "ACTIVE");
        assert_eq!(g.members[0].lag[0].pending_records, 7);
        assert_eq!(g.members[0].version, "6.08");
        assert_eq!(g.members[1].state, "WAIT_SYNC");
        assert_eq!(g.members[1].copy_pending, Some(7));
        let scrub = g.members[0].last_scrub.as_ref().unwrap();
        assert_eq!(
            (scrub.finished, scrub.checked, scrub.missing + scrub.corrupt),
            (60, 9, 3)
        );
        assert_eq!((scrub.repaired, scrub.unrepaired), (2, 1));
        assert_eq!(g.members[1].last_scrub, None, "never scrubbed");
        assert_eq!(g.members[0].reserved_mb, [100], "10% of 1000 MB");
        let changes: Vec<(&str, &str)> = d
            .changes
            .iter()
            .map(|c| (c.ip.as_str(), c.to.as_str()))
            .collect();
        assert_eq!(changes, [("10.0.0.1", "ACTIVE"), ("10.0.0.2", "WAIT_SYNC")]);
    }

    #[test]
    fn the_page_needs_nothing_from_elsewhere() {
        for external in ["http://", "https://", "<link", " src=", "@import"] {
            assert!(!PAGE.contains(external), "the page loads {external}");
        }
        // It polls the document beside itself: /status -> /status.json.
        assert!(PAGE.contains(r#"location.pathname.replace(/\/+$/, "") + ".json""#));
    }
}
