//! The daemons' log: `tracing` lines to stderr, written by a thread of
//! their own. A write to stderr blocks when its reader (a terminal,
//! journald, `docker logs`, a pipe) is slow; done on a runtime or proxy
//! thread it would stall every request that thread serves, and on the
//! edge the access line of every request went that way.
//!
//! Lines are appended to one shared buffer (up to [`QUEUED_BYTES`]) and
//! the writer thread takes the whole buffer at once, at most every
//! [`BATCH_WINDOW`] (a line after a quiet spell at once): under load one
//! `write(2)` and one wake-up carry hundreds of lines, instead of one of
//! each per line. When the reader
//! falls behind and the buffer is full, further lines are dropped rather
//! than stalling the daemon; their count is reported once a minute and at
//! exit.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Bytes of lines waiting for the writer thread before new ones are
/// dropped (some 40,000 access lines).
pub const QUEUED_BYTES: usize = 8 << 20;

/// The least time between two writes: lines arriving within it of the
/// last write gather for the next; the most a line waits in memory while
/// its reader keeps up.
pub const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// How long an exiting daemon waits for its last lines to be written.
const FINAL_WRITE: Duration = Duration::from_secs(1);

struct Queue {
    state: Mutex<Pending>,
    arrived: Condvar,
    dropped: AtomicUsize,
    limit: usize,
}

struct Pending {
    lines: Vec<u8>,
    closing: bool,
}

/// The `MakeWriter` handed to the subscriber: each event's line goes into
/// the shared buffer in one piece.
#[derive(Clone)]
pub struct LineWriter {
    queue: Arc<Queue>,
}

impl LineWriter {
    /// Lines dropped so far because the buffer was full.
    pub fn dropped_lines(&self) -> usize {
        self.queue.dropped.load(Ordering::Relaxed)
    }
}

impl LineWriter {
    /// Queues one whole line (or several), or counts it dropped when the
    /// buffer is full.
    pub fn push_line(&self, line: &[u8]) {
        let q = &self.queue;
        let mut p = q.state.lock().unwrap_or_else(|e| e.into_inner());
        if p.closing || p.lines.len() + line.len() > q.limit {
            drop(p);
            q.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let first = p.lines.is_empty();
        p.lines.extend_from_slice(line);
        drop(p);
        // Only the first line of a batch wakes the writer; the rest ride along.
        if first {
            q.arrived.notify_one();
        }
    }
}

impl Write for LineWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.push_line(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LineWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        self.clone()
    }
}

/// The writer thread; [`Worker::finish`] (or dropping it) writes what is
/// still queued and stops it.
pub struct Worker {
    queue: Arc<Queue>,
    /// Closed by the writer thread when it has written everything.
    done: Option<mpsc::Receiver<()>>,
}

impl Worker {
    /// True when everything queued was written; false when the sink
    /// was still blocked after `wait` (the thread is then left behind).
    pub fn finish(mut self, wait: Duration) -> bool {
        self.stop(wait)
    }

    fn stop(&mut self, wait: Duration) -> bool {
        {
            let mut p = self.queue.state.lock().unwrap_or_else(|e| e.into_inner());
            p.closing = true;
        }
        self.queue.arrived.notify_one();
        // A reader that stopped reading must not keep the daemon from
        // exiting: wait a bounded time for the last lines, then go.
        match self.done.take() {
            Some(done) => matches!(
                done.recv_timeout(wait),
                Err(mpsc::RecvTimeoutError::Disconnected)
            ),
            None => true,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop(FINAL_WRITE);
    }
}

/// A writer whose lines reach `sink` from a thread of its own, in batches,
/// holding at most `limit` bytes while `sink` is slow.
pub fn batched<W: Write + Send + 'static>(sink: W, limit: usize) -> (LineWriter, Worker) {
    let queue = Arc::new(Queue {
        state: Mutex::new(Pending {
            lines: Vec::new(),
            closing: false,
        }),
        arrived: Condvar::new(),
        dropped: AtomicUsize::new(0),
        limit,
    });
    let q = queue.clone();
    let (finished, done) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            write_batches(&q, sink);
            drop(finished);
        })
        .expect("spawn the log writer thread");
    (
        LineWriter {
            queue: queue.clone(),
        },
        Worker {
            queue,
            done: Some(done),
        },
    )
}

