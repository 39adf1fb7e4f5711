//! migcheck: verify database migrations before they reach production.
//!
//! The pipeline, one module per stage: `chain` (discover and check the migration chain),
//! `provision` (obtain an ephemeral database), `apply` (run migration scripts), `snapshot`
//! (read a canonical schema model), `compare` (diff two snapshots), `report` (JSON, JUnit,
//! terminal). `verify` wires them together.

pub mod alembic;
pub mod apply;
pub mod bookkeeping;
pub mod chain;
pub mod cleanup;
pub mod cli;
pub mod compare;
pub mod config;
pub mod engine;
pub mod error;
pub mod evidence;
pub mod formats;
pub mod generate;
pub mod history;
pub mod init;
pub mod lint;
pub mod observe;
pub mod provision;
pub mod redact;
pub mod report;
pub mod runner;
pub mod snapshot;
pub mod sqitch;
pub mod sql;
pub mod status;
pub mod timing;
pub mod verify;
pub mod verify_config;

use std::process::ExitCode;

use cli::{Cli, Command};

/// Run a parsed command line; the returned code is one of `error::exit`.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Verify(args) => verify::run(*args, cli.color).await,
        Command::Lint(args) => lint::cli::run_lint(args, cli.color),
        Command::Rules(args) => lint::cli::run_rules(args),
        Command::Cleanup(args) => cleanup::run(args).await,
        Command::Snapshot(args) => verify::run_snapshot(*args, cli.color).await,
        Command::Evidence(args) => evidence::run(args),
        Command::Heads(args) => alembic::cli::run_heads(args),
        Command::Graph(args) => alembic::cli::run_graph(args),
        Command::Init(args) => init::run(args),
        Command::Completions(args) => generate::completions(args),
        Command::Man(args) => generate::man(args),
        Command::Status(args) => status::run_status(*args).await,
        Command::Wait(args) => status::wait::run_wait(*args).await,
        Command::Plan(args) => status::plan::run_plan(*args).await,
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
