//! A Sqitch project seen as a migration chain: one migration per planned change, in plan order,
//! whose up is the deploy script and whose down is the revert script; with the checks Sqitch
//! runs on a plan before it deploys anything (unknown dependencies, dependencies planned later,
//! cycles, duplicate changes, conflicts) reported as chain problems with the plan's file:line.

use std::path::{Path, PathBuf};

use super::conf::{Config, Settings};
use super::plan::{self, Dependency, Plan};
use crate::chain::{
    Chain, ChainProblem, DiscoverOptions, Format, Migration, ProblemSeverity, Script, Segment,
    Version,
};
use crate::error::{Error, Result};

/// True when `path` is a Sqitch project: a directory holding `sqitch.plan` or `sqitch.conf`,
/// or a `sqitch.plan` file itself.
pub fn is_project(path: &Path) -> bool {
    if path.is_file() {
        return path.file_name().is_some_and(|n| n == "sqitch.plan");
    }
    path.join("sqitch.plan").is_file() || path.join("sqitch.conf").is_file()
}

/// Problem kinds that leave no order to deploy in (nothing is applied). Sqitch itself refuses
/// such a plan before running any script: `sqitch deploy` stops at the plan check ("Dependency
/// error detected", "duplicates earlier declaration") or at its deploy check ("Conflicts with
/// previously deployed change").
pub const BLOCKING: &[&str] = &[
    "cycle",
    "unknown-dependency",
    "dependency-planned-later",
    "duplicate-change",
    "conflicting-change",
];

/// A Sqitch project as read from disk.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project directory (Sqitch's working directory: relative paths in `sqitch.conf` are
    /// relative to it).
    pub root: PathBuf,
    pub plan_file: PathBuf,
    /// `%project` of the plan.
    pub project: String,
    /// `core.engine` (or the default target's engine), canonical: `pg`, `mysql`, `sqlite`, ...
    pub engine: Option<String>,
    /// The client set in `sqitch.conf` (`engine.<e>.client`, or `target.<t>.client`,
    /// `core.client`), if any.
    pub client: Option<String>,
    /// Sqitch's registry (`registry` of the target, engine or core; default `sqitch`): the
    /// schema (PostgreSQL) or database (MySQL) Sqitch keeps its tables in, which scripts may
    /// name (`:"registry"`, `sqitch.checkit()`).
    pub registry: String,
    /// The default target's name or URI (`core.target`, `engine.<e>.target`): its
    /// `target.<name>.variables` apply to the scripts.
    pub target: Option<String>,
    pub changes: Vec<Change>,
    pub chain: Chain,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Unique in the chain: the name, or `name@tag` for an earlier instance of a reworked
    /// change (the tag Sqitch qualifies it with).
    pub id: String,
    pub name: String,
    /// Line in the plan.
    pub line: usize,
    /// As `sqitch plan` shows them: `change`, `change@tag`, `@tag`, `project:change`.
    pub requires: Vec<String>,
    /// Same form, without the `!`.
    pub conflicts: Vec<String>,
    /// Tags placed right after it, with their `@` (`@v1.0`).
    pub tags: Vec<String>,
    pub deploy: PathBuf,
    pub revert: PathBuf,
    /// The paths may not exist.
    pub verify: PathBuf,
}

