//! Incremental PostgreSQL snapshots: after a step, re-read only what the step touched.
//!
//! In a throwaway database migcheck owns, two event triggers (`ddl_command_end`, `sql_drop`)
//! log every object a command creates, alters, comments on or drops into a table of the private
//! schema `_migcheck_ddl` (which the snapshot queries leave out). A snapshot drains the log in
//! its own transaction and starts from the previous snapshot of the same database:
//!
//! - the logged objects that still exist, and everything that depends on them through
//!   `pg_depend` (recursively: renaming a table renames it in other tables' foreign keys, in
//!   views, in function signatures), are mapped to the objects that own snapshot entries (a
//!   table for its columns, indexes, constraints, triggers and policies; a function; a type; a
//!   schema);
//! - the logged objects (existing or dropped) are also looked up among the keys the previous
//!   snapshot recorded for each entry (an index's, constraint's, default's, trigger's or
//!   policy's oid, and a table's parents, so a `DETACH PARTITION` logged on the parent re-reads
//!   the former partition);
//! - the entries of those owners are removed and re-read by the full snapshot's own queries,
//!   restricted to those owners.
//!
//! Whatever the log cannot be trusted with takes a full snapshot: the first snapshot of a
//! database, the one after a failed step (its log rolled back with it, or a `CREATE INDEX
//! CONCURRENTLY` left an invalid index unlogged), `GRANT`/`REVOKE` (logged without the
//! objects), anything about extensions, a command logged without an object that is not a
//! `DROP`, a change of the roles, of `pg_shdepend` (owners and grants to roles:
//! `REASSIGN OWNED` fires no event trigger) or of the clustered indexes (`CLUSTER` fires none),
//! event triggers that are missing or disabled, and a step that touches more than a quarter of
//! the schema (a full read is then as cheap). `MIGCHECK_SNAPSHOT_CHECK=1` (a developer switch)
//! takes a full snapshot after every incremental one and fails the run when they differ.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sqlx::{Connection, Row};

use super::postgres::{self, failed, key, Entry, PG_EXTENSION};
use super::{tracking, SchemaObject, Snapshot};
use crate::error::{Error, Result};

/// The private schema; `user_ns!` in postgres.rs names it too.
pub const SCHEMA: &str = "_migcheck_ddl";

/// Set up the log; run in one transaction as a superuser (event triggers need one). The
/// functions are `SECURITY DEFINER` so that a migration running as another role can log, and
/// the triggers `ENABLE ALWAYS` so that `session_replication_role = replica` cannot mute them.
const INSTALL: &[&str] = &[
    "CREATE SCHEMA _migcheck_ddl",
    "COMMENT ON SCHEMA _migcheck_ddl IS 'migcheck: the objects each migration touched, for \
     incremental schema snapshots (throwaway database only)'",
    "CREATE UNLOGGED TABLE _migcheck_ddl.events (kind \"char\" NOT NULL, classid oid, objid oid, \
     objsubid int4, tag text NOT NULL, in_extension bool)",
    "CREATE FUNCTION _migcheck_ddl.on_ddl() RETURNS event_trigger LANGUAGE plpgsql \
     SECURITY DEFINER SET search_path = pg_catalog AS $$ \
     BEGIN \
       INSERT INTO _migcheck_ddl.events \
         SELECT 'c', d.classid, d.objid, d.objsubid, d.command_tag, d.in_extension \
         FROM pg_catalog.pg_event_trigger_ddl_commands() d; \
       IF NOT FOUND THEN \
         INSERT INTO _migcheck_ddl.events VALUES ('c', NULL, NULL, NULL, tg_tag, NULL); \
       END IF; \
     END $$",
    "CREATE FUNCTION _migcheck_ddl.on_drop() RETURNS event_trigger LANGUAGE plpgsql \
     SECURITY DEFINER SET search_path = pg_catalog AS $$ \
     BEGIN \
       INSERT INTO _migcheck_ddl.events \
         SELECT 'd', d.classid, d.objid, d.objsubid, tg_tag, NULL \
         FROM pg_catalog.pg_event_trigger_dropped_objects() d; \
     END $$",
    "CREATE EVENT TRIGGER migcheck_ddl_end ON ddl_command_end EXECUTE FUNCTION _migcheck_ddl.on_ddl()",
    "CREATE EVENT TRIGGER migcheck_sql_drop ON sql_drop EXECUTE FUNCTION _migcheck_ddl.on_drop()",
    "ALTER EVENT TRIGGER migcheck_ddl_end ENABLE ALWAYS",
    "ALTER EVENT TRIGGER migcheck_sql_drop ENABLE ALWAYS",
];

