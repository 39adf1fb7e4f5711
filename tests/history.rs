//! `verify --since`: a change judged against its git base, in git repositories the tests build
//! themselves (a base branch, a change branch, clones); `--evidence` and `evidence check`;
//! `--expect-snapshot` and `migcheck snapshot`. Runs the built binary with the local provider.

mod support;

use std::path::Path;
use std::process::Command;

use support::{migcheck, Run};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A repository with `files` committed on `main`, then checked out on branch `feature`.
fn repo<S: AsRef<str>>(files: &[(S, S)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q", "-b", "main"]);
    for (rel, text) in files {
        write(tmp.path(), rel.as_ref(), text.as_ref());
    }
    commit(tmp.path(), "base");
    git(tmp.path(), &["checkout", "-q", "-b", "feature"]);
    tmp
}

fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
}

/// A golang-migrate migration pair.
fn table(version: &str, name: &str) -> [(String, String); 2] {
    [
        (
            format!("db/{version}_create_{name}.up.sql"),
            format!("CREATE TABLE {name} (id int PRIMARY KEY);\n"),
        ),
        (
            format!("db/{version}_create_{name}.down.sql"),
            format!("DROP TABLE {name};\n"),
        ),
    ]
}

fn put(dir: &Path, files: &[(String, String)]) {
    for (rel, text) in files {
        write(dir, rel, text);
    }
}

/// `migcheck verify` in `dir` with no CI variables but those in `env`.
fn verify_in(dir: &Path, chain: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = migcheck();
    for var in [
        "GITHUB_BASE_REF",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA",
        "CHANGE_TARGET",
        "MIGCHECK_SINCE",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).current_dir(dir);
    let mut all = vec!["--provider", "local"];
    all.extend_from_slice(args);
    support::verify_with(cmd, Path::new(chain), &all)
}

/// `(rule, migration, baseline)` of every finding.
fn findings(run: &Run) -> Vec<(String, String, bool)> {
    let mut out: Vec<(String, String, bool)> = run.json.as_ref().expect("a JSON report")
        ["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["migration"].as_str().unwrap_or("").to_string(),
                f["baseline"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    out.sort();
    out
}

fn finding<'a>(run: &'a Run, rule: &str) -> &'a serde_json::Value {
    run.json.as_ref().unwrap()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} finding\n{}", run.describe()))
}

