//! The `local` provider: a private server started from local binaries in a temporary directory.
//!
//! Everything lives in one fresh 0700 temporary directory (data directory, socket, logs); the
//! server listens on a free loopback port only, and the admin account has a random password.
//! The server process gets `PR_SET_PDEATHSIG`, so even a SIGKILLed migcheck leaves no server
//! behind; shutdown, `Drop` and the cleanup registry remove the directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::engine::{Engine, ServerInfo};
use crate::error::{Error, Result};
use crate::provision::cleanup::{self, Cleanup, Registration};
use crate::provision::leftovers;
use crate::provision::{Conn, ProvisionOptions, Server};
use crate::redact::SecretUrl;

pub mod mysql;
pub mod postgres;
pub mod template;

pub use template::TemplateCache;

/// Where to look for server binaries. `from_env` is what the CLI uses; tests build their own.
#[derive(Debug, Clone)]
pub struct SearchPaths {
    /// `--bin-dir`: searched first.
    pub bin_dir: Option<PathBuf>,
    /// The `PATH` value to search (`None`: not searched).
    pub path: Option<OsString>,
    /// Also search the usual install locations (`/usr/lib/postgresql/*/bin`, `/usr/sbin`, ...).
    pub system_dirs: bool,
}

impl SearchPaths {
    /// `--bin-dir`, then `$PATH`, then the usual install locations.
    pub fn from_env(bin_dir: Option<PathBuf>) -> SearchPaths {
        SearchPaths {
            bin_dir,
            path: std::env::var_os("PATH"),
            system_dirs: true,
        }
    }

    /// The directories to search, in order, with the system locations given by the caller.
    fn dirs(&self, system: &[PathBuf]) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        dirs.extend(self.bin_dir.iter().cloned());
        if let Some(path) = &self.path {
            dirs.extend(std::env::split_paths(path).filter(|p| !p.as_os_str().is_empty()));
        }
        if self.system_dirs {
            dirs.extend(system.iter().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        dirs
    }

    /// Human description of the places searched (for error messages).
    fn describe(&self, system_desc: &str) -> String {
        let mut parts = Vec::new();
        if let Some(d) = &self.bin_dir {
            parts.push(format!("--bin-dir {}", d.display()));
        }
        match &self.path {
            Some(p) => parts.push(format!("PATH ({})", p.to_string_lossy())),
            None => parts.push("PATH (unset)".to_string()),
        }
        if self.system_dirs {
            parts.push(system_desc.to_string());
        }
        parts.join(", ")
    }
}

/// Server binaries found for an engine.
#[derive(Debug, Clone)]
pub enum Binaries {
    Postgres(postgres::PgBinaries),
    Mysql(mysql::MyBinaries),
}

impl Binaries {
    /// The directory the server binary lives in.
    pub fn dir(&self) -> &Path {
        match self {
            Binaries::Postgres(b) => &b.dir,
            Binaries::Mysql(b) => b.server.parent().unwrap_or(Path::new("/")),
        }
    }
}

/// Why no binaries were found: the message and hint of the environment error.
#[derive(Debug, Clone)]
pub struct NotFound {
    pub message: String,
    pub hint: String,
}

impl NotFound {
    pub fn into_error(self) -> Error {
        Error::environment(self.message, Some(self.hint))
    }
}

/// Look for the binaries that run `engine`.
pub fn find_binaries(engine: Engine, search: &SearchPaths) -> Result<Binaries, NotFound> {
    match engine {
        Engine::Postgres => postgres::find(search).map(Binaries::Postgres),
        Engine::Mysql | Engine::Mariadb => mysql::find(engine, search).map(Binaries::Mysql),
    }
}

/// Start a private server for `options.engine`, searching `search` for binaries.
pub async fn start(options: &ProvisionOptions, search: &SearchPaths) -> Result<LocalServer> {
    let binaries = find_binaries(options.engine, search).map_err(NotFound::into_error)?;
    start_with(options, &binaries).await
}

/// Start a private server from binaries already found, from the template data directory in the
/// user's cache unless `MIGCHECK_NO_TEMPLATE` is set (see `template`).
pub async fn start_with(options: &ProvisionOptions, binaries: &Binaries) -> Result<LocalServer> {
    start_with_templates(options, binaries, TemplateCache::from_env().as_ref()).await
}

/// `start_with`, copying the data directory from a template in `templates` (`None`: initialise
/// it afresh).
pub async fn start_with_templates(
    options: &ProvisionOptions,
    binaries: &Binaries,
    templates: Option<&TemplateCache>,
) -> Result<LocalServer> {
    match binaries {
        Binaries::Postgres(b) => postgres::start(options, b, templates).await,
        Binaries::Mysql(b) => mysql::start(options, b, templates).await,
    }
}

/// Why one start attempt failed.
pub(crate) enum Attempt {
    /// A failure to report.
    Fatal(Error),
    /// The template could not be used: start again with a fresh init. `discard`: a server did
    /// not start from a copy of it, so it goes too (the next run rebuilds it).
    Template { error: String, discard: bool },
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Attempt {
        Attempt::Fatal(e)
    }
}

impl Attempt {
    /// `e` after the data directory was in place: the template's fault only if it was copied.
    fn from_copy(copied: bool, e: Error) -> Attempt {
        if copied {
            // The first line says what failed; the first error line of the log below it, why.
            let text = e.to_string();
            let mut lines = text.lines().map(str::trim);
            let mut error = lines.next().unwrap_or_default().to_string();
            if let Some(why) = lines.find(|l| looks_like_error(l)) {
                error = format!("{error} {why}");
            }
            Attempt::Template {
                error,
                discard: true,
            }
        } else {
            Attempt::Fatal(e)
        }
    }

