//! Cluster membership as this tracker sees it: groups, their storages and
//! each storage's state, built only from joins and heartbeats (FastDFS
//! trackers share no state). Pure: time is passed in, nothing blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrodfs_proto::cluster::{state, BeatReply, InitState, Member, StorageReport};
use ferrodfs_proto::fields::validate_group;
use ferrodfs_proto::status;
use ferrodfs_proto::storage_ids::{Access, StorageIds};

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
    /// The storage id (its IP unless `use_storage_id`).
    pub id: String,
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
    /// One storage id (an IP unless `use_storage_id`) cannot sit in two
    /// groups.
    InOtherGroup {
        id: String,
        group: String,
    },
    /// With `use_storage_id`: no line of storage_ids.conf lists this
    /// address and port (FastDFS: ENOENT).
    UnknownStorage {
        ip: String,
        port: u16,
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
            ReportError::InOtherGroup { .. } => status::EEXIST,
            ReportError::UnknownStorage { .. } => status::ENOENT,
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
            ReportError::InOtherGroup { id, group } => {
                write!(f, "storage {id} already belongs to group {group}")
            }
            ReportError::UnknownStorage { ip, port } => write!(
                f,
                "{ip}:{port} is not listed in storage_ids.conf (use_storage_id = true): \
                 add a line `<id> <group> {ip}` on every tracker"
            ),
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

/// Added to two heartbeat intervals before a storage counts as no longer
/// beating: a beat is sent one interval after the previous one was
/// answered, so it arrives a little later than the interval itself.
pub const BEAT_SLACK: Duration = Duration::from_millis(500);

/// One storage: its latest report and what the tracker derived from it.
#[derive(Debug, Clone)]
pub struct Storage {
    /// Its storage id: from storage_ids.conf with `use_storage_id`,
    /// otherwise its IP. The key of [`Group::storages`].
    pub id: String,
    /// What storage_ids.conf lets it do (`rw=`); `Both` without ids.
    pub access: Access,
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
    /// It joined with FastDFS's binary protocol (a FastDFS storage, let
    /// in by `fastdfs_storages`), not ferrodfs's authenticated one.
    pub fastdfs: bool,
}

impl Storage {
    pub fn is_active(&self) -> bool {
        self.status == state::ACTIVE
    }

    /// ACTIVE and allowed to serve downloads (`rw=` not write-only).
    pub fn is_readable(&self) -> bool {
        self.is_active() && self.access.can_read()
    }

    /// ACTIVE and allowed to take uploads (`rw=` not read-only).
    pub fn is_writable(&self) -> bool {
        self.is_active() && self.access.can_write()
    }

    /// Heard from within two of its own heartbeat intervals (plus
    /// [`BEAT_SLACK`]). A storage cut off the network or frozen stays
    /// ACTIVE until `check_active_interval` runs out; placement passes it
    /// over as soon as it misses a beat. A storage that does not tell its
    /// interval (an older report) always counts as beating.
    pub fn is_beating(&self, now: Instant) -> bool {
        match self.report.heart_beat_interval_ms {
            0 => true,
            ms => {
                now.saturating_duration_since(self.last_report)
                    <= Duration::from_millis(ms).saturating_mul(2) + BEAT_SLACK
            }
        }
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
                i.receiving |= d.receiving;
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

/// A group: storages keyed (and so sorted, as FastDFS sorts them) by
/// storage id, which is the IP unless `use_storage_id`.
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
                id: s.id.clone(),
                ip: s.report.ip.clone(),
                port: s.report.port,
                http_port: s.report.http_port,
                status: s.status,
                fastdfs: s.fastdfs,
            })
            .collect()
    }
}

/// Who a join made of a connection: the storage it owns and how it joined.
struct Joined {
    session: u64,
    id: String,
    access: Access,
    fastdfs: bool,
}

/// Every group this tracker knows, sorted by name.
#[derive(Debug, Default)]
pub struct Cluster {
    /// `use_storage_id`: who may join, under which id and group.
    ids: Option<Arc<StorageIds>>,
    /// `id_type_in_filename = "id"`.
    id_in_filename: bool,
    pub groups: BTreeMap<String, Group>,
    /// Round-robin cursor over the sorted groups (`store_lookup = 0`).
    pub group_cursor: usize,
    next_session: u64,
    /// (group, id) of storages removed with DELETE_STORAGE.
    deleted: BTreeSet<(String, String)>,
    /// Whether enough time has passed since the start for every live
    /// storage to have reported (ready from the start by default).
    pub warm_up: crate::warm_up::WarmUp,
}

