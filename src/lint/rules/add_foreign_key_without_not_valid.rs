//! `ADD FOREIGN KEY` without `NOT VALID` (Postgres).

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{ConstraintKind, Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-foreign-key-without-not-valid",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "a foreign key added without NOT VALID scans the table under lock",
    why: "the constraint is checked against every existing row while SHARE ROW EXCLUSIVE is held \
          on both the table and the referenced table: writes to both wait for the full scan",
    recipe: "`ADD CONSTRAINT fk FOREIGN KEY (...) REFERENCES ... NOT VALID`, then `VALIDATE \
             CONSTRAINT fk` in a later migration (it only takes SHARE UPDATE EXCLUSIVE)",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::AddConstraint {
            table,
            kind: ConstraintKind::ForeignKey,
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
                    "foreign key {}on `{}` is added without NOT VALID: full scan while both tables are locked",
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

    const ID: &str = "add-foreign-key-without-not-valid";

    #[test]
    fn not_valid_silences() {
        let bad = "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES u (id)";
        assert!(fires(Engine::Postgres, bad, ID));
        assert!(!fires(Engine::Postgres, &format!("{bad} NOT VALID"), ID));
    }
}
