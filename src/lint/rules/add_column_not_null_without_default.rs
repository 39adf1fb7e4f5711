//! `ADD COLUMN ... NOT NULL` without `DEFAULT` on an existing table.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-column-not-null-without-default",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "a NOT NULL column without a DEFAULT added to an existing table",
    why: "Postgres rejects it as soon as the table has a row: the migration passes on the empty \
          CI database and fails in production. MySQL/MariaDB accept it and silently give every \
          existing row the type's zero value (0, '', a zero date).",
    recipe: "add the column nullable (or with an explicit DEFAULT), backfill it in batches, then \
             enforce NOT NULL",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::AddColumn(a) = op {
            let generated = a.stored_generated || a.identity || a.auto_increment || a.is_serial();
            if a.not_null && a.default.is_none() && !generated && !ctx.is_empty_table(&a.table) {
                let what = if ctx.is_pg() {
                    "fails on the first non-empty table"
                } else {
                    "gives existing rows a silent zero value"
                };
                out.push(Hit::new(
                    format!(
                        "column `{}` is added to `{}` as NOT NULL without a DEFAULT: {what}",
                        a.column.display, a.table.display
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

    const ID: &str = "add-column-not-null-without-default";

    #[test]
    fn fires_without_default() {
        assert!(fires(
            Engine::Postgres,
            "ALTER TABLE t ADD COLUMN a int NOT NULL",
            ID
        ));
        assert!(fires(
            Engine::Mysql,
            "ALTER TABLE t ADD COLUMN a int NOT NULL",
            ID
        ));
    }

    #[test]
    fn quiet_with_default_nullable_or_new_table() {
        assert!(!fires(
            Engine::Postgres,
            "ALTER TABLE t ADD COLUMN a int NOT NULL DEFAULT 0",
            ID
        ));
        assert!(!fires(
            Engine::Postgres,
            "ALTER TABLE t ADD COLUMN a int",
            ID
        ));
        assert!(!fires(
            Engine::Postgres,
            "CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN a int NOT NULL;",
            ID
        ));
        assert!(!fires(
            Engine::Postgres,
            "ALTER TABLE t ADD COLUMN a bigserial NOT NULL",
            ID
        ));
    }

    #[test]
    fn quiet_on_a_table_the_migration_emptied() {
        for engine in [Engine::Postgres, Engine::Mysql] {
            for empty in ["DELETE FROM t", "TRUNCATE t", "TRUNCATE TABLE t"] {
                let sql = format!("{empty}; ALTER TABLE t ADD COLUMN a int NOT NULL;");
                assert!(!fires(engine, &sql, ID), "{engine:?} {sql}");
            }
        }
    }

    #[test]
    fn fires_when_rows_may_be_back() {
        for between in [
            "INSERT INTO t VALUES (1);",
            "SELECT refill();",
            "DO $$ BEGIN INSERT INTO t VALUES (1); END $$;",
        ] {
            let sql = format!("DELETE FROM t; {between} ALTER TABLE t ADD COLUMN a int NOT NULL;");
            assert!(fires(Engine::Postgres, &sql, ID), "{sql}");
        }
        // A DELETE with a WHERE clause leaves rows; another table's DELETE is not this one's.
        assert!(fires(
            Engine::Postgres,
            "DELETE FROM t WHERE a = 1; ALTER TABLE t ADD COLUMN a int NOT NULL;",
            ID
        ));
        assert!(fires(
            Engine::Postgres,
            "DELETE FROM u; ALTER TABLE t ADD COLUMN a int NOT NULL;",
            ID
        ));
    }
}
