//! One shutdown signal fanned out to every task of a daemon.

use tokio::sync::watch;

/// Cloneable handle: `wait()` resolves once shutdown was requested.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending half; dropping it also counts as a shutdown request.
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }

    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|v| *v).await;
    }
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
    }
}

/// A `Shutdown` that fires on SIGTERM/SIGINT.
pub fn on_signal() -> Shutdown {
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(async move {
        signal().await;
        trigger.trigger();
    });
    shutdown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let (t, s) = Shutdown::new();
        let mut a = s.clone();
        let mut b = s;
        assert!(!a.is_requested());
        t.trigger();
        a.wait().await;
        b.wait().await;
        assert!(b.is_requested());
    }

    #[tokio::test]
    async fn dropping_the_trigger_releases_waiters() {
        let (t, mut s) = Shutdown::new();
        drop(t);
        s.wait().await;
    }
}
