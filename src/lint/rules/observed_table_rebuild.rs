//! Seen during verify on MySQL/MariaDB: a table that existed before the migration got a new
//! InnoDB table id, i.e. it was rebuilt (reported by `crate::observe`).

use super::{no_check, Rule, MY};
use crate::lint::Severity;

pub const RULE: Rule = Rule {
    id: "observed-table-rebuild",
    severity: Severity::Warning,
    engines: MY,
    default_enabled: true,
    summary: "verify saw a migration rebuild an existing InnoDB table",
    why: "the table's id in `information_schema.INNODB_TABLES` (MySQL) / `INNODB_SYS_TABLES` \
          (MariaDB) changed: the server copied the table into a new one; a copy blocks writes \
          for its whole duration, and even an in-place rebuild reads and writes the whole table",
    recipe: "use an INSTANT or in-place change that does not rebuild (append columns, extend \
             VARCHAR within its length prefix), or an online schema change tool (gh-ost, \
             pt-online-schema-change) for large tables",
    check: no_check,
};
