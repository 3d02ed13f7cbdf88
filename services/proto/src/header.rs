//! The 10-byte packet header: `pkg_len` (i64 BE, body only) | `cmd` | `status`.

use crate::{cmd, status};

pub const HEADER_LEN: usize = 10;

/// One packet header. `pkg_len` is signed on the wire; a negative value is
/// a protocol error and never reaches this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub pkg_len: u64,
    pub cmd: u8,
    pub status: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("negative body length {0}")]
    NegativeLength(i64),
    #[error("body length {len} exceeds the limit of {max} bytes")]
    TooLong { len: u64, max: u64 },
}

impl Header {
    pub fn request(cmd: u8, pkg_len: u64) -> Self {
        Header {
            pkg_len,
            cmd,
            status: 0,
        }
    }

    pub fn response(status: u8, pkg_len: u64) -> Self {
        Header {
            pkg_len,
            cmd: cmd::RESP,
            status,
        }
    }

    /// An error reply: FastDFS clients never read a body after a non-zero status.
    pub fn error(status: u8) -> Self {
        debug_assert_ne!(status, status::OK);
        Header::response(status, 0)
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(&(self.pkg_len as i64).to_be_bytes());
        b[8] = self.cmd;
        b[9] = self.status;
        b
    }

    /// Decodes a header, refusing negative lengths and bodies over `max_body`.
    pub fn decode(b: &[u8; HEADER_LEN], max_body: u64) -> Result<Self, HeaderError> {
        let len = i64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
        if len < 0 {
            return Err(HeaderError::NegativeLength(len));
        }
        let len = len as u64;
        if len > max_body {
            return Err(HeaderError::TooLong { len, max: max_body });
        }
        Ok(Header {
            pkg_len: len,
            cmd: b[8],
            status: b[9],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header::request(cmd::UPLOAD_FILE, 0x0102_0304_0506);
        let b = h.encode();
        assert_eq!(b, [0, 0, 1, 2, 3, 4, 5, 6, 11, 0]);
        assert_eq!(Header::decode(&b, u64::MAX >> 1).unwrap(), h);
    }

    #[test]
    fn negative_length_is_rejected() {
        let mut b = [0xFFu8; HEADER_LEN];
        b[8] = 11;
        assert_eq!(
            Header::decode(&b, 100),
            Err(HeaderError::NegativeLength(-1))
        );
    }

    #[test]
    fn length_over_limit_is_rejected() {
        let b = Header::request(cmd::QUERY_FETCH_ONE, 1 << 20).encode();
        assert_eq!(
            Header::decode(&b, 1024),
            Err(HeaderError::TooLong {
                len: 1 << 20,
                max: 1024
            })
        );
    }

    #[test]
    fn error_reply_has_resp_cmd_and_no_body() {
        assert_eq!(
            Header::error(status::ENOENT).encode(),
            [0, 0, 0, 0, 0, 0, 0, 0, 100, 2]
        );
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_ten_bytes_decode_within_the_limit_or_are_refused(
            b in any::<[u8; HEADER_LEN]>(),
            max in any::<u64>(),
        ) {
            match Header::decode(&b, max) {
                Ok(h) => {
                    prop_assert!(h.pkg_len <= max);
                    prop_assert_eq!(h.encode(), b);
                }
                Err(HeaderError::NegativeLength(n)) => prop_assert!(n < 0),
                Err(HeaderError::TooLong { len, max: m }) => prop_assert!(len > m),
            }
        }

        #[test]
        fn headers_round_trip(pkg_len in 0..=i64::MAX as u64, cmd: u8, status: u8) {
            let h = Header { pkg_len, cmd, status };
            prop_assert_eq!(Header::decode(&h.encode(), u64::MAX), Ok(h));
        }
    }
}
