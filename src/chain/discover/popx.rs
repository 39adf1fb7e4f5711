//! Ory popx (Kratos, Hydra, Keto): `{version}_{name}[.{dialect}][.autocommit].{up|down}.sql`.
//!
//! popx's own rules (ory/x `popx/match.go`, `migration_box.go`, `migration_info.go`): versions are
//! digit strings compared as strings (Kratos uses 20 digits, beyond any 64-bit integer); per
//! version and direction the file of the connection's dialect wins over the dialect-less one and
//! other dialects' files are ignored; a file holding only `--` comment lines and blank lines is
//! skipped; `.autocommit` (and every MySQL migration) runs without a transaction.

use crate::engine::Engine;

/// Pattern shown in messages.
pub(super) const PATTERN: &str = "{version}_{name}[.{dialect}][.autocommit].{up|down}.sql";

/// Which database a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// No dialect in the name: every database.
    All,
    Postgres,
    Mysql,
    /// A dialect popx knows that migcheck cannot run (`cockroach`, `sqlite3`).
    Other,
    /// A dialect popx does not know: popx ignores the file.
    Unsupported,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Name<'a> {
    pub version: &'a str,
    pub name: &'a str,
    pub dialect: Dialect,
    pub autocommit: bool,
    pub up: bool,
}

/// popx's `^(\d+)_([^.]+)(\.[a-z0-9]+)?(\.autocommit)?\.(up|down)\.(sql)$`.
pub(super) fn parse_name(file: &str) -> Option<Name<'_>> {
    let (stem, up) = if let Some(s) = file.strip_suffix(".up.sql") {
        (s, true)
    } else {
        (file.strip_suffix(".down.sql")?, false)
    };
    let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || stem.as_bytes().get(digits) != Some(&b'_') {
        return None;
    }
    let version = &stem[..digits];
    let mut rest = stem[digits + 1..].split('.');
    let name = rest.next().filter(|n| !n.is_empty())?;
    let tail: Vec<&str> = rest.collect();
    let lower = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let (dialect, autocommit) = match tail.as_slice() {
        [] => (None, false),
        ["autocommit"] => (None, true),
        [d] if lower(d) => (Some(*d), false),
        [d, "autocommit"] if lower(d) => (Some(*d), true),
        _ => return None,
    };
    Some(Name {
        version,
        name,
        dialect: dialect.map_or(Dialect::All, canonical),
        autocommit,
        up,
    })
}

/// pop's `CanonicalDialect` with its synonyms.
fn canonical(d: &str) -> Dialect {
    match d {
        "postgres" | "postgresql" | "pg" | "pgx" => Dialect::Postgres,
        "mysql" => Dialect::Mysql,
        "cockroach" | "cockroachdb" | "crdb" | "sqlite3" | "sqlite" => Dialect::Other,
        _ => Dialect::Unsupported,
    }
}

/// True when the name carries something only popx names have (a dialect or `.autocommit`).
pub(super) fn is_specific(file: &str) -> bool {
    parse_name(file).is_some_and(|n| n.dialect != Dialect::All || n.autocommit)
}

impl Dialect {
    /// How well a file fits `engine`: None when popx would not run it there.
    pub(super) fn fit(self, engine: Engine) -> Option<u8> {
        match (self, engine) {
            (Dialect::All, _) => Some(0),
            (Dialect::Postgres, Engine::Postgres) => Some(1),
            (Dialect::Mysql, Engine::Mysql | Engine::Mariadb) => Some(1),
            _ => None,
        }
    }
}

/// popx's `isMigrationEmpty`: every line is blank or a `--` comment.
pub(super) fn is_noop(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim_start();
        t.is_empty() || t.starts_with("--")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = parse_name("20150100000001000000_networks.cockroach.down.sql").unwrap();
        assert_eq!(n.version, "20150100000001000000");
        assert_eq!(n.name, "networks");
        assert_eq!(n.dialect, Dialect::Other);
        assert!(!n.up && !n.autocommit);
        let n = parse_name("20210410175418000001_x.postgres.autocommit.up.sql").unwrap();
        assert!(n.autocommit && n.up);
        assert_eq!(n.dialect, Dialect::Postgres);
        let n = parse_name("1_x.autocommit.up.sql").unwrap();
        assert!(n.autocommit);
        assert_eq!(n.dialect, Dialect::All);
        assert_eq!(parse_name("1_x.up.sql").unwrap().dialect, Dialect::All);
        assert_eq!(
            parse_name("1_x.oracle.up.sql").unwrap().dialect,
            Dialect::Unsupported
        );
        assert!(parse_name("1_x.a.b.up.sql").is_none());
        assert!(parse_name("1_x.Postgres.up.sql").is_none());
        assert!(parse_name("x_1.up.sql").is_none());
        assert!(is_specific("1_x.mysql.up.sql"));
        assert!(!is_specific("1_x.up.sql"));
    }

    #[test]
    fn noop() {
        assert!(is_noop(""));
        assert!(is_noop("-- nothing for postgres\n\n  -- really\n"));
        assert!(!is_noop("/* c */"));
        assert!(!is_noop("SELECT 1;"));
    }
}
