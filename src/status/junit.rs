//! JUnit XML for `status` and `plan`: one test case per migration (failing when dirty, failed
//! or edited; skipped while pending), per unknown version, per lint finding on a pending
//! migration (failing at `error`) and, for `plan`, one for drift.

use std::path::Path;

use junit_report::{Duration, Report, TestCase, TestSuite};

use super::model::{State, StatusReport};
use super::plan::PlanReport;
use crate::error::{Error, Result};

fn status_suite(report: &StatusReport, name: &str) -> TestSuite {
    let mut suite = TestSuite::new(name);
    suite.set_system_out(&super::render(report));
    let class = format!("{name}.migrations");
    for m in &report.migrations {
        let mut case = match m.state {
            State::Applied | State::BelowBaseline => TestCase::success(&m.id, Duration::ZERO),
            State::Pending => TestCase::skipped(&m.id),
            State::Dirty | State::Failed | State::Edited => {
                let problem = report
                    .problems
                    .iter()
                    .find(|p| p.version.as_deref() == Some(m.version.as_str()));
                let message = problem
                    .map(|p| match &p.recovery {
                        Some(r) => format!("{} Recovery: {r}", p.message),
                        None => p.message.clone(),
                    })
                    .unwrap_or_else(|| m.state.name().to_string());
                TestCase::failure(
                    &m.id,
                    Duration::ZERO,
                    &format!("migcheck.status.{}", m.state.name().to_ascii_lowercase()),
                    &message,
                )
            }
        };
        case.set_classname(&class);
        suite.add_testcase(case);
    }
    for p in report.problems.iter().filter(|p| p.kind == "unknown") {
        let mut case = TestCase::failure(
            &format!("unknown {}", p.version.as_deref().unwrap_or("")),
            Duration::ZERO,
            "migcheck.status.unknown",
            &p.message,
        );
        case.set_classname(&class);
        suite.add_testcase(case);
    }
    suite
}

fn write(report: Report, path: &Path) -> Result<()> {
    let mut out = Vec::new();
    report.write_xml(&mut out).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("could not render the JUnit report: {e}")),
    })?;
    out.push(b'\n');
    std::fs::write(path, out).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `status --junit FILE`.
pub fn write_status(report: &StatusReport, path: &Path) -> Result<()> {
    let mut junit = Report::new();
    junit.add_testsuite(status_suite(report, "migcheck.status"));
    write(junit, path)
}

/// `plan --junit FILE`.
pub fn write_plan(report: &PlanReport, path: &Path) -> Result<()> {
    let mut suite = status_suite(&report.status, "migcheck.plan");
    for f in &report.findings {
        let name = format!(
            "{} {}{}",
            f.rule,
            f.file,
            f.line.map(|l| format!(":{l}")).unwrap_or_default()
        );
        let mut case = if f.severity == "error" {
            TestCase::failure(
                &name,
                Duration::ZERO,
                &format!("migcheck.lint.{}", f.rule),
                &f.message,
            )
        } else {
            let mut c = TestCase::success(&name, Duration::ZERO);
            c.set_system_out(&format!("{}: {}", f.severity, f.message));
            c
        };
        case.set_classname("migcheck.plan.lint");
        suite.add_testcase(case);
    }
    let d = &report.drift;
    let mut case = if !d.checked {
        TestCase::skipped("drift")
    } else if d.changes.is_empty() {
        TestCase::success("drift", Duration::ZERO)
    } else {
        TestCase::failure(
            "drift",
            Duration::ZERO,
            "migcheck.plan.drift",
            &format!(
                "{} object(s) differ from what the applied migrations give\n{}",
                d.changes.len(),
                d.diff
            ),
        )
    };
    case.set_classname("migcheck.plan.drift");
    suite.add_testcase(case);
    let mut junit = Report::new();
    junit.add_testsuite(suite);
    write(junit, path)
}
