//! Diesel: one folder per migration, `{version}_{name}/up.sql` + `down.sql` + `metadata.toml`.

use std::path::Path;

use crate::chain::Version;
use crate::error::{Error, Result};

/// Pattern shown in messages.
pub(super) const PATTERN: &str = "{version}_{name}/up.sql (+ down.sql)";

/// `(version, name)` of a folder name like `2024-01-01-120000_add_users`. The version is digits
/// with optional dashes, compared as the number its digits spell.
pub(super) fn parse_dir_name(name: &str) -> Option<(Version, &str)> {
    let (ver, rest) = name.split_once('_')?;
    if !ver.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        || !ver.starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let digits: String = ver.chars().filter(char::is_ascii_digit).collect();
    let n = digits.parse::<u128>().ok()?;
    Some((
        Version {
            parts: vec![n],
            text: ver.to_string(),
        },
        rest,
    ))
}

/// `run_in_transaction = false` in `metadata.toml` means: run outside a transaction.
pub(super) fn no_transaction(text: &str, path: &Path) -> Result<bool> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| super::line_of(text, s.start));
        Error::input(
            path,
            line,
            format!("invalid metadata.toml: {}", e.message()),
        )
    })?;
    match table.get("run_in_transaction") {
        None => Ok(false),
        Some(toml::Value::Boolean(b)) => Ok(!b),
        Some(_) => Err(Error::input(
            path,
            None,
            "`run_in_transaction` must be true or false",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names() {
        let (v, n) = parse_dir_name("2024-01-01-120000_add_users").unwrap();
        assert_eq!(v.parts, vec![20240101120000]);
        assert_eq!(v.text, "2024-01-01-120000");
        assert_eq!(n, "add_users");
        let (v, n) = parse_dir_name("00000000000000_diesel_initial_setup").unwrap();
        assert_eq!(v.parts, vec![0]);
        assert_eq!(n, "diesel_initial_setup");
        assert!(parse_dir_name("seeds").is_none());
        assert!(parse_dir_name("abc_def").is_none());
        assert!(parse_dir_name("-1_x").is_none());
    }

    #[test]
    fn metadata() {
        let p = Path::new("m/metadata.toml");
        assert!(no_transaction("run_in_transaction = false\n", p).unwrap());
        assert!(!no_transaction("run_in_transaction = true\n", p).unwrap());
        assert!(!no_transaction("", p).unwrap());
        let e = no_transaction("\nrun_in_transaction = \n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m/metadata.toml:2: invalid metadata.toml"),
            "{e}"
        );
        assert!(no_transaction("run_in_transaction = 1", p).is_err());
    }
}
