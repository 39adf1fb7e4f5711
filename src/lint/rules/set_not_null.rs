//! `ALTER COLUMN ... SET NOT NULL`: a full scan under ACCESS EXCLUSIVE.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "set-not-null",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "ALTER COLUMN ... SET NOT NULL scans the whole table under ACCESS EXCLUSIVE",
    why: "Postgres must prove that no row holds NULL; it reads the whole table while holding \
          ACCESS EXCLUSIVE, so every read and write waits",
    recipe: "PostgreSQL 12+: `ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`, then (next \
             migration) `VALIDATE CONSTRAINT c`, then `SET NOT NULL` (no scan), then drop c",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::SetNotNull { table, column } = op {
            if ctx.is_new(table)
                || ctx
                    .not_null_checks
                    .contains(&(table.key.clone(), column.key.clone()))
            {
                continue;
            }
            let mut hit = Hit::new(
                format!(
                    "SET NOT NULL on `{}.{}` scans the whole table under ACCESS EXCLUSIVE",
                    table.display, column.display
                ),
                op.at(),
            );
            if ctx.pg_major < 12 {
                hit = hit.help(format!(
                    "PostgreSQL {} cannot use a validated CHECK constraint to skip the scan (12+ \
                     can): run it in a quiet window with a short lock_timeout, or upgrade and \
                     use CHECK (col IS NOT NULL) NOT VALID + VALIDATE first",
                    ctx.pg_major
                ));
            }
            out.push(hit);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::lint;

    const ID: &str = "set-not-null";

    fn help(pg: u32, sql: &str) -> Option<String> {
        let config = crate::lint::LintConfig {
            pg_version: Some(pg),
            ..Default::default()
        };
        crate::lint::lint_text(sql, "x.sql", Engine::Postgres, false, &config)
            .into_iter()
            .find(|f| f.rule == ID)
            .and_then(|f| f.help)
    }

    #[test]
    fn recipe_depends_on_version() {
        let sql = "ALTER TABLE t ALTER COLUMN a SET NOT NULL";
        assert!(help(11, sql)
            .unwrap()
            .contains("cannot use a validated CHECK"));
        assert!(help(12, sql).unwrap().contains("NOT VALID"));
    }

    #[test]
    fn validated_check_in_same_migration_silences() {
        let sql = "ALTER TABLE t ADD CONSTRAINT c CHECK (a IS NOT NULL) NOT VALID;\n\
                   ALTER TABLE t VALIDATE CONSTRAINT c;\n\
                   ALTER TABLE t ALTER COLUMN a SET NOT NULL;";
        assert!(!lint(Engine::Postgres, Some(12), false, sql)
            .iter()
            .any(|(r, _)| r == ID));
        assert!(lint(
            Engine::Postgres,
            Some(12),
            false,
            "ALTER TABLE t ALTER COLUMN a SET NOT NULL"
        )
        .iter()
        .any(|(r, _)| r == ID));
    }
}
