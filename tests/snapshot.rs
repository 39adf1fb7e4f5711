//! Snapshots and comparisons against real servers started by migcheck's local provider.
//!
//! One server per engine (starting servers is the slow part); every scenario runs in its own
//! throwaway database. The server is shut down at the end even when a scenario panics.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use migcheck::compare::{compare, ChangeKind, Comparison, CosmeticPolicy, ObjectChange};
use migcheck::engine::Engine;
use migcheck::provision::{provision, Conn, Database, ProviderKind, ProvisionOptions, Server};
use migcheck::snapshot::{self, Snapshot};

/// Throwaway databases on one server; all of them are dropped by `drop_all`.
struct Dbs {
    server: Arc<dyn Server>,
    created: Vec<Database>,
}

impl Dbs {
    async fn fresh(&mut self) -> Conn {
        let db = Database::create(&*self.server, false)
            .await
            .unwrap_or_else(|e| panic!("creating a database: {e}"));
        let conn = db
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", db.name));
        self.created.push(db);
        conn
    }

    async fn drop_all(&mut self) {
        for db in self.created.drain(..) {
            let name = db.name.clone();
            if let Err(e) = db.drop_database(&*self.server).await {
                eprintln!("dropping {name}: {e}");
            }
        }
    }
}

/// Start a local `engine` server, run `body` on it, then drop its databases and shut it down,
/// re-raising a panic from `body` afterwards.
async fn with_server<F, Fut>(engine: Engine, body: F)
where
    F: FnOnce(Dbs) -> Fut,
    Fut: Future<Output = Dbs> + Send + 'static,
{
    let options = ProvisionOptions {
        engine_version: None,
        image: None,
        keep: false,
        engine,
        provider: ProviderKind::Local,
        url: None,
        bin_dir: None,
        startup_timeout: Duration::from_secs(120),
    };
    let server: Arc<dyn Server> = match provision(&options).await {
        Ok(s) => Arc::from(s),
        Err(e) => panic!("cannot start a local {engine} server: {e}"),
    };
    eprintln!("{}", server.describe());
    let dbs = Dbs {
        server: server.clone(),
        created: Vec::new(),
    };
    let outcome = tokio::spawn(body(dbs)).await;
    let outcome = match outcome {
        Ok(mut dbs) => {
            dbs.drop_all().await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    if let Err(e) = server.shutdown().await {
        eprintln!("shutting down the {engine} server: {e}");
    }
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(e) => panic!("scenario task failed: {e}"),
        }
    }
}

async fn exec(conn: &mut Conn, statements: &[&str]) {
    for s in statements {
        if let Err(e) = conn.execute(s).await {
            panic!("{s}\n  failed: {e}");
        }
    }
}

async fn snap(conn: &mut Conn) -> Snapshot {
    snapshot::take(conn)
        .await
        .unwrap_or_else(|e| panic!("snapshot: {e}"))
}

/// `MIGCHECK_TEST_DUMP=1` prints a snapshot's rendering, for eyeballing.
fn dump(s: &Snapshot) {
    if std::env::var_os("MIGCHECK_TEST_DUMP").is_some() {
        eprintln!("{}", s.render(true));
    }
}

fn json(s: &Snapshot) -> String {
    serde_json::to_string(s).unwrap_or_else(|e| panic!("serialising a snapshot: {e}"))
}

fn explain(c: &Comparison) -> String {
    format!(
        "changes: {:#?}\nnotes: {:#?}\n{}",
        c.changes, c.notes, c.diff
    )
}

fn assert_same(a: &Snapshot, b: &Snapshot, what: &str) {
    let c = compare(a, b, CosmeticPolicy::Fail, "first", "second");
    assert!(c.is_equal(), "{what}: snapshots differ\n{}", explain(&c));
    assert_eq!(json(a), json(b), "{what}: JSON differs");
}

fn assert_has(s: &Snapshot, paths: &[&str]) {
    for p in paths {
        assert!(
            s.objects.contains_key(*p),
            "missing {p}; have:\n{}",
            s.objects.keys().cloned().collect::<Vec<_>>().join("\n")
        );
    }
}

fn assert_no_bookkeeping(s: &Snapshot) {
    for path in s.objects.keys() {
        for b in migcheck::snapshot::BOOKKEEPING_TABLES {
            assert!(!path.contains(b), "bookkeeping object in snapshot: {path}");
        }
    }
}

/// A change a migration could make, and how to undo it.
struct Alteration {
    up: &'static [&'static str],
    /// Empty when the change cannot be undone; the altered state becomes the new baseline.
    down: &'static [&'static str],
    /// The object that must be reported, and how; `None`: nothing may be reported.
    expect: Option<(&'static str, ChangeKind)>,
}

