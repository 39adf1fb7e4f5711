//! Incremental PostgreSQL snapshots are byte-identical to full ones.
//!
//! `MIGCHECK_SNAPSHOT_CHECK=1` makes `verify` take a full snapshot after every incremental one
//! (after every up, down and up again) and fail when their JSON renderings differ; at the end
//! it prints how many it compared. These tests run it over every PostgreSQL fixture chain, a
//! chain of targeted cases (renames that reach other tables, type changes under foreign keys,
//! drops that cascade, GRANT, COMMENT, extensions, DO blocks, partitions, CLUSTER, a failing
//! step) and a generated 400-table schema whose steps each touch one table.

mod support;

use std::path::Path;

use migcheck::engine::Engine;
use support::{local_server, migcheck, repo_root, runtime};

/// `(compared, incremental, full)` from the check switch's closing line.
fn counts(stderr: &str) -> Option<(u64, u64, u64)> {
    let line = stderr
        .lines()
        .find(|l| l.contains("MIGCHECK_SNAPSHOT_CHECK: ") && l.contains("compared equal"))?;
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers[..] {
        [compared, incremental, full] => Some((compared, incremental, full)),
        _ => None,
    }
}

/// Run `verify` on `dir` with the check switch; returns the counts, panicking on a mismatch.
fn checked_verify(dir: &Path, provider: &[&str]) -> Option<(u64, u64, u64)> {
    let out = migcheck()
        .env("MIGCHECK_SNAPSHOT_CHECK", "1")
        .arg("verify")
        .arg(dir)
        .args(["--engine", "postgres", "--quiet"])
        .args(provider)
        .output()
        .expect("run migcheck");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !stderr.contains("differs from a full one") && !stdout.contains("differs from a full one"),
        "{}: an incremental snapshot differs from the full one:\n{stdout}\n{stderr}",
        dir.display()
    );
    let c = counts(&stderr);
    eprintln!("{}: {c:?}\n{stdout}", dir.display());
    if let Some((compared, incremental, _)) = c {
        assert_eq!(compared, incremental, "{}: {stderr}", dir.display());
    }
    c
}

fn write(dir: &Path, name: &str, up: &str, down: &str) {
    std::fs::write(dir.join(format!("{name}.up.sql")), up).expect("write up");
    std::fs::write(dir.join(format!("{name}.down.sql")), down).expect("write down");
}

