//! `migcheck status`, `wait` and `plan`: the chain against a live database, read-only.
//!
//! Every command opens one connection in a read-only transaction (`session`), reads the
//! migration tool's own version table (`bookkeeping`), and compares it with the chain
//! (`compare`, `alembic`). Nothing is ever written to the target.

pub mod alembic;
pub mod bookkeeping;
pub mod checksum;
pub mod compare;
pub mod junit;
pub mod model;
pub mod plan;
pub mod session;
pub mod wait;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use crate::chain::{self, Chain, DiscoverOptions, Format};
use crate::engine::Engine;
use crate::error::{exit, Error, Result};
use crate::redact::SecretUrl;

pub use model::{State, StatusReport, Verdict};
use session::ReadOnlySession;

/// Where the target database is and what chain it should have: shared by status, wait, plan.
#[derive(Debug, Clone, Args)]
#[command(group(
    clap::ArgGroup::new("target").required(true).args(["url", "url_env", "url_file"])
))]
pub struct TargetArgs {
    /// The migrations folder (or Alembic project) deployed to the target.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// The target database (postgres://, mysql:// or mariadb://; TLS options as the drivers
    /// take them: `?sslmode=verify-full`, `?ssl-mode=REQUIRED`). Never printed with its password.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Read the target URL from this environment variable (e.g. DATABASE_URL).
    #[arg(long, value_name = "NAME")]
    pub url_env: Option<String>,

    /// Read the target URL from this file (a mounted secret); surrounding whitespace is ignored.
    #[arg(long, value_name = "PATH")]
    pub url_file: Option<PathBuf>,

    /// The engine [default: from the URL's scheme].
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<Engine>,

    /// Migration format; detected from the file names when omitted.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// The tool's version table, when not its default (`schema.table` allowed).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,

    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Seconds to connect and start the read-only transaction before giving up (exit 3).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub connect_timeout: u64,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Write a JUnit XML report here (a failing case per dirty, failed, edited or unknown
    /// migration; pending ones skipped).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

impl TargetArgs {
    /// The URL from `--url`, `--url-env` or `--url-file`.
    pub fn secret_url(&self) -> Result<SecretUrl> {
        let raw = if let Some(u) = &self.url {
            u.clone()
        } else if let Some(name) = &self.url_env {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v,
                _ => {
                    return Err(Error::Usage(format!(
                        "--url-env {name}: the environment variable is not set or empty"
                    )))
                }
            }
        } else if let Some(path) = &self.url_file {
            std::fs::read_to_string(path)
                .map_err(|e| Error::input(path, None, format!("cannot read the URL file: {e}")))?
        } else {
            return Err(Error::Usage(
                "give the target with --url, --url-env or --url-file".to_string(),
            ));
        };
        Ok(SecretUrl::new(raw.trim().to_string()))
    }

    /// The engine (`--engine`, else the scheme) and the URL as the driver takes it.
    pub fn target(&self) -> Result<(Engine, SecretUrl)> {
        let url = self.secret_url()?;
        let engine = match self.engine {
            Some(e) => e,
            None => engine_of(&url)?,
        };
        let url = crate::provision::url::normalize(engine, &url)?;
        Ok((engine, url))
    }
}

/// The engine a URL's scheme names.
pub fn engine_of(url: &SecretUrl) -> Result<Engine> {
    let scheme = url
        .expose()
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "postgres" | "postgresql" => Ok(Engine::Postgres),
        "mysql" => Ok(Engine::Mysql),
        "mariadb" => Ok(Engine::Mariadb),
        _ => Err(Error::Usage(format!(
            "cannot tell the engine from the URL {url}: expected postgres://, postgresql://, mysql:// or mariadb://"
        ))),
    }
}

/// The chain at `path` (an Alembic project's graph too), as verify reads it.
pub fn load_chain(
    path: &Path,
    format: Option<Format>,
    engine: Engine,
) -> Result<(Chain, Option<crate::alembic::Graph>)> {
    let wants_alembic = match format {
        Some(f) => f == Format::Alembic,
        None => crate::alembic::chain::is_project(path),
    };
    if wants_alembic {
        let graph = crate::alembic::Graph::load(path)?;
        let chain = crate::alembic::chain::to_chain(&graph, path, true);
        return Ok((chain, Some(graph)));
    }
    let options = DiscoverOptions {
        format,
        require_down: false,
        engine: Some(engine),
    };
    Ok((chain::discover(path, &options)?, None))
}

