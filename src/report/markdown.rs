//! The Markdown summary: for GitHub's job summary (`$GITHUB_STEP_SUMMARY`), a pull-request
//! comment, or any CI page that renders Markdown.
//!
//! A verdict line; the whole-chain checks; a table of migrations × checks (pass, fail, skip);
//! the findings (severity, rule, file:line, message); then every failed check with its
//! location, detail, and schema diff in a `<details>` section. The whole stays under 1 MiB,
//! GitHub's step-summary limit: schema diffs are cut first (each says so and how much was left
//! out), then findings rows, and only then the text itself.
//!
//! Text from outside (messages, server errors, diffs) has control characters stripped and URL
//! passwords masked; in prose and table cells Markdown and HTML are escaped, code spans and
//! fenced blocks are chosen so that their content cannot end them.

use std::path::Path;

use super::ci::{self, Paths};
use super::{clean_text, CheckReport, Report, Run, Status, Verdict};
use crate::error::Result;

/// GitHub's limit on one step's summary (1 MiB).
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// Render the summary, at most [`STEP_SUMMARY_LIMIT`] bytes.
pub fn render(report: &Report) -> String {
    render_within(report, STEP_SUMMARY_LIMIT)
}

/// Write the summary to `path` atomically, creating parent directories.
pub fn write(report: &Report, path: &Path) -> Result<()> {
    super::write_atomic(path, render(report).as_bytes())
}

/// The run's summary in at most `limit` bytes: one chain's as it is; for several, a table of
/// the chains' verdicts, then each chain's summary in an equal share of what is left.
pub fn render_run_within(run: &Run<'_>, limit: usize) -> String {
    if let Some(report) = run.single() {
        return render_within(report, limit);
    }
    let verdict = match run.verdict() {
        Verdict::Pass => "✅ PASS",
        Verdict::Fail => "❌ FAIL",
    };
    let mut head = format!(
        "# migcheck: {} chains, {verdict}\n\n| chain | format | verdict | checks failed | exit |\n|---|---|---|---|---|\n",
        run.reports.len()
    );
    for r in run.reports {
        let c = r.counts();
        head.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            cell(Run::name(r)),
            cell(&r.format),
            match r.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "**fail**",
            },
            c.failed,
            r.exit_code
        ));
    }
    head.push('\n');
    if head.len() > limit {
        return String::new();
    }
    let share = (limit - head.len()) / run.reports.len();
    for r in run.reports {
        head.push_str(&render_within(r, share.saturating_sub(1)));
        head.push('\n');
    }
    head
}

pub fn write_run(run: &Run<'_>, path: &Path) -> Result<()> {
    super::write_atomic(path, render_run_within(run, STEP_SUMMARY_LIMIT).as_bytes())
}

/// Render the summary in at most `limit` bytes.
pub fn render_within(report: &Report, limit: usize) -> String {
    render_with(report, &Paths::for_report(report), limit)
}

pub(crate) fn render_with(report: &Report, paths: &Paths, limit: usize) -> String {
    // The long parts are cleaned and rendered once; the budget only decides how much of them
    // each attempt shows.
    let parts = Parts {
        diffs: diff_texts(report),
        rows: finding_rows(report, paths),
        finding_diffs: finding_diffs(report, paths),
    };
    let compose = |budget: &Budget| compose(report, paths, &parts, budget);
    let diffs = &parts.diffs;
    let full = Budget {
        diff_lines: diffs.iter().map(|d| d.lines().count()).collect(),
        findings: report.findings.len(),
    };
    let text = compose(&full);
    if text.len() <= limit {
        return text;
    }
    // Diffs first: what the rest takes without them, then a fair share of what is left for
    // each (a short diff keeps all of its lines, a long one is cut).
    let none = Budget {
        diff_lines: vec![0; diffs.len()],
        findings: report.findings.len(),
    };
    let without = compose(&none).len();
    if without <= limit {
        let budget = Budget {
            diff_lines: fit_diffs(diffs, limit - without),
            findings: report.findings.len(),
        };
        let text = compose(&budget);
        if text.len() <= limit {
            return text;
        }
    }
    // Then findings rows, halving until the rest fits.
    let mut budget = none;
    while budget.findings > 0 {
        budget.findings /= 2;
        let text = compose(&budget);
        if text.len() <= limit {
            return text;
        }
    }
    hard_cut(&compose(&budget), limit)
}

