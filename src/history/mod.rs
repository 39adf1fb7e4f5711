//! Stage: history. The chain on disk judged against its git base (`--since REF`, or the base a
//! CI pull or merge request names): migrations production already ran must not change, none
//! may disappear or be renumbered, a new one must not sort before what the base already has,
//! and an Alembic change must not make two heads once merged. Lint findings on migrations the
//! base already had become baseline: listed, never failing the gate.
//!
//! What "the same migration" means is what the tool records in production: the version
//! (SQL-file formats) or the revision id (Alembic), never the file name, except where the tool
//! validates the name (Flyway's description). Where the tool stores a checksum of the file
//! (sqlx, Flyway), every byte of the up counts; elsewhere whitespace and comments do not.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::alembic::graph::{self, Graph, Revision};
use crate::chain::{self, Chain, DiscoverOptions, Format, Migration, Script, Segment, VersionKey};
use crate::error::Result;
use crate::lint::{LintConfig, Severity};
use crate::report::Finding;

pub mod base;
pub mod git;

pub use base::{Resolved, Wanted};

pub const EDITED: &str = "released-migration-edited";
pub const REFORMATTED: &str = "released-migration-reformatted";
pub const DOWN_EDITED: &str = "released-down-edited";
pub const DELETED: &str = "released-migration-deleted";
pub const RENAMED: &str = "released-migration-renamed";
pub const OUT_OF_ORDER: &str = "migration-out-of-order";
pub const HEADS_AT_MERGE: &str = "alembic-heads-at-merge";

/// The history rules (listed by `migcheck rules`, configured like lint rules).
pub const RULES: &[&str] = &[
    EDITED,
    REFORMATTED,
    DOWN_EDITED,
    DELETED,
    RENAMED,
    OUT_OF_ORDER,
    HEADS_AT_MERGE,
];

pub fn is_history(id: &str) -> bool {
    RULES.contains(&id)
}

/// What the reports say about the base.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    /// The reference as resolved (`origin/main`).
    pub base: String,
    /// `--since` or the CI variable it came from.
    pub source: String,
    /// The commit the reference names.
    pub base_commit: String,
    /// Where the change forked from the base: what edits and deletions are judged against.
    pub merge_base: String,
    pub head: String,
    /// Migrations the base does not have.
    pub new: Vec<String>,
    /// Migrations the base has, changed (beyond whitespace and comments).
    pub modified: Vec<String>,
    /// Lint findings on migrations the base already had (listed, not failing the gate).
    pub baseline_findings: usize,
    /// Why part of the judgement could not be made (the base's chain could not be read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The judgement of a change against its base.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub report: HistoryReport,
    pub findings: Vec<Finding>,
    /// Ids of current migrations unchanged since the base (their lint findings are baseline).
    pub unchanged: HashSet<String>,
}

impl Judgement {
    /// Mark lint findings on unchanged migrations as baseline and add the history findings;
    /// returns how many are baseline.
    pub fn apply(&self, findings: &mut Vec<Finding>) -> usize {
        for f in findings.iter_mut() {
            if f.migration
                .as_ref()
                .is_some_and(|m| self.unchanged.contains(m))
            {
                f.baseline = true;
            }
        }
        findings.extend(self.findings.iter().cloned());
        findings.sort_by(|a, b| {
            (a.file.as_str(), a.line.unwrap_or(0)).cmp(&(b.file.as_str(), b.line.unwrap_or(0)))
        });
        findings.iter().filter(|f| f.baseline).count()
    }
}

/// One migration as the history rules compare it.
#[derive(Debug, Clone)]
struct Entry {
    /// What the tool records in production: the version key, or the Alembic revision id.
    key: Key,
    version: String,
    id: String,
    /// Files relative to the migrations folder (Alembic: to the work tree's top level).
    files: Vec<PathBuf>,
    /// The up's text (where the tool checksums the file: the file's bytes).
    /// The up's file as findings name it: where it is (or was) in the work tree, as the
    /// migrations path was given.
    shown: String,
    up: String,
    up_no_transaction: bool,
    down: Option<String>,
    repeatable: bool,
    /// 1-based line of the revision header (Alembic), for findings.
    line: Option<usize>,
    /// The parsed revision (Alembic), for the graph the merge would make.
    revision: Option<Revision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Version(VersionKey),
    Revision(String),
    Repeatable(String),
}

