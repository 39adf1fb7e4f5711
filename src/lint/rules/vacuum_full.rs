//! `VACUUM FULL`: a rewrite under ACCESS EXCLUSIVE.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "vacuum-full",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE",
    why: "the table is copied into a new file while reads and writes are blocked; it also cannot \
          run inside a transaction block",
    recipe: "pg_repack (or pg_squeeze) rebuilds the table online; plain VACUUM needs no \
             exclusive lock",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::VacuumFull { table } = op {
            if table.as_ref().is_some_and(|t| ctx.is_new(t)) {
                continue;
            }
            let what = table
                .as_ref()
                .map(|t| format!("`{}`", t.display))
                .unwrap_or_else(|| "every table".to_string());
            out.push(Hit::new(
                format!("VACUUM FULL rewrites {what} under ACCESS EXCLUSIVE"),
                op.at(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "vacuum-full";

    #[test]
    fn full_only() {
        assert!(fires(Engine::Postgres, "VACUUM FULL t", ID));
        assert!(fires(Engine::Postgres, "VACUUM (FULL, ANALYZE) t", ID));
        assert!(!fires(Engine::Postgres, "VACUUM t", ID));
    }
}
