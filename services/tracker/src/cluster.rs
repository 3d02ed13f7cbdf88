//! Cluster membership as this tracker sees it: groups, their storages and
//! each storage's state, built only from joins and heartbeats (FastDFS
//! trackers share no state). Pure: time is passed in, nothing blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrodfs_proto::cluster::{state, BeatReply, InitState, Member, StorageReport};
use ferrodfs_proto::fields::validate_group;
use ferrodfs_proto::status;

/// The current time in both clocks the tracker needs: monotonic for
/// liveness, unix seconds for file create times and reported timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub unix: i64,
}

impl Now {
    pub fn system() -> Now {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Now {
            mono: Instant::now(),
            unix,
        }
    }
}

/// What happened to a storage, as input to [`next_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A join or heartbeat arrived.
    Report,
    /// No report for `check_active_interval`.
    Silent,
    /// The connection that joined it closed.
    Disconnected,
}

/// The storage state machine: a reporting storage is in the state its
/// initial copy puts it in (see [`crate::initial_copy`]); one that stops
/// reporting goes OFFLINE until it reports again.
pub fn next_status(current: Option<u8>, event: Event, init: &InitState) -> u8 {
    match (current, event) {
        (_, Event::Report) => crate::initial_copy::serving_status(init),
        (Some(state::OFFLINE), _) => state::OFFLINE,
        (Some(_), Event::Silent | Event::Disconnected) | (None, _) => state::OFFLINE,
    }
}

/// A state change, returned so the shell can log it and update gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub group: String,
    pub ip: String,
    /// `None` for a storage seen for the first time.
    pub from: Option<u8>,
    pub to: u8,
    pub reason: &'static str,
}

/// Why a join or heartbeat was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ReportError {
    BadGroup(String),
    BadIp(String),
    /// Storages are identified by IP: one IP cannot sit in two groups.
    IpInOtherGroup {
        ip: String,
        group: String,
    },
    /// A heartbeat on a connection that never joined (FastDFS: EACCES).
    NotJoined,
    /// Removed with DELETE_STORAGE and still claiming its old data; it
    /// may come back only with an empty data directory.
    Deleted,
    /// A heartbeat naming another storage than the one that joined.
    NotTheJoinedStorage,
}

impl ReportError {
    pub fn status(&self) -> u8 {
        match self {
            ReportError::IpInOtherGroup { .. } => status::EEXIST,
            ReportError::NotJoined => status::EACCES,
            ReportError::Deleted => status::EPERM,
            _ => status::EINVAL,
        }
    }
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::BadGroup(g) => {
                write!(f, "bad group name {g:?}: 1-16 characters of [A-Za-z0-9]")
            }
            ReportError::BadIp(ip) => write!(f, "bad storage ip {ip:?}: an IPv4 address"),
            ReportError::IpInOtherGroup { ip, group } => {
                write!(f, "storage {ip} already belongs to group {group}")
            }
            ReportError::NotJoined => write!(f, "heartbeat before join on this connection"),
            ReportError::Deleted => write!(
                f,
                "storage was removed from its group; wipe its base_path and store paths to add it again"
            ),
            ReportError::NotTheJoinedStorage => {
                write!(
                    f,
                    "heartbeat names another storage than the one that joined"
                )
            }
        }
    }
}

/// One storage: its latest report and what the tracker derived from it.
#[derive(Debug, Clone)]
pub struct Storage {
    pub report: StorageReport,
    pub status: u8,
    pub last_report: Instant,
    /// Unix time of the last report, served as `last_heart_beat_time`.
    pub last_report_unix: i64,
    /// The join (connection) that owns this storage: a closed connection
    /// takes the storage OFFLINE only if no newer join replaced it.
    pub session: u64,
    /// Store path of the next round-robin upload (FastDFS keeps this
    /// cursor in the tracker, seeded by the storage's own).
    pub write_path: u32,
    /// The leader's decision for its initial copy, until the storage
    /// reports having taken it.
    pub decided: Option<InitState>,
}

impl Storage {
    pub fn is_active(&self) -> bool {
        self.status == state::ACTIVE
    }

    /// Its initial-copy state: what it reports, completed by the
    /// leader's decision not yet reported back. A storage that reports
    /// none predates group sync and holds its data.
    pub fn init(&self) -> InitState {
        let Some(mut i) = self.report.init.clone() else {
            return InitState::holding();
        };
        if let Some(d) = &self.decided {
            if !i.done && i.sync_src.is_none() {
                i.done = d.done;
                i.sync_src = d.sync_src.clone();
                i.sync_until = d.sync_until;
            }
        }
        i
    }

    pub fn total_mb(&self) -> i64 {
        self.report
            .store_paths
            .iter()
            .map(|p| p.total_mb.max(0))
            .sum()
    }