/// What event triggers do not report, as one value to compare between snapshots: the roles
/// (a renamed role renames grants), `pg_shdepend` of this database (owners other than the
/// bootstrap superuser, grants to roles: `REASSIGN OWNED` changes them unlogged) and the
/// clustered indexes (`CLUSTER ... USING`). Plus the number of migcheck's event triggers that
/// are enabled always (2 when the log can be trusted). Then the log, drained: its rows as
/// arrays (kind, classid, objid, command tag, in an extension), each read from the same
/// `drained` rows in the same order. One round trip for both.
const FINGERPRINT_AND_DRAIN: &str = "\
WITH drained AS (DELETE FROM _migcheck_ddl.events \
  RETURNING kind::text AS kind, classid::int8 AS classid, objid::int8 AS objid, tag, in_extension) \
SELECT pg_catalog.md5(pg_catalog.concat_ws('|', \
  (SELECT pg_catalog.string_agg(r.oid::text || ' ' || r.rolname, ',' ORDER BY r.oid) FROM pg_catalog.pg_roles r), \
  (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(' ', d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.deptype), ',' \
     ORDER BY d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.deptype) \
   FROM pg_catalog.pg_shdepend d \
   WHERE d.dbid = (SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname = pg_catalog.current_database())), \
  (SELECT pg_catalog.string_agg(x.indexrelid::text, ',' ORDER BY x.indexrelid) FROM pg_catalog.pg_index x WHERE x.indisclustered))), \
  (SELECT count(*) FROM pg_catalog.pg_event_trigger e \
   WHERE e.evtname IN ('migcheck_ddl_end', 'migcheck_sql_drop') AND e.evtenabled = 'A' \
   AND e.evtfoid IN (SELECT p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
     WHERE n.nspname = '_migcheck_ddl')), \
  (SELECT pg_catalog.array_agg(kind) FROM drained), (SELECT pg_catalog.array_agg(classid) FROM drained), \
  (SELECT pg_catalog.array_agg(objid) FROM drained), (SELECT pg_catalog.array_agg(tag) FROM drained), \
  (SELECT pg_catalog.array_agg(in_extension) FROM drained)";

/// A tracked snapshot's transaction settings, set in the round trip of its `BEGIN` (see
/// `postgres::begin`): the log is consumed in a throwaway database (its commit need not wait
/// for the disk), and how the queries are planned (see `set_full_plans`).
const SETTINGS: &str = ", pg_catalog.set_config('synchronous_commit', 'off', true), \
pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true), \
pg_catalog.set_config('enable_hashjoin', 'off', true), \
pg_catalog.set_config('enable_mergejoin', 'off', true), \
pg_catalog.set_config('enable_seqscan', 'off', true)";

/// At most this many objects are followed through `pg_depend`: past it, a full read.
const MAX_DEPENDENTS: i64 = 50_000;

