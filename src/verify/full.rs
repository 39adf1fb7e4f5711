//! Full mode: apply everything, go all the way down, then all the way up, comparing at
//! every step.

use super::*;

/// `expected_after` adjusted for what the step inherited: an object that the step's
/// migration does not touch (`expected_before` and `expected_after` agree on it) but that the
/// database already held differently (`actual_before`) is expected as inherited. A difference
/// left by one step is then reported once, at that step, not again at every step after it.
pub(super) fn inherit(
    expected_before: &Snapshot,
    actual_before: &Snapshot,
    expected_after: &Snapshot,
) -> Snapshot {
    let mut out = expected_after.clone();
    let paths: std::collections::BTreeSet<&String> = expected_before
        .objects
        .keys()
        .chain(actual_before.objects.keys())
        .collect();
    for path in paths {
        let (eb, ab) = (
            expected_before.objects.get(path),
            actual_before.objects.get(path),
        );
        // An object is untouched when neither it nor its table changes (dropping a table drops
        // the inherited index on it too).
        let owner = path.split_once(" > ").map(|(table, _)| table);
        let touched = |p: &str| expected_before.objects.get(p) != expected_after.objects.get(p);
        if eb == ab || touched(path) || owner.is_some_and(touched) {
            continue;
        }
        match ab {
            Some(o) => out.objects.insert(path.clone(), o.clone()),
            None => out.objects.remove(path),
        };
    }
    out
}

/// How the walk down ended for one migration in full mode.
pub(super) enum Down {
    Missing,
    Irreversible(ApplyFailure),
    Ran(Applied),
}

