//! Template data directories: `initdb` / `mariadb-install-db` run once per server binary and
//! init options; every later run copies the result instead of initialising its own.
//!
//! A template lives in the templates folder (`$MIGCHECK_TEMPLATE_DIR`, else
//! `$XDG_CACHE_HOME/migcheck/templates`, else `~/.cache/migcheck/templates`) as
//! `<engine>-<hash>/` (`data/` and the manifest `migcheck-template.json`), next to a lock file
//! `<engine>-<hash>.lock`. The hash covers the engine, the binaries' paths, the init options and
//! this module's format version; the manifest records what the template was built from (each
//! binary's size, mtime, ctime and inode, the server's `--version`) and every file with its size.
//! A template whose manifest does not match the binaries found now, or whose files are missing
//! or of another size, is rebuilt.
//!
//! Concurrency: readers copy under a shared `flock` on the lock file; a builder holds it
//! exclusively, builds in `.<name>.build-*` next to the template and renames it into place, so
//! no run ever copies a half-built or half-replaced template. A crashed builder leaves at most a
//! `.build-*` folder, swept by the next builder (flocks die with their process).
//!
//! Nothing secret is in a template: PostgreSQL's is initialised with a throwaway password that is
//! never written down (each run sets its own before the server starts), and MariaDB's has no
//! account that logs in over TCP (each run creates `migcheck` with its own password from
//! `--init-file`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::RunAs;
use crate::error::Error;

/// Overrides the templates folder.
pub const DIR_ENV: &str = "MIGCHECK_TEMPLATE_DIR";
/// `1` (anything but empty, `0` or `false`): initialise every data directory afresh.
pub const DISABLE_ENV: &str = "MIGCHECK_NO_TEMPLATE";
/// Bumped whenever what a template holds or how it is used changes.
const FORMAT: u32 = 1;
const MANIFEST: &str = "migcheck-template.json";
const DATA: &str = "data";

/// The templates folder (not created): `$MIGCHECK_TEMPLATE_DIR`, else
/// `$XDG_CACHE_HOME/migcheck/templates`, else `~/.cache/migcheck/templates`.
pub fn templates_dir() -> Option<PathBuf> {
    crate::provision::leftovers::cache_dir(DIR_ENV, "templates")
}

/// Whether `MIGCHECK_NO_TEMPLATE` turns templates off.
pub fn disabled_by_env() -> bool {
    disables(std::env::var(DISABLE_ENV).ok().as_deref())
}

/// `MIGCHECK_NO_TEMPLATE`'s value: unset, empty, `0`, `false` and `no` keep templates on.
fn disables(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        !(v.is_empty() || v == "0" || v == "false" || v == "no")
    })
}

/// Where a run finds its templates; `None` (see `from_env`) means initialise afresh.
#[derive(Debug, Clone)]
pub struct TemplateCache {
    pub dir: PathBuf,
}

impl TemplateCache {
    /// A cache in `dir` (tests point this at a temporary folder).
    pub fn at(dir: impl Into<PathBuf>) -> TemplateCache {
        TemplateCache { dir: dir.into() }
    }

    /// The cache the CLI uses: `None` when `MIGCHECK_NO_TEMPLATE` is set or no folder is known.
    pub fn from_env() -> Option<TemplateCache> {
        if disabled_by_env() {
            return None;
        }
        templates_dir().map(TemplateCache::at)
    }

    fn path(&self, spec: &Spec) -> PathBuf {
        self.dir.join(spec.name())
    }

    fn lock_path(&self, spec: &Spec) -> PathBuf {
        self.dir.join(format!("{}.lock", spec.name()))
    }
}

/// What a flavour's data directory is built from.
pub(super) struct Spec {
    /// `postgres`, `mariadb`.
    pub engine: &'static str,
    /// The programs that build and run the data directory (their identity is recorded).
    pub binaries: Vec<PathBuf>,
    /// The init options, as far as they shape the data directory (no paths of the run).
    pub init_options: Vec<String>,
    /// The server binary and the arguments that print its version.
    pub version_command: (PathBuf, Vec<String>),
}