/// Judge the chain on disk (`chain`, read from `path`) against the resolved base.
pub fn judge(
    resolved: &Resolved,
    path: &Path,
    chain: &Chain,
    graph: Option<&Graph>,
    options: &DiscoverOptions,
    config: &LintConfig,
) -> Result<Judgement> {
    let mut notes = Vec::new();
    let format = chain.format;
    // PostgreSQL folds unquoted words to lower case: `TEXT` is `text`. MySQL's table names
    // can be case-sensitive, so there case counts.
    let style = Style {
        format,
        fold_case: format != Format::Alembic && options.engine() == crate::engine::Engine::Postgres,
    };
    let (current, base, tip) = match graph {
        Some(g) => {
            let current = alembic_current(g, &resolved.repo)?;
            let base = alembic_at(g, resolved, &resolved.merge_base, &mut notes)?;
            let tip = if resolved.commit == resolved.merge_base {
                base.clone()
            } else {
                alembic_at(g, resolved, &resolved.commit, &mut notes)?
            };
            (current, base, tip)
        }
        None => {
            let current = sql_current(chain, path)?;
            let base = sql_at(
                resolved,
                path,
                &resolved.merge_base,
                options,
                format,
                &mut notes,
            )?;
            let tip = if resolved.commit == resolved.merge_base {
                base.clone()
            } else {
                sql_at(
                    resolved,
                    path,
                    &resolved.commit,
                    options,
                    format,
                    &mut notes,
                )?
            };
            (current, base, tip)
        }
    };
    let mut out = Findings {
        config,
        findings: Vec::new(),
    };
    let by_key: HashMap<&Key, &Entry> = current.iter().map(|e| (&e.key, e)).collect();
    let base_keys: HashSet<&Key> = base.iter().map(|e| &e.key).collect();
    let tip_by_key: HashMap<&Key, &Entry> = tip.iter().map(|e| (&e.key, e)).collect();
    let mut unchanged = HashSet::new();
    let mut modified = Vec::new();
    let base_name = &resolved.wanted.reference;

    for old in &base {
        let Some(now) = by_key.get(&old.key) else {
            deleted(old, &current, &base_keys, style, base_name, &mut out);
            continue;
        };
        let file = now.shown.clone();
        if !old.repeatable && rename_matters(format) && old.files != now.files {
            out.push(
                RENAMED,
                Severity::Error,
                &file,
                now.line,
                &now.id,
                format!(
                    "{} was renamed since {base_name} (was {}): Flyway records each migration's \
                     description and `flyway validate` fails on the changed name",
                    now.id,
                    old.files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some("keep the released file name; put the new name in a new migration"),
                None,
            );
        }
        // A repeatable migration (Flyway `R__`) exists to be edited: it re-runs on change.
        if old.repeatable {
            unchanged.insert(now.id.clone());
            continue;
        }
        match compare_up(old, now, style) {
            UpChange::Same => {}
            UpChange::Cosmetic => out.push(
                REFORMATTED,
                Severity::Warning,
                &file,
                now.line,
                &now.id,
                format!(
                    "{} existed at {base_name} and was reformatted since (only whitespace or \
                     comments changed): production ran the old text, which does the same",
                    now.id
                ),
                Some("revert the edit to keep released files as they ran"),
                Some(diff(&old.up, &now.up, base_name, &file)),
            ),
            UpChange::Edited => {
                modified.push(now.id.clone());
                out.push(
                    EDITED,
                    Severity::Error,
                    &file,
                    now.line,
                    &now.id,
                    edited_message(&now.id, base_name, format),
                    Some(
                        "revert the edit and put the change in a new migration; a fresh \
                         database and production must run the same statements",
                    ),
                    Some(diff(&old.up, &now.up, base_name, &file)),
                );
                continue;
            }
        }
        if old.down != now.down {
            let old_down = old.down.as_deref().unwrap_or("");
            let new_down = now.down.as_deref().unwrap_or("");
            if normalize(old_down, style) != normalize(new_down, style) {
                modified.push(now.id.clone());
                out.push(
                    DOWN_EDITED,
                    Severity::Info,
                    &file,
                    now.line,
                    &now.id,
                    format!(
                        "the down of {}, which existed at {base_name}, was edited: production's \
                         schema is unchanged, a rollback runs the new text (verify proves it \
                         reverses the up)",
                        now.id
                    ),
                    None,
                    Some(diff(old_down, new_down, base_name, &file)),
                );
                continue;
            }
        }
        unchanged.insert(now.id.clone());
    }

    // New migrations: not at the fork point and not on the base branch since.
    let newest = tip
        .iter()
        .chain(base.iter())
        .filter(|e| matches!(e.key, Key::Version(_)))
        .max_by(|a, b| a.key.cmp(&b.key));
    let mut new = Vec::new();
    for now in &current {
        if base_keys.contains(&now.key) {
            continue;
        }
        if let Some(at_tip) = tip_by_key.get(&now.key) {
            if normalize(&at_tip.up, style) == normalize(&now.up, style) {
                // The same migration reached the base branch since the fork (a cherry-pick).
                unchanged.insert(now.id.clone());
                continue;
            }
            new.push(now.id.clone());
            out.push(
                OUT_OF_ORDER,
                Severity::Error,
                &now.shown,
                now.line,
                &now.id,
                format!(
                    "version {} of this new migration is already taken at {base_name} by {}: \
                     once merged the chain has the version twice",
                    now.version, &at_tip.shown
                ),
                Some(&match newest {
                    Some(e) => format!(
                        "renumber it after {}: {}",
                        e.version,
                        suggest_version(&e.version, &now.version)
                    ),
                    None => "renumber it".to_string(),
                }),
                None,
            );
            continue;
        }
        new.push(now.id.clone());
        if let (Key::Version(_), Some(newest)) = (&now.key, newest) {
            if now.key < newest.key {
                out.push(
                    OUT_OF_ORDER,
                    Severity::Error,
                    &now.shown,
                    now.line,
                    &now.id,
                    format!(
                        "new migration {} sorts before {} ({}), the newest at {base_name}: \
                         production is already past it and {}",
                        now.version,
                        newest.version,
                        &newest.shown,
                        out_of_order_effect(format)
                    ),
                    Some(&format!(
                        "renumber it after {}: {}",
                        newest.version,
                        suggest_version(&newest.version, &now.version)
                    )),
                    None,
                );
            }
        }
    }
    if let Some(g) = graph {
        heads_at_merge(g, resolved, &current, &tip, &mut out);
    }

    let mut modified_ids: Vec<String> = modified;
    modified_ids.dedup();
    Ok(Judgement {
        report: HistoryReport {
            base: resolved.wanted.reference.clone(),
            source: resolved.wanted.source.to_string(),
            base_commit: resolved.commit.clone(),
            merge_base: resolved.merge_base.clone(),
            head: resolved.head.clone(),
            new,
            modified: modified_ids,
            baseline_findings: 0,
            notes,
        },
        findings: out.findings,
        unchanged,
    })
}

struct Findings<'a> {
    config: &'a LintConfig,
    findings: Vec<Finding>,
}

