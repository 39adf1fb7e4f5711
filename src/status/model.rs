//! What `status` reports (the JSON shape is documented in the README, "migcheck status").

use std::path::PathBuf;

use serde::Serialize;

/// Bumped when a field changes meaning or disappears; new fields may appear without a bump.
pub const STATUS_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Applied,
    Pending,
    /// golang-migrate's current version with `dirty = true`.
    Dirty,
    /// Flyway / sqlx `success = false`.
    Failed,
    /// Applied, but the file's checksum differs from the stored one.
    Edited,
    /// Flyway: at or below a baseline row, never run by Flyway.
    BelowBaseline,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Dirty => "DIRTY",
            State::Failed => "FAILED",
            State::Edited => "EDITED",
            State::BelowBaseline => "baseline",
        }
    }
}

/// One migration of the chain and where the target database stands with it.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationState {
    pub version: String,
    pub id: String,
    pub file: PathBuf,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A version the database has applied that the chain does not have.
#[derive(Debug, Clone, Serialize)]
pub struct Unknown {
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Something that makes `status` exit 1.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `dirty`, `failed`, `edited`, `unknown`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub message: String,
    /// The recovery the tool documents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<String>,
}

/// Alembic: the revisions in `alembic_version` against the heads of the graph.
#[derive(Debug, Clone, Serialize)]
pub struct AlembicState {
    /// `alembic current`: the rows of `alembic_version`, sorted.
    pub current: Vec<String>,
    pub heads: Vec<HeadState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeadState {
    pub head: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// True when the head itself is applied.
    pub applied: bool,
    /// The revisions `alembic upgrade <head>` would run, in order.
    pub pending: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    UpToDate,
    Pending,
    Problems,
}

/// The whole `status` answer.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub status_version: u32,
    pub verdict: Verdict,
    pub exit_code: u8,
    pub chain: PathBuf,
    pub format: crate::chain::Format,
    /// The target, password replaced by `***`.
    pub target: String,
    pub engine: crate::engine::Engine,
    pub server_version: String,
    pub table: String,
    /// False when the version table does not exist: nothing was ever applied.
    pub table_exists: bool,
    pub migrations: Vec<MigrationState>,
    /// Ids in the order the tool will run them.
    pub pending: Vec<String>,
    pub unknown: Vec<Unknown>,
    pub problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alembic: Option<AlembicState>,
    /// Problems of the chain itself (as `verify` reports them); they do not change the exit code.
    pub chain_problems: Vec<String>,
    /// Milliseconds from start to answer (connect and read included).
    pub duration_ms: u64,
}

impl StatusReport {
    pub fn counts(&self, state: State) -> usize {
        self.migrations.iter().filter(|m| m.state == state).count()
    }
}