    fn into_error(self) -> Error {
        match self {
            Attempt::Fatal(e) => e,
            Attempt::Template { error, .. } => Error::environment(error, None),
        }
    }
}

/// An executable file named `name` in `dir`, if there is one.
fn executable_in(dir: &Path, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let candidate = dir.join(name);
    let meta = std::fs::metadata(&candidate).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(candidate)
}

/// Which user the server runs as: `None` means as ourselves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunAs {
    pub uid: nix::unistd::Uid,
    pub gid: nix::unistd::Gid,
}

/// Servers that refuse to run as root get `preferred` (or `nobody`) when we are root.
fn run_as_for_root(preferred: &str) -> Result<Option<(String, RunAs)>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    for name in [preferred, "nobody"] {
        if let Ok(Some(user)) = nix::unistd::User::from_name(name) {
            return Ok(Some((
                name.to_string(),
                RunAs {
                    uid: user.uid,
                    gid: user.gid,
                },
            )));
        }
    }
    Err(Error::environment(
        format!("running as root, but neither user `{preferred}` nor `nobody` exists to run the server as"),
        Some(format!("create a `{preferred}` system user, or run migcheck as an unprivileged user")),
    ))
}

/// A fresh 0700 temporary directory (honours TMPDIR).
fn make_tempdir() -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("migcheck-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .and_then(|dir| {
            // Whatever the umask did: private.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
            Ok(dir)
        })
        .map_err(|e| {
            Error::environment(
                format!(
                    "cannot create a temporary directory in {}: {e}",
                    std::env::temp_dir().display()
                ),
                Some("set TMPDIR to a writable directory".to_string()),
            )
        })
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::environment(format!("cannot find a free port on 127.0.0.1: {e}"), None))
}

/// A random string of `len` lowercase letters and digits.
pub(crate) fn random_alnum(len: usize) -> String {
    use rand::RngExt;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Make `cmd` die with us: SIGKILL when the spawning thread exits (the runtime's main thread),
/// and refuse to start at all if we are already gone.
fn die_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = nix::unistd::getpid();
    // SAFETY: the closure only makes async-signal-safe syscalls (prctl, getppid) and builds an
    // io::Error from an errno without allocating. It runs after the uid/gid switch, which would
    // otherwise clear the death signal.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::from(nix::errno::Errno::ESRCH));
            }
            Ok(())
        });
    }
}