impl Findings<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        rule_id: &str,
        default: Severity,
        file: &str,
        line: Option<usize>,
        migration: &str,
        message: String,
        help: Option<&str>,
        diff: Option<String>,
    ) {
        let Some(rule) = crate::lint::rules::find(rule_id) else {
            return;
        };
        if !self.config.is_enabled(rule) || suppressed(file, rule_id) {
            return;
        }
        // The rule's own severity unless the finding's consequence differs by format; a
        // configured severity always wins.
        let severity = self
            .config
            .severities
            .get(rule_id)
            .copied()
            .unwrap_or(default);
        self.findings.push(Finding {
            rule: rule_id.to_string(),
            severity: severity.name().to_string(),
            file: file.to_string(),
            line,
            message,
            help: Some(help.unwrap_or(rule.recipe).to_string()),
            migration: Some(migration.to_string()),
            diff,
            ..Default::default()
        });
    }
}

/// `migcheck:ignore-file RULE` in the file (a `--` or `#` comment) suppresses a history rule.
fn suppressed(file: &str, rule: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    text.lines().any(|l| {
        let l = l.trim_start();
        l.strip_prefix("--")
            .or_else(|| l.strip_prefix('#'))
            .and_then(crate::lint::suppress::directive)
            .is_some_and(|(file_wide, rules)| file_wide && rules.iter().any(|r| r == rule))
    })
}

