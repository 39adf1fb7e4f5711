//! PostgreSQL observation: the relations that existed before a script ran, kept from one
//! observed script to the next and re-read by what changed.
//!
//! Each observed migration starts from every user relation (table, index, materialized view,
//! TOAST) with its storage, its schema, its name and its parent. Reading them all is 3,200 rows
//! at 400 tables, 2-3 ms, once per migration: the largest part of what observation cost. So the
//! first read on a database is full, and each later one reads only the catalog rows written
//! since the previous read. Every change to a column read here (a new relation, a rename, `SET
//! SCHEMA`, a new `relfilenode` from a rewrite or a `TRUNCATE`, a new TOAST table) writes a new
//! version of the relation's `pg_class` row, whose `xmin` is the transaction that wrote it.
//! `age(xmin) <= age(horizon)` picks the rows written at or after the horizon: the oldest
//! transaction still running when the previous read's snapshot was taken, so no transaction
//! that ended after that read is missed (the rows of the ones that had ended are all in it).
//! PostgreSQL updates a few `pg_class` columns in place, keeping `xmin` (`relpages`,
//! `reltuples`, `relhasindex`, `relfrozenxid`): none is read here. Rows read twice are simply
//! read again; the query costs 0.4-0.8 ms instead of 2-3 ms at 400 tables.
//!
//! A dropped relation leaves no row to read. Its entry stays until a relation takes its name
//! (a down that drops a table and an up that creates it again) or the next full read; a dropped
//! relation cannot be locked and has no storage or scans to read, so it is never reported, and
//! an oid the server hands out again comes back with a new row. The cache starts over with a
//! full read on another database or server (a replay's fresh database), and after a script
//! that did not finish (its watch is dropped with it). `MIGCHECK_OBSERVE_INCREMENTAL=0` reads in
//! full every time; `MIGCHECK_OBSERVE_CHECK=1` follows every partial read with a full one and
//! compares them (developer switches, for measuring and for the tests).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::types::Oid;
use sqlx::Row;

/// The relations, their parents and the schemas, in one round trip of four row kinds: `H` the
/// horizon for the next read (the low 32 bits of the oldest running transaction, as `xmin`
/// holds them), the database's oid and the server's start time; `R` user relations (table,
/// index, materialized view, TOAST) with kind, `relfilenode`, schema, quoted name and TOAST
/// table; `I` user indexes with their table; `N` schemas with their quoted name. `$1`: the
/// previous read's horizon, or NULL for a full read. The joins (an index's table, a TOAST
/// table's owner, a relation's schema) are made by the client: made by the server they cost
/// four times the reads. 16384 is `FirstNormalObjectId`: every object a user creates (TOAST
/// tables included) has an oid at or above it, so catalogs and the observation's own locks on
/// them stay out.
macro_rules! relations_query {
    ($oldest_running:literal, $flush:literal) => {
        concat!(
            "SELECT 'H'::text, (",
            $oldest_running,
            "::text::int8 % 4294967296)::int8, ",
            $flush,
            ", (SELECT d.oid FROM pg_catalog.pg_database d \
             WHERE d.datname = pg_catalog.current_database())::int8, \
  (extract(epoch FROM pg_catalog.pg_postmaster_start_time()) * 1000000)::int8, ''::text, 0::int8 \
UNION ALL \
SELECT 'R'::text, c.oid::int8, c.relkind::text, c.relfilenode::int8, c.relnamespace::int8, \
  pg_catalog.quote_ident(c.relname::text), c.reltoastrelid::int8 \
FROM pg_catalog.pg_class c, (SELECT pg_catalog.age($1::int8::text::xid) AS lim) h \
WHERE c.oid >= 16384 AND c.relkind IN ('r', 'p', 'm', 'i', 'I', 't') \
  AND (h.lim IS NULL OR pg_catalog.age(c.xmin) <= h.lim) \
UNION ALL \
SELECT 'I'::text, i.indexrelid::int8, ''::text, 0::int8, 0::int8, ''::text, i.indrelid::int8 \
FROM pg_catalog.pg_index i, (SELECT pg_catalog.age($1::int8::text::xid) AS lim) h \
WHERE i.indexrelid >= 16384 AND (h.lim IS NULL OR pg_catalog.age(i.xmin) <= h.lim) \
UNION ALL \
SELECT 'N'::text, n.oid::int8, ''::text, 0::int8, 0::int8, \
  pg_catalog.quote_ident(n.nspname::text), 0::int8 \
FROM pg_catalog.pg_namespace n, (SELECT pg_catalog.age($1::int8::text::xid) AS lim) h \
WHERE h.lim IS NULL OR pg_catalog.age(n.xmin) <= h.lim"
        )
    };
}