/// Apply everything, then all downs from the top, then all ups again, comparing at each step.
pub(super) async fn full_mode(
    session: &mut Session<'_>,
    plans: &[Plan<'_>],
    settings: &Settings<'_>,
    printer: &Printer,
    report: &mut Report,
    found: &mut Nondeterminism,
) -> Result<Option<Snapshot>> {
    // Repeatable migrations are re-run, never undone: the round trip covers versioned
    // migrations and the repeatables are applied after it, as their tool does.
    let split = plans
        .iter()
        .position(|p| p.migration.repeatable)
        .unwrap_or(plans.len());
    let (versioned, repeatables) = plans.split_at(split);

    let mut schemas = vec![session.snapshot().await?];
    let mut upgrades = Vec::new();
    let mut deployed = Vec::new();
    let mut halted_by: Option<String> = None;
    for plan in versioned {
        if let Some(failed) = &halted_by {
            upgrades.push(skipped(
                "upgrade",
                plan,
                &format!("not run: {failed} did not apply"),
            ));
            continue;
        }
        match session.apply_first(&plan.up, &plan.migration.id).await {
            Ok(took) => {
                schemas.push(session.snapshot().await?);
                upgrades.push(upgrade_passed(plan, took));
                deployed.extend(session.check_deployed(plan).await);
            }
            Err(f) => {
                upgrades.push(apply_failed("upgrade", plan, &f, "up failed"));
                halted_by = Some(plan.migration.id.clone());
            }
        }
    }
    for upgrade in &upgrades {
        printer.migration(upgrade, None);
    }
    report.checks.extend(upgrades);
    for check in deployed {
        printer.check(&check);
        report.checks.push(check);
    }
    if let Some(failed) = halted_by {
        for plan in versioned {
            let check = skipped(
                "roundtrip",
                plan,
                &format!("not run: {failed} did not apply"),
            );
            printer.check(&check);
            report.checks.push(check);
        }
        return Ok(schemas.pop());
    }
    let top = schemas.last().cloned().unwrap_or_default();

    // Down, from the top; `reached` is how many migrations are still applied.
    let n = versioned.len();
    let mut downs: Vec<Option<Down>> = (0..n).map(|_| None).collect();
    let mut reached = n;
    for (i, plan) in versioned.iter().enumerate().rev() {
        let Some(down) = &plan.down else {
            downs[i] = Some(Down::Missing);
            break;
        };
        match session.apply(down).await {
            Err(f) if f.irreversible => {
                downs[i] = Some(Down::Irreversible(f));
                break;
            }
            Err(f) => {
                downs[i] = Some(Down::Ran(Err(f)));
                break;
            }
            Ok(took) => {
                downs[i] = Some(Down::Ran(Ok((took, session.snapshot().await?))));
                reached = i;
            }
        }
    }
    // Up again from wherever the downs stopped.
    let mut ups: Vec<Option<Applied>> = (0..n).map(|_| None).collect();
    for i in reached..n {
        match session.apply(&versioned[i].up).await {
            Err(f) => {
                ups[i] = Some(Err(f));
                break;
            }
            Ok(took) => ups[i] = Some(Ok((took, session.snapshot().await?))),
        }
    }

    let walk = FullWalk {
        plans: versioned,
        schemas: &schemas,
        top: &top,
        downs: &downs,
        ups: &ups,
        reached,
    };
    let (mut checks, mismatch) = walk.judge(settings, &found.masks);
    if mismatch {
        // A second run of the same ups: what differs between two runs of identical SQL is not
        // the downs' fault.
        match session.replay(versioned, Replayed::EveryStep).await {
            Ok(replayed) => {
                let pairs: Vec<(&Snapshot, &Snapshot)> = schemas.iter().zip(&replayed).collect();
                if found.learn(&pairs, &replayed, versioned) {
                    checks = walk.judge(settings, &found.masks).0;
                }
            }
            // The session keeps its database: the verdicts stand as judged.
            Err(e) => printer.warning(&format!(
                "could not replay the ups to tell a non-deterministic definition from a bad down: {e}"
            )),
        }
    }
    for mut check in checks {
        if check.status == Status::Pass && check.message.is_empty() {
            check.message = format!(
                "full round trip through {} matched",
                check.migration.clone().unwrap_or_default()
            );
        }
        printer.check(&check);
        report.checks.push(check);
    }

    let mut last = session.snapshot().await?;
    if last != top {
        tracing::debug!("schema after the full round trip differs from the first upgrade");
    }
    for plan in repeatables {
        let upgrade = match session.apply(&plan.up).await {
            Ok(took) => {
                last = session.snapshot().await?;
                upgrade_passed(plan, took)
            }
            Err(f) => apply_failed("upgrade", plan, &f, "up failed"),
        };
        let roundtrip = no_down(plan, false);
        printer.migration(&upgrade, Some(&roundtrip));
        report.checks.extend([upgrade, roundtrip]);
    }
    Ok(Some(last))
}

/// Everything a full round trip did, judged once the walk is over (and again once a replay
/// has shown what is not deterministic).
pub(super) struct FullWalk<'w, 'p> {
    pub(super) plans: &'w [Plan<'p>],
    /// The first run's schemas: `schemas[i]` before migration `i`, `schemas[n]` at the top.
    pub(super) schemas: &'w [Snapshot],
    pub(super) top: &'w Snapshot,
    pub(super) downs: &'w [Option<Down>],
    pub(super) ups: &'w [Option<Applied>],
    pub(super) reached: usize,
}

