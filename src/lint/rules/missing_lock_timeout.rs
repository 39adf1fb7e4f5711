//! DDL on an existing table without a lock timeout set first (opt-in).

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::Stmt;
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "missing-lock-timeout",
    severity: Severity::Warning,
    engines: ALL,
    default_enabled: false,
    summary: "DDL on an existing table without SET lock_timeout / lock_wait_timeout first",
    why: "a DDL statement waits for its lock behind running transactions, and while it waits \
          every later query on the table queues behind it: a long-running report can stall all \
          traffic",
    recipe: "Postgres: `SET lock_timeout = '5s';` at the top of the migration (and retry on \
             timeout); MySQL/MariaDB: `SET SESSION lock_wait_timeout = 5;`",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    if ctx.lock_timeout_set || ctx.locking_before > 0 {
        return;
    }
    let Some(table) = stmt
        .ops
        .iter()
        .filter_map(|op| op.table())
        .find(|t| !ctx.is_new(t))
    else {
        return;
    };
    let setting = if ctx.is_pg() {
        "lock_timeout"
    } else {
        "lock_wait_timeout"
    };
    out.push(Hit::new(
        format!(
            "`{}` is locked without {setting} set: waiting for the lock stalls every query behind it",
            table.display
        ),
        table.at,
    ));
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::lint;

    const ID: &str = "missing-lock-timeout";

    fn count(engine: Engine, sql: &str) -> usize {
        lint(engine, None, false, sql)
            .iter()
            .filter(|(r, _)| r == ID)
            .count()
    }

    #[test]
    fn once_per_migration_and_silenced_by_set() {
        assert_eq!(
            count(
                Engine::Postgres,
                "ALTER TABLE t ADD COLUMN a int; ALTER TABLE t ADD COLUMN b int;"
            ),
            1
        );
        assert_eq!(
            count(
                Engine::Postgres,
                "SET lock_timeout = '5s'; ALTER TABLE t ADD COLUMN a int;"
            ),
            0
        );
        assert_eq!(
            count(
                Engine::Postgres,
                "SET lock_timeout = 0; ALTER TABLE t ADD COLUMN a int;"
            ),
            1
        );
        assert_eq!(
            count(
                Engine::Mysql,
                "SET SESSION lock_wait_timeout = 5; ALTER TABLE t ADD COLUMN a int;"
            ),
            0
        );
        assert_eq!(count(Engine::Postgres, "CREATE TABLE t (a int);"), 0);
    }

    #[test]
    fn off_by_default() {
        let f = crate::lint::lint_text(
            "ALTER TABLE t ADD COLUMN a int",
            "x.sql",
            Engine::Postgres,
            false,
            &crate::lint::LintConfig::default(),
        );
        assert!(!f.iter().any(|f| f.rule == ID));
    }
}
