//! Table renames break the running application.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "rename-table",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "renaming a table breaks code that still uses the old name",
    why: "the application version still running during a rolling deploy queries the old name \
          and fails until every instance is replaced",
    recipe:
        "expand/contract: create the new table (or rename and leave a view with the old name), \
             switch the code, then remove the old name in a later migration",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::RenameTable { from, to } = op {
            if !ctx.is_new(from) {
                out.push(Hit::new(
                    format!(
                        "table `{}` is renamed to `{to}`: code using the old name breaks",
                        from.display
                    ),
                    from.at,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "rename-table";

    #[test]
    fn both_syntaxes() {
        assert!(fires(Engine::Postgres, "ALTER TABLE a RENAME TO b", ID));
        assert!(fires(Engine::Mysql, "RENAME TABLE a TO b", ID));
        assert!(!fires(Engine::Postgres, "ALTER INDEX a RENAME TO b", ID));
    }
}
