//! `json` columns (opt-in style rule).

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "prefer-jsonb",
    severity: Severity::Info,
    engines: PG,
    default_enabled: false,
    summary: "a json column where jsonb is almost always wanted",
    why: "json has no equality operator (DISTINCT, GROUP BY and UNION fail), keeps duplicate \
          keys and whitespace, cannot be indexed with GIN and is re-parsed on every access",
    recipe: "use jsonb",
    check,
};

fn check(_ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        match op {
            Op::CreateTable { table, columns } => {
                for (col, ty) in columns.iter().filter(|(_, t)| t == "json") {
                    out.push(Hit::new(
                        format!("column `{}.{col}` is {ty}: prefer jsonb", table.display),
                        table.at,
                    ));
                }
            }
            Op::AddColumn(a) if a.data_type == "json" => out.push(Hit::new(
                format!(
                    "column `{}.{}` is json: prefer jsonb",
                    a.table.display, a.column.display
                ),
                op.at(),
            )),
            Op::AlterType {
                table,
                column,
                new_type,
                ..
            } if new_type == "json" => out.push(Hit::new(
                format!(
                    "column `{}.{}` becomes json: prefer jsonb",
                    table.display, column.display
                ),
                op.at(),
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::fires;

    const ID: &str = "prefer-jsonb";

    #[test]
    fn json_not_jsonb() {
        assert!(fires(
            Engine::Postgres,
            "CREATE TABLE t (id int, data json)",
            ID
        ));
        assert!(fires(
            Engine::Postgres,
            "ALTER TABLE t ADD COLUMN data json",
            ID
        ));
        assert!(!fires(
            Engine::Postgres,
            "CREATE TABLE t (id int, data jsonb)",
            ID
        ));
    }
}
