//! Statements that reach beyond the migration's own database: other databases, roles and
//! users, the server's configuration.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "server-wide-statement",
    severity: Severity::Warning,
    engines: ALL,
    default_enabled: true,
    summary: "a statement that changes more than this database: other databases, roles, users, \
              the server's configuration",
    why: "a migration runs once per environment, but roles, other databases and server settings \
          are shared by everything on the server: the change reaches applications that never \
          ran this migration, a down cannot scope its undo, and on a shared server it touches \
          other teams' data. migcheck refuses to run these with `--provider url`",
    recipe: "manage roles, databases and server settings in the infrastructure code that creates \
             the server (Terraform, Helm values, an init script), not in the chain; if the chain \
             really owns it, suppress with a reason and verify with a local or docker provider",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    // MySQL's DROP DATABASE drops a schema of tables: `drop-schema` reports that loss already.
    if stmt
        .ops
        .iter()
        .any(|op| matches!(op, Op::DropSchema { .. }))
    {
        return;
    }
    if let Some(what) = crate::sql::server_wide(&stmt.sql, ctx.engine.dialect()) {
        out.push(Hit::new(
            format!(
                "{what} reaches beyond this database: roles, other databases and server \
                 settings are shared by everything on the server"
            ),
            None,
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "server-wide-statement";

    #[test]
    fn fires_on_both_engines_and_stays_quiet_inside_the_database() {
        assert!(fires(Engine::Postgres, "DROP DATABASE sentinel", ID));
        assert!(fires(
            Engine::Postgres,
            "ALTER SYSTEM SET work_mem = '1GB'",
            ID
        ));
        assert!(fires(Engine::Postgres, "CREATE ROLE reader", ID));
        assert!(fires(
            Engine::Mysql,
            "CREATE USER 'app'@'%' IDENTIFIED BY 'x'",
            ID
        ));
        assert!(fires(Engine::Mysql, "USE sentinel", ID));
        assert!(!fires(Engine::Postgres, "CREATE SCHEMA app", ID));
        assert!(!fires(Engine::Mysql, "CREATE TABLE users (id int)", ID));
    }
}
