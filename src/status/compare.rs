//! Compare a version table's rows with the chain: what is applied, pending (in the order the
//! tool will run it), unknown, failed or edited since it was applied.

use std::collections::{BTreeSet, HashMap};

use crate::chain::{Chain, Format, Migration, VersionKey};

use super::bookkeeping::Row;
use super::checksum;
use super::model::{MigrationState, Problem, State, Unknown};

/// The result of a comparison, before it becomes a report.
#[derive(Debug, Default)]
pub struct Outcome {
    pub migrations: Vec<MigrationState>,
    pub unknown: Vec<Unknown>,
    pub problems: Vec<Problem>,
}

/// A stored version in the form `key_of` gives a chain migration.
fn stored_key(format: Format, stored: &str) -> String {
    let stored = stored.trim();
    match format {
        Format::GolangMigrate | Format::Sqlx | Format::SqlxSimple | Format::Goose => stored
            .parse::<i128>()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| stored.to_string()),
        Format::Flyway => {
            let mut parts: Vec<String> = Vec::new();
            for p in stored.split(['.', '_']) {
                match p.parse::<u128>() {
                    Ok(n) => parts.push(n.to_string()),
                    Err(_) => return stored.to_string(),
                }
            }
            while parts.len() > 1 && parts.last().map(String::as_str) == Some("0") {
                parts.pop();
            }
            parts.join(".")
        }
        Format::Diesel => stored.replace('-', ""),
        Format::Dbmate | Format::Popx | Format::Alembic => stored.to_string(),
    }
}

/// The key a chain migration's version is stored under.
fn key_of(format: Format, m: &Migration) -> String {
    match (&m.version.key, format) {
        (_, Format::Dbmate | Format::Alembic) => m.version.text.clone(),
        (VersionKey::Numbers(parts), _) => parts
            .iter()
            .map(u128::to_string)
            .collect::<Vec<_>>()
            .join("."),
        (VersionKey::Text(t), _) => t.clone(),
    }
}

fn state(m: &Migration, state: State) -> MigrationState {
    MigrationState {
        version: m.version.text.clone(),
        id: m.id.clone(),
        file: m.up.file.clone(),
        state,
        detail: None,
    }
}

/// Compare `rows` (a table that exists) with `chain`, for every format but Alembic.
pub fn compare(chain: &Chain, rows: &[Row], table: &str) -> Outcome {
    let format = chain.format;
    if format == Format::GolangMigrate {
        return golang_migrate(chain, rows, table);
    }
    // Per version: the row that decides (the last one in the tool's order), and every
    // repeatable script's latest successful checksum (Flyway).
    let mut decided: HashMap<String, Row> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut baseline: Option<Vec<u128>> = None;
    let mut repeatable: HashMap<String, Option<String>> = HashMap::new();
    for row in rows {
        let kind = row.kind.as_deref().unwrap_or("");
        match &row.version {
            None => {
                // Flyway repeatable migrations: keyed by script; the latest successful
                // checksum is what a re-run compares against.
                if let Some(script) = &row.script {
                    if row.ok {
                        repeatable.insert(script.clone(), row.checksum.clone());
                    }
                }
            }
            Some(v) => {
                let key = stored_key(format, v);
                if format == Format::Goose && key == "0" {
                    continue;
                }
                if format == Format::Flyway {
                    match kind {
                        "BASELINE" => {
                            baseline = Some(flyway_parts(&key));
                            continue;
                        }
                        "SCHEMA" => continue,
                        "UNDO_SQL" | "UNDO_SPRING_JDBC" | "UNDO_JDBC" | "DELETE" => {
                            if row.ok {
                                decided.remove(&key);
                            }
                            continue;
                        }
                        _ => {}
                    }
                }
                if !decided.contains_key(&key) {
                    order.push(key.clone());
                }
                decided.insert(key, row.clone());
            }
        }
    }
    let mut out = Outcome::default();
    let mut seen = BTreeSet::new();
    for m in &chain.migrations {
        if m.repeatable {
            let script =
                m.up.file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
            let current = std::fs::read(&m.up.file)
                .ok()
                .map(|b| checksum::flyway(&b).to_string());
            let st = match repeatable.get(&script) {
                Some(applied) if *applied == current => State::Applied,
                _ => State::Pending,
            };
            out.migrations.push(state(m, st));
            continue;
        }
        let key = key_of(format, m);
        seen.insert(key.clone());
        let Some(row) = decided.get(&key) else {
            let below = baseline.as_ref().is_some_and(|b| flyway_parts(&key) <= *b);
            out.migrations.push(state(
                m,
                if below {
                    State::BelowBaseline
                } else {
                    State::Pending
                },
            ));
            continue;
        };
        if format == Format::Goose && !row.ok {
            // goose's latest row says the version was rolled back: it will run again.
            out.migrations.push(state(m, State::Pending));
            continue;
        }
        if !row.ok {
            let (st, recovery) = match format {
                Format::Flyway => (
                    State::Failed,
                    "fix the database by hand (Flyway could not roll back: MySQL/MariaDB DDL commits, \
                     or a script outside a transaction), then run `flyway repair` to remove the failed \
                     row, then migrate again"
                        .to_string(),
                ),
                _ => (
                    State::Failed,
                    format!(
                        "sqlx refuses to run while a migration is partially applied; fix the database \
                         by hand, then delete the row: DELETE FROM {table} WHERE version = {}",
                        row.version.as_deref().unwrap_or_default().trim()
                    ),
                ),
            };
            out.problems.push(Problem {
                kind: "failed",
                version: Some(m.version.text.clone()),
                message: format!(
                    "{} failed when it was applied ({table} says success = false)",
                    m.id
                ),
                recovery: Some(recovery),
            });
            out.migrations.push(state(m, st));
            continue;
        }
        if let Some(stored) = &row.checksum {
            if let Some(edit) = edited(format, m, stored) {
                let recovery = match format {
                    Format::Flyway => "restore the file as it was applied (from version control); if the \
                        change is intended and harmless, `flyway repair` records the new checksum"
                        .to_string(),
                    _ => format!(
                        "restore the file as it was applied (from version control); sqlx refuses to run \
                         with a changed applied migration (`migration {} was previously applied but has \
                         been modified`)",
                        m.version.text
                    ),
                };
                out.problems.push(Problem {
                    kind: "edited",
                    version: Some(m.version.text.clone()),
                    message: format!("{} changed after it was applied: {edit}", m.id),
                    recovery: Some(recovery),
                });
                let mut s = state(m, State::Edited);
                s.detail = Some(edit);
                out.migrations.push(s);
                continue;
            }
        }
        out.migrations.push(state(m, State::Applied));
    }
    for key in order {
        if seen.contains(&key) {
            continue;
        }
        let row = &decided[&key];
        if format == Format::Goose && !row.ok {
            continue;
        }
        out.unknown.push(Unknown {
            version: row.version.clone().unwrap_or_default(),
            description: row.description.clone(),
        });
    }
    add_unknown_problems(&mut out, table);
    out
}

