//! The push to a FastDFS member of the group, in FastDFS 6.x's own
//! storage-to-storage sync (storage/storage_sync.c sends, storage_service.c
//! receives): each connection opens with REPORT_SERVER_ID, then every
//! record of our binlog that FastDFS would forward becomes one request,
//! answered with a bare header, before the next is sent. The mark,
//! retries and progress are [`super::push`]'s worker; only the wire
//! differs. FastDFS has no secret: which members are pushed to this way
//! is decided in [`super::peers`].
//!
//! Answers are taken as FastDFS takes them: EEXIST on a copy, change or
//! rename and ENOENT on a delete count as done; ENOENT on an append,
//! modify or truncate has the whole file sent as SYNC_UPDATE_FILE, and on
//! a rename the file under its new name as SYNC_CREATE_FILE.

use std::io::SeekFrom;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrodfs_proto::fields::{put_fixed, GROUP_NAME_LEN};
use ferrodfs_proto::file_id::LogicalName;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::io::{read_response_header, ProtoError};
use ferrodfs_proto::{cmd, status};
use ferrodfs_runtime::net::connect_from;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::push::{read_binlog, Worker, IDLE_PROGRESS};
use crate::binlog::{Op, Record};
use crate::replication::plan::should_push;

/// Binlog bytes read per batch.
const BATCH_BYTES: usize = 64 << 10;
/// FastDFS's `FDFS_STORAGE_ID_MAX_SIZE`.
const ID_LEN: usize = 16;
/// Contents up to this size go in the same write as their request.
const INLINE: u64 = 64 << 10;

/// One FastDFS sync request, as a binlog record asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// SYNC_CREATE_FILE (16) or SYNC_UPDATE_FILE (18): the whole file.
    Whole { cmd: u8, name: String },
    /// SYNC_APPEND_FILE (25) or SYNC_MODIFY_FILE (35): `length` bytes of
    /// the file from `offset`.
    Range {
        cmd: u8,
        name: String,
        offset: u64,
        length: u64,
    },
    /// SYNC_DELETE_FILE (17).
    Delete { name: String },
    /// SYNC_TRUNCATE_FILE (37).
    Truncate {
        name: String,
        old_size: u64,
        new_size: u64,
    },
    /// SYNC_RENAME_FILE (40): the file `old` is now `new`.
    Rename { new: String, old: String },
}

impl Step {
    /// What FastDFS sends for `r`; `None` for what it never forwards:
    /// a replica's append, modify or truncate (a full copy carries the
    /// file whole instead). A replica rename goes as the renamed file.
    pub fn of(r: &Record) -> Option<Step> {
        let name = r.name.clone();
        Some(match &r.op {
            Op::Create => Step::Whole {
                cmd: cmd::SYNC_CREATE_FILE,
                name,
            },
            Op::Update => Step::Whole {
                cmd: cmd::SYNC_UPDATE_FILE,
                name,
            },
            Op::Delete => Step::Delete { name },
            _ if r.replica => match &r.op {
                Op::Rename { .. } => Step::Whole {
                    cmd: cmd::SYNC_CREATE_FILE,
                    name,
                },
                _ => return None,
            },
            Op::Append { offset, length } => Step::Range {
                cmd: cmd::SYNC_APPEND_FILE,
                name,
                offset: *offset,
                length: *length,
            },
            Op::Modify { offset, length } => Step::Range {
                cmd: cmd::SYNC_MODIFY_FILE,
                name,
                offset: *offset,
                length: *length,
            },
            Op::Truncate { old_size, new_size } => Step::Truncate {
                name,
                old_size: *old_size,
                new_size: *new_size,
            },
            Op::Rename { from } => Step::Rename {
                new: name,
                old: from.clone(),
            },
        })
    }

    /// The file whose local state decides whether the step is sent.
    fn name(&self) -> &str {
        match self {
            Step::Whole { name, .. }
            | Step::Range { name, .. }
            | Step::Delete { name }
            | Step::Truncate { name, .. } => name,
            Step::Rename { new, .. } => new,
        }
    }

    /// The step that replaces this one when the peer lacks the file it
    /// changes (ENOENT), as FastDFS resends it.
    fn whole_instead(&self) -> Option<Step> {
        match self {
            Step::Range { name, .. } | Step::Truncate { name, .. } => Some(Step::Whole {
                cmd: cmd::SYNC_UPDATE_FILE,
                name: name.clone(),
            }),
            Step::Rename { new, .. } => Some(Step::Whole {
                cmd: cmd::SYNC_CREATE_FILE,
                name: new.clone(),
            }),
            Step::Whole { .. } | Step::Delete { .. } => None,
        }
    }

