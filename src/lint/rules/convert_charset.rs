//! Character set changes (MySQL/MariaDB): a table copy.

use super::{Ctx, Hit, Rule, MY};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "convert-charset",
    severity: Severity::Warning,
    engines: MY,
    default_enabled: true,
    summary: "a character set conversion copies the table",
    why: "CONVERT TO CHARACTER SET (or a column's CHARACTER SET change) re-encodes every row: \
          the table is copied with writes blocked",
    recipe: "gh-ost or pt-online-schema-change; or create a new column with the new character \
             set, backfill, and swap",
    check,
};

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        match op {
            Op::ConvertCharset { table } if !ctx.is_new(table) => out.push(Hit::new(
                format!(
                    "`{}` is converted to another character set: table copy",
                    table.display
                ),
                op.at(),
            )),
            Op::AlterType {
                table,
                column,
                charset: true,
                ..
            } if !ctx.is_new(table) => out.push(Hit::new(
                format!(
                    "`{}.{}` changes character set: table copy",
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

    const ID: &str = "convert-charset";

    #[test]
    fn convert_fires() {
        assert!(fires(
            Engine::Mysql,
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4",
            ID
        ));
        assert!(!fires(Engine::Mysql, "ALTER TABLE t ADD COLUMN a int", ID));
    }
}