/// Everything `status` needs, read once (a `wait` loop reads it again and again).
pub struct Inputs {
    pub engine: Engine,
    pub url: SecretUrl,
    pub chain: Chain,
    pub graph: Option<crate::alembic::Graph>,
    pub table: String,
    pub connect_timeout: std::time::Duration,
    /// sqlx: `[migrate] ignored-chars` of the nearest sqlx.toml (left out of checksums).
    pub sqlx_ignored: std::collections::BTreeSet<char>,
}

/// sqlx: the nearest `sqlx.toml` at or above the migrations folder, its `[migrate]
/// ignored-chars` and `table-name`.
fn sqlx_toml(root: &Path) -> Result<(std::collections::BTreeSet<char>, Option<String>)> {
    let start = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let Some(file) = start
        .ancestors()
        .map(|d| d.join("sqlx.toml"))
        .find(|p| p.is_file())
    else {
        return Ok(Default::default());
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Error::input(&file, None, format!("cannot read: {e}")))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| Error::input(&file, None, format!("not valid TOML: {e}")))?;
    let migrate = table.get("migrate").and_then(toml::Value::as_table);
    let mut ignored = std::collections::BTreeSet::new();
    for v in migrate
        .and_then(|m| m.get("ignored-chars"))
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut chars = v.as_str().unwrap_or("").chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => {
                ignored.insert(c);
            }
            _ => {
                return Err(Error::input(
                    &file,
                    None,
                    format!("[migrate] ignored-chars: expected one character per entry, got {v}"),
                ))
            }
        }
    }
    let name = migrate
        .and_then(|m| m.get("table-name"))
        .and_then(toml::Value::as_str)
        .map(str::to_string);
    Ok((ignored, name))
}

impl Inputs {
    pub fn load(args: &TargetArgs) -> Result<Inputs> {
        let (engine, url) = args.target()?;
        let (chain, graph) = load_chain(&args.path, args.format, engine)?;
        let (sqlx_ignored, sqlx_table) = match chain.format {
            Format::Sqlx | Format::SqlxSimple => sqlx_toml(&chain.root)?,
            _ => Default::default(),
        };
        let table = match args.table.as_ref().or(sqlx_table.as_ref()) {
            Some(t) if bookkeeping::valid_table_name(t) => t.clone(),
            Some(t) => {
                return Err(Error::Usage(format!(
                    "table {t} (--table or sqlx.toml's table-name): expected a table name \
                     (letters, digits, `_`), optionally schema-qualified"
                )))
            }
            None => bookkeeping::default_table(chain.format).to_string(),
        };
        Ok(Inputs {
            engine,
            url,
            chain,
            graph,
            table,
            connect_timeout: std::time::Duration::from_secs(args.connect_timeout.max(1)),
            sqlx_ignored,
        })
    }

    /// Open the read-only session within `--connect-timeout` (exit 3 past it).
    pub async fn open(&self) -> Result<ReadOnlySession> {
        tokio::time::timeout(
            self.connect_timeout,
            ReadOnlySession::open(self.engine, &self.url),
        )
        .await
        .map_err(|_| {
            Error::environment(
                format!(
                    "{} did not answer within {}s",
                    self.url,
                    self.connect_timeout.as_secs()
                ),
                Some("check the host and port, or raise --connect-timeout".to_string()),
            )
        })?
    }
}