    /// The request header and body up to the content: `content` bytes of
    /// file follow for [`Step::Whole`] (the file's size) and
    /// [`Step::Range`] (its length).
    pub fn head(&self, ts: i64, group: &str, content: u64) -> Vec<u8> {
        let mut fixed: Vec<u8> = Vec::with_capacity(64 + 2 * 128);
        let nums = |b: &mut Vec<u8>, ns: &[u64]| {
            for n in ns {
                b.extend_from_slice(&n.to_be_bytes());
            }
        };
        let (command, names): (u8, Vec<&str>) = match self {
            Step::Whole { cmd, name } => {
                nums(&mut fixed, &[name.len() as u64, content]);
                (*cmd, vec![name])
            }
            Step::Range {
                cmd,
                name,
                offset,
                length,
            } => {
                nums(&mut fixed, &[name.len() as u64, *offset, *length]);
                (*cmd, vec![name])
            }
            Step::Delete { name } => (cmd::SYNC_DELETE_FILE, vec![name]),
            Step::Truncate {
                name,
                old_size,
                new_size,
            } => {
                nums(&mut fixed, &[name.len() as u64, *old_size, *new_size]);
                (cmd::SYNC_TRUNCATE_FILE, vec![name])
            }
            Step::Rename { new, old } => {
                nums(&mut fixed, &[new.len() as u64, old.len() as u64]);
                (cmd::SYNC_RENAME_FILE, vec![new, old])
            }
        };
        // FastDFS's timestamps are 32-bit (a year-2038 limit of its own).
        fixed.extend_from_slice(&(ts as i32).to_be_bytes());
        put_fixed(&mut fixed, group, GROUP_NAME_LEN);
        for n in names {
            fixed.extend_from_slice(n.as_bytes());
        }
        let body_len = fixed.len() as u64 + content;
        let mut out = Header::request(command, body_len).encode().to_vec();
        out.extend_from_slice(&fixed);
        out
    }
}

/// REPORT_SERVER_ID (9): our 16-byte, NUL-padded id.
pub(crate) fn report_server_id(id: &str) -> Vec<u8> {
    let mut out = Header::request(cmd::REPORT_SERVER_ID, ID_LEN as u64)
        .encode()
        .to_vec();
    put_fixed(&mut out, id, ID_LEN);
    out
}

/// What a FastDFS answer to a step means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Done,
    /// Send this instead (the peer lacks the file).
    Resend(Step),
    Failed(u8),
}

pub(crate) fn answer(step: &Step, st: u8) -> Answer {
    match (st, step) {
        (status::OK, _) => Answer::Done,
        (status::ENOENT, Step::Delete { .. }) => Answer::Done,
        (status::EEXIST, s) if !matches!(s, Step::Delete { .. }) => Answer::Done,
        (status::ENOENT, s) => match s.whole_instead() {
            Some(whole) => Answer::Resend(whole),
            None => Answer::Failed(st),
        },
        _ => Answer::Failed(st),
    }
}

/// One connection's worth of pushing to a FastDFS peer; returns only on
/// error.
pub(super) async fn session(w: &mut Worker) -> anyhow::Result<()> {
    let addr = {
        let p = w.peer.borrow();
        format!("{}:{}", p.member.ip, p.member.port)
    };
    let timeout = w.ctx.cfg.network_timeout;
    let mut stream = tokio::time::timeout(timeout, connect_from(&addr, w.ctx.cfg.source_ip()))
        .await
        .context("connect timed out")?
        .with_context(|| format!("connect to {addr}"))?;
    let _ = stream.set_nodelay(true);
    let id = own_id(w);
    exchange(&mut stream, &report_server_id(&id), None, timeout)
        .await
        .context("REPORT_SERVER_ID")?
        .map_err(|st| anyhow::anyhow!("REPORT_SERVER_ID answered {}", status::name(st)))?;
    w.answered();
    let mut binlog = w.ctx.binlog.watch();
    let mut last_talk = Instant::now();
    let mut reader = None;
    loop {
        w.restart_if_chosen().await;
        let end = *binlog.borrow_and_update();
        let entries = read_binlog(&w.ctx, &mut reader, w.mark.pos, end, BATCH_BYTES).await?;
        if entries.is_empty() {
            if w.mark.full_copy {
                w.full_copy_sent().await;
            }
            if last_talk.elapsed() >= w.ctx.cfg.heart_beat_interval {
                // As FastDFS's sync thread: an idle connection is tested
                // once per heartbeat interval, so a dead peer is noticed.
                let test = Header::request(cmd::ACTIVE_TEST, 0).encode();
                exchange(&mut stream, &test, None, timeout)
                    .await
                    .context("ACTIVE_TEST")?
                    .map_err(|st| anyhow::anyhow!("ACTIVE_TEST answered {}", status::name(st)))?;
                last_talk = Instant::now();
            }
            w.idle().await;
            tokio::select! {
                r = binlog.changed() => r.context("binlog closed")?,
                _ = tokio::time::sleep(IDLE_PROGRESS) => {}
                r = w.peer.changed() => r.context("peer gone")?,
            }
            continue;
        }
        for e in entries {
            if let Some(r) = &e.record {
                if should_push(&w.mark, r) {
                    if let Some(step) = Step::of(r) {
                        push(w, &mut stream, step, r.ts).await?;
                        last_talk = Instant::now();
                    }
                }
            }
            w.advance(e.next).await;
        }
    }
}

