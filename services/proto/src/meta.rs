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