/// Read the target's version table in `session` and compare it with the chain.
pub async fn inspect(
    inputs: &Inputs,
    session: &mut ReadOnlySession,
    started: Instant,
) -> Result<StatusReport> {
    let env_err = |e: String| {
        Error::environment(
            format!("reading {} on {}: {e}", inputs.table, inputs.url),
            None,
        )
    };
    let chain = &inputs.chain;
    let table_exists = bookkeeping::exists(session, &inputs.table)
        .await
        .map_err(env_err)?;
    let rows = if table_exists {
        bookkeeping::read(session, chain.format, &inputs.table)
            .await
            .map_err(env_err)?
    } else {
        Vec::new()
    };
    let (outcome, alembic_state) = match &inputs.graph {
        Some(graph) => {
            let current: Vec<String> = rows.iter().filter_map(|r| r.version.clone()).collect();
            let (o, a) = alembic::compare(graph, chain, &current);
            (o, Some(a))
        }
        None => (
            compare::compare_with(chain, &rows, &inputs.table, &inputs.sqlx_ignored),
            None,
        ),
    };
    let pending: Vec<String> = outcome
        .migrations
        .iter()
        .filter(|m| m.state == State::Pending)
        .map(|m| m.id.clone())
        .collect();
    let verdict = if !outcome.problems.is_empty() {
        Verdict::Problems
    } else if !pending.is_empty() {
        Verdict::Pending
    } else {
        Verdict::UpToDate
    };
    let exit_code = match verdict {
        Verdict::Problems => exit::GATE_FAILED,
        Verdict::Pending => exit::PENDING,
        Verdict::UpToDate => exit::PASS,
    };
    Ok(StatusReport {
        status_version: model::STATUS_VERSION,
        verdict,
        exit_code,
        chain: chain.root.clone(),
        format: chain.format,
        target: inputs.url.redacted(),
        engine: session.info.engine,
        server_version: session.info.version.clone(),
        table: inputs.table.clone(),
        table_exists,
        migrations: outcome.migrations,
        pending,
        unknown: outcome.unknown,
        problems: outcome.problems,
        alembic: alembic_state,
        chain_problems: chain.problems.iter().map(|p| p.message.clone()).collect(),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// `migcheck status`.
pub async fn run_status(args: StatusArgs) -> Result<u8> {
    let started = Instant::now();
    let inputs = Inputs::load(&args.target)?;
    let mut session = inputs.open().await?;
    let report = inspect(&inputs, &mut session, started).await;
    session.close().await;
    let report = report?;
    print!("{}", render(&report));
    if let Some(path) = &args.target.json {
        write_json(&report, path)?;
    }
    if let Some(path) = &args.junit {
        junit::write_status(&report, path)?;
    }
    Ok(report.exit_code)
}

/// Write `value` as pretty JSON with a final newline.
pub fn write_json<T: serde::Serialize>(value: &T, path: &Path) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("serializable report");
    text.push('\n');
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The terminal rendering: a header, one line per migration, problems with their recovery, and
/// a summary line.
pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "migcheck status: {} ({}) against {} ({} {})\n",
        report.chain.display(),
        report.format,
        report.target,
        report.engine,
        report.server_version
    ));
    if !report.table_exists {
        out.push_str(&format!(
            "  no {} table: nothing has been applied to this database yet\n",
            report.table
        ));
    }
    let width = report
        .migrations
        .iter()
        .map(|m| m.version.len())
        .chain(report.unknown.iter().map(|u| u.version.len()))
        .max()
        .unwrap_or(7)
        .max(7);
    out.push_str(&format!(
        "  {:width$}  {:9}  MIGRATION\n",
        "VERSION", "STATE"
    ));
    for m in &report.migrations {
        out.push_str(&format!(
            "  {:width$}  {:9}  {}{}\n",
            m.version,
            m.state.name(),
            m.id,
            m.detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ));
    }
    for u in &report.unknown {
        out.push_str(&format!(
            "  {:width$}  {:9}  {}\n",
            u.version,
            "UNKNOWN",
            u.description.as_deref().unwrap_or("(not in this chain)")
        ));
    }
    if let Some(a) = &report.alembic {
        out.push_str(&format!(
            "  current: {}\n",
            if a.current.is_empty() {
                "(none)".to_string()
            } else {
                a.current.join(", ")
            }
        ));
        for h in &a.heads {
            let labels = if h.labels.is_empty() {
                String::new()
            } else {
                format!(" ({})", h.labels.join(", "))
            };
            if h.pending.is_empty() {
                out.push_str(&format!("  head {}{labels}: applied\n", h.head));
            } else {
                out.push_str(&format!(
                    "  head {}{labels}: {} pending ({})\n",
                    h.head,
                    h.pending.len(),
                    h.pending.join(" -> ")
                ));
            }
        }
    }
    for p in &report.problems {
        out.push_str(&format!("error[{}]: {}\n", p.kind, p.message));
        if let Some(r) = &p.recovery {
            out.push_str(&format!("  recovery: {r}\n"));
        }
    }
    if !report.pending.is_empty() {
        out.push_str(&format!(
            "pending, in the order they will run: {}\n",
            report.pending.join(", ")
        ));
    }
    out.push_str(&format!(
        "{}: {} applied, {} pending, {} unknown, {} problem{} (exit {})\n",
        match report.verdict {
            Verdict::UpToDate => "up to date",
            Verdict::Pending => "pending migrations",
            Verdict::Problems => "PROBLEMS",
        },
        report.counts(State::Applied),
        report.pending.len(),
        report.unknown.len(),
        report.problems.len(),
        if report.problems.len() == 1 { "" } else { "s" },
        report.exit_code
    ));
    out
}
