//! Which cached entries exist, how big they are, and when each was last read:
//! the size cap evicts least recently read first, and entries unread for
//! `inactive` are dropped (nginx `proxy_cache_path max_size= inactive=`).
//!
//! An entry may also carry a memo: what a hit needs, kept in memory so
//! the next hit does not read or decode the file again. Memos share a byte
//! budget of their own, spent on the most recently read entries; a memo
//! goes with its entry (purge, eviction, expiry, a new fill or a
//! revalidation, which re-inserts the entry), so it never outlives what it
//! was read from. Each insert makes a new generation, and a memo is only
//! attached to the generation it was read from.
//!
//! Pure bookkeeping with the clock passed in (seconds since the epoch); the
//! disk store deletes the files this returns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Debug)]
struct Entry<M> {
    size: u64,
    seq: u64,
    last_access: u64,
    /// Changes on every insert of the key.
    generation: u64,
    memo: Option<(Arc<M>, u64)>,
}

/// What [`Index::touch`] finds.
#[derive(Debug)]
pub struct Touched<M> {
    /// Pass back to [`Index::remember`] with a memo read for this entry.
    pub generation: u64,
    pub memo: Option<Arc<M>>,
}

#[derive(Debug)]
pub struct Index<M> {
    entries: HashMap<String, Entry<M>>,
    /// Access order: the smallest `seq` is the least recently read.
    order: BTreeMap<u64, String>,
    /// The same order, for the entries holding a memo.
    memo_order: BTreeMap<u64, String>,
    next_seq: u64,
    total: u64,
    max_size: u64,
    memo_total: u64,
    memo_budget: u64,
}

impl<M> Index<M> {
    /// An index of at most `max_size` bytes of entries, keeping memos of
    /// at most `memo_budget` bytes in all (0: none).
    pub fn new(max_size: u64, memo_budget: u64) -> Self {
        Index {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            memo_order: BTreeMap::new(),
            next_seq: 0,
            total: 0,
            max_size,
            memo_total: 0,
            memo_budget,
        }
    }

    pub fn total_size(&self) -> u64 {
        self.total
    }

