//! FastDFS's config format (libfastcommon's ini reader): `key = value`
//! lines, `#` comments, `[section]` headers, repeatable keys
//! (`tracker_server`, `allow_hosts`) and `#include file` (a relative name
//! is resolved beside the including file by the caller).

/// One `key = value` line, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file it was read from, as the report names it.
    pub file: String,
    pub line: usize,
    /// `[section]` the line is in; `None` before the first header.
    pub section: Option<String>,
    pub key: String,
    pub value: String,
}

impl Entry {
    /// The key as the report shows it: `section.key` inside a section.
    pub fn name(&self) -> String {
        match &self.section {
            Some(s) => format!("[{s}] {}", self.key),
            None => self.key.clone(),
        }
    }
}

/// Reads an `#include`d file by name: its display name and text.
pub type Include<'a> = dyn FnMut(&str) -> Result<(String, String), String> + 'a;

/// How deep `#include` may nest before it is taken for a loop.
const MAX_INCLUDE_DEPTH: usize = 8;

/// Reads `text` (named `file`), calling `include` for every `#include`
/// line; it returns the included file's display name and text.
pub fn parse(file: &str, text: &str, include: &mut Include) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    parse_into(file, text, include, 0, &mut out)?;
    Ok(out)
}

fn parse_into(
    file: &str,
    text: &str,
    include: &mut Include,
    depth: usize,
    out: &mut Vec<Entry>,
) -> Result<(), String> {
    let mut section = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(name) = include_target(line) {
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(format!(
                    "{file} line {}: #include nested more than {MAX_INCLUDE_DEPTH} deep",
                    i + 1
                ));
            }
            let (inc_file, inc_text) = include(name)
                .map_err(|e| format!("{file} line {}: #include {name}: {e}", i + 1))?;
            parse_into(&inc_file, &inc_text, include, depth + 1, out)?;
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.trim().to_string());
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "{file} line {}: expected key = value, got {line:?}",
                i + 1
            ));
        };
        out.push(Entry {
            file: file.to_string(),
            line: i + 1,
            section: section.clone(),
            key: key.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(())
}

/// `#include name` (one `#`; `##include` is a comment).
fn include_target(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("#include")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let name = rest.trim();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_include(name: &str) -> Result<(String, String), String> {
        Err(format!("unexpected include of {name}"))
    }

    #[test]
    fn keys_repeat_and_comments_are_skipped() {
        let e = parse(
            "storage.conf",
            "# sample\nport = 23000\n\ntracker_server=10.0.0.1:22122\ntracker_server = 10.0.0.2:22122\nbind_addr =\n",
            &mut no_include,
        )
        .unwrap();
        let keys: Vec<(&str, &str, usize)> = e
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(
            keys,
            [
                ("port", "23000", 2),
                ("tracker_server", "10.0.0.1:22122", 4),
                ("tracker_server", "10.0.0.2:22122", 5),
                ("bind_addr", "", 6),
            ]
        );
    }

    #[test]
    fn an_include_is_read_in_place_and_a_double_hash_is_a_comment() {
        let mut asked = Vec::new();
        let e = parse(
            "mod_fastdfs.conf",
            "a = 1\n#include http.conf\n##include other.conf\nb = 2\n",
            &mut |name: &str| {
                asked.push(name.to_string());
                Ok(("http.conf".into(), "http.x = y\n".into()))
            },
        )
        .unwrap();
        assert_eq!(asked, ["http.conf"]);
        let names: Vec<(String, String)> =
            e.iter().map(|e| (e.file.clone(), e.key.clone())).collect();
        assert_eq!(
            names,
            [
                ("mod_fastdfs.conf".into(), "a".into()),
                ("http.conf".into(), "http.x".into()),
                ("mod_fastdfs.conf".into(), "b".into()),
            ]
        );
    }

    #[test]
    fn an_include_loop_is_refused() {
        let e = parse("a.conf", "#include a.conf\n", &mut |_: &str| {
            Ok(("a.conf".into(), "#include a.conf\n".into()))
        })
        .unwrap_err();
        assert!(e.contains("nested"), "{e}");
    }

    #[test]
    fn sections_prefix_their_keys() {
        let e = parse(
            "mod_fastdfs.conf",
            "group_count = 1\n[group1]\ngroup_name=group1\n",
            &mut no_include,
        )
        .unwrap();
        assert_eq!(e[0].name(), "group_count");
        assert_eq!(e[1].name(), "[group1] group_name");
    }

    #[test]
    fn a_line_without_equals_names_its_line() {
        let e = parse("t.conf", "port 22122\n", &mut no_include).unwrap_err();
        assert!(e.contains("line 1"), "{e}");
    }
}
