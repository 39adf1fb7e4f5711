//! What the CI-facing reports (SARIF, Markdown, GitHub annotations, GitLab Code Quality) share:
//! their flags, which findings fail the gate, which check records the run's own error,
//! repository-relative paths, the chain problems inside a chain check, and stable fingerprints.

use std::path::{Component, Path, PathBuf};

use clap::Args;
use sha2::{Digest, Sha256};

use super::{CheckReport, Finding, Report, Status};
use crate::error::{exit, Result};
use crate::lint::Severity;

/// The report flags for CI systems, shared by `verify` and `lint`.
#[derive(Debug, Clone, Default, Args)]
pub struct CiOutputs {
    /// Write a SARIF 2.1.0 report here (GitHub code scanning, `upload-sarif`).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,

    /// Write a Markdown summary here (verdict, checks per migration, findings, diffs; under
    /// 1 MiB, GitHub's step-summary limit).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,

    /// Write a GitLab Code Quality report here (`artifacts:reports:codequality`).
    #[arg(long, value_name = "FILE")]
    pub gitlab_codequality: Option<PathBuf>,
}

impl CiOutputs {
    fn all(&self) -> [(&'static str, &'static str, Option<&Path>); 3] {
        [
            ("--sarif", "SARIF report", self.sarif.as_deref()),
            ("--markdown", "Markdown summary", self.markdown.as_deref()),
            (
                "--gitlab-codequality",
                "GitLab Code Quality report",
                self.gitlab_codequality.as_deref(),
            ),
        ]
    }

    /// Check every given path before any work, as `--json`'s is (exit 2 naming the flag).
    pub fn check_paths(&self) -> Result<()> {
        for (flag, _, path) in self.all() {
            if let Some(p) = path {
                super::check_output_path(flag, p)?;
            }
        }
        Ok(())
    }

    /// Write every report asked for.
    pub fn write(&self, report: &Report) -> Result<()> {
        if let Some(p) = &self.sarif {
            super::sarif::write(report, p)?;
        }
        if let Some(p) = &self.markdown {
            super::markdown::write(report, p)?;
        }
        if let Some(p) = &self.gitlab_codequality {
            super::codequality::write(report, p)?;
        }
        Ok(())
    }

    /// Write every report asked for, for a run of one chain or several.
    pub fn write_run(&self, run: &super::Run<'_>) -> Result<()> {
        if let Some(report) = run.single() {
            return self.write(report);
        }
        if let Some(p) = &self.sarif {
            super::write_atomic(p, super::sarif::render_run(run).as_bytes())?;
        }
        if let Some(p) = &self.markdown {
            super::markdown::write_run(run, p)?;
        }
        if let Some(p) = &self.gitlab_codequality {
            super::write_atomic(p, super::codequality::render_run(run).as_bytes())?;
        }
        Ok(())
    }

    /// What was written, for the verdict's list of reports.
    pub fn written(&self) -> Vec<(&'static str, &Path)> {
        self.all()
            .into_iter()
            .filter_map(|(_, what, path)| path.map(|p| (what, p)))
            .collect()
    }
}

/// The lowest severity that fails the gate; None when lint was off (no finding fails it).
pub(crate) fn fail_on(report: &Report) -> Option<Severity> {
    report.options.fail_on.as_deref().and_then(Severity::parse)
}

/// Whether this finding fails the gate: at or above `fail_on`, and not on a migration that
/// already existed at the base (`baseline`), which is listed but never fails it.
pub fn fails_gate(report: &Report, finding: &Finding) -> bool {
    !finding.baseline
        && fail_on(report)
            .is_some_and(|level| Severity::parse(&finding.severity).is_some_and(|sev| sev >= level))
}

/// The index of the check that records why the run could not finish (bad input, exit 2; no
/// database, exit 3; a signal): verify pushes it last, after the checks that completed.
pub fn run_error_index(report: &Report) -> Option<usize> {
    if report.exit_code == exit::PASS || report.exit_code == exit::GATE_FAILED {
        return None;
    }
    let last = report.checks.len().checked_sub(1)?;
    (report.checks[last].status == Status::Fail).then_some(last)
}

