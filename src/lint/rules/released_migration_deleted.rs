//! History rule (judged against the git base by `crate::history`, not on SQL text).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "released-migration-deleted",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "a migration that exists at the git base was deleted",
    why: "databases that ran it keep its schema and its row in the version table while a fresh database never gets it; an Alembic database whose alembic_version names it cannot upgrade at all",
    recipe: "restore the file; undo what it did with a new migration",
    check: no_check,
};
