//! The Sqitch runner: every deploy, revert and verify script runs through the engine's
//! command-line client, started the way Sqitch starts it (`psql` with `ON_ERROR_STOP`, the
//! `mariadb`/`mysql` client with `source` and `--abort-source-on-error`), so `BEGIN; ...
//! COMMIT;` and client meta-commands in a script behave as they do in production. Sqitch's
//! registry tables are not created: the schema compared is the project's own. On MySQL and
//! MariaDB the registry database is created with the one thing of it scripts use, Sqitch's
//! `checkit()` function (`SELECT sqitch.checkit(COUNT(*), '...')` in verify scripts, as Sqitch's
//! MySQL tutorial writes them); it is another database, out of every snapshot.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::process::Command;

use crate::apply::ApplyFailure;
use crate::chain::Chain;
use crate::engine::{Dialect, Engine};
use crate::error::{Error, Result};
use crate::provision::{Conn, Database};
use crate::report::{CheckReport, Phase, Status};
use crate::runner::{Applied, Applier, ApplyContext, Plan, Runner, RunnerOptions, Step};
use crate::sqitch::conf::Config;

/// One change's scripts (paths as the plan names them; a verify script may be absent).
#[derive(Debug, Clone)]
pub struct ChangeScripts {
    pub deploy: PathBuf,
    pub revert: Option<PathBuf>,
    pub verify: Option<PathBuf>,
}

/// Sqitch's variables (`core.variables`, `deploy.variables`, `revert.variables`,
/// `engine.<name>.variables`, `target.<name>.variables` of the default target), passed to the
/// client as it passes them: `--set` for psql, user variables for the mysql client.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    deploy: Vec<(String, String)>,
    revert: Vec<(String, String)>,
}

impl Variables {
    /// `target`: the default target's name (or URI), whose variables win over the engine's,
    /// as in Sqitch's `Target::variables`.
    pub fn from_config(config: &Config, engine: &str, target: Option<&str>) -> Variables {
        let collect = |sections: &[String]| {
            let mut merged: std::collections::BTreeMap<String, String> = Default::default();
            for section in sections {
                let prefix = format!("{section}.");
                for entry in &config.entries {
                    if let Some(name) = entry.key.strip_prefix(&prefix) {
                        merged.insert(name.to_string(), entry.value.clone());
                    }
                }
            }
            merged.into_iter().collect()
        };
        // The target's variables: the engine's, then the target's own over them.
        let mut target_sections = vec![format!("engine.{engine}.variables")];
        if let Some(target) = target {
            target_sections.push(format!("target.{target}.variables"));
        }
        let sections = |command: &[&str]| -> Vec<String> {
            command
                .iter()
                .map(|s| s.to_string())
                .chain(target_sections.iter().cloned())
                .collect()
        };
        Variables {
            deploy: collect(&sections(&["core.variables", "deploy.variables"])),
            // deploy.variables apply to reverts too, revert.variables over them.
            revert: collect(&sections(&[
                "core.variables",
                "deploy.variables",
                "revert.variables",
            ])),
        }
    }
}

pub struct SqitchRunner {
    /// Where Sqitch runs from: scripts' `\i` and `source` paths are relative to it.
    root: PathBuf,
    /// `engine.<name>.client` from sqitch.conf.
    client: Option<String>,
    /// Sqitch's registry name (psql's `registry` variable; MySQL's registry database).
    registry: String,
    changes: Arc<Vec<ChangeScripts>>,
    variables: Variables,
    statement_timeout: Option<Duration>,
}

impl SqitchRunner {
    pub fn new(
        root: &Path,
        client: Option<String>,
        registry: String,
        changes: Vec<ChangeScripts>,
        variables: Variables,
        options: &RunnerOptions,
    ) -> SqitchRunner {
        SqitchRunner {
            root: root.to_path_buf(),
            client,
            registry,
            changes: Arc::new(changes),
            variables,
            statement_timeout: options.statement_timeout,
        }
    }
}

