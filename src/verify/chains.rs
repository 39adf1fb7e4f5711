//! A verify run: one chain, or several (a monorepo's `services/*/migrations`, or the
//! `[[chain]]` entries of migcheck.toml) on one server, each chain in its own throwaway
//! database, several at once. This file owns what the chains share: the server, the signal
//! guard and the clean-up, the reports of the whole run and its exit code.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use indicatif::MultiProgress;

use super::{conclude, ms, new_report, now_rfc3339, verify, write_evidence};
use crate::chain::targets::{self, Target};
use crate::cli::{ColorChoice, VerifyArgs};
use crate::error::{exit, Error, Result};
use crate::provision::{self, cleanup, ProvisionOptions, Server};
use crate::redact::SecretUrl;
use crate::report::terminal::{use_color, Held, Printer};
use crate::report::{self, Report};

/// The server every chain of the run uses, started by the first chain that needs one (a run
/// whose chains all stop before a database is needed starts none).
pub(super) struct SharedServer {
    options: ProvisionOptions,
    state: tokio::sync::Mutex<ServerState>,
    /// One chain at a time on a machine of several cores: a long chain may use a second
    /// database at the same time (`split.rs`).
    spare_core: bool,
}

enum ServerState {
    NotStarted,
    Ready(Arc<dyn Server>),
    /// It could not be had: the first chain got the error, the others its text (one attempt,
    /// not one per chain).
    Failed {
        message: String,
        usage: bool,
    },
}

impl SharedServer {
    fn new(options: ProvisionOptions, spare_core: bool) -> Self {
        SharedServer {
            options,
            state: tokio::sync::Mutex::new(ServerState::NotStarted),
            spare_core,
        }
    }

    pub(super) fn spare_core(&self) -> bool {
        self.spare_core
    }

    pub(super) async fn server(&self) -> Result<Arc<dyn Server>> {
        let mut state = self.state.lock().await;
        match &*state {
            ServerState::Ready(server) => return Ok(server.clone()),
            ServerState::Failed { message, usage } => {
                return Err(if *usage {
                    Error::Usage(message.clone())
                } else {
                    Error::environment(message.clone(), None)
                })
            }
            ServerState::NotStarted => {}
        }
        match provision::provision(&self.options).await {
            Ok(server) => {
                let server: Arc<dyn Server> = Arc::from(server);
                *state = ServerState::Ready(server.clone());
                Ok(server)
            }
            Err(e) => {
                *state = ServerState::Failed {
                    message: e.to_string(),
                    usage: e.exit_code() == exit::BAD_INPUT,
                };
                Err(e)
            }
        }
    }

    /// Stop the server if one was started; the time it took.
    async fn shutdown(&self) -> Result<u64> {
        let state = self.state.lock().await;
        let ServerState::Ready(server) = &*state else {
            return Ok(0);
        };
        let phase = Instant::now();
        server.shutdown().await?;
        Ok(ms(phase.elapsed()))
    }
}

