//! The Alembic driver: one long-lived Python process that runs `alembic.command.upgrade` /
//! `downgrade` on request, so a step costs milliseconds instead of a Python start-up.
//!
//! The Python program (`driver.py`) ships inside the binary, is written to a private (0700)
//! temporary directory and started once per run. Requests and responses are JSON lines; the
//! project's own prints go to stderr (kept as a tail for error messages), never into the
//! protocol. The database URL reaches the process only through its environment (never its
//! command line), and every message that leaves the driver is scrubbed of the password.
//!
//! Verify uses it per revision, in `Graph` order: `upgrade(id)`, `current()`,
//! `downgrade(&graph.step_back_target(id))`, `current()`, `upgrade(id)`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::config::Project;
use crate::chain::{Script, Segment};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::redact::{redact_url, scrub, SecretUrl};

/// The driver program, written out at start.
pub const DRIVER_PY: &str = include_str!("driver.py");

/// How much of the process's stderr is kept for error messages.
const STDERR_TAIL: usize = 16 * 1024;

/// How to start the driver.
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// The Python interpreter (`--python`); `python3` on PATH when `None`.
    pub python: Option<PathBuf>,
    /// The environment variable that carries the database URL to env.py (`--url-env`).
    pub url_env: String,
    /// SQLAlchemy URL scheme; `postgresql+psycopg` / `mysql+pymysql` by engine when `None`.
    pub sqlalchemy_scheme: Option<String>,
    /// Time the interpreter may take to import Alembic and answer.
    pub startup_timeout: Duration,
    /// Time one request (one upgrade or downgrade) may take before the process is killed.
    pub request_timeout: Duration,
    /// `--statement-timeout`: on PostgreSQL given to libpq through `PGOPTIONS`, so the server
    /// cancels a statement that runs longer (PyMySQL has no such channel: the request timeout
    /// bounds MySQL/MariaDB revisions).
    pub statement_timeout: Option<Duration>,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            python: None,
            url_env: "DATABASE_URL".to_string(),
            sqlalchemy_scheme: None,
            startup_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(600),
            statement_timeout: None,
        }
    }
}

/// Versions the driver reported at start.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Versions {
    pub alembic: String,
    pub sqlalchemy: String,
    pub python: String,
    pub executable: String,
}

/// One SQL statement a step executed.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Statement {
    pub sql: String,
    /// The bound parameters (Python repr, truncated), when there were any.
    #[serde(default)]
    pub params: Option<String>,
    /// Executed with `executemany`.
    #[serde(default)]
    pub many: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Upgrade,
    Downgrade,
}

/// One revision's migration function as Alembic ran it, with the SQL it executed.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AppliedStep {
    pub revision: String,
    pub down_revisions: Vec<String>,
    pub file: PathBuf,
    pub direction: Direction,
    /// Every statement executed while this revision's function ran, then Alembic's update of
    /// the version table.
    pub statements: Vec<Statement>,
    /// Time spent inside the revision's function.
    #[serde(default)]
    pub ms: f64,
    /// The step raised.
    #[serde(default)]
    pub failed: bool,
}

impl AppliedStep {
    /// Statements of the migration itself: without Alembic's bookkeeping on the version table.
    pub fn migration_statements(&self) -> impl Iterator<Item = &Statement> {
        self.statements
            .iter()
            .filter(|s| !s.sql.to_ascii_lowercase().contains("alembic_version"))
    }

    /// The SQL as one script for `crate::lint::lint_scripts` (statements end with `;`).
    pub fn to_script(&self) -> Script {
        let mut text = String::new();
        for s in self.migration_statements() {
            text.push_str(s.sql.trim().trim_end_matches(';'));
            text.push_str(";\n");
        }
        Script {
            file: self.file.clone(),
            segments: vec![Segment::Sql { text, line: 1 }],
            no_transaction: false,
        }
    }
}

/// An Alembic command that raised (a gate failure, not a driver failure).
#[derive(Debug, Clone, Serialize)]
pub struct StepError {
    /// The Python exception class (`NotImplementedError`, `ProgrammingError`, `CommandError`…).
    pub kind: String,
    pub message: String,
    pub traceback: String,
    /// The revision whose function raised, when it was inside one.
    pub revision: Option<String>,
    pub file: Option<PathBuf>,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.revision, &self.file) {
            (Some(r), Some(file)) => write!(
                f,
                "{}: revision {r}: {}: {}",
                file.display(),
                self.kind,
                self.message
            ),
            _ => write!(f, "{}: {}", self.kind, self.message),
        }
    }
}

