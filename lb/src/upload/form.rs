//! `multipart/form-data` (RFC 7578 over RFC 2046 section 5.1), read from a
//! body already held whole: the boundary from the `Content-Type`, then
//! the file part. Pure and total: any bytes give a part or a [`FormError`].

use memchr::memmem;

/// The file of a form: its content and the file name the client gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart<'a> {
    pub filename: Option<String>,
    pub content: &'a [u8],
}

/// Why a form was refused (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// `multipart/form-data` without a usable `boundary` parameter.
    Boundary,
    /// No `--boundary` line opens the body, or a part is not closed.
    Framing(&'static str),
    /// A part's headers are not `Name: value` lines.
    PartHeaders,
    /// No part is a file.
    NoFile,
}

impl FormError {
    pub fn message(&self) -> String {
        match self {
            FormError::Boundary => {
                "multipart/form-data needs a boundary parameter (1-70 characters)".into()
            }
            FormError::Framing(why) => format!("malformed multipart body: {why}"),
            FormError::PartHeaders => "malformed multipart body: bad part headers".into(),
            FormError::NoFile => {
                "the form has no file: send it as the \"file\" field (or any field with a filename)"
                    .into()
            }
        }
    }
}

/// The `boundary` of a `multipart/form-data` content type; `None` if the
/// type is another one. RFC 2046: 1-70 characters, possibly quoted.
pub fn boundary(content_type: &str) -> Option<Result<String, FormError>> {
    let mut parts = split_params(content_type).into_iter();
    let mime = parts.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let found = params(parts).find(|(k, _)| k.eq_ignore_ascii_case("boundary"));
    Some(match found {
        Some((_, b)) if !b.is_empty() && b.len() <= 70 && !b.contains(['\r', '\n']) => Ok(b),
        _ => Err(FormError::Boundary),
    })
}

/// `key=value` parameters of a header value, values unquoted.
fn params<'a>(
    parts: impl Iterator<Item = &'a str> + 'a,
) -> impl Iterator<Item = (String, String)> + 'a {
    parts.filter_map(|p| {
        let (k, v) = p.split_once('=')?;
        Some((k.trim().to_string(), unquote(v.trim())))
    })
}

/// A quoted-string's text (backslash escapes undone), or the token as is.
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One part's `Content-Disposition`: its field name and file name.
#[derive(Debug, Default)]
struct Disposition {
    name: Option<String>,
    filename: Option<String>,
}

fn disposition(headers: &[u8]) -> Result<Disposition, FormError> {
    let text = std::str::from_utf8(headers).map_err(|_| FormError::PartHeaders)?;
    let mut d = Disposition::default();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(FormError::PartHeaders)?;
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        // `form-data; name="file"; filename="a.jpg"`. A quoted value may
        // hold a ';', so split only between parameters.
        for (k, v) in params(split_params(value).into_iter().skip(1)) {
            if k.eq_ignore_ascii_case("name") {
                d.name = Some(v);
            } else if k.eq_ignore_ascii_case("filename") {
                d.filename = Some(v);
            }
        }
    }
    Ok(d)
}

/// Splits at the `;` outside quoted strings.
fn split_params(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// The file of the form: the part named `file`, else the first part with
/// a file name.
pub fn file_part<'a>(body: &'a [u8], boundary: &str) -> Result<FilePart<'a>, FormError> {
    let mut fallback = None;
    for part in parts(body, boundary) {
        let (headers, content) = part?;
        let d = disposition(headers)?;
        let part = FilePart {
            filename: d.filename.clone(),
            content,
        };
        if d.name.as_deref() == Some("file") {
            return Ok(part);
        }
        if fallback.is_none() && d.filename.is_some() {
            fallback = Some(part);
        }
    }
    fallback.ok_or(FormError::NoFile)
}

/// Each part's header block and content, in order; after an error, none.
fn parts<'a>(
    body: &'a [u8],
    boundary: &str,
) -> impl Iterator<Item = Result<(&'a [u8], &'a [u8]), FormError>> + 'a {
    // Every delimiter but a first one at the very start follows a CRLF,
    // which belongs to the delimiter, not to the content before it.
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let opening = &delimiter[2..];
    let first = if body.starts_with(opening) {
        Some(&body[opening.len()..])
    } else {
        memmem::find(body, &delimiter).map(|i| &body[i + delimiter.len()..])
    };
    let mut next = Some(first.ok_or(FormError::Framing("no opening boundary line")));
    std::iter::from_fn(move || match next.take()? {
        Err(e) => Some(Err(e)),
        // The close delimiter: `--boundary--`.
        Ok(after) if after.starts_with(b"--") => None,
        Ok(after) => match part(after, &delimiter) {
            Ok(p) => {
                next = Some(Ok(p.rest));
                Some(Ok((p.headers, p.content)))
            }
            Err(e) => Some(Err(e)),
        },
    })
}

/// One part as framed: its header block, its content, and what follows
/// the delimiter that closes it.
struct Framed<'a> {
    headers: &'a [u8],
    content: &'a [u8],
    rest: &'a [u8],
}

