//! Stage 1: discover the migration chain in a folder and check it before touching a database.
//!
//! Each supported tool's conventions live in their own file; `discover` detects the format
//! (or takes the one forced with `--format`), builds an ordered `Chain` and collects `ChainProblem`s.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::Result;

/// Migration file conventions migcheck understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `{version}_{name}.up.sql` + `.down.sql`, run as golang-migrate runs them.
    GolangMigrate,
    /// `{version}_{name}.up.sql` + `.down.sql`, run as sqlx runs reversible migrations.
    Sqlx,
    /// `{version}_{name}.sql`, no down (sqlx simple).
    SqlxSimple,
    /// `-- migrate:up` / `-- migrate:down` sections in one file.
    Dbmate,
    /// `-- +goose Up` / `-- +goose Down` sections in one file.
    Goose,
    /// `V{ver}__{desc}.sql`, `U{ver}__{desc}.sql`, `R__{desc}.sql`.
    Flyway,
    /// `{version}_{name}/up.sql` + `down.sql`.
    Diesel,
    /// Ory popx: `{version}_{name}[.{dialect}][.autocommit].{up|down}.sql`.
    Popx,
    /// An Alembic project (`alembic.ini`, `env.py`, `versions/*.py`), read by `crate::alembic`.
    Alembic,
    /// A Sqitch project (`sqitch.plan`, `deploy/` `revert/` `verify/` scripts), read by `crate::sqitch`.
    Sqitch,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::GolangMigrate => "golang-migrate",
            Format::Sqlx => "sqlx",
            Format::SqlxSimple => "sqlx-simple",
            Format::Dbmate => "dbmate",
            Format::Goose => "goose",
            Format::Flyway => "flyway",
            Format::Diesel => "diesel",
            Format::Popx => "popx",
            Format::Alembic => "alembic",
            Format::Sqitch => "sqitch",
        }
    }
}

impl Format {
    /// Whether this format is read by a module of its own (`crate::formats`: Alembic, ...)
    /// rather than by the SQL-file discovery.
    pub fn has_own_project(self) -> bool {
        discover::own_project(self)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A migration version, ordered as its tool orders it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub key: VersionKey,
    /// The version exactly as written in the file name (`000042`, `1_1`).
    pub text: String,
}

/// What a tool compares: numbers (golang-migrate, sqlx, goose, Flyway's dotted parts) or
/// strings (Diesel, popx, dbmate). Two versions with the same key are the same version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VersionKey {
    /// Numeric parts, compared in order (`1.10` > `1.9`); a plain integer has one part.
    Numbers(Vec<u128>),
    /// Compared byte by byte, whatever its length (`20240101` < `3`).
    Text(String),
}

impl Version {
    pub fn number(n: u128, text: &str) -> Version {
        Version {
            key: VersionKey::Numbers(vec![n]),
            text: text.to_string(),
        }
    }

    pub fn string(key: &str, text: &str) -> Version {
        Version {
            key: VersionKey::Text(key.to_string()),
            text: text.to_string(),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// A piece of a migration file, before statement splitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// SQL text to be split into statements; `line` is the 1-based line in the file where it starts.
    Sql { text: String, line: usize },
    /// One statement that must be sent as-is (goose `StatementBegin`/`StatementEnd` block).
    Verbatim { text: String, line: usize },
}

/// The SQL of one direction (up or down) of one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The file this script comes from (relative to the migrations folder's parent as given by the user).
    pub file: PathBuf,
    pub segments: Vec<Segment>,
    /// True when the format's marker says: run outside a transaction.
    pub no_transaction: bool,
}

impl Script {
    /// True when the script holds nothing but whitespace and comments.
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| match s {
            Segment::Sql { text, .. } | Segment::Verbatim { text, .. } => {
                crate::sql::is_blank(text)
            }
        })
    }
}

