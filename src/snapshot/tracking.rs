//! What the incremental trackers of both engines share: the developer switches, the counts for
//! the check switch's closing line, and the check itself.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Snapshot;
use crate::error::{Error, Result};

/// Counts over the whole process, for the check switch's closing line.
static INCREMENTAL: AtomicU64 = AtomicU64::new(0);
static FULL: AtomicU64 = AtomicU64::new(0);
static CHECKED: AtomicU64 = AtomicU64::new(0);

/// (incremental snapshots, full snapshots of tracked databases, incremental ones compared with
/// a full one) taken by this process.
pub fn counts() -> (u64, u64, u64) {
    (
        INCREMENTAL.load(Ordering::Relaxed),
        FULL.load(Ordering::Relaxed),
        CHECKED.load(Ordering::Relaxed),
    )
}

/// `MIGCHECK_SNAPSHOT_CHECK=1`: compare every incremental snapshot with a full one.
pub fn check_enabled() -> bool {
    std::env::var("MIGCHECK_SNAPSHOT_CHECK").is_ok_and(|v| v == "1")
}

/// `MIGCHECK_SNAPSHOT_INCREMENTAL=0`: always take full snapshots (for measuring).
pub fn incremental_enabled() -> bool {
    std::env::var("MIGCHECK_SNAPSHOT_INCREMENTAL").map_or(true, |v| v != "0")
}

pub fn count_incremental() {
    INCREMENTAL.fetch_add(1, Ordering::Relaxed);
}

pub fn count_full() {
    FULL.fetch_add(1, Ordering::Relaxed);
}

/// The check switch: count the comparison of an incremental snapshot with a full one, and fail
/// when they differ (`after`: what ran before them, for the message).
pub fn check(incremental: &Snapshot, full: &Snapshot, after: &str) -> Result<()> {
    CHECKED.fetch_add(1, Ordering::Relaxed);
    match difference(incremental, full) {
        None => Ok(()),
        Some(message) => Err(Error::environment(
            format!(
                "MIGCHECK_SNAPSHOT_CHECK: the incremental snapshot differs from a full one\
                 {after}: {message}"
            ),
            None,
        )),
    }
}

/// The first difference between two snapshots' JSON renderings, if any.
fn difference(incremental: &Snapshot, full: &Snapshot) -> Option<String> {
    let a = serde_json::to_string(incremental).unwrap_or_default();
    let b = serde_json::to_string(full).unwrap_or_default();
    if a == b {
        return None;
    }
    for (path, obj) in &full.objects {
        match incremental.objects.get(path) {
            None => return Some(format!("`{path}` is missing")),
            Some(o) if o != obj => {
                return Some(format!(
                    "`{path}` differs: incremental {:?}, full {:?}",
                    o, obj
                ))
            }
            _ => {}
        }
    }
    for path in incremental.objects.keys() {
        if !full.objects.contains_key(path) {
            return Some(format!("`{path}` is left over"));
        }
    }
    Some("the renderings differ".to_string())
}
