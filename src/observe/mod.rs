//! "Seen, not guessed": what the database really did while verify applied each migration for
//! the first time.
//!
//! Postgres: before the migration one query records every user relation (table, index,
//! materialized view, TOAST) with its `relfilenode`: the pre-existing set. After each
//! statement, inside the migration's transaction, one query reads the relation locks migcheck's
//! own backend holds (`pg_locks WHERE pid = pg_backend_pid()`) and the current relfilenodes.
//! A blocking lock on a pre-existing table, a changed relfilenode, and statements that run
//! while an ACCESS EXCLUSIVE lock taken earlier in the transaction is still held become
//! findings on the statement's file and line. Statements of a non-transactional migration run
//! each in a transaction of their own (so their locks can be read before they are released),
//! except the ones Postgres refuses inside a transaction block (CONCURRENTLY, VACUUM...).
//!
//! MySQL/MariaDB: the InnoDB table ids of the database's tables are read before and after the
//! migration; a pre-existing table whose id changed was rebuilt.
//!
//! `reconcile` merges the observed findings with the static lint's: each observed finding says
//! which static rule agrees (or that none did), and a static lock/rewrite prediction the run did
//! not confirm becomes an `observed-disagreement` finding.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Row};

use crate::apply::PreparedScript;
use crate::lint::rules;
use crate::lint::{LintConfig, Severity};
use crate::provision::Conn;
use crate::report::Finding;
use crate::sql::Statement;

/// The relations that existed before the migration, with their storage. 16384 is
/// `FirstNormalObjectId`: every object a user creates (TOAST tables included) has an oid at or
/// above it, so catalogs and the observation's own locks on them stay out.
const PG_RELATIONS: &str = "\
SELECT c.oid::int8, c.relkind::text, c.relfilenode::int8, \
  CASE WHEN n.nspname = 'public' THEN quote_ident(c.relname::text) \
       ELSE quote_ident(n.nspname::text) || '.' || quote_ident(c.relname::text) END, \
  COALESCE(i.indrelid, t.oid, 0)::int8 \
FROM pg_class c \
JOIN pg_namespace n ON n.oid = c.relnamespace \
LEFT JOIN pg_index i ON i.indexrelid = c.oid \
LEFT JOIN pg_class t ON t.reltoastrelid = c.oid \
WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 't')";

/// After each statement: the relation locks this backend holds, every user relation's
/// storage, and the sequential scans of each table counted in this transaction, in one round
/// trip. The scans tell a lock held while the whole table was read (a validation, an index
/// build) from a lock held only for a catalog change (ADD COLUMN with a constant default,
/// NOT VALID constraints): only the first kind is reported as a blocking lock.
const PG_AFTER_STATEMENT: &str = "\
SELECT 'L'::text, l.relation::int8, l.mode::text, 0::int8 \
FROM pg_locks l \
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
  AND l.relation >= 16384 \
UNION ALL \
SELECT 'F'::text, c.oid::int8, ''::text, c.relfilenode::int8 \
FROM pg_class c \
WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 't') \
UNION ALL \
SELECT 'S'::text, s.relid::int8, ''::text, s.seq_scan::int8 \
FROM pg_stat_xact_user_tables s \
WHERE s.seq_scan > 0";

/// The same, inside a transaction, read only around what this backend locked: a relation's
/// storage cannot change, nor a table be scanned, without a lock that the transaction then
/// holds until it ends, so the tables it locked, their TOAST tables and the indexes of both
/// are all that can have changed. Reading every relation after every statement cost a query
/// that grew with the schema (crates.io's chain: observation took 59% of its migrations'
/// time). Outside a transaction the locks are gone when the query runs: the full query.
const PG_AFTER_STATEMENT_IN_TRANSACTION: &str = "\
WITH l AS (SELECT l.relation, l.mode FROM pg_locks l \
  WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
    AND l.relation >= 16384), \
t AS (SELECT c.oid, c.reltoastrelid FROM pg_class c WHERE c.oid IN (SELECT relation FROM l)), \
r AS (SELECT oid FROM t UNION SELECT reltoastrelid FROM t WHERE reltoastrelid <> 0), \
f AS (SELECT oid FROM r UNION SELECT i.indexrelid FROM pg_index i \
  WHERE i.indrelid IN (SELECT oid FROM r)) \
