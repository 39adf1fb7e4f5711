//! The verify pipeline: chain checks, provision, upgrade, round trips, reports.
//!
//! Step mode (default), for each migration i: apply up (snapshot S_i), run its down (must equal
//! S_{i-1}), apply up again (must equal S_i). Full mode: apply everything, go all the way down,
//! then all the way up, comparing at every step. A failure never stops the run early unless the
//! chain cannot go on (an up that does not apply): one run reports every problem.
//!
//! This file runs one chain (`verify`, `run_on_server`); `session.rs` holds the throwaway
//! database, `step.rs` and `full.rs` the two modes, `nondeterminism.rs` the second run that
//! tells a frozen value from a bad down, `checks.rs` how each check reads, `chains.rs` a run
//! of several chains. The runner that applies each step comes from the chain's format
//! (`crate::formats`, `crate::runner`): nothing here names one.

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
mod full;
mod nondeterminism;
mod session;
mod split;
mod step;
mod store;
use checks::*;
use full::*;
use nondeterminism::*;
use session::*;
use step::*;

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
        // `MIGCHECK_SPLIT=1` splits shorter chains, spare core or not (tests); `0` never.
        split_from: match std::env::var("MIGCHECK_SPLIT").as_deref() {
            Ok("0") => None,
            Ok("1") => Some(split::FORCED_MIN_MIGRATIONS),
            _ => shared.spare_core().then_some(split::MIN_MIGRATIONS),
        }
        .filter(|_| {
            !args.no_split
                && !args.keep
                && !args.apply_only
                && args.roundtrip == RoundtripMode::Step
        }),
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

/// Why later migrations are skipped when the ups could not be replayed on a fresh database.
fn replay_halt(id: &str, e: &Error) -> String {
    format!(
        "not run: after {id} diverged, the ups could not be replayed on a fresh database ({}); \
         a migration that leaves server-wide objects (a role, another database) cannot run twice \
         on one server",
        e.to_string().lines().next().unwrap_or_default()
    )
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
    /// A chain of at least this many migrations verifies its second half at the same time on
    /// a second database (`split.rs`): step mode, a spare core.
    split_from: Option<usize>,
    /// Applies the chain's steps.
    runner: &'a dyn Runner,
}

/// A session on a new throwaway database of `server`, set up as `settings` say.
async fn open_session<'a>(server: &'a dyn Server, settings: &Settings<'a>) -> Result<Session<'a>> {
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
    Ok(session)
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
    let mut session = open_session(server, settings).await?;
    let mut found = Nondeterminism {
        dialect: Some(server.info().engine.dialect()),
        ..Default::default()
    };
    let outcome = match mode {
        _ if settings.apply_only => apply_only(&mut session, plans, printer, report).await,
        RoundtripMode::Step => match split::point(plans, settings) {
            Some(at) => {
                split::step_mode(
                    &mut session,
                    plans,
                    at,
                    settings,
                    printer,
                    report,
                    &mut found,
                )
                .await
            }
            None => step_mode(&mut session, plans, settings, printer, report, &mut found).await,
        },
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
        // Only the verified database is kept.
        session.close_shadow().await;
        session.finish_drops().await;
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
