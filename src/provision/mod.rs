//! Stage: obtain an ephemeral database.
//!
//! A `Provider` yields a running `Server` that migcheck may create throwaway databases on;
//! `Database` is one such throwaway database. Everything a provider creates (server processes,
//! temp dirs, databases, containers) is recorded in the process-wide `cleanup` registry so that
//! success, failure, panic and SIGINT/SIGTERM all remove it.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Engine, ServerInfo};
use crate::error::{Error, Result};
use crate::redact::SecretUrl;

pub mod cleanup;
pub mod conn;
pub mod docker;
pub mod local;
pub mod url;

pub use conn::Conn;

/// Which provider the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Pick what works: `url` when a URL is given, else `docker` when an engine answers and the
    /// image can be had, else `local` when server binaries are found.
    Auto,
    /// Start a throwaway server in a container (testcontainers).
    Docker,
    /// Start a private server from local binaries in a temporary directory.
    Local,
    /// Create a throwaway database on the server given by `--url`.
    Url,
}

/// Everything the providers need from the command line.
#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    pub engine: Engine,
    pub provider: ProviderKind,
    /// `--url`: an existing server (the database part names the maintenance database to connect to).
    pub url: Option<SecretUrl>,
    /// `--bin-dir`: where to look first for server binaries.
    pub bin_dir: Option<std::path::PathBuf>,
    /// How long a server may take to become ready.
    pub startup_timeout: Duration,
    /// `--engine NAME:VERSION`: the version selects the container image tag.
    pub engine_version: Option<String>,
    /// `--image`: the container image to use instead of the engine's official one.
    pub image: Option<String>,
    /// `--keep`: leave the container running after the run.
    pub keep: bool,
}

/// A running server that migcheck may create throwaway databases on.
#[async_trait::async_trait]
pub trait Server: Send + Sync {
    /// `local`, `url` (later `docker`).
    fn provider(&self) -> &'static str;
    /// Human description for the terminal (`local PostgreSQL 15.4 from /usr/lib/postgresql/15/bin`).
    fn describe(&self) -> String;
    fn info(&self) -> &ServerInfo;
    /// Time from request to ready (0 for `url`).
    fn startup(&self) -> Duration;
    /// The container image, for providers that run one.
    fn image(&self) -> Option<&str> {
        None
    }
    /// An admin URL for this server (maintenance database); password inside: never print it unredacted.
    fn admin_url(&self) -> &SecretUrl;
    /// Stop the server and remove everything it created. Idempotent.
    async fn shutdown(&self) -> Result<()>;
}

/// A provisioned server, chosen by `ProvisionOptions`.
pub async fn provision(options: &ProvisionOptions) -> Result<Box<dyn Server>> {
    provision_with(
        options,
        &local::SearchPaths::from_env(options.bin_dir.clone()),
    )
    .await
}

/// `provision`, searching `search` for local binaries instead of `--bin-dir`/`PATH`/system dirs.
pub async fn provision_with(
    options: &ProvisionOptions,
    search: &local::SearchPaths,
) -> Result<Box<dyn Server>> {
    match options.provider {
        ProviderKind::Url => {
            let url = options.url.as_ref().ok_or_else(|| {
                Error::Usage(
                    "--provider url needs --url (e.g. --url postgres://user:pw@host:5432/postgres)"
                        .to_string(),
                )
            })?;
            let server = url::connect(options.engine, url, options.startup_timeout).await?;
            tracing::info!("using {}", server.describe());
            Ok(Box::new(server))
        }
        ProviderKind::Local => {
            if options.url.is_some() {
                tracing::warn!("--url is ignored with --provider local");
            }
            let binaries = local::find_binaries(options.engine, search)
                .map_err(local::NotFound::into_error)?;
            Ok(Box::new(local::start_with(options, &binaries).await?))
        }
        ProviderKind::Docker => {
            if options.url.is_some() {
                tracing::warn!("--url is ignored with --provider docker");
            }
            Ok(Box::new(docker::start(options).await?))
        }
        ProviderKind::Auto => {
            if let Some(url) = &options.url {
                tracing::info!("provider auto: --url given, using the url provider");
                let server = url::connect(options.engine, url, options.startup_timeout).await?;
                tracing::info!("using {}", server.describe());
                return Ok(Box::new(server));
            }
            let mut tried = Vec::new();
            match docker::probe().await {
                Ok(version) => match docker::start(options).await {
                    Ok(server) => {
                        tracing::info!(
                            "provider auto: Docker {version} answers; using the docker provider"
                        );
                        return Ok(Box::new(server));
                    }
                    Err(e) => {
                        let first = e.to_string().lines().next().unwrap_or_default().to_string();
                        tracing::warn!("provider auto: Docker answers but {first}; trying local server binaries");
                        tried.push(format!("docker: {first}"));
                    }
                },
                Err(why) => {
                    tracing::info!("provider auto: {why}");
                    tried.push(format!("docker: {why}"));
                }
            }
            match local::find_binaries(options.engine, search) {
                Ok(binaries) => {
                    tracing::info!(
                        "provider auto: server binaries found in {}; using the local provider",
                        binaries.dir().display()
                    );
                    Ok(Box::new(local::start_with(options, &binaries).await?))
                }
                Err(not_found) => {
                    tried.push(format!("local: {}", not_found.message));
                    Err(Error::environment(
                        format!(
                            "no database to verify against (no --url given); tried:\n  {}",
                            tried.join("\n  ")
                        ),
                        Some(format!(
                            "start Docker (the image is {}), or {}",
                            docker::default_image(
                                options.engine,
                                options.engine_version.as_deref()
                            ),
                            not_found.hint
                        )),
                    ))
                }
            }
        }
    }
}

