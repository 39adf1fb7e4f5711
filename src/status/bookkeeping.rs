//! Read each migration tool's version table, as the tool itself reads it, into `Row`s.
//!
//! Every value is read as text (cast on the server) so that one reader serves PostgreSQL and
//! MySQL/MariaDB. The table names are the tools' defaults (`--table` names another one).

use crate::chain::Format;
use crate::engine::Dialect;

use super::session::ReadOnlySession;

/// One row of a version table, in the tool's own order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// The version as stored; `None` for a Flyway repeatable migration.
    pub version: Option<String>,
    pub description: Option<String>,
    /// Flyway: the script's file name.
    pub script: Option<String>,
    /// sqlx: lowercase hex of the SHA-384; Flyway: the signed CRC-32 in decimal.
    pub checksum: Option<String>,
    /// False for a golang-migrate `dirty` version, a Flyway or sqlx `success = false` row,
    /// and a goose row whose `is_applied` is false (a rolled back version).
    pub ok: bool,
    /// Flyway's `type` (`SQL`, `BASELINE`, `UNDO_SQL`, `DELETE`, ...).
    pub kind: Option<String>,
}

/// The version table's default name for `format`.
pub fn default_table(format: Format) -> &'static str {
    match format {
        Format::GolangMigrate | Format::Dbmate => "schema_migrations",
        Format::Sqlx | Format::SqlxSimple => "_sqlx_migrations",
        Format::Goose => "goose_db_version",
        Format::Flyway => "flyway_schema_history",
        Format::Diesel => "__diesel_schema_migrations",
        Format::Popx => "schema_migration",
        // Alembic: the one format with a project of its own that `status` reads
        // (`load_chain` reads the others' folders as SQL files, which refuses them).
        _ => "alembic_version",
    }
}

/// A table name `--table` may give: letters, digits, `_` and `$`, optionally schema-qualified.
pub fn valid_table_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        })
}

/// Whether `table` exists where the tool would look for it (the search path on PostgreSQL,
/// the URL's database on MySQL/MariaDB).
pub async fn exists(session: &mut ReadOnlySession, table: &str) -> Result<bool, String> {
    let sql = match session.dialect() {
        Dialect::Postgres => format!("SELECT CAST(to_regclass('{table}') IS NOT NULL AS TEXT)"),
        Dialect::Mysql => {
            let (schema, name) = match table.split_once('.') {
                Some((s, n)) => (format!("'{s}'"), n),
                None => ("DATABASE()".to_string(), table),
            };
            format!(
                "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = {schema} AND table_name = '{name}'"
            )
        }
    };
    let rows = session.query(&sql).await?;
    let value = rows.first().and_then(|r| r[0].clone()).unwrap_or_default();
    Ok(value == "true" || value == "1")
}

/// Read the rows of `format`'s version table `table` (which exists).
pub async fn read(
    session: &mut ReadOnlySession,
    format: Format,
    table: &str,
) -> Result<Vec<Row>, String> {
    let dialect = session.dialect();
    let t = |col: &str| match dialect {
        Dialect::Postgres => format!("CAST({col} AS TEXT)"),
        Dialect::Mysql => format!("CAST({col} AS CHAR)"),
    };
    let hex = |col: &str| match dialect {
        Dialect::Postgres => format!("encode({col}, 'hex')"),
        Dialect::Mysql => format!("LOWER(HEX({col}))"),
    };
    let sql = match format {
        Format::GolangMigrate => format!("SELECT {}, {} FROM {table}", t("version"), t("dirty")),
        Format::Sqlx | Format::SqlxSimple => format!(
            "SELECT {}, {}, {}, {} FROM {table} ORDER BY version",
            t("version"),
            t("description"),
            t("success"),
            hex("checksum")
        ),
        Format::Goose => format!(
            "SELECT {}, {} FROM {table} ORDER BY id",
            t("version_id"),
            t("is_applied")
        ),
        Format::Flyway => format!(
            "SELECT {}, {}, {}, {}, {}, {} FROM {table} ORDER BY installed_rank",
            t("version"),
            t("description"),
            t("success"),
            t("checksum"),
            t("type"),
            t("script")
        ),
        Format::Dbmate | Format::Diesel | Format::Popx => {
            format!("SELECT {} FROM {table} ORDER BY version", t("version"))
        }
        // Alembic (see `default_table`).
        _ => format!("SELECT {} FROM {table}", t("version_num")),
    };
    let rows = session
        .query(&sql)
        .await
        .map_err(|e| format!("reading {table}: {e}"))?;
    let truthy = |v: &Option<String>| {
        matches!(
            v.as_deref().map(str::to_ascii_lowercase).as_deref(),
            Some("true" | "t" | "1")
        )
    };
    let get = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten();
    Ok(rows
        .iter()
        .map(|r| match format {
            Format::GolangMigrate => Row {
                version: get(r, 0),
                ok: !truthy(&get(r, 1)),
                ..Row::default()
            },
            Format::Sqlx | Format::SqlxSimple => Row {
                version: get(r, 0),
                description: get(r, 1),
                ok: truthy(&get(r, 2)),
                checksum: get(r, 3),
                ..Row::default()
            },
            Format::Goose => Row {
                version: get(r, 0),
                ok: truthy(&get(r, 1)),
                ..Row::default()
            },
            Format::Flyway => Row {
                version: get(r, 0),
                description: get(r, 1),
                ok: truthy(&get(r, 2)),
                checksum: get(r, 3),
                kind: get(r, 4),
                script: get(r, 5),
            },
            _ => Row {
                version: get(r, 0),
                ok: true,
                ..Row::default()
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!(valid_table_name("schema_migrations"));
        assert!(valid_table_name("app.flyway_schema_history"));
        assert!(!valid_table_name("x; DROP TABLE y"));
        assert!(!valid_table_name("a.b.c"));
        assert!(!valid_table_name("t'"));
        assert!(!valid_table_name(""));
    }
}