/// A std command prepared the way every child of the local provider is.
fn command(program: &Path, dir: &Path, run_as: Option<RunAs>) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(program);
    cmd.current_dir(dir)
        .stdin(std::process::Stdio::null())
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env_remove("PGDATA")
        .env_remove("PGPORT")
        .env_remove("MYSQL_HOME");
    if let Some(r) = run_as {
        cmd.uid(r.uid.as_raw()).gid(r.gid.as_raw());
    }
    die_with_parent(&mut cmd);
    cmd
}

/// Run a setup tool (initdb, install-db) to completion, its output appended to `log`.
async fn run_tool(
    mut cmd: std::process::Command,
    what: &str,
    log: &Path,
    timeout: Duration,
    secrets: &[&str],
) -> Result<()> {
    let out = open_log(log)?;
    let err = out
        .try_clone()
        .map_err(|e| Error::environment(format!("cannot open {}: {e}", log.display()), None))?;
    cmd.stdout(out).stderr(err);
    // Its own process group: the tool starts servers of its own (install-db bootstraps a
    // mariadbd) that must stop with it before its directory is removed.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    tracing::debug!(command = ?cmd, "running {what}");
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::environment(format!("cannot run {what}: {e}"), None))?;
    let group = child.id().map(|pid| ToolGroup(pid as i32));
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            return Err(Error::environment(
                format!("waiting for {what} failed: {e}"),
                None,
            ))
        }
        Err(_) => {
            let _ = child.kill().await;
            return Err(Error::environment(
                format!(
                    "{what} did not finish within {}s; its output:\n{}",
                    timeout.as_secs(),
                    log_tail(log, 0, secrets)
                ),
                None,
            ));
        }
    };
    if !status.success() {
        return Err(Error::environment(
            format!(
                "{what} failed ({status}); its output:\n{}",
                log_tail(log, 0, secrets)
            ),
            None,
        ));
    }
    // Finished cleanly: nothing of it runs any more, and its pid may be reused.
    std::mem::forget(group);
    Ok(())
}

/// Kills a setup tool's whole process group when dropped (finished, timed out, or the run
/// interrupted), and waits until none of it runs: only then may its directory go.
struct ToolGroup(i32);

impl Drop for ToolGroup {
    fn drop(&mut self) {
        let group = Pid::from_raw(self.0);
        if nix::sys::signal::killpg(group, Signal::SIGKILL).is_err() {
            return; // nothing left in it
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_running(self.0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Whether any process of group `pgid` still runs (zombies do not count).
fn group_running(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let Some(fields) = e.file_name().to_str().and_then(leftovers::proc_stat_fields) else {
            return false;
        };
        let state = fields.first().map(String::as_str);
        let pgrp = fields.get(2).and_then(|g| g.parse::<i32>().ok());
        pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
    })
}

fn open_log(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::environment(format!("cannot open {}: {e}", path.display()), None))
}

/// The last 20 lines of a log file after byte offset `from`, secrets removed, indented.
fn log_tail(path: &Path, from: u64, secrets: &[&str]) -> String {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return format!("    (cannot read {}: {e})", path.display()),
    };
    let start = usize::try_from(from).unwrap_or(0).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start..]);
    let text = crate::redact::scrub(&text, secrets);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "    (no output)".to_string();
    }
    let tail_start = lines.len().saturating_sub(20);
    // A tool's last lines are often boilerplate advice (install-db prints 20 of them after
    // the error): the error lines above the tail come first.
    let errors: Vec<&str> = lines[..tail_start]
        .iter()
        .copied()
        .filter(|l| looks_like_error(l))
        .take(10)
        .collect();
    let mut shown: Vec<String> = errors.iter().map(|l| format!("    {l}")).collect();
    if !errors.is_empty() {
        shown.push("    ...".to_string());
    }
    shown.extend(lines[tail_start..].iter().map(|l| format!("    {l}")));
    shown.join("\n")
}