fn write_batches<W: Write>(q: &Queue, mut sink: W) {
    let mut batch = Vec::new();
    let mut last_write = Instant::now() - BATCH_WINDOW;
    loop {
        let mut p = q.state.lock().unwrap_or_else(|e| e.into_inner());
        while p.lines.is_empty() && !p.closing {
            p = q.arrived.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        if p.lines.is_empty() {
            return; // closing, and everything is written
        }
        // A line after a quiet spell goes out at once (it may be the last
        // before an exit); while lines keep coming, they gather until
        // BATCH_WINDOW after the last write.
        let since = last_write.elapsed();
        if !p.closing && since < BATCH_WINDOW {
            drop(p);
            std::thread::sleep(BATCH_WINDOW - since);
            p = q.state.lock().unwrap_or_else(|e| e.into_inner());
        }
        std::mem::swap(&mut p.lines, &mut batch);
        drop(p);
        // A failed write (stderr closed) loses this batch, not the daemon.
        let _ = sink.write_all(&batch).and_then(|()| sink.flush());
        last_write = Instant::now();
        batch.clear();
        // Don't keep a burst's worth of memory for good.
        if batch.capacity() > 1 << 20 {
            batch = Vec::new();
        }
    }
}

/// Keeps the writer thread; dropping it writes what is still queued.
/// Hold it until the daemon exits.
pub struct LogGuard {
    worker: Option<Worker>,
    writer: LineWriter,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let written = self.worker.take().is_none_or(|w| w.finish(FINAL_WRITE));
        let n = self.writer.dropped_lines();
        // With the writer still stuck in stderr (it holds stderr's lock),
        // this line would block the exit it is meant to explain.
        if n > 0 && written {
            eprintln!("{n} log lines were dropped: stderr's reader fell behind");
        }
    }
}

/// The log [`init`] installed, for lines formatted by hand, when they look
/// the same as the subscriber's (no colours).
static PLAIN: OnceLock<LineWriter> = OnceLock::new();

