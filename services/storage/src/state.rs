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

/// Loads the state, or starts a fresh one stamped `now` and saves it so
/// the join time survives a crash. A damaged file is replaced (with a
/// warning): losing the cursor only moves where new files go.
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
    let s = PersistedState {
        join_time: now,
        rotor: Rotor::default(),
        init: InitState::default(),
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
}
