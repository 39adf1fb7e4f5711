//! The verify pipeline: chain checks, provision, upgrade, round trips, reports.
//!
//! Step mode (default), for each migration i: apply up (snapshot S_i), run its down (must equal
//! S_{i-1}), apply up again (must equal S_i). Full mode: apply everything, go all the way down,
//! then all the way up, comparing at every step. A failure never stops the run early unless the
//! chain cannot go on (an up that does not apply): one run reports every problem.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::apply::ApplyFailure;
use crate::chain::{self, Chain, DiscoverOptions};
use crate::cli::{ColorChoice, RoundtripMode, VerifyArgs};
use crate::compare::{self, ChangeKind, CosmeticPolicy, Masks, Policies};
use crate::engine::Dialect;
use crate::error::{exit, Error, Result};
use crate::formats::{self, History, LoadOptions};
use crate::history;
use crate::lint;
use crate::observe::{self, Observation, Recorder};
use crate::provision::{sandbox, Conn, Database, Server};
use crate::redact;
use crate::report::terminal::Printer;
use crate::report::{
    self, CheckReport, EngineReport, Finding, OptionsReport, ProviderReport, Report, Status,
    Timings, Verdict,
};
use crate::runner::{Applier, ApplyContext, Plan, Runner, RunnerOptions, Step};
use crate::snapshot::{self, Snapshot};
use crate::timing::{self, Bucket};
use crate::verify_config::VerifyConfig;

/// A new report for one chain, filled in as the pipeline runs.
fn new_report(args: &VerifyArgs, started_at: &str, chain: Option<String>) -> Report {
    Report {
        report_version: report::REPORT_VERSION,
        migcheck_version: env!("CARGO_PKG_VERSION").to_string(),
        verdict: Verdict::Fail,
        exit_code: exit::GATE_FAILED,
        started_at: started_at.to_string(),
        duration_ms: 0,
        chain,
        path: args.path.display().to_string(),
        format: String::new(),
        format_reason: String::new(),
        engine: None,
        provider: None,
        options: OptionsReport {
            roundtrip: args.roundtrip.name().to_string(),
            require_down: args.require_down,
            cosmetic: args.cosmetic.unwrap_or_default().name().to_string(),
            fail_on: None,
            session_sql: args.session_sql.clone(),
            statement_timeout_s: args.statement_timeout().map_or(0, |t| t.as_secs()),
            migration_timeout_s: args.migration_timeout().map_or(0, |t| t.as_secs()),
            url_privileged: args.url_privileged,
        },
        migrations: Vec::new(),
        checks: Vec::new(),
        findings: Vec::new(),
        history: None,
        timings: Timings::default(),
    }
}