/// What the exit code means, in the README's words.
pub(crate) fn exit_meaning(code: u8) -> &'static str {
    match code {
        exit::PASS => "every check passed",
        exit::GATE_FAILED => "the gate failed",
        exit::BAD_INPUT => "bad input or usage",
        exit::ENVIRONMENT => "no database could be started or reached",
        exit::INTERRUPTED | exit::TERMINATED | exit::HUNG_UP => "interrupted",
        _ => "unexpected exit code",
    }
}

/// The check's own file, else the first file of the migration it is about.
pub(crate) fn check_file(report: &Report, check: &CheckReport) -> Option<String> {
    if let Some(file) = &check.file {
        return Some(file.clone());
    }
    let id = check.migration.as_deref()?;
    report
        .migrations
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| m.files.first().cloned())
}

/// One problem of a chain check's detail (`file:line: error[kind]: message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainProblem {
    pub file: String,
    pub line: Option<usize>,
    /// `error` or `warning`.
    pub severity: String,
    pub kind: String,
    pub message: String,
}

/// The problems a chain check lists in its detail, one per line, as verify writes them.
/// Lines in another shape (an error's free text) are not problems: an empty result means the
/// check is reported as one item.
pub(crate) fn chain_problems(check: &CheckReport) -> Vec<ChainProblem> {
    if check.name != "chain" {
        return Vec::new();
    }
    let Some(detail) = check.detail.as_deref() else {
        return Vec::new();
    };
    let re = regex::Regex::new(r"^(.+?)(?::(\d+))?: (error|warning)\[([A-Za-z0-9_-]+)\]: (.*)$")
        .expect("valid regex");
    detail
        .lines()
        .filter_map(|line| {
            let c = re.captures(line)?;
            Some(ChainProblem {
                file: c[1].to_string(),
                line: c.get(2).and_then(|m| m.as_str().parse().ok()),
                severity: c[3].to_string(),
                kind: c[4].to_string(),
                message: c[5].to_string(),
            })
        })
        .collect()
}

/// Turns the paths a report records (relative to the directory migcheck ran in, or absolute)
/// into paths relative to a base folder: the git top level of the migrations folder, else the
/// current directory; or a folder CI names (`GITHUB_WORKSPACE`, `CI_PROJECT_DIR`).
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    cwd: PathBuf,
    base: PathBuf,
    /// `base` with symbolic links resolved, when it exists.
    base_real: Option<PathBuf>,
}

impl Paths {
    /// Relative to the git top level of the report's migrations folder, else to the current
    /// directory.
    pub fn for_report(report: &Report) -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let base = git_top_level(&cwd, &migrations_dir(report, &cwd)).unwrap_or(cwd.clone());
        Self::new(cwd, base)
    }

    /// Relative to `base` when given (a CI variable), else as [`Paths::for_report`].
    pub fn with_base(report: &Report, base: Option<&Path>) -> Self {
        match base.filter(|b| !b.as_os_str().is_empty()) {
            Some(b) => {
                let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
                let base = normalize(&cwd.join(b));
                Self::new(cwd, base)
            }
            None => Self::for_report(report),
        }
    }

    /// Relative to `base`, for paths recorded relative to `cwd`.
    pub(crate) fn new(cwd: PathBuf, base: PathBuf) -> Self {
        let base_real = std::fs::canonicalize(&base).ok();
        Paths {
            cwd,
            base,
            base_real,
        }
    }

    /// The base folder (absolute).
    pub fn base(&self) -> &Path {
        self.base_real.as_deref().unwrap_or(&self.base)
    }

    /// `file` relative to the base, with `/` separators; None when it lies outside.
    pub fn relative(&self, file: &str) -> Option<String> {
        let absolute = normalize(&self.cwd.join(file));
        let real = std::fs::canonicalize(&absolute).ok();
        let candidates = [
            real.as_deref().zip(self.base_real.as_deref()),
            Some((absolute.as_path(), self.base.as_path())),
        ];
        for (path, base) in candidates.into_iter().flatten() {
            if let Ok(rest) = path.strip_prefix(base) {
                let parts: Vec<String> = rest
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                return Some(if parts.is_empty() {
                    ".".to_string()
                } else {
                    parts.join("/")
                });
            }
        }
        None
    }

    /// Relative when inside the base, else the absolute path (with `/` separators).
    pub fn shown(&self, file: &str) -> String {
        self.relative(file).unwrap_or_else(|| {
            normalize(&self.cwd.join(file))
                .to_string_lossy()
                .replace('\\', "/")
        })
    }

    /// The absolute path of `file`.
    pub fn absolute(&self, file: &str) -> PathBuf {
        normalize(&self.cwd.join(file))
    }
}

