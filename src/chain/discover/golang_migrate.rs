//! golang-migrate and sqlx reversible: `{uint}_{title}.up.sql` + `{uint}_{title}.down.sql`.

/// Pattern shown in messages.
pub(super) const PATTERN: &str = "{version}_{title}.up.sql / {version}_{title}.down.sql";

/// A file name split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Name<'a> {
    pub version: &'a str,
    pub title: &'a str,
    /// File name without `.up.sql` / `.down.sql`: the migration id.
    pub stem: &'a str,
    pub up: bool,
}

/// golang-migrate's `^([0-9]+)_(.*)\.(down|up)\.(.*)$`, restricted to the `.sql` extension.
pub(super) fn parse_name(name: &str) -> Option<Name<'_>> {
    let (stem, up) = if let Some(s) = name.strip_suffix(".up.sql") {
        (s, true)
    } else {
        (name.strip_suffix(".down.sql")?, false)
    };
    let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || stem.as_bytes().get(digits) != Some(&b'_') {
        return None;
    }
    Some(Name {
        version: &stem[..digits],
        title: &stem[digits + 1..],
        stem,
        up,
    })
}

/// sqlx's marker: the file's very first bytes are `-- no-transaction`.
pub(super) fn no_transaction_marker(text: &str) -> bool {
    text.starts_with("-- no-transaction")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = parse_name("0003_add_index.up.sql").unwrap();
        assert_eq!(
            n,
            Name {
                version: "0003",
                title: "add_index",
                stem: "0003_add_index",
                up: true
            }
        );
        assert!(!parse_name("1_a.b.down.sql").unwrap().up);
        assert_eq!(parse_name("1_a.b.down.sql").unwrap().title, "a.b");
        assert!(parse_name("1_a.sql").is_none());
        assert!(parse_name("1-a.up.sql").is_none());
        assert!(parse_name("_a.up.sql").is_none());
    }

    #[test]
    fn marker_must_be_first_bytes() {
        assert!(no_transaction_marker("-- no-transaction\nCREATE INDEX"));
        assert!(!no_transaction_marker("\n-- no-transaction\n"));
    }
}
