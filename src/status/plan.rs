//! `migcheck plan`: what the next deploy will do to a live database, as evidence for its
//! approver: the pending migrations with their SQL, the lint findings on them judged against
//! the live server's version and the live tables' sizes, and drift (the live schema against
//! the schema the applied migrations should have produced, built on an ephemeral database).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::session::ReadOnlySession;
use super::{inspect, Inputs, State, StatusReport, TargetArgs, Verdict};
use crate::chain::{Chain, Format};
use crate::engine::{Dialect, Engine};
use crate::error::{exit, Error, Result};
use crate::lint::{self, LintConfig};
use crate::provision::{self, Conn, Database, ProviderKind, ProvisionOptions};
use crate::report::Finding;
use crate::snapshot::Snapshot;

/// Bumped when a field changes meaning or disappears.
pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Write the plan as Markdown here (for a change request or a pull request comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// A lock or rewrite finding on a table with at least this many rows (live estimate) is an
    /// error; on an empty table it is a note.
    #[arg(long, default_value_t = 1_000_000, value_name = "ROWS")]
    pub large_table_rows: u64,

    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Write the plan's evidence into this folder: report.json, junit.xml, summary.md, the live
    /// schema (schema.json) and manifest.json with the SHA-256 of each file and of every
    /// migration file (`migcheck evidence check DIR --chain PATH` re-checks it).
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,

    /// Skip the drift check (no ephemeral database is started, so an Alembic project's pending
    /// revisions are listed without their SQL).
    #[arg(long)]
    pub no_drift: bool,

    /// Where the ephemeral database for the drift check comes from (never the target).
    #[arg(long, value_enum, env = "MIGCHECK_PROVIDER", default_value_t = ProviderKind::Auto)]
    pub provider: ProviderKind,

    /// With `--provider url`: the server for the ephemeral database (not the target).
    #[arg(long, value_name = "URL")]
    pub provider_url: Option<String>,

    /// Directory to search first for server binaries (local provider).
    #[arg(long, env = "MIGCHECK_BIN_DIR")]
    pub bin_dir: Option<PathBuf>,

    /// Alembic projects: the Python interpreter with Alembic and the project's driver, which
    /// builds the expected schema for drift (default: python3 on PATH).
    #[arg(long, env = "MIGCHECK_PYTHON", value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Seconds the ephemeral server may take to become ready.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub startup_timeout: u64,
}

/// One pending migration as the plan shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedMigration {
    pub id: String,
    pub version: String,
    pub file: PathBuf,
    /// The up script as it will be sent; for an Alembic revision, the SQL Alembic ran for it
    /// on the ephemeral database (absent when it could not be rendered: `note` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// Where an Alembic revision's SQL comes from, or why it is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A live table's size estimate.
#[derive(Debug, Clone, Serialize)]
pub struct TableSize {
    pub table: String,
    /// `pg_class.reltuples` (0 for a never analysed table without a page) /
    /// `information_schema.tables.table_rows`; absent when the server has no estimate.
    pub rows: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    /// False when drift was not checked (`reason` says why).
    pub checked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Objects that differ: `added` exists only on the target (made by hand), `removed` only
    /// in the schema the applied migrations give (dropped by hand), `changed` in both.
    pub changes: Vec<crate::compare::ObjectChange>,
    /// Unified diff, expected (the applied migrations) against the live schema.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diff: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub plan_version: u32,
    pub exit_code: u8,
    pub status: StatusReport,
    pub pending: Vec<PlannedMigration>,
    /// Lint findings on the pending migrations, with the live table sizes applied.
    pub findings: Vec<Finding>,
    pub tables: Vec<TableSize>,
    pub drift: Drift,
}

/// Rules whose cost grows with the table: judged by the live size.
const SIZE_RULES: &[&str] = &[
    "add-column-rewriting-default",
    "add-column-stored-generated",
    "add-column-serial",
    "set-not-null",
    "alter-column-type",
    "create-index-non-concurrently",
    "drop-index-non-concurrently",
    "reindex-non-concurrently",
    "add-foreign-key-without-not-valid",
    "add-check-without-not-valid",
    "add-unique-or-primary-key",
    "add-exclude-constraint",
    "vacuum-full",
    "cluster",
    "algorithm-copy",
    "lock-shared-or-exclusive",
    "convert-charset",
    "change-primary-key",
    "add-fulltext-index",
    "add-foreign-key-with-checks",
];

