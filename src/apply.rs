//! Stage: apply one migration script to the throwaway database, statement by statement.
//!
//! Postgres scripts run inside one transaction unless their format marks them
//! non-transactional; MySQL/MariaDB commit every DDL statement implicitly, so statements run
//! one by one there. A failing statement is reported with its file, its line in that file
//! (refined by the server's error position where the server gives one) and the server's error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;

use crate::provision::Conn;
use crate::sql::Statement;

/// A script ready to run: statements already split for the engine's dialect.
#[derive(Debug, Clone)]
pub struct PreparedScript {
    pub file: PathBuf,
    pub statements: Vec<Statement>,
    /// Run without a surrounding transaction (format marker, or Flyway's own detection).
    pub no_transaction: bool,
}

/// Why a script did not apply.
#[derive(Debug, Clone)]
pub struct ApplyFailure {
    pub file: PathBuf,
    /// Line in `file` the error points at.
    pub line: usize,
    /// One line: the server's message (with SQLSTATE / error code).
    pub message: String,
    /// Server detail and hint, and the failing statement's first lines.
    pub detail: String,
    /// True when some statements may have been committed before the failure
    /// (non-transactional script, or MySQL's implicit DDL commits): the schema is in an unknown state.
    pub partially_applied: bool,
    pub duration: Duration,
}

/// Run `script` on `conn`; returns how long it took.
pub async fn apply(conn: &mut Conn, script: &PreparedScript) -> Result<Duration, ApplyFailure> {
    let started = Instant::now();
    let transactional = matches!(conn, Conn::Postgres(_)) && !script.no_transaction;
    if transactional {
        if let Err(e) = execute(conn, "BEGIN").await {
            return Err(failure(script, None, &e, false, started));
        }
    }
    for (index, statement) in script.statements.iter().enumerate() {
        if let Err(e) = execute(conn, &statement.sql).await {
            if transactional {
                // The failed transaction must be closed before the connection is usable again.
                let _ = execute(conn, "ROLLBACK").await;
            }
            // Outside a transaction (and always on MySQL, where DDL commits implicitly) the
            // statements before this one stay applied.
            let partially_applied = !transactional && index > 0;
            return Err(failure(
                script,
                Some(statement),
                &e,
                partially_applied,
                started,
            ));
        }
    }
    if transactional {
        if let Err(e) = execute(conn, "COMMIT").await {
            return Err(failure(script, None, &e, false, started));
        }
    }
    Ok(started.elapsed())
}

async fn execute(conn: &mut Conn, sql: &str) -> Result<(), sqlx::Error> {
    // Simple-query / text protocol: DDL, DO blocks and multi-row SELECTs all run as written.
    let query = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
    match conn {
        Conn::Postgres(c) => query.execute(c).await.map(|_| ()),
        Conn::Mysql(c) => query.execute(c).await.map(|_| ()),
    }
}

fn failure(
    script: &PreparedScript,
    statement: Option<&Statement>,
    error: &sqlx::Error,
    partially_applied: bool,
    started: Instant,
) -> ApplyFailure {
    let (message, mut detail, offset_line) =
        describe_error(error, statement.map(|s| s.sql.as_str()));
    let line = statement
        .map(|s| s.line + offset_line.unwrap_or(0))
        .unwrap_or(1);
    if let Some(s) = statement {
        let excerpt: Vec<&str> = s.sql.lines().take(6).collect();
        let more = if s.sql.lines().count() > 6 {
            "\n    ..."
        } else {
            ""
        };
        detail.push_str(&format!(
            "statement at line {}:\n    {}{more}",
            s.line,
            excerpt.join("\n    ")
        ));
    }
    ApplyFailure {
        file: script.file.clone(),
        line,
        message,
        detail,
        partially_applied,
        duration: started.elapsed(),
    }
}

/// The server's message, extra detail, and the error's line offset within the statement.
fn describe_error(error: &sqlx::Error, sql: Option<&str>) -> (String, String, Option<usize>) {
    let Some(db) = error.as_database_error() else {
        return (error.to_string(), String::new(), None);
    };
    let code = db.code().map(|c| format!(" [{c}]")).unwrap_or_default();
    let mut detail = String::new();
    let mut offset = None;
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        if let Some(d) = pg.detail() {
            detail.push_str(&format!("detail: {d}\n"));
        }
        if let Some(h) = pg.hint() {
            detail.push_str(&format!("hint: {h}\n"));
        }
        if let (Some(sqlx::postgres::PgErrorPosition::Original(pos)), Some(sql)) =
            (pg.position(), sql)
        {
            offset = Some(line_offset_at_char(sql, pos.saturating_sub(1)));
        }
    } else if let Some(sql) = sql {
        // MySQL/MariaDB syntax errors end with "... near '...' at line N" (N within the statement).
        offset =
            mysql_error_line(db.message()).map(|n| n.saturating_sub(1).min(sql.lines().count()));
    }
    (format!("{}{code}", db.message()), detail, offset)
}

/// Number of newlines before the `char_index`-th character of `sql`.
fn line_offset_at_char(sql: &str, char_index: usize) -> usize {
    sql.chars().take(char_index).filter(|&c| c == '\n').count()
}

fn mysql_error_line(message: &str) -> Option<usize> {
    let tail = message.rsplit_once(" at line ")?.1;
    tail.trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_position_maps_to_line() {
        let sql = "CREATE TABLE t (\n  id int,\n  name txet\n)";
        let pos = sql.find("txet").unwrap();
        assert_eq!(line_offset_at_char(sql, pos), 2);
        assert_eq!(line_offset_at_char(sql, 0), 0);
    }

    #[test]
    fn mysql_line_is_parsed() {
        let msg = "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'txet)' at line 3";
        assert_eq!(mysql_error_line(msg), Some(3));
        assert_eq!(mysql_error_line("Table 'x' already exists"), None);
    }
}
