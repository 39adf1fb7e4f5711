//! An Alembic project seen as a migration chain, so that `verify` runs the same checks on it as
//! on a folder of SQL files: one migration per revision, in topological order, whose up and down
//! are the driver's `upgrade <rev>` and `downgrade <step back>`.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::graph::{Graph, ProblemKind};
use super::runner::AlembicRunner;
use crate::chain::{
    Chain, ChainProblem, DiscoverOptions, Format, Migration, ProblemSeverity, Script, Version,
};
use crate::error::Result;
use crate::formats::{History, LoadOptions, Loaded};

/// True when `path` is (or holds) an Alembic project: `alembic.ini`, a `pyproject.toml` with
/// `[tool.alembic]`, or a script folder with `env.py`.
pub fn is_project(path: &Path) -> bool {
    if path.is_file() {
        return path.file_name().is_some_and(|n| n == "alembic.ini");
    }
    path.join("alembic.ini").is_file()
        || path.join("env.py").is_file()
        || std::fs::read_to_string(path.join("pyproject.toml"))
            .is_ok_and(|t| t.contains("[tool.alembic]"))
}

/// Alembic projects among `crate::formats`: the project's own Alembic applies each revision.
pub struct AlembicFormat;

impl crate::formats::ChainFormat for AlembicFormat {
    fn claims(&self, path: &Path, forced: Option<Format>) -> bool {
        match forced {
            Some(format) => format == Format::Alembic,
            None => is_project(path),
        }
    }

    fn read(&self, path: &Path, options: &DiscoverOptions) -> Result<Chain> {
        crate::chain::discover(path, options)
    }

    fn load(&self, path: &Path, options: &LoadOptions) -> Result<Loaded> {
        let graph = Graph::load(path)?;
        // Alembic runs env.py for every command: without it nothing can be verified.
        graph.project.require_env_py()?;
        let chain = to_chain(&graph, path, options.allow_multiple_heads);
        let graph = Arc::new(graph);
        Ok(Loaded {
            chain,
            runner: Box::new(AlembicRunner::new(Arc::clone(&graph), &options.runner)),
            blocking: BLOCKING,
            history: History::Revisions(graph),
        })
    }
}

/// Graph problems that leave no order to apply the revisions in: nothing is applied.
pub const BLOCKING: &[&str] = &["cycle", "self-loop", "missing-parent", "duplicate-id"];

fn kind_name(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::MultipleHeads => "multiple-heads",
        ProblemKind::Cycle => "cycle",
        ProblemKind::SelfLoop => "self-loop",
        ProblemKind::MissingParent => "missing-parent",
        ProblemKind::DuplicateId => "duplicate-id",
        ProblemKind::DuplicateLabel => "duplicate-label",
        ProblemKind::ForbiddenCharacter => "forbidden-character",
    }
}

/// The chain `verify` walks: revisions in topological order, with the graph's problems.
pub fn to_chain(graph: &Graph, root: &Path, allow_multiple_heads: bool) -> Chain {
    let script = |file: &PathBuf| Script {
        file: file.clone(),
        segments: Vec::new(),
        no_transaction: false,
    };
    let migrations = graph
        .revisions
        .iter()
        .enumerate()
        .map(|(i, r)| Migration {
            version: Version::number(i as u128, &r.id),
            name: r
                .file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| r.id.clone()),
            id: r.id.clone(),
            up: script(&r.file),
            down: Some(script(&r.file)),
            files: vec![r.file.clone()],
            repeatable: false,
        })
        .collect();
    let problems = graph
        .problems(allow_multiple_heads)
        .into_iter()
        .map(|p| ChainProblem {
            kind: kind_name(p.kind),
            severity: ProblemSeverity::Error,
            file: p.file,
            line: p.line,
            message: p.message,
        })
        .collect();
    Chain {
        root: root.to_path_buf(),
        format: Format::Alembic,
        migrations,
        problems,
        format_reason: "an Alembic project".to_string(),
    }
}
