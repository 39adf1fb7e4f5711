//! `migcheck lint` and `migcheck rules`: clap arguments and entry points.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};

use super::config::{LintConfig, RuleSetting};
use super::{lint_scripts, rules, Severity};
use crate::chain::{DiscoverOptions, Format, Script};
use crate::cli::ColorChoice;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::report::terminal::Printer;
use crate::report::{self, Finding, OptionsReport, Report, Timings, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
}

impl From<FailOn> for Severity {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Info => Severity::Info,
        }
    }
}

/// Rule selection shared by `lint` and `verify`.
#[derive(Debug, Clone, Default, Args)]
pub struct RuleOptions {
    /// Config file [default: the nearest migcheck.toml at or above the migrations path].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Turn a rule on (repeatable; `all` for every rule, style rules included).
    #[arg(long, value_name = "RULE")]
    pub enable: Vec<String>,

    /// Turn a rule off (repeatable).
    #[arg(long, value_name = "RULE")]
    pub disable: Vec<String>,

    /// Lowest finding severity that fails the run (exit 1) [default: config, else error].
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
}

impl RuleOptions {
    /// The effective configuration: the file (given, or found at or above `path`), then flags.
    pub fn resolve(&self, path: Option<&std::path::Path>) -> Result<LintConfig> {
        let file = match &self.config {
            Some(p) => {
                if !p.is_file() {
                    return Err(Error::input(p, None, "config file not found"));
                }
                Some(p.clone())
            }
            None => path.and_then(LintConfig::discover),
        };
        let mut config = match file {
            Some(p) => LintConfig::load(&p)?,
            None => LintConfig::default(),
        };
        for id in &self.enable {
            config.set_rule(id, RuleSetting::On)?;
        }
        for id in &self.disable {
            config.set_rule(id, RuleSetting::Off)?;
        }
        if let Some(f) = self.fail_on {
            config.fail_on = Some(f.into());
        }
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Migration folders (every up script of the chain) or single migration files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Engine whose rules apply: postgres, mysql or mariadb [default: config, else postgres].
    #[arg(long, short, env = "MIGCHECK_ENGINE")]
    pub engine: Option<Engine>,

    /// Target PostgreSQL major version (decides e.g. whether a constant DEFAULT is free, 11+).
    #[arg(long, value_name = "MAJOR")]
    pub pg_version: Option<u32>,

    /// PostgreSQL session TimeZone the migrations run under [default: config, else UTC]:
    /// timestamp <-> timestamptz changes rewrite nothing on 12+ under UTC.
    #[arg(long, value_name = "ZONE")]
    pub time_zone: Option<String>,

    /// Target MySQL/MariaDB version (e.g. 8.0); recorded, not yet used by any rule.
    #[arg(long, value_name = "VERSION")]
    pub mysql_version: Option<String>,

    #[command(flatten)]
    pub rules: RuleOptions,

    /// Migration format of folders; detected when omitted.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Lint down scripts too (by default only ups: downs exist to drop things).
    #[arg(long)]
    pub downs: bool,

    /// Write the JSON report (findings array) here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write a JUnit XML report here (one test case per rule per migration with findings).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Boxed: three more paths would make `Command::Lint` the enum's one large variant.
    #[command(flatten)]
    pub ci: Box<crate::report::ci::CiOutputs>,

    /// Print only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Explain one rule: why it is dangerous and the safe recipe.
    pub rule: Option<String>,
}

/// Resolve the effective configuration: file (given or discovered), then flags.
pub fn resolve_config(args: &LintArgs) -> Result<LintConfig> {
    let mut config = args
        .rules
        .resolve(args.paths.first().map(PathBuf::as_path))?;
    if let Some(v) = args.pg_version {
        if !(9..=99).contains(&v) {
            return Err(Error::Usage(format!(
                "--pg-version {v}: expected a PostgreSQL major version such as 13"
            )));
        }
        config.pg_version = Some(v);
    }
    if let Some(z) = &args.time_zone {
        config.time_zone = Some(z.clone());
    }
    if let Some(v) = &args.mysql_version {
        config.mysql_version = Some(v.clone());
    }
    if let Some(e) = args.engine {
        config.engine = Some(e);
    }
    if args.downs {
        config.downs = true;
    }
    Ok(config)
}

/// Collect the scripts to lint, in order, with their migration ids.
/// The scripts to lint, and the down files named on the command line that were left out.
type Collected = (Vec<(Option<String>, Script)>, Vec<PathBuf>);

fn collect(args: &LintArgs, config: &LintConfig) -> Result<Collected> {
    let mut out = Vec::new();
    let mut skipped_downs = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            let chain = crate::formats::read(
                path,
                &DiscoverOptions {
                    format: args.format,
                    require_down: false,
                    engine: config.engine,
                },
            )?;
            if chain.migrations.is_empty() {
                // Every file was rejected (an unparsable version, say): name why, never pass.
                if let Some(p) = chain.problems.first() {
                    return Err(Error::input(
                        &p.file,
                        p.line,
                        format!("{}; no migration left to lint", p.message),
                    ));
                }
            }
            for m in &chain.migrations {
                out.push((Some(m.id.clone()), m.up.clone()));
            }
            if config.downs {
                for m in &chain.migrations {
                    if let Some(d) = &m.down {
                        out.push((Some(m.id.clone()), d.clone()));
                    }
                }
            }
        } else if path.is_file() {
            let (id, script, is_down) = super::script_for_file_with_direction(path)?;
            // A down named on the command line (a pre-commit hook passes every changed file)
            // is judged as a down: downs exist to drop things, and are linted on request.
            if is_down && !config.downs {
                skipped_downs.push(path.clone());
                continue;
            }
            out.push((id, script));
        } else {
            return Err(Error::input(path, None, "no such file or directory"));
        }
    }
    Ok((out, skipped_downs))
}

