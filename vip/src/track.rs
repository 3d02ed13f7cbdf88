//! Health tracking like keepalived's `track_script`: probes of the local lb,
//! rise/fall debouncing, and the effective priority they imply. The
//! debouncing and priority arithmetic are pure; the probes run as tasks.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::config::{Probe, Track};
use crate::state::OWNER_PRIORITY;

/// Debounced health of one check: `fall` failures in a row make it
/// unhealthy, `rise` successes in a row make it healthy again. A check
/// starts healthy, as keepalived's do without `init_fail`.
#[derive(Debug, Clone)]
pub struct Health {
    rise: u32,
    fall: u32,
    healthy: bool,
    streak: u32,
}

impl Health {
    pub fn new(rise: u32, fall: u32) -> Health {
        Health {
            rise,
            fall,
            healthy: true,
            streak: 0,
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Records one probe result; returns the new verdict when it flips.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        if ok == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.healthy { self.fall } else { self.rise };
        if self.streak >= needed {
            self.healthy = ok;
            self.streak = 0;
            Some(ok)
        } else {
            None
        }
    }
}

/// Priority and fault flag implied by the checks: a positive weight adds
/// while healthy, a negative one subtracts while failed, weight 0 faults
/// while failed. Results stay in 1..=254; the address owner keeps 255.
pub fn effective_priority(base: u8, checks: &[(i32, bool)]) -> (u8, bool) {
    let fault = checks.iter().any(|&(w, ok)| w == 0 && !ok);
    if base == OWNER_PRIORITY {
        return (base, fault);
    }
    let delta: i32 = checks
        .iter()
        .map(|&(w, ok)| match (w > 0, ok) {
            (true, true) => w,
            (false, false) => w,
            _ => 0,
        })
        .sum();
    ((base as i32 + delta).clamp(1, 254) as u8, fault)
}

/// Whether an HTTP status line (`HTTP/1.1 200 OK`) reports success.
pub fn status_is_success(line: &str) -> bool {
    let mut parts = line.split_whitespace();
    parts.next().is_some_and(|v| v.starts_with("HTTP/"))
        && parts
            .next()
            .and_then(|c| c.parse::<u16>().ok())
            .is_some_and(|c| (200..300).contains(&c))
}

/// Runs one probe: a 2xx answer, or exit status 0, within `timeout`.
pub async fn probe_once(probe: &Probe, timeout: Duration) -> bool {
    let attempt = async {
        match probe {
            Probe::Http { addr, host, path } => http_probe(addr, host, path).await,
            Probe::Script(cmd) => tokio::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .is_ok_and(|s| s.success()),
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(false)
}

async fn http_probe(addr: &str, host: &str, path: &str) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 4096 {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let line = String::from_utf8_lossy(&buf);
    status_is_success(line.lines().next().unwrap_or(""))
}

/// Starts one task per check; each sends `(index, ok)` after every probe.
pub fn spawn_probes(tracks: &[Track], tx: mpsc::Sender<(usize, bool)>) {
    for (i, t) in tracks.iter().cloned().enumerate() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(t.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let ok = probe_once(&t.probe, t.timeout).await;
                if tx.send((i, ok)).await.is_err() {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_fails_only_after_fall_consecutive_failures() {
        let mut h = Health::new(2, 3);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(true), None, "a success resets the streak");
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), Some(false));
        assert!(!h.healthy());
    }

    #[test]
    fn check_recovers_after_rise_consecutive_successes() {
        let mut h = Health::new(2, 1);
        assert_eq!(h.observe(false), Some(false));
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(true));
    }

    #[test]
    fn negative_weight_subtracts_while_failed() {
        assert_eq!(effective_priority(100, &[(-60, true)]), (100, false));
        assert_eq!(effective_priority(100, &[(-60, false)]), (40, false));
    }

    #[test]
    fn positive_weight_adds_while_healthy() {
        assert_eq!(effective_priority(100, &[(20, true)]), (120, false));
        assert_eq!(effective_priority(100, &[(20, false)]), (100, false));
    }

    #[test]
    fn priority_is_clamped_to_the_valid_range() {
        assert_eq!(effective_priority(10, &[(-100, false)]).0, 1);
        assert_eq!(effective_priority(250, &[(100, true)]).0, 254);
    }

    #[test]
    fn zero_weight_failure_means_fault() {
        assert_eq!(effective_priority(100, &[(0, false)]), (100, true));
        assert_eq!(effective_priority(100, &[(0, true)]), (100, false));
    }

    #[test]
    fn address_owner_keeps_255() {
        assert_eq!(effective_priority(255, &[(-50, false)]), (255, false));
    }

    #[test]
    fn only_2xx_status_lines_are_healthy() {
        assert!(status_is_success("HTTP/1.1 200 OK"));
        assert!(status_is_success("HTTP/1.0 204 No Content"));
        assert!(!status_is_success("HTTP/1.1 503 Service Unavailable"));
        assert!(!status_is_success("garbage"));
        assert!(!status_is_success(""));
    }

    #[tokio::test]
    async fn script_probe_reports_exit_status() {
        let t = Duration::from_secs(5);
        assert!(probe_once(&Probe::Script("true".into()), t).await);
        assert!(!probe_once(&Probe::Script("exit 3".into()), t).await);
    }

    #[tokio::test]
    async fn script_probe_that_hangs_fails_at_the_timeout() {
        let p = Probe::Script("sleep 5".into());
        let start = std::time::Instant::now();
        assert!(!probe_once(&p, Duration::from_millis(100)).await);
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn http_probe_reads_the_status_line() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for status in ["200 OK", "503 Unavailable"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let probe = crate::config::parse_http_url(&format!("http://{addr}/health")).unwrap();
        let t = Duration::from_secs(5);
        assert!(probe_once(&probe, t).await);
        assert!(!probe_once(&probe, t).await);
        assert!(!probe_once(&probe, t).await, "connection refused");
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_status_line_is_judged(line in ".{0,60}") {
            if status_is_success(&line) {
                prop_assert!(line.trim_start().starts_with("HTTP/"));
            }
        }

        #[test]
        fn exactly_the_2xx_lines_are_healthy(
            minor in 0u8..2,
            code in 100u16..600,
            reason in "[ -~]{0,20}",
        ) {
            let line = format!("HTTP/1.{minor} {code} {reason}");
            prop_assert_eq!(status_is_success(&line), (200..300).contains(&code));
        }
    }
}