/// `pg_current_snapshot` is PostgreSQL 13+; `txid_current_snapshot`, its older name, may go.
/// From PostgreSQL 15 on the read also flushes the backend's pending statistics when the
/// query ends, before the server answers (`pg_stat_force_next_flush`): the transaction scan
/// counters the next transaction starts from are then all zero (see `PgWatch::scans_flushed`).
const PG_RELATIONS_FLUSHING: &str = relations_query!(
    "pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())",
    "pg_catalog.pg_stat_force_next_flush()::text"
);
const PG_RELATIONS: &str = relations_query!(
    "pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())",
    "''::text"
);
const PG_RELATIONS_BEFORE_13: &str = relations_query!(
    "pg_catalog.txid_snapshot_xmin(pg_catalog.txid_current_snapshot())",
    "''::text"
);

/// Whether reading the relations on this connection flushes its pending statistics.
pub(super) fn read_flushes_statistics(conn: &sqlx::PgConnection) -> bool {
    conn.server_version_num().is_some_and(|v| v >= 150000)
}

/// One relation's `pg_class` row, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClassRow {
    kind: char,
    filenode: i64,
    schema: i64,
    /// Quoted.
    name: String,
    /// Its TOAST table, 0 for none.
    toast: i64,
}

/// The user relations of one database, as they were before the script being observed.
#[derive(Debug, Default)]
pub(super) struct PgRelations {
    /// The database's oid and the server's start time: the rows belong to that database.
    source: (i64, i64),
    /// The next partial read reads the rows written by this transaction (low 32 bits) or later.
    horizon: i64,
    rows: HashMap<i64, ClassRow>,
    /// Index -> its table.
    index_tables: HashMap<i64, i64>,
    /// TOAST table -> its owner.
    toast_owners: HashMap<i64, i64>,
    /// Schema -> quoted name.
    schemas: HashMap<i64, String>,
    /// (schema, quoted name) -> relation: a relation taking a cached one's name means the
    /// cached one was dropped (or renamed, and then its own row was read again too).
    by_name: HashMap<(i64, String), i64>,
    /// Relation -> the relations whose parent it is (indexes, its TOAST table).
    children: HashMap<i64, Vec<i64>>,
    /// Every cached relation, and the tables among them: the queries' parameters.
    oids: Vec<Oid>,
    tables: Vec<Oid>,
}

/// What one read returned.
#[derive(Debug, Default)]
struct Read {
    source: (i64, i64),
    horizon: i64,
    rows: Vec<(i64, ClassRow)>,
    index_tables: Vec<(i64, i64)>,
    schemas: Vec<(i64, String)>,
}

static PARTIAL: AtomicU64 = AtomicU64::new(0);
static CHECKED: AtomicU64 = AtomicU64::new(0);

/// `MIGCHECK_OBSERVE_INCREMENTAL=0`: read every relation before every script (for measuring).
fn incremental_enabled() -> bool {
    std::env::var("MIGCHECK_OBSERVE_INCREMENTAL").map_or(true, |v| v != "0")
}

/// `MIGCHECK_OBSERVE_CHECK=1`: compare every partial read's result with a full read.
pub fn check_enabled() -> bool {
    std::env::var("MIGCHECK_OBSERVE_CHECK").is_ok_and(|v| v == "1")
}

/// (partial reads, partial reads compared with a full one) by this process.
pub fn counts() -> (u64, u64) {
    (
        PARTIAL.load(Ordering::Relaxed),
        CHECKED.load(Ordering::Relaxed),
    )
}