async fn check_alterations(conn: &mut Conn, alterations: &[Alteration]) {
    let mut base = snap(conn).await;
    for a in alterations {
        exec(conn, a.up).await;
        let after = snap(conn).await;
        let c = compare(&base, &after, CosmeticPolicy::Note, "before", "after");
        match a.expect {
            Some((object, change)) => {
                let wanted = ObjectChange {
                    object: object.to_string(),
                    change,
                };
                assert!(
                    c.changes.contains(&wanted),
                    "{:?}: expected {object} {change:?}\n{}",
                    a.up,
                    explain(&c)
                );
                assert!(
                    c.diff.contains(object),
                    "{:?}: diff does not name {object}\n{}",
                    a.up,
                    c.diff
                );
            }
            None => assert!(
                c.is_equal(),
                "{:?}: unexpected change\n{}",
                a.up,
                explain(&c)
            ),
        }
        if a.down.is_empty() {
            base = after;
            continue;
        }
        exec(conn, a.down).await;
        let restored = snap(conn).await;
        let c = compare(&base, &restored, CosmeticPolicy::Note, "before", "restored");
        assert!(
            c.is_equal() && c.notes.is_empty(),
            "{:?} then {:?} did not restore the schema\n{}",
            a.up,
            a.down,
            explain(&c)
        );
        base = restored;
    }
}

/// Drop a column from the middle of `table` and add it back: only positions move.
async fn check_readded_column(conn: &mut Conn, drop: &str, add: &str, column_path: &str) {
    let before = snap(conn).await;
    exec(conn, &[drop, add]).await;
    let after = snap(conn).await;

    let note = compare(&before, &after, CosmeticPolicy::Note, "before", "after");
    assert!(note.is_equal(), "{}", explain(&note));
    assert!(note.diff.is_empty());
    assert!(
        note.notes
            .iter()
            .any(|n| n.starts_with(&format!("{column_path}: position "))),
        "{}",
        explain(&note)
    );

    let ignore = compare(&before, &after, CosmeticPolicy::Ignore, "before", "after");
    assert!(ignore.is_equal() && ignore.notes.is_empty());

    let fail = compare(&before, &after, CosmeticPolicy::Fail, "before", "after");
    assert!(
        fail.changes.contains(&ObjectChange {
            object: column_path.to_string(),
            change: ChangeKind::Changed
        }),
        "{}",
        explain(&fail)
    );
    assert!(fail.diff.contains("~position"), "{}", fail.diff);
}

/// Time `snapshot::take` (best of three) on a database holding `tables` tables.
async fn measure(engine: Engine, conn: &mut Conn, schema: &[String], tables: usize) {
    for s in schema {
        exec(conn, &[s.as_str()]).await;
    }
    let mut best = Duration::MAX;
    let mut objects = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let s = snap(conn).await;
        best = best.min(t.elapsed());
        objects = s.objects.len();
    }
    eprintln!(
        "[measure] {engine}: snapshot of {tables} tables ({objects} objects) took {:.1} ms (best of 3)",
        best.as_secs_f64() * 1000.0
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

/// The rich schema, creation order A.
const PG_RICH_A: &[&str] = &[
    "CREATE EXTENSION citext",
    "CREATE EXTENSION pgcrypto",
    "CREATE SCHEMA app",
    "COMMENT ON SCHEMA app IS 'application'",
    "CREATE TYPE app.mood AS ENUM ('happy', 'sad')",
    "CREATE TYPE app.address AS (street text, zip varchar(10))",
    "CREATE TYPE app.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi)",
    "CREATE DOMAIN app.posint AS integer DEFAULT 1 CONSTRAINT posint_positive CHECK (VALUE > 0)",
    "CREATE SEQUENCE app.invoice_no START 1000 INCREMENT 10 CACHE 5",
    "CREATE TABLE app.users (
        id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100) PRIMARY KEY,
        email public.citext UNIQUE,
        name text COLLATE \"C\" NOT NULL,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
        mood app.mood,
        home app.address,
        rank app.posint,
        name_len integer GENERATED ALWAYS AS (length(name)) STORED,
        created_at timestamptz NOT NULL DEFAULT now()
    )",
    "COMMENT ON TABLE app.users IS 'people'",
    "COMMENT ON COLUMN app.users.email IS 'login'",
    "CREATE INDEX users_name_idx ON app.users (lower(name)) WHERE status = 'active'",
    "CREATE TABLE app.orders (
        id serial PRIMARY KEY,
        user_id bigint NOT NULL,
        total numeric(12,2) NOT NULL DEFAULT 0,
        invoice integer DEFAULT nextval('app.invoice_no'),
        period int4range,
        CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES app.users (id)
            ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
    )",
    "ALTER TABLE app.orders ADD CONSTRAINT orders_total_check CHECK (total >= 0) NOT VALID",
    "CREATE INDEX orders_user_idx ON app.orders USING btree (user_id, total DESC) INCLUDE (invoice)",
    "CREATE TABLE app.events (id bigint, at timestamptz NOT NULL, payload jsonb) PARTITION BY RANGE (at)",
    "CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    "CREATE UNLOGGED TABLE public.cache (k text PRIMARY KEY, v bytea) WITH (fillfactor = 70)",
    "CREATE TABLE app.rooms (id int PRIMARY KEY, during tsrange, EXCLUDE USING gist (during WITH &&))",
    "ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY orders_owner ON app.orders FOR SELECT USING (user_id > 0)",
    "CREATE POLICY orders_limit ON app.orders AS RESTRICTIVE FOR INSERT WITH CHECK (total < 1000000)",
    "CREATE VIEW app.active_users AS SELECT id, email FROM app.users WHERE status = 'active'",
    "CREATE MATERIALIZED VIEW app.order_totals AS SELECT user_id, sum(total) AS total FROM app.orders GROUP BY user_id",
    "CREATE UNIQUE INDEX order_totals_user_idx ON app.order_totals (user_id)",
    "CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.total := round(NEW.total, 2);
  RETURN NEW;