fn looks_like_error(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    ["error", "fatal", "failed", "abort"]
        .iter()
        .any(|w| lower.contains(w))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The server process and its temporary directory; removes both at the latest when dropped.
pub(crate) struct ServerProcess {
    state: Mutex<ProcessState>,
    /// Sent for a quick orderly shutdown.
    stop_signal: Signal,
    label: String,
}

struct ProcessState {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    fn new(dir: tempfile::TempDir, stop_signal: Signal, label: String) -> ServerProcess {
        ServerProcess {
            state: Mutex::new(ProcessState {
                child: None,
                dir: Some(dir),
            }),
            stop_signal,
            label,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ProcessState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_child(&self, child: Child) {
        self.lock().child = Some(child);
        // The record now names the process to stop if migcheck dies.
        cleanup::refresh();
    }

    fn pid(&self) -> Option<u32> {
        self.lock().child.as_ref().map(Child::id)
    }

    fn dir(&self) -> Option<PathBuf> {
        self.lock().dir.as_ref().map(|d| d.path().to_path_buf())
    }

    /// `Some(status)` when the server process has exited.
    fn exited(&self) -> Option<String> {
        let mut st = self.lock();
        let child = st.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                st.child = None;
                Some(status.to_string())
            }
            Ok(None) => None,
            Err(e) => Some(format!("unknown status ({e})")),
        }
    }

    /// Orderly stop: the stop signal, SIGKILL after 5 s, then remove the directory.
    async fn stop(&self) {
        let (child, dir) = {
            let mut st = self.lock();
            (st.child.take(), st.dir.take())
        };
        if let Some(mut child) = child {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, self.stop_signal);
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        tracing::warn!("{} did not stop within 5s; killing it", self.label);
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
        remove_dir(dir);
    }

    /// Synchronous stop for `Drop` (panics, early returns, interrupts): the stop signal, SIGKILL
    /// after 2 s, reap, remove the directory. Blocks the calling thread meanwhile.
    fn kill_now(&self) {
        let (child, dir) = {
            let mut st = self.lock();
            (st.child.take(), st.dir.take())
        };
        if let Some(mut child) = child {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, self.stop_signal);
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
        remove_dir(dir);
    }
}

fn remove_dir(dir: Option<tempfile::TempDir>) {
    if let Some(dir) = dir {
        let path = dir.path().to_path_buf();
        if let Err(e) = dir.close() {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_now();
    }
}

#[async_trait::async_trait]
impl Cleanup for ServerProcess {
    fn label(&self) -> String {
        self.label.clone()
    }
    fn record(&self) -> Option<crate::provision::leftovers::Resource> {
        Some(crate::provision::leftovers::Resource::Dir {
            path: self.dir()?,
            pid: self.pid(),
        })
    }
    async fn run(&self) {
        self.stop().await;
    }
}

/// How a start attempt ended.
enum Readiness {
    Ready(ServerInfo),
    /// The server exited; `port_in_use` when its log says the port was taken.
    Exited {
        status: String,
        port_in_use: bool,
    },
    TimedOut {
        last_error: String,
    },
}

/// Poll the server with connect-and-`SELECT 1` until it answers, exits or `timeout` passes.
async fn wait_ready(
    process: &ServerProcess,
    engine: Engine,
    admin_url: &SecretUrl,
    log: &Path,
    log_from: u64,
    timeout: Duration,
) -> Readiness {
    let deadline = Instant::now() + timeout;
    let mut last_error = String::from("no connection attempt finished");
    loop {
        if let Some(status) = process.exited() {
            let text = std::fs::read(log)
                .map(|b| {
                    let start = usize::try_from(log_from).unwrap_or(0).min(b.len());
                    String::from_utf8_lossy(&b[start..]).into_owned()
                })
                .unwrap_or_default();
            let port_in_use = text.contains("Address already in use")
                || text.contains("could not bind")
                || text.contains("Bind on TCP/IP port");
            return Readiness::Exited {
                status,
                port_in_use,
            };
        }
        let now = Instant::now();
        if now >= deadline {
            return Readiness::TimedOut { last_error };
        }
        let attempt = (deadline - now).min(Duration::from_secs(2));
        match tokio::time::timeout(attempt, probe(engine, admin_url)).await {
            Ok(Ok(info)) => return Readiness::Ready(info),
            Ok(Err(e)) => last_error = crate::provision::conn::scrub_error(&e, admin_url),
            Err(_) => last_error = "connection attempt timed out".to_string(),
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

async fn probe(engine: Engine, url: &SecretUrl) -> std::result::Result<ServerInfo, sqlx::Error> {
    let mut conn = Conn::try_connect(engine, url).await?;
    conn.execute("SELECT 1").await?;
    let info = conn.server_info().await;
    conn.close().await;
    info
}

/// What a flavour-specific start routine hands to `launch`.
struct Launch<'a> {
    engine: Engine,
    process: &'a ServerProcess,
    log: &'a Path,
    timeout: Duration,
    password: &'a str,
    what: &'a str,
}

/// Spawn the server (built by `make_cmd` for a port) until it is ready, retrying on a port clash.
async fn launch<F>(l: Launch<'_>, mut make_cmd: F) -> Result<(ServerInfo, SecretUrl)>
where
    F: FnMut(u16) -> Result<(std::process::Command, SecretUrl)>,
{
    const ATTEMPTS: u32 = 3;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        let (mut cmd, url) = make_cmd(port)?;
        let log_from = file_len(l.log);
        let out = open_log(l.log)?;
        let err = out.try_clone().map_err(|e| {
            Error::environment(format!("cannot open {}: {e}", l.log.display()), None)
        })?;
        cmd.stdout(out).stderr(err);
        tracing::debug!(command = ?cmd, "starting {}", l.what);
        let child = cmd
            .spawn()
            .map_err(|e| Error::environment(format!("cannot start {}: {e}", l.what), None))?;
        l.process.set_child(child);
        match wait_ready(l.process, l.engine, &url, l.log, log_from, l.timeout).await {
            Readiness::Ready(info) => return Ok((info, url)),
            Readiness::Exited {
                port_in_use: true, ..
            } if attempt < ATTEMPTS => {
                tracing::info!("port {port} was taken; retrying on another port");
                continue;
            }
            Readiness::Exited { status, .. } => {
                return Err(Error::environment(
                    format!(
                        "{} exited during startup ({status}); last lines of its log:\n{}",
                        l.what,
                        log_tail(l.log, log_from, &[l.password])
                    ),
                    None,
                ))
            }
            Readiness::TimedOut { last_error } => {
                return Err(Error::environment(
                    format!(
                        "{} was not ready within {}s (last error: {last_error}); last lines of its log:\n{}",
                        l.what,
                        l.timeout.as_secs(),
                        log_tail(l.log, log_from, &[l.password])
                    ),
                    Some("raise --startup-timeout if the machine is slow".to_string()),
                ))
            }
        }
    }
}

/// A server migcheck started from local binaries; stopped and removed by `shutdown`, by the
/// cleanup registry, or at the latest when dropped.
pub struct LocalServer {
    process: Arc<ServerProcess>,
    _registration: Registration,
    info: ServerInfo,
    admin_url: SecretUrl,
    startup: Duration,
    bin_dir: PathBuf,
    pid: u32,
    dir: PathBuf,
}

impl LocalServer {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The temporary directory holding data, socket and logs (removed on shutdown).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the binaries came from.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer")
            .field("info", &self.info)
            .field("admin_url", &self.admin_url)
            .field("pid", &self.pid)
            .field("dir", &self.dir)
            .field("bin_dir", &self.bin_dir)
            .finish()
    }
}

/// Human name of an engine family.
pub(crate) fn engine_title(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "PostgreSQL",
        Engine::Mysql => "MySQL",
        Engine::Mariadb => "MariaDB",
    }
}

/// `15.8` from `15.8 (Debian 15.8-0+deb12u1)`, `10.11.6` from `10.11.6-MariaDB-0+deb12u1`.
pub(crate) fn short_version(version: &str) -> &str {
    let end = version
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(version.len());
    if end == 0 {
        version
    } else {
        &version[..end]
    }
}

#[async_trait::async_trait]
impl Server for LocalServer {
    fn provider(&self) -> &'static str {
        "local"
    }

    fn describe(&self) -> String {
        format!(
            "local {} {} ({})",
            engine_title(self.info.engine),
            short_version(&self.info.version),
            self.bin_dir.display()
        )
    }

    fn info(&self) -> &ServerInfo {
        &self.info
    }

    fn startup(&self) -> Duration {
        self.startup
    }

    fn admin_url(&self) -> &SecretUrl {
        &self.admin_url
    }

    async fn shutdown(&self) -> Result<()> {
        self.process.stop().await;
        Ok(())
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.process.kill_now();
    }
}

/// Wrap a ready server process into a `LocalServer`.
fn finish(
    process: Arc<ServerProcess>,
    registration: Registration,
    info: ServerInfo,
    admin_url: SecretUrl,
    started: Instant,
    bin_dir: &Path,
) -> LocalServer {
    let pid = process.pid().unwrap_or(0);
    let dir = process.dir().unwrap_or_default();
    let server = LocalServer {
        process,
        _registration: registration,
        info,
        admin_url,
        startup: started.elapsed(),
        bin_dir: bin_dir.to_path_buf(),
        pid,
        dir,
    };
    tracing::info!(
        "{} ready in {} ms (pid {}, {})",
        server.describe(),
        server.startup.as_millis(),
        server.pid,
        server.dir.display()
    );
    server
}

/// Create the temp dir and register its process guard before anything is started in it.
fn prepare(
    label: String,
    stop_signal: Signal,
) -> Result<(Arc<ServerProcess>, Registration, PathBuf)> {
    let dir = make_tempdir()?;
    let path = dir.path().to_path_buf();
    let process = Arc::new(ServerProcess::new(dir, stop_signal, label));
    let registration = cleanup::register(process.clone());
    Ok((process, registration, path))
}

/// Hand ownership of `path` to `run_as` (no-op when running as ourselves).
fn chown_to(path: &Path, run_as: Option<RunAs>) -> Result<()> {
    if let Some(r) = run_as {
        nix::unistd::chown(path, Some(r.uid), Some(r.gid)).map_err(|e| {
            Error::environment(format!("cannot chown {}: {e}", path.display()), None)
        })?;
    }
    Ok(())
}

/// Write a private file (0600).
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(|e| Error::environment(format!("cannot write {}: {e}", path.display()), None))
}

