//! `LOCK=SHARED` / `LOCK=EXCLUSIVE` (MySQL/MariaDB).

use super::{Ctx, Hit, Rule, MY};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "lock-shared-or-exclusive",
    severity: Severity::Warning,
    engines: MY,
    default_enabled: true,
    summary: "ALTER TABLE ... LOCK=SHARED / LOCK=EXCLUSIVE blocks writes / all access",
    why: "LOCK=SHARED blocks writes and LOCK=EXCLUSIVE blocks reads and writes for the whole \
          ALTER",
    recipe: "leave LOCK at its default or ask for `LOCK=NONE` (the server then refuses an \
             operation that cannot run without blocking)",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::Lock { table, lock } = op {
            let effect = match lock.as_str() {
                "shared" => "blocks writes",
                "exclusive" => "blocks reads and writes",
                _ => continue,
            };
            if !ctx.is_new(table) {
                out.push(Hit::new(
                    format!(
                        "LOCK={} on `{}` {effect} for the whole ALTER",
                        lock.to_uppercase(),
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

    const ID: &str = "lock-shared-or-exclusive";

    #[test]
    fn shared_exclusive_none() {
        assert!(fires(
            Engine::Mysql,
            "ALTER TABLE t ADD INDEX i (a), LOCK=SHARED",
            ID
        ));
        assert!(fires(
            Engine::Mariadb,
            "ALTER TABLE t ADD INDEX i (a), LOCK=EXCLUSIVE",
            ID
        ));
        assert!(!fires(
            Engine::Mysql,
            "ALTER TABLE t ADD INDEX i (a), LOCK=NONE",
            ID
        ));
    }
}
