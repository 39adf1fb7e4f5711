//! `migcheck verify` on real Alembic projects, through the project's own Alembic, on
//! PostgreSQL and MariaDB: the verdict each fixture was built for.
//!
//! Needs a Python with Alembic, SQLAlchemy and the drivers: `MIGCHECK_TEST_PYTHON` names it
//! (`.ci/run` creates it with `scripts/alembic-venv.sh`). Without it these tests fail.

mod support;

use std::path::Path;

use support::{fixture, verify, Run};

fn run(engine: &str, name: &str, extra: &[&str]) -> Run {
    run_project(
        support::migcheck(),
        engine,
        &fixture(&format!("alembic/{name}")),
        extra,
    )
}

/// `verify` of an Alembic project on the local provider, through `cmd` (its environment).
fn run_project(cmd: std::process::Command, engine: &str, project: &Path, extra: &[&str]) -> Run {
    let py = support::test_python();
    let mut args = vec![
        "--engine",
        engine,
        "--provider",
        "local",
        "--python",
        py.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    support::verify_with(cmd, project, &args)
}

fn check(run: &Run, name: &str, migration: Option<&str>) -> serde_json::Value {
    run.checks()
        .into_iter()
        .find(|c| c["name"] == name && c["migration"].as_str() == migration)
        .unwrap_or_else(|| panic!("no {name} check for {migration:?}\n{}", run.describe()))
}

fn clean_projects_pass(engine: &str) {
    for name in ["linear", "branched", "mixed_headers"] {
        let r = run(engine, name, &[]);
        assert_eq!(r.code(), 0, "{name} on {engine}\n{}", r.describe());
        let j = r.json.as_ref().unwrap();
        assert_eq!(j["format"], "alembic");
        let revisions = j["migrations"].as_array().unwrap().len();
        let roundtrips: Vec<_> = r
            .checks()
            .into_iter()
            .filter(|c| c["name"] == "roundtrip")
            .collect();
        assert_eq!(roundtrips.len(), revisions, "{name}");
        assert!(
            roundtrips.iter().all(|c| c["status"] == "pass"),
            "{name}\n{}",
            r.describe()
        );
        let version = check(&r, "alembic_version", None);
        assert_eq!(version["status"], "pass", "{version}");
    }
}

fn broken_projects_fail_for_their_reason(engine: &str) {
    // Two heads: the chain check fails and names the merge command; accepted on request, and
    // then alembic_version must hold both heads.
    let r = run(engine, "two_heads", &["--no-lint"]);
    assert_eq!(r.code(), 1, "{}", r.describe());
    assert_eq!(r.failing(), vec!["chain"], "{}", r.describe());
    assert!(check(&r, "chain", None)["detail"]
        .as_str()
        .unwrap()
        .contains("alembic merge"));
    let r = run(engine, "labels", &["--no-lint", "--allow-multiple-heads"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let heads = check(&r, "alembic_version", None);
    assert!(
        heads["message"].as_str().unwrap().contains(", "),
        "two heads expected: {heads}"
    );

    // A downgrade that forgets an index: the round trip of that revision fails with a diff.
    let r = run(engine, "forgot_index", &["--no-lint"]);
    assert_eq!(r.code(), 1, "{}", r.describe());
    let failing = r.failing();
    assert_eq!(failing.len(), 1, "{}", r.describe());
    assert!(failing[0].starts_with("roundtrip:"), "{failing:?}");
    let rt = r
        .checks()
        .into_iter()
        .find(|c| c["status"] == "fail")
        .unwrap();
    assert!(
        rt["diff"]
            .as_str()
            .unwrap()
            .contains("index ix_users_email"),
        "{rt}"
    );

    // NotImplementedError in a downgrade: not reversible, reported, not a crash.
    let r = run(engine, "irreversible", &["--no-lint"]);
    assert_eq!(r.code(), 0, "{}", r.describe());
    let skipped: Vec<_> = r
        .checks()
        .into_iter()
        .filter(|c| c["name"] == "roundtrip" && c["status"] == "skip")
        .collect();
    assert_eq!(skipped.len(), 1, "{}", r.describe());
    assert!(
        skipped[0]["message"]
            .as_str()
            .unwrap()
            .contains("NotImplementedError"),
        "{}",
        skipped[0]
    );
    let r = run(engine, "irreversible", &["--no-lint", "--require-down"]);
    assert_eq!(r.code(), 1, "{}", r.describe());

    // A NOT NULL column added to an existing table: every check passes, the lint of the SQL
    // Alembic really sent fails the gate and points at the revision's file.
    let r = run(engine, "not_null", &[]);
    assert_eq!(r.code(), 1, "{}", r.describe());
    assert!(r.failing().is_empty(), "{:?}", r.failing());
    let findings = r.json.as_ref().unwrap()["findings"]
        .as_array()
        .unwrap()
        .clone();
    let f = findings
        .iter()
        .find(|f| f["rule"] == "add-column-not-null-without-default")
        .unwrap_or_else(|| panic!("no finding\n{}", r.describe()));
    assert!(
        f["file"].as_str().unwrap().ends_with("_add_required.py"),
        "{f}"
    );
}

#[test]
fn postgres_alembic_projects() {
    clean_projects_pass("postgres");
    broken_projects_fail_for_their_reason("postgres");
}

/// Production runs every `alembic upgrade` on a new connection; migcheck's driver keeps one
/// and resets it between commands (`EngineReuse` in driver.py). The fixture's downs drop their
/// tables by the schema production puts them in: a session `search_path` that outlived its
/// command, or a database default the next command did not read, fails a round trip.
#[test]
fn postgres_alembic_commands_see_the_sessions_production_would() {
    for fresh in ["0", "1"] {
        let mut cmd = support::migcheck();
        cmd.env("MIGCHECK_ALEMBIC_FRESH_CONNECTIONS", fresh);
        let project = fixture("alembic/session_state");
        let r = run_project(cmd, "postgres", &project, &["--no-lint", "-v"]);
        assert_eq!(r.code(), 0, "fresh connections {fresh}\n{}", r.describe());
        let roundtrips = r
            .checks()
            .into_iter()
            .filter(|c| c["name"] == "roundtrip" && c["status"] == "pass")
            .count();
        assert_eq!(roundtrips, 4, "{}", r.describe());
        // The reuse is real when it is on: the driver said so at its stop.
        let said = r.stderr().contains("Alembic driver connections");
        assert_eq!(said, fresh == "0", "{}", r.describe());
    }
}

#[test]
fn mariadb_alembic_projects() {
    clean_projects_pass("mariadb");
    broken_projects_fail_for_their_reason("mariadb");
}

#[test]
fn python_without_alembic_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // An interpreter that exists but cannot import alembic.
    let fake = dir.path().join("python");
    std::fs::write(&fake, "#!/bin/sh\nexec python3 -I -S \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = verify(
        &fixture("alembic/linear"),
        &["--provider", "local", "--python", fake.to_str().unwrap()],
    );
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr().contains("alembic"), "{}", r.describe());
}

/// A `--python` that is not a Python (it answers, but not the driver's protocol) is bad input,
/// not a broken environment.
#[test]
fn python_that_is_not_python_is_bad_input() {
    let r = verify(
        &fixture("alembic/linear"),
        &["--provider", "local", "--python", "/bin/echo"],
    );
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(
        r.stderr().contains("--python /bin/echo"),
        "{}",
        r.describe()
    );
}

/// A relative `--python` is taken from where migcheck runs, not from the project folder the
/// driver starts in.
#[test]
fn relative_python_path_is_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    let wrapper = dir.path().join("bin/py");
    let absolute = std::path::absolute(support::test_python()).unwrap();
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", absolute.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let json = dir.path().join("report.json");
    let out = support::migcheck()
        .arg("verify")
        .arg(fixture("alembic/linear"))
        .args([
            "--engine",
            "postgres",
            "--provider",
            "local",
            "--python",
            "bin/py",
            "--json",
        ])
        .arg(&json)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--statement-timeout` reaches Alembic's connection on PostgreSQL (through libpq's
/// `PGOPTIONS`): a revision whose statement never returns fails at that revision.
#[test]
fn statement_timeout_reaches_alembic_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("linear");
    support::copy_dir(&fixture("alembic/linear"), &project);
    std::fs::write(
        project.join("migrations/versions/1a2b3c4d5e05_slow.py"),
        "\"\"\"slow\n\nRevision ID: 1a2b3c4d5e05\nRevises: 1a2b3c4d5e04\n\"\"\"\n\
         from alembic import op\n\n\
         revision = '1a2b3c4d5e05'\ndown_revision = '1a2b3c4d5e04'\n\
         branch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n    op.execute(\"SELECT pg_sleep(100000)\")\n\n\n\
         def downgrade():\n    pass\n",
    )
    .unwrap();
    // Without the timeout this run would not end: the statement sleeps for a day.
    let run = run_project(
        support::migcheck(),
        "postgres",
        &project,
        &["--statement-timeout", "1"],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    let up = check(&run, "upgrade", Some("1a2b3c4d5e05"));
    assert_eq!(up["status"], "fail", "{}", run.describe());
    assert!(
        run.stdout().contains("statement timeout"),
        "{}",
        run.describe()
    );
}

/// A revision file that does not import (a syntax error in its body) is reported at that
/// file and line, not blamed on the revision being upgraded when Alembic loaded them all.
/// A revision that runs too long for `--migration-timeout` fails at that revision.
#[test]
fn syntax_error_is_reported_at_its_file_and_migration_timeout_reaches_alembic() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("linear");
    support::copy_dir(&fixture("alembic/linear"), &project);
    let bad = project.join("migrations/versions/1a2b3c4d5e05_broken.py");
    std::fs::write(
        &bad,
        "\"\"\"broken\n\nRevision ID: 1a2b3c4d5e05\nRevises: 1a2b3c4d5e04\n\"\"\"\n\
         from alembic import op\n\n\
         revision = '1a2b3c4d5e05'\ndown_revision = '1a2b3c4d5e04'\n\
         branch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n    op.execute(\"SELECT 1\"\n\n\n\
         def downgrade():\n    pass\n",
    )
    .unwrap();
    let run = run_project(support::migcheck(), "postgres", &project, &[]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let failed: Vec<serde_json::Value> = run
        .checks()
        .into_iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert!(!failed.is_empty(), "{}", run.describe());
    for c in &failed {
        assert!(
            c["file"]
                .as_str()
                .unwrap()
                .ends_with("1a2b3c4d5e05_broken.py"),
            "blamed on another file: {c}"
        );
        // Python points at the unclosed parenthesis's line or the one after it.
        let line = c["line"].as_u64().unwrap();
        assert!((15..=18).contains(&line), "line {line}: {c}");
    }

    std::fs::write(
        &bad,
        "\"\"\"slow\n\nRevision ID: 1a2b3c4d5e05\nRevises: 1a2b3c4d5e04\n\"\"\"\n\
         from alembic import op\n\n\
         revision = '1a2b3c4d5e05'\ndown_revision = '1a2b3c4d5e04'\n\
         branch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n    for _ in range(20):\n        op.execute(\"SELECT pg_sleep(0.5)\")\n\n\n\
         def downgrade():\n    pass\n",
    )
    .unwrap();
    let run = run_project(
        support::migcheck(),
        "postgres",
        &project,
        &["--migration-timeout", "2"],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    let up = check(&run, "upgrade", Some("1a2b3c4d5e05"));
    assert_eq!(up["status"], "fail", "{}", run.describe());
    assert!(
        up.to_string().contains("--migration-timeout (2 s)"),
        "{}",
        run.describe()
    );
}

/// A project whose script folder has no env.py is bad input naming the configuration, before
/// any server starts (Alembic would fail every command on it).
#[test]
fn missing_env_py_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("linear");
    support::copy_dir(&fixture("alembic/linear"), &project);
    std::fs::remove_file(project.join("migrations/env.py")).unwrap();
    let r = verify(&project, &["--provider", "local"]);
    assert_eq!(r.code(), 2, "{}", r.describe());
    assert!(r.stderr().contains("alembic.ini"), "{}", r.describe());
    assert!(
        r.stderr().contains("env.py does not exist"),
        "{}",
        r.describe()
    );
}
