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
        // dbmate, popx, Alembic: stored as written.
        _ => stored.to_string(),
    }
}

/// The key a chain migration's version is stored under.
fn key_of(format: Format, m: &Migration) -> String {
    match (&m.version.key, format) {
        (_, Format::Dbmate) => m.version.text.clone(),
        (_, f) if f.has_own_project() => m.version.text.clone(),
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
    compare_with(chain, rows, table, &BTreeSet::new())
}

/// `compare`, with the characters sqlx.toml's `[migrate] ignored-chars` leaves out of sqlx
/// checksums.
pub fn compare_with(
    chain: &Chain,
    rows: &[Row],
    table: &str,
    sqlx_ignored: &BTreeSet<char>,
) -> Outcome {
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
            if let Some(edit) = edited(format, m, stored, sqlx_ignored) {
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
    out_of_order(format, &chain.migrations, &mut out);
    for key in order {
        if seen.contains(&key) {
            continue;
        }
        // A version undone (Flyway undo / DELETE rows) is no longer applied.
        let Some(row) = decided.get(&key) else {
            continue;
        };
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

/// Flyway (without `outOfOrder`) and goose (without `-allow-missing`) refuse to migrate when a
/// pending versioned migration sorts before the newest applied one (merged from a branch after
/// a later one was deployed): a problem, not just a pending migration.
fn out_of_order(format: Format, migrations: &[Migration], out: &mut Outcome) {
    if !matches!(format, Format::Flyway | Format::Goose) {
        return;
    }
    let newest_applied = out
        .migrations
        .iter()
        .zip(migrations)
        .filter(|(s, m)| !m.repeatable && s.state != State::Pending)
        .map(|(_, m)| &m.version)
        .max()
        .cloned();
    let Some(newest) = newest_applied else {
        return;
    };
    for (s, m) in out.migrations.iter().zip(migrations) {
        if s.state == State::Pending && !m.repeatable && m.version < newest {
            let (tool, flag) = match format {
                Format::Flyway => ("Flyway", "`-outOfOrder=true`"),
                _ => ("goose", "`-allow-missing`"),
            };
            out.problems.push(Problem {
                kind: "out-of-order",
                version: Some(m.version.text.clone()),
                message: format!(
                    "{} is pending but sorts before {newest}, which is applied: {tool} refuses to migrate",
                    m.id
                ),
                recovery: Some(format!(
                    "renumber the migration after {newest}, or run {tool} with {flag} if applying it late is intended"
                )),
            });
        }
    }
}

fn flyway_parts(key: &str) -> Vec<u128> {
    key.split('.').filter_map(|p| p.parse().ok()).collect()
}

/// The checksum of `m`'s file differs from the stored one: how, in words.
fn edited(
    format: Format,
    m: &Migration,
    stored: &str,
    sqlx_ignored: &BTreeSet<char>,
) -> Option<String> {
    let bytes = std::fs::read(&m.up.file).ok()?;
    let current = match format {
        Format::Sqlx | Format::SqlxSimple if !sqlx_ignored.is_empty() => {
            // sqlx hashes the text with those characters removed.
            let text = String::from_utf8_lossy(&bytes);
            let kept: String = text.chars().filter(|c| !sqlx_ignored.contains(c)).collect();
            checksum::sqlx(kept.as_bytes())
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Script, Version};

    fn chain(format: Format, versions: &[Version]) -> Chain {
        let migrations = versions
            .iter()
            .map(|v| Migration {
                version: v.clone(),
                name: format!("m{}", v.text),
                id: format!("{}_m", v.text),
                up: Script {
                    file: format!("/nonexistent/{}.sql", v.text).into(),
                    segments: Vec::new(),
                    no_transaction: false,
                },
                down: None,
                files: Vec::new(),
                repeatable: false,
            })
            .collect();
        Chain {
            root: "/nonexistent".into(),
            format,
            migrations,
            problems: Vec::new(),
            format_reason: String::new(),
        }
    }

    fn num(n: u128) -> Version {
        Version::number(n, &n.to_string())
    }

    fn flyway(parts: &[u128], text: &str) -> Version {
        Version {
            key: VersionKey::Numbers(parts.to_vec()),
            text: text.to_string(),
        }
    }

    fn row(version: &str, ok: bool, kind: Option<&str>) -> Row {
        Row {
            version: Some(version.to_string()),
            ok,
            kind: kind.map(str::to_string),
            ..Row::default()
        }
    }

    fn states(o: &Outcome) -> Vec<State> {
        o.migrations.iter().map(|m| m.state).collect()
    }

    fn kinds(o: &Outcome) -> Vec<&str> {
        o.problems.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn goose_latest_row_decides_and_the_seed_row_is_not_a_version() {
        let c = chain(Format::Goose, &[num(1), num(2), num(3)]);
        let rows = [
            row("0", true, None),
            row("1", true, None),
            row("2", true, None),
            row("2", false, None),
        ];
        let o = compare(&c, &rows, "goose_db_version");
        assert_eq!(states(&o), [State::Applied, State::Pending, State::Pending]);
        assert!(o.unknown.is_empty());
        assert!(o.problems.is_empty());
    }

    #[test]
    fn flyway_baseline_undo_and_normalised_versions() {
        let c = chain(
            Format::Flyway,
            &[
                flyway(&[1], "1"),
                flyway(&[2], "2"),
                flyway(&[3, 1], "3.1"),
                flyway(&[4], "4"),
            ],
        );
        let rows = [
            row("2", true, Some("BASELINE")),
            row("3_1", true, Some("SQL")),
            row("4.0", true, Some("SQL")),
            row("4", true, Some("UNDO_SQL")),
            row("9", true, Some("SQL")),
            row("9", true, Some("DELETE")),
        ];
        let o = compare(&c, &rows, "flyway_schema_history");
        assert_eq!(
            states(&o),
            [
                State::BelowBaseline,
                State::BelowBaseline,
                State::Applied,
                State::Pending
            ]
        );
        assert!(o.problems.is_empty(), "{:?}", o.problems);
    }

    #[test]
    fn flyway_and_goose_refuse_a_pending_version_below_an_applied_one() {
        let c = chain(
            Format::Flyway,
            &[flyway(&[1], "1"), flyway(&[2], "2"), flyway(&[3], "3")],
        );
        let rows = [row("1", true, Some("SQL")), row("3", true, Some("SQL"))];
        let o = compare(&c, &rows, "flyway_schema_history");
        assert_eq!(states(&o), [State::Applied, State::Pending, State::Applied]);
        assert_eq!(kinds(&o), ["out-of-order"]);
        assert!(o.problems[0]
            .recovery
            .as_deref()
            .unwrap()
            .contains("-outOfOrder=true"));
        // dbmate applies such a migration: only pending.
        let c = chain(Format::Dbmate, &[num(1), num(2), num(3)]);
        let o = compare(
            &c,
            &[row("1", true, None), row("3", true, None)],
            "schema_migrations",
        );
        assert!(o.problems.is_empty());
    }

    #[test]
    fn golang_migrate_single_row() {
        let c = chain(Format::GolangMigrate, &[num(1), num(2), num(3)]);
        let o = compare(&c, &[], "schema_migrations");
        assert_eq!(states(&o), [State::Pending; 3]);
        let o = compare(&c, &[row("2", true, None)], "schema_migrations");
        assert_eq!(states(&o), [State::Applied, State::Applied, State::Pending]);
        let o = compare(&c, &[row("1", false, None)], "schema_migrations");
        assert_eq!(states(&o), [State::Dirty, State::Pending, State::Pending]);
        assert!(o.problems[0]
            .recovery
            .as_deref()
            .unwrap()
            .contains("migrate force -1"));
        let o = compare(&c, &[row("5", false, None)], "schema_migrations");
        assert_eq!(kinds(&o), ["dirty", "unknown"]);
    }

    #[test]
    fn sqlx_failed_row_names_the_delete() {
        let c = chain(Format::Sqlx, &[num(1), num(2)]);
        let o = compare(
            &c,
            &[row("1", true, None), row("2", false, None)],
            "_sqlx_migrations",
        );
        assert_eq!(states(&o), [State::Applied, State::Failed]);
        assert!(o.problems[0]
            .recovery
            .as_deref()
            .unwrap()
            .contains("DELETE FROM _sqlx_migrations WHERE version = 2"));
    }
}
