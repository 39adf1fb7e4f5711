//! Statements that run while an ACCESS EXCLUSIVE lock from an earlier statement is held.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::Stmt;
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "statements-after-access-exclusive",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "statements after an ACCESS EXCLUSIVE lock in the same transaction",
    why: "a lock is held until the transaction commits: every statement that runs after the one \
          that took ACCESS EXCLUSIVE extends the time the table is unreadable and unwritable",
    recipe: "put the locking statement last in its transaction, or split the migration so that \
             it runs in a short transaction of its own",
    check,
};

fn check(ctx: &Ctx<'_>, _stmt: &Stmt, out: &mut Vec<Hit>) {
    if let Some(held) = &ctx.held_lock {
        // The statement right after is the script's own COMMIT: nothing runs under the lock.
        if held.first_after && held.remaining > 0 {
            let plural = if held.remaining == 1 { "" } else { "s" };
            out.push(Hit::new(
                format!(
                    "{} statement{plural} run while `{}` is locked ACCESS EXCLUSIVE (taken at line {})",
                    held.remaining, held.table, held.line
                ),
                None,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::lint;

    const ID: &str = "statements-after-access-exclusive";

    #[test]
    fn reports_once_on_the_statement_after() {
        let sql = "ALTER TABLE t ADD COLUMN a int;\nUPDATE u SET x = 1;\nUPDATE u SET y = 2;";
        let hits: Vec<_> = lint(Engine::Postgres, None, false, sql)
            .into_iter()
            .filter(|(r, _)| r == ID)
            .collect();
        assert_eq!(hits, vec![(ID.to_string(), 2)]);
    }

    #[test]
    fn quiet_when_the_lock_is_last_before_the_scripts_own_commit() {
        // A script that opens and commits its own transaction (Sqitch, psql): the COMMIT
        // right after the ALTER is not a statement run under the lock.
        let sql = "BEGIN;\nALTER TABLE t ADD COLUMN a int;\nCOMMIT;";
        assert!(!lint(Engine::Postgres, None, true, sql)
            .iter()
            .any(|(r, _)| r == ID));
        let sql = "BEGIN;\nALTER TABLE t ADD COLUMN a int;\nUPDATE u SET x = 1;\nCOMMIT;";
        let hits: Vec<_> = lint(Engine::Postgres, None, true, sql)
            .into_iter()
            .filter(|(r, _)| r == ID)
            .collect();
        assert_eq!(hits, vec![(ID.to_string(), 3)]);
    }

    #[test]
    fn quiet_when_last_or_outside_a_transaction() {
        let sql = "UPDATE u SET x = 1;\nALTER TABLE t ADD COLUMN a int;";
        assert!(!lint(Engine::Postgres, None, false, sql)
            .iter()
            .any(|(r, _)| r == ID));
        let sql = "ALTER TABLE t ADD COLUMN a int;\nUPDATE u SET x = 1;";
        assert!(!lint(Engine::Postgres, None, true, sql)
            .iter()
            .any(|(r, _)| r == ID));
    }
}
