//! The GitLab Code Quality report (`artifacts:reports:codequality`): a JSON array of issues in
//! the Code Climate subset GitLab reads, each with `description`, `check_name`, `fingerprint`,
//! `severity` and `location` (`path`, `lines.begin`).
//!
//! Paths are relative to the repository root: `CI_PROJECT_DIR` when set, else the git top level
//! of the migrations folder, else the current directory. Severities: a failed check (and the
//! run's own error, exit 2 or 3) is `blocker`; findings map `error` to `critical`, `warning` to
//! `major`, `info` to `info`. Fingerprints are those of the SARIF report (rule, path, migration,
//! normalised statement; never the line), so GitLab's comparison of a merge request with its
//! base survives unrelated edits; they are unique within a report.

use std::path::Path;

use serde_json::{json, Value};

use super::ci::{self, Paths};
use super::{clean_text, Report, Run, Status};
use crate::error::Result;

/// Render the report as a Code Quality JSON array (pretty, ends with a newline).
pub fn render(report: &Report) -> String {
    let project = std::env::var_os("CI_PROJECT_DIR");
    render_with(
        report,
        &Paths::with_base(report, project.as_deref().map(Path::new)),
    )
}

/// Write the Code Quality report to `path` atomically, creating parent directories.
pub fn write(report: &Report, path: &Path) -> Result<()> {
    super::write_atomic(path, render(report).as_bytes())
}

/// The run's Code Quality report: every chain's issues in one array (fingerprints hold the
/// file paths, so chains never share one).
pub fn render_run(run: &Run<'_>) -> String {
    if let Some(report) = run.single() {
        return render(report);
    }
    let mut all: Vec<Value> = Vec::new();
    for report in run.reports {
        if let Ok(Value::Array(issues)) = serde_json::from_str(&render(report)) {
            all.extend(issues);
        }
    }
    let mut out = serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".to_string());
    out.push('\n');
    out
}

fn severity(finding_severity: &str) -> &'static str {
    match finding_severity {
        "error" => "critical",
        "warning" => "major",
        _ => "info",
    }
}

