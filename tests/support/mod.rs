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
    cmd.env_remove("MIGCHECK_ENGINE")
        .env_remove("MIGCHECK_PROVIDER")
        .env_remove("MIGCHECK_DATABASE_URL")
        .env("NO_COLOR", "1");
    cmd
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
        let mut out: Vec<String> = self
            .checks()
            .iter()
            .filter(|c| c["status"] == "fail")
            .map(|c| match c["migration"].as_str() {
                Some(m) => format!("{}:{m}", c["name"].as_str().unwrap_or("?")),
                None => c["name"].as_str().unwrap_or("?").to_string(),
            })
            .collect();
        out.sort();
        out
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
    let tmp = tempfile::tempdir().expect("temp dir for reports");
    let json = tmp.path().join("report.json");
    let junit = tmp.path().join("report.xml");
    let output = migcheck()
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
