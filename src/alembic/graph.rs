//! An Alembic project's revision graph, read from the revision files without Python.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::config::{find_project, Project};
use super::parse::{parse_header, Value};
use crate::error::{Error, Result};

/// Characters Alembic forbids in revision identifiers.
pub const FORBIDDEN_ID_CHARS: [char; 4] = ['@', '-', '+', ':'];

/// One revision file.
#[derive(Debug, Clone, Serialize)]
pub struct Revision {
    pub id: String,
    /// `down_revision`: empty for a base, two or more for a merge point.
    pub down_revisions: Vec<String>,
    /// `depends_on`: revision ids or branch labels that must be applied first.
    pub depends_on: Vec<String>,
    /// `branch_labels` declared by this file.
    pub branch_labels: Vec<String>,
    pub file: PathBuf,
    /// Line of the `revision` assignment (1 when the id comes from the file name).
    pub line: usize,
    /// Line of the `down_revision` assignment.
    pub down_line: usize,
    pub depends_line: Option<usize>,
    pub labels_line: Option<usize>,
    /// First line of the module docstring.
    pub doc: Option<String>,
}

/// What is wrong with a graph (a failed check on valid input, not an unreadable file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    MultipleHeads,
    Cycle,
    SelfLoop,
    MissingParent,
    DuplicateId,
    DuplicateLabel,
    ForbiddenCharacter,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The revision graph of one Alembic project.
#[derive(Debug, Clone)]
pub struct Graph {
    pub project: Project,
    /// Every revision, in a deterministic topological order (parents and dependencies first;
    /// among revisions ready at the same time, by file path).
    pub revisions: Vec<Revision>,
    index: HashMap<String, usize>,
    /// Branch label -> the revision that declares it.
    labels: HashMap<String, usize>,
    /// Problems found while building the graph (multiple heads are not among them: see `problems`).
    structural: Vec<Problem>,
}