SELECT 'L'::text, l.relation::int8, l.mode::text, 0::int8 FROM l \
UNION ALL \
SELECT 'F'::text, c.oid::int8, ''::text, c.relfilenode::int8 \
FROM pg_class c \
WHERE c.oid IN (SELECT oid FROM f) AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 't') \
UNION ALL \
SELECT 'S'::text, s.relid::int8, ''::text, s.seq_scan::int8 \
FROM pg_stat_xact_user_tables s \
WHERE s.relid IN (SELECT relation FROM l) AND s.seq_scan > 0";

/// When a transaction begins: the scan counters it starts from. They are not zero: the
/// backend keeps counts of earlier transactions that it has not reported yet (PostgreSQL 15
/// reports at most once a second), for any table, locked or not.
const PG_SCANS: &str = "\
SELECT 'S'::text, s.relid::int8, ''::text, s.seq_scan::int8 \
FROM pg_stat_xact_user_tables s \
WHERE s.seq_scan > 0";

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

/// Everything observed over a verify run.
#[derive(Debug, Default)]
pub struct Observation {
    /// Raw findings (default severities; `reconcile` applies the config).
    pub findings: Vec<Finding>,
    /// The scripts that were observed: what `reconcile` may call a disagreement.
    pub scripts: Vec<ObservedScript>,
    /// Statements observed and the time the observation queries took.
    pub statements: usize,
    pub time: Duration,
    /// Why observation could not run, when it could not (privileges, unknown server).
    pub unavailable: Option<String>,
    /// Blocking locks held only for a catalog change (no scan, no rewrite): not findings,
    /// but what `reconcile` tells a static rule that predicted a long lock.
    pub brief_locks: Vec<BriefLock>,
}

/// A blocking lock a statement took without reading or rewriting the table under it.
#[derive(Debug, Clone)]
pub struct BriefLock {
    pub file: String,
    pub line: usize,
    pub table: String,
    pub mode: String,
}

/// One observed script: its file and every statement's line range.
#[derive(Debug, Clone)]
pub struct ObservedScript {
    pub file: String,
    pub migration: Option<String>,
    pub statements: Vec<(usize, usize)>,
    /// The statements' SQL, one line each.
    pub excerpts: Vec<String>,
}

impl ObservedScript {
    fn new(script: &PreparedScript, migration: Option<&str>) -> Self {
        ObservedScript {
            file: script.file.display().to_string(),
            migration: migration.map(str::to_string),
            statements: script.statements.iter().map(line_range).collect(),
            excerpts: script.statements.iter().map(|s| excerpt(&s.sql)).collect(),
        }
    }

    /// The statement whose lines contain `line`.
    fn statement_at(&self, line: usize) -> Option<usize> {
        self.statements
            .iter()
            .position(|(start, end)| (*start..=*end).contains(&line))
    }
}

fn line_range(s: &Statement) -> (usize, usize) {
    let lines = s.sql.trim_end().lines().count().max(1);
    (s.line, s.line + lines - 1)
}

/// Which rules the run should look for: none when every observed rule is off.
pub fn wanted(config: &LintConfig) -> bool {
    rules::OBSERVED
        .iter()
        .filter_map(|id| rules::find(id))
        .any(|r| config.is_enabled(r))
}

