//! Helpers shared by the end-to-end tests: run the built binary, read its reports, start the
//! one server a test binary shares through migcheck's own local provider.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use migcheck::engine::Engine;
use migcheck::provision::{self, ProviderKind, ProvisionOptions, Server};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    repo_root().join("fixtures").join(path)
}

pub fn migcheck() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    isolate(&mut cmd);
    // Tests name their provider; without one they use `local` (auto would first try Docker).
    cmd.env("MIGCHECK_PROVIDER", "local");
    cmd
}

/// Keep the environment of the machine running the tests away from a command that runs
/// migcheck (the binary itself, or a script that runs it): no migcheck settings, no CI
/// variables, no colour.
pub fn isolate(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("MIGCHECK_ENGINE")
        .env_remove("MIGCHECK_PROVIDER")
        .env_remove("MIGCHECK_IMAGE")
        .env_remove("MIGCHECK_DATABASE_URL")
        // Under GitHub Actions the binary would add annotations to stdout and append to the
        // job summary; tests that want that set these themselves.
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_WORKSPACE")
        .env_remove("CI_PROJECT_DIR")
        .env("NO_COLOR", "1")
}

/// What one `migcheck verify` run produced.
pub struct Run {
    pub output: Output,
    pub json: Option<serde_json::Value>,
    pub junit: Option<String>,
    pub junit_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// `check:migration` for every failed check (`chain` for whole-chain checks), sorted.
    pub fn failing(&self) -> Vec<String> {
        failing_checks(self.json.as_ref().unwrap_or(&serde_json::Value::Null))
    }

    pub fn checks(&self) -> Vec<serde_json::Value> {
        self.json
            .as_ref()
            .and_then(|j| j["checks"].as_array().cloned())
            .unwrap_or_default()
    }

