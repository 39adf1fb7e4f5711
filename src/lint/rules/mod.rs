//! The rule catalog: one file per rule, each with its metadata (id, default severity, engines,
//! description, why it is dangerous, the safe recipe) and its check.

use std::collections::HashSet;

use super::model::{Loc, Name, Stmt};
use super::schema::Schema;
use super::Severity;
use crate::engine::Engine;

mod add_check_without_not_valid;
mod add_column_not_null_without_default;
mod add_column_rewriting_default;
mod add_column_serial;
mod add_column_stored_generated;
mod add_exclude_constraint;
mod add_foreign_key_with_checks;
mod add_foreign_key_without_not_valid;
mod add_fulltext_index;
mod add_unique_or_primary_key;
mod alembic_heads_at_merge;
mod algorithm_copy;
mod alter_column_type;
mod change_primary_key;
mod cluster;
mod concurrently_in_transaction;
mod convert_charset;
mod create_index_non_concurrently;
mod drop_column;
mod drop_index_non_concurrently;
mod drop_schema;
mod drop_table;
mod lock_shared_or_exclusive;
mod migration_out_of_order;
mod missing_lock_timeout;
mod multiple_ddl_statements;
pub(crate) mod observed_blocking_lock;
pub(crate) mod observed_disagreement;
pub(crate) mod observed_statements_under_access_exclusive;
pub(crate) mod observed_table_rebuild;
pub(crate) mod observed_table_rewrite;
pub(crate) mod parse_error;
mod prefer_jsonb;
mod reindex_non_concurrently;
mod released_down_edited;
mod released_migration_deleted;
mod released_migration_edited;
mod released_migration_reformatted;
mod released_migration_renamed;
mod rename_column;
mod rename_table;
mod server_wide_statement;
mod set_not_null;
mod statements_after_access_exclusive;
mod truncate;
pub(crate) mod unused_suppression;
mod vacuum_full;

pub const PG: &[Engine] = &[Engine::Postgres];
pub const MY: &[Engine] = &[Engine::Mysql, Engine::Mariadb];
pub const ALL: &[Engine] = &[Engine::Postgres, Engine::Mysql, Engine::Mariadb];

