//! Download and update routing: which ACTIVE members of a group already
//! hold a file (FastDFS tracker_mem_get_storage_by_filename). The file
//! name itself says who created it and when; replication progress comes
//! from each member's `synced_until` report.

use ferrodfs_proto::file_id::{LogicalName, Source};
use ferrodfs_proto::status;
use ferrodfs_proto::tracker_req::{Addr, FetchTarget};

use crate::cluster::{Cluster, Group, Now, Storage};
use crate::config::{Config, DownloadServer};

/// What the name of a file tells the tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// The creating storage's id: its IP, or a numeric storage id.
    pub source: String,
    /// The source's current IP when it differs from its id (storage
    /// ids): members report how far they synced each source by IP.
    pub source_ip: Option<String>,
    pub create_time: i64,
    /// Appender and slave files change after creation or hang off a
    /// master, so FastDFS reads them only from the source.
    pub source_only: bool,
}

impl FileFacts {
    /// `None` when the 27-character part does not decode.
    pub fn of(name: &LogicalName) -> Option<FileFacts> {
        let info = name.info()?;
        Some(FileFacts {
            source: match info.source {
                Source::Ip(ip) => ip.to_string(),
                Source::Id(id) => id.to_string(),
            },
            source_ip: None,
            create_time: info.create_time as i64,
            source_only: name.is_appender() || name.is_slave(),
        })
    }

    /// The facts of a file of `group`, its source named by storage id
    /// as `cluster` knows it (see [`Cluster::source_id`]).
    pub fn in_group(name: &LogicalName, cluster: &Cluster, group: &str) -> Option<FileFacts> {
        let mut facts = FileFacts::of(name)?;
        facts.source = cluster.source_id(name.info()?.source, group);
        facts.source_ip = cluster
            .group(group)
            .and_then(|g| g.storages.get(&facts.source))
            .map(|s| s.report.ip.clone())
            .filter(|ip| *ip != facts.source);
        Some(facts)
    }
}

/// Whether `s` can serve the file: it is the source, it has synced the
/// source past the create time, or the file is older than the longest
/// replication delay (`storage_sync_file_max_delay`).
pub fn holds(s: &Storage, file: &FileFacts, now_unix: i64, max_delay_secs: i64) -> bool {
    if s.id == file.source {
        return true;
    }
    if file.source_only {
        return false;
    }
    let synced = |key: &String| s.report.synced_until.get(key).copied();
    file.create_time < now_unix - max_delay_secs
        || synced(&file.source)
            .or_else(|| file.source_ip.as_ref().and_then(synced))
            .is_some_and(|t| t >= file.create_time)
}

/// The three fetch queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// 102: one server to download from.
    One,
    /// 105: every server that holds the file.
    All,
    /// 103: the server to delete/modify on: the source when it is ACTIVE.
    Update,
}

fn addr(s: &Storage) -> Addr {
    Addr {
        ip: s.report.ip.clone(),
        port: s.report.port,
    }
}