#[allow(clippy::too_many_arguments)]
fn deleted(
    old: &Entry,
    current: &[Entry],
    base_keys: &HashSet<&Key>,
    style: Style,
    base_name: &str,
    out: &mut Findings<'_>,
) {
    if old.repeatable {
        return;
    }
    let moved = current.iter().find(|e| {
        !base_keys.contains(&e.key) && normalize(&e.up, style) == normalize(&old.up, style)
    });
    let old_file = old.shown.clone();
    match moved {
        Some(now) => out.push(
            RENAMED,
            Severity::Error,
            &now.shown,
            now.line,
            &now.id,
            format!(
                "{} is {} renumbered: it existed at {base_name} as {} ({old_file}); production \
                 recorded {} as applied and will run the same statements again as {}",
                now.id,
                if style.format == Format::Alembic {
                    "a released revision"
                } else {
                    "a released migration"
                },
                old.version,
                old.version,
                now.version
            ),
            Some("keep the released version; a change goes into a new migration"),
            None,
        ),
        None => out.push(
            DELETED,
            Severity::Error,
            &old_file,
            None,
            &old.id,
            format!(
                "{} existed at {base_name} and was deleted: {}",
                old.id,
                if style.format == Format::Alembic {
                    "databases that ran it hold its revision in alembic_version, and `alembic \
                     upgrade` fails there with \"Can't locate revision\""
                } else {
                    "databases that ran it keep its schema and its row in the version table, \
                     while a fresh database never gets it"
                }
            ),
            Some("restore the file; undo its effect with a new migration"),
            None,
        ),
    }
}

/// Whether the tool validates file names of applied migrations.
fn rename_matters(format: Format) -> bool {
    format == Format::Flyway
}

/// Whether the tool stores a checksum of each applied up and refuses a changed file.
fn checksummed(format: Format) -> bool {
    matches!(format, Format::Sqlx | Format::SqlxSimple | Format::Flyway)
}

fn edited_message(id: &str, base: &str, format: Format) -> String {
    let consequence = match format {
        Format::Sqlx | Format::SqlxSimple => {
            "sqlx stores a checksum of every applied migration and refuses to run (\"migration \
             was previously applied but has been modified\") on every database that ran it"
        }
        Format::Flyway => {
            "Flyway stores a checksum of every applied migration and `flyway migrate` fails \
             validation (\"checksum mismatch\") on every database that ran it"
        }
        _ => {
            "databases that already ran it will never run the new text, while a fresh database \
              gets only the new one: the two drift apart"
        }
    };
    format!("{id} existed at {base} and was edited since: {consequence}")
}

fn out_of_order_effect(format: Format) -> &'static str {
    match format {
        Format::GolangMigrate => "golang-migrate applies only versions above the current one: it skips this one for good",
        Format::Goose => "goose refuses to run with a missing (older) migration unless `--allow-missing`, then runs it after newer ones",
        Format::Flyway => "`flyway migrate` fails validation with a pending older migration unless `outOfOrder` is on, then runs it after newer ones",
        _ => "it runs after the newer migrations there, against a schema its author never tested it on",
    }
}

