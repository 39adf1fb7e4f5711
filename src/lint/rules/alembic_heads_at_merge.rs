//! History rule (judged against the git base by `crate::history`, not on SQL text).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "alembic-heads-at-merge",
    severity: Severity::Error,
    engines: ALL,
    default_enabled: true,
    summary: "an Alembic revision makes two heads once the change is merged with its git base",
    why: "both branches added a revision on the same parent: each alone has one head, the merge has two, and `alembic upgrade head` fails with \"Multiple head revisions are present\" at deploy time",
    recipe: "after merging the base, `alembic merge -m \"merge heads\" HEAD1 HEAD2`, or point the new revision's down_revision at the base's head",
    check: no_check,
};