/// Observes the scripts applied through it; lives as long as the verify run.
#[derive(Debug, Default)]
pub struct Recorder {
    observation: Observation,
    /// MySQL/MariaDB: the information_schema table with InnoDB table ids, once detected
    /// (`None` inside: neither exists or is readable).
    innodb_source: Option<Option<&'static str>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn finish(self) -> Observation {
        self.observation
    }

    /// Start observing one script on `conn`, before anything of it ran.
    pub(crate) async fn start(
        &mut self,
        conn: &mut Conn,
        script: &PreparedScript,
        migration: Option<&str>,
    ) -> Result<ScriptWatch, sqlx::Error> {
        let _observing = crate::timing::enter(crate::timing::Bucket::Observation);
        let started = Instant::now();
        let kind = match conn {
            Conn::Postgres(c) => WatchKind::Postgres(Box::new(PgWatch::start(c).await?)),
            Conn::Mysql(c) => {
                if self.innodb_source.is_none() {
                    self.innodb_source = Some(detect_innodb_source(c).await);
                }
                match self.innodb_source.flatten() {
                    Some(source) => WatchKind::Mysql {
                        source,
                        before: innodb_ids(c, source).await?,
                    },
                    None => {
                        self.observation.unavailable = Some(
                            "neither information_schema.INNODB_TABLES nor INNODB_SYS_TABLES is \
                             readable: table rebuilds cannot be observed"
                                .to_string(),
                        );
                        WatchKind::Off
                    }
                }
            }
        };
        self.observation.time += started.elapsed();
        let watched = ObservedScript::new(script, migration);
        // What `reconcile` may judge: the statements observed so far (a failing migration
        // stops short; a statement that never ran is neither confirmed nor contradicted).
        self.observation.scripts.push(ObservedScript {
            statements: Vec::new(),
            excerpts: Vec::new(),
            ..watched.clone()
        });
        Ok(ScriptWatch {
            script: watched,
            kind,
        })
    }

    /// After statement `index` of the watched script ran (`in_transaction`: inside a
    /// transaction that is still open, the script's or a per-statement one).
    pub(crate) async fn after_statement(
        &mut self,
        conn: &mut Conn,
        watch: &mut ScriptWatch,
        index: usize,
        statement: &Statement,
        in_transaction: bool,
    ) -> Result<(), sqlx::Error> {
        let _observing = crate::timing::enter(crate::timing::Bucket::Observation);
        let started = Instant::now();
        if let (WatchKind::Postgres(pg), Conn::Postgres(c)) = (&mut watch.kind, conn) {
            let sql = if in_transaction {
                PG_AFTER_STATEMENT_IN_TRANSACTION
            } else {
                PG_AFTER_STATEMENT
            };
            let state = pg_state(c, sql).await?;
            pg.statement(
                &watch.script,
                index,
                statement,
                state,
                &mut self.observation,
            );
            self.observation.statements += 1;
            if let Some(seen) = self.observation.scripts.last_mut() {
                seen.statements.push(line_range(statement));
                seen.excerpts.push(excerpt(&statement.sql));
            }
        }
        self.observation.time += started.elapsed();
        Ok(())
    }

    /// A transaction the statements run in began (the script's, or a per-statement wrapper):
    /// read the scan counters inside it, where the server keeps them until it ends.
    pub(crate) async fn transaction_started(
        &mut self,
        conn: &mut Conn,
        watch: &mut ScriptWatch,
    ) -> Result<(), sqlx::Error> {
        let _observing = crate::timing::enter(crate::timing::Bucket::Observation);
        let started = Instant::now();
        if let (WatchKind::Postgres(pg), Conn::Postgres(c)) = (&mut watch.kind, conn) {
            pg.scans = pg_state(c, PG_SCANS).await?.scans;
        }
        self.observation.time += started.elapsed();
        Ok(())
    }

    /// The transaction the statements ran in ended (COMMIT, or a per-statement wrapper).
    pub(crate) fn transaction_ended(&mut self, watch: &mut ScriptWatch) {
        if let WatchKind::Postgres(pg) = &mut watch.kind {
            pg.transaction_ended(&watch.script, &mut self.observation.findings);
        }
    }

    /// The script applied completely.
    pub(crate) async fn finish_script(
        &mut self,
        conn: &mut Conn,
        mut watch: ScriptWatch,
        statements: &[Statement],
    ) -> Result<(), sqlx::Error> {
        let _observing = crate::timing::enter(crate::timing::Bucket::Observation);
        let started = Instant::now();
        self.transaction_ended(&mut watch);
        if let (WatchKind::Mysql { source, before }, Conn::Mysql(c)) = (&watch.kind, conn) {
            let after = innodb_ids(c, source).await?;
            mysql_rebuilds(
                &watch.script,
                statements,
                before,
                &after,
                &mut self.observation.findings,
            );
            self.observation.statements += statements.len();
            if let Some(seen) = self.observation.scripts.last_mut() {
                seen.statements.clone_from(&watch.script.statements);
                seen.excerpts.clone_from(&watch.script.excerpts);
            }
        }
        self.observation.time += started.elapsed();
        Ok(())
    }
}

/// The observation of one script in progress.
#[derive(Debug)]
pub struct ScriptWatch {
    script: ObservedScript,
    kind: WatchKind,
}

impl ScriptWatch {
    /// Postgres statements of a non-transactional script must run in a transaction of their
    /// own for their locks to be seen.
    pub(crate) fn wants_statement_transactions(&self) -> bool {
        matches!(self.kind, WatchKind::Postgres(_))
    }
}

#[derive(Debug)]
enum WatchKind {
    Postgres(Box<PgWatch>),
    Mysql {
        source: &'static str,
        before: BTreeMap<String, u64>,
    },
    Off,
}

// ---- Postgres -------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Relation {
    kind: char,
    name: String,
    /// Index: its table; TOAST table: its owner; TOAST index: the TOAST table.
    parent: i64,
}

#[derive(Debug)]
struct PgWatch {
    relations: HashMap<i64, Relation>,
    /// Last seen relfilenode of every pre-existing relation.
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
}