/// The objects ($1 classids, $2 objids) and everything that depends on them through
/// `pg_depend`, recursively (at most `MAX_DEPENDENTS` + 1 of them: the walk stops there), mapped
/// to the owners of snapshot entries (`classid`, `oid`), and a last row (-1, how many objects
/// the walk found). One round trip; it used to be one per level of `pg_depend`. Going up from a sub-object to its owner uses the catalogs' own columns (an index's
/// table, a constraint's table or domain, a composite type's class) and `i`/`a` dependencies on
/// relations and types (an identity or owned sequence's table, an array's element type).
const OWNERS: &str = "\
WITH RECURSIVE walk(classid, objid) AS ( \
    SELECT s.c, s.o FROM unnest($1::oid[], $2::oid[]) AS s(c, o) \
  UNION \
    SELECT d.classid, d.objid FROM walk \
    JOIN pg_catalog.pg_depend d ON d.refclassid = walk.classid AND d.refobjid = walk.objid \
), dep AS MATERIALIZED (SELECT classid, objid FROM walk LIMIT 50001), owners(cls, oid) AS ( \
  SELECT 1259::oid, CASE WHEN c.relkind IN ('i', 'I') THEN x.indrelid WHEN c.relkind = 'c' THEN 0::oid ELSE c.oid END \
    FROM dep JOIN pg_catalog.pg_class c ON dep.classid = 1259 AND c.oid = dep.objid \
    LEFT JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid \
  UNION ALL \
  SELECT 1247::oid, c.reltype FROM dep JOIN pg_catalog.pg_class c ON dep.classid = 1259 AND c.oid = dep.objid \
    WHERE c.relkind = 'c' \
  UNION ALL \
  SELECT CASE WHEN t.typrelid <> 0 AND r.relkind <> 'c' THEN 1259::oid ELSE 1247::oid END, \
         CASE WHEN t.typrelid <> 0 AND r.relkind <> 'c' THEN t.typrelid ELSE t.oid END \
    FROM dep JOIN pg_catalog.pg_type t ON dep.classid = 1247 AND t.oid = dep.objid \
    LEFT JOIN pg_catalog.pg_class r ON r.oid = t.typrelid \
  UNION ALL \
  SELECT d.refclassid, d.refobjid FROM dep JOIN pg_catalog.pg_depend d \
    ON d.classid = dep.classid AND d.objid = dep.objid AND d.deptype IN ('i', 'a') AND d.refclassid IN (1259, 1247) \
  UNION ALL \
  SELECT dep.classid, dep.objid FROM dep WHERE dep.classid IN (1255, 2615, 3079) \
  UNION ALL \
  SELECT CASE WHEN k.conrelid <> 0 THEN 1259::oid ELSE 1247::oid END, \
         CASE WHEN k.conrelid <> 0 THEN k.conrelid ELSE k.contypid END \
    FROM dep JOIN pg_catalog.pg_constraint k ON dep.classid = 2606 AND k.oid = dep.objid \
  UNION ALL \
  SELECT 1259::oid, g.tgrelid FROM dep JOIN pg_catalog.pg_trigger g ON dep.classid = 2620 AND g.oid = dep.objid \
  UNION ALL \
  SELECT 1259::oid, p.polrelid FROM dep JOIN pg_catalog.pg_policy p ON dep.classid = 3256 AND p.oid = dep.objid \
  UNION ALL \
  SELECT 1259::oid, a.adrelid FROM dep JOIN pg_catalog.pg_attrdef a ON dep.classid = 2604 AND a.oid = dep.objid \
  UNION ALL \
  SELECT 1259::oid, w.ev_class FROM dep JOIN pg_catalog.pg_rewrite w ON dep.classid = 2618 AND w.oid = dep.objid \
) \
SELECT DISTINCT cls::int8, oid::int8 FROM owners WHERE oid <> 0 \
UNION ALL \
SELECT -1::int8, count(*)::int8 FROM dep";

/// The snapshot state of one throwaway database.
pub struct Tracker {
    state: Option<State>,
    /// Off after the log could not be read: full snapshots from then on.
    enabled: bool,
    /// A step failed since the last snapshot: the next one is full.
    dirty: bool,
    check: bool,
}

#[derive(Clone)]
struct State {
    snapshot: Snapshot,
    fingerprint: String,
    /// Owner key -> the paths of its entries.
    owner_paths: HashMap<u64, Vec<String>>,
    /// Key -> the owners whose entries recorded it.
    key_owners: HashMap<u64, BTreeSet<u64>>,
    /// Owner key -> the keys its entries recorded (to unlink them when it is re-read).
    owner_keys: HashMap<u64, Vec<u64>>,
}

impl State {
    fn new(fingerprint: String) -> State {
        State {
            snapshot: Snapshot::default(),
            fingerprint,
            owner_paths: HashMap::new(),
            key_owners: HashMap::new(),
            owner_keys: HashMap::new(),
        }
    }

