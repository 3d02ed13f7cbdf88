//! Client <-> tracker bodies (tracker/tracker_service.c layouts). Addresses
//! in query replies are 15-byte IPv4 fields, which every client accepts.

use crate::fields::{put_fixed, put_u64, FieldError, Reader, GROUP_NAME_LEN, QUERY_IP_LEN};

/// One storage address as the tracker hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub ip: String,
    pub port: u16,
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
    pub const ONE_LEN: usize = GROUP_NAME_LEN + QUERY_IP_LEN + 8 + 1;

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, &self.group, GROUP_NAME_LEN);
        for a in &self.storages {
            put_fixed(&mut b, &a.ip, QUERY_IP_LEN);
            put_u64(&mut b, a.port as u64);
        }
        b.push(self.store_path_index);
        b
    }

    pub fn parse(b: &[u8]) -> Result<Self, FieldError> {
        let per = QUERY_IP_LEN + 8;
        if b.len() < Self::ONE_LEN || !(b.len() - GROUP_NAME_LEN - 1).is_multiple_of(per) {
            return Err(FieldError::Short {
                need: Self::ONE_LEN,
                got: b.len(),
            });
        }
        let mut r = Reader::new(b);
        let group = r.fixed(GROUP_NAME_LEN)?;
        let mut storages = Vec::new();
        while r.remaining() > 1 {
            let ip = r.fixed(QUERY_IP_LEN)?;
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
/// in a 105 reply carry only an IP: they share the first one's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTarget {
    pub group: String,
    pub storages: Vec<Addr>,
}

impl FetchTarget {
    pub const ONE_LEN: usize = GROUP_NAME_LEN + QUERY_IP_LEN + 8;

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_fixed(&mut b, &self.group, GROUP_NAME_LEN);
        for (i, a) in self.storages.iter().enumerate() {
            put_fixed(&mut b, &a.ip, QUERY_IP_LEN);
            if i == 0 {
                put_u64(&mut b, a.port as u64);
            }
        }
        b
    }

    pub fn parse(b: &[u8]) -> Result<Self, FieldError> {
        if b.len() < Self::ONE_LEN || !(b.len() - Self::ONE_LEN).is_multiple_of(QUERY_IP_LEN) {
            return Err(FieldError::Short {
                need: Self::ONE_LEN,
                got: b.len(),
            });
        }
        let mut r = Reader::new(b);
        let group = r.fixed(GROUP_NAME_LEN)?;
        let ip = r.fixed(QUERY_IP_LEN)?;
        let port = r.i64()? as u16;
        let mut storages = vec![Addr { ip, port }];
        while r.remaining() > 0 {
            storages.push(Addr {
                ip: r.fixed(QUERY_IP_LEN)?,
                port,
            });
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

    #[test]
    fn store_target_one_is_40_bytes() {
        let t = StoreTarget {
            group: "group1".into(),
            storages: vec![Addr {
                ip: "127.0.0.11".into(),
                port: 23000,
            }],
            store_path_index: 1,
        };
        let b = t.encode();
        assert_eq!(b.len(), 40);
        assert_eq!(b[39], 1);
        assert_eq!(StoreTarget::parse(&b).unwrap(), t);
    }

    #[test]
    fn store_target_all_lists_every_storage() {
        let t = StoreTarget {
            group: "g".into(),
            storages: vec![
                Addr {
                    ip: "10.0.0.1".into(),
                    port: 1,
                },
                Addr {
                    ip: "10.0.0.2".into(),
                    port: 2,
                },
            ],
            store_path_index: 0,
        };
        assert_eq!(t.encode().len(), 16 + 2 * 23 + 1);
        assert_eq!(StoreTarget::parse(&t.encode()).unwrap(), t);
    }

    #[test]
    fn fetch_all_repeats_only_the_ip() {
        let t = FetchTarget {
            group: "group1".into(),
            storages: vec![
                Addr {
                    ip: "10.0.0.1".into(),
                    port: 23000,
                },
                Addr {
                    ip: "10.0.0.2".into(),
                    port: 23000,
                },
            ],
        };
        let b = t.encode();
        assert_eq!(b.len(), 39 + 15);
        assert_eq!(FetchTarget::parse(&b).unwrap(), t);
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
