//! `DROP COLUMN`: data loss, breaks running code.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "drop-column",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "DROP COLUMN loses data and breaks code that still reads or writes the column",
    why: "the column's data is gone, and the application version still running during a rolling \
          deploy (or any ORM that selects every column) fails",
    recipe: "expand/contract: stop reading and writing the column in a released version (ignore \
             it in the ORM), then drop it in a later migration",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::DropColumn { table, column } = op {
            if !ctx.is_new(table) {
                out.push(Hit::new(
                    format!(
                        "column `{}` of `{}` is dropped: its data is lost",
                        column.display, table.display
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

    const ID: &str = "drop-column";

    #[test]
    fn fires_and_stays_quiet() {
        assert!(fires(Engine::Postgres, "ALTER TABLE t DROP COLUMN a", ID));
        assert!(fires(Engine::Mysql, "ALTER TABLE t DROP COLUMN a", ID));
    }

    #[test]
    fn quiet_on_constraints() {
        assert!(!fires(
            Engine::Postgres,
            "ALTER TABLE t DROP CONSTRAINT c",
            ID
        ));
    }
}
