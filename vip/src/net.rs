//! The sockets: the raw IP socket that carries advertisements and the
//! packet socket that sends gratuitous ARPs. Thin on purpose: what goes
//! into the packets is decided in `packet`, `arp` and `state`.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use anyhow::Context;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use crate::arp;
use crate::packet::{self, IPPROTO_VRRP, VRRP_GROUP, VRRP_TTL};

/// What the daemon needs to know about its interface.
#[derive(Debug, Clone)]
pub struct Iface {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    /// IPv4 addresses present at start, in kernel order.
    pub ipv4: Vec<Ipv4Addr>,
}

impl Iface {
    pub fn lookup(name: &str) -> anyhow::Result<Iface> {
        let index = nix::net::if_::if_nametoindex(name)
            .with_context(|| format!("interface {name:?} not found"))?;
        let mut mac = None;
        let mut ipv4 = Vec::new();
        for ifa in nix::ifaddrs::getifaddrs().context("getifaddrs")? {
            if ifa.interface_name != name {
                continue;
            }
            let Some(addr) = ifa.address else { continue };
            if let Some(link) = addr.as_link_addr() {
                mac = link.addr();
            } else if let Some(sin) = addr.as_sockaddr_in() {
                ipv4.push(sin.ip());
            }
        }
        Ok(Iface {
            name: name.to_string(),
            index,
            mac: mac.with_context(|| format!("interface {name:?} has no MAC address"))?,
            ipv4,
        })
    }
}

/// Raw socket for IP protocol 112, bound to one interface, joined to
/// 224.0.0.18. Sends whole datagrams (IP_HDRINCL) so TTL and source are
/// exactly what the checksum covered.
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
}

impl VrrpSocket {
    pub fn open(iface: &Iface, src: Ipv4Addr) -> anyhow::Result<VrrpSocket> {
        let s = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(IPPROTO_VRRP as i32)),
        )
        .context("raw socket for IP protocol 112 (needs root or CAP_NET_RAW)")?;
        s.bind_device(Some(iface.name.as_bytes()))
            .with_context(|| format!("bind to interface {}", iface.name))?;
        s.set_header_included_v4(true)?;
        s.set_multicast_loop_v4(false)?;
        s.set_multicast_ttl_v4(VRRP_TTL as u32)?;
        s.set_multicast_if_v4(&src)?;
        s.join_multicast_v4_n(&VRRP_GROUP, &InterfaceIndexOrAddress::Index(iface.index))
            .context("join 224.0.0.18")?;
        s.set_nonblocking(true)?;
        // SAFETY: the Socket owns its descriptor and lives inside the
        // AsyncFd, so the fd stays open and unchanged for its whole life.
        let fd = unsafe { AsyncFd::register(s) }.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(VrrpSocket { fd })
    }

    pub fn send(&self, src: Ipv4Addr, dst: Ipv4Addr, vrrp: &[u8]) -> io::Result<()> {
        let datagram = packet::ipv4_datagram(src, dst, VRRP_TTL, vrrp);
        self.fd
            .get_ref()
            .send_to(&datagram, &SockAddr::from(SocketAddrV4::new(dst, 0)))
            .map(|_| ())
    }

    /// A datagram already queued on the socket, without waiting; None when
    /// the queue is empty. Reads the socket itself, whatever readiness the
    /// runtime has seen: after a stall the wake-up can deliver an expired
    /// timer before the socket's readiness.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.fd.get_ref().read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Next datagram, IP header included.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|s| s.get_ref().read(buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

/// Packet socket for gratuitous ARPs on one interface.
pub struct ArpSocket {
    sock: Socket,
    ifindex: u32,
}

impl ArpSocket {
    pub fn open(iface: &Iface) -> anyhow::Result<ArpSocket> {
        let sock = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from(arp::ETH_P_ARP.to_be() as i32)),
        )
        .context("packet socket for gratuitous ARP (needs root or CAP_NET_RAW)")?;
        Ok(ArpSocket {
            sock,
            ifindex: iface.index,
        })
    }

    pub fn send(&self, frame: &[u8; arp::FRAME_LEN]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = arp::ETH_P_ARP.to_be();
        sll.sll_ifindex = self.ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: the buffer and address outlive the call; lengths match.
        let n = unsafe {
            libc::sendto(
                self.sock.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}
