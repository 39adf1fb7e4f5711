//! Behaviour of `migcheck verify` as a CI gate: exit codes, report shapes, terminal output,
//! secrets, determinism. Runs the built binary against servers from the local provider.

mod support;

use support::{fixture, migcheck, verify};

#[test]
fn missing_folder_is_bad_input() {
    let run = verify(&fixture("does/not/exist"), &["--engine", "postgres"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr().contains("does/not/exist"),
        "{}",
        run.describe()
    );
    // The report still records why the gate did not pass.
    let json = run.json.as_ref().expect("JSON report on bad input");
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["exit_code"], 2);
}

#[test]
fn unknown_engine_is_usage_error() {
    let out = migcheck()
        .args([
            "verify",
            "fixtures/postgres/golang-migrate/clean",
            "--engine",
            "oracle",
        ])
        .current_dir(support::repo_root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oracle"));
}

#[test]
fn url_provider_without_url_is_usage_error() {
    let run = verify(
        &fixture("postgres/golang-migrate/clean"),
        &["--provider", "url"],
    );
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("--url"), "{}", run.describe());
}

#[test]
fn unreachable_server_is_environment_error_and_never_shows_the_password() {
    let secret = "pw-Zq8XvT3k";
    let url = format!("postgres://alice:{secret}@127.0.0.1:1/postgres");
    let run = verify(
        &fixture("postgres/golang-migrate/clean"),
        &["--provider", "url", "--url", &url],
    );
    assert_eq!(run.code(), 3, "{}", run.describe());
    let json = serde_json::to_string(run.json.as_ref().expect("report")).unwrap();
    for text in [
        run.stdout(),
        run.stderr(),
        json,
        run.junit.clone().unwrap_or_default(),
    ] {
        assert!(!text.contains(secret), "password leaked:\n{text}");
    }
    assert!(
        run.stderr().contains("alice:***@127.0.0.1:1"),
        "{}",
        run.describe()
    );
}

#[test]
fn clean_chain_report_has_the_documented_shape() {
    let run = verify(
        &fixture("postgres/golang-migrate/clean"),
        &["--engine", "postgres", "--provider", "local"],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    let j = run.json.as_ref().unwrap();
    assert_eq!(j["report_version"], 1);
    assert_eq!(j["verdict"], "pass");
    assert_eq!(j["format"], "golang-migrate");
    assert_eq!(j["engine"]["name"], "postgres");
    assert!(j["engine"]["version"]
        .as_str()
        .unwrap()
        .starts_with(char::is_numeric));
    assert_eq!(j["provider"]["name"], "local");
    // Lint findings ride along; below `fail_on` (error) they do not fail the gate.
    assert_eq!(j["options"]["fail_on"], "error");
    for f in j["findings"].as_array().unwrap() {
        assert!(
            f["rule"].is_string() && f["file"].is_string() && f["line"].is_u64(),
            "{f}"
        );
        assert_ne!(f["severity"], "error", "{f}");
    }
    let migrations = j["migrations"].as_array().unwrap();
    assert!(migrations.len() >= 3);
    for m in migrations {
        assert!(m["id"].is_string() && m["name"].is_string());
        assert!(!m["files"].as_array().unwrap().is_empty());
    }
    // chain + (upgrade, roundtrip) per migration, all passing, each timed.
    let checks = run.checks();
    assert_eq!(checks.len(), 1 + 2 * migrations.len());
    assert!(checks
        .iter()
        .all(|c| c["status"] == "pass" && c["duration_ms"].is_u64()));
    let roundtrips = checks.iter().filter(|c| c["name"] == "roundtrip").count();
    assert_eq!(roundtrips, migrations.len());
    // One progress line per migration on the terminal.
    for m in migrations {
        let id = m["id"].as_str().unwrap();
        assert_eq!(
            run.stdout()
                .lines()
                .filter(|l| l.starts_with('✓') && l.contains(id))
                .count(),
            1,
            "{}",
            run.stdout()
        );
    }
    let t = &j["timings"];
    assert!(t["server_start_ms"].as_u64().unwrap() > 0);
    // The split adds up to the wall time: `other_ms` is what no named bucket holds.
    let buckets = [
        "chain_ms",
        "history_ms",
        "server_start_ms",
        "databases_ms",
        "migrations_ms",
        "observation_ms",
        "snapshots_ms",
        "compare_ms",
        "replay_ms",
        "lint_ms",
        "teardown_ms",
        "parallel_ms",
        "other_ms",
    ];
    let sum: u64 = buckets.iter().map(|b| t[b].as_u64().unwrap()).sum();
    assert_eq!(sum, t["total_ms"].as_u64().unwrap(), "{t}");
    let time_line = run
        .stdout()
        .lines()
        .find(|l| l.starts_with("time: "))
        .unwrap()
        .to_string();
    for shown in ["server start", "migrations", "snapshots"] {
        assert!(time_line.contains(shown), "{time_line}");
    }
}

#[test]
fn forgotten_index_shows_a_diff_naming_the_index() {
    let run = verify(
        &fixture("postgres/broken/down-forgets-index"),
        &["--engine", "postgres"],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    let failed: Vec<_> = run
        .checks()
        .into_iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{}", run.describe());
    let check = &failed[0];
    assert_eq!(check["name"], "roundtrip");
    let objects = check["objects"].as_array().expect("objects that differ");
    assert!(
        objects
            .iter()
            .any(|o| o.as_str().unwrap().contains("> index ")),
        "{check}"
    );
    let diff = check["diff"].as_str().expect("a diff");
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("index")),
        "{diff}"
    );
    // The terminal shows the same diff.
    assert!(run.stdout().contains("index"), "{}", run.stdout());
}

