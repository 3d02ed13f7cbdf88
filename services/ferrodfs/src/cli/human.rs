//! The number, time and error formats of FastDFS's tools (libfastcommon
//! shared_func.c: bytes_to_human_str, seconds_to_human_str,
//! formatDatetime; STRERROR), so `fdfs_*` output matches theirs line for
//! line.

const KB: i64 = 1 << 10;

/// One unit's worth of `bytes`: one decimal below 10 units, rounded to
/// the nearest unit from 10 up (format_bytes_string).
fn in_unit(bytes: i64, unit: i64) -> String {
    let mut n = bytes / unit;
    let remain = bytes - n * unit;
    if n < 10 {
        let mut fragment = (remain * 10 + unit / 2) / unit;
        if fragment == 10 {
            n += 1;
            fragment = 0;
        }
        if n < 10 {
            return format!("{n}.{fragment}");
        }
        return n.to_string();
    }
    if remain >= unit / 2 {
        n += 1;
    }
    n.to_string()
}

/// `bytes_to_human_str`: `512  B`, `1.5 KB`, `20 MB`, `3.0 GB`...
pub fn bytes(b: i64) -> String {
    if b < KB {
        return format!("{b}  B");
    }
    let units = [
        (KB, 'K'),
        (KB << 10, 'M'),
        (KB << 20, 'G'),
        (KB << 30, 'T'),
        (KB << 40, 'P'),
    ];
    let (unit, c) = units
        .iter()
        .rev()
        .find(|(u, _)| b >= *u)
        .copied()
        .filter(|_| b < KB << 50)
        .unwrap_or((KB << 50, 'E'));
    format!("{} {c}B", in_unit(b, unit))
}

/// [`bytes`] of a size in MB (FDFS_MB_TO_HUMAN_STR).
pub fn mb(mb: i64) -> String {
    bytes(mb.saturating_mul(1 << 20))
}

/// `seconds_to_human_str`: `0 second`, `1 minute 5 seconds`, `2 hours 3
/// seconds` (zero parts after the first are left out).
pub fn seconds(s: i64) -> String {
    let s = s.max(0);
    let parts = [
        (s / 86_400, "day"),
        (s % 86_400 / 3600, "hour"),
        (s % 3600 / 60, "minute"),
        (s % 60, "second"),
    ];
    let Some(first) = parts.iter().position(|(n, _)| *n > 0) else {
        return "0 second".into();
    };
    parts[first..]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| {
            if *n == 1 {
                format!("1 {unit}")
            } else {
                format!("{n} {unit}s")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `formatDatetime(t, "%Y-%m-%d %H:%M:%S")` in local time; 0 is the epoch.
pub fn datetime(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| {
            d.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// `STRERROR(n)`: the C library's text for an errno (std asks libc's
/// strerror_r, then appends ` (os error N)`, which is cut off here).
pub fn strerror(n: i32) -> String {
    let text = std::io::Error::from_raw_os_error(n).to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_bytes_to_human_str() {
        let cases = [
            (0, "0  B"),
            (1023, "1023  B"),
            (1024, "1.0 KB"),
            (1536, "1.5 KB"),
            (10 * 1024 - 1, "10 KB"),
            (20 << 20, "20 MB"),
            ((20 << 20) + (1 << 19), "21 MB"),
            (1000 << 20, "1000 MB"),
            (1 << 30, "1.0 GB"),
            (3 << 40, "3.0 TB"),
        ];
        for (b, want) in cases {
            assert_eq!(bytes(b), want, "{b}");
        }
        assert_eq!(mb(500), "500 MB");
        assert_eq!(format!("{:>7}", mb(500)), " 500 MB");
    }

    #[test]
    fn durations_read_like_seconds_to_human_str() {
        assert_eq!(seconds(0), "0 second");
        assert_eq!(seconds(-5), "0 second");
        assert_eq!(seconds(1), "1 second");
        assert_eq!(seconds(65), "1 minute 5 seconds");
        assert_eq!(seconds(7203), "2 hours 3 seconds");
        assert_eq!(seconds(86_400 + 60), "1 day 1 minute");
    }

    #[test]
    fn errors_read_like_strerror() {
        assert_eq!(strerror(2), "No such file or directory");
        assert_eq!(strerror(22), "Invalid argument");
        assert_eq!(strerror(95), "Operation not supported");
    }
}