/// `migcheck verify PATH...`: every chain, then the reports of the run and its exit code.
pub async fn run(args: VerifyArgs, color: ColorChoice) -> Result<u8> {
    let targets = targets::resolve(&args.paths, args.rules.config.as_deref())?;
    check_outputs(&args, targets.len())?;
    let started = Instant::now();
    let started_at = now_rfc3339();
    let several = targets.len() > 1;
    let chains: Vec<VerifyArgs> = targets
        .iter()
        .map(|t| chain_args(&args, t, several))
        .collect();
    let mut reports: Vec<Report> = chains
        .iter()
        .zip(&targets)
        .map(|(a, t)| new_report(a, &started_at, several.then(|| t.name.clone())))
        .collect();
    let jobs = jobs(args.jobs, chains.len());
    let printer = Printer::new(color, args.quiet);
    // Chains run at once print into their own buffer, shown whole when the chain ends.
    let buffered = jobs > 1;
    // Their bars share the terminal (stderr) when it is one.
    let bars = {
        use std::io::IsTerminal;
        (buffered && std::io::stderr().is_terminal()).then(MultiProgress::new)
    };
    let printers: Vec<ChainPrinter> = targets
        .iter()
        .map(|t| ChainPrinter::new(color, args.quiet, buffered.then(|| (bars.clone(), &t.name))))
        .collect();
    if several {
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        printer.chains(&names, jobs);
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shared = SharedServer::new(provision_options(&args), jobs == 1 && cpus >= 2);
    let mut outcomes: Vec<Option<Result<()>>> = chains.iter().map(|_| None).collect();
    let guarded = cleanup::run_guarded(async {
        let shared = &shared;
        sweep_leftovers(&args, &printer).await;
        stream::iter(
            chains
                .iter()
                .zip(reports.iter_mut())
                .zip(outcomes.iter_mut())
                .zip(&printers),
        )
        .map(|(((chain, report), outcome), out)| async move {
            let started = Instant::now();
            let (result, split) =
                crate::timing::measure(verify(chain, &out.printer, report, shared)).await;
            report.duration_ms = ms(started.elapsed());
            report.timings.set_split(&split);
            *outcome = Some(result);
            out.flush();
        })
        .buffer_unordered(jobs)
        .collect::<Vec<()>>()
        .await;
        shared.shutdown().await
    })
    .await;
    // Whatever happened above, nothing migcheck created may outlive the run.
    cleanup::cleanup_all().await;
    for out in &printers {
        out.flush(); // what a chain printed before a signal ended it
    }

    let mut results = Vec::new();
    for (report, outcome) in reports.iter_mut().zip(&mut outcomes) {
        let result = match (outcome.take(), &guarded) {
            (_, Err(Error::Interrupted(signal))) => Err(Error::Interrupted(signal)),
            (Some(result), Ok(teardown_ms)) => {
                report.timings.teardown_ms += teardown_ms;
                result
            }
            // The server would not stop: the environment failed (exit 3), as for one chain.
            (Some(result), Err(e)) => result.and(Err(Error::environment(e.to_string(), None))),
            (None, Err(e)) => Err(Error::environment(e.to_string(), None)),
            (None, Ok(_)) => Err(Error::environment("the chain did not run to its end", None)),
        };
        if !several {
            report.duration_ms = ms(started.elapsed());
        }
        report.timings.set_total(report.duration_ms);
        conclude(report, &result);
        results.push(result);
    }
    let code = overall_code(reports.iter().map(|r| r.exit_code));
    let run = report::Run {
        reports: &reports,
        exit_code: code,
        started_at: &started_at,
        duration_ms: ms(started.elapsed()),
    };
    if let Some(path) = &args.json {
        report::json::write_run(&run, path)?;
    }
    if let Some(path) = &args.junit {
        report::junit::write_run(&run, path)?;
    }
    args.ci.write_run(&run)?;
    report::github::publish_run(&run);
    let mut digests = Vec::new();
    for (chain, report) in chains.iter().zip(&reports) {
        if let Some(dir) = &chain.evidence {
            digests.push((dir, write_evidence(dir, chain, report)?));
        }
    }
    if !several {
        // One chain: its error is the run's (main prints it and exits with its code).
        if let Some(Err(e)) = results.pop() {
            return Err(e);
        }
    }
    for (report, result) in reports.iter().zip(&results) {
        if let Err(e) = result {
            eprintln!(
                "error: {}: {e}",
                report.chain.as_deref().unwrap_or(&report.path)
            );
        }
    }
    let mut written: Vec<(&str, &Path)> = Vec::new();
    if let Some(p) = &args.json {
        written.push(("JSON report", p));
    }
    if let Some(p) = &args.junit {
        written.push(("JUnit report", p));
    }
    written.extend(args.ci.written());
    if several {
        printer.run_verdict(&run, &written);
    } else {
        printer.verdict(&reports[0], &written);
    }
    for (dir, digest) in digests {
        // Into the CI log: the folder can be checked against it later.
        printer.evidence(&dir.display().to_string(), &digest);
    }
    Ok(code)
}

/// The run's exit code from its chains': an interruption, then a broken environment, then bad
/// input, then a failed gate (a run is only as trustworthy as its least trustworthy chain).
fn overall_code(codes: impl Iterator<Item = u8>) -> u8 {
    let rank = |code: u8| match code {
        exit::PASS => 0,
        exit::GATE_FAILED => 1,
        exit::BAD_INPUT => 2,
        exit::ENVIRONMENT => 3,
        _ => 4, // 129, 130, 143: a signal
    };
    codes.max_by_key(|c| rank(*c)).unwrap_or(exit::PASS)
}

/// Report paths are checked before any work (exit 2 naming the flag); flags that name one
/// schema make no sense for several chains.
fn check_outputs(args: &VerifyArgs, chains: usize) -> Result<()> {
    for (flag, path) in [
        ("--json", &args.json),
        ("--junit", &args.junit),
        ("--snapshot-out", &args.snapshot_out),
    ] {
        if let Some(p) = path {
            report::check_output_path(flag, p)?;
        }
    }
    args.ci.check_paths()?;
    if let Some(dir) = &args.evidence {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Usage(format!(
                "--evidence {}: exists and is not a folder",
                dir.display()
            )));
        }
    }
    if chains > 1 {
        if args.apply_only {
            return Err(Error::Usage(
                "migcheck snapshot writes the schema of one chain: give one folder".to_string(),
            ));
        }
        for (flag, given) in [
            ("--snapshot-out", args.snapshot_out.is_some()),
            ("--expect-snapshot", args.expect_snapshot.is_some()),
        ] {
            if given {
                return Err(Error::Usage(format!(
                    "{flag} names the schema of one chain, and this run has {chains}: give each \
                     chain its own `expect-snapshot` in its [[chain]] entry of migcheck.toml"
                )));
            }
        }
    }
    Ok(())
}

