//! Stage 3: apply steps. A runner applies one step of a chain, up or down, on a throwaway
//! database, the way the chain's own tool does, and says what it ran.
//!
//! The verify pipeline (round trips, replays, snapshots, observation, reports) is written once
//! against [`Runner`] and [`Applier`] and knows no runner by name. Each format hands its chain
//! to a runner (see `crate::formats`): migcheck's own SQL executor ([`sql`]), the project's own
//! Alembic (`crate::alembic::runner`), psql or the mariadb client for Sqitch. A runner that is
//! added touches its own module only.

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use async_trait::async_trait;

use crate::apply::ApplyFailure;
use crate::chain::{Chain, Migration, Script};
use crate::error::Result;
use crate::observe::Recorder;
use crate::provision::{Conn, Database};
use crate::report::CheckReport;
use crate::snapshot::Touched;
use crate::sql::Statement;

pub mod sql;

/// One migration as the pipeline walks it: its up and, when it has one, its down.
pub struct Plan<'c> {
    pub migration: &'c Migration,
    pub up: Step,
    pub down: Option<Step>,
}

/// One direction of one migration, as a runner applies it.
#[derive(Debug, Clone)]
pub struct Step {
    /// The file reports point at for this step.
    pub file: PathBuf,
    /// What applying it means, shown in the upgrade check (`applied 3 statements`).
    pub summary: String,
    /// The migration's position in the chain.
    pub index: usize,
    pub down: bool,
}

/// Options runners take from the command line (each runner reads the ones it needs).
#[derive(Debug, Clone, Default)]
pub struct RunnerOptions {
    /// `--python`: the interpreter that runs a Python migration tool.
    pub python: Option<PathBuf>,
    /// `--url-env`: the environment variable a project reads its database URL from.
    pub url_env: String,
    /// `--sqlalchemy-scheme`.
    pub sqlalchemy_scheme: Option<String>,
    /// How long a tool's own process may take to start.
    pub startup_timeout: Duration,
    /// `--statement-timeout`, for runners whose tool opens its own connections.
    pub statement_timeout: Option<Duration>,
}

/// What a step applied: how long it took and, for runners that send SQL migcheck did not
/// read from a file, the SQL it sent (linted instead of the files).
#[derive(Debug, Default)]
pub struct Applied {
    pub took: Duration,
    pub ran: Vec<Script>,
    /// What the step can have changed in the schema, where the runner sent its statements
    /// itself and knows (MySQL/MariaDB snapshots read only that; see `snapshot::Tracker`).
    pub touched: Option<Touched>,
}

/// What the pipeline lends an applier for one step.
pub struct ApplyContext<'a> {
    /// The connection whose session state carries over between migrations (the session SQL
    /// and statement timeout are set on it).
    pub conn: &'a mut Conn,
    /// Watches locks and rewrites during a migration's first upgrade (when observation is on
    /// and the runner is `observable`).
    pub recorder: Option<(&'a mut Recorder, Option<&'a str>)>,
    /// The index of the statement being run, for a caller that gives up waiting.
    pub running: &'a AtomicUsize,
    /// Migrations run on a shared server's throwaway database: server-wide statements are refused.
    pub sandboxed: bool,
}

/// How a chain's steps are applied. One per chain, created by its format.
#[async_trait]
pub trait Runner: Send + Sync {
    /// Each migration's up and down, prepared before any database starts.
    fn plans<'c>(&self, chain: &'c Chain) -> Vec<Plan<'c>>;

    /// Why `--session-sql` cannot apply to this runner (it opens its own sessions).
    fn refuses_session_sql(&self) -> Option<&'static str> {
        None
    }

    /// Whether migcheck sends the statements itself, so the recorder can watch each one.
    fn observable(&self) -> bool {
        false
    }

    /// The share of a split chain (per mille) its first database verifies. The second
    /// database also starts its own session and applies the first part's ups, so its part is
    /// the shorter by what that costs with this runner (measured on two cores against the
    /// wait of either half: `timings.parallel_ms` and `timings.second_database`). Migcheck's
    /// own executor applies the ups one by one, about a sixth of verifying each.
    fn split_first_share(&self) -> usize {
        542
    }

    /// Whether the lint reads what the runner ran (`Applied::ran`) instead of the files.
    fn lints_what_it_ran(&self) -> bool {
        false
    }

    /// Run on the applying connection before the first migration, after the session SQL
    /// (the tool's own version table). `server_is_ours`: the server was started for this run
    /// (local, docker), so objects outside the throwaway database may be created on it.
    async fn prepare_connection(
        &self,
        _conn: &mut Conn,
        _server_is_ours: bool,
    ) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Start applying on a new throwaway database.
    async fn open(&self, db: &Database) -> Result<Box<dyn Applier>>;
}

/// A runner at work on one throwaway database.
#[async_trait]
pub trait Applier: Send {
    async fn apply(
        &mut self,
        cx: ApplyContext<'_>,
        step: &Step,
    ) -> std::result::Result<Applied, ApplyFailure>;

    /// The step `apply` will be given next, told before the schema of the last one is read: a
    /// runner may start it up to where it would change the database (Alembic: env.py, the
    /// engine, the version table), so that work overlaps the snapshot. `apply` of the same
    /// step finishes it; any other call first undoes it.
    async fn prepare(&mut self, _step: &Step) {}

    /// Apply the ups `steps` (the start of the chain, in chain order) in one run of the tool,
    /// where that is faster than one at a time: how the second database of a split chain
    /// catches up (its schema is then compared with the first database's before any of its
    /// verdicts count). `None`: the runner has no such run; the caller applies them one by one.
    async fn catch_up(
        &mut self,
        _steps: &[Step],
    ) -> Option<std::result::Result<Duration, ApplyFailure>> {
        None
    }

    /// The statement of `step` at `index` (from `ApplyContext::running`), for a step that ran
    /// out of time.
    fn statement(&self, _step: &Step, _index: usize) -> Option<Statement> {
        None
    }

    /// The runner's own proof that a deployed step works (Sqitch's verify scripts): a check
    /// reported next to the upgrade.
    async fn check_deployed(&mut self, _plan: &Plan<'_>) -> Option<CheckReport> {
        None
    }

    /// A check of the tool's own bookkeeping after the whole chain applied (`all_applied`
    /// false: some migration did not).
    async fn check_chain_applied(
        &mut self,
        _plans: &[Plan<'_>],
        _all_applied: bool,
    ) -> Option<CheckReport> {
        None
    }

    /// Stop whatever the applier runs (a driver process), cleanly.
    async fn close(self: Box<Self>) {}
}