/// The long parts, prepared once.
struct Parts {
    /// Cleaned diffs of the failed checks, in check order.
    diffs: Vec<String>,
    /// One table row per finding.
    rows: Vec<String>,
    /// Per finding, the `<details>` block of the diff it carries (a released migration's edit).
    finding_diffs: Vec<Option<String>>,
}

/// How much of the long parts to show.
struct Budget {
    /// Lines of each failed check's diff (in the order of [`diff_texts`]).
    diff_lines: Vec<usize>,
    /// Findings rows.
    findings: usize,
}

/// The cleaned diff of every failed check that has one, in check order.
fn diff_texts(report: &Report) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .filter_map(|c| c.diff.as_deref())
        .filter(|d| !d.trim().is_empty())
        .map(|d| clean_text(d).trim_end().to_string())
        .collect()
}

/// Lines of each diff that fit in `bytes` all told, sharing fairly: diffs smaller than their
/// share keep every line and leave the rest to the others.
fn fit_diffs(diffs: &[String], bytes: usize) -> Vec<usize> {
    // Room for each diff's note and fence that the full rendering does not have.
    const OVERHEAD: usize = 200;
    let mut lines = vec![0; diffs.len()];
    let mut order: Vec<usize> = (0..diffs.len()).collect();
    order.sort_by_key(|&i| diffs[i].len());
    let mut left = bytes;
    for (n, &i) in order.iter().enumerate() {
        let share = left / (order.len() - n);
        let share = share.saturating_sub(OVERHEAD);
        let mut used = 0;
        let mut count = 0;
        for line in diffs[i].lines() {
            if used + line.len() + 1 > share {
                break;
            }
            used += line.len() + 1;
            count += 1;
        }
        lines[i] = count;
        left = left.saturating_sub(used + OVERHEAD);
    }
    lines
}

/// The last resort: cut at a line boundary below `limit` and say so.
fn hard_cut(text: &str, limit: usize) -> String {
    const NOTE: &str =
        "\n\n_… summary cut at GitHub's size limit: the JSON report has everything._\n";
    if limit <= NOTE.len() {
        return String::new();
    }
    let mut end = limit - NOTE.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &text[..end];
    let cut = match cut.rfind('\n') {
        Some(i) if i > 0 => &cut[..i],
        _ => cut,
    };
    // An unclosed fence would swallow the note.
    let fences = cut.lines().filter(|l| l.starts_with("```")).count();
    let mut out = cut.to_string();
    if fences % 2 == 1 && out.len() + 4 + NOTE.len() <= limit {
        out.push_str("\n```");
    }
    out.push_str(NOTE);
    out
}

fn compose(report: &Report, paths: &Paths, parts: &Parts, budget: &Budget) -> String {
    let mut out = String::new();
    verdict(report, &mut out);
    whole_run_checks(report, &mut out);
    migrations_table(report, &mut out);
    findings(report, parts, budget.findings, &mut out);
    failures(report, paths, &parts.diffs, &budget.diff_lines, &mut out);
    out
}

fn command(report: &Report) -> &'static str {
    if report.options.roundtrip == "none" {
        "lint"
    } else {
        "verify"
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn verdict(report: &Report, out: &mut String) {
    let (icon, word) = match report.verdict {
        Verdict::Pass => ("✅", "PASS"),
        Verdict::Fail => ("❌", "FAIL"),
    };
    out.push_str(&format!(
        "## {icon} migcheck {}: {word}\n\n",
        command(report)
    ));
    let mut facts = vec![code(&format!("{} {}", command(report), report.path))];
    if !report.format.is_empty() {
        facts.push(inline(&report.format));
    }
    if !report.migrations.is_empty() {
        facts.push(plural(report.migrations.len(), "migration", "migrations"));
    }
    if let Some(e) = &report.engine {
        let mut db = format!("{} {}", e.name, e.version);
        if let Some(p) = &report.provider {
            db.push_str(&format!(" ({})", p.name));
        }
        facts.push(inline(&db));
    }
    facts.push(format!(
        "exit {} ({})",
        report.exit_code,
        ci::exit_meaning(report.exit_code)
    ));
    out.push_str(&facts.join(" · "));
    out.push_str("\n\n");

    let c = report.counts();
    let mut counts = Vec::new();
    if c.total() > 0 {
        counts.push(format!(
            "**{}**: {} passed, {} failed, {} skipped",
            plural(c.total(), "check", "checks"),
            c.passed,
            c.failed,
            c.skipped
        ));
    }
    if report.options.fail_on.is_some() || !report.findings.is_empty() {
        let count = |sev: &str| report.findings.iter().filter(|f| f.severity == sev).count();
        let gate = match &report.options.fail_on {
            Some(level) => format!(" (fails at {})", inline(level)),
            None => " (lint off: none fails the gate)".to_string(),
        };
        counts.push(format!(
            "**lint**: {}, {}, {} info{gate}",
            plural(count("error"), "error", "errors"),
            plural(count("warning"), "warning", "warnings"),
            count("info"),
        ));
    }
    counts.push(seconds(report.duration_ms));
    out.push_str(&counts.join(" · "));
    out.push_str("\n\n");
}

fn seconds(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    }
}

