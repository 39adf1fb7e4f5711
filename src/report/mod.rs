//! Stage: report. The `Report` model is what every output is rendered from; its JSON shape is
//! versioned (`report_version`) and documented in the README.

use serde::Serialize;

pub use crate::history::HistoryReport;

pub mod ci;
pub mod codequality;
pub mod github;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;
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
    /// In a run of several chains (a monorepo): this chain's name (its path as given, or its
    /// `[[chain]]` entry's `name`). None when the run verified one chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// The migrations folder as given on the command line.
    pub path: String,
    pub format: String,
    /// Why that format's semantics were used: forced, detected from which file, or assumed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub format_reason: String,
    /// None when the run stopped before a database was provisioned (chain errors).
    pub engine: Option<EngineReport>,
    pub provider: Option<ProviderReport>,
    pub options: OptionsReport,
    pub migrations: Vec<MigrationReport>,
    pub checks: Vec<CheckReport>,
    /// Lint findings, history findings with `--since`, observed findings.
    pub findings: Vec<Finding>,
    /// `--since` (or the base a CI pull or merge request names): what the change was judged
    /// against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryReport>,
    pub timings: Timings,
}

/// What one `verify` run reports: one chain's report, or several (a monorepo's chains, each
/// with its `chain` name), with the run's own exit code (the least trustworthy chain's).
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub reports: &'a [Report],
    pub exit_code: u8,
    pub started_at: &'a str,
    pub duration_ms: u64,
}

