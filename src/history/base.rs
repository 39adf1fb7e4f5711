//! Which commit the change is judged against: `--since REF`, or, in CI, the base its own
//! variables name (a pull request's target branch, a merge request's diff base).

use std::path::{Path, PathBuf};

use super::git::Repo;
use crate::error::{Error, Result};

/// The base as asked for, before git is consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// What to show: `origin/main`, a commit.
    pub reference: String,
    /// The names to try, in order (`origin/main`, then `main`).
    pub candidates: Vec<String>,
    /// Where it came from: `--since`, `GITHUB_BASE_REF`, `CI_MERGE_REQUEST_DIFF_BASE_SHA`,
    /// `CHANGE_TARGET`.
    pub source: &'static str,
}

impl Wanted {
    pub fn explicit(&self) -> bool {
        self.source == "--since"
    }
}

/// `--since` when given; else, with `--no-since` absent, the base of a CI pull or merge
/// request. A push to a branch (no such variable) judges everything.
pub fn wanted(
    since: Option<&str>,
    no_since: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Option<Wanted> {
    if let Some(reference) = since {
        return Some(Wanted {
            reference: reference.to_string(),
            candidates: vec![reference.to_string()],
            source: "--since",
        });
    }
    if no_since {
        return None;
    }
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let branch = |name: &str, source: &'static str| {
        var(name).map(|b| Wanted {
            reference: format!("origin/{b}"),
            candidates: vec![format!("origin/{b}"), b],
            source,
        })
    };
    branch("GITHUB_BASE_REF", "GITHUB_BASE_REF")
        .or_else(|| {
            var("CI_MERGE_REQUEST_DIFF_BASE_SHA").map(|sha| Wanted {
                reference: sha.clone(),
                candidates: vec![sha],
                source: "CI_MERGE_REQUEST_DIFF_BASE_SHA",
            })
        })
        .or_else(|| branch("CHANGE_TARGET", "CHANGE_TARGET"))
}

/// The base found in the clone.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub repo: Repo,
    /// The migrations folder relative to the work tree's top level.
    pub folder: PathBuf,
    pub wanted: Wanted,
    /// The commit the reference names (the target branch's tip).
    pub commit: String,
    /// Where the change forked from it: what the change is compared with.
    pub merge_base: String,
    pub head: String,
}

const SHALLOW_HINT: &str = "the clone is shallow (GitHub's actions/checkout and GitLab fetch \
    little history by default): fetch the base, e.g. `actions/checkout` with `fetch-depth: 0`, \
    GitLab `variables: { GIT_DEPTH: 0 }`, or `git fetch --unshallow origin`";

/// Find the base in the repository holding `path`. Ok(None): not a git work tree and the base
/// was not asked for explicitly (CI variables alone), so everything is judged, as without a base.
pub fn resolve(wanted: &Wanted, path: &Path) -> Result<Option<Resolved>> {
    let Some(repo) = Repo::containing(path)? else {
        if wanted.explicit() {
            return Err(Error::Usage(format!(
                "--since {}: {} is not inside a git work tree",
                wanted.reference,
                path.display()
            )));
        }
        return Ok(None);
    };
    let folder = repo.relative(path)?;
    let Some((reference, commit)) = wanted
        .candidates
        .iter()
        .find_map(|c| repo.resolve(c).map(|commit| (c.clone(), commit)))
    else {
        let why = if repo.is_shallow() {
            SHALLOW_HINT.to_string()
        } else {
            format!(
                "no such branch, tag or commit in this clone (fetch it: `git fetch origin {}`)",
                wanted.reference.trim_start_matches("origin/")
            )
        };
        return Err(Error::Usage(format!(
            "the base {} ({}) is not in this clone: {why}",
            wanted.reference, wanted.source
        )));
    };
    let Some(head) = repo.head() else {
        return Err(Error::Usage(format!(
            "the base {reference} ({}): the repository has no commit checked out",
            wanted.source
        )));
    };
    let Some(merge_base) = repo.merge_base("HEAD", &commit) else {
        let why = if repo.is_shallow() {
            SHALLOW_HINT
        } else {
            "HEAD and the base share no history"
        };
        return Err(Error::Usage(format!(
            "the base {reference} ({}): no common ancestor with HEAD is in this clone: {why}",
            wanted.source
        )));
    };
    Ok(Some(Resolved {
        repo,
        folder,
        wanted: Wanted {
            reference,
            ..wanted.clone()
        },
        commit,
        merge_base,
        head,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_flag_wins_over_ci_variables() {
        let got = wanted(Some("v1.0"), false, env(&[("GITHUB_BASE_REF", "main")])).unwrap();
        assert_eq!((got.reference.as_str(), got.source), ("v1.0", "--since"));
    }

    #[test]
    fn each_ci_system_names_its_base() {
        let gh = wanted(None, false, env(&[("GITHUB_BASE_REF", "main")])).unwrap();
        assert_eq!(gh.candidates, ["origin/main", "main"]);
        assert_eq!(gh.source, "GITHUB_BASE_REF");
        let gl = wanted(
            None,
            false,
            env(&[("CI_MERGE_REQUEST_DIFF_BASE_SHA", "0123abcd")]),
        )
        .unwrap();
        assert_eq!(gl.candidates, ["0123abcd"]);
        let jenkins = wanted(None, false, env(&[("CHANGE_TARGET", "develop")])).unwrap();
        assert_eq!(jenkins.reference, "origin/develop");
        assert_eq!(jenkins.source, "CHANGE_TARGET");
    }

    #[test]
    fn a_push_or_no_since_judges_everything() {
        // GitHub sets GITHUB_BASE_REF empty on pushes.
        assert_eq!(wanted(None, false, env(&[("GITHUB_BASE_REF", "")])), None);
        assert_eq!(
            wanted(None, true, env(&[("GITHUB_BASE_REF", "main")])),
            None
        );
        assert_eq!(wanted(None, false, env(&[])), None);
    }
}