    /// Add entries; `false` when a path is already taken (a full snapshot would have given it a
    /// ` (2)` suffix that depends on the order of the reads: such a schema is read in full).
    fn add(&mut self, entries: Vec<Entry>) -> bool {
        for e in entries {
            if self.snapshot.objects.contains_key(&e.path) {
                return false;
            }
            self.owner_paths
                .entry(e.owner)
                .or_default()
                .push(e.path.clone());
            for k in e.keys {
                self.key_owners.entry(k).or_default().insert(e.owner);
                self.owner_keys.entry(e.owner).or_default().push(k);
            }
            self.snapshot.objects.insert(
                e.path,
                SchemaObject {
                    properties: e.properties,
                    cosmetic: e.cosmetic,
                }
                .into(),
            );
        }
        true
    }

    fn remove_owner(&mut self, owner: u64) {
        if let Some(paths) = self.owner_paths.remove(&owner) {
            for p in paths {
                self.snapshot.objects.remove(&p);
            }
        }
        if let Some(keys) = self.owner_keys.remove(&owner) {
            for k in keys {
                if let Some(set) = self.key_owners.get_mut(&k) {
                    set.remove(&owner);
                    if set.is_empty() {
                        self.key_owners.remove(&k);
                    }
                }
            }
        }
    }
}

struct Event {
    drop: bool,
    classid: Option<u32>,
    objid: Option<u32>,
    tag: String,
    in_extension: bool,
}