impl FullWalk<'_, '_> {
    /// One round-trip check per migration, and whether a schema comparison failed.
    pub(super) fn judge(&self, settings: &Settings<'_>, masks: &Masks) -> (Vec<CheckReport>, bool) {
        let n = self.plans.len();
        let mut checks: Vec<Option<CheckReport>> = (0..n).map(|_| None).collect();
        let mut mismatch = false;
        let reverted = |i: usize| match &self.downs[i] {
            Some(Down::Ran(Ok((_, s)))) => Some(s),
            _ => None,
        };
        for i in (0..n).rev() {
            let plan = &self.plans[i];
            let id = &plan.migration.id;
            let Some(down) = &self.downs[i] else {
                continue;
            };
            let file = plan.down.as_ref().map_or(&plan.up.file, |d| &d.file);
            let mut check = base_check("roundtrip", plan, file);
            match down {
                Down::Missing => check = no_down(plan, settings.require_down),
                Down::Irreversible(f) => {
                    check = no_down(plan, settings.require_down);
                    check.message = format!("not reversible: {}", f.message);
                }
                Down::Ran(Err(f)) => {
                    let phase = phase_failed("down", f);
                    fail_with(&mut check, f, format!("down of {id} failed: {}", f.message));
                    check.phases = vec![phase];
                    check.duration_ms = ms(f.duration);
                }
                Down::Ran(Ok((took, actual))) => {
                    let inherited = if i + 1 == n {
                        self.top
                    } else {
                        reverted(i + 1).unwrap_or(self.top)
                    };
                    let expected = inherit(&self.schemas[i + 1], inherited, &self.schemas[i]);
                    let cmp = compare::compare_masked(
                        &expected,
                        actual,
                        &settings.policy,
                        masks,
                        &format!("schema before {id} (expected)"),
                        &format!("schema after the downs from the top to {id} (actual)"),
                    );
                    let phase = compared_phase("down", *took, &cmp, &mut check, || {
                        format!(
                            "going down from the top, {id}'s down did not restore the schema before it"
                        )
                    });
                    mismatch |= phase.schema_differs;
                    check.duration_ms = ms(*took);
                    check.phases = vec![phase];
                }
            }
            checks[i] = Some(check);
        }
        for (i, up) in self.ups.iter().enumerate().skip(self.reached) {
            let Some(up) = up else {
                break;
            };
            let plan = &self.plans[i];
            let id = &plan.migration.id;
            let check =
                checks[i].get_or_insert_with(|| base_check("roundtrip", plan, &plan.up.file));
            match up {
                Err(f) => {
                    check.phases.push(phase_failed("reapply", f));
                    if check.status != Status::Fail {
                        fail_with(
                            check,
                            f,
                            format!("up of {id} failed on the way back up: {}", f.message),
                        );
                    }
                }
                Ok((took, actual)) => {
                    let inherited = match i.checked_sub(1).and_then(|p| self.ups[p].as_ref()) {
                        Some(Ok((_, s))) if i > self.reached => s,
                        _ => reverted(self.reached).unwrap_or(self.top),
                    };
                    let expected = inherit(&self.schemas[i], inherited, &self.schemas[i + 1]);
                    let cmp = compare::compare_masked(
                        &expected,
                        actual,
                        &settings.policy,
                        masks,
                        &format!("schema after {id} (expected)"),
                        &format!("schema after {id} on the way back up (actual)"),
                    );
                    let phase = compared_phase("reapply", *took, &cmp, check, || {
                        format!("on the way back up, {id} gave another schema than the first time")
                    });
                    mismatch |= phase.schema_differs;
                    check.duration_ms += ms(*took);
                    check.phases.push(phase);
                }
            }
        }
        let checks = self
            .plans
            .iter()
            .zip(checks)
            .map(|(plan, check)| {
                check.unwrap_or_else(|| {
                    skipped(
                        "roundtrip",
                        plan,
                        "not reached: a later migration could not be reverted",
                    )
                })
            })
            .collect();
        (checks, mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(paths: &[&str]) -> Snapshot {
        Snapshot {
            objects: paths
                .iter()
                .map(|p| (p.to_string(), snapshot::SchemaObject::default()))
                .collect(),
        }
    }

    #[test]
    fn an_inherited_leftover_is_expected_where_the_step_does_not_touch_it() {
        // Migration 1 creates table b; the down of migration 2 left extension x behind.
        let before = schema(&["table a"]);
        let after = schema(&["table a", "table b"]);
        let inherited = schema(&["table a", "table b", "extension x"]);
        let expected = inherit(&after, &inherited, &before);
        assert_eq!(expected, schema(&["table a", "extension x"]));
        // An index left on a table that the step drops goes with the table.
        let inherited = schema(&["table a", "table b", "table b > index i"]);
        assert_eq!(inherit(&after, &inherited, &before), before);
    }
}
