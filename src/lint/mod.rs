//! Static lint: finds unsafe schema operations in migration scripts without a database.
//!
//! Each statement (split by `sql::split`) is parsed into the lint's own model (`model::Stmt`):
//! PostgreSQL by libpg_query, the server's own grammar (`pg_tree`), MySQL/MariaDB by sqlparser
//! (`parse`); statements the parser rejects go through a keyword fallback so that a parse
//! failure never hides a `DROP TABLE`, and are reported as `parse-error`. Rules (one file each
//! under `rules/`) look at one statement in its context: the engine and version, whether the
//! migration runs in a transaction, the tables created earlier in the same migration (exempt
//! from lock and rewrite rules), column types seen earlier in the chain.
//!
//! Up scripts are linted by default; down scripts only when asked (`--downs`, `downs = true`):
//! a down exists to drop what its up created, so drop rules would fire on every one of them.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::chain::{Chain, Script, Segment};
use crate::engine::Engine;
use crate::report::Finding;

pub mod cli;
pub mod config;
pub mod model;
mod parse;
mod pg_tree;
pub mod rules;
mod schema;
pub(crate) mod suppress;

pub use config::{LintConfig, RuleSetting};

use model::{ConstraintKind, Kind, Op, Stmt};
use rules::{Ctx, HeldLock, Rule};
use schema::Schema;

/// Postgres major version assumed when neither the config, the flags nor a server say.
pub const DEFAULT_PG_MAJOR: u32 = 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Some(Severity::Info),
            "warning" | "warn" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Lint every migration of a discovered chain (ups; downs too when `config.downs`).
///
/// `server_version` is the server's numeric version when known (verify): Postgres
/// `server_version_num` (150004) or a bare major (15); it overrides `config.pg_version`.
pub fn lint_chain(
    chain: &Chain,
    engine: Engine,
    server_version: Option<u32>,
    config: &LintConfig,
) -> Vec<Finding> {
    let mut scripts: Vec<(Option<&str>, &Script)> = Vec::new();
    for m in &chain.migrations {
        scripts.push((Some(m.id.as_str()), &m.up));
    }
    if config.downs {
        for m in &chain.migrations {
            if let Some(down) = &m.down {
                scripts.push((Some(m.id.as_str()), down));
            }
        }
    }
    lint_scripts(&scripts, engine, server_version, config)
}

/// Lint scripts in order; column types learnt from earlier scripts carry over to later ones.
pub fn lint_scripts(
    scripts: &[(Option<&str>, &Script)],
    engine: Engine,
    server_version: Option<u32>,
    config: &LintConfig,
) -> Vec<Finding> {
    let pg_version = server_version.or(config.pg_version).map(pg_major);
    let mut chain_state = ChainState::default();
    let mut out = Vec::new();
    for (migration, script) in scripts {
        out.extend(lint_one(
            script,
            *migration,
            engine,
            pg_version,
            config,
            &mut chain_state,
        ));
    }
    out
}

/// Lint SQL text as one up script (tests, editors).
pub fn lint_text(
    sql: &str,
    file: &str,
    engine: Engine,
    no_transaction: bool,
    config: &LintConfig,
) -> Vec<Finding> {
    let script = Script {
        file: file.into(),
        segments: vec![Segment::Sql {
            text: sql.to_string(),
            line: 1,
        }],
        no_transaction,
    };
    lint_scripts(&[(None, &script)], engine, None, config)
}

/// `150004` -> 15, `90624` -> 9, `13` -> 13.
fn pg_major(v: u32) -> u32 {
    if v >= 10_000 {
        v / 10_000
    } else {
        v
    }
}

/// What carries over from one migration to the next.
#[derive(Default)]
struct ChainState {
    schema: Schema,
    fulltext_tables: HashSet<String>,
    /// Postgres functions created earlier in the chain as VOLATILE (the default).
    volatile_functions: HashSet<String>,
}

