//! Seen during verify: a statement took a lock that blocks reads or writes on a table that
//! existed before the migration (reported by `crate::observe`, never by the static lint).

use super::{no_check, Rule, PG};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "observed-blocking-lock",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "verify saw a statement take a lock that blocks reads or writes on an existing table",
    why: "read from `pg_locks` for migcheck's own backend right after the statement ran: ACCESS \
          EXCLUSIVE blocks every read and write of the table, SHARE, SHARE ROW EXCLUSIVE and \
          EXCLUSIVE block every write; on a busy production table the statement and everything \
          queued behind it wait for as long as the lock is held",
    recipe:
        "use the non-blocking form of the operation (CREATE INDEX CONCURRENTLY, NOT VALID then \
             VALIDATE CONSTRAINT, a CHECK constraint before SET NOT NULL), set `lock_timeout`, and \
             keep the transaction short; the finding names the static rule that agrees, if any",
    check: no_check,
};
