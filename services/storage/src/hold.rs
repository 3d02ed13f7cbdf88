//! Holding files: what a change keeps on disk while it is in progress,
//! so that a crash in the middle of it is resolved at the next start and
//! every member ends with the same files.
//!
//! They live in `<store_path>/data/.hold/` (a rename into it stays on the
//! store path's file system, and start-up reads one directory instead of
//! 65,536), named `<HH>_<HH>_<name>.<kind>`; no file ID reaches them.
//!
//! | kind | made by | found at start (the change was never acknowledged) |
//! |---|---|---|
//! | `deleting` | delete: the file moved aside | put back and re-announced (`C`), unless the delete had finished |
//! | `undo` | modify, truncate with `min_copies`: the old content | put back and re-announced (`C`) |
//! | `intent` | append, modify, truncate, set metadata: the record to be logged | an append is cut back to its old size (`T`); a modify or truncate is logged as it stands, so peers copy it; a metadata file is announced as it stands (`C`), or as removed (`D`) if it is gone |
//!
//! A holding file is removed before the client gets its reply, so one
//! found at start always belongs to an unacknowledged change: rolling it
//! back, or making every member agree on what reached the disk, never
//! loses acknowledged data.

use std::io;
use std::path::{Path, PathBuf};

use ferrodfs_proto::file_id::LogicalName;

use crate::binlog::{Binlog, Op, Record};

/// Inside each store path.
pub(crate) const HOLD_DIR: &str = "data/.hold";
/// The store path writer's journal of files placed but not yet logged
/// ([`Placing`]), in [`HOLD_DIR`].
const PLACING: &str = "placing";
/// How much of the binlog's end start-up reads for the names a placing
/// journal lists: the writer clears its journal right after logging its
/// batch, so those records are among the last written.
const PLACING_TAIL: u64 = 4 << 20;
/// A copy being made; it becomes a holding file only once complete.
const PART: &str = "part";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Deleting,
    Undo,
    Intent,
}

impl Kind {
    fn ext(self) -> &'static str {
        match self {
            Kind::Deleting => "deleting",
            Kind::Undo => "undo",
            Kind::Intent => "intent",
        }
    }

    fn from_ext(s: &str) -> Option<Kind> {
        [Kind::Deleting, Kind::Undo, Kind::Intent]
            .into_iter()
            .find(|k| k.ext() == s)
    }
}

/// The holding file of `kind` for `name` (which may be a `-m` name) in
/// store path `root`.
pub(crate) fn path(root: &Path, name: &LogicalName, kind: Kind) -> PathBuf {
    root.join(HOLD_DIR).join(format!(
        "{:02X}_{:02X}_{}.{}",
        name.dir1,
        name.dir2,
        name.name,
        kind.ext()
    ))
}

/// The name and kind a holding file stands for; `None` for anything else.
fn parse(store_path: u8, file_name: &str) -> Option<(LogicalName, Kind)> {
    let (rest, ext) = file_name.rsplit_once('.')?;
    let kind = Kind::from_ext(ext)?;
    let hex = |s: &str| u8::from_str_radix(s, 16).ok();
    let (d1, rest) = rest.split_once('_')?;
    let (d2, name) = rest.split_once('_')?;
    if d1.len() != 2 || d2.len() != 2 || name.is_empty() {
        return None;
    }
    Some((
        LogicalName {
            store_path,
            dir1: hex(d1)?,
            dir2: hex(d2)?,
            name: name.to_string(),
        },
        kind,
    ))
}

/// Writes the intent of an in-place change: the record it will log.
pub(crate) async fn write_intent(hold: &Path, name: &LogicalName, op: Op) -> io::Result<()> {
    let line = Record {
        ts: 0,
        op,
        replica: false,
        name: name.to_string(),
    }
    .format();
    tokio::fs::write(hold, line).await
}

/// Copies `data` to its `undo` holding file: under a temporary name
/// first, so a crash during the copy never leaves a partial copy that
/// start-up would put back.
pub(crate) async fn snapshot(data: &Path, hold: &Path) -> io::Result<()> {
    let part = hold.with_extension(PART);
    tokio::fs::copy(data, &part).await?;
    tokio::fs::rename(&part, hold).await
}

