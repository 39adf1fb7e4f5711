//! The `url` provider: an existing server given by `--url`. migcheck only creates (and drops)
//! its own throwaway databases there; the database in the URL is used for administration only.

use std::time::Duration;

use crate::engine::{Engine, ServerInfo};
use crate::error::{Error, Result};
use crate::provision::cleanup;
use crate::provision::local::{engine_title, short_version};
use crate::provision::{Conn, Server};
use crate::redact::SecretUrl;

/// A server migcheck did not start and will not stop.
pub struct UrlServer {
    admin_url: SecretUrl,
    info: ServerInfo,
}

impl std::fmt::Debug for UrlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlServer")
            .field("admin_url", &self.admin_url)
            .field("info", &self.info)
            .finish()
    }
}

/// Check the URL's scheme against the engine; `mariadb://` becomes `mysql://` for the driver.
pub fn normalize(engine: Engine, url: &SecretUrl) -> Result<SecretUrl> {
    let parsed = url::Url::parse(url.expose())
        .map_err(|e| Error::Usage(format!("invalid --url {url}: {e}")))?;
    let scheme = parsed.scheme().to_ascii_lowercase();
    let family = match scheme.as_str() {
        "postgres" | "postgresql" => Engine::Postgres,
        "mysql" | "mariadb" => Engine::Mysql,
        other => {
            return Err(Error::Usage(format!(
                "unsupported --url scheme `{other}` (expected postgres://, postgresql://, mysql:// or mariadb://)"
            )))
        }
    };
    if family.dialect() != engine.dialect() {
        return Err(Error::Usage(format!(
            "--url {url} is a {} URL but --engine is {engine}",
            if family == Engine::Postgres {
                "PostgreSQL"
            } else {
                "MySQL/MariaDB"
            }
        )));
    }
    if scheme == "mariadb" {
        let raw = url.expose();
        // Keep everything after the scheme byte for byte.
        let rest = &raw[raw.find(':').unwrap_or(0)..];
        return Ok(SecretUrl::new(format!("mysql{rest}")));
    }
    Ok(url.clone())
}

/// Connect to the server behind `url` and read what it is.
pub async fn connect(engine: Engine, url: &SecretUrl, timeout: Duration) -> Result<UrlServer> {
    let admin_url = normalize(engine, url)?;
    let attempt = async {
        let mut conn = Conn::connect(engine, &admin_url).await?;
        let info = conn.server_info().await.map_err(|e| {
            Error::environment(
                format!(
                    "cannot read the server version from {admin_url}: {}",
                    crate::provision::conn::scrub_error(&e, &admin_url)
                ),
                None,
            )
        });
        conn.close().await;
        info
    };
    let info = tokio::time::timeout(timeout, attempt).await.map_err(|_| {
        Error::environment(
            format!("{admin_url} did not answer within {}s", timeout.as_secs()),
            Some("check the host and port, or raise --startup-timeout".to_string()),
        )
    })??;
    if info.engine != engine {
        tracing::warn!(
            "asked for {engine} but the server at {admin_url} is {} {}; verifying against it",
            engine_title(info.engine),
            info.version
        );
    }
    Ok(UrlServer { admin_url, info })
}

#[async_trait::async_trait]
impl Server for UrlServer {
    fn provider(&self) -> &'static str {
        "url"
    }

    fn describe(&self) -> String {
        format!(
            "url {} {} at {}",
            engine_title(self.info.engine),
            short_version(&self.info.version),
            self.admin_url
        )
    }

    fn info(&self) -> &ServerInfo {
        &self.info
    }

    fn startup(&self) -> Duration {
        Duration::ZERO
    }

    fn admin_url(&self) -> &SecretUrl {
        &self.admin_url
    }

    /// Drops throwaway databases still left on the server; the server itself keeps running.
    async fn shutdown(&self) -> Result<()> {
        for action in cleanup::take_databases_on(self.admin_url.expose()) {
            action.run().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_schemes() {
        let u = SecretUrl::new("mariadb://u:pw@h:3306/x");
        assert_eq!(
            normalize(Engine::Mariadb, &u).unwrap().expose(),
            "mysql://u:pw@h:3306/x"
        );
        let p = SecretUrl::new("postgresql://u:pw@h/postgres");
        assert_eq!(normalize(Engine::Postgres, &p).unwrap(), p);
        assert!(matches!(normalize(Engine::Mysql, &p), Err(Error::Usage(_))));
        let bad = SecretUrl::new("redis://u:secretpw@h/");
        let err = normalize(Engine::Postgres, &bad).unwrap_err().to_string();
        assert!(!err.contains("secretpw"), "{err}");
    }
}
