//! `ADD EXCLUDE` constraint (Postgres): no online way exists.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{ConstraintKind, Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-exclude-constraint",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "ADD EXCLUDE builds its index under ACCESS EXCLUSIVE",
    why: "the exclusion constraint's index is built while the table is locked ACCESS EXCLUSIVE, \
          and unlike UNIQUE there is no USING INDEX form",
    recipe: "there is no online way: run it in a maintenance window with a short lock_timeout, or \
             enforce the rule in a trigger instead",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::AddConstraint {
            table,
            kind: ConstraintKind::Exclude,
            ..
        } = op
        {
            if !ctx.is_new(table) {
                out.push(Hit::new(
                    format!(
                        "EXCLUDE constraint on `{}` builds its index under ACCESS EXCLUSIVE (no safe form exists)",
                        table.display
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

    const ID: &str = "add-exclude-constraint";

    #[test]
    fn fires_on_existing_table_only() {
        let add = "ALTER TABLE t ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&)";
        assert!(fires(Engine::Postgres, add, ID));
        assert!(!fires(
            Engine::Postgres,
            &format!("CREATE TABLE t (r int4range); {add};"),
            ID
        ));
    }
}
