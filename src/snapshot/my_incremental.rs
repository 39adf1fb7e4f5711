//! Snapshots of a MySQL/MariaDB throwaway database that cost what each step changed.
//!
//! The server has no DDL log to read (no event triggers), and no cheap trustworthy change
//! signal either: `CREATE_TIME` has one-second resolution, and an InnoDB table id stays the same
//! through a metadata-only `ALTER`. Every `information_schema` view opens every table of the
//! schema, so a full read grows with the schema (about 8 ms of server time at 100 tables).
//!
//! What a step changed is known instead where migcheck sends the step's statements itself (the
//! SQL-file runner): each statement is read with sqlparser, and a script whose every statement
//! is one of the forms below changes only the tables and views it names. Anything else (a
//! routine, a trigger, `CALL`, `PREPARE`, `USE`, a statement sqlparser cannot read, a step of
//! another runner, a failed step) makes the next snapshot a full one.
//!
//! | statement | may change |
//! |---|---|
//! | `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `SET`, transaction control, `LOCK`/`UNLOCK TABLES` | nothing the snapshot holds |
//! | `CREATE TABLE t`, `CREATE INDEX … ON t`, `DROP INDEX … ON t`, `TRUNCATE t` | `t` |
//! | `ALTER TABLE t` with column, constraint, index, partition-list and option changes | `t`, and its new name |
//! | `DROP TABLE`/`VIEW` …, `CREATE`/`ALTER VIEW v`, `RENAME TABLE a TO b` | the names |
//!
//! The next snapshot re-reads those names, and the tables whose foreign keys reference one of
//! them (renaming a referenced table or column rewrites the child's key), with every query
//! restricted to them; everything else is the previous snapshot's. Routines are never re-read:
//! only statements that make the read full can change them. `MIGCHECK_SNAPSHOT_CHECK=1`
//! compares every incremental snapshot with a full one.

use std::collections::BTreeSet;

use sqlparser::ast::{AlterTableOperation, ObjectName, ObjectType, RenameTableNameKind, Statement};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::{mysql, tracking, Snapshot};
use crate::error::Result;

/// The tables and views a script's statements can change, as written in the statements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    names: BTreeSet<String>,
    /// A statement that can create, change, rename or drop a view ran.
    views: bool,
}

/// What `statements` (the SQL texts one script sends, in order) can change, or `None` when one
/// of them is not a form whose effect is known.
pub fn touched<'a>(statements: impl IntoIterator<Item = &'a str>) -> Option<Touched> {
    let mut touched = Touched::default();
    // Which statement made the step's snapshot a full one (`MIGCHECK_LOG=migcheck=debug`).
    let unknown = |sql: &str| {
        let head: String = sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
        tracing::debug!("snapshots after this script are full: not a known form: {head}");
    };
    for sql in statements {
        let Ok(parsed) = Parser::parse_sql(&MySqlDialect {}, sql) else {
            unknown(sql);
            return None;
        };
        for statement in &parsed {
            if !add_names(statement, &mut touched.names) {
                unknown(sql);
                return None;
            }
            touched.views |= matches!(
                statement,
                Statement::CreateView(_)
                    | Statement::AlterView { .. }
                    | Statement::RenameTable(_)
                    | Statement::Drop { .. }
            );
        }
    }
    Some(touched)
}

/// The last part of a name (`db.t` -> `t`): a qualified name may point into this database, and
/// re-reading a table that did not change costs only time.
fn last_part(name: &ObjectName) -> Option<String> {
    Some(name.0.last()?.as_ident()?.value.clone())
}

fn put(names: &mut BTreeSet<String>, name: &ObjectName) -> bool {
    match last_part(name) {
        Some(n) => {
            names.insert(n);
            true
        }
        None => false,
    }
}