/// A finding before suppression and severity overrides.
struct Raw {
    rule: &'static Rule,
    stmt: Option<usize>,
    line: usize,
    col: usize,
    message: String,
    help: Option<String>,
}

fn lint_one(
    script: &Script,
    migration: Option<&str>,
    engine: Engine,
    pg_version: Option<u32>,
    config: &LintConfig,
    chain: &mut ChainState,
) -> Vec<Finding> {
    let file = script.file.display().to_string();
    let lines = raw_lines(script);
    let parse_rule = &rules::parse_error::RULE;
    let mut raw: Vec<Raw> = Vec::new();

    let statements = match crate::sql::split(script, engine.dialect()) {
        Ok(s) => s,
        Err(e) => {
            let line = match &e {
                crate::error::Error::Input { line, .. } => line.unwrap_or(1),
                _ => 1,
            };
            raw.push(Raw {
                rule: parse_rule,
                stmt: None,
                line,
                col: 1,
                message: format!("the script could not be split into statements: {e}"),
                help: None,
            });
            Vec::new()
        }
    };
    let mut columns = Columns::default();
    let stmts: Vec<Stmt> = statements
        .iter()
        .map(|s| {
            let col = columns.of(&lines, s.line, &s.sql);
            parse::analyse(&s.sql, s.line, col, engine.dialect())
        })
        .collect();

    check_statements(
        &stmts,
        script.no_transaction,
        engine,
        pg_version,
        config,
        chain,
        &mut raw,
    );

    let directives = suppress::parse(&lines);
    let mut findings = suppress::apply(raw, &directives, &stmts, &lines, config);
    for f in &mut findings {
        f.file.clone_from(&file);
        f.migration = migration.map(str::to_string);
    }
    findings.sort_by(|a, b| (a.line, a.column, &a.rule).cmp(&(b.line, b.column, &b.rule)));
    findings
}

