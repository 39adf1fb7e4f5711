//! An Alembic project seen as a migration chain, so that `verify` runs the same checks on it as
//! on a folder of SQL files: one migration per revision, in topological order, whose up and down
//! are the driver's `upgrade <rev>` and `downgrade <step back>`.

use std::path::{Path, PathBuf};

use super::graph::{Graph, ProblemKind};
use crate::chain::{Chain, ChainProblem, Format, Migration, ProblemSeverity, Script, Version};

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