/// Live table sizes, by lowercase table name (unqualified; PostgreSQL also `schema.table`).
async fn table_sizes(session: &mut ReadOnlySession) -> Result<Vec<TableSize>, String> {
    let sql = match session.dialect() {
        Dialect::Postgres => {
            // A table never analysed has reltuples -1: empty when it has no pages at all.
            "SELECT n.nspname || '.' || c.relname, CAST(CASE WHEN c.reltuples >= 0 THEN \
             CAST(c.reltuples AS bigint) WHEN pg_relation_size(c.oid) = 0 THEN 0 ELSE -1 END AS TEXT) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1"
        }
        Dialect::Mysql => {
            "SELECT table_name, CAST(table_rows AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    let rows = session.query(sql).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let table = r.first().cloned().flatten()?;
            let rows = r
                .get(1)
                .cloned()
                .flatten()
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .map(|n| n as u64);
            Some(TableSize { table, rows })
        })
        .collect())
}

/// MySQL/MariaDB: the target database's default character set and collation (names checked
/// to be plain identifiers before they are put in a statement).
async fn database_defaults(session: &mut ReadOnlySession) -> Option<(String, String)> {
    if session.dialect() != Dialect::Mysql {
        return None;
    }
    let rows = session
        .query(
            "SELECT default_character_set_name, default_collation_name \
             FROM information_schema.schemata WHERE schema_name = DATABASE()",
        )
        .await
        .ok()?;
    let row = rows.first()?;
    let plain =
        |s: &String| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match (
        row.first().cloned().flatten(),
        row.get(1).cloned().flatten(),
    ) {
        (Some(c), Some(k)) if plain(&c) && plain(&k) => Some((c, k)),
        _ => None,
    }
}

/// Live indexes and their tables (lowercase; PostgreSQL `schema.index` → `schema.table`, and
/// MySQL/MariaDB `index` → `table`, where index names are only unique per table), for the
/// statements that name an index and not its table (`DROP INDEX`, `REINDEX INDEX`).
async fn index_tables(session: &mut ReadOnlySession) -> Result<Vec<(String, String)>, String> {
    let sql = match session.dialect() {
        Dialect::Postgres => {
            "SELECT n.nspname || '.' || i.relname, n.nspname || '.' || t.relname \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1"
        }
        Dialect::Mysql => {
            "SELECT DISTINCT index_name, table_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() ORDER BY 1"
        }
    };
    Ok(session
        .query(sql)
        .await?
        .into_iter()
        .filter_map(|r| {
            let index = r.first().cloned().flatten()?;
            let table = r.get(1).cloned().flatten()?;
            Some((index.to_ascii_lowercase(), table.to_ascii_lowercase()))
        })
        .collect())
}

