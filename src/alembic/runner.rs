//! The Alembic runner: the project's own Alembic applies each revision, through one
//! long-lived driver process per throwaway database (`driver`). Up is `upgrade <rev>`; down is
//! one step back on the revision's own branch (a merge goes back to its parents, other branches
//! stay applied).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::driver::{Direction, Driver, DriverOptions};
use super::graph::Graph;
use crate::apply::ApplyFailure;
use crate::chain::Chain;
use crate::engine::{Dialect, Engine};
use crate::error::{Error, Result};
use crate::provision::Database;
use crate::report::{CheckReport, Status};
use crate::runner::{Applied, Applier, ApplyContext, Plan, Runner, RunnerOptions, Step};

pub struct AlembicRunner {
    graph: Arc<Graph>,
    options: DriverOptions,
}

impl AlembicRunner {
    pub fn new(graph: Arc<Graph>, options: &RunnerOptions) -> AlembicRunner {
        AlembicRunner {
            graph,
            options: DriverOptions {
                python: options.python.clone(),
                url_env: options.url_env.clone(),
                sqlalchemy_scheme: options.sqlalchemy_scheme.clone(),
                startup_timeout: options.startup_timeout,
                statement_timeout: options.statement_timeout,
                ..Default::default()
            },
        }
    }
}

#[async_trait]
impl Runner for AlembicRunner {
    fn plans<'c>(&self, chain: &'c Chain) -> Vec<Plan<'c>> {
        chain
            .migrations
            .iter()
            .enumerate()
            .map(|(index, m)| Plan {
                migration: m,
                up: Step {
                    file: m.up.file.clone(),
                    summary: format!("alembic upgrade {}", m.id),
                    index,
                    down: false,
                },
                down: Some(Step {
                    file: m.up.file.clone(),
                    summary: format!("alembic downgrade {}", self.graph.step_back_target(&m.id)),
                    index,
                    down: true,
                }),
            })
            .collect()
    }

    fn refuses_session_sql(&self) -> Option<&'static str> {
        Some(
            "--session-sql / session-sql does not apply to Alembic projects: Alembic opens its own \
             connections, so set the session up in env.py (e.g. `connection.exec_driver_sql(...)` \
             before `context.run_migrations()`)",
        )
    }

    fn lints_what_it_ran(&self) -> bool {
        true
    }

    /// The second database starts an Alembic driver of its own (0.3-0.4 s) and catches up
    /// in one `alembic upgrade` (a seventh of verifying each revision): on the 300-revision
    /// bench project, split at 54% the first half waited 0.25-0.43 s for the second.
    fn split_first_share(&self) -> usize {
        570
    }

    async fn open(&self, db: &Database) -> Result<Box<dyn Applier>> {
        // The driver's engine is bound to one database: a fresh database, a fresh driver.
        let driver = Driver::start(&self.graph.project, db.engine, &db.url, &self.options).await?;
        Ok(Box::new(AlembicApplier {
            graph: Arc::clone(&self.graph),
            engine: db.engine,
            driver: Some(driver),
        }))
    }
}

struct AlembicApplier {
    graph: Arc<Graph>,
    engine: Engine,
    /// None once the process died (the replay that follows starts a new one).
    driver: Option<Driver>,
}

#[async_trait]
impl Applier for AlembicApplier {
    /// PostgreSQL only: its DDL is transactional, so the held command's set-up (which may
    /// create the version table) is invisible to the snapshot it overlaps. A driver that cannot
    /// take the request is reported by the `apply` that follows.
    async fn prepare(&mut self, step: &Step) {
        if self.engine.dialect() == Dialect::Mysql {
            return;
        }
        let (Some(revision), Some(driver)) =
            (self.graph.revisions.get(step.index), self.driver.as_mut())
        else {
            return;
        };
        let (direction, target) = if step.down {
            (
                Direction::Downgrade,
                self.graph.step_back_target(&revision.id),
            )
        } else {
            (Direction::Upgrade, revision.id.clone())
        };
        let _ = driver.hold(direction, &target).await;
    }