/// Read `sqitch.conf`, the plan and every script. `root` is the project directory or its
/// `sqitch.plan`. Malformed syntax (config or plan) and unreadable or non-UTF-8 files are
/// `Err` (exit 2); what Sqitch checks beyond syntax is in `Project.chain.problems`.
pub fn load(root: &Path, options: &DiscoverOptions) -> Result<Project> {
    let (dir, given_plan) = if root.is_file() {
        let parent = root.parent().unwrap_or(Path::new(""));
        let dir = if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        };
        (dir, Some(root.to_path_buf()))
    } else {
        (root.to_path_buf(), None)
    };
    let conf_file = dir.join("sqitch.conf");
    let config = if conf_file.is_file() {
        Config::read(&conf_file)?
    } else {
        Config::default()
    };
    let settings = Settings::resolve(&config, &conf_file)?;
    let plan_file = given_plan.unwrap_or_else(|| dir.join(&settings.plan_file));
    let plan = plan::read(&plan_file)?;
    if plan.changes.is_empty() {
        return Err(Error::input(
            &plan_file,
            None,
            "the plan holds no changes: nothing to deploy",
        ));
    }
    let changes = changes(&plan, &dir, &settings);
    let mut problems = check(&plan, &plan_file);
    let mut migrations = Vec::with_capacity(changes.len());
    let missing_down = if options.require_down {
        ProblemSeverity::Error
    } else {
        ProblemSeverity::Warning
    };
    for (i, c) in changes.iter().enumerate() {
        let mut problem = |kind, severity, message: String| {
            problems.push(ChainProblem {
                kind,
                severity,
                file: plan_file.clone(),
                line: Some(c.line),
                message,
            })
        };
        let mut files = Vec::new();
        let up = if c.deploy.is_file() {
            files.push(c.deploy.clone());
            script(&c.deploy)?
        } else {
            problem(
                "missing-deploy",
                ProblemSeverity::Error,
                format!(
                    "change {} has no deploy script {}: sqitch deploy fails at it",
                    c.id,
                    c.deploy.display()
                ),
            );
            Script {
                file: c.deploy.clone(),
                segments: Vec::new(),
                no_transaction: true,
            }
        };
        let down = if c.revert.is_file() {
            files.push(c.revert.clone());
            Some(script(&c.revert)?)
        } else {
            problem(
                "missing-down",
                missing_down,
                format!(
                    "change {} has no revert script {}: sqitch revert fails at it",
                    c.id,
                    c.revert.display()
                ),
            );
            None
        };
        if c.verify.is_file() {
            files.push(c.verify.clone());
        } else {
            // Sqitch only complains: "Verify script ... does not exist", and goes on.
            problem(
                "missing-verify",
                ProblemSeverity::Warning,
                format!(
                    "change {} has no verify script {}: sqitch deploy --verify warns and \
                     verifies nothing",
                    c.id,
                    c.verify.display()
                ),
            );
        }
        migrations.push(Migration {
            version: Version::number(i as u128 + 1, &c.id),
            name: c.name.clone(),
            id: c.id.clone(),
            up,
            down,
            files,
            repeatable: false,
        });
    }
    problems.sort_by_key(|p| p.line);
    let plan_name = plan_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sqitch.plan".into());
    let format_reason = match (&config.file, &settings.engine) {
        (Some(_), Some(e)) => format!(
            "{plan_name} found (project {}, engine {e} from sqitch.conf)",
            plan.project
        ),
        (Some(_), None) => format!(
            "{plan_name} found (project {}, sqitch.conf names no engine)",
            plan.project
        ),
        (None, _) => format!(
            "{plan_name} found (project {}, no sqitch.conf)",
            plan.project
        ),
    };
    Ok(Project {
        chain: Chain {
            root: dir.clone(),
            format: Format::Sqitch,
            migrations,
            problems,
            format_reason,
        },
        root: dir,
        plan_file,
        project: plan.project.clone(),
        engine: settings.engine.clone(),
        client: settings.client.clone(),
        registry: settings
            .registry
            .clone()
            .unwrap_or_else(|| "sqitch".to_string()),
        target: settings.target.clone(),
        changes,
    })
}

/// A whole script file as one SQL segment. Sqitch runs it through the client in autocommit:
/// only the script's own BEGIN/COMMIT makes it transactional.
fn script(path: &Path) -> Result<Script> {
    Ok(Script {
        file: path.to_path_buf(),
        segments: vec![Segment::Sql {
            text: crate::chain::read_text(path)?,
            line: 1,
        }],
        no_transaction: true,
    })
}

