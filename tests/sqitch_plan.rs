//! migcheck's Sqitch plan reader against the real `sqitch` (Sqitch 1.3.1 in Debian 12): every
//! fixture under `fixtures/sqitch/` and a set of corner-case plans must read the same (changes
//! in order, tags, requires, conflicts) as `sqitch plan` shows them, and a plan Sqitch refuses
//! must be refused by migcheck too (an input error or a blocking chain problem).
//!
//! `sqitch` must be installed (Debian/Ubuntu: `apt-get install sqitch`); without it these tests
//! fail, unless `MIGCHECK_ALLOW_NO_SQITCH=1`, which turns them into loud skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use migcheck::chain::{DiscoverOptions, ProblemSeverity};
use migcheck::sqitch::{self, Project, BLOCKING};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sqitch")
}

/// True when `sqitch` runs. Otherwise fail, or (MIGCHECK_ALLOW_NO_SQITCH=1) skip loudly.
fn sqitch_ready(test: &str) -> bool {
    let found = Command::new("sqitch")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return true;
    }
    if std::env::var("MIGCHECK_ALLOW_NO_SQITCH").is_ok_and(|v| v == "1") {
        // Straight to stderr, past the test harness's capture: a skip must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!! SKIPPED {test}: `sqitch` is not installed\n!!!!!!!! (unset \
             MIGCHECK_ALLOW_NO_SQITCH to make this a failure)\n"
        );
        return false;
    }
    panic!(
        "{test}: `sqitch` is not installed. This test compares migcheck's Sqitch reader with the \
         real Sqitch: install it (Debian/Ubuntu: `apt-get install sqitch`), or set \
         MIGCHECK_ALLOW_NO_SQITCH=1 to skip it"
    );
}

/// `sqitch plan` in `dir`, one line per change: `name|tags|requires|conflicts`, each list
/// blank-separated with a leading blank when not empty (`%t`, `%r`, `%x` with a ` ` separator).
/// The user's and the system's Sqitch configuration are kept out.
fn sqitch_plan(dir: &Path) -> Output {
    Command::new("sqitch")
        .current_dir(dir)
        .env("SQITCH_USER_CONFIG", dir.join("no-user-sqitch.conf"))
        .env("SQITCH_SYSTEM_CONFIG", dir.join("no-system-sqitch.conf"))
        .env_remove("SQITCH_CONFIG")
        .env_remove("SQITCH_TARGET")
        .args([
            "plan",
            "--no-headers",
            "--no-color",
            "--format",
            "format:%n|%{ }t|%{ }r|%{ }x",
        ])
        .output()
        .expect("run sqitch plan")
}

/// (name, tags, requires, conflicts) per change.
type Reading = Vec<(String, Vec<String>, Vec<String>, Vec<String>)>;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn sqitch_reading(out: &Output) -> Reading {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            assert_eq!(f.len(), 4, "unexpected sqitch plan line {line:?}");
            (f[0].to_string(), words(f[1]), words(f[2]), words(f[3]))
        })
        .collect()
}

fn migcheck_reading(p: &Project) -> Reading {
    p.changes
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.tags.clone(),
                c.requires.clone(),
                c.conflicts.clone(),
            )
        })
        .collect()
}

fn load(dir: &Path) -> migcheck::error::Result<Project> {
    sqitch::load(dir, &DiscoverOptions::default())
}

fn blocking(p: &Project) -> Vec<String> {
    p.chain
        .problems
        .iter()
        .filter(|p| p.severity == ProblemSeverity::Error && BLOCKING.contains(&p.kind))
        .map(|p| format!("{}:{}: {}", p.kind, p.line.unwrap_or(0), p.message))
        .collect()
}

fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for dialect in ["postgres", "mysql"] {
        for entry in std::fs::read_dir(fixtures().join(dialect)).expect("fixtures/sqitch") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            }
        }
    }
    dirs.sort();
    assert_eq!(dirs.len(), 10, "five fixtures per dialect: {dirs:?}");
    dirs
}