#[derive(Debug)]
struct Under {
    table: String,
    taken_line: usize,
    first: usize,
    count: usize,
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
    async fn start(conn: &mut sqlx::PgConnection) -> Result<Self, sqlx::Error> {
        let rows = sqlx::query(PG_RELATIONS).fetch_all(&mut *conn).await?;
        let mut relations = HashMap::new();
        let mut filenodes = HashMap::new();
        for row in rows {
            let oid: i64 = row.try_get(0)?;
            let kind: String = row.try_get(1)?;
            let filenode: i64 = row.try_get(2)?;
            relations.insert(
                oid,
                Relation {
                    kind: kind.chars().next().unwrap_or('r'),
                    name: row.try_get(3)?,
                    parent: row.try_get(4)?,
                },
            );
            filenodes.insert(oid, filenode);
        }
        Ok(PgWatch {
            relations,
            filenodes,
            held: HashMap::new(),
            exclusive_since: HashMap::new(),
            under: None,
            scans: HashMap::new(),
        })
    }

    fn is_table(&self, oid: i64) -> bool {
        self.relations
            .get(&oid)
            .is_some_and(|r| matches!(r.kind, 'r' | 'p' | 'm'))
    }

    /// The table a relation belongs to (itself for a table).
    fn owner(&self, oid: i64) -> i64 {
        let mut current = oid;
        for _ in 0..3 {
            match self.relations.get(&current) {
                Some(r) if !matches!(r.kind, 'r' | 'p' | 'm') && r.parent != 0 => {
                    current = r.parent;
                }
                _ => break,
            }
        }
        current
    }

    fn name(&self, oid: i64) -> String {
        self.relations
            .get(&oid)
            .map(|r| r.name.clone())
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
            let Some(previous) = self.filenodes.get_mut(oid) else {
                continue;
            };
            if *previous == *filenode || *filenode == 0 {
                continue;
            }
            *previous = *filenode;
            let entry = rewritten.entry(self.owner(*oid)).or_default();
            match self.relations.get(oid).map(|r| r.kind) {
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
        self.relations
            .get(&oid)
            .and_then(|r| self.relations.get(&r.parent))
            .is_some_and(|p| p.kind == 't')
    }

    fn transaction_ended(&mut self, script: &ObservedScript, out: &mut Vec<Finding>) {
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
    sql: &'static str,
) -> Result<PgState, sqlx::Error> {
    // Prepared once per connection, as every observation query: planning them cost more
    // than running them. (A migration's DISCARD or DEALLOCATE drops them: see
    // `forgets_prepared`.)
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    let mut state = PgState {
        every_table: sql != PG_AFTER_STATEMENT_IN_TRANSACTION,
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

/// Whether `sql` drops the session's prepared statements (`DISCARD ALL`, `DEALLOCATE`), so
/// that the connection must forget the ones it prepared.
pub(crate) fn forgets_prepared(sql: &str) -> bool {
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(';')
        .to_ascii_uppercase();
    matches!(first.as_str(), "DISCARD" | "DEALLOCATE")
}

/// BEGIN, COMMIT, ROLLBACK, SAVEPOINT...: statements that only steer the transaction.
pub(crate) fn is_transaction_control(sql: &str) -> bool {
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(';')
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE"
    ) || sql
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_uppercase)
        .eq(["PREPARE", "TRANSACTION"])
}

/// Whether a statement opens (`Some(true)`) or closes (`Some(false)`) a transaction block.
pub(crate) fn transaction_effect(sql: &str) -> Option<bool> {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(2)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    match words.first().map(String::as_str) {
        Some("BEGIN") => Some(true),
        Some("START") if words.get(1).is_some_and(|w| w == "TRANSACTION") => Some(true),
        Some("COMMIT" | "END" | "ABORT") => Some(false),
        Some("ROLLBACK") if words.get(1).is_none_or(|w| w != "TO") => Some(false),
        Some("PREPARE") if words.get(1).is_some_and(|w| w == "TRANSACTION") => Some(false),
        _ => None,
    }
}

// ---- MySQL / MariaDB ------------------------------------------------------------------

async fn detect_innodb_source(conn: &mut sqlx::MySqlConnection) -> Option<&'static str> {
    for source in ["INNODB_TABLES", "INNODB_SYS_TABLES"] {
        let probe = format!("SELECT NAME, TABLE_ID FROM information_schema.{source} LIMIT 1");
        if sqlx::raw_sql(AssertSqlSafe(probe))
            .fetch_all(&mut *conn)
            .await
            .is_ok()
        {
            return Some(source);
        }
    }
    tracing::warn!("no readable InnoDB table list: rebuilds are not observed");
    None
}

/// Table name (decoded) -> InnoDB table id, for the tables of the current database.
async fn innodb_ids(
    conn: &mut sqlx::MySqlConnection,
    source: &str,
) -> Result<BTreeMap<String, u64>, sqlx::Error> {
    let database: Option<String> = sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)")
        .fetch_one(&mut *conn)
        .await?;
    let Some(database) = database else {
        return Ok(BTreeMap::new());
    };
    let query = format!(
        "SELECT CAST(NAME AS CHAR), CAST(TABLE_ID AS UNSIGNED) \
         FROM information_schema.{source} WHERE NAME LIKE CONCAT(DATABASE(), '/%')"
    );
    let rows: Vec<(String, u64)> = sqlx::query_as(AssertSqlSafe(query))
        .fetch_all(&mut *conn)
        .await?;
    let prefix = format!("{}/", encode_innodb_name(&database));
    Ok(rows
        .into_iter()
        .filter_map(|(name, id)| {
            let table = name.strip_prefix(&prefix)?;
            // Partitions (`t#P#p0`) and intermediate tables (`#sql-...`) are not user tables.
            (!table.contains('#')).then(|| (decode_innodb_name(table), id))
        })
        .collect())
}