impl Graph {
    /// Find the project at `path` (see `config::find_project`) and read every revision file.
    /// Unreadable input (a header value that is not a literal, a file without `down_revision`)
    /// is an `Error::Input` naming the file and line; graph defects are `problems`.
    pub fn load(path: &Path) -> Result<Graph> {
        let project = find_project(path)?;
        let files = revision_files(&project)?;
        let mut revisions = Vec::with_capacity(files.len());
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::input(&file, None, format!("cannot read: {e}")))?;
            revisions.push(revision_from(&file, &text)?);
        }
        Ok(Graph::build(project, revisions))
    }

    /// Build the graph from parsed revisions (in file order).
    pub fn build(project: Project, parsed: Vec<Revision>) -> Graph {
        let mut structural = Vec::new();
        let mut revisions: Vec<Revision> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for rev in parsed {
            if let Some(&first) = index.get(&rev.id) {
                let other = &revisions[first];
                structural.push(Problem {
                    kind: ProblemKind::DuplicateId,
                    file: rev.file.clone(),
                    line: Some(rev.line),
                    message: format!(
                        "revision id {} is also declared in {}:{}; Alembic keeps only one of them",
                        rev.id,
                        other.file.display(),
                        other.line
                    ),
                });
                continue;
            }
            let bad: BTreeSet<char> = rev
                .id
                .chars()
                .filter(|c| FORBIDDEN_ID_CHARS.contains(c))
                .collect();
            if !bad.is_empty() || rev.id.is_empty() {
                let chars: Vec<String> = bad.iter().map(|c| format!("'{c}'")).collect();
                structural.push(Problem {
                    kind: ProblemKind::ForbiddenCharacter,
                    file: rev.file.clone(),
                    line: Some(rev.line),
                    message: if rev.id.is_empty() {
                        "the revision id is empty".to_string()
                    } else {
                        format!(
                            "revision id `{}` contains {}, which Alembic does not allow in revision ids (@ - + :)",
                            rev.id,
                            chars.join(", ")
                        )
                    },
                });
            }
            index.insert(rev.id.clone(), revisions.len());
            revisions.push(rev);
        }

        let mut labels: HashMap<String, usize> = HashMap::new();
        for (i, rev) in revisions.iter().enumerate() {
            for label in &rev.branch_labels {
                let clash = labels
                    .get(label)
                    .map(|&j| &revisions[j])
                    .or_else(|| index.get(label).map(|&j| &revisions[j]));
                if let Some(other) = clash {
                    structural.push(Problem {
                        kind: ProblemKind::DuplicateLabel,
                        file: rev.file.clone(),
                        line: rev.labels_line,
                        message: format!(
                            "branch label `{label}` of revision {} is already used by revision {} ({}:{})",
                            rev.id,
                            other.id,
                            other.file.display(),
                            other.line
                        ),
                    });
                } else {
                    labels.insert(label.clone(), i);
                }
            }
        }

        // Edges: parent -> child for down_revision and depends_on (resolved), skipping defects.
        let n = revisions.len();
        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, rev) in revisions.iter().enumerate() {
            let refs = rev
                .down_revisions
                .iter()
                .map(|d| (d, false))
                .chain(rev.depends_on.iter().map(|d| (d, true)));
            for (target, is_dep) in refs {
                let line = if is_dep {
                    rev.depends_line
                } else {
                    Some(rev.down_line)
                };
                let field = if is_dep {
                    "depends_on"
                } else {
                    "down_revision"
                };
                let resolved = index.get(target).copied().or_else(|| {
                    if is_dep {
                        labels.get(target).copied()
                    } else {
                        None
                    }
                });
                match resolved {
                    Some(j) if j == i => structural.push(Problem {
                        kind: ProblemKind::SelfLoop,
                        file: rev.file.clone(),
                        line,
                        message: format!("revision {} names itself in {field}", rev.id),
                    }),
                    Some(j) => {
                        if !parents[i].contains(&j) {
                            parents[i].push(j);
                        }
                    }
                    None => structural.push(Problem {
                        kind: ProblemKind::MissingParent,
                        file: rev.file.clone(),
                        line,
                        message: format!(
                            "revision {} has {field} {target}, but no revision{} `{target}` exists",
                            rev.id,
                            if is_dep { " or branch label" } else { "" },
                        ),
                    }),
                }
            }
        }

        // Kahn's algorithm; ready revisions leave in file-path order.
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut pending: Vec<usize> = vec![0; n];
        for (i, ps) in parents.iter().enumerate() {
            pending[i] = ps.len();
            for &p in ps {
                children[p].push(i);
            }
        }
        let key = |i: usize| (revisions[i].file.clone(), revisions[i].id.clone(), i);
        let mut ready: BTreeSet<(PathBuf, String, usize)> =
            (0..n).filter(|&i| pending[i] == 0).map(key).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(first) = ready.pop_first() {
            let i = first.2;
            order.push(i);
            for &c in &children[i] {
                pending[c] -= 1;
                if pending[c] == 0 {
                    ready.insert(key(c));
                }
            }
        }
        if order.len() < n {
            let placed: HashSet<usize> = order.iter().copied().collect();
            let remaining: Vec<usize> = (0..n).filter(|i| !placed.contains(i)).collect();
            if let Some(cycle) = find_cycle(&remaining, &parents) {
                let first = &revisions[cycle[0]];
                let path: Vec<String> = cycle
                    .iter()
                    .chain(std::iter::once(&cycle[0]))
                    .map(|&i| revisions[i].id.clone())
                    .collect();
                let files: Vec<String> = cycle
                    .iter()
                    .map(|&i| {
                        format!(
                            "{} ({}:{})",
                            revisions[i].id,
                            revisions[i].file.display(),
                            revisions[i].down_line
                        )
                    })
                    .collect();
                structural.push(Problem {
                    kind: ProblemKind::Cycle,
                    file: first.file.clone(),
                    line: Some(first.down_line),
                    message: format!(
                        "revision cycle: {} (each names the next as its parent: {})",
                        path.join(" <- "),
                        files.join(", ")
                    ),
                });
            }
            // Keep every revision: the ones inside or after a cycle go last, in file order.
            let mut rest: Vec<usize> = remaining;
            rest.sort_by_key(|&i| key(i));
            order.extend(rest);
        }
        let mut slots: Vec<Option<Revision>> = revisions.into_iter().map(Some).collect();
        let revisions: Vec<Revision> = order.iter().filter_map(|&i| slots[i].take()).collect();
        let index: HashMap<String, usize> = revisions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let labels = labels
            .into_iter()
            .filter_map(|(l, old)| {
                let id = order.iter().position(|&o| o == old)?;
                Some((l, id))
            })
            .collect();
        Graph {
            project,
            revisions,
            index,
            labels,
            structural,
        }
    }

    pub fn revision(&self, id: &str) -> Option<&Revision> {
        self.index.get(id).map(|&i| &self.revisions[i])
    }

    /// The revision that declares branch label `label`.
    pub fn label(&self, label: &str) -> Option<&Revision> {
        self.labels.get(label).map(|&i| &self.revisions[i])
    }

    /// Revisions whose `down_revision` names `id` (in graph order).
    pub fn children(&self, id: &str) -> Vec<&Revision> {
        self.revisions
            .iter()
            .filter(|r| r.down_revisions.iter().any(|d| d == id))
            .collect()
    }

    /// Heads as `alembic heads` counts them: no revision names them in `down_revision`
    /// (`depends_on` does not count).
    pub fn heads(&self) -> Vec<&Revision> {
        let named: HashSet<&str> = self
            .revisions
            .iter()
            .flat_map(|r| r.down_revisions.iter().map(String::as_str))
            .collect();
        self.revisions
            .iter()
            .filter(|r| !named.contains(r.id.as_str()))
            .collect()
    }

    /// Revisions without a `down_revision`.
    pub fn bases(&self) -> Vec<&Revision> {
        self.revisions
            .iter()
            .filter(|r| r.down_revisions.is_empty())
            .collect()
    }

    /// Revisions that two or more revisions name in `down_revision`.
    pub fn branch_points(&self) -> Vec<&Revision> {
        self.revisions
            .iter()
            .filter(|r| self.children(&r.id).len() > 1)
            .collect()
    }

    /// Revisions with two or more `down_revision`s.
    pub fn merge_points(&self) -> Vec<&Revision> {
        self.revisions
            .iter()
            .filter(|r| r.down_revisions.len() > 1)
            .collect()
    }

    /// Branch labels that apply to `id`: its own and every ancestor's (through `down_revision`),
    /// sorted, as Alembic shows them next to a head.
    pub fn labels_of(&self, id: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut stack = vec![id.to_string()];
        let mut out = BTreeSet::new();
        while let Some(cur) = stack.pop() {
            if !seen.insert(cur.clone()) {
                continue;
            }
            if let Some(r) = self.revision(&cur) {
                out.extend(r.branch_labels.iter().cloned());
                stack.extend(r.down_revisions.iter().cloned());
            }
        }
        out.into_iter().collect()
    }

    /// Every problem: the structural ones, then multiple heads unless `allow_multiple_heads`.
    pub fn problems(&self, allow_multiple_heads: bool) -> Vec<Problem> {
        let mut out = self.structural.clone();
        let heads = self.heads();
        if heads.len() > 1 && !allow_multiple_heads {
            let list: Vec<String> = heads
                .iter()
                .map(|h| format!("{} ({}:{})", h.id, h.file.display(), h.line))
                .collect();
            let ids: Vec<&str> = heads.iter().map(|h| h.id.as_str()).collect();
            out.push(Problem {
                kind: ProblemKind::MultipleHeads,
                file: heads[0].file.clone(),
                line: Some(heads[0].line),
                message: format!(
                    "{} heads: {}; `alembic upgrade head` refuses to run with more than one head. \
                     Merge them with: alembic merge -m \"merge heads\" {} \
                     (or pass --allow-multiple-heads if the branches are meant to stay apart)",
                    heads.len(),
                    list.join(", "),
                    ids.join(" ")
                ),
            });
        }
        out
    }

    /// What `alembic_version` holds when exactly `applied` (a set closed under ancestors) is
    /// applied: the applied revisions no other applied revision names in `down_revision`, sorted.
    pub fn expected_current<'a>(&self, applied: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let applied: BTreeSet<&str> = applied.into_iter().collect();
        let named: HashSet<&str> = applied
            .iter()
            .filter_map(|id| self.revision(id))
            .flat_map(|r| r.down_revisions.iter().map(String::as_str))
            .collect();
        applied
            .into_iter()
            .filter(|id| !named.contains(id))
            .map(str::to_string)
            .collect()
    }

    /// The Alembic target that undoes exactly revision `id` when it is applied, leaving every
    /// other applied branch alone: `<id>@-1` (one step down `id`'s own branch; for a base, back
    /// to nothing on that branch), and for a merge point its first parent (Alembic's
    /// `downgrade <parent>` unmerges: both parents stay applied; `-1` is an "Ambiguous walk").
    /// Verify uses it per revision: upgrade `id`, downgrade `step_back_target(id)` (the version
    /// table then holds `id`'s parents), upgrade `id` again.
    pub fn step_back_target(&self, id: &str) -> String {
        match self.revision(id) {
            Some(r) if r.down_revisions.len() > 1 => r.down_revisions[0].clone(),
            _ => format!("{id}@-1"),
        }
    }

    /// The graph as JSON (for `migcheck graph --json` and reports).
    pub fn to_json(&self, allow_multiple_heads: bool) -> serde_json::Value {
        let rel = |p: &Path| -> String {
            p.strip_prefix(&self.project.root)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        };
        let ids = |v: Vec<&Revision>| -> Vec<String> { v.iter().map(|r| r.id.clone()).collect() };
        let heads: HashSet<String> = ids(self.heads()).into_iter().collect();
        let branch: HashSet<String> = ids(self.branch_points()).into_iter().collect();
        let revisions: Vec<serde_json::Value> = self
            .revisions
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "down_revisions": r.down_revisions,
                    "depends_on": r.depends_on,
                    "branch_labels": r.branch_labels,
                    "children": ids(self.children(&r.id)),
                    "file": rel(&r.file),
                    "line": r.line,
                    "doc": r.doc,
                    "head": heads.contains(&r.id),
                    "base": r.down_revisions.is_empty(),
                    "branch_point": branch.contains(&r.id),
                    "merge_point": r.down_revisions.len() > 1,
                })
            })
            .collect();
        let problems: Vec<serde_json::Value> = self
            .problems(allow_multiple_heads)
            .iter()
            .map(|p| {
                serde_json::json!({
                    "kind": p.kind,
                    "file": rel(&p.file),
                    "line": p.line,
                    "message": p.message,
                })
            })
            .collect();
        serde_json::json!({
            "project": self.project.root,
            "config": self.project.config_file(),
            "version_locations": self.project.version_locations,
            "order": self.revisions.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            "bases": ids(self.bases()),
            "heads": ids(self.heads()),
            "branch_points": ids(self.branch_points()),
            "merge_points": ids(self.merge_points()),
            "revisions": revisions,
            "problems": problems,
        })
    }
}