/// Answers a fetch query for `file` in `group`; ENOENT when no ACTIVE
/// member holds it.
///
/// Members still beating ([`Storage::is_beating`], the rule placement
/// uses) come first: one cut off or frozen stays ACTIVE until
/// `check_active_interval` runs out, and a client sent there waits its
/// whole network timeout. A silent member is chosen only when no beating
/// one holds the file (a slow answer beats a false ENOENT), and 105 lists
/// the silent ones last.
pub fn choose_fetch(
    group: &mut Group,
    file: &FileFacts,
    query: Query,
    cfg: &Config,
    now: Now,
) -> Result<FetchTarget, u8> {
    let max_delay = cfg.storage_sync_file_max_delay.as_secs() as i64;
    // Downloads come from members that may serve reads, updates from
    // members that may take writes (storage_ids.conf `rw=`).
    let serves = |s: &Storage| match query {
        Query::Update => s.is_writable(),
        Query::One | Query::All => s.is_readable(),
    };
    let has = |s: &Storage| serves(s) && holds(s, file, now.unix, max_delay);
    let beating = |s: &Storage| s.is_beating(now.mono);
    let mut holders: Vec<&Storage> = group.storages.values().filter(|s| has(s)).collect();
    let any_beating = holders.iter().any(|s| beating(s));
    // The members worth asking: the beating holders, or every holder when
    // none beats.
    let preferred = |s: &Storage| has(s) && (beating(s) || !any_beating);
    let source = holders
        .iter()
        .copied()
        .find(|s| s.id == file.source && preferred(s));
    let storages = match (query, source) {
        (Query::All, _) => {
            holders.sort_by_key(|s| !beating(s));
            holders.iter().map(|s| addr(s)).collect()
        }
        // FastDFS answers updates from the source, else from a writable
        // member; only one that holds the file can apply the change.
        (Query::Update, _) => source
            .or_else(|| holders.iter().copied().find(|s| preferred(s)))
            .map(|s| vec![addr(s)])
            .unwrap_or_default(),
        (Query::One, Some(s)) if cfg.download_server == DownloadServer::SourceFirst => {
            vec![addr(s)]
        }
        (Query::One, _) => {
            let active: Vec<&Storage> = group.storages.values().filter(|s| serves(s)).collect();
            let n = active.len();
            let start = group.read_cursor % n.max(1);
            match (0..n)
                .map(|i| (start + i) % n)
                .find(|&i| preferred(active[i]))
            {
                Some(i) => {
                    let chosen = vec![addr(active[i])];
                    group.read_cursor = (i + 1) % n;
                    chosen
                }
                None => Vec::new(),
            }
        }
    };
    if storages.is_empty() {
        return Err(status::ENOENT);
    }
    Ok(FetchTarget {
        group: group.name.clone(),
        storages,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::cluster::tests::{at, report};
    use crate::cluster::Cluster;
    use ferrodfs_proto::cluster::state;

    const CREATED: i64 = 1_700_000_000;

    /// The tracker's clocks at unix time `unix`, with every member
    /// joined just now (so beating, unless a test says otherwise).
    fn at_unix(unix: i64) -> Now {
        Now {
            mono: Instant::now(),
            unix,
        }
    }
    const NOW: i64 = CREATED + 60;

    fn file(source: &str) -> FileFacts {
        FileFacts {
            source: source.into(),
            source_ip: None,
            create_time: CREATED,
            source_only: false,
        }
    }

    /// Group "g": the source 10.0.0.1 plus members with `synced_until` for it.
    fn group(synced: &[(&str, i64)]) -> Group {
        let mut c = Cluster::default();
        c.join(report("g", "10.0.0.1"), at(Instant::now(), 0))
            .unwrap();
        for (ip, until) in synced {
            let mut r = report("g", ip);
            r.synced_until.insert("10.0.0.1".into(), *until);
            c.join(r, at(Instant::now(), 0)).unwrap();
        }
        c.group("g").unwrap().clone()
    }

    fn ips(t: Result<FetchTarget, u8>) -> Vec<String> {
        t.unwrap().storages.into_iter().map(|a| a.ip).collect()
    }

    #[test]
    fn member_serves_only_after_syncing_past_the_create_time() {
        let mut g = group(&[("10.0.0.2", CREATED - 1), ("10.0.0.3", CREATED)]);
        let all = choose_fetch(
            &mut g,
            &file("10.0.0.1"),
            Query::All,
            &Config::default(),
            at_unix(NOW),
        );
        assert_eq!(ips(all), ["10.0.0.1", "10.0.0.3"]);
    }

    #[test]
    fn files_older_than_the_max_delay_are_everywhere() {
        let mut g = group(&[("10.0.0.2", 0)]);
        let later = CREATED + 86_401;
        let all = choose_fetch(
            &mut g,
            &file("10.0.0.1"),
            Query::All,
            &Config::default(),
            at_unix(later),
        );
        assert_eq!(ips(all).len(), 2);
    }

    #[test]
    fn appender_and_slave_files_come_only_from_the_source() {
        let mut g = group(&[("10.0.0.2", NOW)]);
        let f = FileFacts {
            source_only: true,
            ..file("10.0.0.1")
        };
        let all = choose_fetch(
            &mut g,
            &f,
            Query::All,
            &Config::default(),
            at_unix(NOW + 100_000),
        );
        assert_eq!(ips(all), ["10.0.0.1"]);
    }

    #[test]
    fn round_robin_download_rotates_over_holders() {
        let mut g = group(&[("10.0.0.2", NOW), ("10.0.0.3", 0)]);
        let cfg = Config::default();
        let picks: Vec<String> = (0..4)
            .flat_map(|_| {
                ips(choose_fetch(
                    &mut g,
                    &file("10.0.0.1"),
                    Query::One,
                    &cfg,
                    at_unix(NOW),
                ))
            })
            .collect();
        assert_eq!(picks, ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn source_first_prefers_the_source_while_it_is_active() {
        let mut g = group(&[("10.0.0.2", NOW)]);
        let cfg = Config {
            download_server: DownloadServer::SourceFirst,
            ..Config::default()
        };
        for _ in 0..2 {
            assert_eq!(
                ips(choose_fetch(
                    &mut g,
                    &file("10.0.0.1"),
                    Query::One,
                    &cfg,
                    at_unix(NOW)
                )),
                ["10.0.0.1"]
            );
        }
        g.storages.get_mut("10.0.0.1").unwrap().status = state::OFFLINE;
        assert_eq!(
            ips(choose_fetch(
                &mut g,
                &file("10.0.0.1"),
                Query::One,
                &cfg,
                at_unix(NOW)
            )),
            ["10.0.0.2"]
        );
    }

    #[test]
    fn update_goes_to_the_source_and_otherwise_to_a_holder() {
        let mut g = group(&[("10.0.0.0", NOW), ("10.0.0.2", NOW)]);
        let cfg = Config::default();
        assert_eq!(
            ips(choose_fetch(
                &mut g,
                &file("10.0.0.1"),
                Query::Update,
                &cfg,
                at_unix(NOW)
            )),
            ["10.0.0.1"]
        );
        g.storages.get_mut("10.0.0.1").unwrap().status = state::OFFLINE;
        assert_eq!(
            ips(choose_fetch(
                &mut g,
                &file("10.0.0.1"),
                Query::Update,
                &cfg,
                at_unix(NOW)
            )),
            ["10.0.0.0"]
        );
    }

    #[test]
    fn offline_source_without_synced_members_is_enoent() {
        let mut g = group(&[("10.0.0.2", CREATED - 5)]);
        g.storages.get_mut("10.0.0.1").unwrap().status = state::OFFLINE;
        for q in [Query::One, Query::All, Query::Update] {
            assert_eq!(
                choose_fetch(
                    &mut g,
                    &file("10.0.0.1"),
                    q,
                    &Config::default(),
                    at_unix(NOW)
                ),
                Err(status::ENOENT)
            );
        }
    }

    /// Group "g" of members that beat every second, joined at `t0`, each
    /// with its `synced_until` for the source 10.0.0.1; all but `silent`
    /// beat again two seconds later. Returns the group and the tracker's
    /// clocks four seconds after `t0`, when the silent ones have missed
    /// their beats but are still ACTIVE.
    fn with_silent(members: &[(&str, i64)], silent: &[&str]) -> (Group, Now) {
        let t0 = Instant::now();
        let mut c = Cluster::default();
        for (ip, until) in members {
            let mut r = report("g", ip);
            r.heart_beat_interval_ms = 1000;
            r.synced_until.insert("10.0.0.1".into(), *until);
            let (session, _) = c.join(r.clone(), at(t0, 0)).unwrap();
            if !silent.contains(ip) {
                c.beat(session, r, at(t0, 2)).unwrap();
            }
        }
        let g = c.group("g").unwrap().clone();
        assert!(g.storages.values().all(|s| s.is_active()));
        let now = Now {
            mono: t0 + std::time::Duration::from_secs(4),
            unix: NOW,
        };
        (g, now)
    }

    #[test]
    fn downloads_and_updates_avoid_a_member_that_stopped_beating() {
        let (mut g, now) = with_silent(&[("10.0.0.1", 0), ("10.0.0.2", NOW)], &["10.0.0.1"]);
        let f = file("10.0.0.1");
        let cfg = Config::default();
        for _ in 0..4 {
            assert_eq!(
                ips(choose_fetch(&mut g, &f, Query::One, &cfg, now)),
                ["10.0.0.2"]
            );
        }
        assert_eq!(
            ips(choose_fetch(&mut g, &f, Query::Update, &cfg, now)),
            ["10.0.0.2"],
            "the silent source gives way to a beating member that holds the file"
        );
        let source_first = Config {
            download_server: DownloadServer::SourceFirst,
            ..Config::default()
        };
        assert_eq!(
            ips(choose_fetch(&mut g, &f, Query::One, &source_first, now)),
            ["10.0.0.2"]
        );
    }

    #[test]
    fn fetch_all_lists_the_silent_members_last() {
        let (mut g, now) = with_silent(
            &[("10.0.0.1", 0), ("10.0.0.2", NOW), ("10.0.0.3", NOW)],
            &["10.0.0.1", "10.0.0.2"],
        );
        assert_eq!(
            ips(choose_fetch(
                &mut g,
                &file("10.0.0.1"),
                Query::All,
                &Config::default(),
                now
            )),
            ["10.0.0.3", "10.0.0.1", "10.0.0.2"]
        );
    }

    #[test]
    fn round_robin_download_skips_a_silent_member() {
        let (mut g, now) = with_silent(
            &[("10.0.0.1", 0), ("10.0.0.2", NOW), ("10.0.0.3", NOW)],
            &["10.0.0.2"],
        );
        let cfg = Config::default();
        let picks: Vec<String> = (0..4)
            .flat_map(|_| {
                ips(choose_fetch(
                    &mut g,
                    &file("10.0.0.1"),
                    Query::One,
                    &cfg,
                    now,
                ))
            })
            .collect();
        assert_eq!(picks, ["10.0.0.1", "10.0.0.3", "10.0.0.1", "10.0.0.3"]);
    }

    #[test]
    fn a_silent_member_still_answers_for_a_file_only_it_holds() {
        // The beating member has not synced the file yet.
        let (mut g, now) =
            with_silent(&[("10.0.0.1", 0), ("10.0.0.2", CREATED - 1)], &["10.0.0.1"]);
        let cfg = Config::default();
        for q in [Query::One, Query::All, Query::Update] {
            assert_eq!(
                ips(choose_fetch(&mut g, &file("10.0.0.1"), q, &cfg, now)),
                ["10.0.0.1"],
                "{q:?}"
            );
        }
        // Appender files come only from their source, silent or not.
        let (mut g, now) = with_silent(&[("10.0.0.1", 0), ("10.0.0.2", NOW)], &["10.0.0.1"]);
        let appender = FileFacts {
            source_only: true,
            ..file("10.0.0.1")
        };
        for q in [Query::One, Query::All, Query::Update] {
            assert_eq!(
                ips(choose_fetch(&mut g, &appender, q, &cfg, now)),
                ["10.0.0.1"],
                "{q:?}"
            );
        }
    }

    #[test]
    fn with_storage_ids_the_source_is_found_by_id_at_its_current_address() {
        let ids = ferrodfs_proto::storage_ids::StorageIds::parse(
            "100001 g 10.0.0.5\n100002 g 10.0.0.2\n100003 g 10.0.0.3 rw=write\n",
        )
        .unwrap();
        let mut c = Cluster::with_storage_ids(Some(ids.into()), true);
        let now = at(Instant::now(), 0);
        c.join(report("g", "10.0.0.5"), now).unwrap();
        for ip in ["10.0.0.2", "10.0.0.3"] {
            let mut r = report("g", ip);
            r.synced_until.insert("10.0.0.5".into(), CREATED);
            c.join(r, now).unwrap();
        }
        let named = |source: Source| {
            let info = ferrodfs_proto::FileInfo::normal(
                source,
                CREATED as u32,
                1,
                0,
                &mut rand::thread_rng(),
            );
            LogicalName::parse(&format!("M00/00/00/{}1234567", info.encode())).unwrap()
        };
        let by_id = FileFacts::in_group(&named(Source::Id(100_001)), &c, "g").unwrap();
        assert_eq!(
            (by_id.source.as_str(), by_id.source_ip.as_deref()),
            ("100001", Some("10.0.0.5"))
        );
        let g = c.group_mut("g").unwrap();
        let cfg = Config::default();
        assert_eq!(
            ips(choose_fetch(g, &by_id, Query::Update, &cfg, at_unix(NOW))),
            ["10.0.0.5"]
        );
        assert_eq!(
            ips(choose_fetch(g, &by_id, Query::All, &cfg, at_unix(NOW))),
            ["10.0.0.5", "10.0.0.2"],
            "synced by address; the write-only member serves no reads"
        );
        let by_ip = FileFacts::in_group(&named(Source::Ip([10, 0, 0, 5].into())), &c, "g").unwrap();
        assert_eq!(by_ip.source, "100001", "names written before ids were used");
    }
}
