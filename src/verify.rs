//! The verify pipeline: chain checks, provision, upgrade, round trips, reports.
//!
//! Step mode (default), for each migration i: apply up (snapshot S_i), run its down (must equal
//! S_{i-1}), apply up again (must equal S_i). Full mode: apply everything, go all the way down,
//! then all the way up, comparing at every step. A failure never stops the run early unless the
//! chain cannot go on (an up that does not apply): one run reports every problem.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::alembic;
use crate::apply::{self, AlembicStep, ApplyFailure, PreparedScript};
use crate::chain::{
    self, Chain, ChainProblem, DiscoverOptions, Format, Migration, ProblemSeverity,
};
use crate::cli::{ColorChoice, RoundtripMode, VerifyArgs};
use crate::compare::{self, Comparison, CosmeticPolicy};
use crate::engine::Dialect;
use crate::error::{exit, Error, Result};
use crate::lint;
use crate::observe::{self, Observation, Recorder};
use crate::provision::{self, cleanup, Conn, Database, ProvisionOptions, Server};
use crate::redact::{self, SecretUrl};
use crate::report::terminal::Printer;
use crate::report::{
    self, CheckReport, EngineReport, MigrationReport, OptionsReport, Phase, ProviderReport, Report,
    Status, Timings, Verdict,
};
use crate::snapshot::{self, Snapshot};
use crate::sql;

/// Chain problems that make the order of migrations meaningless: nothing is applied.
const BLOCKING_PROBLEMS: &[&str] = &["duplicate-version", "mixed-formats"];

pub async fn run(args: VerifyArgs, color: ColorChoice) -> Result<u8> {
    let started = Instant::now();
    let started_at = now_rfc3339();
    let printer = Printer::new(color, args.quiet);
    let mut report = Report {
        report_version: report::REPORT_VERSION,
        migcheck_version: env!("CARGO_PKG_VERSION").to_string(),
        verdict: Verdict::Fail,
        exit_code: exit::GATE_FAILED,
        started_at,
        duration_ms: 0,
        path: args.path.display().to_string(),
        format: String::new(),
        engine: None,
        provider: None,
        options: OptionsReport {
            roundtrip: args.roundtrip.name().to_string(),
            require_down: args.require_down,
            cosmetic: format!("{:?}", args.cosmetic).to_lowercase(),
            fail_on: None,
        },
        migrations: Vec::new(),
        checks: Vec::new(),
        findings: Vec::new(),
        timings: Timings::default(),
    };

    let outcome = verify(&args, &printer, &mut report).await;
    report.duration_ms = ms(started.elapsed());
    report.timings.total_ms = report.duration_ms;
    let code = match &outcome {
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
        Err(Error::Interrupted(_)) => return outcome.map(|_| exit::INTERRUPTED),
        Err(e) => {
            // Bad input or a broken environment still leaves evidence for CI: a failed check.
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
    write_reports(&args, &report)?;
    outcome?;
    let mut written: Vec<(&str, &Path)> = Vec::new();
    if let Some(p) = &args.json {
        written.push(("JSON report", p));
    }
    if let Some(p) = &args.junit {
        written.push(("JUnit report", p));
    }
    printer.verdict(&report, &written);
    Ok(code)
}

async fn verify(args: &VerifyArgs, printer: &Printer, report: &mut Report) -> Result<()> {
    let phase = Instant::now();
    let wants_alembic = match args.format {
        Some(f) => f == Format::Alembic,
        None => alembic::chain::is_project(&args.path),
    };
    let graph = if wants_alembic {
        Some(alembic::graph::Graph::load(&args.path)?)
    } else {
        None
    };
    let chain = match &graph {
        Some(g) => alembic::chain::to_chain(g, &args.path, args.allow_multiple_heads),
        None => chain::discover(
            &args.path,
            &DiscoverOptions {
                format: args.format,
                require_down: args.require_down,
            },
        )?,
    };
    report.format = chain.format.name().to_string();
    report.migrations = chain.migrations.iter().map(migration_report).collect();
    let dialect = args.engine.engine.dialect();
    let plans = match &graph {
        Some(g) => prepare_alembic(&chain, g),
        None => prepare(&chain, dialect)?,
    };
    let lint_config = if args.no_lint {
        None
    } else {
        Some(args.rules.resolve(Some(&args.path))?)
    };
    report.options.fail_on = lint_config.as_ref().map(|c| c.fail_on().name().to_string());
    report.timings.chain_ms = ms(phase.elapsed());
    // Findings are read with the server's version once one runs (a rule may depend on it).
    let run_lint = |report: &mut Report,
                    server: Option<&crate::engine::ServerInfo>,
                    observed: Observation,
                    captured: &[(String, chain::Script)]| {
        if let Some(config) = &lint_config {
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
            report.findings = if graph.is_some() {
                // What Alembic really sent, attributed to each revision's file.
                let scripts: Vec<(Option<&str>, &chain::Script)> = captured
                    .iter()
                    .map(|(id, s)| (Some(id.as_str()), s))
                    .collect();
                lint::lint_scripts(&scripts, engine, version, config)
            } else {
                lint::lint_chain(&chain, engine, version, config)
            };
            observe::reconcile(
                &mut report.findings,
                observed,
                config,
                dialect == Dialect::Mysql,
            );
            let fail_on = config.fail_on();
            // --quiet shows the findings that fail the gate, not the advice below it.
            let shown = report.findings.iter().filter(|f| {
                !printer.quiet() || lint::Severity::parse(&f.severity).is_some_and(|s| s >= fail_on)
            });
            for finding in shown {
                printer.finding(finding);
            }
        }
    };

    printer.align(chain.migrations.iter().map(|m| m.id.as_str()));
    printer.header(&report.path, &report.format, chain.migrations.len());
    let chain_check = chain_check(&chain, phase.elapsed());
    printer.chain(&chain_check);
    report.checks.push(chain_check);
    if let Some(blocker) = chain
        .problems
        .iter()
        .find(|p| BLOCKING_PROBLEMS.contains(&p.kind) || alembic::chain::BLOCKING.contains(&p.kind))
    {
        tracing::info!(
            kind = blocker.kind,
            "chain cannot be ordered; no database needed"
        );
        run_lint(report, None, Observation::default(), &[]);
        return Ok(());
    }

    let options = ProvisionOptions {
        engine: args.engine.engine,
        engine_version: args.engine.version.clone(),
        image: args.image.clone(),
        keep: args.keep,
        provider: args.provider,
        url: args.url.clone().map(SecretUrl::new),
        bin_dir: args.bin_dir.clone(),
        startup_timeout: args.startup_timeout(),
    };
    let settings = Settings {
        keep: args.keep,
        show_password: args.show_password,
        policy: args.cosmetic,
        require_down: args.require_down,
        snapshot_out: args.snapshot_out.as_deref(),
        observe: lint_config.as_ref().is_some_and(observe::wanted) && graph.is_none(),
        alembic: graph.as_ref().map(|g| AlembicSettings {
            graph: g,
            options: alembic::driver::DriverOptions {
                python: args.python.clone(),
                url_env: args.url_env.clone(),
                sqlalchemy_scheme: args.sqlalchemy_scheme.clone(),
                startup_timeout: args.startup_timeout(),
                ..Default::default()
            },
        }),
    };
    let result = cleanup::run_guarded(async {
        let phase = Instant::now();
        let server = provision::provision(&options).await?;
        report.timings.server_start_ms = ms(phase.elapsed());
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
        });
        printer.provisioned(&server.describe(), ms(server.startup()));
        if args.keep && server.provider() != "docker" {
            printer.warning(
                "--keep keeps containers only: this server is removed at the end of the run",
            );
        }

        let mut observed = Observation::default();
        let mut captured = Vec::new();
        let outcome = run_on_server(
            &*server,
            &plans,
            args.roundtrip,
            &settings,
            printer,
            report,
            (&mut observed, &mut captured),
        )
        .await;
        run_lint(report, Some(&info), observed, &captured);
        let phase = Instant::now();
        let shutdown = server.shutdown().await;
        report.timings.teardown_ms += ms(phase.elapsed());
        outcome.and(shutdown)
    })
    .await;
    // Whatever happened above, nothing migcheck created may outlive the run.
    cleanup::cleanup_all().await;
    result
}

