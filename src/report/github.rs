//! GitHub Actions: workflow-command annotations on stdout and the job summary.
//!
//! With `GITHUB_ACTIONS=true`, every failed check is an `::error` annotation at its file and
//! line (a failed chain check gives one per chain problem; the run's own error, exit 2 or 3, is
//! one too), and every lint finding that is not on a baseline migration is an annotation whose
//! level follows its severity (`error`, `warning`, `info` as `notice`), the ones that fail the
//! gate first. Findings below `--fail-on` are annotated as well: a warning the gate lets
//! through (`create-index-non-concurrently` under the default `--fail-on error`) is exactly what
//! a reviewer should see next to the line. Findings on migrations the base already had are left
//! out (they are in the reports). GitHub shows at most 10 annotations of each level per step:
//! each level is capped at 10 and one summary annotation counts what was left out.
//!
//! With `GITHUB_STEP_SUMMARY` set, the Markdown summary is appended to that file (never
//! truncated), within what is left of the step's 1 MiB.

use std::io::Write;
use std::path::Path;

use super::ci::{self, Paths};
use super::{clean_text, markdown, Report, Run, Status};

/// GitHub's display limit per level and step.
pub const PER_LEVEL: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }

    fn of(severity: &str) -> Self {
        match severity {
            "error" => Level::Error,
            "warning" => Level::Warning,
            _ => Level::Notice,
        }
    }
}

struct Annotation {
    level: Level,
    file: Option<String>,
    line: Option<usize>,
    col: Option<usize>,
    title: String,
    message: String,
}

impl Annotation {
    fn command(&self) -> String {
        let mut props = Vec::new();
        if let Some(file) = &self.file {
            props.push(format!("file={}", escape_property(file)));
            if let Some(line) = self.line {
                props.push(format!("line={line}"));
                if let Some(col) = self.col {
                    props.push(format!("col={col}"));
                }
            }
        }
        props.push(format!("title={}", escape_property(&self.title)));
        format!(
            "::{} {}::{}",
            self.level.command(),
            props.join(","),
            escape_data(&self.message)
        )
    }
}

/// Escape a workflow command's message: `%`, `\r`, `\n`.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow command's property value: as a message, plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Do what GitHub Actions reads, when running there: print the annotations (with
/// `GITHUB_ACTIONS=true`) and append the summary to `$GITHUB_STEP_SUMMARY` (when set). A
/// summary that cannot be written is a warning on stderr: the reports and the exit code stay
/// the evidence.
pub fn publish(report: &Report) {
    publish_with(
        |workspace| annotations(report, workspace),
        |room| markdown::render_within(report, room),
    );
}

/// [`publish`] for a run: one chain as it is; several share the step's annotation limits
/// (titles name the chain) and one summary.
pub fn publish_run(run: &Run<'_>) {
    if let Some(report) = run.single() {
        return publish(report);
    }
    publish_with(
        |workspace| run_annotations(run, workspace),
        |room| markdown::render_run_within(run, room),
    );
}

fn publish_with(
    annotate: impl FnOnce(Option<&Path>) -> String,
    summarize: impl Fn(usize) -> String,
) {
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        let workspace = std::env::var_os("GITHUB_WORKSPACE");
        let text = annotate(workspace.as_deref().map(Path::new));
        let mut out = std::io::stdout().lock();
        // A closed pipe must not abort the run.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        if let Err(e) = append_within(Path::new(&path), summarize) {
            eprintln!(
                "warning: could not append the summary to $GITHUB_STEP_SUMMARY ({}): {e}",
                Path::new(&path).display()
            );
        }
    }
}

/// Every chain's annotations, capped together as for one chain.
pub fn run_annotations(run: &Run<'_>, workspace: Option<&Path>) -> String {
    let mut all = Vec::new();
    for report in run.reports {
        let paths = Paths::with_base(report, workspace);
        for mut a in collect(report, &paths) {
            if let Some(chain) = &report.chain {
                a.title = clean_text(&format!("[{chain}] {}", a.title));
            }
            all.push(a);
        }
    }
    // Each chain's most telling annotations first, level by level, across chains.
    all.sort_by_key(|a| a.level);
    cap(&all)
}

