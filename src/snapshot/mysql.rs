//! MySQL / MariaDB snapshot of the current database (`DATABASE()`), read from
//! `information_schema` with one query per object kind.
//!
//! Paths leave out the database name (it is random for throwaway databases); where the server
//! writes it into a definition (view bodies) it is stripped. Every selected value is text
//! (numbers are `CAST` to `CHAR`), so rows decode the same over either server flavour.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AssertSqlSafe, Row};

use super::{Snapshot, BOOKKEEPING_TABLES};
use crate::error::{Error, Result};

type Props = BTreeMap<String, String>;
type TextRow = Vec<Option<String>>;
type Rows = Vec<TextRow>;
/// (table, name) -> (the first row seen, the ordered parts)
type Grouped<'a, P> = BTreeMap<(String, String), (&'a TextRow, Vec<P>)>;

/// Which server we are talking to; queries differ by flavour and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flavour {
    mariadb: bool,
    /// major * 10000 + minor * 100 + patch
    version: u32,
}

impl Flavour {
    fn parse(version: &str) -> Flavour {
        let mariadb = version.to_ascii_lowercase().contains("mariadb");
        // MariaDB 10.x may report a `5.5.5-` prefix for old clients.
        let text = version.strip_prefix("5.5.5-").unwrap_or(version);
        let mut parts = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(0);
        let minor = parts.next().unwrap_or(0);
        let patch = parts.next().unwrap_or(0);
        Flavour {
            mariadb,
            version: major * 10000 + minor.min(99) * 100 + patch.min(99),
        }
    }
}

fn failed(what: &str, e: sqlx::Error) -> Error {
    Error::environment(format!("reading the schema ({what}) failed: {e}"), None)
}

/// `AND column IN (?, ...)` for a read restricted to `names`; nothing for a full read.
fn only(column: &str, names: Option<&[String]>) -> String {
    match names {
        None => String::new(),
        Some(names) => format!(" AND {column} IN ({})", vec!["?"; names.len()].join(", ")),
    }
}

/// Run `sql` with the database name bound to its first `?` and `names` (see `only`) to the
/// rest; every column as optional text. A read restricted to no names reads nothing.
async fn fetch(
    conn: &mut sqlx::MySqlConnection,
    what: &str,
    sql: String,
    db: &str,
    names: Option<&[String]>,
) -> Result<Rows> {
    if names.is_some_and(|n| n.is_empty()) {
        return Ok(Rows::new());
    }
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(db);
    for name in names.unwrap_or_default() {
        query = query.bind(name);
    }
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| failed(what, e))?;
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.try_get_unchecked::<Option<String>, _>(i)
                        .map_err(|e| failed(what, e))
                })
                .collect()
        })
        .collect()
}

fn is_bookkeeping(table: &str) -> bool {
    BOOKKEEPING_TABLES
        .iter()
        .any(|b| b.eq_ignore_ascii_case(table))
}

/// The value of column `i`, `""` when NULL.
fn col(row: &[Option<String>], i: usize) -> &str {
    opt(row, i).unwrap_or("")
}

/// The value of column `i`, if present.
/// ON UPDATE and ON DELETE of a foreign key.
type FkActions<'a> = (Option<&'a str>, Option<&'a str>);

fn opt(row: &[Option<String>], i: usize) -> Option<&str> {
    row.get(i).and_then(|v| v.as_deref())
}

/// Set `key` when the value is present and non-empty.
fn put(props: &mut Props, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        props.insert(key.to_string(), v.to_string());
    }
}

/// `CREATE_OPTIONS` without the AUTO_INCREMENT counter (should a server ever put it there),
/// tokens sorted.
fn create_options(raw: &str) -> String {
    let mut tokens: Vec<&str> = raw
        .split_whitespace()
        .filter(|t| !t.to_ascii_lowercase().starts_with("auto_increment"))
        .collect();
    tokens.sort_unstable();
    tokens.join(" ")
}

/// Remove `` `db`. `` qualifiers that the server writes into view definitions.
fn strip_db(text: &str, db: &str) -> String {
    let qualifier = format!("`{}`.", db.replace('`', "``"));
    text.replace(&qualifier, "")
}

