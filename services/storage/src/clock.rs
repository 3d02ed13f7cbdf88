//! Wall-clock time as FastDFS records it: whole seconds since the epoch.

/// Now in unix seconds; 0 on a clock before 1970.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