/// A concrete version after `newest` in the style of `version`.
fn suggest_version(newest: &str, version: &str) -> String {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(newest) && digits(version) && newest.len() == 14 {
        let now = time::OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        if stamp.as_str() > newest {
            return format!("e.g. {stamp} (now)");
        }
    }
    if digits(newest) && digits(version) && newest.len() < 14 {
        if let Ok(n) = newest.parse::<u128>() {
            let width = version.len().max(newest.len());
            return format!("e.g. {:0width$}", n + 1);
        }
    }
    format!("a version greater than {newest}")
}

enum UpChange {
    Same,
    Cosmetic,
    Edited,
}

fn compare_up(old: &Entry, now: &Entry, style: Style) -> UpChange {
    if old.up == now.up && old.up_no_transaction == now.up_no_transaction {
        return UpChange::Same;
    }
    if checksummed(style.format) {
        return UpChange::Edited;
    }
    if old.up_no_transaction == now.up_no_transaction
        && normalize(&old.up, style) == normalize(&now.up, style)
    {
        UpChange::Cosmetic
    } else {
        UpChange::Edited
    }
}

/// The text without comments and with whitespace that cannot matter made uniform: SQL
/// collapses every run of whitespace; Python keeps indentation (it is syntax) and drops
/// trailing whitespace and blank lines.
#[derive(Debug, Clone, Copy)]
struct Style {
    format: Format,
    /// Unquoted text compares case-insensitively (PostgreSQL).
    fold_case: bool,
}

fn normalize(text: &str, style: Style) -> String {
    if style.format == Format::Alembic {
        return text
            .lines()
            .map(|l| strip_python_comment(l).trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
    }
    // One space between words, none beside punctuation: `t (id int)` is `t(id int)`.
    let mut words = crate::sql::strip_comments(text);
    if style.fold_case {
        words = lower_outside_quotes(&words);
    }
    let mut out = String::with_capacity(words.len());
    let mut pending_space = false;
    for c in words.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        let word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '$' | '\'' | '"' | '`');
        if pending_space && word(c) && out.chars().next_back().is_some_and(word) {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

/// `text` in lower case except inside string literals and quoted identifiers. Dollar-quoted
/// bodies are folded too: `RETURN query` is `RETURN QUERY` in plpgsql, and a real change of a
/// string written with dollar quotes still shows, as `released-migration-reformatted`.
fn lower_outside_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let quoted_len = match c {
            '\'' | '"' => rest[1..].find(c).map_or(rest.len(), |end| end + 2),
            _ => 0,
        };
        if quoted_len > 0 {
            out.push_str(&rest[..quoted_len]);
            rest = &rest[quoted_len..];
        } else {
            out.extend(c.to_lowercase());
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// A Python line without its `#` comment (a `#` inside a string literal stays).
fn strip_python_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '#' => return &line[..i],
            None if c == '\'' || c == '"' => quote = Some(c),
            None => {}
        }
    }
    line
}

fn diff(old: &str, new: &str, base: &str, file: &str) -> String {
    const MAX_LINES: usize = 200;
    let text = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("{base}:{file}"), file)
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= MAX_LINES {
        return text;
    }
    let mut out = lines[..MAX_LINES].join("\n");
    out.push_str(&format!("\n... {} more lines\n", lines.len() - MAX_LINES));
    out
}

