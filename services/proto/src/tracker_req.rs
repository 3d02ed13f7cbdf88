//! Client <-> tracker bodies (tracker/tracker_service.c layouts). Query
//! replies carry IPs in `IpWidth::query()` bytes (15, or 45 for the IPv6
//! width); parsers tell the widths apart by body length, as FastDFS 6.15+'s
//! C client and the Java client >= 1.33 do.

use crate::fields::{
    is_padded_text, put_fixed, put_u64, FieldError, IpWidth, Reader, GROUP_NAME_LEN,
};

/// One storage address as the tracker hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub ip: String,
    pub port: u16,
}

/// True when every IP field of a candidate layout is NUL-padded text and
/// every port a real one: what FastDFS writes into a zeroed buffer.
fn plausible(b: &[u8], ips: &[(usize, usize)], ports: &[usize]) -> bool {
    ips.iter().all(|&(at, w)| is_padded_text(&b[at..at + w]))
        && ports.iter().all(|&at| {
            let p = i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"));
            (1..=65535).contains(&p)
        })
}

/// Reply to query store (101/104 one, 106/107 all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreTarget {
    pub group: String,
    /// First entry is the chosen storage; "all" replies list every writable one.
    pub storages: Vec<Addr>,
    pub store_path_index: u8,
}

impl StoreTarget {
    /// The "one" reply: 40 bytes with the IPv4 width, 70 with the IPv6 one.
    pub const fn one_len(width: IpWidth) -> usize {
        GROUP_NAME_LEN + width.query() + 8 + 1
    }

    /// `group(16)`, then `ip + port(8)` per storage, then the path index.
    pub fn encode(&self, width: IpWidth) -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, &self.group, GROUP_NAME_LEN);
        for a in &self.storages {
            put_fixed(&mut b, &a.ip, width.query());
            put_u64(&mut b, a.port as u64);
        }
        b.push(self.store_path_index);
        b
    }

    /// Either width; the one whose fields hold an address and a port.
    pub fn parse(b: &[u8]) -> Result<Self, FieldError> {
        let width = IpWidth::ALL
            .into_iter()
            .find(|w| {
                let per = w.query() + 8;
                if b.len() < Self::one_len(*w)
                    || !(b.len() - GROUP_NAME_LEN - 1).is_multiple_of(per)
                {
                    return false;
                }
                let starts = (GROUP_NAME_LEN..b.len() - 1).step_by(per);
                let ips: Vec<_> = starts.clone().map(|at| (at, w.query())).collect();
                let ports: Vec<_> = starts.map(|at| at + w.query()).collect();
                plausible(b, &ips, &ports)
            })
            .ok_or(FieldError::Short {
                need: Self::one_len(IpWidth::V4),
                got: b.len(),
            })?;
        let mut r = Reader::new(b);
        let group = r.fixed(GROUP_NAME_LEN)?;
        let mut storages = Vec::new();
        while r.remaining() > 1 {
            let ip = r.fixed(width.query())?;
            storages.push(Addr {
                ip,
                port: r.i64()? as u16,
            });
        }
        Ok(StoreTarget {
            group,
            storages,
            store_path_index: r.u8()?,
        })
    }
}

/// Reply to query fetch/update (102/103: one; 105: all). Further servers
/// in a 105 reply carry only an IP and share the first one's port, as
/// every FastDFS up to 6.15 sends it and the Java client reads it; FastDFS
/// 6.16 sends a port with each (its C client requires that), which
/// [`FetchTarget::parse`] also reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    pub group: String,
    pub storages: Vec<Addr>,
}

impl FetchTarget {
    /// The "one" reply: 39 bytes with the IPv4 width, 69 with the IPv6 one.
    pub const fn one_len(width: IpWidth) -> usize {
        GROUP_NAME_LEN + width.query() + 8
    }

    pub fn encode(&self, width: IpWidth) -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, &self.group, GROUP_NAME_LEN);
        for (i, a) in self.storages.iter().enumerate() {
            put_fixed(&mut b, &a.ip, width.query());
            if i == 0 {
                put_u64(&mut b, a.port as u64);
            }
        }
        b
    }

    /// Either width, further servers with or without their own port.
    pub fn parse(b: &[u8]) -> Result<Self, FieldError> {
        let layouts = IpWidth::ALL
            .into_iter()
            .map(|w| (w, false))
            .chain(IpWidth::ALL.into_iter().map(|w| (w, true)));
        let (width, ports_each) = layouts
            .into_iter()
            .find(|&(w, ports_each)| {
                let one = Self::one_len(w);
                let per = w.query() + if ports_each { 8 } else { 0 };
                if b.len() < one || !(b.len() - one).is_multiple_of(per) {
                    return false;
                }
                let mut ips = vec![(GROUP_NAME_LEN, w.query())];
                let mut ports = vec![GROUP_NAME_LEN + w.query()];
                for at in (one..b.len()).step_by(per) {
                    ips.push((at, w.query()));
                    if ports_each {
                        ports.push(at + w.query());
                    }
                }
                plausible(b, &ips, &ports)
            })
            .ok_or(FieldError::Short {
                need: Self::one_len(IpWidth::V4),
                got: b.len(),
            })?;
        let mut r = Reader::new(b);
        let group = r.fixed(GROUP_NAME_LEN)?;
        let ip = r.fixed(width.query())?;
        let port = r.i64()? as u16;
        let mut storages = vec![Addr { ip, port }];
        while r.remaining() > 0 {
            let ip = r.fixed(width.query())?;
            let port = if ports_each { r.i64()? as u16 } else { port };
            storages.push(Addr { ip, port });
        }
        Ok(FetchTarget { group, storages })
    }
}