#[test]
fn full_roundtrip_mode_passes_a_clean_chain_and_catches_a_bad_down() {
    let run = verify(
        &fixture("postgres/golang-migrate/clean"),
        &["--roundtrip", "full"],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(run.json.as_ref().unwrap()["options"]["roundtrip"], "full");
    let run = verify(
        &fixture("postgres/broken/down-forgets-index"),
        &["--roundtrip", "full"],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert!(
        run.failing().iter().any(|f| f.starts_with("roundtrip:")),
        "{}",
        run.describe()
    );
}

#[test]
fn snapshot_out_is_byte_identical_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for i in 0..2 {
        let path = dir.path().join(format!("snap{i}.json"));
        let run = verify(
            &fixture("postgres/golang-migrate/clean"),
            &["--snapshot-out", path.to_str().unwrap()],
        );
        assert_eq!(run.code(), 0, "{}", run.describe());
        outputs.push(std::fs::read(&path).expect("snapshot written"));
    }
    assert_eq!(outputs[0], outputs[1]);
    let snap: serde_json::Value = serde_json::from_slice(&outputs[0]).unwrap();
    assert!(snap["objects"]
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.starts_with("table ")));
}

#[test]
fn quiet_prints_failures_and_verdict_only() {
    let run = verify(&fixture("postgres/golang-migrate/clean"), &["--quiet"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let ids: Vec<String> = run.json.as_ref().unwrap()["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !ids.iter().any(|id| run.stdout().contains(id.as_str())),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().to_lowercase().contains("pass"),
        "{}",
        run.stdout()
    );
}

#[test]
fn require_down_turns_a_missing_down_into_a_failure() {
    let run = verify(&fixture("postgres/broken/missing-down"), &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(run
        .checks()
        .iter()
        .any(|c| c["status"] == "skip" && c["name"] == "roundtrip"));
    let run = verify(
        &fixture("postgres/broken/missing-down"),
        &["--require-down"],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
}

#[test]
fn lint_errors_fail_the_verify_gate_and_show_in_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("0001_create_t.up.sql"), "CREATE TABLE t (id int);\n").unwrap();
    std::fs::write(d.join("0001_create_t.down.sql"), "DROP TABLE t;\n").unwrap();
    std::fs::write(d.join("0002_drop_t.up.sql"), "-- retire t\nDROP TABLE t;\n").unwrap();
    std::fs::write(d.join("0002_drop_t.down.sql"), "CREATE TABLE t (id int);\n").unwrap();

    let run = verify(d, &[]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    // Every check passed: the lint finding alone fails the gate.
    assert!(run.failing().is_empty(), "{:?}", run.failing());
    let findings = run.json.as_ref().unwrap()["findings"]
        .as_array()
        .unwrap()
        .clone();
    let drop = findings
        .iter()
        .find(|f| f["rule"] == "drop-table")
        .expect("drop-table finding");
    assert_eq!(drop["severity"], "error");
    assert_eq!(drop["line"], 2);
    assert!(drop["file"]
        .as_str()
        .unwrap()
        .ends_with("0002_drop_t.up.sql"));
    assert!(
        run.stdout().contains("error[drop-table]"),
        "{}",
        run.stdout()
    );
    let junit = run.junit.clone().unwrap();
    assert!(
        junit.contains("drop-table") && junit.contains("<failure"),
        "{junit}"
    );
    support::validate_junit(&run.junit_path).unwrap();

    assert_eq!(verify(d, &["--no-lint"]).code(), 0);
    assert_eq!(verify(d, &["--disable", "drop-table"]).code(), 0);
    // A suppression with a reason, as users write it, also clears the gate.
    std::fs::write(
        d.join("0002_drop_t.up.sql"),
        "-- migcheck:ignore drop-table -- t has been unused since v2\nDROP TABLE t;\n",
    )
    .unwrap();
    let run = verify(d, &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
}

/// A report path that cannot be written is bad input found before any database is started
/// (exit 2 naming the flag), not a broken environment after the whole run.
#[test]
fn unwritable_report_paths_are_bad_input_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, "x").unwrap();
    let under_a_file = a_file.join("report.json");
    for (flag, path, words) in [
        ("--json", dir.path().to_path_buf(), "is a directory"),
        ("--junit", dir.path().to_path_buf(), "is a directory"),
        ("--json", under_a_file.clone(), "is not a directory"),
        ("--snapshot-out", under_a_file.clone(), "is not a directory"),
    ] {
        for command in ["verify", "lint"] {
            if command == "lint" && flag == "--snapshot-out" {
                continue;
            }
            let mut cmd = support::migcheck();
            cmd.args([command, "fixtures/postgres/golang-migrate/clean"]);
            if command == "verify" {
                cmd.args(["--provider", "local"]);
            }
            let out = cmd
                .arg(flag)
                .arg(&path)
                .current_dir(support::repo_root())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command} {flag} {path:?}: {err}"
            );
            assert!(
                err.contains(flag) && err.contains(words),
                "{command} {flag}: {err}"
            );
            assert!(!err.contains("starting"), "no server is started: {err}");
        }
    }
    // A missing parent folder is created (and the report written there).
    let nested = dir.path().join("new/folder/lint.json");
    let out = support::migcheck()
        .args(["lint", "fixtures/postgres/golang-migrate/clean", "--json"])
        .arg(&nested)
        .current_dir(support::repo_root())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(nested.is_file());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("note: created"),
        "a folder outside the working tree is created loudly"
    );
}