#[async_trait]
impl Runner for SqitchRunner {
    /// Catching up is one client session for every deploy script, nearly free next to
    /// verifying a change (three or four client processes and three snapshots): on a
    /// 200-change plan split at 54% the second half ended 2.5 s before the first.
    fn split_first_share(&self) -> usize {
        500
    }

    fn plans<'c>(&self, chain: &'c Chain) -> Vec<Plan<'c>> {
        chain
            .migrations
            .iter()
            .zip(self.changes.iter())
            .enumerate()
            .map(|(index, (migration, change))| Plan {
                migration,
                up: Step {
                    file: change.deploy.clone(),
                    summary: "deployed through the engine's client, as sqitch deploy runs it"
                        .to_string(),
                    index,
                    down: false,
                },
                down: change.revert.as_ref().map(|revert| Step {
                    file: revert.clone(),
                    summary: String::new(),
                    index,
                    down: true,
                }),
            })
            .collect()
    }

    fn refuses_session_sql(&self) -> Option<&'static str> {
        Some(
            "--session-sql / session-sql does not apply to Sqitch projects: Sqitch starts the \
             engine's client once per script, so no session carries over; put the setting in \
             the scripts (or in the role's or database's defaults)",
        )
    }

    /// MySQL and MariaDB: Sqitch's registry database and its `checkit()` function, which
    /// Sqitch creates with its registry and verify scripts call (`sqitch.checkit(COUNT(*),
    /// 'Table "users" does not exist')`). Only on a server migcheck started (local, docker): on
    /// a server given by `--url` nothing outside the throwaway database is created, and a
    /// verify script that calls `checkit()` fails saying so (with a hint). Best effort.
    async fn prepare_connection(
        &self,
        conn: &mut Conn,
        server_is_ours: bool,
    ) -> std::result::Result<(), String> {
        if conn.dialect() != Dialect::Mysql || !server_is_ours {
            return Ok(());
        }
        for sql in mysql_registry_statements(&self.registry) {
            if let Err(e) = conn.execute(&sql).await {
                // Another chain on the same server created it first.
                if e.to_string().contains("already exists") {
                    continue;
                }
                tracing::warn!(
                    "cannot create Sqitch's registry database `{}` with checkit(): {e}",
                    self.registry
                );
                break;
            }
        }
        Ok(())
    }

    async fn open(&self, db: &Database) -> Result<Box<dyn Applier>> {
        let client = Client::for_database(
            db,
            self.client.as_deref(),
            &self.registry,
            self.statement_timeout,
        )?;
        Ok(Box::new(SqitchApplier {
            root: self.root.clone(),
            changes: Arc::clone(&self.changes),
            variables: self.variables.clone(),
            client,
        }))
    }
}

struct SqitchApplier {
    root: PathBuf,
    changes: Arc<Vec<ChangeScripts>>,
    variables: Variables,
    client: Client,
}

#[async_trait]
impl Applier for SqitchApplier {
    async fn apply(
        &mut self,
        _cx: ApplyContext<'_>,
        step: &Step,
    ) -> std::result::Result<Applied, ApplyFailure> {
        let started = Instant::now();
        let fail = |message: String, detail: String, line: usize| ApplyFailure {
            file: step.file.clone(),
            line,
            message,
            detail,
            partially_applied: true,
            irreversible: false,
            duration: started.elapsed(),
        };
        if self.changes.get(step.index).is_none() {
            return Err(fail("no such change in the plan".into(), String::new(), 1));
        }
        let variables = if step.down {
            &self.variables.revert
        } else {
            &self.variables.deploy
        };
        match self
            .client
            .run_file(&self.root, &step.file, variables)
            .await
        {
            Ok(()) => Ok(Applied {
                took: started.elapsed(),
                ran: Vec::new(),
                touched: None,
            }),
            Err(outcome) => {
                let mut f = fail(outcome.message, outcome.detail, outcome.line.unwrap_or(1));
                // psql stops at the first error: a script in one BEGIN ... COMMIT leaves
                // nothing behind (the transaction dies with the client).
                f.partially_applied =
                    !(self.client.dialect == Dialect::Postgres && starts_with_begin(&step.file));
                Err(f)
            }
        }
    }

