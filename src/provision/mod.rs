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
pub mod leftovers;
pub mod local;
pub mod sandbox;
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
    /// Connection URL for the throwaway database (password inside); on a sandboxed database it
    /// logs in as the sandbox role.
    pub url: SecretUrl,
    pub engine: Engine,
    /// The role migrations run as on a shared server (`None`: the server's admin user).
    pub sandbox: Option<sandbox::SandboxRole>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("engine", &self.engine)
            .field("sandbox", &self.sandbox.as_ref().map(|r| &r.name))
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

/// Drop database `name` over a fresh admin connection, terminating its sessions first, then
/// its sandbox role.
async fn drop_on(
    engine: Engine,
    admin_url: &SecretUrl,
    name: &str,
    role: Option<&sandbox::SandboxRole>,
) -> Result<()> {
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
        }?;
        match role {
            Some(role) => sandbox::drop_role(&mut conn, engine, role).await,
            None => Ok(()),
        }
    }
    .await;
    conn.close().await;
    result.map_err(|e| sql_error(&format!("dropping database {name}"), &e, admin_url))
}

/// Drop a throwaway database (and its sandbox role) that a dead run left on a server.
pub(crate) async fn drop_leftover(
    engine: Engine,
    admin_url: &SecretUrl,
    name: &str,
    role: Option<&sandbox::SandboxRole>,
) -> Result<()> {
    // Only what migcheck names its own, whatever a record says.
    let ours = |n: &str| {
        n.strip_prefix("migcheck_")
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    if !ours(name) || role.is_some_and(|r| !ours(&r.name)) {
        return Err(Error::environment(
            format!("{name} is not a migcheck throwaway database; left alone"),
            None,
        ));
    }
    drop_on(engine, admin_url, name, role).await
}

/// Registry entry for a throwaway database.
struct DropDatabase {
    engine: Engine,
    admin_url: SecretUrl,
    name: String,
    role: Option<sandbox::SandboxRole>,
    /// On a server migcheck started itself: removing the server removes the database.
    on_local_server: bool,
}

#[async_trait::async_trait]
impl cleanup::Cleanup for DropDatabase {
    fn label(&self) -> String {
        format!("database {} on {}", self.name, self.admin_url)
    }

    fn record(&self) -> Option<leftovers::Resource> {
        (!self.on_local_server).then(|| leftovers::Resource::Database {
            engine: self.engine.name().to_string(),
            server: leftovers::server_key(self.admin_url.expose()),
            name: self.name.clone(),
            role: self.role.as_ref().map(|r| leftovers::RoleRecord {
                name: r.name.clone(),
                host: r.host.clone(),
            }),
        })
    }

    async fn run(&self) {
        if self.on_local_server {
            return;
        }
        match tokio::time::timeout(
            Duration::from_secs(15),
            drop_on(self.engine, &self.admin_url, &self.name, self.role.as_ref()),
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
    /// Create a new database with a random `migcheck_` name on `server`. With `sandboxed`,
    /// also a role of the same name that owns it and can reach nothing else; `url` logs in
    /// as that role.
    pub async fn create(server: &dyn Server, sandboxed: bool) -> Result<Database> {
        let engine = server.info().engine;
        let admin_url = server.admin_url();
        let name = format!("migcheck_{}", local::random_alnum(12));
        let mut conn = Conn::connect(engine, admin_url).await?;
        let created = Database::create_on(&mut conn, server, &name, sandboxed).await;
        conn.close().await;
        let (url, role) = created?;
        tracing::info!(
            sandbox = role.is_some(),
            "created throwaway database {name}"
        );
        Ok(Database {
            name,
            url,
            engine,
            sandbox: role,
        })
    }

    /// A copy of `template` (PostgreSQL's `CREATE DATABASE … TEMPLATE`, not on a sandboxed
    /// database) under a new `migcheck_` name; nobody may be connected to `template`.
    pub async fn clone_of(server: &dyn Server, template: &Database) -> Result<Database> {
        let engine = server.info().engine;
        if engine != Engine::Postgres || template.sandbox.is_some() {
            return Err(Error::environment(
                "only a PostgreSQL database migcheck owns can be copied".to_string(),
                None,
            ));
        }
        let admin_url = server.admin_url();
        let name = format!("migcheck_{}", local::random_alnum(12));
        let mut conn = Conn::connect(engine, admin_url).await?;
        cleanup::register_database(
            &name,
            admin_url.expose(),
            Arc::new(DropDatabase {
                engine,
                admin_url: admin_url.clone(),
                name: name.clone(),
                role: None,
                on_local_server: server.provider() != "url",
            }),
        );
        let result = conn
            .execute(&format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quoted(engine, &name),
                quoted(engine, &template.name)
            ))
            .await;
        conn.close().await;
        if let Err(e) = result {
            cleanup::unregister_database(&name);
            return Err(sql_error(
                &format!("copying database {}", template.name),
                &e,
                admin_url,
            ));
        }
        tracing::info!("copied throwaway database {} to {name}", template.name);
        Ok(Database {
            url: with_database(&template.url, &name)?,
            name,
            engine,
            sandbox: None,
        })
    }

    async fn create_on(
        conn: &mut Conn,
        server: &dyn Server,
        name: &str,
        sandboxed: bool,
    ) -> Result<(SecretUrl, Option<sandbox::SandboxRole>)> {
        let engine = server.info().engine;
        let admin_url = server.admin_url();
        let role = match sandboxed {
            true => Some(sandbox::plan_role(conn, engine, name, admin_url).await?),
            false => None,
        };
        // Register before creating: an interrupt between the two must still drop it.
        cleanup::register_database(
            name,
            admin_url.expose(),
            Arc::new(DropDatabase {
                engine,
                admin_url: admin_url.clone(),
                name: name.to_string(),
                role: role.clone(),
                on_local_server: server.provider() != "url",
            }),
        );
        let password = match &role {
            Some(role) => match sandbox::create_role(conn, engine, role, admin_url).await {
                Ok(password) => Some(password),
                Err(e) => {
                    // Nothing was created.
                    cleanup::unregister_database(name);
                    return Err(e);
                }
            },
            None => None,
        };
        let q = quoted(engine, name);
        let owner = match &role {
            Some(role) if engine == Engine::Postgres => format!(" OWNER {}", role.account(engine)),
            _ => String::new(),
        };
        let result = match engine {
            Engine::Postgres => {
                // template0: no objects a site added to template1; C collation: deterministic
                // ordering whatever the server's default locale is.
                match conn
                    .execute(&format!(
                        "CREATE DATABASE {q}{owner} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
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
                            "CREATE DATABASE {q}{owner} TEMPLATE template0 ENCODING 'UTF8'"
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
        let granted = match (&result, &role) {
            (Ok(()), Some(role)) => {
                sandbox::grant_database(conn, engine, role, name, admin_url).await
            }
            _ => Ok(()),
        };
        if result.is_err() || granted.is_err() {
            // Undo whatever exists of it now, over this connection.
            if let Some(action) = cleanup::take_database(name) {
                action.run().await;
            }
        }
        if let Err(e) = result {
            return Err(sql_error(
                &format!("creating database {name}"),
                &e,
                admin_url,
            ));
        }
        granted?;
        let url = with_database(admin_url, name)?;
        let url = match (&role, password) {
            (Some(role), Some(password)) => sandbox::url_as(&url, &role.name, &password)?,
            _ => url,
        };
        Ok((url, role))
    }

    /// Open a connection to this database.
    pub async fn connect(&self) -> Result<Conn> {
        Conn::connect(self.engine, &self.url).await
    }

    /// `drop_database` on a task of its own, so that the caller goes on; await the handle
    /// before the server goes away.
    pub fn drop_in_background(self, server: &dyn Server) -> tokio::task::JoinHandle<Result<()>> {
        let engine = server.info().engine;
        let admin_url = server.admin_url().clone();
        tokio::spawn(async move {
            drop_on(engine, &admin_url, &self.name, self.sandbox.as_ref()).await?;
            cleanup::unregister_database(&self.name);
            tracing::info!("dropped throwaway database {}", self.name);
            Ok(())
        })
    }

    /// Drop the database (terminating other sessions on it first).
    pub async fn drop_database(self, server: &dyn Server) -> Result<()> {
        drop_on(
            server.info().engine,
            server.admin_url(),
            &self.name,
            self.sandbox.as_ref(),
        )
        .await?;
        cleanup::unregister_database(&self.name);
        tracing::info!("dropped throwaway database {}", self.name);
        Ok(())
    }
}
