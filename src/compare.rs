//! Stage: compare two snapshots and explain the difference. (Implementation owned by the snapshot work.)

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
    let _ = (policy, expected_label, actual_label);
    if expected == actual {
        Comparison::default()
    } else {
        Comparison {
            changes: vec![],
            notes: vec![],
            diff: String::new(),
        }
    }
}
