//! PostgreSQL observation.
//!
//! Before the migration one query brings the pre-existing set up to date: every user relation
//! (table, index, materialized view, TOAST) with its `relfilenode`, read in full on the first
//! script of a database and by what changed on the next ones (`pg_relations.rs`). After each
//! statement, inside the migration's transaction, a query reads the relation locks migcheck's
//! own backend holds (`pg_locks WHERE pid = pg_backend_pid()`), then another the current
//! relfilenodes and the sequential scans counted in the transaction
//! (`pg_stat_xact_user_tables`) of the relations around them. A blocking lock held on a
//! pre-existing table while it was read or rewritten, a changed relfilenode, and statements that
//! run while an ACCESS EXCLUSIVE lock taken earlier in the transaction is still held become
//! findings on the statement's file and line. Statements of a non-transactional migration run
//! each in a transaction of their own (so their locks can be read before they are released),
//! except the ones Postgres refuses inside a transaction block (CONCURRENTLY, VACUUM...).
//!
//! `PgWatch` is the state of one script's observation; `pg_state` runs the queries.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::types::Oid;
use sqlx::Row;

use super::pg_relations::{self, PgRelations};
use super::sql::{excerpt, is_transaction_control};
use super::{default_severity, BriefLock, Observation, ObservedScript};
use crate::lint::rules;
use crate::report::Finding;
use crate::sql::Statement;

/// The relation locks this backend holds on user relations (`relation`, `mode`).
macro_rules! own_locks {
    () => {
        "SELECT l.relation, l.mode FROM pg_catalog.pg_locks l \
         WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
         AND l.relation >= 16384"
    };
}

/// `L` rows: the locks in `$locks` (an `own_locks!` relation named `l`).
macro_rules! lock_rows {
    ($locks:expr) => {
        concat!(
            "SELECT 'L'::text, l.relation::int8, l.mode::text, 0::int8 FROM ",
            $locks
        )
    };
}

/// `F` rows: the storage of the relations in `$relations` (oids in `x.oid`) that still have it,
/// read by oid through the backend's caches.
macro_rules! filenode_rows {
    ($relations:literal) => {
        concat!(
            "SELECT 'F'::text, x.oid::int8, ''::text, pg_catalog.pg_relation_filenode(x.oid)::int8 \
             FROM ",
            $relations,
            " WHERE pg_catalog.pg_relation_filenode(x.oid) IS NOT NULL"
        )
    };
}

/// `S` rows: the sequential scans counted in this transaction of the tables in `$tables` (oids
/// in `t.oid`) that were scanned. (These are the `seq_scan` counts of `pg_stat_xact_user_tables`,
/// whose view aggregates over every table.)
macro_rules! scan_rows {
    ($tables:literal) => {
        concat!(
            "SELECT 'S'::text, t.oid::int8, ''::text, \
             pg_catalog.pg_stat_get_xact_numscans(t.oid)::int8 FROM ",
            $tables,
            " WHERE pg_catalog.pg_stat_get_xact_numscans(t.oid) > 0"
        )
    };
}

/// After each statement outside a transaction: the relation locks this backend still holds
/// (normally none by then), the storage of every pre-existing relation ($1) and the sequential
/// scans of every pre-existing table ($2) counted in this transaction. (Inside one:
/// `PG_OWN_LOCKS`, then `PG_STORAGE`.) Storage and scans are read by oid, not by scanning a catalog: the cost does not depend on how the catalogs were
/// when the statement was planned (it is prepared once per connection, and a plan made when
/// `pg_class` held a few hundred rows scanned it whole at 400 tables).
const PG_AFTER_STATEMENT: &str = concat!(
    lock_rows!(concat!("(", own_locks!(), ") AS l")),
    " UNION ALL ",
    filenode_rows!("pg_catalog.unnest($1::oid[]) AS x(oid)"),
    " UNION ALL ",
    scan_rows!("pg_catalog.unnest($2::oid[]) AS t(oid)"),
);

/// Inside a transaction, first: the relation locks this backend holds (`L` rows). Then
/// `PG_STORAGE` reads the storage and scans only around them, and only when a relation that
/// existed before is among them: a relation's storage cannot change, nor a table be scanned,
/// without a lock that the transaction then holds until it ends, so the locked relations, their
/// TOAST tables and the indexes of both are all that can have changed. Choosing those in the
/// client (`PgWatch::around`) and sending a few oids costs a round trip of a few rows; sending
/// every pre-existing relation with its parent and grandparent for the server to choose cost
/// 2-3 ms per statement at 2,000 relations.
const PG_OWN_LOCKS: &str = lock_rows!(concat!("(", own_locks!(), ") AS l"));