/// Append the Markdown summary to `path` (created when missing), within what the step's
/// 1 MiB limit leaves after what is already there.
pub fn append_summary(report: &Report, path: &Path) -> std::io::Result<()> {
    append_within(path, |room| markdown::render_within(report, room))
}

fn append_within(path: &Path, render: impl Fn(usize) -> String) -> std::io::Result<()> {
    let existing = match std::fs::metadata(path) {
        Ok(m) => usize::try_from(m.len()).unwrap_or(usize::MAX),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    // Separate from what another step or tool wrote.
    let separator = if existing > 0 { "\n" } else { "" };
    let room = markdown::STEP_SUMMARY_LIMIT
        .saturating_sub(existing)
        .saturating_sub(separator.len());
    let text = render(room);
    if text.is_empty() {
        return Err(std::io::Error::other(format!(
            "the step summary already holds {existing} bytes of GitHub's {} limit",
            markdown::STEP_SUMMARY_LIMIT
        )));
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{separator}{text}").as_bytes())?;
    file.flush()
}

/// The workflow commands for a report, one per line; paths relative to `workspace` when
/// given (`GITHUB_WORKSPACE`), else to the repository's top level.
pub fn annotations(report: &Report, workspace: Option<&Path>) -> String {
    render(report, &Paths::with_base(report, workspace))
}

pub(crate) fn render(report: &Report, paths: &Paths) -> String {
    cap(&collect(report, paths))
}

/// The workflow commands for `all`, at most [`PER_LEVEL`] of each level, one summary
/// annotation counting what was left out.
fn cap(all: &[Annotation]) -> String {
    let mut out = String::new();
    let count = |level: Level| all.iter().filter(|a| a.level == level).count();
    let levels = [Level::Error, Level::Warning, Level::Notice];
    let over: Vec<Level> = levels
        .into_iter()
        .filter(|l| count(*l) > PER_LEVEL)
        .collect();
    // The summary takes the tenth place of the most severe level that overflows.
    let summary_level = over.first().copied();
    let mut left_out: Vec<(Level, usize)> = Vec::new();
    for level in levels {
        let cap = if Some(level) == summary_level {
            PER_LEVEL - 1
        } else {
            PER_LEVEL
        };
        let of_level: Vec<&Annotation> = all.iter().filter(|a| a.level == level).collect();
        for a in of_level.iter().take(cap) {
            out.push_str(&a.command());
            out.push('\n');
        }
        if of_level.len() > cap {
            left_out.push((level, of_level.len() - cap));
        }
    }
    if let Some(level) = summary_level {
        let parts: Vec<String> = left_out
            .iter()
            .map(|(l, n)| format!("{n} {}", plural_level(*l, *n)))
            .collect();
        let total: usize = left_out.iter().map(|(_, n)| n).sum();
        let summary = Annotation {
            level,
            file: None,
            line: None,
            col: None,
            title: format!("migcheck: {total} more not shown"),
            message: format!(
                "GitHub shows {PER_LEVEL} annotations of each level per step; {} more were left \
                 out. The job summary and the reports (--json, --sarif, --junit) list them all.",
                parts.join(", ")
            ),
        };
        out.push_str(&summary.command());
        out.push('\n');
    }
    out
}

fn plural_level(level: Level, n: usize) -> &'static str {
    match (level, n) {
        (Level::Error, 1) => "error",
        (Level::Error, _) => "errors",
        (Level::Warning, 1) => "warning",
        (Level::Warning, _) => "warnings",
        (Level::Notice, 1) => "notice",
        (Level::Notice, _) => "notices",
    }
}

/// Every annotation, in the order they are worth showing: failed checks, then findings that
/// fail the gate, then the rest.
fn collect(report: &Report, paths: &Paths) -> Vec<Annotation> {
    let mut out = Vec::new();
    let error = ci::run_error_index(report);
    for (i, check) in report.checks.iter().enumerate() {
        let problems = ci::chain_problems(check);
        if check.status != Status::Fail && problems.is_empty() {
            continue;
        }
        if problems.is_empty() || Some(i) == error {
            let title = match (&check.migration, Some(i) == error) {
                (_, true) => format!("migcheck {}: the run could not finish", check.name),
                (Some(id), false) => format!("migcheck {}: {id}", check.name),
                (None, false) => format!("migcheck {}", check.name),
            };
            let mut message = clean_text(&check.message);
            if !check.objects.is_empty() {
                message.push_str(&format!(
                    "\nobjects that differ: {}",
                    check.objects.join("; ")
                ));
            }
            if let Some(detail) = check.detail.as_deref().filter(|d| !d.trim().is_empty()) {
                if detail.trim() != check.message.trim() {
                    let lines: Vec<&str> = detail.lines().take(20).collect();
                    message.push('\n');
                    message.push_str(&lines.join("\n"));
                }
            }
            let file = ci::check_file(report, check).map(|f| paths.shown(&f));
            out.push(Annotation {
                level: Level::Error,
                file,
                line: check.line,
                col: None,
                title: clean_text(&title),
                message: clean_text(&message),
            });
        } else {
            for p in problems {
                out.push(Annotation {
                    level: Level::of(&p.severity),
                    file: Some(paths.shown(&p.file)),
                    line: p.line,
                    col: None,
                    title: clean_text(&format!("migcheck chain: {}", p.kind)),
                    message: clean_text(&p.message),
                });
            }
        }
    }
    let mut findings: Vec<(bool, &super::Finding)> = report
        .findings
        .iter()
        .filter(|f| !f.baseline)
        .map(|f| (ci::fails_gate(report, f), f))
        .collect();
    // Stable: gate failures first, each group in report order.
    findings.sort_by_key(|(gate, _)| !gate);
    for (gate, f) in findings {
        let mut message = clean_text(&f.message);
        if let Some(stmt) = f.statement.as_deref().filter(|s| !s.trim().is_empty()) {
            message.push_str(&format!("\n  {}", clean_text(stmt)));
        }
        if let Some(help) = f.help.as_deref().filter(|h| !h.trim().is_empty()) {
            message.push_str(&format!("\nhelp: {}", clean_text(help)));
        }
        let mut title = format!("migcheck {}[{}]", f.severity, f.rule);
        if gate {
            title.push_str(" fails the gate");
        }
        out.push(Annotation {
            level: Level::of(&f.severity),
            file: Some(paths.shown(&f.file)),
            line: f.line,
            col: f.column,
            title: clean_text(&title),
            message,
        });
    }
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

    fn finding(rule: &str, severity: &str, line: usize) -> Finding {
        Finding {
            rule: rule.into(),
            severity: severity.into(),
            file: "migrations/0002_add_email.up.sql".into(),
            line: Some(line),
            column: Some(3),
            message: format!("{rule} at line {line}"),
            migration: Some("0002_add_email".into()),
            ..Default::default()
        }
    }

    #[test]
    fn escaping_follows_github() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn failed_check_and_findings() {
        let mut r = samples::failing();
        r.options.fail_on = Some("warning".into());
        let mut f = finding("drop-table", "error", 3);
        f.message = "100% gone, really: t\nsecond line at postgres://u:pw1@h/d".into();
        f.statement = Some("DROP TABLE t".into());
        r.findings = vec![
            finding("prefer-jsonb", "info", 1),
            f,
            Finding {
                baseline: true,
                ..finding("drop-column", "error", 9)
            },
        ];
        let text = render(&r, &paths());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            "::error file=db/migrations/0002_add_email.down.sql,line=1,title=migcheck roundtrip%3A 0002_add_email::down did not restore the schema: 1 object differs%0Aobjects that differ: table public.users > index users_email_idx"
        );
        assert_eq!(
            lines[1],
            "::error file=db/migrations/0002_add_email.up.sql,line=3,col=3,title=migcheck error[drop-table] fails the gate::100%25 gone, really: t%0Asecond line at postgres://u:***@h/d%0A  DROP TABLE t"
        );
        assert!(lines[2].starts_with("::notice file=db/migrations/0002_add_email.up.sql,line=1,col=3,title=migcheck info[prefer-jsonb]::"), "{}", lines[2]);
        assert!(!text.contains("pw1"));
        assert!(
            !text.contains("drop-column"),
            "baseline findings are not annotated"
        );
    }

    #[test]
    fn each_level_is_capped_with_one_summary() {
        let mut r = samples::passing();
        r.options.fail_on = Some("error".into());
        r.findings = (1..=15)
            .map(|i| finding("drop-table", "error", i))
            .collect();
        r.findings
            .extend((1..=12).map(|i| finding("drop-column", "warning", i)));
        r.findings
            .extend((1..=3).map(|i| finding("prefer-jsonb", "info", i)));
        let text = render(&r, &paths());
        let count = |p: &str| text.lines().filter(|l| l.starts_with(p)).count();
        assert_eq!(count("::error "), 10, "{text}");
        assert_eq!(count("::warning "), 10, "{text}");
        assert_eq!(count("::notice "), 3, "{text}");
        let summary = text.lines().last().unwrap();
        assert!(
            summary.starts_with("::error title=migcheck%3A 8 more not shown::"),
            "{summary}"
        );
        assert!(
            summary.contains("6 errors, 2 warnings more were left out"),
            "{summary}"
        );
        // The first ones are kept, in order.
        assert!(text.contains("line=1,col=3,title=migcheck error[drop-table] fails the gate"));
        assert!(!text.contains("drop-table at line 10"));
    }

    #[test]
    fn no_summary_without_overflow_and_none_for_a_clean_run() {
        assert_eq!(render(&samples::passing(), &paths()), "");
        let mut r = samples::passing();
        r.findings = (1..=10)
            .map(|i| finding("drop-table", "warning", i))
            .collect();
        let text = render(&r, &paths());
        assert_eq!(text.lines().count(), 10);
        assert!(!text.contains("more not shown"));
    }

    #[test]
    fn chain_problems_and_run_errors() {
        let text = render(&ci::chain_failure_sample(), &paths());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "::error file=db/migrations/0002_b.up.sql,line=1,title=migcheck chain%3A duplicate-version::version 2 is also used by migrations/0002_a.up.sql");
        assert!(lines[1].starts_with(
            "::error file=db/migrations/0004_x.down.sql,title=migcheck chain%3A orphan-down::"
        ));

        let mut r = samples::passing();
        r.exit_code = 3;
        r.verdict = Verdict::Fail;
        let mut e = CheckReport::new("provision", None, Status::Fail, "no docker");
        e.detail = Some("no docker\n  hint: install postgresql".into());
        r.checks.push(e);
        let text = render(&r, &paths());
        assert_eq!(
            text,
            "::error title=migcheck provision%3A the run could not finish::no docker%0Ano docker%0A  hint: install postgresql\n"
        );
    }

    #[test]
    fn summary_is_appended_never_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "# earlier step\n").unwrap();
        let r = samples::failing();
        append_summary(&r, &path).unwrap();
        append_summary(&r, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# earlier step\n\n## ❌ migcheck verify: FAIL"),
            "{text}"
        );
        assert_eq!(text.matches("## ❌ migcheck verify: FAIL").count(), 2);
        // Nearly full: what is appended fits in what is left.
        let big = "x".repeat(markdown::STEP_SUMMARY_LIMIT - 3000);
        std::fs::write(&path, &big).unwrap();
        append_summary(&r, &path).unwrap();
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        assert!(len <= markdown::STEP_SUMMARY_LIMIT, "{len}");
        assert!(len > big.len());
        // Full: nothing is written, and it says why.
        std::fs::write(&path, "x".repeat(markdown::STEP_SUMMARY_LIMIT)).unwrap();
        let err = append_summary(&r, &path).unwrap_err();
        assert!(err.to_string().contains("already holds"), "{err}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            markdown::STEP_SUMMARY_LIMIT
        );
    }
}
