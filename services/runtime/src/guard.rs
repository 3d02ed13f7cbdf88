//! What bounds a listening port: who may connect at all (FastDFS's
//! `allow_hosts`) and how many connections are open at once (FastDFS's
//! `max_connections`). Both are checked before a connection costs a task.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ipnet::IpNet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Networks allowed to connect; `None` allows everyone (`"*"`, the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowHosts(Option<Vec<IpNet>>);

impl AllowHosts {
    /// `["*"]` or an empty list: everyone. Otherwise addresses
    /// (`"10.0.0.5"`) and networks (`"10.0.0.0/24"`). The error names the
    /// entry; the caller adds the key.
    pub fn parse(items: &[String]) -> Result<AllowHosts, String> {
        if items.is_empty() || items.iter().any(|i| i.trim() == "*") {
            return Ok(AllowHosts(None));
        }
        let mut nets = Vec::with_capacity(items.len());
        for item in items {
            let item = item.trim();
            let net = match item.parse::<IpNet>() {
                Ok(n) => n,
                Err(_) => item.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    format!("{item:?} is not an address or network (e.g. \"10.0.0.0/24\" or \"*\")")
                })?,
            };
            nets.push(net);
        }
        Ok(AllowHosts(Some(nets)))
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match &self.0 {
            None => true,
            Some(nets) => nets.iter().any(|n| n.contains(&ip)),
        }
    }
}

/// At most `max` connections at once on one port. The accept loop takes
/// a permit before it accepts, so a flood waits in the kernel's backlog
/// instead of exhausting file descriptors; the first wait of each
/// episode is logged.
#[derive(Clone)]
pub struct ConnLimit {
    permits: Arc<Semaphore>,
    max: usize,
    what: &'static str,
    full: Arc<AtomicBool>,
}

impl ConnLimit {
    pub fn new(what: &'static str, max: usize) -> ConnLimit {
        ConnLimit {
            permits: Arc::new(Semaphore::new(max)),
            max,
            what,
            full: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A permit for one connection; held until the connection ends.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            if self.full.swap(false, Ordering::Relaxed) {
                tracing::info!("{}: below max_connections ({}) again", self.what, self.max);
            }
            return p;
        }
        if !self.full.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "{}: max_connections ({}) reached: new connections wait until one closes",
                self.what,
                self.max
            );
        }
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Connections open now.
    pub fn in_use(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(items: &[&str]) -> AllowHosts {
        AllowHosts::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn star_and_empty_allow_everyone() {
        assert!(allow(&["*"]).allows("203.0.113.9".parse().unwrap()));
        assert!(allow(&[]).allows("::1".parse().unwrap()));
    }

    #[test]
    fn networks_and_addresses_allow_only_their_hosts() {
        let a = allow(&["10.0.0.0/24", "192.168.1.7"]);
        assert!(a.allows("10.0.0.200".parse().unwrap()));
        assert!(a.allows("192.168.1.7".parse().unwrap()));
        assert!(a.allows("::ffff:10.0.0.3".parse().unwrap()), "v4-mapped");
        assert!(!a.allows("10.0.1.1".parse().unwrap()));
        assert!(!a.allows("192.168.1.8".parse().unwrap()));
    }

    #[test]
    fn a_bad_entry_is_named() {
        let e = AllowHosts::parse(&["10.0.0.0/24".into(), "10.0.0.[1-5]".into()]).unwrap_err();
        assert!(e.contains("\"10.0.0.[1-5]\""), "{e}");
    }

    #[tokio::test]
    async fn permits_bound_open_connections() {
        let l = ConnLimit::new("test", 2);
        let a = l.acquire().await;
        let _b = l.acquire().await;
        assert_eq!(l.in_use(), 2);
        let third = tokio::spawn({
            let l = l.clone();
            async move { l.acquire().await }
        });
        tokio::task::yield_now().await;
        assert!(!third.is_finished());
        drop(a);
        let _c = tokio::time::timeout(std::time::Duration::from_secs(10), third)
            .await
            .expect("a closed connection frees a permit")
            .unwrap();
        assert_eq!(l.in_use(), 2);
    }
}