/// Inside a transaction, after `PG_OWN_LOCKS`: the storage of the relations ($1) and the
/// sequential scans of the tables ($2) around the locks.
const PG_STORAGE: &str = concat!(
    filenode_rows!("pg_catalog.unnest($1::oid[]) AS x(oid)"),
    " UNION ALL ",
    scan_rows!("pg_catalog.unnest($2::oid[]) AS t(oid)"),
);

/// When a transaction begins: the scan counters of the pre-existing tables ($1) it starts
/// from. They are not zero: the backend keeps counts of earlier transactions that it has not
/// reported yet (PostgreSQL 15 reports at most once a second), for any table, locked or not.
const PG_SCANS: &str = scan_rows!("pg_catalog.unnest($1::oid[]) AS t(oid)");

/// Postgres table-level lock modes, weakest first.
const LOCK_MODES: &[&str] = &[
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
];

fn lock_rank(mode: &str) -> usize {
    LOCK_MODES.iter().position(|m| *m == mode).unwrap_or(0)
}

const ACCESS_EXCLUSIVE: usize = 7;
const SHARE: usize = 4;

/// `ShareRowExclusiveLock` -> `SHARE ROW EXCLUSIVE`.
fn lock_name(rank: usize) -> String {
    let mode = LOCK_MODES.get(rank).copied().unwrap_or("AccessShareLock");
    let bare = mode.strip_suffix("Lock").unwrap_or(mode);
    let mut out = String::new();
    for (i, c) in bare.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// What a lock mode blocks, for modes that block anything.
fn blocks(rank: usize) -> Option<&'static str> {
    match rank {
        ACCESS_EXCLUSIVE => Some("blocks reads and writes"),
        r if r >= SHARE => Some("blocks writes"),
        _ => None,
    }
}

/// The observation of one script in progress.
#[derive(Debug)]
pub(super) struct PgWatch {
    /// The relations that existed before the script, with their storage then.
    relations: PgRelations,
    /// The storage of the pre-existing relations whose storage changed during the script.
    filenodes: HashMap<i64, i64>,
    /// Strongest lock held on each pre-existing table after the previous statement.
    held: HashMap<i64, usize>,
    /// Statement index and line that took ACCESS EXCLUSIVE on each table, this transaction.
    exclusive_since: HashMap<i64, (usize, usize)>,
    /// Statements that ran while an earlier ACCESS EXCLUSIVE was held, this transaction:
    /// the table, the line that took the lock, the first such statement, how many.
    under: Option<Under>,
    /// Sequential scans per table counted so far in the current transaction.
    scans: HashMap<i64, i64>,
    /// The relations' read flushed this backend's pending statistics (PostgreSQL 15+) and no
    /// statement ran since: a transaction beginning now counts its scans from zero, so
    /// `PG_SCANS` need not read where they start (0.2-0.4 ms per migration at 400 tables).
    scans_flushed: bool,
}

#[derive(Debug)]
struct Under {
    table: String,
    taken_line: usize,
    first: usize,
    count: usize,
}

/// Transactions whose zero scan counters (`PgWatch::scans_flushed`) the check switch read.
static FLUSHED_CHECKED: AtomicU64 = AtomicU64::new(0);

/// How many transactions the check switch read zero scan counters for, by this process.
pub fn flushed_scans_checked() -> u64 {
    FLUSHED_CHECKED.load(Ordering::Relaxed)
}

/// What one after-statement query returned.
struct PgState {
    /// Read from every table (not only the locked ones).
    every_table: bool,
    locks: HashMap<i64, usize>,
    filenodes: HashMap<i64, i64>,
    scans: HashMap<i64, i64>,
}

impl PgWatch {
    /// Before the script: `cached`, the relations before the previous script on this
    /// connection, when there is one (see `pg_relations`).
    pub(super) async fn start(
        conn: &mut sqlx::PgConnection,
        cached: Option<PgRelations>,
        mismatches: &mut Vec<String>,
    ) -> Result<Self, sqlx::Error> {
        Ok(PgWatch {
            scans_flushed: pg_relations::read_flushes_statistics(conn),
            relations: PgRelations::read(conn, cached, mismatches).await?,
            filenodes: HashMap::new(),
            held: HashMap::new(),
            exclusive_since: HashMap::new(),
            under: None,
            scans: HashMap::new(),
        })
    }