fn script_text(script: &Script) -> String {
    script
        .segments
        .iter()
        .map(|s| match s {
            Segment::Sql { text, .. } | Segment::Verbatim { text, .. } => text.as_str(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn relative_to(file: &Path, root: &Path) -> PathBuf {
    file.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| file.file_name().map(PathBuf::from).unwrap_or_default())
}

fn sql_entry(
    m: &Migration,
    root: &Path,
    shown_root: &Path,
    format: Format,
    raw: impl Fn(&Path) -> Option<Vec<u8>>,
) -> Entry {
    let key = if m.repeatable {
        Key::Repeatable(m.name.clone())
    } else {
        Key::Version(m.version.key.clone())
    };
    // Where the tool checksums the file, the file's bytes are what counts (Flyway ignores
    // line endings and a byte-order mark).
    let up = if checksummed(format) {
        match raw(&m.up.file) {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if format == Format::Flyway {
                    text.trim_start_matches('\u{feff}').replace("\r\n", "\n")
                } else {
                    text
                }
            }
            None => script_text(&m.up),
        }
    } else {
        script_text(&m.up)
    };
    let mut files: Vec<PathBuf> = m.files.iter().map(|f| relative_to(f, root)).collect();
    files.sort();
    Entry {
        key,
        version: m.version.text.clone(),
        id: m.id.clone(),
        files,
        shown: shown_root
            .join(relative_to(&m.up.file, root))
            .display()
            .to_string(),
        up,
        up_no_transaction: m.up.no_transaction,
        down: m.down.as_ref().map(script_text),
        repeatable: m.repeatable,
        line: None,
        revision: None,
    }
}

fn sql_current(chain: &Chain, path: &Path) -> Result<Vec<Entry>> {
    let root = if chain.root.as_os_str().is_empty() {
        path
    } else {
        chain.root.as_path()
    };
    Ok(chain
        .migrations
        .iter()
        .map(|m| sql_entry(m, root, path, chain.format, |f| std::fs::read(f).ok()))
        .collect())
}

/// The chain at `commit`, read by the same discovery from a copy of the folder.
fn sql_at(
    resolved: &Resolved,
    shown_root: &Path,
    commit: &str,
    options: &DiscoverOptions,
    format: Format,
    notes: &mut Vec<String>,
) -> Result<Vec<Entry>> {
    let files = resolved.repo.files_at(commit, &resolved.folder)?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let dir = tempfile::Builder::new()
        .prefix("migcheck-history-")
        .tempdir()
        .map_err(|e| {
            crate::error::Error::environment(format!("cannot create a temp dir: {e}"), None)
        })?;
    let _record = crate::provision::cleanup::record_dir(dir.path());
    let mut by_path: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    for (path, bytes) in files {
        let rel = relative_to(&path, &resolved.folder);
        let target = dir.path().join(&rel);
        if let Some(parent) = target.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&target, &bytes).map_err(|source| crate::error::Error::Io {
            path: target.clone(),
            source,
        })?;
        by_path.insert(target, bytes);
    }
    let options = DiscoverOptions {
        format: Some(format),
        ..options.clone()
    };
    let short = &commit[..commit.len().min(12)];
    match chain::discover(dir.path(), &options) {
        Ok(chain) => Ok(chain
            .migrations
            .iter()
            .map(|m| {
                sql_entry(m, dir.path(), shown_root, format, |f| {
                    by_path.get(f).cloned()
                })
            })
            .collect()),
        Err(e) => {
            notes.push(format!(
                "the chain at {short} could not be read ({e}): every migration is judged as new"
            ));
            Ok(Vec::new())
        }
    }
}

/// Split a revision file into its up part (everything but `downgrade`) and its `downgrade`.
fn alembic_parts(text: &str) -> (String, String) {
    let mut up = Vec::new();
    let mut down = Vec::new();
    let mut in_down = false;
    for line in text.lines() {
        let top_level = !line.starts_with([' ', '\t']) && !line.trim().is_empty();
        if top_level && !line.trim_start().starts_with('#') {
            in_down = line.starts_with("def downgrade");
        }
        if in_down {
            down.push(line);
        } else {
            up.push(line);
        }
    }
    (up.join("\n"), down.join("\n"))
}

fn alembic_entry(rev: &Revision, rel: PathBuf, shown: String, text: &str) -> Entry {
    let (up, down) = alembic_parts(text);
    Entry {
        key: Key::Revision(rev.id.clone()),
        version: rev.id.clone(),
        id: rev.id.clone(),
        files: vec![rel.clone()],
        shown,
        up,
        up_no_transaction: false,
        down: Some(down),
        repeatable: false,
        line: Some(rev.line),
        revision: Some(rev.clone()),
    }
}

fn alembic_current(g: &Graph, repo: &git::Repo) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for rev in &g.revisions {
        let text = std::fs::read_to_string(&rev.file).unwrap_or_default();
        let rel = repo.relative(&rev.file)?;
        out.push(alembic_entry(
            rev,
            rel,
            rev.file.display().to_string(),
            &text,
        ));
    }
    Ok(out)
}