impl Cluster {
    /// A cluster whose storages are known by the ids of storage_ids.conf
    /// (`use_storage_id`); `id_in_filename` has them write those ids into
    /// new file names.
    pub fn with_storage_ids(ids: Option<Arc<StorageIds>>, id_in_filename: bool) -> Cluster {
        Cluster {
            id_in_filename: id_in_filename && ids.is_some(),
            ids,
            ..Default::default()
        }
    }

    pub fn storage_ids(&self) -> Option<&StorageIds> {
        self.ids.as_deref()
    }

    /// The id of the storage a file name's source names: a numeric id
    /// as it is, an IP as the id storage_ids.conf gives that address
    /// (files written before ids were used), or the IP itself.
    pub fn source_id(&self, source: ferrodfs_proto::Source, group: &str) -> String {
        match (source, &self.ids) {
            (ferrodfs_proto::Source::Ip(ip), Some(ids)) => ids
                .entries()
                .iter()
                .find(|e| e.group == group && e.ips.contains(&ip))
                .map(|e| e.id.to_string())
                .unwrap_or_else(|| ip.to_string()),
            (source, _) => source.to_string(),
        }
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    pub fn group_mut(&mut self, name: &str) -> Option<&mut Group> {
        self.groups.get_mut(name)
    }

    fn group_of(&self, id: &str) -> Option<&str> {
        self.groups
            .values()
            .find(|g| g.storages.contains_key(id))
            .map(|g| g.name.as_str())
    }

    /// (group, id) of the storage that joined on `session`.
    pub fn session_owner(&self, session: u64) -> Option<(String, String)> {
        self.groups.values().find_map(|g| {
            g.storages
                .values()
                .find(|s| s.session == session)
                .map(|s| (g.name.clone(), s.id.clone()))
        })
    }

    /// The storage id of a storage reporting from `ip`: with
    /// `use_storage_id` the one storage_ids.conf lists for that address
    /// (and port), in the group it names; otherwise the IP itself.
    fn identify(
        &self,
        report: &StorageReport,
        ip: Ipv4Addr,
    ) -> Result<(String, Access), ReportError> {
        let Some(ids) = &self.ids else {
            return Ok((report.ip.clone(), Access::Both));
        };
        let e = ids
            .by_addr(ip, report.port)
            .ok_or_else(|| ReportError::UnknownStorage {
                ip: report.ip.clone(),
                port: report.port,
            })?;
        if e.group != report.group {
            return Err(ReportError::InOtherGroup {
                id: e.id.to_string(),
                group: e.group.clone(),
            });
        }
        Ok((e.id.to_string(), e.access))
    }

    /// The storage id behind `key`: an id, or the IP of a current member.
    pub fn resolve(&self, group: &str, key: &str) -> Option<String> {
        let g = self.groups.get(group)?;
        if g.storages.contains_key(key) {
            return Some(key.to_string());
        }
        g.storages
            .values()
            .find(|s| s.report.ip == key)
            .map(|s| s.id.clone())
    }

    /// A storage joins on a new connection: creates its group on first
    /// sight, records the report and makes this connection the owner.
    /// Returns the session id the connection must present on heartbeats.
    pub fn join(
        &mut self,
        report: StorageReport,
        now: Now,
    ) -> Result<(u64, Option<Transition>), ReportError> {
        self.join_as(report, now, false)
    }

    /// [`Cluster::join`] of a FastDFS storage (its binary join): the
    /// members list flags it so ferrodfs members push to it in FastDFS's
    /// sync protocol.
    pub fn join_fastdfs(
        &mut self,
        report: StorageReport,
        now: Now,
    ) -> Result<(u64, Option<Transition>), ReportError> {
        self.join_as(report, now, true)
    }

    fn join_as(
        &mut self,
        report: StorageReport,
        now: Now,
        fastdfs: bool,
    ) -> Result<(u64, Option<Transition>), ReportError> {
        validate_group(&report.group).map_err(|_| ReportError::BadGroup(report.group.clone()))?;
        let ip: Ipv4Addr = report
            .ip
            .parse()
            .map_err(|_| ReportError::BadIp(report.ip.clone()))?;
        let (id, access) = self.identify(&report, ip)?;
        if let Some(other) = self.group_of(&id) {
            if other != report.group {
                return Err(ReportError::InOtherGroup {
                    id,
                    group: other.to_string(),
                });
            }
        }
        let key = (report.group.clone(), id.clone());
        if self.deleted.contains(&key) {
            if report.init.as_ref() != Some(&InitState::default()) {
                return Err(ReportError::Deleted);
            }
            self.deleted.remove(&key);
        }
        self.next_session += 1;
        let session = self.next_session;
        let joined = Joined {
            session,
            id,
            access,
            fastdfs,
        };
        Ok((session, self.record(joined, report, now, "joined")))
    }

    /// A heartbeat on the connection that joined as `session`.
    pub fn beat(
        &mut self,
        session: u64,
        report: StorageReport,
        now: Now,
    ) -> Result<Option<Transition>, ReportError> {
        let (group, id) = self.session_owner(session).ok_or(ReportError::NotJoined)?;
        let joined = &self.groups[&group].storages[&id];
        if group != report.group || joined.report.ip != report.ip {
            return Err(ReportError::NotTheJoinedStorage);
        }
        let joined = Joined {
            session,
            id,
            access: joined.access,
            fastdfs: joined.fastdfs,
        };
        Ok(self.record(joined, report, now, "heartbeat resumed"))
    }

    fn record(
        &mut self,
        joined: Joined,
        report: StorageReport,
        now: Now,
        reason: &'static str,
    ) -> Option<Transition> {
        let Joined {
            session,
            id,
            access,
            fastdfs,
        } = joined;
        let group = self
            .groups
            .entry(report.group.clone())
            .or_insert_with(|| Group {
                name: report.group.clone(),
                ..Default::default()
            });
        self.warm_up.heard(report.heart_beat_interval_ms);
        let ip = report.ip.clone();
        let previous = group.storages.remove(&id);
        if let Some(p) = previous.as_ref().filter(|p| p.report.ip != ip) {
            tracing::warn!(group = %group.name, %id, "storage {id} now reports from {ip} (was {})", p.report.ip);
        }
        let from = previous.as_ref().map(|s| s.status);
        let write_path = previous
            .as_ref()
            .map(|s| s.write_path)
            .unwrap_or(report.current_write_path);
        let mut storage = Storage {
            id: id.clone(),
            access,
            report,
            status: state::INIT,
            last_report: now.mono,
            last_report_unix: now.unix,
            session,
            write_path,
            decided: previous.and_then(|s| s.decided),
            fastdfs,
        };
        let to = next_status(from, Event::Report, &storage.init());
        storage.status = to;
        group.storages.insert(id.clone(), storage);
        (from != Some(to)).then(|| Transition {
            group: group.name.clone(),
            id,
            ip,
            from,
            to,
            reason: if from.is_none() { "joined" } else { reason },
        })
    }

    /// The leader decides the initial copy of storage `id` if it still
    /// needs deciding; returns the resulting state change.
    pub fn decide(&mut self, group: &str, id: &str, now_unix: i64) -> Option<Transition> {
        let g = self.groups.get_mut(group)?;
        let d = crate::initial_copy::decide(g, id, now_unix)?;
        self.set_decision(group, id, d, "initial copy decided by the leader")
    }

    /// Records `d` as where storage `id` stands in its initial copy (a
    /// leader's decision, or what a FastDFS storage's source or the
    /// storage itself told this tracker) and moves it to the state that
    /// follows; returns the state change.
    pub fn set_decision(
        &mut self,
        group: &str,
        id: &str,
        d: InitState,
        reason: &'static str,
    ) -> Option<Transition> {
        let s = self.groups.get_mut(group)?.storages.get_mut(id)?;
        s.decided = Some(d);
        let to = crate::initial_copy::serving_status(&s.init());
        let from = std::mem::replace(&mut s.status, to);
        (from != to).then(|| Transition {
            group: group.to_string(),
            id: id.to_string(),
            ip: s.report.ip.clone(),
            from: Some(from),
            to,
            reason,
        })
    }

    /// The join/heartbeat answer: the storage's state, its group and each
    /// member's initial-copy state; from the leader also its decision.
    pub fn reply(&self, group: &str, id: &str, leader: bool) -> BeatReply {
        let g = self.group(group);
        let me = g.and_then(|g| g.storages.get(id));
        BeatReply {
            status: me.map(|s| s.status).unwrap_or(state::OFFLINE),
            members: g.map(Group::members).unwrap_or_default(),
            init: me.filter(|_| leader).and_then(|s| s.decided.clone()),
            member_init: g
                .map(|g| {
                    g.storages
                        .values()
                        .map(|s| (s.report.ip.clone(), s.init()))
                        .collect()
                })
                .unwrap_or_default(),
            leader,
            deleted: self
                .deleted
                .iter()
                .filter(|(g, _)| g == group)
                .map(|(_, id)| id.clone())
                .collect(),
            filename_id: me
                .filter(|_| self.id_in_filename)
                .and_then(|s| s.id.parse().ok()),
        }
    }

    /// DELETE_STORAGE (93): removes a storage (named by id or IP) that is
    /// not ACTIVE (EBUSY) from its group; ENOENT when unknown. It may only
    /// come back empty.
    pub fn delete_storage(&mut self, group: &str, key: &str) -> Result<Transition, u8> {
        let id = self.resolve(group, key).ok_or(status::ENOENT)?;
        let g = self.groups.get_mut(group).ok_or(status::ENOENT)?;
        let s = g.storages.get(&id).ok_or(status::ENOENT)?;
        if s.status == state::ACTIVE {
            return Err(status::EBUSY);
        }
        let from = s.status;
        let ip = s.report.ip.clone();
        g.storages.remove(&id);
        self.deleted.insert((group.to_string(), id.clone()));
        Ok(Transition {
            group: group.to_string(),
            id,
            ip,
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
        let (group, id) = self.session_owner(session)?;
        let s = self.groups.get_mut(&group)?.storages.get_mut(&id)?;
        let to = next_status(Some(s.status), Event::Disconnected, &s.init());
        if to == s.status {
            return None;
        }
        let from = std::mem::replace(&mut s.status, to);
        Some(Transition {
            group,
            id,
            ip: s.report.ip.clone(),
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
                        id: s.id.clone(),
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
    fn members_that_joined_with_fastdfs_s_protocol_are_flagged_as_fastdfs() {
        let mut c = Cluster::default();
        let t0 = Instant::now();
        let (ferro, _) = c.join(report("group1", "10.0.0.1"), at(t0, 0)).unwrap();
        let (fdfs, _) = c
            .join_fastdfs(report("group1", "10.0.0.2"), at(t0, 0))
            .unwrap();
        c.beat(fdfs, report("group1", "10.0.0.2"), at(t0, 1))
            .unwrap();
        c.beat(ferro, report("group1", "10.0.0.1"), at(t0, 1))
            .unwrap();
        let flags: Vec<(String, bool)> = c
            .reply("group1", "10.0.0.1", true)
            .members
            .into_iter()
            .map(|m| (m.ip, m.fastdfs))
            .collect();
        assert_eq!(
            flags,
            vec![("10.0.0.1".into(), false), ("10.0.0.2".into(), true)],
            "the flag follows the join, through heartbeats"
        );
        // The same address joining again the ferrodfs way (a member
        // migrated in place) is no longer flagged.
        c.join(report("group1", "10.0.0.2"), at(t0, 2)).unwrap();
        assert!(c
            .reply("group1", "10.0.0.1", true)
            .members
            .iter()
            .all(|m| !m.fastdfs));
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
    fn a_storage_that_misses_two_beats_is_no_longer_beating_but_stays_active() {
        let mut c = Cluster::default();
        let t0 = Instant::now();
        let mut r = report("group1", "10.0.0.1");
        r.heart_beat_interval_ms = 1000;
        c.join(r, at(t0, 0)).unwrap();
        let s = &c.group("group1").unwrap().storages["10.0.0.1"];
        assert!(s.is_beating(t0 + Duration::from_secs(2)));
        assert!(!s.is_beating(t0 + Duration::from_secs(3)));
        assert!(s.is_active(), "OFFLINE only after check_active_interval");
    }

    #[test]
    fn a_storage_that_does_not_tell_its_interval_always_counts_as_beating() {
        let mut c = Cluster::default();
        let t0 = Instant::now();
        c.join(report("group1", "10.0.0.1"), at(t0, 0)).unwrap();
        let s = &c.group("group1").unwrap().storages["10.0.0.1"];
        assert!(s.is_beating(t0 + Duration::from_secs(3600)));
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

    fn with_ids(text: &str) -> Cluster {
        Cluster::with_storage_ids(Some(Arc::new(StorageIds::parse(text).unwrap())), true)
    }

    #[test]
    fn with_storage_ids_a_storage_is_known_by_its_id() {
        let mut c = with_ids("100001 group1 10.0.0.1\n100002 group1 10.0.0.2 rw=read\n");
        let t0 = Instant::now();
        let (_, t) = c.join(report("group1", "10.0.0.1"), at(t0, 0)).unwrap();
        assert_eq!(t.unwrap().id, "100001");
        c.join(report("group1", "10.0.0.2"), at(t0, 0)).unwrap();
        let g = c.group("group1").unwrap();
        assert_eq!(g.storages.keys().collect::<Vec<_>>(), ["100001", "100002"]);
        assert!(!g.storages["100002"].is_writable() && g.storages["100002"].is_readable());
        let reply = c.reply("group1", "100001", true);
        assert_eq!(reply.filename_id, Some(100_001));
        let ids: Vec<(&str, &str)> = reply
            .members
            .iter()
            .map(|m| (m.id.as_str(), m.ip.as_str()))
            .collect();
        assert_eq!(ids, [("100001", "10.0.0.1"), ("100002", "10.0.0.2")]);
        assert!(
            reply.member_init.contains_key("10.0.0.1"),
            "initial copy by address"
        );
    }

    #[test]
    fn names_carry_ips_unless_id_type_in_filename_is_id() {
        let ids = Arc::new(StorageIds::parse("100001 group1 10.0.0.1\n").unwrap());
        let mut c = Cluster::with_storage_ids(Some(ids), false);
        c.join(report("group1", "10.0.0.1"), at(Instant::now(), 0))
            .unwrap();
        assert_eq!(c.reply("group1", "100001", true).filename_id, None);
        let mut plain = Cluster::default();
        plain
            .join(report("group1", "10.0.0.1"), at(Instant::now(), 0))
            .unwrap();
        let reply = plain.reply("group1", "10.0.0.1", true);
        assert_eq!(
            (reply.filename_id, reply.members[0].id.as_str()),
            (None, "10.0.0.1")
        );
    }

    #[test]
    fn with_storage_ids_unlisted_addresses_and_other_groups_are_refused() {
        let mut c = with_ids("100001 group1 10.0.0.1\n100003 group1 10.0.0.3:23001\n");
        let now = at(Instant::now(), 0);
        let e = c.join(report("group1", "10.0.0.9"), now).unwrap_err();
        assert_eq!(e.status(), status::ENOENT);
        assert!(e.to_string().contains("storage_ids.conf"), "{e}");
        let e = c.join(report("group1", "10.0.0.3"), now).unwrap_err();
        assert_eq!(e.status(), status::ENOENT, "listed on another port");
        let e = c.join(report("group2", "10.0.0.1"), now).unwrap_err();
        assert!(matches!(e, ReportError::InOtherGroup { .. }), "{e}");
        assert!(c.groups.is_empty());
    }

    #[test]
    fn a_storage_whose_address_changes_stays_one_member() {
        let mut c = with_ids("100001 group1 10.0.0.1,10.0.0.5\n");
        let t0 = Instant::now();
        let (first, _) = c.join(report("group1", "10.0.0.1"), at(t0, 0)).unwrap();
        c.disconnect(first);
        let (second, t) = c.join(report("group1", "10.0.0.5"), at(t0, 5)).unwrap();
        assert_eq!(
            t.map(|t| (t.from, t.to)),
            Some((Some(state::OFFLINE), state::ACTIVE))
        );
        let g = c.group("group1").unwrap();
        assert_eq!(g.storages.len(), 1);
        assert_eq!(g.storages["100001"].report.ip, "10.0.0.5");
        assert!(c
            .beat(second, report("group1", "10.0.0.5"), at(t0, 6))
            .is_ok());
        assert_eq!(
            c.beat(second, report("group1", "10.0.0.1"), at(t0, 7)),
            Err(ReportError::NotTheJoinedStorage)
        );
        c.group_mut("group1")
            .unwrap()
            .storages
            .get_mut("100001")
            .unwrap()
            .status = state::OFFLINE;
        let t = c.delete_storage("group1", "10.0.0.5").unwrap();
        assert_eq!((t.id.as_str(), t.ip.as_str()), ("100001", "10.0.0.5"));
        assert_eq!(c.reply("group1", "100001", true).deleted, ["100001"]);
    }
}