    /// The relations as they were before the script, for the next one to start from.
    pub(super) fn into_relations(self) -> PgRelations {
        self.relations
    }

    /// The pre-existing relations that are locked or whose parent or grandparent is (see
    /// `PG_OWN_LOCKS`), and the pre-existing tables among the locked ones.
    fn around(&self, locked: &[i64]) -> (Vec<Oid>, Vec<Oid>) {
        let mut oids = Vec::new();
        let mut tables = Vec::new();
        for &l in locked {
            if let Some(kind) = self.relations.kind(l) {
                oids.push(l);
                if matches!(kind, 'r' | 'p' | 'm') {
                    tables.push(l);
                }
            }
            for &child in self.relations.children(l) {
                oids.push(child);
                oids.extend(self.relations.children(child));
            }
        }
        let oid = |o: i64| Oid(o as u32);
        oids.sort_unstable();
        oids.dedup();
        tables.sort_unstable();
        tables.dedup();
        (
            oids.into_iter().map(oid).collect(),
            tables.into_iter().map(oid).collect(),
        )
    }

    /// After statement `index` of `script` ran (`in_transaction`: inside a transaction that is
    /// still open, the script's or a per-statement one).
    pub(super) async fn after_statement(
        &mut self,
        conn: &mut sqlx::PgConnection,
        script: &ObservedScript,
        index: usize,
        statement: &Statement,
        in_transaction: bool,
        observation: &mut Observation,
    ) -> Result<(), sqlx::Error> {
        self.scans_flushed = false;
        let state = if in_transaction {
            let mut state = pg_state(conn, sqlx::query(PG_OWN_LOCKS), false).await?;
            let locked: Vec<i64> = state.locks.keys().copied().collect();
            let (oids, tables) = self.around(&locked);
            // Only relations created by this transaction locked: nothing that existed before
            // can have been rewritten or scanned.
            if !oids.is_empty() {
                let query = sqlx::query(PG_STORAGE).bind(oids).bind(tables);
                let storage = pg_state(conn, query, false).await?;
                state.filenodes = storage.filenodes;
                state.scans = storage.scans;
            }
            state
        } else {
            let query = sqlx::query(PG_AFTER_STATEMENT)
                .bind(self.relations.oids())
                .bind(self.relations.tables());
            pg_state(conn, query, true).await?
        };
        self.statement(script, index, statement, state, observation);
        Ok(())
    }