/// The chain's exit code and verdict from what its pipeline returned; an error becomes the
/// chain's last check (bad input or a broken environment still leaves evidence for CI).
fn conclude(report: &mut Report, outcome: &Result<()>) -> u8 {
    let code = match outcome {
        Ok(()) => {
            let fail_on = report
                .options
                .fail_on
                .as_deref()
                .and_then(lint::Severity::parse);
            let lint_failed = fail_on
                .is_some_and(|level| lint::exit_code(&report.findings, level) == exit::GATE_FAILED);
            let failed = report.checks.iter().any(|c| c.status == Status::Fail) || lint_failed;
            if failed {
                exit::GATE_FAILED
            } else {
                exit::PASS
            }
        }
        Err(e) => {
            report.checks.push(error_check(e));
            e.exit_code()
        }
    };
    report.exit_code = code;
    report.verdict = if code == exit::PASS {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    code
}

/// The release evidence of one chain, written after its reports.
fn write_evidence(dir: &Path, args: &VerifyArgs, report: &Report) -> Result<String> {
    let inputs = crate::evidence::Inputs {
        chain_root: &args.path,
        migration_files: report
            .migrations
            .iter()
            .flat_map(|m| m.files.iter().map(std::path::PathBuf::from))
            .collect(),
        schema_written: dir.join(crate::evidence::SCHEMA).is_file(),
    };
    crate::evidence::write(dir, report, &inputs)
}

/// `migcheck snapshot CHAIN -o FILE`: the ups on an empty database, then the schema.
mod chains;
mod checks;
use checks::*;

pub use chains::run;
pub use chains::slug;

pub async fn run_snapshot(args: crate::cli::SnapshotArgs, color: ColorChoice) -> Result<u8> {
    let mut verify = args.verify;
    verify.apply_only = true;
    verify.no_lint = true;
    verify.no_since = true;
    verify.snapshot_out = Some(args.output);
    chains::run(verify, color).await
}

/// One chain's pipeline, on the run's shared server (started by the first chain that needs it).
async fn verify(
    args: &VerifyArgs,
    printer: &Printer,
    report: &mut Report,
    shared: &chains::SharedServer,
) -> Result<()> {
    let phase = Instant::now();
    let reading_chain = timing::enter(Bucket::Chain);
    let discover_options = DiscoverOptions {
        format: args.format,
        require_down: args.require_down,
        engine: Some(args.engine.engine),
    };
    let loaded = formats::load(
        &args.path,
        &LoadOptions {
            discover: discover_options.clone(),
            allow_multiple_heads: args.allow_multiple_heads,
            runner: RunnerOptions {
                python: args.python.clone(),
                url_env: args.url_env.clone(),
                sqlalchemy_scheme: args.sqlalchemy_scheme.clone(),
                startup_timeout: args.startup_timeout(),
                statement_timeout: args.statement_timeout(),
            },
        },
    )?;
    let chain = &loaded.chain;
    let runner = &*loaded.runner;
    report.format = chain.format.name().to_string();
    report.format_reason.clone_from(&chain.format_reason);
    report.migrations = chain.migrations.iter().map(migration_report).collect();
    let dialect = args.engine.engine.dialect();
    let plans = runner.plans(chain);
    let expected = match &args.expect_snapshot {
        Some(path) => Some(read_snapshot(path)?),
        None => None,
    };
    let lint_config = if args.no_lint {
        None
    } else {
        Some(args.rules.resolve(Some(&args.path))?)
    };
    report.options.fail_on = lint_config.as_ref().map(|c| c.fail_on().name().to_string());
    let judging_history = timing::enter(Bucket::History);
    let judgement = judge_history(
        args,
        chain,
        &loaded.history,
        &discover_options,
        lint_config.as_ref(),
        printer,
    )?;
    drop(judging_history);
    report.history = judgement.as_ref().map(|j| j.report.clone());
    let verify_config = VerifyConfig::resolve(args)?;
    report.options.cosmetic = verify_config.cosmetic.describe();
    report.options.session_sql = verify_config.session_sql.clone();
    if let Some(why) = runner
        .refuses_session_sql()
        .filter(|_| !verify_config.session_sql.is_empty())
    {
        return Err(Error::Usage(why.to_string()));
    }
    // Findings are read with the server's version once one runs (a rule may depend on it).
    let run_lint = |report: &mut Report,
                    server: Option<&crate::engine::ServerInfo>,
                    observed: Observation,
                    captured: &[(String, chain::Script)]| {
        if let Some(config) = &lint_config {
            let _linting = timing::enter(Bucket::Lint);
            let engine = args.engine.engine;
            let pg_server = server.filter(|_| engine == crate::engine::Engine::Postgres);
            let version = pg_server.map(|s| s.version_num);
            // The lint judges rewrites under the server's own session time zone.
            let with_zone;
            let config = match pg_server.and_then(|s| s.time_zone.clone()) {
                Some(zone) => {
                    with_zone = lint::LintConfig {
                        time_zone: Some(zone),
                        ..config.clone()
                    };
                    &with_zone
                }
                None => config,
            };
            report.findings = if runner.lints_what_it_ran() {
                // What the tool really sent, attributed to each migration's file.
                let scripts: Vec<(Option<&str>, &chain::Script)> = captured
                    .iter()
                    .map(|(id, s)| (Some(id.as_str()), s))
                    .collect();
                lint::lint_scripts(&scripts, engine, version, config)
            } else {
                lint::lint_chain(chain, engine, version, config)
            };
            observe::reconcile(
                &mut report.findings,
                observed,
                config,
                dialect == Dialect::Mysql,
            );
            if let (Some(judgement), Some(history)) = (&judgement, &mut report.history) {
                history.baseline_findings = judgement.apply(&mut report.findings);
            }
            let fail_on = config.fail_on();
            // --quiet shows the findings that fail the gate, not the advice below it; findings
            // the base already had are counted, not listed (they are in the reports).
            let shown = report.findings.iter().filter(|f| {
                !f.baseline
                    && (!printer.quiet()
                        || lint::Severity::parse(&f.severity).is_some_and(|s| s >= fail_on))
            });
            for finding in shown {
                printer.finding(finding);
            }
            if let Some(history) = &report.history {
                printer.baseline(history.baseline_findings, &history.base);
            }
        }
    };

    printer.align(chain.migrations.iter().map(|m| m.id.as_str()));
    printer.header(&report.path, &report.format, chain.migrations.len());
    printer.semantics(&report.format, &report.format_reason);
    printer.session_sql(&verify_config.session_sql);
    if let Some(history) = &report.history {
        printer.base(history);
    }
    let chain_check = chain_check(chain, phase.elapsed());
    printer.chain(&chain_check);
    report.checks.push(chain_check);
    if let Some(blocker) = chain
        .problems
        .iter()
        .find(|p| loaded.blocking.contains(&p.kind))
    {
        tracing::info!(
            kind = blocker.kind,
            "chain cannot be ordered; no database needed"
        );
        run_lint(report, None, Observation::default(), &[]);
        return Ok(());
    }

    let settings = Settings {
        keep: args.keep,
        show_password: args.show_password,
        policy: verify_config.cosmetic.clone(),
        session_sql: &verify_config.session_sql,
        statement_timeout: args.statement_timeout(),
        migration_timeout: args.migration_timeout(),
        url_privileged: args.url_privileged,
        require_down: args.require_down,
        snapshot_out: args
            .snapshot_out
            .iter()
            .cloned()
            .chain(
                args.evidence
                    .iter()
                    .map(|d| d.join(crate::evidence::SCHEMA)),
            )
            .collect(),
        expected: expected.as_ref(),
        apply_only: args.apply_only,
        observe: lint_config.as_ref().is_some_and(observe::wanted) && runner.observable(),
        runner,
    };
    drop(reading_chain);
    {
        let starting = timing::enter(Bucket::ServerStart);
        let server = shared.server().await?;
        drop(starting);
        let info = server.info().clone();
        report.engine = Some(EngineReport {
            requested: Some(args.engine.to_string()),
            name: info.engine.name().to_string(),
            version: info.version.clone(),
            version_num: info.version_num,
        });
        report.provider = Some(ProviderReport {
            name: server.provider().to_string(),
            description: redact::redact_url(&server.describe()),
            image: server.image().map(str::to_string),
            startup_ms: ms(server.startup()),
            sandbox: sandbox_description(&*server, args.url_privileged),
        });
        printer.provisioned(&server.describe(), ms(server.startup()));
        if server.provider() == "url" {
            if args.url_privileged {
                printer.warning(
                    "--url-privileged: the sandbox is OFF. Migrations run as the user in --url, \
                     and server-wide statements run too: other databases, roles and settings on \
                     that server can change",
                );
            } else {
                printer.sandbox(&sandbox_description(&*server, false).unwrap_or_default());
            }
        }
        if args.keep && server.provider() != "docker" {
            printer.warning(
                "--keep keeps containers only: this server is removed at the end of the run",
            );
        }

        let mut observed = Observation::default();
        let mut captured = Vec::new();
        let mut nondeterministic = Vec::new();
        printer.start_progress(plans.len());
        let outcome = run_on_server(
            &*server,
            &plans,
            args.roundtrip,
            &settings,
            printer,
            report,
            (&mut observed, &mut captured, &mut nondeterministic),
        )
        .await;
        printer.finish_progress();
        run_lint(report, Some(&info), observed, &captured);
        // Found by comparing two runs of the same ups, not by the lint: reported with --no-lint too.
        for finding in &nondeterministic {
            printer.finding(finding);
        }
        report.findings.extend(nondeterministic);
        outcome
    }
}

/// A server error that means its disk is full (PostgreSQL SQLSTATE 53100, MySQL/MariaDB
/// errno 28, `Disk full`, MariaDB's `Can't change size of file`): the environment failed,
/// not the migration.
fn is_disk_full(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("no space left on device")
        || lower.contains("[53100]")
        || lower.contains("disk full")
        || lower.contains("errcode: 28")
        || lower.contains("errno: 28")
        // MariaDB on a full disk when InnoDB extends a file (its errno is garbage).
        || lower.contains("can't change size of file")
}

/// End every other session on the connection's database (and wait until they are gone).
async fn end_other_sessions(conn: &mut Conn) -> Result<(), sqlx::Error> {
    match conn {
        Conn::Postgres(c) => {
            sqlx::query(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(&mut *c)
            .await?;
        }
        Conn::Mysql(c) => {
            let ids: Vec<u64> = sqlx::query_scalar(
                "SELECT ID FROM information_schema.PROCESSLIST \
                 WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
            )
            .fetch_all(&mut *c)
            .await?;
            for id in ids {
                // Gone already is fine.
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {id}")))
                    .execute(&mut *c)
                    .await;
            }
        }
    }
    Ok(())
}

/// Whom migrations run as on the url provider, for the terminal and the reports.
fn sandbox_description(server: &dyn Server, privileged: bool) -> Option<String> {
    if server.provider() != "url" {
        return None;
    }
    Some(match (privileged, server.info().engine.dialect()) {
        (true, _) => "OFF (--url-privileged): migrations run as the user in --url".to_string(),
        (false, Dialect::Postgres) => "on: migrations run as a role created for the throwaway \
            database, its owner, without SUPERUSER, CREATEDB or CREATEROLE; dropped at the end"
            .to_string(),
        (false, Dialect::Mysql) => "on: migrations run as a user created for the throwaway \
            database, with privileges on that schema only; dropped at the end"
            .to_string(),
    })
}

/// On a shared server, a script with a server-wide statement fails before any of it runs:
/// migcheck touches only the database it created.
/// Why later migrations are skipped when the ups could not be replayed on a fresh database.
fn replay_halt(id: &str, e: &Error) -> String {
    format!(
        "not run: after {id} diverged, the ups could not be replayed on a fresh database ({}); \
         a migration that leaves server-wide objects (a role, another database) cannot run twice \
         on one server",
        e.to_string().lines().next().unwrap_or_default()
    )
}

/// The session statement that bounds each statement's run time on `engine`.
fn statement_timeout_sql(engine: crate::engine::Engine, timeout: Duration) -> String {
    match engine {
        crate::engine::Engine::Postgres => {
            format!("SET statement_timeout = '{}ms'", timeout.as_millis())
        }
        crate::engine::Engine::Mariadb => {
            format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64())
        }
        // MySQL bounds read-only SELECTs only; DDL has no server-side limit there.
        crate::engine::Engine::Mysql => {
            format!("SET SESSION max_execution_time = {}", timeout.as_millis())
        }
    }
}

/// The server's message for a statement cancelled by the timeout set above.
fn is_statement_timeout(message: &str) -> bool {
    message.contains("statement timeout")
        || message.contains("max_statement_time")
        || message.contains("maximum statement execution time")
}

struct Settings<'a> {
    keep: bool,
    show_password: bool,
    policy: Policies,
    /// Run on every connection that applies migrations (`--session-sql`).
    session_sql: &'a [String],
    /// `--statement-timeout`, set on every connection that applies migrations (None: no limit).
    statement_timeout: Option<Duration>,
    /// `--migration-timeout`: how long one up or down may take (None: no limit).
    migration_timeout: Option<Duration>,
    /// `--url-privileged`: server-wide statements may run on a server given by URL.
    url_privileged: bool,
    require_down: bool,
    /// Where the schema after the last migration goes (`--snapshot-out`, the evidence folder).
    snapshot_out: Vec<std::path::PathBuf>,
    /// `--expect-snapshot`: the schema the chain must produce.
    expected: Option<&'a Snapshot>,
    /// `migcheck snapshot`: apply the ups, no round trips.
    apply_only: bool,
    /// Watch locks and rewrites during the first upgrade of each migration.
    observe: bool,
    /// Applies the chain's steps.
    runner: &'a dyn Runner,
}