#[test]
fn findings_on_released_migrations_are_baseline_and_a_clean_change_passes() {
    let t1 = "CREATE TABLE a (id int PRIMARY KEY, legacy int);\n";
    let dir = repo(&[
        ("db/0001_create_a.up.sql", t1),
        ("db/0001_create_a.down.sql", "DROP TABLE a;\n"),
        (
            "db/0002_drop_legacy.up.sql",
            "ALTER TABLE a DROP COLUMN legacy;\n",
        ),
        (
            "db/0002_drop_legacy.down.sql",
            "ALTER TABLE a ADD COLUMN legacy int;\n",
        ),
    ]);
    put(dir.path(), &table("0003", "b"));
    commit(dir.path(), "add b");

    // Without a base the old DROP COLUMN fails every change.
    let all = verify_in(dir.path(), "db", &[], &[]);
    assert_eq!(all.code(), 1, "{}", all.describe());
    assert!(all.json.as_ref().unwrap().get("history").is_none());

    let sarif = dir.path().join("report.sarif");
    let run = verify_in(
        dir.path(),
        "db",
        &["--since", "main", "--sarif", sarif.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    // Every report knows the finding is baseline: SARIF's baselineState, JUnit not red.
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let drop = results
        .iter()
        .find(|r| r["ruleId"] == "drop-column")
        .expect("the baseline finding is in the SARIF");
    assert_eq!(drop["baselineState"], "unchanged");
    assert!(
        !run.junit.as_deref().unwrap().contains("<failure"),
        "{}",
        run.junit.as_deref().unwrap()
    );
    assert_eq!(
        findings(&run),
        [(
            "drop-column".to_string(),
            "0002_drop_legacy".to_string(),
            true
        )]
    );
    let history = &run.json.as_ref().unwrap()["history"];
    assert_eq!(history["base"], "main");
    assert_eq!(history["source"], "--since");
    assert_eq!(history["new"], serde_json::json!(["0003_create_b"]));
    assert_eq!(history["baseline_findings"], 1);
    assert_eq!(
        history["base_commit"],
        git(dir.path(), &["rev-parse", "main"])
    );
    let out = run.stdout();
    assert!(out.contains("base: main (--since)"), "{out}");
    assert!(out.contains("baseline: 1 finding on migrations"), "{out}");
    // Listed in the reports, not on the terminal one by one.
    assert!(!out.contains("error[drop-column]"), "{out}");
}

#[test]
fn released_migrations_must_not_change_and_new_ones_must_sort_last() {
    let mut base: Vec<(String, String)> = Vec::new();
    for (v, n) in [
        ("0001", "t1"),
        ("0002", "t2"),
        ("0003", "t3"),
        ("0004", "t4"),
    ] {
        base.extend(table(v, n));
    }
    let dir = repo(&base);
    let d = dir.path();
    // The base branch moves on after the fork: 0006 reaches main.
    git(d, &["checkout", "-q", "main"]);
    put(d, &table("0006", "t6"));
    commit(d, "t6 on main");
    git(d, &["checkout", "-q", "feature"]);
    // Edited: a released up gains a column.
    write(
        d,
        "db/0001_create_t1.up.sql",
        "CREATE TABLE t1 (id int PRIMARY KEY, extra int);\n",
    );
    // Deleted.
    std::fs::remove_file(d.join("db/0002_create_t2.up.sql")).unwrap();
    std::fs::remove_file(d.join("db/0002_create_t2.down.sql")).unwrap();
    // Renumbered: the same statements under a new version.
    git(
        d,
        &["mv", "db/0003_create_t3.up.sql", "db/0007_create_t3.up.sql"],
    );
    git(
        d,
        &[
            "mv",
            "db/0003_create_t3.down.sql",
            "db/0007_create_t3.down.sql",
        ],
    );
    // Whitespace and comments only.
    write(
        d,
        "db/0004_create_t4.up.sql",
        "-- the fourth table\nCREATE TABLE t4 (\n    id int PRIMARY KEY\n);\n",
    );
    // New, but numbered before main's 0006: left uncommitted, as on a laptop before a commit.
    put(d, &table("0005", "t5"));
    let run = verify_in(d, "db", &["--since", "main"], &[]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let rules: Vec<(String, String)> = findings(&run).into_iter().map(|(r, m, _)| (r, m)).collect();
    let expected: Vec<(String, String)> = [
        ("migration-out-of-order", "0005_create_t5"),
        ("released-migration-deleted", "0002_create_t2"),
        ("released-migration-edited", "0001_create_t1"),
        ("released-migration-reformatted", "0004_create_t4"),
        ("released-migration-renamed", "0007_create_t3"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(rules, expected, "{}", run.describe());
    let edited = finding(&run, "released-migration-edited");
    assert_eq!(edited["severity"], "error");
    assert!(
        edited["diff"]
            .as_str()
            .unwrap()
            .contains("+CREATE TABLE t1 (id int PRIMARY KEY, extra int);"),
        "{edited}"
    );
    let out_of_order = finding(&run, "migration-out-of-order");
    let message = out_of_order["message"].as_str().unwrap();
    assert!(
        message.contains("0005") && message.contains("0006"),
        "{message}"
    );
    assert!(message.contains("skips this one"), "{message}");
    assert!(
        out_of_order["help"].as_str().unwrap().contains("0007"),
        "{out_of_order}"
    );
    assert!(finding(&run, "released-migration-renamed")["message"]
        .as_str()
        .unwrap()
        .contains("0003"));
    // A whitespace-only edit warns; it does not fail the gate by itself.
    assert_eq!(
        finding(&run, "released-migration-reformatted")["severity"],
        "warning"
    );
    let history = &run.json.as_ref().unwrap()["history"];
    assert_ne!(history["merge_base"], history["base_commit"]);
}

#[test]
fn a_checksummed_format_counts_every_byte_and_rules_are_configured_like_lint_rules() {
    let dir = repo(&[
        (
            "db/20240101000000_create_a.up.sql",
            "CREATE TABLE a (id int PRIMARY KEY);\n",
        ),
        ("db/20240101000000_create_a.down.sql", "DROP TABLE a;\n"),
    ]);
    write(
        dir.path(),
        "db/20240101000000_create_a.up.sql",
        "CREATE TABLE a (id int PRIMARY KEY);  \n",
    );
    let run = verify_in(
        dir.path(),
        "db",
        &["--since", "main", "--format", "sqlx"],
        &[],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    let edited = finding(&run, "released-migration-edited");
    assert!(
        edited["message"].as_str().unwrap().contains("checksum"),
        "{edited}"
    );
    // The same edit, allowed by the file itself.
    write(
        dir.path(),
        "db/20240101000000_create_a.up.sql",
        "-- migcheck:ignore-file released-migration-edited -- reviewed: dev databases only\nCREATE TABLE a (id int PRIMARY KEY);\n",
    );
    let run = verify_in(
        dir.path(),
        "db",
        &["--since", "main", "--format", "sqlx"],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    // And turned into a warning by the config.
    write(
        dir.path(),
        "db/20240101000000_create_a.up.sql",
        "CREATE TABLE a (id int PRIMARY KEY);  \n",
    );
    write(
        dir.path(),
        "migcheck.toml",
        "[lint.severity]\nreleased-migration-edited = \"warning\"\n",
    );
    let run = verify_in(
        dir.path(),
        "db",
        &["--since", "main", "--format", "sqlx"],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(
        finding(&run, "released-migration-edited")["severity"],
        "warning"
    );
}

#[test]
fn each_ci_system_names_the_base_and_a_push_judges_everything() {
    let dir = repo(&table("0001", "a"));
    put(dir.path(), &table("0002", "b"));
    commit(dir.path(), "b");
    let main = git(dir.path(), &["rev-parse", "main"]);
    for (var, value) in [
        ("GITHUB_BASE_REF", "main"),
        ("CI_MERGE_REQUEST_DIFF_BASE_SHA", main.as_str()),
        ("CHANGE_TARGET", "main"),
    ] {
        let run = verify_in(dir.path(), "db", &[], &[(var, value)]);
        assert_eq!(run.code(), 0, "{var}: {}", run.describe());
        let history = &run.json.as_ref().unwrap()["history"];
        assert_eq!(history["source"], var, "{}", run.describe());
        assert_eq!(history["base_commit"], main.as_str());
        assert_eq!(history["new"], serde_json::json!(["0002_create_b"]));
        assert!(
            run.stdout().contains(&format!("({var})")),
            "{}",
            run.stdout()
        );
    }
    // GitHub sets GITHUB_BASE_REF empty on a push; --no-since ignores the variables.
    for (args, env) in [
        (vec![], vec![("GITHUB_BASE_REF", "")]),
        (vec!["--no-since"], vec![("GITHUB_BASE_REF", "main")]),
    ] {
        let run = verify_in(dir.path(), "db", &args, &env);
        assert_eq!(run.code(), 0, "{}", run.describe());
        assert!(run.json.as_ref().unwrap().get("history").is_none());
    }
}

#[test]
fn a_shallow_clone_without_the_base_is_bad_input_that_says_how_to_fetch_it() {
    let origin = repo(&table("0001", "a"));
    put(origin.path(), &table("0002", "b"));
    commit(origin.path(), "b");
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    // What actions/checkout does by default: one commit of one branch.
    let shallow = clones.path().join("shallow");
    git(
        clones.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--branch",
            "feature",
            &url,
            shallow.to_str().unwrap(),
        ],
    );
    for (args, env, source) in [
        (vec!["--since", "origin/main"], vec![], "--since"),
        (vec![], vec![("GITHUB_BASE_REF", "main")], "GITHUB_BASE_REF"),
    ] {
        let run = verify_in(&shallow, "db", &args, &env);
        assert_eq!(run.code(), 2, "{}", run.describe());
        let err = run.stderr();
        assert!(err.contains("is not in this clone"), "{err}");
        assert!(
            err.contains("fetch-depth: 0") && err.contains("GIT_DEPTH"),
            "{err}"
        );
        assert!(err.contains(source), "{err}");
    }
    // Both tips fetched, but not the history down to where they fork.
    let tips = clones.path().join("tips");
    git(
        clones.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            "--branch",
            "feature",
            &url,
            tips.to_str().unwrap(),
        ],
    );
    let run = verify_in(&tips, "db", &["--since", "origin/main"], &[]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr().contains("no common ancestor"),
        "{}",
        run.stderr()
    );
    // Not a git work tree at all: --since is bad input; a CI variable alone is ignored, loudly.
    let plain = tempfile::tempdir().unwrap();
    put(plain.path(), &table("0001", "a"));
    let run = verify_in(plain.path(), "db", &["--since", "main"], &[]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr().contains("not inside a git work tree"),
        "{}",
        run.stderr()
    );
    let run = verify_in(plain.path(), "db", &[], &[("GITHUB_BASE_REF", "main")]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        run.stdout().contains("not in a git work tree"),
        "{}",
        run.stdout()
    );
}

fn revision(id: &str, parent: &str, table: &str) -> String {
    format!(
        "\"\"\"{table}\n\nRevision ID: {id}\nRevises: {parent}\n\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = \"{id}\"\ndown_revision = \"{parent}\"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.create_table(\"{table}\", sa.Column(\"id\", sa.Integer, primary_key=True))\n\n\ndef downgrade():\n    op.drop_table(\"{table}\")\n"
    )
}

#[test]
fn an_alembic_revision_that_makes_two_heads_at_merge_is_named_with_the_merge_command() {
    let dir = repo::<&str>(&[]);
    let d = dir.path();
    git(d, &["checkout", "-q", "main"]);
    support::copy_dir(&support::fixture("alembic/linear"), &d.join("app"));
    commit(d, "alembic project");
    git(d, &["branch", "-f", "feature"]);
    write(
        d,
        "app/migrations/versions/2b00000000aa_teams.py",
        &revision("2b00000000aa", "1a2b3c4d5e04", "teams"),
    );
    commit(d, "teams on main");
    git(d, &["checkout", "-q", "feature"]);
    write(
        d,
        "app/migrations/versions/3c00000000bb_tags.py",
        &revision("3c00000000bb", "1a2b3c4d5e04", "tags"),
    );
    // A comment in a released revision: a warning, not an edit.
    let released = d.join("app/migrations/versions/1a2b3c4d5e01_create_users.py");
    let text = std::fs::read_to_string(&released).unwrap();
    std::fs::write(&released, format!("# reviewed in 2026\n{text}")).unwrap();
    let py = support::test_python();
    let run = verify_in(
        d,
        "app",
        &["--since", "main", "--python", py.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    let heads = finding(&run, "alembic-heads-at-merge");
    assert_eq!(heads["migration"], "3c00000000bb");
    let message = heads["message"].as_str().unwrap();
    assert!(
        message.contains("2 heads") && message.contains("2b00000000aa"),
        "{message}"
    );
    assert!(
        heads["help"]
            .as_str()
            .unwrap()
            .contains("alembic merge -m \"merge heads\""),
        "{heads}"
    );
    assert!(heads["file"]
        .as_str()
        .unwrap()
        .ends_with("3c00000000bb_tags.py"));
    assert_eq!(
        finding(&run, "released-migration-reformatted")["migration"],
        "1a2b3c4d5e01"
    );
    // The change itself verifies: only the merge would break.
    assert!(run.failing().is_empty(), "{:?}", run.failing());
}

#[test]
fn evidence_is_written_checked_and_tampering_is_found() {
    let dir = repo(&table("0001", "a"));
    let d = dir.path();
    let evidence = d.join("evidence");
    let run = verify_in(d, "db", &["--evidence", "evidence"], &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    for name in [
        "report.json",
        "junit.xml",
        "report.sarif",
        "summary.md",
        "schema.json",
        "manifest.json",
    ] {
        assert!(evidence.join(name).is_file(), "{name} missing");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(evidence.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["git"]["commit"], git(d, &["rev-parse", "HEAD"]));
    assert_eq!(manifest["verdict"], "pass");
    assert_eq!(manifest["engine"]["name"], "postgres");
    let migrations: Vec<&str> = manifest["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        migrations,
        ["0001_create_a.up.sql", "0001_create_a.down.sql"]
    );
    let digest = run
        .stdout()
        .lines()
        .find_map(|l| {
            l.strip_prefix("evidence: evidence · manifest sha256 ")
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no evidence line\n{}", run.stdout()));

    let check = |args: &[&str]| {
        migcheck()
            .current_dir(d)
            .args(["evidence", "check", "evidence"])
            .args(args)
            .output()
            .unwrap()
    };
    let ok = check(&["--chain", "db"]);
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert_eq!(ok.status.code(), Some(0), "{text}");
    assert!(text.contains("INTACT") && text.contains(&digest), "{text}");

    std::fs::write(evidence.join("extra.txt"), "x").unwrap();
    let mut junit = std::fs::read_to_string(evidence.join("junit.xml")).unwrap();
    junit = junit.replace("failures=\"0\"", "failures=\"0\" ");
    std::fs::write(evidence.join("junit.xml"), junit).unwrap();
    write(
        d,
        "db/0001_create_a.up.sql",
        "CREATE TABLE a (id bigint PRIMARY KEY);\n",
    );
    write(d, "db/0002_later.up.sql", "SELECT 1;\n");
    let bad = check(&["--chain", "db"]);
    let text = String::from_utf8_lossy(&bad.stdout).into_owned();
    assert_eq!(bad.status.code(), Some(1), "{text}");
    for expected in [
        "changed after the run: junit.xml",
        "added after the run: extra.txt",
        "changed after the run: 0001_create_a.up.sql",
        "migration file not verified by the run: 0002_later.up.sql",
        "CHANGED: 4",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    let missing = migcheck()
        .args(["evidence", "check"])
        .arg(d.join("db"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("manifest.json"));
}

#[test]
fn the_schema_is_compared_with_a_committed_snapshot() {
    let dir = repo(&table("0001", "a"));
    let d = dir.path();
    let out = migcheck()
        .current_dir(d)
        .args(["snapshot", "db", "--provider", "local", "-o", "schema.json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schema = std::fs::read_to_string(d.join("schema.json")).unwrap();
    assert!(schema.contains("public.a"), "{schema}");

    let run = verify_in(d, "db", &["--expect-snapshot", "schema.json"], &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let snapshot_check = run
        .checks()
        .into_iter()
        .find(|c| c["name"] == "snapshot")
        .unwrap();
    assert_eq!(snapshot_check["status"], "pass");

    put(d, &table("0002", "b"));
    let run = verify_in(d, "db", &["--expect-snapshot", "schema.json"], &[]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert_eq!(run.failing(), ["snapshot"]);
    let check = run
        .checks()
        .into_iter()
        .find(|c| c["name"] == "snapshot")
        .unwrap();
    assert!(
        check["diff"].as_str().unwrap().contains("+table public.b"),
        "{check}"
    );

    write(d, "broken.json", "{ not json");
    let run = verify_in(d, "db", &["--expect-snapshot", "broken.json"], &[]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("broken.json:1"), "{}", run.stderr());
}
