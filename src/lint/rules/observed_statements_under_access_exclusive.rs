//! Seen during verify: statements ran while the migration's transaction held ACCESS EXCLUSIVE
//! on a table that existed before it (reported by `crate::observe`).

use super::{no_check, Rule, PG};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "observed-statements-under-access-exclusive",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary:
        "verify saw further statements run while an existing table was locked ACCESS EXCLUSIVE",
    why: "a lock is held until its transaction ends; `pg_locks` still showed the ACCESS \
          EXCLUSIVE lock taken by an earlier statement while these statements ran, so each of \
          them kept the table unreadable and unwritable for longer",
    recipe: "put the locking statement last in its transaction, or split the migration so that \
             it runs in a short transaction of its own",
    check: no_check,
};
