//! Full mode: apply everything, go all the way down, then all the way up, comparing at
//! every step.

use super::store::{Entry, Series};
use super::*;

/// `expected_after` adjusted for what the step inherited: an object that the step's
/// migration does not touch (`expected_before` and `expected_after` agree on it) but that the
/// database already held differently (`actual_before`) is expected as inherited. A difference
/// left by one step is then reported once, at that step, not again at every step after it.
///
/// The definition; the walk computes the same with `inherit_step`, from what changed.
#[cfg(test)]
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

/// `inherit`, from `actual_before` and what the step changed between `expected_before` and
/// `expected_after` (`step`: a series' step, with the unchanged objects of each table it
/// changed; `towards_after`: whether `expected_after` is the step's later snapshot). An object
/// the step touches, or whose table it touches, is expected as in `expected_after`; any other
/// is expected as inherited, as in `actual_before`.
pub(super) fn inherit_step(
    actual_before: &Snapshot,
    step: impl Iterator<Item = Entry>,
    towards_after: bool,
) -> Snapshot {
    let mut out = actual_before.clone();
    let step: Vec<Entry> = step.collect();
    for changed in step.iter().filter(|e| !e.context) {
        out.objects.remove(&changed.path);
        // Its objects, as `inherit` reads paths: what `expected_after` has of them is in `step`.
        let start = format!("{} > ", changed.path);
        let under: Vec<String> = out
            .objects
            .range(start.clone()..)
            .take_while(|(path, _)| path.starts_with(&start))
            .map(|(path, _)| path)
            .filter(|path| path.split_once(" > ").map(|(table, _)| table) == Some(&changed.path))
            .cloned()
            .collect();
        for path in under {
            out.objects.remove(&path);
        }
    }
    for entry in step {
        let expected = if towards_after {
            entry.after
        } else {
            entry.before
        };
        if let Some(object) = expected {
            out.objects.insert(entry.path, object.into());
        }
    }
    out
}

/// How the walk down ended for one migration in full mode (the schema it left is in the
/// walk's `reverted` series).
pub(super) enum Down {
    Missing,
    Irreversible(ApplyFailure),
    Ran(Result<Duration, ApplyFailure>),
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

