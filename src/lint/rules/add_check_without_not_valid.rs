//! `ADD CHECK` without `NOT VALID` (Postgres).

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{ConstraintKind, Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-check-without-not-valid",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "a CHECK constraint added without NOT VALID scans the table under ACCESS EXCLUSIVE",
    why: "every existing row is checked while ACCESS EXCLUSIVE is held: reads and writes wait",
    recipe: "`ADD CONSTRAINT c CHECK (...) NOT VALID`, then `VALIDATE CONSTRAINT c` in a later \
             migration",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::AddConstraint {
            table,
            kind: ConstraintKind::Check,
            not_valid: false,
            name,
            ..
        } = op
        {
            if ctx.is_new(table) {
                continue;
            }
            out.push(Hit::new(
                format!(
                    "CHECK constraint {}on `{}` is added without NOT VALID: full scan under ACCESS EXCLUSIVE",
                    name.as_deref().map(|n| format!("`{n}` ")).unwrap_or_default(),
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
    use crate::lint::rules::test_support::fires;

    const ID: &str = "add-check-without-not-valid";

    #[test]
    fn not_valid_silences() {
        assert!(fires(
            Engine::Postgres,
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)",
            ID
        ));
        assert!(!fires(
            Engine::Postgres,
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID",
            ID
        ));
    }
}
