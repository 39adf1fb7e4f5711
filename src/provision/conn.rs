//! A connection to the throwaway database, for either dialect.

use sqlx::Connection;

use crate::engine::{Engine, ServerInfo};
use crate::error::{Error, Result};
use crate::redact::SecretUrl;

/// One open connection; migcheck runs everything for a database over a single connection.
pub enum Conn {
    Postgres(sqlx::PgConnection),
    Mysql(sqlx::MySqlConnection),
}

impl Conn {
    pub async fn connect(engine: Engine, url: &SecretUrl) -> Result<Conn> {
        Conn::try_connect(engine, url).await.map_err(|e| {
            Error::environment(
                format!("cannot connect to {url}: {}", scrub_error(&e, url)),
                None,
            )
        })
    }

    /// Like `connect`, but hands back the driver error (for retry loops); scrub it with
    /// `scrub_error` before showing it.
    pub async fn try_connect(engine: Engine, url: &SecretUrl) -> Result<Conn, sqlx::Error> {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        // sqlx logs statements (and slow ones at WARN) with their text: that may hold a
        // sandbox role's password or a migration's secrets, and migcheck reports timings itself.
        let quiet = log::LevelFilter::Off;
        let slow = std::time::Duration::from_secs(3600);
        Ok(match engine {
            Engine::Postgres => Conn::Postgres(
                sqlx::postgres::PgConnectOptions::from_str(url.expose())?
                    .log_statements(quiet)
                    .log_slow_statements(quiet, slow)
                    .connect()
                    .await?,
            ),
            Engine::Mysql | Engine::Mariadb => Conn::Mysql(
                sqlx::mysql::MySqlConnectOptions::from_str(url.expose())?
                    .log_statements(quiet)
                    .log_slow_statements(quiet, slow)
                    .connect()
                    .await?,
            ),
        })
    }

    /// What the server says about itself. For MySQL-protocol servers the engine is taken from
    /// `SELECT VERSION()` (MariaDB says so in its version string).
    pub async fn server_info(&mut self) -> Result<ServerInfo, sqlx::Error> {
        match self {
            Conn::Postgres(c) => {
                let (version, num, time_zone): (String, String, String) = sqlx::query_as(
                    "SELECT current_setting('server_version'), current_setting('server_version_num'), \
                     current_setting('TimeZone')",
                )
                .fetch_one(&mut *c)
                .await?;
                Ok(ServerInfo {
                    engine: Engine::Postgres,
                    version_num: num.trim().parse().unwrap_or(0),
                    version,
                    time_zone: Some(time_zone),
                })
            }
            Conn::Mysql(c) => {
                let version: String = sqlx::query_scalar("SELECT VERSION()")
                    .fetch_one(&mut *c)
                    .await?;
                Ok(mysql_server_info(&version))
            }
        }
    }

    /// The SQL dialect this connection speaks.
    pub fn dialect(&self) -> crate::engine::Dialect {
        match self {
            Conn::Postgres(_) => crate::engine::Dialect::Postgres,
            Conn::Mysql(_) => crate::engine::Dialect::Mysql,
        }
    }

    /// Run one statement that returns no rows.
    pub async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Conn::Postgres(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
            Conn::Mysql(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
        }
    }

    pub async fn close(self) {
        let _ = match self {
            Conn::Postgres(c) => c.close().await,
            Conn::Mysql(c) => c.close().await,
        };
    }
}

/// A driver error as text, with the URL and its password removed.
pub fn scrub_error(e: &sqlx::Error, url: &SecretUrl) -> String {
    let secrets = url.secrets();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    crate::redact::scrub(&e.to_string(), &refs)
}

/// `ServerInfo` from a MySQL/MariaDB `VERSION()` string such as `10.11.6-MariaDB-0+deb12u1`.
pub fn mysql_server_info(version: &str) -> ServerInfo {
    let engine = if version.to_ascii_lowercase().contains("mariadb") {
        Engine::Mariadb
    } else {
        Engine::Mysql
    };
    ServerInfo {
        engine,
        version_num: version_num(version),
        version: version.to_string(),
        time_zone: None,
    }
}

/// major*10000 + minor*100 + patch from the leading `X.Y.Z` of a version string.
pub fn version_num(version: &str) -> u32 {
    let lead: &str = version
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or("");
    let mut parts = lead.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    major * 10000 + minor * 100 + patch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(version_num("10.11.6-MariaDB-0+deb12u1"), 101106);
        assert_eq!(version_num("8.0.36"), 80036);
        assert_eq!(version_num("8.4"), 80400);
        assert_eq!(version_num("garbage"), 0);
        assert_eq!(
            mysql_server_info("10.11.6-MariaDB-0+deb12u1").engine,
            Engine::Mariadb
        );
        assert_eq!(mysql_server_info("8.0.36").engine, Engine::Mysql);
    }
}
