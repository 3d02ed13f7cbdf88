//! `Range: bytes=...` (RFC 9110 §14.1.2, §14.2): one range is served as
//! 206, an unsatisfiable or malformed byte range is 416 (as nginx answers),
//! and what this server does not do — several ranges, other units — is
//! ignored, which the RFC allows: the whole file is sent with 200.

/// What a Range header asks of a file of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// No range to honour: send everything (200).
    Full,
    /// Bytes `start..=end` (206).
    Partial { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// One byte-range-spec before the file size is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `a-b` or `a-` (`end` None).
    From { start: u64, end: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_spec(s: &str) -> Option<Spec> {
    let (a, b) = s.trim().split_once('-')?;
    match (a.trim(), b.trim()) {
        ("", n) => digits(n).map(Spec::Suffix),
        (a, "") => digits(a).map(|start| Spec::From { start, end: None }),
        (a, b) => {
            let (start, end) = (digits(a)?, digits(b)?);
            (start <= end).then_some(Spec::From {
                start,
                end: Some(end),
            })
        }
    }
}

/// Applies a `Range` header value to a file of `size` bytes.
pub fn resolve(header: &str, size: u64) -> RangeOutcome {
    let Some((unit, set)) = header.split_once('=') else {
        return RangeOutcome::Unsatisfiable;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeOutcome::Full;
    }
    if set.contains(',') {
        return RangeOutcome::Full;
    }
    let Some(spec) = parse_spec(set) else {
        return RangeOutcome::Unsatisfiable;
    };
    match spec {
        Spec::From { start, .. } if start >= size => RangeOutcome::Unsatisfiable,
        Spec::From { start, end } => RangeOutcome::Partial {
            start,
            end: end.map_or(size - 1, |e| e.min(size - 1)),
        },
        Spec::Suffix(0) => RangeOutcome::Unsatisfiable,
        Spec::Suffix(_) if size == 0 => RangeOutcome::Unsatisfiable,
        Spec::Suffix(n) => RangeOutcome::Partial {
            start: size.saturating_sub(n),
            end: size - 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::RangeOutcome::*;
    use super::*;

    #[test]
    fn a_closed_range_is_clamped_to_the_file() {
        assert_eq!(resolve("bytes=0-9", 100), Partial { start: 0, end: 9 });
        assert_eq!(resolve("bytes=90-200", 100), Partial { start: 90, end: 99 });
        assert_eq!(resolve("bytes=5-5", 100), Partial { start: 5, end: 5 });
    }

    #[test]
    fn an_open_range_runs_to_the_end() {
        assert_eq!(resolve("bytes=10-", 100), Partial { start: 10, end: 99 });
        assert_eq!(resolve("bytes=99-", 100), Partial { start: 99, end: 99 });
    }

    #[test]
    fn a_suffix_range_takes_the_last_bytes() {
        assert_eq!(resolve("bytes=-10", 100), Partial { start: 90, end: 99 });
        assert_eq!(resolve("bytes=-500", 100), Partial { start: 0, end: 99 });
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(resolve("bytes=100-", 100), Unsatisfiable);
        assert_eq!(resolve("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(resolve("bytes=-0", 100), Unsatisfiable);
        assert_eq!(resolve("bytes=0-", 0), Unsatisfiable);
        assert_eq!(resolve("bytes=-5", 0), Unsatisfiable);
    }

    #[test]
    fn malformed_byte_ranges_are_unsatisfiable() {
        for h in [
            "bytes=abc",
            "bytes=5-1",
            "bytes=-",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=18446744073709551616-",
            "bytes",
        ] {
            assert_eq!(resolve(h, 100), Unsatisfiable, "{h}");
        }
    }

    #[test]
    fn other_units_and_several_ranges_are_ignored() {
        assert_eq!(resolve("items=0-1", 100), Full);
        assert_eq!(resolve("bytes=0-1,5-6", 100), Full);
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Range values of every shape: numbers of any size, missing parts,
    /// other units, lists, stray characters.
    fn range_like() -> impl Strategy<Value = String> {
        let num = prop_oneof![
            Just(String::new()),
            any::<u64>().prop_map(|n| n.to_string()),
            (0u64..300).prop_map(|n| n.to_string()),
            "[0-9]{19,25}",
            "[ +x-]{0,2}[0-9]{0,3}",
        ];
        prop_oneof![
            ".{0,40}",
            (
                "bytes|BYTES |[a-z]{0,6}",
                num.clone(),
                prop_oneof![Just("-"), Just(""), Just("--"), Just(" - ")],
                num,
                prop_oneof![Just(""), Just(",0-1"), Just(",")],
            )
                .prop_map(|(u, a, dash, b, more)| format!("{u}={a}{dash}{b}{more}")),
        ]
    }

    proptest! {
        #[test]
        fn any_range_resolves_inside_the_file(
            h in range_like(),
            size in prop_oneof![0u64..300, any::<u64>()],
        ) {
            match resolve(&h, size) {
                RangeOutcome::Partial { start, end } => {
                    prop_assert!(start <= end, "{} -> {}..={}", h, start, end);
                    prop_assert!(end < size, "{} -> ..={} of {}", h, end, size);
                }
                RangeOutcome::Full | RangeOutcome::Unsatisfiable => {}
            }
        }

        #[test]
        fn a_closed_range_inside_the_file_is_served_as_asked(
            size in 1u64..,
            a: u64,
            b: u64,
        ) {
            let (start, end) = ((a % size).min(b % size), (a % size).max(b % size));
            prop_assert_eq!(
                resolve(&format!("bytes={start}-{end}"), size),
                RangeOutcome::Partial { start, end }
            );
        }

        #[test]
        fn a_suffix_takes_at_most_the_whole_file(size in 1u64.., n in 1u64..) {
            prop_assert_eq!(
                resolve(&format!("bytes=-{n}"), size),
                RangeOutcome::Partial { start: size.saturating_sub(n), end: size - 1 }
            );
        }
    }
}