fn status_cell(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ pass",
        Status::Fail => "❌ fail",
        Status::Skip => "⏭️ skip",
    }
}

fn whole_run_checks(report: &Report, out: &mut String) {
    let error = ci::run_error_index(report);
    let whole: Vec<(usize, &CheckReport)> = report
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.migration.is_none())
        .collect();
    if whole.is_empty() {
        return;
    }
    for (i, c) in whole {
        let status = if Some(i) == error {
            "🚫 error"
        } else {
            status_cell(c.status)
        };
        out.push_str(&format!(
            "- {status} **{}**: {}\n",
            inline(&c.name),
            inline(&one_line(&c.message))
        ));
    }
    out.push('\n');
}

fn migrations_table(report: &Report, out: &mut String) {
    // Migrations in chain order, then any a check names that the chain did not list.
    let mut ids: Vec<&str> = report.migrations.iter().map(|m| m.id.as_str()).collect();
    let mut columns: Vec<&str> = Vec::new();
    for c in &report.checks {
        if let Some(id) = c.migration.as_deref() {
            if !ids.contains(&id) {
                ids.push(id);
            }
            if !columns.contains(&c.name.as_str()) {
                columns.push(&c.name);
            }
        }
    }
    if ids.is_empty() || (columns.is_empty() && report.findings.is_empty()) {
        return;
    }
    let with_findings = !report.findings.is_empty();
    out.push_str("| migration |");
    for col in &columns {
        out.push_str(&format!(" {} |", cell(col)));
    }
    if with_findings {
        out.push_str(" findings |");
    }
    out.push_str("\n|---|");
    for _ in &columns {
        out.push_str("---|");
    }
    if with_findings {
        out.push_str("---|");
    }
    out.push('\n');
    for id in ids {
        out.push_str(&format!("| {} |", cell_code(id)));
        for col in &columns {
            let statuses: Vec<Status> = report
                .checks
                .iter()
                .filter(|c| c.migration.as_deref() == Some(id) && c.name == *col)
                .map(|c| c.status)
                .collect();
            let shown = if statuses.contains(&Status::Fail) {
                status_cell(Status::Fail)
            } else if statuses.contains(&Status::Pass) {
                status_cell(Status::Pass)
            } else if statuses.contains(&Status::Skip) {
                status_cell(Status::Skip)
            } else {
                "—"
            };
            out.push_str(&format!(" {shown} |"));
        }
        if with_findings {
            let mine: Vec<&str> = report
                .findings
                .iter()
                .filter(|f| f.migration.as_deref() == Some(id))
                .map(|f| f.severity.as_str())
                .collect();
            let mut parts = Vec::new();
            for (sev, one, many) in [
                ("error", "error", "errors"),
                ("warning", "warning", "warnings"),
                ("info", "info", "info"),
            ] {
                let n = mine.iter().filter(|s| **s == sev).count();
                if n > 0 {
                    parts.push(format!("{} {}", severity_icon(sev), plural(n, one, many)));
                }
            }
            out.push_str(&format!(" {} |", parts.join(", ")));
        }
        out.push('\n');
    }
    out.push('\n');
}

fn severity_icon(severity: &str) -> &'static str {
    match severity {
        "error" => "🛑",
        "warning" => "⚠️",
        _ => "ℹ️",
    }
}

