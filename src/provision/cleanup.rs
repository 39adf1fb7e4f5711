//! Process-wide registry of everything provisioning created and must remove again: local server
//! processes with their temporary directories, and throwaway databases on `url` servers.
//!
//! Three paths lead here:
//! * the normal path: `Server::shutdown` / `Database::drop_database` remove what they own and
//!   unregister it; `cleanup_all` removes whatever is left;
//! * an interrupt: `run_guarded` drops the pipeline future on SIGINT/SIGTERM, then runs
//!   `cleanup_all` before returning `Error::Interrupted`;
//! * a panic or early return: the local server guard kills its process and removes its
//!   directory synchronously in `Drop`.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// Something that must be undone before migcheck exits.
#[async_trait::async_trait]
pub(crate) trait Cleanup: Send + Sync {
    /// What is being cleaned up, for logs (never contains a password).
    fn label(&self) -> String;
    /// Remove the resource. Must be idempotent and must not fail loudly: log instead.
    async fn run(&self);
    /// What to write in the run's record so that `migcheck cleanup` can remove the resource
    /// if this process dies without running the action (None: nothing would outlive it).
    fn record(&self) -> Option<super::leftovers::Resource> {
        None
    }
}

struct Entry {
    id: u64,
    /// For throwaway databases: the database name (unique, random), used to unregister.
    database: Option<String>,
    /// For throwaway databases: the admin URL of the server it lives on.
    server: Option<String>,
    action: Arc<dyn Cleanup>,
}

struct Registry {
    next_id: u64,
    entries: Vec<Entry>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_id: 1,
    entries: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves the data consistent (pushes and removals only).
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

static RECORD: Mutex<super::leftovers::Writer> = Mutex::new(super::leftovers::Writer::new());

/// Write the run's record from the registry (called with the registry locked, after a change).
fn persist(reg: &Registry) {
    let resources = reg
        .entries
        .iter()
        .filter_map(|e| e.action.record())
        .collect();
    RECORD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .write(resources);
}

/// Rewrite the run's record (a registered resource's record changed, e.g. its process started).
pub(crate) fn refresh() {
    persist(&registry());
}

fn push(database: Option<String>, server: Option<String>, action: Arc<dyn Cleanup>) -> u64 {
    let mut reg = registry();
    let id = reg.next_id;
    reg.next_id += 1;
    tracing::debug!(id, what = %action.label(), "registered for cleanup");
    reg.entries.push(Entry {
        id,
        database,
        server,
        action,
    });
    persist(&reg);
    id
}

/// Keeps a resource registered while alive; dropping it unregisters (without running the action).
pub(crate) struct Registration {
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut reg = registry();
        reg.entries.retain(|e| e.id != self.id);
        persist(&reg);
    }
}

/// Register a resource; it stays registered until the returned guard is dropped.
pub(crate) fn register(action: Arc<dyn Cleanup>) -> Registration {
    Registration {
        id: push(None, None, action),
    }
}

/// A directory its owner removes itself (a `TempDir`), recorded only so that
/// `migcheck cleanup` finds it if this process is killed.
struct RecordedDir(std::path::PathBuf);

#[async_trait::async_trait]
impl Cleanup for RecordedDir {
    fn label(&self) -> String {
        format!("directory {}", self.0.display())
    }
    async fn run(&self) {}
    fn record(&self) -> Option<super::leftovers::Resource> {
        Some(super::leftovers::Resource::Dir {
            path: self.0.clone(),
            pid: None,
        })
    }
}

/// Record `path` in the run's record while the returned guard lives.
pub(crate) fn record_dir(path: &std::path::Path) -> Registration {
    register(Arc::new(RecordedDir(path.to_path_buf())))
}

/// Register a throwaway database (keyed by its unique name) living on the server `server_admin_url`.
pub(crate) fn register_database(name: &str, server_admin_url: &str, action: Arc<dyn Cleanup>) {
    push(
        Some(name.to_string()),
        Some(server_admin_url.to_string()),
        action,
    );
}

