//! Metadata: `name 0x02 value` items separated by `0x01`, the same bytes on
//! the wire and in the `-m` file beside the data file.

use crate::fields::{META_NAME_MAX, META_VALUE_MAX};

const ITEM_SEP: u8 = 0x01;
const FIELD_SEP: u8 = 0x02;

/// Metadata items kept sorted by name in byte order, as FastDFS stores them.
pub type Meta = Vec<(Vec<u8>, Vec<u8>)>;

/// Parses items, truncating over-long names/values and dropping items
/// without a separator, as the FastDFS server does.
pub fn decode(b: &[u8]) -> Meta {
    let mut items: Meta = b
        .split(|&c| c == ITEM_SEP)
        .filter_map(|item| {
            let i = item.iter().position(|&c| c == FIELD_SEP)?;
            let (k, v) = (&item[..i], &item[i + 1..]);
            Some((
                k[..k.len().min(META_NAME_MAX)].to_vec(),
                v[..v.len().min(META_VALUE_MAX)].to_vec(),
            ))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            std::mem::swap(&mut earlier.1, &mut later.1);
        }
        same
    });
    items
}

pub fn encode(items: &Meta) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (k, v)) in items.iter().enumerate() {
        if i > 0 {
            out.push(ITEM_SEP);
        }
        out.extend_from_slice(k);
        out.push(FIELD_SEP);
        out.extend_from_slice(v);
    }
    out
}

/// Merge: new values win on a name clash; the result stays sorted.
pub fn merge(old: Meta, new: Meta) -> Meta {
    let mut all = old;
    for (k, v) in new {
        match all.binary_search_by(|(n, _)| n.as_slice().cmp(&k)) {
            Ok(i) => all[i].1 = v,
            Err(i) => all.insert(i, (k, v)),
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn round_trips_sorted_by_name() {
        let m = decode(b"width\x02100\x01author\x02ann");
        assert_eq!(m, vec![kv("author", "ann"), kv("width", "100")]);
        assert_eq!(encode(&m), b"author\x02ann\x01width\x02100");
    }

    #[test]
    fn merge_lets_new_values_win() {
        let m = merge(decode(b"a\x021\x01b\x022"), decode(b"b\x029\x01c\x023"));
        assert_eq!(m, vec![kv("a", "1"), kv("b", "9"), kv("c", "3")]);
    }

    #[test]
    fn long_fields_are_truncated_and_broken_items_dropped() {
        let long = format!(
            "{}\x02{}\x01broken\x01ok\x02y",
            "k".repeat(100),
            "v".repeat(300)
        );
        let m = decode(long.as_bytes());
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0.len(), 64);
        assert_eq!(m[0].1.len(), 256);
        assert_eq!(m[1], kv("ok", "y"));
    }

    #[test]
    fn duplicate_names_keep_the_last_value() {
        assert_eq!(decode(b"a\x021\x01a\x022"), vec![kv("a", "2")]);
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn field(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
        // Any byte but the two separators (0x01, 0x02).
        proptest::collection::vec(prop_oneof![Just(0u8), 3u8..], min..=max)
    }

    proptest! {
        #[test]
        fn any_bytes_decode_to_sorted_bounded_items(
            b in proptest::collection::vec(
                prop_oneof![Just(ITEM_SEP), Just(FIELD_SEP), any::<u8>()],
                0..600,
            ),
        ) {
            let m = decode(&b);
            prop_assert!(m.windows(2).all(|w| w[0].0 < w[1].0), "sorted, names unique");
            for (k, v) in &m {
                prop_assert!(!k.is_empty() && k.len() <= META_NAME_MAX);
                prop_assert!(v.len() <= META_VALUE_MAX);
                prop_assert!(!k.contains(&ITEM_SEP) && !v.contains(&ITEM_SEP));
                prop_assert!(!k.contains(&FIELD_SEP));
            }
            prop_assert_eq!(decode(&encode(&m)), m);
        }

        #[test]
        fn items_round_trip(
            items in proptest::collection::btree_map(
                field(1, META_NAME_MAX),
                field(0, META_VALUE_MAX),
                0..8,
            ),
        ) {
            let m: Meta = items.into_iter().collect();
            prop_assert_eq!(decode(&encode(&m)), m);
        }

        #[test]
        fn merge_keeps_names_sorted_and_new_values(
            old in proptest::collection::btree_map(field(1, 8), field(0, 8), 0..6),
            new in proptest::collection::btree_map(field(1, 8), field(0, 8), 0..6),
        ) {
            let merged = merge(old.clone().into_iter().collect(), new.clone().into_iter().collect());
            let mut want: BTreeMap<_, _> = old;
            want.extend(new);
            prop_assert_eq!(merged, want.into_iter().collect::<Meta>());
        }
    }
}