/// Removes a holding file once its change is settled.
pub(crate) async fn release(hold: &Path) {
    released(hold, tokio::fs::remove_file(hold).await);
}

/// Logs a failed removal of holding file `hold` (gone already is fine).
pub(crate) fn released(hold: &Path, r: io::Result<()>) {
    match r {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot remove holding file {}: {e}", hold.display()),
    }
}

/// The names a store path writer is placing in its current batch, one
/// per line, written before each file takes its name and cleared once the
/// batch is logged: what start-up finds listed and not logged was never
/// acknowledged, is held by no peer, and is removed. Kept open and
/// written in place (a NUL ends the list), so a batch costs one `pwrite`
/// per file and one to clear, and no directory operation.
pub(crate) struct Placing {
    file: std::fs::File,
    len: u64,
    /// Where the last line starts.
    last: u64,
}

impl Placing {
    /// Opens (or creates) store path `root`'s journal without clearing it:
    /// open it only after start-up has read it ([`recover`]).
    pub fn open(root: &Path) -> io::Result<Placing> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join(HOLD_DIR).join(PLACING))?;
        Ok(Placing {
            file,
            len: 0,
            last: 0,
        })
    }

    /// Lists `name`, just before its file takes it; `None` drops the
    /// name listed last, which turned out taken by another file (that
    /// file is not this batch's to remove).
    pub fn note(&mut self, name: Option<&LogicalName>) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let Some(name) = name else {
            self.file.write_all_at(b"\0", self.last)?;
            self.len = self.last;
            return Ok(());
        };
        let line = format!("{name}\n\0");
        self.file.write_all_at(line.as_bytes(), self.len)?;
        self.last = self.len;
        self.len += line.len() as u64 - 1;
        Ok(())
    }

    /// Empties the list once its names are logged, but for `keep`: files
    /// of a batch that could not be logged nor removed, which start-up
    /// must still remove.
    pub fn clear(&mut self, keep: &[LogicalName]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        if self.len == 0 && keep.is_empty() {
            return Ok(());
        }
        let mut list = String::new();
        for name in keep {
            list.push_str(&format!("{name}\n"));
        }
        list.push('\0');
        self.file.write_all_at(list.as_bytes(), 0)?;
        self.len = list.len() as u64 - 1;
        // Nothing noted since: a `note(None)` now drops nothing.
        self.last = self.len;
        Ok(())
    }
}