#[test]
fn fixtures_read_as_sqitch_reads_them() {
    if !sqitch_ready("fixtures_read_as_sqitch_reads_them") {
        return;
    }
    for dir in fixture_dirs() {
        let out = sqitch_plan(&dir);
        let project = load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let case = dir.file_name().unwrap().to_str().unwrap();
        if case == "cycle" {
            assert!(
                !out.status.success(),
                "{}: sqitch accepted the cycle",
                dir.display()
            );
            continue;
        }
        assert!(
            out.status.success(),
            "{}: sqitch plan failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let want = sqitch_reading(&out);
        assert!(
            !want.is_empty(),
            "{}: sqitch plan printed nothing",
            dir.display()
        );
        assert_eq!(migcheck_reading(&project), want, "{}", dir.display());
        assert_eq!(
            project.engine.as_deref(),
            Some(if dir.parent().unwrap().ends_with("mysql") {
                "mysql"
            } else {
                "pg"
            })
        );
        // Every fixture Sqitch accepts has all its scripts and nothing wrong with its plan.
        assert!(
            project.chain.problems.is_empty(),
            "{}: {:?}",
            dir.display(),
            project.chain.problems
        );
        let ids: std::collections::HashSet<_> = project.changes.iter().map(|c| &c.id).collect();
        assert_eq!(ids.len(), project.changes.len(), "ids are unique");
    }
}

#[test]
fn reworked_fixtures_use_the_tagged_scripts() {
    let dir = fixtures().join("postgres/reworked");
    let p = load(&dir).unwrap();
    let ids: Vec<_> = p.changes.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["appschema", "users", "insert_user@v1.0", "insert_user"]
    );
    assert_eq!(p.changes[2].deploy, dir.join("deploy/insert_user@v1.0.sql"));
    assert_eq!(p.changes[2].revert, dir.join("revert/insert_user@v1.0.sql"));
    assert_eq!(p.changes[3].deploy, dir.join("deploy/insert_user.sql"));
    let m = &p.chain.migrations[3];
    assert_eq!(m.up.file, dir.join("deploy/insert_user.sql"));
    assert_eq!(m.files.len(), 3);
    assert_eq!(p.chain.format.name(), "sqitch");
}

#[test]
fn cycle_fixtures_are_refused_by_both() {
    let have_sqitch = sqitch_ready("cycle_fixtures_are_refused_by_both");
    for (dialect, line) in [("postgres", 6), ("mysql", 5)] {
        let dir = fixtures().join(dialect).join("cycle");
        let p = load(&dir).unwrap();
        let cycle = p
            .chain
            .problems
            .iter()
            .find(|p| p.kind == "cycle")
            .unwrap_or_else(|| panic!("{dialect}: no cycle problem: {:?}", p.chain.problems));
        assert_eq!(cycle.severity, ProblemSeverity::Error);
        assert_eq!(cycle.file, dir.join("sqitch.plan"));
        assert_eq!(cycle.line, Some(line));
        assert!(cycle.message.contains("users") && cycle.message.contains("flips"));
        assert!(BLOCKING.contains(&"cycle"));
        if !have_sqitch {
            continue;
        }
        let out = sqitch_plan(&dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "sqitch accepted {}", dir.display());
        assert!(
            stderr.contains("Change \"users\" planned 1 change before required change \"flips\""),
            "{stderr}"
        );
    }
}

const HEAD: &str = "%syntax-version=1.0.0\n%project=flipr\n\n";

fn change(name: &str, deps: &str) -> String {
    format!("{name} {deps} 2026-01-05T10:00:00Z Ada Lovelace <ada@example.com> # Add {name}.\n")
}

fn tag(name: &str) -> String {
    format!("@{name} 2026-01-06T10:00:00Z Ada Lovelace <ada@example.com> # Tag {name}.\n")
}