/// Writes an INFO line of `target` whose text after `target: ` `text`
/// appends, formatted here as the subscriber formats its lines, into the
/// same buffer, in order with every other line: for hot paths, where
/// tracing's formatter cost three times as much. False (nothing written)
/// unless [`init`] installed the log of this process and writes it
/// without colours: the caller then logs through `tracing`. The caller
/// asks tracing's filter first either way (`tracing::enabled!`).
pub fn info_line(target: &str, text: impl FnOnce(&mut Vec<u8>)) -> bool {
    use std::cell::RefCell;
    thread_local! {
        static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let Some(lines) = PLAIN.get() else {
        return false;
    };
    LINE.with_borrow_mut(|line| {
        line.clear();
        push_timestamp(line);
        line.extend_from_slice(b"  INFO ");
        line.extend_from_slice(target.as_bytes());
        line.extend_from_slice(b": ");
        text(line);
        line.push(b'\n');
        lines.push_line(line);
    });
    true
}

/// Appends the time as the subscriber's lines begin with it, UTC with
/// microseconds: `2026-11-30T19:08:54.280957Z`. The date and time of day
/// are worked out once a second per thread.
fn push_timestamp(out: &mut Vec<u8>) {
    use std::cell::Cell;
    thread_local! {
        static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        text = civil_time(secs);
        SECOND.set((secs, text));
    }
    out.extend_from_slice(&text);
    let micros = now.subsec_micros();
    let mut frac = *b".000000Z";
    let mut m = micros;
    for d in frac[1..7].iter_mut().rev() {
        *d = b'0' + (m % 10) as u8;
        m /= 10;
    }
    out.extend_from_slice(&frac);
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix time (proleptic Gregorian calendar,
/// days to a date by the usual era arithmetic).
fn civil_time(secs: u64) -> [u8; 19] {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut t = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            t[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year.clamp(0, 9999) as u64);
    put(5, 2, month as u64);
    put(8, 2, day as u64);
    put(11, 2, rem / 3600);
    put(14, 2, rem / 60 % 60);
    put(17, 2, rem % 60);
    t
}

/// Installs the `tracing` subscriber (`RUST_LOG` filters, default
/// `info`; colours only on a terminal, never into journald, `docker
/// logs` or a file). `None` when one was installed already.
pub fn init() -> Option<LogGuard> {
    let (writer, worker) = batched(std::io::stderr(), QUEUED_BYTES);
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(writer.clone())
        .with_ansi(ansi)
        .try_init()
        .ok()?;
    if !ansi {
        let _ = PLAIN.set(writer.clone());
    }
    start_drop_reports(writer.clone());
    Some(LogGuard {
        worker: Some(worker),
        writer,
    })
}

/// Says once per minute how many lines were dropped since the last report.
fn start_drop_reports(writer: LineWriter) {
    static REPORTED: AtomicUsize = AtomicUsize::new(0);
    let _ = std::thread::Builder::new()
        .name("log-drops".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(60));
            let now = writer.dropped_lines();
            let before = REPORTED.swap(now, Ordering::Relaxed);
            if now > before {
                tracing::warn!(
                    "{} log lines dropped in the last minute: stderr's reader fell behind",
                    now - before
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A sink that records what reached it, and can be held stalled.
    #[derive(Clone, Default)]
    struct Sink {
        got: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicUsize>,
        gate: Arc<Mutex<()>>,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let _open = self.gate.lock().unwrap();
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.got.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_and_a_burst_takes_few_writes() {
        let sink = Sink::default();
        let (w, worker) = batched(sink.clone(), 1 << 20);
        // Two threads log at once; each one's lines must come out whole
        // and in its order.
        let producers: Vec<_> = (0..2)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        w.make_writer()
                            .write_all(
                                format!("thread {t} line {i} {}\n", "x".repeat(i % 50)).as_bytes(),
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        assert!(
            worker.finish(Duration::from_secs(30)),
            "the writer finished"
        );
        let got = String::from_utf8(sink.got.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 2];
        for line in got.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let (t, i): (usize, usize) = (f[1].parse().unwrap(), f[3].parse().unwrap());
            assert_eq!(
                i, next[t],
                "thread {t}'s lines out of order or cut: {line:?}"
            );
            assert_eq!(
                f.get(4).copied().unwrap_or(""),
                "x".repeat(i % 50),
                "{line:?}"
            );
            next[t] += 1;
        }
        assert_eq!(next, [1000, 1000], "every line arrived");
        let writes = sink.writes.load(Ordering::SeqCst);
        assert!(writes < 200, "2000 lines took {writes} writes");
        assert_eq!(w.dropped_lines(), 0);
    }

    #[test]
    fn a_line_reaches_the_sink_without_waiting_for_more() {
        let sink = Sink::default();
        let (w, _worker) = batched(sink.clone(), 1 << 20);
        w.make_writer().write_all(b"alone\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.got.lock().unwrap().as_slice() != b"alone\n" {
            assert!(Instant::now() < deadline, "a lone line was never written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_stalled_sink_never_blocks_a_writer_and_what_overflows_is_counted() {
        let sink = Sink::default();
        let stalled = sink.gate.lock().unwrap();
        let (w, worker) = batched(sink.clone(), 1000);
        // The writer thread takes a first batch and blocks in the sink.
        w.make_writer().write_all(b"first\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !w.queue.state.lock().unwrap().lines.is_empty() {
            assert!(Instant::now() < deadline, "the first batch was never taken");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (done_tx, done) = mpsc::channel();
        let w2 = w.clone();
        std::thread::spawn(move || {
            for i in 0..10_000 {
                w2.make_writer()
                    .write_all(format!("{i:08}\n").as_bytes())
                    .unwrap();
            }
            done_tx.send(()).unwrap();
        });
        done.recv_timeout(Duration::from_secs(30))
            .expect("writing lines blocked on a stalled sink");
        // Nor does it keep the daemon from exiting.
        let other = Sink {
            gate: sink.gate.clone(),
            ..Sink::default()
        };
        let (w3, worker3) = batched(other, 1000);
        w3.make_writer().write_all(b"never written\n").unwrap();
        let (finished_tx, finished) = mpsc::channel();
        std::thread::spawn(move || {
            finished_tx
                .send(worker3.finish(Duration::from_millis(100)))
                .unwrap()
        });
        let written = finished
            .recv_timeout(Duration::from_secs(30))
            .expect("finish waited for a stalled sink");
        assert!(!written, "a stalled sink's lines were reported written");
        // 1000 bytes hold 111 lines of 9; the rest were dropped and counted.
        assert_eq!(w.dropped_lines(), 10_000 - 111);
        drop(stalled);
        assert!(
            worker.finish(Duration::from_secs(30)),
            "the writer finished"
        );
        let got = String::from_utf8(sink.got.lock().unwrap().clone()).unwrap();
        let expected: String = std::iter::once("first\n".to_string())
            .chain((0..111).map(|i| format!("{i:08}\n")))
            .collect();
        assert_eq!(got, expected, "what was kept is written, in order");
    }

    #[test]
    fn timestamps_are_the_calendar_time_in_utc() {
        for (secs, want) in [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (951_868_799, "2000-02-29T23:59:59"),
            (1_796_063_334, "2026-11-30T18:28:54"),
            (4_107_542_400, "2100-03-01T00:00:00"),
            (253_402_300_799, "9999-12-31T23:59:59"),
        ] {
            assert_eq!(std::str::from_utf8(&civil_time(secs)).unwrap(), want);
        }
        let mut out = Vec::new();
        push_timestamp(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.len(), 27, "{text}");
        assert!(text.ends_with('Z') && text.as_bytes()[19] == b'.', "{text}");
    }
}