/// Removes the files store path `root`'s placing journal lists that the
/// binlog lacks (placed, then the storage died before logging them);
/// how many. The journal is removed after.
fn remove_unlogged(root: &Path, idx: usize, binlog: &Binlog) -> io::Result<usize> {
    let journal = root.join(HOLD_DIR).join(PLACING);
    let text = match std::fs::read(&journal) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let listed = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
    let names: Vec<LogicalName> = String::from_utf8_lossy(listed)
        .lines()
        .filter_map(|l| LogicalName::parse(l).ok())
        .filter(|n| usize::from(n.store_path) == idx)
        .collect();
    let mut removed = 0;
    if !names.is_empty() {
        let logged = logged_near_end(binlog)?;
        for n in names {
            if logged.contains(&n.to_string()) {
                continue;
            }
            match std::fs::remove_file(root.join(n.rel_path())) {
                Ok(()) => {
                    tracing::info!("{n}: placed but never logged nor acknowledged; removed");
                    removed += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    std::fs::remove_file(&journal)?;
    Ok(removed)
}

/// The names of the records in the last [`PLACING_TAIL`] bytes of the
/// binlog (of the file before the current one too, which a rollover
/// right after a batch leaves it in).
fn logged_near_end(binlog: &Binlog) -> io::Result<std::collections::HashSet<String>> {
    let end = binlog.end();
    let mut names = std::collections::HashSet::new();
    for index in [end.index.checked_sub(1), Some(end.index)]
        .into_iter()
        .flatten()
    {
        let size = if index == end.index {
            end.offset
        } else {
            match std::fs::metadata(crate::binlog::binlog_file(binlog.dir(), index)) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        };
        let mut pos = crate::binlog::Pos {
            index,
            offset: size.saturating_sub(PLACING_TAIL),
        };
        let stop = crate::binlog::Pos {
            index,
            offset: size,
        };
        while pos < stop {
            let entries = crate::binlog::read_from(binlog.dir(), pos, stop, 1 << 20)?;
            let Some(last) = entries.last() else { break };
            pos = last.next;
            names.extend(entries.into_iter().filter_map(|e| e.record.map(|r| r.name)));
        }
    }
    Ok(names)
}

/// How an in-place change that did not finish is settled, from its
/// intent and the file's size now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Repair {
    /// Cut the file back to this size (an append's old size).
    pub cut_to: Option<u64>,
    /// Then log this, as this storage's change.
    pub log: Option<Op>,
}

/// An append is cut back to where it started; a modify is logged as it
/// was meant (peers copy the range as it now stands here); a truncate is
/// logged with the size the file has; an unreadable intent re-announces
/// the whole file.
pub(crate) fn repair(intent: Option<&Op>, size: u64) -> Repair {
    let (cut_to, log) = match intent {
        Some(Op::Append { offset, .. }) if size > *offset => (
            Some(*offset),
            Some(Op::Truncate {
                old_size: size,
                new_size: *offset,
            }),
        ),
        Some(Op::Append { .. }) => (None, None),
        Some(Op::Truncate { old_size, .. }) if size != *old_size => (
            None,
            Some(Op::Truncate {
                old_size: *old_size,
                new_size: size,
            }),
        ),
        Some(Op::Truncate { .. }) => (None, None),
        Some(op @ Op::Modify { .. }) => (None, Some(op.clone())),
        _ => (None, Some(Op::Create)),
    };
    Repair { cut_to, log }
}

/// What start-up did, for its log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub restored: usize,
    pub finished: usize,
    pub cut_back: usize,
    pub announced: usize,
    /// Uploads placed but never logged (nor acknowledged), removed.
    pub unlogged: usize,
}

/// Resolves every holding file left by a crash (blocking: run it before
/// serving, off the runtime threads). Each resolution that changes a
/// file is logged as this storage's change, so the peers follow.
pub(crate) fn recover(store_paths: &[PathBuf], binlog: &Binlog) -> io::Result<Resolved> {
    let mut done = Resolved::default();
    for (idx, root) in store_paths.iter().enumerate() {
        let dir = root.join(HOLD_DIR);
        std::fs::create_dir_all(&dir)?;
        done.unlogged += remove_unlogged(root, idx, binlog)?;
        let mut found = Vec::new();
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let file_name = e.file_name().to_string_lossy().into_owned();
            match parse(idx as u8, &file_name) {
                Some((name, kind)) => found.push((name, kind, e.path())),
                None if file_name.ends_with(&format!(".{PART}")) => {
                    std::fs::remove_file(e.path())?;
                }
                // Kept inodes of deleted files: the store took them back.
                None if crate::recycle::is_kept(&file_name) => {}
                None => tracing::warn!("{}: not a holding file; left alone", e.path().display()),
            }
        }
        // Data files before their metadata files: whether a held
        // metadata file comes back depends on its data file.
        found.sort_by_key(|(n, k, _)| (n.name.ends_with("-m"), *k != Kind::Deleting));
        for (name, kind, held) in found {
            let data = root.join(name.rel_path());
            resolve(binlog, &name, kind, &held, &data, &mut done)?;
        }
    }
    Ok(done)
}

fn resolve(
    binlog: &Binlog,
    name: &LogicalName,
    kind: Kind,
    held: &Path,
    data: &Path,
    done: &mut Resolved,
) -> io::Result<()> {
    let log = |op: Op| binlog.write_blocking(crate::clock::unix_now(), op, &name.to_string());
    match kind {
        Kind::Deleting => {
            let of_data = name.name.strip_suffix("-m").map(|d| data.with_file_name(d));
            let data_gone = of_data.as_ref().is_some_and(|d| !d.exists());
            if data.exists() || data_gone {
                // Re-created since, or the metadata of a file whose delete
                // finished (its data file is removed first).
                std::fs::remove_file(held)?;
                done.finished += 1;
            } else {
                std::fs::rename(held, data)?;
                log(Op::Create)?;
                done.restored += 1;
            }
        }
        Kind::Undo => {
            std::fs::rename(held, data)?;
            log(Op::Create)?;
            done.restored += 1;
        }
        Kind::Intent => {
            let of_data = name.name.strip_suffix("-m").map(|d| data.with_file_name(d));
            if of_data.is_some_and(|d| !d.exists()) {
                // The metadata of a file deleted meanwhile (a delete does
                // not wait for a metadata change): it goes too.
                match std::fs::remove_file(data) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                log(Op::Delete)?;
                done.announced += 1;
                std::fs::remove_file(held)?;
                return Ok(());
            }
            let op = std::fs::read_to_string(held)
                .ok()
                .and_then(|t| Record::parse(&t))
                .map(|r| r.op);
            let size = match std::fs::metadata(data) {
                Ok(m) => Some(m.len()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            if let Some(size) = size {
                let fix = repair(op.as_ref(), size);
                if let Some(len) = fix.cut_to {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(data)?
                        .set_len(len)?;
                    done.cut_back += 1;
                } else if fix.log.is_some() {
                    done.announced += 1;
                }
                if let Some(op) = fix.log {
                    log(op)?;
                }
            } else if name.name.ends_with("-m") {
                // A metadata file removed (or never written): peers that
                // may hold one drop it too.
                log(Op::Delete)?;
                done.announced += 1;
            }
            std::fs::remove_file(held)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::{read_from, FsyncPolicy, Pos};

    const APP: &str = "M00/0A/1F/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.log";

    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        binlog: Binlog,
        name: LogicalName,
        data: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("m0");
        std::fs::create_dir_all(root.join(HOLD_DIR)).unwrap();
        let name = LogicalName::parse(APP).unwrap();
        let data = root.join(name.rel_path());
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        let binlog =
            Binlog::open(&dir.path().join("base"), 1 << 30, FsyncPolicy::Periodic).unwrap();
        Fixture {
            _dir: dir,
            root,
            binlog,
            name,
            data,
        }
    }

    impl Fixture {
        fn recover(&self) -> Resolved {
            recover(std::slice::from_ref(&self.root), &self.binlog).unwrap()
        }

        fn logged(&self) -> Vec<String> {
            read_from(
                self.binlog.dir(),
                Pos::default(),
                self.binlog.end(),
                1 << 20,
            )
            .unwrap()
            .into_iter()
            .map(|e| {
                let r = e.record.unwrap();
                Record { ts: 0, ..r }.format().trim_end().to_string()
            })
            .collect()
        }

        fn hold(&self, name: &LogicalName, kind: Kind) -> PathBuf {
            path(&self.root, name, kind)
        }

        fn holding_left(&self) -> usize {
            std::fs::read_dir(self.root.join(HOLD_DIR)).unwrap().count()
        }
    }

    fn meta_of(name: &LogicalName) -> LogicalName {
        LogicalName {
            name: format!("{}-m", name.name),
            ..name.clone()
        }
    }

    #[test]
    fn holding_names_round_trip() {
        let name = LogicalName::parse(APP).unwrap();
        for kind in [Kind::Deleting, Kind::Undo, Kind::Intent] {
            for n in [name.clone(), meta_of(&name)] {
                let p = path(Path::new("/s"), &n, kind);
                let file = p.file_name().unwrap().to_str().unwrap();
                assert_eq!(parse(0, file), Some((n, kind)), "{file}");
            }
        }
        assert_eq!(parse(0, "0A_1F_x.tmp"), None);
        assert_eq!(parse(0, "zz_1F_x.undo"), None);
    }

    #[tokio::test]
    async fn an_unacknowledged_append_tail_is_cut_back_and_logged() {
        let f = fixture();
        std::fs::write(&f.data, b"0123456789tail").unwrap();
        let op = Op::Append {
            offset: 10,
            length: 4,
        };
        write_intent(&f.hold(&f.name, Kind::Intent), &f.name, op)
            .await
            .unwrap();
        assert_eq!(f.recover().cut_back, 1);
        assert_eq!(std::fs::read(&f.data).unwrap(), b"0123456789");
        assert_eq!(f.logged(), [format!("0 T {APP} 14 10")]);
        assert_eq!(f.holding_left(), 0);
    }

    /// An upload's name in store path 0, told apart by `c`.
    fn name(c: char) -> LogicalName {
        LogicalName::parse(&format!("M00/0A/1F/wKgBh1Xtr9-AeTfWAAVFOL7FJU{c}.jpg")).unwrap()
    }

    #[test]
    fn uploads_placed_but_not_logged_are_removed_at_start() {
        let f = fixture();
        let (logged, unlogged, unplaced) = (name('1'), name('2'), name('3'));
        let mut journal = Placing::open(&f.root).unwrap();
        // An earlier batch, logged and cleared, then one cut short: one
        // file logged, one placed only, one named but never placed.
        journal.note(Some(&name('0'))).unwrap();
        journal.clear(&[]).unwrap();
        // A name found taken by an older file is dropped from the list.
        let (taken, taken_name) = (f.root.join(name('4').rel_path()), name('4'));
        std::fs::write(&taken, b"older").unwrap();
        journal.note(Some(&taken_name)).unwrap();
        journal.note(None).unwrap();
        for n in [&logged, &unlogged, &unplaced] {
            journal.note(Some(n)).unwrap();
        }
        for n in [&logged, &unlogged] {
            std::fs::write(f.root.join(n.rel_path()), b"x").unwrap();
        }
        f.binlog
            .write_blocking(1, Op::Create, &logged.to_string())
            .unwrap();
        drop(journal);
        assert_eq!(f.recover().unlogged, 1);
        assert!(f.root.join(logged.rel_path()).exists());
        assert!(!f.root.join(unlogged.rel_path()).exists());
        assert!(taken.exists(), "a taken name's file is not the batch's");
        assert_eq!(f.holding_left(), 0, "the journal is gone");
        // A journal cleared after its batch was logged lists nothing.
        let mut journal = Placing::open(&f.root).unwrap();
        journal.note(Some(&unlogged)).unwrap();
        journal.clear(&[]).unwrap();
        std::fs::write(f.root.join(unlogged.rel_path()), b"x").unwrap();
        assert_eq!(f.recover().unlogged, 0);
        assert!(f.root.join(unlogged.rel_path()).exists());
    }

    #[test]
    fn a_file_neither_logged_nor_removed_stays_listed_across_later_batches() {
        let f = fixture();
        let (stuck, later, last) = (name('5'), name('6'), name('7'));
        let mut journal = Placing::open(&f.root).unwrap();
        // A batch whose logging failed and whose file could not be removed...
        journal.note(Some(&stuck)).unwrap();
        journal.clear(std::slice::from_ref(&stuck)).unwrap();
        // Nothing noted since the clear: dropping the last name drops nothing.
        journal.note(None).unwrap();
        // ...then a batch that was logged and cleared, and one cut short.
        journal.note(Some(&later)).unwrap();
        f.binlog
            .write_blocking(1, Op::Create, &later.to_string())
            .unwrap();
        journal.clear(std::slice::from_ref(&stuck)).unwrap();
        journal.note(Some(&last)).unwrap();
        // A taken name is dropped without dropping the kept one.
        journal.note(None).unwrap();
        for n in [&stuck, &later, &last] {
            std::fs::write(f.root.join(n.rel_path()), b"x").unwrap();
        }
        drop(journal);
        assert_eq!(f.recover().unlogged, 1);
        assert!(!f.root.join(stuck.rel_path()).exists(), "kept listed");
        assert!(f.root.join(later.rel_path()).exists());
        assert!(f.root.join(last.rel_path()).exists(), "not the batch's");
    }

    #[tokio::test]
    async fn an_unlogged_metadata_change_is_announced_as_it_stands() {
        let f = fixture();
        let meta = meta_of(&f.name);
        let meta_file = f.root.join(meta.rel_path());
        std::fs::write(&f.data, b"data").unwrap();
        // Written but not logged: its copy goes to the peers.
        std::fs::write(&meta_file, b"n\x021").unwrap();
        write_intent(&f.hold(&meta, Kind::Intent), &meta, Op::Update)
            .await
            .unwrap();
        assert_eq!(f.recover().announced, 1);
        // Removed but not logged: the peers remove theirs.
        std::fs::remove_file(&meta_file).unwrap();
        write_intent(&f.hold(&meta, Kind::Intent), &meta, Op::Delete)
            .await
            .unwrap();
        assert_eq!(f.recover().announced, 1);
        // Written after its data file was deleted: removed, everywhere.
        std::fs::write(&meta_file, b"n\x022").unwrap();
        std::fs::remove_file(&f.data).unwrap();
        write_intent(&f.hold(&meta, Kind::Intent), &meta, Op::Update)
            .await
            .unwrap();
        assert_eq!(f.recover().announced, 1);
        assert!(!meta_file.exists());
        assert_eq!(
            f.logged(),
            [
                format!("0 C {APP}-m"),
                format!("0 D {APP}-m"),
                format!("0 D {APP}-m")
            ]
        );
        assert_eq!(f.holding_left(), 0);
    }

    #[tokio::test]
    async fn an_unlogged_modify_or_truncate_is_logged_as_it_stands() {
        let f = fixture();
        std::fs::write(&f.data, b"01XY").unwrap();
        let modify = Op::Modify {
            offset: 2,
            length: 2,
        };
        write_intent(&f.hold(&f.name, Kind::Intent), &f.name, modify)
            .await
            .unwrap();
        f.recover();
        let truncate = Op::Truncate {
            old_size: 4,
            new_size: 9,
        };
        std::fs::OpenOptions::new()
            .write(true)
            .open(&f.data)
            .unwrap()
            .set_len(9)
            .unwrap();
        write_intent(&f.hold(&f.name, Kind::Intent), &f.name, truncate)
            .await
            .unwrap();
        f.recover();
        assert_eq!(
            f.logged(),
            [format!("0 M {APP} 2 2"), format!("0 T {APP} 4 9")]
        );
        assert_eq!(std::fs::read(&f.data).unwrap(), b"01XY\0\0\0\0\0");
        assert_eq!(f.holding_left(), 0);
    }

    #[tokio::test]
    async fn an_undo_copy_is_put_back_and_announced() {
        let f = fixture();
        std::fs::write(&f.data, b"old").unwrap();
        snapshot(&f.data, &f.hold(&f.name, Kind::Undo))
            .await
            .unwrap();
        std::fs::write(&f.data, b"changed").unwrap();
        assert_eq!(f.recover().restored, 1);
        assert_eq!(std::fs::read(&f.data).unwrap(), b"old");
        assert_eq!(f.logged(), [format!("0 C {APP}")]);
        assert_eq!(f.holding_left(), 0);
    }

    #[test]
    fn a_partial_copy_is_discarded() {
        let f = fixture();
        std::fs::write(&f.data, b"current").unwrap();
        let part = f.hold(&f.name, Kind::Undo).with_extension(PART);
        std::fs::write(&part, b"cur").unwrap();
        assert_eq!(f.recover(), Resolved::default());
        assert_eq!(std::fs::read(&f.data).unwrap(), b"current");
        assert_eq!(f.holding_left(), 0);
    }

    #[test]
    fn an_unfinished_delete_puts_the_file_and_its_metadata_back() {
        let f = fixture();
        let meta = meta_of(&f.name);
        let meta_data = f.root.join(meta.rel_path());
        std::fs::write(f.hold(&f.name, Kind::Deleting), b"data").unwrap();
        std::fs::write(f.hold(&meta, Kind::Deleting), b"k\x02v").unwrap();
        assert_eq!(f.recover().restored, 2);
        assert_eq!(std::fs::read(&f.data).unwrap(), b"data");
        assert_eq!(std::fs::read(&meta_data).unwrap(), b"k\x02v");
        assert_eq!(f.logged(), [format!("0 C {APP}"), format!("0 C {APP}-m")]);
        assert_eq!(f.holding_left(), 0);
    }

    #[test]
    fn a_finished_delete_leaves_no_metadata_behind() {
        let f = fixture();
        let meta = meta_of(&f.name);
        std::fs::write(f.hold(&meta, Kind::Deleting), b"k\x02v").unwrap();
        assert_eq!(f.recover().finished, 1);
        assert!(!f.root.join(meta.rel_path()).exists());
        assert!(f.logged().is_empty());
        assert_eq!(f.holding_left(), 0);
    }
}
