//! Stage 1, where a chain comes from: each format turns a path into a chain plus the runner
//! that applies it. Adding a format means a module of its own and one line in [`FORMATS`].

use std::path::Path;
use std::sync::Arc;

use crate::chain::{self, Chain, DiscoverOptions, Format};
use crate::error::Result;
use crate::runner::{sql::SqlRunner, Runner, RunnerOptions};

/// Every format that reads a project of its own, asked in order; a folder no format claims is
/// read as SQL files (`chain::discover`, which detects which SQL-file tool wrote them).
static FORMATS: &[&dyn ChainFormat] = &[
    &crate::alembic::chain::AlembicFormat,
    &crate::sqitch::format::SqitchFormat,
];

/// A format migcheck reads.
pub trait ChainFormat: Sync {
    /// Whether this format reads `path`: forced with `--format`, or detected there.
    fn claims(&self, path: &Path, forced: Option<Format>) -> bool;

    /// The chain alone, for the lint and the history rules.
    fn read(&self, path: &Path, options: &DiscoverOptions) -> Result<Chain>;

    /// The chain and the runner that applies it, for `verify`.
    fn load(&self, path: &Path, options: &LoadOptions) -> Result<Loaded>;
}

/// What `verify` passes to a format.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub discover: DiscoverOptions,
    /// `--allow-multiple-heads`, for formats whose chain is a graph.
    pub allow_multiple_heads: bool,
    pub runner: RunnerOptions,
}

/// A chain ready to verify.
pub struct Loaded {
    pub chain: Chain,
    pub runner: Box<dyn Runner>,
    /// Chain problem kinds that leave no order to apply the migrations in: no database is
    /// started.
    pub blocking: &'static [&'static str],
    /// How the history rules (`--since`) read this chain at another commit.
    pub history: History,
}

/// How the history rules read a chain at another commit.
#[derive(Clone)]
pub enum History {
    /// The same discovery on the folder's files at that commit.
    Files,
    /// Alembic revisions: the revision graph, read again at that commit.
    Revisions(Arc<crate::alembic::Graph>),
    /// This format's history is not judged yet: the reason, shown when a base is given.
    NotJudged(&'static str),
}

/// The format that reads `path`.
fn format_for(path: &Path, forced: Option<Format>) -> Option<&'static dyn ChainFormat> {
    FORMATS.iter().copied().find(|f| f.claims(path, forced))
}

/// Read the chain at `path` for the lint and the history rules.
pub fn read(path: &Path, options: &DiscoverOptions) -> Result<Chain> {
    match format_for(path, options.format) {
        Some(format) => format.read(path, options),
        None => chain::discover(path, options),
    }
}

/// Read the chain at `path` with the runner that applies it.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Loaded> {
    if let Some(format) = format_for(path, options.discover.format) {
        return format.load(path, options);
    }
    let chain = chain::discover(path, &options.discover)?;
    let runner = SqlRunner::new(&chain, options.discover.engine().dialect())?;
    Ok(Loaded {
        chain,
        runner: Box::new(runner),
        blocking: &["duplicate-version", "mixed-formats"],
        history: History::Files,
    })
}
