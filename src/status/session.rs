//! The one connection `status`, `wait` and `plan` open on the target database: after the
//! driver's own session settings (`SET NAMES`, `SET time_zone`, ... on MySQL/MariaDB; startup
//! parameters on PostgreSQL), every statement runs inside one read-only transaction, rolled
//! back at the end.

use sqlx::Row;

use crate::engine::{Engine, ServerInfo};
use crate::error::{Error, Result};
use crate::provision::conn::scrub_error;
use crate::provision::Conn;
use crate::redact::SecretUrl;

/// A connection whose every statement runs in `START TRANSACTION READ ONLY`: the server itself
/// refuses a write (PostgreSQL SQLSTATE 25006, MariaDB/MySQL error 1792).
pub struct ReadOnlySession {
    conn: Conn,
    url: SecretUrl,
    pub info: ServerInfo,
}

impl ReadOnlySession {
    /// Connect and start the read-only transaction; a driver error is handed back (for
    /// `wait`'s retries), scrubbed of the URL's secrets.
    pub async fn try_open(engine: Engine, url: &SecretUrl) -> Result<ReadOnlySession, String> {
        let scrub = |e: sqlx::Error| scrub_error(&e, url);
        let mut conn = Conn::try_connect(engine, url).await.map_err(scrub)?;
        conn.execute("START TRANSACTION READ ONLY")
            .await
            .map_err(scrub)?;
        let info = conn.server_info().await.map_err(scrub)?;
        if conn.dialect() == crate::engine::Dialect::Postgres {
            // A migration holding the version table's lock must not hang `status` forever.
            conn.execute("SET LOCAL lock_timeout = '10s'")
                .await
                .map_err(scrub)?;
        }
        Ok(ReadOnlySession {
            conn,
            url: url.clone(),
            info,
        })
    }

    /// `try_open`, a failure being an environment error (exit 3).
    pub async fn open(engine: Engine, url: &SecretUrl) -> Result<ReadOnlySession> {
        ReadOnlySession::try_open(engine, url)
            .await
            .map_err(|e| Error::environment(format!("cannot read {url}: {e}"), None))
    }

    pub fn dialect(&self) -> crate::engine::Dialect {
        self.conn.dialect()
    }

    /// Run a query whose columns are all text (or binary, read as UTF-8), rows in order.
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        let url = self.url.clone();
        let scrub = |e: sqlx::Error| scrub_error(&e, &url);
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &mut self.conn {
            Conn::Postgres(c) => {
                let rows = sqlx::raw_sql(sql).fetch_all(&mut *c).await.map_err(scrub)?;
                Ok(rows
                    .iter()
                    .map(|r| (0..r.len()).map(|i| text_pg(r, i)).collect())
                    .collect())
            }
            Conn::Mysql(c) => {
                let rows = sqlx::raw_sql(sql).fetch_all(&mut *c).await.map_err(scrub)?;
                Ok(rows
                    .iter()
                    .map(|r| (0..r.len()).map(|i| text_my(r, i)).collect())
                    .collect())
            }
        }
    }

    /// Run a statement inside the read-only transaction (tests use it to show a write fails).
    pub async fn execute(&mut self, sql: &str) -> Result<(), String> {
        let url = self.url.clone();
        self.conn
            .execute(sql)
            .await
            .map_err(|e| scrub_error(&e, &url))
    }

    /// The connection, for the schema snapshot (catalog reads only).
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// Roll the transaction back (there is nothing to keep) and close.
    pub async fn close(mut self) {
        let _ = self.conn.execute("ROLLBACK").await;
        self.conn.close().await;
    }
}

fn text_pg(row: &sqlx::postgres::PgRow, i: usize) -> Option<String> {
    match row.try_get::<Option<String>, _>(i) {
        Ok(v) => v,
        Err(_) => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    }
}

fn text_my(row: &sqlx::mysql::MySqlRow, i: usize) -> Option<String> {
    match row.try_get::<Option<String>, _>(i) {
        Ok(v) => v,
        Err(_) => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    }
}
