//! MySQL/MariaDB observation.
//!
//! The InnoDB table ids of the database's tables are read before and after the migration; a
//! pre-existing table whose id changed was rebuilt (its rows copied into a new table). The
//! finding points at the statement that altered the table (`alters_table`). The ids come from
//! `information_schema.INNODB_TABLES` or, on older servers, `INNODB_SYS_TABLES`, detected once
//! per run (`InnodbSource`); InnoDB stores the names in its filename-safe encoding.

use std::collections::BTreeMap;

use sqlx::AssertSqlSafe;

use super::sql::excerpt;
use super::{default_severity, ObservedScript};
use crate::lint::rules;
use crate::report::Finding;
use crate::sql::Statement;

/// Why a MySQL/MariaDB run cannot be observed, when it cannot.
pub(super) const UNAVAILABLE: &str =
    "neither information_schema.INNODB_TABLES nor INNODB_SYS_TABLES is readable: table \
     rebuilds cannot be observed";

/// The information_schema table with InnoDB table ids, once detected (`Some(None)`: neither
/// exists or is readable); lives as long as the recorder.
#[derive(Debug, Default)]
pub(super) struct InnodbSource(Option<Option<&'static str>>);

/// The observation of one script in progress: the table ids before it ran.
#[derive(Debug)]
pub(super) struct MysqlWatch {
    source: &'static str,
    before: BTreeMap<String, u64>,
}

impl MysqlWatch {
    /// Read the table ids before the script runs; `None` when the server lists none that can
    /// be read.
    pub(super) async fn start(
        conn: &mut sqlx::MySqlConnection,
        source: &mut InnodbSource,
    ) -> Result<Option<Self>, sqlx::Error> {
        if source.0.is_none() {
            source.0 = Some(detect_innodb_source(conn).await);
        }
        match source.0.flatten() {
            Some(source) => Ok(Some(MysqlWatch {
                source,
                before: innodb_ids(conn, source).await?,
            })),
            None => Ok(None),
        }
    }

    /// The script applied completely: read the table ids again and report the rebuilt tables.
    pub(super) async fn finish(
        &self,
        conn: &mut sqlx::MySqlConnection,
        script: &ObservedScript,
        statements: &[Statement],
        out: &mut Vec<Finding>,
    ) -> Result<(), sqlx::Error> {
        let after = innodb_ids(conn, self.source).await?;
        mysql_rebuilds(script, statements, &self.before, &after, out);
        Ok(())
    }
}

async fn detect_innodb_source(conn: &mut sqlx::MySqlConnection) -> Option<&'static str> {
    for source in ["INNODB_TABLES", "INNODB_SYS_TABLES"] {
        let probe = format!("SELECT NAME, TABLE_ID FROM information_schema.{source} LIMIT 1");
        if sqlx::raw_sql(AssertSqlSafe(probe))
            .fetch_all(&mut *conn)
            .await
            .is_ok()
        {
            return Some(source);
        }
    }
    tracing::warn!("no readable InnoDB table list: rebuilds are not observed");
    None
}

/// Table name (decoded) -> InnoDB table id, for the tables of the current database.
async fn innodb_ids(
    conn: &mut sqlx::MySqlConnection,
    source: &str,
) -> Result<BTreeMap<String, u64>, sqlx::Error> {
    let database: Option<String> = sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)")
        .fetch_one(&mut *conn)
        .await?;
    let Some(database) = database else {
        return Ok(BTreeMap::new());
    };
    let query = format!(
        "SELECT CAST(NAME AS CHAR), CAST(TABLE_ID AS UNSIGNED) \
         FROM information_schema.{source} WHERE NAME LIKE CONCAT(DATABASE(), '/%')"
    );
    let rows: Vec<(String, u64)> = sqlx::query_as(AssertSqlSafe(query))
        .fetch_all(&mut *conn)
        .await?;
    let prefix = format!("{}/", encode_innodb_name(&database));
    Ok(rows
        .into_iter()
        .filter_map(|(name, id)| {
            let table = name.strip_prefix(&prefix)?;
            // Partitions (`t#P#p0`) and intermediate tables (`#sql-...`) are not user tables.
            (!table.contains('#')).then(|| (decode_innodb_name(table), id))
        })
        .collect())
}

/// InnoDB stores names in the filename-safe encoding: characters other than ASCII letters,
/// digits and `_` become `@XXXX` (hex code point).
fn decode_innodb_name(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 5);
        match code
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
        {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 5..];
            }
            None => {
                out.push('@');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn encode_innodb_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_string()
            } else {
                format!("@{:04x}", c as u32)
            }
        })
        .collect()
}

fn mysql_rebuilds(
    script: &ObservedScript,
    statements: &[Statement],
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    out: &mut Vec<Finding>,
) {
    let rule = rules::observed_table_rebuild::RULE.id;
    for (table, id) in before {
        let Some(new_id) = after.get(table) else {
            continue;
        };
        if new_id == id {
            continue;
        }
        let statement = statements.iter().find(|s| alters_table(&s.sql, table));
        let (line, sql, whom) = match statement {
            Some(s) => (s.line, Some(excerpt(&s.sql)), String::new()),
            None => (
                1,
                None,
                " by this migration (no ALTER of it found to point at)".to_string(),
            ),
        };
        out.push(Finding {
            rule: rule.to_string(),
            severity: default_severity(rule),
            file: script.file.clone(),
            line: Some(line),
            message: format!(
                "`{table}` was rebuilt{whom}: its InnoDB table id changed ({id} -> {new_id}), \
                 the rows were copied into a new table"
            ),
            column: None,
            statement: sql,
            help: None,
            migration: script.migration.clone(),
            ..Default::default()
        });
    }
}

/// Whether `sql` is a statement that can rebuild `table`: ALTER TABLE, OPTIMIZE TABLE,
/// CREATE ... INDEX ON, TRUNCATE.
fn alters_table(sql: &str, table: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';' || c == ',')
        .filter(|w| !w.is_empty())
        .take(12)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let names = |w: &str| {
        let bare = w.rsplit('.').next().unwrap_or(w).trim_matches('`');
        bare == table.to_ascii_lowercase()
    };
    match words.first().map(String::as_str) {
        Some("alter" | "optimize") => words
            .iter()
            .position(|w| w == "table")
            .and_then(|i| words.get(i + 1))
            .is_some_and(|w| names(w)),
        Some("truncate") => words.iter().skip(1).take(2).any(|w| names(w)),
        Some("create") => words
            .iter()
            .position(|w| w == "on")
            .and_then(|i| words.get(i + 1))
            .is_some_and(|w| names(w)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn innodb_names_round_trip() {
        assert_eq!(decode_innodb_name("my@002dtable"), "my-table");
        assert_eq!(encode_innodb_name("my-db_1"), "my@002ddb_1");
        assert_eq!(decode_innodb_name("odd@zz"), "odd@zz");
    }

    #[test]
    fn finds_the_statement_that_alters_a_table() {
        assert!(alters_table(
            "ALTER TABLE `users` MODIFY name varchar(500)",
            "users"
        ));
        assert!(alters_table(
            "alter table app.users add column x int",
            "users"
        ));
        assert!(alters_table("CREATE INDEX i ON users (a)", "users"));
        assert!(alters_table("OPTIMIZE TABLE users", "users"));
        assert!(!alters_table("ALTER TABLE user_roles ADD x int", "users"));
        assert!(!alters_table("UPDATE users SET a = 1", "users"));
    }
}
