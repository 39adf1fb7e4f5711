//! `ADD FOREIGN KEY` while `foreign_key_checks=1` (MySQL/MariaDB): a table copy.

use super::{Ctx, Hit, Rule, MY};
use crate::lint::model::{ConstraintKind, Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-foreign-key-with-checks",
    severity: Severity::Warning,
    engines: MY,
    default_enabled: true,
    summary: "a foreign key added while foreign_key_checks=1 copies the table",
    why: "with foreign_key_checks enabled InnoDB can only add a foreign key with ALGORITHM=COPY: \
          the table is copied and writes are blocked",
    recipe: "`SET foreign_key_checks = 0;` before the ALTER (in place, no copy) and check the \
             existing rows yourself, since they are then not validated",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    if ctx.fk_checks_off {
        return;
    }
    for op in &stmt.ops {
        if let Op::AddConstraint {
            table,
            kind: ConstraintKind::ForeignKey,
            ..
        } = op
        {
            if !ctx.is_new(table) {
                out.push(Hit::new(
                    format!(
                        "foreign key on `{}` with foreign_key_checks=1: the table is copied",
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

    const ID: &str = "add-foreign-key-with-checks";

    #[test]
    fn checks_setting_matters() {
        let add = "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES u (id)";
        assert!(fires(Engine::Mysql, add, ID));
        assert!(!fires(
            Engine::Mysql,
            &format!("SET foreign_key_checks = 0; {add};"),
            ID
        ));
    }
}
