//! Where a new file goes: which store path, which `HH/HH` data directory,
//! and whether the disk still has room. Pure decisions, no I/O.

use ferrodfs_runtime::Reserved;
use serde::{Deserialize, Serialize};

use crate::config::{DistributeMode, StorePathPolicy};

/// FastDFS's round-robin directory cursor (`g_dist_path_index_high/low`,
/// `g_dist_write_file_count`): `rotate_count` files go into one directory,
/// then `low` advances; when it wraps, `high` advances. Persisted so a
/// restart continues where it stopped, as FastDFS does in storage_stat.dat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct Rotor {
    pub high: u32,
    pub low: u32,
    pub count: u32,
}

impl Rotor {
    /// The directory for the next file, advancing the cursor.
    pub fn next(&mut self, subdirs: u32, rotate_count: u32) -> (u8, u8) {
        // A persisted cursor may come from a config with more subdirs.
        if self.high >= subdirs || self.low >= subdirs {
            *self = Rotor::default();
        }
        let dir = (self.high as u8, self.low as u8);
        self.count += 1;
        if self.count >= rotate_count {
            self.count = 0;
            self.low += 1;
            if self.low >= subdirs {
                self.low = 0;
                self.high += 1;
                if self.high >= subdirs {
                    self.high = 0;
                }
            }
        }
        dir
    }
}

/// libfastcommon's `PJWHash` on a 32-bit signed int, including the
/// arithmetic right shift of a negative intermediate: the directories it
/// picks must be the ones FastDFS picks for the same name.
pub(crate) fn pjw_hash(key: &[u8]) -> i32 {
    const HIGH_BITS: i32 = 0xF000_0000_u32 as i32;
    let mut hash: i32 = 0;
    for &b in key {
        hash = hash.wrapping_shl(4).wrapping_add(b as i32);
        let test = hash & HIGH_BITS;
        if test != 0 {
            hash = (hash ^ (test >> 24)) & !HIGH_BITS;
        }
    }
    hash
}

/// `file_distribute_path_mode = 1`: directories from the hash of the 27
/// base64 characters of the file name.
pub(crate) fn hashed_subdir(encoded: &str, subdirs: u32) -> (u8, u8) {
    let n = pjw_hash(encoded.as_bytes()).rem_euclid(1 << 16) as u32;
    (
        (((n >> 8) & 0xFF) % subdirs) as u8,
        ((n & 0xFF) % subdirs) as u8,
    )
}

/// The data directory for a new file whose name encodes to `encoded`.
pub(crate) fn subdir_for(
    mode: DistributeMode,
    rotor: &mut Rotor,
    subdirs: u32,
    encoded: &str,
) -> (u8, u8) {
    match mode {
        DistributeMode::RoundRobin { rotate_count } => rotor.next(subdirs, rotate_count),
        DistributeMode::Hash => hashed_subdir(encoded, subdirs),
    }
}

/// Whether `incoming` bytes fit on a disk with `free` of `total` bytes and
/// still leave the reservation intact afterwards.
pub(crate) fn has_room(reserved: Reserved, free: u64, total: u64, incoming: u64) -> bool {
    free >= incoming && reserved.allows(free - incoming, total)
}