fn finding_rows(report: &Report, paths: &Paths) -> Vec<String> {
    report
        .findings
        .iter()
        .map(|f| {
            let mut severity = format!("{} {}", severity_icon(&f.severity), cell(&f.severity));
            if ci::fails_gate(report, f) {
                severity.push_str(" · **fails the gate**");
            } else if f.baseline {
                severity.push_str(" · baseline");
            }
            let mut loc = paths.shown(&f.file);
            if let Some(line) = f.line {
                loc.push_str(&format!(":{line}"));
                if let Some(col) = f.column {
                    loc.push_str(&format!(":{col}"));
                }
            }
            let mut message = cell(&one_line(&f.message));
            if let Some(stmt) = f.statement.as_deref().filter(|s| !s.trim().is_empty()) {
                message.push_str(&format!("<br>{}", cell_code(&one_line(stmt))));
            }
            if let Some(help) = f.help.as_deref().filter(|h| !h.trim().is_empty()) {
                message.push_str(&format!("<br>help: {}", cell(&one_line(help))));
            }
            format!(
                "| {severity} | {} | {} | {message} |\n",
                cell_code(&f.rule),
                cell_code(&loc)
            )
        })
        .collect()
}

/// The diffs findings carry (`released-migration-edited`), each in a `<details>` block.
fn finding_diffs(report: &Report, paths: &Paths) -> Vec<Option<String>> {
    report
        .findings
        .iter()
        .map(|f| {
            let diff = clean_text(f.diff.as_deref()?);
            let diff = diff.trim_end();
            if diff.trim().is_empty() {
                return None;
            }
            Some(format!(
                "<details><summary>{} · {}</summary>\n\n{}\n</details>\n\n",
                code(&f.rule),
                code(&paths.shown(&f.file)),
                fenced("diff", diff)
            ))
        })
        .collect()
}

fn findings(report: &Report, parts: &Parts, max: usize, out: &mut String) {
    let rows = &parts.rows;
    if rows.is_empty() {
        return;
    }
    out.push_str(&format!("### Findings ({})\n\n", rows.len()));
    out.push_str("| severity | rule | location | message |\n|---|---|---|---|\n");
    for row in rows.iter().take(max) {
        out.push_str(row);
    }
    let left = report.findings.len().saturating_sub(max);
    if left > 0 {
        out.push_str(&format!(
            "\n_… {} not shown (size limit): the JSON report lists them all._\n",
            plural(left, "more finding", "more findings")
        ));
    }
    out.push('\n');
    for block in parts.finding_diffs.iter().take(max).flatten() {
        out.push_str(block);
    }
}

fn failures(
    report: &Report,
    paths: &Paths,
    diffs: &[String],
    diff_lines: &[usize],
    out: &mut String,
) {
    let error = ci::run_error_index(report);
    let failed: Vec<(usize, &CheckReport)> = report
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.status == Status::Fail)
        .collect();
    if failed.is_empty() {
        return;
    }
    let mut diff_index = 0;
    for (i, c) in failed {
        let heading = if Some(i) == error {
            format!("### 🚫 {} (the run could not finish)", inline(&c.name))
        } else {
            match &c.migration {
                Some(id) => format!("### ❌ {} · {}", inline(&c.name), code(id)),
                None => format!("### ❌ {}", inline(&c.name)),
            }
        };
        out.push_str(&heading);
        out.push_str("\n\n");
        out.push_str(&inline(&one_line(&c.message)));
        out.push_str("\n\n");
        if let Some(file) = ci::check_file(report, c) {
            let mut loc = paths.shown(&file);
            if let Some(line) = c.line {
                loc.push_str(&format!(":{line}"));
            }
            out.push_str(&format!("at {}\n\n", code(&loc)));
        }
        if !c.objects.is_empty() {
            out.push_str("objects that differ:\n");
            for o in &c.objects {
                out.push_str(&format!("- {}\n", code(&one_line(o))));
            }
            out.push('\n');
        }
        if let Some(detail) = c.detail.as_deref().map(clean_text) {
            let detail = detail.trim_end();
            if !detail.trim().is_empty() && detail.trim() != c.message.trim() {
                out.push_str(&fenced("text", detail));
                out.push('\n');
            }
        }
        if c.diff.as_deref().is_some_and(|d| !d.trim().is_empty()) {
            let diff = diffs.get(diff_index).map_or("", String::as_str);
            let total = diff.lines().count();
            let keep = diff_lines.get(diff_index).copied().unwrap_or(total);
            diff_index += 1;
            out.push_str(&format!(
                "<details><summary>schema diff ({})</summary>\n\n",
                plural(total, "line", "lines")
            ));
            if keep >= total {
                out.push_str(&fenced("diff", diff));
            } else {
                if keep > 0 {
                    let shown: Vec<&str> = diff.lines().take(keep).collect();
                    out.push_str(&fenced("diff", &shown.join("\n")));
                }
                out.push_str(&format!(
                    "\n_diff truncated to stay under GitHub's 1 MiB summary limit: {keep} of \
                     {total} lines shown; the JSON report (`--json`) has it whole._\n"
                ));
            }
            out.push_str("\n</details>\n\n");
        }
        if !c.notes.is_empty() {
            for n in &c.notes {
                out.push_str(&format!("- note: {}\n", inline(&one_line(n))));
            }
            out.push('\n');
        }
    }
}