    pub fn describe(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

/// Run `migcheck verify <dir> <args…> --json … --junit …`.
pub fn verify(dir: &Path, args: &[&str]) -> Run {
    verify_with(migcheck(), dir, args)
}

/// `verify` through a command the caller prepared (its working directory, its environment).
pub fn verify_with(mut cmd: Command, dir: &Path, args: &[&str]) -> Run {
    let tmp = tempfile::tempdir().expect("temp dir for reports");
    let json = tmp.path().join("report.json");
    let junit = tmp.path().join("report.xml");
    let output = cmd
        .arg("verify")
        .arg(dir)
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .output()
        .expect("run the migcheck binary");
    let json_value = std::fs::read_to_string(&json)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("the JSON report parses"));
    Run {
        output,
        json: json_value,
        junit: std::fs::read_to_string(&junit).ok(),
        junit_path: junit,
        _dir: tmp,
    }
}

/// Validate a JUnit file against the schema GitLab's and Jenkins' readers accept.
pub fn validate_junit(path: &Path) -> Result<(), String> {
    let schema = repo_root().join("tests/schemas/junit.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(path)
        .output()
        .map_err(|e| format!("xmllint could not run ({e}): install libxml2-utils"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Start a server with migcheck's local provider (the server the url-provider tests point at).
pub async fn local_server(engine: Engine) -> Box<dyn Server> {
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
    match provision::provision(&options).await {
        Ok(server) => server,
        Err(e) => panic!(
            "cannot start a local {engine} server for the tests: {e}\n\
             These tests need the server binaries: run .ci/run, or apt-get install postgresql mariadb-server"
        ),
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// One row of `fixtures/expectations.toml`.
#[derive(Debug, serde::Deserialize)]
pub struct Expectation {
    pub path: String,
    pub engines: Vec<String>,
    pub exit: i32,
    #[serde(default)]
    pub failing: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// File name the failure points at (the failing check's `file`, or the exit-2 message).
    pub file: Option<String>,
    /// Line the failure points at.
    pub line: Option<usize>,
    /// `check:migration` entries that must carry cosmetic notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// `check:migration` entries (`check:*` for all) that must be skipped.
    #[serde(default)]
    pub skipped: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Expectations {
    fixture: Vec<Expectation>,
}

pub fn expectations() -> Vec<Expectation> {
    let path = repo_root().join("fixtures/expectations.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str::<Expectations>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .fixture
}

/// Check one run against its expectation; returns a description of every mismatch.
pub fn judge(e: &Expectation, provider: &str, run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    let label = format!("{} ({provider}, args {:?})", e.path, e.args);
    if run.code() != e.exit {
        problems.push(format!(
            "{label}: expected exit {}, got {}\n{}",
            e.exit,
            run.code(),
            run.describe()
        ));
        return problems;
    }
    // Exit 2 (bad input) still writes a report naming the problem; exit 0/1 must list checks.
    let Some(json) = &run.json else {
        problems.push(format!("{label}: no JSON report\n{}", run.describe()));
        return problems;
    };
    let verdict = if e.exit == 0 { "pass" } else { "fail" };
    if json["verdict"] != verdict {
        problems.push(format!(
            "{label}: verdict {} (expected {verdict})",
            json["verdict"]
        ));
    }
    if json["exit_code"] != e.exit {
        problems.push(format!("{label}: report exit_code {}", json["exit_code"]));
    }
    if e.exit != 2 {
        let mut expected = e.failing.clone();
        expected.sort();
        if run.failing() != expected {
            problems.push(format!(
                "{label}: failing checks {:?}, expected {:?}\n{}",
                run.failing(),
                expected,
                run.describe()
            ));
        }
        if json["provider"]["name"] != provider && !run.failing().iter().any(|f| f == "chain") {
            problems.push(format!(
                "{label}: provider {} in report",
                json["provider"]["name"]
            ));
        }
    }
    let key = |c: &serde_json::Value| {
        format!(
            "{}:{}",
            c["name"].as_str().unwrap_or("?"),
            c["migration"].as_str().unwrap_or("")
        )
    };
    if e.exit == 2 {
        let stderr = run.stderr();
        if let Some(file) = &e.file {
            if !stderr.contains(file.as_str()) {
                problems.push(format!(
                    "{label}: the error does not name {file}\n{}",
                    run.describe()
                ));
            }
        }
        if let Some(line) = e.line {
            if !stderr.contains(&format!(":{line}")) {
                problems.push(format!(
                    "{label}: the error does not name line {line}\n{}",
                    run.describe()
                ));
            }
        }
    } else if e.file.is_some() || e.line.is_some() {
        let failed: Vec<serde_json::Value> = run
            .checks()
            .into_iter()
            .filter(|c| c["status"] == "fail")
            .collect();
        let first = failed.first().cloned().unwrap_or_default();
        let detail = format!(
            "{}{}",
            first["file"].as_str().unwrap_or(""),
            first["detail"].as_str().unwrap_or("")
        );
        if let Some(file) = &e.file {
            if !detail.contains(file.as_str()) {
                problems.push(format!(
                    "{label}: failure does not point at {file}: {first}"
                ));
            }
        }
        if let Some(line) = e.line {
            if first["line"] != line {
                problems.push(format!(
                    "{label}: failure points at line {}, expected {line}: {first}",
                    first["line"]
                ));
            }
        }
    }
    for wanted in &e.notes {
        let has = run
            .checks()
            .iter()
            .any(|c| key(c) == *wanted && c["notes"].as_array().is_some_and(|n| !n.is_empty()));
        if !has {
            problems.push(format!(
                "{label}: expected cosmetic notes on {wanted}\n{}",
                run.describe()
            ));
        }
    }
    for wanted in &e.skipped {
        let (check, migration) = wanted.split_once(':').unwrap_or((wanted, ""));
        let matching: Vec<_> = run
            .checks()
            .into_iter()
            .filter(|c| c["name"] == check && (migration == "*" || c["migration"] == migration))
            .collect();
        if matching.is_empty() || matching.iter().any(|c| c["status"] != "skip") {
            problems.push(format!(
                "{label}: expected {wanted} to be skipped\n{}",
                run.describe()
            ));
        }
    }
    match &run.junit {
        None => problems.push(format!("{label}: no JUnit report")),
        Some(_) => {
            if let Err(err) = validate_junit(&run.junit_path) {
                problems.push(format!("{label}: JUnit does not validate: {err}"));
            }
        }
    }
    problems
}

pub fn run_all(engine: Engine, provider: &str, extra: &[String]) {
    let cases: Vec<Expectation> = expectations()
        .into_iter()
        .filter(|e| e.engines.iter().any(|n| n == engine.name()))
        .collect();
    assert!(
        !cases.is_empty(),
        "no fixtures for {engine} in fixtures/expectations.toml"
    );
    let mut problems = Vec::new();
    for e in &cases {
        let mut args: Vec<String> = vec![
            "--engine".into(),
            engine.name().into(),
            "--provider".into(),
            provider.into(),
        ];
        args.extend(extra.iter().cloned());
        args.extend(e.args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = verify(&fixture(&e.path), &args);
        problems.extend(judge(e, provider, &run));
    }
    assert!(
        problems.is_empty(),
        "{} of {} fixtures on {engine} via {provider} gave the wrong verdict:\n\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n\n")
    );
}

/// Run `statements` on `server` as its admin (set-up such as roles and sentinel data).
pub async fn run_sql(server: &dyn Server, statements: &[&str]) {
    let engine = server.info().engine;
    let mut conn = migcheck::provision::Conn::connect(engine, server.admin_url())
        .await
        .expect("connect as the server's admin");
    for sql in statements {
        conn.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn.close().await;
}

/// `server`'s admin URL with another user and password (percent-encoded as URLs need).
pub fn url_as(server: &dyn Server, user: &str, password: &str) -> String {
    let mut u = url::Url::parse(server.admin_url().expose()).expect("admin URL");
    u.set_username(user).expect("user");
    u.set_password(Some(password)).expect("password");
    u.to_string()
}

/// Processes whose command line mentions `needle` (`pid: command line`), e.g. servers started
/// under a test's private TMPDIR.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(needle) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// The Python with Alembic, SQLAlchemy and the drivers that the Alembic tests run (named by
/// `MIGCHECK_TEST_PYTHON`; `.ci/run` creates it). Without it those tests fail, loudly.
pub fn test_python() -> PathBuf {
    match std::env::var_os("MIGCHECK_TEST_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "MIGCHECK_TEST_PYTHON is not set: these tests need a Python with Alembic.\n\
             Create one with `scripts/alembic-venv.sh target/alembic-venv`, then run\n\
             MIGCHECK_TEST_PYTHON=target/alembic-venv/bin/python cargo test"
        ),
    }
}

/// Copy a folder tree (a fixture project a test changes).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `check:migration` for every failed check of a JSON report (one chain's), `check` alone for
/// whole-chain checks, sorted.
pub fn failing_checks(report: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "fail")
        .map(|c| match c["migration"].as_str() {
            Some(m) => format!("{}:{m}", c["name"].as_str().unwrap_or("?")),
            None => c["name"].as_str().unwrap_or("?").to_string(),
        })
        .collect();
    out.sort();
    out
}

/// The README's section under `heading` (`## CI examples`), up to the next `## ` heading.
pub fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let start = readme
        .find(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("README has no section {heading}"));
    let section = &readme[start + 1..];
    section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)].to_string()
}

/// The bodies of the ```yaml blocks in `text`, in order.
pub fn yaml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```yaml\n") {
        let body = &rest[open + 8..];
        let close = body.find("\n```").expect("a closed yaml block");
        blocks.push(body[..close].to_string());
        rest = &body[close + 4..];
    }
    blocks
}

/// The test image for an engine (`MIGCHECK_TEST_POSTGRES_IMAGE` / `MIGCHECK_TEST_MARIADB_IMAGE`).
pub fn image(engine: Engine) -> String {
    match engine {
        Engine::Postgres => std::env::var("MIGCHECK_TEST_POSTGRES_IMAGE")
            .unwrap_or_else(|_| "migcheck-test/postgres:15".into()),
        _ => std::env::var("MIGCHECK_TEST_MARIADB_IMAGE")
            .unwrap_or_else(|_| "migcheck-test/mariadb:10.11".into()),
    }
}

/// True when the engine answers and the test images exist; otherwise skip loudly, or fail
/// when the run requires Docker.
pub fn docker_ready(test: &str) -> bool {
    let required = std::env::var("MIGCHECK_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    let problem = match runtime().block_on(migcheck::provision::docker::probe()) {
        Err(why) => Some(why),
        Ok(_) => [Engine::Postgres, Engine::Mariadb]
            .iter()
            .map(|e| image(*e))
            .find_map(|img| {
                let present = std::process::Command::new("docker")
                    .args(["image", "inspect", &img])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                (!present).then(|| {
                    format!("test image {img} is missing: run scripts/build-test-images.sh")
                })
            }),
    };
    match problem {
        None => true,
        Some(why) if required => panic!("MIGCHECK_REQUIRE_DOCKER=1 but {why}"),
        Some(why) => {
            eprintln!("\n!!!!!!!! SKIPPED {test}: {why}\n!!!!!!!! (set MIGCHECK_REQUIRE_DOCKER=1 to make this a failure)\n");
            false
        }
    }
}

/// One `i64` from `sql` (a count) on either engine.
pub async fn scalar_i64(conn: &mut migcheck::provision::Conn, sql: &'static str) -> i64 {
    use migcheck::provision::Conn;
    match conn {
        Conn::Postgres(c) => sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut *c)
            .await
            .expect(sql),
        Conn::Mysql(c) => sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut *c)
            .await
            .expect(sql),
    }
}
