//! Database engines migcheck can verify against.

use std::fmt;
use std::str::FromStr;

/// The engine family the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Mysql,
    Mariadb,
}

/// SQL dialect: what the statement splitter and the snapshot reader care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

impl Engine {
    pub fn dialect(self) -> Dialect {
        match self {
            Engine::Postgres => Dialect::Postgres,
            Engine::Mysql | Engine::Mariadb => Dialect::Mysql,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Mariadb => "mariadb",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Ok(Engine::Postgres),
            "mysql" => Ok(Engine::Mysql),
            "mariadb" => Ok(Engine::Mariadb),
            other => Err(format!(
                "unknown engine `{other}` (expected postgres, mysql or mariadb)"
            )),
        }
    }
}

/// What the running server reported about itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerInfo {
    pub engine: Engine,
    /// The version string as the server reports it (`SHOW server_version` / `SELECT VERSION()`).
    pub version: String,
    /// Postgres: `server_version_num` (150004); MySQL/MariaDB: major*10000 + minor*100 + patch.
    pub version_num: u32,
}