/// InnoDB stores names in the filename-safe encoding: characters other than ASCII letters,
/// digits and `_` become `@XXXX` (hex code point).
fn decode_innodb_name(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 5);
        match code
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
        {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 5..];
            }
            None => {
                out.push('@');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn encode_innodb_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_string()
            } else {
                format!("@{:04x}", c as u32)
            }
        })
        .collect()
}

fn mysql_rebuilds(
    script: &ObservedScript,
    statements: &[Statement],
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    out: &mut Vec<Finding>,
) {
    let rule = rules::observed_table_rebuild::RULE.id;
    for (table, id) in before {
        let Some(new_id) = after.get(table) else {
            continue;
        };
        if new_id == id {
            continue;
        }
        let statement = statements.iter().find(|s| alters_table(&s.sql, table));
        let (line, sql, whom) = match statement {
            Some(s) => (s.line, Some(excerpt(&s.sql)), String::new()),
            None => (
                1,
                None,
                " by this migration (no ALTER of it found to point at)".to_string(),
            ),
        };
        out.push(Finding {
            rule: rule.to_string(),
            severity: default_severity(rule),
            file: script.file.clone(),
            line: Some(line),
            message: format!(
                "`{table}` was rebuilt{whom}: its InnoDB table id changed ({id} -> {new_id}), \
                 the rows were copied into a new table"
            ),
            column: None,
            statement: sql,
            help: None,
            migration: script.migration.clone(),
            ..Default::default()
        });
    }
}

/// Whether `sql` is a statement that can rebuild `table`: ALTER TABLE, OPTIMIZE TABLE,
/// CREATE ... INDEX ON, TRUNCATE.
fn alters_table(sql: &str, table: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';' || c == ',')
        .filter(|w| !w.is_empty())
        .take(12)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let names = |w: &str| {
        let bare = w.rsplit('.').next().unwrap_or(w).trim_matches('`');
        bare == table.to_ascii_lowercase()
    };
    match words.first().map(String::as_str) {
        Some("alter" | "optimize") => words
            .iter()
            .position(|w| w == "table")
            .and_then(|i| words.get(i + 1))
            .is_some_and(|w| names(w)),
        Some("truncate") => words.iter().skip(1).take(2).any(|w| names(w)),
        Some("create") => words
            .iter()
            .position(|w| w == "on")
            .and_then(|i| words.get(i + 1))
            .is_some_and(|w| names(w)),
        _ => false,
    }
}

// ---- agreement with the static rules ----------------------------------------------------

