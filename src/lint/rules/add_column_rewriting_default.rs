//! `ADD COLUMN ... DEFAULT <volatile>` (any default before Postgres 11): a table rewrite.

use super::{Ctx, Hit, Rule, PG};
use crate::lint::model::{Op, Stmt};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "add-column-rewriting-default",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "a column added with a volatile DEFAULT (any DEFAULT before PG 11): table rewrite",
    why: "Postgres 11+ stores a constant or stable default (now(), CURRENT_TIMESTAMP, 'x') in the \
          catalog for free, but a volatile one (random(), gen_random_uuid(), clock_timestamp(), \
          nextval()..., and any function of the chain not declared IMMUTABLE or STABLE) must be \
          computed per row: the whole table and its indexes are rewritten under an ACCESS \
          EXCLUSIVE lock. Before 11 every non-null default rewrites.",
    recipe:
        "add the column without a default, then `ALTER COLUMN ... SET DEFAULT ...` (applies to \
             new rows only), then backfill existing rows in batches",
    check,
};

/// Functions `pg_proc.provolatile = 'v'` for that the lint knows by name.
pub const VOLATILE_FUNCTIONS: &[&str] = &[
    "random",
    "random_normal",
    "setseed",
    "gen_random_uuid",
    "gen_random_bytes",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "txid_current",
    "pg_current_xact_id",
];

/// The volatile built-in function a default expression calls, if any (`expr` is lower-case).
pub fn volatile_call(expr: &str) -> Option<&'static str> {
    VOLATILE_FUNCTIONS.iter().copied().find(|f| calls(expr, f))
}

/// Whether `expr` calls the function `f` (a whole name followed by `(`).
fn calls(expr: &str, f: &str) -> bool {
    !f.is_empty()
        && expr.match_indices(f).any(|(i, _)| {
            let before_ok = i == 0
                || !expr.as_bytes()[i - 1].is_ascii_alphanumeric()
                    && expr.as_bytes()[i - 1] != b'_';
            let after = expr[i + f.len()..].trim_start();
            before_ok && after.starts_with('(')
        })
}

fn check(ctx: &Ctx<'_>, stmt: &Stmt, out: &mut Vec<Hit>) {
    for op in &stmt.ops {
        let Op::AddColumn(a) = op else { continue };
        let Some(default) = &a.default else { continue };
        if ctx.is_new(&a.table) {
            continue;
        }
        let own = || {
            ctx.volatile_functions
                .iter()
                .find(|f| calls(default, f))
                .map(String::as_str)
        };
        let msg = if let Some(f) = volatile_call(default).or_else(own) {
            format!(
                "column `{}` is added to `{}` with the volatile default {f}(): the table is \
                 rewritten under ACCESS EXCLUSIVE",
                a.column.display, a.table.display
            )
        } else if ctx.pg_major < 11 {
            format!(
                "column `{}` is added to `{}` with a DEFAULT: before PostgreSQL 11 (target: {}) \
                 this rewrites the table under ACCESS EXCLUSIVE",
                a.column.display, a.table.display, ctx.pg_major
            )
        } else {
            continue;
        };
        out.push(Hit::new(msg, op.at()));
    }
}

#[cfg(test)]
mod tests {
    use super::volatile_call;
    use crate::lint::rules::test_support::fires_pg;

    const ID: &str = "add-column-rewriting-default";

    #[test]
    fn volatile_detection() {
        assert_eq!(volatile_call("gen_random_uuid()"), Some("gen_random_uuid"));
        assert_eq!(volatile_call("nextval('s'::regclass)"), Some("nextval"));
        assert_eq!(volatile_call("now()"), None);
        assert_eq!(volatile_call("current_timestamp"), None);
        assert_eq!(volatile_call("my_random()"), None);
    }

    #[test]
    fn constant_default_depends_on_version() {
        let sql = "ALTER TABLE t ADD COLUMN a int DEFAULT 0";
        assert!(fires_pg(10, sql, ID));
        assert!(!fires_pg(11, sql, ID));
        assert!(!fires_pg(
            11,
            "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now()",
            ID
        ));
    }

    #[test]
    fn volatile_default_always_fires() {
        let sql = "ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid()";
        assert!(fires_pg(16, sql, ID));
        assert!(!fires_pg(
            16,
            "CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();",
            ID
        ));
    }

    #[test]
    fn a_function_of_the_chain_is_volatile_unless_declared_otherwise() {
        let create = |volatility: &str| {
            format!(
                "CREATE FUNCTION random_string(int) RETURNS text LANGUAGE sql {volatility} \
                 AS $$ SELECT 'x' $$; ALTER TABLE t ADD COLUMN token text DEFAULT random_string(26);"
            )
        };
        assert!(fires_pg(16, &create(""), ID));
        assert!(fires_pg(16, &create("VOLATILE"), ID));
        assert!(!fires_pg(16, &create("IMMUTABLE"), ID));
        assert!(!fires_pg(16, &create("STABLE"), ID));
    }
}
