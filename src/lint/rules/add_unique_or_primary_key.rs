//! `ADD UNIQUE` / `ADD PRIMARY KEY` that builds its index under the table lock (Postgres).

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{ConstraintKind, Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-unique-or-primary-key",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "ADD UNIQUE / ADD PRIMARY KEY builds an index under ACCESS EXCLUSIVE",
    why: "the constraint's index is built while the table is locked ACCESS EXCLUSIVE: no reads, \
          no writes for the whole build",
    recipe:
        "`CREATE UNIQUE INDEX CONCURRENTLY idx ON t (...)` (non-transactional migration), then \
             `ALTER TABLE t ADD CONSTRAINT c UNIQUE USING INDEX idx` (or PRIMARY KEY USING INDEX)",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        let (table, what) = match op {
            Op::AddConstraint {
                table,
                kind: ConstraintKind::Unique,
                ..
            } => (table, "UNIQUE constraint".to_string()),
            Op::AddConstraint {
                table,
                kind: ConstraintKind::PrimaryKey,
                ..
            } => (table, "PRIMARY KEY".to_string()),
            Op::AddColumn(a) if a.primary_key || a.unique => (
                &a.table,
                format!(
                    "{} column `{}`",
                    if a.primary_key {
                        "PRIMARY KEY"
                    } else {
                        "UNIQUE"
                    },
                    a.column.display
                ),
            ),
            _ => continue,
        };
        if ctx.is_new(table) {
            continue;
        }
        out.push(Hit::new(
            format!(
                "{what} on `{}` builds its index under ACCESS EXCLUSIVE",
                table.display
            ),
            op.at(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "add-unique-or-primary-key";

    #[test]
    fn using_index_is_safe() {
        assert!(fires(
            Engine::Postgres,
            "ALTER TABLE t ADD CONSTRAINT u UNIQUE (a)",
            ID
        ));
        assert!(fires(
            Engine::Postgres,
            "ALTER TABLE t ADD PRIMARY KEY (id)",
            ID
        ));
        assert!(!fires(
            Engine::Postgres,
            "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX i",
            ID
        ));
    }
}