/// One migration of the chain.
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: Version,
    /// The descriptive part of the name (`add_users`).
    pub name: String,
    /// Stable id used in reports and JUnit class names: the file stem without direction
    /// (`0003_add_index`, `V3__add_index`, `2024-01-01-120000_add_index`).
    pub id: String,
    pub up: Script,
    pub down: Option<Script>,
    /// Every file that makes up this migration (up, down, Diesel metadata, Flyway .conf).
    pub files: Vec<PathBuf>,
    /// Flyway repeatable migrations (`R__`): applied after versioned ones, no version.
    pub repeatable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemSeverity {
    /// Makes the gate fail.
    Error,
    /// Reported; fails the gate only under a stricter flag (e.g. `--require-down`).
    Warning,
}

/// Something wrong with the chain itself, found without a database.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainProblem {
    /// Stable kebab-case kind: `duplicate-version`, `mixed-formats`, `unrecognized-file`,
    /// `missing-down`, `empty-migration`, `orphan-down`, ...
    pub kind: &'static str,
    pub severity: ProblemSeverity,
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// An ordered migration chain with the problems found while reading it.
#[derive(Debug, Clone)]
pub struct Chain {
    pub root: PathBuf,
    pub format: Format,
    /// Versioned migrations in ascending version order, then repeatable ones in name order.
    pub migrations: Vec<Migration>,
    pub problems: Vec<ChainProblem>,
    /// Why `format` was chosen: forced, detected from a project file, or assumed.
    pub format_reason: String,
}

/// Options that change how the chain is read or judged.
#[derive(Debug, Clone, Default)]
pub struct DiscoverOptions {
    /// Forced format (`--format`); detected when None.
    pub format: Option<Format>,
    /// `--require-down`: an up without a down is an error, not a warning.
    pub require_down: bool,
    /// The engine the chain will run on: popx picks its dialect's files, and whether a script
    /// runs in a transaction depends on it. None (a lint without `--engine`) reads as PostgreSQL.
    pub engine: Option<Engine>,
}

impl DiscoverOptions {
    pub fn engine(&self) -> Engine {
        self.engine.unwrap_or(Engine::Postgres)
    }
}

/// Statements Postgres refuses inside a transaction block; Flyway detects these by itself and
/// runs such a migration outside a transaction; in a multi-statement string they fail.
pub fn must_run_outside_transaction(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().collect();
    let starts = |prefix: &[&str]| words.len() >= prefix.len() && words[..prefix.len()] == *prefix;
    (words.contains(&"CONCURRENTLY")
        && (starts(&["CREATE", "INDEX"])
            || starts(&["CREATE", "UNIQUE", "INDEX"])
            || starts(&["DROP", "INDEX"])
            || starts(&["REINDEX"])))
        || starts(&["VACUUM"])
        || starts(&["ALTER", "SYSTEM"])
        || starts(&["CREATE", "DATABASE"])
        || starts(&["DROP", "DATABASE"])
}

/// Read the folder, detect the format, build the ordered chain and run the chain checks.
///
/// Returns `Err` (exit 2) for what makes the folder unusable: unreadable or non-UTF-8 files,
/// no migrations at all, a format that cannot be detected. Everything else is a `ChainProblem`.
pub fn discover(root: &Path, options: &DiscoverOptions) -> Result<Chain> {
    discover::discover(root, options)
}

mod discover;
pub(crate) use discover::read_text;
pub mod targets;

/// The discovery parsers, one at a time, for the fuzz targets under `fuzz/` (not a stable API).
#[doc(hidden)]
pub use discover::fuzzing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_transaction_detection() {
        assert!(must_run_outside_transaction(
            "CREATE INDEX CONCURRENTLY i ON t (a)"
        ));
        assert!(must_run_outside_transaction(
            "create unique index concurrently i on t (a)"
        ));
        assert!(must_run_outside_transaction("DROP INDEX CONCURRENTLY i"));
        assert!(must_run_outside_transaction("VACUUM t"));
        assert!(!must_run_outside_transaction("CREATE INDEX i ON t (a)"));
        assert!(!must_run_outside_transaction(
            "COMMENT ON TABLE t IS 'CONCURRENTLY'"
        ));
    }
}
