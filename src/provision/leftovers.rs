//! What a run leaves behind if it dies before it can clean up (SIGKILL, power loss, an OOM
//! kill): every run keeps a record of what it created, in a state folder, so that
//! `migcheck cleanup` and the next run can remove it.
//!
//! The record is one JSON file per live run, `<pid>.json` in `$MIGCHECK_STATE_DIR`, else
//! `$XDG_CACHE_HOME/migcheck/runs`, else `~/.cache/migcheck/runs`. It is rewritten whenever
//! the cleanup registry changes and removed when the run ends normally. It holds no password:
//! a throwaway database on a shared server can be dropped only by a run given that server's
//! URL again (`--url`), which is also the proof that the user may.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One thing a run created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Resource {
    /// A temporary directory (a local server's data directory, the Alembic driver's folder),
    /// with the server process running in it, if any.
    Dir {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    /// A throwaway database (and its sandbox role) on a server migcheck did not start.
    Database {
        engine: String,
        /// The server's URL without its password.
        server: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<RoleRecord>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    pub name: String,
    #[serde(default)]
    pub host: String,
}

/// The record of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub pid: u32,
    /// The process's start time (clock ticks since boot, from /proc): a reused pid is not it.
    #[serde(default)]
    pub start_time: Option<u64>,
    pub host: String,
    pub resources: Vec<Resource>,
    /// Where it was read from (not serialized).
    #[serde(skip)]
    pub file: PathBuf,
}

/// The state folder (not created).
pub fn state_dir() -> Option<PathBuf> {
    cache_dir("MIGCHECK_STATE_DIR", "runs")
}

/// A folder of migcheck's in the user's cache (not created): `$override_env`, else
/// `$XDG_CACHE_HOME/migcheck/<leaf>`, else `~/.cache/migcheck/<leaf>`.
pub(crate) fn cache_dir(override_env: &str, leaf: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(override_env).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(cache.join("migcheck").join(leaf))
}

/// The fields of /proc/PID/stat after the command name, from field 3 (the state) on.
pub(crate) fn proc_stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Start time of process `pid` (field 22 of /proc/PID/stat), None where unknown.
pub fn process_start_time(pid: u32) -> Option<u64> {
    proc_stat_fields(&pid.to_string())?.get(19)?.parse().ok()
}

/// Whether the process that wrote `record` still runs (on this host).
pub fn is_alive(record: &RunRecord) -> bool {
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    if record.host != crate::provision::docker::hostname() {
        // Another machine's record in a shared home: never ours to judge.
        return true;
    }
    let exists = match kill(Pid::from_raw(record.pid as i32), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    };
    if !exists {
        return false;
    }
    match (record.start_time, process_start_time(record.pid)) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => true,
    }
}

/// Writes this process's record; failures are logged once and never stop a run.
pub(crate) struct Writer {
    file: Option<PathBuf>,
    warned: bool,
}

impl Writer {
    pub(crate) const fn new() -> Writer {
        Writer {
            file: None,
            warned: false,
        }
    }

    /// Replace the record with `resources` (removing it when there are none).
    pub(crate) fn write(&mut self, resources: Vec<Resource>) {
        if resources.is_empty() {
            if let Some(file) = self.file.take() {
                let _ = std::fs::remove_file(file);
            }
            return;
        }
        let Some(dir) = state_dir() else { return };
        let pid = std::process::id();
        let record = RunRecord {
            pid,
            start_time: process_start_time(pid),
            host: crate::provision::docker::hostname(),
            resources,
            file: PathBuf::new(),
        };
        let file = dir.join(format!("{pid}.json"));
        match write_atomically(&dir, &file, &record) {
            Ok(()) => self.file = Some(file),
            Err(e) if !self.warned => {
                self.warned = true;
                tracing::warn!(
                    "cannot record this run's temporary resources in {} ({e}); \
                     if migcheck is killed, `migcheck cleanup` will not know them",
                    dir.display()
                );
            }
            Err(_) => {}
        }
    }
}

fn write_atomically(dir: &Path, file: &Path, record: &RunRecord) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".run-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(&serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?)?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

/// Every record in the state folder, with the files that could not be read.
pub fn records() -> (Vec<RunRecord>, Vec<(PathBuf, String)>) {
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    let Some(dir) = state_dir() else {
        return (found, unreadable);
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (found, unreadable);
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<RunRecord>(&t).map_err(|e| e.to_string()))
        {
            Ok(mut record) => {
                record.file = path;
                found.push(record);
            }
            Err(e) => unreadable.push((path, e)),
        }
    }
    (found, unreadable)
}