/// One lint rule.
pub struct Rule {
    /// Stable kebab-case id, used in suppressions, config and reports.
    pub id: &'static str,
    pub severity: Severity,
    pub engines: &'static [Engine],
    /// Off unless enabled in `migcheck.toml` or with `--enable` (style rules).
    pub default_enabled: bool,
    /// One line: what the rule catches.
    pub summary: &'static str,
    /// Why it is dangerous.
    pub why: &'static str,
    /// The safe way, shown as `help` under each finding.
    pub recipe: &'static str,
    /// Examine one statement in its context; push a hit per problem found.
    pub check: fn(&Ctx<'_>, &Stmt, &mut Vec<Hit>),
}

impl Rule {
    pub fn applies_to(&self, engine: Engine) -> bool {
        self.engines.contains(&engine)
    }
}

/// What a rule found in a statement.
#[derive(Debug, Clone)]
pub struct Hit {
    pub message: String,
    /// Replaces the rule's recipe when the advice depends on the statement or the version.
    pub help: Option<String>,
    pub at: Option<Loc>,
}

impl Hit {
    pub fn new(message: impl Into<String>, at: Option<Loc>) -> Self {
        Hit {
            message: message.into(),
            help: None,
            at,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// An ACCESS EXCLUSIVE lock held since an earlier statement of the same transaction.
#[derive(Debug, Clone)]
pub struct HeldLock {
    pub table: String,
    pub line: usize,
    /// True for the first statement after the one that took the lock.
    pub first_after: bool,
    /// Statements from this one to the end of the transaction.
    pub remaining: usize,
}

/// What a rule may know about the statement's surroundings.
pub struct Ctx<'a> {
    pub engine: Engine,
    /// Postgres major version (assumed recent when unknown, see `pg_version_known`).
    pub pg_major: u32,
    pub pg_version_known: bool,
    pub no_transaction: bool,
    /// Whether this statement runs inside a transaction block.
    pub in_transaction: bool,
    /// Tables created earlier in this migration (keys).
    pub created_tables: &'a HashSet<String>,
    /// Indexes created earlier in this migration (keys).
    pub created_indexes: &'a HashSet<String>,
    /// Column types seen earlier in the chain.
    pub schema: &'a Schema,
    /// (table, column) pairs with a validated `CHECK (col IS NOT NULL)` in this migration.
    pub not_null_checks: &'a HashSet<(String, String)>,
    /// Tables that got a FULLTEXT index earlier in the chain.
    pub fulltext_tables: &'a HashSet<String>,
    /// `lock_timeout` (Postgres) / `lock_wait_timeout` (MySQL) set earlier in this migration.
    pub lock_timeout_set: bool,
    /// Earlier statements of this migration that touched an existing table.
    pub locking_before: usize,
    /// DDL statements before this one in the migration, and in total.
    pub ddl_before: usize,
    pub ddl_total: usize,
    pub held_lock: Option<HeldLock>,
    /// MySQL `SET foreign_key_checks = 0` earlier in this migration.
    pub fk_checks_off: bool,
    /// Tables this migration emptied (`DELETE FROM t` without WHERE, `TRUNCATE t`) with no
    /// statement since that could have written rows into them.
    pub emptied_tables: &'a HashSet<String>,
    /// The session's `TimeZone` (Postgres): the server's in verify, the `time-zone` setting in
    /// `migcheck lint`, changed by a `SET TIME ZONE` earlier in the migration.
    pub time_zone: &'a str,
    /// Postgres functions the chain created VOLATILE (the default when not declared).
    pub volatile_functions: &'a HashSet<String>,
}

impl Ctx<'_> {
    /// Created earlier in this migration: empty and unseen, so lock and rewrite rules skip it.
    pub fn is_new(&self, table: &Name) -> bool {
        self.created_tables.contains(&table.key)
    }

    pub fn is_pg(&self) -> bool {
        self.engine == Engine::Postgres
    }

    /// Known to hold no rows: created or emptied earlier in this migration.
    pub fn is_empty_table(&self, table: &Name) -> bool {
        self.is_new(table) || self.emptied_tables.contains(&table.key)
    }
}

/// Every rule, in catalog order.
pub fn all() -> &'static [Rule] {
    static RULES: &[Rule] = &[
        add_column_not_null_without_default::RULE,
        add_column_rewriting_default::RULE,
        add_column_stored_generated::RULE,
        add_column_serial::RULE,
        set_not_null::RULE,
        alter_column_type::RULE,
        create_index_non_concurrently::RULE,
        drop_index_non_concurrently::RULE,
        reindex_non_concurrently::RULE,
        concurrently_in_transaction::RULE,
        add_foreign_key_without_not_valid::RULE,
        add_check_without_not_valid::RULE,
        add_unique_or_primary_key::RULE,
        add_exclude_constraint::RULE,
        drop_table::RULE,
        drop_column::RULE,
        drop_schema::RULE,
        server_wide_statement::RULE,
        truncate::RULE,
        rename_table::RULE,
        rename_column::RULE,
        vacuum_full::RULE,
        cluster::RULE,
        statements_after_access_exclusive::RULE,
        missing_lock_timeout::RULE,
        prefer_jsonb::RULE,
        multiple_ddl_statements::RULE,
        algorithm_copy::RULE,
        lock_shared_or_exclusive::RULE,
        convert_charset::RULE,
        change_primary_key::RULE,
        add_fulltext_index::RULE,
        add_foreign_key_with_checks::RULE,
        parse_error::RULE,
        unused_suppression::RULE,
        observed_blocking_lock::RULE,
        observed_table_rewrite::RULE,
        observed_statements_under_access_exclusive::RULE,
        observed_table_rebuild::RULE,
        observed_disagreement::RULE,
        released_migration_edited::RULE,
        released_migration_reformatted::RULE,
        released_down_edited::RULE,
        released_migration_deleted::RULE,
        released_migration_renamed::RULE,
        migration_out_of_order::RULE,
        alembic_heads_at_merge::RULE,
    ];
    RULES
}

/// Rules reported by verify's observation of the server (`crate::observe`), not by the static
/// lint: they never fire on SQL text alone.
pub const OBSERVED: &[&str] = &[
    "observed-blocking-lock",
    "observed-table-rewrite",
    "observed-statements-under-access-exclusive",
    "observed-table-rebuild",
    "observed-disagreement",
];

pub fn is_observed(id: &str) -> bool {
    OBSERVED.contains(&id)
}

pub fn find(id: &str) -> Option<&'static Rule> {
    all().iter().find(|r| r.id == id)
}

/// A check that never fires: for rules the driver reports itself.
pub(crate) fn no_check(_: &Ctx<'_>, _: &Stmt, _: &mut Vec<Hit>) {}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::engine::Engine;
    use crate::lint::{lint_text, LintConfig};

    /// Rule ids found in `sql` with every rule enabled, as `(rule, line)`.
    pub fn lint(engine: Engine, pg: Option<u32>, no_tx: bool, sql: &str) -> Vec<(String, usize)> {
        let config = LintConfig {
            enable_all: true,
            pg_version: pg,
            ..Default::default()
        };
        lint_text(sql, "test.sql", engine, no_tx, &config)
            .into_iter()
            .map(|f| (f.rule, f.line.unwrap_or(0)))
            .collect()
    }

    pub fn fires(engine: Engine, sql: &str, rule: &str) -> bool {
        lint(engine, None, false, sql)
            .iter()
            .any(|(r, _)| r == rule)
    }

    pub fn fires_pg(pg: u32, sql: &str, rule: &str) -> bool {
        lint(Engine::Postgres, Some(pg), false, sql)
            .iter()
            .any(|(r, _)| r == rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_documented() {
        let mut seen = HashSet::new();
        for r in all() {
            assert!(seen.insert(r.id), "duplicate id {}", r.id);
            assert!(
                r.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                r.id
            );
            assert!(!r.summary.is_empty() && !r.why.is_empty() && !r.recipe.is_empty());
            assert!(!r.engines.is_empty());
        }
    }
}
