//! A connection to the throwaway database, for either dialect.

use sqlx::Connection;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::redact::SecretUrl;

/// One open connection; migcheck runs everything for a database over a single connection.
pub enum Conn {
    Postgres(sqlx::PgConnection),
    Mysql(sqlx::MySqlConnection),
}

impl Conn {
    pub async fn connect(engine: Engine, url: &SecretUrl) -> Result<Conn> {
        let fail = |e: sqlx::Error| {
            Error::environment(
                format!(
                    "cannot connect to {url}: {}",
                    crate::redact::scrub(&e.to_string(), &[url.expose()])
                ),
                None,
            )
        };
        Ok(match engine {
            Engine::Postgres => Conn::Postgres(
                sqlx::PgConnection::connect(url.expose())
                    .await
                    .map_err(fail)?,
            ),
            Engine::Mysql | Engine::Mariadb => Conn::Mysql(
                sqlx::MySqlConnection::connect(url.expose())
                    .await
                    .map_err(fail)?,
            ),
        })
    }

    pub async fn close(self) {
        let _ = match self {
            Conn::Postgres(c) => c.close().await,
            Conn::Mysql(c) => c.close().await,
        };
    }
}