/// Static rules that predict a rewrite (Postgres) or a rebuild (MySQL/MariaDB).
const PREDICTS_REWRITE: &[&str] = &[
    "add-column-rewriting-default",
    "alter-column-type",
    "add-column-serial",
    "add-column-stored-generated",
    "vacuum-full",
    "cluster",
];
const PREDICTS_REBUILD: &[&str] = &[
    "alter-column-type",
    "algorithm-copy",
    "convert-charset",
    "change-primary-key",
    "add-column-stored-generated",
    "add-fulltext-index",
    "add-foreign-key-with-checks",
];
/// Static rules that predict a lock blocking reads or writes (Postgres).
const PREDICTS_LOCK: &[&str] = &[
    "create-index-non-concurrently",
    "drop-index-non-concurrently",
    "reindex-non-concurrently",
    "add-foreign-key-without-not-valid",
    "add-check-without-not-valid",
    "add-unique-or-primary-key",
    "add-exclude-constraint",
    "set-not-null",
    "add-column-rewriting-default",
    "alter-column-type",
    "add-column-serial",
    "add-column-stored-generated",
    "vacuum-full",
    "cluster",
];
/// Static rules about other dangers whose statements also take ACCESS EXCLUSIVE: they agree
/// with an observed lock without predicting one.
const ALSO_LOCKS: &[&str] = &[
    "drop-table",
    "drop-column",
    "rename-table",
    "rename-column",
    "truncate",
    "add-column-not-null-without-default",
];

/// The observed rule a static prediction is checked against.
fn confirming_rule(static_rule: &str, mysql: bool) -> Option<&'static str> {
    if mysql {
        return PREDICTS_REBUILD
            .contains(&static_rule)
            .then_some(rules::observed_table_rebuild::RULE.id);
    }
    if static_rule == "statements-after-access-exclusive" {
        return Some(rules::observed_statements_under_access_exclusive::RULE.id);
    }
    if PREDICTS_REWRITE.contains(&static_rule) {
        return Some(rules::observed_table_rewrite::RULE.id);
    }
    PREDICTS_LOCK
        .contains(&static_rule)
        .then_some(rules::observed_blocking_lock::RULE.id)
}

/// Static rules that agree with an observed finding of `observed_rule`.
fn agrees(observed_rule: &str, static_rule: &str) -> bool {
    match observed_rule {
        "observed-blocking-lock" => {
            PREDICTS_LOCK.contains(&static_rule) || ALSO_LOCKS.contains(&static_rule)
        }
        "observed-table-rewrite" => PREDICTS_REWRITE.contains(&static_rule),
        "observed-statements-under-access-exclusive" => {
            static_rule == "statements-after-access-exclusive"
        }
        "observed-table-rebuild" => PREDICTS_REBUILD.contains(&static_rule),
        _ => false,
    }
}

/// Merge an observation into the static findings of the same run: notes of agreement on the
/// observed findings, `observed-disagreement` where a static prediction was not confirmed, the
/// config's on/off, severities and `migcheck:ignore` directives applied to the observed rules.
pub fn reconcile(
    findings: &mut Vec<Finding>,
    observation: Observation,
    config: &LintConfig,
    mysql: bool,
) {
    let Observation {
        findings: observed,
        scripts,
        brief_locks,
        ..
    } = observation;
    let by_file: HashMap<&str, &ObservedScript> =
        scripts.iter().map(|s| (s.file.as_str(), s)).collect();
    let statement_of = |f: &Finding| -> Option<(&str, usize)> {
        let script: &ObservedScript = by_file.get(f.file.as_str())?;
        Some((script.file.as_str(), script.statement_at(f.line?)?))
    };

    // Static findings per observed statement.
    let mut static_at: HashMap<(&str, usize), Vec<&str>> = HashMap::new();
    for f in findings.iter() {
        if let Some(key) = statement_of(f) {
            static_at.entry(key).or_default().push(f.rule.as_str());
        }
    }
    let mut observed_at: HashSet<((&str, usize), &str)> = HashSet::new();
    for f in &observed {
        if let Some(key) = statement_of(f) {
            observed_at.insert((key, f.rule.as_str()));
        }
    }

    let mut extra = Vec::new();
    for f in &observed {
        let mut f = f.clone();
        let agreeing: Vec<&str> = statement_of(&f)
            .and_then(|key| static_at.get(&key))
            .map(|rules| {
                let mut v: Vec<&str> = rules
                    .iter()
                    .copied()
                    .filter(|r| agrees(&f.rule, r))
                    .collect();
                v.dedup();
                v
            })
            .unwrap_or_default();
        let note = match agreeing.as_slice() {
            [] => " [seen by the run only: no static rule flagged this statement]".to_string(),
            [one] => format!(" [static rule {one} agrees]"),
            many => format!(" [static rules {} agree]", many.join(", ")),
        };
        f.message.push_str(&note);
        extra.push(f);
    }
    let mut disagreements = Vec::new();
    for f in findings.iter() {
        let Some(key) = statement_of(f) else {
            continue;
        };
        let Some(expected) = confirming_rule(&f.rule, mysql) else {
            continue;
        };
        if observed_at.contains(&(key, expected)) {
            continue;
        }
        let seen = observed_at
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, r)| *r)
            .collect::<Vec<_>>();
        let brief: Vec<String> = brief_locks
            .iter()
            .filter(|b| {
                by_file
                    .get(b.file.as_str())
                    .and_then(|s| s.statement_at(b.line))
                    == Some(key.1)
                    && b.file == key.0
            })
            .map(|b| format!("{} on `{}`", b.mode, b.table))
            .collect();
        let saw = match (seen.is_empty(), brief.is_empty()) {
            (true, true) => {
                "no blocking lock held during a scan or rewrite, no rewrite".to_string()
            }
            (true, false) => format!(
                "{} held only for a catalog change (no scan, no rewrite: brief unless it has to \
                 wait for other sessions)",
                brief.join(", ")
            ),
            (false, _) => seen.join(", "),
        };
        let what = match expected {
            "observed-table-rewrite" => "a rewrite of the table",
            "observed-table-rebuild" => "a rebuild (copy) of the table",
            "observed-statements-under-access-exclusive" => {
                "statements running under ACCESS EXCLUSIVE"
            }
            _ => "a lock that blocks reads or writes",
        };
        let rule = rules::observed_disagreement::RULE.id;
        disagreements.push(Finding {
            rule: rule.to_string(),
            severity: default_severity(rule),
            file: f.file.clone(),
            line: f.line,
            message: format!(
                "static rule {} predicts {what} here; the run on the server saw {saw} \
                 ({expected} did not fire)",
                f.rule
            ),
            column: f.column,
            statement: f.statement.clone(),
            help: None,
            migration: f.migration.clone(),
            ..Default::default()
        });
    }
    extra.extend(disagreements);

    let ignored = Ignores::read(&scripts);
    for mut f in extra {
        let Some(rule) = rules::find(&f.rule) else {
            continue;
        };
        if !config.is_enabled(rule) || ignored.covers(&f, &by_file) {
            continue;
        }
        f.severity = config.severity(rule).name().to_string();
        f.help.get_or_insert_with(|| rule.recipe.to_string());
        findings.push(f);
    }
    // Static `unused-suppression` findings about observed rules: those directives are read
    // here, against the observed findings.
    findings.retain(|f| {
        !(f.rule == rules::unused_suppression::RULE.id
            && rules::OBSERVED
                .iter()
                .any(|id| f.message.contains(&format!(" {id}`"))))
    });
}

