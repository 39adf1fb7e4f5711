//! Ctrl-C and SIGTERM during a run leave no server process, temp directory or throwaway
//! database behind, and the run exits with 130 (SIGINT) / 143 (SIGTERM) / 129 (SIGHUP).

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A chain whose second migration sleeps, so the signal lands while a server is running.
fn slow_chain(dir: &Path, sleep_sql: &str) {
    std::fs::write(dir.join("0001_create.up.sql"), "CREATE TABLE t (id int);\n").unwrap();
    std::fs::write(dir.join("0001_create.down.sql"), "DROP TABLE t;\n").unwrap();
    std::fs::write(dir.join("0002_sleep.up.sql"), format!("{sleep_sql};\n")).unwrap();
    std::fs::write(dir.join("0002_sleep.down.sql"), "SELECT 1;\n").unwrap();
}

/// Start `migcheck verify` under a private TMPDIR, wait until its first migration applied,
/// send `signal`, and check the exit code and that nothing is left behind.
fn interrupt_run(engine: &str, sleep_sql: &str, signal: Signal, extra: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let migrations = work.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    slow_chain(&migrations, sleep_sql);
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // The local provider may run the server as an unprivileged user: let it create its dir here.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();

    let json = work.path().join("report.json");
    let mut child = support::migcheck()
        .arg("verify")
        .arg(&migrations)
        .args(["--engine", engine])
        .arg("--json")
        .arg(&json)
        .args(extra)
        .env("TMPDIR", &tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start migcheck");

    // The first migration's progress line means: server up, database created, step 2 sleeping.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "migcheck never reported migration 0001:\n{}",
            seen.join("\n")
        );
        match lines.next() {
            Some(Ok(line)) => {
                let done = line.contains("0001_create");
                seen.push(line);
                if done {
                    break;
                }
            }
            _ => panic!(
                "migcheck ended before migration 0001 applied:\n{}",
                seen.join("\n")
            ),
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !support::processes_mentioning(tmp.to_str().unwrap()).is_empty() || extra.contains(&"url"),
        "expected a server process running under {}",
        tmp.display()
    );
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "migcheck did not exit within 60 s of {signal}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap_or_default();
    let expected = match signal {
        Signal::SIGINT => 130,
        Signal::SIGHUP => 129,
        _ => 143,
    };
    assert_eq!(
        status.code(),
        Some(expected),
        "exit status after {signal}; stderr:\n{stderr}"
    );

    // CI archives what was verified until the signal: the report is written, marked.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("a report after the signal"))
            .unwrap();
    assert_eq!(report["exit_code"], expected, "{report}");
    assert_eq!(report["verdict"], "fail", "{report}");
    let checks = report["checks"].as_array().unwrap();
    let last = checks.last().expect("checks");
    assert_eq!(last["name"], "interrupted", "{report}");
    assert!(
        last["message"].as_str().unwrap().contains(signal.as_str()),
        "{report}"
    );
    assert!(
        checks
            .iter()
            .any(|c| c["migration"] == "0001_create" && c["status"] == "pass"),
        "the checks completed before the signal are kept: {report}"
    );

    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        left.is_empty(),
        "temp files left behind after {signal}: {left:?}"
    );
    // Give killed children a moment to be reaped before looking for them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let procs = support::processes_mentioning(tmp.to_str().unwrap());
        if procs.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server processes outlived migcheck: {procs:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigint_during_postgres_run_cleans_up() {
    interrupt_run(
        "postgres",
        "SELECT pg_sleep(60)",
        Signal::SIGINT,
        &["--provider", "local"],
    );
}

#[test]
fn sigterm_during_postgres_run_cleans_up() {
    interrupt_run(
        "postgres",
        "SELECT pg_sleep(60)",
        Signal::SIGTERM,
        &["--provider", "local"],
    );
}

#[test]
fn sigint_during_mariadb_run_cleans_up() {
    interrupt_run(
        "mariadb",
        "DO SLEEP(60)",
        Signal::SIGINT,
        &["--provider", "local"],
    );
}

/// A closed terminal or a CI runner that hangs up: handled like SIGTERM.
#[test]
fn sighup_during_mariadb_run_cleans_up() {
    interrupt_run(
        "mariadb",
        "DO SLEEP(60)",
        Signal::SIGHUP,
        &["--provider", "local"],
    );
}
