//! `DROP INDEX` without `CONCURRENTLY`.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "drop-index-non-concurrently",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table",
    why: "a plain DROP INDEX locks the index's table ACCESS EXCLUSIVE; while it waits for running \
          queries, every later query on the table queues behind it",
    recipe: "`DROP INDEX CONCURRENTLY` in a migration that runs outside a transaction",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::DropIndex {
            names,
            concurrently: false,
        } = op
        {
            for n in names {
                if ctx.created_indexes.contains(&n.key) {
                    continue;
                }
                out.push(Hit::new(
                    format!(
                        "index `{}` is dropped without CONCURRENTLY: ACCESS EXCLUSIVE on its table",
                        n.display
                    ),
                    n.at,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::{fires, lint};

    const ID: &str = "drop-index-non-concurrently";

    #[test]
    fn plain_fires_concurrently_does_not() {
        assert!(fires(Engine::Postgres, "DROP INDEX i", ID));
        assert!(!lint(
            Engine::Postgres,
            None,
            true,
            "DROP INDEX CONCURRENTLY IF EXISTS i"
        )
        .iter()
        .any(|(r, _)| r == ID));
        assert!(!fires(Engine::Mysql, "DROP INDEX i ON t", ID));
    }
}