/// `-- migcheck:ignore rule` (the next statement) and `-- migcheck:ignore-file rule`
/// directives that name observed rules, read from the observed scripts' files.
struct Ignores {
    /// (file, line of the statement the directive applies to, rule); line 0: the whole file.
    entries: HashSet<(String, usize, String)>,
}

impl Ignores {
    fn read(scripts: &[ObservedScript]) -> Self {
        let mut entries = HashSet::new();
        for script in scripts {
            let Ok(text) = std::fs::read_to_string(Path::new(&script.file)) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let Some((file_wide, ids)) = directive(line) else {
                    continue;
                };
                let target = if file_wide {
                    Some(0)
                } else {
                    // The first statement starting after the directive, with only blank and
                    // comment lines in between.
                    script
                        .statements
                        .iter()
                        .map(|(start, _)| *start)
                        .find(|start| *start > i + 1)
                        .filter(|start| {
                            lines[i + 1..start - 1].iter().all(|l| {
                                let t = l.trim();
                                t.is_empty() || t.starts_with("--")
                            })
                        })
                };
                if let Some(target) = target {
                    for id in ids.into_iter().filter(|id| rules::is_observed(id)) {
                        entries.insert((script.file.clone(), target, id));
                    }
                }
            }
        }
        Ignores { entries }
    }

    fn covers(&self, f: &Finding, scripts: &HashMap<&str, &ObservedScript>) -> bool {
        let start = scripts.get(f.file.as_str()).and_then(|s| {
            f.line
                .and_then(|l| s.statement_at(l))
                .map(|i| s.statements[i].0)
        });
        [Some(0), start].into_iter().flatten().any(|line| {
            self.entries
                .contains(&(f.file.clone(), line, f.rule.clone()))
        })
    }
}

/// `-- migcheck:ignore a, b -- reason` -> (false, [a, b]); `ignore-file` -> (true, ...): the
/// lint's own reading of a directive, after the line's `--`.
fn directive(line: &str) -> Option<(bool, Vec<String>)> {
    crate::lint::suppress::directive(line.trim_start().strip_prefix("--")?)
}

fn default_severity(rule: &str) -> String {
    rules::find(rule)
        .map(|r| r.severity)
        .unwrap_or(Severity::Warning)
        .name()
        .to_string()
}