    /// One upgrade or downgrade through the driver. An exception in the revision is a failure
    /// of the step; a driver that died is too.
    async fn apply(
        &mut self,
        _cx: ApplyContext<'_>,
        step: &Step,
    ) -> std::result::Result<Applied, ApplyFailure> {
        let started = Instant::now();
        let fail =
            |message: String, detail: String, line: usize, irreversible: bool| ApplyFailure {
                file: step.file.clone(),
                line,
                message,
                detail,
                partially_applied: true,
                irreversible,
                duration: started.elapsed(),
            };
        let Some(revision) = self.graph.revisions.get(step.index) else {
            return Err(fail("no such revision".into(), String::new(), 1, false));
        };
        let mysql = self.engine.dialect() == Dialect::Mysql;
        let Some(driver) = self.driver.as_mut() else {
            return Err(fail(
                "the Alembic driver is not running".into(),
                String::new(),
                1,
                false,
            ));
        };
        let result = if step.down {
            driver
                .downgrade(&self.graph.step_back_target(&revision.id))
                .await
        } else {
            driver.upgrade(&revision.id).await
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                let tail = driver.stderr_tail();
                self.driver = None;
                return Err(fail(e.to_string(), tail, 1, false));
            }
        };
        if let Some(err) = &result.error {
            // Raised outside any revision's function: a revision file that does not import
            // (a syntax error) is to blame, not the revision being upgraded.
            let (file, line) = match &err.file {
                Some(file) => (file.clone(), traceback_line(&err.traceback, file)),
                None => match revision_in_traceback(&err.traceback, &self.graph) {
                    Some((file, line)) => (file, Some(line)),
                    None => (
                        step.file.clone(),
                        traceback_line(&err.traceback, &step.file),
                    ),
                },
            };
            let irreversible = step.down && err.kind == "NotImplementedError";
            let mut f = fail(
                format!("{}: {}", err.kind, err.message.trim()),
                err.traceback.clone(),
                line.unwrap_or(1),
                irreversible,
            );
            f.file = file;
            // Postgres rolls the failed step back; MySQL has committed its DDL statements.
            f.partially_applied = mysql;
            return Err(f);
        }
        // What Alembic really sent for this revision, attributed to its file.
        let ran = result
            .steps
            .iter()
            .filter(|s| s.revision == revision.id)
            .map(|s| s.to_script())
            .collect();
        Ok(Applied {
            took: result.wall,
            ran,
            touched: None,
        })
    }

    /// `alembic upgrade <head>` for each head of the revisions `steps` name (one command for
    /// a straight chain): Alembic runs them in one transaction, the way `alembic upgrade head`
    /// deploys. It must apply exactly those revisions, or the catch-up fails (and the split
    /// with it).
    async fn catch_up(
        &mut self,
        steps: &[Step],
    ) -> Option<std::result::Result<Duration, ApplyFailure>> {
        let started = Instant::now();
        let wanted: BTreeSet<&str> = steps
            .iter()
            .filter_map(|s| self.graph.revisions.get(s.index))
            .map(|r| r.id.as_str())
            .collect();
        let first = steps.first()?;
        if wanted.len() != steps.len() || steps.iter().any(|s| s.down) {
            return None;
        }
        let fail = |message: String, detail: String| ApplyFailure {
            file: first.file.clone(),
            line: 1,
            message,
            detail,
            partially_applied: true,
            irreversible: false,
            duration: started.elapsed(),
        };
        let driver = self.driver.as_mut()?;
        let mut ran = BTreeSet::new();
        for head in self.graph.expected_current(wanted.iter().copied()) {
            let result = match driver.upgrade(&head).await {
                Ok(r) => r,
                Err(e) => {
                    let tail = driver.stderr_tail();
                    self.driver = None;
                    return Some(Err(fail(e.to_string(), tail)));
                }
            };
            if let Some(err) = &result.error {
                let message = format!("upgrade {head}: {}: {}", err.kind, err.message.trim());
                return Some(Err(fail(message, err.traceback.clone())));
            }
            ran.extend(
                result
                    .steps
                    .into_iter()
                    .filter(|s| s.direction == Direction::Upgrade)
                    .map(|s| s.revision),
            );
        }
        if !ran.iter().map(String::as_str).eq(wanted.iter().copied()) {
            return Some(Err(fail(
                format!(
                    "upgrading to the heads of the first {} revisions applied {} revisions",
                    wanted.len(),
                    ran.len()
                ),
                String::new(),
            )));
        }
        Some(Ok(started.elapsed()))
    }

    /// `alembic_version` must hold exactly the heads of the applied revisions (bookkeeping is
    /// left out of schema comparisons, so it is checked here).
    async fn check_chain_applied(
        &mut self,
        plans: &[Plan<'_>],
        all_applied: bool,
    ) -> Option<CheckReport> {
        let mut check = CheckReport::new("alembic_version", None, Status::Pass, "");
        if !all_applied {
            check.status = Status::Skip;
            check.message = "not checked: not every revision applied".to_string();
            return Some(check);
        }
        let started = Instant::now();
        let expected = self
            .graph
            .expected_current(plans.iter().map(|p| p.migration.id.as_str()));
        let current = match self.driver.as_mut() {
            Some(d) => d.current().await,
            None => Err(Error::environment(
                "the Alembic driver is not running",
                None,
            )),
        };
        check.duration_ms = ms(started.elapsed());
        match current {
            Ok(mut actual) => {
                actual.sort();
                if actual == expected {
                    check.message = format!("holds the heads: {}", expected.join(", "));
                } else {
                    check.status = Status::Fail;
                    check.message = format!(
                        "alembic_version holds [{}] after the full upgrade, expected the heads [{}]",
                        actual.join(", "),
                        expected.join(", ")
                    );
                }
            }
            Err(e) => {
                check.status = Status::Fail;
                check.message = format!("cannot read alembic_version: {e}");
            }
        }
        Some(check)
    }

    async fn close(self: Box<Self>) {
        if let Some(driver) = self.driver {
            if let Err(e) = driver.stop().await {
                tracing::warn!("the Alembic driver did not stop cleanly: {e}");
            }
        }
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

/// The innermost traceback frame that is in one of the project's revision files.
fn revision_in_traceback(traceback: &str, graph: &Graph) -> Option<(PathBuf, usize)> {
    let revisions: Vec<(PathBuf, &Path)> = graph
        .revisions
        .iter()
        .map(|r| {
            (
                std::fs::canonicalize(&r.file).unwrap_or_else(|_| r.file.clone()),
                r.file.as_path(),
            )
        })
        .collect();
    traceback.lines().rev().find_map(|l| {
        let rest = l.trim_start().strip_prefix("File \"")?;
        let (path, tail) = rest.split_once('"')?;
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| Path::new(path).to_path_buf());
        let (_, file) = revisions.iter().find(|(canonical, _)| *canonical == path)?;
        let n = tail.trim_start_matches(", line ").split(',').next()?;
        Some((file.to_path_buf(), n.trim().parse().ok()?))
    })
}

/// The line of `file` in a Python traceback's innermost frame that lies in that file.
fn traceback_line(traceback: &str, file: &Path) -> Option<usize> {
    let name = file.file_name()?.to_str()?;
    traceback.lines().rev().find_map(|l| {
        let l = l.trim_start();
        let rest = l.strip_prefix("File \"")?;
        let (path, tail) = rest.split_once('"')?;
        if !path.ends_with(name) {
            return None;
        }
        let n = tail.trim_start_matches(", line ").split(',').next()?;
        n.trim().parse().ok()
    })
}
