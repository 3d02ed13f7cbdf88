//! Daemons stalled the way a busy host stalls a process (SIGSTOP, then
//! SIGCONT), two `ferrodfs vip` daemons on one bridged segment in network
//! namespaces this test creates (root required; skipped otherwise unless
//! FERRODFS_VIP_NETNS_REQUIRED=1). Node 0 and 1 are LB nodes, node 2 is
//! the client.

mod support;

use std::time::{Duration, Instant};

use support::{lbs_and_client, metric, Net};

const A: usize = 0;
const B: usize = 1;
const CLIENT: usize = 2;
const LBS: &[usize] = &[A, B];

/// 0.1 s adverts: a priority-100 backup's Master_Down_Interval is 0.36 s,
/// well inside the 1 s pause.
const ADVERT_INT: f64 = 0.1;
const PAUSE: Duration = Duration::from_secs(1);

type Daemon = std::sync::Arc<std::sync::Mutex<support::Proc>>;

/// Master A, then backup B once A holds the VIP, so B has never won an
/// election when the test starts (started together, either may win the
/// first one: both start as backup). Returns when B hears A.
fn master_then_backup(net: &Net) -> (Daemon, Daemon) {
    let a = net.start_vip(A, 150, ADVERT_INT, "");
    net.wait_sole_holder(A, LBS, support::SETTLE);
    let b = net.start_vip(B, 100, ADVERT_INT, "");
    let hears_master = |m: &str| {
        metric(m, "vrrp_state", &[]) == Some(1.0)
            && metric(m, "vrrp_adverts_received_total", &[]) > Some(0.0)
    };
    net.wait_for(Duration::from_secs(3), || {
        net.try_metrics(B).is_some_and(|m| hears_master(&m))
    })
    .expect("the backup hears the master");
    (a, b)
}

fn counter(net: &Net, node: usize, name: &str, labels: &[(&str, &str)]) -> f64 {
    let m = net.metrics(node);
    metric(&m, name, labels).unwrap_or_else(|| panic!("node {node} exports no {name}:\n{m}"))
}

#[test]
fn paused_backup_reads_the_queued_adverts_before_its_expired_timer_and_stays_backup() {
    let Some(net) = lbs_and_client() else { return };
    let (_, b) = master_then_backup(&net);
    let masters_before = counter(&net, B, "vrrp_transitions_total", &[("to", "MASTER")]);
    let received = |n: &Net| counter(n, B, "vrrp_adverts_received_total", &[]);

    // Whether the wake-up delivers the expired timer alone or together with
    // the socket's readiness (then the runtime picks either first) varies
    // from one stall to the next; five stalls catch a wrong order surely.
    for stall in 1..=5 {
        let before = received(&net);
        // The master keeps advertising all along; its adverts queue up on
        // the stopped backup's socket.
        b.lock().unwrap().signal(libc::SIGSTOP);
        std::thread::sleep(PAUSE);
        b.lock().unwrap().signal(libc::SIGCONT);

        // The ~10 adverts queued during the pause and a live one or two:
        // the backup has acted on its expired timer by then.
        net.wait_for(Duration::from_secs(10), || received(&net) >= before + 12.0)
            .expect("the resumed backup reads adverts again");
        let m = net.metrics(B);
        assert_eq!(
            metric(&m, "vrrp_transitions_total", &[("to", "MASTER")]),
            Some(masters_before),
            "stall {stall}: the paused backup took over although the master never \
             stopped advertising:\n{m}"
        );
        assert_eq!(metric(&m, "vrrp_state", &[]), Some(1.0), "BACKUP");
    }
    assert_eq!(net.holders(LBS), vec![A]);
    assert_eq!(
        counter(&net, A, "vrrp_transitions_total", &[("to", "MASTER")]),
        1.0,
        "the master never lost the VIP"
    );
}

#[test]
fn master_back_from_a_pause_reannounces_the_vip_so_clients_return_at_once() {
    let Some(net) = lbs_and_client() else { return };
    assert!(
        !net.forwards(B),
        "node 1 forwards: a client on its MAC would be routed to node 0"
    );
    let (a, _) = master_then_backup(&net);
    // The harness configures 5 gratuitous ARPs on becoming MASTER; ones
    // still pending at the pause would go out on resume and hide the fault.
    net.wait_for(Duration::from_secs(3), || {
        counter(&net, A, "vrrp_garp_sent_total", &[]) >= 5.0
    })
    .expect("the master's takeover announcements are all sent");
    net.wait_for(Duration::from_secs(3), || {
        net.get_vip(CLIENT).as_deref() == Some("node0")
    })
    .expect("the client reaches the master");

    // Long enough for the backup to take over and its gratuitous ARPs to
    // move the client: the paused master then has a rival to out-announce.
    a.lock().unwrap().signal(libc::SIGSTOP);
    let moved = net.wait_for(Duration::from_secs(5), || {
        net.get_vip(CLIENT).as_deref() == Some("node1")
    });
    a.lock().unwrap().signal(libc::SIGCONT);
    moved.expect("the backup takes over from the paused master");
    let resumed = Instant::now();

    net.wait_sole_holder(A, LBS, support::SETTLE);
    let back = net.wait_for(Duration::from_secs(3), || {
        net.get_vip(CLIENT).as_deref() == Some("node0")
    });
    eprintln!(
        "client back on node0 {:?} after the master resumed",
        back.map(|_| resumed.elapsed())
    );
    assert!(
        back.is_some(),
        "3 s after the master resumed the client still sends to node1's MAC: \
         the master did not re-announce the VIP"
    );
    assert_eq!(
        counter(&net, A, "vrrp_transitions_total", &[("to", "BACKUP")]),
        1.0,
        "the master stayed MASTER (its one BACKUP entry is the startup one)"
    );
}

#[test]
fn a_new_master_sends_a_second_burst_of_gratuitous_arps_after_garp_master_delay() {
    let Some(net) = lbs_and_client() else { return };
    net.start_vip(A, 150, ADVERT_INT, "garp_master_delay = 0.5");
    net.wait_sole_holder(A, LBS, support::SETTLE);
    // garp_master_repeat = 5 for the one VIP, twice.
    net.wait_for(Duration::from_secs(5), || {
        counter(&net, A, "vrrp_garp_sent_total", &[]) == 10.0
    })
    .unwrap_or_else(|| {
        panic!(
            "gratuitous ARPs sent: {} (want 5 on takeover and 5 more 0.5 s later)",
            counter(&net, A, "vrrp_garp_sent_total", &[])
        )
    });
    assert_eq!(
        counter(&net, A, "vrrp_transitions_total", &[("to", "MASTER")]),
        1.0
    );
}
