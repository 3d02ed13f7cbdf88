//! keepalived's `vrrp_rt_priority` and `vrrp_no_swap`: real-time round-robin
//! scheduling and memory locked in RAM, so a busy or swapping host delays
//! neither the adverts nor the reading of them. Best effort: a refusal
//! (no CAP_SYS_NICE / CAP_IPC_LOCK, e.g. in a container) is logged and the
//! daemon runs on as an ordinary process, at nice -20 where only the
//! real-time budget is missing.

use std::io;

/// SCHED_RR priority: above every ordinary task, below the kernel's
/// threaded interrupt handlers (50).
pub const RT_PRIORITY: i32 = 10;

/// CAP_IPC_LOCK, from linux/capability.h.
const CAP_IPC_LOCK: u32 = 14;

/// Whether the daemon runs as root, where `realtime` defaults on.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Locks the process in memory and moves every thread it has to SCHED_RR,
/// after capping, when `rttime_us` is set, the CPU time a real-time thread
/// may use without blocking (RLIMIT_RTTIME: SIGXCPU at the limit, SIGKILL
/// past it), so a runaway loop at real-time priority stops instead of
/// starving the host. Blocks (mlockall faults in every mapped page): call
/// it off the runtime's threads. Threads started later and child processes
/// (track scripts, notify hooks) stay ordinary: SCHED_RESET_ON_FORK.
pub fn apply(rttime_us: Option<u64>) {
    match lock_memory() {
        Ok(()) => tracing::info!("memory locked (mlockall): the daemon cannot be swapped out"),
        Err(e) => tracing::warn!("memory not locked, the daemon may be swapped out: {e}"),
    }
    if let Some(us) = rttime_us {
        match limit_rttime(us) {
            Ok(()) => tracing::info!(rlimit_rttime_us = us, "real-time CPU time capped"),
            Err(e) => {
                tracing::warn!(
                    "RLIMIT_RTTIME refused, staying an ordinary process \
                     (a real-time thread without it could starve the host): {e}"
                );
                return;
            }
        }
    }
    match round_robin(RT_PRIORITY) {
        Ok(threads) => tracing::info!(
            priority = RT_PRIORITY,
            threads,
            "real-time scheduling (SCHED_RR)"
        ),
        // Refused with CAP_SYS_NICE held: no real-time budget (a container
        // on cgroup v1 with RT group scheduling). The highest ordinary
        // priority still puts the daemon ahead of busy loops on its CPU
        // share (keepalived's `vrrp_priority -20`).
        Err(e) => match highest_nice() {
            Ok(threads) => tracing::warn!(
                nice = HIGHEST_NICE,
                threads,
                "real-time scheduling refused, running at the highest ordinary priority instead: {e}"
            ),
            Err(nice) => tracing::warn!(
                "real-time scheduling refused, running as an ordinary process \
                 (grant CAP_SYS_NICE or set realtime = false): {e}; nice {HIGHEST_NICE} refused too: {nice}"
            ),
        },
    }
}

fn lock_memory() -> io::Result<()> {
    // With MCL_FUTURE every later allocation counts against RLIMIT_MEMLOCK;
    // without CAP_IPC_LOCK a bounded limit would make them fail later, in
    // the middle of a failover, instead of now.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur != libc::RLIM_INFINITY && !has_capability(CAP_IPC_LOCK)? {
        return Err(io::Error::other(format!(
            "no CAP_IPC_LOCK and RLIMIT_MEMLOCK is {} bytes \
             (grant CAP_IPC_LOCK, LimitMEMLOCK=infinity, or set realtime = false)",
            limit.rlim_cur
        )));
    }
    // SAFETY: mlockall has no memory-safety preconditions.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// RLIMIT_RTTIME, soft and hard: past it the kernel kills the process,
/// which its supervisor restarts.
fn limit_rttime(us: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: us as libc::rlim_t,
        rlim_max: us as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets SCHED_RR on each thread in /proc/self/task; the number set.
fn round_robin(priority: i32) -> io::Result<usize> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` outlives the call.
    each_thread(|tid| unsafe {
        libc::sched_setscheduler(tid, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param)
    })
}

/// The nice value of the fallback: the highest ordinary priority.
const HIGHEST_NICE: i32 = -20;

/// Sets nice HIGHEST_NICE on each thread in /proc/self/task (on Linux a
/// nice value is per thread); the number set.
fn highest_nice() -> io::Result<usize> {
    // SAFETY: setpriority takes plain integers. (`which` is a u32 in glibc's
    // prototype and an i32 in musl's, hence the inferred cast.)
    each_thread(|tid| unsafe {
        libc::setpriority(libc::PRIO_PROCESS as _, tid as libc::id_t, HIGHEST_NICE)
    })
}

/// Calls `set` (a libc call: 0 or -1 with errno) for each thread in
/// /proc/self/task; the number it succeeded for. A thread that exited since
/// the listing (ESRCH) is skipped; any other failure is returned.
fn each_thread(set: impl Fn(libc::pid_t) -> libc::c_int) -> io::Result<usize> {
    let mut threads = 0;
    for entry in std::fs::read_dir("/proc/self/task")? {
        let Some(tid) = entry?.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if set(tid) != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ESRCH) {
                continue;
            }
            return Err(e);
        }
        threads += 1;
    }
    Ok(threads)
}

fn has_capability(cap: u32) -> io::Result<bool> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    Ok(effective_caps(&status).is_some_and(|caps| caps & (1 << cap) != 0))
}

/// The `CapEff:` bit set of a /proc/<pid>/status text.
fn effective_caps(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_capabilities_are_read_from_proc_status() {
        let status = "Name:\tferrodfs-vip\nCapPrm:\t0000000000003000\nCapEff:\t0000000000004000\n";
        let caps = effective_caps(status).unwrap();
        assert_ne!(caps & (1 << CAP_IPC_LOCK), 0);
        assert_eq!(caps & (1 << 12), 0, "CapPrm is not CapEff");
        assert_eq!(effective_caps("Name:\tx\n"), None);
    }
}