impl Spec {
    /// `postgres-0123456789abcdef`: engine, resolved binary paths, init options and format hashed.
    pub fn name(&self) -> String {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update(FORMAT.to_le_bytes());
        hash.update(self.engine.as_bytes());
        for b in &self.binaries {
            // Resolved: `mysqld` linked to `mariadbd` shares its template.
            let real = std::fs::canonicalize(b).unwrap_or_else(|_| b.clone());
            hash.update([0u8]);
            hash.update(real.as_os_str().as_encoded_bytes());
        }
        for o in &self.init_options {
            hash.update([1u8]);
            hash.update(o.as_bytes());
        }
        let digest = hash.finalize();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{hex}", self.engine)
    }

    fn identity(&self) -> Result<Identity, String> {
        let binaries = self
            .binaries
            .iter()
            .map(|p| FileId::of(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Identity {
            format: FORMAT,
            engine: self.engine.to_string(),
            binaries,
            init_options: self.init_options.clone(),
        })
    }

    async fn version(&self) -> Result<String, String> {
        let (program, args) = &self.version_command;
        let out = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| format!("cannot run {} --version: {e}", program.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().next().unwrap_or_default().trim();
        if !out.status.success() || line.is_empty() {
            return Err(format!(
                "{} --version printed no version ({})",
                program.display(),
                out.status
            ));
        }
        Ok(line.to_string())
    }
}

/// A binary as it is on disk now: replacing or rebuilding it changes at least one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileId {
    path: PathBuf,
    size: u64,
    inode: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileId {
    fn of(path: &Path) -> Result<FileId, String> {
        use std::os::unix::fs::MetadataExt;
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let m =
            std::fs::metadata(&real).map_err(|e| format!("cannot stat {}: {e}", real.display()))?;
        Ok(FileId {
            path: real,
            size: m.size(),
            inode: m.ino(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }
}

/// What must match for a template to be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    format: u32,
    engine: String,
    binaries: Vec<FileId>,
    init_options: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    identity: Identity,
    /// The server's `--version` line when the template was built.
    version: String,
    /// Seconds since the epoch.
    built_at: u64,
    /// Every directory, file and symlink under `data/`, parents first.
    files: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Dir,
    File,
    Symlink,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// Relative to `data/`; empty for `data/` itself.
    path: PathBuf,
    kind: Kind,
    /// Permission bits.
    mode: u32,
    /// Files only.
    #[serde(default)]
    size: u64,
    /// Symlinks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<PathBuf>,
}

/// How the run's data directory came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Obtained {
    /// Copied from a valid template.
    Copied,
    /// Built for this run by `build`, and stored as the template (unless storing failed).
    Built,
}

/// Why no data directory came from the template.
pub(super) enum Failure {
    /// The build itself failed: a fresh init would fail the same way.
    Build(Error),
    /// The cache could not be used; the caller initialises afresh.
    Cache(String),
}

/// Put a data directory for this run at `dest` (which must not exist): a copy of the valid
/// template, or else `build()`'s output (which `build` writes to `dest`), stored as the new
/// template. Copies are owned by `owner` when given (the server's user when we are root).
pub(super) async fn obtain<F, Fut>(
    cache: &TemplateCache,
    spec: &Spec,
    dest: &Path,
    owner: Option<RunAs>,
    lock_timeout: Duration,
    build: F,
) -> Result<Obtained, Failure>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = crate::error::Result<()>>,
{
    let identity = spec.identity().map_err(Failure::Cache)?;
    create_private_dir_all(&cache.dir).map_err(Failure::Cache)?;
    let tpl = cache.path(spec);
    let lock_path = cache.lock_path(spec);

    {
        let _shared = lock(&lock_path, false, lock_timeout)
            .await
            .map_err(Failure::Cache)?;
        match try_copy(&tpl, &identity, dest, owner).await {
            Ok(()) => {
                tracing::debug!("data directory copied from template {}", tpl.display());
                return Ok(Obtained::Copied);
            }
            Err(why) => tracing::info!("template {}: {why}; building it", tpl.display()),
        }
    }

    let _exclusive = lock(&lock_path, true, lock_timeout)
        .await
        .map_err(Failure::Cache)?;
    // Another run may have built it while we waited for the lock.
    if try_copy(&tpl, &identity, dest, owner).await.is_ok() {
        tracing::debug!("data directory copied from template {}", tpl.display());
        return Ok(Obtained::Copied);
    }
    sweep_debris(&cache.dir, &spec.name());
    build().await.map_err(Failure::Build)?;
    let stored = async {
        let version = spec.version().await?;
        let src = dest.to_path_buf();
        let tpl2 = tpl.clone();
        tokio::task::spawn_blocking(move || store(&src, &tpl2, identity, version))
            .await
            .map_err(|e| format!("storing the template panicked: {e}"))?
    }
    .await;
    match stored {
        Ok(()) => tracing::info!("built template {}", tpl.display()),
        Err(e) => tracing::warn!("cannot store the template {}: {e}", tpl.display()),
    }
    Ok(Obtained::Built)
}

/// Remove the template (a server would not start from it): the next run rebuilds it.
pub(super) async fn discard(cache: &TemplateCache, spec: &Spec, lock_timeout: Duration) {
    let tpl = cache.path(spec);
    let Ok(_exclusive) = lock(&cache.lock_path(spec), true, lock_timeout).await else {
        return;
    };
    if let Err(e) = retire(&tpl) {
        tracing::warn!("cannot remove the template {}: {e}", tpl.display());
    }
}

/// Copy the template at `tpl` to `dest` if its manifest matches `identity`; on any error `dest`
/// is removed again.
async fn try_copy(
    tpl: &Path,
    identity: &Identity,
    dest: &Path,
    owner: Option<RunAs>,
) -> Result<(), String> {
    let manifest = read_manifest(tpl, identity)?;
    let src = tpl.join(DATA);
    let dst = dest.to_path_buf();
    let result = tokio::task::spawn_blocking(move || copy_tree(&src, &manifest.files, &dst, owner))
        .await
        .map_err(|e| format!("copying panicked: {e}"))
        .and_then(|r| r);
    if let Err(e) = &result {
        if let Err(e2) = remove_tree(dest) {
            tracing::warn!("cannot remove {}: {e2}", dest.display());
        }
        return Err(format!("damaged ({e})"));
    }
    result
}

fn read_manifest(tpl: &Path, identity: &Identity) -> Result<Manifest, String> {
    let path = tpl.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(if tpl.exists() {
                "no manifest (incomplete)".to_string()
            } else {
                "not built yet".to_string()
            })
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("unreadable manifest ({e})"))?;
    if manifest.identity != *identity {
        return Err(format!(
            "stale (built from {}, the binaries found now differ)",
            manifest.version
        ));
    }
    if manifest
        .files
        .first()
        .map(|e| (e.path.as_os_str().is_empty(), e.kind))
        != Some((true, Kind::Dir))
    {
        return Err("manifest lists no data directory".to_string());
    }
    Ok(manifest)
}

/// Recreate `files` (from `src`) under `dest`, checking every file's size on the way.
fn copy_tree(src: &Path, files: &[Entry], dest: &Path, owner: Option<RunAs>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    for entry in files {
        if entry.path.is_absolute()
            || entry
                .path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!("bad path {} in the manifest", entry.path.display()));
        }
        let from = src.join(&entry.path);
        let to = if entry.path.as_os_str().is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(&entry.path)
        };
        match entry.kind {
            Kind::Dir => {
                std::fs::create_dir(&to)
                    .and_then(|()| {
                        std::fs::set_permissions(
                            &to,
                            std::fs::Permissions::from_mode(entry.mode & 0o7777),
                        )
                    })
                    .map_err(|e| format!("cannot create {}: {e}", to.display()))?;
            }
            Kind::File => {
                // std::fs::copy uses copy_file_range (a reflink where the file system can) and
                // copies the permission bits.
                let n = std::fs::copy(&from, &to)
                    .map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
                if n != entry.size {
                    return Err(format!(
                        "{} has {n} bytes, the manifest says {}",
                        from.display(),
                        entry.size
                    ));
                }
            }
            Kind::Symlink => {
                let target = entry.target.as_ref().ok_or("symlink without a target")?;
                std::os::unix::fs::symlink(target, &to)
                    .map_err(|e| format!("cannot create {}: {e}", to.display()))?;
            }
        }
        if let Some(r) = owner {
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                &to,
                Some(r.uid),
                Some(r.gid),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| format!("cannot chown {}: {e}", to.display()))?;
        }
    }
    Ok(())
}