impl PgRelations {
    /// The relations as they are now: `cached` brought up to date when it was read from this
    /// database, else a full read. `mismatches` collects what the check switch found.
    pub(super) async fn read(
        conn: &mut sqlx::PgConnection,
        cached: Option<PgRelations>,
        mismatches: &mut Vec<String>,
    ) -> Result<Self, sqlx::Error> {
        let cached = cached.filter(|_| incremental_enabled());
        let Some(mut relations) = cached else {
            return Ok(Self::from_full(fetch(conn, None).await?));
        };
        let read = fetch(conn, Some(relations.horizon)).await?;
        if read.source != relations.source {
            return Ok(Self::from_full(fetch(conn, None).await?));
        }
        PARTIAL.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            relations = read.rows.len(),
            indexes = read.index_tables.len(),
            schemas = read.schemas.len(),
            "observation: relations read again since the previous script"
        );
        relations.apply(read);
        if check_enabled() {
            CHECKED.fetch_add(1, Ordering::Relaxed);
            let full = Self::from_full(fetch(conn, None).await?);
            if let Some(difference) = relations.difference(&full) {
                mismatches.push(difference);
            }
        }
        Ok(relations)
    }

    fn from_full(read: Read) -> Self {
        let mut relations = PgRelations::default();
        relations.apply(read);
        relations
    }

    fn apply(&mut self, read: Read) {
        self.source = read.source;
        self.horizon = read.horizon;
        let changed: std::collections::HashSet<i64> = read.rows.iter().map(|r| r.0).collect();
        let mut dropped = Vec::new();
        for (oid, row) in read.rows {
            if let Some(old) = self.rows.get(&oid) {
                let key = (old.schema, old.name.clone());
                if self.by_name.get(&key) == Some(&oid) {
                    self.by_name.remove(&key);
                }
            }
            if let Some(previous) = self.by_name.insert((row.schema, row.name.clone()), oid) {
                if previous != oid && !changed.contains(&previous) {
                    dropped.push(previous);
                }
            }
            if row.toast != 0 {
                self.toast_owners.insert(row.toast, oid);
                add_child(&mut self.children, oid, row.toast);
            }
            self.rows.insert(oid, row);
        }
        for (index, table) in read.index_tables {
            self.index_tables.insert(index, table);
            add_child(&mut self.children, table, index);
        }
        self.schemas.extend(read.schemas);
        for oid in dropped {
            self.forget(oid, 0);
        }
        self.oids = self.rows.keys().map(|&o| Oid(o as u32)).collect();
        self.tables = self
            .rows
            .iter()
            .filter(|(_, r)| matches!(r.kind, 'r' | 'p' | 'm'))
            .map(|(&o, _)| Oid(o as u32))
            .collect();
    }

    /// A dropped relation and the ones dropped with it (its indexes, its TOAST table and
    /// that one's index).
    fn forget(&mut self, oid: i64, depth: usize) {
        let Some(row) = self.rows.remove(&oid) else {
            return;
        };
        let key = (row.schema, row.name);
        if self.by_name.get(&key) == Some(&oid) {
            self.by_name.remove(&key);
        }
        self.index_tables.remove(&oid);
        self.toast_owners.remove(&oid);
        if depth < 2 {
            for child in self.children.remove(&oid).unwrap_or_default() {
                self.forget(child, depth + 1);
            }
        }
    }

    /// The first way this (partial) state differs from a full read's, if any. Relations the
    /// full read does not have are the dropped ones this state may keep.
    fn difference(&self, full: &PgRelations) -> Option<String> {
        for (oid, row) in &full.rows {
            match self.rows.get(oid) {
                None => return Some(format!("relation {oid} ({}) is missing", row.name)),
                Some(r) if r != row => {
                    return Some(format!("relation {oid}: cached {r:?}, full {row:?}"))
                }
                _ => {}
            }
            if self.parent(*oid) != full.parent(*oid) {
                return Some(format!(
                    "relation {oid} ({}): parent {} cached, {} read",
                    row.name,
                    self.parent(*oid),
                    full.parent(*oid)
                ));
            }
            if self.name(*oid) != full.name(*oid) {
                return Some(format!(
                    "relation {oid}: named {:?} cached, {:?} read",
                    self.name(*oid),
                    full.name(*oid)
                ));
            }
        }
        None
    }

    pub(super) fn kind(&self, oid: i64) -> Option<char> {
        self.rows.get(&oid).map(|r| r.kind)
    }

    pub(super) fn is_table(&self, oid: i64) -> bool {
        self.kind(oid).is_some_and(|k| matches!(k, 'r' | 'p' | 'm'))
    }

    pub(super) fn filenode(&self, oid: i64) -> Option<i64> {
        self.rows.get(&oid).map(|r| r.filenode)
    }

    /// An index's table, a TOAST table's owner, a TOAST index's TOAST table; 0 for none.
    pub(super) fn parent(&self, oid: i64) -> i64 {
        self.index_tables
            .get(&oid)
            .or_else(|| self.toast_owners.get(&oid))
            .copied()
            .unwrap_or(0)
    }

    pub(super) fn children(&self, oid: i64) -> &[i64] {
        self.children.get(&oid).map_or(&[], Vec::as_slice)
    }

    /// Quoted, schema-qualified outside `public`.
    pub(super) fn name(&self, oid: i64) -> Option<String> {
        let row = self.rows.get(&oid)?;
        Some(match self.schemas.get(&row.schema) {
            Some(s) if s != "public" => format!("{s}.{}", row.name),
            _ => row.name.clone(),
        })
    }

    pub(super) fn oids(&self) -> &[Oid] {
        &self.oids
    }

    pub(super) fn tables(&self) -> &[Oid] {
        &self.tables
    }
}

