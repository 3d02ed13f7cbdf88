//! Storage-to-storage sync frames. FastDFS clients never see these, so
//! ferrodfs uses one command ([`crate::cmd::SYNC_PUSH`]) whose body is
//! `header_len(8) + JSON header + content`: the header carries the
//! binlog line being replayed, the content the bytes it needs (the whole
//! file for a create or update, the written range for an append or
//! modify). Every push is answered with a header-only reply.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fields::FieldError;

/// Headers larger than this are refused.
pub const MAX_HEADER: u64 = 64 << 10;

/// What one push says besides its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PushHeader {
    /// The pushing storage (its IP).
    pub from: String,
    pub group: String,
    /// The binlog line to apply (`<ts> <op> <name>[ extra]`); empty for a
    /// progress-only push.
    #[serde(default)]
    pub record: String,
    /// Content bytes following the header.
    #[serde(default)]
    pub content_len: u64,
    /// Every file `from` created up to this unix time is now on the
    /// receiver (FastDFS's synced timestamp, reported to trackers).
    #[serde(default)]
    pub synced_until: i64,
    /// The full copy `from` was chosen to send is complete.
    #[serde(default)]
    pub copy_done: bool,
    /// With `copy_done`: per other source, up to when the copy covered
    /// its files (the sender's own synced timestamps).
    #[serde(default)]
    pub granted: BTreeMap<String, i64>,
}

impl PushHeader {
    /// The request body without the content: `len(8) + JSON`.
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("PushHeader serializes");
        let mut b = Vec::with_capacity(8 + json.len());
        b.extend_from_slice(&(json.len() as u64).to_be_bytes());
        b.extend_from_slice(&json);
        b
    }

    /// The header length announced by the first 8 body bytes.
    pub fn len_of(prefix: &[u8; 8]) -> Result<u64, FieldError> {
        let n = u64::from_be_bytes(*prefix);
        if n > MAX_HEADER {
            return Err(FieldError::SyncHeader(format!("{n} bytes long")));
        }
        Ok(n)
    }

    pub fn parse(json: &[u8]) -> Result<PushHeader, FieldError> {
        serde_json::from_slice(json).map_err(|e| FieldError::SyncHeader(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_with_its_length_prefix() {
        let h = PushHeader {
            from: "10.0.0.1".into(),
            group: "group1".into(),
            record: "1 C M00/00/00/x".into(),
            content_len: 5,
            synced_until: 7,
            ..Default::default()
        };
        let b = h.encode();
        let n = PushHeader::len_of(b[..8].try_into().unwrap()).unwrap();
        assert_eq!(n as usize, b.len() - 8);
        assert_eq!(PushHeader::parse(&b[8..]).unwrap(), h);
    }

    #[test]
    fn an_oversized_header_is_refused() {
        assert!(PushHeader::len_of(&(MAX_HEADER + 1).to_be_bytes()).is_err());
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    fn header() -> impl Strategy<Value = PushHeader> {
        (
            (".{0,20}", ".{0,20}", ".{0,80}"),
            any::<(u64, i64, bool)>(),
            proptest::collection::btree_map(".{0,20}", any::<i64>(), 0..4),
        )
            .prop_map(
                |((from, group, record), (content_len, synced_until, copy_done), granted)| {
                    PushHeader {
                        from,
                        group,
                        record,
                        content_len,
                        synced_until,
                        copy_done,
                        granted,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn any_length_prefix_is_bounded_or_refused(prefix: [u8; 8]) {
            match PushHeader::len_of(&prefix) {
                Ok(n) => prop_assert!(n <= MAX_HEADER),
                Err(_) => prop_assert!(u64::from_be_bytes(prefix) > MAX_HEADER),
            }
        }

        #[test]
        fn any_bytes_parse_or_are_refused(
            b in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                ".{0,300}".prop_map(String::into_bytes),
            ],
        ) {
            let _ = PushHeader::parse(&b);
        }

        #[test]
        fn headers_round_trip(h in header()) {
            let b = h.encode();
            let n = PushHeader::len_of(b[..8].try_into().unwrap()).unwrap();
            prop_assert_eq!(n as usize, b.len() - 8);
            prop_assert_eq!(PushHeader::parse(&b[8..]), Ok(h));
        }
    }
}
