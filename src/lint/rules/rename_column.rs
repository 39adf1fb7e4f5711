//! Column renames break the running application.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "rename-column",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "renaming a column breaks code that still uses the old name",
    why: "the application version still running during a rolling deploy reads and writes the old \
          column name and fails",
    recipe: "expand/contract: add the new column, dual-write, backfill, switch reads, then drop \
             the old column in a later migration",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::RenameColumn { table, from, to } = op {
            if !ctx.is_new(table) {
                out.push(Hit::new(
                    format!(
                        "column `{}.{}` is renamed to `{to}`: code using the old name breaks",
                        table.display, from.display
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

    const ID: &str = "rename-column";

    #[test]
    fn rename_and_mysql_change() {
        assert!(fires(
            Engine::Postgres,
            "ALTER TABLE t RENAME COLUMN a TO b",
            ID
        ));
        assert!(fires(
            Engine::Mysql,
            "ALTER TABLE t CHANGE COLUMN a b int",
            ID
        ));
        assert!(!fires(
            Engine::Mysql,
            "ALTER TABLE t CHANGE COLUMN a a bigint",
            ID
        ));
    }
}