impl Tracker {
    /// Install the log in the database `conn` is connected to. `None` (full snapshots only)
    /// when switched off, before PostgreSQL 12 (`plan_cache_mode`), when the role is not a
    /// superuser (a sandbox role on a server you name) or when the setup fails.
    pub async fn install(conn: &mut sqlx::PgConnection) -> Option<Tracker> {
        if !tracking::incremental_enabled() {
            return None;
        }
        let able: std::result::Result<bool, sqlx::Error> = sqlx::query_scalar(
            "SELECT pg_catalog.current_setting('server_version_num')::int >= 120000 \
             AND (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)",
        )
        .fetch_one(&mut *conn)
        .await;
        match able {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::warn!("incremental snapshots are off: {e}");
                return None;
            }
        }
        let installed: std::result::Result<(), sqlx::Error> = async {
            // A copy of a tracked database (`CREATE DATABASE … TEMPLATE`) has the log already.
            let present: bool = sqlx::query_scalar(
                "SELECT pg_catalog.to_regnamespace('_migcheck_ddl') IS NOT NULL",
            )
            .fetch_one(&mut *conn)
            .await?;
            if present {
                return Ok(());
            }
            let mut tx = conn.begin().await?;
            for sql in INSTALL {
                sqlx::query(*sql).execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await;
        match installed {
            Ok(()) => Some(Tracker {
                state: None,
                enabled: true,
                dirty: false,
                check: tracking::check_enabled(),
            }),
            Err(e) => {
                tracing::warn!("incremental snapshots are off: cannot set up the DDL log: {e}");
                None
            }
        }
    }

    /// See `snapshot::Tracker::fork`. A state that does not fit the copy (its fingerprint
    /// differs) makes the copy's first snapshot a full one.
    pub fn fork(&self) -> Tracker {
        Tracker {
            state: if self.dirty { None } else { self.state.clone() },
            enabled: self.enabled,
            dirty: false,
            check: self.check,
        }
    }

    /// A step failed: its log may be incomplete (rolled back with it); the next snapshot is full.
    pub fn invalidate(&mut self) {
        self.dirty = true;
    }

    /// Drop the schema the next snapshot would build on: the next one is full.
    pub fn release(&mut self) {
        self.state = None;
    }

    pub async fn take(&mut self, conn: &mut sqlx::PgConnection) -> Result<Snapshot> {
        if !self.enabled {
            tracking::count_full();
            return postgres::take(conn).await;
        }
        match self.take_tracked(conn).await {
            Ok((snapshot, incremental)) => {
                if !incremental {
                    tracking::count_full();
                    return Ok(snapshot);
                }
                tracking::count_incremental();
                if self.check {
                    tracking::check(&snapshot, &postgres::take(conn).await?, "")?;
                }
                Ok(snapshot)
            }
            Err(e) => {
                tracing::warn!("incremental snapshots are off for this database: {e}");
                self.enabled = false;
                self.state = None;
                tracking::count_full();
                postgres::take(conn).await
            }
        }
    }

    /// The snapshot and whether it was incremental. On an error the caller reads in full.
    async fn take_tracked(&mut self, conn: &mut sqlx::PgConnection) -> Result<(Snapshot, bool)> {
        let previous = self.state.take();
        let dirty = std::mem::replace(&mut self.dirty, false);
        let mut tx = postgres::begin(conn, SETTINGS).await?;
        let (fingerprint, events) = fingerprint_and_drain(&mut tx).await?;

        let mut plan = None;
        if let Some(state) = previous {
            if !dirty && state.fingerprint == fingerprint {
                if let Some(owners) = affected(&mut tx, &state, &events).await? {
                    plan = Some((state, owners));
                }
            }
        }
        let (snapshot, state, incremental) = match plan {
            Some((mut state, owners)) => {
                let mut by_class: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
                for o in &owners {
                    state.remove_owner(*o);
                    by_class
                        .entry((o >> 32) as u32)
                        .or_default()
                        .push(*o as u32);
                }
                let entries = if by_class.is_empty() {
                    Vec::new()
                } else {
                    postgres::read_owners(&mut tx, &by_class).await?
                };
                if state.add(entries) {
                    (state.snapshot.clone(), Some(state), true)
                } else {
                    let (s, st) = read_full(&mut tx, fingerprint).await?;
                    (s, st, false)
                }
            }
            None => {
                let (s, st) = read_full(&mut tx, fingerprint).await?;
                (s, st, false)
            }
        };
        tx.commit().await.map_err(|e| failed("commit", e))?;
        self.state = state;
        Ok((snapshot, incremental))
    }
}

/// The fingerprint (see `FINGERPRINT_AND_DRAIN`) and the drained log.
async fn fingerprint_and_drain(tx: &mut sqlx::PgConnection) -> Result<(String, Vec<Event>)> {
    let row = sqlx::query(FINGERPRINT_AND_DRAIN)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| failed("DDL log", e))?;
    let fingerprint: String = row.try_get(0).map_err(|e| failed("fingerprint", e))?;
    let triggers: i64 = row.try_get(1).map_err(|e| failed("fingerprint", e))?;
    if triggers != 2 {
        return Err(Error::environment(
            "migcheck's event triggers are missing or disabled".to_string(),
            None,
        ));
    }
    let log = |e| failed("DDL log", e);
    let kinds: Option<Vec<String>> = row.try_get(2).map_err(log)?;
    let classids: Option<Vec<Option<i64>>> = row.try_get(3).map_err(log)?;
    let objids: Option<Vec<Option<i64>>> = row.try_get(4).map_err(log)?;
    let tags: Option<Vec<String>> = row.try_get(5).map_err(log)?;
    let in_extension: Option<Vec<Option<bool>>> = row.try_get(6).map_err(log)?;
    let kinds = kinds.unwrap_or_default();
    let (classids, objids) = (classids.unwrap_or_default(), objids.unwrap_or_default());
    let (tags, in_extension) = (tags.unwrap_or_default(), in_extension.unwrap_or_default());
    let n = kinds.len();
    if [classids.len(), objids.len(), tags.len(), in_extension.len()] != [n; 4] {
        return Err(Error::environment(
            "reading the schema (DDL log): its columns differ in length".to_string(),
            None,
        ));
    }
    let events = kinds
        .into_iter()
        .zip(classids)
        .zip(objids)
        .zip(tags)
        .zip(in_extension)
        .map(|((((kind, classid), objid), tag), in_extension)| Event {
            drop: kind == "d",
            classid: classid.map(|c| c as u32),
            objid: objid.map(|o| o as u32),
            tag,
            in_extension: in_extension.unwrap_or(false),
        })
        .collect();
    Ok((fingerprint, events))
}

