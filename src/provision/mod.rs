//! Stage: obtain an ephemeral database.
//!
//! A `Provider` yields a running `Server` that migcheck may create throwaway databases on;
//! `Database` is one such throwaway database. Everything a provider creates (server processes,
//! temp dirs, databases, containers) is recorded in the process-wide `cleanup` registry so that
//! success, failure, panic and SIGINT/SIGTERM all remove it.

use std::time::Duration;

use crate::engine::{Engine, ServerInfo};
use crate::error::Result;
use crate::redact::SecretUrl;

pub mod cleanup;
pub mod conn;
pub mod local;
pub mod url;

pub use conn::Conn;

/// Which provider the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Pick what works: `url` when a URL is given, else `local` when server binaries are found.
    Auto,
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
    /// An admin URL for this server (maintenance database); password inside: never print it unredacted.
    fn admin_url(&self) -> &SecretUrl;
    /// Stop the server and remove everything it created. Idempotent.
    async fn shutdown(&self) -> Result<()>;
}

/// A provisioned server, chosen by `ProvisionOptions`.
pub async fn provision(options: &ProvisionOptions) -> Result<Box<dyn Server>> {
    let _ = options;
    Err(crate::error::Error::environment(
        "provisioning not implemented yet",
        None,
    ))
}

/// A throwaway database created by migcheck on a `Server`; only this database is ever modified.
pub struct Database {
    pub name: String,
    /// Connection URL for the throwaway database (password inside).
    pub url: SecretUrl,
    pub engine: Engine,
}

impl Database {
    /// Create a new database with a random `migcheck_` name on `server`.
    pub async fn create(server: &dyn Server) -> Result<Database> {
        let _ = server;
        Err(crate::error::Error::environment(
            "not implemented yet",
            None,
        ))
    }

    /// Open a connection to this database.
    pub async fn connect(&self) -> Result<Conn> {
        Conn::connect(self.engine, &self.url).await
    }

    /// Drop the database (terminating other sessions on it first).
    pub async fn drop_database(self, server: &dyn Server) -> Result<()> {
        let _ = server;
        Ok(())
    }
}
