//! The docker provider against a real Docker engine: the same fixture verdicts as the local
//! provider, no container outliving a run however it ends, `migcheck cleanup`, clear errors.
//!
//! Needs a Docker engine and the test images (`scripts/build-test-images.sh`, which builds them
//! from Debian's packages where no registry is reachable). Without them these tests print a loud
//! SKIPPED notice, unless `MIGCHECK_REQUIRE_DOCKER=1` (set by `.ci/run` wherever an engine
//! answers), which turns the missing engine or image into a failure.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migcheck::engine::Engine;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::{docker_ready, fixture, image, migcheck, run_all, verify};

/// These tests count the engine's labelled containers before and after a run: they must not
/// overlap, so each holds this lock.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Ids of the containers carrying migcheck's label.
fn labelled_containers() -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=dev.migcheck.managed=true"])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn fixtures_via_docker(engine: Engine) {
    let before = labelled_containers();
    run_all(engine, "docker", &["--image".to_string(), image(engine)]);
    let after = labelled_containers();
    let new: Vec<_> = after.iter().filter(|c| !before.contains(c)).collect();
    assert!(new.is_empty(), "containers outlived their runs: {new:?}");
}

#[test]
fn postgres_fixtures_via_docker_provider() {
    let _serial = serial();
    if docker_ready("postgres_fixtures_via_docker_provider") {
        fixtures_via_docker(Engine::Postgres);
    }
}

#[test]
fn mariadb_fixtures_via_docker_provider() {
    let _serial = serial();
    if docker_ready("mariadb_fixtures_via_docker_provider") {
        fixtures_via_docker(Engine::Mariadb);
    }
}

