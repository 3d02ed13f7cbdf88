//! The timer that counts the replication lag ([`crate::replication::lag`])
//! off the runtime threads and sets the gauges.

use std::sync::Arc;
use std::time::Duration;

use ferrodfs_runtime::Shutdown;

use crate::ctx::Ctx;

/// Longest wait between two counts.
const MAX_PERIOD: Duration = Duration::from_secs(1);

/// Counts the lag every heartbeat (at most every second) until shutdown
/// and sets the gauges.
pub(crate) async fn run(ctx: Arc<Ctx>, mut shutdown: Shutdown) {
    let period = ctx.cfg.heart_beat_interval.min(MAX_PERIOD);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let c = ctx.clone();
        let counted = tokio::task::spawn_blocking(move || {
            c.repl.lag.count(
                c.binlog.dir(),
                *c.binlog.watch().borrow(),
                crate::clock::unix_now(),
            )
        })
        .await;
        match counted {
            Ok(Ok((lag, gone))) => ctx.stats.set_sync_lag(&lag, &gone),
            Ok(Err(e)) => tracing::warn!("cannot count the replication lag: {e}"),
            Err(e) => tracing::warn!("replication lag count failed: {e}"),
        }
    }
}
