//! `DROP SCHEMA` / `DROP DATABASE`.

use super::{Ctx, Hit, Rule, ALL};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "drop-schema",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "DROP SCHEMA / DROP DATABASE loses every table in it",
    why: "every object of the schema and all their data are gone, and every query on them fails",
    recipe: "move what must survive out first; drop only an empty schema, in a migration of its \
             own, after the application no longer uses it",
    check,
};

fn check(_ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        if let Op::DropSchema { names } = op {
            for n in names {
                out.push(Hit::new(
                    format!("schema `{}` is dropped with everything in it", n.display),
                    n.at,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "drop-schema";

    #[test]
    fn fires_and_stays_quiet() {
        assert!(fires(Engine::Postgres, "DROP SCHEMA s CASCADE", ID));
        assert!(fires(Engine::Mysql, "DROP DATABASE d", ID));
        assert!(!fires(Engine::Postgres, "CREATE SCHEMA s", ID));
    }
}
