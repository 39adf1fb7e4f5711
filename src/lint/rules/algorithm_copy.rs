//! Explicit `ALGORITHM=COPY` (MySQL/MariaDB).

use super::{Ctx, Hit, Rule, MY};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "algorithm-copy",
    severity: Severity::Warning,
    engines: MY,
    default_enabled: true,
    summary: "ALTER TABLE ... ALGORITHM=COPY copies the table",
    why: "the table is copied row by row into a new one while writes are blocked for the whole \
          copy",
    recipe: "ask for `ALGORITHM=INSTANT` or `ALGORITHM=INPLACE, LOCK=NONE` (the server then \
             refuses rather than copies), or use gh-ost / pt-online-schema-change",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::Algorithm { table, algorithm } = op {
            if algorithm == "copy" && !ctx.is_new(table) {
                out.push(Hit::new(
                    format!("ALGORITHM=COPY copies `{}`: writes blocked", table.display),
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

    const ID: &str = "algorithm-copy";

    #[test]
    fn copy_only() {
        assert!(fires(
            Engine::Mysql,
            "ALTER TABLE t ADD COLUMN a int, ALGORITHM=COPY",
            ID
        ));
        assert!(!fires(
            Engine::Mysql,
            "ALTER TABLE t ADD COLUMN a int, ALGORITHM=INSTANT",
            ID
        ));
    }
}
