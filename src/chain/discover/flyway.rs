//! Flyway: `V{ver}__{desc}.sql`, undo `U{ver}__{desc}.sql`, repeatable `R__{desc}.sql`,
//! per-script settings in a sibling `.sql.conf`.

use crate::chain::{Version, VersionKey};

/// Pattern shown in messages.
pub(super) const PATTERN: &str =
    "V{version}__{description}.sql, U{version}__{description}.sql or R__{description}.sql";

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Name<'a> {
    /// `V` (`undo == false`) or `U` (`undo == true`).
    Versioned {
        undo: bool,
        version: Version,
        desc: &'a str,
        stem: &'a str,
    },
    Repeatable {
        desc: &'a str,
        stem: &'a str,
    },
}

pub(super) fn parse_name(name: &str) -> Option<Name<'_>> {
    let stem = name.strip_suffix(".sql")?;
    if let Some(desc) = stem.strip_prefix("R__") {
        return Some(Name::Repeatable { desc, stem });
    }
    let undo = match stem.as_bytes().first() {
        Some(b'V') => false,
        Some(b'U') => true,
        _ => return None,
    };
    let rest = &stem[1..];
    let sep = rest.find("__")?;
    let version = parse_version(&rest[..sep])?;
    Some(Name::Versioned {
        undo,
        version,
        desc: &rest[sep + 2..],
        stem,
    })
}

/// `1`, `1.1`, `2_3`: numeric parts separated by `.` or `_`. Trailing zero parts are dropped
/// because Flyway treats `1.0` and `1` as the same version.
fn parse_version(text: &str) -> Option<Version> {
    let mut parts = Vec::new();
    for p in text.split(['.', '_']) {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parts.push(p.parse::<u128>().ok()?);
    }
    while parts.len() > 1 && parts.last() == Some(&0) {
        parts.pop();
    }
    Some(Version {
        key: VersionKey::Numbers(parts),
        text: text.to_string(),
    })
}

/// A name Flyway users would recognise as meant to be a migration (`V1_foo.sql`, `v2__x.sql`).
pub(super) fn looks_like(name: &str) -> bool {
    let b = name.as_bytes();
    matches!(b.first(), Some(b'V' | b'U' | b'R' | b'v' | b'u' | b'r'))
        && b.get(1).is_some_and(|c| c.is_ascii_digit() || *c == b'_')
}

/// `executeInTransaction=false` in a script's `.sql.conf`.
pub(super) fn conf_no_transaction(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        if l.starts_with('#') {
            return false;
        }
        match l.split_once('=') {
            Some((k, v)) => {
                k.trim() == "executeInTransaction" && v.trim().eq_ignore_ascii_case("false")
            }
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str) -> (bool, Vec<u128>, String) {
        match parse_name(name) {
            Some(Name::Versioned {
                undo,
                version,
                desc,
                ..
            }) => match version.key {
                VersionKey::Numbers(parts) => (undo, parts, desc.to_string()),
                VersionKey::Text(t) => panic!("{t}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names() {
        assert_eq!(v("V1__init.sql"), (false, vec![1], "init".into()));
        assert_eq!(v("V1.1__a_b.sql"), (false, vec![1, 1], "a_b".into()));
        assert_eq!(v("U2_3__x.sql"), (true, vec![2, 3], "x".into()));
        assert_eq!(v("V1.0__x.sql").1, vec![1]);
        assert_eq!(
            parse_name("R__views.sql"),
            Some(Name::Repeatable {
                desc: "views",
                stem: "R__views"
            })
        );
        assert!(parse_name("V1_foo.sql").is_none());
        assert!(parse_name("V__foo.sql").is_none());
        assert!(parse_name("Va__foo.sql").is_none());
        assert!(looks_like("V1_foo.sql"));
        assert!(!looks_like("views.sql"));
    }

    #[test]
    fn conf() {
        assert!(conf_no_transaction("# x\nexecuteInTransaction = false\n"));
        assert!(!conf_no_transaction("executeInTransaction=true"));
        assert!(!conf_no_transaction("#executeInTransaction=false"));
    }
}
