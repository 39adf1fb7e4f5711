//! `DROP TABLE`: data loss, breaks running code.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "drop-table",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "DROP TABLE loses data and breaks code that still uses the table",
    why: "the data is gone (a down migration cannot bring it back) and the application version \
          still running during a rolling deploy fails on every query of the table",
    recipe: "expand/contract: stop using the table in a released version first, keep a backup, \
             then drop it in a later migration (suppress with a reason once that is done)",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::DropTable { tables } = op {
            for t in tables.iter().filter(|t| !ctx.is_new(t)) {
                out.push(Hit::new(
                    format!("table `{}` is dropped: its data is lost", t.display),
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

    const ID: &str = "drop-table";

    #[test]
    fn fires_on_existing_tables() {
        assert!(fires(Engine::Postgres, "DROP TABLE IF EXISTS users", ID));
        assert!(fires(Engine::Mysql, "DROP TABLE users", ID));
        assert!(!fires(
            Engine::Postgres,
            "CREATE TABLE tmp (a int); DROP TABLE tmp;",
            ID
        ));
        assert!(!fires(Engine::Postgres, "DROP VIEW v", ID));
    }
}