#[allow(clippy::too_many_arguments)]
fn check_statements(
    stmts: &[Stmt],
    no_transaction: bool,
    engine: Engine,
    pg_version: Option<u32>,
    config: &LintConfig,
    chain: &mut ChainState,
    raw: &mut Vec<Raw>,
) {
    let active: Vec<&'static Rule> = rules::all()
        .iter()
        .filter(|r| r.applies_to(engine) && config.is_enabled(r))
        .collect();
    let pg = engine == Engine::Postgres;
    let mut created_tables = HashSet::new();
    let mut created_indexes = HashSet::new();
    let mut pending_checks: HashMap<String, (String, String)> = HashMap::new();
    let mut not_null_checks = HashSet::new();
    let mut in_tx = pg && !no_transaction;
    let mut lock_timeout_set = false;
    let mut locking_before = 0;
    let ddl_total = stmts.iter().filter(|s| s.kind == Kind::Ddl).count();
    let mut ddl_before = 0;
    let mut held: Option<(String, usize, usize)> = None; // table, line, index
    let mut fk_checks_off = false;
    let mut emptied_tables: HashSet<String> = HashSet::new();
    let mut time_zone = config.time_zone().to_string();

    for (i, stmt) in stmts.iter().enumerate() {
        let held_lock = held
            .as_ref()
            .filter(|_| in_tx)
            .map(|(t, line, at)| HeldLock {
                table: t.clone(),
                line: *line,
                first_after: *at + 1 == i,
                remaining: remaining_in_tx(stmts, i),
            });
        {
            let ctx = Ctx {
                engine,
                pg_major: pg_version.unwrap_or(DEFAULT_PG_MAJOR),
                pg_version_known: pg_version.is_some(),
                no_transaction,
                in_transaction: in_tx,
                created_tables: &created_tables,
                created_indexes: &created_indexes,
                schema: &chain.schema,
                not_null_checks: &not_null_checks,
                fulltext_tables: &chain.fulltext_tables,
                lock_timeout_set,
                locking_before,
                ddl_before,
                ddl_total,
                held_lock,
                fk_checks_off,
                emptied_tables: &emptied_tables,
                time_zone: &time_zone,
                volatile_functions: &chain.volatile_functions,
            };
            for rule in &active {
                let mut hits = Vec::new();
                (rule.check)(&ctx, stmt, &mut hits);
                for h in hits {
                    let (line, col) = stmt.locate(h.at);
                    raw.push(Raw {
                        rule,
                        stmt: Some(i),
                        line,
                        col,
                        message: h.message,
                        help: h.help,
                    });
                }
            }
        }
        if let Some((msg, at)) = &stmt.parse_error {
            let (line, col) = stmt.locate(*at);
            raw.push(Raw {
                rule: &rules::parse_error::RULE,
                stmt: Some(i),
                line,
                col,
                message: format!("could not parse this statement: {msg}"),
                help: None,
            });
        }

        // Update the state for the statements that follow.
        track_emptied(stmt, &mut emptied_tables);
        let mut touches_existing = false;
        for op in &stmt.ops {
            if let Some(t) = op.table() {
                if !created_tables.contains(&t.key) {
                    touches_existing = true;
                }
            }
            match op {
                Op::CreateTable { table, .. } => {
                    created_tables.insert(table.key.clone());
                }
                Op::CreateIndex {
                    name: Some(n),
                    table,
                    fulltext,
                    ..
                } => {
                    created_indexes.insert(n.key.clone());
                    if *fulltext {
                        chain.fulltext_tables.insert(table.key.clone());
                    }
                }
                Op::AddConstraint {
                    table,
                    kind,
                    name,
                    not_null_check_of,
                    not_valid,
                } => {
                    if *kind == ConstraintKind::Fulltext {
                        chain.fulltext_tables.insert(table.key.clone());
                    }
                    if let Some(col) = not_null_check_of {
                        let pair = (table.key.clone(), col.clone());
                        if *not_valid {
                            if let Some(n) = name {
                                pending_checks.insert(n.clone(), pair);
                            }
                        } else {
                            not_null_checks.insert(pair);
                        }
                    }
                }
                Op::ValidateConstraint { name, .. } => {
                    if let Some(pair) = pending_checks.remove(name) {
                        not_null_checks.insert(pair);
                    }
                }
                Op::SetVar { name, value } => {
                    let on = !matches!(value.as_str(), "0" | "default" | "0s" | "0ms");
                    match name.as_str() {
                        "lock_timeout" if pg => lock_timeout_set = on,
                        "lock_wait_timeout" | "session.lock_wait_timeout" if !pg => {
                            lock_timeout_set = on;
                        }
                        "foreign_key_checks" | "session.foreign_key_checks" => {
                            fk_checks_off = matches!(value.as_str(), "0" | "off" | "false");
                        }
                        "timezone" | "time zone" if pg => {
                            time_zone = if value == "default" {
                                config.time_zone().to_string()
                            } else {
                                value.clone()
                            };
                        }
                        _ => {}
                    }
                }
                Op::CreateFunction { name, volatile } => {
                    if *volatile {
                        chain.volatile_functions.insert(name.clone());
                    } else {
                        chain.volatile_functions.remove(name);
                    }
                }
                Op::Begin => in_tx = pg,
                Op::Commit => {
                    in_tx = false;
                    held = None;
                }
                _ => {}
            }
            if pg && in_tx && held.is_none() {
                if let Some(t) = access_exclusive_on(op, &created_tables, &created_indexes) {
                    held = Some((t, stmt.line, i));
                }
            }
            chain.schema.apply(op);
        }
        if touches_existing {
            locking_before += 1;
        }
        if stmt.kind == Kind::Ddl {
            ddl_before += 1;
        }
    }
}