/// The migrations folder a report is about. `lint` joins several paths with spaces: the first
/// that exists is used.
fn migrations_dir(report: &Report, cwd: &Path) -> PathBuf {
    let whole = cwd.join(&report.path);
    if !report.path.is_empty() && whole.exists() {
        return whole;
    }
    report
        .path
        .split_whitespace()
        .map(|p| cwd.join(p))
        .find(|p| p.exists())
        .unwrap_or_else(|| cwd.to_path_buf())
}

/// The nearest folder at or above `dir` that holds `.git` (a folder, or the file of a worktree
/// or submodule), resolved through symbolic links.
fn git_top_level(cwd: &Path, dir: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(dir).unwrap_or_else(|_| normalize(&cwd.join(dir)));
    let start = if start.is_file() {
        start.parent()?.to_path_buf()
    } else {
        start
    };
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Remove `.` and resolve `..` lexically (for paths that may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A statement as the fingerprint sees it: whitespace runs collapsed, no trailing `;`.
pub(crate) fn normalize_statement(statement: &str) -> String {
    let one = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    one.trim_end_matches(';').trim_end().to_string()
}

/// SHA-256 (hex) of the parts, each length-prefixed so that no two lists hash alike.
pub(crate) fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stable identities for a list of keys: the hash of the key and its occurrence number among
/// equal keys (the second identical statement in a file gets its own).
pub(crate) fn fingerprints(keys: &[Vec<String>]) -> Vec<String> {
    let mut seen: Vec<(&Vec<String>, usize)> = Vec::new();
    keys.iter()
        .map(|key| {
            let n = match seen.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    seen.push((key, 0));
                    0
                }
            };
            let occurrence = n.to_string();
            let mut parts: Vec<&str> = key.iter().map(String::as_str).collect();
            parts.push(&occurrence);
            fingerprint(&parts)
        })
        .collect()
}

/// The fingerprint key of a finding: rule, repository-relative path, migration, statement.
/// Line numbers are left out, so an unrelated edit above does not make the finding new.
pub(crate) fn finding_key(paths: &Paths, finding: &Finding) -> Vec<String> {
    vec![
        "finding".to_string(),
        finding.rule.clone(),
        paths.shown(&finding.file),
        finding.migration.clone().unwrap_or_default(),
        normalize_statement(finding.statement.as_deref().unwrap_or_default()),
    ]
}

/// The fingerprint key of a failed check (or one chain problem of it).
pub(crate) fn check_key(
    paths: &Paths,
    name: &str,
    file: Option<&str>,
    migration: Option<&str>,
    kind: &str,
) -> Vec<String> {
    vec![
        "check".to_string(),
        name.to_string(),
        file.map(|f| paths.shown(f)).unwrap_or_default(),
        migration.unwrap_or_default().to_string(),
        kind.to_string(),
    ]
}

/// A failed chain check whose detail lists its problems as verify writes them.
#[cfg(test)]
pub(crate) fn chain_failure_sample() -> Report {
    let mut r = super::samples::chain_failure();
    r.checks[0].line = Some(1);
    r.checks[0].detail = Some(
        "migrations/0002_b.up.sql:1: error[duplicate-version]: version 2 is also used by \
         migrations/0002_a.up.sql\nmigrations/0004_x.down.sql: error[orphan-down]: no matching up file"
            .to_string(),
    );
    r
}

