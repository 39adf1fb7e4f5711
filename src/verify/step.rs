//! Step mode (the default): for each migration, up, down (must give the schema before),
//! up again (must give the schema after).

use super::*;

/// Returns the schema after the last migration that applied.
pub(super) async fn step_mode(
    session: &mut Session<'_>,
    plans: &[Plan<'_>],
    settings: &Settings<'_>,
    printer: &Printer,
    report: &mut Report,
    found: &mut Nondeterminism,
) -> Result<Option<Snapshot>> {
    let before = session.snapshot().await?;
    let ran = step_range(
        session, plans, 0, before, None, settings, printer, report, found,
    )
    .await?;
    Ok(Some(ran.last))
}

/// What `step_range` ran.
pub(super) struct StepsRan {
    /// The schema after the last migration that applied.
    pub(super) last: Snapshot,
    /// Why the migrations after one that did not apply (or whose ups could not be replayed)
    /// were not run.
    pub(super) halted_by: Option<String>,
}

/// Step mode over `plans[first..]`, the database holding `before`: the schema after
/// `plans[..first]` (all of `plans` is what a replay from scratch applies). `halted_by`: the
/// chain already cannot go on (every migration is reported as not run, for that reason).
#[allow(clippy::too_many_arguments)]
pub(super) async fn step_range(
    session: &mut Session<'_>,
    plans: &[Plan<'_>],
    first: usize,
    mut before: Snapshot,
    mut halted_by: Option<String>,
    settings: &Settings<'_>,
    printer: &Printer,
    report: &mut Report,
    found: &mut Nondeterminism,
) -> Result<StepsRan> {
    for (i, plan) in plans.iter().enumerate().skip(first) {
        let id = &plan.migration.id;
        if let Some(why) = &halted_by {
            let upgrade = skipped("upgrade", plan, why);
            let roundtrip = skipped("roundtrip", plan, why);
            printer.migration(&upgrade, Some(&roundtrip));
            report.checks.extend([upgrade, roundtrip]);
            continue;
        }
        printer.working_on("verifying", id);
        let (upgrade, mut after, deployed) = match session.apply_first(&plan.up, id).await {
            Ok(took) => {
                // The round trip's down comes next whatever the snapshot holds (without a
                // down, the next migration's up, unless this one fails to compare).
                match (&plan.down, plans.get(i + 1)) {
                    (Some(down), _) => session.prepare(down).await,
                    (None, Some(next)) => session.prepare(&next.up).await,
                    (None, None) => {}
                }
                let after = session.snapshot().await?;
                let deployed = session.check_deployed(plan).await;
                (upgrade_passed(plan, took), after, deployed)
            }
            Err(f) => {
                // After earlier round trips the database is no longer a plain run of the ups:
                // an up that fails there may apply on a fresh run of them (an earlier down
                // left rows or a sequence value behind). Then the up is not what is broken.
                let rounds_before = plans[..i].iter().any(|p| p.down.is_some());
                let retried = if rounds_before && session.fatal.is_none() {
                    session.replay_ends(&plans[..=i], false).await.ok()
                } else {
                    None
                };
                let Some((replayed_before, replayed_after)) = retried else {
                    let upgrade = apply_failed("upgrade", plan, &f, "up failed");
                    let roundtrip = skipped("roundtrip", plan, "not run: up failed");
                    printer.migration(&upgrade, Some(&roundtrip));
                    report.checks.extend([upgrade, roundtrip]);
                    halted_by = Some(format!("not run: {id} did not apply"));
                    continue;
                };
                found.findings.push(state_left_behind(plan, &f));
                let mut upgrade = upgrade_passed(plan, f.duration);
                upgrade.notes.push(format!(
                    "failed after the earlier migrations' round trips ({}:{}: {}), and applied \
                     on a fresh run of the ups, which the next steps build on \
                     (see round-trip-leaves-state)",
                    f.file.display(),
                    f.line,
                    f.message
                ));
                before = replayed_before;
                let deployed = session.check_deployed(plan).await;
                (upgrade, replayed_after, deployed)
            }
        };
        let next = plans.get(i + 1).map(|p| &p.up);
        let roundtrip = match roundtrip_step(session, plan, next, &before, &after, settings).await?
        {
            Roundtrip::Decided(check, diverged) => {
                if diverged {
                    // Later migrations must build on the schema the chain really produces.
                    match session.replay_ends(&plans[..=i], false).await {
                        Ok(ends) => after = ends.1,
                        Err(e) => halted_by = Some(replay_halt(id, &e)),
                    }
                }
                check
            }
            Roundtrip::Ran(run) => {
                if let Ok((_, Seen::Other(reverted))) = &run.down {
                    found.saw(&before, reverted);
                }
                if let Some(Ok((_, Seen::Other(reapplied)))) = &run.reapply {
                    found.saw(&after, reapplied);
                }
                let judged = judge_step(plan, &before, &after, &run, settings, &found.masks);
                if judged.diverged || judged.mismatch {
                    // A second run of the same ups: a difference that recurs between two runs
                    // of identical SQL is not the down's fault. When the round trip left the
                    // database elsewhere than after the up, the replay is also the schema
                    // later migrations build on; otherwise the session keeps its database.
                    let stay = !judged.diverged;
                    let (replayed_before, replayed_after) = match session
                        .replay_ends(&plans[..=i], stay)
                        .await
                    {
                        Ok(ends) => ends,
                        // The database still holds `after`: the verdict stands as judged.
                        Err(e) if !judged.diverged => {
                            printer.warning(&format!(
                                "could not replay the ups to tell a non-deterministic definition from a bad down: {e}"
                            ));
                            printer.migration(&upgrade, Some(&judged.check));
                            report.checks.extend([upgrade, judged.check]);
                            emit_deployed(deployed, printer, report);
                            before = after;
                            continue;
                        }
                        Err(e) => {
                            // An up that cannot run twice on one server (it left a role or
                            // another database behind): the verdict stands, the rest halts.
                            printer.migration(&upgrade, Some(&judged.check));
                            report.checks.extend([upgrade, judged.check]);
                            emit_deployed(deployed, printer, report);
                            halted_by = Some(replay_halt(id, &e));
                            continue;
                        }
                    };
                    let pairs = [(&before, &replayed_before), (&after, &replayed_after)];
                    for (first, again) in pairs {
                        found.saw(first, again);
                    }
                    let differs = pairs
                        .iter()
                        .any(|(first, again)| !nondeterministic(first, again).is_empty());
                    // Only when two runs of the same ups differ is a snapshot per step needed,
                    // to name the migration that set the property (rare: a frozen 'now').
                    let per_step = if differs {
                        session.replay(&plans[..=i], Replayed::EveryStep).await?
                    } else {
                        Vec::new()
                    };
                    let check = if differs && found.learn(&pairs, &per_step, &plans[..=i]) {
                        let mut check =
                            judge_step(plan, &before, &after, &run, settings, &found.masks).check;
                        check.notes.extend(masked_notes(&found.masks, &pairs));
                        check
                    } else {
                        judged.check
                    };
                    if let Some(last) = per_step.last() {
                        after = last.clone();
                    } else if !stay {
                        after = replayed_after;
                    }
                    check
                } else {
                    judged.check
                }
            }
        };
        printer.migration(&upgrade, Some(&roundtrip));
        report.checks.extend([upgrade, roundtrip]);
        emit_deployed(deployed, printer, report);
        before = after;
    }
    Ok(StepsRan {
        last: before,
        halted_by,
    })
}

/// The runner's own check of the step just deployed (a verify script), after the step's
/// upgrade and round trip, on every path that reports them: a round trip whose replay fails
/// still has its verify script's verdict.
fn emit_deployed(deployed: Option<CheckReport>, printer: &Printer, report: &mut Report) {
    if let Some(check) = deployed {
        printer.check(&check);
        report.checks.push(check);
    }
}

/// Notes for the masked properties that differed in this check's comparisons.
pub(super) fn masked_notes(masks: &Masks, pairs: &[(&Snapshot, &Snapshot)]) -> Vec<String> {
    let mut notes: Vec<String> = pairs
        .iter()
        .flat_map(|(a, b)| compare::differing_properties(a, b))
        .flat_map(|(path, keys)| {
            let masked = masks.get(&path).cloned().unwrap_or_default();
            keys.into_iter()
                .filter(move |k| masked.contains(k))
                .map(move |k| {
                    format!("{path}: {k} is not deterministic (see nondeterministic-definition); not compared")
                })
        })
        .collect();
    notes.sort();
    notes.dedup();
    notes
}

/// A step applied, with the schema after it, or its failure.
pub(super) type Applied = std::result::Result<(Duration, Seen), ApplyFailure>;

/// The schema a round-trip phase left. When it is exactly the one the phase had to give (the
/// usual case) it is not kept: step mode then holds two whole schemas, not four (issue 14's
/// memory budget on long chains).
pub(super) enum Seen {
    Expected,
    Other(Snapshot),
}

impl Seen {
    fn of(actual: Snapshot, expected: &Snapshot) -> Seen {
        if actual == *expected {
            Seen::Expected
        } else {
            Seen::Other(actual)
        }
    }

    /// The schema itself, given the one the phase had to give.
    pub(super) fn or<'a>(&'a self, expected: &'a Snapshot) -> &'a Snapshot {
        match self {
            Seen::Expected => expected,
            Seen::Other(actual) => actual,
        }
    }
}

/// What a round trip did; judged against the expected schemas by `judge_step`.
pub(super) struct StepRun {
    pub(super) down: Applied,
    /// Not run when the down failed.
    pub(super) reapply: Option<Applied>,
    /// A failed down left the database without the schema after the up.
    pub(super) down_diverged: bool,
    pub(super) duration: Duration,
}

pub(super) enum Roundtrip {
    /// No round trip to compare (no down, or declared irreversible): the check, and whether
    /// the database no longer holds the schema after the up.
    Decided(CheckReport, bool),
    Ran(StepRun),
}

/// Down then up again from the schema after the migration.
pub(super) async fn roundtrip_step(
    session: &mut Session<'_>,
    plan: &Plan<'_>,
    next: Option<&Step>,
    before: &Snapshot,
    after: &Snapshot,
    settings: &Settings<'_>,
) -> Result<Roundtrip> {
    let Some(down) = &plan.down else {
        return Ok(Roundtrip::Decided(
            no_down(plan, settings.require_down),
            false,
        ));
    };
    let started = Instant::now();
    let down = match session.apply(down).await {
        Err(f) if f.irreversible => {
            // Declared irreversible: reported like a migration without a down.
            let diverged = session.snapshot().await? != *after;
            let mut check = no_down(plan, settings.require_down);
            check.message = format!("not reversible: {}", f.message);
            check.file = Some(f.file.display().to_string());
            check.line = Some(f.line);
            return Ok(Roundtrip::Decided(check, diverged));
        }
        Err(f) => {
            // A rolled-back down leaves `after` in place; a half-applied one does not.
            let down_diverged = f.partially_applied || session.snapshot().await? != *after;
            return Ok(Roundtrip::Ran(StepRun {
                down: Err(f),
                reapply: None,
                down_diverged,
                duration: started.elapsed(),
            }));
        }
        Ok(took) => {
            session.prepare(&plan.up).await;
            Ok((took, Seen::of(session.snapshot().await?, before)))
        }
    };
    let reapply = match session.apply(&plan.up).await {
        Err(f) => Err(f),
        Ok(took) => {
            // The next migration's up comes next unless this round trip fails: a runner that
            // starts it early undoes it when something else comes instead.
            if let Some(next) = next {
                session.prepare(next).await;
            }
            Ok((took, Seen::of(session.snapshot().await?, after)))
        }
    };
    Ok(Roundtrip::Ran(StepRun {
        down,
        reapply: Some(reapply),
        down_diverged: false,
        duration: started.elapsed(),
    }))
}

pub(super) struct Judged {
    pub(super) check: CheckReport,
    /// The database no longer holds the schema after the up.
    pub(super) diverged: bool,
    /// A schema comparison failed.
    pub(super) mismatch: bool,
}

/// The round-trip check of one migration in step mode.
pub(super) fn judge_step(
    plan: &Plan<'_>,
    before: &Snapshot,
    after: &Snapshot,
    run: &StepRun,
    settings: &Settings<'_>,
    masks: &Masks,
) -> Judged {
    let id = &plan.migration.id;
    let down_file = plan.down.as_ref().map_or(&plan.up.file, |d| &d.file);
    let mut check = base_check("roundtrip", plan, down_file);
    check.duration_ms = ms(run.duration);
    let down_phase = match &run.down {
        Err(f) => {
            let phase = phase_failed("down", f);
            fail_with(&mut check, f, format!("down of {id} failed: {}", f.message));
            check.phases = vec![phase, skipped_phase("reapply", "not run: down failed")];
            return Judged {
                check,
                diverged: run.down_diverged,
                mismatch: false,
            };
        }
        Ok((took, reverted)) => {
            let cmp = compare::compare_masked(
                before,
                reverted.or(before),
                &settings.policy,
                masks,
                &format!("schema before {id} (expected)"),
                &format!("schema after {id} down (actual)"),
            );
            compared_phase("down", *took, &cmp, &mut check, || {
                format!("down of {id} did not restore the schema before it")
            })
        }
    };
    let down_mismatch = down_phase.schema_differs;
    let reapply_phase = match run.reapply.as_ref() {
        None | Some(Err(_)) => {
            let f = match run.reapply.as_ref() {
                Some(Err(f)) => f,
                _ => unreachable!("a run without a reapply has a failed down"),
            };
            let phase = phase_failed("reapply", f);
            if check.status != Status::Fail {
                fail_with(
                    &mut check,
                    f,
                    format!(
                        "up of {id} failed when applied again after its down: {}",
                        f.message
                    ),
                );
            } else {
                append_detail(
                    &mut check,
                    &format!(
                        "then the up failed again: {} ({}:{})",
                        f.message,
                        f.file.display(),
                        f.line
                    ),
                );
            }
            check.phases = vec![down_phase, phase];
            return Judged {
                check,
                diverged: true,
                mismatch: down_mismatch,
            };
        }
        Some(Ok((took, reapplied))) => {
            let cmp = compare::compare_masked(
                after,
                reapplied.or(after),
                &settings.policy,
                masks,
                &format!("schema after {id} (expected)"),
                &format!("schema after {id} down and up again (actual)"),
            );
            compared_phase("reapply", *took, &cmp, &mut check, || {
                format!("up of {id} applied again after its down gave another schema")
            })
        }
    };
    let diverged = reapply_phase.status == Status::Fail;
    let mismatch = down_mismatch || reapply_phase.schema_differs;
    check.phases = vec![down_phase, reapply_phase];
    if check.status == Status::Pass {
        check.message = format!("down restored the schema before {id}; up again reproduced it");
    }
    Judged {
        check,
        diverged,
        mismatch,
    }
}

/// An up that failed after the earlier round trips and applied on a fresh run of the ups: an
/// earlier down leaves state behind (rows, a sequence or AUTO_INCREMENT value) that this up
/// depends on, so deploying again after a rollback fails here.
fn state_left_behind(plan: &Plan<'_>, f: &ApplyFailure) -> Finding {
    let id = &plan.migration.id;
    Finding {
        rule: "round-trip-leaves-state".to_string(),
        severity: "warning".to_string(),
        file: f.file.display().to_string(),
        line: Some(f.line),
        column: Some(1),
        message: format!(
            "{id} fails after the earlier migrations were reverted and applied again ({}), but \
             applies on a fresh run of the ups: an earlier down leaves rows, a sequence or an \
             AUTO_INCREMENT value behind that this up depends on, so a deploy after a rollback \
             fails here",
            f.message
        ),
        statement: None,
        help: Some(
            "make the earlier downs undo their data too (delete the rows their ups inserted, \
             reset sequences and AUTO_INCREMENT), or make this up independent of generated ids"
                .to_string(),
        ),
        migration: Some(id.clone()),
        ..Default::default()
    }
}
