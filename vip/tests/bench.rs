//! Client-visible outage when the master goes away, keepalived against
//! `ferrodfs vip`. Ignored by default (about two minutes); run it with
//! `tests/vip/bench-failover.sh`, which prints the table.
//!
//! A crash is `kill -9` of the master's daemon plus its bridge port going
//! down, so the dead node can no longer answer for the address it leaves
//! configured. A graceful stop is SIGTERM. The client requests the VIP
//! every 20 ms; the outage is the longest time between two answers.

mod support;

use std::time::Duration;

use support::{netns_available, Net};

const A: usize = 0;
const B: usize = 1;
const CLIENT: usize = 2;

#[derive(Clone, Copy, PartialEq)]
enum Daemon {
    Keepalived,
    Ferrodfs,
}

#[derive(Clone, Copy, PartialEq)]
enum Stop {
    Crash,
    Graceful,
}

fn outage(daemon: Daemon, advert_int: f64, stop: Stop) -> Duration {
    let net = Net::new(3);
    net.responder(A);
    net.responder(B);
    let start = |i: usize, prio: u8| match daemon {
        Daemon::Keepalived => net.start_keepalived(i, prio, advert_int),
        Daemon::Ferrodfs => net.start_vip(i, prio, advert_int, ""),
    };
    let master = start(A, 150);
    start(B, 100);
    net.wait_sole_holder(A, &[A, B], Duration::from_secs(10));
    // Past the client's ARP lock time, so gratuitous ARPs are honoured.
    std::thread::sleep(Duration::from_millis(1200));
    let prober = net.prober(CLIENT);
    std::thread::sleep(Duration::from_millis(500));
    match stop {
        Stop::Crash => {
            master.lock().unwrap().signal(libc::SIGKILL);
            net.cut(A);
        }
        Stop::Graceful => master.lock().unwrap().signal_leader(libc::SIGTERM),
    }
    net.wait_for(Duration::from_secs(10), || net.holds_vip(B))
        .expect("backup takes over");
    std::thread::sleep(Duration::from_millis(800));
    let probes = prober.finish();
    assert_eq!(
        probes.last_answer(),
        Some("node1"),
        "client ends on the backup"
    );
    probes.outage()
}

#[test]
#[ignore = "benchmark: run tests/vip/bench-failover.sh"]
fn failover_outage_benchmark() {
    if !netns_available(&["keepalived"]) {
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let cases = [
        ("keepalived", Daemon::Keepalived, 1.0, Stop::Crash),
        ("ferrodfs vip", Daemon::Ferrodfs, 1.0, Stop::Crash),
        ("keepalived", Daemon::Keepalived, 0.1, Stop::Crash),
        ("ferrodfs vip", Daemon::Ferrodfs, 0.1, Stop::Crash),
        ("keepalived", Daemon::Keepalived, 1.0, Stop::Graceful),
        ("ferrodfs vip", Daemon::Ferrodfs, 1.0, Stop::Graceful),
        ("ferrodfs vip", Daemon::Ferrodfs, 0.1, Stop::Graceful),
    ];
    println!(
        "\n{runs} runs each; outage = longest gap between answers, client probing every 20 ms"
    );
    println!(
        "{:<14} {:>7} {:<9} {:>9} {:>9} {:>9}",
        "daemon", "advert", "stop", "min ms", "median ms", "max ms"
    );
    for (name, daemon, advert, stop) in cases {
        let mut ms: Vec<u128> = (0..runs)
            .map(|_| outage(daemon, advert, stop).as_millis())
            .collect();
        ms.sort();
        println!(
            "{:<14} {:>6}s {:<9} {:>9} {:>9} {:>9}",
            name,
            advert,
            if stop == Stop::Crash {
                "kill -9"
            } else {
                "SIGTERM"
            },
            ms[0],
            ms[ms.len() / 2],
            ms[ms.len() - 1]
        );
    }
}
