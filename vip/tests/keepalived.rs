//! Interoperability with keepalived (the Debian package, `vrrp_version 3`)
//! in the same virtual router, in network namespaces this test creates.
//! Skipped without root or keepalived unless FERRODFS_VIP_NETNS_REQUIRED=1.

mod support;

use std::time::Duration;

use support::{metric, netns_available, Net};

const K: usize = 0;
const F: usize = 1;
const CLIENT: usize = 2;
const LBS: &[usize] = &[K, F];

fn reaches(net: &Net, node: &str) -> bool {
    net.wait_for(Duration::from_secs(2), || {
        net.get_vip(CLIENT).as_deref() == Some(node)
    })
    .is_some()
}

#[test]
fn keepalived_and_ferrodfs_vip_fail_over_to_each_other_both_ways() {
    if !netns_available(&["keepalived"]) {
        return;
    }
    let net = Net::new(3);
    net.responder(K);
    net.responder(F);

    // keepalived master, ferrodfs vip backup: our backup accepts
    // keepalived's adverts (no drops), and takes over when it dies.
    let k = net.start_keepalived(K, 150, 0.2);
    let f = net.start_vip(F, 100, 0.2, "");
    net.wait_sole_holder(K, LBS, Duration::from_secs(4));
    assert!(reaches(&net, "node0"));
    std::thread::sleep(Duration::from_millis(500));
    let m = net.metrics(F);
    assert!(
        metric(&m, "vrrp_adverts_received_total", &[]) > Some(0.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "vrrp_adverts_dropped_total", &[("reason", "checksum")]),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, "vrrp_state", &[]),
        Some(1.0),
        "ferrodfs is BACKUP"
    );

    k.lock().unwrap().signal(libc::SIGKILL);
    net.wait_for(Duration::from_secs(3), || net.holds_vip(F))
        .expect("ferrodfs vip takes over from a dead keepalived");
    assert!(reaches(&net, "node1"));

    // keepalived returns with a lower priority: it must hear our adverts
    // and stay backup; if it could not parse them it would turn master.
    let k = net.start_keepalived(K, 50, 0.2);
    std::thread::sleep(Duration::from_secs(3));
    assert!(net.holds_vip(F));
    assert!(
        net.wait_for(Duration::from_secs(2), || !net.holds_vip(K))
            .is_some(),
        "keepalived stays BACKUP under a ferrodfs master"
    );
    let klog = std::fs::read_to_string(&k.lock().unwrap().log).unwrap();
    assert!(klog.contains("Entering BACKUP STATE"), "{klog}");
    assert!(!klog.contains("Entering MASTER STATE"), "{klog}");

    // ferrodfs master dies: keepalived takes over.
    f.lock().unwrap().signal(libc::SIGKILL);
    net.wait_for(Duration::from_secs(3), || net.holds_vip(K))
        .expect("keepalived takes over from a dead ferrodfs vip");
    assert!(reaches(&net, "node0"));
}