fn add_child(children: &mut HashMap<i64, Vec<i64>>, parent: i64, child: i64) {
    let list = children.entry(parent).or_default();
    if !list.contains(&child) {
        list.push(child);
    }
}

async fn fetch(conn: &mut sqlx::PgConnection, horizon: Option<i64>) -> Result<Read, sqlx::Error> {
    let query = match conn.server_version_num() {
        _ if read_flushes_statistics(conn) => PG_RELATIONS_FLUSHING,
        Some(v) if v < 130000 => PG_RELATIONS_BEFORE_13,
        _ => PG_RELATIONS,
    };
    let rows = sqlx::query(query)
        .bind(horizon)
        .fetch_all(&mut *conn)
        .await?;
    let mut read = Read::default();
    for row in rows {
        let what: String = row.try_get(0)?;
        let oid: i64 = row.try_get(1)?;
        match what.as_str() {
            "H" => {
                read.horizon = oid;
                read.source = (row.try_get(3)?, row.try_get(4)?);
            }
            "R" => {
                let kind: String = row.try_get(2)?;
                read.rows.push((
                    oid,
                    ClassRow {
                        kind: kind.chars().next().unwrap_or('r'),
                        filenode: row.try_get(3)?,
                        schema: row.try_get(4)?,
                        name: row.try_get(5)?,
                        toast: row.try_get(6)?,
                    },
                ));
            }
            "I" => read.index_tables.push((oid, row.try_get(6)?)),
            _ => read.schemas.push((oid, row.try_get(5)?)),
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: char, schema: i64, name: &str, toast: i64) -> ClassRow {
        ClassRow {
            kind,
            filenode: 1,
            schema,
            name: name.to_string(),
            toast,
        }
    }

    #[test]
    fn a_relation_taking_a_cached_name_forgets_the_dropped_one_and_its_children() {
        let mut r = PgRelations::from_full(Read {
            rows: vec![
                (100, row('r', 2200, "t", 101)),
                (101, row('t', 99, "pg_toast_100", 0)),
                (102, row('i', 99, "pg_toast_100_index", 0)),
                (103, row('i', 2200, "t_pkey", 0)),
                (200, row('r', 2200, "u", 0)),
            ],
            index_tables: vec![(102, 101), (103, 100)],
            schemas: vec![(2200, "public".into()), (99, "pg_toast".into())],
            ..Default::default()
        });
        assert_eq!(r.children(100).len(), 2);
        assert_eq!(r.parent(102), 101);
        // `t` dropped and created again; `u` renamed to `v` in the same read.
        r.apply(Read {
            rows: vec![(300, row('r', 2200, "t", 0)), (200, row('r', 2200, "v", 0))],
            ..Default::default()
        });
        let mut oids: Vec<u32> = r.oids().iter().map(|o| o.0).collect();
        oids.sort_unstable();
        assert_eq!(oids, vec![200, 300]);
        assert_eq!(r.name(200).as_deref(), Some("v"));
        assert_eq!(r.tables().len(), 2);
    }

    #[test]
    fn a_rename_swap_keeps_both_relations() {
        let mut r = PgRelations::from_full(Read {
            rows: vec![(1, row('r', 5, "a", 0)), (2, row('r', 5, "b", 0))],
            schemas: vec![(5, "app".into())],
            ..Default::default()
        });
        r.apply(Read {
            rows: vec![(1, row('r', 5, "b", 0)), (2, row('r', 5, "a", 0))],
            ..Default::default()
        });
        assert_eq!(r.name(1).as_deref(), Some("app.b"));
        assert_eq!(r.name(2).as_deref(), Some("app.a"));
        assert_eq!(r.oids().len(), 2);
    }
}
