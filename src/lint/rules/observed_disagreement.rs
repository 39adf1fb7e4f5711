//! A static lock or rewrite rule and what verify observed on the same statement disagree
//! (reported by `crate::observe`).

use super::{no_check, Rule, ALL};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "observed-disagreement",
    severity: Severity::Info,
    engines: ALL,
    default_enabled: true,
    summary:
        "a static rule predicted a lock, rewrite or rebuild that the run on the server did not show",
    why: "the static rules read the SQL text and cannot know everything the server knows \
          (binary-coercible type changes, INSTANT algorithms, the server version); this finding \
          names the static rule and says what the run really showed, so that the static \
          finding can be judged, and suppressed if the run is representative of production",
    recipe: "check the static finding against the observation; if the server in production is \
             the same version as the one verify ran, the observation is what will happen",
    check: no_check,
};
