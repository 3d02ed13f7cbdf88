//! What `import-conf` says about every key it read, and the TOML it writes.

use std::fmt::Write as _;

use super::ini::Entry;

/// What became of one FastDFS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Written to a ferrodfs file: `target` is `file: key = value`.
    Mapped(String),
    /// Read by ferrodfs as it is (client.conf, storage_ids.conf).
    Kept(String),
    /// Has no meaning in ferrodfs; why.
    Ignored(String),
    /// Means something ferrodfs cannot express in its config; what to do.
    Unmapped(String),
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Mapped(_) => "mapped",
            Verdict::Kept(_) => "kept",
            Verdict::Ignored(_) => "ignored",
            Verdict::Unmapped(_) => "unmapped",
        }
    }

    fn detail(&self) -> &str {
        match self {
            Verdict::Mapped(s) | Verdict::Kept(s) | Verdict::Ignored(s) | Verdict::Unmapped(s) => s,
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub file: String,
    pub line: usize,
    /// The key as written (`[section] key` inside a section).
    pub key: String,
    pub value: String,
    pub verdict: Verdict,
}

#[derive(Debug, Default)]
pub struct Report {
    pub items: Vec<Item>,
    /// Actions that concern no single key (a required key with no FastDFS
    /// counterpart, a generated secret...).
    pub notes: Vec<String>,
}

impl Report {
    pub fn add(&mut self, e: &Entry, verdict: Verdict) {
        self.items.push(Item {
            file: e.file.clone(),
            line: e.line,
            key: e.name(),
            value: e.value.clone(),
            verdict,
        });
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn count(&self, word: &str) -> usize {
        self.items
            .iter()
            .filter(|i| i.verdict.word() == word)
            .count()
    }

    /// The report as text: one line per key, grouped by file in input
    /// order, then the notes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut file = "";
        for i in &self.items {
            if i.file != file {
                file = &i.file;
                let _ = writeln!(out, "{file}:");
            }
            let _ = writeln!(
                out,
                "  {:<9}{}:{} {} = {:?}: {}",
                i.verdict.word(),
                i.file,
                i.line,
                i.key,
                i.value,
                i.verdict.detail()
            );
        }
        if !self.notes.is_empty() {
            out.push_str("notes:\n");
            for n in &self.notes {
                let _ = writeln!(out, "  - {n}");
            }
        }
        let _ = writeln!(
            out,
            "{} mapped, {} kept, {} ignored, {} unmapped",
            self.count("mapped"),
            self.count("kept"),
            self.count("ignored"),
            self.count("unmapped")
        );
        out
    }
}

/// A TOML value as `import-conf` writes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl Value {
    pub fn render(&self) -> String {
        match self {
            Value::Str(s) => quote(s),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
                format!("[{}]", items.join(", "))
            }
        }
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One key of a table: name, value, the FastDFS key it came from.
type Key = (String, Value, String);

/// A TOML file under construction: top-level keys, then tables, each in
/// the order first set; a key set again keeps its place and takes the new
/// value. Every key carries the FastDFS key it came from as a comment.
#[derive(Debug)]
pub struct Doc {
    /// The output file's name, for the report (`storage.toml`).
    pub name: &'static str,
    header: String,
    tables: Vec<(String, Vec<Key>)>,
}

impl Doc {
    pub fn new(name: &'static str, header: &str) -> Doc {
        Doc {
            name,
            header: header.to_string(),
            tables: vec![(String::new(), Vec::new())],
        }
    }

    /// Sets `table.key` (`table` "" for the top level); returns the
    /// report's `file: key = value`.
    pub fn set(&mut self, table: &str, key: &str, value: Value, from: &str) -> String {
        let shown = if table.is_empty() {
            format!("{}: {key} = {}", self.name, value.render())
        } else {
            format!("{}: [{table}] {key} = {}", self.name, value.render())
        };
        let idx = match self.tables.iter().position(|(t, _)| t == table) {
            Some(i) => i,
            None => {
                self.tables.push((table.to_string(), Vec::new()));
                self.tables.len() - 1
            }
        };
        let keys = &mut self.tables[idx].1;
        match keys.iter_mut().find(|(k, _, _)| k == key) {
            Some(slot) => {
                slot.1 = value;
                slot.2 = from.to_string();
            }
            None => keys.push((key.to_string(), value, from.to_string())),
        }
        shown
    }

    pub fn get(&self, table: &str, key: &str) -> Option<&Value> {
        self.tables
            .iter()
            .find(|(t, _)| t == table)
            .and_then(|(_, keys)| keys.iter().find(|(k, _, _)| k == key))
            .map(|(_, v, _)| v)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in self.header.lines() {
            let _ = writeln!(out, "# {line}");
        }
        for (table, keys) in &self.tables {
            if keys.is_empty() {
                continue;
            }
            if !table.is_empty() {
                let _ = writeln!(out, "\n[{table}]");
            }
            for (k, v, from) in keys {
                if from.is_empty() {
                    let _ = writeln!(out, "{k} = {}", v.render());
                } else {
                    let _ = writeln!(out, "{k} = {}  # {from}", v.render());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_keys_come_before_tables_and_a_reset_key_keeps_its_place() {
        let mut d = Doc::new("edge.toml", "made by a test");
        d.set(
            "cache",
            "max_size",
            Value::Str("10G".into()),
            "nginx: max_size",
        );
        d.set("", "role", Value::Str("edge".into()), "");
        d.set("", "listen", Value::Str("0.0.0.0:80".into()), "");
        d.set("", "role", Value::Str("edge".into()), "again");
        let text = d.render();
        assert_eq!(
            text,
            "# made by a test\nrole = \"edge\"  # again\nlisten = \"0.0.0.0:80\"\n\n[cache]\nmax_size = \"10G\"  # nginx: max_size\n"
        );
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(parsed["cache"]["max_size"].as_str(), Some("10G"));
    }

    #[test]
    fn strings_are_escaped_so_the_file_parses_back() {
        let mut d = Doc::new("t.toml", "");
        let odd = "a \"quoted\" \\ path\twith\u{1} control";
        d.set("", "s", Value::Str(odd.into()), "");
        d.set("", "l", Value::List(vec![odd.into(), "b".into()]), "");
        let parsed: toml::Table = toml::from_str(&d.render()).unwrap();
        assert_eq!(parsed["s"].as_str(), Some(odd));
        assert_eq!(parsed["l"][0].as_str(), Some(odd));
    }
}
