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
