//! Config loading: TOML with unknown keys rejected, and value checks that
//! name the offending key.

use std::path::Path;

use serde::de::DeserializeOwned;

/// A config problem a user can fix: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {problem}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(
        file: impl Into<String>,
        key: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.into(),
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// Reads and parses a TOML file. Syntax and type errors from `toml`
/// already carry the key and line; they are prefixed with the file name.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let (file, text) = read_config(path)?;
    parse_toml(&file, &text)
}

/// A config file's display name and text, for parsers that validate
/// further after `parse_toml`.
pub fn read_config(path: &Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read config: {e}", path.display()))?;
    Ok((path.display().to_string(), text))
}

pub fn parse_toml<T: DeserializeOwned>(file: &str, text: &str) -> anyhow::Result<T> {
    toml::from_str(text).map_err(|e| anyhow::anyhow!("{file}: {}", e.to_string().trim_end()))
}

/// FastDFS's `reserved_storage_space`: a percentage of the disk or an
/// absolute size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reserved {
    Percent(f64),
    Bytes(u64),
}

impl Reserved {
    /// Whether `free` bytes out of `total` still respect the reservation.
    pub fn allows(&self, free: u64, total: u64) -> bool {
        match *self {
            Reserved::Percent(p) => (free as f64) > (total as f64) * p / 100.0,
            Reserved::Bytes(b) => free > b,
        }
    }
}

/// Parses "20%", "10G", "512M", "4096" (bytes).
pub fn parse_reserved(s: &str) -> Result<Reserved, String> {
    let s = s.trim();
    if let Some(p) = s.strip_suffix('%') {
        let v: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a percentage like \"10%\""))?;
        if !(0.0..100.0).contains(&v) {
            return Err(format!("{s:?} must be between 0% and 100%"));
        }
        return Ok(Reserved::Percent(v));
    }
    parse_size(s).map(Reserved::Bytes)
}

/// Parses a byte size with an optional K/M/G/T suffix (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mul = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'B' => 1,
                _ => return Err(format!("{s:?}: unknown size unit {c:?} (use K, M, G or T)")),
            };
            (&s[..i], mul)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size like \"10G\""))?;
    n.checked_mul(mul)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        port: u16,
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse_toml::<Cfg>("x.toml", "port = 1\nprot = 2\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("x.toml") && msg.contains("prot"), "{msg}");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = parse_toml::<Cfg>("x.toml", "port = \"a\"\n").unwrap_err();
        assert!(e.to_string().contains("port"), "{e}");
    }

    #[test]
    fn reserved_forms() {
        assert_eq!(parse_reserved("10%").unwrap(), Reserved::Percent(10.0));
        assert_eq!(parse_reserved("2G").unwrap(), Reserved::Bytes(2 << 30));
        assert_eq!(parse_reserved("512").unwrap(), Reserved::Bytes(512));
        assert!(parse_reserved("120%").is_err());
        assert!(parse_reserved("5Q").is_err());
    }

    #[test]
    fn reservation_check() {
        assert!(Reserved::Percent(10.0).allows(11, 100));
        assert!(!Reserved::Percent(10.0).allows(10, 100));
        assert!(!Reserved::Bytes(1000).allows(900, 1 << 30));
    }
}
