//! The few git operations the history stage needs, through the `git` command (the user's own
//! git, with their configuration, alternates and partial clones): no parser of our own.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// A git work tree that holds the migrations folder.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The work tree's top level.
    pub root: PathBuf,
}

impl Repo {
    /// The repository that holds `path`, or None when `path` is not inside one (or git is
    /// not installed: said by the error).
    pub fn containing(path: &Path) -> Result<Option<Repo>> {
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf()
        };
        let output = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["rev-parse", "--show-toplevel"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::Usage(format!(
                    "--since needs git, which could not be run: {e}; install git or leave --since out"
                ))
            })?;
        if !output.status.success() {
            return Ok(None);
        }
        let root = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Ok(Some(Repo {
            root: PathBuf::from(root),
        }))
    }

    fn git(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.root).stdin(Stdio::null());
        // Never page, never prompt for credentials: this runs in CI.
        cmd.env("GIT_PAGER", "cat").env("GIT_TERMINAL_PROMPT", "0");
        cmd
    }

    /// Run git with `args`; Ok(stdout) on success, Err(stderr) otherwise.
    fn run(&self, args: &[&str]) -> std::result::Result<String, String> {
        let output = self
            .git()
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }

    /// The commit `reference` names, or None when the clone does not have it.
    pub fn resolve(&self, reference: &str) -> Option<String> {
        let spec = format!("{reference}^{{commit}}");
        self.run(&[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ])
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    }

    /// True for a shallow clone (GitHub's and GitLab's default checkout).
    pub fn is_shallow(&self) -> bool {
        self.run(&["rev-parse", "--is-shallow-repository"])
            .is_ok_and(|s| s.trim() == "true")
    }

    /// The commit checked out, None in a repository without commits.
    pub fn head(&self) -> Option<String> {
        self.resolve("HEAD")
    }

    /// True when tracked files differ from HEAD or untracked files exist under `rel`.
    pub fn is_dirty(&self, rel: &Path) -> bool {
        let rel = pathspec(rel);
        self.run(&["status", "--porcelain", "--untracked-files=all", "--", &rel])
            .is_ok_and(|s| !s.trim().is_empty())
    }

    /// The best common ancestor of `a` and `b`, None when the clone holds none (shallow).
    pub fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        self.run(&["merge-base", a, b])
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// `path` relative to the work tree's top level.
    pub fn relative(&self, path: &Path) -> Result<PathBuf> {
        let absolute =
            std::fs::canonicalize(path).map_err(|e| Error::input(path, None, e.to_string()))?;
        let root = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        absolute
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .map_err(|_| {
                Error::input(
                    path,
                    None,
                    format!("is not inside the git work tree {}", self.root.display()),
                )
            })
    }

    /// Every file under `rel` (a folder relative to the top level) at `commit`, with its
    /// bytes: one `ls-tree` and one `cat-file --batch`, whatever the number of files.
    pub fn files_at(&self, commit: &str, rel: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
        let spec = pathspec(rel);
        let listing = self
            .run(&["ls-tree", "-r", "-z", "--full-tree", commit, "--", &spec])
            .map_err(|e| git_failed("ls-tree", &e))?;
        let mut blobs: Vec<(PathBuf, String)> = Vec::new();
        for entry in listing.split('\0').filter(|e| !e.is_empty()) {
            // `<mode> SP <type> SP <object> TAB <path>`
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut parts = meta.split(' ');
            let (_mode, kind, object) = (parts.next(), parts.next(), parts.next());
            if kind == Some("blob") {
                if let Some(object) = object {
                    blobs.push((PathBuf::from(path), object.to_string()));
                }
            }
        }
        let mut out = BTreeMap::new();
        if blobs.is_empty() {
            return Ok(out);
        }
        let mut child = self
            .git()
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| git_failed("cat-file", &e.to_string()))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let request: String = blobs.iter().map(|(_, o)| format!("{o}\n")).collect();
        // Written from a thread: git answers while we write, and a full pipe would block both.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(request.as_bytes());
        });
        let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
        for (path, object) in &blobs {
            let mut header = String::new();
            reader
                .read_line(&mut header)
                .map_err(|e| git_failed("cat-file", &e.to_string()))?;
            let size: usize = header
                .split_whitespace()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| git_failed("cat-file", &format!("object {object}: {header}")))?;
            let mut bytes = vec![0; size + 1];
            reader
                .read_exact(&mut bytes)
                .map_err(|e| git_failed("cat-file", &e.to_string()))?;
            bytes.pop(); // the newline after each object
            out.insert(path.clone(), bytes);
        }
        let _ = writer.join();
        let _ = child.wait();
        Ok(out)
    }
}

/// A pathspec for exactly `rel`, relative to the top level (`:/` for the top level itself).
fn pathspec(rel: &Path) -> String {
    let text = rel.to_string_lossy();
    if text.is_empty() {
        ":/".to_string()
    } else {
        format!(":(top,literal){text}")
    }
}

fn git_failed(what: &str, message: &str) -> Error {
    Error::environment(format!("git {what} failed: {message}"), None)
}