/// A cycle among `nodes` following `parents` edges, as a list of node indices.
fn find_cycle(nodes: &[usize], parents: &[Vec<usize>]) -> Option<Vec<usize>> {
    let set: HashSet<usize> = nodes.iter().copied().collect();
    // Every remaining node has a remaining parent (else Kahn would have placed it): walk up.
    let start = *nodes.first()?;
    let mut path = vec![start];
    let mut pos: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    let mut cur = start;
    loop {
        let next = *parents[cur].iter().filter(|p| set.contains(p)).min()?;
        if let Some(&at) = pos.get(&next) {
            let mut cycle = path[at..].to_vec();
            cycle.reverse();
            return Some(cycle);
        }
        pos.insert(next, path.len());
        path.push(next);
        cur = next;
    }
}

/// Every revision file of the project, in a stable order (by location, then path).
pub fn revision_files(project: &Project) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let existing: Vec<&PathBuf> = project
        .version_locations
        .iter()
        .filter(|p| p.is_dir())
        .collect();
    if existing.is_empty() {
        let file = project.config_file().to_path_buf();
        let wanted: Vec<String> = project
            .version_locations
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(Error::input(
            file,
            None,
            format!(
                "no revision folder exists (looked for {})",
                wanted.join(", ")
            ),
        ));
    }
    for dir in existing {
        walk(dir, project.recursive, &mut out, &mut seen)?;
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    recursive: bool,
    out: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::input(dir, None, format!("cannot list: {e}")))?;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::input(dir, None, format!("cannot list: {e}")))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "__pycache__" {
                dirs.push(path);
            }
        } else if name.ends_with(".py") && !name.starts_with(".#") && !name.starts_with("__init__")
        {
            files.push(path);
        }
    }
    files.sort();
    for f in files {
        let real = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
        if seen.insert(real) {
            out.push(f);
        }
    }
    if recursive {
        dirs.sort();
        for d in dirs {
            walk(&d, recursive, out, seen)?;
        }
    }
    Ok(())
}

