//! Stage: report. The `Report` model is what every output is rendered from; its JSON shape is
//! versioned (`report_version`) and documented in the README.

use serde::Serialize;

pub mod json;
pub mod junit;
pub mod terminal;

/// Bumped on any incompatible change of the JSON shape.
pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub report_version: u32,
    pub migcheck_version: String,
    pub verdict: Verdict,
    pub exit_code: u8,
    /// RFC 3339 UTC time the run started.
    pub started_at: String,
    pub duration_ms: u64,
    /// The migrations folder as given on the command line.
    pub path: String,
    pub format: String,
    /// None when the run stopped before a database was provisioned (chain errors).
    pub engine: Option<EngineReport>,
    pub provider: Option<ProviderReport>,
    pub options: OptionsReport,
    pub migrations: Vec<MigrationReport>,
    pub checks: Vec<CheckReport>,
    /// Lint findings (empty until lint exists).
    pub findings: Vec<Finding>,
    pub timings: Timings,
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineReport {
    pub name: String,
    pub version: String,
    pub version_num: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderReport {
    /// `local`, `url`.
    pub name: String,
    /// Human description; URLs in it are redacted.
    pub description: String,
    pub startup_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionsReport {
    /// `step` or `full`.
    pub roundtrip: String,
    pub require_down: bool,
    pub cosmetic: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub id: String,
    pub version: String,
    pub name: String,
    pub files: Vec<String>,
    pub has_down: bool,
    pub no_transaction: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// `chain`, `upgrade` or `roundtrip`.
    pub name: String,
    /// The migration id the check is about; None for whole-chain checks.
    pub migration: Option<String>,
    pub status: Status,
    pub duration_ms: u64,
    /// One line: what passed or what went wrong.
    pub message: String,
    /// File and line the problem points at, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Longer detail: a server error, a list of chain problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Unified diff of canonical schema renderings where schemas differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Objects that differ (`table public.users > index users_email_idx`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    /// Differences that do not change behaviour (reported, not failed, under the default policy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Sub-steps of a roundtrip (`down`, `reapply`) with their own timing and outcome.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `up`, `down`, `reapply`.
    pub name: String,
    pub status: Status,
    pub duration_ms: u64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: String,
    pub severity: String,
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

/// Where the time went (milliseconds).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub chain_ms: u64,
    pub server_start_ms: u64,
    pub migrations_ms: u64,
    pub snapshots_ms: u64,
    pub teardown_ms: u64,
    pub total_ms: u64,
}
