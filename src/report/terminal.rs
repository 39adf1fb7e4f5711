//! Human output on stdout, streamed while the pipeline runs: one line per step as it happens,
//! failure details indented under the line they belong to, and a verdict at the end.
//!
//! Every piece of text that comes from outside (server errors, diffs, descriptions) is stripped
//! of escape sequences and control characters and has URL passwords masked before it is
//! printed. Write errors (a closed pipe) are ignored: the reports and the exit code remain the
//! evidence, and a progress printer must never abort the run.

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{clean_text, CheckReport, Finding, Phase, Report, Status, Verdict};
use crate::cli::ColorChoice;

/// Ids shorter than this are padded so that results line up without knowing the chain.
const MIN_LABEL_WIDTH: usize = 20;
/// Longer ids are not padded beyond this; the line just gets longer.
const MAX_LABEL_WIDTH: usize = 48;
const INDENT: &str = "    ";

/// Decide whether to colour: always/never as asked; for `auto`, only when the output is a
/// terminal and `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn use_color(choice: ColorChoice, is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(OsStr::is_empty),
    }
}

#[derive(Clone, Copy)]
enum Style {
    Green,
    Red,
    Yellow,
    Cyan,
    Dim,
    Bold,
    BoldGreen,
    BoldRed,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Green => "32",
            Style::Red => "31",
            Style::Yellow => "33",
            Style::Cyan => "36",
            Style::Dim => "2",
            Style::Bold => "1",
            Style::BoldGreen => "1;32",
            Style::BoldRed => "1;31",
        }
    }
}

/// Output held back in memory (a `Printer::held` printer's, a chain's run at once with others)
/// until it is taken and shown whole.
#[derive(Clone, Default)]
pub struct Held(std::sync::Arc<Mutex<Vec<u8>>>);

impl Held {
    /// What was written so far; the buffer is empty again.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *lock(&self.0))
    }
}

impl Write for Held {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Streams progress and results to stdout (or any writer, for tests).
pub struct Printer {
    out: Mutex<Box<dyn Write + Send>>,
    color: bool,
    quiet: bool,
    label_width: AtomicUsize,
    progress: Progress,
}

/// How far a long run is, beside the streamed lines: a bar on stderr with the current
/// migration when stderr is a terminal (one per chain, under the run's `MultiProgress`, when
/// chains run at once); when it is not (a CI log) and this printer's lines are held back until
/// its chain ends, a plain line on stdout at most every [`PLAIN_EVERY`].
#[derive(Default)]
struct Progress {
    /// The bar of the chain being verified.
    bar: Mutex<Option<ProgressBar>>,
    /// The run's bars, when chains run at once.
    multi: Option<MultiProgress>,
    /// Names the chain on its bar and its plain lines.
    label: Option<String>,
    /// Plain lines: (migrations verified, total, when the last line was printed).
    plain: Mutex<Option<(u64, u64, Instant)>>,
}

/// How often a chain whose output is held back says how far it is in a CI log.
const PLAIN_EVERY: Duration = Duration::from_secs(15);

impl Printer {
    /// A printer on stdout; colour as decided by [`use_color`] for stdout and `NO_COLOR`.
    pub fn new(color: ColorChoice, quiet: bool) -> Self {
        let stdout = std::io::stdout();
        let no_color = std::env::var_os("NO_COLOR");
        let color = use_color(color, stdout.is_terminal(), no_color.as_deref());
        Self::with_writer(Box::new(stdout), color, quiet)
    }

    /// A printer on any writer, with colour decided by the caller.
    pub fn with_writer(out: Box<dyn Write + Send>, color: bool, quiet: bool) -> Self {
        Printer {
            out: Mutex::new(out),
            color,
            quiet,
            label_width: AtomicUsize::new(MIN_LABEL_WIDTH),
            progress: Progress::default(),
        }
    }

    /// A printer whose lines are held back (colour, quiet and column width as this one's,
    /// no progress bar), for work done at the same time as this printer's; `release` prints
    /// them here, in one piece.
    pub fn held(&self) -> (Printer, Held) {
        let held = Held::default();
        let printer = Printer::with_writer(Box::new(held.clone()), self.color, self.quiet);
        printer
            .label_width
            .store(self.label_width.load(Ordering::Relaxed), Ordering::Relaxed);
        (printer, held)
    }

    /// Print what a `held` printer held back; the progress counts its `migrations`.
    pub fn release(&self, held: Held, migrations: usize) {
        let bytes = held.take();
        {
            let mut out = lock(&self.out);
            let _ = out.write_all(&bytes);
            let _ = out.flush();
        }
        for _ in 0..migrations {
            self.advance();
        }
    }

    /// A chain's printer in a run of several: its bar joins the run's `multi`, and its bar and
    /// plain progress lines are named `label`.
    pub fn with_progress(mut self, multi: Option<MultiProgress>, label: &str) -> Self {
        self.progress.multi = multi;
        self.progress.label = Some(clean_text(label));
        self
    }

