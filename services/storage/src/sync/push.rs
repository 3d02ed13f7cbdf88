//! The push to one peer: replays this storage's binlog from the peer's
//! mark, sends each change with the bytes it needs, advances the mark
//! only after the peer answered, and tells the peer how far it is synced.
//! Runs until the peer leaves the group or shutdown; a broken connection
//! is retried with backoff, resuming from the last acknowledged record.
//! The worker (mark, retries, progress) is the same for every peer; what
//! goes on the wire is ferrodfs's authenticated SYNC_PUSH here, or
//! FastDFS's own sync commands for a FastDFS member ([`super::fastdfs_push`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrodfs_proto::auth::authenticate;
use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::io::{read_response_header, send, ProtoError};
use ferrodfs_proto::sync::PushHeader;
use ferrodfs_proto::{cmd, status};
use ferrodfs_runtime::net::connect_from;
use ferrodfs_runtime::Shutdown;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::binlog::{Entry, Op, Pos, Reader, Record};
use crate::ctx::Ctx;
use crate::replication::mark::{self, Mark};
use crate::replication::plan::{self, claim, should_push, PeerView};

/// Binlog bytes read per batch.
const BATCH_BYTES: usize = 256 << 10;
/// While records flow, the mark is saved at most this often, in the
/// background: a save is a file write and a rename, and waiting for one
/// every few dozen records held the whole stream up behind the disk. A
/// mark that a crash leaves up to this far behind only resends records,
/// which replicas apply idempotently.
const MARK_INTERVAL: Duration = Duration::from_millis(250);
/// An idle push saves its mark at most this often: a receiver's own
/// worker wakes for every replicated record only to skip it, and a mark
/// file write per wake is most of what that costs.
const IDLE_MARK_INTERVAL: Duration = Duration::from_secs(1);
/// An idle push still tells the peer it is synced this often.
pub(super) const IDLE_PROGRESS: Duration = Duration::from_millis(500);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);
/// Frames written ahead of their replies.
const WINDOW: usize = 64;
/// Records in flight in all, those that needed no frame included (they
/// wait behind the reply of an earlier frame to move the mark).
const QUEUED: usize = 4096;
/// Whole files up to this size are read and sent in one piece.
const SMALL_FILE: u64 = 1 << 20;
/// Records whose small files are read together, in one trip to the
/// blocking pool, before their frames are written...
const READ_AHEAD: usize = 32;
/// ...up to this many bytes at a time.
const READ_AHEAD_BYTES: u64 = 4 << 20;

/// Which sync protocol a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// A ferrodfs storage: SYNC_PUSH on an authenticated connection.
    Ferrodfs,
    /// A FastDFS storage: its storage-to-storage sync commands.
    Fastdfs,
}

pub(super) struct Worker {
    pub ctx: Arc<Ctx>,
    pub peer: watch::Receiver<PeerView>,
    pub key: String,
    mark_path: PathBuf,
    pub mark: Mark,
    /// Marks not yet saved.
    unsaved: u64,
    /// Our own files created up to this time are on the peer.
    claimed: i64,
    /// The record starting here goes as a whole file (the peer lacked it).
    force_whole: Option<Pos>,
    /// The current session got at least one answer from the peer.
    progressed: bool,
    retry: Retry,
    /// When the mark was last written.
    saved_at: Instant,
    /// A mark save still running on the blocking pool (started in the
    /// background, or by a session that was cancelled): the next save
    /// waits for it, or is put off, so two never race on the temp file.
    saving: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// This peer's series of `ferrodfs_storage_sync_delay_seconds`.
    delay: prometheus::Histogram,
}

/// Ends a session so that the next one sends the peer a whole file: its
/// copy is missing (ENOENT) or ends before a change's offset (ESPIPE).
#[derive(Debug)]
struct SendWhole(u8);

impl std::fmt::Display for SendWhole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer answered {}", status::name(self.0))
    }
}

impl std::error::Error for SendWhole {}

/// What a failed session is worth telling the operator.
#[derive(Debug, PartialEq, Eq)]
enum Report {
    /// The first failure after the peer answered: a new outage (warn once).
    NewOutage,
    /// The same outage going on.
    StillFailing,
}