/// How long setup tools (initdb, install-db) may take.
fn setup_timeout(options: &ProvisionOptions) -> Duration {
    (options.startup_timeout * 2).max(Duration::from_secs(120))
}

/// Unix socket paths are limited to 107 bytes.
fn socket_path_fits(path: &Path) -> bool {
    path.as_os_str().len() < 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_versions() {
        assert_eq!(short_version("15.8 (Debian 15.8-0+deb12u1)"), "15.8");
        assert_eq!(short_version("10.11.6-MariaDB-0+deb12u1"), "10.11.6");
        assert_eq!(short_version("devel"), "devel");
    }

    #[test]
    fn log_tail_puts_the_error_above_boilerplate_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("install.log");
        let mut text = String::from(
            "Installing system tables\nERROR: 1051  Unknown table 'mysql.tmp_user_sys'\n",
        );
        for i in 0..25 {
            text.push_str(&format!("advice line {i}\n\n"));
        }
        std::fs::write(&log, text).unwrap();
        let shown = log_tail(&log, 0, &[]);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(
            lines[0],
            "    ERROR: 1051  Unknown table 'mysql.tmp_user_sys'"
        );
        assert_eq!(lines[1], "    ...");
        assert_eq!(lines.last(), Some(&"    advice line 24"));
        assert_eq!(lines.len(), 22, "{shown}");
    }

    #[test]
    fn random_names_are_lowercase_alnum() {
        let s = random_alnum(12);
        assert_eq!(s.len(), 12);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn search_dirs_are_ordered_and_unique() {
        let s = SearchPaths {
            bin_dir: Some(PathBuf::from("/opt/x")),
            path: Some(OsString::from("/a:/b:/a")),
            system_dirs: true,
        };
        assert_eq!(
            s.dirs(&[PathBuf::from("/b"), PathBuf::from("/c")]),
            vec![
                PathBuf::from("/opt/x"),
                PathBuf::from("/a"),
                PathBuf::from("/b"),
                PathBuf::from("/c")
            ]
        );
    }
}
