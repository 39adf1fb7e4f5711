//! Stage: compare two snapshots and explain the difference. (Implementation owned by the snapshot work.)

use std::collections::{BTreeMap, BTreeSet};

use similar::{ChangeTag, TextDiff};

use crate::snapshot::{SchemaObject, Snapshot};

mod body;
mod views;

use body::{routine_body_dialect, same_tokens};
use views::{view_order_explained, VIEW_ORDER_KEYS};

/// How differences in behaviour-neutral (cosmetic) properties count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CosmeticPolicy {
    /// Not reported.
    Ignore,
    /// Reported as notes; the check still passes.
    #[default]
    Note,
    /// Reported as failures.
    Fail,
}

impl CosmeticPolicy {
    pub fn name(self) -> &'static str {
        match self {
            CosmeticPolicy::Ignore => "ignore",
            CosmeticPolicy::Note => "note",
            CosmeticPolicy::Fail => "fail",
        }
    }

    pub fn parse(text: &str) -> Option<CosmeticPolicy> {
        match text {
            "ignore" => Some(CosmeticPolicy::Ignore),
            "note" => Some(CosmeticPolicy::Note),
            "fail" => Some(CosmeticPolicy::Fail),
            _ => None,
        }
    }
}

/// The kinds of difference that do not change behaviour (README, "Schema comparison").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CosmeticRule {
    /// A column's position in its table.
    ColumnOrder,
    /// A function, procedure or trigger body that differs only in whitespace or comments
    /// outside string literals.
    RoutineFormatting,
    /// A view's column order that follows from its table's column order.
    ViewColumnOrder,
}

impl CosmeticRule {
    pub const ALL: [CosmeticRule; 3] = [
        CosmeticRule::ColumnOrder,
        CosmeticRule::RoutineFormatting,
        CosmeticRule::ViewColumnOrder,
    ];

    pub fn id(self) -> &'static str {
        match self {
            CosmeticRule::ColumnOrder => "column-order",
            CosmeticRule::RoutineFormatting => "routine-formatting",
            CosmeticRule::ViewColumnOrder => "view-column-order",
        }
    }

    pub fn parse(id: &str) -> Option<CosmeticRule> {
        Self::ALL.into_iter().find(|r| r.id() == id)
    }
}

/// `--cosmetic` for every rule, with per-rule overrides (`--cosmetic-rule RULE=POLICY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    pub default: CosmeticPolicy,
    pub rules: BTreeMap<CosmeticRule, CosmeticPolicy>,
}

impl Policies {
    pub fn of(&self, rule: CosmeticRule) -> CosmeticPolicy {
        self.rules.get(&rule).copied().unwrap_or(self.default)
    }

    /// `note`, or `note, routine-formatting=fail` when some rule differs from the default.
    pub fn describe(&self) -> String {
        let mut s = self.default.name().to_string();
        for (rule, policy) in &self.rules {
            if *policy != self.default {
                s.push_str(&format!(", {}={}", rule.id(), policy.name()));
            }
        }
        s
    }
}

impl From<CosmeticPolicy> for Policies {
    fn from(default: CosmeticPolicy) -> Self {
        Policies {
            default,
            rules: BTreeMap::new(),
        }
    }
}

/// Properties left out of a comparison, by object path: the ones shown to be
/// non-deterministic (two runs of the same SQL gave different values).
pub type Masks = BTreeMap<String, BTreeSet<String>>;

