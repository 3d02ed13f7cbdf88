//! VRRPv3 advertisement codec for IPv4 (RFC 5798 §5), pure: bytes in,
//! typed values out, so every drop reason is unit-testable without sockets.

use std::net::Ipv4Addr;

/// IP protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// The VRRP IPv4 multicast group (RFC 5798 §5.1.1.2).
pub const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Every advertisement leaves with TTL 255; anything else has crossed a
/// router and is rejected (RFC 5798 §5.1.1.3).
pub const VRRP_TTL: u8 = 255;

const VERSION: u8 = 3;
const TYPE_ADVERTISEMENT: u8 = 1;
const HEADER_LEN: usize = 8;
/// The advertisement interval is a 12-bit count of centiseconds.
pub const MAX_ADVER_INT_CS: u16 = 0x0fff;

/// One VRRPv3 advertisement as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub vrid: u8,
    /// 0 means "master is leaving", 255 "address owner".
    pub priority: u8,
    /// Max Adver Int, centiseconds.
    pub interval_cs: u16,
    pub addresses: Vec<Ipv4Addr>,
}

/// Why a received packet was dropped; the label names the metric series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    #[error("packet shorter than its headers")]
    Short,
    #[error("IP TTL is not 255")]
    Ttl,
    #[error("VRRP version is not 3")]
    Version,
    #[error("VRRP type is not ADVERTISEMENT")]
    Type,
    #[error("checksum mismatch")]
    Checksum,
    #[error("virtual router id is not ours")]
    Vrid,
    #[error("IP protocol is not 112")]
    Protocol,
    #[error("source is not a configured unicast_peer")]
    UnknownPeer,
}

impl DropReason {
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Short => "short",
            DropReason::Ttl => "ttl",
            DropReason::Version => "version",
            DropReason::Type => "type",
            DropReason::Checksum => "checksum",
            DropReason::Vrid => "vrid",
            DropReason::Protocol => "protocol",
            DropReason::UnknownPeer => "unknown_peer",
        }
    }

    pub const ALL: [DropReason; 8] = [
        DropReason::Short,
        DropReason::Ttl,
        DropReason::Version,
        DropReason::Type,
        DropReason::Checksum,
        DropReason::Vrid,
        DropReason::Protocol,
        DropReason::UnknownPeer,
    ];
}

/// An advertisement together with the IP header fields the receiver needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub advert: Advert,
}

impl Advert {
    /// Serialises the VRRP message (without IP header). The checksum covers
    /// the IPv4 pseudo-header, so the addresses the kernel will put in the IP
    /// header must be known here (RFC 5798 §5.2.8).
    pub fn encode(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut buf = Vec::with_capacity(HEADER_LEN + 4 * self.addresses.len());
        buf.push((VERSION << 4) | TYPE_ADVERTISEMENT);
        buf.push(self.vrid);
        buf.push(self.priority);
        buf.push(self.addresses.len() as u8);
        buf.extend_from_slice(&(self.interval_cs & MAX_ADVER_INT_CS).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        for a in &self.addresses {
            buf.extend_from_slice(&a.octets());
        }
        let sum = checksum(src, dst, &buf);
        buf[6..8].copy_from_slice(&sum.to_be_bytes());
        buf
    }

    /// Parses a VRRP message whose IP header said `src` -> `dst`.
    pub fn decode(src: Ipv4Addr, dst: Ipv4Addr, msg: &[u8]) -> Result<Advert, DropReason> {
        if msg.len() < HEADER_LEN {
            return Err(DropReason::Short);
        }
        if msg[0] >> 4 != VERSION {
            return Err(DropReason::Version);
        }
        if msg[0] & 0x0f != TYPE_ADVERTISEMENT {
            return Err(DropReason::Type);
        }
        let count = msg[3] as usize;
        if msg.len() < HEADER_LEN + 4 * count {
            return Err(DropReason::Short);
        }
        // Verify over the whole received message: trailing bytes are part
        // of what the sender summed.
        if checksum(src, dst, msg) != 0 {
            return Err(DropReason::Checksum);
        }
        let addresses = msg[HEADER_LEN..HEADER_LEN + 4 * count]
            .chunks_exact(4)
            .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            .collect();
        Ok(Advert {
            vrid: msg[1],
            priority: msg[2],
            interval_cs: u16::from_be_bytes([msg[4], msg[5]]) & MAX_ADVER_INT_CS,
            addresses,
        })
    }
}

/// Parses a whole IPv4 datagram as a raw socket hands it over, applying
/// every receive check of RFC 5798 §7.1 that needs no local state except
/// the VRID.
pub fn parse_datagram(pkt: &[u8], vrid: u8) -> Result<Received, DropReason> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return Err(DropReason::Short);
    }
    let ihl = ((pkt[0] & 0x0f) as usize) * 4;
    if ihl < 20 || pkt.len() < ihl {
        return Err(DropReason::Short);
    }
    let total = u16::from_be_bytes([pkt[2], pkt[3]]) as usize;
    let end = if total >= ihl && total <= pkt.len() {
        total
    } else {
        pkt.len()
    };
    if pkt[9] != IPPROTO_VRRP {
        return Err(DropReason::Protocol);
    }
    if pkt[8] != VRRP_TTL {
        return Err(DropReason::Ttl);
    }
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    let advert = Advert::decode(src, dst, &pkt[ihl..end])?;
    if advert.vrid != vrid {
        return Err(DropReason::Vrid);
    }
    Ok(Received { src, dst, advert })
}