    /// A transaction the statements run in began: read the scan counters it starts from,
    /// unless they are known to be zero. `mismatches`: what the check switch found.
    pub(super) async fn transaction_started(
        &mut self,
        conn: &mut sqlx::PgConnection,
        mismatches: &mut Vec<String>,
    ) -> Result<(), sqlx::Error> {
        let flushed = std::mem::take(&mut self.scans_flushed);
        if flushed && !pg_relations::check_enabled() {
            self.scans = HashMap::new();
            return Ok(());
        }
        let query = sqlx::query(PG_SCANS).bind(self.relations.tables());
        self.scans = pg_state(conn, query, true).await?.scans;
        if flushed {
            // The check switch: the counters read must be the zeros assumed.
            FLUSHED_CHECKED.fetch_add(1, Ordering::Relaxed);
            if !self.scans.is_empty() {
                let mut tables: Vec<String> = self.scans.keys().map(|&t| self.name(t)).collect();
                tables.sort();
                mismatches.push(format!(
                    "scans counted before the transaction began, after a flush: {}",
                    tables.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn is_table(&self, oid: i64) -> bool {
        self.relations.is_table(oid)
    }

    /// The table a relation belongs to (itself for a table).
    fn owner(&self, oid: i64) -> i64 {
        let mut current = oid;
        for _ in 0..3 {
            match (self.relations.kind(current), self.relations.parent(current)) {
                (Some(kind), parent) if !matches!(kind, 'r' | 'p' | 'm') && parent != 0 => {
                    current = parent;
                }
                _ => break,
            }
        }
        current
    }

    fn name(&self, oid: i64) -> String {
        self.relations
            .name(oid)
            .unwrap_or_else(|| format!("relation {oid}"))
    }

    fn statement(
        &mut self,
        script: &ObservedScript,
        index: usize,
        statement: &Statement,
        state: PgState,
        observation: &mut Observation,
    ) {
        let sql = excerpt(&statement.sql);
        let finding = |rule: &str, message: String| Finding {
            rule: rule.to_string(),
            severity: default_severity(rule),
            file: script.file.clone(),
            line: Some(statement.line),
            message,
            column: None,
            statement: Some(sql.clone()),
            help: None,
            migration: script.migration.clone(),
            ..Default::default()
        };
        let out = &mut observation.findings;

        // Statements that ran while an ACCESS EXCLUSIVE lock from an earlier statement of the
        // same transaction was held (transaction control statements do not count).
        let mut exclusive_before: Vec<i64> = self
            .held
            .iter()
            .filter(|(&oid, &rank)| rank == ACCESS_EXCLUSIVE && self.is_table(oid))
            .map(|(&oid, _)| oid)
            .collect();
        // By the statement that took the lock, then by name: the same table is named on every
        // run when one statement locked several.
        exclusive_before.sort_by_key(|oid| {
            (
                self.exclusive_since.get(oid).map(|(at, _)| *at),
                self.name(*oid),
            )
        });
        if let Some(&first) = exclusive_before.first() {
            if !is_transaction_control(&statement.sql) {
                match &mut self.under {
                    Some(u) => u.count += 1,
                    None => {
                        self.under = Some(Under {
                            table: self.name(first),
                            taken_line: self.exclusive_since.get(&first).map_or(0, |s| s.1),
                            first: index,
                            count: 1,
                        });
                    }
                }
            }
        }

        // Rewrites: pre-existing relations whose storage changed, grouped by table.
        let mut rewritten: BTreeMap<i64, (bool, Vec<String>)> = BTreeMap::new();
        for (oid, filenode) in &state.filenodes {
            let previous = self.filenodes.get(oid).copied();
            let Some(previous) = previous.or_else(|| self.relations.filenode(*oid)) else {
                continue;
            };
            if previous == *filenode || *filenode == 0 {
                continue;
            }
            self.filenodes.insert(*oid, *filenode);
            let entry = rewritten.entry(self.owner(*oid)).or_default();
            match self.relations.kind(*oid) {
                Some('i' | 'I') if !self.is_toast_index(*oid) => entry.1.push(self.name(*oid)),
                _ => entry.0 = true,
            }
        }

        // Sequential scans of each table during this statement (counters only grow within a
        // transaction; a smaller value means they were reset when the last one ended).
        let scanned: HashMap<i64, i64> = state
            .scans
            .iter()
            .filter_map(|(oid, &now)| {
                let before = self.scans.get(oid).copied().unwrap_or(0);
                let delta = if now >= before { now - before } else { now };
                (delta > 0).then_some((*oid, delta))
            })
            .collect();

        // Blocking locks this statement took on pre-existing tables, held while the table was
        // read or rewritten; a lock held only for a catalog change is noted, not reported.
        let mut tables: Vec<(i64, usize)> = state
            .locks
            .iter()
            .filter(|(oid, _)| self.is_table(**oid))
            .map(|(oid, rank)| (*oid, *rank))
            .collect();
        tables.sort_by_key(|(oid, _)| self.name(*oid));
        for (oid, rank) in tables {
            if self.held.get(&oid).is_some_and(|&b| b >= rank) {
                continue;
            }
            if rank == ACCESS_EXCLUSIVE {
                self.exclusive_since.insert(oid, (index, statement.line));
            }
            let Some(what) = blocks(rank) else {
                continue;
            };
            let work = if rewritten.contains_key(&oid) {
                Some("while rewriting it".to_string())
            } else {
                scanned.get(&oid).map(|n| {
                    format!(
                        "while reading the whole table ({n} sequential scan{})",
                        if *n == 1 { "" } else { "s" }
                    )
                })
            };
            match work {
                Some(work) => out.push(finding(
                    rules::observed_blocking_lock::RULE.id,
                    format!(
                        "took {} on `{}` {work}: {what} for as long as that takes",
                        lock_name(rank),
                        self.name(oid)
                    ),
                )),
                None => observation.brief_locks.push(BriefLock {
                    file: script.file.clone(),
                    line: statement.line,
                    table: self.name(oid),
                    mode: lock_name(rank),
                }),
            }
        }

        let out = &mut observation.findings;
        for (owner, (whole, mut indexes)) in rewritten {
            let table = self.name(owner);
            indexes.sort();
            let message = match (whole, indexes.len()) {
                (true, 0) => format!("`{table}` was rewritten: its storage (relfilenode) changed"),
                (true, n) => format!(
                    "`{table}` was rewritten: its storage (relfilenode) changed, and {n} of its \
                     indexes were rebuilt ({})",
                    indexes.join(", ")
                ),
                (false, _) => format!(
                    "index{} {} of `{table}` rebuilt: storage (relfilenode) changed",
                    if indexes.len() == 1 { "" } else { "es" },
                    indexes
                        .iter()
                        .map(|i| format!("`{i}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            out.push(finding(rules::observed_table_rewrite::RULE.id, message));
        }

        self.held = state.locks;
        if state.every_table {
            self.scans = state.scans;
        } else {
            // The query inside a transaction returns only the tables locked so far: the others
            // keep the counts they started from.
            self.scans.extend(state.scans);
        }
        // An ACCESS EXCLUSIVE lock no longer held means its transaction ended (a COMMIT).
        if !self
            .held
            .iter()
            .any(|(&oid, &rank)| rank == ACCESS_EXCLUSIVE && self.is_table(oid))
        {
            self.flush_under(script, out);
            self.exclusive_since.clear();
        }
    }

    fn is_toast_index(&self, oid: i64) -> bool {
        self.relations.kind(self.relations.parent(oid)) == Some('t')
    }

    pub(super) fn transaction_ended(&mut self, script: &ObservedScript, out: &mut Vec<Finding>) {
        self.flush_under(script, out);
        self.held.clear();
        self.exclusive_since.clear();
    }

    fn flush_under(&mut self, script: &ObservedScript, out: &mut Vec<Finding>) {
        let Some(u) = self.under.take() else {
            return;
        };
        let Some(&(line, _)) = script.statements.get(u.first) else {
            return;
        };
        let plural = if u.count == 1 { "" } else { "s" };
        let taken = if u.taken_line > 0 {
            format!(" (taken at line {})", u.taken_line)
        } else {
            String::new()
        };
        let rule = rules::observed_statements_under_access_exclusive::RULE.id;
        out.push(Finding {
            rule: rule.to_string(),
            severity: default_severity(rule),
            file: script.file.clone(),
            line: Some(line),
            message: format!(
                "{} statement{plural} ran while `{}` was locked ACCESS EXCLUSIVE{taken}",
                u.count, u.table
            ),
            column: None,
            statement: script.excerpts.get(u.first).cloned(),
            help: None,
            migration: script.migration.clone(),
            ..Default::default()
        });
    }
}

async fn pg_state(
    conn: &mut sqlx::PgConnection,
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    every_table: bool,
) -> Result<PgState, sqlx::Error> {
    // Prepared once per connection, as every observation query: planning them cost more
    // than running them. (A migration's DISCARD or DEALLOCATE drops them: see
    // `forgets_prepared`.)
    let rows = query.fetch_all(&mut *conn).await?;
    let mut state = PgState {
        every_table,
        locks: HashMap::new(),
        filenodes: HashMap::new(),
        scans: HashMap::new(),
    };
    for row in rows {
        let what: String = row.try_get(0)?;
        let oid: i64 = row.try_get(1)?;
        match what.as_str() {
            "L" => {
                let mode: String = row.try_get(2)?;
                let rank = lock_rank(&mode);
                let entry = state.locks.entry(oid).or_insert(rank);
                *entry = (*entry).max(rank);
            }
            "S" => {
                state.scans.insert(oid, row.try_get(3)?);
            }
            _ => {
                state.filenodes.insert(oid, row.try_get(3)?);
            }
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_and_what_they_block() {
        assert_eq!(
            lock_name(lock_rank("AccessExclusiveLock")),
            "ACCESS EXCLUSIVE"
        );
        assert_eq!(
            lock_name(lock_rank("ShareRowExclusiveLock")),
            "SHARE ROW EXCLUSIVE"
        );
        assert_eq!(blocks(lock_rank("ShareLock")), Some("blocks writes"));
        assert_eq!(blocks(lock_rank("ExclusiveLock")), Some("blocks writes"));
        assert_eq!(
            blocks(lock_rank("AccessExclusiveLock")),
            Some("blocks reads and writes")
        );
        assert_eq!(blocks(lock_rank("ShareUpdateExclusiveLock")), None);
        assert_eq!(blocks(lock_rank("RowExclusiveLock")), None);
    }
}
