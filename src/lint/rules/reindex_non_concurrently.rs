//! `REINDEX` without `CONCURRENTLY`.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "reindex-non-concurrently",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "REINDEX without CONCURRENTLY locks out writes (and reads of the index)",
    why: "REINDEX locks the index ACCESS EXCLUSIVE and its table against writes for the whole \
          rebuild",
    recipe: "`REINDEX ... CONCURRENTLY` (PostgreSQL 12+) in a migration that runs outside a \
             transaction, or pg_repack",
    check,
};

fn check(_ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::Reindex {
            target,
            concurrently: false,
        } = op
        {
            out.push(Hit::new(
                format!("REINDEX of `{target}` without CONCURRENTLY blocks writes"),
                None,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::{fires, lint};

    const ID: &str = "reindex-non-concurrently";

    #[test]
    fn plain_fires_concurrently_does_not() {
        assert!(fires(Engine::Postgres, "REINDEX TABLE t", ID));
        assert!(
            !lint(Engine::Postgres, None, true, "REINDEX INDEX CONCURRENTLY i")
                .iter()
                .any(|(r, _)| r == ID)
        );
    }
}