    pub fn free_mb(&self) -> i64 {
        self.report
            .store_paths
            .iter()
            .map(|p| p.free_mb.max(0))
            .sum()
    }
}

/// A group: storages keyed (and so sorted, as FastDFS sorts them) by IP.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub name: String,
    pub storages: BTreeMap<String, Storage>,
    /// Round-robin cursors over the ACTIVE storages.
    pub write_cursor: usize,
    pub read_cursor: usize,
}

impl Group {
    pub fn active(&self) -> impl Iterator<Item = &Storage> {
        self.storages.values().filter(|s| s.is_active())
    }

    pub fn active_count(&self) -> usize {
        self.active().count()
    }

    /// Space a new file can count on: it is replicated to every member, so
    /// the fullest ACTIVE member bounds the group (FastDFS takes the minimum).
    pub fn free_mb(&self) -> i64 {
        self.active().map(Storage::free_mb).min().unwrap_or(0)
    }

    pub fn members(&self) -> Vec<Member> {
        self.storages
            .values()
            .map(|s| Member {
                ip: s.report.ip.clone(),
                port: s.report.port,
                http_port: s.report.http_port,
                status: s.status,
            })
            .collect()
    }
}

/// Every group this tracker knows, sorted by name.
#[derive(Debug, Default)]
pub struct Cluster {
    pub groups: BTreeMap<String, Group>,
    /// Round-robin cursor over the sorted groups (`store_lookup = 0`).
    pub group_cursor: usize,
    next_session: u64,
    /// (group, ip) of storages removed with DELETE_STORAGE.
    deleted: BTreeSet<(String, String)>,
}

impl Cluster {
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    pub fn group_mut(&mut self, name: &str) -> Option<&mut Group> {
        self.groups.get_mut(name)
    }

    fn group_of_ip(&self, ip: &str) -> Option<&str> {
        self.groups
            .values()
            .find(|g| g.storages.contains_key(ip))
            .map(|g| g.name.as_str())
    }

    fn session_owner(&self, session: u64) -> Option<(String, String)> {
        self.groups.values().find_map(|g| {
            g.storages
                .values()
                .find(|s| s.session == session)
                .map(|s| (g.name.clone(), s.report.ip.clone()))
        })
    }

