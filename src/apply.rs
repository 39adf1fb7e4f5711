//! Stage: apply one migration script to the throwaway database, statement by statement.
//!
//! Postgres scripts run inside one transaction unless their format marks them
//! non-transactional; MySQL/MariaDB commit every DDL statement implicitly, so statements run
//! one by one there. A failing statement is reported with its file, its line in that file
//! (refined by the server's error position where the server gives one) and the server's error.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::observe::{self, Recorder};
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
    /// The migration declares itself irreversible (Alembic's `NotImplementedError` in a
    /// downgrade): reported like a missing down, not as a broken one.
    pub irreversible: bool,
    pub duration: Duration,
}

/// Run `script` on `conn`; returns how long it took.
pub async fn apply(conn: &mut Conn, script: &PreparedScript) -> Result<Duration, ApplyFailure> {
    run(conn, script, None, &AtomicUsize::new(0)).await
}

/// `apply`, storing in `running` the index of the statement being run (read by a caller
/// that gives up waiting, to say where the script stood).
pub async fn apply_tracked(
    conn: &mut Conn,
    script: &PreparedScript,
    recorder: Option<(&mut Recorder, Option<&str>)>,
    running: &AtomicUsize,
) -> Result<Duration, ApplyFailure> {
    run(conn, script, recorder, running).await
}

/// Like `apply`, and `recorder` watches what the server does for each statement (locks,
/// rewrites, rebuilds: see `crate::observe`). A script the recorder cannot start watching is
/// applied unobserved; a failing observation query inside the script's transaction fails the
/// apply (the transaction is aborted by then), with a message that says so.
pub async fn apply_observed(
    conn: &mut Conn,
    script: &PreparedScript,
    recorder: &mut Recorder,
    migration: Option<&str>,
) -> Result<Duration, ApplyFailure> {
    run(
        conn,
        script,
        Some((recorder, migration)),
        &AtomicUsize::new(0),
    )
    .await
}

