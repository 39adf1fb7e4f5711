//! "Seen, not guessed": what the database really did while verify applied each migration for
//! the first time.
//!
//! Postgres: after each statement, inside the migration's transaction, migcheck reads the
//! relation locks its own backend holds, the storage (`relfilenode`) of the tables and indexes
//! that existed before, and the tables' sequential scans. A blocking lock held while a
//! pre-existing table was read or rewritten, a rewrite, and statements that ran while an ACCESS
//! EXCLUSIVE lock was held become findings on the statement's file and line.
//!
//! MySQL/MariaDB: the InnoDB table ids of the database's tables are read before and after the
//! migration; a pre-existing table whose id changed was rebuilt.
//!
//! `reconcile` then merges the observed findings with the static lint's: each observed finding
//! says which static rule agrees (or that none did), and a static lock/rewrite prediction the
//! run did not confirm becomes an `observed-disagreement` finding.
//!
//! The files of this module:
//!
//! - `mod.rs` (this file): the engine-independent recorder that `crate::apply` drives while it
//!   runs a script (`Recorder`, `ScriptWatch`), what it collects over a verify run
//!   (`Observation`, `ObservedScript`, `BriefLock`), and `Engine`, the one place where the
//!   engines differ: which server reads happen at each step of a script.
//! - `postgres.rs`: the PostgreSQL observation (`PgWatch`; the queries over `pg_locks`,
//!   `pg_class` and `pg_stat_xact_user_tables`; lock modes and what they block).
//! - `mysql.rs`: the MySQL/MariaDB observation (`MysqlWatch`; InnoDB table ids and their name
//!   encoding; the statement that rebuilt a table).
//! - `sql.rs`: what a statement's text says (transaction control, `DISCARD`/`DEALLOCATE`) and
//!   its one-line excerpt.
//! - `reconcile.rs`: the reconciliation of the observed findings with the static lint rules
//!   and the config, `migcheck:ignore` directives included.

mod mysql;
mod pg_relations;
mod postgres;
mod reconcile;
mod sql;

use std::time::{Duration, Instant};

use crate::apply::PreparedScript;
use crate::lint::rules;
use crate::lint::{LintConfig, Severity};
use crate::provision::Conn;
use crate::report::Finding;
use crate::sql::Statement;