    /// Every deploy script of `steps` in one client session: a split chain's second database
    /// catching up (its schema is compared with the first database's before its verdicts
    /// count), without a client process per change.
    async fn catch_up(
        &mut self,
        steps: &[Step],
    ) -> Option<std::result::Result<Duration, ApplyFailure>> {
        let started = Instant::now();
        let first = steps.first()?;
        if steps
            .iter()
            .any(|s| s.down || self.changes.get(s.index).is_none())
        {
            return None;
        }
        let files: Vec<&Path> = steps.iter().map(|s| s.file.as_path()).collect();
        let outcome = self
            .client
            .run_files(&self.root, &files, &self.variables.deploy)
            .await;
        Some(match outcome {
            Ok(()) => Ok(started.elapsed()),
            Err(failed) => Err(ApplyFailure {
                file: first.file.clone(),
                line: failed.line.unwrap_or(1),
                message: failed.message,
                detail: failed.detail,
                partially_applied: true,
                irreversible: false,
                duration: started.elapsed(),
            }),
        })
    }

    /// The change's verify script, run after its deploy as `sqitch deploy --verify` does: an
    /// error in it fails the check.
    async fn check_deployed(&mut self, plan: &Plan<'_>) -> Option<CheckReport> {
        let change = self.changes.get(plan.up.index)?;
        let verify = change.verify.as_ref()?;
        let started = Instant::now();
        let outcome = self
            .client
            .run_file(&self.root, verify, &self.variables.deploy)
            .await;
        let took = started.elapsed();
        let mut check = CheckReport::new(
            "verify",
            Some(&plan.migration.id),
            Status::Pass,
            "the verify script passed after the deploy",
        );
        check.file = Some(verify.display().to_string());
        check.duration_ms = took.as_millis().try_into().unwrap_or(u64::MAX);
        let mut phase = Phase {
            name: "verify".to_string(),
            status: Status::Pass,
            schema_differs: false,
            duration_ms: check.duration_ms,
            message: String::new(),
        };
        if let Err(outcome) = outcome {
            check.status = Status::Fail;
            check.message = format!(
                "the verify script of {} failed after its deploy: {}",
                plan.migration.id, outcome.message
            );
            check.line = outcome.line;
            let mut detail = outcome.detail;
            if detail.contains("checkit") && detail.contains("does not exist") {
                detail.push_str(
                    "hint: Sqitch's registry database and its checkit() function are created \
                     only on a server migcheck starts (--provider local or docker), not on one \
                     given by --url\n",
                );
            }
            check.detail = Some(detail);
            phase.status = Status::Fail;
            phase.message.clone_from(&check.message);
        }
        check.phases = vec![phase];
        Some(check)
    }
}

/// The statements that give a MySQL server Sqitch's registry database with `checkit()`, as
/// Sqitch's `mysql.sql` defines it (MySQL 5.5 and later).
fn mysql_registry_statements(registry: &str) -> [String; 2] {
    let db = format!("`{}`", registry.replace('`', "``"));
    [
        format!("CREATE DATABASE IF NOT EXISTS {db}"),
        format!(
            "CREATE FUNCTION {db}.checkit(doit INTEGER, message VARCHAR(256)) RETURNS INTEGER \
             DETERMINISTIC BEGIN IF doit IS NULL OR doit = 0 THEN SIGNAL SQLSTATE 'ERR0R' SET \
             MESSAGE_TEXT = message; END IF; RETURN doit; END"
        ),
    ]
}