/// Wraps a VRRP message in the IPv4 header it must travel with: TTL 255,
/// protocol 112 and the internetwork-control precedence keepalived uses.
/// Built here rather than by the kernel so the source address summed into
/// the VRRP checksum is exactly the one sent.
pub fn ipv4_datagram(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, msg: &[u8]) -> Vec<u8> {
    let total = (20 + msg.len()) as u16;
    let mut p = Vec::with_capacity(total as usize);
    p.extend_from_slice(&[0x45, 0xc0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, ttl, IPPROTO_VRRP, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = internet_checksum(0, &p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(msg);
    p
}

/// Internet checksum over the IPv4 pseudo-header (src, dst, zero, protocol,
/// VRRP length) followed by the VRRP message. Returns 0 when `msg` already
/// carries a correct checksum.
pub fn checksum(src: Ipv4Addr, dst: Ipv4Addr, msg: &[u8]) -> u16 {
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = IPPROTO_VRRP;
    pseudo[10..].copy_from_slice(&(msg.len() as u16).to_be_bytes());
    internet_checksum(ones_sum(0, &pseudo), msg)
}

/// RFC 1071 sum of 16-bit words, odd byte padded with zero. 64 bits wide
/// so no message length can overflow it before the fold.
fn ones_sum(mut sum: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u64) << 8;
    }
    sum
}

fn internet_checksum(start: u64, bytes: &[u8]) -> u16 {
    let mut sum = ones_sum(start, bytes);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn advert() -> Advert {
        Advert {
            vrid: 51,
            priority: 100,
            interval_cs: 100,
            addresses: vec![Ipv4Addr::new(10, 0, 0, 100)],
        }
    }

    fn datagram(ttl: u8, msg: &[u8]) -> Vec<u8> {
        ipv4_datagram(SRC, VRRP_GROUP, ttl, msg)
    }

    #[test]
    fn ip_header_checksum_verifies() {
        let d = datagram(255, &advert().encode(SRC, VRRP_GROUP));
        assert_eq!(internet_checksum(0, &d[..20]), 0);
        assert_eq!(d[8], 255);
        assert_eq!(d[9], 112);
    }

    #[test]
    fn advert_round_trips_through_the_wire_format() {
        let a = advert();
        let bytes = a.encode(SRC, VRRP_GROUP);
        assert_eq!(bytes.len(), 12);
        assert_eq!(bytes[0], 0x31, "version 3, type 1");
        assert_eq!(Advert::decode(SRC, VRRP_GROUP, &bytes), Ok(a));
    }

    #[test]
    fn checksum_matches_a_hand_computed_value() {
        // 0x3133 + 0x6401 + 0x0064 + 0x0a00 + 0x0064 (addr) + pseudo-header
        // 0x0a00 + 0x0001 + 0xe000 + 0x0012 + 0x0070 + 0x000c, folded and
        // complemented.
        let bytes = advert().encode(SRC, VRRP_GROUP);
        let words: u32 = [
            0x3133u32, 0x6401, 0x0064, 0x0a00, 0x0064, 0x0a00, 0x0001, 0xe000, 0x0012, 0x0070,
            0x000c,
        ]
        .iter()
        .sum();
        let folded = (words & 0xffff) + (words >> 16);
        assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]), !(folded as u16));
    }

    #[test]
    fn checksum_depends_on_the_pseudo_header_destination() {
        let bytes = advert().encode(SRC, VRRP_GROUP);
        let unicast = Ipv4Addr::new(10, 0, 0, 2);
        assert_eq!(
            Advert::decode(SRC, unicast, &bytes),
            Err(DropReason::Checksum)
        );
    }

    #[test]
    fn reserved_interval_bits_are_ignored() {
        let mut bytes = advert().encode(SRC, VRRP_GROUP);
        bytes[4] |= 0xf0;
        bytes[6..8].copy_from_slice(&[0, 0]);
        let sum = checksum(SRC, VRRP_GROUP, &bytes);
        bytes[6..8].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            Advert::decode(SRC, VRRP_GROUP, &bytes).unwrap().interval_cs,
            100
        );
    }

    #[test]
    fn datagram_with_ttl_255_is_accepted() {
        let d = datagram(255, &advert().encode(SRC, VRRP_GROUP));
        let r = parse_datagram(&d, 51).unwrap();
        assert_eq!(r.src, SRC);
        assert_eq!(r.advert, advert());
    }

    #[test]
    fn datagram_with_lower_ttl_is_dropped() {
        let d = datagram(254, &advert().encode(SRC, VRRP_GROUP));
        assert_eq!(parse_datagram(&d, 51), Err(DropReason::Ttl));
    }

    #[test]
    fn corrupted_byte_fails_the_checksum() {
        let mut msg = advert().encode(SRC, VRRP_GROUP);
        msg[2] = 200;
        assert_eq!(
            parse_datagram(&datagram(255, &msg), 51),
            Err(DropReason::Checksum)
        );
    }

    #[test]
    fn other_vrid_is_dropped() {
        let d = datagram(255, &advert().encode(SRC, VRRP_GROUP));
        assert_eq!(parse_datagram(&d, 52), Err(DropReason::Vrid));
    }

    #[test]
    fn vrrpv2_packet_is_dropped_as_wrong_version() {
        let mut msg = advert().encode(SRC, VRRP_GROUP);
        msg[0] = 0x21;
        assert_eq!(
            parse_datagram(&datagram(255, &msg), 51),
            Err(DropReason::Version)
        );
    }

    #[test]
    fn truncated_packets_are_dropped_as_short() {
        let msg = advert().encode(SRC, VRRP_GROUP);
        for cut in 0..msg.len() {
            assert_eq!(
                parse_datagram(&datagram(255, &msg[..cut]), 51),
                Err(DropReason::Short),
                "cut at {cut}"
            );
        }
        assert_eq!(parse_datagram(&[0x45; 10], 51), Err(DropReason::Short));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491u32;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            let _ = parse_datagram(&bytes, 51);
            let _ = parse_datagram(&datagram(255, &bytes), 51);
        }
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    fn ip() -> impl Strategy<Value = Ipv4Addr> {
        any::<[u8; 4]>().prop_map(Ipv4Addr::from)
    }

    fn advert() -> impl Strategy<Value = Advert> {
        (
            any::<(u8, u8)>(),
            0..=MAX_ADVER_INT_CS,
            proptest::collection::vec(ip(), 0..20),
        )
            .prop_map(|((vrid, priority), interval_cs, addresses)| Advert {
                vrid,
                priority,
                interval_cs,
                addresses,
            })
    }

    proptest! {
        #[test]
        fn any_datagram_is_parsed_or_dropped(
            pkt in proptest::collection::vec(any::<u8>(), 0..400),
            vrid: u8,
        ) {
            if let Ok(r) = parse_datagram(&pkt, vrid) {
                prop_assert_eq!(r.advert.vrid, vrid);
                prop_assert_eq!(pkt[8], VRRP_TTL);
            }
        }

        #[test]
        fn any_vrrp_message_inside_a_good_ip_header_is_parsed_or_dropped(
            msg in proptest::collection::vec(any::<u8>(), 0..400),
            src in ip(),
            vrid: u8,
        ) {
            let _ = parse_datagram(&ipv4_datagram(src, VRRP_GROUP, VRRP_TTL, &msg), vrid);
            let _ = Advert::decode(src, VRRP_GROUP, &msg);
        }

        #[test]
        fn adverts_round_trip(a in advert(), src in ip(), dst in ip()) {
            let msg = a.encode(src, dst);
            prop_assert_eq!(Advert::decode(src, dst, &msg), Ok(a.clone()));
            let r = parse_datagram(&ipv4_datagram(src, dst, VRRP_TTL, &msg), a.vrid);
            prop_assert_eq!(r, Ok(Received { src, dst, advert: a }));
        }

        #[test]
        fn any_changed_byte_is_dropped(
            a in advert(),
            src in ip(),
            at: proptest::sample::Index,
            delta in 1u8..,
        ) {
            let mut msg = a.encode(src, VRRP_GROUP);
            let i = at.index(msg.len());
            msg[i] = msg[i].wrapping_add(delta);
            prop_assert!(Advert::decode(src, VRRP_GROUP, &msg).is_err());
        }
    }

    #[test]
    fn the_checksum_of_a_message_over_128_kib_does_not_overflow() {
        // 65 537 words of 0xffff sum past u32::MAX; folded, they are 0xffff.
        let msg = vec![0xff; 2 * 65_537];
        let folded = checksum(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, &msg);
        let pseudo = u64::from(IPPROTO_VRRP) + (msg.len() as u64 & 0xffff);
        let mut sum = 65_537 * 0xffff + pseudo;
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(folded, !(sum as u16));
    }
}
