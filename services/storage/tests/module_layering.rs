//! The storage crate's top-level modules form layers: every `crate::` path
//! in `src/` points to a module below the one that names it, so the
//! modules can be read (and changed) from the bottom up. This test reads
//! the sources, builds the graph of top-level modules and fails on any
//! cycle, naming the files that close it. Items of the crate root
//! (`lib.rs`) count as the root module, which sits above everything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = "(crate root)";

/// Each edge `from -> to` with one `file:line` that makes it.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// The top-level module of a file under `src/`, and its module depth
/// (`lib.rs` 0, `foo.rs` and `foo/mod.rs` 1, `foo/bar.rs` 2, ...).
fn module_of(rel: &Path) -> (String, usize) {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let top = parts[0].trim_end_matches(".rs").to_string();
    if parts.len() == 1 && (top == "lib" || top == "main") {
        return (ROOT.to_string(), 0);
    }
    let last = parts.last().map(String::as_str);
    let depth = parts.len() - usize::from(last == Some("mod.rs"));
    (top, depth)
}

/// The code of a line, without its `//` comment (doc comments included:
/// an intra-doc link is not an import).
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// The first segment of every path in a `{a, b::c, d::{e}}` group that
/// starts at `text` (just after the `{`).
fn group_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut at_start) = (0, true);
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                at_start = true;
                continue;
            }
            _ => {}
        }
        if depth == 0 && at_start {
            if c.is_alphanumeric() || c == '_' {
                cur.push(c);
            } else if !cur.is_empty() {
                heads.push(std::mem::take(&mut cur));
                at_start = false;
            }
        }
    }
    if !cur.is_empty() {
        heads.push(cur);
    }
    heads
}

fn ident_at(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The modules one line names through `crate::` or a `super::` chain that
/// reaches the crate root, given the line's module depth.
fn targets(line: &str, depth: usize, modules: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let as_module = |name: &str| {
        if modules.contains(name) {
            name.to_string()
        } else {
            ROOT.to_string()
        }
    };
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        let after = &rest[i + "crate::".len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            out.extend(group_heads(group).iter().map(|h| as_module(h)));
        } else {
            let head = ident_at(after);
            if !head.is_empty() {
                out.push(as_module(&head));
            }
        }
    }
    let mut rest = line;
    while let Some(i) = rest.find("super::") {
        let before = rest[..i].chars().last();
        let mut after = &rest[i..];
        let mut ups = 0;
        while let Some(r) = after.strip_prefix("super::") {
            ups += 1;
            after = r;
        }
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') || ups < depth {
            continue;
        }
        let head = ident_at(after);
        if !head.is_empty() {
            out.push(as_module(&head));
        }
    }
    out
}

/// The module graph of `files` (path under `src/`, text).
fn graph(files: &[(PathBuf, String)]) -> Graph {
    let modules: BTreeSet<String> = files
        .iter()
        .map(|(p, _)| module_of(p).0)
        .filter(|m| m != ROOT)
        .collect();
    let mut g = Graph::new();
    for (path, text) in files {
        let (from, file_depth) = module_of(path);
        // Inline `mod name {` blocks nest deeper: a stack of the brace
        // depths they opened at.
        let (mut braces, mut inline): (usize, Vec<usize>) = (0, Vec::new());
        for (n, line) in text.lines().enumerate() {
            let line = code(line);
            let t = line.trim_start();
            let opens_mod = (t.starts_with("mod ") || t.contains(" mod ")) && t.ends_with('{');
            let depth = file_depth + inline.len() + usize::from(opens_mod);
            for to in targets(line, depth, &modules) {
                if to != from {
                    g.entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_insert_with(|| format!("{}:{}", path.display(), n + 1));
                }
            }
            if opens_mod {
                inline.push(braces);
            }
            for c in line.chars() {
                match c {
                    '{' => braces += 1,
                    '}' => {
                        braces = braces.saturating_sub(1);
                        if inline.last() == Some(&braces) {
                            inline.pop();
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    g
}

/// One cycle of `g` as `a -> b -> a` with the line behind each edge, if
/// there is any.
fn find_cycle(g: &Graph) -> Option<String> {
    fn visit(
        g: &Graph,
        m: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for to in g.get(m).into_iter().flat_map(|e| e.keys()) {
            if let Some(c) = visit(g, to, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(cycle) = visit(g, m, &mut Vec::new(), &mut done) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0], w[1], g[&w[0]][&w[1]]))
                .collect();
            return Some(steps.join(", "));
        }
    }
    None
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.strip_prefix(root).unwrap().to_path_buf(), text));
        }
    }
}

#[test]
fn the_top_level_modules_of_the_storage_crate_import_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    let g = graph(&files);
    assert!(g.contains_key(ROOT), "the crate root imports its modules");
    if let Some(cycle) = find_cycle(&g) {
        panic!("services/storage/src has an import circle: {cycle}");
    }
}

fn file(path: &str, text: &str) -> (PathBuf, String) {
    (PathBuf::from(path), text.to_string())
}

#[test]
fn a_circle_through_grouped_imports_or_the_crate_root_is_found() {
    let two = [
        file("a.rs", "use crate::b::X;\n"),
        file("b/mod.rs", "use crate::{a::{Y, Z}, c};\n"),
        file("c.rs", ""),
    ];
    let cycle = find_cycle(&graph(&two)).expect("a -> b -> a");
    assert!(cycle.contains("a -> b (a.rs:1)"), "{cycle}");
    assert!(cycle.contains("b -> a (b/mod.rs:1)"), "{cycle}");

    let root_item = [
        file("lib.rs", "mod a;\npub fn now() {}\nuse crate::a::f;\n"),
        file("a.rs", "pub fn f() { crate::now() }\n"),
    ];
    assert!(find_cycle(&graph(&root_item)).is_some());

    let via_super = [
        file("lib.rs", "mod a;\nmod b;\nfn now() {}\n"),
        file("a/x.rs", "fn f() { super::super::now() }\n"),
    ];
    assert_eq!(graph(&via_super)["a"].keys().collect::<Vec<_>>(), [ROOT]);
}

#[test]
fn comments_tests_modules_and_own_paths_make_no_edge() {
    let files = [
        file(
            "a.rs",
            "//! See [`crate::b`].\nfn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::a::f;\n}\n",
        ),
        file("b.rs", "use crate::a::f; // not crate::c\n"),
        file("c.rs", ""),
    ];
    let g = graph(&files);
    assert!(!g.contains_key("a"), "{g:?}");
    assert_eq!(g["b"].keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(find_cycle(&g), None);
}
