//! ETag, Last-Modified and the conditional requests built on them
//! (RFC 9110 §13). The validators of a normal file come from its file ID
//! (create time and size), so every member of a group hands out the same
//! ones for the same file, whenever it was replicated there; appender and
//! slave files use the disk's mtime, as mod_fastdfs does.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrodfs_proto::file_id::LogicalName;

/// 9999-12-31 23:59:59 UTC, the last second an HTTP date (four-digit
/// year) can name: a disk mtime past it is served as it, rather than
/// failing to format.
const LATEST_HTTP_DATE: u64 = 253_402_300_799;

/// The validators of one representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// Strong ETag, quotes included, inline: `"<hex>-<hex>"` of two u64s
    /// is at most 35 bytes.
    etag: [u8; 35],
    etag_len: u8,
    /// Unix seconds.
    pub last_modified: u64,
}

impl Validators {
    /// `size` and `mtime` (unix seconds) come from the file on disk.
    pub fn of(name: &LogicalName, size: u64, mtime: u64) -> Validators {
        let info = name.info();
        let created = info
            .filter(|i| !i.is_appender() && !name.is_slave())
            .map(|i| i.create_time as u64);
        let last_modified = created.unwrap_or(mtime).min(LATEST_HTTP_DATE);
        let mut etag = [0u8; 35];
        let mut at = &mut etag[..];
        // Cannot fail: the buffer fits the longest value.
        let _ = write!(at, "\"{last_modified:x}-{size:x}\"");
        let etag_len = (35 - at.len()) as u8;
        Validators {
            etag,
            etag_len,
            last_modified,
        }
    }

    /// The strong ETag, quotes included.
    pub fn etag(&self) -> &str {
        std::str::from_utf8(&self.etag[..self.etag_len as usize]).unwrap_or_default()
    }

    /// `Last-Modified`, to format where it is written.
    pub fn last_modified_date(&self) -> httpdate::HttpDate {
        self.last_modified_time().into()
    }

    pub fn last_modified_http(&self) -> String {
        self.last_modified_date().to_string()
    }

    /// RFC 9110 §13.1.2 (If-None-Match, weak comparison) and §13.1.3
    /// (If-Modified-Since, ignored when If-None-Match is present): whether
    /// a GET or HEAD gets 304.
    pub fn not_modified(
        &self,
        if_none_match: Option<&str>,
        if_modified_since: Option<&str>,
    ) -> bool {
        if let Some(inm) = if_none_match {
            return etag_list_matches(inm, self.etag());
        }
        match if_modified_since.and_then(|d| httpdate::parse_http_date(d).ok()) {
            Some(since) => self.last_modified_time() <= since,
            None => false,
        }
    }

    /// RFC 9110 §13.1.5: a Range is honoured only if If-Range still names
    /// this representation (strong ETag or exact date).
    pub fn if_range_holds(&self, if_range: &str) -> bool {
        let v = if_range.trim();
        if v.starts_with('"') {
            v == self.etag()
        } else {
            httpdate::parse_http_date(v).is_ok_and(|d| d == self.last_modified_time())
        }
    }

    fn last_modified_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.last_modified)
    }
}