/// Add what `statement` can change; false when that is not known.
fn add_names(statement: &Statement, names: &mut BTreeSet<String>) -> bool {
    match statement {
        Statement::Query(_)
        | Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Set(_)
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::LockTables { .. }
        | Statement::UnlockTables => true,
        Statement::CreateTable(ct) => put(names, &ct.name),
        Statement::CreateIndex(ci) => put(names, &ci.table_name),
        Statement::CreateView(cv) => put(names, &cv.name),
        Statement::AlterView { name, .. } => put(names, name),
        Statement::Truncate(t) => t.table_names.iter().all(|t| put(names, &t.name)),
        Statement::RenameTable(renames) => renames
            .iter()
            .all(|r| put(names, &r.old_name) && put(names, &r.new_name)),
        Statement::Drop {
            object_type,
            names: dropped,
            table,
            ..
        } => match object_type {
            ObjectType::Table | ObjectType::View => dropped.iter().all(|n| put(names, n)),
            ObjectType::Index => table.as_ref().is_some_and(|t| put(names, t)),
            _ => false,
        },
        Statement::AlterTable(at) => {
            put(names, &at.name)
                && at.operations.iter().all(|op| match op {
                    AlterTableOperation::RenameTable { table_name } => match table_name {
                        RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => put(names, n),
                    },
                    // Changes to the table itself (a partition exchange, which also changes
                    // another table, is not among them).
                    AlterTableOperation::AddConstraint { .. }
                    | AlterTableOperation::AddColumn { .. }
                    | AlterTableOperation::DropConstraint { .. }
                    | AlterTableOperation::DropColumn { .. }
                    | AlterTableOperation::DropPrimaryKey { .. }
                    | AlterTableOperation::DropForeignKey { .. }
                    | AlterTableOperation::DropIndex { .. }
                    | AlterTableOperation::RenameColumn { .. }
                    | AlterTableOperation::ChangeColumn { .. }
                    | AlterTableOperation::ModifyColumn { .. }
                    | AlterTableOperation::RenameConstraint { .. }
                    | AlterTableOperation::AlterColumn { .. }
                    | AlterTableOperation::AddPartitions { .. }
                    | AlterTableOperation::DropPartitions { .. }
                    | AlterTableOperation::Algorithm { .. }
                    | AlterTableOperation::Lock { .. }
                    | AlterTableOperation::AutoIncrement { .. }
                    | AlterTableOperation::SetOptionsParens { .. } => true,
                    _ => false,
                })
        }
        _ => false,
    }
}

/// What ran since the last snapshot.
#[derive(Debug, Clone)]
enum Pending {
    /// Nothing the tracker was told of (a snapshot with nothing in between reads in full: it
    /// cannot tell that nothing else ran).
    Nothing,
    Known(Touched),
    Unknown,
}

/// See the module comment. One per throwaway database.
#[derive(Debug, Clone)]
pub struct Tracker {
    last: Option<Snapshot>,
    pending: Pending,
    enabled: bool,
    check: bool,
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker {
            last: None,
            pending: Pending::Nothing,
            enabled: tracking::incremental_enabled(),
            check: tracking::check_enabled(),
        }
    }

    /// A step applied: what it can have changed (`None`: not known).
    pub fn note(&mut self, touched: Option<&Touched>) {
        self.pending = match (
            std::mem::replace(&mut self.pending, Pending::Nothing),
            touched,
        ) {
            (Pending::Unknown, _) | (_, None) => Pending::Unknown,
            (Pending::Nothing, Some(t)) => Pending::Known(t.clone()),
            (Pending::Known(mut known), Some(t)) => {
                known.names.extend(t.names.iter().cloned());
                known.views |= t.views;
                Pending::Known(known)
            }
        };
    }

    /// Something ran that the tracker was not told of: the next snapshot is a full one.
    pub fn invalidate(&mut self) {
        self.pending = Pending::Unknown;
    }

    pub fn release(&mut self) {
        self.last = None;
    }

    pub async fn take(&mut self, conn: &mut sqlx::MySqlConnection) -> Result<Snapshot> {
        let pending = std::mem::replace(&mut self.pending, Pending::Nothing);
        let previous = self.last.take();
        let snapshot = match (previous, pending) {
            (Some(previous), Pending::Known(touched)) if self.enabled => {
                let snapshot = read_changed(conn, previous, &touched).await?;
                tracking::count_incremental();
                if self.check {
                    let after = format!(" after a step naming {:?}", touched.names);
                    tracking::check(&snapshot, &mysql::take(conn).await?, &after)?;
                }
                snapshot
            }
            _ => {
                tracking::count_full();
                mysql::take(conn).await?
            }
        };
        self.last = Some(snapshot.clone());
        Ok(snapshot)
    }
}