/// Backoff between sessions: doubles while the peer stays unreachable,
/// back to the first step once a session made progress, so a new outage
/// is retried quickly and reported again.
#[derive(Debug)]
struct Retry {
    backoff: Duration,
    outage: bool,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            backoff: FIRST_RETRY,
            outage: false,
        }
    }
}

impl Retry {
    /// A session ended in an error; `progressed`: the peer had answered
    /// in it. Sets the wait before the next session.
    fn failed(&mut self, progressed: bool) -> Report {
        if progressed || !self.outage {
            self.outage = true;
            self.backoff = FIRST_RETRY;
            return Report::NewOutage;
        }
        self.backoff = (self.backoff * 2).min(MAX_RETRY);
        Report::StillFailing
    }
}

/// Pushes to one peer until shutdown or until the task is aborted (the
/// peer left the group).
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    mut peer: watch::Receiver<PeerView>,
    mut shutdown: Shutdown,
    wire: Wire,
) {
    let me = ctx.cfg.ip.to_string();
    let (key, mark_path) = {
        let p = peer.borrow();
        (
            mark::peer_key(&p.member),
            mark::peer_mark_path(ctx.binlog.dir(), &p.member),
        )
    };
    let mark = loop {
        let path = mark_path.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            mark::reinstate(&path);
            mark::load(&path)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let saved = loaded.unwrap_or_else(|e| {
            tracing::warn!("sync mark {}: {e}; starting over", mark_path.display());
            None
        });
        let m = match saved {
            Some(m) if plan::needs_restart(&me, &peer.borrow(), &m) => {
                plan::first_mark(&me, &peer.borrow())
            }
            Some(m) => Some(m),
            None => plan::first_mark(&me, &peer.borrow()),
        };
        if let Some(m) = m {
            break m;
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            r = peer.changed() => if r.is_err() { return },
        }
    };
    if mark.full_copy && !mark.full_copy_done {
        tracing::info!("sending the full copy to new member {key}");
    }
    let delay = ctx.stats.sync_delay(&key);
    ctx.repl.delays.start(&key, mark.pos);
    let mut w = Worker {
        ctx,
        peer,
        key,
        mark_path,
        mark,
        unsaved: 1,
        claimed: 0,
        force_whole: None,
        progressed: false,
        retry: Retry::default(),
        saved_at: Instant::now(),
        saving: None,
        delay,
    };
    w.save_mark().await;
    loop {
        w.progressed = false;
        let r = tokio::select! {
            _ = shutdown.wait() => break,
            r = w.session_over(wire) => r,
        };
        let Err(e) = r else { continue };
        if let Some(SendWhole(st)) = e.downcast_ref::<SendWhole>() {
            tracing::info!(
                "sync to {}: the peer answered {}; sending the file whole",
                w.key,
                status::name(*st)
            );
            w.retry = Retry::default();
        } else {
            match w.retry.failed(w.progressed) {
                Report::NewOutage => {
                    tracing::warn!("sync to {} interrupted: {e:#}; retrying", w.key)
                }
                Report::StillFailing => {
                    tracing::debug!("sync to {} still failing: {e:#}", w.key)
                }
            }
        }
        w.save_mark().await;
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tokio::time::sleep(w.retry.backoff) => {}
        }
    }
    w.save_mark().await;
}

impl Worker {
    async fn session_over(&mut self, wire: Wire) -> anyhow::Result<()> {
        match wire {
            Wire::Ferrodfs => self.session().await,
            Wire::Fastdfs => super::fastdfs_push::session(self).await,
        }
    }

    /// Writes the mark on the blocking pool (temp file and rename).
    pub(super) async fn save_mark(&mut self) {
        self.ctx.repl.lag.mark(&self.key, &self.mark);
        self.collect_save().await;
        if self.unsaved == 0 {
            return;
        }
        let (path, m) = (self.mark_path.clone(), self.mark);
        let saving = self
            .saving
            .insert(tokio::task::spawn_blocking(move || mark::save(&path, &m)));
        let r = saving.await;
        self.saving = None;
        match r.unwrap_or_else(|e| Err(std::io::Error::other(e))) {
            Ok(()) => {
                self.unsaved = 0;
                self.saved_at = Instant::now();
            }
            Err(e) => tracing::warn!("cannot save sync mark {}: {e}", self.mark_path.display()),
        }
    }

