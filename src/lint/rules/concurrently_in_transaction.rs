//! `CREATE/DROP INDEX CONCURRENTLY`, `REINDEX CONCURRENTLY` in a transaction: the deploy fails.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "concurrently-in-transaction",
    severity: Severity::Error,
    engines: PG,
    default_enabled: true,
    summary: "a CONCURRENTLY index operation in a migration that runs inside a transaction",
    why: "CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY refuse to \
          run inside a transaction block (and inside a multi-statement string): the statement \
          errors and the deploy fails",
    recipe: "put the statement alone in its own migration and mark that migration \
             non-transactional (sqlx `-- no-transaction`, dbmate `transaction:false`, goose \
             `-- +goose NO TRANSACTION`, Diesel `run_in_transaction = false`, Flyway \
             `executeInTransaction=false`)",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    if !ctx.in_transaction {
        return;
    }
    for op in &stmt.ops {
        let what = match op {
            Op::CreateIndex {
                concurrently: true, ..
            } => "CREATE INDEX CONCURRENTLY",
            Op::DropIndex {
                concurrently: true, ..
            } => "DROP INDEX CONCURRENTLY",
            Op::Reindex {
                concurrently: true, ..
            } => "REINDEX CONCURRENTLY",
            _ => continue,
        };
        out.push(Hit::new(
            format!("{what} cannot run inside a transaction block: this migration runs in one"),
            op.at(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::lint;

    const ID: &str = "concurrently-in-transaction";

    fn fires(no_tx: bool, sql: &str) -> bool {
        lint(Engine::Postgres, None, no_tx, sql)
            .iter()
            .any(|(r, _)| r == ID)
    }

    #[test]
    fn depends_on_the_transaction_flag() {
        assert!(fires(false, "CREATE INDEX CONCURRENTLY i ON t (a)"));
        assert!(!fires(true, "CREATE INDEX CONCURRENTLY i ON t (a)"));
        assert!(fires(false, "DROP INDEX CONCURRENTLY i"));
        assert!(fires(
            true,
            "BEGIN; CREATE INDEX CONCURRENTLY i ON t (a); COMMIT;"
        ));
    }
}