#[test]
fn every_postgres_fixture_chain_snapshots_the_same_incrementally() {
    let rt = runtime();
    let server = rt.block_on(local_server(Engine::Postgres));
    let url = server.admin_url().expose().to_string();
    let result = std::panic::catch_unwind(|| {
        let mut chains = Vec::new();
        let root = repo_root().join("fixtures/postgres");
        for group in std::fs::read_dir(&root)
            .expect("fixtures/postgres")
            .flatten()
        {
            for chain in std::fs::read_dir(group.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if chain.path().is_dir() {
                    chains.push(chain.path());
                }
            }
        }
        chains.sort();
        assert!(chains.len() > 20, "found {} chains", chains.len());
        let provider = ["--provider", "url", "--url", &url, "--url-privileged"];
        let mut total = 0;
        for chain in &chains {
            // Chains that are not verified (no migrations recognised, duplicate versions) print
            // no counts.
            if let Some((_, incremental, _)) = checked_verify(chain, &provider) {
                total += incremental;
            }
        }
        assert!(
            total > 300,
            "only {total} incremental snapshots were compared"
        );
    });
    rt.block_on(server.shutdown()).expect("shutdown");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Each migration's down undoes its up exactly; the last one fails on the way down.
const TARGETED: &[(&str, &str, &str)] = &[
    (
        "base",
        "CREATE SCHEMA app;
CREATE TABLE app.parent (id int PRIMARY KEY, code int UNIQUE, note text);
CREATE INDEX parent_note ON app.parent (note);
CREATE TABLE public.child (id int PRIMARY KEY, parent_code int REFERENCES app.parent (code), label text);
CREATE VIEW public.child_notes AS SELECT c.id, p.note FROM public.child c JOIN app.parent p ON p.id = c.id;
CREATE TYPE public.mood AS ENUM ('sad', 'ok');
CREATE TABLE public.feelings (id int, m public.mood DEFAULT 'ok', CHECK (m <> 'sad'));
CREATE FUNCTION public.feeling_of(f public.feelings) RETURNS public.mood LANGUAGE sql AS 'SELECT f.m';
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER child_touch BEFORE UPDATE ON public.child FOR EACH ROW EXECUTE FUNCTION public.touch();
CREATE TABLE public.events (k int, at date) PARTITION BY RANGE (k);
CREATE TABLE public.events_1 PARTITION OF public.events FOR VALUES FROM (0) TO (10);
CREATE FUNCTION public.is_small(int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 < 100';
CREATE DOMAIN public.small AS int CONSTRAINT small_check CHECK (public.is_small(VALUE));
CREATE TABLE public.ids (id int GENERATED BY DEFAULT AS IDENTITY, s public.small, n serial);
CREATE MATERIALIZED VIEW public.counts AS SELECT count(*) AS n FROM public.child WITH NO DATA;
",
        "DROP MATERIALIZED VIEW public.counts;
DROP VIEW public.child_notes;
DROP TABLE public.ids;
DROP DOMAIN public.small;
DROP FUNCTION public.is_small(int);
DROP TABLE public.events;
DROP TABLE public.child;
DROP FUNCTION public.touch();
DROP FUNCTION public.feeling_of(public.feelings);
DROP TABLE public.feelings;
DROP TYPE public.mood;
DROP TABLE app.parent;
DROP SCHEMA app;
",
    ),
    (
        "rename_column_under_a_view",
        "ALTER TABLE app.parent RENAME COLUMN note TO remark;",
        "ALTER TABLE app.parent RENAME COLUMN remark TO note;",
    ),
    (
        "retype_column_referenced_by_fk",
        "ALTER TABLE app.parent ALTER COLUMN code TYPE bigint;",
        "ALTER TABLE app.parent ALTER COLUMN code TYPE int;",
    ),
    (
        "objects_to_drop",
        "CREATE TABLE public.gone (id int PRIMARY KEY);
CREATE TABLE public.refs (gone_id int CONSTRAINT refs_gone REFERENCES public.gone);
CREATE VIEW public.gone_v AS SELECT id FROM public.gone;
CREATE FUNCTION public.gone_f(g public.gone) RETURNS int LANGUAGE sql AS 'SELECT 1';",
        "DROP TABLE public.refs;
DROP TABLE public.gone CASCADE;",
    ),
    (
        "drop_table_cascade",
        "DROP TABLE public.gone CASCADE;",
        "CREATE TABLE public.gone (id int PRIMARY KEY);
ALTER TABLE public.refs ADD CONSTRAINT refs_gone FOREIGN KEY (gone_id) REFERENCES public.gone;
CREATE VIEW public.gone_v AS SELECT id FROM public.gone;
CREATE FUNCTION public.gone_f(g public.gone) RETURNS int LANGUAGE sql AS 'SELECT 1';",
    ),
    (
        "grant",
        "GRANT SELECT ON public.child TO PUBLIC;
GRANT UPDATE (label) ON public.child TO PUBLIC;",
        "REVOKE UPDATE (label) ON public.child FROM PUBLIC;
REVOKE SELECT ON public.child FROM PUBLIC;",
    ),
    (
        "comment_on",
        "COMMENT ON TABLE public.child IS 'kids';
COMMENT ON COLUMN app.parent.code IS 'the code';
COMMENT ON CONSTRAINT small_check ON DOMAIN public.small IS 'small';
COMMENT ON INDEX app.parent_note IS 'by note';
COMMENT ON TRIGGER child_touch ON public.child IS 'touch';
COMMENT ON CONSTRAINT child_parent_code_fkey ON public.child IS 'fk';
COMMENT ON SCHEMA app IS 'the app';
COMMENT ON FUNCTION public.touch() IS 'touches';
COMMENT ON COLUMN public.child_notes.note IS 'view column';",
        "COMMENT ON TABLE public.child IS NULL;
COMMENT ON COLUMN app.parent.code IS NULL;
COMMENT ON CONSTRAINT small_check ON DOMAIN public.small IS NULL;
COMMENT ON INDEX app.parent_note IS NULL;
COMMENT ON TRIGGER child_touch ON public.child IS NULL;
COMMENT ON CONSTRAINT child_parent_code_fkey ON public.child IS NULL;
COMMENT ON SCHEMA app IS NULL;
COMMENT ON FUNCTION public.touch() IS NULL;
COMMENT ON COLUMN public.child_notes.note IS NULL;",
    ),
    (
        "create_extension",
        "CREATE EXTENSION citext;
CREATE TABLE public.ci (v citext);",
        "DROP TABLE public.ci;
DROP EXTENSION citext;",
    ),
    (
        "do_block_ddl",
        "DO $$ BEGIN
  EXECUTE 'ALTER TABLE public.child ADD COLUMN extra int';
  EXECUTE 'CREATE INDEX child_extra ON public.child (extra)';
END $$;",
        "DO $$ BEGIN
  EXECUTE 'DROP INDEX public.child_extra';
  EXECUTE 'ALTER TABLE public.child DROP COLUMN extra';
END $$;",
    ),
    (
        "rename_table_referenced_elsewhere",
        "ALTER TABLE app.parent RENAME TO parents;",
        "ALTER TABLE app.parents RENAME TO parent;",
    ),
    (
        "rename_schema",
        "ALTER SCHEMA app RENAME TO core;",
        "ALTER SCHEMA core RENAME TO app;",
    ),
    (
        "rename_enum_value",
        "ALTER TYPE public.mood RENAME VALUE 'ok' TO 'fine';",
        "ALTER TYPE public.mood RENAME VALUE 'fine' TO 'ok';",
    ),
    (
        "rename_type_and_row_type",
        "ALTER TYPE public.mood RENAME TO feeling;
ALTER TABLE public.feelings RENAME TO emotions;",
        "ALTER TABLE public.emotions RENAME TO feelings;
ALTER TYPE public.feeling RENAME TO mood;",
    ),
    (
        "rename_trigger_function",
        "ALTER FUNCTION public.touch() RENAME TO touch_row;",
        "ALTER FUNCTION public.touch_row() RENAME TO touch;",
    ),
    (
        "detach_partition",
        "ALTER TABLE public.events DETACH PARTITION public.events_1;",
        "ALTER TABLE public.events ATTACH PARTITION public.events_1 FOR VALUES FROM (0) TO (10);",
    ),
    (
        "drop_function_cascades_to_domain_constraint",
        "DROP FUNCTION public.is_small(int) CASCADE;",
        "CREATE FUNCTION public.is_small(int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 < 100';
ALTER DOMAIN public.small ADD CONSTRAINT small_check CHECK (public.is_small(VALUE));
COMMENT ON CONSTRAINT small_check ON DOMAIN public.small IS 'small';",
    ),
    (
        "identity_and_owned_sequences",
        "ALTER TABLE public.ids ALTER COLUMN id SET INCREMENT BY 2;
ALTER SEQUENCE public.ids_n_seq RENAME TO ids_n_sequence;",
        "ALTER SEQUENCE public.ids_n_sequence RENAME TO ids_n_seq;
ALTER TABLE public.ids ALTER COLUMN id SET INCREMENT BY 1;",
    ),
    (
        "set_schema",
        "ALTER TABLE public.emotions SET SCHEMA core;",
        "ALTER TABLE core.emotions SET SCHEMA public;",
    ),
    (
        "cluster_and_refresh",
        "CLUSTER public.child USING child_pkey;
REFRESH MATERIALIZED VIEW public.counts;",
        "ALTER TABLE public.child SET WITHOUT CLUSTER;
DROP MATERIALIZED VIEW public.counts;
CREATE MATERIALIZED VIEW public.counts AS SELECT count(*) AS n FROM public.child WITH NO DATA;",
    ),
    (
        "index_on_expression_and_drop_index",
        "CREATE INDEX child_lower ON public.child (lower(label));
DROP INDEX core.parent_note;",
        "CREATE INDEX parent_note ON core.parents (remark);
COMMENT ON INDEX core.parent_note IS 'by note';
DROP INDEX public.child_lower;",
    ),
    (
        "fails_on_the_way_down",
        "CREATE TABLE public.doomed (id int);",
        "DROP TABLE public.doomed;
SELECT 1 / 0;",
    ),
];

#[test]
fn targeted_steps_snapshot_the_same_incrementally() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, (name, up, down)) in TARGETED.iter().enumerate() {
        write(dir.path(), &format!("{:06}_{name}", i + 1), up, down);
    }
    let (_, incremental, full) =
        checked_verify(dir.path(), &["--provider", "local"]).expect("the chain is verified");
    // Most steps are read incrementally; GRANT, the extension and the failed down are not.
    assert!(
        incremental >= 40,
        "{incremental} incremental, {full} full snapshots"
    );
}

