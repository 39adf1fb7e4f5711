//! The first FULLTEXT index of a table (MySQL/MariaDB): a table copy.

use super::{Ctx, Hit, Rule, MY};
use crate::lint::model::{ConstraintKind, Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-fulltext-index",
    severity: Severity::Warning,
    engines: MY,
    default_enabled: true,
    summary: "the first FULLTEXT index on a table rebuilds it",
    why: "InnoDB adds a hidden FTS_DOC_ID column for the first FULLTEXT index: the table is \
          rebuilt and concurrent writes are blocked",
    recipe: "create the table with an `FTS_DOC_ID BIGINT UNSIGNED NOT NULL AUTO_INCREMENT` column \
             and a unique index on it up front, or use gh-ost / pt-online-schema-change",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        let table = match op {
            Op::AddConstraint {
                table,
                kind: ConstraintKind::Fulltext,
                ..
            } => table,
            Op::CreateIndex {
                table,
                fulltext: true,
                ..
            } => table,
            _ => continue,
        };
        if !ctx.is_new(table) && !ctx.fulltext_tables.contains(&table.key) {
            out.push(Hit::new(
                format!(
                    "a FULLTEXT index on `{}` (its first, as far as this chain shows) rebuilds the table",
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

    const ID: &str = "add-fulltext-index";

    #[test]
    fn first_fulltext() {
        assert!(fires(
            Engine::Mysql,
            "ALTER TABLE t ADD FULLTEXT INDEX ft (body)",
            ID
        ));
        assert!(fires(
            Engine::Mysql,
            "CREATE FULLTEXT INDEX ft ON t (body)",
            ID
        ));
        assert!(!fires(
            Engine::Mysql,
            "ALTER TABLE t ADD INDEX i (body)",
            ID
        ));
    }
}