/// The id FastDFS peers know us by: our storage id as the trackers list
/// it, which is our IP unless the cluster uses storage ids.
fn own_id(w: &Worker) -> String {
    let me = w.ctx.cfg.ip.to_string();
    w.ctx
        .members
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|m| m.ip == me && !m.id.is_empty())
        .map(|m| m.id.clone())
        .unwrap_or(me)
}

/// Sends one record's step (and the whole file if the peer lacked what
/// it changes) and takes the answer.
async fn push(w: &mut Worker, stream: &mut TcpStream, step: Step, ts: i64) -> anyhow::Result<()> {
    let mut step = step;
    loop {
        let Some(st) = send_step(w, stream, &step, ts).await? else {
            return Ok(());
        };
        w.answered();
        match answer(&step, st) {
            Answer::Done => return Ok(()),
            Answer::Resend(whole) => {
                tracing::info!(
                    "sync to {}: the peer lacks {}; sending it whole",
                    w.key,
                    step.name()
                );
                step = whole;
            }
            Answer::Failed(_) => {
                anyhow::bail!("{} answered {}", step.name(), status::name(st))
            }
        }
    }
}

/// Sends `step` if the local file calls for it, as FastDFS's sender
/// decides: nothing for a file gone since (its delete follows), a delete
/// of a file that exists again, or a change past the end of our copy.
/// Returns the peer's status, `None` when nothing was sent.
async fn send_step(
    w: &Worker,
    stream: &mut TcpStream,
    step: &Step,
    ts: i64,
) -> anyhow::Result<Option<u8>> {
    let path = match LogicalName::parse(step.name())
        .ok()
        .and_then(|n| w.ctx.store.data_path(&n))
    {
        Some(p) => p,
        None => return Ok(None),
    };
    let group = &w.ctx.cfg.group_name;
    let timeout = w.ctx.cfg.network_timeout;
    let r = match step {
        Step::Delete { .. } => {
            if exists(&path).await? {
                return Ok(None);
            }
            exchange(stream, &step.head(ts, group, 0), None, timeout).await
        }
        Step::Truncate { .. } | Step::Rename { .. } => {
            if !exists(&path).await? {
                return Ok(None);
            }
            exchange(stream, &step.head(ts, group, 0), None, timeout).await
        }
        Step::Whole { .. } => {
            let Some(mut f) = open(&path).await? else {
                return Ok(None);
            };
            let size = f.metadata().await?.len();
            let head = step.head(ts, group, size);
            let t = timeout + Duration::from_secs(size >> 24);
            exchange(stream, &head, Some((&mut f, size)), t).await
        }
        Step::Range { offset, length, .. } => {
            let Some(mut f) = open(&path).await? else {
                return Ok(None);
            };
            if f.metadata().await?.len() < offset.saturating_add(*length) {
                return Ok(None);
            }
            f.seek(SeekFrom::Start(*offset)).await?;
            let head = step.head(ts, group, *length);
            let t = timeout + Duration::from_secs(length >> 24);
            exchange(stream, &head, Some((&mut f, *length)), t).await
        }
    };
    match r.with_context(|| format!("sync of {}", step.name()))? {
        Ok(()) => Ok(Some(status::OK)),
        Err(st) => Ok(Some(st)),
    }
}

async fn exists(path: &Path) -> std::io::Result<bool> {
    tokio::fs::try_exists(path).await
}