/// Rewrite a dead run's record with what is still left (or remove it).
pub fn rewrite(record: &RunRecord, left: Vec<Resource>) -> std::io::Result<()> {
    if left.is_empty() {
        return match std::fs::remove_file(&record.file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let updated = RunRecord {
        resources: left,
        ..record.clone()
    };
    let dir = record.file.parent().unwrap_or(Path::new("."));
    write_atomically(dir, &record.file, &updated)
}

/// A directory a dead run left: stop the server still running in it (only if its command
/// line names the directory), then remove the directory (only a `migcheck-` one).
pub fn remove_dir(path: &Path, pid: Option<u32>) -> Result<(), String> {
    let named_ours = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("migcheck-"));
    if !named_ours {
        return Err(format!(
            "{} is not a migcheck temporary directory; left alone",
            path.display()
        ));
    }
    stop_processes_in(path, pid);
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

/// SIGKILL every process whose command line names `dir` (the server, or a setup tool's own
/// server), then wait for them to go.
fn stop_processes_in(dir: &Path, known: Option<u32>) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let needle = dir.to_string_lossy().to_string();
    let running = || -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| *pid != std::process::id())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
                    || (Some(*pid) == known && process_cwd_in(*pid, dir))
            })
            .filter(|pid| {
                // Zombies are waiting for their parent, not running.
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rfind(')')
                            .map(|i| s[i + 1..].trim_start().starts_with('Z'))
                    })
                    .is_some_and(|zombie| !zombie)
            })
            .collect()
    };
    let pids = running();
    for pid in &pids {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !pids.is_empty() && !running().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn process_cwd_in(pid: u32, dir: &Path) -> bool {
    std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
}

/// `url` without its password (and without `password=` in the query): the form records keep.
pub fn server_key(url: &str) -> String {
    match ::url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != "password")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if kept.is_empty() {
                u.set_query(None);
            } else {
                u.query_pairs_mut().clear().extend_pairs(kept);
            }
            u.set_path("");
            let text = u.to_string();
            // One server, however its scheme was spelled.
            for (alias, canonical) in [("mariadb://", "mysql://"), ("postgresql://", "postgres://")]
            {
                if let Some(rest) = text.strip_prefix(alias) {
                    return format!("{canonical}{rest}");
                }
            }
            text
        }
        Err(_) => crate::redact::redact_url(url),
    }
}

/// What a sweep of dead runs' records did.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Removed (or, in a dry run, would remove): one line each.
    pub removed: Vec<String>,
    /// Left for later, with the reason (a database on a server no `--url` was given for).
    pub kept: Vec<String>,
    /// Runs still in progress (never touched).
    pub live: Vec<String>,
    pub failed: Vec<String>,
}

/// Remove what dead runs left: their directories (and any process still running in them),
/// and their throwaway databases and roles on the servers among `urls`.
pub async fn sweep(urls: &[crate::redact::SecretUrl], dry_run: bool) -> Sweep {
    let mut out = Sweep::default();
    let (records, unreadable) = records();
    for (path, e) in unreadable {
        out.failed.push(format!(
            "{}: unreadable record ({e}); remove it by hand",
            path.display()
        ));
    }
    for record in records {
        if record.pid == std::process::id() && record.host == crate::provision::docker::hostname() {
            continue;
        }
        if is_alive(&record) {
            out.live.push(format!(
                "run {} on {}: still in progress",
                record.pid, record.host
            ));
            continue;
        }
        let mut left = Vec::new();
        for resource in &record.resources {
            let done = match resource {
                Resource::Dir { path, pid } => {
                    let what = format!("directory {}", path.display());
                    if !path.exists() {
                        Ok(None)
                    } else if dry_run {
                        Ok(Some(what))
                    } else {
                        remove_dir(path, *pid).map(|()| Some(what))
                    }
                }
                Resource::Database {
                    engine,
                    server,
                    name,
                    role,
                } => {
                    let what = match role {
                        Some(r) => format!("database {name} and role {} on {server}", r.name),
                        None => format!("database {name} on {server}"),
                    };
                    match (
                        urls.iter().find(|u| server_key(u.expose()) == *server),
                        engine.parse::<crate::engine::Engine>(),
                    ) {
                        (None, _) | (_, Err(_)) => {
                            out.kept
                                .push(format!("{what}: pass --url for that server to drop it"));
                            left.push(resource.clone());
                            continue;
                        }
                        (Some(_), Ok(_)) if dry_run => Ok(Some(what)),
                        (Some(url), Ok(engine)) => {
                            let role =
                                role.as_ref()
                                    .map(|r| crate::provision::sandbox::SandboxRole {
                                        name: r.name.clone(),
                                        host: r.host.clone(),
                                    });
                            let url = crate::provision::url::normalize(engine, url)
                                .unwrap_or_else(|_| url.clone());
                            crate::provision::drop_leftover(engine, &url, name, role.as_ref())
                                .await
                                .map(|()| Some(what))
                                .map_err(|e| e.to_string())
                        }
                    }
                }
            };
            match done {
                Ok(Some(what)) => out.removed.push(what),
                Ok(None) => {}
                Err(e) => {
                    out.failed.push(e);
                    left.push(resource.clone());
                }
            }
        }
        if !dry_run {
            if let Err(e) = rewrite(&record, left) {
                out.failed
                    .push(format!("cannot update {}: {e}", record.file.display()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys_hold_no_password_and_ignore_the_database() {
        assert_eq!(
            server_key("postgres://ci:s3cret@db:5432/postgres?sslmode=require&password=x"),
            "postgres://ci@db:5432?sslmode=require"
        );
        assert_eq!(
            server_key("mysql://root:pw@127.0.0.1:3306/mysql"),
            server_key("mariadb://root@127.0.0.1:3306/")
        );
    }

    #[test]
    fn own_process_is_alive_and_a_reused_pid_is_not() {
        let pid = std::process::id();
        let mut record = RunRecord {
            pid,
            start_time: process_start_time(pid),
            host: crate::provision::docker::hostname(),
            resources: Vec::new(),
            file: PathBuf::new(),
        };
        assert!(record.start_time.is_some());
        assert!(is_alive(&record));
        record.start_time = record.start_time.map(|t| t + 1);
        assert!(
            !is_alive(&record),
            "same pid, other start time: another process"
        );
    }

    #[test]
    fn only_migcheck_dirs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("precious");
        std::fs::create_dir(&other).unwrap();
        assert!(remove_dir(&other, None).is_err());
        assert!(other.exists());
        let ours = dir.path().join("migcheck-abc");
        std::fs::create_dir_all(ours.join("data")).unwrap();
        remove_dir(&ours, None).unwrap();
        assert!(!ours.exists());
    }
}
