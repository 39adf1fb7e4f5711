//! Several DDL statements in one MySQL/MariaDB migration.

use super::{Ctx, Hit, Rule, MY};
use crate::lint::model::{Kind, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "multiple-ddl-statements",
    severity: Severity::Warning,
    engines: MY,
    default_enabled: true,
    summary: "more than one DDL statement in a MySQL/MariaDB migration",
    why: "MySQL and MariaDB commit every DDL statement implicitly: when a later statement fails, \
          the earlier ones stay applied, the schema is half-migrated and the tool's version table \
          may not say so",
    recipe: "one DDL statement per migration (several changes to one table can be combined in a \
             single ALTER TABLE)",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    if stmt.kind == Kind::Ddl && ctx.ddl_before == 1 {
        out.push(Hit::new(
            format!(
                "this migration has {} DDL statements; each commits on its own, so a failure \
                 leaves it half-applied",
                ctx.ddl_total
            ),
            None,
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::lint;

    const ID: &str = "multiple-ddl-statements";

    #[test]
    fn reported_once_at_the_second_ddl() {
        let sql = "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\nCREATE TABLE b (id int);\nCREATE TABLE c (id int);";
        let hits: Vec<_> = lint(Engine::Mysql, None, false, sql)
            .into_iter()
            .filter(|(r, _)| r == ID)
            .collect();
        assert_eq!(hits, vec![(ID.to_string(), 3)]);
        assert!(
            !lint(Engine::Mysql, None, false, "CREATE TABLE a (id int);")
                .iter()
                .any(|(r, _)| r == ID)
        );
        assert!(!lint(Engine::Postgres, None, false, sql)
            .iter()
            .any(|(r, _)| r == ID));
    }
}