async fn open(path: &Path) -> std::io::Result<Option<tokio::fs::File>> {
    match tokio::fs::File::open(path).await {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a request (`head`, then `n` bytes of `content` streamed from
/// the file) and reads its header-only answer, within `timeout`. The
/// outer error is the connection's; the inner one FastDFS's status.
async fn exchange(
    stream: &mut TcpStream,
    head: &[u8],
    content: Option<(&mut tokio::fs::File, u64)>,
    timeout: Duration,
) -> anyhow::Result<Result<(), u8>> {
    let io = async {
        match content {
            Some((f, n)) if n <= INLINE => {
                let mut frame = Vec::with_capacity(head.len() + n as usize);
                frame.extend_from_slice(head);
                let read = f.take(n).read_to_end(&mut frame).await?;
                anyhow::ensure!(read as u64 == n, "file shrank while being sent");
                stream.write_all(&frame).await?;
            }
            Some((f, n)) => {
                stream.write_all(head).await?;
                let copied = tokio::io::copy(&mut f.take(n), stream).await?;
                anyhow::ensure!(copied == n, "file shrank while being sent");
            }
            None => stream.write_all(head).await?,
        }
        match read_response_header(stream, 0).await {
            Ok(_) => Ok(Ok(())),
            Err(ProtoError::Status(st)) => Ok(Err(st)),
            Err(e) => Err(e.into()),
        }
    };
    tokio::time::timeout(timeout, io)
        .await
        .context("peer did not answer in time")?
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "M00/00/00/wKgBAWZ0aBCAJ8VwAAAABQ2Y5ZQ123.txt";
    const OLD: &str = "M00/00/00/wKgBAWZ0aBCEAAAAAAAAAAAAAAA123.txt";

    fn rec(op: Op, replica: bool) -> Record {
        Record {
            ts: 1_700_000_000,
            op,
            replica,
            name: NAME.into(),
        }
    }

    /// `len(8) + cmd + status`, as FastDFS's TrackerHeader.
    fn header(cmd: u8, len: u64) -> Vec<u8> {
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(&[cmd, 0]);
        b
    }

    fn group() -> Vec<u8> {
        let mut g = b"group1".to_vec();
        g.resize(16, 0);
        g
    }

    const TS: [u8; 4] = 1_700_000_000i32.to_be_bytes();

    #[test]
    fn report_server_id_is_a_16_byte_nul_padded_id() {
        let mut want = header(9, 16);
        want.extend_from_slice(b"10.0.0.1\0\0\0\0\0\0\0\0");
        assert_eq!(report_server_id("10.0.0.1"), want);
    }

    #[test]
    fn a_create_is_name_len_size_timestamp_group_name_then_content() {
        let step = Step::of(&rec(Op::Create, false)).unwrap();
        let head = step.head(1_700_000_000, "group1", 5);
        let mut want = header(16, 8 + 8 + 4 + 16 + NAME.len() as u64 + 5);
        want.extend_from_slice(&(NAME.len() as u64).to_be_bytes());
        want.extend_from_slice(&5u64.to_be_bytes());
        want.extend_from_slice(&TS);
        want.extend_from_slice(&group());
        want.extend_from_slice(NAME.as_bytes());
        assert_eq!(head, want);
        let update = Step::of(&rec(Op::Update, false)).unwrap();
        assert_eq!(update.head(1_700_000_000, "group1", 5)[8], 18);
    }

    #[test]
    fn a_delete_is_timestamp_group_then_the_name() {
        let step = Step::of(&rec(Op::Delete, false)).unwrap();
        let mut want = header(17, 4 + 16 + NAME.len() as u64);
        want.extend_from_slice(&TS);
        want.extend_from_slice(&group());
        want.extend_from_slice(NAME.as_bytes());
        assert_eq!(step.head(1_700_000_000, "group1", 0), want);
    }

    #[test]
    fn appends_modifies_and_truncates_carry_two_numbers_after_the_name_length() {
        for (op, command) in [
            (
                Op::Append {
                    offset: 5,
                    length: 6,
                },
                25,
            ),
            (
                Op::Modify {
                    offset: 5,
                    length: 6,
                },
                35,
            ),
            (
                Op::Truncate {
                    old_size: 5,
                    new_size: 6,
                },
                37,
            ),
        ] {
            let step = Step::of(&rec(op, false)).unwrap();
            let content = if command == 37 { 0 } else { 6 };
            let mut want = header(command, 8 * 3 + 4 + 16 + NAME.len() as u64 + content);
            for n in [NAME.len() as u64, 5, 6] {
                want.extend_from_slice(&n.to_be_bytes());
            }
            want.extend_from_slice(&TS);
            want.extend_from_slice(&group());
            want.extend_from_slice(NAME.as_bytes());
            assert_eq!(
                step.head(1_700_000_000, "group1", content),
                want,
                "cmd {command}"
            );
        }
    }

    #[test]
    fn a_rename_names_the_new_file_then_the_old() {
        let step = Step::of(&rec(Op::Rename { from: OLD.into() }, false)).unwrap();
        let mut want = header(40, 8 + 8 + 4 + 16 + (NAME.len() + OLD.len()) as u64);
        want.extend_from_slice(&(NAME.len() as u64).to_be_bytes());
        want.extend_from_slice(&(OLD.len() as u64).to_be_bytes());
        want.extend_from_slice(&TS);
        want.extend_from_slice(&group());
        want.extend_from_slice(NAME.as_bytes());
        want.extend_from_slice(OLD.as_bytes());
        assert_eq!(step.head(1_700_000_000, "group1", 0), want);
    }

    #[test]
    fn what_the_receiving_storage_parses_is_what_was_sent() {
        let cases = [
            (Op::Create, 5),
            (Op::Delete, 0),
            (
                Op::Append {
                    offset: 5,
                    length: 6,
                },
                6,
            ),
            (
                Op::Truncate {
                    old_size: 9,
                    new_size: 2,
                },
                0,
            ),
            (Op::Rename { from: OLD.into() }, 0),
        ];
        for (op, content) in cases {
            let step = Step::of(&rec(op.clone(), false)).unwrap();
            let frame = step.head(1_700_000_000, "group1", content);
            let command = frame[8];
            let body = &frame[10..];
            let fixed_len = super::super::fastdfs::fixed_len(command).unwrap();
            let (fixed, names) = body.split_at(fixed_len);
            let push = super::super::fastdfs::parse(command, true, fixed, names, content).unwrap();
            assert_eq!(push.group, "group1");
            assert_eq!(push.record, rec(op, true), "cmd {command}");
        }
    }

    #[test]
    fn replica_changes_in_place_are_never_forwarded_and_a_replica_rename_goes_whole() {
        let append = Op::Append {
            offset: 0,
            length: 1,
        };
        assert_eq!(Step::of(&rec(append, true)), None);
        let trunc = Op::Truncate {
            old_size: 1,
            new_size: 0,
        };
        assert_eq!(Step::of(&rec(trunc, true)), None);
        assert_eq!(
            Step::of(&rec(Op::Rename { from: OLD.into() }, true)),
            Some(Step::Whole {
                cmd: cmd::SYNC_CREATE_FILE,
                name: NAME.into()
            })
        );
        assert_eq!(
            Step::of(&rec(Op::Create, true)),
            Some(Step::Whole {
                cmd: cmd::SYNC_CREATE_FILE,
                name: NAME.into()
            }),
            "a full copy carries replica creates"
        );
    }

    #[test]
    fn fastdfs_answers_are_taken_as_fastdfs_takes_them() {
        let create = Step::of(&rec(Op::Create, false)).unwrap();
        let delete = Step::of(&rec(Op::Delete, false)).unwrap();
        let append = Step::of(&rec(
            Op::Append {
                offset: 5,
                length: 6,
            },
            false,
        ))
        .unwrap();
        let rename = Step::of(&rec(Op::Rename { from: OLD.into() }, false)).unwrap();
        assert_eq!(answer(&create, status::EEXIST), Answer::Done);
        assert_eq!(answer(&delete, status::ENOENT), Answer::Done);
        assert_eq!(answer(&append, status::EEXIST), Answer::Done);
        assert_eq!(
            answer(&append, status::ENOENT),
            Answer::Resend(Step::Whole {
                cmd: cmd::SYNC_UPDATE_FILE,
                name: NAME.into()
            })
        );
        assert_eq!(
            answer(&rename, status::ENOENT),
            Answer::Resend(Step::Whole {
                cmd: cmd::SYNC_CREATE_FILE,
                name: NAME.into()
            })
        );
        assert_eq!(answer(&create, status::ENOENT), Answer::Failed(2));
        assert_eq!(answer(&delete, status::EEXIST), Answer::Failed(17));
        assert_eq!(answer(&create, status::EACCES), Answer::Failed(13));
    }
}