/// `migcheck lint`: returns the exit code (0 pass, 1 findings at or above fail-on).
pub fn run_lint(args: LintArgs, color: ColorChoice) -> Result<u8> {
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    for (flag, path) in [("--json", &args.json), ("--junit", &args.junit)] {
        if let Some(p) = path {
            report::check_output_path(flag, p)?;
        }
    }
    args.ci.check_paths()?;
    let config = resolve_config(&args)?;
    let engine = config.engine.unwrap_or(Engine::Postgres);
    let (scripts, skipped_downs) = collect(&args, &config)?;
    if scripts.is_empty() && skipped_downs.is_empty() {
        let path = args.paths.first().cloned().unwrap_or_default();
        return Err(Error::input(
            &path,
            None,
            "no migration script to lint: a lint that read nothing must not pass",
        ));
    }
    // A script that cannot be split is bad input, exactly as `verify` judges it (exit 2 with
    // file and line): linting what follows an unterminated quote would hide its statements.
    for (_, script) in &scripts {
        crate::sql::split(script, engine.dialect())?;
    }
    let refs: Vec<(Option<&str>, &Script)> =
        scripts.iter().map(|(id, s)| (id.as_deref(), s)).collect();
    let findings = lint_scripts(&refs, engine, None, &config);
    let fail_on = config.fail_on();
    let code = super::exit_code(&findings, fail_on);

    let printer = Printer::new(color, args.quiet);
    if !skipped_downs.is_empty() && !args.quiet {
        let names: Vec<String> = skipped_downs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        println!(
            "note: not linted, down script{} (downs are linted with --downs): {}",
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
    }
    if !args.quiet {
        for f in &findings {
            printer.finding(f);
        }
    }
    let mut report = lint_report(&args, engine, &findings, code, &started_at, started);
    report.options.fail_on = Some(fail_on.name().to_string());
    let mut written: Vec<(&str, &Path)> = Vec::new();
    if let Some(p) = &args.json {
        report::json::write(&report, p)?;
        written.push(("JSON report", p));
    }
    if let Some(p) = &args.junit {
        report::junit::write(&report, p)?;
        written.push(("JUnit report", p));
    }
    args.ci.write(&report)?;
    written.extend(args.ci.written());
    report::github::publish(&report);
    printer.lint_summary(
        &findings,
        scripts.len(),
        fail_on.name(),
        code != crate::error::exit::PASS,
        &written,
    );
    Ok(code)
}

fn lint_report(
    args: &LintArgs,
    engine: Engine,
    findings: &[Finding],
    code: u8,
    started_at: &str,
    started: Instant,
) -> Report {
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Report {
        report_version: report::REPORT_VERSION,
        migcheck_version: env!("CARGO_PKG_VERSION").to_string(),
        verdict: if code == 0 {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        exit_code: code,
        started_at: started_at.to_string(),
        duration_ms: ms,
        chain: None,
        path: args
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        format: format!(
            "lint ({}, {engine} rules)",
            args.format.map(|f| f.name()).unwrap_or("detected")
        ),
        format_reason: String::new(),
        engine: None,
        provider: None,
        options: OptionsReport {
            roundtrip: "none".to_string(),
            require_down: false,
            // Lint compares no schemas: no cosmetic policy applies.
            cosmetic: "none".to_string(),
            fail_on: None,
            session_sql: Vec::new(),
            statement_timeout_s: 0,
            migration_timeout_s: 0,
            url_privileged: false,
        },
        migrations: Vec::new(),
        checks: Vec::new(),
        findings: findings.to_vec(),
        history: None,
        timings: Timings {
            total_ms: ms,
            ..Timings::default()
        },
    }
}

/// `migcheck rules [RULE]`: the catalog, or one rule explained. Unknown ids exit 2.
pub fn run_rules(args: RulesArgs) -> Result<u8> {
    print!("{}", rules_text(args.rule.as_deref())?);
    Ok(crate::error::exit::PASS)
}

fn engines(r: &rules::Rule) -> String {
    r.engines
        .iter()
        .map(|e| e.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// The text `migcheck rules` prints.
pub fn rules_text(rule: Option<&str>) -> Result<String> {
    match rule {
        None => {
            let width = rules::all().iter().map(|r| r.id.len()).max().unwrap_or(0);
            let mut out = String::new();
            for r in rules::all() {
                let off = if r.default_enabled { "" } else { " (opt-in)" };
                out.push_str(&format!(
                    "{:<width$}  {:<7}  {:<23}  {}{off}\n",
                    r.id,
                    r.severity.name(),
                    engines(r),
                    r.summary
                ));
            }
            Ok(out)
        }
        Some(id) => {
            let r = rules::find(id).ok_or_else(|| {
                Error::Usage(format!("unknown rule `{id}` (`migcheck rules` lists them)"))
            })?;
            Ok(format!(
                "{}\n  severity: {}{}\n  engines:  {}\n\n{}.\n\nWhy it is dangerous:\n  {}\n\nSafe way:\n  {}\n\nSuppress one statement with `-- migcheck:ignore {} -- reason` on the line before it.\n",
                r.id,
                r.severity.name(),
                if r.default_enabled { "" } else { " (off by default: enable with --enable or in migcheck.toml)" },
                engines(r),
                capitalise(r.summary),
                r.why,
                r.recipe,
                r.id
            ))
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
