//! Telling a non-deterministic definition (a value frozen when the migration ran) from a bad
//! down: two runs of the same ups are compared.

use super::*;

/// Properties shown to be non-deterministic, and one finding per object at the migration
/// that creates it.
#[derive(Default)]
pub(super) struct Nondeterminism {
    pub(super) masks: Masks,
    pub(super) findings: Vec<Finding>,
    /// How the migrations' files split into statements, to point a finding at one.
    pub(super) dialect: Option<Dialect>,
    /// Every property that differed in a step's comparison (masked or not) or between two
    /// runs of the same ups. A split chain's second half, verified without the masks its
    /// first half learned, is kept only when none of those masks is among them: then every
    /// comparison it made is the one a single database would have made.
    pub(super) seen: Masks,
}

impl Nondeterminism {
    /// Compare the first run's schemas with a replay of the same ups (`pairs` of first-run
    /// and replayed schema); a property that differs between two runs of identical SQL is not
    /// deterministic. `replayed[j]` is the replay's schema after `j` ups, which tells which
    /// migration set the property. Returns whether anything new was found.
    pub(super) fn learn(
        &mut self,
        pairs: &[(&Snapshot, &Snapshot)],
        replayed: &[Snapshot],
        plans: &[Plan<'_>],
    ) -> bool {
        let mut found = Masks::new();
        for (first, again) in pairs {
            self.differences(first, again, &mut found);
        }
        let mut creators = std::collections::BTreeMap::new();
        for j in 1..replayed.len() {
            note_creators(&found, &replayed[j - 1], &replayed[j], j, &mut creators);
        }
        self.remember(found, &creators, plans)
    }

    /// Add to `found` the properties that differ between a first-run schema and the replay's
    /// at the same step, and that no mask covers yet.
    pub(super) fn differences(&self, first: &Snapshot, again: &Snapshot, found: &mut Masks) {
        for (path, keys) in nondeterministic(first, again) {
            for key in keys {
                if !self.masks.get(&path).is_some_and(|k| k.contains(&key)) {
                    found.entry(path.clone()).or_default().insert(key);
                }
            }
        }
    }

    /// Mask what was `found`, with one finding per object at the migration that set it
    /// (`creators`, from `note_creators`). Returns whether anything new was found.
    pub(super) fn remember(
        &mut self,
        found: Masks,
        creators: &std::collections::BTreeMap<String, usize>,
        plans: &[Plan<'_>],
    ) -> bool {
        for (path, keys) in &found {
            let creator = creators.get(path).and_then(|&j| plans.get(j - 1));
            if let Some(plan) = creator {
                let dialect = self.dialect.unwrap_or(Dialect::Postgres);
                self.findings
                    .push(nondeterministic_finding(plan, dialect, path, keys));
            }
            self.masks
                .entry(path.clone())
                .or_default()
                .extend(keys.iter().cloned());
        }
        !found.is_empty()
    }
}

impl Nondeterminism {
    /// Note the properties that differ between two schemas compared or replayed.
    pub(super) fn saw(&mut self, a: &Snapshot, b: &Snapshot) {
        for (path, keys) in compare::differing_properties(a, b) {
            self.seen.entry(path).or_default().extend(keys);
        }
    }

    /// Whether a property of `masks` differed in one of this chain's comparisons.
    pub(super) fn saw_any(&self, masks: &Masks) -> bool {
        masks.iter().any(|(path, keys)| {
            self.seen
                .get(path)
                .is_some_and(|seen| !seen.is_disjoint(keys))
        })
    }
}

/// Whether `a` and `b` hold the same objects, equal but for the properties in `masks`.
pub(super) fn same_but_masked(a: &Snapshot, b: &Snapshot, masks: &Masks) -> bool {
    if a == b {
        return true;
    }
    a.objects.len() == b.objects.len()
        && a.objects
            .iter()
            .zip(&b.objects)
            .all(|((path, x), (other, y))| {
                if path != other {
                    return false;
                }
                if x == y {
                    return true;
                }
                let masked = masks.get(path);
                x.cosmetic == y.cosmetic
                    && x.properties.keys().chain(y.properties.keys()).all(|k| {
                        x.properties.get(k) == y.properties.get(k)
                            || masked.is_some_and(|m| m.contains(k))
                    })
            })
}

/// The replay's schemas `before` and `after` its `j`th up: note `j` as the migration that set
/// each `found` object whose properties it changed. Called for `j` in increasing order, this
/// leaves the last migration of the replay that changed one of an object's properties.
pub(super) fn note_creators(
    found: &Masks,
    before: &Snapshot,
    after: &Snapshot,
    j: usize,
    creators: &mut std::collections::BTreeMap<String, usize>,
) {
    fn value<'s>(s: &'s Snapshot, path: &str, key: &str) -> Option<&'s String> {
        s.objects.get(path).and_then(|o| o.properties.get(key))
    }
    for (path, keys) in found {
        if keys
            .iter()
            .any(|k| value(after, path, k) != value(before, path, k))
        {
            creators.insert(path.clone(), j);
        }
    }
}

/// Properties of objects that really differ (not only cosmetically) between two runs.
pub(super) fn nondeterministic(first: &Snapshot, again: &Snapshot) -> Masks {
    let changes = compare::changes(first, again, CosmeticPolicy::Ignore);
    let changed: Vec<&str> = changes
        .iter()
        .filter(|c| c.change == ChangeKind::Changed)
        .map(|c| c.object.as_str())
        .collect();
    compare::differing_properties(first, again)
        .into_iter()
        .filter(|(path, _)| changed.contains(&path.as_str()))
        .collect()
}

pub(super) fn nondeterministic_finding(
    plan: &Plan<'_>,
    dialect: Dialect,
    path: &str,
    keys: &std::collections::BTreeSet<String>,
) -> Finding {
    let keys = keys.iter().cloned().collect::<Vec<_>>().join(", ");
    // The statement that names the object (the last word of its path).
    let name = path
        .rsplit([' ', '.'])
        .next()
        .unwrap_or(path)
        .split('(')
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    let statements = crate::sql::split_as_sent(&plan.migration.up, dialect).unwrap_or_default();
    let statement = statements
        .iter()
        .find(|s| s.sql.to_ascii_lowercase().contains(&name));
    Finding {
        rule: "nondeterministic-definition".to_string(),
        severity: "warning".to_string(),
        file: plan.up.file.display().to_string(),
        line: statement.map(|s| s.line),
        column: statement.map(|_| 1),
        message: format!(
            "{path}: {keys} differs between two runs of the same migrations: it captured a value \
             when the migration ran (e.g. `now()` or `'now'::timestamp` frozen into the \
             definition), a latent bug; round trips do not compare it"
        ),
        statement: statement.map(|s| s.sql.split_whitespace().collect::<Vec<_>>().join(" ")),
        help: Some(
            "compute the value when the object is used (a function call evaluated per query, \
             e.g. `now()` inside a view's WHERE on PostgreSQL is evaluated per query, but \
             `'now'::timestamp` is folded once), or pass it in"
                .to_string(),
        ),
        migration: Some(plan.migration.id.clone()),
        ..Default::default()
    }
}
