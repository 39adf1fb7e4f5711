//! Alembic: `alembic_version` holds the current revision of each branch; everything those
//! revisions stand on (`down_revision` and `depends_on`, as Alembic walks them) is applied.

use std::collections::HashSet;

use crate::alembic::Graph;
use crate::chain::Chain;

use super::compare::Outcome;
use super::model::{AlembicState, HeadState, MigrationState, Problem, State, Unknown};

/// `id` and every revision it stands on; labels in `depends_on` resolve to their revision.
fn closure(graph: &Graph, ids: &[String]) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack: Vec<String> = ids.to_vec();
    while let Some(cur) = stack.pop() {
        let resolved = match graph.revision(&cur) {
            Some(r) => r,
            None => match graph.label(&cur) {
                Some(r) => r,
                None => continue,
            },
        };
        if !seen.insert(resolved.id.clone()) {
            continue;
        }
        stack.extend(resolved.down_revisions.iter().cloned());
        stack.extend(resolved.depends_on.iter().cloned());
    }
    seen
}

/// Compare the rows of `alembic_version` with the graph.
pub fn compare(graph: &Graph, chain: &Chain, current: &[String]) -> (Outcome, AlembicState) {
    let mut current: Vec<String> = current.iter().map(|c| c.trim().to_string()).collect();
    current.sort();
    let known: Vec<String> = current
        .iter()
        .filter(|c| graph.revision(c).is_some())
        .cloned()
        .collect();
    let applied = closure(graph, &known);
    let mut out = Outcome::default();
    for m in &chain.migrations {
        out.migrations.push(MigrationState {
            version: m.version.text.clone(),
            id: m.id.clone(),
            file: m.up.file.clone(),
            state: if applied.contains(&m.id) {
                State::Applied
            } else {
                State::Pending
            },
            detail: None,
        });
    }
    for c in current.iter().filter(|c| graph.revision(c).is_none()) {
        out.unknown.push(Unknown {
            version: c.clone(),
            description: None,
        });
        out.problems.push(Problem {
            kind: "unknown",
            version: Some(c.clone()),
            message: format!(
                "alembic_version holds {c}, which is not a revision of this project: \
                 `alembic upgrade` fails with \"Can't locate revision identified by '{c}'\""
            ),
            recovery: Some(
                "it was deployed from another branch, or its file was removed: restore the revision \
                 file, or `alembic stamp` the revision the schema really is at"
                    .to_string(),
            ),
        });
    }
    let heads = graph
        .heads()
        .into_iter()
        .map(|h| {
            let needed = closure(graph, std::slice::from_ref(&h.id));
            let pending = graph
                .revisions
                .iter()
                .filter(|r| needed.contains(&r.id) && !applied.contains(&r.id))
                .map(|r| r.id.clone())
                .collect();
            HeadState {
                head: h.id.clone(),
                labels: graph.labels_of(&h.id),
                applied: applied.contains(&h.id),
                pending,
            }
        })
        .collect();
    (out, AlembicState { current, heads })
}