/// `previous` with the objects of `names`, and of the tables whose foreign keys reference one
/// of them, read again.
async fn read_changed(
    conn: &mut sqlx::MySqlConnection,
    mut previous: Snapshot,
    touched: &Touched,
) -> Result<Snapshot> {
    let names = &touched.names;
    if names.is_empty() {
        return Ok(previous);
    }
    let mut wanted: BTreeSet<String> = names.clone();
    wanted.extend(referencing(&previous, names));
    // The server compares names by its collation (without case on MariaDB; MySQL 8 may compare
    // them exactly): ask for every known name that matches a wanted one without case, drop
    // those and whatever the server returned, then put back what it returned.
    let folded: BTreeSet<String> = wanted.iter().map(|n| n.to_lowercase()).collect();
    let same_but_case: Vec<String> = previous
        .objects
        .keys()
        .filter_map(|path| owner(path))
        .filter(|name| folded.contains(&name.to_lowercase()))
        .map(str::to_string)
        .collect();
    wanted.extend(same_but_case);
    // Triggers appear only through statements that make the read full (`CREATE TRIGGER`),
    // views only through those `touched` marks; otherwise read them only where a wanted name
    // had some (they are dropped below with the rest of the name's objects).
    let had = |kind: &str| {
        previous.objects.keys().any(|path| {
            owner(path).is_some_and(|name| folded.contains(&name.to_lowercase()))
                && (path.starts_with(kind) || path.contains(&format!(" > {kind}")))
        })
    };
    let read = mysql::Wanted {
        views: touched.views || had("view "),
        triggers: had("trigger "),
        names: wanted,
    };
    let (fresh, seen) = mysql::read(conn, Some(&read)).await?;
    previous.objects.retain(|path, _| match owner(path) {
        Some(name) => !(seen.contains(name) || folded.contains(&name.to_lowercase())),
        None => true,
    });
    for (path, object) in fresh.objects {
        previous.objects.insert(path, object);
    }
    Ok(previous)
}

/// The table, sequence or view a path belongs to (`table t > column c` -> `t`); `None` for
/// routines.
fn owner(path: &str) -> Option<&str> {
    let rest = ["table ", "sequence ", "view "]
        .iter()
        .find_map(|kind| path.strip_prefix(kind))?;
    Some(rest.split_once(" > ").map_or(rest, |(table, _)| table))
}

/// Tables of `snapshot` with a foreign key that references one of `names`.
fn referencing(snapshot: &Snapshot, names: &BTreeSet<String>) -> Vec<String> {
    let folded: BTreeSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
    snapshot
        .objects
        .iter()
        .filter(|(_, o)| o.properties.get("type").is_some_and(|t| t == "foreign key"))
        .filter_map(|(path, o)| {
            let references = o.properties.get("references")?;
            let target = references
                .rsplit_once('(')
                .map_or(references.as_str(), |(t, _)| t);
            let target = target.rsplit_once('.').map_or(target, |(_, t)| t);
            folded
                .contains(&target.to_lowercase())
                .then(|| owner(path).map(str::to_string))
                .flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &[&str]) -> Option<Vec<String>> {
        touched(sql.iter().copied()).map(|t| t.names.into_iter().collect())
    }

    #[test]
    fn statements_name_what_they_change() {
        assert_eq!(
            names(&[
                "CREATE TABLE a (id INT PRIMARY KEY, b_id INT, FOREIGN KEY (b_id) REFERENCES b (id))",
                "CREATE INDEX a_b ON a (b_id)",
                "INSERT INTO c VALUES (1)",
                "ALTER TABLE d ADD COLUMN x INT NOT NULL DEFAULT 0, RENAME TO e",
                "RENAME TABLE f TO g",
                "DROP INDEX i ON h",
                "DROP VIEW IF EXISTS v",
                "CREATE VIEW w AS SELECT 1",
                "SET foreign_key_checks = 0",
                "UPDATE c SET x = 1",
            ]),
            Some(
                ["a", "d", "e", "f", "g", "h", "v", "w"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(
            names(&["DROP TABLE db.t1, t2"]),
            Some(vec!["t1".into(), "t2".into()])
        );
        assert_eq!(names(&[]), Some(vec![]));
        let views = |sql: &str| touched([sql]).map(|t| t.views);
        assert_eq!(views("CREATE TABLE t (id INT)"), Some(false));
        assert_eq!(views("ALTER TABLE t ADD COLUMN x INT"), Some(false));
        assert_eq!(views("CREATE OR REPLACE VIEW v AS SELECT 1"), Some(true));
        assert_eq!(views("RENAME TABLE a TO b"), Some(true));
        assert_eq!(views("DROP TABLE a"), Some(true));
    }

    #[test]
    fn anything_else_is_unknown() {
        for sql in [
            "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = 1",
            "CREATE PROCEDURE p() SELECT 1",
            "CALL p()",
            "USE other",
            "DROP DATABASE other",
            "CREATE SEQUENCE s",
            "THIS IS NOT SQL",
        ] {
            assert_eq!(names(&["CREATE TABLE a (id INT)", sql]), None, "{sql}");
        }
    }

    #[test]
    fn paths_belong_to_their_table_or_view() {
        assert_eq!(owner("table t > column c"), Some("t"));
        assert_eq!(owner("table t"), Some("t"));
        assert_eq!(owner("view v"), Some("v"));
        assert_eq!(owner("sequence s"), Some("s"));
        assert_eq!(owner("procedure p"), None);
    }
}