/// Every directory, file and symlink under `root`, parents first, sorted.
fn walk(root: &Path) -> Result<Vec<Entry>, String> {
    use std::os::unix::fs::PermissionsExt;
    fn visit(root: &Path, rel: &Path, out: &mut Vec<Entry>) -> Result<(), String> {
        let dir = root.join(rel);
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let path = rel.join(child.file_name());
            let full = root.join(&path);
            let meta = std::fs::symlink_metadata(&full)
                .map_err(|e| format!("cannot stat {}: {e}", full.display()))?;
            let mode = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            if ft.is_dir() {
                out.push(Entry {
                    path: path.clone(),
                    kind: Kind::Dir,
                    mode,
                    size: 0,
                    target: None,
                });
                visit(root, &path, out)?;
            } else if ft.is_file() {
                out.push(Entry {
                    path,
                    kind: Kind::File,
                    mode,
                    size: meta.len(),
                    target: None,
                });
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&full)
                    .map_err(|e| format!("cannot read {}: {e}", full.display()))?;
                out.push(Entry {
                    path,
                    kind: Kind::Symlink,
                    mode,
                    size: 0,
                    target: Some(target),
                });
            } else {
                return Err(format!(
                    "{} is neither a file nor a directory",
                    full.display()
                ));
            }
        }
        Ok(())
    }
    let meta =
        std::fs::metadata(root).map_err(|e| format!("cannot stat {}: {e}", root.display()))?;
    let mut out = vec![Entry {
        path: PathBuf::new(),
        kind: Kind::Dir,
        mode: meta.permissions().mode() & 0o7777,
        size: 0,
        target: None,
    }];
    visit(root, Path::new(""), &mut out)?;
    Ok(out)
}