/// A throwaway database created by migcheck on a `Server`; only this database is ever modified.
pub struct Database {
    pub name: String,
    /// Connection URL for the throwaway database (password inside).
    pub url: SecretUrl,
    pub engine: Engine,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("engine", &self.engine)
            .finish()
    }
}

/// Quote a generated database name (only `[a-z0-9_]`, so quoting never needs escaping).
fn quoted(engine: Engine, name: &str) -> String {
    match engine {
        Engine::Postgres => format!("\"{name}\""),
        Engine::Mysql | Engine::Mariadb => format!("`{name}`"),
    }
}

/// `url` with its path (database) replaced by `name`; query parameters are kept.
fn with_database(url: &SecretUrl, name: &str) -> Result<SecretUrl> {
    let mut parsed = ::url::Url::parse(url.expose())
        .map_err(|e| Error::environment(format!("invalid server URL {url}: {e}"), None))?;
    parsed.set_path(&format!("/{name}"));
    Ok(SecretUrl::new(parsed.to_string()))
}

fn sql_error(what: &str, e: &sqlx::Error, url: &SecretUrl) -> Error {
    Error::environment(
        format!("{what} failed on {url}: {}", conn::scrub_error(e, url)),
        None,
    )
}

/// Drop database `name` over a fresh admin connection, terminating its sessions first.
async fn drop_on(engine: Engine, admin_url: &SecretUrl, name: &str) -> Result<()> {
    let mut conn = Conn::connect(engine, admin_url).await?;
    let result = async {
        match &mut conn {
            Conn::Postgres(_) => {
                let info = conn.server_info().await?;
                if info.version_num >= 130000 {
                    conn.execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quoted(engine, name)
                    ))
                    .await
                } else {
                    if let Conn::Postgres(c) = &mut conn {
                        sqlx::query(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE datname = $1 AND pid <> pg_backend_pid()",
                        )
                        .bind(name)
                        .execute(&mut *c)
                        .await?;
                    }
                    conn.execute(&format!("DROP DATABASE IF EXISTS {}", quoted(engine, name)))
                        .await
                }
            }
            Conn::Mysql(_) => {
                conn.execute(&format!("DROP DATABASE IF EXISTS {}", quoted(engine, name)))
                    .await
            }
        }
    }
    .await;
    conn.close().await;
    result.map_err(|e| sql_error(&format!("dropping database {name}"), &e, admin_url))
}

/// Registry entry for a throwaway database.
struct DropDatabase {
    engine: Engine,
    admin_url: SecretUrl,
    name: String,
    /// On a server migcheck started itself: removing the server removes the database.
    on_local_server: bool,
}

#[async_trait::async_trait]
impl cleanup::Cleanup for DropDatabase {
    fn label(&self) -> String {
        format!("database {} on {}", self.name, self.admin_url)
    }

    async fn run(&self) {
        if self.on_local_server {
            return;
        }
        match tokio::time::timeout(
            Duration::from_secs(15),
            drop_on(self.engine, &self.admin_url, &self.name),
        )
        .await
        {
            Ok(Ok(())) => tracing::info!("dropped database {}", self.name),
            Ok(Err(e)) => tracing::warn!("could not drop database {}: {e}", self.name),
            Err(_) => tracing::warn!("dropping database {} timed out", self.name),
        }
    }
}

impl Database {
    /// Create a new database with a random `migcheck_` name on `server`.
    pub async fn create(server: &dyn Server) -> Result<Database> {
        let engine = server.info().engine;
        let admin_url = server.admin_url();
        let name = format!("migcheck_{}", local::random_alnum(12));
        let url = with_database(admin_url, &name)?;
        let mut conn = Conn::connect(engine, admin_url).await?;
        // Register before creating: an interrupt between the two must still drop it.
        cleanup::register_database(
            &name,
            admin_url.expose(),
            Arc::new(DropDatabase {
                engine,
                admin_url: admin_url.clone(),
                name: name.clone(),
                on_local_server: server.provider() != "url",
            }),
        );
        let q = quoted(engine, &name);
        let result = match engine {
            Engine::Postgres => {
                // template0: no objects a site added to template1; C collation: deterministic
                // ordering whatever the server's default locale is.
                match conn
                    .execute(&format!(
                        "CREATE DATABASE {q} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
                    ))
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        tracing::debug!(
                            "CREATE DATABASE with C locale failed ({}); retrying with the server's",
                            conn::scrub_error(&e, admin_url)
                        );
                        conn.execute(&format!(
                            "CREATE DATABASE {q} TEMPLATE template0 ENCODING 'UTF8'"
                        ))
                        .await
                    }
                }
            }
            Engine::Mysql | Engine::Mariadb => {
                conn.execute(&format!("CREATE DATABASE {q} CHARACTER SET utf8mb4"))
                    .await
            }
        };
        conn.close().await;
        if let Err(e) = result {
            cleanup::unregister_database(&name);
            return Err(sql_error(
                &format!("creating database {name}"),
                &e,
                admin_url,
            ));
        }
        tracing::info!("created throwaway database {name}");
        Ok(Database { name, url, engine })
    }

    /// Open a connection to this database.
    pub async fn connect(&self) -> Result<Conn> {
        Conn::connect(self.engine, &self.url).await
    }

    /// Drop the database (terminating other sessions on it first).
    pub async fn drop_database(self, server: &dyn Server) -> Result<()> {
        drop_on(server.info().engine, server.admin_url(), &self.name).await?;
        cleanup::unregister_database(&self.name);
        tracing::info!("dropped throwaway database {}", self.name);
        Ok(())
    }
}
