//! The check reports verify writes: how an upgrade, a round trip, a skipped step or a chain
//! problem reads in the report. The pipeline in `mod.rs` decides; this file words it.

use std::path::Path;
use std::time::Duration;

use super::ms;
use crate::apply::ApplyFailure;
use crate::chain::{Chain, ChainProblem, Migration, ProblemSeverity};
use crate::compare::{self, Comparison, Policies};
use crate::error::Error;
use crate::report::{CheckReport, MigrationReport, Phase, Status};
use crate::runner::Plan;
use crate::snapshot::Snapshot;

pub(super) fn base_check(name: &str, plan: &Plan<'_>, file: &Path) -> CheckReport {
    let mut check = CheckReport::new(name, Some(&plan.migration.id), Status::Pass, "");
    check.file = Some(file.display().to_string());
    check
}

pub(super) fn upgrade_passed(plan: &Plan<'_>, took: Duration) -> CheckReport {
    let mut check = base_check("upgrade", plan, &plan.up.file);
    check.duration_ms = ms(took);
    check.message.clone_from(&plan.up.summary);
    check.phases = vec![Phase {
        name: "up".to_string(),
        status: Status::Pass,
        schema_differs: false,
        duration_ms: ms(took),
        message: String::new(),
    }];
    check
}

pub(super) fn apply_failed(
    name: &str,
    plan: &Plan<'_>,
    f: &ApplyFailure,
    what: &str,
) -> CheckReport {
    let mut check = base_check(name, plan, &f.file);
    fail_with(&mut check, f, format!("{what}: {}", f.message));
    check.duration_ms = ms(f.duration);
    check.phases = vec![phase_failed("up", f)];
    check
}

pub(super) fn fail_with(check: &mut CheckReport, f: &ApplyFailure, message: String) {
    check.status = Status::Fail;
    check.message = message;
    check.file = Some(f.file.display().to_string());
    check.line = Some(f.line);
    let mut detail = format!(
        "{}:{}: {}\n{}",
        f.file.display(),
        f.line,
        f.message,
        f.detail
    );
    if f.partially_applied {
        detail.push_str("\nstatements before the failing one were already committed: the migration is half-applied");
    }
    append_detail(check, detail.trim_end());
}

pub(super) fn append_detail(check: &mut CheckReport, text: &str) {
    match &mut check.detail {
        Some(d) => {
            d.push('\n');
            d.push_str(text);
        }
        None => check.detail = Some(text.to_string()),
    }
}

pub(super) fn phase_failed(name: &str, f: &ApplyFailure) -> Phase {
    Phase {
        name: name.to_string(),
        status: Status::Fail,
        schema_differs: false,
        duration_ms: ms(f.duration),
        message: format!("{}:{}: {}", f.file.display(), f.line, f.message),
    }
}

pub(super) fn skipped_phase(name: &str, message: &str) -> Phase {
    Phase {
        name: name.to_string(),
        status: Status::Skip,
        schema_differs: false,
        duration_ms: 0,
        message: message.to_string(),
    }
}

/// Fold a schema comparison into `check`; returns the phase.
pub(super) fn compared_phase(
    name: &str,
    took: Duration,
    cmp: &Comparison,
    check: &mut CheckReport,
    failure: impl FnOnce() -> String,
) -> Phase {
    check.notes.extend(cmp.notes.iter().cloned());
    if cmp.is_equal() {
        return Phase {
            name: name.to_string(),
            status: Status::Pass,
            schema_differs: false,
            duration_ms: ms(took),
            message: String::new(),
        };
    }
    let objects: Vec<String> = cmp
        .changes
        .iter()
        .map(|c| format!("{:?} {}", c.change, c.object).to_lowercase())
        .collect();
    let message = format!(
        "{}: {} object{} differ{} ({})",
        failure(),
        objects.len(),
        if objects.len() == 1 { "" } else { "s" },
        if objects.len() == 1 { "s" } else { "" },
        summarize(&objects)
    );
    if check.status == Status::Pass {
        check.status = Status::Fail;
        check.message = message.clone();
    }
    check
        .objects
        .extend(cmp.changes.iter().map(|c| c.object.clone()));
    match &mut check.diff {
        Some(d) => d.push_str(&cmp.diff),
        None => check.diff = Some(cmp.diff.clone()),
    }
    Phase {
        name: name.to_string(),
        status: Status::Fail,
        schema_differs: true,
        duration_ms: ms(took),
        message,
    }
}

pub(super) fn summarize(objects: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = objects
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if objects.len() > SHOWN {
        s.push_str(&format!(", and {} more", objects.len() - SHOWN));
    }
    s
}