/// The statement on one line, whitespace collapsed, at most 120 characters.
fn excerpt(sql: &str) -> String {
    let one: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 120 {
        let cut: String = one.chars().take(117).collect();
        format!("{cut}...")
    } else {
        one
    }
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

    #[test]
    fn transaction_statements() {
        assert_eq!(transaction_effect("BEGIN"), Some(true));
        assert_eq!(transaction_effect("start transaction;"), Some(true));
        assert_eq!(transaction_effect("COMMIT"), Some(false));
        assert_eq!(transaction_effect("ROLLBACK TO SAVEPOINT a"), None);
        assert_eq!(transaction_effect("ROLLBACK"), Some(false));
        assert_eq!(transaction_effect("CREATE TABLE begin (a int)"), None);
        assert!(is_transaction_control("commit;"));
        assert!(!is_transaction_control("UPDATE t SET a = 1"));
    }

    #[test]
    fn innodb_names_round_trip() {
        assert_eq!(decode_innodb_name("my@002dtable"), "my-table");
        assert_eq!(encode_innodb_name("my-db_1"), "my@002ddb_1");
        assert_eq!(decode_innodb_name("odd@zz"), "odd@zz");
    }

    #[test]
    fn finds_the_statement_that_alters_a_table() {
        assert!(alters_table(
            "ALTER TABLE `users` MODIFY name varchar(500)",
            "users"
        ));
        assert!(alters_table(
            "alter table app.users add column x int",
            "users"
        ));
        assert!(alters_table("CREATE INDEX i ON users (a)", "users"));
        assert!(alters_table("OPTIMIZE TABLE users", "users"));
        assert!(!alters_table("ALTER TABLE user_roles ADD x int", "users"));
        assert!(!alters_table("UPDATE users SET a = 1", "users"));
    }

    #[test]
    fn directives_name_rules() {
        assert_eq!(
            directive("  -- migcheck:ignore observed-table-rewrite, x -- agreed"),
            Some((
                false,
                vec!["observed-table-rewrite".to_string(), "x".to_string()]
            ))
        );
        assert_eq!(
            directive("-- migcheck:ignore-file observed-blocking-lock"),
            Some((true, vec!["observed-blocking-lock".to_string()]))
        );
        assert_eq!(directive("-- migcheck:ignored x"), None);
        assert_eq!(directive("SELECT 1"), None);
    }

    fn finding(rule: &str, line: usize) -> Finding {
        Finding {
            rule: rule.to_string(),
            severity: "warning".to_string(),
            file: "m/0002.up.sql".to_string(),
            line: Some(line),
            message: "m".to_string(),
            ..Default::default()
        }
    }

    fn observation(observed: Vec<Finding>) -> Observation {
        Observation {
            findings: observed,
            scripts: vec![ObservedScript {
                file: "m/0002.up.sql".to_string(),
                migration: None,
                statements: vec![(1, 2), (4, 4)],
                excerpts: vec!["a".to_string(), "b".to_string()],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn agreement_and_disagreement_are_reported() {
        let mut findings = vec![
            finding("create-index-non-concurrently", 2),
            finding("alter-column-type", 4),
        ];
        let observed = vec![finding("observed-blocking-lock", 1)];
        reconcile(
            &mut findings,
            observation(observed),
            &LintConfig::default(),
            false,
        );
        let lock = findings
            .iter()
            .find(|f| f.rule == "observed-blocking-lock")
            .unwrap();
        assert!(
            lock.message
                .contains("[static rule create-index-non-concurrently agrees]"),
            "{}",
            lock.message
        );
        let dis: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.rule == "observed-disagreement")
            .collect();
        assert_eq!(dis.len(), 1, "{findings:?}");
        assert_eq!(dis[0].line, Some(4));
        assert!(dis[0].message.contains("alter-column-type"));
        assert_eq!(dis[0].severity, "info");
    }

    #[test]
    fn config_turns_observed_rules_off() {
        let mut config = LintConfig::default();
        config
            .set_rule("observed-blocking-lock", crate::lint::RuleSetting::Off)
            .unwrap();
        let mut findings = Vec::new();
        reconcile(
            &mut findings,
            observation(vec![finding("observed-blocking-lock", 1)]),
            &config,
            false,
        );
        assert!(findings.is_empty(), "{findings:?}");
        assert!(wanted(&config));
        for id in rules::OBSERVED {
            config.set_rule(id, crate::lint::RuleSetting::Off).unwrap();
        }
        assert!(!wanted(&config));
    }
}
