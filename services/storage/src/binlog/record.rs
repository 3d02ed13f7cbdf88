//! One binlog line, in FastDFS's format (storage/storage_sync.c):
//! `<unix_ts> <op> <Mxx/HH/HH/name>[ extra]`. The op letter is upper case
//! when this storage is the file's source and lower case when the change
//! arrived by sync from a peer; only upper-case records are pushed to
//! peers, which is what keeps replication from ping-ponging.

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Delete,
    /// Whole-file update: a metadata file rewritten.
    Update,
    Append {
        offset: u64,
        length: u64,
    },
    Modify {
        offset: u64,
        length: u64,
    },
    Truncate {
        old_size: u64,
        new_size: u64,
    },
    /// The file (the record's name) was renamed from `from`: an appender
    /// file given a normal name (REGENERATE_APPENDER_FILENAME), logged as
    /// FastDFS does, `R <new name> <old name>`.
    Rename {
        from: String,
    },
}

impl Op {
    fn letter(&self) -> char {
        match self {
            Op::Create => 'C',
            Op::Delete => 'D',
            Op::Update => 'U',
            Op::Append { .. } => 'A',
            Op::Modify { .. } => 'M',
            Op::Truncate { .. } => 'T',
            Op::Rename { .. } => 'R',
        }
    }
}

/// One change as the binlog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub ts: i64,
    pub op: Op,
    /// Lower-case letter: applied here as a copy of another storage's change.
    pub replica: bool,
    pub name: String,
}

impl Record {
    /// The line, newline included.
    pub fn format(&self) -> String {
        let l = self.op.letter();
        let l = if self.replica {
            l.to_ascii_lowercase()
        } else {
            l
        };
        let (ts, name) = (self.ts, &self.name);
        match &self.op {
            Op::Create | Op::Delete | Op::Update => format!("{ts} {l} {name}\n"),
            Op::Append { offset, length } | Op::Modify { offset, length } => {
                format!("{ts} {l} {name} {offset} {length}\n")
            }
            Op::Truncate { old_size, new_size } => {
                format!("{ts} {l} {name} {old_size} {new_size}\n")
            }
            Op::Rename { from } => format!("{ts} {l} {name} {from}\n"),
        }
    }

