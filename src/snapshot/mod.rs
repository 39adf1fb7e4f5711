//! Stage: read a canonical, deterministic model of the schema from the catalogs.
//!
//! A snapshot is a sorted map from object paths to their properties. Paths name the object and
//! nest children under their table: `table public.users`, `table public.users > column email`,
//! `table public.users > index users_email_idx`, `function public.touch()`, `type public.mood`.
//! Two equal schemas serialise byte-identical (BTreeMaps, no positions or OIDs in the values).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::Result;
use crate::provision::Conn;

mod my_incremental;
mod mysql;
mod pg_incremental;
mod postgres;
mod tracking;

pub use my_incremental::{touched as mysql_touched, Touched};
pub use pg_incremental::SCHEMA as PRIVATE_SCHEMA;
pub use tracking::{check_enabled, counts as incremental_counts};

/// Tables that migration tools keep for their own bookkeeping; never part of the schema model.
pub const BOOKKEEPING_TABLES: &[&str] = &[
    "schema_migrations",
    "_sqlx_migrations",
    "goose_db_version",
    "flyway_schema_history",
    "__diesel_schema_migrations",
    "schema_migration",
    "alembic_version",
    "knex_migrations",
    "knex_migrations_lock",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Objects are shared between snapshots (`Arc`): a copy of a snapshot, and the next
    /// snapshot of a step that changed one table, hold the unchanged objects once. Comparing
    /// two shared objects is a pointer comparison.
    #[serde(with = "shared_objects")]
    pub objects: BTreeMap<String, Arc<SchemaObject>>,
}

/// Serde for the shared objects, in the same form as plain ones (serde's `rc` feature would
/// do it too, at the price of rebuilding every crate that depends on serde).
mod shared_objects {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::SchemaObject;

