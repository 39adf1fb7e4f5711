//! History rule (judged against the git base by `crate::history`, not on SQL text).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "released-migration-reformatted",
    severity: Severity::Warning,
    engines: ALL,
    default_enabled: true,
    summary: "a migration that exists at the git base was changed in whitespace or comments only",
    why: "harmless for the schema where the tool keeps no checksum, but released files should stay as they ran; in sqlx and Flyway any byte counts, so there it is `released-migration-edited`",
    recipe: "revert the edit to keep released files as they ran",
    check: no_check,
};