impl<'a> Run<'a> {
    /// The report of a run of one chain: every output is then exactly that chain's.
    pub fn single(&self) -> Option<&'a Report> {
        match self.reports {
            [one] => Some(one),
            _ => None,
        }
    }

    pub fn verdict(&self) -> Verdict {
        if self.exit_code == 0 {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    /// How the reports name a chain.
    pub fn name(report: &Report) -> &str {
        report.chain.as_deref().unwrap_or(&report.path)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineReport {
    /// `--engine` as given (`postgres:16`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
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
    /// Container image (docker provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Time from request to ready.
    pub startup_ms: u64,
    /// `url` provider only: whom the migrations run as (`on: …` a sandbox role, or `OFF …`
    /// with `--url-privileged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionsReport {
    /// `step` or `full`.
    pub roundtrip: String,
    pub require_down: bool,
    pub cosmetic: String,
    /// Lowest lint severity that fails the gate (`error`, `warning`, `info`); None when lint is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on: Option<String>,
    /// `--session-sql` / `[verify] session-sql`: run, in order, on every connection that
    /// applies migrations.
    #[serde(default)]
    pub session_sql: Vec<String>,
    /// `--statement-timeout` in seconds (0: none).
    #[serde(default)]
    pub statement_timeout_s: u64,
    /// `--migration-timeout` in seconds (0: none).
    #[serde(default)]
    pub migration_timeout_s: u64,
    /// `--url-privileged`: the url provider's sandbox and server-wide guard are off.
    #[serde(default)]
    pub url_privileged: bool,
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

impl CheckReport {
    /// A check with only its identity and outcome set; the rest is filled in as it is known.
    pub fn new(
        name: &str,
        migration: Option<&str>,
        status: Status,
        message: impl Into<String>,
    ) -> Self {
        CheckReport {
            name: name.to_string(),
            migration: migration.map(str::to_string),
            status,
            duration_ms: 0,
            message: message.into(),
            file: None,
            line: None,
            detail: None,
            diff: None,
            objects: Vec::new(),
            notes: Vec::new(),
            phases: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `up`, `down`, `reapply`.
    pub name: String,
    pub status: Status,
    /// True when the step ran but left another schema than expected (as opposed to an error).
    #[serde(default)]
    pub schema_differs: bool,
    pub duration_ms: u64,
    pub message: String,
}

/// A lint finding (`migcheck lint`, or lint run as part of verify).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case rule id (`migcheck rules` lists them).
    pub rule: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
    /// 1-based column on `line`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The statement the finding is about, on one line, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// The safe way to do it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The migration id (`0042_add_status`) when the file belongs to a discovered chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration: Option<String>,
    /// With `--since`: the migration already existed at the base, so the finding is listed
    /// but never fails the gate.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub baseline: bool,
    /// A unified diff the finding is about (a released migration's edit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Where the time went (milliseconds).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub chain_ms: u64,
    /// `--since`: reading the base from git and judging the history (not part of `chain_ms`).
    #[serde(default)]
    pub history_ms: u64,
    pub server_start_ms: u64,
    /// Creating and dropping throwaway databases, their connections and Alembic's driver.
    pub databases_ms: u64,
    /// Applying migrations, observation excluded.
    pub migrations_ms: u64,
    /// Watching what the server did (locks, rewrites) around the statements.
    pub observation_ms: u64,
    pub snapshots_ms: u64,
    /// Comparing snapshots and writing their diffs.
    pub compare_ms: u64,
    /// Starting over on a fresh database after a failure and applying the ups again.
    pub replay_ms: u64,
    pub lint_ms: u64,
    pub teardown_ms: u64,
    /// Waiting for the second half of the chain, verified at the same time on a second
    /// database (`second_database` says where its own time went).
    #[serde(default)]
    pub parallel_ms: u64,
    /// The second half of a chain split over two databases: from which migration, and its own
    /// time split (it ran while the buckets above ran for the first half).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_database: Option<SecondDatabase>,
    /// In none of the above (reports, printing, bookkeeping): the buckets add up to `total_ms`.
    pub other_ms: u64,
    pub total_ms: u64,
}

/// The time split of the half of a chain verified on a second database (milliseconds).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SecondDatabase {
    /// Its first migration (the ones before it were applied there without checks first).
    pub from_migration: String,
    pub databases_ms: u64,
    /// Applying the first half's ups to reach its start.
    pub catch_up_ms: u64,
    pub migrations_ms: u64,
    pub observation_ms: u64,
    pub snapshots_ms: u64,
    pub compare_ms: u64,
    pub replay_ms: u64,
    pub other_ms: u64,
    pub total_ms: u64,
}

impl Timings {
    /// The named buckets from a chain's time split.
    pub fn set_split(&mut self, split: &crate::timing::Split) {
        use crate::timing::Bucket;
        let ms = |b: Bucket| split.get(b).as_millis() as u64;
        self.chain_ms = ms(Bucket::Chain);
        self.history_ms = ms(Bucket::History);
        self.server_start_ms = ms(Bucket::ServerStart);
        self.databases_ms = ms(Bucket::Databases);
        self.migrations_ms = ms(Bucket::Migrations);
        self.observation_ms = ms(Bucket::Observation);
        self.snapshots_ms = ms(Bucket::Snapshots);
        self.compare_ms = ms(Bucket::Compare);
        self.replay_ms = ms(Bucket::Replay);
        self.lint_ms = ms(Bucket::Lint);
        self.teardown_ms = ms(Bucket::Teardown);
        self.parallel_ms = ms(Bucket::Parallel);
    }

    /// The run's wall time; `other_ms` is what the named buckets leave of it.
    pub fn set_total(&mut self, total_ms: u64) {
        self.total_ms = total_ms;
        self.other_ms = total_ms.saturating_sub(self.named_ms());
    }

    /// Every bucket but `other`.
    pub fn named_ms(&self) -> u64 {
        self.chain_ms
            + self.history_ms
            + self.server_start_ms
            + self.databases_ms
            + self.migrations_ms
            + self.observation_ms
            + self.snapshots_ms
            + self.compare_ms
            + self.replay_ms
            + self.lint_ms
            + self.teardown_ms
            + self.parallel_ms
    }
}

/// How many checks of a report passed, failed and were skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }
}

impl Report {
    /// Passed/failed/skipped counts over `checks`.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for check in &self.checks {
            match check.status {
                Status::Pass => c.passed += 1,
                Status::Fail => c.failed += 1,
                Status::Skip => c.skipped += 1,
            }
        }
        c
    }
}

/// Make untrusted text (server errors, SQL excerpts, diffs) safe to print or embed in XML:
/// removes ANSI escape sequences and every control character except `\n` and `\t`
/// (`\r\n` becomes `\n`), plus the non-characters U+FFFE/U+FFFF that XML 1.0 forbids.
pub(crate) fn sanitize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape_sequence(&mut chars),
            // C1 CSI: same grammar as `ESC [`.
            '\u{9b}' => skip_csi(&mut chars),
            '\n' | '\t' => out.push(c),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c if c.is_control() => {}
            '\u{fffe}' | '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.peek().copied() {
        Some('[') => {
            chars.next();
            skip_csi(chars);
        }
        // OSC, DCS, SOS, PM, APC: a string terminated by BEL or ST (`ESC \`).
        Some(']' | 'P' | 'X' | '^' | '_') => {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\u{7}' || c == '\u{9c}' {
                    break;
                }
                if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                    chars.next();
                    break;
                }
            }
        }
        // Two-character sequences (`ESC c`, `ESC 7`, charset selection `ESC ( B`).
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            chars.next();
            if chars
                .peek()
                .is_some_and(|c| ('\u{30}'..='\u{7e}').contains(c))
            {
                chars.next();
            }
        }
        Some(c) if ('\u{30}'..='\u{7e}').contains(&c) => {
            chars.next();
        }
        _ => {}
    }
}