    /// Parses one line (with or without its newline). `None` for anything
    /// this storage never writes (links, damaged lines): the caller skips
    /// it rather than stopping replication on it.
    pub fn parse(line: &str) -> Option<Record> {
        let mut parts = line.trim_end_matches('\n').split(' ');
        let ts = parts.next()?.parse().ok()?;
        let letter = parts.next()?;
        let name = parts.next()?.to_string();
        let [c] = letter.as_bytes() else {
            return None;
        };
        if c.eq_ignore_ascii_case(&b'R') {
            let from = parts.next().filter(|f| !f.is_empty())?.to_string();
            return (!name.is_empty()).then(|| Record {
                ts,
                op: Op::Rename { from },
                replica: c.is_ascii_lowercase(),
                name,
            });
        }
        let mut num = || parts.next().and_then(|v| v.parse::<u64>().ok());
        let op = match c.to_ascii_uppercase() {
            b'C' => Op::Create,
            b'D' => Op::Delete,
            b'U' => Op::Update,
            b'A' => Op::Append {
                offset: num()?,
                length: num()?,
            },
            b'M' => Op::Modify {
                offset: num()?,
                length: num()?,
            },
            b'T' => Op::Truncate {
                old_size: num()?,
                new_size: num()?,
            },
            _ => return None,
        };
        if name.is_empty() {
            return None;
        }
        Some(Record {
            ts,
            op,
            replica: c.is_ascii_lowercase(),
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";

    fn rec(ts: i64, op: Op, replica: bool) -> Record {
        Record {
            ts,
            op,
            replica,
            name: NAME.into(),
        }
    }

    #[test]
    fn records_use_fastdfs_letters_and_extras() {
        assert_eq!(
            rec(1700000000, Op::Create, false).format(),
            format!("1700000000 C {NAME}\n")
        );
        assert_eq!(rec(1, Op::Delete, false).format(), format!("1 D {NAME}\n"));
        let append = Op::Append {
            offset: 10,
            length: 5,
        };
        assert_eq!(rec(2, append, false).format(), format!("2 A {NAME} 10 5\n"));
        let modify = Op::Modify {
            offset: 0,
            length: 4,
        };
        assert_eq!(rec(3, modify, false).format(), format!("3 M {NAME} 0 4\n"));
        let truncate = Op::Truncate {
            old_size: 9,
            new_size: 2,
        };
        assert_eq!(
            rec(4, truncate, false).format(),
            format!("4 T {NAME} 9 2\n")
        );
    }

    #[test]
    fn renames_name_the_new_file_then_the_old_one() {
        let r = rec(
            6,
            Op::Rename {
                from: "M00/00/00/old".into(),
            },
            false,
        );
        assert_eq!(r.format(), format!("6 R {NAME} M00/00/00/old\n"));
        let replica = Record { replica: true, ..r };
        assert_eq!(replica.format(), format!("6 r {NAME} M00/00/00/old\n"));
    }

    #[test]
    fn replica_records_use_lower_case_letters() {
        assert_eq!(rec(5, Op::Create, true).format(), format!("5 c {NAME}\n"));
        assert_eq!(rec(5, Op::Update, true).format(), format!("5 u {NAME}\n"));
    }

    #[test]
    fn every_record_parses_back_to_itself() {
        for op in [
            Op::Create,
            Op::Delete,
            Op::Update,
            Op::Append {
                offset: 7,
                length: 8,
            },
            Op::Modify {
                offset: 1,
                length: 2,
            },
            Op::Truncate {
                old_size: 3,
                new_size: 0,
            },
            Op::Rename {
                from: "M00/00/00/old".into(),
            },
        ] {
            for replica in [false, true] {
                let r = rec(1_700_000_123, op.clone(), replica);
                assert_eq!(Record::parse(&r.format()), Some(r));
            }
        }
    }

    #[test]
    fn lines_this_storage_never_writes_are_skipped() {
        for line in [
            "",
            "x C name",
            "1 L link target",
            "1 R name",
            "1 A name 5",
            "1 CC name",
            "1 C",
        ] {
            assert_eq!(Record::parse(line), None, "{line:?}");
        }
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    /// A name as the binlog holds it: no spaces, no newlines, not empty.
    const NAME: &str = "[A-Za-z0-9_./-]{1,60}";

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Create),
            Just(Op::Delete),
            Just(Op::Update),
            any::<(u64, u64)>().prop_map(|(offset, length)| Op::Append { offset, length }),
            any::<(u64, u64)>().prop_map(|(offset, length)| Op::Modify { offset, length }),
            any::<(u64, u64)>()
                .prop_map(|(old_size, new_size)| Op::Truncate { old_size, new_size }),
            NAME.prop_map(|from| Op::Rename { from }),
        ]
    }

    /// Lines shaped like binlog lines, with any letter, numbers and extras.
    fn line_like() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,100}",
            (
                "-?[0-9]{1,20}",
                "[A-Za-z]{0,2}",
                "[^ ]{0,40}",
                proptest::collection::vec("[0-9]{0,21}|[^ ]{0,5}", 0..4),
            )
                .prop_map(|(ts, l, name, extra)| {
                    let mut s = format!("{ts} {l} {name}");
                    for e in extra {
                        s.push(' ');
                        s.push_str(&e);
                    }
                    s
                }),
        ]
    }

    proptest! {
        #[test]
        fn any_line_parses_or_is_skipped(line in line_like()) {
            if let Some(r) = Record::parse(&line) {
                prop_assert!(!r.name.is_empty());
                prop_assert!(!r.name.contains(' '));
            }
        }

        #[test]
        fn records_round_trip(ts: i64, op in op(), replica: bool, name in NAME) {
            let r = Record { ts, op, replica, name };
            let line = r.format();
            prop_assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            prop_assert_eq!(Record::parse(&line), Some(r.clone()));
            prop_assert_eq!(Record::parse(line.trim_end()), Some(r));
        }
    }
}
