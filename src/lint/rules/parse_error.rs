//! A statement the parser could not read (reported by the driver, never silently passed).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "parse-error",
    severity: Severity::Info,
    engines: ALL,
    default_enabled: true,
    summary: "a statement the SQL parser could not read; only keyword checks ran on it",
    why:
        "rules cannot judge what the parser cannot read; a keyword fallback still catches the \
          most dangerous operations (DROP, TRUNCATE, RENAME, DROP COLUMN) but the rest is unchecked",
    recipe: "check the statement by hand; if the SQL is valid for your server, report the \
             statement so the parser can learn it, and suppress with `-- migcheck:ignore \
             parse-error -- reason`",
    check: no_check,
};

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::lint;

    #[test]
    fn unparsable_statement_is_reported_with_its_line() {
        let hits = lint(
            Engine::Postgres,
            None,
            false,
            "SELECT 1;\n\nFROB THE TABLE;",
        );
        assert!(hits.contains(&("parse-error".to_string(), 3)), "{hits:?}");
    }

    #[test]
    fn fallback_still_catches_drop() {
        let hits = lint(
            Engine::Postgres,
            None,
            false,
            "DROP TABLE users WITH MAGIC;",
        );
        assert!(hits.iter().any(|(r, _)| r == "parse-error"));
        assert!(hits.iter().any(|(r, _)| r == "drop-table"), "{hits:?}");
    }
}