/// Shorten `text` to at most `max` characters, ending in `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples;

    fn finding(sev: &str, baseline: bool) -> Finding {
        Finding {
            rule: "drop-table".into(),
            severity: sev.into(),
            file: "migrations/0002_x.up.sql".into(),
            line: Some(2),
            message: "m".into(),
            baseline,
            ..Default::default()
        }
    }

    #[test]
    fn gate_follows_fail_on_and_baseline() {
        let mut r = samples::passing();
        assert!(!fails_gate(&r, &finding("error", false)), "lint off");
        r.options.fail_on = Some("warning".into());
        assert!(fails_gate(&r, &finding("error", false)));
        assert!(fails_gate(&r, &finding("warning", false)));
        assert!(!fails_gate(&r, &finding("info", false)));
        assert!(!fails_gate(&r, &finding("error", true)), "baseline");
    }

    #[test]
    fn run_error_is_the_last_failed_check_of_exit_2_and_3() {
        let mut r = samples::failing();
        assert_eq!(run_error_index(&r), None, "exit 1 is a gate failure");
        r.exit_code = 3;
        r.checks.push(CheckReport::new(
            "provision",
            None,
            Status::Fail,
            "no docker",
        ));
        assert_eq!(run_error_index(&r), Some(r.checks.len() - 1));
        r.exit_code = 2;
        assert_eq!(run_error_index(&r), Some(r.checks.len() - 1));
    }

    #[test]
    fn chain_problems_parse_the_detail() {
        let r = chain_failure_sample();
        let p = chain_problems(&r.checks[0]);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].file, "migrations/0002_b.up.sql");
        assert_eq!(p[0].kind, "duplicate-version");
        assert_eq!(p[0].line, Some(1));
        assert_eq!(p[1].line, None);
        assert_eq!(p[1].severity, "error");
        let mut c = r.checks[0].clone();
        c.detail = Some("a/b:c.sql:12: warning[string-order]: 10 before 9\nfree text".into());
        let p = chain_problems(&c);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].file.as_str(), p[0].line), ("a/b:c.sql", Some(12)));
        assert_eq!(p[0].severity, "warning");
    }

    #[test]
    fn relative_paths_under_a_git_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("db/migrations")).unwrap();
        std::fs::write(repo.join("db/migrations/0001_a.up.sql"), "x").unwrap();
        let base = git_top_level(dir.path(), &repo.join("db/migrations")).unwrap();
        assert_eq!(base, std::fs::canonicalize(&repo).unwrap());
        let paths = Paths::new(repo.join("db"), base);
        assert_eq!(
            paths.relative("migrations/0001_a.up.sql").as_deref(),
            Some("db/migrations/0001_a.up.sql")
        );
        // Missing files are resolved lexically.
        assert_eq!(
            paths
                .relative("./migrations/../migrations/0009_gone.sql")
                .as_deref(),
            Some("db/migrations/0009_gone.sql")
        );
        assert_eq!(paths.relative("/elsewhere/x.sql"), None);
        assert_eq!(paths.shown("/elsewhere/x.sql"), "/elsewhere/x.sql");
    }

    #[test]
    fn fingerprints_ignore_lines_and_whitespace_but_count_repeats() {
        let paths = Paths::new(PathBuf::from("/w"), PathBuf::from("/w"));
        let mut a = finding("error", false);
        a.statement = Some("DROP TABLE  t;".into());
        let mut b = a.clone();
        b.line = Some(40);
        b.statement = Some("DROP TABLE t".into());
        assert_eq!(finding_key(&paths, &a), finding_key(&paths, &b));
        let fps = fingerprints(&[finding_key(&paths, &a), finding_key(&paths, &b)]);
        assert_ne!(fps[0], fps[1], "a repeated statement gets its own identity");
        let again = fingerprints(&[finding_key(&paths, &b)]);
        assert_eq!(fps[0], again[0], "stable across runs");
        assert_eq!(fps[0].len(), 64);
        let mut c = a.clone();
        c.rule = "truncate".into();
        assert_ne!(fingerprints(&[finding_key(&paths, &c)])[0], fps[0]);
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }

    #[test]
    fn shorten_marks_the_cut() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