/// Skip the rest of a CSI sequence: parameter and intermediate bytes, then one final byte.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(&c) = chars.peek() {
        if ('\u{20}'..='\u{3f}').contains(&c) {
            chars.next();
        } else {
            if ('\u{40}'..='\u{7e}').contains(&c) {
                chars.next();
            }
            break;
        }
    }
}

/// Mask passwords in anything URL-like (`scheme://user:pass@host`) and in `password=...`
/// key-value pairs found in free text. Text without such parts is returned unchanged.
pub(crate) fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push_str(&redact_token(&rest[..end]));
        rest = &rest[end..];
    }
    out
}

fn redact_token(token: &str) -> std::borrow::Cow<'_, str> {
    let lower = token.to_ascii_lowercase();
    if token.contains("://") {
        let has_userinfo = token
            .split_once("://")
            .is_some_and(|(_, after)| after.split('/').next().is_some_and(|h| h.contains('@')));
        if has_userinfo || has_secret_param(&lower) {
            return crate::redact::redact_url(token).into();
        }
        return token.into();
    }
    // libpq/MySQL key-value style: `password=secret`, `pwd='secret'`.
    for key in ["password=", "pass=", "pwd="] {
        if let Some(pos) = lower.find(key) {
            let boundary = pos == 0 || !lower.as_bytes()[pos - 1].is_ascii_alphanumeric();
            if boundary {
                let value_start = pos + key.len();
                let value_end = token[value_start..]
                    .find([';', '&', ',', ')'])
                    .map_or(token.len(), |i| value_start + i);
                if value_end > value_start {
                    return format!("{}***{}", &token[..value_start], &token[value_end..]).into();
                }
            }
        }
    }
    token.into()
}

fn has_secret_param(lower: &str) -> bool {
    [
        "?password=",
        "&password=",
        "?pass=",
        "&pass=",
        "?pwd=",
        "&pwd=",
    ]
    .iter()
    .any(|k| lower.contains(k))
}

/// Both sanitising passes, for text that leaves migcheck through a report or the terminal.
pub(crate) fn clean_text(text: &str) -> String {
    redact_secrets(&sanitize_text(text))
}

/// Check, before any database is started, that a report can be written at `path` (given by
/// `flag`): a directory, a parent that is a file, or a folder migcheck may not write in is bad
/// input (exit 2), not a broken environment after minutes of work. Missing parent folders are
/// created; outside the working directory migcheck says so.
pub fn check_output_path(flag: &str, path: &std::path::Path) -> crate::error::Result<()> {
    use crate::error::Error;
    let shown = path.display();
    if path.is_dir() {
        return Err(Error::Usage(format!(
            "{flag} {shown}: is a directory; give the path of a file to write"
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{flag} {shown}: {} is not a directory",
            dir.display()
        )));
    }
    if !dir.exists() {
        let cwd = std::env::current_dir().unwrap_or_default();
        let absolute = if dir.is_absolute() {
            dir.clone()
        } else {
            cwd.join(&dir)
        };
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::Usage(format!(
                "{flag} {shown}: cannot create the folder {}: {e}",
                dir.display()
            ))
        })?;
        if !absolute.starts_with(&cwd) {
            eprintln!(
                "note: created {} for {flag} (it did not exist)",
                dir.display()
            );
        }
    }
    if let Err(e) = tempfile::Builder::new()
        .prefix(".migcheck-write-check.")
        .tempfile_in(&dir)
    {
        return Err(Error::Usage(format!(
            "{flag} {shown}: cannot write in {}: {e}",
            dir.display()
        )));
    }
    if path.exists() {
        let writable = std::fs::OpenOptions::new().append(true).open(path);
        if let Err(e) = writable {
            return Err(Error::Usage(format!("{flag} {shown}: cannot write: {e}")));
        }
    }
    Ok(())
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory is written,
/// flushed to disk and renamed over `path`, so readers never see half a report.
/// Missing parent directories are created.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> crate::error::Result<()> {
    use std::io::Write;

    let io_err = |source: std::io::Error| crate::error::Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io_err)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_string());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io_err)?;
    tmp.write_all(bytes).map_err(io_err)?;
    tmp.flush().map_err(io_err)?;
    #[cfg(unix)]
    {
        // Temporary files are created 0600; a report is an ordinary, shareable artifact.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_err)?;
    }
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