/// Tables known empty after `stmt`: a TRUNCATE or a WHERE-less DELETE empties them; a write
/// into one (INSERT, COPY, MERGE) fills it again, and a statement whose writes cannot be read
/// from its text (a DO block, a function call, an unparsed statement) may fill any of them.
fn track_emptied(stmt: &Stmt, emptied: &mut HashSet<String>) {
    if stmt.parse_error.is_some() {
        emptied.clear();
        return;
    }
    let mut known = false;
    for op in &stmt.ops {
        match op {
            Op::Truncate { tables } => {
                emptied.extend(tables.iter().map(|t| t.key.clone()));
            }
            Op::Delete {
                table,
                all_rows: true,
            } => {
                emptied.insert(table.key.clone());
            }
            Op::Insert { table } => {
                emptied.remove(&table.key);
            }
            _ => {}
        }
        known = true;
    }
    if !known && stmt.kind == Kind::Other {
        let first = stmt
            .sql
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        // UPDATE and a plain DELETE add no rows; COMMENT/GRANT/ANALYZE write none.
        if !matches!(
            first.as_str(),
            "update" | "delete" | "comment" | "grant" | "revoke" | "analyze" | "vacuum"
        ) {
            emptied.clear();
        }
    }
}

/// Statements from `i` to the end of the current transaction (the COMMIT excluded).
fn remaining_in_tx(stmts: &[Stmt], i: usize) -> usize {
    stmts[i..]
        .iter()
        .take_while(|s| !s.ops.iter().any(|o| matches!(o, Op::Commit)))
        .count()
}

/// The existing table (or index) an operation locks ACCESS EXCLUSIVE on Postgres.
fn access_exclusive_on(
    op: &Op,
    created_tables: &HashSet<String>,
    created_indexes: &HashSet<String>,
) -> Option<String> {
    let table = match op {
        Op::AddColumn(_)
        | Op::DropColumn { .. }
        | Op::RenameColumn { .. }
        | Op::RenameTable { .. }
        | Op::AlterType { .. }
        | Op::SetNotNull { .. }
        | Op::DropPrimaryKey { .. }
        | Op::DropTable { .. }
        | Op::Truncate { .. }
        | Op::VacuumFull { .. }
        | Op::Cluster { .. } => op.table(),
        Op::AddConstraint { kind, .. } if *kind != ConstraintKind::ForeignKey => op.table(),
        Op::DropIndex {
            names,
            concurrently: false,
        } => {
            return names
                .iter()
                .find(|n| !created_indexes.contains(&n.key))
                .map(|n| format!("the table of index {}", n.display));
        }
        _ => None,
    }?;
    (!created_tables.contains(&table.key)).then(|| table.display.clone())
}

/// File line number -> text, from the script's segments (comments included).
fn raw_lines(script: &Script) -> HashMap<usize, String> {
    let mut map = HashMap::new();
    for seg in &script.segments {
        let (Segment::Sql { text, line } | Segment::Verbatim { text, line }) = seg;
        for (i, l) in text.lines().enumerate() {
            map.entry(line + i).or_insert_with(|| l.to_string());
        }
    }
    map
}

/// 1-based columns of the statements' first characters on their first lines, for the
/// statements of one script taken in file order.
///
/// A statement is looked for after the previous statement on the same line, and the characters
/// before it are counted from there: many statements on one line (`END; END; END; ...` after a
/// `BEGIN ATOMIC` body) cost the line's length once in all, not once each, which was quadratic;
/// and a statement whose text repeats on its line gets its own column, not the first copy's.
#[derive(Default)]
struct Columns {
    /// Line of the previous statement, the byte on that line where the next search starts,
    /// and the number of characters before that byte.
    resume: Option<(usize, usize, usize)>,
}

