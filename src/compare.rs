//! Stage: compare two snapshots and explain the difference. (Implementation owned by the snapshot work.)

use std::collections::{BTreeMap, BTreeSet};

use similar::{ChangeTag, TextDiff};

use crate::snapshot::Snapshot;

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
    policy: CosmeticPolicy,
    expected_label: &str,
    actual_label: &str,
) -> Comparison {
    let mut changes = Vec::new();
    let mut notes = Vec::new();

    let paths: BTreeSet<&String> = expected
        .objects
        .keys()
        .chain(actual.objects.keys())
        .collect();
    for path in paths {
        let kind = match (expected.objects.get(path), actual.objects.get(path)) {
            (Some(_), None) => Some(ChangeKind::Removed),
            (None, Some(_)) => Some(ChangeKind::Added),
            (Some(e), Some(a)) => {
                let cosmetic = cosmetic_differences(path, &e.cosmetic, &a.cosmetic);
                if e.properties != a.properties
                    || (policy == CosmeticPolicy::Fail && !cosmetic.is_empty())
                {
                    Some(ChangeKind::Changed)
                } else {
                    if policy == CosmeticPolicy::Note {
                        notes.extend(cosmetic);
                    }
                    None
                }
            }
            (None, None) => None,
        };
        if let Some(change) = kind {
            changes.push(ObjectChange {
                object: path.clone(),
                change,
            });
        }
    }
    // An object with a real change may also have moved; under `Note` say so as well.
    if policy == CosmeticPolicy::Note {
        for c in &changes {
            if c.change == ChangeKind::Changed {
                if let (Some(e), Some(a)) = (
                    expected.objects.get(&c.object),
                    actual.objects.get(&c.object),
                ) {
                    notes.extend(cosmetic_differences(&c.object, &e.cosmetic, &a.cosmetic));
                }
            }
        }
        notes.sort();
    }

    let diff = if changes.is_empty() {
        String::new()
    } else {
        let with_cosmetic = policy == CosmeticPolicy::Fail;
        let old = expected.render(with_cosmetic);
        let new = actual.render(with_cosmetic);
        unified_diff(&old, &new, expected_label, actual_label)
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
                .map(|(p, o)| (p.to_string(), o))
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
                o.properties
                    .insert("type".into(), "character varying(200)".into())
            });
        actual.objects.insert(
            "view public.v".into(),
            obj(&[("definition", "SELECT 1;")], &[]),
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
            o.cosmetic.insert("position".into(), "5".into());
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
            o.properties.insert("not null".into(), "no".into());
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
}