/// The revisions at `commit`, read from the same version locations.
fn alembic_revisions_at(
    g: &Graph,
    resolved: &Resolved,
    commit: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<(Revision, PathBuf, String)>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for location in &g.project.version_locations {
        let Ok(rel) = resolved.repo.relative(location) else {
            continue;
        };
        for (path, bytes) in resolved.repo.files_at(commit, &rel)? {
            let Ok(inner) = path.strip_prefix(&rel) else {
                continue;
            };
            let name = inner.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let nested = inner.components().count() > 1;
            if !name.ends_with(".py")
                || name.starts_with("__init__")
                || name.starts_with(".#")
                || inner.components().any(|c| c.as_os_str() == "__pycache__")
                || (nested && !g.project.recursive)
                || !seen.insert(path.clone())
            {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            // Where the file is (or was) in the work tree, named as the project's paths are.
            let shown = location.join(inner);
            match graph::revision_from(&shown, &text) {
                Ok(rev) => out.push((rev, path, text)),
                Err(e) => notes.push(format!(
                    "a revision at {} could not be read ({e}); it is left out of the comparison",
                    &commit[..commit.len().min(12)]
                )),
            }
        }
    }
    Ok(out)
}

fn alembic_at(
    g: &Graph,
    resolved: &Resolved,
    commit: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Entry>> {
    Ok(alembic_revisions_at(g, resolved, commit, notes)?
        .into_iter()
        .map(|(rev, rel, text)| {
            let shown = rev.file.display().to_string();
            alembic_entry(&rev, rel, shown, &text)
        })
        .collect())
}

/// Two heads once the change meets the base branch: each alone had one.
fn heads_at_merge(
    g: &Graph,
    resolved: &Resolved,
    current: &[Entry],
    tip: &[Entry],
    out: &mut Findings<'_>,
) {
    let current_ids: HashSet<&str> = current.iter().map(|e| e.id.as_str()).collect();
    if tip.iter().all(|e| current_ids.contains(e.id.as_str())) {
        return;
    }
    let mut merged: Vec<Revision> = g.revisions.clone();
    merged.extend(
        tip.iter()
            .filter(|e| !current_ids.contains(e.id.as_str()))
            .filter_map(|e| e.revision.clone()),
    );
    let before = g.heads().len();
    let union = Graph::build(g.project.clone(), merged);
    let heads = union.heads();
    if heads.len() <= before {
        return;
    }
    let ours: Vec<&Revision> = heads
        .iter()
        .copied()
        .filter(|h| g.revision(&h.id).is_some())
        .collect();
    let theirs: Vec<&Revision> = heads
        .iter()
        .copied()
        .filter(|h| g.revision(&h.id).is_none())
        .collect();
    let ids: Vec<&str> = heads.iter().map(|h| h.id.as_str()).collect();
    let base = &resolved.wanted.reference;
    for head in ours {
        out.push(
            HEADS_AT_MERGE,
            Severity::Error,
            &head.file.display().to_string(),
            Some(head.line),
            &head.id,
            format!(
                "once merged with {base} the project has {} heads ({}): {} reached {base} since \
                 this change forked, and `alembic upgrade head` fails with \"Multiple head \
                 revisions are present\"",
                heads.len(),
                ids.join(", "),
                theirs
                    .iter()
                    .map(|t| t.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(&format!(
                "merge them after merging {base}: `alembic merge -m \"merge heads\" {}`, or point \
                 this revision's down_revision at {}",
                ids.join(" "),
                theirs.first().map_or("the base's head", |t| t.id.as_str())
            )),
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(format: Format) -> Style {
        Style {
            format,
            fold_case: format != Format::Alembic,
        }
    }

    #[test]
    fn postgres_case_folding_keeps_quoted_text() {
        assert_eq!(
            normalize(
                "ADD COLUMN ap_id TEXT DEFAULT 'A' || $x$B$x$",
                pg(Format::Diesel)
            ),
            normalize(
                "add column ap_id text default 'A' || $x$B$x$",
                pg(Format::Diesel)
            )
        );
        assert_ne!(
            normalize("SELECT 'A'", pg(Format::Diesel)),
            normalize("SELECT 'a'", pg(Format::Diesel))
        );
        assert_ne!(
            normalize("CREATE TABLE \"T\" ()", pg(Format::Diesel)),
            normalize("CREATE TABLE \"t\" ()", pg(Format::Diesel))
        );
        let mysql = Style {
            format: Format::Flyway,
            fold_case: false,
        };
        assert_ne!(
            normalize("CREATE TABLE T (a int)", mysql),
            normalize("CREATE TABLE t (a int)", mysql)
        );
        assert_eq!(
            lower_outside_quotes("$1 AND $$X$$ 'Q''R' Z"),
            "$1 and $$x$$ 'Q''R' z"
        );
    }

    #[test]
    fn cosmetic_sql_changes_normalize_away() {
        let a = "CREATE TABLE t (id int); -- first\n";
        let b = "-- a header\nCREATE TABLE  t (\n  id int\n);\n";
        assert_eq!(
            normalize(a, pg(Format::Diesel)),
            normalize(b, pg(Format::Diesel))
        );
        let spaced = "CREATE TABLE t (\n    id int\n) ;";
        assert_eq!(
            normalize(a, pg(Format::Diesel)),
            normalize(spaced, pg(Format::Diesel))
        );
        let c = "CREATE TABLE t (id bigint);";
        assert_ne!(
            normalize(a, pg(Format::Diesel)),
            normalize(c, pg(Format::Diesel))
        );
        // A comment marker inside a string is text.
        assert_ne!(
            normalize("SELECT '--x'", pg(Format::Goose)),
            normalize("SELECT '--y'", pg(Format::Goose))
        );
    }

    #[test]
    fn python_keeps_indentation_and_strings() {
        let a = "def upgrade():\n    op.drop_table('t')  # bye\n";
        let b = "def upgrade():\n\n    op.drop_table('t')\n";
        assert_eq!(
            normalize(a, pg(Format::Alembic)),
            normalize(b, pg(Format::Alembic))
        );
        let c = "def upgrade():\nop.drop_table('t')\n";
        assert_ne!(
            normalize(a, pg(Format::Alembic)),
            normalize(c, pg(Format::Alembic))
        );
        assert_eq!(strip_python_comment("x = '#not' # yes"), "x = '#not' ");
    }

    #[test]
    fn alembic_files_split_into_up_and_downgrade() {
        let text = "revision = 'a'\n\ndef upgrade():\n    op.x()\n\n\ndef downgrade():\n    op.y()\n\n# trailing\n";
        let (up, down) = alembic_parts(text);
        assert!(up.contains("op.x()") && !up.contains("op.y()"));
        assert!(down.contains("op.y()") && !down.contains("op.x()"));
    }

    #[test]
    fn suggested_versions_follow_the_style() {
        assert_eq!(suggest_version("0042", "0007"), "e.g. 0043");
        assert_eq!(suggest_version("7", "3"), "e.g. 8");
        assert!(suggest_version("20240101120000", "20230101120000").starts_with("e.g. 20"));
        assert_eq!(
            suggest_version("2024-01-01-120000", "2023-01-01-000000"),
            "a version greater than 2024-01-01-120000"
        );
    }
}
