//! `ADD COLUMN ... GENERATED ALWAYS AS (...) STORED` on an existing table.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-column-stored-generated",
    severity: Severity::Warning,
    engines: ALL,
    default_enabled: true,
    summary: "a STORED generated column added to an existing table",
    why: "every existing row must get the computed value: Postgres rewrites the table under \
          ACCESS EXCLUSIVE, MySQL/MariaDB copy the table and block writes for the duration",
    recipe: "add a plain nullable column, fill it from a trigger or the application plus a \
             batched backfill; on MySQL a VIRTUAL generated column is added instantly",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::AddColumn(a) = op {
            if a.stored_generated && !ctx.is_new(&a.table) {
                let effect = if ctx.is_pg() {
                    "rewrites the table under ACCESS EXCLUSIVE"
                } else {
                    "copies the table (writes blocked)"
                };
                out.push(Hit::new(
                    format!(
                        "stored generated column `{}` added to `{}` {effect}",
                        a.column.display, a.table.display
                    ),
                    op.at(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "add-column-stored-generated";

    #[test]
    fn stored_fires_virtual_does_not() {
        assert!(fires(
            Engine::Postgres,
            "ALTER TABLE t ADD COLUMN d int GENERATED ALWAYS AS (a * 2) STORED",
            ID
        ));
        assert!(fires(
            Engine::Mysql,
            "ALTER TABLE t ADD COLUMN d int AS (a * 2) STORED",
            ID
        ));
        assert!(!fires(
            Engine::Mysql,
            "ALTER TABLE t ADD COLUMN d int AS (a * 2) VIRTUAL",
            ID
        ));
    }
}
