//! The JSON report: the `Report` model serialised as pretty, deterministic JSON
//! (fields in declaration order, no maps), with a trailing newline.

use std::path::Path;

use serde::Serialize;

use super::{Report, Run};
use crate::error::Result;

/// Render the report as pretty JSON ending in a newline.
pub fn to_string(report: &Report) -> String {
    let mut out = match serde_json::to_string_pretty(report) {
        Ok(s) => s,
        // The model holds only strings, numbers, enums and vectors, so serialisation cannot
        // fail; should that ever change, still emit valid JSON that says what went wrong.
        Err(e) => serde_json::json!({
            "report_version": report.report_version,
            "error": format!("could not serialise the report: {e}"),
        })
        .to_string(),
    };
    out.push('\n');
    out
}

/// Write the JSON report to `path` atomically, creating parent directories.
pub fn write(report: &Report, path: &Path) -> Result<()> {
    super::write_atomic(path, to_string(report).as_bytes())
}

/// A run of several chains: the run's verdict and exit code, and each chain's report (with
/// its `chain` name) under `chains`.
#[derive(Serialize)]
struct RunJson<'a> {
    report_version: u32,
    migcheck_version: &'a str,
    verdict: super::Verdict,
    exit_code: u8,
    started_at: &'a str,
    duration_ms: u64,
    chains: &'a [Report],
}

/// The run as JSON: one chain's report as it is, several under `chains`.
pub fn run_to_string(run: &Run<'_>) -> String {
    if let Some(report) = run.single() {
        return to_string(report);
    }
    let doc = RunJson {
        report_version: super::REPORT_VERSION,
        migcheck_version: env!("CARGO_PKG_VERSION"),
        verdict: run.verdict(),
        exit_code: run.exit_code,
        started_at: run.started_at,
        duration_ms: run.duration_ms,
        chains: run.reports,
    };
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| {
        serde_json::json!({
            "report_version": super::REPORT_VERSION,
            "error": format!("could not serialise the report: {e}"),
        })
        .to_string()
    });
    out.push('\n');
    out
}

pub fn write_run(run: &Run<'_>, path: &Path) -> Result<()> {
    super::write_atomic(path, run_to_string(run).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples;

    #[test]
    fn pretty_deterministic_with_trailing_newline() {
        let r = samples::failing();
        let a = to_string(&r);
        let b = to_string(&r.clone());
        assert_eq!(a, b);
        assert!(a.ends_with("}\n"));
        assert!(!a.ends_with("\n\n"));
        assert!(a.starts_with("{\n  \"report_version\": 1,\n  \"migcheck_version\""));
    }

    #[test]
    fn shape() {
        let v: serde_json::Value = serde_json::from_str(&to_string(&samples::failing())).unwrap();
        assert_eq!(v["verdict"], "fail");
        assert_eq!(v["engine"]["name"], "postgres");
        let rt = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["status"] == "fail")
            .unwrap();
        assert_eq!(rt["name"], "roundtrip");
        assert_eq!(rt["phases"][0]["name"], "down");
        // Optional fields are omitted, not null.
        let chain = &v["checks"][0];
        assert!(chain.get("diff").is_none());
        assert!(chain.get("objects").is_none());
    }

    #[test]
    fn chain_failure_has_null_engine() {
        let v: serde_json::Value =
            serde_json::from_str(&to_string(&samples::chain_failure())).unwrap();
        assert!(v["engine"].is_null());
        assert!(v["provider"].is_null());
    }

    #[test]
    fn write_creates_dirs_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/nested/migcheck.json");
        let r = samples::passing();
        write(&r, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), to_string(&r));
    }

    #[test]
    fn write_error_is_io_with_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let path = file.join("r.json");
        let err = write(&samples::passing(), &path).unwrap_err();
        match err {
            crate::error::Error::Io { path: p, .. } => assert_eq!(p, path),
            other => panic!("expected Error::Io, got {other:?}"),
        }
    }
}