struct Settings<'a> {
    keep: bool,
    show_password: bool,
    policy: CosmeticPolicy,
    require_down: bool,
    snapshot_out: Option<&'a Path>,
    /// Watch locks and rewrites during the first upgrade of each migration.
    observe: bool,
    /// Set for an Alembic project: steps run through the project's own Alembic.
    alembic: Option<AlembicSettings<'a>>,
}

struct AlembicSettings<'a> {
    graph: &'a alembic::graph::Graph,
    options: alembic::driver::DriverOptions,
}

/// One migration with its scripts split for the engine's dialect.
struct Plan<'a> {
    migration: &'a Migration,
    up: PreparedScript,
    down: Option<PreparedScript>,
}

/// Split every script before any database is started: a malformed file is bad input (exit 2).
fn prepare(chain: &Chain, dialect: Dialect) -> Result<Vec<Plan<'_>>> {
    let prepare_script = |script: &chain::Script| -> Result<PreparedScript> {
        let statements = sql::split(script, dialect)?;
        let flyway_detects = chain.format == Format::Flyway
            && dialect == Dialect::Postgres
            && statements
                .iter()
                .any(|s| must_run_outside_transaction(&s.sql));
        Ok(PreparedScript {
            file: script.file.clone(),
            statements,
            no_transaction: script.no_transaction || flyway_detects,
            alembic: None,
        })
    };
    chain
        .migrations
        .iter()
        .map(|m| {
            Ok(Plan {
                migration: m,
                up: prepare_script(&m.up)?,
                down: m.down.as_ref().map(prepare_script).transpose()?,
            })
        })
        .collect()
}