/// The planned changes with their unique ids and script paths.
fn changes(plan: &Plan, dir: &Path, s: &Settings) -> Vec<Change> {
    plan.changes
        .iter()
        .map(|c| {
            let mut segments: Vec<String> = c.name.split('/').map(str::to_string).collect();
            let reworked = !c.rework_tags.is_empty();
            let (deploy_dir, revert_dir, verify_dir) = if reworked {
                (
                    dir.join(&s.reworked_deploy_dir),
                    dir.join(&s.reworked_revert_dir),
                    dir.join(&s.reworked_verify_dir),
                )
            } else {
                (
                    dir.join(&s.deploy_dir),
                    dir.join(&s.revert_dir),
                    dir.join(&s.verify_dir),
                )
            };
            let last = segments.pop().unwrap_or_default();
            let file_name = if reworked {
                // The first rework tag whose deploy script exists, else the first one.
                let named = |tag: &String| format!("{last}@{tag}.{}", s.extension);
                let parent = segments.iter().fold(deploy_dir.clone(), |p, s| p.join(s));
                c.rework_tags
                    .iter()
                    .map(named)
                    .find(|f| parent.join(f).exists())
                    .unwrap_or_else(|| named(&c.rework_tags[0]))
            } else {
                format!("{last}.{}", s.extension)
            };
            segments.push(file_name);
            let path = |base: PathBuf| segments.iter().fold(base, |p, s| p.join(s));
            let id = if c.duplicate_of.is_some() {
                // Not a valid name character: cannot collide with a change or a tag.
                format!("{}#{}", c.name, c.line)
            } else if reworked {
                let tag = c.tags.first().unwrap_or(&c.rework_tags[0]);
                format!("{}@{tag}", c.name)
            } else {
                c.name.clone()
            };
            Change {
                id,
                name: c.name.clone(),
                line: c.line,
                requires: c
                    .requires
                    .iter()
                    .map(|d| d.display(&plan.project))
                    .collect(),
                conflicts: c
                    .conflicts
                    .iter()
                    .map(|d| d.display(&plan.project))
                    .collect(),
                tags: c.tags.iter().map(|t| format!("@{t}")).collect(),
                deploy: path(deploy_dir),
                revert: path(revert_dir),
                verify: path(verify_dir),
            }
        })
        .collect()
}

/// What a dependency of change `i` points at.
#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    /// A change planned before `i`, as Sqitch's plan check accepts it.
    Before(usize),
    /// Something planned after `i` (Sqitch: "planned N changes before required change", or an
    /// unknown change when it lies beyond the next tag); the change it needs.
    Later(usize),
    /// `i` itself ("cannot require itself").
    Itself,
    /// Nothing in the plan; the reason.
    Unknown(String),
    /// Another project's change, or a change id (Sqitch does not check those in the plan).
    Unchecked,
}

fn instances<'a>(plan: &'a Plan, name: &'a str) -> impl Iterator<Item = usize> + 'a {
    plan.changes
        .iter()
        .enumerate()
        .filter(move |(_, c)| c.name == name)
        .map(|(j, _)| j)
}

/// Resolve a requirement of change `i` as Sqitch's `check_changes` does: a change is "seen"
/// when it lies above the last tag before `i`, or earlier in `i`'s own tag section.
fn resolve(plan: &Plan, i: usize, dep: &Dependency) -> Resolved {
    if dep.is_external(&plan.project) {
        return Resolved::Unchecked;
    }
    if let Some(id) = &dep.id {
        // Sqitch skips a bare id (it may be another project's), but looks a `project:id` of
        // its own project up among names, where it never is.
        return if dep.project.is_some() {
            Resolved::Unknown(format!("change id {id} is not a change name of this plan"))
        } else {
            Resolved::Unchecked
        };
    }
    let me = &plan.changes[i];
    let boundary = me.section_start;
    match (&dep.change, &dep.tag) {
        (Some(name), None) => {
            if let Some(j) = instances(plan, name).find(|&j| j < i) {
                Resolved::Before(j)
            } else if *name == me.name {
                Resolved::Itself
            } else if let Some(j) = instances(plan, name).find(|&j| j > i) {
                Resolved::Later(j)
            } else {
                Resolved::Unknown(format!("no change named {name} in the plan"))
            }
        }
        (None, Some(tag)) => match plan.tag(tag) {
            None => Resolved::Unknown(format!("no tag @{tag} in the plan")),
            Some(t) if t.line <= boundary => Resolved::Before(t.change),
            Some(t) if t.change == i => Resolved::Itself,
            Some(t) => Resolved::Later(t.change),
        },
        (Some(name), Some(tag)) => {
            let Some(t) = plan.tag(tag) else {
                return Resolved::Unknown(format!("no tag @{tag} in the plan"));
            };
            // The instance of `name` as of the tag: the latest one at or above it.
            let Some(target) = instances(plan, name).filter(|&j| j <= t.change).last() else {
                return Resolved::Unknown(format!("no change {name} above tag @{tag}"));
            };
            if t.line <= boundary {
                // Sqitch compares the tag with the latest instance it has seen.
                let latest_seen = instances(plan, name)
                    .filter(|&j| plan.changes[j].line < boundary)
                    .last();
                match latest_seen {
                    Some(j) if plan.changes[j].line < t.line => Resolved::Before(target),
                    _ => Resolved::Unknown(format!(
                        "{name} is reworked between @{tag} and this change, and Sqitch \
                         resolves {name}@{tag} only when it is not"
                    )),
                }
            } else if target == i {
                Resolved::Itself
            } else if target > i {
                Resolved::Later(target)
            } else {
                Resolved::Later(t.change)
            }
        }
        (None, None) => Resolved::Unknown("an empty dependency".into()),
    }
}

