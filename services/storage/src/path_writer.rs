//! One writer thread per store path for uploads received whole in
//! memory (FastDFS has its disk-writer threads per store path too). It
//! takes every upload queued for its path, places each file (created
//! under its new name, written), logs the batch in ONE binlog write, and
//! answers each upload with its name and binlog position: one trip off
//! the runtime per upload instead of two (blocking pool, then binlog
//! writer), and one binlog write per batch instead of one per file.
//!
//! A crash after a file is placed and before its batch is logged would
//! leave a file no client was told of and no peer will get: each name
//! goes in the store path's placing journal ([`Placing`]) before its
//! file takes it, and start-up removes the ones the binlog lacks.
//!
//! Only for page-cache writes: with `fsync_after_write`, uploads keep
//! running on the blocking pool, where their fsyncs overlap (and share
//! journal commits) instead of queueing behind one thread.

use std::io;
use std::sync::mpsc;
use std::sync::Arc;

use ferrodfs_proto::file_id::{FileInfo, LogicalName, Source};

use crate::binlog::{copy_err, Appender, Op, Pos, Record};
use crate::error::Error;
use crate::hold::Placing;
use crate::store::{Journal, Store};

/// Builds a new file's 20-byte name info (called again if a name is taken).
pub(crate) type MakeInfo = Box<dyn Fn(Source, &mut rand::rngs::ThreadRng) -> FileInfo + Send>;

/// Most uploads one pass takes; the rest wait for the next.
const BATCH: usize = 64;

struct Job {
    body: Vec<u8>,
    ext: String,
    make_info: MakeInfo,
    reply: tokio::sync::oneshot::Sender<Result<(LogicalName, Pos), Error>>,
}

/// The writer threads, one per store path; they stop once this is dropped.
pub(crate) struct PathWriters {
    txs: Vec<mpsc::Sender<Job>>,
}

impl PathWriters {
    /// Starts a writer for each of `store`'s `paths` store paths.
    pub fn start(store: Arc<Store>, binlog: Appender, paths: usize) -> io::Result<PathWriters> {
        let mut txs = Vec::with_capacity(paths);
        for idx in 0..paths {
            let (tx, rx) = mpsc::channel();
            let (store, binlog) = (store.clone(), binlog.clone());
            std::thread::Builder::new()
                .name(format!("path-writer-{idx}"))
                .spawn(move || run(idx, &store, &binlog, rx))?;
            txs.push(tx);
        }
        Ok(PathWriters { txs })
    }