    fn header(&self) -> PushHeader {
        PushHeader {
            from: self.ctx.cfg.ip.to_string(),
            group: self.ctx.cfg.group_name.clone(),
            synced_until: self.claimed,
            ..Default::default()
        }
    }

    /// One connection's worth of pushing; returns only on error.
    async fn session(&mut self) -> anyhow::Result<()> {
        // The peer's current address: with storage ids it may change
        // while this worker (and its mark) stays.
        let addr = {
            let p = self.peer.borrow();
            format!("{}:{}", p.member.ip, p.member.port)
        };
        let timeout = self.ctx.cfg.network_timeout;
        let from = self.ctx.cfg.source_ip();
        let mut stream = tokio::time::timeout(timeout, connect_from(&addr, from))
            .await
            .context("connect timed out")?
            .with_context(|| format!("connect to {addr}"))?;
        let _ = stream.set_nodelay(true);
        tokio::time::timeout(
            timeout,
            authenticate(&mut stream, &self.ctx.cfg.cluster_secret),
        )
        .await
        .context("cluster authentication timed out")?
        .with_context(|| format!("cluster authentication with {addr}"))?;
        let mut binlog = self.ctx.binlog.watch();
        let mut last_progress: Option<(Instant, i64)> = None;
        // Pushes are pipelined: up to WINDOW frames are written before
        // their replies are read (in order), across binlog reads too, so
        // the stream never idles for a round trip while records come in.
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        // Frames in `inflight` whose replies are not read yet.
        let mut awaiting = 0usize;
        // Where the next record to send starts: the mark, plus what is
        // in flight.
        let mut cursor = self.mark.pos;
        // Kept open across wake-ups; taken while a read runs.
        let mut reader: Option<Reader> = None;
        loop {
            if !inflight.is_empty() && self.restart_due() {
                while !inflight.is_empty() {
                    self.complete_one(&mut stream, &mut inflight).await?;
                }
                awaiting = 0;
            }
            if inflight.is_empty() {
                self.restart_if_chosen().await;
                cursor = self.mark.pos;
            }
            let now = crate::clock::unix_now();
            let end = *binlog.borrow_and_update();
            let entries = read_binlog(&self.ctx, &mut reader, cursor, end, BATCH_BYTES).await?;
            if entries.is_empty() && !inflight.is_empty() {
                // All sent: take the replies, then look again.
                while !inflight.is_empty() {
                    self.complete_one(&mut stream, &mut inflight).await?;
                }
                awaiting = 0;
                continue;
            }
            if entries.is_empty() {
                self.claimed = self.claimed.max(claim(now));
                if self.mark.full_copy {
                    self.finish_full_copy(&mut stream).await?;
                }
                let due = last_progress
                    .is_none_or(|(t, c)| c != self.claimed || t.elapsed() >= IDLE_PROGRESS * 4);
                if due {
                    self.send(&mut stream, self.header()).await?;
                    last_progress = Some((Instant::now(), self.claimed));
                }
                self.idle().await;
                tokio::select! {
                    r = binlog.changed() => r.context("binlog closed")?,
                    _ = tokio::time::sleep(IDLE_PROGRESS) => {}
                    r = self.peer.changed() => r.context("peer gone")?,
                }
                continue;
            }
            let mut ahead = VecDeque::new();
            for (i, e) in entries.iter().enumerate() {
                let start = cursor;
                if ahead.is_empty() {
                    let chunk = &entries[i..entries.len().min(i + READ_AHEAD)];
                    ahead = self.read_ahead(chunk, start).await?;
                }
                let pre = ahead.pop_front().flatten();
                let mut sent = false;
                if let Some(r) = &e.record {
                    if !r.replica {
                        self.claimed = self.claimed.max(claim(r.ts));
                    }
                    if should_push(&self.mark, r) {
                        let whole = self.force_whole == Some(start);
                        sent = self.write_record(&mut stream, r, whole, pre).await?;
                        if whole {
                            self.force_whole = None;
                        }
                    }
                }
                inflight.push_back(InFlight {
                    start,
                    next: e.next,
                    awaits_reply: sent,
                    in_place: e.record.as_ref().is_some_and(|r| {
                        matches!(
                            r.op,
                            Op::Append { .. }
                                | Op::Modify { .. }
                                | Op::Truncate { .. }
                                | Op::Rename { .. }
                        )
                    }),
                });
                cursor = e.next;
                if sent {
                    awaiting += 1;
                }
                // Replies already here are taken at once (looked for once
                // per frame sent), so the mark, and the delay measured at
                // it, does not wait for the window to fill; records that
                // needed no frame queue behind a slow reply up to QUEUED.
                let mut look = sent;
                loop {
                    let take = inflight.front().is_some_and(|f| !f.awaits_reply)
                        || awaiting > WINDOW
                        || inflight.len() > QUEUED
                        || (look && awaiting > 0 && reply_ready(&stream));
                    if !take {
                        break;
                    }
                    if inflight.front().is_some_and(|f| f.awaits_reply) {
                        awaiting -= 1;
                        look = true;
                    }
                    self.complete_one(&mut stream, &mut inflight).await?;
                }
            }
        }
    }