/// Clean text on one line (newlines and tabs become spaces).
fn one_line(s: &str) -> String {
    clean_text(s)
        .split(['\n', '\t'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prose with Markdown and HTML escaped; `code spans` in the text are kept as code.
fn inline(s: &str) -> String {
    inline_in(s, false)
}

fn inline_in(s: &str, table: bool) -> String {
    let s = clean_text(s);
    let mut out = String::with_capacity(s.len());
    let parts: Vec<&str> = s.split('`').collect();
    // An odd number of parts means balanced backticks: odd-indexed parts are code.
    let balanced = parts.len() % 2 == 1;
    for (i, part) in parts.iter().enumerate() {
        if balanced && i % 2 == 1 {
            let span = code(part);
            out.push_str(&if table {
                span.replace('|', "\\|")
            } else {
                span
            });
        } else {
            if !balanced && i > 0 {
                out.push_str("\\`");
            }
            out.push_str(&escape(part));
        }
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '*' | '_' | '[' | ']' | '#' | '~' | '|' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A code span that its content cannot close: a fence one backtick longer than the longest
/// run inside, padded when the content starts or ends with a backtick.
fn code(s: &str) -> String {
    let s = one_line(s);
    if s.is_empty() {
        return String::new();
    }
    let longest = longest_run(&s, '`');
    let fence = "`".repeat(longest + 1);
    if s.starts_with('`') || s.ends_with('`') || s.starts_with(' ') && s.ends_with(' ') {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

/// Text for a table cell: escaped prose, pipes escaped inside code spans too (GitHub splits
/// cells at every unescaped `|`).
fn cell(s: &str) -> String {
    inline_in(s, true)
}

/// A code span inside a table cell: GitHub splits cells at `|` even inside code spans.
fn cell_code(s: &str) -> String {
    code(s).replace('|', "\\|")
}

fn longest_run(s: &str, ch: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == ch {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// A fenced block its content cannot close.
fn fenced(lang: &str, body: &str) -> String {
    let longest = body
        .lines()
        .map(|l| {
            let t = l.trim_start();
            t.len() - t.trim_start_matches('`').len()
        })
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{body}\n{fence}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{samples, Finding};
    use std::path::PathBuf;

    fn paths() -> Paths {
        Paths::new(PathBuf::from("/w/db"), PathBuf::from("/w"))
    }

    fn md(report: &Report) -> String {
        render_with(report, &paths(), STEP_SUMMARY_LIMIT)
    }

    #[test]
    fn passing_summary() {
        let text = md(&samples::passing());
        assert!(
            text.starts_with("## ✅ migcheck verify: PASS\n\n`verify migrations/`"),
            "{text}"
        );
        assert!(text.contains("exit 0 (every check passed)"), "{text}");
        assert!(
            text.contains("**7 checks**: 6 passed, 0 failed, 1 skipped"),
            "{text}"
        );
        assert!(
            text.contains("- ✅ pass **chain**: 3 migrations, no problems\n"),
            "{text}"
        );
        assert!(
            text.contains("| migration | upgrade | roundtrip |\n|---|---|---|\n"),
            "{text}"
        );
        assert!(
            text.contains("| `0001_create_users` | ✅ pass | ✅ pass |\n"),
            "{text}"
        );
        assert!(
            text.contains("| `0003_seed` | ✅ pass | ⏭️ skip |\n"),
            "{text}"
        );
        assert!(!text.contains("### "), "no failures section: {text}");
    }

    #[test]
    fn failing_summary_has_the_diff_in_details() {
        let text = md(&samples::failing());
        assert!(text.starts_with("## ❌ migcheck verify: FAIL"), "{text}");
        assert!(
            text.contains("| `0002_add_email` | ✅ pass | ❌ fail |"),
            "{text}"
        );
        assert!(
            text.contains("### ❌ roundtrip · `0002_add_email`\n"),
            "{text}"
        );
        assert!(
            text.contains("at `db/migrations/0002_add_email.down.sql:1`"),
            "{text}"
        );
        assert!(
            text.contains("- `table public.users > index users_email_idx`"),
            "{text}"
        );
        assert!(
            text.contains(
                "<details><summary>schema diff (6 lines)</summary>\n\n```diff\n--- before up\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("WHERE email <> '' AND a < b & c > d"),
            "diffs are verbatim in fences: {text}"
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{1}'),
            "{text}"
        );
    }

    #[test]
    fn findings_table_escapes_and_marks_the_gate() {
        let mut r = samples::failing();
        r.options.fail_on = Some("warning".into());
        r.findings = vec![
            Finding {
                rule: "drop-table".into(),
                severity: "error".into(),
                file: "migrations/0002_add_email.up.sql".into(),
                line: Some(3),
                column: Some(1),
                message: "table `a|b` is <dropped> | *now* at postgres://u:hunter2@h/d".into(),
                statement: Some("DROP TABLE \"a|b\"".into()),
                help: Some("rename first".into()),
                migration: Some("0002_add_email".into()),
                ..Default::default()
            },
            Finding {
                rule: "prefer-jsonb".into(),
                severity: "info".into(),
                file: "migrations/0001_create_users.up.sql".into(),
                line: Some(1),
                message: "json".into(),
                migration: Some("0001_create_users".into()),
                ..Default::default()
            },
            Finding {
                rule: "drop-column".into(),
                severity: "warning".into(),
                file: "migrations/0001_create_users.up.sql".into(),
                line: Some(2),
                message: "old".into(),
                migration: Some("0001_create_users".into()),
                baseline: true,
                ..Default::default()
            },
        ];
        let text = md(&r);
        assert!(
            text.contains("**lint**: 1 error, 1 warning, 1 info (fails at warning)"),
            "{text}"
        );
        assert!(
            text.contains("| severity | rule | location | message |"),
            "{text}"
        );
        let row = text
            .lines()
            .find(|l| l.contains("`drop-table`"))
            .expect("drop-table row");
        assert!(row.starts_with("| 🛑 error · **fails the gate** | `drop-table` | `db/migrations/0002_add_email.up.sql:3:1` |"), "{row}");
        assert!(
            row.contains("table `a\\|b` is &lt;dropped&gt; \\| \\*now\\*"),
            "{row}"
        );
        assert!(
            row.contains("<br>`DROP TABLE \"a\\|b\"`<br>help: rename first"),
            "{row}"
        );
        assert!(!text.contains("hunter2"));
        // Cells split only at unescaped pipes: 4 cells.
        let cells = row.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 5, "{row}");
        assert!(text.contains("| ℹ️ info | `prefer-jsonb`"), "{text}");
        assert!(text.contains("⚠️ warning · baseline"), "{text}");
        assert!(
            text.contains("| `0001_create_users` | ✅ pass | ✅ pass | ⚠️ 1 warning, ℹ️ 1 info |"),
            "{text}"
        );
    }

    #[test]
    fn a_finding_with_a_diff_shows_it() {
        let mut r = samples::passing();
        r.options.fail_on = Some("error".into());
        r.findings = vec![Finding {
            rule: "released-migration-edited".into(),
            severity: "error".into(),
            file: "migrations/0001_create_users.up.sql".into(),
            line: Some(1),
            message: "edited after release".into(),
            diff: Some(
                "--- base\n+++ head\n-CREATE TABLE u (id int);\n+CREATE TABLE u (id bigint);\n"
                    .into(),
            ),
            ..Default::default()
        }];
        let text = md(&r);
        assert!(
            text.contains("<details><summary>`released-migration-edited` · `db/migrations/0001_create_users.up.sql`</summary>\n\n```diff\n--- base\n+++ head\n-CREATE TABLE u (id int);\n+CREATE TABLE u (id bigint);\n```\n\n</details>"),
            "{text}"
        );
    }

    #[test]
    fn run_error_is_marked_as_such() {
        let mut r = samples::passing();
        r.exit_code = 3;
        r.verdict = Verdict::Fail;
        let mut e = CheckReport::new(
            "provision",
            None,
            Status::Fail,
            "no database: docker is not running",
        );
        e.detail = Some("no database: docker is not running\n  hint: install postgresql".into());
        r.checks.push(e);
        let text = md(&r);
        assert!(
            text.contains("exit 3 (no database could be started or reached)"),
            "{text}"
        );
        assert!(
            text.contains("- 🚫 error **provision**: no database: docker is not running"),
            "{text}"
        );
        assert!(
            text.contains("### 🚫 provision (the run could not finish)"),
            "{text}"
        );
        assert!(
            text.contains(
                "```text\nno database: docker is not running\n  hint: install postgresql\n```"
            ),
            "{text}"
        );
    }

    fn huge() -> Report {
        let mut r = samples::failing();
        let diff: String = (0..40_000)
            .map(|i| format!("+  line {i} of a very long diff\n"))
            .collect();
        for c in r.checks.iter_mut().filter(|c| c.status == Status::Fail) {
            c.diff = Some(diff.clone());
        }
        r
    }

    #[test]
    fn diffs_are_cut_first_to_stay_under_the_limit() {
        let r = huge();
        let text = md(&r);
        assert!(text.len() <= STEP_SUMMARY_LIMIT, "{}", text.len());
        assert!(
            text.contains("schema diff (40000 lines)"),
            "the summary says how long it was"
        );
        assert!(text.contains("diff truncated to stay under GitHub's 1 MiB summary limit"));
        assert!(text.contains("+  line 0 of a very long diff"));
        assert!(
            text.len() > STEP_SUMMARY_LIMIT / 2,
            "the budget is used: {}",
            text.len()
        );
        // Small limits still give a valid summary with the verdict.
        let small = render_with(&r, &paths(), 4000);
        assert!(small.len() <= 4000, "{}", small.len());
        assert!(small.starts_with("## ❌ migcheck verify: FAIL"));
        assert!(small.contains("### ❌ roundtrip"), "{small}");
    }

    #[test]
    fn findings_rows_go_next_then_a_hard_cut() {
        let mut r = samples::passing();
        r.findings = (0..10_000)
            .map(|i| Finding {
                rule: "drop-table".into(),
                severity: "warning".into(),
                file: format!("migrations/{i:05}_x.up.sql"),
                line: Some(1),
                message: "a rather long message that repeats for every one of these findings"
                    .into(),
                ..Default::default()
            })
            .collect();
        let text = md(&r);
        assert!(text.len() <= STEP_SUMMARY_LIMIT);
        assert!(
            text.contains("more findings not shown (size limit)"),
            "{}",
            &text[text.len() - 300..]
        );
        let tiny = render_with(&r, &paths(), 300);
        assert!(tiny.len() <= 300, "{}", tiny.len());
        assert!(
            tiny.contains("summary cut at GitHub's size limit"),
            "{tiny}"
        );
    }

    #[test]
    fn code_spans_and_fences_cannot_be_closed_by_their_content() {
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(inline("a `b` c"), "a `b` c");
        assert_eq!(inline("odd ` tick"), "odd \\` tick");
        assert_eq!(
            inline("<script> & [x](y)"),
            "&lt;script&gt; &amp; \\[x\\](y)"
        );
        let f = fenced("diff", "```\ncode");
        assert!(
            f.starts_with("````diff\n") && f.ends_with("\n````\n"),
            "{f}"
        );
    }

    #[test]
    fn lint_report_summary() {
        let mut r = samples::chain_failure();
        r.checks.clear();
        r.options.roundtrip = "none".into();
        r.options.fail_on = Some("error".into());
        r.verdict = Verdict::Pass;
        r.exit_code = 0;
        let text = md(&r);
        assert!(text.starts_with("## ✅ migcheck lint: PASS"), "{text}");
        assert!(
            text.contains("**lint**: 0 errors, 0 warnings, 0 info (fails at error)"),
            "{text}"
        );
        assert!(!text.contains("| migration |"), "{text}");
    }

    #[test]
    fn write_matches_render() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        let r = samples::failing();
        write(&r, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), render(&r));
    }
}
