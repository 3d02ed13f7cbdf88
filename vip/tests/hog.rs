//! A busy host: both LB nodes' daemons run while CPU hogs keep every core
//! busy, on a segment whose nodes do not forward (a normal LB host), the
//! case where a false failover strands clients on the wrong MAC. Network
//! namespaces this test creates (root required; skipped otherwise unless
//! FERRODFS_VIP_NETNS_REQUIRED=1). The in-CI test runs 20 s; the benchmark
//! (`tests/vip/bench-cpu-hog.sh`) runs longer and prints a table.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{lbs_and_client, metric, Net};

const A: usize = 0;
const B: usize = 1;
const CLIENT: usize = 2;
const LBS: &[usize] = &[A, B];

/// Busy loops, two per core, at ordinary priority; killed on drop.
struct Hogs(Vec<Child>);

impl Hogs {
    fn start() -> Hogs {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Hogs(
            (0..2 * cores)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .spawn()
                        .expect("start a CPU hog")
                })
                .collect(),
        )
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Daemon {
    /// `ferrodfs vip`, real-time on (its default as root) or off.
    Ferrodfs {
        realtime: bool,
    },
    Keepalived,
}

/// What one run under the hogs saw.
struct Run {
    backup_took_over: f64,
    master_stepped_down: f64,
    probes: usize,
    failed: usize,
    outage: Duration,
}

fn counter(net: &Net, node: usize, name: &str, labels: &[(&str, &str)]) -> f64 {
    let m = net.metrics(node);
    metric(&m, name, labels).unwrap_or_else(|| panic!("node {node} exports no {name}:\n{m}"))
}

/// On a segment from `lbs_and_client`: master A, backup B at `advert_int`, then `secs` under the hogs with a
/// client probing the VIP every 20 ms.
fn under_hogs(net: &Net, daemon: Daemon, advert_int: f64, secs: u64) -> Run {
    let start = |i: usize, prio: u8| match daemon {
        Daemon::Ferrodfs { realtime } => {
            net.start_vip(i, prio, advert_int, &format!("realtime = {realtime}"))
        }
        Daemon::Keepalived => net.start_keepalived(i, prio, advert_int),
    };
    start(A, 150);
    net.wait_sole_holder(A, LBS, Duration::from_secs(5));
    start(B, 100);
    let metrics = daemon != Daemon::Keepalived;
    if metrics {
        net.wait_for(Duration::from_secs(5), || {
            net.try_metrics(B).is_some_and(|m| {
                metric(&m, "vrrp_state", &[]) == Some(1.0)
                    && metric(&m, "vrrp_adverts_received_total", &[]) > Some(0.0)
            })
        })
        .expect("the backup hears the master");
    }
    let base = |n: usize, to: &str| {
        if metrics {
            counter(net, n, "vrrp_transitions_total", &[("to", to)])
        } else {
            0.0
        }
    };
    let (b_master, a_backup) = (base(B, "MASTER"), base(A, "BACKUP"));
    net.wait_for(Duration::from_secs(5), || {
        net.get_vip(CLIENT).as_deref() == Some("node0")
    })
    .expect("the client reaches the master");

    let prober = net.prober(CLIENT);
    let hogs = Hogs::start();
    let until = Instant::now() + Duration::from_secs(secs);
    let mut holders_changed = 0.0;
    while Instant::now() < until {
        if net.holders(LBS) != vec![A] {
            holders_changed += 1.0;
            net.wait_for(Duration::from_secs(10), || net.holders(LBS) == vec![A]);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(hogs);
    let probes = prober.finish();
    let (backup_took_over, master_stepped_down) = if metrics {
        (base(B, "MASTER") - b_master, base(A, "BACKUP") - a_backup)
    } else {
        // keepalived exports no metrics: a takeover shows as the VIP
        // configured somewhere else than on A.
        (holders_changed, holders_changed)
    };
    Run {
        backup_took_over,
        master_stepped_down,
        probes: probes.0.len(),
        failed: probes.0.iter().filter(|(_, r)| r.is_none()).count(),
        outage: probes.outage(),
    }
}

#[test]
fn a_backup_on_a_cpu_hogged_host_never_takes_over_from_a_live_master() {
    let Some(net) = lbs_and_client() else { return };
    assert!(
        !net.forwards(A) && !net.forwards(B),
        "LB nodes must not forward"
    );
    let run = under_hogs(&net, Daemon::Ferrodfs { realtime: true }, 0.1, 20);
    eprintln!(
        "20 s under CPU hogs at 0.1 s adverts: {} of {} probes failed, longest gap {:?}",
        run.failed, run.probes, run.outage
    );
    assert_eq!(
        run.backup_took_over, 0.0,
        "the backup became MASTER while the master was advertising"
    );
    assert_eq!(run.master_stepped_down, 0.0, "the master left MASTER");
    assert_eq!(net.holders(LBS), vec![A]);
}

#[test]
#[ignore = "benchmark: run tests/vip/bench-cpu-hog.sh"]
fn false_failovers_under_cpu_hogs_benchmark() {
    if !support::netns_available(&["keepalived"]) {
        return;
    }
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let cases = [
        (
            "ferrodfs vip, realtime",
            Daemon::Ferrodfs { realtime: true },
            0.1,
        ),
        (
            "ferrodfs vip, no realtime",
            Daemon::Ferrodfs { realtime: false },
            0.1,
        ),
        ("keepalived (defaults)", Daemon::Keepalived, 0.1),
        (
            "ferrodfs vip, realtime",
            Daemon::Ferrodfs { realtime: true },
            1.0,
        ),
        (
            "ferrodfs vip, no realtime",
            Daemon::Ferrodfs { realtime: false },
            1.0,
        ),
    ];
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "\n{secs} s per case, {} CPU hogs on {cores} cores, ip_forward off on the LB nodes, \
         client probing the VIP every 20 ms (100 ms timeout)",
        2 * cores
    );
    println!(
        "{:<26} {:>7} {:>12} {:>12} {:>14} {:>11}",
        "daemon", "advert", "backup->MST", "master->BKP", "failed probes", "longest gap"
    );
    // BENCH_CASES=1,3 runs only those rows (1-based), e.g. one long run.
    let only: Option<Vec<usize>> = std::env::var("BENCH_CASES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    for (i, (name, daemon, advert)) in cases.into_iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&(i + 1))) {
            continue;
        }
        let net = lbs_and_client().expect("network namespaces");
        let r = under_hogs(&net, daemon, advert, secs);
        println!(
            "{:<26} {:>6}s {:>12} {:>12} {:>8}/{:<5} {:>9} ms",
            name,
            advert,
            r.backup_took_over,
            r.master_stepped_down,
            r.failed,
            r.probes,
            r.outage.as_millis()
        );
    }
}