    /// Writes `body` as a new file in store path `idx` under a name from
    /// `make_info` and logs it as created: the name and the binlog
    /// position after its record. EBUSY when no free name was found.
    pub async fn write_new(
        &self,
        idx: usize,
        body: Vec<u8>,
        ext: String,
        make_info: MakeInfo,
    ) -> Result<(LogicalName, Pos), Error> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            body,
            ext,
            make_info,
            reply,
        };
        let stopped = || Error::Task("the store path writer stopped");
        self.txs
            .get(idx)
            .ok_or(Error::Invalid("no such store path"))?
            .send(job)
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// The writer of store path `idx`: places what is queued, logs it in one
/// binlog write, answers; stops when the senders are gone.
fn run(idx: usize, store: &Store, binlog: &Appender, rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(BATCH);
    let mut placing: Option<Placing> = None;
    let mut opened = false;
    // Placed, not logged, not removable yet.
    let mut stuck: Vec<LogicalName> = Vec::new();
    while let Ok(first) = rx.recv() {
        // Opened at the first upload, after start-up read what a crash
        // left in it.
        if !opened {
            opened = true;
            placing = match store.store_path(idx).map(Placing::open).transpose() {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(
                        "store path {idx}: no placing journal ({e}): a crash between placing an upload and logging it leaves the file behind"
                    );
                    None
                }
            };
        }
        // Before any new name is taken: a listed name is never reused.
        remove_stuck(store, idx, &mut stuck, false);
        jobs.push(first);
        while jobs.len() < BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // Each name goes in the journal before its file takes it, so a
        // crash before the batch is logged removes what it placed.
        let placed: Vec<Result<LogicalName, Error>> = jobs
            .iter()
            .map(|j| {
                let mut note = placing
                    .as_mut()
                    .map(|p| move |n: Option<&LogicalName>| p.note(n));
                let journal = note.as_mut().map(|f| f as Journal);
                store.write_new_blocking(idx, &j.body, false, journal, &j.ext, &*j.make_info)
            })
            .collect();
        let ts = crate::clock::unix_now();
        let records: Vec<Record> = placed
            .iter()
            .flatten()
            .map(|name| Record {
                ts,
                op: Op::Create,
                replica: false,
                name: name.to_string(),
            })
            .collect();
        let mut logged = match records.is_empty() {
            true => Ok(Vec::new().into_iter()),
            false => binlog.append(&records).map(Vec::into_iter),
        };
        // Unlogged, the files are answered with an error: they go, so no
        // member keeps a file its peers never get. One that cannot be
        // removed stays listed (and is tried again at each batch), so the
        // next start removes it. (Should the binlog fail to cut a failed
        // write back too, records of the batch may stand in it: peers then
        // look for files no client was told of and find none.)
        let mut unlogged = unlogged(&placed, logged.is_ok());
        if !unlogged.is_empty() {
            remove_stuck(store, idx, &mut unlogged, true);
            stuck.append(&mut unlogged);
        }
        if let Some(p) = placing.as_mut() {
            if let Err(e) = p.clear(&stuck) {
                tracing::warn!("store path {idx}: cannot clear the placing journal: {e}");
            }
        }
        for (j, p) in jobs.drain(..).zip(placed) {
            let answer = p.and_then(|name| match &mut logged {
                Ok(positions) => Ok((name, positions.next().expect("a position per record"))),
                Err(e) => {
                    tracing::error!("binlog write failed for {name}: {e}");
                    Err(Error::Binlog(copy_err(e)))
                }
            });
            let _ = j.reply.send(answer);
        }
    }
}

/// The files of a batch that are on disk and will not be logged: every
/// placed one when the batch's binlog write failed (`logged` false), and
/// any whose write failed and whose half could not be removed.
fn unlogged(placed: &[Result<LogicalName, Error>], logged: bool) -> Vec<LogicalName> {
    placed
        .iter()
        .filter_map(|p| match p {
            Ok(name) if !logged => Some(name.clone()),
            Err(Error::LeftBehind { name, .. }) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// Removes the placed but unlogged files in `stuck`; those that cannot be
/// removed stay in it (and are reported with `report`, the first try).
fn remove_stuck(store: &Store, idx: usize, stuck: &mut Vec<LogicalName>, report: bool) {
    let Some(root) = store.store_path(idx).filter(|_| !stuck.is_empty()) else {
        return;
    };
    stuck.retain(|name| match std::fs::remove_file(root.join(name.rel_path())) {
        Ok(()) => false,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => {
            if report {
                tracing::warn!("{name}: placed, not logged, cannot be removed (tried again at each batch): {e}");
            }
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(c: char) -> LogicalName {
        LogicalName::parse(&format!("M00/0A/1F/wKgBh1Xtr9-AeTfWAAVFOL7FJU{c}.txt")).unwrap()
    }

    fn left_behind(n: &LogicalName) -> Result<LogicalName, Error> {
        Err(Error::LeftBehind {
            name: n.clone(),
            write: io::Error::other("EIO"),
            remove: io::Error::other("EROFS"),
        })
    }

    #[test]
    fn a_half_written_file_that_stays_is_kept_for_removal_logged_or_not() {
        let (placed, half, other) = (name('a'), name('b'), name('c'));
        let batch = [
            Ok(placed.clone()),
            left_behind(&half),
            Err(Error::Disk(io::Error::other("EIO"))),
            Err(Error::NoFreeName),
        ];
        assert_eq!(
            unlogged(&batch, true),
            std::slice::from_ref(&half),
            "logged batch"
        );
        assert_eq!(unlogged(&batch, false), [placed, half], "unlogged batch");
        assert!(unlogged(&[Ok(other)], true).is_empty());
    }
}
