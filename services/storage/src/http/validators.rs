//! ETag, Last-Modified and the conditional requests built on them
//! (RFC 9110 §13). The validators of a normal file come from its file ID
//! (create time and size), so every member of a group hands out the same
//! ones for the same file, whenever it was replicated there; appender and
//! slave files use the disk's mtime, as mod_fastdfs does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrodfs_proto::file_id::LogicalName;

/// The validators of one representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// Strong ETag, quotes included.
    pub etag: String,
    /// Unix seconds.
    pub last_modified: u64,
}

impl Validators {
    /// `size` and `mtime` (unix seconds) come from the file on disk.
    pub fn of(name: &LogicalName, size: u64, mtime: u64) -> Validators {
        let created = name
            .info()
            .filter(|_| !name.is_slave() && !name.is_appender())
            .map(|i| i.create_time as u64);
        let last_modified = created.unwrap_or(mtime);
        Validators {
            etag: format!("\"{last_modified:x}-{size:x}\""),
            last_modified,
        }
    }

    pub fn last_modified_http(&self) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(self.last_modified))
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
            return etag_list_matches(inm, &self.etag);
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
            v == self.etag
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
        assert_eq!(v.etag, format!("\"{CREATED:x}-{:x}\"", 345_400));
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
        assert!(v.not_modified(Some(&v.etag), None));
        assert!(v.not_modified(Some(&format!("\"x\", W/{}", v.etag)), None));
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
        assert!(v.if_range_holds(&v.etag));
        assert!(v.if_range_holds("Mon, 07 Sep 2015 15:40:15 GMT"));
        assert!(!v.if_range_holds("\"stale\""));
        assert!(!v.if_range_holds(&format!("W/{}", v.etag)));
        assert!(!v.if_range_holds("Tue, 08 Sep 2015 00:00:00 GMT"));
    }
}