/// Copy the freshly built data directory `src` into a new template at `tpl`: built in
/// `.<name>.build-*` next to it, the manifest written last, then renamed into place.
fn store(src: &Path, tpl: &Path, identity: Identity, version: String) -> Result<(), String> {
    let parent = tpl.parent().ok_or("template path without a parent")?;
    let name = file_name(tpl);
    let staging = parent.join(format!(".{name}.build-{}", super::random_alnum(8)));
    let result = (|| {
        create_private_dir(&staging)?;
        let files = walk(src)?;
        copy_tree(src, &files, &staging.join(DATA), None)?;
        let manifest = Manifest {
            identity,
            version,
            built_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            files,
        };
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
        std::fs::write(staging.join(MANIFEST), json)
            .map_err(|e| format!("cannot write the manifest: {e}"))?;
        retire(tpl)?;
        std::fs::rename(&staging, tpl)
            .map_err(|e| format!("cannot rename {}: {e}", staging.display()))
    })();
    if result.is_err() {
        let _ = remove_tree(&staging);
    }
    result
}

/// Move an existing template out of the way and remove it (under the exclusive lock).
fn retire(tpl: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(tpl).is_err() {
        return Ok(());
    }
    let parent = tpl.parent().ok_or("template path without a parent")?;
    let stale = parent.join(format!(
        ".{}.stale-{}",
        file_name(tpl),
        super::random_alnum(8)
    ));
    std::fs::rename(tpl, &stale).map_err(|e| format!("cannot move {}: {e}", tpl.display()))?;
    remove_tree(&stale).map_err(|e| format!("cannot remove {}: {e}", stale.display()))
}

