//! Which cached entries exist, how big they are, and when each was last read:
//! the size cap evicts least recently read first, and entries unread for
//! `inactive` are dropped (nginx `proxy_cache_path max_size= inactive=`).
//! Pure bookkeeping with the clock passed in (seconds since the epoch); the
//! disk store deletes the files this returns.

use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    seq: u64,
    last_access: u64,
}

#[derive(Debug, Default)]
pub struct Index {
    entries: HashMap<String, Entry>,
    /// Access order: the smallest `seq` is the least recently read.
    order: BTreeMap<u64, String>,
    next_seq: u64,
    total: u64,
    max_size: u64,
}

impl Index {
    pub fn new(max_size: u64) -> Self {
        Index {
            max_size,
            ..Default::default()
        }
    }

    pub fn total_size(&self) -> u64 {
        self.total
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Adds (or replaces) an entry and returns the keys evicted to stay
    /// under the size cap. An entry larger than the whole cap is not kept
    /// and comes back in the list itself.
    pub fn insert(&mut self, key: &str, size: u64, now: u64) -> Vec<String> {
        self.remove(key);
        if size > self.max_size {
            return vec![key.to_string()];
        }
        let seq = self.bump();
        self.entries.insert(
            key.to_string(),
            Entry {
                size,
                seq,
                last_access: now,
            },
        );
        self.order.insert(seq, key.to_string());
        self.total += size;
        let mut evicted = Vec::new();
        while self.total > self.max_size {
            let (_, oldest) = self
                .order
                .pop_first()
                .expect("total > 0 means an entry exists");
            let e = self
                .entries
                .remove(&oldest)
                .expect("order and entries agree");
            self.total -= e.size;
            evicted.push(oldest);
        }
        evicted
    }

    /// Marks an entry as just read; false if it is not indexed.
    pub fn touch(&mut self, key: &str, now: u64) -> bool {
        let seq = self.bump();
        let Some(e) = self.entries.get_mut(key) else {
            return false;
        };
        self.order.remove(&e.seq);
        e.seq = seq;
        e.last_access = e.last_access.max(now);
        self.order.insert(seq, key.to_string());
        true
    }

    pub fn remove(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some(e) => {
                self.order.remove(&e.seq);
                self.total -= e.size;
                true
            }
            None => false,
        }
    }

    /// Removes and returns the entries not read for `inactive` seconds.
    pub fn expire_inactive(&mut self, now: u64, inactive: u64) -> Vec<String> {
        let stale: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.last_access) >= inactive)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            self.remove(k);
        }
        stale
    }

    fn bump(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_cap_evicts_least_recently_read_first() {
        let mut ix = Index::new(100);
        assert!(ix.insert("a", 40, 0).is_empty());
        assert!(ix.insert("b", 40, 1).is_empty());
        ix.touch("a", 2);
        assert_eq!(ix.insert("c", 40, 3), vec!["b".to_string()]);
        assert!(ix.contains("a") && ix.contains("c"));
        assert_eq!(ix.total_size(), 80);
    }

    #[test]
    fn entry_bigger_than_the_cache_is_not_kept() {
        let mut ix = Index::new(10);
        assert_eq!(ix.insert("big", 11, 0), vec!["big".to_string()]);
        assert_eq!(ix.len(), 0);
        assert_eq!(ix.total_size(), 0);
    }

    #[test]
    fn reinserting_replaces_the_old_size() {
        let mut ix = Index::new(100);
        ix.insert("a", 60, 0);
        assert!(ix.insert("a", 70, 1).is_empty());
        assert_eq!(ix.total_size(), 70);
    }

    #[test]
    fn unread_entries_expire_after_inactive() {
        let mut ix = Index::new(100);
        ix.insert("a", 1, 0);
        ix.insert("b", 1, 0);
        ix.touch("b", 50);
        assert_eq!(ix.expire_inactive(60, 60), vec!["a".to_string()]);
        assert!(ix.contains("b"));
        assert_eq!(ix.total_size(), 1);
    }

    #[test]
    fn removing_unknown_key_is_harmless() {
        let mut ix = Index::new(100);
        assert!(!ix.remove("nope"));
        assert!(!ix.touch("nope", 1));
    }
}