    /// Reads the reply of the oldest frame in flight (if it awaits one)
    /// and advances the mark past it. A peer lacking the file an in-place
    /// change applies to answers ENOENT, one whose copy ends before the
    /// change's offset ESPIPE: the push restarts from that record and
    /// sends the whole file instead.
    async fn complete_one(
        &mut self,
        stream: &mut TcpStream,
        inflight: &mut VecDeque<InFlight>,
    ) -> anyhow::Result<()> {
        let Some(f) = inflight.pop_front() else {
            return Ok(());
        };
        if f.awaits_reply {
            let reply = tokio::time::timeout(
                self.ctx.cfg.network_timeout,
                read_response_header(stream, 0),
            )
            .await
            .context("peer did not answer in time")?;
            match reply {
                Ok(_) => self.answered(),
                Err(ProtoError::Status(st @ (status::ENOENT | status::ESPIPE))) if f.in_place => {
                    self.force_whole = Some(f.start);
                    self.answered();
                    return Err(SendWhole(st).into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.advance(f.next).await;
        Ok(())
    }

    /// The record before `next` is done with (the peer answered, or it
    /// needed no push): the mark moves past it, saved in the background
    /// at most every [`MARK_INTERVAL`].
    pub(super) async fn advance(&mut self, next: Pos) {
        self.mark.pos = next;
        self.mark.pushed += 1;
        self.unsaved += 1;
        self.ctx.repl.acked(&self.key, next);
        let delay = &self.delay;
        self.ctx
            .repl
            .delays
            .acked(&self.key, next, Instant::now(), |d| {
                delay.observe(d.as_secs_f64())
            });
        self.save_mark_in_background().await;
    }

    /// Waits for the save under way, if any; one that failed leaves the
    /// mark unsaved, so the next save (at the latest the last one, at
    /// shutdown) writes it again.
    async fn collect_save(&mut self) {
        if let Some(earlier) = self.saving.take() {
            if !matches!(earlier.await, Ok(Ok(()))) {
                self.unsaved = self.unsaved.max(1);
            }
        }
    }

    /// Starts saving the mark on the blocking pool without waiting for it,
    /// once [`MARK_INTERVAL`] has passed since the last save and no save
    /// is still running (the next advance tries again).
    async fn save_mark_in_background(&mut self) {
        if let Some(running) = &self.saving {
            if !running.is_finished() {
                return;
            }
            self.collect_save().await;
        }
        if self.unsaved == 0 || self.saved_at.elapsed() < MARK_INTERVAL {
            return;
        }
        self.ctx.repl.lag.mark(&self.key, &self.mark);
        let (path, m) = (self.mark_path.clone(), self.mark);
        let shown = path.display().to_string();
        // Counted as saved now; a failure counts the mark unsaved again
        // once it is collected.
        self.unsaved = 0;
        self.saved_at = Instant::now();
        self.saving = Some(tokio::task::spawn_blocking(move || {
            let r = mark::save(&path, &m);
            if let Err(e) = &r {
                tracing::warn!("cannot save sync mark {shown}: {e}");
            }
            r
        }));
    }

    /// Nothing to push: the mark is saved now and then (see
    /// [`IDLE_MARK_INTERVAL`]), the lag every time.
    pub(super) async fn idle(&mut self) {
        if self.saved_at.elapsed() >= IDLE_MARK_INTERVAL {
            self.save_mark().await;
        } else {
            self.ctx.repl.lag.mark(&self.key, &self.mark);
        }
    }

    /// Whether [`Worker::restart_if_chosen`] would start over.
    fn restart_due(&self) -> bool {
        plan::needs_restart(
            &self.ctx.cfg.ip.to_string(),
            &self.peer.borrow(),
            &self.mark,
        )
    }

    /// Trackers may describe a new peer late or, for a moment, not
    /// alike: once it is clear that we are its full-copy source and have
    /// not sent the copy, start it from the first record.
    pub(super) async fn restart_if_chosen(&mut self) {
        let me = self.ctx.cfg.ip.to_string();
        let peer = self.peer.borrow().clone();
        if plan::needs_restart(&me, &peer, &self.mark) {
            if let Some(m) = plan::first_mark(&me, &peer) {
                tracing::info!("sending the full copy to new member {}", self.key);
                self.mark = m;
                self.unsaved += 1;
                self.save_mark().await;
            }
        }
    }

    async fn finish_full_copy(&mut self, stream: &mut TcpStream) -> anyhow::Result<()> {
        let mut granted = self.ctx.repl.synced_until();
        granted.remove(&self.ctx.cfg.ip.to_string());
        let head = PushHeader {
            copy_done: true,
            granted,
            ..self.header()
        };
        self.send(stream, head).await?;
        self.full_copy_sent().await;
        Ok(())
    }

    /// The whole binlog has reached the peer: its full copy is done.
    pub(super) async fn full_copy_sent(&mut self) {
        self.mark.full_copy = false;
        self.mark.full_copy_done = true;
        self.unsaved += 1;
        self.save_mark().await;
        tracing::info!(
            "full copy to {} complete ({} records)",
            self.key,
            self.mark.pushed
        );
    }

    /// Reads, in one trip to the blocking pool, the contents of the
    /// small files that the records of `chunk` (the first starting at
    /// `start`) send whole, up to [`READ_AHEAD_BYTES`] in all; one item
    /// per record, `None` where the content is read when its frame is
    /// written (no content, a larger file, or past the budget).
    async fn read_ahead(
        &self,
        chunk: &[Entry],
        mut start: Pos,
    ) -> anyhow::Result<VecDeque<Option<Prefetched>>> {
        let mut paths = Vec::with_capacity(chunk.len());
        for e in chunk {
            let path = e
                .record
                .as_ref()
                .filter(|r| should_push(&self.mark, r))
                .filter(|r| {
                    let whole = self.force_whole == Some(start);
                    matches!(r.op, Op::Create | Op::Update)
                        || (whole && !matches!(r.op, Op::Delete))
                })
                .and_then(|r| LogicalName::parse(&r.name).ok())
                .and_then(|name| self.ctx.store.data_path(&name));
            paths.push(path);
            start = e.next;
        }
        if paths.iter().all(Option::is_none) {
            return Ok(paths.into_iter().map(|_| None).collect());
        }
        let read = tokio::task::spawn_blocking(move || {
            let mut budget = READ_AHEAD_BYTES;
            paths
                .into_iter()
                .map(|p| match p {
                    Some(p) if budget > 0 => {
                        let r = read_small(&p, budget);
                        if let Ok(Some(Prefetched::Bytes(b))) = &r {
                            budget = budget.saturating_sub(b.len() as u64);
                        }
                        r
                    }
                    _ => Ok(None),
                })
                .collect::<std::io::Result<VecDeque<_>>>()
        })
        .await
        .context("reading files to push")?
        .context("reading files to push")?;
        Ok(read)
    }

    /// Writes the frame for one record (no reply read); `false` when
    /// there was nothing to send: a file that no longer exists here is
    /// skipped, its delete follows later in the binlog. `whole` sends an
    /// in-place change as the whole current file; `pre`, the content
    /// [`Worker::read_ahead`] already read for it.
    async fn write_record(
        &mut self,
        stream: &mut TcpStream,
        r: &Record,
        whole: bool,
        pre: Option<Prefetched>,
    ) -> anyhow::Result<bool> {
        let Ok(name) = LogicalName::parse(&r.name) else {
            return Ok(false);
        };
        let Some(path) = self.ctx.store.data_path(&name) else {
            return Ok(false);
        };
        let r = if whole && !matches!(r.op, Op::Delete) {
            Record {
                op: Op::Create,
                ..r.clone()
            }
        } else {
            r.clone()
        };
        let head = PushHeader {
            record: r.format().trim_end().to_string(),
            ..self.header()
        };
        let range = match r.op {
            Op::Create | Op::Update => Some((0, u64::MAX)),
            Op::Append { offset, length } | Op::Modify { offset, length } => Some((offset, length)),
            Op::Delete | Op::Truncate { .. } | Op::Rename { .. } => None,
        };
        let content = match (range, pre) {
            (None, _) => Content::None,
            (Some(_), Some(Prefetched::Bytes(b))) => Content::Bytes(b),
            (Some(_), Some(Prefetched::Missing)) => return Ok(false),
            (Some((offset, length)), None) => {
                let opened = tokio::task::spawn_blocking(move || {
                    open_content(&path, offset, length, SMALL_FILE)
                })
                .await
                .context("opening a file to push")??;
                match opened {
                    Some(c) => c,
                    None => return Ok(false),
                }
            }
        };
        tokio::time::timeout(
            self.ctx.cfg.network_timeout + Duration::from_secs(content.len() >> 24),
            write_frame(stream, head, content, self.ctx.cfg.network_timeout),
        )
        .await
        .context("peer did not take the push in time")??;
        Ok(true)
    }

    /// Sends one content-less frame and waits for the peer's answer.
    async fn send(&mut self, stream: &mut TcpStream, head: PushHeader) -> anyhow::Result<()> {
        let exchange = async {
            write_frame(stream, head, Content::None, Duration::ZERO).await?;
            read_response_header(stream, 0).await?;
            anyhow::Ok(())
        };
        tokio::time::timeout(self.ctx.cfg.network_timeout, exchange)
            .await
            .context("peer did not answer in time")??;
        self.answered();
        Ok(())
    }

    /// The peer answered: the first answer after an outage ends it.
    pub(super) fn answered(&mut self) {
        if !self.progressed && self.retry.outage {
            tracing::info!("sync to {} resumed", self.key);
        }
        self.progressed = true;
    }
}

/// Up to `max_bytes` of the binlog from `from` to `end`, on the
/// blocking pool, with the file `reader` keeps open (taken while the read
/// runs, so a cancelled read only costs the next one an open).
pub(super) async fn read_binlog(
    ctx: &Ctx,
    reader: &mut Option<Reader>,
    from: Pos,
    end: Pos,
    max_bytes: usize,
) -> anyhow::Result<Vec<Entry>> {
    let mut r = reader
        .take()
        .unwrap_or_else(|| Reader::new(ctx.binlog.dir()));
    let (r, read) = tokio::task::spawn_blocking(move || {
        let read = r.read(from, end, max_bytes);
        (r, read)
    })
    .await
    .context("reading the binlog")?;
    *reader = Some(r);
    read.context("reading the binlog")
}

/// Whether a reply can be read from `stream` without waiting.
fn reply_ready(stream: &TcpStream) -> bool {
    use nix::sys::socket::{recv, MsgFlags};
    use std::os::fd::AsRawFd;
    let mut probe = [0u8; 1];
    let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
    matches!(recv(stream.as_raw_fd(), &mut probe, flags), Ok(n) if n > 0)
}

/// A frame written whose reply is not read yet.
struct InFlight {
    /// Where its record starts and ends in the binlog.
    start: Pos,
    next: Pos,
    /// Nothing was sent for it (skipped record): no reply to read.
    awaits_reply: bool,
    /// A change to an existing file (append, modify, truncate, rename):
    /// a peer without that file gets the whole file instead.
    in_place: bool,
}

/// A file's content read ahead of its frame.
enum Prefetched {
    Bytes(Vec<u8>),
    /// The file is gone: its delete follows in the binlog.
    Missing,
}

/// The whole file at `path` if it is at most [`SMALL_FILE`] and `budget`
/// bytes; `None` when larger (blocking).
fn read_small(path: &std::path::Path, budget: u64) -> std::io::Result<Option<Prefetched>> {
    Ok(
        match open_content(path, 0, u64::MAX, SMALL_FILE.min(budget))? {
            None => Some(Prefetched::Missing),
            Some(Content::Bytes(b)) => Some(Prefetched::Bytes(b)),
            Some(_) => None,
        },
    )
}

/// The content of a change of `length` bytes at `offset` of the file at
/// `path`: the whole file read into memory when it is at most `limit`
/// bytes, else the open file to send from; `None` when the file is gone
/// (its delete follows in the binlog) (blocking).
fn open_content(
    path: &std::path::Path,
    offset: u64,
    length: u64,
    limit: u64,
) -> std::io::Result<Option<Content>> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = f.metadata()?.len();
    let n = length.min(size.saturating_sub(offset));
    if offset == 0 && n == size && n <= limit {
        let mut bytes = Vec::with_capacity(n as usize);
        (&mut f).take(n).read_to_end(&mut bytes)?;
        return Ok(Some(Content::Bytes(bytes)));
    }
    Ok(Some(Content::File(f, offset.min(size), n)))
}

/// What follows a push header.
enum Content {
    None,
    Bytes(Vec<u8>),
    /// `len` bytes of the file from `offset`, sent with sendfile(2).
    File(std::fs::File, u64, u64),
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::None => 0,
            Content::Bytes(b) => b.len() as u64,
            Content::File(_, _, n) => *n,
        }
    }
}

/// Writes header and content; small frames in a single write, file
/// contents straight from the page cache (`timeout`: for each wait for
/// the socket to take more).
async fn write_frame(
    stream: &mut TcpStream,
    mut head: PushHeader,
    content: Content,
    timeout: Duration,
) -> anyhow::Result<()> {
    head.content_len = content.len();
    let mut body = head.encode();
    let total = body.len() as u64 + head.content_len;
    match content {
        Content::None => {
            send(stream, Header::request(cmd::SYNC_PUSH, total), &body).await?;
        }
        Content::Bytes(bytes) => {
            body.extend_from_slice(&bytes);
            send(stream, Header::request(cmd::SYNC_PUSH, total), &body).await?;
        }
        Content::File(f, offset, n) => {
            send(stream, Header::request(cmd::SYNC_PUSH, total), &body).await?;
            crate::zerocopy::send_file(stream, &f, offset, n, timeout).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_new_outage_is_reported_once_and_starts_with_a_short_retry() {
        let mut r = Retry::default();
        assert_eq!(r.failed(false), Report::NewOutage);
        assert_eq!(r.backoff, FIRST_RETRY);
        for _ in 0..10 {
            assert_eq!(r.failed(false), Report::StillFailing);
        }
        assert_eq!(r.backoff, MAX_RETRY, "backs off while the peer is away");
        // The peer answered, then went away again: a second outage.
        assert_eq!(r.failed(true), Report::NewOutage);
        assert_eq!(r.backoff, FIRST_RETRY);
        assert_eq!(r.failed(false), Report::StillFailing);
        assert_eq!(r.backoff, FIRST_RETRY * 2);
    }
}