END
$$",
    "COMMENT ON FUNCTION app.touch() IS 'rounds totals'",
    "CREATE FUNCTION app.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE STRICT AS 'SELECT a + b'",
    "CREATE FUNCTION app.add(a numeric, b numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT a + b'",
    "CREATE PROCEDURE app.forget(u bigint) LANGUAGE sql AS $$ DELETE FROM app.orders WHERE user_id = u $$",
    "CREATE AGGREGATE app.total_sum(numeric) (sfunc = numeric_add, stype = numeric, initcond = '0')",
    "CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch()",
    "GRANT SELECT ON app.users TO PUBLIC",
    // Bookkeeping: never part of the model.
    "CREATE TABLE public.schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)",
    "CREATE TABLE app._sqlx_migrations (version serial PRIMARY KEY, description text)",
    "CREATE INDEX ON app._sqlx_migrations (description)",
];

/// The same schema as `PG_RICH_A`, created in another order (constraints and indexes added
/// later, functions first, ...).
const PG_RICH_B: &[&str] = &[
    "CREATE SCHEMA app",
    "CREATE TABLE app._sqlx_migrations (version serial PRIMARY KEY, description text)",
    "CREATE EXTENSION pgcrypto",
    "CREATE TYPE app.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi)",
    "CREATE FUNCTION app.add(a numeric, b numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT a + b'",
    "CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.total := round(NEW.total, 2);
  RETURN NEW;
END
$$",
    "CREATE TABLE app.rooms (id int PRIMARY KEY, during tsrange, EXCLUDE USING gist (during WITH &&))",
    "CREATE UNLOGGED TABLE public.cache (k text PRIMARY KEY, v bytea) WITH (fillfactor = 70)",
    "CREATE EXTENSION citext",
    "CREATE TYPE app.address AS (street text, zip varchar(10))",
    "CREATE TYPE app.mood AS ENUM ('happy', 'sad')",
    "CREATE DOMAIN app.posint AS integer DEFAULT 1 CONSTRAINT posint_positive CHECK (VALUE > 0)",
    "CREATE TABLE app.events (id bigint, at timestamptz NOT NULL, payload jsonb) PARTITION BY RANGE (at)",
    "CREATE TABLE app.users (
        id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100),
        email public.citext,
        name text COLLATE \"C\" NOT NULL,
        status text NOT NULL DEFAULT 'active',
        mood app.mood,
        home app.address,
        rank app.posint,
        name_len integer GENERATED ALWAYS AS (length(name)) STORED,
        created_at timestamptz NOT NULL DEFAULT now()
    )",
    "CREATE TABLE app.orders (
        id serial,
        user_id bigint NOT NULL,
        total numeric(12,2) NOT NULL DEFAULT 0,
        invoice integer,
        period int4range
    )",
    "CREATE SEQUENCE app.invoice_no START 1000 INCREMENT 10 CACHE 5",
    "ALTER TABLE app.orders ALTER COLUMN invoice SET DEFAULT nextval('app.invoice_no')",
    "CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch()",
    "CREATE POLICY orders_limit ON app.orders AS RESTRICTIVE FOR INSERT WITH CHECK (total < 1000000)",
    "ALTER TABLE app.orders ADD CONSTRAINT orders_total_check CHECK (total >= 0) NOT VALID",
    "ALTER TABLE app.users ADD PRIMARY KEY (id)",
    "ALTER TABLE app.orders ADD PRIMARY KEY (id)",
    "ALTER TABLE app.users ADD CHECK (status IN ('active', 'blocked'))",
    "ALTER TABLE app.users ADD UNIQUE (email)",
    "CREATE INDEX orders_user_idx ON app.orders USING btree (user_id, total DESC) INCLUDE (invoice)",
    "ALTER TABLE app.orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES app.users (id)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED",
    "CREATE POLICY orders_owner ON app.orders FOR SELECT USING (user_id > 0)",
    "ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY",
    "CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    "CREATE PROCEDURE app.forget(u bigint) LANGUAGE sql AS $$ DELETE FROM app.orders WHERE user_id = u $$",
    "CREATE AGGREGATE app.total_sum(numeric) (sfunc = numeric_add, stype = numeric, initcond = '0')",
    "CREATE FUNCTION app.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE STRICT AS 'SELECT a + b'",
    "CREATE MATERIALIZED VIEW app.order_totals AS SELECT user_id, sum(total) AS total FROM app.orders GROUP BY user_id",
    "CREATE UNIQUE INDEX order_totals_user_idx ON app.order_totals (user_id)",
    "CREATE VIEW app.active_users AS SELECT id, email FROM app.users WHERE status = 'active'",
    "CREATE INDEX users_name_idx ON app.users (lower(name)) WHERE status = 'active'",
    "GRANT SELECT ON app.users TO PUBLIC",
    "COMMENT ON FUNCTION app.touch() IS 'rounds totals'",
    "COMMENT ON COLUMN app.users.email IS 'login'",
    "COMMENT ON TABLE app.users IS 'people'",
    "COMMENT ON SCHEMA app IS 'application'",
    "CREATE INDEX ON app._sqlx_migrations (description)",
    "CREATE TABLE public.schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)",
];

