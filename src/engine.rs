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
                "unknown engine `{other}` (expected postgres, mysql or mariadb, optionally with a version: postgres:16)"
            )),
        }
    }
}

/// `--engine` as the user wrote it: an engine and, optionally, a version that selects the
/// container image tag (`postgres:16`, `mysql:8.4`, `mariadb:11`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    pub engine: Engine,
    pub version: Option<String>,
}

impl FromStr for EngineSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, version) = match s.split_once(':') {
            Some((n, "")) => return Err(format!("`{n}:` needs a version after the colon")),
            Some((n, v)) => (n, Some(v.to_string())),
            None => (s, None),
        };
        if let Some(v) = &version {
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                return Err(format!("`{v}` is not a valid version tag"));
            }
        }
        Ok(EngineSpec {
            engine: name.parse()?,
            version,
        })
    }
}

impl fmt::Display for EngineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}:{v}", self.engine),
            None => write!(f, "{}", self.engine),
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
    /// Postgres: the session `TimeZone` (decides whether a timestamp <-> timestamptz change
    /// rewrites the table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_spec_parses_versions() {
        let s: EngineSpec = "postgres:16".parse().unwrap();
        assert_eq!(
            (s.engine, s.version.as_deref()),
            (Engine::Postgres, Some("16"))
        );
        let s: EngineSpec = "mariadb".parse().unwrap();
        assert_eq!((s.engine, s.version), (Engine::Mariadb, None));
        assert!("oracle:19".parse::<EngineSpec>().is_err());
        assert!("mysql:".parse::<EngineSpec>().is_err());
        assert!("mysql:8;rm".parse::<EngineSpec>().is_err());
        assert_eq!(
            "mysql:8.4".parse::<EngineSpec>().unwrap().to_string(),
            "mysql:8.4"
        );
    }
}