/// One chain's arguments: the run's, with its own folder (its own migcheck.toml is found from
/// there), its `[[chain]]` entry's format and snapshot, and its own evidence subfolder.
fn chain_args(args: &VerifyArgs, target: &Target, several: bool) -> VerifyArgs {
    let mut chain = args.clone();
    chain.path.clone_from(&target.path);
    if target.format.is_some() {
        chain.format = target.format;
    }
    if let Some(expected) = &target.expect_snapshot {
        chain.expect_snapshot = Some(expected.clone());
    }
    if several {
        chain.evidence = args.evidence.as_ref().map(|d| d.join(slug(&target.name)));
    }
    chain
}

/// A folder name for a chain's name: `services/billing/migrations` -> `services-billing-migrations`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches(|c| c == '-' || c == '.').to_string();
    if out.is_empty() {
        "chain".to_string()
    } else {
        out
    }
}

fn jobs(asked: Option<u16>, chains: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    asked.map_or(cpus, usize::from).min(chains.max(1)).max(1)
}

fn provision_options(args: &VerifyArgs) -> ProvisionOptions {
    ProvisionOptions {
        engine: args.engine.engine,
        engine_version: args.engine.version.clone(),
        image: args.image.clone(),
        keep: args.keep,
        provider: args.provider,
        url: args.url.clone().map(SecretUrl::new),
        bin_dir: args.bin_dir.clone(),
        startup_timeout: args.startup_timeout(),
    }
}

/// What killed runs left (their temp dirs; their databases on this --url server) goes first.
async fn sweep_leftovers(args: &VerifyArgs, printer: &Printer) {
    let given: Vec<SecretUrl> = args.url.iter().map(|u| SecretUrl::new(u.clone())).collect();
    let swept = provision::leftovers::sweep(&given, false).await;
    for line in &swept.removed {
        printer.warning(&format!("removed what a killed run left: {line}"));
    }
    for line in swept.failed.iter().chain(&swept.kept) {
        tracing::info!("an earlier run's leftover: {line} (see `migcheck cleanup`)");
    }
}

/// A chain's terminal output: straight to stdout, or into a buffer shown when it ends.
struct ChainPrinter {
    printer: Printer,
    buffer: Option<Held>,
    /// The run's bars on the terminal, which step aside while a chain's block is shown.
    bars: Option<MultiProgress>,
}

impl ChainPrinter {
    /// `buffered`: held back until the chain ends, with its progress under these bars (or as
    /// plain lines), named by the chain.
    fn new(
        color: ColorChoice,
        quiet: bool,
        buffered: Option<(Option<MultiProgress>, &String)>,
    ) -> Self {
        let Some((bars, name)) = buffered else {
            return ChainPrinter {
                printer: Printer::new(color, quiet),
                buffer: None,
                bars: None,
            };
        };
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR");
        let color = use_color(color, std::io::stdout().is_terminal(), no_color.as_deref());
        let buffer = Held::default();
        ChainPrinter {
            printer: Printer::with_writer(Box::new(buffer.clone()), color, quiet)
                .with_progress(bars.clone(), name),
            buffer: Some(buffer),
            bars,
        }
    }

    /// Show what the chain printed so far (a chain's block stays whole).
    fn flush(&self) {
        if let Some(buffer) = &self.buffer {
            let text = buffer.take();
            if !text.is_empty() {
                let show = || {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&text);
                    let _ = out.write_all(b"\n");
                    let _ = out.flush();
                };
                match &self.bars {
                    Some(bars) => bars.suspend(show),
                    None => show(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_trustworthy_chain_decides_the_exit_code() {
        assert_eq!(overall_code([0, 1, 0].into_iter()), 1);
        assert_eq!(overall_code([1, 3, 2].into_iter()), 3);
        assert_eq!(overall_code([2, 1].into_iter()), 2);
        assert_eq!(overall_code([3, 130, 1].into_iter()), 130);
        assert_eq!(overall_code([0, 0].into_iter()), 0);
    }

    #[test]
    fn slugs_are_folder_names() {
        assert_eq!(
            slug("services/billing/migrations"),
            "services-billing-migrations"
        );
        assert_eq!(slug("./a b//c/"), "a-b-c");
        assert_eq!(slug("/"), "chain");
        assert_eq!(slug("v1.2"), "v1.2");
    }
}