/// Plans that exercise the grammar's corners, each (label, whole plan text).
fn corner_cases() -> Vec<(&'static str, String)> {
    let c = change;
    let plain = |body: String| format!("{HEAD}{body}");
    vec![
        (
            "comments and blank lines",
            plain(format!(
                "# intro\n\n{}  # indented comment\n\n{}",
                c("a", ""),
                c("b", "[a]")
            )),
        ),
        (
            "pragmas with blanks and notes",
            format!(
                "# header comment\n % project = flipr # note\n%uri=https://x/\n%foo\n\n{}",
                c("a", "")
            ),
        ),
        (
            "header comment 0 ends the header",
            format!("%project=flipr\n# 0\n{}", c("a", "")),
        ),
        (
            "no blank line after the pragmas",
            format!("%project=flipr\n{}", c("a", "")),
        ),
        (
            "missing project",
            format!("%syntax-version=1.0.0\n\n{}", c("a", "")),
        ),
        (
            "crlf",
            plain([c("a", ""), c("b", "[a]")].concat()).replace('\n', "\r\n"),
        ),
        (
            "operators and odd blanks",
            plain(
                "+ a 2026-01-05T10:00:00Z A <a@x>\n\t- b  [a]   2026-01-05T10:00:00ZA <a@x>\n"
                    .to_string(),
            ),
        ),
        (
            "names with slashes and unicode",
            plain([c("schema/users", ""), c("ünïcode_1", "[schema/users]")].concat()),
        ),
        (
            "two tags on one change",
            plain([c("a", ""), tag("v1"), tag("gold"), c("b", "[@v1 a@gold]")].concat()),
        ),
        (
            "external and self-project dependencies",
            plain(
                [
                    c("a", ""),
                    c("b", "[a other:thing flipr:a !c !other:d]"),
                    c("c", ""),
                ]
                .concat(),
            ),
        ),
        (
            "conflict with an unknown change",
            plain([c("a", ""), c("b", "[!zz]")].concat()),
        ),
        (
            "rework three times",
            plain(
                [
                    c("f", ""),
                    tag("v1"),
                    c("g", "[f]"),
                    tag("v2"),
                    c("f", "[f@v1]"),
                    tag("v3"),
                    c("f", "[f@v3]"),
                ]
                .concat(),
            ),
        ),
        (
            "rework requiring itself by name",
            plain([c("f", ""), tag("v1"), c("f", "[f]")].concat()),
        ),
        (
            "requires a change reworked after the tag",
            plain(
                [
                    c("f", ""),
                    tag("v1"),
                    c("f", ""),
                    tag("v2"),
                    c("b", "[f@v1]"),
                ]
                .concat(),
            ),
        ),
        (
            "requires a later change",
            plain([c("a", "[b]"), c("b", "")].concat()),
        ),
        (
            "requires a change beyond the next tag",
            plain([c("a", "[b]"), tag("v1"), c("b", "")].concat()),
        ),
        (
            "requires its own tag",
            plain([c("a", ""), c("b", "[@v1]"), tag("v1")].concat()),
        ),
        ("requires itself", plain(c("a", "[a]"))),
        ("unknown dependency", plain(c("a", "[nowhere]"))),
        (
            "duplicate without a tag",
            plain([c("a", ""), c("a", "")].concat()),
        ),
        ("duplicate dependency", plain(c("a", "[b b]"))),
        ("empty leading dependency", plain(c("a", "[ b]"))),
        ("bad dependency", plain(c("a", "[b@]"))),
        ("tag first", plain(tag("v1"))),
        (
            "duplicate tag",
            plain([c("a", ""), tag("v1"), tag("v1")].concat()),
        ),
        (
            "tag with dependencies",
            plain(format!(
                "{}@v1 [a] 2026-01-05T10:00:00Z A <a@x>\n",
                c("a", "")
            )),
        ),
        ("reserved name", plain(c("HEAD", ""))),
        (
            "sha1-like name",
            plain(c("0123456789abcdef0123456789abcdef01234567", "")),
        ),
        ("lone hash line", plain(format!("{}#\n", c("a", "")))),
        ("name with a blank", plain(c("a b", ""))),
        ("name ending in punctuation", plain(c("a.", ""))),
        ("name ending in a symbolic reference", plain(c("a~1", ""))),
        ("name ending in a non-word character", plain(c("a€", ""))),
        ("no timestamp", plain("a Ada <ada@x>\n".to_string())),
        ("no planner", plain("a 2026-01-05T10:00:00Z\n".to_string())),
        ("neither", plain("a\n".to_string())),
        (
            "no blank before the dependencies",
            plain(format!("{}b[a] 2026-01-05T10:00:00Z A <a@x>\n", c("a", ""))),
        ),
        (
            "no blank after the dependencies",
            plain(format!("{}b [a]2026-01-05T10:00:00Z A <a@x>\n", c("a", ""))),
        ),
        ("no changes", HEAD.to_string()),
    ]
}