/// A statement that never returns fails its migration at that statement once
/// `--statement-timeout` passes (the server cancels it), instead of hanging the gate.
#[test]
fn statement_timeout_fails_the_migration_at_its_statement() {
    for (engine, slow) in [
        ("postgres", "SELECT pg_sleep(100000);"),
        // MariaDB's SLEEP returns quietly when cancelled: a statement that really works.
        (
            "mariadb",
            "CREATE TABLE big AS SELECT seq FROM seq_1_to_100000000000;",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("1_a.up.sql"), "CREATE TABLE t (id int);\n").unwrap();
        std::fs::write(p.join("1_a.down.sql"), "DROP TABLE t;\n").unwrap();
        std::fs::write(p.join("2_slow.up.sql"), format!("SELECT 1;\n{slow}\n")).unwrap();
        std::fs::write(p.join("2_slow.down.sql"), "SELECT 1;\n").unwrap();
        // Without the timeout this run would not end: the statement sleeps for a day.
        let run = verify(
            p,
            &[
                "--engine",
                engine,
                "--provider",
                "local",
                "--format",
                "golang-migrate",
                "--statement-timeout",
                "1",
            ],
        );
        assert_eq!(run.code(), 1, "{engine}: {}", run.describe());
        assert_eq!(
            run.failing(),
            vec!["upgrade:2_slow".to_string()],
            "{engine}: {}",
            run.describe()
        );
        let out = run.stdout();
        assert!(out.contains("2_slow.up.sql:2:"), "{engine}: {out}");
        assert!(out.contains("--statement-timeout (1 s)"), "{engine}: {out}");
    }
}