    /// A chain of `total` migrations starts on the server.
    pub fn start_progress(&self, total: usize) {
        if self.quiet {
            return;
        }
        let total = total as u64;
        let bar = match &self.progress.multi {
            Some(multi) => multi.add(ProgressBar::new(total)),
            None => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
        };
        let prefix = self
            .progress
            .label
            .as_deref()
            .map(|l| format!("{l} "))
            .unwrap_or_default();
        bar.set_style(
            ProgressStyle::with_template("{prefix}[{bar:24}] {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix);
        if bar.is_hidden() {
            // No terminal: the streamed lines are the progress, unless they are held back.
            if self.progress.label.is_some() && self.progress.multi.is_none() {
                *lock(&self.progress.plain) = Some((0, total, Instant::now()));
            }
            return;
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        *lock(&self.progress.bar) = Some(bar);
    }

    /// What the chain is doing now (`applying 0042_add_status`).
    pub fn working_on(&self, what: &str, id: &str) {
        if let Some(bar) = &*lock(&self.progress.bar) {
            bar.set_message(format!("{what} {}", clean_text(id)));
        }
    }

    fn advance(&self) {
        if let Some(bar) = &*lock(&self.progress.bar) {
            bar.inc(1);
        }
        let mut plain = lock(&self.progress.plain);
        if let Some((done, total, last)) = plain.as_mut() {
            *done += 1;
            if last.elapsed() >= PLAIN_EVERY && *done < *total {
                *last = Instant::now();
                let label = self.progress.label.as_deref().unwrap_or_default();
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{label}: {done} of {total} migrations verified");
                let _ = stdout.flush();
            }
        }
    }

    /// The chain is done with the server: its bar goes.
    pub fn finish_progress(&self) {
        if let Some(bar) = lock(&self.progress.bar).take() {
            bar.finish_and_clear();
        }
        lock(&self.progress.plain).take();
    }

    pub fn color(&self) -> bool {
        self.color
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Pad migration ids to the longest of these (within limits) so that columns line up.
    /// Optional: without it ids are padded to a fixed minimum width.
    pub fn align<I, S>(&self, ids: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let longest = ids
            .into_iter()
            .map(|id| id.as_ref().chars().count())
            .max()
            .unwrap_or(0);
        self.label_width.store(
            longest.clamp(MIN_LABEL_WIDTH, MAX_LABEL_WIDTH),
            Ordering::Relaxed,
        );
    }

    /// `migcheck verify migrations/ (golang-migrate, 12 migrations)`
    pub fn header(&self, path: &str, format: &str, migrations: usize) {
        if self.quiet {
            return;
        }
        let plural = if migrations == 1 { "" } else { "s" };
        self.emit(&format!(
            "{} {} ({}, {migrations} migration{plural})\n",
            self.paint(Style::Bold, "migcheck verify"),
            clean_text(path),
            clean_text(format),
        ));
    }

    /// `semantics: sqlx (detected from Cargo.toml depends on sqlx)`: whose rules apply the files.
    pub fn semantics(&self, format: &str, reason: &str) {
        if self.quiet || reason.is_empty() {
            return;
        }
        self.emit(&format!(
            "{INDENT}semantics: {} ({})\n",
            clean_text(format),
            clean_text(reason)
        ));
    }

    /// `session: SET FOREIGN_KEY_CHECKS = 0`, one line per `--session-sql` statement.
    pub fn session_sql(&self, statements: &[String]) {
        if self.quiet {
            return;
        }
        for sql in statements {
            self.emit(&format!("session: {}\n", one_line(sql)));
        }
    }

    /// `database: local PostgreSQL 15.8 (/usr/lib/postgresql/15/bin) · ready in 612 ms`
    pub fn provisioned(&self, description: &str, startup_ms: u64) {
        if self.quiet {
            return;
        }
        self.emit(&format!(
            "database: {} · ready in {}\n",
            one_line(description),
            duration(startup_ms)
        ));
    }

    /// `sandbox: on: migrations run as …` (url provider).
    pub fn sandbox(&self, description: &str) {
        if self.quiet {
            return;
        }
        self.emit(&format!("sandbox: {}\n", one_line(description)));
    }

    /// A warning that does not change the verdict (e.g. a cleanup that did not finish).
    /// Printed in quiet mode too.
    /// `migcheck verify: 3 chains on one server, 2 at a time`, then one line per chain.
    pub fn chains(&self, names: &[&str], jobs: usize) {
        if self.quiet {
            return;
        }
        let mut out = format!(
            "{}: {} chains on one server, {jobs} at a time\n",
            self.paint(Style::Bold, "migcheck verify"),
            names.len()
        );
        for name in names {
            out.push_str(&format!("{INDENT}{}\n", clean_text(name)));
        }
        out.push('\n');
        self.emit(&out);
    }

    /// The verdict of a run of several chains: each chain's, then the run's.
    pub fn run_verdict(&self, run: &super::Run<'_>, written: &[(&str, &Path)]) {
        let mut out = String::from("\n");
        let width = run
            .reports
            .iter()
            .map(|r| super::Run::name(r).chars().count())
            .max()
            .unwrap_or(0);
        for r in run.reports {
            let c = r.counts();
            let (mark, verdict) = match r.verdict {
                Verdict::Pass => (
                    self.paint(Style::Green, "✓"),
                    self.paint(Style::Green, "PASS"),
                ),
                Verdict::Fail => (self.paint(Style::Red, "✗"), self.paint(Style::Red, "FAIL")),
            };
            out.push_str(&format!(
                "{mark} {:width$}  {verdict} (exit {}) · {} checks, {} failed · {}\n",
                clean_text(super::Run::name(r)),
                r.exit_code,
                c.total(),
                c.failed,
                duration(r.duration_ms),
            ));
        }
        let failed = run
            .reports
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .count();
        out.push_str(&format!(
            "{} chains: {} passed, {failed} failed · {} total\n",
            run.reports.len(),
            run.reports.len() - failed,
            duration(run.duration_ms)
        ));
        for (label, path) in written {
            out.push_str(&format!(
                "{}: {}\n",
                clean_text(label),
                clean_text(&path.display().to_string())
            ));
        }
        out.push_str(&match run.verdict() {
            Verdict::Pass => self.paint(Style::BoldGreen, "PASS"),
            Verdict::Fail => self.paint(Style::BoldRed, "FAIL"),
        });
        out.push('\n');
        self.emit(&out);
    }

    pub fn warning(&self, message: &str) {
        let text = clean_text(message);
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        let mut out = format!("{} {first}\n", self.paint(Style::Yellow, "warning:"));
        for line in lines {
            out.push_str(&format!("{INDENT}{line}\n"));
        }
        self.emit(&out);
    }

    /// The chain check; on failure each problem (one per line of `detail`) is listed.
    pub fn chain(&self, check: &CheckReport) {
        self.check_line("chain", check);
    }

    /// Any check that is not about one migration's upgrade (e.g. a full roundtrip).
    pub fn check(&self, check: &CheckReport) {
        let label = match &check.migration {
            Some(id) => format!("{} {}", check.name, id),
            None => check.name.clone(),
        };
        self.check_line(&label, check);
    }

    /// One line per migration: its upgrade and, when run, its roundtrip; failure details below.
    ///
    /// `✓ 0003_add_index        applied 12 ms · reverted 8 ms · re-applied 11 ms`
    pub fn migration(&self, upgrade: &CheckReport, roundtrip: Option<&CheckReport>) {
        self.advance();
        let checks: Vec<&CheckReport> = std::iter::once(upgrade).chain(roundtrip).collect();
        let status = worst(checks.iter().map(|c| c.status));
        if self.quiet && status != Status::Fail {
            return;
        }
        let id = upgrade
            .migration
            .as_deref()
            .or_else(|| roundtrip.and_then(|r| r.migration.as_deref()))
            .unwrap_or(upgrade.name.as_str());

        let mut segments = vec![self.upgrade_segment(upgrade)];
        if let Some(rt) = roundtrip {
            // A roundtrip skipped for the same reason as its upgrade adds nothing.
            let redundant = upgrade.status == Status::Skip && rt.status == Status::Skip;
            if !redundant {
                segments.extend(self.roundtrip_segments(rt));
            }
        }
        let mut out = format!(
            "{} {}  {}\n",
            self.mark(status),
            self.pad(&one_line(id)),
            segments.join(" · ")
        );
        for check in &checks {
            if check.status == Status::Fail {
                out.push_str(&self.failure_details(check, true));
            } else if !self.quiet {
                out.push_str(&self.notes(check));
            }
        }
        self.emit(&out);
    }

    /// The summary: counts, where the time went, the reports written, and PASS or FAIL.
    /// `written` lists reports that were written, e.g. `[("JSON report", path)]`.
    pub fn verdict(&self, report: &Report, written: &[(&str, &Path)]) {
        let c = report.counts();
        let mut out = String::from("\n");
        let failed = format!("{} failed", c.failed);
        let failed = if c.failed > 0 {
            self.paint(Style::Red, &failed)
        } else {
            failed
        };
        let skipped = format!("{} skipped", c.skipped);
        let skipped = if c.skipped > 0 {
            self.paint(Style::Yellow, &skipped)
        } else {
            skipped
        };
        let plural = if c.total() == 1 { "" } else { "s" };
        out.push_str(&format!(
            "{} check{plural}: {} passed, {failed}, {skipped}\n",
            c.total(),
            c.passed
        ));
        if let Some(fail_on) = &report.options.fail_on {
            let count = |sev: &str| report.findings.iter().filter(|f| f.severity == sev).count();
            out.push_str(&format!(
                "lint: {} error(s), {} warning(s), {} info (fails at {fail_on})\n",
                count("error"),
                count("warning"),
                count("info")
            ));
        }

        let t = &report.timings;
        let total = if t.total_ms > 0 {
            t.total_ms
        } else {
            report.duration_ms
        };
        let main = time_split(
            total,
            &[
                ("chain", t.chain_ms),
                ("history", t.history_ms),
                ("server start", t.server_start_ms),
                ("databases", t.databases_ms),
                ("migrations", t.migrations_ms),
                ("observation", t.observation_ms),
                ("snapshots", t.snapshots_ms),
                ("compare", t.compare_ms),
                ("replay", t.replay_ms),
                ("lint", t.lint_ms),
                ("teardown", t.teardown_ms),
                ("waiting for the second database", t.parallel_ms),
                ("other", t.other_ms),
            ],
        );
        out.push_str(&format!("time: {main}\n"));
        if let Some(second) = &t.second_database {
            let split = time_split(
                second.total_ms,
                &[
                    ("databases", second.databases_ms),
                    ("catching up", second.catch_up_ms),
                    ("migrations", second.migrations_ms),
                    ("observation", second.observation_ms),
                    ("snapshots", second.snapshots_ms),
                    ("compare", second.compare_ms),
                    ("replay", second.replay_ms),
                    ("other", second.other_ms),
                ],
            );
            out.push_str(&format!(
                "  at the same time, from {} on a second database: {split}\n",
                clean_text(&second.from_migration),
            ));
        }

        for (label, path) in written {
            out.push_str(&format!(
                "{}: {}\n",
                clean_text(label),
                clean_text(&path.display().to_string())
            ));
        }
        out.push_str(&match report.verdict {
            Verdict::Pass => self.paint(Style::BoldGreen, "PASS"),
            Verdict::Fail => self.paint(Style::BoldRed, "FAIL"),
        });
        out.push('\n');
        self.emit(&out);
    }

    // -----------------------------------------------------------------------------------------

    fn check_line(&self, label: &str, check: &CheckReport) {
        if self.quiet && check.status != Status::Fail {
            return;
        }
        let message = one_line(&check.message);
        let summary = match check.status {
            Status::Pass => format!("{message} {}", self.dim_duration(check.duration_ms)),
            Status::Fail => format!(
                "{} {}",
                self.paint(Style::Red, &message),
                self.dim_duration(check.duration_ms)
            ),
            Status::Skip => format!("{message} {}", self.paint(Style::Yellow, "(skipped)")),
        };
        let mut out = format!(
            "{} {}  {}\n",
            self.mark(check.status),
            self.pad(&one_line(label)),
            summary.trim_start()
        );
        match check.status {
            Status::Fail => out.push_str(&self.failure_details(check, false)),
            Status::Pass | Status::Skip => {
                // Warnings that did not fail the check (e.g. a missing down without
                // --require-down) come in `detail`.
                if let Some(detail) = check.detail.as_deref() {
                    for line in clean_text(detail).lines().filter(|l| !l.trim().is_empty()) {
                        out.push_str(&format!("{INDENT}{line}\n"));
                    }
                }
                out.push_str(&self.notes(check));
            }
        }
        self.emit(&out);
    }

    fn upgrade_segment(&self, upgrade: &CheckReport) -> String {
        match upgrade.status {
            Status::Pass => format!("applied {}", duration(upgrade.duration_ms)),
            Status::Fail => self.paint(
                Style::Red,
                &format!("apply failed ({})", duration(upgrade.duration_ms)),
            ),
            Status::Skip => self.skip_text(&upgrade.message),
        }
    }

    fn roundtrip_segments(&self, rt: &CheckReport) -> Vec<String> {
        if rt.phases.is_empty() {
            return vec![match rt.status {
                Status::Pass => format!("roundtrip {}", duration(rt.duration_ms)),
                Status::Fail => self.paint(
                    Style::Red,
                    &format!("roundtrip failed ({})", duration(rt.duration_ms)),
                ),
                Status::Skip => self.skip_text(&rt.message),
            }];
        }
        rt.phases.iter().map(|p| self.phase_segment(p)).collect()
    }

    fn phase_segment(&self, phase: &Phase) -> String {
        let (done, verb) = match phase.name.as_str() {
            "down" => ("reverted", "down"),
            "reapply" => ("re-applied", "re-apply"),
            "up" => ("applied", "up"),
            other => (other, other),
        };
        let verb = one_line(verb);
        match phase.status {
            Status::Pass => format!("{} {}", one_line(done), duration(phase.duration_ms)),
            // The step ran, but left another schema than expected.
            Status::Fail if phase.schema_differs => self.paint(
                Style::Red,
                &format!(
                    "{} {} (schema differs)",
                    one_line(done),
                    duration(phase.duration_ms)
                ),
            ),
            Status::Fail => self.paint(
                Style::Red,
                &format!("{verb} failed ({})", duration(phase.duration_ms)),
            ),
            Status::Skip => self.paint(Style::Dim, &format!("{verb} skipped")),
        }
    }

    /// `no down: not reversible (skipped)`
    fn skip_text(&self, message: &str) -> String {
        let message = one_line(message);
        let tag = self.paint(Style::Yellow, "(skipped)");
        if message.is_empty() {
            tag
        } else {
            format!("{message} {tag}")
        }
    }

    /// Indented block under a failed line: message, location, detail, objects, diff, notes.
    fn failure_details(&self, check: &CheckReport, with_message: bool) -> String {
        let mut out = String::new();
        if with_message {
            let message = clean_text(&check.message);
            let mut lines = message.lines().filter(|l| !l.trim().is_empty());
            if let Some(first) = lines.next() {
                out.push_str(&format!(
                    "{INDENT}{}: {first}\n",
                    self.paint(Style::Bold, &one_line(&check.name))
                ));
                for line in lines {
                    out.push_str(&format!("{INDENT}{line}\n"));
                }
            }
        }
        let detail = check.detail.as_deref().map(clean_text).unwrap_or_default();
        if let Some(file) = check.file.as_deref().map(clean_text) {
            // Chain problems already carry their own file:line in the detail.
            if !detail.contains(file.as_str()) {
                let location = match check.line {
                    Some(line) => format!("at {file}:{line}"),
                    None => format!("at {file}"),
                };
                out.push_str(&format!("{INDENT}{}\n", self.paint(Style::Dim, &location)));
            }
        }
        for line in detail.lines().filter(|l| !l.trim().is_empty()) {
            out.push_str(&format!("{INDENT}{line}\n"));
        }
        for object in &check.objects {
            out.push_str(&format!("{INDENT}differs: {}\n", one_line(object)));
        }
        if let Some(diff) = check.diff.as_deref() {
            for line in clean_text(diff).lines() {
                out.push_str(&format!("{INDENT}{}\n", self.diff_line(line)));
            }
        }
        out.push_str(&self.notes(check));
        out
    }

    /// One lint finding, compiler style:
    ///
    /// ```text
    /// migrations/0042_x.up.sql:3:5: warning[create-index-non-concurrently]: index `i` is ...
    ///     CREATE INDEX i ON t (a)
    ///     = help: `CREATE INDEX CONCURRENTLY` in a migration that runs outside a transaction
    /// ```
    pub fn finding(&self, f: &Finding) {
        let mut loc = one_line(&f.file);
        if let Some(line) = f.line {
            loc.push_str(&format!(":{line}"));
            if let Some(col) = f.column {
                loc.push_str(&format!(":{col}"));
            }
        }
        let style = match f.severity.as_str() {
            "error" => Style::BoldRed,
            "warning" => Style::Yellow,
            _ => Style::Cyan,
        };
        let label = format!("{}[{}]", one_line(&f.severity), one_line(&f.rule));
        let mut out = format!(
            "{}: {}: {}\n",
            self.paint(Style::Bold, &loc),
            self.paint(style, &label),
            one_line(&f.message)
        );
        if let Some(stmt) = f
            .statement
            .as_deref()
            .map(one_line)
            .filter(|s| !s.is_empty())
        {
            out.push_str(&format!("{INDENT}{}\n", self.paint(Style::Dim, &stmt)));
        }
        if let Some(help) = f.help.as_deref().map(one_line).filter(|s| !s.is_empty()) {
            out.push_str(&format!(
                "{INDENT}= {} {help}\n",
                self.paint(Style::Bold, "help:")
            ));
        }
        if let Some(diff) = &f.diff {
            for line in clean_text(diff).lines() {
                out.push_str(&format!("{INDENT}{}\n", self.diff_line(line)));
            }
        }
        self.emit(&out);
    }

    /// `base: origin/main (GITHUB_BASE_REF) at 1a2b3c4d, forked at 5e6f7a8b · 2 new, 1 modified`
    pub fn base(&self, history: &super::HistoryReport) {
        if self.quiet {
            return;
        }
        let short = |c: &str| c.chars().take(12).collect::<String>();
        let fork = if history.merge_base == history.base_commit {
            String::new()
        } else {
            format!(", forked at {}", short(&history.merge_base))
        };
        self.emit(&format!(
            "base: {} ({}) at {}{fork} · {} new, {} modified since\n",
            one_line(&history.base),
            one_line(&history.source),
            short(&history.base_commit),
            history.new.len(),
            history.modified.len()
        ));
        for note in &history.notes {
            self.emit(&format!("{INDENT}note: {}\n", one_line(note)));
        }
    }

    /// `evidence: DIR · manifest sha256 …` (printed in quiet mode too: it belongs in the log).
    pub fn evidence(&self, dir: &str, digest: &str) {
        self.emit(&format!(
            "evidence: {} · manifest sha256 {digest}\n",
            one_line(dir)
        ));
    }

    /// How many findings were on migrations the base already had (not printed one by one).
    pub fn baseline(&self, count: usize, base: &str) {
        if self.quiet || count == 0 {
            return;
        }
        let plural = if count == 1 { "" } else { "s" };
        self.emit(&format!(
            "baseline: {count} finding{plural} on migrations that already exist at {} (listed in \
             the reports, not failing the gate)\n",
            one_line(base)
        ));
    }

    /// The end of a lint run: counts per severity, reports written, PASS or FAIL.
    pub fn lint_summary(
        &self,
        findings: &[Finding],
        scripts: usize,
        fail_on: &str,
        failed: bool,
        written: &[(&str, &Path)],
    ) {
        let count = |sev: &str| findings.iter().filter(|f| f.severity == sev).count();
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        let (e, w, i) = (count("error"), count("warning"), count("info"));
        let mut out = String::new();
        if !findings.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "lint: {}, {}, {} in {}\n",
            plural(e, "error"),
            plural(w, "warning"),
            i.to_string() + " info",
            plural(scripts, "script")
        ));
        for (label, path) in written {
            out.push_str(&format!(
                "{}: {}\n",
                clean_text(label),
                clean_text(&path.display().to_string())
            ));
        }
        out.push_str(&if failed {
            format!(
                "{} (findings at or above {})\n",
                self.paint(Style::BoldRed, "FAIL"),
                one_line(fail_on)
            )
        } else {
            format!("{}\n", self.paint(Style::BoldGreen, "PASS"))
        });
        self.emit(&out);
    }

    fn notes(&self, check: &CheckReport) -> String {
        check
            .notes
            .iter()
            .map(|n| {
                format!(
                    "{INDENT}{}\n",
                    self.paint(Style::Dim, &format!("note: {}", one_line(n)))
                )
            })
            .collect()
    }

    fn diff_line(&self, line: &str) -> String {
        if line.starts_with("+++") || line.starts_with("---") {
            self.paint(Style::Bold, line)
        } else if line.starts_with('+') {
            self.paint(Style::Green, line)
        } else if line.starts_with('-') {
            self.paint(Style::Red, line)
        } else if line.starts_with("@@") {
            self.paint(Style::Cyan, line)
        } else {
            line.to_string()
        }
    }

    fn mark(&self, status: Status) -> String {
        match status {
            Status::Pass => self.paint(Style::Green, "✓"),
            Status::Fail => self.paint(Style::Red, "✗"),
            Status::Skip => self.paint(Style::Yellow, "-"),
        }
    }

    fn pad(&self, label: &str) -> String {
        let width = self.label_width.load(Ordering::Relaxed);
        format!("{label:<width$}")
    }

    fn dim_duration(&self, ms: u64) -> String {
        self.paint(Style::Dim, &format!("({})", duration(ms)))
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\u{1b}[{}m{text}\u{1b}[0m", style.code())
        } else {
            text.to_string()
        }
    }

    /// Write a block and flush, so that progress shows while the run goes on.
    fn emit(&self, text: &str) {
        let write = || {
            let mut out = lock(&self.out);
            // Ignored on purpose: see the module documentation.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        };
        // A bar on the terminal steps aside while the line is written.
        let bar = lock(&self.progress.bar).clone();
        match bar {
            Some(bar) if self.progress.multi.is_none() => bar.suspend(write),
            _ => write(),
        }
    }
}

/// `1.2 s total · migrations 800 ms · …`: the total, then every bucket that took any time.
fn time_split(total_ms: u64, buckets: &[(&str, u64)]) -> String {
    let mut parts = vec![format!("{} total", duration(total_ms))];
    for (label, ms) in buckets {
        if *ms > 0 {
            parts.push(format!("{label} {}", duration(*ms)));
        }
    }
    parts.join(" · ")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fail beats skip beats pass.
fn worst(statuses: impl Iterator<Item = Status>) -> Status {
    statuses.fold(Status::Pass, |acc, s| match (acc, s) {
        (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
        (Status::Skip, _) | (_, Status::Skip) => Status::Skip,
        _ => Status::Pass,
    })
}

/// Cleaned text on one line.
fn one_line(s: &str) -> String {
    clean_text(s)
        .split(['\n', '\t'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `612 ms`, `1.20 s`, `2 min 05 s`.
fn duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{}.{:02} s", ms / 1_000, (ms % 1_000) / 10)
    } else {
        let secs = ms / 1_000;
        format!("{} min {:02} s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples;
    use std::sync::Arc;

    /// A writer the test can read back after the printer wrote into it.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn printer(color: bool, quiet: bool) -> (Printer, Buf) {
        let buf = Buf::default();
        (
            Printer::with_writer(Box::new(buf.clone()), color, quiet),
            buf,
        )
    }

    fn find<'a>(r: &'a Report, name: &str, id: &str) -> &'a CheckReport {
        r.checks
            .iter()
            .find(|c| c.name == name && c.migration.as_deref() == Some(id))
            .unwrap()
    }

    /// Print a whole report the way the pipeline does.
    fn run(r: &Report, p: &Printer) {
        p.header(&r.path, &r.format, r.migrations.len());
        if let Some(provider) = &r.provider {
            p.provisioned(&provider.description, provider.startup_ms);
        }
        for c in r.checks.iter().filter(|c| c.name == "chain") {
            p.chain(c);
        }
        for m in &r.migrations {
            let up = r
                .checks
                .iter()
                .find(|c| c.name == "upgrade" && c.migration.as_deref() == Some(&m.id));
            let rt = r
                .checks
                .iter()
                .find(|c| c.name == "roundtrip" && c.migration.as_deref() == Some(&m.id));
            if let Some(up) = up {
                p.migration(up, rt);
            }
        }
        p.verdict(r, &[("JSON report", Path::new("out/migcheck.json"))]);
    }

    #[test]
    fn color_decision() {
        let empty = OsStr::new("");
        let set = OsStr::new("1");
        assert!(use_color(ColorChoice::Auto, true, None));
        assert!(use_color(ColorChoice::Auto, true, Some(empty)));
        assert!(!use_color(ColorChoice::Auto, true, Some(set)));
        assert!(!use_color(ColorChoice::Auto, false, None));
        assert!(use_color(ColorChoice::Always, false, Some(set)));
        assert!(!use_color(ColorChoice::Never, true, None));
    }

    #[test]
    fn passing_run_plain() {
        let (p, buf) = printer(false, false);
        let r = samples::passing();
        p.align(r.migrations.iter().map(|m| m.id.as_str()));
        run(&r, &p);
        let expected = "\
migcheck verify migrations/ (golang-migrate, 3 migrations)
database: local PostgreSQL 15.8 (/usr/lib/postgresql/15/bin) · ready in 612 ms
✓ chain                 3 migrations, no problems (3 ms)
✓ 0001_create_users     applied 12 ms · reverted 8 ms · re-applied 11 ms
✓ 0002_add_email        applied 9 ms · reverted 8 ms · re-applied 11 ms
    note: column order of public.users differs after re-apply (cosmetic)
- 0003_seed             applied 4 ms · no down: not reversible (skipped)

7 checks: 6 passed, 0 failed, 1 skipped
time: 2.31 s total · chain 3 ms · server start 612 ms · migrations 1.20 s · snapshots 310 ms · teardown 40 ms
JSON report: out/migcheck.json
PASS
";
        assert_eq!(buf.text(), expected);
    }

    #[test]
    fn failing_migration_plain_details() {
        let (p, buf) = printer(false, false);
        let r = samples::failing();
        let id = "0002_add_email";
        p.migration(find(&r, "upgrade", id), Some(find(&r, "roundtrip", id)));
        let out = buf.text();
        let expected = "\
✗ 0002_add_email        applied 9 ms · down failed (8 ms) · re-apply skipped
    roundtrip: down did not restore the schema: 1 object differs
    at migrations/0002_add_email.down.sql:1
    differs: table public.users > index users_email_idx
    --- before up
    +++ after down
    @@ -3,2 +3,3 @@
       column email text
    +  index users_email_idx ON users (lower(email)) WHERE email <> '' AND a < b & c > d
    -  check \"xy\"
    note: column order of public.users differs after re-apply (cosmetic)
";
        assert_eq!(out, expected);
    }

    #[test]
    fn failing_migration_colored() {
        let (p, buf) = printer(true, false);
        let r = samples::failing();
        let id = "0002_add_email";
        p.migration(find(&r, "upgrade", id), Some(find(&r, "roundtrip", id)));
        let out = buf.text();
        assert!(
            out.starts_with("\u{1b}[31m✗\u{1b}[0m 0002_add_email"),
            "{out:?}"
        );
        assert!(out.contains(
            "    \u{1b}[32m+  index users_email_idx ON users (lower(email)) WHERE email <> '' AND a < b & c > d\u{1b}[0m\n"
        ), "{out:?}");
        assert!(
            out.contains("    \u{1b}[31m-  check \"xy\"\u{1b}[0m\n"),
            "{out:?}"
        );
        assert!(out.contains("\u{1b}[2mnote: column order"), "{out:?}");
        assert!(
            out.contains("\u{1b}[31mdown failed (8 ms)\u{1b}[0m"),
            "{out:?}"
        );
        // The input's own colour codes and control character are gone: every ESC is ours.
        assert!(!out.contains('\u{1}'));
        assert!(!out.contains("\u{1b}[32m\u{1b}[32m"));
    }

    #[test]
    fn no_escape_codes_without_color() {
        let (p, buf) = printer(false, false);
        run(&samples::failing(), &p);
        let out = buf.text();
        assert!(!out.contains('\u{1b}'), "{out:?}");
        assert!(out.ends_with("FAIL\n"));
    }

    #[test]
    fn verdict_colored() {
        let (p, buf) = printer(true, false);
        p.verdict(&samples::failing(), &[]);
        let out = buf.text();
        assert!(out.ends_with("\u{1b}[1;31mFAIL\u{1b}[0m\n"), "{out:?}");
        assert!(out.contains("\u{1b}[31m1 failed\u{1b}[0m"), "{out:?}");
        let (p, buf) = printer(true, false);
        p.verdict(&samples::passing(), &[]);
        assert!(buf.text().ends_with("\u{1b}[1;32mPASS\u{1b}[0m\n"));
    }

    #[test]
    fn quiet_prints_only_failures_and_verdict() {
        let (p, buf) = printer(false, true);
        run(&samples::failing(), &p);
        let out = buf.text();
        let expected_start =
            "✗ 0002_add_email        applied 9 ms · down failed (8 ms) · re-apply skipped\n";
        assert!(out.starts_with(expected_start), "{out}");
        assert!(!out.contains("migcheck verify"));
        assert!(!out.contains("database:"));
        assert!(!out.contains("0001_create_users"));
        assert!(!out.contains("0003_seed"));
        assert!(
            out.contains("6 checks: 4 passed, 1 failed, 1 skipped\n"),
            "{out}"
        );
        assert!(out.ends_with("FAIL\n"));

        let (p, buf) = printer(false, true);
        run(&samples::passing(), &p);
        assert!(buf.text().starts_with("\n7 checks:"), "{}", buf.text());
    }

    #[test]
    fn chain_failure_lists_problems() {
        let (p, buf) = printer(false, false);
        let r = samples::chain_failure();
        p.chain(&r.checks[0]);
        p.verdict(&r, &[]);
        let expected = "\
✗ chain                 2 problems in the migration chain (2 ms)
    migrations/0002_b.up.sql: duplicate-version: version 2 is also used by migrations/0002_a.up.sql
    migrations/0004_x.down.sql: orphan-down: no matching up file

1 check: 0 passed, 1 failed, 0 skipped
time: 2 ms total · chain 2 ms
FAIL
";
        assert_eq!(buf.text(), expected);
    }

    #[test]
    fn other_checks_and_location() {
        let (p, buf) = printer(false, false);
        let mut c = samples::check(
            "roundtrip",
            None,
            Status::Fail,
            1500,
            "full roundtrip: schema differs after all downs",
        );
        c.file = Some("migrations/0001_a.down.sql".into());
        c.line = Some(7);
        c.detail = Some("ERROR: table \"x\" does not exist\u{1b}[0m".into());
        p.check(&c);
        let skip = samples::check(
            "roundtrip",
            None,
            Status::Skip,
            0,
            "full roundtrip needs every down",
        );
        p.check(&skip);
        let expected = "\
✗ roundtrip             full roundtrip: schema differs after all downs (1.50 s)
    at migrations/0001_a.down.sql:7
    ERROR: table \"x\" does not exist
- roundtrip             full roundtrip needs every down (skipped)
";
        assert_eq!(buf.text(), expected);
    }

    #[test]
    fn passwords_never_printed() {
        let (p, buf) = printer(false, false);
        p.provisioned("server postgres://u:pw@h/db (url)", 5);
        let mut c = samples::check(
            "upgrade",
            Some("0001_a"),
            Status::Fail,
            3,
            "could not connect to postgres://u:pw@h/db",
        );
        c.detail = Some("conninfo: host=h user=u password=pw dbname=db".into());
        p.migration(&c, None);
        p.warning("cleanup of mysql://root:pw@h:3306/x failed");
        let out = buf.text();
        assert!(
            out.starts_with("database: server postgres://u:***@h/db (url) · ready in 5 ms\n"),
            "{out}"
        );
        assert!(
            !out.contains(":pw@") && !out.contains("password=pw"),
            "{out}"
        );
        assert!(out.contains("password=***"), "{out}");
    }

    #[test]
    fn upgrade_failure_and_skipped_migration() {
        let (p, buf) = printer(false, false);
        let mut up = samples::check(
            "upgrade",
            Some("0004_bad"),
            Status::Fail,
            3,
            "ERROR: syntax error at or near \"TABEL\"",
        );
        up.file = Some("migrations/0004_bad.up.sql".into());
        up.line = Some(2);
        let rt = samples::check(
            "roundtrip",
            Some("0004_bad"),
            Status::Skip,
            0,
            "not run: upgrade failed",
        );
        p.migration(&up, Some(&rt));
        let up5 = samples::check(
            "upgrade",
            Some("0005_next"),
            Status::Skip,
            0,
            "not applied: an earlier migration failed",
        );
        let rt5 = samples::check(
            "roundtrip",
            Some("0005_next"),
            Status::Skip,
            0,
            "not applied: an earlier migration failed",
        );
        p.migration(&up5, Some(&rt5));
        let expected = "\
✗ 0004_bad              apply failed (3 ms) · not run: upgrade failed (skipped)
    upgrade: ERROR: syntax error at or near \"TABEL\"
    at migrations/0004_bad.up.sql:2
- 0005_next             not applied: an earlier migration failed (skipped)
";
        assert_eq!(buf.text(), expected);
    }

    #[test]
    fn finding_compiler_style() {
        let (p, buf) = printer(false, false);
        let f = Finding {
            rule: "drop-table".into(),
            severity: "error".into(),
            file: "migrations/0002_x.up.sql".into(),
            line: Some(3),
            column: Some(12),
            message: "table `users` is dropped: its data is lost".into(),
            statement: Some("DROP TABLE users\u{1b}[31m".into()),
            help: Some("expand/contract".into()),
            migration: Some("0002_x".into()),
            ..Default::default()
        };
        p.finding(&f);
        p.lint_summary(&[f], 2, "error", true, &[]);
        assert_eq!(
            buf.text(),
            "migrations/0002_x.up.sql:3:12: error[drop-table]: table `users` is dropped: its data is lost\n    DROP TABLE users\n    = help: expand/contract\n\nlint: 1 error, 0 warnings, 0 info in 2 scripts\nFAIL (findings at or above error)\n"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0 ms");
        assert_eq!(duration(999), "999 ms");
        assert_eq!(duration(1_000), "1.00 s");
        assert_eq!(duration(2_314), "2.31 s");
        assert_eq!(duration(125_000), "2 min 05 s");
    }

    #[test]
    fn header_singular_and_alignment() {
        let (p, buf) = printer(false, false);
        p.header("db/", "dbmate", 1);
        p.align(["a_very_long_migration_identifier_0001"]);
        let up = samples::check("upgrade", Some("x"), Status::Pass, 1, "applied");
        p.migration(&up, None);
        assert_eq!(
            buf.text(),
            format!(
                "migcheck verify db/ (dbmate, 1 migration)\n✓ {:<37}  applied 1 ms\n",
                "x"
            )
        );
    }

    #[test]
    fn write_errors_are_ignored() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            }
        }
        let p = Printer::with_writer(Box::new(Broken), true, false);
        run(&samples::failing(), &p);
    }
}
