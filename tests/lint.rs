//! `migcheck lint` and `migcheck rules` end to end, through the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("MIGCHECK_ENGINE")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run migcheck")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const CHAIN: &str = "fixtures/lint/chains/pg/migrations";

#[test]
fn chain_findings_compiler_style_and_exit_1() {
    let o = run(&["lint", CHAIN]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains(
        "fixtures/lint/chains/pg/migrations/0003_add_status.up.sql:1:30: error[add-column-not-null-without-default]: column `status` is added to `users`"
    ), "{out}");
    assert!(
        out.contains("    ALTER TABLE users ADD COLUMN status text NOT NULL\n"),
        "{out}"
    );
    assert!(out.contains("    = help: add the column nullable"), "{out}");
    // Suppressed with a reason, and the widening is known to be free from the earlier CREATE.
    assert!(!out.contains("rename-column"), "{out}");
    assert!(!out.contains("alter-column-type"), "{out}");
    // Downs are not linted by default.
    assert!(!out.contains(".down.sql"), "{out}");
    assert!(
        out.contains("lint: 1 error, 2 warnings, 0 info in 3 scripts\nFAIL"),
        "{out}"
    );
}

#[test]
fn downs_on_request() {
    let out = stdout(&run(&["lint", CHAIN, "--downs"]));
    assert!(
        out.contains("0001_create_users.down.sql:1:12: error[drop-table]"),
        "{out}"
    );
}

