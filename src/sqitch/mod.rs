//! Sqitch projects (`sqitch.conf`, `sqitch.plan`, `deploy/` `revert/` `verify/` scripts): read
//! the configuration and the plan as Sqitch does and turn them into a migration chain.
//!
//! `conf` reads `sqitch.conf` and resolves where the plan and the scripts are, `plan` parses
//! the plan's grammar, `chain` loads a whole project and runs Sqitch's plan checks (dependency
//! order, unknown dependencies, cycles, duplicates, missing scripts) as chain problems;
//! `format` is its entry among `crate::formats`, `runner` runs its scripts through the
//! engine's client.

pub mod chain;
pub mod conf;
pub mod format;
pub mod plan;
pub mod runner;

pub use chain::{is_project, load, Change, Project, BLOCKING};
