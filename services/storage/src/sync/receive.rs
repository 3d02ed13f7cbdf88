//! A peer's stream of pushes (SYNC_PUSH) on one authenticated
//! connection. The sender writes frames ahead of their replies; here each
//! frame, in arrival order, first locks the files its record changes,
//! then its content is read and the record applied on a task of its own,
//! so up to [`WINDOW`] records are written and logged at once. Two records
//! of one file are applied in their order (the later one waits for the
//! earlier one's lock), records of different files in any order.
//!
//! Replies, and the sender's progress they carry
//! ([`Ctx::sync_received`]), go out in frame order, each only once its
//! record and every earlier one are applied and logged: the sender's mark,
//! which moves on a reply, never passes a change this member lacks.
//!
//! A peer that connects again supersedes its older connection: that one
//! stops reading at its next frame and finishes what it started, so
//! records still queued on it cannot land after the ones the new
//! connection sends again.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ferrodfs_proto::cmd;
use ferrodfs_proto::header::Header;
use ferrodfs_proto::io::read_header;
use ferrodfs_proto::status;
use ferrodfs_proto::sync::PushHeader;
use ferrodfs_runtime::Shutdown;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::apply;
use crate::ctx::Ctx;
use crate::error::Error;
use crate::replication::sessions::{superseded, Turn};
use crate::request::Request;

/// Records applied at once per connection.
const WINDOW: usize = 32;
/// Contents up to this size are read whole and applied on their own
/// task; a larger one is streamed to disk before the next frame is read.
const SMALL_CONTENT: u64 = 1 << 20;
/// Content bytes held in memory at once per connection.
const BUDGET: u32 = 8 << 20;
/// After a refused push, unread content up to this size is skipped so
/// the stream goes on; a larger one ends the connection.
const DRAIN_LIMIT: u64 = 64 << 20;

/// A frame read whose reply is not sent yet.
struct Pending {
    /// The push's header once it was accepted, for the progress it reports.
    head: Option<PushHeader>,
    work: Work,
    bytes_in: u64,
}

enum Work {
    Done(Result<u64, Error>),
    Applying(JoinHandle<Result<u64, Error>>),
}

/// Serves `peer`'s pushes, starting with the one whose header is
/// `first`, until the connection ends, a newer one of the peer replaces
/// it, or shutdown.
pub(crate) async fn serve(
    ctx: &Arc<Ctx>,
    stream: &mut TcpStream,
    first: Header,
    peer: SocketAddr,
    shutdown: &mut Shutdown,
) {
    let budget = Arc::new(Semaphore::new(BUDGET as usize));
    let mut queue: VecDeque<Pending> = VecDeque::new();
    let mut turn: Option<Turn> = None;
    let mut next = Some(first);
    loop {
        let header = match next.take() {
            Some(h) => h,
            None => {
                // Between frames: answer what is applied, and wait for
                // either the next frame or the oldest record in flight.
                if reply_done(ctx, stream, &mut queue).await.is_err() {
                    return;
                }
                if queue.len() >= WINDOW {
                    oldest_applied(&mut queue).await;
                    continue;
                }
                let mut probe = [0u8; 1];
                let more = tokio::select! {
                    biased;
                    _ = shutdown.wait() => false,
                    _ = superseded(&mut turn) => false,
                    _ = oldest_applied(&mut queue), if !queue.is_empty() => continue,
                    r = stream.peek(&mut probe) => matches!(r, Ok(n) if n > 0),
                };
                if !more {
                    return finish(ctx, stream, queue).await;
                }
                let read = read_header(stream, i64::MAX as u64);
                match tokio::time::timeout(ctx.cfg.network_timeout, read).await {
                    Ok(Ok(Some(h))) => h,
                    Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
                        tracing::debug!("{peer}: sync push stream ended without a whole header");
                        return finish(ctx, stream, queue).await;
                    }
                }
            }
        };
        if header.cmd != cmd::SYNC_PUSH {
            // A push connection carries nothing else (QUIT included):
            // answer what came before and close.
            return finish(ctx, stream, queue).await;
        }
        let mut req = Request::new(stream, header, ctx.cfg.network_timeout);
        let (pending, go_on) = frame(ctx, &mut req, peer.ip(), &mut turn, &budget).await;
        let bytes_in = req.bytes_in;
        queue.push_back(Pending {
            bytes_in,
            ..pending
        });
        if !go_on {
            return finish(ctx, stream, queue).await;
        }
    }
}

/// Reads one frame and starts applying its record. `false`: the
/// connection cannot go on (it failed, or a refused frame's content is
/// too large to skip).
async fn frame(
    ctx: &Arc<Ctx>,
    req: &mut Request<'_>,
    peer: IpAddr,
    turn: &mut Option<Turn>,
    budget: &Arc<Semaphore>,
) -> (Pending, bool) {
    match start(ctx, req, peer, turn, budget).await {
        Ok((head, work)) => (
            Pending {
                head,
                work,
                bytes_in: 0,
            },
            true,
        ),
        Err(e) => {
            let go_on = match e {
                Error::Conn(_) => false,
                _ if req.remaining() == 0 => true,
                _ => req.remaining() <= DRAIN_LIMIT && req.drain().await.is_ok(),
            };
            let refused = Pending {
                head: None,
                work: Work::Done(Err(e)),
                bytes_in: 0,
            };
            (refused, go_on)
        }
    }
}