/// 390 tables in ten migrations (one is too many locks for a down in one transaction), then
/// steps that each touch one table of the 400-table schema.
fn wide_chain(dir: &Path) {
    for m in 0..10 {
        let tables = m * 39..(m + 1) * 39;
        let mut up = String::new();
        let mut down = String::new();
        for t in tables.clone() {
            up.push_str(&format!(
                "CREATE TABLE public.t{t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 parent_id bigint{}, name text NOT NULL DEFAULT '', created_at timestamptz NOT NULL DEFAULT now());\n\
                 CREATE INDEX t{t}_name ON public.t{t} (name);\n",
                if t > 0 {
                    format!(" REFERENCES public.t{}", t - 1)
                } else {
                    String::new()
                }
            ));
            if t % 10 == 0 {
                up.push_str(&format!(
                    "CREATE VIEW public.v{t} AS SELECT id, name FROM public.t{t};\n"
                ));
            }
        }
        for t in tables.rev() {
            if t % 10 == 0 {
                down.push_str(&format!("DROP VIEW public.v{t};\n"));
            }
            down.push_str(&format!("DROP TABLE public.t{t};\n"));
        }
        write(dir, &format!("{:06}_wide_{m}", m + 1), &up, &down);
    }
    for s in 0..10 {
        let t = 390 + s;
        write(
            dir,
            &format!("{:06}_add_t{t}", 11 + 2 * s),
            &format!(
                "CREATE TABLE public.t{t} (id bigint PRIMARY KEY, t5_id bigint REFERENCES public.t5, note text);\n\
                 CREATE INDEX t{t}_note ON public.t{t} (note);"
            ),
            &format!("DROP TABLE public.t{t};"),
        );
        let k = s * 30;
        write(
            dir,
            &format!("{:06}_alter_t{k}", 12 + 2 * s),
            &format!(
                "ALTER TABLE public.t{k} ADD COLUMN score int NOT NULL DEFAULT 0;\n\
                 ALTER TABLE public.t{k} RENAME COLUMN name TO title;\n\
                 CREATE INDEX t{k}_score ON public.t{k} (score);"
            ),
            &format!(
                "DROP INDEX public.t{k}_score;\n\
                 ALTER TABLE public.t{k} RENAME COLUMN title TO name;\n\
                 ALTER TABLE public.t{k} DROP COLUMN score;"
            ),
        );
    }
}

#[test]
fn a_400_table_schema_snapshots_the_same_incrementally() {
    let dir = tempfile::tempdir().expect("temp dir");
    wide_chain(dir.path());
    let (_, incremental, full) =
        checked_verify(dir.path(), &["--provider", "local"]).expect("the chain is verified");
    assert!(
        incremental >= 60,
        "{incremental} incremental, {full} full snapshots"
    );
}