/// The throwaway database and the two connections migcheck uses on it: one applies
/// migrations (its session state carries over between migrations, as with the real tools),
/// one reads snapshots with default settings so a migration's `SET search_path` cannot change them.
struct Session<'a> {
    server: &'a dyn Server,
    db: Option<Database>,
    apply_conn: Option<Conn>,
    snapshot_conn: Option<Conn>,
    /// Incremental snapshots of the current database (PostgreSQL, when it can be set up).
    tracker: Option<snapshot::Tracker>,
    secrets: Vec<String>,
    recorder: Option<Recorder>,
    runner: &'a dyn Runner,
    /// The runner at work on the current database.
    applier: Option<Box<dyn Applier>>,
    /// SQL the runner executed during each migration's first upgrade, for the lint.
    captured: Vec<(String, chain::Script)>,
    session_sql: &'a [String],
    statement_timeout: Option<Duration>,
    migration_timeout: Option<Duration>,
    /// On a shared server: refuse server-wide statements and run as a sandbox role.
    sandboxed: bool,
    /// A failure that is the environment's, not the chain's (the server's disk is full):
    /// the run ends with exit 3 once the current mode returns.
    fatal: Option<Error>,
}

/// A throwaway database with what the session holds on it.
struct Attached {
    db: Option<Database>,
    apply_conn: Option<Conn>,
    snapshot_conn: Option<Conn>,
    tracker: Option<snapshot::Tracker>,
    applier: Option<Box<dyn Applier>>,
}

impl Attached {
    async fn close(self, server: &dyn Server) -> Result<()> {
        let _dropping = timing::enter(Bucket::Databases);
        if let Some(applier) = self.applier {
            applier.close().await;
        }
        for conn in [self.apply_conn, self.snapshot_conn].into_iter().flatten() {
            conn.close().await;
        }
        if let Some(db) = self.db {
            db.drop_database(server).await?;
        }
        Ok(())
    }
}