/// The accepted header of one push and its record's application, under
/// way on its own task or (large content) done.
async fn start(
    ctx: &Arc<Ctx>,
    req: &mut Request<'_>,
    peer: IpAddr,
    turn: &mut Option<Turn>,
    budget: &Arc<Semaphore>,
) -> Result<(Option<PushHeader>, Work), Error> {
    let (head, rec) = apply::read_head(ctx, req, peer).await?;
    if turn.is_none() {
        *turn = Some(ctx.sync_sessions.join(peer).await);
    }
    let Some(rec) = rec else {
        if req.remaining() > 0 {
            return Err(Error::Invalid("sync push with content but no record"));
        }
        return Ok((Some(head), Work::Done(Ok(0))));
    };
    let guards = apply::lock(ctx, &rec).await?;
    let len = req.remaining();
    if len > SMALL_CONTENT {
        let r = apply::apply_locked(ctx, req, &rec).await;
        drop(guards);
        return Ok((Some(head), Work::Done(r)));
    }
    let permit = budget
        .clone()
        .acquire_many_owned(len as u32)
        .await
        .map_err(|_| Error::Task("the push budget closed"))?;
    let bytes = req.read(len).await?;
    let task_ctx = ctx.clone();
    let applying = tokio::spawn(async move {
        let _held = (guards, permit);
        apply::apply_bytes(&task_ctx, &rec, bytes).await
    });
    Ok((Some(head), Work::Applying(applying)))
}

/// Waits until the oldest record in flight is applied; `true` once it is
/// (cancel-safe: the result is kept in the queue).
async fn oldest_applied(queue: &mut VecDeque<Pending>) -> bool {
    let Some(p) = queue
        .iter_mut()
        .find(|p| matches!(p.work, Work::Applying(_)))
    else {
        return !queue.is_empty();
    };
    if let Work::Applying(h) = &mut p.work {
        let r = h
            .await
            .unwrap_or_else(|_| Err(Error::Task("applying a synced change")));
        p.work = Work::Done(r);
    }
    true
}

/// Replies to the frames at the front of the queue whose records (and
/// every earlier one) are applied; `Err` once the connection failed.
async fn reply_done(
    ctx: &Ctx,
    stream: &mut TcpStream,
    queue: &mut VecDeque<Pending>,
) -> Result<(), Error> {
    while let Some(p) = queue.front_mut() {
        if let Work::Applying(h) = &mut p.work {
            if !h.is_finished() {
                break;
            }
            let r = h
                .await
                .unwrap_or_else(|_| Err(Error::Task("applying a synced change")));
            p.work = Work::Done(r);
        }
        let p = queue.pop_front().expect("front");
        let Work::Done(r) = p.work else {
            unreachable!("applied above")
        };
        reply(ctx, stream, p.head, r, p.bytes_in).await?;
    }
    Ok(())
}

/// Waits for every record still in flight and answers as long as the
/// connection takes it.
async fn finish(ctx: &Ctx, stream: &mut TcpStream, mut queue: VecDeque<Pending>) {
    let mut open = true;
    while let Some(p) = queue.pop_front() {
        let r = match p.work {
            Work::Done(r) => r,
            Work::Applying(h) => h
                .await
                .unwrap_or_else(|_| Err(Error::Task("applying a synced change"))),
        };
        if open {
            open = reply(ctx, stream, p.head, r, p.bytes_in).await.is_ok();
        }
    }
}

/// Answers one frame: the sender's progress is taken in only once its
/// record is applied.
async fn reply(
    ctx: &Ctx,
    stream: &mut TcpStream,
    head: Option<PushHeader>,
    r: Result<u64, Error>,
    bytes_in: u64,
) -> Result<(), Error> {
    let st = match &r {
        Ok(_) => {
            if let Some(head) = &head {
                ctx.sync_received(head);
            }
            status::OK
        }
        Err(e) => {
            let st = e.status();
            if matches!(e, Error::Conn(_)) {
                tracing::debug!("sync push connection lost: {e}");
            } else if st == status::EIO {
                tracing::error!("sync push from {:?} failed: {e}", head.map(|h| h.from));
            } else {
                tracing::debug!("sync push refused: {}: {e}", status::name(st));
            }
            st
        }
    };
    ctx.stats
        .record(cmd::SYNC_PUSH, st, *r.as_ref().unwrap_or(&0), bytes_in, 0);
    let answer = ferrodfs_proto::io::send(&mut *stream, Header::response(st, 0), &[]);
    match tokio::time::timeout(ctx.cfg.network_timeout, answer).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::Conn(std::io::Error::other(e))),
        Err(_) => Err(Error::Conn(std::io::ErrorKind::TimedOut.into())),
    }
}