/// Realistic reports for unit tests of the renderers.
#[cfg(test)]
pub(crate) mod samples {
    use super::*;

    pub fn check(
        name: &str,
        migration: Option<&str>,
        status: Status,
        ms: u64,
        msg: &str,
    ) -> CheckReport {
        let mut c = CheckReport::new(name, migration, status, msg);
        c.duration_ms = ms;
        c
    }

    pub fn phase(name: &str, status: Status, ms: u64, msg: &str) -> Phase {
        Phase {
            name: name.to_string(),
            status,
            schema_differs: false,
            duration_ms: ms,
            message: msg.to_string(),
        }
    }

    fn migration(id: &str, has_down: bool) -> MigrationReport {
        let (version, name) = id.split_once('_').unwrap_or((id, ""));
        let mut files = vec![format!("migrations/{id}.up.sql")];
        if has_down {
            files.push(format!("migrations/{id}.down.sql"));
        }
        MigrationReport {
            id: id.to_string(),
            version: version.to_string(),
            name: name.to_string(),
            files,
            has_down,
            no_transaction: false,
        }
    }

    fn base(engine: bool) -> Report {
        Report {
            report_version: REPORT_VERSION,
            migcheck_version: "0.1.0".to_string(),
            verdict: Verdict::Pass,
            exit_code: 0,
            started_at: "2025-03-04T05:06:07.123456789Z".to_string(),
            duration_ms: 2310,
            chain: None,
            path: "migrations/".to_string(),
            format: "golang-migrate".to_string(),
            format_reason: String::new(),
            engine: engine.then(|| EngineReport {
                requested: None,
                name: "postgres".to_string(),
                version: "15.8".to_string(),
                version_num: 150008,
            }),
            provider: engine.then(|| ProviderReport {
                name: "local".to_string(),
                description: "local PostgreSQL 15.8 (/usr/lib/postgresql/15/bin)".to_string(),
                image: None,
                startup_ms: 612,
                sandbox: None,
            }),
            options: OptionsReport {
                roundtrip: "step".to_string(),
                require_down: false,
                cosmetic: "note".to_string(),
                fail_on: None,
                session_sql: Vec::new(),
                statement_timeout_s: 0,
                migration_timeout_s: 0,
                url_privileged: false,
            },
            migrations: Vec::new(),
            checks: Vec::new(),
            findings: Vec::new(),
            history: None,
            timings: Timings {
                chain_ms: 3,
                server_start_ms: 612,
                migrations_ms: 1204,
                snapshots_ms: 310,
                teardown_ms: 40,
                history_ms: 0,
                total_ms: 2310,
                ..Timings::default()
            },
        }
    }

    /// Everything passes; one migration has no down, one has a cosmetic note.
    pub fn passing() -> Report {
        let mut r = base(true);
        r.migrations = vec![
            migration("0001_create_users", true),
            migration("0002_add_email", true),
            migration("0003_seed", false),
        ];
        let mut chain = check("chain", None, Status::Pass, 3, "3 migrations, no problems");
        chain.file = Some("migrations/".to_string());
        r.checks.push(chain);
        for (id, up_ms) in [("0001_create_users", 12), ("0002_add_email", 9)] {
            let mut up = check("upgrade", Some(id), Status::Pass, up_ms, "applied");
            up.file = Some(format!("migrations/{id}.up.sql"));
            r.checks.push(up);
            let mut rt = check(
                "roundtrip",
                Some(id),
                Status::Pass,
                19,
                "down restores the schema; up re-applies identically",
            );
            rt.file = Some(format!("migrations/{id}.down.sql"));
            rt.phases = vec![
                phase("down", Status::Pass, 8, "schema restored"),
                phase("reapply", Status::Pass, 11, "schema identical"),
            ];
            if id == "0002_add_email" {
                rt.notes = vec![
                    "column order of public.users differs after re-apply (cosmetic)".to_string(),
                ];
            }
            r.checks.push(rt);
        }
        let mut up = check("upgrade", Some("0003_seed"), Status::Pass, 4, "applied");
        up.file = Some("migrations/0003_seed.up.sql".to_string());
        r.checks.push(up);
        let mut rt = check(
            "roundtrip",
            Some("0003_seed"),
            Status::Skip,
            0,
            "no down: not reversible",
        );
        rt.file = Some("migrations/0003_seed.up.sql".to_string());
        r.checks.push(rt);
        r
    }