/// Weak comparison against a comma-separated If-None-Match list.
fn etag_list_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> LogicalName {
        LogicalName::parse(n).unwrap()
    }

    const NORMAL: &str = "M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4.tar.gz";
    /// 2015-09-07 15:40:15 UTC, the create time inside NORMAL.
    const CREATED: u64 = 1_441_640_415;

    #[test]
    fn normal_files_are_dated_by_their_file_id() {
        let v = Validators::of(&name(NORMAL), 345_400, 1_700_000_000);
        assert_eq!(v.last_modified, CREATED);
        assert_eq!(v.etag(), format!("\"{CREATED:x}-{:x}\"", 345_400));
        assert_eq!(v.last_modified_http(), "Mon, 07 Sep 2015 15:40:15 GMT");
    }

    #[test]
    fn slave_files_are_dated_by_the_disk() {
        let slave = name("M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4_150x150.jpg");
        assert_eq!(
            Validators::of(&slave, 10, 1_700_000_000).last_modified,
            1_700_000_000
        );
    }

    #[test]
    fn if_none_match_wins_over_if_modified_since() {
        let v = Validators::of(&name(NORMAL), 1, 0);
        let later = "Tue, 08 Sep 2015 00:00:00 GMT";
        assert!(v.not_modified(Some(v.etag()), None));
        assert!(v.not_modified(Some(&format!("\"x\", W/{}", v.etag())), None));
        assert!(v.not_modified(Some("*"), None));
        assert!(!v.not_modified(Some("\"other\""), Some(later)));
    }

    #[test]
    fn if_modified_since_compares_dates() {
        let v = Validators::of(&name(NORMAL), 1, 0);
        assert!(v.not_modified(None, Some("Mon, 07 Sep 2015 15:40:15 GMT")));
        assert!(v.not_modified(None, Some("Tue, 08 Sep 2015 00:00:00 GMT")));
        assert!(!v.not_modified(None, Some("Mon, 07 Sep 2015 15:40:14 GMT")));
        assert!(!v.not_modified(None, Some("not a date")));
        assert!(!v.not_modified(None, None));
    }

    #[test]
    fn if_range_needs_the_current_validator() {
        let v = Validators::of(&name(NORMAL), 1, 0);
        assert!(v.if_range_holds(v.etag()));
        assert!(v.if_range_holds("Mon, 07 Sep 2015 15:40:15 GMT"));
        assert!(!v.if_range_holds("\"stale\""));
        assert!(!v.if_range_holds(&format!("W/{}", v.etag())));
        assert!(!v.if_range_holds("Tue, 08 Sep 2015 00:00:00 GMT"));
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Header values: dates (valid, odd, out of range), ETag lists, junk.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,60}",
            Just("*".to_string()),
            "(W/)?\"[0-9a-f]{1,16}-[0-9a-f]{1,16}\"(, (W/)?\"[0-9a-f]{0,8}\"){0,3}",
            "(Mon|Tue|Sun), [0-9]{2} (Jan|Sep|Dec) [0-9]{4,5} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
            any::<u64>().prop_map(|s| {
                let s = s % (LATEST_HTTP_DATE + 1);
                httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(s))
            }),
        ]
    }

    proptest! {
        #[test]
        fn any_file_and_any_header_values_give_an_answer(
            n in crate::arb::logical_name(),
            size: u64,
            mtime in prop_oneof![any::<u64>(), 0u64..=LATEST_HTTP_DATE],
            inm in proptest::option::of(value()),
            ims in proptest::option::of(value()),
            if_range in value(),
        ) {
            let v = Validators::of(&n, size, mtime);
            prop_assert!(v.last_modified <= LATEST_HTTP_DATE);
            prop_assert_eq!(v.etag(), format!("\"{:x}-{size:x}\"", v.last_modified));
            let date = v.last_modified_http();
            prop_assert!(v.if_range_holds(&date));
            prop_assert!(v.if_range_holds(v.etag()));
            prop_assert!(v.not_modified(Some(v.etag()), None));
            prop_assert!(v.not_modified(None, Some(&date)));
            let _ = v.not_modified(inm.as_deref(), ims.as_deref());
            let _ = v.if_range_holds(&if_range);
        }
    }

    #[test]
    fn an_mtime_past_year_9999_is_served_as_the_last_http_date() {
        let slave =
            LogicalName::parse("M00/00/00/wKgBh1Xtr9-AeTfWAAVFOL7FJU4_150x150.jpg").unwrap();
        for mtime in [LATEST_HTTP_DATE + 1, i64::MAX as u64, u64::MAX] {
            let v = Validators::of(&slave, 1, mtime);
            assert_eq!(v.last_modified_http(), "Fri, 31 Dec 9999 23:59:59 GMT");
        }
    }
}
