//! `CREATE INDEX` without `CONCURRENTLY` on an existing table.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "create-index-non-concurrently",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "CREATE INDEX without CONCURRENTLY on an existing table blocks writes",
    why: "a plain CREATE INDEX holds a SHARE lock for the whole build: every INSERT, UPDATE and \
          DELETE on the table waits until the index is built",
    recipe: "`CREATE INDEX CONCURRENTLY` in a migration that runs outside a transaction (one \
             statement per migration, marked non-transactional for your tool)",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::CreateIndex {
            name,
            table,
            concurrently: false,
            ..
        } = op
        {
            if ctx.is_new(table) {
                continue;
            }
            let name = name
                .as_ref()
                .map(|n| format!("index `{}`", n.display))
                .unwrap_or_else(|| "an index".to_string());
            out.push(Hit::new(
                format!(
                    "{name} is built on `{}` without CONCURRENTLY: writes are blocked for the whole build",
                    table.display
                ),
                op.at(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::{fires, lint};

    const ID: &str = "create-index-non-concurrently";

    #[test]
    fn plain_fires_concurrently_does_not() {
        assert!(fires(Engine::Postgres, "CREATE INDEX i ON t (a)", ID));
        assert!(!lint(
            Engine::Postgres,
            None,
            true,
            "CREATE INDEX CONCURRENTLY i ON t (a)"
        )
        .iter()
        .any(|(r, _)| r == ID));
        assert!(!fires(
            Engine::Postgres,
            "CREATE TABLE t (a int); CREATE INDEX i ON t (a);",
            ID
        ));
        assert!(!fires(Engine::Mysql, "CREATE INDEX i ON t (a)", ID));
    }
}
