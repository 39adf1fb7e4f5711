//! `CLUSTER`: a rewrite under ACCESS EXCLUSIVE.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "cluster",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "CLUSTER rewrites the table under ACCESS EXCLUSIVE",
    why: "the table is rewritten in index order while every read and write waits",
    recipe: "pg_repack --order-by reorders the table online",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::Cluster { table } = op {
            if table.as_ref().is_some_and(|t| ctx.is_new(t)) {
                continue;
            }
            let what = table
                .as_ref()
                .map(|t| format!("`{}`", t.display))
                .unwrap_or_else(|| "every clustered table".to_string());
            out.push(Hit::new(
                format!("CLUSTER rewrites {what} under ACCESS EXCLUSIVE"),
                None,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "cluster";

    #[test]
    fn fires_and_stays_quiet() {
        assert!(fires(Engine::Postgres, "CLUSTER t USING t_pkey", ID));
        assert!(!fires(
            Engine::Postgres,
            "ALTER TABLE t CLUSTER ON t_pkey",
            ID
        ));
    }
}