#[test]
fn corner_cases_agree_with_sqitch() {
    if !sqitch_ready("corner_cases_agree_with_sqitch") {
        return;
    }
    let mut disagreements = Vec::new();
    for (label, text) in corner_cases() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sqitch.conf"), "[core]\n\tengine = pg\n").unwrap();
        std::fs::write(dir.path().join("sqitch.plan"), &text).unwrap();
        let out = sqitch_plan(dir.path());
        let ours = load(dir.path());
        let theirs = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match (out.status.success(), &ours) {
            (true, Ok(p)) => {
                let want = sqitch_reading(&out);
                if migcheck_reading(p) != want {
                    disagreements.push(format!(
                        "{label}: sqitch reads {want:?}, migcheck {:?}",
                        migcheck_reading(p)
                    ));
                }
            }
            // An empty plan: Sqitch has nothing to show, migcheck nothing to verify.
            (true, Err(e)) if e.to_string().contains("holds no changes") => {}
            (true, Err(e)) => {
                disagreements.push(format!("{label}: sqitch accepts it, migcheck: {e}"))
            }
            // A syntax error: the same line and message as Sqitch's.
            (false, Err(e)) => {
                if let Some((line, msg)) = theirs
                    .strip_prefix("Syntax error in sqitch.plan at line ")
                    .and_then(|r| r.split_once(": "))
                {
                    let want = format!("sqitch.plan:{line}: {msg}");
                    if !e.to_string().ends_with(&want) {
                        disagreements.push(format!("{label}: sqitch says {want:?}, migcheck {e}"));
                    }
                }
            }
            (false, Ok(p)) if !blocking(p).is_empty() => {}
            (false, Ok(p)) => disagreements.push(format!(
                "{label}: sqitch refuses it ({theirs}), migcheck reads {:?} with problems {:?}",
                migcheck_reading(p),
                p.chain.problems
            )),
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// Plans Sqitch's plan command accepts but its deploy refuses: migcheck reports them before
/// any database is touched.
#[test]
fn deploy_time_refusals_are_blocking_problems() {
    let cases = [
        (
            [change("a", ""), change("b", "[!a]")].concat(),
            "conflicting-change",
        ),
        (
            [change("a", ""), change("b", "[!zz]")].concat(),
            "unknown-dependency",
        ),
    ];
    for (body, kind) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sqitch.plan"), format!("{HEAD}{body}")).unwrap();
        let p = load(dir.path()).unwrap();
        let problem = p.chain.problems.iter().find(|p| p.kind == kind);
        assert!(
            problem.is_some_and(|p| p.line == Some(5)),
            "{kind}: {:?}",
            p.chain.problems
        );
        assert!(BLOCKING.contains(&kind));
    }
}