pub use reconcile::reconcile;
use sql::excerpt;
pub(crate) use sql::{forgets_prepared, is_transaction_control, transaction_effect};

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
    /// MySQL/MariaDB: where the server lists InnoDB table ids, detected on the first script.
    innodb_source: mysql::InnodbSource,
    /// PostgreSQL: the relations before the last script that finished, for the next one to
    /// read only what changed since.
    pg_relations: Option<pg_relations::PgRelations>,
    /// `MIGCHECK_OBSERVE_CHECK=1`: where a partial read of the relations differed from a full one.
    relation_mismatches: Vec<String>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Take in what `other` observed after what this one did (the second half of a chain
    /// verified on a second database).
    pub fn absorb(&mut self, other: Recorder) {
        let theirs = other.observation;
        let ours = &mut self.observation;
        ours.findings.extend(theirs.findings);
        ours.scripts.extend(theirs.scripts);
        ours.statements += theirs.statements;
        ours.time += theirs.time;
        if ours.unavailable.is_none() {
            ours.unavailable = theirs.unavailable;
        }
        ours.brief_locks.extend(theirs.brief_locks);
        self.relation_mismatches.extend(other.relation_mismatches);
    }

    pub fn finish(self) -> Observation {
        if pg_relations::check_enabled() {
            // The developer switch's evidence that the partial reads ran and matched.
            let (partial, checked) = pg_relations::counts();
            eprintln!(
                "migcheck: MIGCHECK_OBSERVE_CHECK: {checked} of {partial} partial reads of the \
                 relations compared with full ones, {} transactions' scan counters read after a \
                 flush, {} differed",
                postgres::flushed_scans_checked(),
                self.relation_mismatches.len()
            );
            for m in &self.relation_mismatches {
                eprintln!("migcheck: MIGCHECK_OBSERVE_CHECK: differs: {m}");
            }
        }
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
        let engine = Engine::start(conn, self).await?;
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
            engine,
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
        let observed = watch
            .engine
            .after_statement(
                conn,
                &watch.script,
                index,
                statement,
                in_transaction,
                &mut self.observation,
            )
            .await?;
        if observed {
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
        watch
            .engine
            .transaction_started(conn, &mut self.relation_mismatches)
            .await?;
        self.observation.time += started.elapsed();
        Ok(())
    }

    /// The transaction the statements ran in ended (COMMIT, or a per-statement wrapper).
    pub(crate) fn transaction_ended(&mut self, watch: &mut ScriptWatch) {
        watch
            .engine
            .transaction_ended(&watch.script, &mut self.observation.findings);
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
        let observed = watch
            .engine
            .finish_script(
                conn,
                &watch.script,
                statements,
                &mut self.observation.findings,
            )
            .await?;
        if let Engine::Postgres(pg) = watch.engine {
            self.pg_relations = Some(pg.into_relations());
        }
        if observed {
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
    engine: Engine,
}

impl ScriptWatch {
    /// Postgres statements of a non-transactional script must run in a transaction of their
    /// own for their locks to be seen.
    pub(crate) fn wants_statement_transactions(&self) -> bool {
        self.engine.per_statement()
    }
}

/// The engine-specific half of a script's observation. Each engine reads the server at its own
/// steps of the script (Postgres after every statement and when a transaction begins,
/// MySQL/MariaDB before and after the whole script); the recorder calls every step and keeps
/// the engine-independent bookkeeping. A step of another engine, or of a connection to another
/// engine, does nothing.
#[derive(Debug)]
enum Engine {
    Postgres(Box<postgres::PgWatch>),
    Mysql(mysql::MysqlWatch),
    /// Nothing can be observed on this server (`Observation::unavailable` says why).
    Off,
}

impl Engine {
    /// Before anything of the script ran.
    async fn start(conn: &mut Conn, recorder: &mut Recorder) -> Result<Self, sqlx::Error> {
        Ok(match conn {
            Conn::Postgres(c) => {
                let cached = recorder.pg_relations.take();
                let mismatches = &mut recorder.relation_mismatches;
                Engine::Postgres(Box::new(
                    postgres::PgWatch::start(c, cached, mismatches).await?,
                ))
            }
            Conn::Mysql(c) => match mysql::MysqlWatch::start(c, &mut recorder.innodb_source).await?
            {
                Some(watch) => Engine::Mysql(watch),
                None => {
                    recorder.observation.unavailable = Some(mysql::UNAVAILABLE.to_string());
                    Engine::Off
                }
            },
        })
    }

    /// Whether statements are observed one by one, right after each ran.
    fn per_statement(&self) -> bool {
        matches!(self, Engine::Postgres(_))
    }

    /// After statement `index` ran; `true` when it was observed.
    async fn after_statement(
        &mut self,
        conn: &mut Conn,
        script: &ObservedScript,
        index: usize,
        statement: &Statement,
        in_transaction: bool,
        observation: &mut Observation,
    ) -> Result<bool, sqlx::Error> {
        match (self, conn) {
            (Engine::Postgres(pg), Conn::Postgres(c)) => {
                pg.after_statement(c, script, index, statement, in_transaction, observation)
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// A transaction the statements run in began.
    async fn transaction_started(
        &mut self,
        conn: &mut Conn,
        mismatches: &mut Vec<String>,
    ) -> Result<(), sqlx::Error> {
        if let (Engine::Postgres(pg), Conn::Postgres(c)) = (self, conn) {
            pg.transaction_started(c, mismatches).await?;
        }
        Ok(())
    }

    /// The transaction the statements ran in ended.
    fn transaction_ended(&mut self, script: &ObservedScript, out: &mut Vec<Finding>) {
        if let Engine::Postgres(pg) = self {
            pg.transaction_ended(script, out);
        }
    }

    /// The script applied completely; `true` when its statements were observed now, all at
    /// once.
    async fn finish_script(
        &mut self,
        conn: &mut Conn,
        script: &ObservedScript,
        statements: &[Statement],
        out: &mut Vec<Finding>,
    ) -> Result<bool, sqlx::Error> {
        match (self, conn) {
            (Engine::Mysql(m), Conn::Mysql(c)) => {
                m.finish(c, script, statements, out).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// The severity a rule's findings have before `reconcile` applies the config.
fn default_severity(rule: &str) -> String {
    rules::find(rule)
        .map(|r| r.severity)
        .unwrap_or(Severity::Warning)
        .name()
        .to_string()
}