/// Alembic revisions: upgrade to the revision; down is one step back on its own branch (a merge
/// goes back to its parents, other branches stay applied).
fn prepare_alembic<'c>(chain: &'c Chain, graph: &alembic::graph::Graph) -> Vec<Plan<'c>> {
    let script = |m: &Migration, step: AlembicStep| PreparedScript {
        file: m.up.file.clone(),
        statements: Vec::new(),
        no_transaction: false,
        alembic: Some(step),
    };
    chain
        .migrations
        .iter()
        .map(|m| Plan {
            migration: m,
            up: script(m, AlembicStep::Upgrade(m.id.clone())),
            down: Some(script(
                m,
                AlembicStep::Downgrade(graph.step_back_target(&m.id)),
            )),
        })
        .collect()
}

/// Statements Postgres refuses inside a transaction block; Flyway detects these by itself and
/// runs such a migration outside a transaction, so migcheck does the same for Flyway chains.
pub(crate) fn must_run_outside_transaction(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().collect();
    let starts = |prefix: &[&str]| words.len() >= prefix.len() && words[..prefix.len()] == *prefix;
    (words.contains(&"CONCURRENTLY")
        && (starts(&["CREATE", "INDEX"])
            || starts(&["CREATE", "UNIQUE", "INDEX"])
            || starts(&["DROP", "INDEX"])
            || starts(&["REINDEX"])))
        || starts(&["VACUUM"])
        || starts(&["ALTER", "SYSTEM"])
        || starts(&["CREATE", "DATABASE"])
        || starts(&["DROP", "DATABASE"])
}

/// The throwaway database and the two connections migcheck uses on it: one applies
/// migrations (its session state carries over between migrations, as with the real tools),
/// one reads snapshots with default settings so a migration's `SET search_path` cannot change them.
struct Session<'a> {
    server: &'a dyn Server,
    db: Option<Database>,
    apply_conn: Option<Conn>,
    snapshot_conn: Option<Conn>,
    secrets: Vec<String>,
    migrations_time: Duration,
    snapshots_time: Duration,
    recorder: Option<Recorder>,
    alembic: Option<AlembicRun<'a>>,
    /// SQL Alembic executed during each revision's first upgrade, for the lint.
    captured: Vec<(String, chain::Script)>,
}

/// The project's Alembic, driven through one long-lived process per throwaway database.
struct AlembicRun<'a> {
    settings: &'a AlembicSettings<'a>,
    engine: crate::engine::Engine,
    driver: Option<alembic::driver::Driver>,
}