/// How queries are planned. When a snapshot's transaction begins: the log, dependency and
/// restricted reads are planned once per connection and the plans reused
/// (`force_generic_plan`: planning them costs more than running them), as lookups by index. A
/// plan made once is made for the catalogs as they were then: in the first incremental
/// snapshot of a database, when they hold a few hundred rows, a hash join over `pg_depend` or
/// a scan of `pg_class` looks cheaper than a few index lookups, and that plan then ran for
/// every later snapshot (at 400 tables 1-2 ms a query, where the lookups take 0.05 ms). Hash
/// and merge joins and sequential scans are therefore off while they are planned (the planner
/// still scans where no index serves). A full read (`set_full_plans`) plans each query for
/// reading everything, with every plan type.
async fn set_full_plans(tx: &mut sqlx::PgConnection) -> Result<()> {
    sqlx::query(
        "SELECT pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true), \
         pg_catalog.set_config('enable_hashjoin', 'on', true), \
         pg_catalog.set_config('enable_mergejoin', 'on', true), \
         pg_catalog.set_config('enable_seqscan', 'on', true)",
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| failed("plan_cache_mode", e))?;
    Ok(())
}

/// Every entry, and the state to continue from (none when two entries share a path).
async fn read_full(
    tx: &mut sqlx::PgConnection,
    fingerprint: String,
) -> Result<(Snapshot, Option<State>)> {
    set_full_plans(tx).await?;
    let entries = postgres::read_entries(tx).await?;
    let mut seen = HashSet::new();
    if entries.iter().all(|e| seen.insert(e.path.as_str())) {
        let mut state = State::new(fingerprint);
        state.add(entries);
        return Ok((state.snapshot.clone(), Some(state)));
    }
    let mut snapshot = Snapshot::default();
    for e in entries {
        snapshot.insert(e.path, e.properties, e.cosmetic);
    }
    Ok((snapshot, None))
}

/// The owners whose entries the logged `events` may have changed, or `None` when the log
/// cannot tell (a full snapshot is taken).
async fn affected(
    tx: &mut sqlx::PgConnection,
    state: &State,
    events: &[Event],
) -> Result<Option<BTreeSet<u64>>> {
    let mut owners = BTreeSet::new();
    let mut seed_classes = Vec::new();
    let mut seed_objects = Vec::new();
    for ev in events {
        let (Some(classid), Some(objid)) = (ev.classid, ev.objid) else {
            // Commands logged without an object: drops list their objects through `sql_drop`,
            // default privileges change no existing object; anything else (GRANT, REVOKE, ...)
            // cannot be narrowed down.
            if ev.drop || ev.tag.starts_with("DROP ") || ev.tag == "ALTER DEFAULT PRIVILEGES" {
                continue;
            }
            return Ok(None);
        };
        if ev.in_extension || classid == PG_EXTENSION || ev.tag.contains("EXTENSION") {
            return Ok(None);
        }
        let k = key(classid, objid);
        if state.owner_paths.contains_key(&k) {
            owners.insert(k);
        }
        if let Some(set) = state.key_owners.get(&k) {
            owners.extend(set.iter().copied());
        }
        if !ev.drop {
            seed_classes.push(sqlx::postgres::types::Oid(classid));
            seed_objects.push(sqlx::postgres::types::Oid(objid));
        }
    }
    if !seed_classes.is_empty() {
        let rows = sqlx::query(OWNERS)
            .bind(&seed_classes)
            .bind(&seed_objects)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| failed("dependencies", e))?;
        for row in rows {
            let class: i64 = row.try_get(0).map_err(|e| failed("dependencies", e))?;
            let oid: i64 = row.try_get(1).map_err(|e| failed("dependencies", e))?;
            if class == -1 {
                if oid > MAX_DEPENDENTS {
                    return Ok(None);
                }
                continue;
            }
            owners.insert(key(class as u32, oid as u32));
        }
    }
    if owners.len() > 64.max(state.owner_paths.len() / 4) {
        return Ok(None);
    }
    Ok(Some(owners))
}
