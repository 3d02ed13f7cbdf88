//! Adding and removing the virtual addresses through rtnetlink, the same
//! kernel interface `ip addr` uses, without spawning it.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context;
use futures::TryStreamExt;
use rtnetlink::Handle;

const EEXIST: i32 = 17;
const EADDRNOTAVAIL: i32 = 99;

/// A netlink connection plus the interface it manages.
#[derive(Clone)]
pub struct Addresses {
    handle: Handle,
    ifindex: u32,
}

impl Addresses {
    /// Opens the netlink socket; its I/O runs as a background task.
    pub fn open(ifindex: u32) -> anyhow::Result<Addresses> {
        let (conn, handle, _) = rtnetlink::new_connection().context("netlink socket")?;
        tokio::spawn(conn);
        Ok(Addresses { handle, ifindex })
    }

    /// Adds `ip/prefix`; already present counts as success.
    pub async fn add(&self, ip: Ipv4Addr, prefix: u8) -> anyhow::Result<()> {
        match self
            .handle
            .address()
            .add(self.ifindex, IpAddr::V4(ip), prefix)
            .execute()
            .await
        {
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code().abs() == EEXIST => Ok(()),
            r => r.with_context(|| format!("add address {ip}/{prefix}")),
        }
    }

    /// Removes `ip` from the interface; absent counts as success.
    pub async fn remove(&self, ip: Ipv4Addr) -> anyhow::Result<()> {
        let mut found = self
            .handle
            .address()
            .get()
            .set_link_index_filter(self.ifindex)
            .set_address_filter(IpAddr::V4(ip))
            .execute();
        while let Some(msg) = found.try_next().await.context("list addresses")? {
            match self.handle.address().del(msg).execute().await {
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code().abs() == EADDRNOTAVAIL => {}
                r => r.with_context(|| format!("remove address {ip}"))?,
            }
        }
        Ok(())
    }
}