impl<'a> Session<'a> {
    async fn open(
        server: &'a dyn Server,
        observe: bool,
        alembic: Option<&'a AlembicSettings<'a>>,
    ) -> Result<Session<'a>> {
        let mut session = Session {
            server,
            db: None,
            apply_conn: None,
            snapshot_conn: None,
            secrets: server.admin_url().password().into_iter().collect(),
            migrations_time: Duration::ZERO,
            snapshots_time: Duration::ZERO,
            recorder: observe.then(Recorder::new),
            alembic: alembic.map(|settings| AlembicRun {
                settings,
                engine: server.info().engine,
                driver: None,
            }),
            captured: Vec::new(),
        };
        session.fresh_database().await?;
        Ok(session)
    }

    async fn fresh_database(&mut self) -> Result<()> {
        self.close().await?;
        let db = Database::create(self.server).await?;
        self.apply_conn = Some(db.connect().await?);
        self.snapshot_conn = Some(db.connect().await?);
        tracing::info!(database = %db.name, "throwaway database ready");
        if let Some(run) = &mut self.alembic {
            // The driver's engine is bound to one database: a fresh database, a fresh driver.
            let driver = alembic::driver::Driver::start(
                &run.settings.graph.project,
                run.engine,
                &db.url,
                &run.settings.options,
            )
            .await?;
            run.driver = Some(driver);
        }
        self.db = Some(db);
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        if let Some(driver) = self.alembic.as_mut().and_then(|run| run.driver.take()) {
            if let Err(e) = driver.stop().await {
                tracing::warn!("the Alembic driver did not stop cleanly: {e}");
            }
        }
        for conn in [self.apply_conn.take(), self.snapshot_conn.take()]
            .into_iter()
            .flatten()
        {
            conn.close().await;
        }
        if let Some(db) = self.db.take() {
            db.drop_database(self.server).await?;
        }
        Ok(())
    }

    async fn apply(&mut self, script: &PreparedScript) -> Result<Duration, ApplyFailure> {
        self.apply_with(script, None).await
    }

    /// The first upgrade of a migration: observed when observation is on.
    async fn apply_first(
        &mut self,
        script: &PreparedScript,
        migration: &str,
    ) -> Result<Duration, ApplyFailure> {
        self.apply_with(script, Some(migration)).await
    }

    async fn apply_with(
        &mut self,
        script: &PreparedScript,
        observed_as: Option<&str>,
    ) -> Result<Duration, ApplyFailure> {
        if let Some(step) = &script.alembic {
            let result = self.alembic_step(script, step, observed_as).await;
            return self.account(result);
        }
        let conn = self
            .apply_conn
            .as_mut()
            .expect("session holds a connection while open");
        let result = match (observed_as, self.recorder.as_mut()) {
            (Some(id), Some(recorder)) => {
                apply::apply_observed(conn, script, recorder, Some(id)).await
            }
            _ => apply::apply(conn, script).await,
        };
        self.account(result)
    }

    /// Count the step's time and scrub secrets from its failure.
    fn account(
        &mut self,
        result: Result<Duration, ApplyFailure>,
    ) -> Result<Duration, ApplyFailure> {
        let took = match &result {
            Ok(d) => *d,
            Err(f) => f.duration,
        };
        self.migrations_time += took;
        result.map_err(|mut f| {
            let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
            f.message = redact::scrub(&f.message, &secrets);
            f.detail = redact::scrub(&f.detail, &secrets);
            f
        })
    }

    /// One Alembic upgrade or downgrade through the driver. An exception in the revision is a
    /// failure of the step; a driver that died is too (and the replay that follows restarts it).
    async fn alembic_step(
        &mut self,
        script: &PreparedScript,
        step: &AlembicStep,
        first_upgrade_of: Option<&str>,
    ) -> Result<Duration, ApplyFailure> {
        let started = Instant::now();
        let fail =
            |message: String, detail: String, line: usize, irreversible: bool| ApplyFailure {
                file: script.file.clone(),
                line,
                message,
                detail,
                partially_applied: true,
                irreversible,
                duration: started.elapsed(),
            };
        let Some(run) = self.alembic.as_mut() else {
            return Err(fail(
                "no Alembic driver in this session".into(),
                String::new(),
                1,
                false,
            ));
        };
        let mysql = run.engine.dialect() == Dialect::Mysql;
        let Some(driver) = run.driver.as_mut() else {
            return Err(fail(
                "the Alembic driver is not running".into(),
                String::new(),
                1,
                false,
            ));
        };
        let (result, downgrade) = match step {
            AlembicStep::Upgrade(target) => (driver.upgrade(target).await, false),
            AlembicStep::Downgrade(target) => (driver.downgrade(target).await, true),
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                let tail = driver.stderr_tail();
                run.driver = None;
                return Err(fail(e.to_string(), tail, 1, false));
            }
        };
        if let Some(err) = &result.error {
            let file = err.file.clone().unwrap_or_else(|| script.file.clone());
            let line = traceback_line(&err.traceback, &file).unwrap_or(1);
            let irreversible = downgrade && err.kind == "NotImplementedError";
            let mut f = fail(
                format!("{}: {}", err.kind, err.message.trim()),
                err.traceback.clone(),
                line,
                irreversible,
            );
            f.file = file;
            // Postgres rolls the failed step back; MySQL has committed its DDL statements.
            f.partially_applied = mysql;
            return Err(f);
        }
        if let Some(id) = first_upgrade_of {
            for applied in result.steps.iter().filter(|s| s.revision == id) {
                self.captured.push((id.to_string(), applied.to_script()));
            }
        }
        Ok(result.wall)
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let started = Instant::now();
        let conn = self
            .snapshot_conn
            .as_mut()
            .expect("session holds a connection while open");
        let snap = snapshot::take(conn).await;
        self.snapshots_time += started.elapsed();
        snap
    }

    /// Start over on a new database and replay the ups of `plans` (after a failure left the
    /// schema in a state later steps must not build on).
    async fn replay(&mut self, plans: &[Plan<'_>]) -> Result<Snapshot> {
        tracing::info!(
            migrations = plans.len(),
            "replaying ups on a fresh database"
        );
        self.fresh_database().await?;
        for plan in plans {
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
        }
        self.snapshot().await
    }
}