    /// A storage joins on a new connection: creates its group on first
    /// sight, records the report and makes this connection the owner.
    /// Returns the session id the connection must present on heartbeats.
    pub fn join(
        &mut self,
        report: StorageReport,
        now: Now,
    ) -> Result<(u64, Option<Transition>), ReportError> {
        validate_group(&report.group).map_err(|_| ReportError::BadGroup(report.group.clone()))?;
        if report.ip.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(ReportError::BadIp(report.ip.clone()));
        }
        if let Some(other) = self.group_of_ip(&report.ip) {
            if other != report.group {
                return Err(ReportError::IpInOtherGroup {
                    ip: report.ip.clone(),
                    group: other.to_string(),
                });
            }
        }
        let key = (report.group.clone(), report.ip.clone());
        if self.deleted.contains(&key) {
            if report.init.as_ref() != Some(&InitState::default()) {
                return Err(ReportError::Deleted);
            }
            self.deleted.remove(&key);
        }
        self.next_session += 1;
        let session = self.next_session;
        Ok((session, self.record(session, report, now, "joined")))
    }

    /// A heartbeat on the connection that joined as `session`.
    pub fn beat(
        &mut self,
        session: u64,
        report: StorageReport,
        now: Now,
    ) -> Result<Option<Transition>, ReportError> {
        let joined = self.session_owner(session).ok_or(ReportError::NotJoined)?;
        if joined != (report.group.clone(), report.ip.clone()) {
            return Err(ReportError::NotTheJoinedStorage);
        }
        Ok(self.record(session, report, now, "heartbeat resumed"))
    }

    fn record(
        &mut self,
        session: u64,
        report: StorageReport,
        now: Now,
        reason: &'static str,
    ) -> Option<Transition> {
        let group = self
            .groups
            .entry(report.group.clone())
            .or_insert_with(|| Group {
                name: report.group.clone(),
                ..Default::default()
            });
        let ip = report.ip.clone();
        let previous = group.storages.remove(&ip);
        let from = previous.as_ref().map(|s| s.status);
        let write_path = previous
            .as_ref()
            .map(|s| s.write_path)
            .unwrap_or(report.current_write_path);
        let mut storage = Storage {
            report,
            status: state::INIT,
            last_report: now.mono,
            last_report_unix: now.unix,
            session,
            write_path,
            decided: previous.and_then(|s| s.decided),
        };
        let to = next_status(from, Event::Report, &storage.init());
        storage.status = to;
        group.storages.insert(ip.clone(), storage);
        (from != Some(to)).then(|| Transition {
            group: group.name.clone(),
            ip,
            from,
            to,
            reason: if from.is_none() { "joined" } else { reason },
        })
    }

    /// The leader decides the initial copy of storage `ip` if it still
    /// needs deciding; returns the resulting state change.
    pub fn decide(&mut self, group: &str, ip: &str, now_unix: i64) -> Option<Transition> {
        let g = self.groups.get_mut(group)?;
        let d = crate::initial_copy::decide(g, ip, now_unix)?;
        let s = g.storages.get_mut(ip)?;
        s.decided = Some(d);
        let to = crate::initial_copy::serving_status(&s.init());
        let from = std::mem::replace(&mut s.status, to);
        (from != to).then(|| Transition {
            group: group.to_string(),
            ip: ip.to_string(),
            from: Some(from),
            to,
            reason: "initial copy decided by the leader",
        })
    }

    /// The join/heartbeat answer: the storage's state, its group and each
    /// member's initial-copy state; from the leader also its decision.
    pub fn reply(&self, group: &str, ip: &str, leader: bool) -> BeatReply {
        let g = self.group(group);
        let me = g.and_then(|g| g.storages.get(ip));
        BeatReply {
            status: me.map(|s| s.status).unwrap_or(state::OFFLINE),
            members: g.map(Group::members).unwrap_or_default(),
            init: me.filter(|_| leader).and_then(|s| s.decided.clone()),
            member_init: g
                .map(|g| {
                    g.storages
                        .iter()
                        .map(|(ip, s)| (ip.clone(), s.init()))
                        .collect()
                })
                .unwrap_or_default(),
            leader,
            deleted: self
                .deleted
                .iter()
                .filter(|(g, _)| g == group)
                .map(|(_, ip)| ip.clone())
                .collect(),
        }
    }

    /// DELETE_STORAGE (93): removes a storage that is not ACTIVE (EBUSY)
    /// from its group; ENOENT when unknown. It may only come back empty.
    pub fn delete_storage(&mut self, group: &str, ip: &str) -> Result<Transition, u8> {
        let g = self.groups.get_mut(group).ok_or(status::ENOENT)?;
        let s = g.storages.get(ip).ok_or(status::ENOENT)?;
        if s.status == state::ACTIVE {
            return Err(status::EBUSY);
        }
        let from = s.status;
        g.storages.remove(ip);
        self.deleted.insert((group.to_string(), ip.to_string()));
        Ok(Transition {
            group: group.to_string(),
            ip: ip.to_string(),
            from: Some(from),
            to: state::DELETED,
            reason: "deleted by an administrator",
        })
    }

    /// DELETE_GROUP (108): removes a group that has no storages left
    /// (EBUSY otherwise, ENOENT when unknown), as tracker_mem.c does.
    pub fn delete_group(&mut self, name: &str) -> Result<(), u8> {
        let g = self.groups.get(name).ok_or(status::ENOENT)?;
        if !g.storages.is_empty() {
            return Err(status::EBUSY);
        }
        self.groups.remove(name);
        Ok(())
    }

    /// The connection of `session` closed: its storage goes OFFLINE
    /// unless a newer connection has joined for it (FastDFS behaviour).
    pub fn disconnect(&mut self, session: u64) -> Option<Transition> {
        let (group, ip) = self.session_owner(session)?;
        let s = self.groups.get_mut(&group)?.storages.get_mut(&ip)?;
        let to = next_status(Some(s.status), Event::Disconnected, &s.init());
        if to == s.status {
            return None;
        }
        let from = std::mem::replace(&mut s.status, to);
        Some(Transition {
            group,
            ip,
            from: Some(from),
            to,
            reason: "connection closed",
        })
    }

    /// Takes every storage silent for longer than `interval` OFFLINE.
    pub fn expire(&mut self, now: Instant, interval: Duration) -> Vec<Transition> {
        let mut changes = Vec::new();
        for g in self.groups.values_mut() {
            for s in g.storages.values_mut() {
                if now.saturating_duration_since(s.last_report) <= interval {
                    continue;
                }
                let to = next_status(Some(s.status), Event::Silent, &s.init());
                if to != s.status {
                    changes.push(Transition {
                        group: g.name.clone(),
                        ip: s.report.ip.clone(),
                        from: Some(std::mem::replace(&mut s.status, to)),
                        to,
                        reason: "no heartbeat within check_active_interval",
                    });
                }
            }
        }
        changes
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ferrodfs_proto::cluster::PathUsage;

    pub fn report(group: &str, ip: &str) -> StorageReport {
        StorageReport {
            group: group.into(),
            ip: ip.into(),
            port: 23000,
            http_port: 8888,
            version: "6.08".into(),
            store_paths: vec![PathUsage {
                total_mb: 1000,
                free_mb: 500,
            }],
            subdir_count_per_path: 256,
            ..Default::default()
        }
    }

    pub fn at(base: Instant, secs: u64) -> Now {
        Now {
            mono: base + Duration::from_secs(secs),
            unix: 1_700_000_000 + secs as i64,
        }
    }

    #[test]
    fn first_join_creates_the_group_and_makes_the_storage_active() {
        let mut c = Cluster::default();
        let t0 = Instant::now();
        let (_, t) = c.join(report("group1", "10.0.0.1"), at(t0, 0)).unwrap();
        let t = t.unwrap();
        assert_eq!((t.from, t.to), (None, state::ACTIVE));
        let reply = c.reply("group1", "10.0.0.1", true);
        assert_eq!(reply.status, state::ACTIVE);
        assert_eq!(reply.members.len(), 1);
    }

    #[test]
    fn reply_lists_every_member_of_the_group_only() {
        let mut c = Cluster::default();
        let t0 = at(Instant::now(), 0);
        c.join(report("group1", "10.0.0.2"), t0).unwrap();
        c.join(report("group1", "10.0.0.1"), t0).unwrap();
        c.join(report("group2", "10.0.0.3"), t0).unwrap();
        let ips: Vec<_> = c
            .reply("group1", "10.0.0.1", true)
            .members
            .into_iter()
            .map(|m| m.ip)
            .collect();
        assert_eq!(ips, ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn bad_group_or_ip_is_refused_with_einval() {
        let mut c = Cluster::default();
        let now = at(Instant::now(), 0);
        let e = c.join(report("g/1", "10.0.0.1"), now).unwrap_err();
        assert_eq!(e.status(), status::EINVAL);
        let e = c.join(report("group1", "storage-a"), now).unwrap_err();
        assert_eq!(e.status(), status::EINVAL);
        assert!(c.groups.is_empty());
    }

    #[test]
    fn one_ip_cannot_join_two_groups() {
        let mut c = Cluster::default();
        let now = at(Instant::now(), 0);
        c.join(report("group1", "10.0.0.1"), now).unwrap();
        let e = c.join(report("group2", "10.0.0.1"), now).unwrap_err();
        assert_eq!(e.status(), status::EEXIST);
    }

    #[test]
    fn heartbeat_needs_a_join_on_the_same_connection() {
        let mut c = Cluster::default();
        let now = at(Instant::now(), 0);
        assert_eq!(
            c.beat(7, report("group1", "10.0.0.1"), now),
            Err(ReportError::NotJoined)
        );
        let (s, _) = c.join(report("group1", "10.0.0.1"), now).unwrap();
        assert_eq!(
            c.beat(s, report("group1", "10.0.0.9"), now),
            Err(ReportError::NotTheJoinedStorage)
        );
        assert_eq!(c.beat(s, report("group1", "10.0.0.1"), now), Ok(None));
    }

    #[test]
    fn silent_storage_goes_offline_and_returns_on_its_next_beat() {
        let mut c = Cluster::default();
        let t0 = Instant::now();
        let interval = Duration::from_secs(3);
        let (s, _) = c.join(report("group1", "10.0.0.1"), at(t0, 0)).unwrap();
        assert!(c.expire(t0 + Duration::from_secs(3), interval).is_empty());
        let changes = c.expire(t0 + Duration::from_secs(4), interval);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].from, changes[0].to),
            (Some(state::ACTIVE), state::OFFLINE)
        );
        assert!(
            c.expire(t0 + Duration::from_secs(9), interval).is_empty(),
            "reported once"
        );
        let back = c
            .beat(s, report("group1", "10.0.0.1"), at(t0, 10))
            .unwrap()
            .unwrap();
        assert_eq!((back.from, back.to), (Some(state::OFFLINE), state::ACTIVE));
    }

    #[test]
    fn heartbeats_keep_a_storage_active() {
        let mut c = Cluster::default();
        let t0 = Instant::now();
        let (s, _) = c.join(report("group1", "10.0.0.1"), at(t0, 0)).unwrap();
        c.beat(s, report("group1", "10.0.0.1"), at(t0, 2)).unwrap();
        assert!(c
            .expire(t0 + Duration::from_secs(4), Duration::from_secs(3))
            .is_empty());
    }

    #[test]
    fn closed_connection_takes_its_storage_offline_unless_it_rejoined() {
        let mut c = Cluster::default();
        let now = at(Instant::now(), 0);
        let (old, _) = c.join(report("group1", "10.0.0.1"), now).unwrap();
        let (new, _) = c.join(report("group1", "10.0.0.1"), now).unwrap();
        assert_eq!(c.disconnect(old), None, "a newer connection owns it");
        let t = c.disconnect(new).unwrap();
        assert_eq!(t.to, state::OFFLINE);
        assert_eq!(c.reply("group1", "10.0.0.1", true).status, state::OFFLINE);
    }
}