impl Columns {
    fn of(&mut self, lines: &HashMap<usize, String>, line: usize, sql: &str) -> usize {
        let Some(text) = lines.get(&line) else {
            return 1;
        };
        let first = sql.lines().next().unwrap_or("");
        // The first 16 characters of the statement's first line.
        let probe = &first[..first.char_indices().nth(16).map_or(first.len(), |(i, _)| i)];
        let (from, chars) = match self.resume {
            Some((l, from, chars)) if l == line => (from, chars),
            _ => (0, 0),
        };
        if !probe.is_empty() {
            if let Some(off) = text[from..].find(probe) {
                let at = from + off;
                let col = chars + text[from..at].chars().count() + 1;
                // The next statement on this line starts after this one's text.
                let len = if text[at..].starts_with(first) {
                    first.len()
                } else {
                    probe.len()
                };
                let next = at + len;
                let next_chars = col - 1 + text[at..next].chars().count();
                self.resume = Some((line, next, next_chars));
                return col;
            }
        }
        // Not on its line after the previous statement (or nothing to look for): the first
        // occurrence anywhere on the line, else its first non-blank character.
        self.resume = None;
        let byte = if probe.is_empty() {
            None
        } else {
            text.find(probe)
        }
        .or_else(|| text.find(|c: char| !c.is_whitespace()))
        .unwrap_or(0);
        text[..byte].chars().count() + 1
    }
}

/// The statement on one line, whitespace collapsed, at most 120 characters.
fn excerpt(sql: &str) -> String {
    let one: String = crate::redact::redact_sql_passwords(sql)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if one.chars().count() > 120 {
        let cut: String = one.chars().take(117).collect();
        format!("{cut}...")
    } else {
        one
    }
}

/// Highest severity among the findings that can fail the gate (not baseline ones), if any.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings
        .iter()
        .filter(|f| !f.baseline)
        .filter_map(|f| Severity::parse(&f.severity))
        .max()
}

/// Exit code for lint results: 1 when a finding is at or above `fail_on`.
pub fn exit_code(findings: &[Finding], fail_on: Severity) -> u8 {
    if worst(findings).is_some_and(|w| w >= fail_on) {
        crate::error::exit::GATE_FAILED
    } else {
        crate::error::exit::PASS
    }
}

/// Read a single file for `migcheck lint FILE`: the matching script of the chain its folder
/// holds when the folder is a migrations folder, else the whole file as one up script.
pub fn script_for_file(path: &Path) -> crate::error::Result<(Option<String>, Script)> {
    script_for_file_with_direction(path).map(|(id, script, _)| (id, script))
}

/// Like `script_for_file`, also saying whether the file is a down of its chain (downs are
/// linted only on request, as in a folder's lint).
pub fn script_for_file_with_direction(
    path: &Path,
) -> crate::error::Result<(Option<String>, Script, bool)> {
    let canonical = std::fs::canonicalize(path).ok();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let dir = if parent.file_name().is_some() || parent.is_dir() {
            parent.to_path_buf()
        } else {
            Path::new(".").to_path_buf()
        };
        if let Ok(chain) = crate::chain::discover(&dir, &Default::default()) {
            for m in &chain.migrations {
                // The up first: single-file formats (goose, dbmate) hold both in one file.
                let directions =
                    std::iter::once((&m.up, false)).chain(m.down.as_ref().map(|d| (d, true)));
                for (s, is_down) in directions {
                    let same =
                        std::fs::canonicalize(&s.file).ok() == canonical && canonical.is_some();
                    if same {
                        let mut script = s.clone();
                        script.file = path.to_path_buf();
                        return Ok((Some(m.id.clone()), script, is_down));
                    }
                }
            }
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::error::Error::input(path, None, format!("cannot read the file: {e}"))
    })?;
    let no_transaction = text.trim_start().starts_with("-- no-transaction");
    Ok((
        None,
        Script {
            file: path.to_path_buf(),
            segments: vec![Segment::Sql { text, line: 1 }],
            no_transaction,
        },
        false,
    ))
}

#[cfg(test)]
mod tests;