/// Whether the script's first statement opens a transaction (`BEGIN;`, as `sqitch add` writes).
fn starts_with_begin(file: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .is_some_and(|l| {
            let l = l.to_ascii_uppercase();
            l.starts_with("BEGIN") || l.starts_with("START TRANSACTION")
        })
}

/// Why a script failed, from the client's stderr.
struct Failed {
    message: String,
    detail: String,
    line: Option<usize>,
}

/// The engine's command-line client, with the options Sqitch gives it.
struct Client {
    program: PathBuf,
    dialect: Dialect,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// The password, kept out of every message.
    secret: Option<String>,
}

impl Client {
    fn for_database(
        db: &Database,
        configured: Option<&str>,
        registry: &str,
        statement_timeout: Option<Duration>,
    ) -> Result<Client> {
        let url = url::Url::parse(db.url.expose()).map_err(|e| {
            Error::environment(format!("the database URL does not parse: {e}"), None)
        })?;
        let password = db.url.password();
        let dialect = db.engine.dialect();
        let program = find_client(db.engine, configured)?;
        let mut env = Vec::new();
        let mut args = Vec::new();
        match dialect {
            Dialect::Postgres => {
                // The URL without its password: psql takes a connection URI as its dbname,
                // with its TLS parameters; the password goes through the environment.
                let mut bare = url.clone();
                let _ = bare.set_password(None);
                args.push(format!("--dbname={bare}"));
                args.extend(
                    [
                        "--quiet",
                        "--no-psqlrc",
                        "--no-align",
                        "--tuples-only",
                        "--set",
                        "ON_ERROR_STOP=1",
                        "--set",
                    ]
                    .map(String::from),
                );
                args.push(format!("registry={registry}"));
                if let Some(p) = &password {
                    env.push(("PGPASSWORD".to_string(), p.clone()));
                }
                if let Some(t) = statement_timeout {
                    env.push((
                        "PGOPTIONS".to_string(),
                        format!("-c statement_timeout={}", t.as_millis()),
                    ));
                }
                env.push(("PGCLIENTENCODING".to_string(), "UTF8".to_string()));
            }
            Dialect::Mysql => {
                let user = percent_decode(url.username());
                if !user.is_empty() {
                    args.push(format!("--user={user}"));
                }
                let database = url.path().trim_start_matches('/');
                args.push(format!("--database={}", percent_decode(database)));
                if let Some(host) = url.host_str() {
                    args.push(format!("--host={host}"));
                }
                if let Some(port) = url.port() {
                    args.push(format!("--port={port}"));
                }
                args.extend(["--skip-pager", "--silent", "--skip-column-names"].map(String::from));
                // MariaDB's client goes on after an error in a sourced file unless told not
                // to (Sqitch passes this to MariaDB's client only).
                if is_mariadb_client(&program) {
                    args.push("--abort-source-on-error".to_string());
                }
                for (key, value) in url.query_pairs() {
                    match key.as_ref() {
                        "ssl-mode" | "sslmode" => match value.to_ascii_uppercase().as_str() {
                            "DISABLED" => args.push("--skip-ssl".into()),
                            "REQUIRED" | "PREFERRED" => args.push("--ssl".into()),
                            "VERIFY_CA" | "VERIFY_IDENTITY" => {
                                args.push("--ssl".into());
                                args.push("--ssl-verify-server-cert".into());
                            }
                            _ => {}
                        },
                        "ssl-ca" | "sslca" => args.push(format!("--ssl-ca={value}")),
                        "ssl-cert" => args.push(format!("--ssl-cert={value}")),
                        "ssl-key" => args.push(format!("--ssl-key={value}")),
                        _ => {}
                    }
                }
                if let Some(t) = statement_timeout {
                    let init = match db.engine {
                        Engine::Mariadb => {
                            format!("SET SESSION max_statement_time = {}", t.as_secs_f64())
                        }
                        _ => format!("SET SESSION max_execution_time = {}", t.as_millis()),
                    };
                    args.push(format!("--init-command={init}"));
                }
                if let Some(p) = &password {
                    env.push(("MYSQL_PWD".to_string(), p.clone()));
                }
            }
        }
        Ok(Client {
            program,
            dialect,
            args,
            env,
            secret: password,
        })
    }