/// What a conflict of change `i` names, as `sqitch deploy` looks it up (Plan `find`: the first
/// instance of a name, the instance as of a tag).
fn conflict_target(plan: &Plan, dep: &Dependency) -> std::result::Result<usize, String> {
    match (&dep.change, &dep.tag) {
        (Some(name), None) => instances(plan, name)
            .next()
            .ok_or_else(|| format!("no change named {name}")),
        (None, Some(tag)) => plan
            .tag(tag)
            .map(|t| t.change)
            .ok_or_else(|| format!("no tag @{tag}")),
        (Some(name), Some(tag)) => {
            let t = plan.tag(tag).ok_or_else(|| format!("no tag @{tag}"))?;
            instances(plan, name)
                .filter(|&j| j <= t.change)
                .last()
                .ok_or_else(|| format!("no change {name} above @{tag}"))
        }
        (None, None) => Err("an empty dependency".into()),
    }
}

/// The plan checks, as chain problems pointing at the plan's lines.
fn check(plan: &Plan, file: &Path) -> Vec<ChainProblem> {
    let mut problems = Vec::new();
    let mut push = |kind, severity, line, message: String| {
        problems.push(ChainProblem {
            kind,
            severity,
            file: file.to_path_buf(),
            line: Some(line),
            message,
        })
    };
    let n = plan.changes.len();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    // (change, dependency text, target) of every forward dependency.
    let mut later = Vec::new();
    for (i, c) in plan.changes.iter().enumerate() {
        if let Some(at) = c.duplicate_of {
            push(
                "duplicate-change",
                ProblemSeverity::Error,
                c.line,
                format!(
                    "change \"{}\" duplicates earlier declaration on line {at}; to rework a \
                     change, tag the plan between the two (sqitch tag, then sqitch rework)",
                    c.name
                ),
            );
        }
        for dep in &c.requires {
            match resolve(plan, i, dep) {
                Resolved::Before(j) => edges[i].push(j),
                Resolved::Later(j) => {
                    edges[i].push(j);
                    later.push((i, dep.display(&plan.project), j));
                }
                Resolved::Itself => edges[i].push(i),
                Resolved::Unknown(why) => push(
                    "unknown-dependency",
                    ProblemSeverity::Error,
                    c.line,
                    format!(
                        "Unknown change \"{}\" required by change \"{}\": {why}",
                        dep.display(&plan.project),
                        c.name
                    ),
                ),
                Resolved::Unchecked => push(
                    "external-dependency",
                    ProblemSeverity::Warning,
                    c.line,
                    if dep.is_external(&plan.project) {
                        format!(
                            "change \"{}\" requires {}, a change of another Sqitch project: \
                             migcheck deploys this project alone, so it must be deployed \
                             beforehand for this change to work",
                            c.name,
                            dep.display(&plan.project)
                        )
                    } else {
                        format!(
                            "change \"{}\" requires change id {}, which migcheck does not \
                             resolve (Sqitch's plan check skips ids too)",
                            c.name,
                            dep.key()
                        )
                    },
                ),
            }
        }
        for dep in &c.conflicts {
            if dep.is_external(&plan.project) || dep.id.is_some() {
                continue;
            }
            match conflict_target(plan, dep) {
                Ok(j) if j < i => push(
                    "conflicting-change",
                    ProblemSeverity::Error,
                    c.line,
                    format!(
                        "change \"{}\" conflicts with {} (line {}), which is deployed before \
                         it: sqitch deploy refuses the plan on an empty database (\"Conflicts \
                         with previously deployed change\")",
                        c.name,
                        dep.display(&plan.project),
                        plan.changes[j].line
                    ),
                ),
                Ok(_) => {}
                Err(why) => push(
                    "unknown-dependency",
                    ProblemSeverity::Error,
                    c.line,
                    format!(
                        "change \"{}\" conflicts with \"{}\", which is not in the plan ({why}): \
                         sqitch deploy fails (\"Unable to find change\")",
                        c.name,
                        dep.display(&plan.project)
                    ),
                ),
            }
        }
    }

    let components = strongly_connected(&edges);
    let mut component_of = vec![usize::MAX; n];
    for (k, comp) in components.iter().enumerate() {
        for &v in comp {
            component_of[v] = k;
        }
    }
    for comp in &components {
        let cyclic = comp.len() > 1 || edges[comp[0]].contains(&comp[0]);
        if !cyclic {
            continue;
        }
        let first = *comp.iter().min().unwrap_or(&comp[0]);
        let c = &plan.changes[first];
        let message = if comp.len() == 1 {
            format!("Change \"{}\" cannot require itself", c.name)
        } else {
            let mut members: Vec<usize> = comp.clone();
            members.sort_unstable();
            let list: Vec<String> = members
                .iter()
                .map(|&j| format!("{} (line {})", plan.changes[j].name, plan.changes[j].line))
                .collect();
            format!(
                "dependency cycle between {}: no order deploys each after what it requires",
                list.join(", ")
            )
        };
        push("cycle", ProblemSeverity::Error, c.line, message);
    }
    for (i, dep, j) in later {
        if component_of[i] == component_of[j] {
            continue; // reported as part of the cycle
        }
        let (c, r) = (&plan.changes[i], &plan.changes[j]);
        let delta = j - i;
        push(
            "dependency-planned-later",
            ProblemSeverity::Error,
            c.line,
            format!(
                "Change \"{}\" planned {delta} change{} before required change \"{dep}\" \
                 (line {}): Sqitch refuses the plan; move \"{}\" below it",
                c.name,
                if delta == 1 { "" } else { "s" },
                r.line,
                c.name
            ),
        );
    }
    problems.sort_by_key(|p| p.line);
    problems
}