/// How the driver's commands got their database connections (see `EngineReuse` in driver.py):
/// `opened` new connections, `reused` checkouts of one an earlier command had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Connections {
    pub opened: u64,
    pub reused: u64,
}

/// The answer to one `upgrade` or `downgrade`.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub target: String,
    pub direction: Direction,
    /// Time Alembic took inside the driver (including env.py and connecting).
    pub alembic_ms: f64,
    /// Wall time seen from migcheck (request written to response read).
    pub wall: Duration,
    /// Revision functions run, in order, with their SQL.
    pub steps: Vec<AppliedStep>,
    /// Statements outside any revision function (connecting, reading the version table).
    pub other_statements: Vec<Statement>,
    /// Set when Alembic raised.
    pub error: Option<StepError>,
}

impl StepResult {
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// `Err` with the step's error, for callers that treat a failure as fatal.
    pub fn into_result(self) -> std::result::Result<StepResult, StepError> {
        match self.error.clone() {
            Some(e) => Err(e),
            None => Ok(self),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Response {
    ok: bool,
    #[serde(default)]
    ms: f64,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    traceback: Option<String>,
    #[serde(default)]
    steps: Option<Vec<AppliedStep>>,
    #[serde(default)]
    other_statements: Option<Vec<Statement>>,
    #[serde(default)]
    current: Option<Vec<String>>,
    #[serde(default)]
    heads: Option<Vec<String>>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// A running driver process. Dropping it kills the process.
pub struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
    /// Names the directory in the run's record (dropped after it is removed).
    _record: crate::provision::cleanup::Registration,
    secrets: Vec<String>,
    python: PathBuf,
    request_timeout: Duration,
    dead: Option<String>,
    /// A command sent with `hold` and not answered for yet.
    held: Option<Held>,
    pub versions: Versions,
}

/// A command sent with `hold` (see `Driver::hold`).
struct Held {
    direction: Direction,
    target: String,
    body: serde_json::Value,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("python", &self.python)
            .field("versions", &self.versions)
            .finish()
    }
}

/// The SQLAlchemy URL for a migcheck database URL: scheme by engine (or `scheme`), query
/// parameters the Python drivers do not take dropped.
pub fn sqlalchemy_url(engine: Engine, url: &SecretUrl, scheme: Option<&str>) -> Result<SecretUrl> {
    let raw = url.expose();
    let Some(colon) = raw.find("://") else {
        return Err(Error::environment(
            format!("database URL {url} has no scheme"),
            None,
        ));
    };
    let scheme = scheme.unwrap_or(match engine {
        Engine::Postgres => "postgresql+psycopg",
        Engine::Mysql | Engine::Mariadb => "mysql+pymysql",
    });
    let mut out = format!("{scheme}{}", &raw[colon..]);
    if matches!(engine, Engine::Mysql | Engine::Mariadb) {
        if let Some(q) = out.find('?') {
            let kept: Vec<&str> = out[q + 1..]
                .split('&')
                .filter(|kv| {
                    let k = kv.split('=').next().unwrap_or("");
                    !matches!(k, "ssl-mode" | "sslmode" | "ssl_mode")
                })
                .collect();
            out = if kept.is_empty() {
                out[..q].to_string()
            } else {
                format!("{}?{}", &out[..q], kept.join("&"))
            };
        }
    }
    Ok(SecretUrl::new(out))
}

impl Driver {
    /// Start the driver for `project` against the database at `url`.
    pub async fn start(
        project: &Project,
        engine: Engine,
        url: &SecretUrl,
        options: &DriverOptions,
    ) -> Result<Driver> {
        // A relative `--python` is relative to where migcheck was started, not to the project
        // folder the driver runs in (a bare name is looked up on PATH).
        let python = match options.python.clone() {
            Some(p) if p.is_relative() && p.components().count() > 1 => {
                std::path::absolute(&p).unwrap_or(p)
            }
            Some(p) => p,
            None => PathBuf::from("python3"),
        };
        let dir = tempfile::Builder::new()
            .prefix("migcheck-alembic-")
            .tempdir()
            .map_err(|e| {
                Error::environment(format!("cannot create a temporary directory: {e}"), None)
            })?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).map_err(
                |e| {
                    Error::environment(
                        format!("cannot protect {}: {e}", dir.path().display()),
                        None,
                    )
                },
            )?;
        }
        let script = dir.path().join("migcheck_alembic_driver.py");
        std::fs::write(&script, DRIVER_PY).map_err(|e| Error::Io {
            path: script.clone(),
            source: e,
        })?;
        let sa_url = sqlalchemy_url(engine, url, options.sqlalchemy_scheme.as_deref())?;
        let secrets = url.secrets();

        let mut cmd = Command::new(&python);
        cmd.arg("-u")
            .arg(&script)
            .arg("--url-env")
            .arg(&options.url_env)
            .arg("--section")
            .arg("alembic");
        // The driver starts in the project folder: relative paths would resolve twice.
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        if let Some(ini) = &project.ini {
            cmd.arg("--config").arg(absolute(ini));
        }
        if let Some(toml) = &project.toml {
            cmd.arg("--toml").arg(absolute(toml));
        }
        if let (Engine::Postgres, Some(t)) = (engine, options.statement_timeout) {
            let mut pgoptions = std::env::var("PGOPTIONS").unwrap_or_default();
            pgoptions.push_str(&format!(" -c statement_timeout={}", t.as_millis()));
            cmd.env("PGOPTIONS", pgoptions.trim_start());
        }
        cmd.env(&options.url_env, sa_url.expose())
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(absolute(&project.root))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let parent = nix::unistd::getpid();
        // SAFETY: only async-signal-safe syscalls (prctl, getppid); the error is built from an errno.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)?;
                if nix::unistd::getppid() != parent {
                    return Err(std::io::Error::from(nix::errno::Errno::ESRCH));
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::Usage(format!(
                "cannot start the Python interpreter {}: {e}\n  hint: pass --python PATH to an interpreter that has alembic installed",
                python.display()
            ))
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(|s| BufReader::new(s).lines());
        let stderr_buf = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let buf = stderr_buf.clone();
            tokio::spawn(async move {
                let mut chunk = [0u8; 8192];
                loop {
                    match err.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let text = String::from_utf8_lossy(&chunk[..n]).into_owned();
                            tracing::debug!(target: "migcheck::alembic", "{}", text.trim_end());
                            if let Ok(mut b) = buf.lock() {
                                b.push_str(&text);
                                if b.len() > STDERR_TAIL {
                                    let mut cut = b.len() - STDERR_TAIL;
                                    while !b.is_char_boundary(cut) {
                                        cut += 1;
                                    }
                                    b.drain(..cut);
                                }
                            }
                        }
                    }
                }
            });
        }
        let Some(stdout) = stdout else {
            return Err(Error::environment("the driver has no stdout", None));
        };
        let mut driver = Driver {
            child,
            stdin,
            stdout,
            stderr: stderr_buf,
            _record: crate::provision::cleanup::record_dir(dir.path()),
            _dir: dir,
            secrets,
            python: python.clone(),
            request_timeout: options.request_timeout,
            dead: None,
            held: None,
            versions: Versions::default(),
        };
        let hello =
            match tokio::time::timeout(options.startup_timeout, driver.read_response()).await {
                Ok(r) => r,
                Err(_) => {
                    driver.kill().await;
                    return Err(Error::environment(
                        format!(
                            "the Alembic driver ({}) did not answer within {} s",
                            python.display(),
                            options.startup_timeout.as_secs()
                        ),
                        None,
                    ));
                }
            };
        let hello = match hello {
            Ok(h) => h,
            // The first answer is not the driver's: the interpreter the user named is not a
            // Python that ran it (bad input, exit 2), unless it died before saying anything.
            Err(Error::Environment { message, .. }) if message.contains("not its protocol") => {
                driver.kill().await;
                return Err(Error::Usage(format!(
                    "--python {}: not a Python interpreter that can run migcheck's Alembic driver ({})\n  hint: pass --python PATH to a python3 that has alembic installed",
                    python.display(),
                    message.lines().next().unwrap_or_default()
                )));
            }
            Err(e) => {
                driver.kill().await;
                return Err(e);
            }
        };
        if !hello.ok {
            driver.kill().await;
            let kind = hello.kind.unwrap_or_default();
            let message = driver.clean(&hello.error.unwrap_or_default());
            return Err(
                if kind.contains("ImportError") || kind.contains("ModuleNotFound") {
                    // The interpreter the user named cannot serve: bad input (exit 2).
                    Error::Usage(format!(
                        "`import alembic` fails in the Python interpreter {}: {message}\n  hint: install Alembic and the database drivers there ({} -m pip install alembic sqlalchemy 'psycopg[binary]' pymysql), or pass --python PATH",
                        python.display(),
                        python.display()
                    ))
                } else {
                    Error::environment(
                        format!("the Alembic driver failed to start: {kind}: {message}"),
                        None,
                    )
                },
            );
        }
        let get = |k: &str| {
            hello
                .rest
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        driver.versions = Versions {
            alembic: get("alembic"),
            sqlalchemy: get("sqlalchemy"),
            python: get("python"),
            executable: get("executable"),
        };
        tracing::info!(
            "Alembic driver: alembic {} / SQLAlchemy {} on Python {} ({})",
            driver.versions.alembic,
            driver.versions.sqlalchemy,
            driver.versions.python,
            driver.versions.executable
        );
        Ok(driver)
    }

    /// `alembic upgrade <target>`.
    pub async fn upgrade(&mut self, target: &str) -> Result<StepResult> {
        self.step(Direction::Upgrade, target).await
    }

    /// `alembic downgrade <target>` (`-1`, `<rev>@-1`, `base`, a revision id…).
    pub async fn downgrade(&mut self, target: &str) -> Result<StepResult> {
        self.step(Direction::Downgrade, target).await
    }

    /// The rows of the version table (sorted; empty at base).
    pub async fn current(&mut self) -> Result<Vec<String>> {
        self.cancel_held().await?;
        let r = self.request(serde_json::json!({"op": "current"})).await?;
        if !r.ok {
            return Err(self.failure("reading the current revision", &r));
        }
        Ok(r.current.unwrap_or_default())
    }

    /// The script directory's heads as Alembic itself computes them.
    pub async fn heads(&mut self) -> Result<Vec<String>> {
        self.cancel_held().await?;
        let r = self.request(serde_json::json!({"op": "heads"})).await?;
        if !r.ok {
            return Err(self.failure("reading the heads", &r));
        }
        Ok(r.heads.unwrap_or_default())
    }

    /// Ask the process to exit, and wait for it (killing it if it does not exit in 5 s).
    /// Returns how the driver's commands got their connections, when it said so.
    pub async fn stop(mut self) -> Result<Option<Connections>> {
        let mut connections = None;
        if self.dead.is_none() {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.cancel_held()).await;
            let stopped = tokio::time::timeout(
                Duration::from_secs(5),
                self.request(serde_json::json!({"op": "stop"})),
            )
            .await;
            if let Ok(Ok(r)) = stopped {
                connections = r
                    .rest
                    .get("connections")
                    .and_then(|c| serde_json::from_value::<Connections>(c.clone()).ok());
                if let Some(c) = &connections {
                    tracing::info!(
                        target: "migcheck::alembic",
                        opened = c.opened,
                        reused = c.reused,
                        "Alembic driver connections"
                    );
                }
            }
            self.stdin = None;
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return Ok(connections);
            }
        }
        self.kill().await;
        Ok(connections)
    }

    /// What the process wrote to stderr lately (scrubbed).
    pub fn stderr_tail(&self) -> String {
        let text = self.stderr.lock().map(|b| b.clone()).unwrap_or_default();
        self.clean(&text)
    }

    async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    fn clean(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        scrub(text, &secrets)
    }

    fn failure(&self, what: &str, r: &Response) -> Error {
        Error::environment(
            format!(
                "{what} failed: {}: {}",
                r.kind.as_deref().unwrap_or("error"),
                self.clean(r.error.as_deref().unwrap_or(""))
            ),
            None,
        )
    }

    /// Send `upgrade`/`downgrade` `target` now and let it run up to its first revision (env.py,
    /// the engine, the version table) while the caller reads the schema of the previous step;
    /// `upgrade`/`downgrade` of the same target finishes it, anything else cancels it (its
    /// transaction rolls back). Only for engines with transactional DDL: the held command's
    /// set-up must change nothing another connection can see.
    pub async fn hold(&mut self, direction: Direction, target: &str) -> Result<()> {
        if let Some(h) = self.held.take() {
            self.cancel(h).await?;
        }
        let op = match direction {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        };
        let body = serde_json::json!({"op": op, "target": target, "hold": true});
        self.send(&body).await?;
        self.held = Some(Held {
            direction,
            target: target.to_string(),
            body,
        });
        Ok(())
    }

    /// End a held command without running it.
    async fn cancel(&mut self, h: Held) -> Result<()> {
        let first = self.receive(&h.body).await?;
        if first.rest.get("held") == Some(&serde_json::Value::Bool(true)) {
            let cancel = serde_json::json!({"op": "cancel"});
            self.send(&cancel).await?;
            self.receive(&h.body).await?;
        }
        Ok(())
    }

    async fn cancel_held(&mut self) -> Result<()> {
        match self.held.take() {
            Some(h) => self.cancel(h).await,
            None => Ok(()),
        }
    }

    async fn step(&mut self, direction: Direction, target: &str) -> Result<StepResult> {
        let op = match direction {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        };
        let body = serde_json::json!({"op": op, "target": target});
        let held = match self.held.take() {
            Some(h) if h.direction == direction && h.target == target => Some(h),
            other => {
                if let Some(h) = other {
                    self.cancel(h).await?;
                }
                None
            }
        };
        let mut started = Instant::now();
        let r = match held {
            Some(h) => {
                let first = self.receive(&h.body).await?;
                if first.rest.get("held") == Some(&serde_json::Value::Bool(true)) {
                    // Its set-up overlapped the snapshot; its time counts from here.
                    started = Instant::now();
                    let release = serde_json::json!({"op": "release"});
                    self.send(&release).await?;
                    self.receive(&h.body).await?
                } else {
                    first // it ended before reaching a revision (nothing to run, or an error)
                }
            }
            None => self.request(body).await?,
        };
        let wall = started.elapsed();
        let mut steps = r.steps.unwrap_or_default();
        for s in &mut steps {
            for st in &mut s.statements {
                st.sql = self.clean(&st.sql);
                st.params = st.params.as_deref().map(|p| self.clean(p));
            }
        }
        let error = if r.ok {
            None
        } else {
            let failed = steps.iter().rev().find(|s| s.failed);
            Some(StepError {
                kind: r.kind.clone().unwrap_or_else(|| "Error".to_string()),
                message: self.clean(&redact_url(r.error.as_deref().unwrap_or(""))),
                traceback: self.clean(r.traceback.as_deref().unwrap_or("")),
                revision: failed.map(|s| s.revision.clone()),
                file: failed.map(|s| s.file.clone()),
            })
        };
        Ok(StepResult {
            target: target.to_string(),
            direction,
            alembic_ms: r.ms,
            wall,
            steps,
            other_statements: r.other_statements.unwrap_or_default(),
            error,
        })
    }

    async fn request(&mut self, body: serde_json::Value) -> Result<Response> {
        self.send(&body).await?;
        self.receive(&body).await
    }

    /// Write one request line, without waiting for its answer.
    async fn send(&mut self, body: &serde_json::Value) -> Result<()> {
        if let Some(why) = &self.dead {
            return Err(Error::environment(
                format!("the Alembic driver is no longer running: {why}"),
                None,
            ));
        }
        let mut line = body.to_string();
        line.push('\n');
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(Error::environment(
                "the Alembic driver's stdin is closed",
                None,
            ));
        };
        if let Err(e) = stdin.write_all(line.as_bytes()).await {
            let why = format!("writing to it failed: {e}");
            self.dead = Some(why.clone());
            return Err(self.died(&why).await);
        }
        let _ = stdin.flush().await;
        Ok(())
    }

    /// The answer to `body`, sent before.
    async fn receive(&mut self, body: &serde_json::Value) -> Result<Response> {
        if let Some(why) = &self.dead {
            return Err(Error::environment(
                format!("the Alembic driver is no longer running: {why}"),
                None,
            ));
        }
        match tokio::time::timeout(self.request_timeout, self.read_response()).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.dead = Some(e.to_string());
                Err(e)
            }
            Err(_) => {
                let why = format!(
                    "`{}` did not finish within {} s; the driver was killed",
                    body,
                    self.request_timeout.as_secs()
                );
                self.dead = Some(why.clone());
                self.kill().await;
                Err(Error::environment(
                    format!("Alembic step timed out: {why}"),
                    Some(format!("last output:\n{}", self.stderr_tail())),
                ))
            }
        }
    }

    async fn read_response(&mut self) -> Result<Response> {
        match self.stdout.next_line().await {
            Ok(Some(line)) => serde_json::from_str::<Response>(&line).map_err(|e| {
                Error::environment(
                    format!(
                        "the Alembic driver answered something that is not its protocol ({e}): {}",
                        self.clean(&line)
                    ),
                    None,
                )
            }),
            Ok(None) => Err(self.died("it closed its output").await),
            Err(e) => Err(self.died(&format!("reading its output failed: {e}")).await),
        }
    }

    async fn died(&mut self, why: &str) -> Error {
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        // Give the stderr reader a moment to collect the last words.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let status = match status {
            Ok(Ok(s)) => format!(" ({s})"),
            _ => String::new(),
        };
        Error::environment(
            format!(
                "the Alembic driver ({}) stopped{status}: {why}",
                self.python.display()
            ),
            Some(format!("its stderr ends with:\n{}", self.stderr_tail())),
        )
    }
}
