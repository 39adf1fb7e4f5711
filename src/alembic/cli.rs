//! `migcheck heads` and `migcheck graph`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::graph::{Graph, Problem};
use crate::error::{exit, Result};

#[derive(Debug, Args)]
pub struct HeadsArgs {
    /// The Alembic project: the folder holding alembic.ini (or pyproject.toml with
    /// [tool.alembic]), the file itself, or the script folder holding env.py.
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The Alembic project (as for `migcheck heads`).
    pub path: PathBuf,

    /// Print the graph as JSON.
    #[arg(long)]
    pub json: bool,

    /// Do not fail when the graph has more than one head (branches meant to stay apart).
    #[arg(long)]
    pub allow_multiple_heads: bool,
}

fn rel<'a>(graph: &Graph, p: &'a Path) -> std::borrow::Cow<'a, str> {
    p.strip_prefix(&graph.project.root)
        .unwrap_or(p)
        .to_string_lossy()
}

fn print_problems(problems: &[Problem]) {
    for p in problems {
        eprintln!("error: {p}");
    }
}

/// `migcheck heads PATH`: the heads as `alembic heads` prints them (`<rev> (labels) (head)`).
/// Exit 0 even with several heads (like `alembic heads`; `migcheck graph` is the check);
/// exit 1 when the graph is broken (cycle, missing parent, duplicate id or label, bad id).
pub fn run_heads(args: HeadsArgs) -> Result<u8> {
    let graph = Graph::load(&args.path)?;
    for head in graph.heads() {
        let labels = graph.labels_of(&head.id);
        if labels.is_empty() {
            println!("{} (head)", head.id);
        } else {
            println!("{} ({}) (head)", head.id, labels.join(", "));
        }
    }
    let problems = graph.problems(true);
    print_problems(&problems);
    Ok(if problems.is_empty() {
        exit::PASS
    } else {
        exit::GATE_FAILED
    })
}

/// `migcheck graph PATH`: bases, branch points, merge points, heads and every edge, oldest
/// first; exit 1 on any problem (several heads count unless `--allow-multiple-heads`).
pub fn run_graph(args: GraphArgs) -> Result<u8> {
    let graph = Graph::load(&args.path)?;
    let problems = graph.problems(args.allow_multiple_heads);
    if args.json {
        let text = serde_json::to_string_pretty(&graph.to_json(args.allow_multiple_heads))
            .unwrap_or_else(|_| "{}".to_string());
        println!("{text}");
    } else {
        print!("{}", render_text(&graph));
    }
    print_problems(&problems);
    Ok(if problems.is_empty() {
        exit::PASS
    } else {
        exit::GATE_FAILED
    })
}

/// The readable form of `migcheck graph`.
pub fn render_text(graph: &Graph) -> String {
    let ids = |v: Vec<&super::graph::Revision>| -> String {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut out = String::new();
    out.push_str(&format!(
        "Alembic project {} ({} revisions)\n",
        graph.project.config_file().display(),
        graph.revisions.len()
    ));
    out.push_str(&format!("bases:          {}\n", ids(graph.bases())));
    out.push_str(&format!("branch points:  {}\n", ids(graph.branch_points())));
    out.push_str(&format!("merge points:   {}\n", ids(graph.merge_points())));
    out.push_str(&format!("heads:          {}\n\n", ids(graph.heads())));
    let heads: Vec<String> = graph.heads().iter().map(|r| r.id.clone()).collect();
    let branch: Vec<String> = graph.branch_points().iter().map(|r| r.id.clone()).collect();
    for r in &graph.revisions {
        let parents = if r.down_revisions.is_empty() {
            "<base>".to_string()
        } else {
            r.down_revisions.join(", ")
        };
        let mut line = format!("{parents} -> {}", r.id);
        if !r.branch_labels.is_empty() {
            line.push_str(&format!(" ({})", r.branch_labels.join(", ")));
        }
        if heads.contains(&r.id) {
            line.push_str(" (head)");
        }
        if branch.contains(&r.id) {
            line.push_str(" (branchpoint)");
        }
        if r.down_revisions.len() > 1 {
            line.push_str(" (mergepoint)");
        }
        if !r.depends_on.is_empty() {
            line.push_str(&format!(" [depends on {}]", r.depends_on.join(", ")));
        }
        if let Some(doc) = &r.doc {
            line.push_str(&format!(", {doc}"));
        }
        line.push_str(&format!("  ({}:{})", rel(graph, &r.file), r.line));
        out.push_str(&line);
        out.push('\n');
    }
    out
}
