//! `serial` / identity / `AUTO_INCREMENT` column added to an existing table.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-column-serial",
    severity: Severity::Warning,
    engines: ALL,
    default_enabled: true,
    summary: "a serial, identity or AUTO_INCREMENT column added to an existing table",
    why: "every existing row needs its own generated value: Postgres rewrites the table under \
          ACCESS EXCLUSIVE (nextval() is volatile), MySQL/MariaDB rebuild the table and block \
          concurrent writes",
    recipe: "add a nullable bigint column, create and attach the sequence (or identity) for new \
             rows, backfill existing rows in batches, then enforce NOT NULL",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::AddColumn(a) = op {
            let kind = if a.is_serial() {
                Some(a.data_type.as_str())
            } else if a.identity {
                Some("identity")
            } else if a.auto_increment {
                Some("AUTO_INCREMENT")
            } else {
                None
            };
            if let Some(kind) = kind {
                if !ctx.is_new(&a.table) {
                    out.push(Hit::new(
                        format!(
                            "{kind} column `{}` added to `{}`: every existing row is rewritten",
                            a.column.display, a.table.display
                        ),
                        op.at(),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "add-column-serial";

    #[test]
    fn serial_identity_auto_increment() {
        assert!(fires(
            Engine::Postgres,
            "ALTER TABLE t ADD COLUMN id bigserial",
            ID
        ));
        assert!(fires(
            Engine::Postgres,
            "ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY",
            ID
        ));
        assert!(fires(
            Engine::Mysql,
            "ALTER TABLE t ADD COLUMN id bigint AUTO_INCREMENT, ADD KEY (id)",
            ID
        ));
        assert!(!fires(
            Engine::Postgres,
            "ALTER TABLE t ADD COLUMN id bigint",
            ID
        ));
    }
}