fn flyway_parts(key: &str) -> Vec<u128> {
    key.split('.').filter_map(|p| p.parse().ok()).collect()
}

/// The checksum of `m`'s file differs from the stored one: how, in words.
fn edited(format: Format, m: &Migration, stored: &str) -> Option<String> {
    let bytes = std::fs::read(&m.up.file).ok()?;
    let current = match format {
        Format::Sqlx | Format::SqlxSimple => checksum::sqlx(&bytes),
        Format::Flyway => checksum::flyway(&bytes).to_string(),
        _ => return None,
    };
    let stored = stored.trim();
    (current != stored).then(|| {
        let short = |s: &str| s.chars().take(16).collect::<String>();
        format!(
            "checksum in the database {}, of the file now {}",
            short(stored),
            short(&current)
        )
    })
}

/// golang-migrate keeps one row: the version the database is at, and whether the migration to
/// it failed partway (`dirty`). Every chain version up to it counts as applied.
fn golang_migrate(chain: &Chain, rows: &[Row], table: &str) -> Outcome {
    let mut out = Outcome::default();
    let current = rows.first().and_then(|r| {
        let v = r.version.as_deref()?.trim().parse::<i128>().ok()?;
        Some((v, r.ok))
    });
    let number = |m: &Migration| match &m.version.key {
        VersionKey::Numbers(p) => p.first().map(|&n| n as i128).unwrap_or(0),
        VersionKey::Text(_) => 0,
    };
    let Some((current, clean)) = current.filter(|(v, _)| *v >= 0) else {
        for m in &chain.migrations {
            out.migrations.push(state(m, State::Pending));
        }
        return out;
    };
    let mut found = false;
    let mut previous: Option<&Migration> = None;
    for m in &chain.migrations {
        let n = number(m);
        if n == current {
            found = true;
            if clean {
                out.migrations.push(state(m, State::Applied));
            } else {
                let force = previous
                    .map(|p| p.version.text.trim_start_matches('0').max("0").to_string())
                    .unwrap_or_else(|| "-1".to_string());
                out.problems.push(Problem {
                    kind: "dirty",
                    version: Some(m.version.text.clone()),
                    message: format!(
                        "{} failed partway: {table} holds version {current} with dirty = true, and \
                         golang-migrate refuses to run until it is cleared",
                        m.id
                    ),
                    recovery: Some(format!(
                        "look at what {} changed and finish or undo it by hand; then `migrate force {current}` \
                         if its changes are now complete, or `migrate force {force}` if they are undone, \
                         and run `migrate up` again",
                        m.id
                    )),
                });
                out.migrations.push(state(m, State::Dirty));
            }
        } else if n < current {
            out.migrations.push(state(m, State::Applied));
        } else {
            out.migrations.push(state(m, State::Pending));
        }
        previous = Some(m);
    }
    if !found {
        out.unknown.push(Unknown {
            version: current.to_string(),
            description: None,
        });
        if !clean {
            out.problems.push(Problem {
                kind: "dirty",
                version: Some(current.to_string()),
                message: format!("{table} holds version {current} with dirty = true"),
                recovery: Some(
                    "fix the schema by hand, then `migrate force V` with the version it is really at"
                        .to_string(),
                ),
            });
        }
    }
    add_unknown_problems(&mut out, table);
    out
}

fn add_unknown_problems(out: &mut Outcome, table: &str) {
    for u in &out.unknown {
        out.problems.push(Problem {
            kind: "unknown",
            version: Some(u.version.clone()),
            message: format!(
                "version {} is applied ({table}) but is not in this chain{}",
                u.version,
                u.description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            recovery: Some(
                "it was deployed from another branch, or its file was removed or renamed: restore the \
                 file, or undo it with the build that applied it"
                    .to_string(),
            ),
        });
    }
}