/// Strongly connected components (Kosaraju, iterative): every node is in exactly one.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut order = Vec::with_capacity(n);
    let mut visited = vec![false; n];
    for start in 0..n {
        if visited[start] {
            continue;
        }
        visited[start] = true;
        let mut stack = vec![(start, 0usize)];
        while let Some((v, k)) = stack.pop() {
            if let Some(&w) = edges[v].get(k) {
                stack.push((v, k + 1));
                if !visited[w] {
                    visited[w] = true;
                    stack.push((w, 0));
                }
            } else {
                order.push(v);
            }
        }
    }
    let mut reverse = vec![Vec::new(); n];
    for (v, out) in edges.iter().enumerate() {
        for &w in out {
            reverse[w].push(v);
        }
    }
    let mut assigned = vec![false; n];
    let mut components = Vec::new();
    for &start in order.iter().rev() {
        if assigned[start] {
            continue;
        }
        assigned[start] = true;
        let mut comp = vec![start];
        let mut stack = vec![start];
        while let Some(v) = stack.pop() {
            for &w in &reverse[v] {
                if !assigned[w] {
                    assigned[w] = true;
                    comp.push(w);
                    stack.push(w);
                }
            }
        }
        components.push(comp);
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "%syntax-version=1.0.0\n%project=flipr\n\n";

    /// A project in a temp dir: the plan body, and the changes whose three scripts exist.
    fn project(body: &str, scripts: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sqitch.conf"), "[core]\n\tengine = pg\n").unwrap();
        std::fs::write(dir.path().join("sqitch.plan"), format!("{HEAD}{body}")).unwrap();
        for kind in ["deploy", "revert", "verify"] {
            for name in scripts {
                let path = dir.path().join(kind).join(format!("{name}.sql"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, format!("-- {kind} {name}\nSELECT 1;\n")).unwrap();
            }
        }
        dir
    }

    fn line(name: &str, deps: &str) -> String {
        format!("{name} {deps} 2026-01-05T10:00:00Z Ada <ada@example.com> # {name}\n")
    }

    fn tag(name: &str) -> String {
        format!("@{name} 2026-01-06T10:00:00Z Ada <ada@example.com>\n")
    }

    fn problems(p: &Project) -> Vec<(&'static str, usize)> {
        p.chain
            .problems
            .iter()
            .map(|p| (p.kind, p.line.unwrap()))
            .collect()
    }

    fn load_dir(dir: &tempfile::TempDir) -> Project {
        load(dir.path(), &DiscoverOptions::default()).unwrap()
    }

    #[test]
    fn clean_project_becomes_a_chain() {
        let body = [line("schema", ""), line("users", "[schema]"), tag("v1.0")].concat();
        let dir = project(&body, &["schema", "users"]);
        let p = load_dir(&dir);
        assert_eq!(p.project, "flipr");
        assert_eq!(p.engine.as_deref(), Some("pg"));
        assert!(p.chain.problems.is_empty(), "{:?}", p.chain.problems);
        assert_eq!(p.chain.format, Format::Sqitch);
        let users = &p.changes[1];
        assert_eq!((users.id.as_str(), users.line), ("users", 5));
        assert_eq!(users.requires, ["schema"]);
        assert_eq!(users.tags, ["@v1.0"]);
        assert_eq!(users.deploy, dir.path().join("deploy/users.sql"));
        let m = &p.chain.migrations[1];
        assert_eq!(m.version, Version::number(2, "users"));
        assert!(m.up.no_transaction);
        assert_eq!(
            m.up.segments,
            [Segment::Sql {
                text: "-- deploy users\nSELECT 1;\n".into(),
                line: 1
            }]
        );
        assert_eq!(m.files.len(), 3);
        assert!(m.down.is_some());
        assert!(is_project(dir.path()));
        assert!(is_project(&dir.path().join("sqitch.plan")));
        assert!(!is_project(&dir.path().join("deploy")));
        // The plan file itself works as the root too.
        let again = load(&dir.path().join("sqitch.plan"), &DiscoverOptions::default()).unwrap();
        assert_eq!(again.changes, p.changes);
    }

    #[test]
    fn reworked_change_uses_tagged_scripts() {
        let body = [
            line("schema", ""),
            line("fn", "[schema]"),
            tag("v1.0"),
            line("fn", "[fn@v1.0]"),
        ]
        .concat();
        let dir = project(&body, &["schema", "fn", "fn@v1.0"]);
        let p = load_dir(&dir);
        assert!(p.chain.problems.is_empty(), "{:?}", p.chain.problems);
        let ids: Vec<_> = p.changes.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["schema", "fn@v1.0", "fn"]);
        assert_eq!(p.changes[1].revert, dir.path().join("revert/fn@v1.0.sql"));
        assert_eq!(p.changes[2].verify, dir.path().join("verify/fn.sql"));
    }

    #[test]
    fn every_problem_kind_points_at_the_plan_line() {
        let body = [
            line("a", "[nowhere]"),        // 4 unknown
            line("b", "[c]"),              // 5 planned later
            line("c", ""),                 // 6
            line("d", "[e]"),              // 7 cycle d <-> e
            line("e", "[d]"),              // 8
            line("f", "[f]"),              // 9 itself
            line("g", "[other:thing !a]"), // 10 external + conflict
            line("g", ""),                 // 11 duplicate
            line("h", ""),                 // 12 no scripts at all
        ]
        .concat();
        let dir = project(&body, &["a", "b", "c", "d", "e", "f", "g"]);
        let p = load_dir(&dir);
        assert_eq!(
            problems(&p),
            [
                ("unknown-dependency", 4),
                ("dependency-planned-later", 5),
                ("cycle", 7),
                ("cycle", 9),
                ("external-dependency", 10),
                ("conflicting-change", 10),
                ("duplicate-change", 11),
                ("missing-deploy", 12),
                ("missing-down", 12),
                ("missing-verify", 12),
            ]
        );
        let by_kind = |k| p.chain.problems.iter().find(|p| p.kind == k).unwrap();
        assert_eq!(by_kind("missing-down").severity, ProblemSeverity::Warning);
        assert_eq!(by_kind("missing-verify").severity, ProblemSeverity::Warning);
        assert_eq!(
            by_kind("external-dependency").severity,
            ProblemSeverity::Warning
        );
        assert_eq!(by_kind("missing-deploy").severity, ProblemSeverity::Error);
        assert!(by_kind("cycle").message.contains("d (line 7), e (line 8)"));
        assert!(by_kind("dependency-planned-later")
            .message
            .starts_with("Change \"b\" planned 1 change before required change \"c\""));
        assert!(p
            .chain
            .problems
            .iter()
            .all(|p| p.file == dir.path().join("sqitch.plan")));
        let ids: Vec<_> = p.changes.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e", "f", "g", "g#11", "h"]);
        assert!(p.chain.migrations[8].down.is_none());
        assert!(p.chain.migrations[8].files.is_empty());

        let strict = DiscoverOptions {
            require_down: true,
            ..Default::default()
        };
        let p = load(dir.path(), &strict).unwrap();
        let down = p
            .chain
            .problems
            .iter()
            .find(|p| p.kind == "missing-down")
            .unwrap();
        assert_eq!(down.severity, ProblemSeverity::Error);
    }

    #[test]
    fn tag_dependencies_follow_sqitch_sections() {
        // `b` requires @v1 in its own section: the tag comes after it.
        let body = [
            line("a", ""),
            line("b", "[@v2]"),
            tag("v2"),
            line("c", "[@v2 a@v2]"),
        ]
        .concat();
        let dir = project(&body, &["a", "b", "c"]);
        assert_eq!(problems(&load_dir(&dir)), [("cycle", 5)]);
        // Requiring a later change beyond the next tag is still "planned later".
        let body = [line("a", "[b]"), tag("v1"), line("b", "")].concat();
        let dir = project(&body, &["a", "b"]);
        assert_eq!(problems(&load_dir(&dir)), [("dependency-planned-later", 4)]);
        // A reworked change requires its earlier self by name: fine.
        let body = [line("a", ""), tag("v1"), line("a", "[a]")].concat();
        let dir = project(&body, &["a", "a@v1"]);
        assert_eq!(problems(&load_dir(&dir)), []);
    }

    #[test]
    fn config_moves_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sqitch.conf"),
            "[core]\n engine = mysql\n top_dir = db\n extension = ddl\n[engine \"mysql\"]\n client = mariadb\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("db/deploy/app")).unwrap();
        std::fs::write(
            dir.path().join("db/sqitch.plan"),
            format!("{HEAD}{}", line("app/users", "")),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("db/deploy/app/users.ddl"),
            "CREATE TABLE t (a int);",
        )
        .unwrap();
        let p = load_dir(&dir);
        assert_eq!(p.engine.as_deref(), Some("mysql"));
        assert_eq!(p.client.as_deref(), Some("mariadb"));
        assert_eq!(p.plan_file, dir.path().join("db/sqitch.plan"));
        assert_eq!(
            p.changes[0].deploy,
            dir.path().join("db/deploy/app/users.ddl")
        );
        assert_eq!(
            p.changes[0].revert,
            dir.path().join("db/revert/app/users.ddl")
        );
        assert_eq!(problems(&p), [("missing-down", 4), ("missing-verify", 4)]);
    }

    #[test]
    fn unusable_projects_are_input_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), &DiscoverOptions::default()).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        std::fs::write(dir.path().join("sqitch.plan"), HEAD).unwrap();
        let err = load(dir.path(), &DiscoverOptions::default()).unwrap_err();
        assert!(err.to_string().contains("holds no changes"), "{err}");
        std::fs::write(dir.path().join("sqitch.plan"), format!("{HEAD}a b c\n")).unwrap();
        let err = load(dir.path(), &DiscoverOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("sqitch.plan:4: Invalid name"),
            "{err}"
        );
        assert_eq!(err.exit_code(), crate::error::exit::BAD_INPUT);
        std::fs::write(
            dir.path().join("sqitch.plan"),
            format!("{HEAD}{}", line("a", "")),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("deploy")).unwrap();
        std::fs::write(dir.path().join("deploy/a.sql"), b"SELECT 1;\n\xff\n").unwrap();
        let err = load(dir.path(), &DiscoverOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("a.sql:2: file is not valid UTF-8"),
            "{err}"
        );
    }
}