    /// Run one script file; Err with the client's error.
    async fn run_file(
        &self,
        root: &Path,
        file: &Path,
        variables: &[(String, String)],
    ) -> std::result::Result<(), Failed> {
        self.run_files(root, &[file], variables).await
    }

    /// Run script files one after the other in one client session, stopping at the first
    /// error; Err with the client's error.
    async fn run_files(
        &self,
        root: &Path,
        files: &[&Path],
        variables: &[(String, String)],
    ) -> std::result::Result<(), Failed> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // A migration that runs out of time drops this future: the client goes with it.
            .kill_on_drop(true);
        // The files as the client sees them from the project's top directory.
        let relative = |file: &Path| {
            file.strip_prefix(root)
                .unwrap_or(file)
                .display()
                .to_string()
        };
        match self.dialect {
            Dialect::Postgres => {
                for (name, value) in variables {
                    command.arg("--set").arg(format!("{name}={value}"));
                }
                for file in files {
                    command.arg(format!("--file={}", relative(file)));
                }
                &mut command
            }
            Dialect::Mysql => {
                // As Sqitch sets them: one SET, values quoted by doubling `'`.
                let mut sql = String::new();
                if !variables.is_empty() {
                    let assignments: Vec<String> = variables
                        .iter()
                        .map(|(name, value)| {
                            format!(
                                "@\"{}\" = '{}'",
                                name.replace('"', "\"\""),
                                value.replace('\'', "''")
                            )
                        })
                        .collect();
                    sql.push_str(&format!("SET {};\n", assignments.join(", ")));
                }
                let sources: Vec<String> = files
                    .iter()
                    .map(|file| format!("source {}", relative(file)))
                    .collect();
                sql.push_str(&sources.join(";\n"));
                command.arg(format!("--execute={sql}"))
            }
        };
        let output = command.output().await.map_err(|e| Failed {
            message: format!("cannot run {}: {e}", self.program.display()),
            detail: String::new(),
            line: None,
        })?;
        // psql reports a failed script on stderr even when it exits 0 without ON_ERROR_STOP;
        // with it, the exit status is the verdict.
        if output.status.success() {
            return Ok(());
        }
        let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if let Some(secret) = self.secret.as_deref().filter(|s| !s.is_empty()) {
            stderr = stderr.replace(secret, "***");
        }
        let first = stderr
            .lines()
            .find(|l| l.contains("ERROR") || l.contains("FATAL") || l.contains("error"))
            .or_else(|| stderr.lines().next())
            .unwrap_or("")
            .trim()
            .to_string();
        let line = error_line(&first);
        let message = if first.is_empty() {
            format!("{} exited with {}", self.program.display(), output.status)
        } else {
            strip_location(&first)
        };
        Err(Failed {
            message,
            detail: stderr,
            line,
        })
    }
}

