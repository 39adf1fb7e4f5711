//! Command-line interface (clap derive). Every flag here is documented in the README.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::chain::Format;
use crate::compare::CosmeticPolicy;
use crate::engine::EngineSpec;
use crate::provision::ProviderKind;

#[derive(Debug, Parser)]
#[command(
    name = "migcheck",
    version,
    about = "Verify database migrations before they reach production"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log what migcheck does (repeat for more detail); `MIGCHECK_LOG` takes a tracing filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// When to colour terminal output (`auto` honours NO_COLOR and whether stdout is a terminal).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prove that a migration chain applies on an empty database and that every step reverses exactly.
    Verify(Box<VerifyArgs>),
    /// Find unsafe schema operations in migration files, without a database.
    Lint(crate::lint::cli::LintArgs),
    /// List the lint rules, or explain one.
    Rules(crate::lint::cli::RulesArgs),
    /// Remove containers that killed migcheck runs (or `--keep`) left behind on this host.
    Cleanup(CleanupArgs),
    /// Apply a chain's ups on an empty database and write its schema snapshot (for
    /// `verify --expect-snapshot`); takes verify's database and format flags.
    Snapshot(Box<SnapshotArgs>),
    /// Check a folder written by `verify --evidence`: was anything changed after the run?
    Evidence(EvidenceArgs),
    /// Print an Alembic project's heads, like `alembic heads` (read without Python).
    Heads(crate::alembic::cli::HeadsArgs),
    /// Print and check an Alembic project's revision graph (bases, branches, merges, heads).
    Graph(crate::alembic::cli::GraphArgs),
    /// Write a commented migcheck.toml for the chain at PATH: every key at its default, the
    /// detected values set.
    Init(InitArgs),
    /// Print a shell completion script to stdout (bash, zsh, fish, elvish or powershell).
    Completions(CompletionsArgs),
    /// Write the man pages (migcheck.1 and one per subcommand) to a folder, or print
    /// migcheck.1 to stdout.
    Man(ManArgs),
    /// Compare a live database's migration bookkeeping with the chain, read-only: applied,
    /// pending, unknown, dirty/failed, edited since applied (exit 4: pending).
    Status(Box<crate::status::StatusArgs>),
    /// Wait until a live database has every migration of the chain (init containers).
    Wait(Box<crate::status::wait::WaitArgs>),
    /// What the next deploy will run on a live database: pending SQL, lint findings judged by
    /// the live server and table sizes, and drift from what the applied migrations give.
    Plan(Box<crate::status::plan::PlanArgs>),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Folder to write migcheck.1 and migcheck-SUBCOMMAND.1 into (created when missing)
    /// [default: print migcheck.1 to stdout].
    #[arg(long, short, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The migrations folder (or Alembic project) the configuration is for, as given to verify.
    #[arg(default_value = ".")]
    pub path: PathBuf,

    /// Engine the chain runs on (`verify --engine`), written as the lint's engine; a version
    /// sets the lint's target version (postgres:16, mariadb:10.11) [default: postgres].
    #[arg(long, short, env = "MIGCHECK_ENGINE", value_name = "ENGINE[:VERSION]")]
    pub engine: Option<EngineSpec>,

    /// Migration format; detected from the file names when omitted, as verify does.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Where to write [default: migcheck.toml in the working directory when it holds PATH,
    /// else in PATH]; a folder gets a migcheck.toml inside.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Replace an existing file (by default init never overwrites one).
    #[arg(long)]
    pub force: bool,

    /// Print the file to stdout instead of writing it.
    #[arg(long, conflicts_with_all = ["output", "force"])]
    pub stdout: bool,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A server given to earlier runs by `--url`: drop the throwaway databases and sandbox
    /// roles that killed runs left there (records keep no password, so the URL is needed).
    /// Repeatable.
    #[arg(long, value_name = "URL")]
    pub url: Vec<String>,
    /// Also remove the local provider's template data directories (a cache in
    /// `$MIGCHECK_TEMPLATE_DIR` or `~/.cache/migcheck/templates`; the next run rebuilds them).
    #[arg(long)]
    pub templates: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Where to write the snapshot (canonical JSON).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,

    #[command(flatten)]
    pub verify: VerifyArgs,
}

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    pub command: EvidenceCommand,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Re-hash every file the manifest lists; exit 1 when one was changed, removed or added.
    Check {
        /// The folder `verify --evidence` wrote.
        dir: PathBuf,
        /// Also check that the migration files under this folder are those the run verified.
        #[arg(long, value_name = "PATH")]
        chain: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoundtripMode {
    /// For each migration: down (must restore the schema before it), then up again (must match).
    Step,
    /// Apply everything, go all the way down to empty, then all the way up again.
    Full,
}

impl RoundtripMode {
    pub fn name(self) -> &'static str {
        match self {
            RoundtripMode::Step => "step",
            RoundtripMode::Full => "full",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The folder that holds the migrations; several folders (a monorepo's
    /// `services/*/migrations`) are verified in one run on one server, each in its own
    /// throwaway database. None: the `[[chain]]` entries of migcheck.toml.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The one chain this pipeline verifies (set per chain from `paths` / `[[chain]]`).
    #[arg(skip)]
    pub path: PathBuf,

    /// How many chains are verified at once on the shared server [default: the number of
    /// CPUs, at most the number of chains].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// Database engine to verify against: postgres, mysql or mariadb, optionally with a version
    /// that selects the container image tag (postgres:16, mysql:8.4, mariadb:11).
    #[arg(
        long,
        short,
        env = "MIGCHECK_ENGINE",
        default_value = "postgres",
        value_name = "ENGINE[:VERSION]"
    )]
    pub engine: EngineSpec,

    /// Where the ephemeral database comes from.
    #[arg(long, value_enum, env = "MIGCHECK_PROVIDER", default_value_t = ProviderKind::Auto)]
    pub provider: ProviderKind,

    /// Server for `--provider url` (e.g. postgres://user:pw@host:5432/postgres). migcheck creates a
    /// throwaway database there and drops it at the end; it touches no other database.
    #[arg(long, env = "MIGCHECK_DATABASE_URL", hide_env_values = true)]
    pub url: Option<String>,

    /// With `--provider url`: let server-wide statements (CREATE/DROP/ALTER DATABASE, ALTER
    /// SYSTEM, roles and users, USE, dblink) run on the given server. Off by default: a CI
    /// database server is shared, and migcheck refuses them there.
    #[arg(long)]
    pub url_privileged: bool,

    /// Container image for `--provider docker` (any image compatible with the official one,
    /// e.g. postgis/postgis:16-3.4 or a private registry's mirror).
    #[arg(long, env = "MIGCHECK_IMAGE", value_name = "IMAGE[:TAG]")]
    pub image: Option<String>,

    /// Leave the container (and the verified database) running after the run and print its URL.
    #[arg(long)]
    pub keep: bool,

    /// With `--keep`: print the kept database's URL with its password.
    #[arg(long, requires = "keep")]
    pub show_password: bool,

    /// Directory to search first for server binaries (initdb/postgres, mariadbd/mysqld).
    #[arg(long, env = "MIGCHECK_BIN_DIR")]
    pub bin_dir: Option<PathBuf>,

    /// Seconds a server may take to become ready.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub startup_timeout: u64,

    /// Seconds one migration statement may run before the server cancels it and the migration
    /// fails at that statement (PostgreSQL `statement_timeout`, MariaDB `max_statement_time`,
    /// MySQL `max_execution_time`, which bounds SELECTs only). 0: no limit.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub statement_timeout: u64,

    /// Seconds one migration (an up or a down, all its statements) may run; then migcheck
    /// ends its session on the server and the migration fails at the statement it was running.
    /// 0: no limit.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub migration_timeout: u64,

    /// Migration format; detected from the file names when omitted.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Fail the gate when a migration has no down.
    #[arg(long)]
    pub require_down: bool,

    /// How reversibility is proven.
    #[arg(long, value_enum, default_value_t = RoundtripMode::Step)]
    pub roundtrip: RoundtripMode,

    /// Verify a long chain on one database only (by default, step mode on a machine of two
    /// cores or more verifies its second half at the same time on a second database).
    #[arg(long)]
    pub no_split: bool,

    /// How differences that do not change behaviour (column order, routine formatting, view
    /// column order) count [default: config, else note].
    #[arg(long, value_enum)]
    pub cosmetic: Option<CosmeticPolicy>,

    /// How one cosmetic rule's differences count, overriding --cosmetic (repeatable):
    /// column-order, routine-formatting or view-column-order, =ignore|note|fail.
    #[arg(long, value_name = "RULE=POLICY")]
    pub cosmetic_rule: Vec<String>,

    /// SQL run on every connection that applies migrations, before the first one (repeatable,
    /// run in order), e.g. `SET FOREIGN_KEY_CHECKS = 0` [default: config `[verify] session-sql`].
    #[arg(long, value_name = "SQL")]
    pub session_sql: Vec<String>,

    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    #[command(flatten)]
    pub ci: crate::report::ci::CiOutputs,

    /// Write the schema snapshot after the last migration here (canonical JSON).
    #[arg(long, value_name = "FILE")]
    pub snapshot_out: Option<PathBuf>,

    /// Judge the change against this git base (a branch, tag or commit: `origin/main`): the
    /// whole chain is still verified, but lint findings on migrations the base already has are
    /// baseline (listed, never failing), and released migrations must not be edited, deleted,
    /// renumbered or preceded by a new one. In a CI pull or merge request the base is found
    /// by itself (GITHUB_BASE_REF, CI_MERGE_REQUEST_DIFF_BASE_SHA, CHANGE_TARGET).
    #[arg(
        long,
        env = "MIGCHECK_SINCE",
        value_name = "REF",
        conflicts_with = "no_since"
    )]
    pub since: Option<String>,

    /// Judge every migration, even where a CI variable names a base.
    #[arg(long)]
    pub no_since: bool,

    /// Write release evidence into this folder: every report, the final schema and
    /// manifest.json with the SHA-256 of each file (`migcheck evidence check DIR` re-checks it).
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,

    /// Fail the gate when the schema the chain produces differs from this committed snapshot
    /// (written by `migcheck snapshot` or `--snapshot-out`).
    #[arg(long, value_name = "FILE")]
    pub expect_snapshot: Option<PathBuf>,

    /// Print only failures and the verdict.
    #[arg(long, short)]
    pub quiet: bool,

    /// Alembic projects: the Python interpreter of the project's environment (default: python3
    /// on PATH). Alembic and the project's database driver must be importable there.
    #[arg(long, env = "MIGCHECK_PYTHON", value_name = "PATH")]
    pub python: Option<PathBuf>,

    /// Alembic projects: the environment variable that hands the database URL to env.py (the
    /// `sqlalchemy.url` option is set too).
    #[arg(long, default_value = "DATABASE_URL", value_name = "NAME")]
    pub url_env: String,

    /// Alembic projects: SQLAlchemy URL scheme [default: postgresql+psycopg, mysql+pymysql].
    #[arg(long, value_name = "SCHEME")]
    pub sqlalchemy_scheme: Option<String>,

    /// Alembic projects: accept several heads (by default a second head fails the gate).
    #[arg(long)]
    pub allow_multiple_heads: bool,

    /// Skip the unsafe-operation lint (by default its findings are part of the run and
    /// findings at or above `--fail-on` fail the gate).
    #[arg(long)]
    pub no_lint: bool,

    #[command(flatten)]
    pub rules: crate::lint::cli::RuleOptions,

    /// Set by `migcheck snapshot`: apply the ups only.
    #[arg(skip)]
    pub apply_only: bool,
}

impl VerifyArgs {
    pub fn startup_timeout(&self) -> Duration {
        Duration::from_secs(self.startup_timeout)
    }

    /// `--statement-timeout`, `None` for 0 (no limit).
    pub fn statement_timeout(&self) -> Option<Duration> {
        (self.statement_timeout > 0).then(|| Duration::from_secs(self.statement_timeout))
    }

    /// `--migration-timeout`, `None` for 0 (no limit).
    pub fn migration_timeout(&self) -> Option<Duration> {
        (self.migration_timeout > 0).then(|| Duration::from_secs(self.migration_timeout))
    }
}