pub(super) fn no_down(plan: &Plan<'_>, require_down: bool) -> CheckReport {
    let mut check = base_check("roundtrip", plan, &plan.up.file);
    if plan.migration.repeatable {
        check.status = Status::Skip;
        check.message = "repeatable migration: re-run when changed, never undone".to_string();
    } else {
        check.status = if require_down {
            Status::Fail
        } else {
            Status::Skip
        };
        check.message = "no down migration: not reversible".to_string();
    }
    check
}

pub(super) fn skipped(name: &str, plan: &Plan<'_>, message: &str) -> CheckReport {
    let mut check = base_check(name, plan, &plan.up.file);
    check.status = Status::Skip;
    check.message = message.to_string();
    check
}

pub(super) fn chain_check(chain: &Chain, took: Duration) -> CheckReport {
    let errors: Vec<&ChainProblem> = chain
        .problems
        .iter()
        .filter(|p| p.severity == ProblemSeverity::Error)
        .collect();
    let warnings = chain.problems.len() - errors.len();
    let first = errors.first().copied().or(chain.problems.first());
    let message = if errors.is_empty() {
        let mut m = format!(
            "{} migration{} in order, no duplicate versions",
            chain.migrations.len(),
            if chain.migrations.len() == 1 { "" } else { "s" }
        );
        if warnings > 0 {
            m.push_str(&format!(
                "; {warnings} warning{}",
                if warnings == 1 { "" } else { "s" }
            ));
        }
        m
    } else {
        match errors.as_slice() {
            [one] => one.message.clone(),
            many => format!("{} chain problems, first: {}", many.len(), many[0].message),
        }
    };
    let detail = (!chain.problems.is_empty()).then(|| {
        chain
            .problems
            .iter()
            .map(|p| {
                let line = p.line.map(|l| format!(":{l}")).unwrap_or_default();
                let severity = match p.severity {
                    ProblemSeverity::Error => "error",
                    ProblemSeverity::Warning => "warning",
                };
                format!(
                    "{}{line}: {severity}[{}]: {}",
                    p.file.display(),
                    p.kind,
                    p.message
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let status = if errors.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let mut check = CheckReport::new("chain", None, status, message);
    check.duration_ms = ms(took);
    check.file = first.map(|p| p.file.display().to_string());
    check.line = first.and_then(|p| p.line);
    check.detail = detail;
    check
}

/// The check that records why a run could not finish (bad input, no database).
pub(super) fn error_check(e: &Error) -> CheckReport {
    let (name, file, line) = match e {
        Error::Input { file, line, .. } => (
            "chain",
            file.as_ref().map(|f| f.display().to_string()),
            *line,
        ),
        Error::Usage(_) => ("usage", None, None),
        // The checks before this one are what was verified before the signal.
        Error::Interrupted(_) => ("interrupted", None, None),
        _ => ("provision", None, None),
    };
    let text = e.to_string();
    let mut check = CheckReport::new(
        name,
        None,
        Status::Fail,
        text.lines().next().unwrap_or_default(),
    );
    check.file = file;
    check.line = line;
    check.detail = Some(text);
    check
}

pub(super) fn migration_report(m: &Migration) -> MigrationReport {
    MigrationReport {
        id: m.id.clone(),
        version: m.version.text.clone(),
        name: m.name.clone(),
        files: m.files.iter().map(|f| f.display().to_string()).collect(),
        has_down: m.down.is_some(),
        no_transaction: m.up.no_transaction,
    }
}

/// The schema after the last migration against the committed one.
pub(super) fn expected_snapshot_check(
    expected: &Snapshot,
    actual: Option<&Snapshot>,
    policy: &Policies,
) -> CheckReport {
    let Some(actual) = actual else {
        return CheckReport::new(
            "snapshot",
            None,
            Status::Skip,
            "not compared: the chain did not apply to the end",
        );
    };
    let comparison = compare::compare(
        expected,
        actual,
        policy.clone(),
        "expected (--expect-snapshot)",
        "produced by the chain",
    );
    if comparison.changes.is_empty() {
        let mut check = CheckReport::new(
            "snapshot",
            None,
            Status::Pass,
            "the chain produces the expected schema",
        );
        check.notes = comparison.notes;
        return check;
    }
    let mut check = CheckReport::new(
        "snapshot",
        None,
        Status::Fail,
        format!(
            "the chain's schema differs from the expected snapshot in {} object{}; if the change              is intended, rewrite it with `migcheck snapshot CHAIN -o FILE`",
            comparison.changes.len(),
            if comparison.changes.len() == 1 { "" } else { "s" }
        ),
    );
    check.objects = comparison
        .changes
        .iter()
        .map(|c| c.object.clone())
        .collect();
    check.diff = Some(comparison.diff);
    check.notes = comparison.notes;
    check
}
