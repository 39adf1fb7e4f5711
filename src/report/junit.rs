//! The JUnit XML report, for CI test-report views (GitLab `artifacts:reports:junit`, Jenkins).
//!
//! Layout: one `<testsuite>` named `migcheck.<engine>` (plain `migcheck` when the run stopped
//! before a database was reached), one `<testcase>` per check. A test case is named after the
//! check (`chain`, `upgrade`, `roundtrip`) and its class name is
//! `migcheck.<engine>.<migration id>` (`migcheck.<engine>.chain` for whole-chain checks), so CI
//! views group the checks of one migration together. Dots in a migration id (Flyway `V1.2__x`)
//! become `_` so that tools splitting class names at dots keep the id whole.
//!
//! All text is stripped of ANSI escape sequences and of the control characters XML 1.0 forbids,
//! and passwords in URLs are masked.

use std::path::Path;

use junit_report::{
    Duration, OffsetDateTime, ReportBuilder, TestCase, TestResult, TestSuite, TestSuiteBuilder,
};

use super::{clean_text, CheckReport, Finding, Report, Run, Status};
use crate::error::{Error, Result};

/// Render the report as JUnit XML (ends with a newline).
pub fn to_string(report: &Report) -> String {
    match render(report) {
        Ok(xml) => xml,
        Err(e) => fallback(&e.to_string()),
    }
}

/// Write the JUnit report to `path` atomically, creating parent directories.
pub fn write(report: &Report, path: &Path) -> Result<()> {
    let xml = render(report).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("could not render the JUnit report: {e}")),
    })?;
    super::write_atomic(path, xml.as_bytes())
}

/// Write the run's JUnit report: one `<testsuite>` per chain.
pub fn write_run(run: &Run<'_>, path: &Path) -> Result<()> {
    let xml = render_all(run.reports).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("could not render the JUnit report: {e}")),
    })?;
    super::write_atomic(path, xml.as_bytes())
}

fn render(report: &Report) -> std::result::Result<String, junit_report::Error> {
    render_all(std::slice::from_ref(report))
}

fn render_all(reports: &[Report]) -> std::result::Result<String, junit_report::Error> {
    let junit = ReportBuilder::new()
        .add_testsuites(reports.iter().map(build_suite))
        .build();
    let mut out = Vec::new();
    junit.write_xml(&mut out)?;
    let mut xml = String::from_utf8_lossy(&out).into_owned();
    xml.push('\n');
    Ok(xml)
}