    /// Bytes of memos held.
    pub fn memo_size(&self) -> u64 {
        self.memo_total
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
                generation: seq,
                memo: None,
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
            self.remove(&oldest);
            evicted.push(oldest);
        }
        evicted
    }

    /// Marks an entry as just read; `None` if it is not indexed.
    pub fn touch(&mut self, key: &str, now: u64) -> Option<Touched<M>> {
        let seq = self.bump();
        let e = self.entries.get_mut(key)?;
        self.order.remove(&e.seq);
        if e.memo.is_some() {
            self.memo_order.remove(&e.seq);
            self.memo_order.insert(seq, key.to_string());
        }
        e.seq = seq;
        e.last_access = e.last_access.max(now);
        self.order.insert(seq, key.to_string());
        Some(Touched {
            generation: e.generation,
            memo: e.memo.as_ref().map(|(m, _)| m.clone()),
        })
    }

    /// Keeps `memo` (weighing `weight` bytes) with the entry of `key` if
    /// that is still `generation`, dropping the least recently read memos
    /// to stay within the budget. False when not kept.
    pub fn remember(&mut self, key: &str, generation: u64, memo: Arc<M>, weight: u64) -> bool {
        if weight > self.memo_budget {
            return false;
        }
        let Some(e) = self.entries.get_mut(key) else {
            return false;
        };
        if e.generation != generation {
            return false;
        }
        if let Some((_, old)) = e.memo.replace((memo, weight)) {
            self.memo_total -= old;
        } else {
            self.memo_order.insert(e.seq, key.to_string());
        }
        self.memo_total += weight;
        while self.memo_total > self.memo_budget {
            let (_, oldest) = self
                .memo_order
                .pop_first()
                .expect("memo_total > 0 means a memo exists");
            let dropped = self
                .entries
                .get_mut(&oldest)
                .and_then(|e| e.memo.take())
                .expect("memo_order and entries agree");
            self.memo_total -= dropped.1;
        }
        true
    }

    pub fn remove(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some(e) => {
                self.order.remove(&e.seq);
                if let Some((_, weight)) = e.memo {
                    self.memo_order.remove(&e.seq);
                    self.memo_total -= weight;
                }
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
        let mut ix = Index::<u32>::new(100, 0);
        assert!(ix.insert("a", 40, 0).is_empty());
        assert!(ix.insert("b", 40, 1).is_empty());
        ix.touch("a", 2);
        assert_eq!(ix.insert("c", 40, 3), vec!["b".to_string()]);
        assert!(ix.contains("a") && ix.contains("c"));
        assert_eq!(ix.total_size(), 80);
    }

    #[test]
    fn entry_bigger_than_the_cache_is_not_kept() {
        let mut ix = Index::<u32>::new(10, 0);
        assert_eq!(ix.insert("big", 11, 0), vec!["big".to_string()]);
        assert_eq!(ix.len(), 0);
        assert_eq!(ix.total_size(), 0);
    }

    #[test]
    fn reinserting_replaces_the_old_size() {
        let mut ix = Index::<u32>::new(100, 0);
        ix.insert("a", 60, 0);
        assert!(ix.insert("a", 70, 1).is_empty());
        assert_eq!(ix.total_size(), 70);
    }

    #[test]
    fn unread_entries_expire_after_inactive() {
        let mut ix = Index::<u32>::new(100, 0);
        ix.insert("a", 1, 0);
        ix.insert("b", 1, 0);
        ix.touch("b", 50);
        assert_eq!(ix.expire_inactive(60, 60), vec!["a".to_string()]);
        assert!(ix.contains("b"));
        assert_eq!(ix.total_size(), 1);
    }

    #[test]
    fn removing_unknown_key_is_harmless() {
        let mut ix = Index::<u32>::new(100, 0);
        assert!(!ix.remove("nope"));
        assert!(ix.touch("nope", 1).is_none());
    }

    fn memo_of(ix: &mut Index<u32>, key: &str) -> Option<u32> {
        ix.touch(key, 0).and_then(|t| t.memo).map(|m| *m)
    }

    #[test]
    fn a_memo_is_kept_for_the_generation_it_was_read_from() {
        let mut ix = Index::new(100, 10);
        ix.insert("a", 10, 0);
        let read = ix.touch("a", 0).unwrap();
        assert!(read.memo.is_none());
        assert!(ix.remember("a", read.generation, Arc::new(7), 4));
        assert_eq!(memo_of(&mut ix, "a"), Some(7));
        assert_eq!(ix.memo_size(), 4);
        // A new fill of the key replaces the entry and forgets the memo; a
        // memo read from the old file is refused.
        ix.insert("a", 10, 1);
        assert_eq!(memo_of(&mut ix, "a"), None);
        assert!(!ix.remember("a", read.generation, Arc::new(7), 4));
        assert_eq!(ix.memo_size(), 0);
        assert!(!ix.remember("gone", 1, Arc::new(1), 1));
    }

    #[test]
    fn memos_go_with_their_entry() {
        let mut ix = Index::new(30, 100);
        for (k, now) in [("a", 0), ("b", 1), ("c", 2)] {
            ix.insert(k, 10, now);
            let g = ix.touch(k, now).unwrap().generation;
            ix.remember(k, g, Arc::new(1), 5);
        }
        assert_eq!(ix.memo_size(), 15);
        ix.remove("a");
        assert_eq!(ix.memo_size(), 10);
        assert_eq!(ix.insert("d", 10, 3), Vec::<String>::new());
        assert_eq!(ix.insert("e", 10, 3), vec!["b".to_string()]);
        assert_eq!(ix.memo_size(), 5, "b's memo left with it");
        assert_eq!(ix.expire_inactive(100, 50).len(), 3);
        assert_eq!(ix.memo_size(), 0);
    }

    #[test]
    fn the_memo_budget_drops_least_recently_read_memos() {
        let mut ix = Index::new(100, 10);
        for k in ["a", "b"] {
            ix.insert(k, 1, 0);
            let g = ix.touch(k, 0).unwrap().generation;
            assert!(ix.remember(k, g, Arc::new(1), 5));
        }
        ix.touch("a", 1);
        ix.insert("c", 1, 1);
        let g = ix.touch("c", 1).unwrap().generation;
        assert!(ix.remember("c", g, Arc::new(3), 5));
        assert_eq!(memo_of(&mut ix, "b"), None, "least recently read");
        assert_eq!(memo_of(&mut ix, "a"), Some(1));
        assert_eq!(memo_of(&mut ix, "c"), Some(3));
        assert!(ix.contains("b"), "the entry itself stays");
        assert_eq!(ix.memo_size(), 10);
        let g = ix.touch("b", 2).unwrap().generation;
        assert!(
            !ix.remember("b", g, Arc::new(1), 11),
            "over the whole budget"
        );
    }

    #[test]
    fn a_zero_budget_keeps_no_memo() {
        let mut ix = Index::new(100, 0);
        ix.insert("a", 1, 0);
        let g = ix.touch("a", 0).unwrap().generation;
        assert!(!ix.remember("a", g, Arc::new(1), 1));
        assert_eq!(memo_of(&mut ix, "a"), None);
    }
}
