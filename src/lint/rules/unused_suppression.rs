//! A `-- migcheck:ignore` comment that suppresses nothing (reported by the driver).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "unused-suppression",
    severity: Severity::Warning,
    engines: ALL,
    default_enabled: true,
    summary: "a migcheck:ignore comment that matches no finding (or names an unknown rule)",
    why: "a stale suppression hides nothing today but will silently hide a real problem when the \
          statement below it changes; a misspelt rule id suppresses nothing at all",
    recipe: "remove the comment, or fix the rule id; `-- migcheck:ignore rule-id -- reason` goes \
             on the line right before the statement",
    check: no_check,
};

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::lint::rules::test_support::lint;

    #[test]
    fn stale_comment_is_reported() {
        let hits = lint(
            Engine::Postgres,
            None,
            false,
            "-- migcheck:ignore drop-table -- not needed\nSELECT 1;",
        );
        assert!(
            hits.contains(&("unused-suppression".to_string(), 1)),
            "{hits:?}"
        );
    }
}