impl<'a> Session<'a> {
    async fn open(
        server: &'a dyn Server,
        observe: bool,
        runner: &'a dyn Runner,
        session_sql: &'a [String],
        statement_timeout: Option<Duration>,
        sandboxed: bool,
    ) -> Result<Session<'a>> {
        let mut session = Session {
            server,
            db: None,
            apply_conn: None,
            snapshot_conn: None,
            tracker: None,
            secrets: server.admin_url().secrets(),
            recorder: observe.then(Recorder::new),
            runner,
            applier: None,
            captured: Vec::new(),
            session_sql,
            statement_timeout,
            migration_timeout: None,
            sandboxed,
            fatal: None,
        };
        session.fresh_database().await?;
        Ok(session)
    }

    async fn fresh_database(&mut self) -> Result<()> {
        self.close().await?;
        self.open_database().await
    }

    /// What every connection that applies migrations runs first: the statement timeout, the
    /// session SQL, then the tool's version table.
    async fn set_up_apply_conn(&self, conn: &mut Conn) -> Result<()> {
        // Before the session SQL, so that a chain's own runner settings win.
        if let Some(sql) = self
            .statement_timeout
            .map(|t| statement_timeout_sql(self.server.info().engine, t))
        {
            if let Err(e) = conn.execute(&sql).await {
                return Err(Error::environment(
                    format!("cannot set the statement timeout (`{sql}`): {e}"),
                    None,
                ));
            }
        }
        for sql in self.session_sql {
            if let Err(e) = conn.execute(sql).await {
                let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
                let text = match e.as_database_error() {
                    Some(db) => db.message().to_string(),
                    None => e.to_string(),
                };
                let message = redact::scrub(&text, &secrets);
                return Err(Error::Usage(format!(
                    "session SQL `{sql}` failed: {message}"
                )));
            }
        }
        // After the session setup, so that its search_path decides the schema, as for the tool.
        self.runner
            .prepare_connection(conn)
            .await
            .map_err(|message| Error::environment(message, None))
    }

    /// Create a database with its connections and the runner's applier; the session holds none.
    async fn open_database(&mut self) -> Result<()> {
        let _creating = timing::enter(Bucket::Databases);
        let db = Database::create(self.server, self.sandboxed).await?;
        for secret in db.url.secrets() {
            if !self.secrets.contains(&secret) {
                self.secrets.push(secret);
            }
        }
        let mut apply_conn = db.connect().await?;
        if let Err(e) = self.set_up_apply_conn(&mut apply_conn).await {
            apply_conn.close().await;
            db.drop_database(self.server).await?;
            return Err(e);
        }
        self.apply_conn = Some(apply_conn);
        // The snapshot connection keeps the server's defaults: session SQL cannot change what
        // a snapshot reads.
        let mut snapshot_conn = db.connect().await?;
        // In the throwaway database, which migcheck owns: the DDL log incremental snapshots
        // read (not on a sandboxed database: its role cannot create event triggers).
        self.tracker = if self.sandboxed {
            None
        } else {
            snapshot::Tracker::install(&mut snapshot_conn).await
        };
        self.snapshot_conn = Some(snapshot_conn);
        tracing::info!(database = %db.name, "throwaway database ready");
        self.applier = Some(self.runner.open(&db).await?);
        self.db = Some(db);
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        let parts = self.detach();
        parts.close(self.server).await
    }

    fn detach(&mut self) -> Attached {
        Attached {
            db: self.db.take(),
            apply_conn: self.apply_conn.take(),
            snapshot_conn: self.snapshot_conn.take(),
            tracker: self.tracker.take(),
            applier: self.applier.take(),
        }
    }

    fn attach(&mut self, parts: Attached) {
        self.db = parts.db;
        self.apply_conn = parts.apply_conn;
        self.snapshot_conn = parts.snapshot_conn;
        self.tracker = parts.tracker;
        self.applier = parts.applier;
    }

    async fn apply(&mut self, step: &Step) -> Result<Duration, ApplyFailure> {
        self.apply_with(step, None).await
    }

    /// The first upgrade of a migration: observed when observation is on, and what the
    /// runner ran is kept for the lint.
    async fn apply_first(
        &mut self,
        step: &Step,
        migration: &str,
    ) -> Result<Duration, ApplyFailure> {
        self.apply_with(step, Some(migration)).await
    }

    async fn apply_with(
        &mut self,
        step: &Step,
        first_upgrade_of: Option<&str>,
    ) -> Result<Duration, ApplyFailure> {
        let _applying = timing::enter(Bucket::Migrations);
        if self.apply_conn.is_none() || self.applier.is_none() {
            // The last migration ran out of time and its connection was ended.
            if let Err(e) = self.reconnect_apply().await {
                return self.account(Err(ApplyFailure {
                    file: step.file.clone(),
                    line: 1,
                    message: format!("cannot reconnect after a migration timeout: {e}"),
                    detail: String::new(),
                    partially_applied: true,
                    irreversible: false,
                    duration: Duration::ZERO,
                }));
            }
        }
        let limit = self.migration_timeout;
        let running = AtomicUsize::new(0);
        let outcome = {
            let conn = self
                .apply_conn
                .as_mut()
                .expect("session holds a connection while open");
            let applier = self
                .applier
                .as_mut()
                .expect("session holds an applier while open");
            let recorder = match (first_upgrade_of, self.recorder.as_mut()) {
                (Some(id), Some(recorder)) => Some((recorder, Some(id))),
                _ => None,
            };
            let cx = ApplyContext {
                conn,
                recorder,
                running: &running,
                sandboxed: self.sandboxed,
            };
            let fut = applier.apply(cx, step);
            match limit {
                Some(limit) => tokio::time::timeout(limit, fut).await.ok(),
                None => Some(fut.await),
            }
        };
        let result = match outcome {
            Some(Ok(applied)) => {
                if let Some(id) = first_upgrade_of {
                    self.captured
                        .extend(applied.ran.into_iter().map(|s| (id.to_string(), s)));
                }
                Ok(applied.took)
            }
            Some(Err(f)) => Err(f),
            None => {
                let index = running.load(Ordering::Relaxed);
                let limit = limit.unwrap_or_default();
                Err(self.migration_timed_out(step, index, limit).await)
            }
        };
        self.account(result)
    }

    /// A migration ran past `--migration-timeout`: end every session on the throwaway
    /// database but the snapshot one (the applying connection, the runner's own), so that the
    /// server stops working on it, and fail the migration at the statement it was running.
    async fn migration_timed_out(
        &mut self,
        step: &Step,
        index: usize,
        limit: Duration,
    ) -> ApplyFailure {
        let statement = self.applier.as_ref().and_then(|a| a.statement(step, index));
        let statement = statement.as_ref();
        // Dropped, not closed: they are busy with the statement that ran out of time.
        drop(self.apply_conn.take());
        drop(self.applier.take());
        if let Some(conn) = self.snapshot_conn.as_mut() {
            if let Err(e) = end_other_sessions(conn).await {
                tracing::warn!("cannot end the timed-out migration's session: {e}");
            }
        }
        let mut detail = match statement {
            Some(st) => {
                let excerpt: Vec<&str> = st.sql.lines().take(6).collect();
                format!(
                    "statement at line {}:\n    {}\n",
                    st.line,
                    excerpt.join("\n    ")
                )
            }
            None => String::new(),
        };
        detail.push_str(&format!(
            "hint: raise --migration-timeout ({} s) if this migration is meant to take that long\n",
            limit.as_secs()
        ));
        ApplyFailure {
            file: step.file.clone(),
            line: statement.map_or(1, |s| s.line),
            message: format!(
                "the migration did not finish within --migration-timeout ({} s){}",
                limit.as_secs(),
                if statement.is_some() {
                    "; it was running this statement"
                } else {
                    ""
                }
            ),
            detail,
            partially_applied: true,
            irreversible: false,
            duration: limit,
        }
    }

    /// A new applying connection on the current database (after a timeout ended the last one).
    async fn reconnect_apply(&mut self) -> Result<()> {
        let db = self
            .db
            .as_ref()
            .ok_or_else(|| Error::environment("no throwaway database is open".to_string(), None))?;
        if self.apply_conn.is_none() {
            let mut conn = db.connect().await?;
            if let Err(e) = self.set_up_apply_conn(&mut conn).await {
                conn.close().await;
                return Err(e);
            }
            self.apply_conn = Some(conn);
        }
        if self.applier.is_none() {
            self.applier = Some(self.runner.open(db).await?);
        }
        Ok(())
    }

    /// Scrub secrets from the step's failure and add the hints it calls for.
    fn account(
        &mut self,
        result: Result<Duration, ApplyFailure>,
    ) -> Result<Duration, ApplyFailure> {
        if result.is_err() {
            // What the failed step did may have rolled back with its DDL log, or not.
            if let Some(tracker) = self.tracker.as_mut() {
                tracker.invalidate();
            }
        }
        result.map_err(|mut f| {
            let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
            if let Some(t) = self
                .statement_timeout
                .filter(|_| is_statement_timeout(&f.message))
            {
                if !f.detail.is_empty() && !f.detail.ends_with('\n') {
                    f.detail.push('\n');
                }
                f.detail.push_str(&format!(
                    "hint: the statement ran longer than --statement-timeout ({} s); raise it if \
                     this migration is meant to take that long\n",
                    t.as_secs()
                ));
            }
            if let Some(hint) = self
                .sandboxed
                .then(|| sandbox::permission_hint(self.server.info().engine, &f.message))
                .flatten()
            {
                if !f.detail.is_empty() && !f.detail.ends_with('\n') {
                    f.detail.push('\n');
                }
                f.detail.push_str(&format!("hint: {hint}\n"));
            }
            f.message = redact::redact_sql_passwords(&redact::scrub(&f.message, &secrets));
            if self.fatal.is_none() && is_disk_full(&f.message) {
                self.fatal = Some(Error::environment(
                    format!(
                        "the database server ran out of disk space while applying {}:{}: {}",
                        f.file.display(),
                        f.line,
                        f.message
                    ),
                    Some(
                        "free space where the server keeps its data (for the local provider: \
                         TMPDIR) and run again; this says nothing about the migration"
                            .to_string(),
                    ),
                ));
            }
            f.detail = redact::redact_sql_passwords(&redact::scrub(&f.detail, &secrets));
            f
        })
    }

    /// The runner's own proof that the step it just deployed works (a verify script).
    async fn check_deployed(&mut self, plan: &Plan<'_>) -> Option<CheckReport> {
        let _applying = timing::enter(Bucket::Migrations);
        let mut check = self.applier.as_mut()?.check_deployed(plan).await?;
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        check.message = redact::scrub(&check.message, &secrets);
        if let Some(detail) = check.detail.as_mut() {
            *detail = redact::scrub(detail, &secrets);
        }
        Some(check)
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let _reading = timing::enter(Bucket::Snapshots);
        let conn = self
            .snapshot_conn
            .as_mut()
            .expect("session holds a connection while open");
        match self.tracker.as_mut() {
            Some(tracker) => tracker.take(conn).await,
            None => snapshot::take(conn).await,
        }
    }

    /// Start over on a new database and replay the ups of `plans` (after a failure left the
    /// schema in a state later steps must not build on). Returns the schema before the first
    /// and after each up: a second run of the same SQL, which shows what is not deterministic.
    ///
    /// The replay builds a new database; the session moves to it only when every up applied
    /// again, and otherwise keeps the database it had (an up that cannot run twice on one
    /// server, such as `CREATE ROLE`, does not lose the run its database).
    async fn replay(&mut self, plans: &[Plan<'_>], which: Replayed) -> Result<Vec<Snapshot>> {
        let _replaying = timing::enter(Bucket::Replay);
        tracing::info!(
            migrations = plans.len(),
            "replaying ups on a fresh database"
        );
        let previous = self.detach();
        let outcome = self.replay_here(plans, which).await;
        let discarded = match outcome {
            Ok(_) => previous,
            Err(_) => {
                let failed = self.detach();
                self.attach(previous);
                failed
            }
        };
        discarded.close(self.server).await?;
        outcome
    }

    /// The replay's schemas before and after the last up of `plans` (not empty).
    async fn replay_ends(&mut self, plans: &[Plan<'_>]) -> Result<(Snapshot, Snapshot)> {
        let mut schemas = self.replay(plans, Replayed::LastTwo).await?;
        let last = schemas.pop().unwrap_or_default();
        let before = schemas.pop().unwrap_or_else(|| last.clone());
        Ok((before, last))
    }

    async fn replay_here(&mut self, plans: &[Plan<'_>], which: Replayed) -> Result<Vec<Snapshot>> {
        self.open_database().await?;
        // The first state whose schema is kept: the empty database, or the one before the last up.
        let first_kept = match which {
            Replayed::EveryStep => 0,
            Replayed::LastTwo => plans.len().saturating_sub(1),
        };
        let mut schemas = Vec::new();
        if first_kept == 0 {
            schemas.push(self.snapshot().await?);
        }
        for (k, plan) in plans.iter().enumerate() {
            if let Err(f) = self.apply(&plan.up).await {
                return Err(Error::environment(
                    format!(
                        "{}:{}: an up that applied before failed on replay: {}",
                        f.file.display(),
                        f.line,
                        f.message
                    ),
                    None,
                ));
            }
            if k + 1 >= first_kept {
                schemas.push(self.snapshot().await?);
            }
        }
        Ok(schemas)
    }
}

/// Which schemas a replay keeps. A step-mode mismatch needs only the two around the last up:
/// a snapshot per replayed step would make a long chain with many bad downs quadratic.
#[derive(Clone, Copy)]
enum Replayed {
    /// The empty database's and one after each up.
    EveryStep,
    /// The ones before and after the last up.
    LastTwo,
}

async fn run_on_server(
    server: &dyn Server,
    plans: &[Plan<'_>],
    mode: RoundtripMode,
    settings: &Settings<'_>,
    printer: &Printer,
    report: &mut Report,
    (observed, captured, nondeterministic): (
        &mut Observation,
        &mut Vec<(String, chain::Script)>,
        &mut Vec<Finding>,
    ),
) -> Result<()> {
    let mut session = Session::open(
        server,
        settings.observe,
        settings.runner,
        settings.session_sql,
        settings.statement_timeout,
        // A server given by URL is shared: only the throwaway database is migcheck's to change.
        server.provider() == "url" && !settings.url_privileged,
    )
    .await?;
    session.migration_timeout = settings.migration_timeout;
    let mut found = Nondeterminism {
        dialect: Some(server.info().engine.dialect()),
        ..Default::default()
    };
    let outcome = match mode {
        _ if settings.apply_only => apply_only(&mut session, plans, printer, report).await,
        RoundtripMode::Step => {
            step_mode(&mut session, plans, settings, printer, report, &mut found).await
        }
        RoundtripMode::Full => {
            full_mode(&mut session, plans, settings, printer, report, &mut found).await
        }
    };
    *nondeterministic = found.findings;
    if snapshot::check_enabled() {
        // The developer switch's evidence that the incremental path ran and matched.
        let (incremental, full, checked) = snapshot::incremental_counts();
        eprintln!(
            "migcheck: MIGCHECK_SNAPSHOT_CHECK: {checked} of {incremental} incremental snapshots \
             compared equal to full ones; {full} snapshots were full"
        );
    }
    if let Some(recorder) = session.recorder.take() {
        *observed = recorder.finish();
        tracing::info!(
            statements = observed.statements,
            ms = ms(observed.time),
            "observed locks and rewrites"
        );
    }
    *captured = std::mem::take(&mut session.captured);
    if let Some(fatal) = session.fatal.take() {
        let _ = session.close().await;
        return Err(fatal);
    }
    let final_snapshot = outcome?;
    let all_applied = plans.iter().all(|p| {
        report.checks.iter().any(|c| {
            c.name == "upgrade"
                && c.migration.as_deref() == Some(p.migration.id.as_str())
                && c.status == Status::Pass
        })
    });
    if let Some(applier) = session.applier.as_mut() {
        if let Some(check) = applier.check_chain_applied(plans, all_applied).await {
            printer.check(&check);
            report.checks.push(check);
        }
    }
    if let Some(snap) = &final_snapshot {
        for path in &settings.snapshot_out {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            write_snapshot(path, snap)?;
        }
    }
    if let Some(expected) = settings.expected {
        let check = expected_snapshot_check(expected, final_snapshot.as_ref(), &settings.policy);
        printer.check(&check);
        report.checks.push(check);
    }
    if settings.keep && server.provider() == "docker" {
        // The container outlives the run: leave the verified database in it for inspection.
        if let Some(db) = &session.db {
            let url = if settings.show_password {
                db.url.expose().to_string()
            } else {
                db.url.redacted()
            };
            printer.warning(&format!(
                "kept: {url}\n(the container keeps running; remove it with `migcheck cleanup`)"
            ));
        }
        return Ok(());
    }
    let _tearing_down = timing::enter(Bucket::Teardown);
    session.close().await
}

/// Properties shown to be non-deterministic, and one finding per object at the migration
/// that creates it.
#[derive(Default)]
struct Nondeterminism {
    masks: Masks,
    findings: Vec<Finding>,
    /// How the migrations' files split into statements, to point a finding at one.
    dialect: Option<Dialect>,
}

impl Nondeterminism {
    /// Compare the first run's schemas with a replay of the same ups (`pairs` of first-run
    /// and replayed schema); a property that differs between two runs of identical SQL is not
    /// deterministic. `replayed[j]` is the replay's schema after `j` ups, which tells which
    /// migration set the property. Returns whether anything new was found.
    fn learn(
        &mut self,
        pairs: &[(&Snapshot, &Snapshot)],
        replayed: &[Snapshot],
        plans: &[Plan<'_>],
    ) -> bool {
        let mut found = Masks::new();
        for (first, again) in pairs {
            for (path, keys) in nondeterministic(first, again) {
                for key in keys {
                    if !self.masks.get(&path).is_some_and(|k| k.contains(&key)) {
                        found.entry(path.clone()).or_default().insert(key);
                    }
                }
            }
        }
        for (path, keys) in &found {
            let value = |s: &Snapshot, key: &str| {
                s.objects
                    .get(path)
                    .and_then(|o| o.properties.get(key))
                    .cloned()
            };
            // The last migration of the replay that changed one of these properties.
            let creator = (1..replayed.len())
                .rev()
                .find(|&j| {
                    keys.iter()
                        .any(|k| value(&replayed[j], k) != value(&replayed[j - 1], k))
                })
                .and_then(|j| plans.get(j - 1));
            if let Some(plan) = creator {
                let dialect = self.dialect.unwrap_or(Dialect::Postgres);
                self.findings
                    .push(nondeterministic_finding(plan, dialect, path, keys));
            }
            self.masks
                .entry(path.clone())
                .or_default()
                .extend(keys.iter().cloned());
        }
        !found.is_empty()
    }
}

/// Properties of objects that really differ (not only cosmetically) between two runs.
fn nondeterministic(first: &Snapshot, again: &Snapshot) -> Masks {
    let cmp = compare::compare(first, again, CosmeticPolicy::Ignore, "", "");
    let changed: Vec<&str> = cmp
        .changes
        .iter()
        .filter(|c| c.change == ChangeKind::Changed)
        .map(|c| c.object.as_str())
        .collect();
    compare::differing_properties(first, again)
        .into_iter()
        .filter(|(path, _)| changed.contains(&path.as_str()))
        .collect()
}

fn nondeterministic_finding(
    plan: &Plan<'_>,
    dialect: Dialect,
    path: &str,
    keys: &std::collections::BTreeSet<String>,
) -> Finding {
    let keys = keys.iter().cloned().collect::<Vec<_>>().join(", ");
    // The statement that names the object (the last word of its path).
    let name = path
        .rsplit([' ', '.'])
        .next()
        .unwrap_or(path)
        .split('(')
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    let statements = crate::sql::split_as_sent(&plan.migration.up, dialect).unwrap_or_default();
    let statement = statements
        .iter()
        .find(|s| s.sql.to_ascii_lowercase().contains(&name));
    Finding {
        rule: "nondeterministic-definition".to_string(),
        severity: "warning".to_string(),
        file: plan.up.file.display().to_string(),
        line: statement.map(|s| s.line),
        column: statement.map(|_| 1),
        message: format!(
            "{path}: {keys} differs between two runs of the same migrations: it captured a value \
             when the migration ran (e.g. `now()` or `'now'::timestamp` frozen into the \
             definition), a latent bug; round trips do not compare it"
        ),
        statement: statement.map(|s| s.sql.split_whitespace().collect::<Vec<_>>().join(" ")),
        help: Some(
            "compute the value when the object is used (a function call evaluated per query, \
             e.g. `now()` inside a view's WHERE on PostgreSQL is evaluated per query, but \
             `'now'::timestamp` is folded once), or pass it in"
                .to_string(),
        ),
        migration: Some(plan.migration.id.clone()),
        ..Default::default()
    }
}

/// Returns the schema after the last migration that applied.
async fn step_mode(
    session: &mut Session<'_>,
    plans: &[Plan<'_>],
    settings: &Settings<'_>,
    printer: &Printer,
    report: &mut Report,
    found: &mut Nondeterminism,
) -> Result<Option<Snapshot>> {
    let mut before = session.snapshot().await?;
    // Why the rest of the chain is not run, once it cannot be.
    let mut halted_by: Option<String> = None;
    for (i, plan) in plans.iter().enumerate() {
        let id = &plan.migration.id;
        if let Some(why) = &halted_by {
            let upgrade = skipped("upgrade", plan, why);
            let roundtrip = skipped("roundtrip", plan, why);
            printer.migration(&upgrade, Some(&roundtrip));
            report.checks.extend([upgrade, roundtrip]);
            continue;
        }
        printer.working_on("verifying", id);
        let (upgrade, mut after, deployed) = match session.apply_first(&plan.up, id).await {
            Ok(took) => {
                let after = session.snapshot().await?;
                let deployed = session.check_deployed(plan).await;
                (upgrade_passed(plan, took), after, deployed)
            }
            Err(f) => {
                let upgrade = apply_failed("upgrade", plan, &f, "up failed");
                let roundtrip = skipped("roundtrip", plan, "not run: up failed");
                printer.migration(&upgrade, Some(&roundtrip));
                report.checks.extend([upgrade, roundtrip]);
                halted_by = Some(format!("not run: {id} did not apply"));
                continue;
            }
        };
        let roundtrip = match roundtrip_step(session, plan, &after, settings).await? {
            Roundtrip::Decided(check, diverged) => {
                if diverged {
                    // Later migrations must build on the schema the chain really produces.
                    match session.replay_ends(&plans[..=i]).await {
                        Ok(ends) => after = ends.1,
                        Err(e) => halted_by = Some(replay_halt(id, &e)),
                    }
                }
                check
            }
            Roundtrip::Ran(run) => {
                let judged = judge_step(plan, &before, &after, &run, settings, &found.masks);
                if judged.diverged || judged.mismatch {
                    // A second run of the same ups: a difference that recurs between two runs
                    // of identical SQL is not the down's fault. The replay is also the schema
                    // later migrations build on.
                    let (replayed_before, replayed_after) = match session
                        .replay_ends(&plans[..=i])
                        .await
                    {
                        Ok(ends) => ends,
                        // The database still holds `after`: the verdict stands as judged.
                        Err(e) if !judged.diverged => {
                            printer.warning(&format!(
                                "could not replay the ups to tell a non-deterministic definition from a bad down: {e}"
                            ));
                            printer.migration(&upgrade, Some(&judged.check));
                            report.checks.extend([upgrade, judged.check]);
                            before = after;
                            continue;
                        }
                        Err(e) => {
                            // An up that cannot run twice on one server (it left a role or
                            // another database behind): the verdict stands, the rest halts.
                            printer.migration(&upgrade, Some(&judged.check));
                            report.checks.extend([upgrade, judged.check]);
                            halted_by = Some(replay_halt(id, &e));
                            continue;
                        }
                    };
                    let pairs = [(&before, &replayed_before), (&after, &replayed_after)];
                    let differs = pairs
                        .iter()
                        .any(|(first, again)| !nondeterministic(first, again).is_empty());
                    // Only when two runs of the same ups differ is a snapshot per step needed,
                    // to name the migration that set the property (rare: a frozen 'now').
                    let per_step = if differs {
                        session.replay(&plans[..=i], Replayed::EveryStep).await?
                    } else {
                        Vec::new()
                    };
                    let check = if differs && found.learn(&pairs, &per_step, &plans[..=i]) {
                        let mut check =
                            judge_step(plan, &before, &after, &run, settings, &found.masks).check;
                        check.notes.extend(masked_notes(&found.masks, &pairs));
                        check
                    } else {
                        judged.check
                    };
                    after = per_step.last().cloned().unwrap_or(replayed_after);
                    check
                } else {
                    judged.check
                }
            }
        };
        printer.migration(&upgrade, Some(&roundtrip));
        report.checks.extend([upgrade, roundtrip]);
        if let Some(check) = deployed {
            printer.check(&check);
            report.checks.push(check);
        }
        before = after;
    }
    Ok(Some(before))
}

/// Notes for the masked properties that differed in this check's comparisons.
fn masked_notes(masks: &Masks, pairs: &[(&Snapshot, &Snapshot)]) -> Vec<String> {
    let mut notes: Vec<String> = pairs
        .iter()
        .flat_map(|(a, b)| compare::differing_properties(a, b))
        .flat_map(|(path, keys)| {
            let masked = masks.get(&path).cloned().unwrap_or_default();
            keys.into_iter()
                .filter(move |k| masked.contains(k))
                .map(move |k| {
                    format!("{path}: {k} is not deterministic (see nondeterministic-definition); not compared")
                })
        })
        .collect();
    notes.sort();
    notes.dedup();
    notes
}

/// A step applied, with the schema after it, or its failure.
type Applied = std::result::Result<(Duration, Snapshot), ApplyFailure>;

/// What a round trip did; judged against the expected schemas by `judge_step`.
struct StepRun {
    down: Applied,
    /// Not run when the down failed.
    reapply: Option<Applied>,
    /// A failed down left the database without the schema after the up.
    down_diverged: bool,
    duration: Duration,
}

enum Roundtrip {
    /// No round trip to compare (no down, or declared irreversible): the check, and whether
    /// the database no longer holds the schema after the up.
    Decided(CheckReport, bool),
    Ran(StepRun),
}

/// Down then up again from the schema after the migration.
async fn roundtrip_step(
    session: &mut Session<'_>,
    plan: &Plan<'_>,
    after: &Snapshot,
    settings: &Settings<'_>,
) -> Result<Roundtrip> {
    let Some(down) = &plan.down else {
        return Ok(Roundtrip::Decided(
            no_down(plan, settings.require_down),
            false,
        ));
    };
    let started = Instant::now();
    let down = match session.apply(down).await {
        Err(f) if f.irreversible => {
            // Declared irreversible: reported like a migration without a down.
            let diverged = session.snapshot().await? != *after;
            let mut check = no_down(plan, settings.require_down);
            check.message = format!("not reversible: {}", f.message);
            check.file = Some(f.file.display().to_string());
            check.line = Some(f.line);
            return Ok(Roundtrip::Decided(check, diverged));
        }
        Err(f) => {
            // A rolled-back down leaves `after` in place; a half-applied one does not.
            let down_diverged = f.partially_applied || session.snapshot().await? != *after;
            return Ok(Roundtrip::Ran(StepRun {
                down: Err(f),
                reapply: None,
                down_diverged,
                duration: started.elapsed(),
            }));
        }
        Ok(took) => Ok((took, session.snapshot().await?)),
    };
    let reapply = match session.apply(&plan.up).await {
        Err(f) => Err(f),
        Ok(took) => Ok((took, session.snapshot().await?)),
    };
    Ok(Roundtrip::Ran(StepRun {
        down,
        reapply: Some(reapply),
        down_diverged: false,
        duration: started.elapsed(),
    }))
}

struct Judged {
    check: CheckReport,
    /// The database no longer holds the schema after the up.
    diverged: bool,
    /// A schema comparison failed.
    mismatch: bool,
}

/// The round-trip check of one migration in step mode.
fn judge_step(
    plan: &Plan<'_>,
    before: &Snapshot,
    after: &Snapshot,
    run: &StepRun,
    settings: &Settings<'_>,
    masks: &Masks,
) -> Judged {
    let id = &plan.migration.id;
    let down_file = plan.down.as_ref().map_or(&plan.up.file, |d| &d.file);
    let mut check = base_check("roundtrip", plan, down_file);
    check.duration_ms = ms(run.duration);
    let down_phase = match &run.down {
        Err(f) => {
            let phase = phase_failed("down", f);
            fail_with(&mut check, f, format!("down of {id} failed: {}", f.message));
            check.phases = vec![phase, skipped_phase("reapply", "not run: down failed")];
            return Judged {
                check,
                diverged: run.down_diverged,
                mismatch: false,
            };
        }
        Ok((took, reverted)) => {
            let cmp = compare::compare_masked(
                before,
                reverted,
                &settings.policy,
                masks,
                &format!("schema before {id} (expected)"),
                &format!("schema after {id} down (actual)"),
            );
            compared_phase("down", *took, &cmp, &mut check, || {
                format!("down of {id} did not restore the schema before it")
            })
        }
    };
    let down_mismatch = down_phase.schema_differs;
    let reapply_phase = match run.reapply.as_ref() {
        None | Some(Err(_)) => {
            let f = match run.reapply.as_ref() {
                Some(Err(f)) => f,
                _ => unreachable!("a run without a reapply has a failed down"),
            };
            let phase = phase_failed("reapply", f);
            if check.status != Status::Fail {
                fail_with(
                    &mut check,
                    f,
                    format!(
                        "up of {id} failed when applied again after its down: {}",
                        f.message
                    ),
                );
            } else {
                append_detail(
                    &mut check,
                    &format!(
                        "then the up failed again: {} ({}:{})",
                        f.message,
                        f.file.display(),
                        f.line
                    ),
                );
            }
            check.phases = vec![down_phase, phase];
            return Judged {
                check,
                diverged: true,
                mismatch: down_mismatch,
            };
        }
        Some(Ok((took, reapplied))) => {
            let cmp = compare::compare_masked(
                after,
                reapplied,
                &settings.policy,
                masks,
                &format!("schema after {id} (expected)"),
                &format!("schema after {id} down and up again (actual)"),
            );
            compared_phase("reapply", *took, &cmp, &mut check, || {
                format!("up of {id} applied again after its down gave another schema")
            })
        }
    };
    let diverged = reapply_phase.status == Status::Fail;
    let mismatch = down_mismatch || reapply_phase.schema_differs;
    check.phases = vec![down_phase, reapply_phase];
    if check.status == Status::Pass {
        check.message = format!("down restored the schema before {id}; up again reproduced it");
    }
    Judged {
        check,
        diverged,
        mismatch,
    }
}

/// `expected_after` adjusted for what the step inherited: an object that the step's
/// migration does not touch (`expected_before` and `expected_after` agree on it) but that the
/// database already held differently (`actual_before`) is expected as inherited. A difference
/// left by one step is then reported once, at that step, not again at every step after it.
fn inherit(
    expected_before: &Snapshot,
    actual_before: &Snapshot,
    expected_after: &Snapshot,
) -> Snapshot {
    let mut out = expected_after.clone();
    let paths: std::collections::BTreeSet<&String> = expected_before
        .objects
        .keys()
        .chain(actual_before.objects.keys())
        .collect();
    for path in paths {
        let (eb, ab) = (
            expected_before.objects.get(path),
            actual_before.objects.get(path),
        );
        // An object is untouched when neither it nor its table changes (dropping a table drops
        // the inherited index on it too).
        let owner = path.split_once(" > ").map(|(table, _)| table);
        let touched = |p: &str| expected_before.objects.get(p) != expected_after.objects.get(p);
        if eb == ab || touched(path) || owner.is_some_and(touched) {
            continue;
        }
        match ab {
            Some(o) => out.objects.insert(path.clone(), o.clone()),
            None => out.objects.remove(path),
        };
    }
    out
}

/// How the walk down ended for one migration in full mode.
enum Down {
    Missing,
    Irreversible(ApplyFailure),
    Ran(Applied),
}

/// Apply everything, then all downs from the top, then all ups again, comparing at each step.
async fn full_mode(
    session: &mut Session<'_>,
    plans: &[Plan<'_>],
    settings: &Settings<'_>,
    printer: &Printer,
    report: &mut Report,
    found: &mut Nondeterminism,
) -> Result<Option<Snapshot>> {
    // Repeatable migrations are re-run, never undone: the round trip covers versioned
    // migrations and the repeatables are applied after it, as their tool does.
    let split = plans
        .iter()
        .position(|p| p.migration.repeatable)
        .unwrap_or(plans.len());
    let (versioned, repeatables) = plans.split_at(split);

    let mut schemas = vec![session.snapshot().await?];
    let mut upgrades = Vec::new();
    let mut deployed = Vec::new();
    let mut halted_by: Option<String> = None;
    for plan in versioned {
        if let Some(failed) = &halted_by {
            upgrades.push(skipped(
                "upgrade",
                plan,
                &format!("not run: {failed} did not apply"),
            ));
            continue;
        }
        match session.apply_first(&plan.up, &plan.migration.id).await {
            Ok(took) => {
                schemas.push(session.snapshot().await?);
                upgrades.push(upgrade_passed(plan, took));
                deployed.extend(session.check_deployed(plan).await);
            }
            Err(f) => {
                upgrades.push(apply_failed("upgrade", plan, &f, "up failed"));
                halted_by = Some(plan.migration.id.clone());
            }
        }
    }
    for upgrade in &upgrades {
        printer.migration(upgrade, None);
    }
    report.checks.extend(upgrades);
    for check in deployed {
        printer.check(&check);
        report.checks.push(check);
    }
    if let Some(failed) = halted_by {
        for plan in versioned {
            let check = skipped(
                "roundtrip",
                plan,
                &format!("not run: {failed} did not apply"),
            );
            printer.check(&check);
            report.checks.push(check);
        }
        return Ok(schemas.pop());
    }
    let top = schemas.last().cloned().unwrap_or_default();

    // Down, from the top; `reached` is how many migrations are still applied.
    let n = versioned.len();
    let mut downs: Vec<Option<Down>> = (0..n).map(|_| None).collect();
    let mut reached = n;
    for (i, plan) in versioned.iter().enumerate().rev() {
        let Some(down) = &plan.down else {
            downs[i] = Some(Down::Missing);
            break;
        };
        match session.apply(down).await {
            Err(f) if f.irreversible => {
                downs[i] = Some(Down::Irreversible(f));
                break;
            }
            Err(f) => {
                downs[i] = Some(Down::Ran(Err(f)));
                break;
            }
            Ok(took) => {
                downs[i] = Some(Down::Ran(Ok((took, session.snapshot().await?))));
                reached = i;
            }
        }
    }
    // Up again from wherever the downs stopped.
    let mut ups: Vec<Option<Applied>> = (0..n).map(|_| None).collect();
    for i in reached..n {
        match session.apply(&versioned[i].up).await {
            Err(f) => {
                ups[i] = Some(Err(f));
                break;
            }
            Ok(took) => ups[i] = Some(Ok((took, session.snapshot().await?))),
        }
    }

    let walk = FullWalk {
        plans: versioned,
        schemas: &schemas,
        top: &top,
        downs: &downs,
        ups: &ups,
        reached,
    };
    let (mut checks, mismatch) = walk.judge(settings, &found.masks);
    if mismatch {
        // A second run of the same ups: what differs between two runs of identical SQL is not
        // the downs' fault.
        match session.replay(versioned, Replayed::EveryStep).await {
            Ok(replayed) => {
                let pairs: Vec<(&Snapshot, &Snapshot)> = schemas.iter().zip(&replayed).collect();
                if found.learn(&pairs, &replayed, versioned) {
                    checks = walk.judge(settings, &found.masks).0;
                }
            }
            // The session keeps its database: the verdicts stand as judged.
            Err(e) => printer.warning(&format!(
                "could not replay the ups to tell a non-deterministic definition from a bad down: {e}"
            )),
        }
    }
    for mut check in checks {
        if check.status == Status::Pass && check.message.is_empty() {
            check.message = format!(
                "full round trip through {} matched",
                check.migration.clone().unwrap_or_default()
            );
        }
        printer.check(&check);
        report.checks.push(check);
    }

    let mut last = session.snapshot().await?;
    if last != top {
        tracing::debug!("schema after the full round trip differs from the first upgrade");
    }
    for plan in repeatables {
        let upgrade = match session.apply(&plan.up).await {
            Ok(took) => {
                last = session.snapshot().await?;
                upgrade_passed(plan, took)
            }
            Err(f) => apply_failed("upgrade", plan, &f, "up failed"),
        };
        let roundtrip = no_down(plan, false);
        printer.migration(&upgrade, Some(&roundtrip));
        report.checks.extend([upgrade, roundtrip]);
    }
    Ok(Some(last))
}

/// Everything a full round trip did, judged once the walk is over (and again once a replay
/// has shown what is not deterministic).
struct FullWalk<'w, 'p> {
    plans: &'w [Plan<'p>],
    /// The first run's schemas: `schemas[i]` before migration `i`, `schemas[n]` at the top.
    schemas: &'w [Snapshot],
    top: &'w Snapshot,
    downs: &'w [Option<Down>],
    ups: &'w [Option<Applied>],
    reached: usize,
}

impl FullWalk<'_, '_> {
    /// One round-trip check per migration, and whether a schema comparison failed.
    fn judge(&self, settings: &Settings<'_>, masks: &Masks) -> (Vec<CheckReport>, bool) {
        let n = self.plans.len();
        let mut checks: Vec<Option<CheckReport>> = (0..n).map(|_| None).collect();
        let mut mismatch = false;
        let reverted = |i: usize| match &self.downs[i] {
            Some(Down::Ran(Ok((_, s)))) => Some(s),
            _ => None,
        };
        for i in (0..n).rev() {
            let plan = &self.plans[i];
            let id = &plan.migration.id;
            let Some(down) = &self.downs[i] else {
                continue;
            };
            let file = plan.down.as_ref().map_or(&plan.up.file, |d| &d.file);
            let mut check = base_check("roundtrip", plan, file);
            match down {
                Down::Missing => check = no_down(plan, settings.require_down),
                Down::Irreversible(f) => {
                    check = no_down(plan, settings.require_down);
                    check.message = format!("not reversible: {}", f.message);
                }
                Down::Ran(Err(f)) => {
                    let phase = phase_failed("down", f);
                    fail_with(&mut check, f, format!("down of {id} failed: {}", f.message));
                    check.phases = vec![phase];
                    check.duration_ms = ms(f.duration);
                }
                Down::Ran(Ok((took, actual))) => {
                    let inherited = if i + 1 == n {
                        self.top
                    } else {
                        reverted(i + 1).unwrap_or(self.top)
                    };
                    let expected = inherit(&self.schemas[i + 1], inherited, &self.schemas[i]);
                    let cmp = compare::compare_masked(
                        &expected,
                        actual,
                        &settings.policy,
                        masks,
                        &format!("schema before {id} (expected)"),
                        &format!("schema after the downs from the top to {id} (actual)"),
                    );
                    let phase = compared_phase("down", *took, &cmp, &mut check, || {
                        format!(
                            "going down from the top, {id}'s down did not restore the schema before it"
                        )
                    });
                    mismatch |= phase.schema_differs;
                    check.duration_ms = ms(*took);
                    check.phases = vec![phase];
                }
            }
            checks[i] = Some(check);
        }
        for (i, up) in self.ups.iter().enumerate().skip(self.reached) {
            let Some(up) = up else {
                break;
            };
            let plan = &self.plans[i];
            let id = &plan.migration.id;
            let check =
                checks[i].get_or_insert_with(|| base_check("roundtrip", plan, &plan.up.file));
            match up {
                Err(f) => {
                    check.phases.push(phase_failed("reapply", f));
                    if check.status != Status::Fail {
                        fail_with(
                            check,
                            f,
                            format!("up of {id} failed on the way back up: {}", f.message),
                        );
                    }
                }
                Ok((took, actual)) => {
                    let inherited = match i.checked_sub(1).and_then(|p| self.ups[p].as_ref()) {
                        Some(Ok((_, s))) if i > self.reached => s,
                        _ => reverted(self.reached).unwrap_or(self.top),
                    };
                    let expected = inherit(&self.schemas[i], inherited, &self.schemas[i + 1]);
                    let cmp = compare::compare_masked(
                        &expected,
                        actual,
                        &settings.policy,
                        masks,
                        &format!("schema after {id} (expected)"),
                        &format!("schema after {id} on the way back up (actual)"),
                    );
                    let phase = compared_phase("reapply", *took, &cmp, check, || {
                        format!("on the way back up, {id} gave another schema than the first time")
                    });
                    mismatch |= phase.schema_differs;
                    check.duration_ms += ms(*took);
                    check.phases.push(phase);
                }
            }
        }
        let checks = self
            .plans
            .iter()
            .zip(checks)
            .map(|(plan, check)| {
                check.unwrap_or_else(|| {
                    skipped(
                        "roundtrip",
                        plan,
                        "not reached: a later migration could not be reverted",
                    )
                })
            })
            .collect();
        (checks, mismatch)
    }
}

/// With a base (`--since`, or a CI pull or merge request's): judge the chain's history.
fn judge_history(
    args: &VerifyArgs,
    chain: &Chain,
    reader: &History,
    options: &DiscoverOptions,
    lint_config: Option<&lint::LintConfig>,
    printer: &Printer,
) -> Result<Option<history::Judgement>> {
    let Some(wanted) = history::base::wanted(args.since.as_deref(), args.no_since, |name| {
        std::env::var(name).ok()
    }) else {
        return Ok(None);
    };
    let Some(config) = lint_config else {
        if wanted.explicit() {
            return Err(Error::Usage(
                "--since judges history with lint rules: it cannot be combined with --no-lint"
                    .to_string(),
            ));
        }
        return Ok(None);
    };
    if let History::NotJudged(why) = reader {
        printer.warning(&format!(
            "{} names the base {}, but {why}: every migration is judged",
            wanted.source, wanted.reference
        ));
        return Ok(None);
    }
    let Some(resolved) = history::base::resolve(&wanted, &args.path)? else {
        printer.warning(&format!(
            "{} names the base {}, but {} is not in a git work tree: every migration is judged",
            wanted.source,
            wanted.reference,
            args.path.display()
        ));
        return Ok(None);
    };
    let graph = match reader {
        History::Revisions(graph) => Some(&**graph),
        History::Files | History::NotJudged(_) => None,
    };
    Ok(Some(history::judge(
        &resolved, &args.path, chain, graph, options, config,
    )?))
}

/// `--expect-snapshot FILE`, read before any database is started (bad input is exit 2).
fn read_snapshot(path: &Path) -> Result<Snapshot> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::input(
            path,
            None,
            format!("cannot read the expected snapshot: {e}"),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::input(
            path,
            Some(e.line()),
            format!("not a migcheck schema snapshot (write one with `migcheck snapshot`): {e}"),
        )
    })
}

/// `migcheck snapshot`: every up once, then one snapshot.
async fn apply_only(
    session: &mut Session<'_>,
    plans: &[Plan<'_>],
    printer: &Printer,
    report: &mut Report,
) -> Result<Option<Snapshot>> {
    for plan in plans {
        match session.apply_first(&plan.up, &plan.migration.id).await {
            Ok(took) => {
                let check = upgrade_passed(plan, took);
                printer.migration(&check, None);
                report.checks.push(check);
            }
            Err(f) => {
                let check = apply_failed("upgrade", plan, &f, "up failed");
                printer.migration(&check, None);
                report.checks.push(check);
                return Ok(None);
            }
        }
    }
    Ok(Some(session.snapshot().await?))
}

fn write_snapshot(path: &Path, snapshot: &Snapshot) -> Result<()> {
    let mut text = serde_json::to_string_pretty(snapshot).unwrap_or_default();
    text.push('\n');
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(paths: &[&str]) -> Snapshot {
        Snapshot {
            objects: paths
                .iter()
                .map(|p| (p.to_string(), snapshot::SchemaObject::default()))
                .collect(),
        }
    }

    #[test]
    fn an_inherited_leftover_is_expected_where_the_step_does_not_touch_it() {
        // Migration 1 creates table b; the down of migration 2 left extension x behind.
        let before = schema(&["table a"]);
        let after = schema(&["table a", "table b"]);
        let inherited = schema(&["table a", "table b", "extension x"]);
        let expected = inherit(&after, &inherited, &before);
        assert_eq!(expected, schema(&["table a", "extension x"]));
        // An index left on a table that the step drops goes with the table.
        let inherited = schema(&["table a", "table b", "table b > index i"]);
        assert_eq!(inherit(&after, &inherited, &before), before);
    }
}
