//! A long chain verified on two throwaway databases at once.
//!
//! One verify keeps about one core busy: migcheck waits for the server, the server for
//! migcheck. On a machine with a core to spare (and one chain to verify), step mode splits a
//! long chain in two: this session verifies the first half as usual, while a second session,
//! on a database of its own, applies the first half's ups once (no snapshots, no round trips,
//! not observed; in one run of the tool where the runner has one: `Applier::catch_up`) and
//! then verifies the second half. Measured on two cores with a 400-migration chain: 1.5x
//! faster (README, Performance).
//!
//! The second half's verdicts are kept only when they are the ones a single database would
//! have given: the first half applied to its end without halting, its last schema equals the
//! second database's schema where the second half starts (but for masked properties), and no
//! property whose mask the first half learned differed in a comparison or replay of the second
//! half (with that mask, such a comparison would have been judged otherwise). Otherwise the second
//! database is dropped and the second half runs here, after the first, as without a split.
//! When the second half is kept the chain goes on on the second database, which holds the
//! whole chain.
//!
//! What a split cannot see: a down of the first half that leaves rows or a sequence value
//! behind which make an up of the second half fail (a single database reports that up with a
//! `round-trip-leaves-state` note); the second half starts from a plain run of the ups, as a
//! fresh deployment does.

use super::*;

/// Chains shorter than this run on one database: the second database's set-up and the first
/// half's ups applied there again cost about what they save (measured on two cores, generated
/// chains against `--no-split`: 40 migrations 3% slower, 80 even, 100 12% faster, 150 19%,
/// 400 25%).
pub(super) const MIN_MIGRATIONS: usize = 100;

/// `MIGCHECK_SPLIT=1` (tests, measuring): split from this length on, spare core or not.
pub(super) const FORCED_MIN_MIGRATIONS: usize = 40;

