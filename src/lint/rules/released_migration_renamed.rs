//! History rule (judged against the git base by `crate::history`, not on SQL text).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "released-migration-renamed",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "a migration that exists at the git base was renumbered (or, in Flyway, renamed)",
    why: "production recorded the old version as applied: under its new version the same statements run a second time; Flyway also validates each applied migration's description",
    recipe: "keep the released version and file name; put any change in a new migration",
    check: no_check,
};
