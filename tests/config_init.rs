//! `migcheck init` end to end, and `migcheck.toml`'s unknown keys as `lint` and `verify` see
//! them. No database is started: a config error is exit 2 before any server.

mod support;

use std::path::Path;
use std::process::Output;

use support::{copy_dir, fixture, migcheck};

fn run_in(dir: &Path, args: &[&str]) -> Output {
    migcheck()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run migcheck")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A project folder holding a copy of a golang-migrate fixture at db/migrations.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &fixture("postgres/golang-migrate/clean"),
        &dir.path().join("db/migrations"),
    );
    dir
}

#[test]
fn init_writes_a_commented_config_that_lint_and_verify_read() {
    let dir = project();
    let o = run_in(
        dir.path(),
        &["init", "db/migrations", "--engine", "postgres:15"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("wrote migcheck.toml for db/migrations"),
        "{}",
        text(&o)
    );
    // Found by verify and lint from the chain: no note saying otherwise.
    assert!(o.stderr.is_empty(), "{}", text(&o));
    let written = std::fs::read_to_string(dir.path().join("migcheck.toml")).unwrap();
    assert!(
        written.contains("#   format: golang-migrate ("),
        "{written}"
    );
    assert!(
        written.contains("#   verify: migcheck verify db/migrations --engine postgres:15\n"),
        "{written}"
    );
    assert!(written.contains("\nengine = \"postgres\""), "{written}");
    assert!(written.contains("\npg-version = 15"), "{written}");
    assert!(written.contains("\n# fail-on = \"error\"\n"), "{written}");
    assert!(written.contains("\n[verify]\n") && written.contains("\n[lint]\n"));

    // migcheck's own readers accept it.
    let o = run_in(dir.path(), &["lint", "db/migrations"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
}

#[test]
fn init_never_overwrites_unless_forced() {
    let dir = project();
    let config = dir.path().join("migcheck.toml");
    std::fs::write(&config, "# mine\n").unwrap();
    let o = run_in(dir.path(), &["init", "db/migrations"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("migcheck.toml: already exists; migcheck init does not overwrite it"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# mine\n");

    // --stdout prints the file and writes nothing.
    let o = run_in(dir.path(), &["init", "db/migrations", "--stdout"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\n[lint]\n"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# mine\n");

    let o = run_in(dir.path(), &["init", "db/migrations", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("Written by `migcheck init`"));
}

#[test]
fn init_in_the_migrations_folder_and_elsewhere() {
    let dir = project();
    let migrations = dir.path().join("db/migrations");
    // No PATH: the working directory is the chain.
    let o = run_in(&migrations, &["init"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(migrations.join("migcheck.toml").is_file());

    // A chain outside the working directory gets its file next to it.
    let other = tempfile::tempdir().unwrap();
    let second = project();
    let chain = second.path().join("db/migrations");
    let o = run_in(other.path(), &["init", chain.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(chain.join("migcheck.toml").is_file());
    assert!(!other.path().join("migcheck.toml").exists());

    // -o elsewhere says how verify will find it.
    let o = run_in(
        other.path(),
        &[
            "init",
            migrations.to_str().unwrap(),
            "-o",
            "conf/ci.toml",
            "--force",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(other.path().join("conf/ci.toml").is_file());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not this file: pass --config conf/ci.toml"),
        "{err}"
    );
}

#[test]
fn init_reads_alembic_projects_like_verify() {
    let o = run_in(
        &support::repo_root(),
        &["init", "fixtures/alembic/linear", "--stdout"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("#   format: alembic (an Alembic project)"),
        "{out}"
    );
    assert!(out.contains("session-sql does not apply"), "{out}");
}

#[test]
fn init_on_a_folder_without_a_chain_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["init"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no migrations found"));
    assert!(!dir.path().join("migcheck.toml").exists());
    let o = run_in(dir.path(), &["init", "missing"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn an_unknown_table_fails_lint_and_verify_with_its_line() {
    let dir = project();
    std::fs::write(
        dir.path().join("migcheck.toml"),
        "[verify]\ncosmetic = \"note\"\n\n[lnt]\nfail-on = \"warning\"\n",
    )
    .unwrap();
    let wanted = "migcheck.toml:4: unknown table [lnt] (did you mean [lint]?)";
    let o = run_in(dir.path(), &["lint", "db/migrations"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(wanted),
        "{}",
        text(&o)
    );
    // verify reads the file before it starts a database (this URL reaches none: exit 3 if it tried).
    let o = run_in(
        dir.path(),
        &[
            "verify",
            "db/migrations",
            "--provider",
            "url",
            "--url",
            "postgres://nobody:x@127.0.0.1:9/postgres",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(wanted),
        "{}",
        text(&o)
    );
    // --no-lint skips the lint's reading of the file; verify's own reading still refuses it.
    let o = run_in(
        dir.path(),
        &[
            "verify",
            "db/migrations",
            "--no-lint",
            "--provider",
            "url",
            "--url",
            "postgres://nobody:x@127.0.0.1:9/postgres",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(wanted),
        "{}",
        text(&o)
    );
}

#[test]
fn an_unknown_key_in_a_section_names_the_close_one() {
    let dir = project();
    std::fs::write(
        dir.path().join("migcheck.toml"),
        "[lint]\nfail_on = \"warning\"\n",
    )
    .unwrap();
    let o = run_in(dir.path(), &["lint", "db/migrations"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("migcheck.toml:2: unknown key `fail_on` in [lint] (did you mean `fail-on`?)"),
        "{}",
        text(&o)
    );
}
