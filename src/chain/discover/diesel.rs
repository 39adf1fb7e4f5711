//! Diesel: one folder per migration, `{version}_{name}/up.sql` + `down.sql` + `metadata.toml`.

use crate::chain::Version;

/// Pattern shown in messages.
pub(super) const PATTERN: &str = "{version}_{name}/up.sql (+ down.sql)";

/// `(version, name)` of a migration folder, as Diesel reads it: the version is the name before
/// the first `_` with its dashes removed, compared as a string (so `2025-11-19-091444-0000_x`
/// runs before `2026-01-20-162913_y`); any name is a version, Diesel asks for no digits.
pub(super) fn parse_dir_name(name: &str) -> (Version, &str) {
    let (ver, rest) = name.split_once('_').unwrap_or((name, ""));
    (Version::string(&ver.replace('-', ""), ver), rest)
}

/// True when the name looks like one `diesel migration generate` writes (for detection only).
pub(super) fn looks_generated(name: &str) -> bool {
    name.split_once('_').is_some_and(|(ver, _)| {
        ver.starts_with(|c: char| c.is_ascii_digit())
            && ver.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    })
}

/// How Diesel reads `metadata.toml`: `Ok(true)` runs outside a transaction. Diesel's field is
/// `#[serde(default)] run_in_transaction: bool`, so a file that parses but omits the key means
/// false (no transaction); a file that does not parse is ignored (`unwrap_or_default`: in a
/// transaction), which is returned as `Err(why)` for a warning.
pub(super) fn no_transaction(text: &str) -> std::result::Result<bool, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
    match table.get("run_in_transaction") {
        None => Ok(true),
        Some(toml::Value::Boolean(b)) => Ok(!b),
        Some(_) => Err("`run_in_transaction` must be true or false".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::VersionKey;

    #[test]
    fn dir_names() {
        let (v, n) = parse_dir_name("2024-01-01-120000_add_users");
        assert_eq!(v.key, VersionKey::Text("20240101120000".into()));
        assert_eq!(v.text, "2024-01-01-120000");
        assert_eq!(n, "add_users");
        let (a, _) = parse_dir_name("2025-11-19-091444-0000_x");
        let (b, _) = parse_dir_name("2026-01-20-162913_y");
        assert!(a < b, "Diesel compares strings");
        assert_eq!(parse_dir_name("seeds").0.text, "seeds");
        assert!(looks_generated("00000000000000_diesel_initial_setup"));
        assert!(!looks_generated("seeds"));
        assert!(!looks_generated("abc_def"));
    }

    #[test]
    fn metadata() {
        assert_eq!(no_transaction("run_in_transaction = false\n"), Ok(true));
        assert_eq!(no_transaction("run_in_transaction = true\n"), Ok(false));
        // Diesel's serde default: present but silent means false.
        assert_eq!(no_transaction(""), Ok(true));
        assert!(no_transaction("\nrun_in_transaction = \n").is_err());
        assert!(no_transaction("run_in_transaction = 1").is_err());
    }
}
