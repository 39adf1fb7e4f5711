//! Seen during verify: a table or index that existed before the migration got new storage
//! (its `pg_class.relfilenode` changed), i.e. it was rewritten (reported by `crate::observe`).

use super::{no_check, Rule, PG};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "observed-table-rewrite",
    severity: Severity::Warning,
    engines: PG,
    default_enabled: true,
    summary: "verify saw a statement rewrite an existing table or rebuild an existing index",
    why: "the relation's `relfilenode` changed while the statement ran: Postgres copied every \
          row (or rebuilt the index) into new storage, under ACCESS EXCLUSIVE; on a large table \
          this takes minutes to hours during which the table can be neither read nor written",
    recipe: "avoid the rewrite: add the column without a volatile default and backfill in \
             batches, keep binary-coercible type changes (varchar growth, varchar to text) or \
             add a new column, dual-write, backfill and swap",
    check: no_check,
};