async fn run_on_server(
    server: &dyn Server,
    plans: &[Plan<'_>],
    mode: RoundtripMode,
    settings: &Settings<'_>,
    printer: &Printer,
    report: &mut Report,
    (observed, captured): (&mut Observation, &mut Vec<(String, chain::Script)>),
) -> Result<()> {
    let mut session = Session::open(server, settings.observe, settings.alembic.as_ref()).await?;
    let outcome = match mode {
        RoundtripMode::Step => step_mode(&mut session, plans, settings, printer, report).await,
        RoundtripMode::Full => full_mode(&mut session, plans, settings, printer, report).await,
    };
    report.timings.migrations_ms = ms(session.migrations_time);
    report.timings.snapshots_ms = ms(session.snapshots_time);
    if let Some(recorder) = session.recorder.take() {
        *observed = recorder.finish();
        tracing::info!(
            statements = observed.statements,
            ms = ms(observed.time),
            "observed locks and rewrites"
        );
    }
    *captured = std::mem::take(&mut session.captured);
    let final_snapshot = outcome?;
    if let Some(run) = &mut session.alembic {
        let check = alembic_version_check(run, plans, report).await;
        printer.check(&check);
        report.checks.push(check);
    }
    if let (Some(path), Some(snap)) = (settings.snapshot_out, final_snapshot) {
        write_snapshot(path, &snap)?;
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
    let phase = Instant::now();
    let closed = session.close().await;
    report.timings.teardown_ms += ms(phase.elapsed());
    closed
}

/// After the chain: `alembic_version` must hold exactly the heads of the applied revisions
/// (bookkeeping is left out of schema comparisons, so it is checked here).
async fn alembic_version_check(
    run: &mut AlembicRun<'_>,
    plans: &[Plan<'_>],
    report: &Report,
) -> CheckReport {
    let mut check = CheckReport::new("alembic_version", None, Status::Pass, "");
    let all_applied = plans.iter().all(|p| {
        report.checks.iter().any(|c| {
            c.name == "upgrade"
                && c.migration.as_deref() == Some(p.migration.id.as_str())
                && c.status == Status::Pass
        })
    });
    if !all_applied {
        check.status = Status::Skip;
        check.message = "not checked: not every revision applied".to_string();
        return check;
    }
    let started = Instant::now();
    let expected = run
        .settings
        .graph
        .expected_current(plans.iter().map(|p| p.migration.id.as_str()));
    let current = match run.driver.as_mut() {
        Some(d) => d.current().await,
        None => Err(Error::environment(
            "the Alembic driver is not running",
            None,
        )),
    };
    check.duration_ms = ms(started.elapsed());
    match current {
        Ok(mut actual) => {
            actual.sort();
            if actual == expected {
                check.message = format!("holds the heads: {}", expected.join(", "));
            } else {
                check.status = Status::Fail;
                check.message = format!(
                    "alembic_version holds [{}] after the full upgrade, expected the heads [{}]",
                    actual.join(", "),
                    expected.join(", ")
                );
            }
        }
        Err(e) => {
            check.status = Status::Fail;
            check.message = format!("cannot read alembic_version: {e}");
        }
    }
    check
}

/// Returns the schema after the last migration that applied.
async fn step_mode(
    session: &mut Session<'_>,
    plans: &[Plan<'_>],
    settings: &Settings<'_>,
    printer: &Printer,
    report: &mut Report,
) -> Result<Option<Snapshot>> {
    let mut before = session.snapshot().await?;
    let mut halted_by: Option<String> = None;
    for (i, plan) in plans.iter().enumerate() {
        let id = &plan.migration.id;
        if let Some(failed) = &halted_by {
            let upgrade = skipped("upgrade", plan, &format!("not run: {failed} did not apply"));
            let roundtrip = skipped(
                "roundtrip",
                plan,
                &format!("not run: {failed} did not apply"),
            );
            printer.migration(&upgrade, Some(&roundtrip));
            report.checks.extend([upgrade, roundtrip]);
            continue;
        }
        let (upgrade, mut after) = match session.apply_first(&plan.up, id).await {
            Ok(took) => {
                let after = session.snapshot().await?;
                (upgrade_passed(plan, took), after)
            }
            Err(f) => {
                let upgrade = apply_failed("upgrade", plan, &f, "up failed");
                let roundtrip = skipped("roundtrip", plan, "not run: up failed");
                printer.migration(&upgrade, Some(&roundtrip));
                report.checks.extend([upgrade, roundtrip]);
                halted_by = Some(id.clone());
                continue;
            }
        };
        let (roundtrip, diverged) =
            roundtrip_step(session, plan, &before, &after, settings).await?;
        if diverged {
            // Later migrations must build on the schema the chain really produces.
            let replayed = session.replay(&plans[..=i]).await?;
            if !compare::compare(&after, &replayed, CosmeticPolicy::Ignore, "", "").is_equal() {
                // The ups are not deterministic (names or defaults that vary per run): say so,
                // later comparisons are against the replayed schema.
                printer.warning(&format!(
                    "replaying the ups through {id} on a fresh database gave another schema than the first run"
                ));
                after = replayed;
            }
        }
        printer.migration(&upgrade, Some(&roundtrip));
        report.checks.extend([upgrade, roundtrip]);
        before = after;
    }
    Ok(Some(before))
}

/// down then up again from the schema after the migration; returns the check and whether the
/// database no longer holds `after`.
async fn roundtrip_step(
    session: &mut Session<'_>,
    plan: &Plan<'_>,
    before: &Snapshot,
    after: &Snapshot,
    settings: &Settings<'_>,
) -> Result<(CheckReport, bool)> {
    let id = &plan.migration.id;
    let Some(down) = &plan.down else {
        return Ok((no_down(plan, settings.require_down), false));
    };
    let mut check = base_check("roundtrip", plan, &down.file);
    let started = Instant::now();

    let down_phase = match session.apply(down).await {
        Err(f) if f.irreversible => {
            // Declared irreversible: reported like a migration without a down.
            let diverged = session.snapshot().await? != *after;
            let mut check = no_down(plan, settings.require_down);
            check.message = format!("not reversible: {}", f.message);
            check.file = Some(f.file.display().to_string());
            check.line = Some(f.line);
            return Ok((check, diverged));
        }
        Err(f) => {
            // A rolled-back down leaves `after` in place; a half-applied one does not.
            let diverged = f.partially_applied || session.snapshot().await? != *after;
            let phase = phase_failed("down", &f);
            fail_with(
                &mut check,
                &f,
                format!("down of {id} failed: {}", f.message),
            );
            check.phases = vec![phase, skipped_phase("reapply", "not run: down failed")];
            check.duration_ms = ms(started.elapsed());
            return Ok((check, diverged));
        }
        Ok(took) => {
            let reverted = session.snapshot().await?;
            let cmp = compare::compare(
                before,
                &reverted,
                settings.policy,
                &format!("schema before {id} (expected)"),
                &format!("schema after {id} down (actual)"),
            );
            compared_phase("down", took, &cmp, &mut check, || {
                format!("down of {id} did not restore the schema before it")
            })
        }
    };
    let reapply_phase = match session.apply(&plan.up).await {
        Err(f) => {
            let phase = phase_failed("reapply", &f);
            if check.status != Status::Fail {
                fail_with(
                    &mut check,
                    &f,
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
            check.duration_ms = ms(started.elapsed());
            return Ok((check, true));
        }
        Ok(took) => {
            let reapplied = session.snapshot().await?;
            let cmp = compare::compare(
                after,
                &reapplied,
                settings.policy,
                &format!("schema after {id} (expected)"),
                &format!("schema after {id} down and up again (actual)"),
            );
            compared_phase("reapply", took, &cmp, &mut check, || {
                format!("up of {id} applied again after its down gave another schema")
            })
        }
    };
    let diverged = reapply_phase.status == Status::Fail;
    check.phases = vec![down_phase, reapply_phase];
    check.duration_ms = ms(started.elapsed());
    if check.status == Status::Pass {
        check.message = format!("down restored the schema before {id}; up again reproduced it");
    }
    Ok((check, diverged))
}

/// Apply everything, then all downs from the top, then all ups again, comparing at each step.
async fn full_mode(
    session: &mut Session<'_>,
    plans: &[Plan<'_>],
    settings: &Settings<'_>,
    printer: &Printer,
    report: &mut Report,
) -> Result<Option<Snapshot>> {
    // Flyway repeatables are re-run, never undone: the round trip covers versioned migrations
    // and the repeatables are applied after it, as Flyway does.
    let split = plans
        .iter()
        .position(|p| p.migration.repeatable)
        .unwrap_or(plans.len());
    let (versioned, repeatables) = plans.split_at(split);

    let mut schemas = vec![session.snapshot().await?];
    let mut upgrades = Vec::new();
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
    let mut checks: Vec<Option<CheckReport>> = vec![None; versioned.len()];
    let mut reached = versioned.len();
    for (i, plan) in versioned.iter().enumerate().rev() {
        let id = &plan.migration.id;
        let Some(down) = &plan.down else {
            checks[i] = Some(no_down(plan, settings.require_down));
            break;
        };
        let mut check = base_check("roundtrip", plan, &down.file);
        match session.apply(down).await {
            Err(f) if f.irreversible => {
                let mut check = no_down(plan, settings.require_down);
                check.message = format!("not reversible: {}", f.message);
                checks[i] = Some(check);
                break;
            }
            Err(f) => {
                let phase = phase_failed("down", &f);
                fail_with(
                    &mut check,
                    &f,
                    format!("down of {id} failed: {}", f.message),
                );
                check.phases = vec![phase];
                check.duration_ms = ms(f.duration);
                checks[i] = Some(check);
                break;
            }
            Ok(took) => {
                let reverted = session.snapshot().await?;
                let cmp = compare::compare(
                    &schemas[i],
                    &reverted,
                    settings.policy,
                    &format!("schema before {id} (expected)"),
                    &format!("schema after the downs from the top to {id} (actual)"),
                );
                let phase = compared_phase("down", took, &cmp, &mut check, || {
                    format!(
                        "going down from the top, {id}'s down did not restore the schema before it"
                    )
                });
                check.duration_ms = ms(took);
                check.phases = vec![phase];
                checks[i] = Some(check);
                reached = i;
            }
        }
    }
    // Up again from wherever the downs stopped.
    for (i, plan) in versioned.iter().enumerate().skip(reached) {
        let id = &plan.migration.id;
        let check = checks[i].get_or_insert_with(|| base_check("roundtrip", plan, &plan.up.file));
        match session.apply(&plan.up).await {
            Err(f) => {
                check.phases.push(phase_failed("reapply", &f));
                if check.status != Status::Fail {
                    fail_with(
                        check,
                        &f,
                        format!("up of {id} failed on the way back up: {}", f.message),
                    );
                }
                break;
            }
            Ok(took) => {
                let reapplied = session.snapshot().await?;
                let cmp = compare::compare(
                    &schemas[i + 1],
                    &reapplied,
                    settings.policy,
                    &format!("schema after {id} (expected)"),
                    &format!("schema after {id} on the way back up (actual)"),
                );
                let phase = compared_phase("reapply", took, &cmp, check, || {
                    format!("on the way back up, {id} gave another schema than the first time")
                });
                check.duration_ms += ms(took);
                check.phases.push(phase);
            }
        }
    }
    for (plan, check) in versioned.iter().zip(checks) {
        let mut check = check.unwrap_or_else(|| {
            skipped(
                "roundtrip",
                plan,
                "not reached: a later migration could not be reverted",
            )
        });
        if check.status == Status::Pass {
            check.message = format!("full round trip through {} matched", plan.migration.id);
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

// ---- building checks ------------------------------------------------------------------

fn base_check(name: &str, plan: &Plan<'_>, file: &Path) -> CheckReport {
    let mut check = CheckReport::new(name, Some(&plan.migration.id), Status::Pass, "");
    check.file = Some(file.display().to_string());
    check
}

fn upgrade_passed(plan: &Plan<'_>, took: Duration) -> CheckReport {
    let mut check = base_check("upgrade", plan, &plan.up.file);
    check.duration_ms = ms(took);
    if let Some(AlembicStep::Upgrade(target)) = &plan.up.alembic {
        check.message = format!("alembic upgrade {target}");
        check.phases = vec![Phase {
            name: "up".to_string(),
            status: Status::Pass,
            schema_differs: false,
            duration_ms: ms(took),
            message: String::new(),
        }];
        return check;
    }
    let n = plan.up.statements.len();
    check.message = format!(
        "applied {n} statement{}{}",
        if n == 1 { "" } else { "s" },
        if plan.up.no_transaction {
            " outside a transaction"
        } else {
            ""
        }
    );
    check.phases = vec![Phase {
        name: "up".to_string(),
        status: Status::Pass,
        schema_differs: false,
        duration_ms: ms(took),
        message: String::new(),
    }];
    check
}

fn apply_failed(name: &str, plan: &Plan<'_>, f: &ApplyFailure, what: &str) -> CheckReport {
    let mut check = base_check(name, plan, &f.file);
    fail_with(&mut check, f, format!("{what}: {}", f.message));
    check.duration_ms = ms(f.duration);
    check.phases = vec![phase_failed("up", f)];
    check
}

fn fail_with(check: &mut CheckReport, f: &ApplyFailure, message: String) {
    check.status = Status::Fail;
    check.message = message;
    check.file = Some(f.file.display().to_string());
    check.line = Some(f.line);
    let mut detail = format!(
        "{}:{}: {}\n{}",
        f.file.display(),
        f.line,
        f.message,
        f.detail
    );
    if f.partially_applied {
        detail.push_str("\nstatements before the failing one were already committed: the migration is half-applied");
    }
    append_detail(check, detail.trim_end());
}

fn append_detail(check: &mut CheckReport, text: &str) {
    match &mut check.detail {
        Some(d) => {
            d.push('\n');
            d.push_str(text);
        }
        None => check.detail = Some(text.to_string()),
    }
}

fn phase_failed(name: &str, f: &ApplyFailure) -> Phase {
    Phase {
        name: name.to_string(),
        status: Status::Fail,
        schema_differs: false,
        duration_ms: ms(f.duration),
        message: format!("{}:{}: {}", f.file.display(), f.line, f.message),
    }
}

fn skipped_phase(name: &str, message: &str) -> Phase {
    Phase {
        name: name.to_string(),
        status: Status::Skip,
        schema_differs: false,
        duration_ms: 0,
        message: message.to_string(),
    }
}

/// Fold a schema comparison into `check`; returns the phase.
fn compared_phase(
    name: &str,
    took: Duration,
    cmp: &Comparison,
    check: &mut CheckReport,
    failure: impl FnOnce() -> String,
) -> Phase {
    check.notes.extend(cmp.notes.iter().cloned());
    if cmp.is_equal() {
        return Phase {
            name: name.to_string(),
            status: Status::Pass,
            schema_differs: false,
            duration_ms: ms(took),
            message: String::new(),
        };
    }
    let objects: Vec<String> = cmp
        .changes
        .iter()
        .map(|c| format!("{:?} {}", c.change, c.object).to_lowercase())
        .collect();
    let message = format!(
        "{}: {} object{} differ{} ({})",
        failure(),
        objects.len(),
        if objects.len() == 1 { "" } else { "s" },
        if objects.len() == 1 { "s" } else { "" },
        summarize(&objects)
    );
    if check.status == Status::Pass {
        check.status = Status::Fail;
        check.message = message.clone();
    }
    check
        .objects
        .extend(cmp.changes.iter().map(|c| c.object.clone()));
    match &mut check.diff {
        Some(d) => d.push_str(&cmp.diff),
        None => check.diff = Some(cmp.diff.clone()),
    }
    Phase {
        name: name.to_string(),
        status: Status::Fail,
        schema_differs: true,
        duration_ms: ms(took),
        message,
    }
}

fn summarize(objects: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = objects
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if objects.len() > SHOWN {
        s.push_str(&format!(", and {} more", objects.len() - SHOWN));
    }
    s
}

fn no_down(plan: &Plan<'_>, require_down: bool) -> CheckReport {
    let mut check = base_check("roundtrip", plan, &plan.up.file);
    if plan.migration.repeatable {
        check.status = Status::Skip;
        check.message = "repeatable migration: re-run when changed, never undone".to_string();
    } else {
        check.status = if require_down {
            Status::Fail
        } else {
            Status::Skip
        };
        check.message = "no down migration: not reversible".to_string();
    }
    check
}

fn skipped(name: &str, plan: &Plan<'_>, message: &str) -> CheckReport {
    let mut check = base_check(name, plan, &plan.up.file);
    check.status = Status::Skip;
    check.message = message.to_string();
    check
}

fn chain_check(chain: &Chain, took: Duration) -> CheckReport {
    let errors: Vec<&ChainProblem> = chain
        .problems
        .iter()
        .filter(|p| p.severity == ProblemSeverity::Error)
        .collect();
    let warnings = chain.problems.len() - errors.len();
    let first = errors.first().copied().or(chain.problems.first());
    let message = if errors.is_empty() {
        let mut m = format!(
            "{} migration{} in order, no duplicate versions",
            chain.migrations.len(),
            if chain.migrations.len() == 1 { "" } else { "s" }
        );
        if warnings > 0 {
            m.push_str(&format!(
                "; {warnings} warning{}",
                if warnings == 1 { "" } else { "s" }
            ));
        }
        m
    } else {
        match errors.as_slice() {
            [one] => one.message.clone(),
            many => format!("{} chain problems, first: {}", many.len(), many[0].message),
        }
    };
    let detail = (!chain.problems.is_empty()).then(|| {
        chain
            .problems
            .iter()
            .map(|p| {
                let line = p.line.map(|l| format!(":{l}")).unwrap_or_default();
                let severity = match p.severity {
                    ProblemSeverity::Error => "error",
                    ProblemSeverity::Warning => "warning",
                };
                format!(
                    "{}{line}: {severity}[{}]: {}",
                    p.file.display(),
                    p.kind,
                    p.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let status = if errors.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let mut check = CheckReport::new("chain", None, status, message);
    check.duration_ms = ms(took);
    check.file = first.map(|p| p.file.display().to_string());
    check.line = first.and_then(|p| p.line);
    check.detail = detail;
    check
}

/// The check that records why a run could not finish (bad input, no database).
fn error_check(e: &Error) -> CheckReport {
    let (name, file, line) = match e {
        Error::Input { file, line, .. } => (
            "chain",
            file.as_ref().map(|f| f.display().to_string()),
            *line,
        ),
        Error::Usage(_) => ("usage", None, None),
        _ => ("provision", None, None),
    };
    let text = e.to_string();
    let mut check = CheckReport::new(
        name,
        None,
        Status::Fail,
        text.lines().next().unwrap_or_default(),
    );
    check.file = file;
    check.line = line;
    check.detail = Some(text);
    check
}

fn migration_report(m: &Migration) -> MigrationReport {
    MigrationReport {
        id: m.id.clone(),
        version: m.version.text.clone(),
        name: m.name.clone(),
        files: m.files.iter().map(|f| f.display().to_string()).collect(),
        has_down: m.down.is_some(),
        no_transaction: m.up.no_transaction,
    }
}

fn write_reports(args: &VerifyArgs, report: &Report) -> Result<()> {
    if let Some(path) = &args.json {
        report::json::write(report, path)?;
    }
    if let Some(path) = &args.junit {
        report::junit::write(report, path)?;
    }
    Ok(())
}

fn write_snapshot(path: &Path, snapshot: &Snapshot) -> Result<()> {
    let mut text = serde_json::to_string_pretty(snapshot).unwrap_or_default();
    text.push('\n');
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The line of `file` in a Python traceback's innermost frame that lies in that file.
fn traceback_line(traceback: &str, file: &Path) -> Option<usize> {
    let name = file.file_name()?.to_str()?;
    traceback.lines().rev().find_map(|l| {
        let l = l.trim_start();
        let rest = l.strip_prefix("File \"")?;
        let (path, tail) = rest.split_once('"')?;
        if !path.ends_with(name) {
            return None;
        }
        let n = tail.trim_start_matches(", line ").split(',').next()?;
        n.trim().parse().ok()
    })
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flyway_outside_transaction_detection() {
        assert!(must_run_outside_transaction(
            "CREATE INDEX CONCURRENTLY i ON t (a)"
        ));
        assert!(must_run_outside_transaction(
            "create unique index concurrently i on t (a)"
        ));
        assert!(must_run_outside_transaction("DROP INDEX CONCURRENTLY i"));
        assert!(must_run_outside_transaction("VACUUM t"));
        assert!(!must_run_outside_transaction("CREATE INDEX i ON t (a)"));
        assert!(!must_run_outside_transaction(
            "COMMENT ON TABLE t IS 'CONCURRENTLY'"
        ));
    }
}
