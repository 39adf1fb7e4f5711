//! The SQL-file runner: migcheck's own splitter and executor, run with each SQL-file format's
//! semantics (which statements a script holds, whether it runs in a transaction, the tool's
//! version table on the connection).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Applied, Applier, ApplyContext, Plan, Runner, Step};
use crate::apply::{self, ApplyFailure, PreparedScript};
use crate::chain::{self, Chain, Format};
use crate::engine::Dialect;
use crate::error::Result;
use crate::provision::{Conn, Database};
use crate::snapshot::{self, Touched};
use crate::sql::{self, Statement};

/// Every migration's scripts, split for the engine's dialect before any database starts.
pub struct SqlRunner {
    format: Format,
    dialect: Dialect,
    scripts: Arc<Vec<(PreparedScript, Option<PreparedScript>)>>,
    touched: Arc<Vec<StepTouches>>,
}

/// What each migration's up and down can change (MySQL/MariaDB; see `snapshot::Touched`).
type StepTouches = (Option<Touched>, Option<Touched>);

/// What `script`'s statements can change, read once before any database starts.
fn touched_by(script: &PreparedScript, dialect: Dialect) -> Option<Touched> {
    match dialect {
        Dialect::Mysql => snapshot::mysql_touched(script.statements.iter().map(|s| s.sql.as_str())),
        Dialect::Postgres => None,
    }
}

impl SqlRunner {
    /// Split every script: a malformed file is bad input (exit 2).
    pub fn new(chain: &Chain, dialect: Dialect) -> Result<SqlRunner> {
        // Transaction state was decided at discovery (lint reads the same). Only Flyway
        // interprets `DELIMITER` as the mysql client does; every other tool hands the file to
        // the server.
        let prepare = |script: &chain::Script| -> Result<PreparedScript> {
            let statements = if chain.format == Format::Flyway {
                sql::split(script, dialect)?
            } else {
                sql::split_as_sent(script, dialect)?
            };
            Ok(PreparedScript {
                file: script.file.clone(),
                statements,
                no_transaction: script.no_transaction,
            })
        };
        let scripts = chain
            .migrations
            .iter()
            .map(|m| Ok((prepare(&m.up)?, m.down.as_ref().map(prepare).transpose()?)))
            .collect::<Result<Vec<_>>>()?;
        let touched = scripts
            .iter()
            .map(|(up, down)| {
                (
                    touched_by(up, dialect),
                    down.as_ref().and_then(|d| touched_by(d, dialect)),
                )
            })
            .collect();
        Ok(SqlRunner {
            format: chain.format,
            dialect,
            scripts: Arc::new(scripts),
            touched: Arc::new(touched),
        })
    }
}

fn summary(script: &PreparedScript) -> String {
    let n = script.statements.len();
    format!(
        "applied {n} statement{}{}",
        if n == 1 { "" } else { "s" },
        if script.no_transaction {
            " outside a transaction"
        } else {
            ""
        }
    )
}

#[async_trait]
impl Runner for SqlRunner {
    fn plans<'c>(&self, chain: &'c Chain) -> Vec<Plan<'c>> {
        chain
            .migrations
            .iter()
            .zip(self.scripts.iter())
            .enumerate()
            .map(|(index, (migration, (up, down)))| Plan {
                migration,
                up: Step {
                    file: up.file.clone(),
                    summary: summary(up),
                    index,
                    down: false,
                },
                down: down.as_ref().map(|d| Step {
                    file: d.file.clone(),
                    summary: summary(d),
                    index,
                    down: true,
                }),
            })
            .collect()
    }

    fn observable(&self) -> bool {
        true
    }

    async fn prepare_connection(
        &self,
        conn: &mut Conn,
        _server_is_ours: bool,
    ) -> std::result::Result<(), String> {
        crate::bookkeeping::create(conn, self.format).await
    }

    async fn open(&self, _db: &Database) -> Result<Box<dyn Applier>> {
        Ok(Box::new(SqlApplier {
            dialect: self.dialect,
            scripts: Arc::clone(&self.scripts),
            touched: Arc::clone(&self.touched),
        }))
    }
}

struct SqlApplier {
    dialect: Dialect,
    scripts: Arc<Vec<(PreparedScript, Option<PreparedScript>)>>,
    touched: Arc<Vec<StepTouches>>,
}

impl SqlApplier {
    fn script(&self, step: &Step) -> Option<&PreparedScript> {
        let (up, down) = self.scripts.get(step.index)?;
        if step.down {
            down.as_ref()
        } else {
            Some(up)
        }
    }
}

#[async_trait]
impl Applier for SqlApplier {
    async fn apply(
        &mut self,
        cx: ApplyContext<'_>,
        step: &Step,
    ) -> std::result::Result<Applied, ApplyFailure> {
        let Some(script) = self.script(step) else {
            return Err(ApplyFailure {
                file: step.file.clone(),
                line: 1,
                message: "no such script in this chain".to_string(),
                detail: String::new(),
                partially_applied: false,
                irreversible: false,
                duration: Duration::ZERO,
            });
        };
        if cx.sandboxed {
            if let Some(refused) = refuse_server_wide(script, self.dialect) {
                return Err(refused);
            }
        }
        let took = apply::apply_tracked(cx.conn, script, cx.recorder, cx.running).await?;
        let touched = self
            .touched
            .get(step.index)
            .and_then(|(up, down)| if step.down { down } else { up }.clone());
        Ok(Applied {
            took,
            ran: Vec::new(),
            touched,
        })
    }

    fn statement(&self, step: &Step, index: usize) -> Option<Statement> {
        self.script(step)?.statements.get(index).cloned()
    }
}

/// A statement that would reach beyond the throwaway database on a shared server, refused
/// before anything of the migration runs.
fn refuse_server_wide(script: &PreparedScript, dialect: Dialect) -> Option<ApplyFailure> {
    script.statements.iter().find_map(|st| {
        let what = sql::server_wide(&st.sql, dialect)?;
        Some(ApplyFailure {
            file: script.file.clone(),
            line: st.line,
            message: format!(
                "refused: {what} would reach beyond the throwaway database on the shared server \
                 given by --url; nothing of this migration was run"
            ),
            detail: format!(
                "statement at line {}:\n    {}\nhint: verify this chain with --provider local or docker, \
                 or pass --url-privileged if this server is yours to change\n",
                st.line,
                st.sql.lines().next().unwrap_or_default()
            ),
            partially_applied: false,
            irreversible: false,
            duration: Duration::ZERO,
        })
    })
}