/// One line of clean text, at most `max` characters.
fn line_text(s: &str, max: usize) -> String {
    let one = clean_text(s)
        .split(['\n', '\t'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    ci::shorten(&one, max)
}

fn issue(
    description: String,
    check_name: &str,
    fingerprint: &str,
    severity: &str,
    path: String,
    line: Option<usize>,
) -> Value {
    json!({
        "description": description,
        "check_name": check_name,
        "fingerprint": fingerprint,
        "severity": severity,
        "location": { "path": path, "lines": { "begin": line.filter(|l| *l > 0).unwrap_or(1) } },
    })
}

pub(crate) fn render_with(report: &Report, paths: &Paths) -> String {
    let mut issues = Vec::new();

    let keys: Vec<Vec<String>> = report
        .findings
        .iter()
        .map(|f| ci::finding_key(paths, f))
        .collect();
    for (f, fp) in report.findings.iter().zip(ci::fingerprints(&keys)) {
        let mut description = line_text(&f.message, 1000);
        if let Some(m) = &f.migration {
            description.push_str(&format!(" [{}]", line_text(m, 200)));
        }
        issues.push(issue(
            description,
            &clean_text(&f.rule),
            &fp,
            severity(&f.severity),
            paths.shown(&f.file),
            f.line,
        ));
    }

    // Failed checks (one issue per chain problem), the run's error included.
    let folder = paths.shown(&report.path);
    let mut pending: Vec<(String, String, &'static str, String, Option<usize>)> = Vec::new();
    let mut check_keys = Vec::new();
    for check in &report.checks {
        let problems = ci::chain_problems(check);
        if check.status != Status::Fail && problems.is_empty() {
            continue;
        }
        let name = format!("migcheck/{}", clean_text(&check.name));
        let failed = check.status == Status::Fail;
        if problems.is_empty() {
            let file = ci::check_file(report, check);
            check_keys.push(ci::check_key(
                paths,
                &check.name,
                file.as_deref(),
                check.migration.as_deref(),
                "",
            ));
            let mut description = line_text(&check.message, 1000);
            if !check.objects.is_empty() {
                description.push_str(&format!(
                    " (differs: {})",
                    line_text(&check.objects.join("; "), 500)
                ));
            }
            if let Some(id) = &check.migration {
                description.push_str(&format!(" [{}]", line_text(id, 200)));
            }
            pending.push((
                description,
                name,
                "blocker",
                file.map_or_else(|| folder.clone(), |f| paths.shown(&f)),
                check.line,
            ));
        } else {
            for p in problems {
                check_keys.push(ci::check_key(
                    paths,
                    &check.name,
                    Some(&p.file),
                    None,
                    &p.kind,
                ));
                let level = if failed && p.severity == "error" {
                    "blocker"
                } else {
                    "minor"
                };
                pending.push((
                    line_text(&format!("{}: {}", p.kind, p.message), 1000),
                    name.clone(),
                    level,
                    paths.shown(&p.file),
                    p.line,
                ));
            }
        }
    }
    for ((description, name, level, path, line), fp) in
        pending.into_iter().zip(ci::fingerprints(&check_keys))
    {
        issues.push(issue(description, &name, &fp, level, path, line));
    }

    let mut out =
        serde_json::to_string_pretty(&Value::Array(issues)).unwrap_or_else(|_| "[]".to_string());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{samples, CheckReport, Finding, Verdict};
    use std::path::PathBuf;

    fn paths() -> Paths {
        Paths::new(PathBuf::from("/w/db"), PathBuf::from("/w"))
    }

    fn issues(report: &Report) -> Vec<Value> {
        serde_json::from_str::<Vec<Value>>(&render_with(report, &paths())).unwrap()
    }

    #[test]
    fn findings_and_failed_checks() {
        let mut r = samples::failing();
        r.findings = vec![
            Finding {
                rule: "drop-table".into(),
                severity: "error".into(),
                file: "migrations/0002_add_email.up.sql".into(),
                line: Some(3),
                message: "table dropped\nat postgres://u:pw9@h/d".into(),
                statement: Some("DROP TABLE t".into()),
                migration: Some("0002_add_email".into()),
                ..Default::default()
            },
            Finding {
                rule: "drop-table".into(),
                severity: "warning".into(),
                file: "migrations/0002_add_email.up.sql".into(),
                line: Some(9),
                message: "again".into(),
                statement: Some("DROP TABLE t".into()),
                migration: Some("0002_add_email".into()),
                ..Default::default()
            },
            Finding {
                rule: "prefer-jsonb".into(),
                severity: "info".into(),
                file: "migrations/0001_create_users.up.sql".into(),
                line: None,
                message: "json".into(),
                ..Default::default()
            },
        ];
        let v = issues(&r);
        assert_eq!(v.len(), 4);
        for i in &v {
            for key in ["description", "check_name", "fingerprint", "severity"] {
                assert!(i[key].is_string(), "{key} in {i}");
            }
            assert!(i["location"]["path"].is_string());
            assert!(i["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
        }
        assert_eq!(v[0]["check_name"], "drop-table");
        assert_eq!(v[0]["severity"], "critical");
        assert_eq!(
            v[0]["description"],
            "table dropped at postgres://u:***@h/d [0002_add_email]"
        );
        assert_eq!(
            v[0]["location"]["path"],
            "db/migrations/0002_add_email.up.sql"
        );
        assert_eq!(v[0]["location"]["lines"]["begin"], 3);
        assert_eq!(v[1]["severity"], "major");
        assert_ne!(
            v[0]["fingerprint"], v[1]["fingerprint"],
            "unique per report"
        );
        assert_eq!(v[2]["severity"], "info");
        assert_eq!(v[2]["location"]["lines"]["begin"], 1);
        assert_eq!(v[3]["check_name"], "migcheck/roundtrip");
        assert_eq!(v[3]["severity"], "blocker");
        assert_eq!(
            v[3]["location"]["path"],
            "db/migrations/0002_add_email.down.sql"
        );
        assert!(v[3]["description"]
            .as_str()
            .unwrap()
            .contains("(differs: table public.users > index users_email_idx) [0002_add_email]"));
    }

    #[test]
    fn chain_problems_and_the_run_error() {
        let v = issues(&ci::chain_failure_sample());
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["check_name"], "migcheck/chain");
        assert_eq!(v[0]["location"]["path"], "db/migrations/0002_b.up.sql");
        assert_eq!(v[1]["description"], "orphan-down: no matching up file");

        let mut r = samples::passing();
        r.exit_code = 2;
        r.verdict = Verdict::Fail;
        r.checks.push(CheckReport::new(
            "usage",
            None,
            Status::Fail,
            "--url is required",
        ));
        let v = issues(&r);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0]["check_name"], "migcheck/usage");
        assert_eq!(v[0]["severity"], "blocker");
        assert_eq!(
            v[0]["location"]["path"], "db/migrations",
            "the migrations folder"
        );
    }

    #[test]
    fn clean_run_is_an_empty_array() {
        assert_eq!(render_with(&samples::passing(), &paths()), "[]\n");
    }

    #[test]
    fn write_matches_render() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gl-code-quality.json");
        let r = samples::failing();
        write(&r, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), render(&r));
    }
}