/// The statement's words, lowercase, identifier quotes removed (`"Orders"` and `` `orders` ``
/// are `orders`); a qualified name stays one word.
fn words(statement: &str) -> Vec<String> {
    statement
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '$' | '"' | '`')))
        .map(|w| {
            w.replace(['"', '`'], "")
                .trim_matches('.')
                .to_ascii_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The name a statement's syntax puts its lock on: the table of `ALTER TABLE`, `CREATE INDEX
/// ... ON`, `CLUSTER`, `VACUUM FULL`, `REINDEX TABLE`, `LOCK TABLE`, `OPTIMIZE TABLE`, or the
/// index of `DROP INDEX` / `REINDEX INDEX` (`index` is set), or MySQL's `DROP INDEX i ON t`.
fn subject(words: &[String]) -> Option<(String, bool)> {
    let at = |i: usize| words.get(i).map(String::as_str);
    // Skip the option words that may come between a keyword and the name.
    let skip = |mut i: usize, optional: &[&str]| {
        while at(i).is_some_and(|w| optional.contains(&w)) {
            i += 1;
        }
        i
    };
    let name = |i: usize| at(i).map(str::to_string);
    match (at(0)?, at(1)) {
        ("alter" | "optimize" | "lock", Some("table")) => {
            let i = skip(2, &["only", "if", "exists"]);
            name(i).map(|n| (n, false))
        }
        ("create", _) => {
            let on = words.iter().position(|w| w == "on")?;
            let i = skip(0, &["create", "unique"]);
            (at(i) == Some("index") || at(i) == Some("fulltext") || at(i) == Some("spatial"))
                .then_some(())?;
            let i = skip(on + 1, &["only"]);
            name(i).map(|n| (n, false))
        }
        ("drop", Some("index")) => {
            if let Some(on) = words.iter().position(|w| w == "on") {
                return name(on + 1).map(|n| (n, false));
            }
            let i = skip(2, &["concurrently", "if", "exists"]);
            name(i).map(|n| (n, true))
        }
        ("reindex", _) => {
            let kind = words.iter().position(|w| w == "table" || w == "index")?;
            let i = skip(kind + 1, &["concurrently"]);
            name(i).map(|n| (n, words[kind] == "index"))
        }
        ("cluster", _) => {
            let i = skip(1, &["verbose"]);
            name(i).map(|n| (n, false))
        }
        ("vacuum", _) => {
            // The first word that is not an option: `VACUUM (FULL, ANALYZE) t`, `VACUUM FULL t`.
            let i = skip(
                1,
                &[
                    "full", "freeze", "verbose", "analyze", "analyse", "true", "false", "on", "off",
                ],
            );
            name(i).map(|n| (n, false))
        }
        _ => None,
    }
}

/// Whether `word` names `full` (`schema.table`, or a bare name in MySQL), qualified or not.
fn names(word: &str, full: &str) -> bool {
    let short = full.rsplit('.').next().unwrap_or(full);
    word == full || word == short
}

/// The live table a statement takes its lock on: the one its syntax names (an index's table
/// for `DROP INDEX`), else the first of `tables` named in it as a word.
fn table_in<'a>(
    statement: &str,
    tables: &'a [TableSize],
    indexes: &[(String, String)],
) -> Option<&'a TableSize> {
    let words = words(statement);
    let find = |name: &str| {
        tables
            .iter()
            .find(|t| names(name, &t.table.to_ascii_lowercase()))
    };
    if let Some((name, is_index)) = subject(&words) {
        let table = if is_index {
            indexes
                .iter()
                .find(|(i, _)| names(&name, i))
                .and_then(|(_, t)| find(t))
        } else {
            find(&name)
        };
        if table.is_some() {
            return table;
        }
    }
    let mut best: Option<(usize, &TableSize)> = None;
    for t in tables {
        let full = t.table.to_ascii_lowercase();
        if let Some(pos) = words.iter().position(|w| names(w, &full)) {
            if best.is_none_or(|(p, _)| pos < p) {
                best = Some((pos, t));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// Judge size-dependent findings by the live table's size.
fn apply_sizes(
    findings: &mut [Finding],
    tables: &[TableSize],
    indexes: &[(String, String)],
    large: u64,
) {
    for f in findings {
        if !SIZE_RULES.contains(&f.rule.as_str()) {
            continue;
        }
        let Some(statement) = &f.statement else {
            continue;
        };
        let Some(table) = table_in(statement, tables, indexes) else {
            continue;
        };
        match table.rows {
            Some(0) => {
                f.severity = "info".to_string();
                f.message.push_str(&format!(
                    " (on the target, {} is empty: a note)",
                    table.table
                ));
            }
            Some(n) if n >= large => {
                f.severity = "error".to_string();
                f.message.push_str(&format!(
                    " (on the target, {} has about {n} rows: at least --large-table-rows {large})",
                    table.table
                ));
            }
            Some(n) => f.message.push_str(&format!(
                " (on the target, {} has about {n} rows)",
                table.table
            )),
            None => {}
        }
    }
}

fn lint_config(chain: &Chain) -> Result<LintConfig> {
    match LintConfig::discover(&chain.root) {
        Some(p) => LintConfig::load(&p),
        None => Ok(LintConfig::default()),
    }
}

/// What the ephemeral database gave: the schema the applied migrations produce and, for an
/// Alembic project, what Alembic ran to get there and then for each pending revision.
#[derive(Default)]
struct Expected {
    schema: Snapshot,
    alembic: AlembicRun,
}

/// Alembic's steps on the ephemeral database, in the order they ran.
#[derive(Default)]
struct AlembicRun {
    /// Up to the target's current revisions (they teach the lint the column types).
    applied: Vec<crate::alembic::driver::AppliedStep>,
    /// From there to the heads: the pending revisions' SQL.
    pending: Vec<crate::alembic::driver::AppliedStep>,
    /// Why the pending revisions could not all be run (the revision that raised).
    error: Option<String>,
}

/// Apply the applied migrations' ups on an ephemeral database and snapshot it; for an Alembic
/// project, then run the pending revisions there too, to show their SQL.
async fn expected_schema(
    args: &PlanArgs,
    engine: Engine,
    chain: &Chain,
    graph: Option<&crate::alembic::Graph>,
    status: &StatusReport,
    defaults: Option<(String, String)>,
) -> Result<Expected> {
    let options = ProvisionOptions {
        engine,
        provider: args.provider,
        url: args
            .provider_url
            .as_ref()
            .map(|u| crate::redact::SecretUrl::new(u.clone())),
        bin_dir: args.bin_dir.clone(),
        startup_timeout: Duration::from_secs(args.startup_timeout),
        engine_version: None,
        image: None,
        keep: false,
    };
    let server = provision::provision(&options).await?;
    let result = async {
        let db = Database::create(server.as_ref(), false).await?;
        let built = async {
            let mut conn = Conn::connect(engine, &db.url).await?;
            let applied: std::collections::HashSet<&str> = status
                .migrations
                .iter()
                .filter(|m| matches!(m.state, State::Applied | State::Edited))
                .map(|m| m.id.as_str())
                .collect();
            // The target database's defaults decide the charset of every column it was not
            // given: the ephemeral database takes the same ones.
            let mut outcome = match &defaults {
                Some((charset, collation)) => conn
                    .execute(&format!(
                        "ALTER DATABASE CHARACTER SET {charset} COLLATE {collation}"
                    ))
                    .await
                    .map_err(|e| Error::environment(format!("setting the charset: {e}"), None)),
                None => Ok(()),
            };
            if let (Ok(()), Some(graph)) = (&outcome, graph) {
                // Alembic itself brings the database to the target's current revisions.
                let expected = alembic_run(args, engine, &db.url, &mut conn, graph, status).await;
                conn.close().await;
                return expected;
            }
            if outcome.is_ok() {
                outcome = crate::bookkeeping::create(&mut conn, chain.format)
                    .await
                    .map_err(|e| Error::environment(e, None));
            }
            for m in chain
                .migrations
                .iter()
                .filter(|m| applied.contains(m.id.as_str()))
            {
                if outcome.is_err() {
                    break;
                }
                let script = crate::apply::PreparedScript {
                    file: m.up.file.clone(),
                    statements: crate::sql::split(&m.up, engine.dialect())?,
                    no_transaction: m.up.no_transaction,
                };
                if let Err(e) = crate::apply::apply(&mut conn, &script).await {
                    outcome = Err(Error::Input {
                        file: Some(e.file.clone()),
                        line: Some(e.line),
                        message: format!(
                            "{} does not apply on an empty database, so drift cannot be judged: {}",
                            m.id, e.message
                        ),
                    });
                }
            }
            let snapshot = match outcome {
                Ok(()) => crate::snapshot::take(&mut conn).await,
                Err(e) => Err(e),
            };
            conn.close().await;
            snapshot.map(|schema| Expected {
                schema,
                ..Expected::default()
            })
        }
        .await;
        let _ = db.drop_database(server.as_ref()).await;
        built
    }
    .await;
    let _ = server.shutdown().await;
    result
}

/// Run the project's Alembic on the ephemeral database up to each revision the target's
/// `alembic_version` holds, snapshot it, then on to the heads: what Alembic runs for each
/// pending revision on a database with the target's schema.
async fn alembic_run(
    args: &PlanArgs,
    engine: Engine,
    url: &crate::redact::SecretUrl,
    conn: &mut Conn,
    graph: &crate::alembic::Graph,
    status: &StatusReport,
) -> Result<Expected> {
    graph.project.require_env_py()?;
    let options = crate::alembic::DriverOptions {
        python: args.python.clone(),
        startup_timeout: Duration::from_secs(args.startup_timeout.max(60)),
        ..Default::default()
    };
    let mut driver = crate::alembic::Driver::start(&graph.project, engine, url, &options).await?;
    let current: Vec<String> = status
        .alembic
        .as_ref()
        .map(|a| a.current.clone())
        .unwrap_or_default();
    let outcome = async {
        let mut run = AlembicRun::default();
        for rev in current.iter().filter(|r| graph.revision(r).is_some()) {
            let result = driver.upgrade(rev).await?.into_result().map_err(|e| {
                Error::environment(
                    format!("Alembic could not upgrade the ephemeral database to {rev}: {e}"),
                    None,
                )
            })?;
            run.applied.extend(result.steps);
        }
        let schema = crate::snapshot::take(conn).await?;
        if !status.pending.is_empty() {
            let result = driver.upgrade("heads").await?;
            run.pending = result.steps;
            if let Some(e) = result.error {
                run.error = Some(format!(
                    "{}{}: {}: {}",
                    e.revision.as_deref().unwrap_or("a revision"),
                    e.file
                        .as_ref()
                        .map(|f| format!(" ({})", f.display()))
                        .unwrap_or_default(),
                    e.kind,
                    e.message.trim()
                ));
            }
        }
        Ok::<_, Error>(Expected {
            schema,
            alembic: run,
        })
    }
    .await;
    let _ = driver.stop().await;
    outcome
}

/// A pending Alembic revision's SQL as it ran on the ephemeral database.
fn alembic_sql(steps: &[crate::alembic::driver::AppliedStep], revision: &str) -> Option<String> {
    let mut out = String::new();
    let mut ran = false;
    for step in steps.iter().filter(|s| s.revision == revision) {
        ran = true;
        for st in step.migration_statements() {
            out.push_str(st.sql.trim().trim_end_matches(';'));
            out.push_str(";\n");
            if let Some(params) = &st.params {
                let how = if st.many { "for each of" } else { "with" };
                out.push_str(&format!("-- {how} parameters {params}\n"));
            }
        }
    }
    ran.then(|| crate::redact::redact_sql_passwords(&out))
}

/// `migcheck plan`.
pub async fn run_plan(args: PlanArgs) -> Result<u8> {
    let started = Instant::now();
    let started_at = crate::verify::now_rfc3339();
    let inputs = Inputs::load(&args.target)?;
    let mut session = inputs.open().await?;
    let gathered = async {
        let status = inspect(&inputs, &mut session, started).await?;
        let tables = table_sizes(&mut session)
            .await
            .map_err(|e| Error::environment(format!("reading table sizes: {e}"), None))?;
        let indexes = index_tables(&mut session)
            .await
            .map_err(|e| Error::environment(format!("reading indexes: {e}"), None))?;
        let defaults = database_defaults(&mut session).await;
        let live = if args.no_drift && args.evidence.is_none() {
            None
        } else {
            Some(crate::snapshot::take(session.conn()).await?)
        };
        Ok::<_, Error>((status, tables, indexes, live, defaults))
    }
    .await;
    let engine = session.info.engine;
    let info = session.info.clone();
    session.close().await;
    let (status, tables, indexes, live, defaults) = gathered?;
    let chain = &inputs.chain;
    let pending_ids: std::collections::HashSet<&str> =
        status.pending.iter().map(String::as_str).collect();

    // The drift check's ephemeral database; for an Alembic project it also shows what the
    // pending revisions run.
    let live_for_evidence = live.clone();
    let live = live.filter(|_| !args.no_drift);
    let (drift, alembic) = match live {
        None => (
            Drift {
                checked: false,
                reason: Some("--no-drift".to_string()),
                changes: Vec::new(),
                diff: String::new(),
            },
            None,
        ),
        Some(live) => match expected_schema(
            &args,
            engine,
            chain,
            inputs.graph.as_ref(),
            &status,
            defaults,
        )
        .await
        {
            Ok(expected) => {
                let cmp = crate::compare::compare(
                    &expected.schema,
                    &live,
                    crate::compare::CosmeticPolicy::default(),
                    "applied migrations",
                    "target",
                );
                let drift = Drift {
                    checked: true,
                    reason: None,
                    changes: cmp.changes,
                    diff: cmp.diff,
                };
                (drift, Some(expected.alembic))
            }
            Err(e) => {
                eprintln!("warning: drift not checked: {e}");
                let drift = Drift {
                    checked: false,
                    reason: Some(e.to_string()),
                    changes: Vec::new(),
                    diff: String::new(),
                };
                (drift, None)
            }
        },
    };
    let is_alembic = chain.format == Format::Alembic;
    // Why an Alembic revision has no SQL in the plan.
    let alembic_gap = match &alembic {
        _ if !is_alembic => None,
        None => Some(
            "not rendered: Alembic runs it, and the ephemeral database that would show its SQL \
             was not built (see drift)"
                .to_string(),
        ),
        Some(run) => run
            .error
            .as_ref()
            .map(|e| format!("not rendered: on the ephemeral database {e}")),
    };
    if let Some(AlembicRun { error: Some(e), .. }) = &alembic {
        eprintln!(
            "warning: the pending Alembic revisions did not all run on the ephemeral database: {e}"
        );
    }

    let pending: Vec<PlannedMigration> = chain
        .migrations
        .iter()
        .filter(|m| pending_ids.contains(m.id.as_str()))
        .map(|m| {
            let sql = match &alembic {
                _ if !is_alembic => Some(crate::redact::redact_sql_passwords(&script_text(&m.up))),
                Some(run) => alembic_sql(&run.pending, &m.id),
                None => None,
            };
            PlannedMigration {
                id: m.id.clone(),
                version: m.version.text.clone(),
                file: m.up.file.clone(),
                note: match (&sql, is_alembic) {
                    (Some(_), true) => Some(
                        "SQL as Alembic ran it on an ephemeral database at the target's \
                         current revisions (Python may run other SQL on other data)"
                            .to_string(),
                    ),
                    (None, true) => alembic_gap.clone(),
                    _ => None,
                },
                sql,
            }
        })
        .collect();

    // Lint every up in order (earlier ones teach later ones the column types), keep the
    // findings on pending migrations, and judge them by the live server and tables.
    let mut config = lint_config(chain)?;
    if engine == Engine::Postgres {
        config.time_zone = info.time_zone.clone().or(config.time_zone);
    }
    let version = (engine == Engine::Postgres).then_some(info.version_num);
    let mut findings = match &alembic {
        _ if !is_alembic => lint::lint_chain(chain, engine, version, &config),
        // What Alembic really sent, attributed to each revision's file.
        Some(run) => {
            let scripts: Vec<(String, crate::chain::Script)> = run
                .applied
                .iter()
                .chain(&run.pending)
                .map(|s| (s.revision.clone(), s.to_script()))
                .collect();
            let refs: Vec<(Option<&str>, &crate::chain::Script)> = scripts
                .iter()
                .map(|(id, s)| (Some(id.as_str()), s))
                .collect();
            lint::lint_scripts(&refs, engine, version, &config)
        }
        None => Vec::new(),
    };
    findings.retain(|f| {
        f.migration
            .as_deref()
            .is_some_and(|m| pending_ids.contains(m))
    });
    apply_sizes(&mut findings, &tables, &indexes, args.large_table_rows);

    let lint_fails = findings.iter().any(|f| f.severity == "error");
    let exit_code =
        if status.verdict == Verdict::Problems || lint_fails || !drift.changes.is_empty() {
            exit::GATE_FAILED
        } else if !pending.is_empty() {
            exit::PENDING
        } else {
            exit::PASS
        };
    let report = PlanReport {
        plan_version: PLAN_VERSION,
        exit_code,
        status,
        pending,
        findings,
        tables,
        drift,
    };
    print!("{}", render_text(&report));
    if let Some(path) = &args.target.json {
        super::write_json(&report, path)?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, render_markdown(&report)).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
    }
    if let Some(path) = &args.junit {
        super::junit::write_plan(&report, path)?;
    }
    if let Some(dir) = &args.evidence {
        let digest = write_evidence(dir, &report, chain, live_for_evidence.as_ref(), started_at)?;
        println!("evidence: {} · manifest sha256 {digest}", dir.display());
    }
    Ok(exit_code)
}

/// The evidence folder: every report, the live schema, and a manifest `migcheck evidence
/// check` reads (the same shape as verify's).
fn write_evidence(
    dir: &std::path::Path,
    report: &PlanReport,
    chain: &Chain,
    live: Option<&Snapshot>,
    started_at: String,
) -> Result<String> {
    use crate::evidence::{self as ev, ChainInfo, HashedFile, Manifest};
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    super::write_json(report, &dir.join(ev::JSON))?;
    super::junit::write_plan(report, &dir.join(ev::JUNIT))?;
    std::fs::write(dir.join(ev::MARKDOWN), render_markdown(report))
        .map_err(io(&dir.join(ev::MARKDOWN)))?;
    let mut names = vec![ev::JSON, ev::JUNIT, ev::MARKDOWN];
    if let Some(live) = live {
        let mut text = serde_json::to_string_pretty(live).expect("serializable snapshot");
        text.push('\n');
        std::fs::write(dir.join(ev::SCHEMA), text).map_err(io(&dir.join(ev::SCHEMA)))?;
        names.push(ev::SCHEMA);
    }
    let hash = |path: &std::path::Path, shown: String| -> Result<HashedFile> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        Ok(HashedFile {
            path: shown,
            sha256: ev::sha256_hex(&bytes),
            bytes: bytes.len() as u64,
        })
    };
    let mut files = Vec::new();
    for name in names {
        files.push(hash(&dir.join(name), name.to_string())?);
    }
    let mut migrations = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in chain.migrations.iter().flat_map(|m| m.files.iter()) {
        let shown = file
            .strip_prefix(&chain.root)
            .unwrap_or(file)
            .display()
            .to_string();
        if seen.insert(shown.clone()) {
            migrations.push(hash(file, shown)?);
        }
    }
    let manifest = Manifest {
        manifest_version: ev::MANIFEST_VERSION,
        migcheck_version: env!("CARGO_PKG_VERSION").to_string(),
        run_started_at: started_at,
        written_at: crate::verify::now_rfc3339(),
        verdict: if report.exit_code == exit::GATE_FAILED {
            "fail".to_string()
        } else {
            "pass".to_string()
        },
        exit_code: report.exit_code,
        chain: ChainInfo {
            path: chain.root.display().to_string(),
            format: chain.format.name().to_string(),
        },
        engine: Some(serde_json::json!({
            "name": report.status.engine,
            "version": report.status.server_version,
            "target": report.status.target,
        })),
        provider: None,
        git: None,
        migrations,
        files,
    };
    let mut text = serde_json::to_string_pretty(&manifest).expect("serializable manifest");
    text.push('\n');
    std::fs::write(dir.join(ev::MANIFEST), &text).map_err(io(&dir.join(ev::MANIFEST)))?;
    Ok(ev::sha256_hex(text.as_bytes()))
}

fn script_text(script: &crate::chain::Script) -> String {
    let mut out = String::new();
    for seg in &script.segments {
        let (crate::chain::Segment::Sql { text, .. }
        | crate::chain::Segment::Verbatim { text, .. }) = seg;
        out.push_str(text.trim_matches('\n'));
        out.push('\n');
    }
    out
}

fn render_text(report: &PlanReport) -> String {
    let mut out = super::render(&report.status);
    out.push('\n');
    if report.pending.is_empty() {
        out.push_str("plan: nothing to run\n");
    }
    for m in &report.pending {
        out.push_str(&format!("== {} ({})\n", m.id, m.file.display()));
        match &m.sql {
            Some(sql) => {
                for l in sql.lines() {
                    out.push_str(&format!("   | {l}\n"));
                }
            }
            None => out.push_str("   (an Alembic revision: Python, run by Alembic)\n"),
        }
        if let Some(note) = &m.note {
            out.push_str(&format!("   ({note})\n"));
        }
        for f in report
            .findings
            .iter()
            .filter(|f| f.migration.as_deref() == Some(m.id.as_str()))
        {
            out.push_str(&format!(
                "   {}[{}] {}{}: {}\n",
                f.severity,
                f.rule,
                f.file,
                f.line.map(|l| format!(":{l}")).unwrap_or_default(),
                f.message
            ));
        }
    }
    out.push('\n');
    let d = &report.drift;
    if !d.checked {
        out.push_str(&format!(
            "drift: not checked ({})\n",
            d.reason.as_deref().unwrap_or("")
        ));
    } else if d.changes.is_empty() {
        out.push_str("drift: none (the live schema is what the applied migrations give)\n");
    } else {
        out.push_str(&format!(
            "drift: {} object(s) differ from what the applied migrations give:\n",
            d.changes.len()
        ));
        for c in &d.changes {
            let how = match c.change {
                crate::compare::ChangeKind::Added => "only on the target (made by hand?)",
                crate::compare::ChangeKind::Removed => "missing on the target (dropped by hand?)",
                crate::compare::ChangeKind::Changed => "changed on the target",
            };
            out.push_str(&format!("  {}: {how}\n", c.object));
        }
        out.push_str(&d.diff);
        if !d.diff.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "plan: {} pending, {} finding(s), {} drift change(s) (exit {})\n",
        report.pending.len(),
        report.findings.len(),
        report.drift.changes.len(),
        report.exit_code
    ));
    out
}

fn render_markdown(report: &PlanReport) -> String {
    let s = &report.status;
    let mut out = format!(
        "## migcheck plan: {} ({})\n\nTarget: `{}` ({} {}), version table `{}`.\n\n",
        s.chain.display(),
        s.format,
        s.target,
        s.engine,
        s.server_version,
        s.table
    );
    if !s.problems.is_empty() {
        out.push_str("### Problems\n\n");
        for p in &s.problems {
            out.push_str(&format!("- **{}**: {}", p.kind, p.message));
            if let Some(r) = &p.recovery {
                out.push_str(&format!(" Recovery: {r}"));
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "### Pending migrations ({})\n\n",
        report.pending.len()
    ));
    let mut by_migration: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        if let Some(m) = &f.migration {
            by_migration.entry(m.as_str()).or_default().push(f);
        }
    }
    for m in &report.pending {
        out.push_str(&format!("#### `{}`\n\n", m.id));
        if let Some(note) = &m.note {
            out.push_str(&format!("_{note}._\n\n"));
        }
        if let Some(sql) = &m.sql {
            out.push_str(&format!("```sql\n{}```\n\n", sql));
        }
        for f in by_migration.get(m.id.as_str()).into_iter().flatten() {
            out.push_str(&format!("- {} `{}`: {}\n", f.severity, f.rule, f.message));
        }
        out.push('\n');
    }
    out.push_str("### Drift\n\n");
    let d = &report.drift;
    if !d.checked {
        out.push_str(&format!(
            "Not checked: {}.\n",
            d.reason.as_deref().unwrap_or("")
        ));
    } else if d.changes.is_empty() {
        out.push_str("None: the live schema is what the applied migrations give.\n");
    } else {
        out.push_str(&format!("```diff\n{}```\n", d.diff));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, statement: &str) -> Finding {
        Finding {
            rule: rule.to_string(),
            severity: "warning".to_string(),
            statement: Some(statement.to_string()),
            message: "m".to_string(),
            ..Finding::default()
        }
    }

    #[test]
    fn sizes_judge_lock_findings() {
        let tables = vec![
            TableSize {
                table: "public.orders".to_string(),
                rows: Some(40_000_000),
            },
            TableSize {
                table: "public.audit".to_string(),
                rows: Some(0),
            },
            TableSize {
                table: "public.users".to_string(),
                rows: None,
            },
        ];
        let mut f = vec![
            finding(
                "create-index-non-concurrently",
                "CREATE INDEX orders_a ON orders (a)",
            ),
            finding(
                "create-index-non-concurrently",
                "CREATE INDEX audit_a ON public.audit (a)",
            ),
            finding(
                "create-index-non-concurrently",
                "CREATE INDEX users_a ON users (a)",
            ),
            finding("drop-table", "DROP TABLE orders"),
        ];
        apply_sizes(&mut f, &tables, &[], 1_000_000);
        assert_eq!(f[0].severity, "error");
        assert!(f[0].message.contains("about 40000000 rows"));
        assert_eq!(f[1].severity, "info");
        assert_eq!(f[2].severity, "warning");
        assert_eq!(f[3].severity, "warning");
    }

    #[test]
    fn the_table_is_the_one_the_syntax_locks() {
        let tables = vec![
            TableSize {
                table: "public.orders".to_string(),
                rows: Some(40_000_000),
            },
            TableSize {
                table: "public.audit".to_string(),
                rows: Some(0),
            },
        ];
        let indexes = vec![
            (
                "public.audit_by_order".to_string(),
                "public.audit".to_string(),
            ),
            (
                "public.orders_total".to_string(),
                "public.orders".to_string(),
            ),
        ];
        let table = |statement: &str| {
            table_in(statement, &tables, &indexes)
                .map(|t| t.table.as_str())
                .unwrap_or("-")
        };
        // An index named after another table, or a column that is: the syntax decides.
        assert_eq!(table("CREATE INDEX audit ON orders (x)"), "public.orders");
        assert_eq!(
            table("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS o ON ONLY \"audit\" (orders)"),
            "public.audit"
        );
        assert_eq!(
            table("ALTER TABLE IF EXISTS ONLY public.audit ADD COLUMN orders int"),
            "public.audit"
        );
        // Only the index is named: its table, from the live catalog.
        assert_eq!(table("DROP INDEX public.orders_total"), "public.orders");
        assert_eq!(table("DROP INDEX IF EXISTS audit_by_order"), "public.audit");
        assert_eq!(table("REINDEX INDEX orders_total"), "public.orders");
        assert_eq!(table("REINDEX TABLE CONCURRENTLY audit"), "public.audit");
        // MySQL names the table.
        assert_eq!(
            table("DROP INDEX audit_by_order ON orders"),
            "public.orders"
        );
        assert_eq!(table("OPTIMIZE TABLE `audit`"), "public.audit");
        assert_eq!(table("VACUUM (FULL, ANALYZE) audit"), "public.audit");
        assert_eq!(table("VACUUM FULL orders"), "public.orders");
        assert_eq!(
            table("CLUSTER VERBOSE audit USING audit_by_order"),
            "public.audit"
        );
        // Anything else: the first table named.
        assert_eq!(
            table("UPDATE audit SET n = (SELECT count(*) FROM orders)"),
            "public.audit"
        );
        assert_eq!(table("DROP INDEX unknown_index"), "-");
    }
}
