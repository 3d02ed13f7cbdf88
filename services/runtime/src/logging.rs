//! The daemons' log: `tracing` lines to stderr, written by a thread of
//! their own. A write to stderr blocks when its reader (a terminal,
//! journald, `docker logs`, a pipe) is slow; done on a runtime or proxy
//! thread it would stall every request that thread serves, and on the
//! edge the access line of every request went that way.
//!
//! Lines are queued for the writer thread (up to [`QUEUED_LINES`]); when
//! the reader falls that far behind, further lines are dropped rather
//! than stalling the daemon, and their count is reported once the queue
//! drains (and at exit).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

/// Lines waiting for the writer thread before new ones are dropped.
pub const QUEUED_LINES: usize = 64 * 1024;

/// Keeps the writer thread; dropping it writes what is still queued.
/// Hold it until the daemon exits.
pub struct LogGuard {
    _worker: WorkerGuard,
    dropped: ErrorCounter,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let n = self.dropped.dropped_lines();
        if n > 0 {
            eprintln!("{n} log lines were dropped: stderr's reader fell behind");
        }
    }
}

/// Installs the `tracing` subscriber (`RUST_LOG` filters, default
/// `info`; colours only on a terminal, never into journald, `docker
/// logs` or a file). `None` when one was installed already.
pub fn init() -> Option<LogGuard> {
    let (writer, worker) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(true)
        .thread_name("log-writer")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .ok()?;
    start_drop_reports(dropped.clone());
    Some(LogGuard {
        _worker: worker,
        dropped,
    })
}

/// Says once per minute how many lines were dropped since the last report.
fn start_drop_reports(dropped: ErrorCounter) {
    static REPORTED: AtomicUsize = AtomicUsize::new(0);
    let _ = std::thread::Builder::new()
        .name("log-drops".into())
        .spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
            let now = dropped.dropped_lines();
            let before = REPORTED.swap(now, Ordering::Relaxed);
            if now > before {
                tracing::warn!(
                    "{} log lines dropped in the last minute: stderr's reader fell behind",
                    now - before
                );
            }
        });
}