/// The part that starts right after a delimiter.
fn part<'a>(after: &'a [u8], delimiter: &[u8]) -> Result<Framed<'a>, FormError> {
    // Transport padding (spaces, tabs) may follow a delimiter.
    let line_end = memmem::find(after, b"\r\n")
        .ok_or(FormError::Framing("boundary line not ended by CRLF"))?;
    if after[..line_end].iter().any(|b| *b != b' ' && *b != b'\t') {
        return Err(FormError::Framing("text after a boundary"));
    }
    let part = &after[line_end + 2..];
    let (headers, content) = match part.strip_prefix(b"\r\n") {
        Some(content) => (&part[..0], content),
        None => {
            let end = memmem::find(part, b"\r\n\r\n")
                .ok_or(FormError::Framing("part headers not ended"))?;
            (&part[..end], &part[end + 4..])
        }
    };
    let close = memmem::find(content, delimiter)
        .ok_or(FormError::Framing("a part is not closed by a boundary"))?;
    Ok(Framed {
        headers,
        content: &content[..close],
        rest: &content[close + delimiter.len()..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A form as browsers and curl send it.
    pub(super) fn form(boundary: &str, fields: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, content) in fields {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut cd = format!("Content-Disposition: form-data; name=\"{name}\"");
            if let Some(f) = filename {
                cd.push_str(&format!(
                    "; filename=\"{f}\"\r\nContent-Type: application/octet-stream"
                ));
            }
            out.extend_from_slice(format!("{cd}\r\n\r\n").as_bytes());
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----x1"),
            Some(Ok("----x1".into()))
        );
        assert_eq!(
            boundary("Multipart/Form-Data;charset=utf-8; boundary=\"a b;c\""),
            Some(Ok("a b;c".into()))
        );
        assert_eq!(
            boundary("multipart/form-data"),
            Some(Err(FormError::Boundary))
        );
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "b".repeat(71))),
            Some(Err(FormError::Boundary))
        );
        assert_eq!(boundary("application/octet-stream"), None);
        assert_eq!(boundary("image/jpeg; boundary=x"), None);
    }

    #[test]
    fn the_file_field_is_found_among_others() {
        let body = form(
            "XyZ",
            &[
                ("title", None, b"holiday"),
                (
                    "file",
                    Some("beach.jpg"),
                    b"\xff\xd8 jpeg\r\n--XY not the boundary",
                ),
            ],
        );
        let p = file_part(&body, "XyZ").unwrap();
        assert_eq!(p.filename.as_deref(), Some("beach.jpg"));
        assert_eq!(p.content, b"\xff\xd8 jpeg\r\n--XY not the boundary");
    }

    #[test]
    fn without_a_file_field_the_first_part_with_a_filename_is_the_file() {
        let body = form(
            "b",
            &[
                ("note", None, b"x"),
                ("upload", Some("a.txt"), b"first"),
                ("other", Some("b.txt"), b"second"),
            ],
        );
        assert_eq!(file_part(&body, "b").unwrap().content, b"first");
        let body = form("b", &[("note", None, b"x")]);
        assert_eq!(file_part(&body, "b"), Err(FormError::NoFile));
    }

    #[test]
    fn a_preamble_padding_and_quoted_semicolons_are_understood() {
        let body = b"ignored preamble\r\n--b \t\r\nContent-Disposition: form-data; filename=\"x;y.png\"; name=\"file\"\r\n\r\nPNG\r\n--b--";
        let p = file_part(body, "b").unwrap();
        assert_eq!(
            (p.filename.as_deref(), p.content),
            (Some("x;y.png"), &b"PNG"[..])
        );
    }

    #[test]
    fn broken_framing_is_an_error_not_a_guess() {
        for (body, expect) in [
            (&b"no delimiter at all"[..], "no opening boundary line"),
            (
                b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nunterminated",
                "a part is not closed by a boundary",
            ),
            (
                b"--b\r\nContent-Disposition: form-data; name=\"file\"",
                "part headers not ended",
            ),
            (b"--bX\r\n\r\n\r\n--b--", "text after a boundary"),
        ] {
            assert_eq!(file_part(body, "b"), Err(FormError::Framing(expect)));
        }
        let body = b"--b\r\nno colon here\r\n\r\nx\r\n--b--";
        assert_eq!(file_part(body, "b"), Err(FormError::PartHeaders));
    }

    #[test]
    fn an_empty_file_is_a_file() {
        let body = form("b", &[("file", Some("empty"), b"")]);
        assert_eq!(file_part(&body, "b").unwrap().content, b"");
    }
}

#[cfg(test)]
mod prop {
    use super::tests::form;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bodies_and_content_types_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            ct in ".{0,80}",
            b in "[a-zA-Z0-9'()+_,./:=? -]{1,20}",
        ) {
            let _ = boundary(&ct);
            let _ = file_part(&body, &b);
        }

        #[test]
        fn a_file_survives_any_content_and_neighbours(
            content in proptest::collection::vec(any::<u8>(), 0..2048),
            before in proptest::collection::vec(any::<u8>(), 0..64),
            b in "[a-zA-Z0-9'()+_,./:=?-]{1,70}",
        ) {
            // Contents that hold the delimiter itself cannot be framed;
            // clients pick a boundary that does not occur.
            let delimiter = format!("\r\n--{b}").into_bytes();
            prop_assume!(memmem::find(&content, &delimiter).is_none());
            prop_assume!(memmem::find(&before, &delimiter).is_none());
            let body = form(&b, &[("other", None, &before), ("file", Some("f.bin"), &content)]);
            let ct = format!("multipart/form-data; boundary=\"{b}\"");
            let b = boundary(&ct).unwrap().unwrap();
            let p = file_part(&body, &b).unwrap();
            prop_assert_eq!(p.content, &content[..]);
            prop_assert_eq!(p.filename.as_deref(), Some("f.bin"));
        }
    }
}