const PG_ALTERATIONS: &[Alteration] = &[
    Alteration {
        up: &["INSERT INTO app.users (email, name) VALUES ('a@b', 'a'), ('c@d', 'c')",
              "INSERT INTO app.orders (user_id, total) SELECT id, 10 FROM app.users",
              "SELECT nextval('app.invoice_no')",
              "INSERT INTO public.schema_migrations VALUES (1, false)"],
        down: &[],
        expect: None,
    },
    Alteration {
        up: &["DROP INDEX app.users_name_idx"],
        down: &["CREATE INDEX users_name_idx ON app.users (lower(name)) WHERE status = 'active'"],
        expect: Some(("table app.users > index users_name_idx", ChangeKind::Removed)),
    },
    Alteration {
        up: &["ALTER TABLE app.orders ALTER COLUMN period TYPE int8range USING NULL"],
        down: &["ALTER TABLE app.orders ALTER COLUMN period TYPE int4range USING NULL"],
        expect: Some(("table app.orders > column period", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE app.users ALTER COLUMN status SET DEFAULT 'blocked'"],
        down: &["ALTER TABLE app.users ALTER COLUMN status SET DEFAULT 'active'"],
        expect: Some(("table app.users > column status", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE app.users ALTER COLUMN created_at DROP NOT NULL"],
        down: &["ALTER TABLE app.users ALTER COLUMN created_at SET NOT NULL"],
        expect: Some(("table app.users > column created_at", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE app.orders DROP CONSTRAINT orders_user_fk",
              "ALTER TABLE app.orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES app.users (id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED"],
        down: &["ALTER TABLE app.orders DROP CONSTRAINT orders_user_fk",
                "ALTER TABLE app.orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES app.users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"],
        expect: Some(("table app.orders > constraint orders_user_fk", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE app.orders VALIDATE CONSTRAINT orders_total_check"],
        down: &["ALTER TABLE app.orders DROP CONSTRAINT orders_total_check",
                "ALTER TABLE app.orders ADD CONSTRAINT orders_total_check CHECK (total >= 0) NOT VALID"],
        expect: Some(("table app.orders > constraint orders_total_check", ChangeKind::Changed)),
    },
    Alteration {
        up: &["CREATE OR REPLACE VIEW app.active_users AS SELECT id, email FROM app.users WHERE status = 'blocked'"],
        down: &["CREATE OR REPLACE VIEW app.active_users AS SELECT id, email FROM app.users WHERE status = 'active'"],
        expect: Some(("view app.active_users", ChangeKind::Changed)),
    },
    Alteration {
        up: &["DROP MATERIALIZED VIEW app.order_totals",
              "CREATE MATERIALIZED VIEW app.order_totals AS SELECT user_id, max(total) AS total FROM app.orders GROUP BY user_id"],
        down: &["DROP MATERIALIZED VIEW app.order_totals",
                "CREATE MATERIALIZED VIEW app.order_totals AS SELECT user_id, sum(total) AS total FROM app.orders GROUP BY user_id",
                "CREATE UNIQUE INDEX order_totals_user_idx ON app.order_totals (user_id)"],
        expect: Some(("materialized view app.order_totals", ChangeKind::Changed)),
    },
    Alteration {
        up: &["CREATE OR REPLACE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.total := round(NEW.total, 3);
  RETURN NEW;
END
$$"],
        down: &["CREATE OR REPLACE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.total := round(NEW.total, 2);
  RETURN NEW;
END
$$"],
        expect: Some(("function app.touch()", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER FUNCTION app.add(integer, integer) VOLATILE"],
        down: &["ALTER FUNCTION app.add(integer, integer) IMMUTABLE"],
        expect: Some(("function app.add(integer, integer)", ChangeKind::Changed)),
    },
    Alteration {
        up: &["CREATE OR REPLACE PROCEDURE app.forget(u bigint) LANGUAGE sql AS $$ DELETE FROM app.orders WHERE user_id <> u $$"],
        down: &["CREATE OR REPLACE PROCEDURE app.forget(u bigint) LANGUAGE sql AS $$ DELETE FROM app.orders WHERE user_id = u $$"],
        expect: Some(("procedure app.forget(bigint)", ChangeKind::Changed)),
    },
    Alteration {
        up: &["DROP TRIGGER orders_touch ON app.orders"],
        down: &["CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch()"],
        expect: Some(("table app.orders > trigger orders_touch", ChangeKind::Removed)),
    },
    Alteration {
        up: &["ALTER TABLE app.orders DISABLE TRIGGER orders_touch"],
        down: &["ALTER TABLE app.orders ENABLE TRIGGER orders_touch"],
        expect: Some(("table app.orders > trigger orders_touch", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER POLICY orders_owner ON app.orders USING (user_id > 1)"],
        down: &["ALTER POLICY orders_owner ON app.orders USING (user_id > 0)"],
        expect: Some(("table app.orders > policy orders_owner", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE app.orders FORCE ROW LEVEL SECURITY"],
        down: &["ALTER TABLE app.orders NO FORCE ROW LEVEL SECURITY"],
        expect: Some(("table app.orders", ChangeKind::Changed)),
    },
    Alteration {
        up: &["COMMENT ON TABLE app.users IS 'humans'"],
        down: &["COMMENT ON TABLE app.users IS 'people'"],
        expect: Some(("table app.users", ChangeKind::Changed)),
    },
    Alteration {
        up: &["COMMENT ON COLUMN app.users.email IS NULL"],
        down: &["COMMENT ON COLUMN app.users.email IS 'login'"],
        expect: Some(("table app.users > column email", ChangeKind::Changed)),
    },
    Alteration {
        up: &["GRANT INSERT ON app.orders TO PUBLIC"],
        down: &["REVOKE INSERT ON app.orders FROM PUBLIC"],
        expect: Some(("table app.orders", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER SEQUENCE app.invoice_no INCREMENT BY 5"],
        down: &["ALTER SEQUENCE app.invoice_no INCREMENT BY 10"],
        expect: Some(("sequence app.invoice_no", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE app.users ALTER COLUMN id SET INCREMENT BY 2"],
        down: &["ALTER TABLE app.users ALTER COLUMN id SET INCREMENT BY 1"],
        expect: Some(("table app.users > column id", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER DOMAIN app.posint ADD CONSTRAINT posint_small CHECK (VALUE < 1000)"],
        down: &["ALTER DOMAIN app.posint DROP CONSTRAINT posint_small"],
        expect: Some(("domain app.posint", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TYPE app.address ADD ATTRIBUTE city text"],
        down: &["ALTER TYPE app.address DROP ATTRIBUTE city"],
        expect: Some(("type app.address", ChangeKind::Changed)),
    },
    Alteration {
        up: &["CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"],
        down: &["DROP TABLE app.events_2025"],
        expect: Some(("table app.events_2025", ChangeKind::Added)),
    },
    Alteration {
        up: &["CREATE TABLE public.goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL)",
              "CREATE TABLE app.flyway_schema_history (installed_rank int PRIMARY KEY)"],
        down: &[],
        expect: None,
    },
    // Enum labels cannot be removed: last, and not undone.
    Alteration {
        up: &["ALTER TYPE app.mood ADD VALUE 'meh' BEFORE 'sad'"],
        down: &[],
        expect: Some(("type app.mood", ChangeKind::Changed)),
    },
];

fn many_tables_pg(n: usize) -> Vec<String> {
    let mut out = vec!["CREATE SCHEMA bulk".to_string()];
    for i in 0..n {
        let fk = if i == 0 {
            String::new()
        } else {
            format!(
                ", parent_id bigint REFERENCES bulk.t{} (id) ON DELETE CASCADE",
                i - 1
            )
        };
        out.push(format!(
            "CREATE TABLE bulk.t{i} (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
             code text NOT NULL UNIQUE, amount numeric(12,2) DEFAULT 0 CHECK (amount >= 0), \
             note varchar(200), created_at timestamptz NOT NULL DEFAULT now(){fk})"
        ));
        out.push(format!(
            "CREATE INDEX t{i}_created_idx ON bulk.t{i} (created_at DESC)"
        ));
        out.push(format!("COMMENT ON TABLE bulk.t{i} IS 'table {i}'"));
    }
    out
}

#[tokio::test]
async fn postgres_snapshots() {
    with_server(Engine::Postgres, |mut dbs| async move {
        // A rich schema reads the same twice and serialises byte-identical.
        let mut a = dbs.fresh().await;
        exec(&mut a, PG_RICH_A).await;
        let first = snap(&mut a).await;
        let second = snap(&mut a).await;
        dump(&first);
        assert_same(&first, &second, "two reads");
        // The session's search_path changes neither the snapshot nor is changed by it.
        exec(&mut a, &["SET search_path = app, public"]).await;
        let third = snap(&mut a).await;
        assert_same(&first, &third, "another search_path");
        if let Conn::Postgres(c) = &mut a {
            let path: String = sqlx::query_scalar("SHOW search_path")
                .fetch_one(&mut *c)
                .await
                .unwrap_or_else(|e| panic!("SHOW search_path: {e}"));
            assert_eq!(path, "app, public");
        }
        exec(&mut a, &["RESET search_path"]).await;
        assert_has(
            &first,
            &[
                "schema app",
                "schema public",
                "extension citext",
                "extension pgcrypto",
                "table app.users",
                "table app.users > column email",
                "table app.users > constraint users_pkey",
                "table app.users > constraint users_email_key",
                "table app.users > constraint users_status_check",
                "table app.users > index users_name_idx",
                "table app.orders > constraint orders_user_fk",
                "table app.orders > trigger orders_touch",
                "table app.orders > policy orders_owner",
                "table app.events",
                "table app.events_2024",
                "table app.rooms > constraint rooms_during_excl",
                "table public.cache",
                "view app.active_users",
                "materialized view app.order_totals",
                "materialized view app.order_totals > index order_totals_user_idx",
                "sequence app.invoice_no",
                "sequence app.orders_id_seq",
                "function app.touch()",
                "function app.add(integer, integer)",
                "function app.add(numeric, numeric)",
                "procedure app.forget(bigint)",
                "aggregate app.total_sum(numeric)",
                "type app.mood",
                "type app.address",
                "type app.floatrange",
                "domain app.posint",
            ],
        );
        assert_no_bookkeeping(&first);
        // Extension members (citext's functions, pgcrypto's) are not listed.
        assert!(
            !first.objects.keys().any(|p| p.contains("citext(")
                || p.contains(" public.digest(")
                || p.starts_with("type public.citext")
                || p.starts_with("function app.floatrange(")),
            "extension members leaked into the snapshot"
        );
        // No OIDs or counters: the identity column carries its options, not its value.
        let id = &first.objects["table app.users > column id"];
        assert!(
            id.properties["identity"].contains("start 100"),
            "{:?}",
            id.properties
        );
        assert!(id.cosmetic.contains_key("position"));

        // The same schema in another order.
        let mut b = dbs.fresh().await;
        exec(&mut b, PG_RICH_B).await;
        let other = snap(&mut b).await;
        assert_same(&first, &other, "two creation orders");
        b.close().await;

        // Every kind of change is detected, and undoing it restores the snapshot.
        check_alterations(&mut a, PG_ALTERATIONS).await;

        // Dropping and re-adding a column only moves it.
        check_readded_column(
            &mut a,
            "ALTER TABLE app.users DROP COLUMN mood",
            "ALTER TABLE app.users ADD COLUMN mood app.mood",
            "table app.users > column mood",
        )
        .await;
        a.close().await;

        let mut m = dbs.fresh().await;
        measure(Engine::Postgres, &mut m, &many_tables_pg(50), 50).await;
        m.close().await;
        dbs
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB
// ---------------------------------------------------------------------------------------------

const MY_RICH_A: &[&str] = &[
    "CREATE TABLE users (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        email VARCHAR(190) NOT NULL COMMENT 'login',
        name VARCHAR(100) CHARACTER SET latin1 COLLATE latin1_bin NULL,
        status ENUM('active', 'blocked') NOT NULL DEFAULT 'active',
        score DECIMAL(10,2) DEFAULT 0.00,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
        email_domain VARCHAR(190) AS (SUBSTRING_INDEX(email, '@', -1)) VIRTUAL,
        UNIQUE KEY users_email_uq (email),
        KEY users_name_idx (name(20), created_at DESC),
        CONSTRAINT users_score_chk CHECK (score >= 0)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='people'",
    "CREATE TABLE orders (
        id INT NOT NULL AUTO_INCREMENT,
        user_id BIGINT UNSIGNED NOT NULL,
        total DECIMAL(12,2) NOT NULL DEFAULT 0,
        note TEXT,
        PRIMARY KEY (id),
        KEY orders_user_idx (user_id, total),
        FULLTEXT KEY orders_note_ft (note),
        CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE ON UPDATE RESTRICT
    ) ENGINE=InnoDB ROW_FORMAT=DYNAMIC",
    "CREATE TABLE audit (id INT PRIMARY KEY, what VARCHAR(50) NOT NULL CHECK (what <> '')) ENGINE=MyISAM",
    "CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active' WITH CHECK OPTION",
    "CREATE FUNCTION order_count(u BIGINT UNSIGNED) RETURNS INT READS SQL DATA DETERMINISTIC COMMENT 'orders per user'
     BEGIN
       DECLARE n INT;
       SELECT COUNT(*) INTO n FROM orders WHERE user_id = u;
       RETURN n;
     END",
    "CREATE PROCEDURE forget(IN u BIGINT UNSIGNED, OUT removed INT) MODIFIES SQL DATA
     BEGIN
       DELETE FROM orders WHERE user_id = u;
       SET removed = ROW_COUNT();
     END",
    "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW
       INSERT INTO audit (id, what) VALUES (NEW.id, 'insert')",
    "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW SET NEW.score = ROUND(NEW.score, 1)",
    // Bookkeeping: never part of the model.
    "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, dirty TINYINT(1) NOT NULL)",
    "CREATE TABLE knex_migrations (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255), KEY (name))",
];

const MY_RICH_B: &[&str] = &[
    "CREATE TABLE knex_migrations (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255), KEY (name))",
    "CREATE TABLE audit (id INT PRIMARY KEY, what VARCHAR(50) NOT NULL CHECK (what <> '')) ENGINE=MyISAM",
    "CREATE TABLE users (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        email VARCHAR(190) NOT NULL COMMENT 'login',
        name VARCHAR(100) CHARACTER SET latin1 COLLATE latin1_bin NULL,
        status ENUM('active', 'blocked') NOT NULL DEFAULT 'active',
        score DECIMAL(10,2) DEFAULT 0.00,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
        email_domain VARCHAR(190) AS (SUBSTRING_INDEX(email, '@', -1)) VIRTUAL,
        PRIMARY KEY (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
    "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW SET NEW.score = ROUND(NEW.score, 1)",
    "CREATE TABLE orders (
        id INT NOT NULL AUTO_INCREMENT,
        user_id BIGINT UNSIGNED NOT NULL,
        total DECIMAL(12,2) NOT NULL DEFAULT 0,
        note TEXT,
        PRIMARY KEY (id)
    ) ENGINE=InnoDB ROW_FORMAT=DYNAMIC",
    "CREATE PROCEDURE forget(IN u BIGINT UNSIGNED, OUT removed INT) MODIFIES SQL DATA
     BEGIN
       DELETE FROM orders WHERE user_id = u;
       SET removed = ROW_COUNT();
     END",
    "ALTER TABLE orders ADD FULLTEXT KEY orders_note_ft (note)",
    "ALTER TABLE orders ADD KEY orders_user_idx (user_id, total)",
    "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE ON UPDATE RESTRICT",
    "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW
       INSERT INTO audit (id, what) VALUES (NEW.id, 'insert')",
    "CREATE INDEX users_name_idx ON users (name(20), created_at DESC)",
    "ALTER TABLE users ADD CONSTRAINT users_score_chk CHECK (score >= 0)",
    "ALTER TABLE users ADD UNIQUE KEY users_email_uq (email)",
    "ALTER TABLE users COMMENT = 'people'",
    "CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active' WITH CHECK OPTION",
    "CREATE FUNCTION order_count(u BIGINT UNSIGNED) RETURNS INT READS SQL DATA DETERMINISTIC COMMENT 'orders per user'
     BEGIN
       DECLARE n INT;
       SELECT COUNT(*) INTO n FROM orders WHERE user_id = u;
       RETURN n;
     END",
    "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, dirty TINYINT(1) NOT NULL)",
];

const MY_ALTERATIONS: &[Alteration] = &[
    Alteration {
        up: &["INSERT INTO users (email, name) VALUES ('a@b', 'a'), ('c@d', 'c')",
              "INSERT INTO orders (user_id, total) SELECT id, 10 FROM users",
              "INSERT INTO schema_migrations VALUES (1, 0)"],
        down: &[],
        expect: None,
    },
    Alteration {
        up: &["DROP INDEX users_name_idx ON users"],
        down: &["CREATE INDEX users_name_idx ON users (name(20), created_at DESC)"],
        expect: Some(("table users > index users_name_idx", ChangeKind::Removed)),
    },
    Alteration {
        up: &["ALTER TABLE users DROP INDEX users_name_idx, ADD INDEX users_name_idx (name(20), created_at)"],
        down: &["ALTER TABLE users DROP INDEX users_name_idx, ADD INDEX users_name_idx (name(20), created_at DESC)"],
        expect: Some(("table users > index users_name_idx", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE orders MODIFY COLUMN total DECIMAL(14,2) NOT NULL DEFAULT 0"],
        down: &["ALTER TABLE orders MODIFY COLUMN total DECIMAL(12,2) NOT NULL DEFAULT 0"],
        expect: Some(("table orders > column total", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE users ALTER COLUMN status SET DEFAULT 'blocked'"],
        down: &["ALTER TABLE users ALTER COLUMN status SET DEFAULT 'active'"],
        expect: Some(("table users > column status", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE users MODIFY COLUMN status ENUM('active', 'blocked', 'gone') NOT NULL DEFAULT 'active'"],
        down: &["ALTER TABLE users MODIFY COLUMN status ENUM('active', 'blocked') NOT NULL DEFAULT 'active'"],
        expect: Some(("table users > column status", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE orders DROP FOREIGN KEY orders_user_fk",
              "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT ON UPDATE RESTRICT"],
        down: &["ALTER TABLE orders DROP FOREIGN KEY orders_user_fk",
                "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE ON UPDATE RESTRICT"],
        expect: Some(("table orders > constraint orders_user_fk", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE users DROP CONSTRAINT users_score_chk",
              "ALTER TABLE users ADD CONSTRAINT users_score_chk CHECK (score >= -1)"],
        down: &["ALTER TABLE users DROP CONSTRAINT users_score_chk",
                "ALTER TABLE users ADD CONSTRAINT users_score_chk CHECK (score >= 0)"],
        expect: Some(("table users > constraint users_score_chk", ChangeKind::Changed)),
    },
    Alteration {
        up: &["CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE status = 'blocked' WITH CHECK OPTION"],
        down: &["CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active' WITH CHECK OPTION"],
        expect: Some(("view active_users", ChangeKind::Changed)),
    },
    Alteration {
        up: &["DROP FUNCTION order_count",
              "CREATE FUNCTION order_count(u BIGINT UNSIGNED) RETURNS INT READS SQL DATA DETERMINISTIC COMMENT 'orders per user'
     BEGIN
       DECLARE n INT;
       SELECT COUNT(*) + 1 INTO n FROM orders WHERE user_id = u;
       RETURN n;
     END"],
        down: &["DROP FUNCTION order_count",
                "CREATE FUNCTION order_count(u BIGINT UNSIGNED) RETURNS INT READS SQL DATA DETERMINISTIC COMMENT 'orders per user'
     BEGIN
       DECLARE n INT;
       SELECT COUNT(*) INTO n FROM orders WHERE user_id = u;
       RETURN n;
     END"],
        expect: Some(("function order_count", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER PROCEDURE forget SQL SECURITY INVOKER"],
        down: &["ALTER PROCEDURE forget SQL SECURITY DEFINER"],
        expect: Some(("procedure forget", ChangeKind::Changed)),
    },
    Alteration {
        up: &["DROP TRIGGER orders_audit"],
        down: &["CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW
       INSERT INTO audit (id, what) VALUES (NEW.id, 'insert')"],
        expect: Some(("table orders > trigger orders_audit", ChangeKind::Removed)),
    },
    Alteration {
        up: &["ALTER TABLE users COMMENT = 'humans'"],
        down: &["ALTER TABLE users COMMENT = 'people'"],
        expect: Some(("table users", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE users MODIFY COLUMN email VARCHAR(190) NOT NULL COMMENT 'e-mail'"],
        down: &["ALTER TABLE users MODIFY COLUMN email VARCHAR(190) NOT NULL COMMENT 'login'"],
        expect: Some(("table users > column email", ChangeKind::Changed)),
    },
    Alteration {
        up: &["ALTER TABLE audit ENGINE = InnoDB"],
        down: &["ALTER TABLE audit ENGINE = MyISAM"],
        expect: Some(("table audit", ChangeKind::Changed)),
    },
    Alteration {
        up: &["CREATE TABLE goose_db_version (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, version_id BIGINT NOT NULL)"],
        down: &[],
        expect: None,
    },
];

fn many_tables_mysql(n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let fk = if i == 0 {
            String::new()
        } else {
            format!(
                ", parent_id BIGINT, KEY t{i}_parent_idx (parent_id), \
                 CONSTRAINT t{i}_parent_fk FOREIGN KEY (parent_id) REFERENCES t{} (id) ON DELETE CASCADE",
                i - 1
            )
        };
        out.push(format!(
            "CREATE TABLE t{i} (id BIGINT AUTO_INCREMENT PRIMARY KEY, code VARCHAR(40) NOT NULL, \
             amount DECIMAL(12,2) DEFAULT 0, note VARCHAR(200), \
             created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, \
             UNIQUE KEY t{i}_code_uq (code), KEY t{i}_created_idx (created_at), \
             CONSTRAINT t{i}_amount_chk CHECK (amount >= 0){fk}) COMMENT='table {i}'"
        ));
    }
    out
}

#[tokio::test]
async fn mysql_snapshots() {
    with_server(Engine::Mariadb, |mut dbs| async move {
        let mut a = dbs.fresh().await;
        exec(&mut a, MY_RICH_A).await;
        let first = snap(&mut a).await;
        let second = snap(&mut a).await;
        dump(&first);
        assert_same(&first, &second, "two reads");
        assert_has(
            &first,
            &[
                "table users",
                "table users > column email",
                "table users > index PRIMARY",
                "table users > index users_email_uq",
                "table users > index users_name_idx",
                "table users > constraint users_score_chk",
                "table users > trigger users_touch",
                "table orders > constraint orders_user_fk",
                "table orders > index orders_note_ft",
                "table orders > trigger orders_audit",
                "table audit",
                "table audit > constraint what",
                "view active_users",
                "function order_count",
                "procedure forget",
            ],
        );
        assert_no_bookkeeping(&first);
        let view = &first.objects["view active_users"];
        assert!(
            !view.properties["definition"].contains("migcheck_"),
            "database name left in the view definition: {:?}",
            view.properties
        );
        let index = &first.objects["table users > index users_name_idx"];
        assert_eq!(index.properties["columns"], "name(20), created_at DESC");

        let mut b = dbs.fresh().await;
        exec(&mut b, MY_RICH_B).await;
        let other = snap(&mut b).await;
        assert_same(&first, &other, "two creation orders");
        b.close().await;

        check_alterations(&mut a, MY_ALTERATIONS).await;

        check_readded_column(
            &mut a,
            "ALTER TABLE users DROP COLUMN status",
            "ALTER TABLE users ADD COLUMN status ENUM('active', 'blocked') NOT NULL DEFAULT 'active'",
            "table users > column status",
        )
        .await;
        a.close().await;

        let mut m = dbs.fresh().await;
        measure(Engine::Mariadb, &mut m, &many_tables_mysql(50), 50).await;
        m.close().await;
        dbs
    })
    .await;
}