/// Unregister a throwaway database and hand back its cleanup (to run it now).
pub(crate) fn take_database(name: &str) -> Option<Arc<dyn Cleanup>> {
    let mut reg = registry();
    let at = reg
        .entries
        .iter()
        .position(|e| e.database.as_deref() == Some(name))?;
    let action = reg.entries.remove(at).action;
    persist(&reg);
    Some(action)
}

/// Forget a throwaway database (it was dropped).
pub(crate) fn unregister_database(name: &str) {
    let mut reg = registry();
    reg.entries.retain(|e| e.database.as_deref() != Some(name));
    persist(&reg);
}

/// Unregister and return the cleanups of every throwaway database still registered on a server.
pub(crate) fn take_databases_on(server_admin_url: &str) -> Vec<Arc<dyn Cleanup>> {
    let mut reg = registry();
    let mut taken = Vec::new();
    reg.entries.retain(|e| {
        if e.database.is_some() && e.server.as_deref() == Some(server_admin_url) {
            taken.push(e.action.clone());
            false
        } else {
            true
        }
    });
    persist(&reg);
    taken
}

/// How many resources are currently registered.
pub fn pending() -> usize {
    registry().entries.len()
}

/// Remove everything still registered, newest first (databases before the servers they live on).
/// Safe to call more than once; failures are logged, not returned.
pub async fn cleanup_all() {
    let entries: Vec<Entry> = std::mem::take(&mut registry().entries);
    for entry in entries.into_iter().rev() {
        tracing::info!(what = %entry.action.label(), "cleaning up");
        entry.action.run().await;
    }
    persist(&registry());
}

/// Run `fut`, racing SIGINT, SIGTERM and SIGHUP (a closed terminal or CI runner: handled like
/// SIGTERM). On a signal, `fut` is dropped (its guards kill what they
/// own), every registered resource is removed, and `Error::Interrupted` is returned.
pub async fn run_guarded<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    use tokio::signal::unix::{signal, SignalKind};

    let (mut sigint, mut sigterm, mut sighup) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(i), Ok(t), Ok(h)) => (i, t, h),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::warn!(
                "cannot install signal handlers ({e}); running without interrupt cleanup"
            );
            return fut.await;
        }
    };

    let name: &'static str = tokio::select! {
        result = fut => return result,
        _ = sigint.recv() => "SIGINT",
        _ = sigterm.recv() => "SIGTERM",
        _ = sighup.recv() => "SIGHUP",
    };
    // `fut` has been dropped by now: its local guards already ran.
    tracing::warn!("received {name}; cleaning up");
    cleanup_all().await;
    Err(Error::Interrupted(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counter(Arc<AtomicUsize>);

    #[async_trait::async_trait]
    impl Cleanup for Counter {
        fn label(&self) -> String {
            "counter".to_string()
        }
        async fn run(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn guarded_future_result_passes_through() {
        assert_eq!(run_guarded(async { Ok(7) }).await.unwrap(), 7);
        let err = run_guarded(async { Err::<(), _>(Error::Usage("bad".into())) })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Usage(_)));
    }

    #[tokio::test]
    async fn databases_are_taken_per_server_and_registrations_unregister() {
        let runs = Arc::new(AtomicUsize::new(0));
        register_database(
            "migcheck_unit_a",
            "postgres://unit-a",
            Arc::new(Counter(runs.clone())),
        );
        register_database(
            "migcheck_unit_b",
            "postgres://unit-b",
            Arc::new(Counter(runs.clone())),
        );
        let taken = take_databases_on("postgres://unit-a");
        assert_eq!(taken.len(), 1);
        for t in taken {
            t.run().await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(take_databases_on("postgres://unit-a").is_empty());
        unregister_database("migcheck_unit_b");
        assert!(take_databases_on("postgres://unit-b").is_empty());

        let reg = register(Arc::new(Counter(runs.clone())));
        let id = reg.id;
        assert!(registry().entries.iter().any(|e| e.id == id));
        drop(reg);
        assert!(!registry().entries.iter().any(|e| e.id == id));
        assert_eq!(runs.load(Ordering::SeqCst), 1, "unregistering must not run");
    }
}
