//! Alembic (Python) projects: migcheck reads the revision graph itself (`config`, `parse`,
//! `graph`), prints it (`cli`: `migcheck heads`, `migcheck graph`), and drives Alembic to apply
//! steps through one long-lived Python process (`driver`).

pub mod chain;
pub mod cli;
pub mod config;
pub mod driver;
pub mod graph;
pub mod parse;
pub mod runner;

pub use config::{find_project, Project};
pub use driver::{Driver, DriverOptions, StepError, StepResult};
pub use graph::{Graph, Problem, ProblemKind, Revision};