/// Request of query fetch/update: `group(16) name`; FastDFS requires
/// 38 <= body < 144. The name is returned unparsed: the tracker only needs
/// it to decode the source and create time.
pub fn parse_fetch_request(body: &[u8]) -> Result<(String, String), FieldError> {
    if body.len() < 38 || body.len() >= 144 {
        return Err(FieldError::LengthMismatch {
            want: 38,
            got: body.len() as u64,
        });
    }
    let mut r = Reader::new(body);
    let group = r.group()?;
    Ok((group, String::from_utf8_lossy(r.rest()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::fixture;

    const GROUP1: &str = "67726f757031"; // "group1"
    const IP1: &str = "3139322e3136382e312e313335"; // "192.168.1.135"
    const IP2: &str = "3139322e3136382e312e313336"; // "192.168.1.136"
    const PORT: &str = "00000000000059d8"; // 23000
    const PORT2: &str = "00000000000059d9"; // 23001

    fn addr(ip: &str, port: u16) -> Addr {
        Addr {
            ip: ip.into(),
            port,
        }
    }

    fn store(storages: Vec<Addr>) -> StoreTarget {
        StoreTarget {
            group: "group1".into(),
            storages,
            store_path_index: 1,
        }
    }

    fn fetch(storages: Vec<Addr>) -> FetchTarget {
        FetchTarget {
            group: "group1".into(),
            storages,
        }
    }

    #[test]
    fn store_one_is_fastdfs_bytes_in_both_widths() {
        // TRACKER_QUERY_STORAGE_STORE_IPV4_BODY_LEN: group(16) ip(15) port(8) index(1).
        let t = store(vec![addr("192.168.1.135", 23000)]);
        let v4 = fixture(40, &[(0, GROUP1), (16, IP1), (31, PORT), (39, "01")]);
        assert_eq!(t.encode(IpWidth::V4), v4);
        // ..._IPV6_BODY_LEN: the IP field is 45 bytes.
        let v6 = fixture(70, &[(0, GROUP1), (16, IP1), (61, PORT), (69, "01")]);
        assert_eq!(t.encode(IpWidth::V6), v6);
        assert_eq!(StoreTarget::parse(&v4).unwrap(), t);
        assert_eq!(StoreTarget::parse(&v6).unwrap(), t);
    }

    #[test]
    fn store_all_lists_every_storage_with_its_port() {
        let t = store(vec![
            addr("192.168.1.135", 23000),
            addr("192.168.1.136", 23001),
        ]);
        let v4 = fixture(
            63,
            &[
                (0, GROUP1),
                (16, IP1),
                (31, PORT),
                (39, IP2),
                (54, PORT2),
                (62, "01"),
            ],
        );
        let v6 = fixture(
            123,
            &[
                (0, GROUP1),
                (16, IP1),
                (61, PORT),
                (69, IP2),
                (114, PORT2),
                (122, "01"),
            ],
        );
        assert_eq!(t.encode(IpWidth::V4), v4);
        assert_eq!(t.encode(IpWidth::V6), v6);
        assert_eq!(StoreTarget::parse(&v4).unwrap(), t);
        assert_eq!(StoreTarget::parse(&v6).unwrap(), t);
    }

    #[test]
    fn fetch_one_and_all_are_fastdfs_bytes_in_both_widths() {
        // TRACKER_QUERY_STORAGE_FETCH_IPV4_BODY_LEN: group(16) ip(15) port(8),
        // then an IP for each further server.
        let one = fetch(vec![addr("192.168.1.135", 23000)]);
        let all = fetch(vec![
            addr("192.168.1.135", 23000),
            addr("192.168.1.136", 23000),
        ]);
        let cases = [
            (
                &one,
                IpWidth::V4,
                fixture(39, &[(0, GROUP1), (16, IP1), (31, PORT)]),
            ),
            (
                &one,
                IpWidth::V6,
                fixture(69, &[(0, GROUP1), (16, IP1), (61, PORT)]),
            ),
            (
                &all,
                IpWidth::V4,
                fixture(54, &[(0, GROUP1), (16, IP1), (31, PORT), (39, IP2)]),
            ),
            (
                &all,
                IpWidth::V6,
                fixture(114, &[(0, GROUP1), (16, IP1), (61, PORT), (69, IP2)]),
            ),
        ];
        for (t, width, want) in cases {
            assert_eq!(t.encode(width), want, "{width:?}");
            assert_eq!(&FetchTarget::parse(&want).unwrap(), t, "{width:?}");
        }
    }

    #[test]
    fn fetch_all_from_fastdfs_6_16_carries_a_port_per_server() {
        let v4 = fixture(
            62,
            &[(0, GROUP1), (16, IP1), (31, PORT), (39, IP2), (54, PORT2)],
        );
        let v6 = fixture(
            122,
            &[(0, GROUP1), (16, IP1), (61, PORT), (69, IP2), (114, PORT2)],
        );
        let want = fetch(vec![
            addr("192.168.1.135", 23000),
            addr("192.168.1.136", 23001),
        ]);
        assert_eq!(FetchTarget::parse(&v4).unwrap(), want);
        assert_eq!(FetchTarget::parse(&v6).unwrap(), want);
    }

    #[test]
    fn a_length_two_layouts_share_is_read_by_its_fields() {
        // 69 bytes: one server with the IPv6 width, or three with the IPv4
        // width and no further ports.
        let v6_one = fixture(69, &[(0, GROUP1), (16, IP1), (61, PORT)]);
        assert_eq!(
            FetchTarget::parse(&v6_one).unwrap(),
            fetch(vec![addr("192.168.1.135", 23000)])
        );
        let v4_three = fixture(
            69,
            &[(0, GROUP1), (16, IP1), (31, PORT), (39, IP2), (54, IP1)],
        );
        let ips: Vec<String> = FetchTarget::parse(&v4_three)
            .unwrap()
            .storages
            .into_iter()
            .map(|a| a.ip)
            .collect();
        assert_eq!(ips, ["192.168.1.135", "192.168.1.136", "192.168.1.135"]);
    }

    #[test]
    fn replies_of_no_known_length_are_refused() {
        assert!(StoreTarget::parse(&[0; 41]).is_err());
        assert!(StoreTarget::parse(&[0; 40]).is_err(), "no address in it");
        assert!(FetchTarget::parse(&[0; 38]).is_err());
        assert!(FetchTarget::parse(&fixture(40, &[(0, GROUP1), (16, IP1), (31, PORT)])).is_err());
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bodies() {
        for len in 0..400 {
            for fill in [0u8, b'1', 0xFF] {
                let b: Vec<u8> = (0..len)
                    .map(|i| {
                        if i % 7 == 0 {
                            fill
                        } else {
                            (i * 31 % 251) as u8
                        }
                    })
                    .collect();
                let _ = StoreTarget::parse(&b);
                let _ = FetchTarget::parse(&b);
            }
        }
    }

    #[test]
    fn fetch_request_bounds_follow_fastdfs() {
        assert!(parse_fetch_request(&[b'g'; 37]).is_err());
        assert!(parse_fetch_request(&[b'g'; 144]).is_err());
        let mut b = Vec::new();
        put_fixed(&mut b, "group1", 16);
        b.extend_from_slice(b"M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz");
        assert_eq!(parse_fetch_request(&b).unwrap().0, "group1");
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use crate::arb;
    use proptest::prelude::*;

    fn addr() -> impl Strategy<Value = Addr> {
        (arb::ipv4(), 1u16..).prop_map(|(ip, port)| Addr { ip, port })
    }

    fn width() -> impl Strategy<Value = IpWidth> {
        prop_oneof![Just(IpWidth::V4), Just(IpWidth::V6)]
    }

    proptest! {
        #[test]
        fn reply_and_request_parsers_take_any_bytes(
            b in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let _ = StoreTarget::parse(&b);
            let _ = FetchTarget::parse(&b);
            let _ = parse_fetch_request(&b);
        }

        #[test]
        fn store_targets_round_trip(
            group in arb::group(),
            storages in proptest::collection::vec(addr(), 1..6),
            store_path_index: u8,
            width in width(),
        ) {
            let t = StoreTarget { group, storages, store_path_index };
            prop_assert_eq!(StoreTarget::parse(&t.encode(width)), Ok(t));
        }

        #[test]
        fn fetch_targets_round_trip(
            group in arb::group(),
            first in addr(),
            others in proptest::collection::vec(arb::ipv4(), 0..5),
            width in width(),
        ) {
            // Further servers share the first one's port on the wire.
            let mut storages = vec![first.clone()];
            storages.extend(others.into_iter().map(|ip| Addr { ip, port: first.port }));
            let t = FetchTarget { group, storages };
            prop_assert_eq!(FetchTarget::parse(&t.encode(width)), Ok(t));
        }

        #[test]
        fn fetch_requests_give_back_group_and_name(
            group in arb::group(),
            name in arb::logical_name(),
        ) {
            let mut b = Vec::new();
            put_fixed(&mut b, &group, GROUP_NAME_LEN);
            b.extend_from_slice(name.to_string().as_bytes());
            prop_assert_eq!(parse_fetch_request(&b), Ok((group, name.to_string())));
        }
    }
}
