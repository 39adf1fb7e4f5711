//! History rule (judged against the git base by `crate::history`, not on SQL text).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "migration-out-of-order",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "a new migration sorts before the newest migration at the git base, or takes a version the base already uses",
    why: "production is already past that version: golang-migrate skips it for good, goose and Flyway refuse to run without an out-of-order switch, and the others run it after newer migrations, on a schema its author never tested it on",
    recipe: "renumber it after the newest version at the base",
    check: no_check,
};