/// Read one revision file's header into a `Revision`.
pub fn revision_from(file: &Path, text: &str) -> Result<Revision> {
    let header = parse_header(file, text)?;
    let string_list = |field: &str, value: Value, line: usize| -> Result<Vec<String>> {
        let list = value.into_list();
        if list.iter().any(|s| s.trim().is_empty()) {
            return Err(Error::input(
                file,
                Some(line),
                format!("`{field}` holds an empty string"),
            ));
        }
        Ok(list)
    };
    let (id, line) = match header.revision {
        Some(a) => match a.value {
            Value::Str(s) => (s, a.line),
            _ => {
                return Err(Error::input(
                    file,
                    Some(a.line),
                    "`revision` must be a string",
                ))
            }
        },
        None => {
            // Alembic's legacy fallback: the id is the file name when it is hexadecimal.
            let stem = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".py"))
                .unwrap_or("");
            if !stem.is_empty()
                && stem
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            {
                (stem.to_string(), 1)
            } else {
                return Err(Error::input(
                    file,
                    None,
                    "no top-level `revision = \"…\"` assignment: Alembic cannot tell which revision this file is",
                ));
            }
        }
    };
    let Some(down) = header.down_revision else {
        return Err(Error::input(
            file,
            Some(line),
            "no top-level `down_revision` assignment (use `down_revision = None` for a base)",
        ));
    };
    let down_revisions = string_list("down_revision", down.value, down.line)?;
    let (branch_labels, labels_line) = match header.branch_labels {
        Some(a) => (string_list("branch_labels", a.value, a.line)?, Some(a.line)),
        None => (Vec::new(), None),
    };
    let (depends_on, depends_line) = match header.depends_on {
        Some(a) => (string_list("depends_on", a.value, a.line)?, Some(a.line)),
        None => (Vec::new(), None),
    };
    Ok(Revision {
        id,
        down_revisions,
        depends_on,
        branch_labels,
        file: file.to_path_buf(),
        line,
        down_line: down.line,
        depends_line,
        labels_line,
        doc: header.doc,
    })
}
