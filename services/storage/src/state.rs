//! What a storage remembers across restarts: when it first joined and
//! where it stands in its initial full copy (FastDFS keeps both in
//! `.data_init_flag`), and the round-robin directory cursor (FastDFS keeps
//! it in `storage_stat.dat`).

use std::io;
use std::path::{Path, PathBuf};

use ferrodfs_proto::cluster::InitState;
use serde::{Deserialize, Serialize};

use crate::distribute::Rotor;

const STATE_FILE: &str = "storage_state.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PersistedState {
    /// Unix time of the very first start with this base_path.
    pub join_time: i64,
    #[serde(default)]
    pub rotor: Rotor,
    /// A state file from before group sync belongs to a storage that
    /// already holds its data.
    #[serde(default = "InitState::holding")]
    pub init: InitState,
}

pub(crate) fn state_path(base_path: &Path) -> PathBuf {
    base_path.join("data").join(STATE_FILE)
}

/// Loads the state, or starts a fresh one and saves it so the join time
/// survives a crash. A fresh state adopts what a FastDFS storage left in
/// this base path (its join time, full-copy state and directory cursor,
/// see [`crate::fastdfs_files`]), else it is stamped `now`. A damaged file
/// is replaced (with a warning): losing the cursor only moves where new
/// files go.
pub(crate) fn load_or_init(base_path: &Path, now: i64) -> io::Result<PersistedState> {
    let path = state_path(base_path);
    match std::fs::read(&path) {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(s) => return Ok(s),
            Err(e) => tracing::warn!("{}: unreadable ({e}); starting a new one", path.display()),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let flag = crate::fastdfs_files::load_init_flag(base_path)?;
    let stat = crate::fastdfs_files::load_stat(base_path)?;
    if flag.is_some() || stat.is_some() {
        tracing::info!(
            base_path = %base_path.display(),
            "adopting a FastDFS base path: join time, full-copy state and directory cursor \
             from .data_init_flag and storage_stat.dat"
        );
    }
    let s = PersistedState {
        join_time: flag.as_ref().map_or(now, |f| f.join_time),
        rotor: stat.map(|s| s.rotor).unwrap_or_default(),
        init: flag.map(|f| f.init).unwrap_or_default(),
    };
    save(base_path, &s)?;
    Ok(s)
}

/// Writes the state atomically (temp file, then rename; blocking). Saves
/// are serialised, so two never share the temp file.
pub(crate) fn save(base_path: &Path, s: &PersistedState) -> io::Result<()> {
    static SAVING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = SAVING.lock().unwrap_or_else(|e| e.into_inner());
    let path = state_path(base_path);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(s).map_err(io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_time_is_kept_from_the_first_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let first = load_or_init(dir.path(), 100).unwrap();
        assert_eq!(first.join_time, 100);
        assert!(!first.init.done, "a new storage holds nothing yet");
        let mut s = first;
        s.rotor.low = 7;
        save(dir.path(), &s).unwrap();
        let again = load_or_init(dir.path(), 200).unwrap();
        assert_eq!(again.join_time, 100);
        assert_eq!(again.rotor.low, 7);
    }

    #[test]
    fn a_state_file_from_before_group_sync_means_the_data_is_here() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(state_path(dir.path()), br#"{"join_time": 3}"#).unwrap();
        assert!(load_or_init(dir.path(), 5).unwrap().init.done);
    }

    #[test]
    fn a_damaged_state_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(state_path(dir.path()), b"{not json").unwrap();
        assert_eq!(load_or_init(dir.path(), 5).unwrap().join_time, 5);
    }

    #[test]
    fn a_fastdfs_base_path_is_adopted_with_its_join_time_state_and_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            data.join(".data_init_flag"),
            "storage_join_time=1600000000\nsync_old_done=1\nsync_src_server=\nsync_until_timestamp=0\n",
        )
        .unwrap();
        std::fs::write(
            data.join("storage_stat.dat"),
            "total_upload_count=3\nsuccess_upload_count=3\ndist_path_index_high=2\n\
             dist_path_index_low=9\ndist_write_file_count=4\n",
        )
        .unwrap();
        let s = load_or_init(dir.path(), 5).unwrap();
        assert_eq!(s.join_time, 1_600_000_000);
        assert!(s.init.done, "FastDFS had finished its full copy");
        assert_eq!((s.rotor.high, s.rotor.low, s.rotor.count), (2, 9, 4));
        // From then on our own state file answers, FastDFS's is not read again.
        std::fs::remove_file(data.join(".data_init_flag")).unwrap();
        assert_eq!(
            load_or_init(dir.path(), 6).unwrap().join_time,
            1_600_000_000
        );
    }
}