/// What crashed builders of `name` left (called with the exclusive lock held).
fn sweep_debris(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let build = format!(".{name}.build-");
    let stale = format!(".{name}.stale-");
    for e in entries.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(&build) || n.starts_with(&stale) {
            tracing::debug!("removing {}", e.path().display());
            let _ = remove_tree(&e.path());
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn remove_tree(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn create_private_dir(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn create_private_dir_all(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// An advisory lock on `path` (created if missing), shared or exclusive, waiting at most
/// `timeout`. Released when dropped, or when the process dies.
async fn lock(
    path: &Path,
    exclusive: bool,
    timeout: Duration,
) -> Result<nix::fcntl::Flock<std::fs::File>, String> {
    use nix::fcntl::{Flock, FlockArg};
    use std::os::unix::fs::OpenOptionsExt;
    let deadline = Instant::now() + timeout;
    let arg = if exclusive {
        FlockArg::LockExclusiveNonblock
    } else {
        FlockArg::LockSharedNonblock
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    loop {
        match Flock::lock(file, arg) {
            Ok(lock) => return Ok(lock),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = f;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(format!(
                    "{} stayed locked for {}s",
                    path.display(),
                    timeout.as_secs()
                ))
            }
            Err((_, e)) => return Err(format!("cannot lock {}: {e}", path.display())),
        }
    }
}

/// The templates in `dir` and their sizes in bytes (for `migcheck cleanup`).
pub fn list(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, u64)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let size = walk(&e.path())
                .map(|files| files.iter().map(|f| f.size).sum())
                .unwrap_or(0);
            (e.path(), size)
        })
        .collect();
    out.sort();
    out
}

/// Remove the template `tpl` (from `list`) once no run copies it (for `migcheck cleanup
/// --templates`); the next run rebuilds it.
pub async fn remove(tpl: &Path) -> Result<(), String> {
    let lock_path = PathBuf::from(format!("{}.lock", tpl.display()));
    let _exclusive = lock(&lock_path, true, Duration::from_secs(30)).await?;
    retire(tpl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(opts: &[&str]) -> Spec {
        Spec {
            engine: "postgres",
            binaries: vec![PathBuf::from("/bin/sh")],
            init_options: opts.iter().map(|s| s.to_string()).collect(),
            version_command: (PathBuf::from("/bin/echo"), vec!["v1".to_string()]),
        }
    }

    #[test]
    fn the_switch_reads_like_a_boolean() {
        for off in [None, Some(""), Some("0"), Some("false"), Some("No")] {
            assert!(!disables(off), "{off:?}");
        }
        for on in [Some("1"), Some("true"), Some("yes")] {
            assert!(disables(on), "{on:?}");
        }
    }

    #[test]
    fn names_depend_on_the_init_options() {
        assert_ne!(spec(&["-E", "UTF8"]).name(), spec(&["-E", "LATIN1"]).name());
        assert_eq!(spec(&["a"]).name(), spec(&["a"]).name());
        assert!(spec(&[]).name().starts_with("postgres-"));
    }

    #[test]
    fn walk_then_copy_reproduces_the_tree_and_checks_sizes() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("base/1")).unwrap();
        std::fs::write(src.join("PG_VERSION"), "15\n").unwrap();
        std::fs::write(src.join("base/1/123"), vec![7u8; 10_000]).unwrap();
        std::fs::set_permissions(src.join("base"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("PG_VERSION", src.join("link")).unwrap();
        let files = walk(&src).unwrap();
        let dst = tmp.path().join("dst");
        copy_tree(&src, &files, &dst, None).unwrap();
        assert_eq!(std::fs::read(dst.join("base/1/123")).unwrap().len(), 10_000);
        assert_eq!(
            std::fs::metadata(dst.join("base"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::read_link(dst.join("link")).unwrap(),
            PathBuf::from("PG_VERSION")
        );

        // A file of another size than recorded: refused.
        std::fs::write(src.join("base/1/123"), b"short").unwrap();
        let err = copy_tree(&src, &files, &tmp.path().join("dst2"), None).unwrap_err();
        assert!(err.contains("the manifest says 10000"), "{err}");
    }

    #[tokio::test]
    async fn obtain_builds_once_then_copies_and_rebuilds_when_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = TemplateCache::at(tmp.path().join("templates"));
        let s = spec(&["x"]);
        let build = |dest: PathBuf| async move {
            std::fs::create_dir(&dest).unwrap();
            std::fs::write(dest.join("f"), "built").unwrap();
            Ok(())
        };
        let d1 = tmp.path().join("d1");
        let got = obtain(&cache, &s, &d1, None, Duration::from_secs(5), || {
            build(d1.clone())
        })
        .await
        .ok()
        .unwrap();
        assert_eq!(got, Obtained::Built);
        let d2 = tmp.path().join("d2");
        let got = obtain(&cache, &s, &d2, None, Duration::from_secs(5), || async {
            panic!("must not build again")
        })
        .await
        .ok()
        .unwrap();
        assert_eq!(got, Obtained::Copied);
        assert_eq!(std::fs::read_to_string(d2.join("f")).unwrap(), "built");

        // A manifest from other binaries: rebuilt.
        let manifest = cache.path(&s).join(MANIFEST);
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        m["identity"]["binaries"][0]["inode"] = 1.into();
        std::fs::write(&manifest, m.to_string()).unwrap();
        let d3 = tmp.path().join("d3");
        let got = obtain(&cache, &s, &d3, None, Duration::from_secs(5), || {
            build(d3.clone())
        })
        .await
        .ok()
        .unwrap();
        assert_eq!(got, Obtained::Built);
    }
}
