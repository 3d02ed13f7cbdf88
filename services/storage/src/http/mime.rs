//! Content-Type by file extension: the common part of nginx's mime.types
//! (what fastdfs-nginx-module reads through `http.mime_types_filename`).
//! Anything else gets `http.default_content_type`.

/// Sorted by extension for binary search; extensions in lower case.
const TYPES: &[(&str, &str)] = &[
    ("7z", "application/x-7z-compressed"),
    ("aac", "audio/aac"),
    ("apk", "application/vnd.android.package-archive"),
    ("avi", "video/x-msvideo"),
    ("avif", "image/avif"),
    ("bin", "application/octet-stream"),
    ("bmp", "image/bmp"),
    ("css", "text/css"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("epub", "application/epub+zip"),
    ("flac", "audio/flac"),
    ("flv", "video/x-flv"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("ico", "image/x-icon"),
    ("jar", "application/java-archive"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "application/javascript"),
    ("json", "application/json"),
    ("m3u8", "application/vnd.apple.mpegurl"),
    ("m4a", "audio/x-m4a"),
    ("md", "text/markdown"),
    ("mkv", "video/x-matroska"),
    ("mov", "video/quicktime"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("mpeg", "video/mpeg"),
    ("mpg", "video/mpeg"),
    ("ogg", "audio/ogg"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("rar", "application/x-rar-compressed"),
    ("svg", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("ts", "video/mp2t"),
    ("txt", "text/plain"),
    ("wav", "audio/x-wav"),
    ("webm", "video/webm"),
    ("webp", "image/webp"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("xml", "text/xml"),
    ("zip", "application/zip"),
];

/// The media type for a file name, by the text after its last dot
/// (case-insensitive); `default` when there is none or it is unknown.
pub fn content_type<'a>(file_name: &str, default: &'a str) -> &'a str {
    let Some((_, ext)) = file_name.rsplit_once('.') else {
        return default;
    };
    if ext.len() > 8 {
        return default;
    }
    let mut lower = [0u8; 8];
    let lower = &mut lower[..ext.len()];
    lower.copy_from_slice(ext.as_bytes());
    lower.make_ascii_lowercase();
    TYPES
        .binary_search_by(|(e, _)| e.as_bytes().cmp(lower))
        .map_or(default, |i| TYPES[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "application/octet-stream";

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(TYPES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn known_extensions_map_case_insensitively() {
        assert_eq!(
            content_type("wKgBh1Xtr9-AeTfWAAVFOL7FJU4.jpg", DEFAULT),
            "image/jpeg"
        );
        assert_eq!(content_type("x_150x150.PNG", DEFAULT), "image/png");
        assert_eq!(content_type("a.tar.gz", DEFAULT), "application/gzip");
        assert_eq!(content_type("a.mp4", DEFAULT), "video/mp4");
    }

    #[test]
    fn unknown_or_missing_extensions_get_the_default() {
        assert_eq!(
            content_type("wKgBh1Xtr9-AeTfWAAVFOL7FJU41234567", DEFAULT),
            DEFAULT
        );
        assert_eq!(content_type("a.unknownx", "text/x-mine"), "text/x-mine");
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_file_name_gets_a_type(name in ".{0,40}|[a-z]{1,8}\\.[A-Za-z0-9]{0,9}") {
            let t = content_type(&name, "application/octet-stream");
            prop_assert!(t.contains('/'));
        }
    }
}