/// SIGINT / SIGTERM while a migration runs in a container: exit 130 / 143, no container left.
fn interrupt_docker_run(engine: Engine, sleep_sql: &str, signal: Signal) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("0001_create.up.sql"), "CREATE TABLE t (id int);\n").unwrap();
    std::fs::write(dir.join("0001_create.down.sql"), "DROP TABLE t;\n").unwrap();
    std::fs::write(dir.join("0002_sleep.up.sql"), format!("{sleep_sql};\n")).unwrap();
    std::fs::write(dir.join("0002_sleep.down.sql"), "SELECT 1;\n").unwrap();
    let before = labelled_containers();
    let mut child = migcheck()
        .arg("verify")
        .arg(dir)
        .args([
            "--engine",
            engine.name(),
            "--provider",
            "docker",
            "--image",
            &image(engine),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
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
    let during: Vec<_> = labelled_containers()
        .into_iter()
        .filter(|c| !before.contains(c))
        .collect();
    assert_eq!(
        during.len(),
        1,
        "expected one running container, got {during:?}"
    );
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "migcheck did not exit after {signal}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let expected = if signal == Signal::SIGINT { 130 } else { 143 };
    assert_eq!(status.code(), Some(expected));
    let after: Vec<_> = labelled_containers()
        .into_iter()
        .filter(|c| !before.contains(c))
        .collect();
    assert!(
        after.is_empty(),
        "container left behind after {signal}: {after:?}"
    );
}

#[test]
fn sigint_and_sigterm_remove_the_container() {
    let _serial = serial();
    if docker_ready("sigint_and_sigterm_remove_the_container") {
        interrupt_docker_run(Engine::Postgres, "SELECT pg_sleep(60)", Signal::SIGINT);
        interrupt_docker_run(Engine::Mariadb, "DO SLEEP(60)", Signal::SIGTERM);
    }
}

#[test]
fn keep_leaves_the_container_and_cleanup_removes_only_leftovers() {
    let _serial = serial();
    if !docker_ready("keep_leaves_the_container_and_cleanup_removes_only_leftovers") {
        return;
    }
    let host = migcheck::provision::docker::hostname();
    // A "run in progress": a live process whose command line names migcheck.
    let mut live = Command::new("sh")
        .args(["-c", "sleep 120", "migcheck-live-run"])
        .spawn()
        .unwrap();
    let create = |pid: u32| -> String {
        let out = Command::new("docker")
            .args(["create", "--label", "dev.migcheck.managed=true"])
            .args(["--label", &format!("dev.migcheck.pid={pid}")])
            .args(["--label", &format!("dev.migcheck.host={host}")])
            .arg(image(Engine::Postgres))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let in_progress = create(live.id());
    let dead = create(u32::MAX - 7);

    let run = verify(
        &fixture("postgres/golang-migrate/clean"),
        &[
            "--provider",
            "docker",
            "--image",
            &image(Engine::Postgres),
            "--keep",
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    let out = run.stdout();
    let kept_line = out
        .lines()
        .find(|l| l.contains("kept:"))
        .unwrap_or_else(|| panic!("no kept URL:\n{out}"));
    assert!(kept_line.contains(":***@"), "{kept_line}");
    let kept: Vec<String> = {
        let out = Command::new("docker")
            .args([
                "ps",
                "-q",
                "--no-trunc",
                "--filter",
                "label=dev.migcheck.keep=true",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(kept.len(), 1, "one kept container expected: {kept:?}");

    let dry = migcheck().args(["cleanup", "--dry-run"]).output().unwrap();
    let dry_out = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success());
    assert!(
        dry_out.contains(&dead[..12]) && dry_out.contains(&kept[0][..12]),
        "{dry_out}"
    );
    let all = labelled_containers();
    assert!(
        all.iter().any(|c| dead.starts_with(c.as_str())),
        "dry run removed something"
    );

    let clean = migcheck().arg("cleanup").output().unwrap();
    let clean_out = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{clean_out}");
    let left = labelled_containers();
    let alive = |id: &str| left.iter().any(|c| id.starts_with(c.as_str()));
    let _ = live.kill();
    let _ = live.wait();
    let _ = Command::new("docker")
        .args(["rm", "-f", "-v", &in_progress])
        .output();
    assert!(
        !alive(&dead),
        "cleanup kept the dead run's container:\n{clean_out}"
    );
    assert!(
        !alive(&kept[0]),
        "cleanup kept the --keep container:\n{clean_out}"
    );
    assert!(
        alive(&in_progress),
        "cleanup removed a container of a run in progress:\n{clean_out}"
    );
}

#[test]
fn docker_failures_are_clear_environment_errors() {
    let _serial = serial();
    let clean = fixture("postgres/golang-migrate/clean");
    // No engine at all.
    let out = migcheck()
        .arg("verify")
        .arg(&clean)
        .args(["--provider", "docker"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("Docker") && err.contains("hint:"), "{err}");
    // An engine address where nothing answers (a stopped daemon).
    let out = migcheck()
        .arg("verify")
        .arg(&clean)
        .args(["--provider", "docker"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("does not answer") || err.contains("did not answer"),
        "{err}"
    );
    // Auto with no engine and no local binaries says what it tried.
    let empty = tempfile::tempdir().unwrap();
    let out = migcheck()
        .arg("verify")
        .arg(&clean)
        .args(["--provider", "auto"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PATH", empty.path())
        .env("MIGCHECK_BIN_DIR", empty.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // The Debian locations still hold PostgreSQL here, so auto may succeed; when it fails, it
    // must be exit 3 naming docker.
    if out.status.code() != Some(0) {
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(err.contains("docker:"), "{err}");
    }
    if !docker_ready("docker_failures_are_clear_environment_errors (image and timeout part)") {
        return;
    }
    // An image that is not present and cannot be pulled.
    let run = verify(
        &clean,
        &["--provider", "docker", "--image", "migcheck-test/absent:0"],
    );
    assert_eq!(run.code(), 3, "{}", run.describe());
    assert!(
        run.stderr().contains("migcheck-test/absent:0"),
        "{}",
        run.describe()
    );
    // A server that is not ready in time: exit 3 with the container's last log lines, and the
    // container removed.
    let before = labelled_containers();
    let run = verify(
        &fixture("mysql/golang-migrate/clean"),
        &[
            "--engine",
            "mariadb",
            "--provider",
            "docker",
            "--image",
            &image(Engine::Mariadb),
            // No server is ready the moment its container starts (MariaDB from a warm image
            // can be ready within one second, so 1 is not a timeout that always fires).
            "--startup-timeout",
            "0",
        ],
    );
    assert_eq!(run.code(), 3, "{}", run.describe());
    assert!(
        run.stderr().contains("did not become ready"),
        "{}",
        run.describe()
    );
    assert!(
        run.stderr().contains("last log lines"),
        "{}",
        run.describe()
    );
    let after: Vec<_> = labelled_containers()
        .into_iter()
        .filter(|c| !before.contains(c))
        .collect();
    assert!(
        after.is_empty(),
        "timed-out container left behind: {after:?}"
    );
}