/// The properties of objects present in both snapshots whose values differ.
pub fn differing_properties(a: &Snapshot, b: &Snapshot) -> Masks {
    let mut out = Masks::new();
    for (path, x) in &a.objects {
        let Some(y) = b.objects.get(path) else {
            continue;
        };
        let keys: BTreeSet<&String> = x.properties.keys().chain(y.properties.keys()).collect();
        for key in keys {
            if x.properties.get(key) != y.properties.get(key) {
                out.entry(path.clone()).or_default().insert(key.clone());
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Present in `actual` only.
    Added,
    /// Present in `expected` only.
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectChange {
    pub object: String,
    pub change: ChangeKind,
}

#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Objects whose behaviour-changing properties differ (plus cosmetic ones under `Fail`).
    pub changes: Vec<ObjectChange>,
    /// Human sentences for cosmetic differences under `Note`.
    pub notes: Vec<String>,
    /// Unified diff of the canonical renderings; empty when `changes` is empty.
    pub diff: String,
}

impl Comparison {
    pub fn is_equal(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Compare `actual` against `expected`; labels head the unified diff (`--- {expected_label}`).
pub fn compare(
    expected: &Snapshot,
    actual: &Snapshot,
    policy: impl Into<Policies>,
    expected_label: &str,
    actual_label: &str,
) -> Comparison {
    let _comparing = crate::timing::enter(crate::timing::Bucket::Compare);
    compare_masked(
        expected,
        actual,
        &policy.into(),
        &Masks::new(),
        expected_label,
        actual_label,
    )
}

/// One cosmetic difference of one object: which rule excuses it, and the sentence for a note.
struct Cosmetic {
    rule: CosmeticRule,
    note: String,
}

/// Like `compare`, with the properties in `masks` left out (they are reported elsewhere).
pub fn compare_masked(
    expected: &Snapshot,
    actual: &Snapshot,
    policies: &Policies,
    masks: &Masks,
    expected_label: &str,
    actual_label: &str,
) -> Comparison {
    compared(
        expected,
        actual,
        policies,
        masks,
        Some((expected_label, actual_label)),
    )
}

/// `compare`'s objects that differ, without its diff (which costs a rendering of both
/// snapshots when they differ).
pub fn changes(
    expected: &Snapshot,
    actual: &Snapshot,
    policy: impl Into<Policies>,
) -> Vec<ObjectChange> {
    compared(expected, actual, &policy.into(), &Masks::new(), None).changes
}

/// Every path of two sorted maps in order, with its value in each: one walk along both (a
/// snapshot at 400 tables holds ~5,000 objects, and step mode compares three pairs per
/// migration; collecting the paths into a set and looking each up in both maps cost ~25 string
/// comparisons per path).
fn side_by_side<'a, V>(
    left: &'a BTreeMap<String, V>,
    right: &'a BTreeMap<String, V>,
) -> impl Iterator<Item = (&'a String, Option<&'a V>, Option<&'a V>)> {
    let mut left = left.iter().peekable();
    let mut right = right.iter().peekable();
    std::iter::from_fn(move || match (left.peek(), right.peek()) {
        (Some((l, _)), Some((r, _))) => match l.cmp(r) {
            std::cmp::Ordering::Less => left.next().map(|(k, v)| (k, Some(v), None)),
            std::cmp::Ordering::Greater => right.next().map(|(k, v)| (k, None, Some(v))),
            std::cmp::Ordering::Equal => {
                let (k, l) = left.next()?;
                let (_, r) = right.next()?;
                Some((k, Some(l), Some(r)))
            }
        },
        (Some(_), None) => left.next().map(|(k, v)| (k, Some(v), None)),
        (None, Some(_)) => right.next().map(|(k, v)| (k, None, Some(v))),
        (None, None) => None,
    })
}

/// `compare_masked`, with a diff when `labels` are given.
fn compared(
    expected: &Snapshot,
    actual: &Snapshot,
    policies: &Policies,
    masks: &Masks,
    labels: Option<(&str, &str)>,
) -> Comparison {
    let _comparing = crate::timing::enter(crate::timing::Bucket::Compare);
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    // What the diff shows for `actual`: excused and masked properties take the expected value,
    // so the diff shows behaviour only. Only a failing comparison has a diff: the values are
    // noted here and applied when it is rendered.
    let mut hidden_values: Vec<(&str, &String, Option<&String>)> = Vec::new();

    for (path, e, a) in side_by_side(&expected.objects, &actual.objects) {
        let (e, a) = match (e, a) {
            (Some(e), Some(a)) => (e, a),
            (e, _) => {
                changes.push(ObjectChange {
                    object: path.clone(),
                    change: if e.is_some() {
                        ChangeKind::Removed
                    } else {
                        ChangeKind::Added
                    },
                });
                continue;
            }
        };
        if e == a {
            continue;
        }
        let masked = masks.get(path.as_str());
        let mut real = false;
        let mut cosmetic: Vec<Cosmetic> = cosmetic_differences(path, &e.cosmetic, &a.cosmetic)
            .into_iter()
            .map(|note| Cosmetic {
                rule: CosmeticRule::ColumnOrder,
                note,
            })
            .collect();
        let keys: BTreeSet<&String> = e.properties.keys().chain(a.properties.keys()).collect();
        let differing: Vec<&String> = keys
            .into_iter()
            .filter(|k| e.properties.get(*k) != a.properties.get(*k))
            .filter(|k| !masked.is_some_and(|m| m.contains(*k)))
            .collect();
        let view_order = view_order_explained(path, e, a, &differing, expected, actual);
        // Differing properties that a cosmetic rule excuses, with that rule.
        let mut excused: Vec<(&String, CosmeticRule)> = Vec::new();
        for key in &differing {
            let values = (e.properties.get(*key), a.properties.get(*key));
            if let (Some(ev), Some(av)) = values {
                if routine_body_dialect(path, key, ev).is_some_and(|d| same_tokens(ev, av, d)) {
                    cosmetic.push(Cosmetic {
                        rule: CosmeticRule::RoutineFormatting,
                        note: format!(
                            "{path}: {key} differs only in whitespace or comments (formatting does not change behaviour)"
                        ),
                    });
                    excused.push((key, CosmeticRule::RoutineFormatting));
                    continue;
                }
            }
            if view_order && VIEW_ORDER_KEYS.contains(&key.as_str()) {
                excused.push((key, CosmeticRule::ViewColumnOrder));
                continue;
            }
            real = true;
        }
        if view_order {
            cosmetic.push(Cosmetic {
                rule: CosmeticRule::ViewColumnOrder,
                note: format!(
                    "{path}: column order follows its table's column order (column order does not change behaviour)"
                ),
            });
        }
        let fails = cosmetic
            .iter()
            .any(|c| policies.of(c.rule) == CosmeticPolicy::Fail);
        for c in &cosmetic {
            if policies.of(c.rule) == CosmeticPolicy::Note {
                notes.push(c.note.clone());
            }
        }
        if real || fails {
            changes.push(ObjectChange {
                object: path.clone(),
                change: ChangeKind::Changed,
            });
        }
        // The diff shows what fails: real changes, and cosmetic ones under `fail`.
        let hidden = masked.into_iter().flatten().chain(
            excused
                .iter()
                .filter(|(_, rule)| policies.of(*rule) != CosmeticPolicy::Fail)
                .map(|(key, _)| *key),
        );
        hidden_values.extend(hidden.map(|key| (path.as_str(), key, e.properties.get(key))));
    }
    notes.sort();

    let diff = if let Some((expected_label, actual_label)) = labels.filter(|_| !changes.is_empty())
    {
        let mut hidden: BTreeMap<&str, Vec<(&String, Option<&String>)>> = BTreeMap::new();
        for (path, key, value) in hidden_values {
            hidden.entry(path).or_default().push((key, value));
        }
        // `actual` with those values, rendered without a copy of it.
        let shown = |path: &str| {
            let mut shown = SchemaObject::clone(actual.objects.get(path)?);
            for (key, value) in hidden.get(path)? {
                match value {
                    Some(v) => shown.properties.insert((*key).clone(), (*v).clone()),
                    None => shown.properties.remove(*key),
                };
            }
            Some(shown)
        };
        let with_cosmetic = policies.of(CosmeticRule::ColumnOrder) == CosmeticPolicy::Fail;
        let old = expected.render(with_cosmetic);
        let new = actual.render_replacing(with_cosmetic, shown);
        unified_diff(&old, &new, expected_label, actual_label)
    } else {
        String::new()
    };

    Comparison {
        changes,
        notes,
        diff,
    }
}

/// A unified diff (3 lines of context) whose hunk headers also name the object the hunk's first
/// change belongs to, the way `git diff` names the enclosing function:
/// `@@ -4,7 +4,7 @@ table public.users > column email`.
fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let mut out = String::new();
    let mut unified = diff.unified_diff();
    unified.context_radius(3);
    for hunk in unified.iter_hunks() {
        if out.is_empty() {
            out.push_str(&format!("--- {old_label}\n+++ {new_label}\n"));
        }
        let section = hunk
            .iter_changes()
            .find_map(|c| match c.tag() {
                ChangeTag::Equal => None,
                ChangeTag::Delete => c.old_index().and_then(|i| enclosing_object(&old_lines, i)),
                ChangeTag::Insert => c.new_index().and_then(|i| enclosing_object(&new_lines, i)),
            })
            .map(|p| format!(" {p}"))
            .unwrap_or_default();
        out.push_str(&format!("{}{section}\n", hunk.header()));
        for change in hunk.iter_changes() {
            let value = change.value();
            out.push_str(&format!("{}{value}", change.tag()));
            if !value.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// The object header (an unindented line) that line `index` of a rendering belongs to.
fn enclosing_object<'a>(lines: &[&'a str], index: usize) -> Option<&'a str> {
    lines
        .get(..=index)?
        .iter()
        .rev()
        .find(|l| !l.starts_with(' ') && !l.is_empty())
        .copied()
}

/// One sentence per differing cosmetic property of the object at `path`.
fn cosmetic_differences(
    path: &str,
    expected: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (e, a) = (expected.get(key), actual.get(key));
            if e == a {
                return None;
            }
            let show = |v: Option<&String>| v.map_or("(none)".to_string(), |v| v.clone());
            let why = match key.as_str() {
                "position" => "column order does not change behaviour",
                _ => "cosmetic: does not change behaviour",
            };
            Some(format!("{path}: {key} {} → {} ({why})", show(e), show(a)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::SchemaObject;

    #[test]
    fn side_by_side_walks_every_path_once_in_order() {
        let left: BTreeMap<String, u8> = [("a", 1), ("c", 3), ("d", 4)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let right: BTreeMap<String, u8> = [("b", 20), ("c", 30), ("e", 50)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let walked: Vec<(&str, Option<u8>, Option<u8>)> = side_by_side(&left, &right)
            .map(|(k, l, r)| (k.as_str(), l.copied(), r.copied()))
            .collect();
        assert_eq!(
            walked,
            vec![
                ("a", Some(1), None),
                ("b", None, Some(20)),
                ("c", Some(3), Some(30)),
                ("d", Some(4), None),
                ("e", None, Some(50)),
            ]
        );
        let empty = BTreeMap::new();
        assert_eq!(side_by_side(&left, &empty).count(), 3);
        assert_eq!(side_by_side(&empty, &right).count(), 3);
        assert_eq!(side_by_side::<u8>(&empty, &empty).count(), 0);
    }

    fn obj(props: &[(&str, &str)], cosmetic: &[(&str, &str)]) -> SchemaObject {
        SchemaObject {
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cosmetic: cosmetic
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn snap(objects: Vec<(&str, SchemaObject)>) -> Snapshot {
        Snapshot {
            objects: objects
                .into_iter()
                .map(|(p, o)| (p.to_string(), o.into()))
                .collect(),
        }
    }

    fn base() -> Snapshot {
        snap(vec![
            ("table public.users", obj(&[("kind", "table")], &[])),
            (
                "table public.users > column email",
                obj(
                    &[("type", "text"), ("not null", "yes")],
                    &[("position", "3")],
                ),
            ),
            (
                "table public.users > column id",
                obj(
                    &[("type", "integer"), ("not null", "yes")],
                    &[("position", "1")],
                ),
            ),
            (
                "table public.users > index users_email_idx",
                obj(
                    &[(
                        "definition",
                        "CREATE INDEX users_email_idx ON public.users USING btree (email)",
                    )],
                    &[],
                ),
            ),
        ])
    }

    #[test]
    fn equal_snapshots_compare_equal() {
        for policy in [
            CosmeticPolicy::Ignore,
            CosmeticPolicy::Note,
            CosmeticPolicy::Fail,
        ] {
            let c = compare(&base(), &base(), policy, "a", "b");
            assert!(c.is_equal());
            assert!(c.notes.is_empty());
            assert!(c.diff.is_empty());
        }
    }

    #[test]
    fn added_removed_and_changed_objects_are_sorted_by_path() {
        let expected = base();
        let mut actual = base();
        actual
            .objects
            .remove("table public.users > index users_email_idx");
        actual
            .objects
            .get_mut("table public.users > column email")
            .map(|o| {
                std::sync::Arc::make_mut(o)
                    .properties
                    .insert("type".into(), "character varying(200)".into())
            });
        actual.objects.insert(
            "view public.v".into(),
            obj(&[("definition", "SELECT 1;")], &[]).into(),
        );
        let c = compare(&expected, &actual, CosmeticPolicy::Note, "before", "after");
        assert_eq!(
            c.changes,
            vec![
                ObjectChange {
                    object: "table public.users > column email".into(),
                    change: ChangeKind::Changed
                },
                ObjectChange {
                    object: "table public.users > index users_email_idx".into(),
                    change: ChangeKind::Removed
                },
                ObjectChange {
                    object: "view public.v".into(),
                    change: ChangeKind::Added
                },
            ]
        );
        assert!(c.notes.is_empty());
        assert!(c.diff.starts_with("--- before\n+++ after\n"), "{}", c.diff);
        assert!(c.diff.contains("-  type: text\n"), "{}", c.diff);
        assert!(
            c.diff.contains("+  type: character varying(200)\n"),
            "{}",
            c.diff
        );
        assert!(
            c.diff
                .contains("-table public.users > index users_email_idx\n"),
            "{}",
            c.diff
        );
        assert!(c.diff.contains("+view public.v\n"), "{}", c.diff);
    }

    fn moved() -> Snapshot {
        let mut s = base();
        if let Some(o) = s.objects.get_mut("table public.users > column email") {
            std::sync::Arc::make_mut(o)
                .cosmetic
                .insert("position".into(), "5".into());
        }
        s
    }

    #[test]
    fn cosmetic_difference_is_a_note_under_note() {
        let c = compare(&base(), &moved(), CosmeticPolicy::Note, "a", "b");
        assert!(c.is_equal());
        assert!(c.diff.is_empty());
        assert_eq!(
            c.notes,
            vec!["table public.users > column email: position 3 → 5 (column order does not change behaviour)"]
        );
    }

    #[test]
    fn cosmetic_difference_is_silent_under_ignore() {
        let c = compare(&base(), &moved(), CosmeticPolicy::Ignore, "a", "b");
        assert!(c.is_equal());
        assert!(c.notes.is_empty());
        assert!(c.diff.is_empty());
    }

    #[test]
    fn cosmetic_difference_is_a_change_under_fail() {
        let c = compare(&base(), &moved(), CosmeticPolicy::Fail, "a", "b");
        assert_eq!(
            c.changes,
            vec![ObjectChange {
                object: "table public.users > column email".into(),
                change: ChangeKind::Changed
            }]
        );
        assert!(c.notes.is_empty());
        assert!(c.diff.contains("-  ~position: 3\n"), "{}", c.diff);
        assert!(c.diff.contains("+  ~position: 5\n"), "{}", c.diff);
    }

    #[test]
    fn real_change_on_a_moved_column_still_notes_the_move() {
        let mut actual = moved();
        if let Some(o) = actual.objects.get_mut("table public.users > column email") {
            std::sync::Arc::make_mut(o)
                .properties
                .insert("not null".into(), "no".into());
        }
        let c = compare(&base(), &actual, CosmeticPolicy::Note, "a", "b");
        assert_eq!(c.changes.len(), 1);
        assert_eq!(c.notes.len(), 1);
        // The diff shows behaviour only.
        assert!(!c.diff.contains("position"), "{}", c.diff);
        assert!(c.diff.contains("+  not null: no\n"), "{}", c.diff);
    }

    #[test]
    fn multi_line_values_diff_line_by_line() {
        let f = |body: &str| {
            snap(vec![(
                "function public.f(integer)",
                obj(&[("definition", body)], &[]),
            )])
        };
        let c = compare(
            &f("CREATE FUNCTION f()\nBEGIN\n  RETURN 1;\nEND"),
            &f("CREATE FUNCTION f()\nBEGIN\n  RETURN 2;\nEND"),
            CosmeticPolicy::Note,
            "a",
            "b",
        );
        assert_eq!(c.changes.len(), 1);
        assert!(
            c.diff.contains("-                RETURN 1;\n"),
            "{}",
            c.diff
        );
        assert!(
            c.diff.contains("+                RETURN 2;\n"),
            "{}",
            c.diff
        );
        assert!(
            c.diff.contains(" function public.f(integer)\n"),
            "{}",
            c.diff
        );
    }

    #[test]
    fn hunk_headers_name_the_changed_object() {
        let body = |n: u32| {
            let mut lines: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
            lines[15] = format!("RETURN {n};");
            lines.join("\n")
        };
        let f = |n: u32| {
            snap(vec![
                ("function public.a()", obj(&[("definition", "x")], &[])),
                ("function public.f()", obj(&[("definition", &body(n))], &[])),
            ])
        };
        let c = compare(&f(1), &f(2), CosmeticPolicy::Note, "a", "b");
        let header = c.diff.lines().nth(2).unwrap_or("");
        assert!(header.starts_with("@@ "), "{}", c.diff);
        assert!(header.ends_with(" @@ function public.f()"), "{}", c.diff);
        assert!(!c.diff.contains("\nfunction public.f()\n"), "{}", c.diff);
    }

    fn function(body: &str) -> Snapshot {
        snap(vec![(
            "function public.f()",
            obj(
                &[(
                    "definition",
                    &format!("CREATE OR REPLACE FUNCTION public.f()\n RETURNS integer\n LANGUAGE plpgsql\nAS $function${body}$function$\n"),
                )],
                &[],
            ),
        )])
    }

    #[test]
    fn routine_formatting_follows_its_own_policy() {
        let (a, b) = (
            function("BEGIN RETURN 1; END;"),
            function("\nBEGIN\n  -- one\n  RETURN 1;\nEND;\n"),
        );
        let c = compare(&a, &b, CosmeticPolicy::Note, "a", "b");
        assert!(c.is_equal());
        assert_eq!(c.notes.len(), 1, "{:?}", c.notes);
        let mut strict = Policies::from(CosmeticPolicy::Note);
        strict
            .rules
            .insert(CosmeticRule::RoutineFormatting, CosmeticPolicy::Fail);
        let c = compare(&a, &b, strict.clone(), "a", "b");
        assert_eq!(c.changes.len(), 1);
        assert!(c.diff.contains("-- one"), "{}", c.diff);
        assert_eq!(strict.describe(), "note, routine-formatting=fail");
        // A real change is a change, and the diff shows it.
        let c = compare(
            &a,
            &function("BEGIN RETURN 2; END;"),
            CosmeticPolicy::Note,
            "a",
            "b",
        );
        assert_eq!(c.changes.len(), 1);
        assert!(c.notes.is_empty());
    }

    fn users_and_view(columns: &[&str], view: &[&str]) -> Snapshot {
        let mut objects = vec![(
            "table public.users".to_string(),
            obj(&[("kind", "table")], &[]),
        )];
        for (i, c) in columns.iter().enumerate() {
            objects.push((
                format!("table public.users > column {c}"),
                obj(&[("type", "text")], &[("position", &(i + 1).to_string())]),
            ));
        }
        let items: Vec<String> = view.iter().map(|c| format!("users.{c}")).collect();
        let lines: Vec<String> = view.iter().map(|c| format!("{c} text")).collect();
        objects.push((
            "view public.v".to_string(),
            obj(
                &[
                    (
                        "definition",
                        &format!(" SELECT {}\n   FROM public.users;", items.join(",\n    ")),
                    ),
                    ("columns", &lines.join("\n")),
                ],
                &[],
            ),
        ));
        Snapshot {
            objects: objects.into_iter().map(|(p, o)| (p, o.into())).collect(),
        }
    }

    #[test]
    fn view_column_order_only_when_the_table_explains_it() {
        let before = users_and_view(&["id", "nick", "email"], &["id", "nick", "email"]);
        let after = users_and_view(&["id", "email", "nick"], &["id", "email", "nick"]);
        let c = compare(&before, &after, CosmeticPolicy::Note, "a", "b");
        assert!(c.is_equal(), "{:?}", c.changes);
        assert!(c
            .notes
            .iter()
            .any(|n| n.starts_with("view public.v: column order follows")));
        // The same reorder while the table kept its order is a change.
        let unexplained = users_and_view(&["id", "nick", "email"], &["id", "email", "nick"]);
        let c = compare(&before, &unexplained, CosmeticPolicy::Note, "a", "b");
        assert_eq!(
            c.changes,
            vec![ObjectChange {
                object: "view public.v".into(),
                change: ChangeKind::Changed
            }]
        );
    }

    #[test]
    fn masked_properties_are_not_compared() {
        let a = snap(vec![(
            "view public.v",
            obj(&[("definition", "x > '2026-01-01'"), ("comment", "c")], &[]),
        )]);
        let b = snap(vec![(
            "view public.v",
            obj(&[("definition", "x > '2026-01-02'"), ("comment", "c")], &[]),
        )]);
        let masks: Masks = [(
            "view public.v".to_string(),
            ["definition".to_string()].into(),
        )]
        .into();
        let c = compare_masked(&a, &b, &CosmeticPolicy::Note.into(), &masks, "a", "b");
        assert!(c.is_equal());
        // Only the masked property: another difference on the object still counts, and the
        // diff leaves the masked one out.
        let b2 = snap(vec![(
            "view public.v",
            obj(&[("definition", "x > '2026-01-02'"), ("comment", "d")], &[]),
        )]);
        let c = compare_masked(&a, &b2, &CosmeticPolicy::Note.into(), &masks, "a", "b");
        assert_eq!(c.changes.len(), 1);
        assert!(!c.diff.contains("2026-01-02"), "{}", c.diff);
        assert_eq!(
            differing_properties(&a, &b2)
                .get("view public.v")
                .map(|k| k.len()),
            Some(2)
        );
    }
}
