//! sqlx simple migrations: `{i64}_{description}.sql`, no down.

/// Pattern shown in messages.
pub(super) const PATTERN: &str = "{version}_{description}.sql";

/// `(version, description)` of `{digits}_{description}.sql`; `.up.sql`/`.down.sql` belong to the
/// reversible layout and never to a simple one.
pub(super) fn parse_name(name: &str) -> Option<(&str, &str)> {
    if name.ends_with(".up.sql") || name.ends_with(".down.sql") {
        return None;
    }
    let stem = name.strip_suffix(".sql")?;
    let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || stem.as_bytes().get(digits) != Some(&b'_') {
        return None;
    }
    Some((&stem[..digits], &stem[digits + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse_name("20240101_init.sql"), Some(("20240101", "init")));
        assert_eq!(parse_name("1_.sql"), Some(("1", "")));
        assert_eq!(parse_name("3-add.sql"), None);
        assert_eq!(parse_name("1_a.up.sql"), None);
        assert_eq!(parse_name("a_1.sql"), None);
    }
}