/// A valid document that makes CI show a failure instead of an empty (green) test report.
fn fallback(error: &str) -> String {
    let message = xml_escape(&one_line(&format!(
        "could not render the JUnit report: {error}"
    )));
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites><testsuite name=\"migcheck\" \
         tests=\"1\" errors=\"1\" failures=\"0\"><testcase name=\"report\" classname=\"migcheck\">\
         <error type=\"migcheck.report\" message=\"{message}\"/></testcase></testsuite></testsuites>\n"
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `migcheck.<engine>`, then `.<chain>` in a run of several chains (dots in its name become
/// `_`, like a migration id's).
fn suite_name(report: &Report) -> String {
    let mut name = match &report.engine {
        Some(engine) => format!("migcheck.{}", one_line(&engine.name)),
        None => "migcheck".to_string(),
    };
    if let Some(chain) = &report.chain {
        name.push('.');
        name.push_str(&one_line(chain).replace('.', "_"));
    }
    name
}

fn build_suite(report: &Report) -> TestSuite {
    let name = suite_name(report);
    let mut builder = TestSuiteBuilder::new(&name);
    builder.set_timestamp(parse_rfc3339(&report.started_at).unwrap_or(OffsetDateTime::UNIX_EPOCH));
    builder.set_system_out(&cdata_safe(&suite_summary(report)));
    let run_error = super::ci::run_error_index(report);
    for (i, check) in report.checks.iter().enumerate() {
        builder.add_testcase(test_case(report, &name, check, Some(i) == run_error));
    }
    for case in finding_cases(report, &name) {
        builder.add_testcase(case);
    }
    let mut suite = builder.build();
    suite.package = name;
    suite
}

fn suite_summary(report: &Report) -> String {
    let mut lines = vec![format!(
        "migcheck {} verify {} ({}, {} migrations)",
        report.migcheck_version,
        report.path,
        report.format,
        report.migrations.len()
    )];
    match (&report.engine, &report.provider) {
        (Some(engine), Some(provider)) => lines.push(format!(
            "database: {} {} via {}, ready in {} ms",
            engine.name, engine.version, provider.description, provider.startup_ms
        )),
        (Some(engine), None) => lines.push(format!("database: {} {}", engine.name, engine.version)),
        (None, _) => lines.push("database: none (the run stopped before one was needed)".into()),
    }
    if let Some(sandbox) = report.provider.as_ref().and_then(|p| p.sandbox.as_ref()) {
        lines.push(format!("sandbox: {sandbox}"));
    }
    lines.push(format!(
        "options: roundtrip={} require-down={} cosmetic={} statement-timeout={}s url-privileged={}",
        report.options.roundtrip,
        report.options.require_down,
        report.options.cosmetic,
        report.options.statement_timeout_s,
        report.options.url_privileged
    ));
    let c = report.counts();
    lines.push(format!(
        "verdict: {} (exit {}): {} passed, {} failed, {} skipped in {} ms",
        match report.verdict {
            super::Verdict::Pass => "pass",
            super::Verdict::Fail => "fail",
        },
        report.exit_code,
        c.passed,
        c.failed,
        c.skipped,
        report.duration_ms
    ));
    clean_text(&lines.join("\n"))
}

fn class_name(suite: &str, check: &CheckReport) -> String {
    match &check.migration {
        Some(id) => format!("{suite}.{}", one_line(id).replace('.', "_")),
        None => format!("{suite}.chain"),
    }
}

/// A check as a test case. `run_error`: the check records why the run could not finish (bad
/// input, no database, a signal), which is an `<error>` (the test could not run), not a
/// `<failure>` (the migrations are wrong).
fn test_case(report: &Report, suite: &str, check: &CheckReport, run_error: bool) -> TestCase {
    let name = match one_line(&check.name) {
        n if n.is_empty() => "check".to_string(),
        n => n,
    };
    let time = Duration::milliseconds(i64::try_from(check.duration_ms).unwrap_or(i64::MAX));
    let kind = format!("migcheck.{name}");
    let message = one_line(&check.message);
    let mut case = match check.status {
        Status::Pass => {
            let mut case = TestCase::success(&name, time);
            let out = pass_output(check);
            if !out.is_empty() {
                case.set_system_out(&cdata_safe(&out));
            }
            case
        }
        Status::Fail if run_error => {
            let message = if message.is_empty() {
                format!("{name} could not run")
            } else {
                message
            };
            let mut case = TestCase::error(&name, time, &kind, &message);
            let body = failure_body(check);
            if !body.is_empty() {
                case.result = TestResult::Error {
                    type_: kind,
                    message,
                    cause: Some(cdata_safe(&body)),
                };
            }
            case
        }
        Status::Fail => {
            let message = if message.is_empty() {
                format!("{name} failed")
            } else {
                message
            };
            let mut case = TestCase::failure(&name, time, &kind, &message);
            let body = failure_body(check);
            if !body.is_empty() {
                case.result = TestResult::Failure {
                    type_: kind,
                    message,
                    cause: Some(cdata_safe(&body)),
                };
            }
            case
        }
        Status::Skip => {
            let message = if message.is_empty() {
                "skipped".to_string()
            } else {
                message
            };
            let mut case = TestCase::skipped_with_cause(&name, &kind, &message);
            case.time = time;
            if let Some(detail) = check.detail.as_deref().map(clean_text) {
                if !detail.trim().is_empty() {
                    case.result = TestResult::SkippedWithCause {
                        type_: kind,
                        message,
                        cause: Some(cdata_safe(&detail)),
                    };
                }
            }
            case
        }
    };
    case.set_classname(&class_name(suite, check));
    if let Some(file) = super::ci::check_file(report, check) {
        case.set_filepath(&one_line(&file));
    }
    case
}

/// Lint findings: one test case per rule per migration (or file) that has findings, named
/// `lint:<rule>`, in the migration's class. A finding that fails the gate (at or above
/// `fail_on`, not on a baseline migration) makes the case a failure, so that the CI test view
/// is red exactly when the gate is; the others are listed in a passing case's output.
fn finding_cases(report: &Report, suite: &str) -> Vec<TestCase> {
    let mut groups: Vec<((String, String), Vec<&Finding>)> = Vec::new();
    for f in &report.findings {
        let owner = f.migration.clone().unwrap_or_else(|| {
            Path::new(&f.file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| f.file.clone())
        });
        let key = (owner, f.rule.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(f),
            None => groups.push((key, vec![f])),
        }
    }
    groups
        .into_iter()
        .map(|((owner, rule), list)| {
            let name = format!("lint:{}", one_line(&rule));
            let body = clean_text(
                &list
                    .iter()
                    .map(|f| finding_text(f))
                    .collect::<Vec<_>>()
                    .join("\n\n"),
            );
            let gate = |f: &&&Finding| super::ci::fails_gate(report, f);
            let mut case = if let Some(first) = list.iter().find(gate) {
                let message = one_line(&first.message);
                let kind = format!("migcheck.lint.{}", one_line(&rule));
                let mut case = TestCase::failure(&name, Duration::ZERO, &kind, &message);
                case.result = TestResult::Failure {
                    type_: kind,
                    message,
                    cause: Some(cdata_safe(&body)),
                };
                case
            } else {
                let mut case = TestCase::success(&name, Duration::ZERO);
                case.set_system_out(&cdata_safe(&body));
                case
            };
            case.set_classname(&format!("{suite}.{}", one_line(&owner).replace('.', "_")));
            case.set_filepath(&one_line(&list[0].file));
            case
        })
        .collect()
}

fn finding_text(f: &Finding) -> String {
    let mut loc = f.file.clone();
    if let Some(line) = f.line {
        loc.push_str(&format!(":{line}"));
        if let Some(col) = f.column {
            loc.push_str(&format!(":{col}"));
        }
    }
    let mut text = format!("{loc}: {}[{}]: {}", f.severity, f.rule, f.message);
    if let Some(stmt) = &f.statement {
        text.push_str(&format!("\n  {stmt}"));
    }
    if let Some(help) = &f.help {
        text.push_str(&format!("\n  = help: {help}"));
    }
    text
}

fn location(check: &CheckReport) -> Option<String> {
    let file = check.file.as_deref()?;
    Some(match check.line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    })
}

fn phases_text(check: &CheckReport) -> Option<String> {
    if check.phases.is_empty() {
        return None;
    }
    let lines: Vec<String> = check
        .phases
        .iter()
        .map(|p| {
            let status = match p.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            format!(
                "  {} {status} ({} ms): {}",
                p.name, p.duration_ms, p.message
            )
        })
        .collect();
    Some(format!("phases:\n{}", lines.join("\n")))
}

fn notes_text(check: &CheckReport) -> Option<String> {
    if check.notes.is_empty() {
        return None;
    }
    Some(
        check
            .notes
            .iter()
            .map(|n| format!("note: {n}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// What CI shows under a failed test case: where, why, which objects, the diff.
fn failure_body(check: &CheckReport) -> String {
    let mut parts: Vec<String> = Vec::new();
    let detail = check.detail.as_deref().unwrap_or_default();
    if let Some(loc) = location(check) {
        // Chain problems already carry their own file:line in the detail.
        let already_there = check.file.as_deref().is_some_and(|f| detail.contains(f));
        if !already_there {
            parts.push(format!("at {loc}"));
        }
    }
    if !detail.trim().is_empty() {
        parts.push(detail.trim_end().to_string());
    }
    if !check.objects.is_empty() {
        let list: Vec<String> = check.objects.iter().map(|o| format!("  {o}")).collect();
        parts.push(format!("objects that differ:\n{}", list.join("\n")));
    }
    if let Some(diff) = check.diff.as_deref().filter(|d| !d.trim().is_empty()) {
        parts.push(diff.trim_end().to_string());
    }
    parts.extend(phases_text(check));
    parts.extend(notes_text(check));
    clean_text(&parts.join("\n\n"))
}

/// Phase timings and cosmetic notes of a passed check.
fn pass_output(check: &CheckReport) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(phases_text(check));
    parts.extend(notes_text(check));
    if let Some(detail) = check.detail.as_deref().filter(|d| !d.trim().is_empty()) {
        parts.push(detail.trim_end().to_string());
    }
    clean_text(&parts.join("\n"))
}

/// Clean text for an attribute: one line, no tabs, trimmed.
fn one_line(s: &str) -> String {
    clean_text(s)
        .split(['\n', '\t'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The writer puts bodies in CDATA sections verbatim; a `]]>` inside would end the section
/// early. Split it across two sections so that the text reads back unchanged.
fn cdata_safe(s: &str) -> String {
    s.replace("]]>", "]]]]><![CDATA[>")
}

/// Parse the RFC 3339 timestamps migcheck writes (`2025-03-04T05:06:07.123Z`, or with a
/// `+hh:mm` offset). Hand-written to avoid pulling in `time`'s parsing feature.
fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    fn digits(s: &str, range: std::ops::Range<usize>) -> Option<u32> {
        let part = s.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    }
    let s = s.trim();
    let sep = |i: usize, allowed: &[u8]| s.as_bytes().get(i).is_some_and(|b| allowed.contains(b));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let year = i32::try_from(digits(s, 0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(digits(s, 5..7)?).ok()?).ok()?;
    let day = u8::try_from(digits(s, 8..10)?).ok()?;
    let hour = u8::try_from(digits(s, 11..13)?).ok()?;
    let minute = u8::try_from(digits(s, 14..16)?).ok()?;
    let second = u8::try_from(digits(s, 17..19)?).ok()?;
    let mut rest = s.get(19..)?;
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let len = frac.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let mut padded: String = frac[..len.min(9)].to_string();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
        rest = &frac[len..];
    }
    let offset = match rest {
        "Z" | "z" => time::UtcOffset::UTC,
        _ => {
            let sign: i8 = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let h = i8::try_from(digits(rest, 1..3)?).ok()?;
            let m = i8::try_from(digits(rest, 4..6)?).ok()?;
            time::UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
    };
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    Some(time::PrimitiveDateTime::new(date, time).assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples;

    fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let key = format!(" {name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')? + start;
        Some(&tag[start..end])
    }

    fn tags<'a>(xml: &'a str, element: &str) -> Vec<&'a str> {
        let open = format!("<{element}");
        let mut out = Vec::new();
        let mut rest = xml;
        while let Some(i) = rest.find(&open) {
            let after = &rest[i + open.len()..];
            if after.starts_with([' ', '>', '/']) {
                let end = after.find('>').map_or(after.len(), |e| e + 1);
                out.push(&rest[i..i + open.len() + end]);
            }
            rest = &rest[i + open.len()..];
        }
        out
    }

    #[test]
    fn passing_report_structure() {
        let xml = to_string(&samples::passing());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
        assert!(xml.ends_with("</testsuites>\n"));
        let suite = tags(&xml, "testsuite")[0];
        assert_eq!(attr(suite, "name"), Some("migcheck.postgres"));
        assert_eq!(attr(suite, "tests"), Some("7"));
        assert_eq!(attr(suite, "failures"), Some("0"));
        assert_eq!(
            attr(suite, "timestamp"),
            Some("2025-03-04T05:06:07.123456789Z")
        );
        let cases = tags(&xml, "testcase");
        assert_eq!(cases.len(), 7);
        assert_eq!(attr(cases[0], "name"), Some("chain"));
        assert_eq!(attr(cases[0], "classname"), Some("migcheck.postgres.chain"));
        assert_eq!(
            attr(cases[1], "classname"),
            Some("migcheck.postgres.0001_create_users")
        );
        assert_eq!(
            attr(cases[1], "file"),
            Some("migrations/0001_create_users.up.sql")
        );
        assert_eq!(attr(cases[1], "time"), Some("0.012"));
        assert_eq!(tags(&xml, "skipped").len(), 1);
        assert!(xml.contains("message=\"no down: not reversible\""));
        assert!(xml.contains("note: column order of public.users"));
    }

    #[test]
    fn failure_is_escaped_and_clean() {
        let xml = to_string(&samples::failing());
        let failures = tags(&xml, "failure");
        assert_eq!(failures.len(), 1);
        assert_eq!(attr(failures[0], "type"), Some("migcheck.roundtrip"));
        assert_eq!(
            attr(failures[0], "message"),
            Some("down did not restore the schema: 1 object differs")
        );
        assert!(!xml.contains('\u{1b}'));
        assert!(!xml.contains('\u{1}'));
        assert!(xml.contains("table public.users > index users_email_idx"));
        assert!(xml.contains("-  check \"xy\""));
    }

    #[test]
    fn chain_failure_without_engine() {
        let xml = to_string(&samples::chain_failure());
        let suite = tags(&xml, "testsuite")[0];
        assert_eq!(attr(suite, "name"), Some("migcheck"));
        let case = tags(&xml, "testcase")[0];
        assert_eq!(attr(case, "classname"), Some("migcheck.chain"));
        assert_eq!(attr(case, "file"), Some("migrations/0002_b.up.sql"));
        assert!(xml.contains("orphan-down: no matching up file"));
        assert!(
            !xml.contains("at migrations/0002_b.up.sql"),
            "location repeated: {xml}"
        );
    }

    #[test]
    fn attributes_are_escaped_and_single_line() {
        let mut r = samples::failing();
        let check = r
            .checks
            .iter_mut()
            .find(|c| c.status == Status::Fail)
            .unwrap();
        check.message = "bad <tag> & \"quote\"\nsecond\tline postgres://u:pw@h/db".into();
        check.migration = Some("V1.2__add".into());
        let xml = to_string(&r);
        let failure = tags(&xml, "failure")[0];
        let message = attr(failure, "message").unwrap();
        assert!(
            !message.contains('<') && !message.contains('\n'),
            "{message}"
        );
        assert!(message.contains("&lt;tag&gt; &amp;"), "{message}");
        assert!(!xml.contains(":pw@"));
        assert!(xml.contains("classname=\"migcheck.postgres.V1_2__add\""));
    }

    #[test]
    fn cdata_terminator_survives() {
        let mut r = samples::failing();
        let check = r
            .checks
            .iter_mut()
            .find(|c| c.status == Status::Fail)
            .unwrap();
        check.detail = Some("default is ']]>' here".into());
        let xml = to_string(&r);
        assert!(xml.contains("default is ']]]]><![CDATA[>' here"));
    }

    #[test]
    fn findings_one_case_per_rule_per_migration() {
        let mut r = samples::chain_failure();
        r.checks.clear();
        r.options.fail_on = Some("error".into());
        let f = |rule: &str, sev: &str, mig: &str, line: usize| Finding {
            rule: rule.into(),
            severity: sev.into(),
            file: format!("migrations/{mig}.up.sql"),
            line: Some(line),
            column: Some(1),
            message: format!("{rule} <here> & there"),
            statement: Some("DROP TABLE t".into()),
            help: Some("do it safely".into()),
            migration: Some(mig.into()),
            ..Default::default()
        };
        r.findings = vec![
            f("drop-table", "error", "0001_a", 1),
            f("drop-table", "error", "0001_a", 2),
            f("create-index-non-concurrently", "warning", "0001_a", 3),
            f("drop-table", "error", "V1.2__b", 1),
        ];
        let xml = to_string(&r);
        let cases = tags(&xml, "testcase");
        assert_eq!(cases.len(), 3, "{xml}");
        assert_eq!(attr(cases[0], "name"), Some("lint:drop-table"));
        assert_eq!(attr(cases[0], "classname"), Some("migcheck.0001_a"));
        assert_eq!(attr(cases[2], "classname"), Some("migcheck.V1_2__b"));
        assert_eq!(tags(&xml, "failure").len(), 2);
        assert_eq!(
            attr(tags(&xml, "failure")[0], "message"),
            Some("drop-table &lt;here&gt; &amp; there")
        );
        assert!(xml.contains("migrations/0001_a.up.sql:2:1: error[drop-table]"));
        assert!(xml.contains("= help: do it safely"));
    }

    fn lint_report(fail_on: Option<&str>, findings: &[(&str, &str, bool)]) -> Report {
        let mut r = samples::chain_failure();
        r.checks.clear();
        r.options.fail_on = fail_on.map(str::to_string);
        r.findings = findings
            .iter()
            .map(|(rule, sev, baseline)| Finding {
                rule: (*rule).into(),
                severity: (*sev).into(),
                file: "migrations/0001_a.up.sql".into(),
                line: Some(1),
                message: format!("{rule} here"),
                migration: Some("0001_a".into()),
                baseline: *baseline,
                ..Default::default()
            })
            .collect();
        r
    }

    #[test]
    fn a_finding_is_a_failure_exactly_when_it_fails_the_gate() {
        let failures = |r: &Report| tags(&to_string(r), "failure").len();
        let r = lint_report(Some("warning"), &[("drop-column", "warning", false)]);
        assert_eq!(failures(&r), 1, "a warning fails --fail-on warning");
        let r = lint_report(Some("error"), &[("drop-column", "warning", false)]);
        assert_eq!(failures(&r), 0, "a warning passes --fail-on error");
        assert!(to_string(&r).contains("warning[drop-column]: drop-column here"));
        let r = lint_report(Some("error"), &[("drop-table", "error", true)]);
        assert_eq!(failures(&r), 0, "a baseline finding never fails the gate");
        let r = lint_report(None, &[("drop-table", "error", false)]);
        assert_eq!(
            failures(&r),
            0,
            "lint off (nondeterminism findings only): no gate"
        );
        let r = lint_report(
            Some("error"),
            &[
                ("drop-table", "warning", false),
                ("drop-table", "error", false),
            ],
        );
        let xml = to_string(&r);
        assert_eq!(tags(&xml, "failure").len(), 1);
        assert_eq!(
            attr(tags(&xml, "failure")[0], "message"),
            Some("drop-table here"),
            "the message is the first finding that fails the gate"
        );
    }

    #[test]
    fn the_run_error_is_an_error_not_a_failure() {
        for code in [2u8, 3] {
            let mut r = samples::passing();
            r.exit_code = code;
            r.verdict = crate::report::Verdict::Fail;
            let mut e = CheckReport::new("provision", None, Status::Fail, "no database");
            e.file = Some("migrations/".into());
            e.detail = Some("no database\n  hint: install postgresql".into());
            r.checks.push(e);
            let xml = to_string(&r);
            assert!(tags(&xml, "failure").is_empty(), "{xml}");
            let errors = tags(&xml, "error");
            assert_eq!(errors.len(), 1, "{xml}");
            assert_eq!(attr(errors[0], "type"), Some("migcheck.provision"));
            assert_eq!(attr(errors[0], "message"), Some("no database"));
            assert_eq!(attr(tags(&xml, "testsuite")[0], "errors"), Some("1"));
            let case = tags(&xml, "testcase").last().copied().unwrap();
            assert_eq!(attr(case, "file"), Some("migrations/"));
            assert!(xml.contains("hint: install postgresql"));
        }
        // Exit 1: the same failed check is a failure.
        let xml = to_string(&samples::failing());
        assert!(tags(&xml, "error").is_empty());
        assert_eq!(tags(&xml, "failure").len(), 1);
    }

    #[test]
    fn timestamps() {
        let t = parse_rfc3339("2025-03-04T05:06:07Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1741064767);
        let t = parse_rfc3339("2025-03-04T07:06:07.5+02:00").unwrap();
        assert_eq!(t.unix_timestamp(), 1741064767);
        assert_eq!(t.nanosecond(), 500_000_000);
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2025-13-04T05:06:07Z").is_none());
        assert!(parse_rfc3339("2025-03-04T05:06:07").is_none());
        assert!(parse_rfc3339("+025-03-04T05:06:07Z").is_none());
    }

    #[test]
    fn fallback_is_escaped() {
        let xml = fallback("a <b> & \"c\"");
        assert!(xml.contains(
            "message=\"could not render the JUnit report: a &lt;b&gt; &amp; &quot;c&quot;\""
        ));
    }

    #[test]
    fn write_matches_to_string() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports/junit.xml");
        let r = samples::failing();
        write(&r, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), to_string(&r));
    }
}
