//! History rule (judged against the git base by `crate::history`, not on SQL text).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "released-migration-edited",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "a migration that exists at the git base (`--since`) was edited",
    why: "production already ran the old text and never runs a migration twice: databases that ran it and fresh databases drift apart; sqlx and Flyway keep a checksum and refuse to run at all on a changed file",
    recipe: "revert the edit and put the change in a new migration (or, if you mean it, `-- migcheck:ignore-file released-migration-edited -- reason` in the file)",
    check: no_check,
};