    // Every schema of the walk is kept in a series (`store.rs`): one whole, the others as what
    // changed from their neighbour. `schemas[i]` is the schema before migration `i`.
    let mut schemas = Series::new(0, &session.snapshot().await?);
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
                schemas.push(&session.snapshot().await?);
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
        return Ok(Some(schemas.latest()));
    }

    // Down, from the top; `reached` is how many migrations are still applied.
    // `reverted[i]` is the schema after the downs from the top to migration `i`
    // (`reverted[n]`: the top).
    let n = versioned.len();
    let mut downs: Vec<Option<Down>> = (0..n).map(|_| None).collect();
    let mut reverted = Series::from_latest_of(&schemas);
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
                downs[i] = Some(Down::Ran(Ok(took)));
                reverted.push_front(&session.snapshot().await?);
                reached = i;
            }
        }
    }
    // Up again from wherever the downs stopped. `again[i + 1]` is the schema after migration
    // `i` on the way back up (`again[reached]`: where the downs stopped).
    let mut ups: Vec<Option<Result<Duration, ApplyFailure>>> = (0..n).map(|_| None).collect();
    let mut again = Series::from_latest_of(&reverted);
    for i in reached..n {
        match session.apply(&versioned[i].up).await {
            Err(f) => {
                ups[i] = Some(Err(f));
                break;
            }
            Ok(took) => {
                ups[i] = Some(Ok(took));
                again.push(&session.snapshot().await?);
            }
        }
    }
    // The judge needs no incremental snapshot: let the tracker's copy of the schema go (the
    // next snapshot reads the schema in full).
    if let Some(tracker) = session.tracker.as_mut() {
        tracker.release();
    }

    tracing::debug!(
        first_run = schemas.packed_bytes(),
        downs = reverted.packed_bytes(),
        ups = again.packed_bytes(),
        "bytes of the walk's packed schemas"
    );
    let walk = FullWalk {
        plans: versioned,
        schemas: &schemas,
        downs: &downs,
        reverted: &reverted,
        ups: &ups,
        again: &again,
        reached,
    };
    let (mut checks, mismatch) = walk.judge(settings, &found.masks);
    if mismatch {
        // A second run of the same ups: what differs between two runs of identical SQL is not
        // the downs' fault. Its schemas go to a series as they come.
        let mut replayed: Option<Series> = None;
        let mut keep = |schema: Snapshot| match replayed.as_mut() {
            Some(series) => series.push(&schema),
            None => replayed = Some(Series::new(0, &schema)),
        };
        match session
            .replay_each(versioned, Replayed::EveryStep, false, &mut keep)
            .await
        {
            Ok(()) => {
                // The replay's database is the session's now: its tracker's copy can go too.
                if let Some(tracker) = session.tracker.as_mut() {
                    tracker.release();
                }
                let replayed = replayed.unwrap_or_else(|| Series::new(0, &Snapshot::default()));
                let learned = learn_from_series(found, &schemas, &replayed, versioned);
                drop(replayed);
                if learned {
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
    if tracing::enabled!(tracing::Level::DEBUG) && last != schemas.latest() {
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

/// `Nondeterminism::learn` over series: the first run's `schemas` and the `replayed` ones,
/// read in order so that only a few snapshots are whole at a time.
fn learn_from_series(
    found: &mut Nondeterminism,
    schemas: &Series,
    replayed: &Series,
    plans: &[Plan<'_>],
) -> bool {
    let mut differing = Masks::new();
    let (mut first, mut again) = (schemas.cursor(), replayed.cursor());
    // As `zip` pairs them: both series start at 0.
    for j in 0..=schemas.last().min(replayed.last()) {
        found.differences(first.at(j), again.at(j), &mut differing);
    }
    drop((first, again));
    // What each replayed up changed is all `note_creators` needs to see of it.
    let mut creators = std::collections::BTreeMap::new();
    for j in 1..=replayed.last() {
        let (mut before, mut after) = (Snapshot::default(), Snapshot::default());
        for entry in replayed.step(j - 1) {
            if entry.context || !differing.contains_key(&entry.path) {
                continue;
            }
            if let Some(object) = entry.before {
                before.objects.insert(entry.path.clone(), object.into());
            }
            if let Some(object) = entry.after {
                after.objects.insert(entry.path, object.into());
            }
        }
        note_creators(&differing, &before, &after, j, &mut creators);
    }
    found.remember(differing, &creators, plans)
}

/// Everything a full round trip did, judged once the walk is over (and again once a replay
/// has shown what is not deterministic).
pub(super) struct FullWalk<'w, 'p> {
    pub(super) plans: &'w [Plan<'p>],
    /// The first run's schemas: `schemas[i]` before migration `i`, `schemas[n]` at the top.
    pub(super) schemas: &'w Series,
    pub(super) downs: &'w [Option<Down>],
    /// `reverted[i]`: the schema after the downs from the top to migration `i`, for each down
    /// that ran (`reverted[n]`: the top).
    pub(super) reverted: &'w Series,
    pub(super) ups: &'w [Option<Result<Duration, ApplyFailure>>],
    /// `again[i + 1]`: the schema after migration `i` on the way back up (`again[reached]`:
    /// where the downs stopped).
    pub(super) again: &'w Series,
    pub(super) reached: usize,
}

impl FullWalk<'_, '_> {
    /// One round-trip check per migration, and whether a schema comparison failed.
    pub(super) fn judge(&self, settings: &Settings<'_>, masks: &Masks) -> (Vec<CheckReport>, bool) {
        let n = self.plans.len();
        let mut checks: Vec<Option<CheckReport>> = (0..n).map(|_| None).collect();
        let mut mismatch = false;
        // One whole schema at a time per series: a cursor walks down the downs' schemas (then
        // up the ups'), and the first run's are read as what each step changed.
        let mut reverted = self.reverted.cursor();
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
                Down::Ran(Ok(took)) => {
                    // Every down above this one ran: what they left is `reverted[i + 1]`.
                    let expected = inherit_step(reverted.at(i + 1), self.schemas.step(i), false);
                    let cmp = compare::compare_masked(
                        &expected,
                        reverted.at(i),
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
        drop(reverted);
        let mut again = self.again.cursor();
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
                Ok(took) => {
                    // Every up since `reached` applied: what they left is `again[i]`.
                    let expected = inherit_step(again.at(i), self.schemas.step(i), true);
                    let cmp = compare::compare_masked(
                        &expected,
                        again.at(i + 1),
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
                .map(|p| (p.to_string(), Default::default()))
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

    /// `inherit_step` expects what `inherit` defines, for downs (towards the step's earlier
    /// snapshot) and ups, whatever the database inherited.
    #[test]
    fn inherit_step_is_inherit_from_what_the_step_changed() {
        let states = super::super::store::tests::states();
        let leftover = |s: &Snapshot, extra: &[&str]| {
            let mut s = s.clone();
            for path in extra {
                let mut object = snapshot::SchemaObject::default();
                object
                    .properties
                    .insert("left".to_string(), "over".to_string());
                s.objects.insert(path.to_string(), object.into());
            }
            s
        };
        let mut inherited: Vec<Snapshot> = states.clone();
        for s in &states {
            inherited.push(leftover(s, &["extension x"]));
            inherited.push(leftover(
                s,
                &["table public.t1 > index i", "table public.t3 > index j"],
            ));
            inherited.push(leftover(
                s,
                &["table public.t0 > column id", "table public.t2"],
            ));
            let mut fewer = s.clone();
            fewer.objects.pop_first();
            inherited.push(fewer);
        }
        let mut compared = 0;
        for lo in 0..states.len() {
            for hi in 0..states.len() {
                let mut series = Series::new(0, &states[lo]);
                series.push(&states[hi]);
                for actual_before in &inherited {
                    assert_eq!(
                        inherit_step(actual_before, series.step(0), false),
                        inherit(&states[hi], actual_before, &states[lo]),
                        "down: {lo} -> {hi}"
                    );
                    assert_eq!(
                        inherit_step(actual_before, series.step(0), true),
                        inherit(&states[lo], actual_before, &states[hi]),
                        "up: {lo} -> {hi}"
                    );
                    compared += 2;
                }
            }
        }
        assert_eq!(compared, 2 * 7 * 7 * 35);
    }
}
