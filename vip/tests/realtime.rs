//! keepalived's `vrrp_rt_priority` / `vrrp_no_swap`: run as root the daemon
//! schedules its threads SCHED_RR and locks its memory; `realtime = false`
//! leaves it an ordinary process. One node in a network namespace this test
//! creates (root required; skipped otherwise unless
//! FERRODFS_VIP_NETNS_REQUIRED=1).

mod support;

use support::{netns_available, Net};

/// Each thread of `pid` with its scheduling policy, SCHED_RESET_ON_FORK
/// masked off.
fn thread_policies(pid: u32) -> Vec<(i32, i32)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("list the daemon's threads")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(|tid: i32| {
            // SAFETY: sched_getscheduler only reads the thread's policy.
            let p = unsafe { libc::sched_getscheduler(tid) };
            (p >= 0).then_some((tid, p & !libc::SCHED_RESET_ON_FORK))
        })
        .collect()
}

/// The "Max realtime timeout" soft and hard limits of `pid`, as written
/// in /proc/<pid>/limits (microseconds or "unlimited").
fn rttime_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max realtime timeout"))
        .expect("Max realtime timeout in /proc/<pid>/limits");
    let mut v = line.split_whitespace();
    (v.next().unwrap().into(), v.next().unwrap().into())
}

/// VmLck of `pid`, in kB.
fn locked_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmLck in /proc/<pid>/status")
}

#[test]
fn daemon_run_as_root_is_scheduled_round_robin_and_locked_in_memory() {
    if !netns_available(&[]) {
        return;
    }
    let net = Net::new(1);
    let vip = net.start_vip(0, 150, 0.1, "");
    // Set up before the router starts, so done once it holds the VIP.
    net.wait_sole_holder(0, &[0], support::SETTLE);
    let pid = vip.lock().unwrap().pid();
    let threads = thread_policies(pid);
    assert!(
        !threads.is_empty() && threads.iter().all(|&(_, p)| p == libc::SCHED_RR),
        "threads (tid, policy) of the daemon: {threads:?}; SCHED_RR is {}",
        libc::SCHED_RR
    );
    assert!(locked_kb(pid) > 0, "no memory locked");
    assert_eq!(
        rttime_limits(pid),
        ("10000".into(), "10000".into()),
        "RLIMIT_RTTIME at keepalived's default"
    );
}

#[test]
fn rlimit_rttime_is_configurable_and_0_lifts_it() {
    if !netns_available(&[]) {
        return;
    }
    let net = Net::new(1);
    let vip = net.start_vip(0, 150, 0.1, "rlimit_rttime = 50000");
    net.wait_sole_holder(0, &[0], support::SETTLE);
    let pid = vip.lock().unwrap().pid();
    assert_eq!(rttime_limits(pid), ("50000".into(), "50000".into()));
    drop(vip);
    let net = Net::new(1);
    let vip = net.start_vip(0, 150, 0.1, "rlimit_rttime = 0");
    net.wait_sole_holder(0, &[0], support::SETTLE);
    let pid = vip.lock().unwrap().pid();
    assert_eq!(rttime_limits(pid).0, "unlimited");
}

#[test]
fn realtime_false_leaves_the_daemon_an_ordinary_process() {
    if !netns_available(&[]) {
        return;
    }
    let net = Net::new(1);
    let vip = net.start_vip(0, 150, 0.1, "realtime = false");
    net.wait_sole_holder(0, &[0], support::SETTLE);
    let pid = vip.lock().unwrap().pid();
    let threads = thread_policies(pid);
    assert!(
        threads.iter().all(|&(_, p)| p == libc::SCHED_OTHER),
        "threads (tid, policy) of the daemon: {threads:?}"
    );
    assert_eq!(locked_kb(pid), 0);
    assert_eq!(
        rttime_limits(pid).0,
        "unlimited",
        "no cap without real-time"
    );
}
