//! History rule (judged against the git base by `crate::history`, not on SQL text).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "released-down-edited",
    severity: Severity::Info,
    engines: ALL,
    default_enabled: true,
    summary: "the down of a migration that exists at the git base was edited",
    why: "production's schema does not change (the up is what ran), but a rollback now runs the new text: usually a fix, shown so a reviewer sees it",
    recipe: "make sure the new down reverses the up as production ran it (verify's round trip proves it on a fresh database)",
    check: no_check,
};
