//! Adding or dropping a primary key on MySQL/MariaDB: a table rebuild.

use super::{Ctx, Hit, Rule, MY};
use crate::lint::model::{ConstraintKind, Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "change-primary-key",
    severity: Severity::Warning,
    engines: MY,
    default_enabled: true,
    summary: "adding or dropping a primary key rebuilds (MySQL/MariaDB) the table",
    why: "InnoDB stores rows in primary key order (the clustered index): changing it rebuilds the \
          whole table, and dropping it without adding another forces ALGORITHM=COPY",
    recipe: "drop and add in the same ALTER TABLE (in place), or use gh-ost / \
             pt-online-schema-change",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        let (table, what) = match op {
            Op::DropPrimaryKey { table } => (table, "dropped"),
            Op::AddConstraint {
                table,
                kind: ConstraintKind::PrimaryKey,
                ..
            } => (table, "added"),
            Op::AddColumn(a) if a.primary_key => (&a.table, "added"),
            _ => continue,
        };
        if !ctx.is_new(table) {
            out.push(Hit::new(
                format!(
                    "the primary key of `{}` is {what}: the table is rebuilt",
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

    const ID: &str = "change-primary-key";

    #[test]
    fn add_and_drop() {
        assert!(fires(Engine::Mysql, "ALTER TABLE t DROP PRIMARY KEY", ID));
        assert!(fires(
            Engine::Mysql,
            "ALTER TABLE t ADD PRIMARY KEY (id)",
            ID
        ));
        assert!(!fires(
            Engine::Mysql,
            "ALTER TABLE t ADD UNIQUE KEY u (id)",
            ID
        ));
    }
}