pub(super) async fn take(conn: &mut sqlx::MySqlConnection) -> Result<Snapshot> {
    Ok(read(conn, None).await?.0)
}

/// What a restricted read reads: the tables, sequences and views of `names`; views and
/// triggers only when asked (a step can make them appear only in ways that ask).
pub(super) struct Wanted {
    pub names: BTreeSet<String>,
    pub views: bool,
    pub triggers: bool,
}

/// Read the schema; with `wanted`, only the tables, sequences and views of those names (as the
/// server matches names) with what belongs to them, and no routines. Also returns the names of
/// the tables, sequences and views read.
pub(super) async fn read(
    conn: &mut sqlx::MySqlConnection,
    restrict: Option<&Wanted>,
) -> Result<(Snapshot, BTreeSet<String>)> {
    let wanted: Option<Vec<String>> = restrict.map(|w| w.names.iter().cloned().collect());
    let wanted = wanted.as_deref();
    let row = sqlx::query("SELECT CAST(VERSION() AS CHAR), CAST(DATABASE() AS CHAR)")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| failed("version", e))?;
    let version: Option<String> = row.try_get_unchecked(0).map_err(|e| failed("version", e))?;
    let db: Option<String> = row.try_get_unchecked(1).map_err(|e| failed("version", e))?;
    let Some(db) = db else {
        return Err(Error::environment(
            "reading the schema failed: the connection has no current database",
            None,
        ));
    };
    let flavour = Flavour::parse(version.as_deref().unwrap_or(""));

    let mut snapshot = Snapshot::default();
    // table name -> path, for tables whose children (columns, indexes, ...) we keep.
    let mut tables: BTreeMap<String, String> = BTreeMap::new();

    // Tables (and MariaDB sequences).
    let rows = fetch(
        conn,
        "tables",
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION, ROW_FORMAT, CREATE_OPTIONS, \
         TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? \
         AND TABLE_TYPE NOT IN ('VIEW', 'SYSTEM VIEW', 'TEMPORARY')"
            .to_string()
            + &only("TABLE_NAME", wanted),
        &db,
        wanted,
    )
    .await?;
    let mut seen = BTreeSet::new();
    for r in &rows {
        let name = col(r, 0);
        seen.insert(name.to_string());
        if is_bookkeeping(name) {
            continue;
        }
        let mut props = Props::new();
        let path = if col(r, 1) == "SEQUENCE" {
            format!("sequence {name}")
        } else {
            props.insert(
                "kind".into(),
                match col(r, 1) {
                    "SYSTEM VERSIONED" => "system versioned table".into(),
                    "BASE TABLE" => "table".into(),
                    other => other.to_ascii_lowercase(),
                },
            );
            put(&mut props, "collation", opt(r, 3));
            put(&mut props, "row format", opt(r, 4));
            put(&mut props, "comment", opt(r, 6));
            tables.insert(name.to_string(), format!("table {name}"));
            format!("table {name}")
        };
        put(&mut props, "engine", opt(r, 2));
        put(&mut props, "options", Some(&create_options(col(r, 5))));
        snapshot.insert(path, props, Props::new());
    }
    // A restricted read reads the parts of the tables it found.
    let found: Option<Vec<String>> = wanted.map(|_| tables.keys().cloned().collect());
    let found = found.as_deref();

    // Columns.
    let rows = fetch(
        conn,
        "columns",
        "SELECT TABLE_NAME, COLUMN_NAME, CAST(ORDINAL_POSITION AS CHAR), COLUMN_DEFAULT, \
         IS_NULLABLE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, COLUMN_COMMENT, \
         GENERATION_EXPRESSION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?"
            .to_string()
            + &only("TABLE_NAME", found),
        &db,
        found,
    )
    .await?;
    for r in &rows {
        let Some(table) = tables.get(col(r, 0)) else {
            continue;
        };
        let mut props = Props::new();
        props.insert("type".into(), col(r, 5).to_string());
        props.insert(
            "not null".into(),
            if col(r, 4) == "NO" { "yes" } else { "no" }.into(),
        );
        // MariaDB quotes literal defaults and writes `NULL` for "default null"; MySQL gives
        // literals bare. Both are kept as the server reports them: snapshots are only ever
        // compared with snapshots from the same server.
        if let Some(d) = opt(r, 3) {
            props.insert("default".into(), d.to_string());
        }
        put(&mut props, "charset", opt(r, 6));
        put(&mut props, "collation", opt(r, 7));
        put(&mut props, "extra", opt(r, 8));
        put(&mut props, "comment", opt(r, 9));
        put(&mut props, "generated", opt(r, 10));
        let mut cosmetic = Props::new();
        cosmetic.insert("position".into(), col(r, 2).to_string());
        snapshot.insert(format!("{table} > column {}", col(r, 1)), props, cosmetic);
    }

    // Indexes, one row per key part.
    let visibility = if flavour.mariadb {
        if flavour.version >= 100600 {
            "IGNORED"
        } else {
            "NULL"
        }
    } else if flavour.version >= 80000 {
        "CASE IS_VISIBLE WHEN 'NO' THEN 'YES' ELSE 'NO' END"
    } else {
        "NULL"
    };
    let expression = if !flavour.mariadb && flavour.version >= 80013 {
        "EXPRESSION"
    } else {
        "NULL"
    };
    let rows = fetch(
        conn,
        "indexes",
        format!(
            "SELECT TABLE_NAME, INDEX_NAME, CAST(NON_UNIQUE AS CHAR), CAST(SEQ_IN_INDEX AS CHAR), \
             COLUMN_NAME, CAST(SUB_PART AS CHAR), COLLATION, INDEX_TYPE, INDEX_COMMENT, \
             {visibility}, {expression} FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ?{}",
            only("TABLE_NAME", found)
        ),
        &db,
        found,
    )
    .await?;
    // (table, index) -> (first row, [(seq, key part)])
    let mut indexes: Grouped<(u32, String)> = BTreeMap::new();
    for r in &rows {
        if !tables.contains_key(col(r, 0)) {
            continue;
        }
        let mut part = match opt(r, 10).filter(|e| !e.is_empty()) {
            Some(expr) => format!("({expr})"),
            None => col(r, 4).to_string(),
        };
        if let Some(sub) = opt(r, 5).filter(|s| !s.is_empty()) {
            part.push_str(&format!("({sub})"));
        }
        if col(r, 6) == "D" {
            part.push_str(" DESC");
        }
        let seq = col(r, 3).parse::<u32>().unwrap_or(0);
        indexes
            .entry((col(r, 0).to_string(), col(r, 1).to_string()))
            .or_insert_with(|| (r, Vec::new()))
            .1
            .push((seq, part));
    }
    for ((table, index), (first, mut parts)) in indexes {
        parts.sort();
        let mut props = Props::new();
        props.insert(
            "unique".into(),
            if col(first, 2) == "0" { "yes" } else { "no" }.into(),
        );
        put(&mut props, "type", opt(first, 7));
        props.insert(
            "columns".into(),
            parts
                .into_iter()
                .map(|(_, p)| p)
                .collect::<Vec<_>>()
                .join(", "),
        );
        put(&mut props, "comment", opt(first, 8));
        if col(first, 9) == "YES" {
            props.insert("ignored".into(), "yes".into());
        }
        let Some(table) = tables.get(&table) else {
            continue;
        };
        let path = format!("{table} > index {index}");
        snapshot.insert(path, props, Props::new());
    }

    // Foreign keys, one row per column. Two single-view queries joined here: MariaDB evaluates
    // a join of two information_schema views by re-scanning one per row of the other (22 ms
    // against 0.8 ms for both queries on a 44-migration schema).
    let rows = fetch(
        conn,
        "foreign keys",
        "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, CAST(ORDINAL_POSITION AS CHAR), \
         REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
         FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL"
            .to_string()
            + &only("TABLE_NAME", found),
        &db,
        found,
    )
    .await?;
    let rule_rows = fetch(
        conn,
        "foreign key actions",
        "SELECT TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE \
         FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?"
            .to_string()
            + &only("TABLE_NAME", found),
        &db,
        found,
    )
    .await?;
    let fk_rules: BTreeMap<(&str, &str), FkActions> = rule_rows
        .iter()
        .map(|r| ((col(r, 0), col(r, 1)), (opt(r, 2), opt(r, 3))))
        .collect();
    let mut fks: Grouped<(u32, String, String)> = BTreeMap::new();
    for r in &rows {
        if !tables.contains_key(col(r, 0)) {
            continue;
        }
        let seq = col(r, 3).parse::<u32>().unwrap_or(0);
        fks.entry((col(r, 0).to_string(), col(r, 1).to_string()))
            .or_insert_with(|| (r, Vec::new()))
            .1
            .push((seq, col(r, 2).to_string(), col(r, 6).to_string()));
    }
    for ((table, name), (first, mut cols)) in fks {
        cols.sort();
        let referenced_schema = col(first, 4);
        let referenced = if referenced_schema == db {
            col(first, 5).to_string()
        } else {
            format!("{referenced_schema}.{}", col(first, 5))
        };
        let mut props = Props::new();
        props.insert("type".into(), "foreign key".into());
        props.insert(
            "columns".into(),
            cols.iter()
                .map(|c| c.1.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
        props.insert(
            "references".into(),
            format!(
                "{referenced}({})",
                cols.iter()
                    .map(|c| c.2.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let (on_update, on_delete) = fk_rules
            .get(&(table.as_str(), name.as_str()))
            .copied()
            .unwrap_or((None, None));
        put(&mut props, "on update", on_update);
        put(&mut props, "on delete", on_delete);
        let Some(table) = tables.get(&table) else {
            continue;
        };
        let path = format!("{table} > constraint {name}");
        snapshot.insert(path, props, Props::new());
    }

    // Check constraints (MariaDB lists column-level checks here too).
    let checks = if flavour.mariadb {
        Some((
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE, NULL \
             FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?",
            "TABLE_NAME",
        ))
    } else if flavour.version >= 80016 {
        Some((
            "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE, tc.ENFORCED \
             FROM information_schema.TABLE_CONSTRAINTS tc \
             JOIN information_schema.CHECK_CONSTRAINTS cc \
             ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
             WHERE tc.TABLE_SCHEMA = ? AND tc.CONSTRAINT_TYPE = 'CHECK'",
            "tc.TABLE_NAME",
        ))
    } else {
        None
    };
    if let Some((sql, table)) = checks {
        let sql = sql.to_string() + &only(table, found);
        let rows = fetch(conn, "check constraints", sql, &db, found).await?;
        for r in &rows {
            let Some(table) = tables.get(col(r, 0)) else {
                continue;
            };
            let mut props = Props::new();
            props.insert("type".into(), "check".into());
            props.insert("definition".into(), col(r, 2).to_string());
            put(&mut props, "enforced", opt(r, 3));
            snapshot.insert(
                format!("{table} > constraint {}", col(r, 1)),
                props,
                Props::new(),
            );
        }
    }

    // Views.
    let algorithm = if flavour.mariadb { "ALGORITHM" } else { "NULL" };
    let views = match restrict {
        Some(r) if !r.views => Some(&[][..]),
        _ => wanted,
    };
    let rows = fetch(
        conn,
        "views",
        format!(
            "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, SECURITY_TYPE, {algorithm} \
             FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?{}",
            only("TABLE_NAME", views)
        ),
        &db,
        views,
    )
    .await?;
    for r in &rows {
        seen.insert(col(r, 0).to_string());
        let mut props = Props::new();
        props.insert("definition".into(), strip_db(col(r, 1), &db));
        put(&mut props, "check option", opt(r, 2));
        put(&mut props, "security", opt(r, 3));
        put(&mut props, "algorithm", opt(r, 4));
        snapshot.insert(format!("view {}", col(r, 0)), props, Props::new());
    }

    // Routines and their parameters (a restricted read keeps the last ones: see
    // `my_incremental`).
    if restrict.is_none() {
        read_routines(conn, &db, &mut snapshot).await?;
    }

    // Triggers.
    let triggers = match restrict {
        Some(r) if !r.triggers => Some(&[][..]),
        _ => found,
    };
    let rows = fetch(
        conn,
        "triggers",
        "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, \
         CAST(ACTION_ORDER AS CHAR), ACTION_STATEMENT, ACTION_ORIENTATION \
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?"
            .to_string()
            + &only("EVENT_OBJECT_TABLE", triggers),
        &db,
        triggers,
    )
    .await?;
    for r in &rows {
        let Some(table) = tables.get(col(r, 0)) else {
            continue;
        };
        let mut props = Props::new();
        props.insert("timing".into(), format!("{} {}", col(r, 2), col(r, 3)));
        put(&mut props, "order", opt(r, 4));
        put(&mut props, "statement", opt(r, 5));
        put(&mut props, "for each", opt(r, 6));
        snapshot.insert(
            format!("{table} > trigger {}", col(r, 1)),
            props,
            Props::new(),
        );
    }

    Ok((snapshot, seen))
}

async fn read_routines(
    conn: &mut sqlx::MySqlConnection,
    db: &str,
    snapshot: &mut Snapshot,
) -> Result<()> {
    let params = fetch(
        conn,
        "routine parameters",
        "SELECT SPECIFIC_NAME, ROUTINE_TYPE, CAST(ORDINAL_POSITION AS CHAR), PARAMETER_MODE, \
         PARAMETER_NAME, DTD_IDENTIFIER FROM information_schema.PARAMETERS \
         WHERE SPECIFIC_SCHEMA = ? AND ORDINAL_POSITION > 0"
            .to_string(),
        db,
        None,
    )
    .await?;
    let mut by_routine: BTreeMap<(String, String), Vec<(u32, String)>> = BTreeMap::new();
    for r in &params {
        let text = [opt(r, 3), opt(r, 4), opt(r, 5)]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        by_routine
            .entry((col(r, 1).to_string(), col(r, 0).to_string()))
            .or_default()
            .push((col(r, 2).parse::<u32>().unwrap_or(0), text));
    }
    let rows = fetch(
        conn,
        "routines",
        "SELECT ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, ROUTINE_BODY, ROUTINE_DEFINITION, \
         IS_DETERMINISTIC, SQL_DATA_ACCESS, SECURITY_TYPE, ROUTINE_COMMENT \
         FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?"
            .to_string(),
        db,
        None,
    )
    .await?;
    for r in &rows {
        let (name, kind) = (col(r, 0), col(r, 1));
        let mut props = Props::new();
        let mut params = by_routine
            .remove(&(kind.to_string(), name.to_string()))
            .unwrap_or_default();
        params.sort();
        props.insert(
            "parameters".into(),
            params
                .into_iter()
                .map(|(_, p)| p)
                .collect::<Vec<_>>()
                .join(", "),
        );
        put(&mut props, "returns", opt(r, 2));
        put(&mut props, "language", opt(r, 3));
        put(&mut props, "body", opt(r, 4));
        put(&mut props, "deterministic", opt(r, 5));
        put(&mut props, "data access", opt(r, 6));
        put(&mut props, "security", opt(r, 7));
        put(&mut props, "comment", opt(r, 8));
        snapshot.insert(
            format!("{} {name}", kind.to_ascii_lowercase()),
            props,
            Props::new(),
        );
    }

    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            Flavour::parse("10.11.19-MariaDB-0+deb12u1"),
            Flavour {
                mariadb: true,
                version: 101119
            }
        );
        assert_eq!(
            Flavour::parse("5.5.5-10.6.4-MariaDB"),
            Flavour {
                mariadb: true,
                version: 100604
            }
        );
        assert_eq!(
            Flavour::parse("8.0.36"),
            Flavour {
                mariadb: false,
                version: 80036
            }
        );
    }

    #[test]
    fn strips_database_and_counters() {
        assert_eq!(
            strip_db("select `db`.`t`.`id` AS `id` from `db`.`t`", "db"),
            "select `t`.`id` AS `id` from `t`"
        );
        assert_eq!(
            create_options("row_format=DYNAMIC AUTO_INCREMENT=5 partitioned"),
            "partitioned row_format=DYNAMIC"
        );
    }
}