/// The script line an error names: psql's `psql:FILE:LINE: ERROR:` or the mysql client's
/// `ERROR 1054 (42S22) at line 3 in file: ...`.
fn error_line(message: &str) -> Option<usize> {
    if let Some(rest) = message.strip_prefix("psql:") {
        let mut parts = rest.splitn(3, ':');
        let _file = parts.next()?;
        return parts.next()?.trim().parse().ok();
    }
    let (_, after) = message.split_once(" at line ")?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The error without psql's `psql:FILE:LINE: ` prefix (the check names file and line).
fn strip_location(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("psql:") {
        let mut parts = rest.splitn(3, ':');
        if let (Some(_), Some(_), Some(tail)) = (parts.next(), parts.next(), parts.next()) {
            return tail.trim().to_string();
        }
    }
    message.to_string()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// The client Sqitch would start: `engine.<name>.client` from sqitch.conf, else the engine's
/// client on PATH (or in Debian's PostgreSQL folders).
fn find_client(engine: Engine, configured: Option<&str>) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match configured {
        Some(c) => vec![PathBuf::from(c)],
        None => match engine.dialect() {
            Dialect::Postgres => {
                let mut found: Vec<PathBuf> = glob_postgres_bins();
                found.insert(0, PathBuf::from("psql"));
                found
            }
            Dialect::Mysql => vec![PathBuf::from("mariadb"), PathBuf::from("mysql")],
        },
    };
    for candidate in &candidates {
        if candidate.components().count() > 1 {
            if candidate.is_file() {
                return Ok(candidate.clone());
            }
        } else if let Some(path) = on_path(candidate) {
            return Ok(path);
        }
    }
    Err(Error::environment(
        format!(
            "Sqitch runs scripts through the engine's client, and none was found ({})",
            candidates
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(match engine.dialect() {
            Dialect::Postgres => "install psql (Debian: postgresql-client)".to_string(),
            Dialect::Mysql => {
                "install the mariadb or mysql client (Debian: mariadb-client)".to_string()
            }
        }),
    ))
}

fn is_mariadb_client(program: &Path) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("MariaDB"))
}

fn on_path(name: &Path) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Debian keeps psql per major version under /usr/lib/postgresql; the newest first.
fn glob_postgres_bins() -> Vec<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let psql = e.path().join("bin/psql");
            psql.is_file().then_some((major, psql))
        })
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.0));
    found.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_from_both_clients() {
        let pg = "psql:verify/users.sql:4: ERROR:  column \"email\" does not exist";
        assert_eq!(error_line(pg), Some(4));
        assert_eq!(
            strip_location(pg),
            "ERROR:  column \"email\" does not exist"
        );
        let my = "ERROR 1054 (42S22) at line 3 in file: 'verify/users.sql': Unknown column 'email'";
        assert_eq!(error_line(my), Some(3));
        assert_eq!(error_line("ERROR: no line here"), None);
    }

    #[test]
    fn variables_merge_as_sqitch_merges_them() {
        let config = Config::parse(
            Path::new("sqitch.conf"),
            "[core \"variables\"]\n\ta = core\n\tb = core\n\tc = core\n\td = core\n\
             [deploy \"variables\"]\n\tb = deploy\n\
             [revert \"variables\"]\n\tb = revert\n\
             [engine \"pg.variables\"]\n\tc = engine\n\td = engine\n\
             [target \"dev.variables\"]\n\td = target\n\
             [target \"prod.variables\"]\n\td = prod\n",
        )
        .unwrap();
        let v = Variables::from_config(&config, "pg", Some("dev"));
        let pairs = |list: &[(String, String)]| -> Vec<String> {
            list.iter().map(|(k, v)| format!("{k}={v}")).collect()
        };
        assert_eq!(
            pairs(&v.deploy),
            ["a=core", "b=deploy", "c=engine", "d=target"]
        );
        assert_eq!(
            pairs(&v.revert),
            ["a=core", "b=revert", "c=engine", "d=target"]
        );
        let v = Variables::from_config(&config, "pg", None);
        assert_eq!(
            pairs(&v.deploy),
            ["a=core", "b=deploy", "c=engine", "d=engine"]
        );
    }

    #[test]
    fn a_script_in_one_transaction_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.sql");
        std::fs::write(
            &file,
            "-- Deploy x\n\nBEGIN;\nCREATE TABLE x ();\nCOMMIT;\n",
        )
        .unwrap();
        assert!(starts_with_begin(&file));
        std::fs::write(&file, "CREATE TABLE x ();\n").unwrap();
        assert!(!starts_with_begin(&file));
    }
}