#[test]
fn disable_and_fail_on() {
    let o = run(&[
        "lint",
        CHAIN,
        "--disable",
        "add-column-not-null-without-default",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).ends_with("PASS\n"));
    let o = run(&[
        "lint",
        CHAIN,
        "--disable",
        "add-column-not-null-without-default",
        "--fail-on",
        "warning",
    ]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn json_and_junit_reports() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("lint.json");
    let junit = dir.path().join("lint.xml");
    let o = run(&[
        "lint",
        CHAIN,
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["exit_code"], 1);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 3);
    let f = findings
        .iter()
        .find(|f| f["rule"] == "add-column-not-null-without-default")
        .unwrap();
    assert_eq!(f["severity"], "error");
    assert_eq!(f["line"], 1);
    assert_eq!(f["column"], 30);
    assert_eq!(f["migration"], "0003_add_status");
    assert_eq!(
        f["statement"],
        "ALTER TABLE users ADD COLUMN status text NOT NULL"
    );
    assert!(f["help"].as_str().unwrap().contains("backfill"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"lint:add-column-not-null-without-default\""),
        "{xml}"
    );
    assert!(
        xml.contains("classname=\"migcheck.0003_add_status\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    // Quiet: no per-finding lines.
    assert!(!stdout(&o).contains("error["));
}

#[test]
fn single_file_mysql() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("change.sql");
    std::fs::write(
        &file,
        "ALTER TABLE t ADD COLUMN a int NOT NULL DEFAULT 0;\nALTER TABLE t MODIFY COLUMN b bigint, ALGORITHM=COPY;\n",
    )
    .unwrap();
    let o = run(&["lint", file.to_str().unwrap(), "--engine", "mysql"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("change.sql:2:1: warning[multiple-ddl-statements]"),
        "{out}"
    );
    assert!(out.contains("warning[algorithm-copy]"), "{out}");
    assert!(out.contains("warning[alter-column-type]"), "{out}");
}

#[test]
fn config_file_is_discovered_and_overridden_by_flags() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("db/migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("0001_a.up.sql"),
        "ALTER TABLE t ADD COLUMN a int DEFAULT 0;\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("migcheck.toml"),
        "[lint]\npg-version = 10\nfail-on = \"warning\"\n",
    )
    .unwrap();
    let m = migrations.to_str().unwrap();
    let o = run(&["lint", m]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("add-column-rewriting-default"));
    let o = run(&["lint", m, "--pg-version", "11"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn bad_input_exits_2_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[lint]\nfail-on = \"error\"\nenable = [\"nope\"]\n").unwrap();
    let o = run(&["lint", CHAIN, "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml:3: "), "{err}");
    assert!(err.contains("unknown rule `nope`"), "{err}");

    let o = run(&["lint", "does/not/exist.sql"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["lint", CHAIN, "--enable", "no-such-rule"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn rules_catalog_and_explanations() {
    let o = run(&["rules"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.lines().count() >= 30, "{out}");
    assert!(out.contains("prefer-jsonb") && out.contains("(opt-in)"));
    let o = run(&["rules", "set-not-null"]);
    let out = stdout(&o);
    assert!(
        out.contains("Why it is dangerous:") && out.contains("VALIDATE CONSTRAINT"),
        "{out}"
    );
    let o = run(&["rules", "nope"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn every_fixture_runs_through_the_binary() {
    // bad.sql of an error-severity rule fails the run; the binary never crashes on any fixture.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lint");
    for engine in ["postgres", "mysql", "mariadb"] {
        let mut files: Vec<PathBuf> = Vec::new();
        for rule in std::fs::read_dir(root.join(engine)).unwrap() {
            let rule = rule.unwrap().path();
            files.push(rule.join("bad.sql"));
            files.push(rule.join("good.sql"));
        }
        for f in files {
            let o = run(&[
                "lint",
                f.to_str().unwrap(),
                "--engine",
                engine,
                "--enable",
                "all",
            ]);
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{}: {:?}",
                f.display(),
                o
            );
        }
    }
}

/// What `lint` cannot read is bad input (exit 2, file and line), never a pass that hides the
/// statements before the broken construct; `verify` judges the same files the same way, before
/// any database is started.
#[test]
fn unreadable_scripts_are_bad_input_for_lint_and_verify_alike() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (engine, up script, expected location, expected words)
        (
            "postgres",
            "DROP TABLE users;\nSELECT 'oops;\n",
            ":2",
            "unterminated string",
        ),
        (
            "postgres",
            "DROP TABLE users;\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1;\n",
            ":2",
            "unterminated dollar-quoted string",
        ),
        (
            "postgres",
            "DROP TABLE users;\n/* never closed\n",
            ":2",
            "unterminated block comment",
        ),
        (
            "postgres",
            "DROP TABLE users;\nSELECT \"oops;\n",
            ":2",
            "unterminated quoted identifier",
        ),
        (
            "postgres",
            "DROP TABLE users;\nSELECT E'it\\'s;\n",
            ":2",
            "unterminated",
        ),
        (
            "mariadb",
            "DROP TABLE users;\nSELECT `oops;\n",
            ":2",
            "unterminated",
        ),
        (
            "mariadb",
            "DROP TABLE users;\nSELECT \"it\\\";\n",
            ":2",
            "unterminated",
        ),
    ];
    for (engine, up, location, words) in cases {
        let dir = tempfile::tempdir().unwrap();
        let chain = dir.path().join("migrations");
        std::fs::create_dir(&chain).unwrap();
        std::fs::write(chain.join("1_init.up.sql"), up).unwrap();
        std::fs::write(chain.join("1_init.down.sql"), "SELECT 1;\n").unwrap();
        let file = chain.join("1_init.up.sql").display().to_string();
        let chain = chain.to_str().unwrap();

        let lint = run(&["lint", chain, "--engine", engine]);
        let err = String::from_utf8_lossy(&lint.stderr);
        assert_eq!(
            lint.status.code(),
            Some(2),
            "lint {up:?}: {}{err}",
            stdout(&lint)
        );
        assert!(
            err.contains(&format!("{file}{location}")),
            "lint {up:?}: {err}"
        );
        assert!(err.contains(words), "lint {up:?}: {err}");
        assert!(!stdout(&lint).contains("PASS"), "lint {up:?}");

        let verify = run(&["verify", chain, "--engine", engine, "--provider", "local"]);
        let verr = String::from_utf8_lossy(&verify.stderr);
        assert_eq!(verify.status.code(), Some(2), "verify {up:?}: {verr}");
        assert!(
            verr.contains(&format!("{file}{location}")),
            "verify {up:?}: {verr}"
        );
    }
}

/// A folder whose only file is rejected (a version no integer holds) gives lint nothing to
/// read: exit 2 naming the file, never "0 scripts, PASS".
#[test]
fn lint_that_reads_nothing_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let name = "99999999999999999999999999999999999999999_init.up.sql";
    std::fs::write(dir.path().join(name), "DROP TABLE users;\n").unwrap();
    let o = run(&["lint", dir.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}{err}", stdout(&o));
    assert!(err.contains(name), "{err}");
    assert!(!stdout(&o).contains("PASS"));
}

/// Statement excerpts never show a password literal: a migration that creates a user often
/// holds a real credential.
#[test]
fn lint_excerpts_redact_password_literals() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("create_user.sql");
    std::fs::write(
        &file,
        "CREATE ROLE app LOGIN PASSWORD 'Sup3rSecret!' NOSUCHOPTION;\n",
    )
    .unwrap();
    let json = dir.path().join("lint.json");
    let o = run(&[
        "lint",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    let report = std::fs::read_to_string(&json).unwrap();
    // The statement is shown (a parse finding), with its literal masked.
    assert!(report.contains("PASSWORD '***'"), "{report}");
    assert!(out.contains("PASSWORD '***'"), "{out}");
    assert!(!out.contains("Sup3rSecret"), "{out}");
    assert!(!report.contains("Sup3rSecret"), "{report}");
}

#[test]
fn a_down_named_on_the_command_line_is_judged_as_a_down() {
    // What a pre-commit hook passes: the changed files, ups and downs alike.
    let down = "fixtures/postgres/golang-migrate/clean/000001_create_users.down.sql";
    let up = "fixtures/postgres/golang-migrate/clean/000002_create_accounts.up.sql";
    let o = run(&["lint", down, up]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("note: not linted, down script"), "{out}");
    assert!(!out.contains("drop-table"), "{out}");
    // Alone, it is still a pass: nothing was left unread by mistake.
    let o = run(&["lint", down]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // On request it is linted, and its DROP TABLE is an error like any other.
    let o = run(&["lint", down, "--downs"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("error[drop-table]"), "{out}");
}