    /// The down of 0002 leaves an index behind; the diff carries ANSI codes, a control
    /// character and XML metacharacters. 0003 is skipped after the failure.
    pub fn failing() -> Report {
        let mut r = passing();
        r.verdict = Verdict::Fail;
        r.exit_code = 1;
        r.checks
            .retain(|c| c.migration.as_deref() != Some("0003_seed"));
        let rt = r
            .checks
            .iter_mut()
            .find(|c| c.name == "roundtrip" && c.migration.as_deref() == Some("0002_add_email"))
            .expect("sample has a roundtrip for 0002");
        rt.status = Status::Fail;
        rt.message = "down did not restore the schema: 1 object differs".to_string();
        rt.line = Some(1);
        rt.objects = vec!["table public.users > index users_email_idx".to_string()];
        rt.diff = Some(
            "--- before up\n+++ after down\n@@ -3,2 +3,3 @@\n   column email text\n\u{1b}[32m+  index users_email_idx ON users (lower(email)) WHERE email <> '' AND a < b & c > d\u{1b}[0m\n\u{1b}[31m-  check \"x\u{1}y\"\u{1b}[0m\n".to_string(),
        );
        rt.phases = vec![
            phase(
                "down",
                Status::Fail,
                8,
                "schema differs from the one before up",
            ),
            phase("reapply", Status::Skip, 0, "not run after a failed down"),
        ];
        let mut up = check(
            "upgrade",
            Some("0003_seed"),
            Status::Skip,
            0,
            "not applied: an earlier migration failed",
        );
        up.file = Some("migrations/0003_seed.up.sql".to_string());
        r.checks.push(up);
        r
    }

    /// The chain is broken; no database was provisioned.
    pub fn chain_failure() -> Report {
        let mut r = base(false);
        r.verdict = Verdict::Fail;
        r.exit_code = 1;
        r.timings = Timings {
            chain_ms: 2,
            total_ms: 2,
            ..Timings::default()
        };
        r.duration_ms = 2;
        let mut chain = check(
            "chain",
            None,
            Status::Fail,
            2,
            "2 problems in the migration chain",
        );
        chain.file = Some("migrations/0002_b.up.sql".to_string());
        chain.line = None;
        chain.detail = Some(
            "migrations/0002_b.up.sql: duplicate-version: version 2 is also used by migrations/0002_a.up.sql\nmigrations/0004_x.down.sql: orphan-down: no matching up file".to_string(),
        );
        r.checks.push(chain);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_ansi_and_controls() {
        let raw = "\u{1b}[31m-  col int\u{1b}[0m\r\nok\u{1}\tx\u{7}\u{0}\u{1b}]0;title\u{7}y\u{1b}(Bz\u{fffe}";
        assert_eq!(sanitize_text(raw), "-  col int\nok\txyz");
    }

    #[test]
    fn sanitize_keeps_plain_text() {
        let raw = "table public.users > index <a & b> \"é\" ✓\n\tline";
        assert_eq!(sanitize_text(raw), raw);
    }

    #[test]
    fn sanitize_lone_cr_becomes_newline() {
        assert_eq!(sanitize_text("a\rb"), "a\nb");
    }

    #[test]
    fn redact_urls_in_text() {
        let s = redact_secrets("cannot connect to postgres://u:pw@h/db: refused");
        assert!(!s.contains(":pw@"), "{s}");
        assert!(s.contains("postgres://u:***@h/db"), "{s}");
        assert!(s.starts_with("cannot connect to "));
        assert!(s.ends_with(" refused"));
    }

    #[test]
    fn redact_key_value_passwords() {
        assert_eq!(
            redact_secrets("host=h user=u password=hunter22 dbname=x"),
            "host=h user=u password=*** dbname=x"
        );
        assert_eq!(
            redact_secrets("mysql://root@h/db?password=hunter22"),
            "mysql://root@h/db?password=***"
        );
    }

    #[test]
    fn redact_leaves_plain_urls_alone() {
        let s = "see https://example.com and compass=north";
        assert_eq!(redact_secrets(s), s);
    }

    #[test]
    fn counts() {
        let r = samples::failing();
        let c = r.counts();
        assert_eq!(c.total(), r.checks.len());
        assert!(c.failed >= 1);
    }

    #[test]
    fn atomic_write_creates_parents_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/report.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn atomic_write_reports_io_error_with_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let path = blocker.join("report.json");
        match write_atomic(&path, b"x") {
            Err(crate::error::Error::Io { path: p, .. }) => assert_eq!(p, path),
            other => panic!("expected Error::Io, got {other:?}"),
        }
    }
}