/// The store path for an upload whose client let the storage choose:
/// round robin advances `cursor`; load balance takes the most free space
/// (first one on a tie). `free` has one entry per store path.
pub(crate) fn choose_store_path(
    policy: StorePathPolicy,
    cursor: &mut usize,
    free: &[u64],
) -> usize {
    match policy {
        StorePathPolicy::RoundRobin => {
            let i = *cursor % free.len();
            *cursor = (i + 1) % free.len();
            i
        }
        StorePathPolicy::LoadBalance => {
            let mut best = 0;
            for (i, &f) in free.iter().enumerate() {
                if f > free[best] {
                    best = i;
                }
            }
            *cursor = best;
            best
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_fills_each_directory_rotate_count_times() {
        let mut r = Rotor::default();
        let dirs: Vec<_> = (0..7).map(|_| r.next(256, 3)).collect();
        assert_eq!(
            dirs,
            [(0, 0), (0, 0), (0, 0), (0, 1), (0, 1), (0, 1), (0, 2)]
        );
    }

    #[test]
    fn round_robin_wraps_low_into_high_and_high_to_zero() {
        let mut r = Rotor {
            high: 1,
            low: 1,
            count: 0,
        };
        assert_eq!(r.next(2, 1), (1, 1));
        assert_eq!(r, Rotor::default(), "both levels wrapped");
        let mut r = Rotor {
            high: 0,
            low: 1,
            count: 0,
        };
        r.next(2, 1);
        assert_eq!((r.high, r.low), (1, 0));
    }

    #[test]
    fn a_cursor_beyond_fewer_subdirs_restarts_at_zero() {
        let mut r = Rotor {
            high: 200,
            low: 3,
            count: 5,
        };
        assert_eq!(r.next(16, 100), (0, 0));
    }

    #[test]
    fn pjw_hash_matches_libfastcommon() {
        assert_eq!(pjw_hash(b""), 0);
        assert_eq!(pjw_hash(b"A"), 65);
        assert_eq!(pjw_hash(b"AB"), (65 << 4) + 66);
    }

    #[test]
    fn pjw_hash_keeps_the_signed_shift_of_the_c_code() {
        // Expected values come from a model of PJW_HASH_FUNC on a signed
        // 32-bit int; an unsigned port gives 100969524 and 162220825.
        assert_eq!(pjw_hash(b"wKgBh1Xtr9-AeTfWAAVFOL7FJU4"), 107_258_852);
        assert_eq!(pjw_hash(b"CvoAC2sFvZSAFK0PAAGGoPHv2PY"), 111_459_097);
    }

    #[test]
    fn hash_mode_splits_the_low_16_bits_into_two_directories() {
        // 107258852 % 65536 = 41956 = 0xA3E4
        assert_eq!(
            hashed_subdir("wKgBh1Xtr9-AeTfWAAVFOL7FJU4", 256),
            (0xA3, 0xE4)
        );
        assert_eq!(
            hashed_subdir("wKgBh1Xtr9-AeTfWAAVFOL7FJU4", 16),
            (0xA3 % 16, 0xE4 % 16)
        );
    }

    #[test]
    fn hashed_directories_stay_below_subdir_count() {
        for name in [
            "wKgBh1Xtr9-AeTfWAAVFOL7FJU4",
            "CvoAC2sFvZSAFK0PAAGGoPHv2PY",
            "x",
        ] {
            let (h, l) = hashed_subdir(name, 10);
            assert!(h < 10 && l < 10);
            assert_eq!(hashed_subdir(name, 10), (h, l), "deterministic");
        }
    }

    #[test]
    fn reserved_space_counts_the_incoming_file() {
        let pct = Reserved::Percent(10.0);
        assert!(has_room(pct, 500, 1000, 300));
        assert!(
            !has_room(pct, 500, 1000, 400),
            "only 100 of 1000 would be left"
        );
        assert!(!has_room(pct, 50, 1000, 100), "larger than the free space");
        assert!(!has_room(Reserved::Percent(99.99), 1 << 30, 1 << 40, 1));
        assert!(has_room(Reserved::Bytes(100), 1000, 10_000, 899));
        assert!(!has_room(Reserved::Bytes(100), 1000, 10_000, 900));
    }

    #[test]
    fn round_robin_store_paths_rotate() {
        let mut cur = 0;
        let picks: Vec<_> = (0..4)
            .map(|_| choose_store_path(StorePathPolicy::RoundRobin, &mut cur, &[9, 9, 9]))
            .collect();
        assert_eq!(picks, [0, 1, 2, 0]);
    }

    #[test]
    fn load_balance_takes_the_most_free_space() {
        let mut cur = 0;
        assert_eq!(
            choose_store_path(StorePathPolicy::LoadBalance, &mut cur, &[5, 9, 9, 1]),
            1
        );
        assert_eq!(cur, 1, "reported as current_write_path");
    }
}
