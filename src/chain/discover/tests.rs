//! Discovery tests on temporary folders.

use std::fs;
use std::path::Path;

use super::super::{discover, Chain, DiscoverOptions, Format, ProblemSeverity, Segment};

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(p, text).expect("write");
    }
    dir
}

fn run(files: &[(&str, &str)]) -> (tempfile::TempDir, Chain) {
    let dir = folder(files);
    let chain = discover(dir.path(), &DiscoverOptions::default()).expect("discover");
    (dir, chain)
}

fn kinds(chain: &Chain) -> Vec<&'static str> {
    chain.problems.iter().map(|p| p.kind).collect()
}

fn ids(chain: &Chain) -> Vec<&str> {
    chain.migrations.iter().map(|m| m.id.as_str()).collect()
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn sqlx_marker_pairs_and_orders_numerically() {
    let (dir, chain) = run(&[
        ("10_c.up.sql", "CREATE TABLE c (id int);"),
        ("10_c.down.sql", "DROP TABLE c;"),
        (
            "2_b.up.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);",
        ),
        ("2_b.down.sql", "DROP INDEX i;"),
        ("README.md", "docs"),
        (".gitkeep", ""),
    ]);
    // No project around the folder: sqlx's marker is the evidence.
    assert_eq!(chain.format, Format::Sqlx);
    assert!(
        chain.format_reason.contains("-- no-transaction"),
        "{}",
        chain.format_reason
    );
    assert_eq!(ids(&chain), vec!["2_b", "10_c"]);
    assert!(chain.problems.is_empty(), "{:?}", chain.problems);
    let m = &chain.migrations[0];
    assert_eq!(m.name, "b");
    assert_eq!(m.version.text, "2");
    assert!(m.up.no_transaction);
    assert!(!m.down.as_ref().unwrap().no_transaction);
    assert_eq!(m.up.file, dir.path().join("2_b.up.sql"));
    assert_eq!(m.files.len(), 2);
}

#[test]
fn golang_migrate_problems() {
    let (_d, chain) = run(&[
        ("1_a.up.sql", "CREATE TABLE a (id int);"),
        ("001_b.up.sql", "CREATE TABLE b (id int);"),
        ("001_b.down.sql", "DROP TABLE b;"),
        ("2_c.up.sql", "-- nothing here\n"),
        ("3_d.down.sql", "DROP TABLE d;"),
        ("4_e.up.sql", "CREATE TABLE e (id int);"),
        ("4_e.down.sql", "  \n"),
        ("5_f.sql", "SELECT 1;"),
        ("3-add.sql", "SELECT 1;"),
    ]);
    let mut k = kinds(&chain);
    k.sort();
    assert_eq!(
        k,
        vec![
            "duplicate-version",
            "empty-down",
            "empty-migration",
            "missing-down",
            "missing-down",
            "orphan-down",
            "unrecognized-file",
            "unrecognized-file",
        ]
    );
    let dup = chain
        .problems
        .iter()
        .find(|p| p.kind == "duplicate-version")
        .unwrap();
    assert_eq!(dup.severity, ProblemSeverity::Error);
    assert!(dup.message.contains("001_b.up.sql") || dup.message.contains("1_a.up.sql"));
    let orphan = chain
        .problems
        .iter()
        .find(|p| p.kind == "orphan-down")
        .unwrap();
    assert_eq!(name_of(&orphan.file), "3_d.down.sql");
    let unrec: Vec<_> = chain
        .problems
        .iter()
        .filter(|p| p.kind == "unrecognized-file")
        .map(|p| name_of(&p.file))
        .collect();
    assert_eq!(unrec, vec!["3-add.sql", "5_f.sql"]);
    assert!(chain
        .problems
        .iter()
        .all(|p| p.kind != "missing-down" || p.severity == ProblemSeverity::Warning));
    // Sorted by file then line.
    let files: Vec<_> = chain.problems.iter().map(|p| p.file.clone()).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
}

#[test]
fn require_down_makes_missing_down_an_error() {
    let dir = folder(&[("1_a.up.sql", "SELECT 1;")]);
    let opts = DiscoverOptions {
        require_down: true,
        ..Default::default()
    };
    let chain = discover(dir.path(), &opts).unwrap();
    assert_eq!(chain.problems[0].kind, "missing-down");
    assert_eq!(chain.problems[0].severity, ProblemSeverity::Error);
}

#[test]
fn sqlx_simple() {
    let (_d, chain) = run(&[
        (
            "20240102000000_second.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);",
        ),
        ("20240101000000_first.sql", "CREATE TABLE t (a int);"),
    ]);
    assert_eq!(chain.format, Format::SqlxSimple);
    assert_eq!(
        ids(&chain),
        vec!["20240101000000_first", "20240102000000_second"]
    );
    assert!(chain.migrations[1].up.no_transaction);
    assert!(chain.migrations.iter().all(|m| m.down.is_none()));
    assert_eq!(kinds(&chain), vec!["missing-down", "missing-down"]);
}

#[test]
fn dbmate_sections_map_to_file_lines() {
    let (_d, chain) = run(&[
        (
            "20240101120000_create_users.sql",
            "-- migrate:up\nCREATE TABLE users (id int);\n\n-- migrate:down\nDROP TABLE users;\n",
        ),
        (
            "20240102120000_index.sql",
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON users (id);\n",
        ),
        (
            "20240103120000_broken.sql",
            "-- migrate:up\n-- nothing\n-- migrate:down\n",
        ),
    ]);
    assert_eq!(chain.format, Format::Dbmate);
    assert_eq!(chain.migrations.len(), 3);
    let m = &chain.migrations[0];
    assert_eq!(m.name, "create_users");
    assert_eq!(
        m.up.segments,
        vec![Segment::Sql {
            text: "CREATE TABLE users (id int);\n\n".into(),
            line: 2
        }]
    );
    let down =
        crate::sql::split(m.down.as_ref().unwrap(), crate::engine::Dialect::Postgres).unwrap();
    assert_eq!(down[0].line, 5);
    assert!(chain.migrations[1].up.no_transaction);
    let mut k = kinds(&chain);
    k.sort();
    assert_eq!(k, vec!["empty-down", "empty-migration", "missing-down"]);
    let empty = chain
        .problems
        .iter()
        .find(|p| p.kind == "empty-migration")
        .unwrap();
    assert_eq!(empty.line, Some(1));
}

#[test]
fn dbmate_file_without_up_section() {
    let (_d, chain) = run(&[
        (
            "1_a.sql",
            "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n",
        ),
        ("2_b.sql", "SELECT 1;\n"),
    ]);
    assert_eq!(chain.format, Format::Dbmate);
    assert_eq!(ids(&chain), vec!["1_a"]);
    assert_eq!(
        kinds(&chain),
        vec!["missing-section", "statements-outside-section"]
    );
}

#[test]
fn goose_with_blocks() {
    let text = "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$\nBEGIN RETURN 1; END;\n$$ LANGUAGE plpgsql;\n-- +goose StatementEnd\nCREATE TABLE t (a int);\n\n-- +goose Down\nDROP TABLE t;\nDROP FUNCTION f;\n";
    let (_d, chain) = run(&[
        ("00002_func.sql", text),
        (
            "00001_init.sql",
            "-- +goose up\n-- +goose NO TRANSACTION\nSELECT 1;\n",
        ),
    ]);
    assert_eq!(chain.format, Format::Goose);
    assert_eq!(ids(&chain), vec!["00001_init", "00002_func"]);
    assert!(chain.migrations[0].up.no_transaction);
    let m = &chain.migrations[1];
    let up = crate::sql::split(&m.up, crate::engine::Dialect::Postgres).unwrap();
    assert_eq!(up.len(), 2);
    assert_eq!(up[0].line, 3);
    assert!(up[0].sql.ends_with("LANGUAGE plpgsql"));
    assert_eq!(up[1].line, 7);
    let down =
        crate::sql::split(m.down.as_ref().unwrap(), crate::engine::Dialect::Postgres).unwrap();
    assert_eq!(
        down.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![10, 11]
    );
    assert_eq!(kinds(&chain), vec!["missing-down"]);
}

#[test]
fn goose_version_zero_is_rejected() {
    let (_d, chain) = run(&[
        (
            "0_zero.sql",
            "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
        ),
        (
            "1_one.sql",
            "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n",
        ),
    ]);
    assert_eq!(ids(&chain), vec!["1_one"]);
    assert_eq!(kinds(&chain), vec!["unrecognized-file"]);
}

#[test]
fn flyway() {
    let (dir, chain) = run(&[
        ("V1__init.sql", "CREATE TABLE a (id int);"),
        ("U1__init.sql", "DROP TABLE a;"),
        ("V1.10__later.sql", "SELECT 1;"),
        (
            "V1_2__earlier.sql",
            "CREATE INDEX CONCURRENTLY i ON a (id);",
        ),
        ("V1_2__earlier.sql.conf", "executeInTransaction=false\n"),
        ("R__views.sql", "CREATE OR REPLACE VIEW v AS SELECT 1;"),
        ("R__a_views.sql", "CREATE OR REPLACE VIEW w AS SELECT 1;"),
        ("U9__nothing.sql", "SELECT 1;"),
        ("V1_foo.sql", "SELECT 1;"),
        ("0004_x.up.sql", "SELECT 1;"),
    ]);
    assert_eq!(chain.format, Format::Flyway);
    assert_eq!(
        ids(&chain),
        vec![
            "V1__init",
            "V1_2__earlier",
            "V1.10__later",
            "R__a_views",
            "R__views"
        ]
    );
    let m = &chain.migrations[1];
    assert!(m.up.no_transaction);
    assert_eq!(
        m.files,
        vec![
            dir.path().join("V1_2__earlier.sql"),
            dir.path().join("V1_2__earlier.sql.conf")
        ]
    );
    assert_eq!(m.version.text, "1_2");
    assert!(chain.migrations[0].down.is_some());
    assert!(chain.migrations[3].repeatable);
    // A single 0004_x.up.sql among Flyway files is a stray file, not a second format.
    let mut k = kinds(&chain);
    k.sort();
    assert_eq!(
        k,
        vec![
            "missing-down",
            "missing-down",
            "orphan-down",
            "unrecognized-file",
            "unrecognized-file"
        ]
    );
    let stray = chain
        .problems
        .iter()
        .find(|p| name_of(&p.file) == "0004_x.up.sql")
        .unwrap();
    assert!(
        stray
            .message
            .contains("looks like a golang-migrate migration"),
        "{}",
        stray.message
    );
}

#[test]
fn flyway_equal_versions_collide() {
    let (_d, chain) = run(&[("V1.1__a.sql", "SELECT 1;"), ("V1_1__b.sql", "SELECT 1;")]);
    assert!(kinds(&chain).contains(&"duplicate-version"));
}

#[test]
fn diesel() {
    let (dir, chain) = run(&[
        (
            "00000000000000_diesel_initial_setup/up.sql",
            "CREATE FUNCTION x() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;",
        ),
        (
            "00000000000000_diesel_initial_setup/down.sql",
            "DROP FUNCTION x();",
        ),
        (
            "2024-01-02-120000_index/up.sql",
            "CREATE INDEX CONCURRENTLY i ON t (a);",
        ),
        ("2024-01-02-120000_index/down.sql", "DROP INDEX i;"),
        (
            "2024-01-02-120000_index/metadata.toml",
            "run_in_transaction = false\n",
        ),
        (
            "2024-01-01-120000_users/up.sql",
            "CREATE TABLE users (id int);",
        ),
        ("2024-01-01-120000_users/notes.txt", "hi"),
        (".diesel_lock", ""),
    ]);
    assert_eq!(chain.format, Format::Diesel);
    assert_eq!(
        ids(&chain),
        vec![
            "00000000000000_diesel_initial_setup",
            "2024-01-01-120000_users",
            "2024-01-02-120000_index"
        ]
    );
    let idx = &chain.migrations[2];
    assert!(idx.up.no_transaction && idx.down.as_ref().unwrap().no_transaction);
    assert_eq!(idx.files.len(), 3);
    assert_eq!(idx.name, "index");
    assert_eq!(
        idx.up.file,
        dir.path().join("2024-01-02-120000_index").join("up.sql")
    );
    assert_eq!(kinds(&chain), vec!["missing-down"]);
}

#[test]
fn diesel_ignores_plain_files() {
    let (_d, chain) = run(&[
        ("2024-01-01-120000_users/up.sql", "SELECT 1;"),
        ("2024-01-01-120000_users/down.sql", "SELECT 1;"),
        ("2024-01-02-120000_more/up.sql", "SELECT 1;"),
        ("2024-01-02-120000_more/down.sql", "SELECT 1;"),
        ("1_a.up.sql", "SELECT 1;"),
        ("2_backfill.sql", "UPDATE t SET a = 1;"),
    ]);
    assert_eq!(chain.format, Format::Diesel);
    assert!(chain.problems.is_empty(), "{:?}", chain.problems);
    assert_eq!(chain.migrations.len(), 2);
}

#[test]
fn diesel_refuses_a_folder_without_up_sql() {
    let (_d, chain) = run(&[
        ("2024-01-01-120000_users/up.sql", "SELECT 1;"),
        ("2024-01-01-120000_users/down.sql", "SELECT 1;"),
        ("seeds/data.csv", "1,2"),
        ("empty_dir/.keep", ""),
    ]);
    assert_eq!(chain.format, Format::Diesel);
    assert_eq!(kinds(&chain), vec!["empty-migration", "empty-migration"]);
}

#[test]
fn diesel_orders_versions_as_strings() {
    let (_d, chain) = run(&[
        ("2026-01-20-162913_b/up.sql", "SELECT 1;"),
        ("2026-01-20-162913_b/down.sql", "SELECT 1;"),
        ("2025-11-19-091444-0000_a/up.sql", "SELECT 1;"),
        ("2025-11-19-091444-0000_a/down.sql", "SELECT 1;"),
    ]);
    assert_eq!(
        ids(&chain),
        vec!["2025-11-19-091444-0000_a", "2026-01-20-162913_b"]
    );
    assert_eq!(kinds(&chain), vec!["string-order"]);
    assert_eq!(chain.problems[0].severity, ProblemSeverity::Warning);
}

#[test]
fn diesel_metadata_semantics() {
    let (_d, chain) = run(&[
        ("2024-01-01-000000_a/up.sql", "SELECT 1;"),
        ("2024-01-01-000000_a/down.sql", "SELECT 1;"),
        ("2024-01-01-000000_a/metadata.toml", "# nothing\n"),
        ("2024-01-02-000000_b/up.sql", "SELECT 1;"),
        ("2024-01-02-000000_b/down.sql", "SELECT 1;"),
        (
            "2024-01-02-000000_b/metadata.toml",
            "run_in_transaction = = false",
        ),
    ]);
    // Diesel's serde default: a metadata.toml without the key runs outside a transaction;
    // one that does not parse is ignored (a transaction), with a warning.
    assert!(chain.migrations[0].up.no_transaction);
    assert!(!chain.migrations[1].up.no_transaction);
    assert_eq!(kinds(&chain), vec!["ignored-metadata"]);
}

#[test]
fn mixed_golang_and_flyway() {
    let (_d, chain) = run(&[("1_a.up.sql", "SELECT 1;"), ("V2__b.sql", "SELECT 1;")]);
    assert!(kinds(&chain).contains(&"mixed-formats"));
    let p = chain
        .problems
        .iter()
        .find(|p| p.kind == "mixed-formats")
        .unwrap();
    assert!(p.message.contains("1_a.up.sql") || p.message.contains("V2__b.sql"));
    assert_eq!(chain.migrations.len(), 1);
}

#[test]
fn forced_format() {
    let dir = folder(&[("1_a.up.sql", "SELECT 1;"), ("1_a.down.sql", "SELECT 1;")]);
    let opts = DiscoverOptions {
        format: Some(Format::Flyway),
        ..Default::default()
    };
    let e = discover(dir.path(), &opts).unwrap_err().to_string();
    assert!(e.contains("no flyway migrations found"), "{e}");
    let opts = DiscoverOptions {
        format: Some(Format::SqlxSimple),
        ..Default::default()
    };
    assert!(discover(dir.path(), &opts).is_err());

    // Forcing goose on a folder of plain files: each one lacks its Up section.
    let dir = folder(&[
        ("1_a.sql", "-- +goose Up\nSELECT 1;"),
        ("2_b.sql", "SELECT 1;"),
    ]);
    let opts = DiscoverOptions {
        format: Some(Format::Goose),
        ..Default::default()
    };
    let chain = discover(dir.path(), &opts).unwrap();
    assert!(kinds(&chain).contains(&"missing-section"));
}

#[test]
fn input_errors() {
    let dir = folder(&[("notes.txt", "x")]);
    let e = discover(dir.path(), &DiscoverOptions::default()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("no migrations found"), "{e}");
    assert!(
        e.to_string().contains("V{version}__{description}.sql"),
        "{e}"
    );

    let stray = folder(&[("3-add.sql", "SELECT 1;")]);
    let e = discover(stray.path(), &DiscoverOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("match none of them (e.g. 3-add.sql)"),
        "{e}"
    );

    let missing = dir.path().join("nope");
    let e = discover(&missing, &DiscoverOptions::default()).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");

    let file = dir.path().join("notes.txt");
    let e = discover(&file, &DiscoverOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");

    let dir = folder(&[]);
    fs::write(dir.path().join("1_a.up.sql"), b"SELECT 1;\nSELECT '\xff';").unwrap();
    let e = discover(dir.path(), &DiscoverOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("1_a.up.sql:2: file is not valid UTF-8"), "{e}");
    assert!(e.contains("offset 18"), "{e}");
}

#[test]
fn crlf_and_bom() {
    let (_d, chain) = run(&[(
        "1_a.sql",
        "\u{feff}-- migrate:up\r\nCREATE TABLE a (id int);\r\n-- migrate:down\r\nDROP TABLE a;\r\n",
    )]);
    assert_eq!(chain.format, Format::Dbmate);
    let m = &chain.migrations[0];
    let down = crate::sql::split(m.down.as_ref().unwrap(), crate::engine::Dialect::Mysql).unwrap();
    assert_eq!(down[0].sql, "DROP TABLE a");
    assert_eq!(down[0].line, 4);
    assert!(chain.problems.is_empty(), "{:?}", chain.problems);
}

#[test]
fn many_migrations_are_fast() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..2000 {
        fs::write(dir.path().join(format!("{i:05}_m.up.sql")), "SELECT 1;").unwrap();
        fs::write(dir.path().join(format!("{i:05}_m.down.sql")), "SELECT 1;").unwrap();
    }
    let started = std::time::Instant::now();
    let chain = discover(dir.path(), &DiscoverOptions::default()).unwrap();
    assert_eq!(chain.migrations.len(), 2000);
    assert!(chain.problems.is_empty());
    eprintln!("discover took {:?}", started.elapsed());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

fn run_with(files: &[(&str, &str)], options: &DiscoverOptions) -> (tempfile::TempDir, Chain) {
    let dir = folder(files);
    let chain = discover(&dir.path().join("migrations"), options).expect("discover");
    (dir, chain)
}

#[test]
fn golang_migrate_one_statement_runs_outside_a_transaction() {
    let (_d, chain) = run_with(
        &[
            (
                "go.mod",
                "module x\nrequire github.com/golang-migrate/migrate/v4 v4.17.0\n",
            ),
            (
                "migrations/1_idx.up.sql",
                "-- only one statement\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
            ),
            (
                "migrations/1_idx.down.sql",
                "DROP INDEX CONCURRENTLY i;\nSELECT 1;",
            ),
        ],
        &DiscoverOptions::default(),
    );
    assert_eq!(chain.format, Format::GolangMigrate);
    assert!(
        chain.format_reason.contains("go.mod"),
        "{}",
        chain.format_reason
    );
    let m = &chain.migrations[0];
    assert!(
        m.up.no_transaction,
        "a single statement has no implicit block"
    );
    assert!(
        !m.down.as_ref().unwrap().no_transaction,
        "two statements in one string are one implicit transaction"
    );
}

#[test]
fn sqlx_detected_from_cargo_toml() {
    let files = [
        (
            "Cargo.toml",
            "[package]\nname = \"x\"\n[dependencies]\nsqlx = \"0.8\"\n",
        ),
        (
            "migrations/1_idx.up.sql",
            "CREATE INDEX CONCURRENTLY i ON t (a);",
        ),
        ("migrations/1_idx.down.sql", "DROP INDEX i;"),
    ];
    let (_d, chain) = run_with(&files, &DiscoverOptions::default());
    assert_eq!(chain.format, Format::Sqlx);
    assert!(chain.format_reason.contains("Cargo.toml"));
    // sqlx wraps an unmarked migration in a transaction.
    assert!(!chain.migrations[0].up.no_transaction);
    let forced = DiscoverOptions {
        format: Some(Format::GolangMigrate),
        ..Default::default()
    };
    let (_d, chain) = run_with(&files, &forced);
    assert_eq!(chain.format, Format::GolangMigrate);
    assert_eq!(chain.format_reason, "forced with --format");
    assert!(chain.migrations[0].up.no_transaction);
}

#[test]
fn golang_migrate_assumed_without_evidence() {
    let (_d, chain) = run(&[("1_a.up.sql", "SELECT 1;"), ("1_a.down.sql", "SELECT 1;")]);
    assert_eq!(chain.format, Format::GolangMigrate);
    assert!(chain.format_reason.starts_with("assumed"));
}

#[test]
fn popx_dialects_versions_noops_autocommit() {
    let files = [
        ("20150100000001000000_a.up.sql", "CREATE TABLE a (id int);"),
        (
            "20150100000001000000_a.postgres.up.sql",
            "CREATE TABLE a (id bigint);",
        ),
        (
            "20150100000001000000_a.cockroach.up.sql",
            "CREATE TABLE a (id INT8);",
        ),
        ("20150100000001000000_a.down.sql", "DROP TABLE a;"),
        (
            "20150100000002000000_b.postgres.up.sql",
            "-- nothing for postgres\n",
        ),
        ("20150100000002000000_b.postgres.down.sql", ""),
        (
            "20150100000002000000_b.mysql.up.sql",
            "ALTER TABLE a ADD b int;",
        ),
        (
            "20150100000002000000_b.mysql.down.sql",
            "ALTER TABLE a DROP b;",
        ),
        (
            "20150100000003000000_c.postgres.autocommit.up.sql",
            "CREATE INDEX CONCURRENTLY i ON a (id);",
        ),
        ("20150100000003000000_c.down.sql", "DROP INDEX i;"),
        ("9_old.up.sql", "SELECT 1;"),
        ("9_old.down.sql", "SELECT 1;"),
    ];
    let (_d, chain) = run(&files);
    assert_eq!(chain.format, Format::Popx);
    assert!(
        chain.problems.iter().all(|p| p.kind == "string-order"),
        "{:?}",
        chain.problems
    );
    assert_eq!(
        ids(&chain),
        vec![
            "20150100000001000000_a",
            "20150100000002000000_b",
            "20150100000003000000_c",
            "9_old"
        ]
    );
    let a = &chain.migrations[0];
    assert!(name_of(&a.up.file).contains(".postgres."));
    assert!(chain.migrations[1].up.is_empty());
    assert!(chain.migrations[2].up.no_transaction);
    assert!(!chain.migrations[0].up.no_transaction);

    let my = DiscoverOptions {
        engine: Some(crate::engine::Engine::Mariadb),
        ..Default::default()
    };
    let dir = folder(&files);
    let chain = discover(dir.path(), &my).unwrap();
    assert_eq!(
        name_of(&chain.migrations[0].up.file),
        "20150100000001000000_a.up.sql"
    );
    assert_eq!(
        name_of(&chain.migrations[1].up.file),
        "20150100000002000000_b.mysql.up.sql"
    );
    // popx opens no transaction on MySQL; the postgres-only autocommit file is skipped there.
    assert!(chain.migrations[0].up.no_transaction);
    // The postgres-only version 3 does not exist there; its dialect-less down is never run.
    assert_eq!(
        ids(&chain),
        vec!["20150100000001000000_a", "20150100000002000000_b", "9_old"]
    );
    assert!(
        chain.problems.iter().all(|p| p.kind == "string-order"),
        "{:?}",
        chain.problems
    );
}

#[test]
fn nothing_recognised_is_bad_input() {
    let dir = folder(&[("notes.txt", "x")]);
    let e = discover(dir.path(), &DiscoverOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no migrations found"), "{e}");
    // Files of the format whose versions are all unusable: still nothing to run.
    let dir = folder(&[("99999999999999999999999_a.up.sql", "SELECT 1;")]);
    let e = discover(dir.path(), &DiscoverOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no migration recognised"), "{e}");
    assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
}

#[test]
fn transaction_state_follows_each_tool() {
    use super::runs_outside_transaction;
    use crate::engine::Engine;
    let script = |text: &str, marked: bool| crate::chain::Script {
        file: "f.sql".into(),
        segments: vec![Segment::Sql {
            text: text.into(),
            line: 1,
        }],
        no_transaction: marked,
    };
    let one = "CREATE INDEX CONCURRENTLY i ON t (a);";
    let two = "SELECT 1;\nCREATE INDEX CONCURRENTLY i ON t (a);";
    let pg = Engine::Postgres;
    // One string: one statement runs alone, several share an implicit transaction.
    assert!(runs_outside_transaction(
        Format::GolangMigrate,
        &script(one, false),
        pg
    ));
    assert!(!runs_outside_transaction(
        Format::GolangMigrate,
        &script(two, false),
        pg
    ));
    assert!(runs_outside_transaction(
        Format::GolangMigrate,
        &script(two, false),
        Engine::Mysql
    ));
    for f in [
        Format::Sqlx,
        Format::SqlxSimple,
        Format::Dbmate,
        Format::Diesel,
        Format::Popx,
    ] {
        assert!(!runs_outside_transaction(f, &script(one, false), pg), "{f}");
        assert!(runs_outside_transaction(f, &script(one, true), pg), "{f}");
        assert!(!runs_outside_transaction(f, &script(two, true), pg), "{f}");
    }
    // Statement by statement.
    assert!(runs_outside_transaction(
        Format::Goose,
        &script(two, true),
        pg
    ));
    assert!(runs_outside_transaction(
        Format::Flyway,
        &script(two, false),
        pg
    ));
    assert!(!runs_outside_transaction(
        Format::Flyway,
        &script("SELECT 1;", false),
        pg
    ));
    assert!(!runs_outside_transaction(
        Format::Flyway,
        &script(one, false),
        Engine::Mariadb
    ));
    assert!(runs_outside_transaction(
        Format::Popx,
        &script(two, false),
        Engine::Mysql
    ));
}