/// A migration whose statements each finish but that together run too long fails at the
/// statement it was running once `--migration-timeout` passes; its session is ended, and the
/// chain goes on (a down that ran out of time: that round trip fails, the next migration runs).
#[test]
fn migration_timeout_fails_the_migration_at_the_running_statement() {
    for (engine, sleep) in [
        ("postgres", "SELECT pg_sleep(0.8);"),
        ("mariadb", "DO SLEEP(0.8);"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("1_a.up.sql"), "CREATE TABLE t (id int);\n").unwrap();
        std::fs::write(p.join("1_a.down.sql"), "DROP TABLE t;\n").unwrap();
        std::fs::write(p.join("2_slow.up.sql"), "CREATE TABLE s (id int);\n").unwrap();
        let slow_down = format!("{}DROP TABLE s;\n", format!("{sleep}\n").repeat(6));
        std::fs::write(p.join("2_slow.down.sql"), slow_down).unwrap();
        std::fs::write(p.join("3_b.up.sql"), "CREATE TABLE b (id int);\n").unwrap();
        std::fs::write(p.join("3_b.down.sql"), "DROP TABLE b;\n").unwrap();
        let run = verify(
            p,
            &[
                "--engine",
                engine,
                "--provider",
                "local",
                "--format",
                "golang-migrate",
                "--statement-timeout",
                "0",
                "--migration-timeout",
                "2",
            ],
        );
        assert_eq!(run.code(), 1, "{engine}: {}", run.describe());
        assert_eq!(
            run.failing(),
            vec!["roundtrip:2_slow".to_string()],
            "{engine}: {}",
            run.describe()
        );
        let checks = run.checks();
        let failed = checks
            .iter()
            .find(|c| c["name"] == "roundtrip" && c["migration"] == "2_slow")
            .unwrap();
        let text = failed.to_string();
        assert!(
            text.contains("--migration-timeout (2 s)"),
            "{engine}: {text}"
        );
        // Statements start at 0, 0.8, 1.6 and 2.4 s: the third was running at 2 s.
        let line = failed["line"].as_u64().unwrap();
        assert!((2..=4).contains(&line), "{engine}: line {line}: {text}");
        let after = checks
            .iter()
            .find(|c| c["name"] == "upgrade" && c["migration"] == "3_b")
            .unwrap();
        assert_eq!(after["status"], "pass", "{engine}: {}", run.describe());
        let json = run.json.as_ref().unwrap();
        assert_eq!(json["options"]["migration_timeout_s"], 2);
        assert_eq!(json["options"]["statement_timeout_s"], 0);
    }
}

/// A server whose disk fills up during a migration is a broken environment (exit 3), not a
/// failed gate: the migration is not to blame. The server's data directory is put on a 120 MB
/// tmpfs (TMPDIR for the local provider), which needs root to mount.
#[test]
fn disk_full_is_an_environment_failure() {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var_os("MIGCHECK_REQUIRE_ROOT").is_none(),
            "MIGCHECK_REQUIRE_ROOT is set but this test does not run as root"
        );
        eprintln!("SKIPPED disk_full_is_an_environment_failure: needs root to mount a small tmpfs");
        return;
    }
    let small = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=120m,mode=1777", "tmpfs"])
        .arg(small.path())
        .status()
        .expect("run mount");
    assert!(
        mounted.success(),
        "cannot mount a tmpfs on {}",
        small.path().display()
    );
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(small.path());
    for (engine, fill) in [
        (
            "postgres",
            "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g + 1)::text) AS v \
             FROM generate_series(1, 5000000) g;\n",
        ),
        (
            "mariadb",
            "CREATE TABLE big (id INT PRIMARY KEY AUTO_INCREMENT, v TEXT);\n\
             INSERT INTO big (v) SELECT CONCAT(MD5(seq), MD5(seq + 1), MD5(seq + 2)) \
             FROM seq_1_to_3000000;\n",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("1_a.up.sql"), "CREATE TABLE t (id int);\n").unwrap();
        std::fs::write(p.join("1_a.down.sql"), "DROP TABLE t;\n").unwrap();
        std::fs::write(p.join("2_big.up.sql"), fill).unwrap();
        std::fs::write(p.join("2_big.down.sql"), "DROP TABLE big;\n").unwrap();
        let reports = tempfile::tempdir().unwrap();
        let json = reports.path().join("report.json");
        let out = support::migcheck()
            .arg("verify")
            .arg(p)
            .args([
                "--engine",
                engine,
                "--provider",
                "local",
                "--format",
                "golang-migrate",
            ])
            .arg("--json")
            .arg(&json)
            .env("TMPDIR", small.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(3), "{engine}: {text}");
        assert!(text.contains("ran out of disk space"), "{engine}: {text}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(report["exit_code"], 3, "{engine}: {report}");
        let passed = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["migration"] == "1_a" && c["status"] == "pass");
        assert!(passed, "the checks before it are kept: {report}");
        let left: Vec<_> = std::fs::read_dir(small.path()).unwrap().flatten().collect();
        assert!(left.is_empty(), "{engine}: left on the tmpfs: {left:?}");
    }
}