/// Where the second half starts, when this chain is split.
pub(super) fn point(plans: &[Plan<'_>], settings: &Settings<'_>) -> Option<usize> {
    if settings.split_from.is_none_or(|min| plans.len() < min) {
        return None;
    }
    // The second session also starts and applies the first half's ups: a first half a little
    // longer than the second evens them out. `MIGCHECK_SPLIT_SHARE` (per mille) overrides
    // the runner's share, for measuring.
    let share = std::env::var("MIGCHECK_SPLIT_SHARE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|v| (1..1000).contains(v))
        .unwrap_or_else(|| settings.runner.split_first_share());
    Some((plans.len() * share / 1000).max(1))
}

/// Step mode over `plans`, the second half (from `at`) on a second database at the same time.
pub(super) async fn step_mode<'a>(
    session: &mut Session<'a>,
    plans: &[Plan<'_>],
    at: usize,
    settings: &Settings<'a>,
    printer: &Printer,
    report: &mut Report,
    found: &mut Nondeterminism,
) -> Result<Option<Snapshot>> {
    let server = session.server;
    let before = session.snapshot().await?;
    let (second_printer, held) = printer.held();
    let mut second_report = Report {
        checks: Vec::new(),
        ..report.clone()
    };
    let mut second_found = Nondeterminism {
        dialect: found.dialect,
        ..Default::default()
    };
    tracing::info!(
        migrations = plans.len(),
        from = %plans[at].migration.id,
        "verifying the second half of the chain on a second database"
    );
    let first = async {
        let ran = step_range(
            session,
            &plans[..at],
            0,
            before,
            None,
            settings,
            printer,
            report,
            found,
        )
        .await;
        // From here the chain waits for the second half.
        (ran, timing::enter(Bucket::Parallel))
    };
    let second = timing::measure(second_half(
        server,
        plans,
        at,
        settings,
        &second_printer,
        &mut second_report,
        &mut second_found,
    ));
    let ((ran, waiting), (second_ran, second_split)) = tokio::join!(first, second);
    drop(waiting);
    let ran = match ran {
        Ok(ran) => ran,
        Err(e) => {
            if let Ok((mut second_session, _, _)) = second_ran {
                let _ = second_session.close().await;
            }
            return Err(e);
        }
    };

    let kept = match second_ran {
        Ok((second_session, start, Ok(second)))
            if ran.halted_by.is_none()
                && same_but_masked(&ran.last, &start, &found.masks)
                && !second_found.saw_any(&found.masks)
                && session.fatal.is_none()
                && second_session.fatal.is_none() =>
        {
            Some((second_session, second))
        }
        Ok((mut second_session, start, outcome)) => {
            tracing::info!(
                halted = ran.halted_by.is_some(),
                same_start = same_but_masked(&ran.last, &start, &found.masks),
                masks_met = second_found.saw_any(&found.masks),
                error = outcome.as_ref().err().map(ToString::to_string),
                "the second half runs again on the first database"
            );
            let _ = second_session.close().await;
            None
        }
        Err(e) => {
            tracing::info!(error = %e, "the second database could not catch up: the second half runs on the first");
            None
        }
    };
    let Some((mut second_session, second)) = kept else {
        let rest = step_range(
            session,
            plans,
            at,
            ran.last,
            ran.halted_by,
            settings,
            printer,
            report,
            found,
        );
        return Ok(Some(rest.await?.last));
    };

    printer.release(held, plans.len() - at);
    report.checks.extend(second_report.checks);
    found.findings.extend(second_found.findings);
    for (path, keys) in second_found.masks {
        found.masks.entry(path).or_default().extend(keys);
    }
    report.timings.second_database = Some(second_timings(&plans[at].migration.id, &second_split));
    // The chain goes on on the second database: it holds the whole chain. What the first
    // session observed and captured comes first.
    std::mem::swap(session, &mut second_session);
    match (second_session.recorder.take(), session.recorder.take()) {
        (Some(mut first), Some(second)) => {
            first.absorb(second);
            session.recorder = Some(first);
        }
        (first, second) => session.recorder = first.or(second),
    }
    let mut captured = std::mem::take(&mut second_session.captured);
    captured.append(&mut session.captured);
    session.captured = captured;
    second_session.close().await?;
    Ok(Some(second.last))
}

/// The second session: a database of its own, the ups of `plans[..at]` applied once, then
/// step mode from `at`. Returns the session, the schema the second half started from, and
/// what it ran.
#[allow(clippy::type_complexity)]
async fn second_half<'a>(
    server: &'a dyn Server,
    plans: &[Plan<'_>],
    at: usize,
    settings: &Settings<'a>,
    printer: &Printer,
    report: &mut Report,
    found: &mut Nondeterminism,
) -> Result<(Session<'a>, Snapshot, Result<StepsRan>)> {
    let mut session = open_session(server, settings).await?;
    {
        // Its own clock: catching up is its `Parallel` bucket, which absorbs the migrations.
        let _catching_up = timing::enter(Bucket::Parallel);
        let ups: Vec<Step> = plans[..at].iter().map(|p| p.up.clone()).collect();
        if let Err(f) = session.catch_up(&ups).await {
            let _ = session.close().await;
            return Err(Error::environment(
                format!(
                    "{}:{}: the second database could not apply the first part's ups: {}",
                    f.file.display(),
                    f.line,
                    f.message
                ),
                None,
            ));
        }
    }
    let start = match session.snapshot().await {
        Ok(s) => s,
        Err(e) => {
            let _ = session.close().await;
            return Err(e);
        }
    };
    let ran = step_range(
        &mut session,
        plans,
        at,
        start.clone(),
        None,
        settings,
        printer,
        report,
        found,
    )
    .await;
    Ok((session, start, ran))
}

/// The second half's own time split.
fn second_timings(from: &str, split: &timing::Split) -> report::SecondDatabase {
    let ms = |b: Bucket| split.get(b).as_millis() as u64;
    let total = split.total().as_millis() as u64;
    let mut t = report::SecondDatabase {
        from_migration: from.to_string(),
        databases_ms: ms(Bucket::Databases),
        catch_up_ms: ms(Bucket::Parallel),
        migrations_ms: ms(Bucket::Migrations),
        observation_ms: ms(Bucket::Observation),
        snapshots_ms: ms(Bucket::Snapshots),
        compare_ms: ms(Bucket::Compare),
        replay_ms: ms(Bucket::Replay),
        other_ms: 0,
        total_ms: total,
    };
    let named = t.databases_ms
        + t.catch_up_ms
        + t.migrations_ms
        + t.observation_ms
        + t.snapshots_ms
        + t.compare_ms
        + t.replay_ms;
    t.other_ms = total.saturating_sub(named);
    t
}
