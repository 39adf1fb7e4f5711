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

    /// Skip the drift check (no ephemeral database is started).
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
    /// The up script as it will be sent (absent for Alembic revisions: Python).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
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

/// The live table a statement is about: the first of `tables` named in it as a word.
fn table_in<'a>(statement: &str, tables: &'a [TableSize]) -> Option<&'a TableSize> {
    let words: Vec<String> = statement
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '$'))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('.').to_ascii_lowercase())
        .collect();
    let mut best: Option<(usize, &TableSize)> = None;
    for t in tables {
        let full = t.table.to_ascii_lowercase();
        let short = full.rsplit('.').next().unwrap_or(&full).to_string();
        if let Some(pos) = words.iter().position(|w| *w == full || *w == short) {
            if best.is_none_or(|(p, _)| pos < p) {
                best = Some((pos, t));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// Judge size-dependent findings by the live table's size.
fn apply_sizes(findings: &mut [Finding], tables: &[TableSize], large: u64) {
    for f in findings {
        if !SIZE_RULES.contains(&f.rule.as_str()) {
            continue;
        }
        let Some(statement) = &f.statement else {
            continue;
        };
        let Some(table) = table_in(statement, tables) else {
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

/// Apply the applied migrations' ups on an ephemeral database and snapshot it.
async fn expected_schema(
    args: &PlanArgs,
    engine: Engine,
    chain: &Chain,
    graph: Option<&crate::alembic::Graph>,
    status: &StatusReport,
    defaults: Option<(String, String)>,
) -> Result<Snapshot> {
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
                outcome = alembic_to_current(args, engine, &db.url, graph, status).await;
                let snapshot = match outcome {
                    Ok(()) => crate::snapshot::take(&mut conn).await,
                    Err(e) => Err(e),
                };
                conn.close().await;
                return snapshot;
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
                    alembic: None,
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
            snapshot
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
/// `alembic_version` holds.
async fn alembic_to_current(
    args: &PlanArgs,
    engine: Engine,
    url: &crate::redact::SecretUrl,
    graph: &crate::alembic::Graph,
    status: &StatusReport,
) -> Result<()> {
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
    let mut result = Ok(());
    for rev in current.iter().filter(|r| graph.revision(r).is_some()) {
        if let Err(e) = driver.upgrade(rev).await.and_then(|r| {
            r.into_result().map_err(|e| {
                Error::environment(
                    format!("Alembic could not upgrade the ephemeral database to {rev}: {e}"),
                    None,
                )
            })
        }) {
            result = Err(e);
            break;
        }
    }
    let _ = driver.stop().await;
    result
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
        let defaults = database_defaults(&mut session).await;
        let live = if args.no_drift && args.evidence.is_none() {
            None
        } else {
            Some(crate::snapshot::take(session.conn()).await?)
        };
        Ok::<_, Error>((status, tables, live, defaults))
    }
    .await;
    let engine = session.info.engine;
    let info = session.info.clone();
    session.close().await;
    let (status, tables, live, defaults) = gathered?;
    let chain = &inputs.chain;
    let pending_ids: std::collections::HashSet<&str> =
        status.pending.iter().map(String::as_str).collect();

    let pending: Vec<PlannedMigration> = chain
        .migrations
        .iter()
        .filter(|m| pending_ids.contains(m.id.as_str()))
        .map(|m| PlannedMigration {
            id: m.id.clone(),
            version: m.version.text.clone(),
            file: m.up.file.clone(),
            sql: (chain.format != Format::Alembic)
                .then(|| crate::redact::redact_sql_passwords(&script_text(&m.up))),
        })
        .collect();

    // Lint every up in order (earlier ones teach later ones the column types), keep the
    // findings on pending migrations, and judge them by the live server and tables.
    let mut findings = Vec::new();
    if chain.format != Format::Alembic {
        let mut config = lint_config(chain)?;
        if engine == Engine::Postgres {
            config.time_zone = info.time_zone.clone().or(config.time_zone);
        }
        let version = (engine == Engine::Postgres).then_some(info.version_num);
        findings = lint::lint_chain(chain, engine, version, &config)
            .into_iter()
            .filter(|f| {
                f.migration
                    .as_deref()
                    .is_some_and(|m| pending_ids.contains(m))
            })
            .collect();
        apply_sizes(&mut findings, &tables, args.large_table_rows);
    }

    let live_for_evidence = live.clone();
    let live = live.filter(|_| !args.no_drift);
    let drift = match live {
        None => Drift {
            checked: false,
            reason: Some("--no-drift".to_string()),
            changes: Vec::new(),
            diff: String::new(),
        },
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
                    &expected,
                    &live,
                    crate::compare::CosmeticPolicy::default(),
                    "applied migrations",
                    "target",
                );
                Drift {
                    checked: true,
                    reason: None,
                    changes: cmp.changes,
                    diff: cmp.diff,
                }
            }
            Err(e) => {
                eprintln!("warning: drift not checked: {e}");
                Drift {
                    checked: false,
                    reason: Some(e.to_string()),
                    changes: Vec::new(),
                    diff: String::new(),
                }
            }
        },
    };

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
        apply_sizes(&mut f, &tables, 1_000_000);
        assert_eq!(f[0].severity, "error");
        assert!(f[0].message.contains("about 40000000 rows"));
        assert_eq!(f[1].severity, "info");
        assert_eq!(f[2].severity, "warning");
        assert_eq!(f[3].severity, "warning");
    }
}