    pub fn serialize<S: Serializer>(
        objects: &BTreeMap<String, Arc<SchemaObject>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(objects.iter().map(|(path, object)| (path, &**object)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Arc<SchemaObject>>, D::Error> {
        let plain = BTreeMap::<String, SchemaObject>::deserialize(deserializer)?;
        Ok(plain.into_iter().map(|(p, o)| (p, Arc::new(o))).collect())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchemaObject {
    /// Properties that change behaviour: any difference fails a comparison.
    pub properties: BTreeMap<String, String>,
    /// Properties that do not change behaviour (a column's ordinal position, ...):
    /// how their differences count is the comparison policy's choice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cosmetic: BTreeMap<String, String>,
}

/// Read the schema of the database `conn` is connected to.
pub async fn take(conn: &mut Conn) -> Result<Snapshot> {
    match conn {
        Conn::Postgres(c) => postgres::take(c).await,
        Conn::Mysql(c) => mysql::take(c).await,
    }
}

/// Snapshots of one throwaway database that cost what each step changed: PostgreSQL reads
/// the DDL log of its event triggers (`pg_incremental`), MySQL/MariaDB what the steps' own
/// statements name (`my_incremental`). Take every snapshot of that database through it, tell
/// it what each step that applied can have changed (`note`), and call `invalidate` after a
/// step that failed.
pub struct Tracker(Tracking);

enum Tracking {
    Postgres(pg_incremental::Tracker),
    Mysql(my_incremental::Tracker),
}

impl Tracker {
    /// Set up tracking in the database `conn` is connected to (it must be a throwaway
    /// database: on PostgreSQL this creates a schema and event triggers in it, which a
    /// `sandboxed` database's role cannot). `None`: full snapshots only.
    pub async fn install(conn: &mut Conn, sandboxed: bool) -> Option<Tracker> {
        match conn {
            Conn::Postgres(_) if sandboxed => None,
            Conn::Postgres(c) => pg_incremental::Tracker::install(c)
                .await
                .map(|t| Tracker(Tracking::Postgres(t))),
            Conn::Mysql(_) => Some(Tracker(Tracking::Mysql(my_incremental::Tracker::new()))),
        }
    }

    /// The tracker of a copy of this tracker's database made right after a snapshot (the copy
    /// holds the same objects and DDL log).
    pub fn fork(&self) -> Tracker {
        Tracker(match &self.0 {
            Tracking::Postgres(t) => Tracking::Postgres(t.fork()),
            Tracking::Mysql(t) => Tracking::Mysql(t.clone()),
        })
    }

    /// A snapshot byte-identical to `take`'s.
    pub async fn take(&mut self, conn: &mut Conn) -> Result<Snapshot> {
        match (&mut self.0, conn) {
            (Tracking::Postgres(t), Conn::Postgres(c)) => t.take(c).await,
            (Tracking::Mysql(t), Conn::Mysql(c)) => t.take(c).await,
            (_, conn) => take(conn).await,
        }
    }

    /// A step applied. `touched`: what its runner knows it can have changed (MySQL/MariaDB
    /// read it; `None`, not known, makes their next snapshot a full one). PostgreSQL's DDL log
    /// sees for itself.
    pub fn note(&mut self, touched: Option<&Touched>) {
        if let Tracking::Mysql(t) = &mut self.0 {
            t.note(touched);
        }
    }

    /// Statements the steps do not account for ran on the applying connection (its set-up
    /// after a reconnect): a tracker that learns from the steps reads in full next.
    pub fn unseen_statements(&mut self) {
        if let Tracking::Mysql(t) = &mut self.0 {
            t.invalidate();
        }
    }

    /// The last step failed: the next snapshot is a full one.
    pub fn invalidate(&mut self) {
        match &mut self.0 {
            Tracking::Postgres(t) => t.invalidate(),
            Tracking::Mysql(t) => t.invalidate(),
        }
    }

    /// Free the tracker's copy of the schema until the next snapshot (a full one), for a
    /// while when none is taken.
    pub fn release(&mut self) {
        match &mut self.0 {
            Tracking::Postgres(t) => t.release(),
            Tracking::Mysql(t) => t.release(),
        }
    }
}

impl Snapshot {
    /// The canonical text rendering used for diffs: one header line per object, then
    /// `  key: value` lines (multi-line values indented). Cosmetic properties are included
    /// only when `with_cosmetic` is set.
    pub fn render(&self, with_cosmetic: bool) -> String {
        self.render_replacing(with_cosmetic, |_| None)
    }

    /// `render`, with the objects for which `replaced` gives another shown as that one (a
    /// changed copy of a few objects, without a copy of the whole snapshot).
    pub fn render_replacing(
        &self,
        with_cosmetic: bool,
        replaced: impl Fn(&str) -> Option<SchemaObject>,
    ) -> String {
        let mut out = String::new();
        for (path, obj) in &self.objects {
            let replacement = replaced(path);
            let obj = replacement.as_ref().unwrap_or(&**obj);
            out.push_str(path);
            out.push('\n');
            render_props(&mut out, &obj.properties, "");
            if with_cosmetic {
                render_props(&mut out, &obj.cosmetic, "~");
            }
        }
        out
    }
}

impl Snapshot {
    /// Add an object; a path that is already taken (which the catalogs should never produce)
    /// gets a ` (2)`, ` (3)`, ... suffix so nothing is silently merged.
    fn insert(
        &mut self,
        path: String,
        properties: BTreeMap<String, String>,
        cosmetic: BTreeMap<String, String>,
    ) {
        let obj = SchemaObject {
            properties,
            cosmetic,
        };
        let mut candidate = path.clone();
        let mut n = 2usize;
        loop {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.objects.entry(candidate)
            {
                slot.insert(Arc::new(obj));
                return;
            }
            candidate = format!("{path} ({n})");
            n += 1;
        }
    }
}

/// Parse a JSON object of properties (as the Postgres queries produce them) into a map of
/// strings; `null` values are dropped, other non-string values are kept in their JSON form.
fn json_props(text: Option<&str>) -> std::result::Result<BTreeMap<String, String>, String> {
    let Some(text) = text else {
        return Ok(BTreeMap::new());
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("malformed property object: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err(format!("expected a property object, got {text}"));
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect())
}

fn render_props(out: &mut String, props: &BTreeMap<String, String>, marker: &str) {
    for (k, v) in props {
        let mut lines = v.lines();
        let first = lines.next().unwrap_or("");
        out.push_str(&format!("  {marker}{k}: {first}\n"));
        for l in lines {
            out.push_str(&format!("  {marker}{:width$}  {l}\n", "", width = k.len()));
        }
    }
}
