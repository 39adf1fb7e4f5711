//! `TRUNCATE`: data loss.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "truncate",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "TRUNCATE deletes every row of a table",
    why: "all rows are gone (no down migration brings them back) and the table is locked \
          ACCESS EXCLUSIVE on Postgres",
    recipe: "delete only what must go, in batches, or move the data aside first; if the table \
             really is disposable, suppress with a reason",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::Truncate { tables } = op {
            for t in tables.iter().filter(|t| !ctx.is_new(t)) {
                out.push(Hit::new(
                    format!("table `{}` is truncated: every row is lost", t.display),
                    t.at,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "truncate";

    #[test]
    fn fires_on_both_engines() {
        assert!(fires(Engine::Postgres, "TRUNCATE t", ID));
        assert!(fires(Engine::Mysql, "TRUNCATE TABLE t", ID));
        assert!(!fires(Engine::Postgres, "DELETE FROM t WHERE id < 10", ID));
    }
}