async fn run(
    conn: &mut Conn,
    script: &PreparedScript,
    mut observer: Option<(&mut Recorder, Option<&str>)>,
    running: &AtomicUsize,
) -> Result<Duration, ApplyFailure> {
    let started = Instant::now();
    let transactional = matches!(conn, Conn::Postgres(_)) && !script.no_transaction;
    let mut watch = match &mut observer {
        Some((recorder, migration)) => match recorder.start(conn, script, *migration).await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(file = %script.file.display(), error = %e, "cannot observe this script");
                None
            }
        },
        None => None,
    };
    if transactional {
        if let Err(e) = execute(conn, "BEGIN").await {
            return Err(failure(script, None, &e, false, started));
        }
        if let Err(e) = transaction_started(conn, &mut observer, &mut watch).await {
            let _ = execute(conn, "ROLLBACK").await;
            return Err(observation_failure(script, None, &e, false, started));
        }
    }
    // Non-transactional scripts: inside the script's own BEGIN ... COMMIT.
    let mut in_script_transaction = false;
    let mut script_ended_transaction = false;
    for (index, statement) in script.statements.iter().enumerate() {
        running.store(index, Ordering::Relaxed);
        // A non-transactional Postgres statement runs in a transaction of its own while
        // observed, so its locks can be read before they are released.
        let wrap = !transactional
            && !in_script_transaction
            && watch
                .as_ref()
                .is_some_and(observe::ScriptWatch::wants_statement_transactions)
            && !observe::is_transaction_control(&statement.sql)
            && !crate::chain::must_run_outside_transaction(&statement.sql);
        if wrap {
            if let Err(e) = execute(conn, "BEGIN").await {
                return Err(failure(script, Some(statement), &e, index > 0, started));
            }
            if let Err(e) = transaction_started(conn, &mut observer, &mut watch).await {
                let _ = execute(conn, "ROLLBACK").await;
                return Err(observation_failure(
                    script,
                    Some(statement),
                    &e,
                    index > 0,
                    started,
                ));
            }
        }
        let mut wrapped = wrap;
        if let Err(e) = execute(conn, &statement.sql).await {
            if wrapped {
                let _ = execute(conn, "ROLLBACK").await;
                wrapped = false;
            }
            let retried = if wrap && refuses_transaction_block(&e) {
                // Postgres refuses this statement inside a transaction block: run it as the
                // script wants, unwrapped (its locks are released before they can be read).
                execute(conn, &statement.sql).await
            } else {
                Err(e)
            };
            if let Err(e) = retried {
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
        if observe::forgets_prepared(&statement.sql) {
            if let Conn::Postgres(c) = conn {
                // The server dropped the statements the observation prepared on this session.
                let _ = sqlx::Connection::clear_cached_statements(c).await;
            }
        }
        if let (Some((recorder, _)), Some(w)) = (&mut observer, &mut watch) {
            // Still inside the transaction the statement ran in, its locks held: the cheap
            // observation query. After a statement that ended it, or once a transactional
            // script ended migcheck's own transaction itself, the full one.
            let effect = observe::transaction_effect(&statement.sql);
            if transactional && effect == Some(false) {
                script_ended_transaction = true;
            }
            let in_transaction = effect != Some(false)
                && ((transactional && !script_ended_transaction)
                    || wrapped
                    || in_script_transaction
                    || effect == Some(true));
            if let Err(e) = recorder
                .after_statement(conn, w, index, statement, in_transaction)
                .await
            {
                if transactional || wrapped {
                    let _ = execute(conn, "ROLLBACK").await;
                }
                return Err(observation_failure(
                    script,
                    Some(statement),
                    &e,
                    !transactional && index > 0,
                    started,
                ));
            }
        }
        if wrapped {
            if let Err(e) = execute(conn, "COMMIT").await {
                return Err(failure(script, Some(statement), &e, index > 0, started));
            }
        }
        let effect = observe::transaction_effect(&statement.sql).filter(|_| !transactional);
        if let Some(opens) = effect {
            in_script_transaction = opens;
        }
        if wrapped || effect == Some(false) {
            if let (Some((recorder, _)), Some(w)) = (&mut observer, &mut watch) {
                recorder.transaction_ended(w);
            }
        }
    }
    if transactional {
        if let Err(e) = execute(conn, "COMMIT").await {
            return Err(failure(script, None, &e, false, started));
        }
    }
    if let (Some((recorder, _)), Some(w)) = (observer, watch) {
        if let Err(e) = recorder.finish_script(conn, w, &script.statements).await {
            tracing::warn!(file = %script.file.display(), error = %e, "observation incomplete");
        }
    }
    Ok(started.elapsed())
}

async fn transaction_started(
    conn: &mut Conn,
    observer: &mut Option<(&mut Recorder, Option<&str>)>,
    watch: &mut Option<observe::ScriptWatch>,
) -> Result<(), sqlx::Error> {
    match (observer, watch) {
        (Some((recorder, _)), Some(w)) => recorder.transaction_started(conn, w).await,
        _ => Ok(()),
    }
}

/// An observation query failed inside the migration's transaction: the transaction is lost,
/// and the message says it was migcheck's query, not the migration, that failed.
fn observation_failure(
    script: &PreparedScript,
    statement: Option<&Statement>,
    error: &sqlx::Error,
    partially_applied: bool,
    started: Instant,
) -> ApplyFailure {
    let mut f = failure(script, statement, error, partially_applied, started);
    f.message = format!(
        "migcheck could not observe the locks and rewrites of this migration: {}",
        f.message
    );
    f
}

/// SQLSTATE 25001 (cannot run inside a transaction block) or 2D000 (a procedure's own COMMIT).
fn refuses_transaction_block(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "25001" || c == "2D000")
}

/// Simple-query / text protocol (`Conn::execute`): DDL, DO blocks and multi-row SELECTs all run
/// as written.
async fn execute(conn: &mut Conn, sql: &str) -> Result<(), sqlx::Error> {
    conn.execute(sql).await
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
    let mut message = message;
    if statement.is_some_and(|s| starts_with_delimiter_command(&s.sql)) {
        message.push_str(
            " (`DELIMITER` is a command of the mysql client, not SQL: this tool sends the file \
             to the server as it is, and the server parses `BEGIN ... END` bodies itself, so \
             remove the DELIMITER lines)",
        );
    }
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
        irreversible: false,
        duration: started.elapsed(),
    }
}

fn starts_with_delimiter_command(sql: &str) -> bool {
    sql.split_whitespace()
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("delimiter"))
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
