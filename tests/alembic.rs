//! Alembic support: the graph migcheck reads itself (errors with file and line on crafted
//! projects; `heads`/`graph` against real `alembic heads`/`alembic history` on every fixture),
//! and the driver against real PostgreSQL and MariaDB servers from the local provider.
//!
//! Needs a Python with Alembic: `MIGCHECK_TEST_PYTHON` names it (`.ci/run` sets it up; locally:
//! `scripts/alembic-venv.sh /work/.venv-alembic` then
//! `MIGCHECK_TEST_PYTHON=/work/.venv-alembic/bin/python cargo test --test alembic`).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use migcheck::alembic::driver::{Connections, Direction, Driver, DriverOptions};
use migcheck::alembic::Graph;
use migcheck::engine::Engine;
use migcheck::provision::Database;
use support::{fixture, local_server, migcheck, runtime};

/// Every fixture project under fixtures/alembic (not `_shared`).
fn fixtures() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(fixture("alembic"))
        .expect("fixtures/alembic")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("alembic.ini").is_file())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('_'))
        .collect();
    out.sort();
    assert!(
        out.len() >= 8,
        "expected the Alembic fixtures, found {out:?}"
    );
    out
}

/// Run real Alembic (`python -m alembic …`) in `dir`.
fn alembic(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(support::test_python())
        .args(["-m", "alembic"])
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", "sqlite://")
        .output()
        .expect("run python -m alembic");
    assert!(
        out.status.success(),
        "alembic {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("env.py:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = migcheck().args(args).output().expect("run migcheck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `<rev> (labels) (head)` lines with labels sorted (Alembic prints a set in hash order).
fn normalize_heads(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (id, rest) = l.split_once(' ').unwrap_or((l, ""));
            match rest
                .strip_suffix(" (head)")
                .and_then(|r| r.strip_prefix('('))
            {
                Some(labels) => {
                    let mut v: Vec<&str> = labels.trim_end_matches(')').split(", ").collect();
                    v.sort();
                    format!("{id} ({}) (head)", v.join(", "))
                }
                None => format!("{id} {rest}"),
            }
        })
        .collect()
}

#[test]
fn heads_match_alembic_heads_on_every_fixture() {
    for dir in fixtures() {
        let expected = alembic(&dir, &["heads"]);
        let (code, stdout, stderr) = run(&["heads", dir.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {stderr}", dir.display());
        assert_eq!(
            normalize_heads(&stdout),
            normalize_heads(&expected),
            "{}: migcheck heads\n{stdout}\nalembic heads\n{expected}",
            dir.display()
        );
    }
}

/// (revision, parents via down_revision) from `alembic history` lines
/// (`a, b (deps) -> rev (labels) (head), message`).
fn history_edges(text: &str) -> BTreeSet<(String, Vec<String>)> {
    text.lines()
        .filter(|l| l.contains(" -> "))
        .map(|l| {
            let (left, right) = l.split_once(" -> ").unwrap();
            let left = match left.find(" (") {
                Some(at) => &left[..at],
                None => left,
            };
            let mut parents: Vec<String> = if left == "<base>" {
                Vec::new()
            } else {
                left.split(", ").map(str::to_string).collect()
            };
            parents.sort();
            let id = right
                .split([' ', ','])
                .next()
                .unwrap_or_default()
                .to_string();
            (id, parents)
        })
        .collect()
}

#[test]
fn graph_matches_alembic_history_on_every_fixture() {
    for dir in fixtures() {
        let expected = history_edges(&alembic(&dir, &["history"]));
        let (code, stdout, stderr) = run(&[
            "graph",
            dir.to_str().unwrap(),
            "--json",
            "--allow-multiple-heads",
        ]);
        assert_eq!(code, 0, "{}: {stderr}", dir.display());
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("graph --json parses");
        let ours: BTreeSet<(String, Vec<String>)> = json["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut parents: Vec<String> = r["down_revisions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                parents.sort();
                (r["id"].as_str().unwrap().to_string(), parents)
            })
            .collect();
        assert_eq!(ours, expected, "{}", dir.display());
        // The order is topological: every parent comes before its child.
        let order: Vec<&str> = json["order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for (id, parents) in &ours {
            let at = order.iter().position(|o| o == id).unwrap();
            for p in parents {
                assert!(
                    order.iter().position(|o| o == p).unwrap() < at,
                    "{p} before {id}"
                );
            }
        }
        // The text form names every revision and the heads.
        let (_, text, _) = run(&["graph", dir.to_str().unwrap(), "--allow-multiple-heads"]);
        for (id, _) in &ours {
            assert!(text.contains(id.as_str()), "{text}");
        }
    }
}

#[test]
fn two_heads_fail_graph_with_the_merge_command() {
    let dir = fixture("alembic/two_heads");
    let (code, _, stderr) = run(&["graph", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("alembic merge -m \"merge heads\" 3c000000000b 3c000000000c"),
        "{stderr}"
    );
    assert!(stderr.contains("3c000000000b_feature_a.py:"), "{stderr}");
    assert!(stderr.contains("3c000000000c_feature_b.py:"), "{stderr}");
    let (code, _, _) = run(&["graph", dir.to_str().unwrap(), "--allow-multiple-heads"]);
    assert_eq!(code, 0);
    // `heads` lists them like `alembic heads` and does not fail.
    let (code, stdout, _) = run(&["heads", dir.to_str().unwrap()]);
    assert_eq!((code, stdout.lines().count()), (0, 2));
}

/// A project in a temp dir with the given revision files (name, text).
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alembic.ini"),
        "[alembic]\nscript_location = %(here)s/alembic\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("alembic/versions")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("alembic/versions").join(name), text).unwrap();
    }
    dir
}

fn graph_err(files: &[(&str, &str)]) -> (i32, String) {
    let dir = project(files);
    let (code, _, stderr) = run(&["graph", dir.path().to_str().unwrap()]);
    (code, stderr)
}

#[test]
fn graph_errors_name_file_and_line() {
    let base = ("a.py", "revision = 'aaaa'\ndown_revision = None\n");
    // Cycle.
    let (code, e) = graph_err(&[
        base,
        ("b.py", "revision = 'bbbb'\ndown_revision = 'cccc'\n"),
        ("c.py", "\n\nrevision = 'cccc'\ndown_revision = 'bbbb'\n"),
    ]);
    assert_eq!(code, 1, "{e}");
    assert!(e.contains("revision cycle"), "{e}");
    assert!(e.contains("b.py:2") || e.contains("c.py:4"), "{e}");
    // Self-loop.
    let (code, e) = graph_err(&[
        base,
        (
            "b.py",
            "revision = 'bbbb'\ndown_revision = ('aaaa', 'bbbb')\n",
        ),
    ]);
    assert_eq!(code, 1);
    assert!(e.contains("b.py:2: revision bbbb names itself"), "{e}");
    // Missing parent, in down_revision and depends_on.
    let (code, e) = graph_err(&[
        base,
        ("b.py", "revision = 'bbbb'\ndown_revision = 'zzzz'\n"),
        (
            "c.py",
            "revision = 'cccc'\ndown_revision = 'aaaa'\ndepends_on = ['nolabel']\n",
        ),
    ]);
    assert_eq!(code, 1);
    assert!(
        e.contains("b.py:2: revision bbbb has down_revision zzzz"),
        "{e}"
    );
    assert!(
        e.contains("c.py:3: revision cccc has depends_on nolabel"),
        "{e}"
    );
    // Duplicate id.
    let (code, e) = graph_err(&[
        base,
        ("b.py", "# x\nrevision = 'aaaa'\ndown_revision = None\n"),
    ]);
    assert_eq!(code, 1);
    assert!(
        e.contains("b.py:2: revision id aaaa is also declared in"),
        "{e}"
    );
    // Branch label used twice.
    let (code, e) = graph_err(&[
        (
            "a.py",
            "revision = 'aaaa'\ndown_revision = None\nbranch_labels = ('x',)\n",
        ),
        (
            "b.py",
            "revision = 'bbbb'\ndown_revision = 'aaaa'\nbranch_labels = 'x'\n",
        ),
    ]);
    assert_eq!(code, 1);
    assert!(e.contains("b.py:3: branch label `x`"), "{e}");
    // Forbidden characters.
    let (code, e) = graph_err(&[("a.py", "revision = 'ab-cd'\ndown_revision = None\n")]);
    assert_eq!(code, 1);
    assert!(
        e.contains("a.py:1: revision id `ab-cd` contains '-'"),
        "{e}"
    );
    // Multiple heads name each head's file.
    let (code, e) = graph_err(&[
        base,
        ("b.py", "revision = 'bbbb'\ndown_revision = 'aaaa'\n"),
        ("c.py", "revision = 'cccc'\ndown_revision = 'aaaa'\n"),
    ]);
    assert_eq!(code, 1);
    assert!(e.contains("2 heads"), "{e}");
    assert!(
        e.contains("alembic merge -m \"merge heads\" bbbb cccc"),
        "{e}"
    );
}

#[test]
fn non_literal_values_exit_2_naming_the_line() {
    for (text, line) in [
        (
            "import os\nrevision = 'aaaa'\ndown_revision = os.environ['X']\n",
            3,
        ),
        ("revision: str = make_id()\ndown_revision = None\n", 1),
        (
            "revision = 'aaaa'\ndown_revision = None\n\n\nbranch_labels = ('a',) + ('b',)\n",
            5,
        ),
    ] {
        let dir = project(&[("x_rev.py", text)]);
        for cmd in ["graph", "heads"] {
            let (code, _, stderr) = run(&[cmd, dir.path().to_str().unwrap()]);
            assert_eq!(code, 2, "{stderr}");
            assert!(
                stderr.contains(&format!("x_rev.py:{line}: cannot read")),
                "{cmd}: {stderr}"
            );
        }
    }
    // A file without down_revision, and a project without versions.
    let dir = project(&[("x_rev.py", "revision = 'aaaa'\n")]);
    let (code, _, stderr) = run(&["heads", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("x_rev.py:1: no top-level `down_revision`"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["heads", "/nonexistent/alembic/project"]);
    assert_eq!(code, 2, "{stderr}");
}

/// Generate a linear project of `n` revisions (each creates a table) in `dir`.
fn generate_linear(dir: &Path, n: usize) {
    let src = fixture("alembic/linear");
    std::fs::copy(src.join("alembic.ini"), dir.join("alembic.ini")).unwrap();
    std::fs::create_dir_all(dir.join("migrations/versions")).unwrap();
    std::fs::copy(src.join("migrations/env.py"), dir.join("migrations/env.py")).unwrap();
    for i in 0..n {
        let down = if i == 0 {
            "None".to_string()
        } else {
            format!("'{:012x}'", i)
        };
        let text = format!(
            "\"\"\"table {i}\"\"\"\nfrom typing import Sequence, Union\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
             revision: str = '{:012x}'\ndown_revision: Union[str, Sequence[str], None] = {down}\n\
             branch_labels = None\ndepends_on = None\n\n\
             def upgrade() -> None:\n    op.create_table('t{i}', sa.Column('id', sa.Integer, primary_key=True))\n\n\
             def downgrade() -> None:\n    op.drop_table('t{i}')\n",
            i + 1
        );
        std::fs::write(
            dir.join("migrations/versions")
                .join(format!("{:012x}_t{i}.py", i + 1)),
            text,
        )
        .unwrap();
    }
}

/// Parsing 1,000 revision files (run with `--ignored --nocapture` to see the number).
#[test]
#[ignore = "measurement"]
fn measure_parse_1000_revisions() {
    let dir = tempfile::tempdir().unwrap();
    generate_linear(dir.path(), 1000);
    let start = Instant::now();
    let graph = Graph::load(dir.path()).unwrap();
    let took = start.elapsed();
    assert_eq!(graph.revisions.len(), 1000);
    assert_eq!(graph.heads().len(), 1);
    println!("parsed 1000 revision files and built the graph in {took:?}");
}

fn driver_options() -> DriverOptions {
    DriverOptions {
        python: Some(support::test_python()),
        ..DriverOptions::default()
    }
}

/// Every revision of `dir` step by step: upgrade, current, step back, current, upgrade again.
/// Returns what happened per revision, and how the driver's commands got their connections.
async fn round_trip(
    server: &dyn migcheck::provision::Server,
    engine: Engine,
    dir: &Path,
) -> (Vec<String>, Option<Connections>) {
    let graph = Graph::load(dir).unwrap();
    let db = Database::create(server, false).await.unwrap();
    let mut driver = Driver::start(&graph.project, engine, &db.url, &driver_options())
        .await
        .unwrap();
    assert_eq!(driver.current().await.unwrap(), Vec::<String>::new());
    let mut applied: BTreeSet<String> = BTreeSet::new();
    let mut log = Vec::new();
    for rev in &graph.revisions {
        let up = driver.upgrade(&rev.id).await.unwrap();
        assert!(
            up.is_ok(),
            "{}: upgrade {}: {:?}",
            dir.display(),
            rev.id,
            up.error
        );
        assert_eq!(up.steps.len(), 1, "one step per revision: {:?}", up.steps);
        assert_eq!(up.steps[0].revision, rev.id);
        assert!(up.steps[0].file.ends_with(rev.file.file_name().unwrap()));
        applied.insert(rev.id.clone());
        let current = driver.current().await.unwrap();
        assert_eq!(
            current,
            graph.expected_current(applied.iter().map(String::as_str)),
            "after upgrade {}",
            rev.id
        );

        let back = driver
            .downgrade(&graph.step_back_target(&rev.id))
            .await
            .unwrap();
        if let Some(err) = &back.error {
            log.push(format!("{}: {}", rev.id, err.kind));
            assert_eq!(back.steps.len(), 1);
            assert!(back.steps[0].failed);
            assert_eq!(err.revision.as_deref(), Some(rev.id.as_str()));
            continue;
        }
        let current = driver.current().await.unwrap();
        let expected =
            graph.expected_current(applied.iter().map(String::as_str).filter(|a| *a != rev.id));
        assert_eq!(current, expected, "after stepping back from {}", rev.id);
        // Stepping back from a revision leaves its parents applied.
        for p in &rev.down_revisions {
            assert!(graph.children(p).iter().any(|c| applied.contains(&c.id)));
        }
        let again = driver.upgrade(&rev.id).await.unwrap();
        if let Some(err) = &again.error {
            // The forgotten index is still there: upgrading again collides with it.
            assert_eq!(err.revision.as_deref(), Some(rev.id.as_str()));
            log.push(format!("{}: upgrade again failed: {}", rev.id, err.message));
            break;
        }
        log.push(format!("{}: ok", rev.id));
    }
    let connections = driver.stop().await.unwrap();
    (log, connections)
}

fn driver_suite(engine: Engine) {
    runtime().block_on(async {
        let server = local_server(engine).await;
        for dir in fixtures() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if name == "session_state" && engine != Engine::Postgres {
                continue; // PostgreSQL's SET search_path and ALTER DATABASE
            }
            let (log, connections) = round_trip(server.as_ref(), engine, &dir).await;
            let connections = connections.expect("the driver says how it connected");
            if engine == Engine::Postgres {
                // One connection serves every command (reset between them), except after a
                // failed command, and after a revision changed a database default.
                assert!(connections.reused > 0, "{name}: {connections:?}");
                if !["irreversible", "forgot_index", "session_state"].contains(&name.as_str()) {
                    assert_eq!(connections.opened, 1, "{name}: {connections:?}");
                }
            } else {
                // pymysql: each command's engine is its own, as env.py asked.
                assert_eq!(connections.reused, 0, "{name}: {connections:?}");
            }
            if name == "irreversible" {
                assert_eq!(log.last().unwrap(), "5e000000000b: NotImplementedError");
            } else if name == "forgot_index" {
                let last = log.last().unwrap();
                assert!(
                    last.starts_with("4d000000000b: upgrade again failed")
                        && last.contains("ix_users_email"),
                    "{log:?}"
                );
            } else {
                assert!(log.iter().all(|l| l.ends_with(": ok")), "{name}: {log:?}");
            }
        }
        captured_sql(server.as_ref(), engine).await;
        server.shutdown().await.unwrap();
    });
}

async fn captured_sql(server: &dyn migcheck::provision::Server, engine: Engine) {
    let graph = Graph::load(&fixture("alembic/linear")).unwrap();
    let db = Database::create(server, false).await.unwrap();
    let mut driver = Driver::start(&graph.project, engine, &db.url, &driver_options())
        .await
        .unwrap();
    // Several revisions in one request: each statement is attributed to its own revision.
    let r = driver.upgrade("head").await.unwrap();
    assert!(r.is_ok(), "{:?}", r.error);
    let ids: Vec<&str> = r.steps.iter().map(|s| s.revision.as_str()).collect();
    assert_eq!(
        ids,
        [
            "1a2b3c4d5e01",
            "1a2b3c4d5e02",
            "1a2b3c4d5e03",
            "1a2b3c4d5e04"
        ]
    );
    let sql = |i: usize| -> String {
        r.steps[i]
            .migration_statements()
            .map(|s| s.sql.to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(sql(0).contains("CREATE TABLE USERS"), "{}", sql(0));
    assert!(sql(1).contains("ALTER TABLE USERS ADD"), "{}", sql(1));
    assert!(
        sql(2).contains("CREATE UNIQUE INDEX IX_USERS_EMAIL"),
        "{}",
        sql(2)
    );
    assert!(
        sql(3).contains("CREATE TABLE POSTS") && sql(3).contains("CREATE INDEX IX_POSTS_USER_ID")
    );
    assert!(!sql(0).contains("POSTS"));
    // The version table bookkeeping is captured but kept apart from the migration's SQL.
    assert!(r.steps[0]
        .statements
        .iter()
        .any(|s| s.sql.contains("alembic_version")));
    // The captured SQL feeds the lint.
    let script = r.steps[1].to_script();
    assert!(script.file.ends_with("1a2b3c4d5e02_add_name.py"));
    let down = driver.downgrade("-1").await.unwrap();
    assert_eq!(down.steps[0].revision, "1a2b3c4d5e04");
    assert!(down.steps[0]
        .migration_statements()
        .any(|s| s.sql.to_ascii_uppercase().contains("DROP TABLE POSTS")));
    driver.stop().await.unwrap();
    // Nothing the driver returns carries the password.
    let pw = db.url.password().unwrap_or_default();
    if pw.len() >= 4 {
        let all = serde_json::to_string(&r).unwrap();
        assert!(!all.contains(&pw));
    }
}

#[test]
fn driver_on_postgres() {
    driver_suite(Engine::Postgres);
}

#[test]
fn driver_on_mariadb() {
    driver_suite(Engine::Mariadb);
}

/// A held command (`Driver::hold`) runs up to its first revision while migcheck reads a
/// snapshot; the same command finishes it, anything else cancels it and its transaction rolls
/// back (PostgreSQL).
#[test]
fn held_commands_finish_or_roll_back() {
    runtime().block_on(async {
        let server = local_server(Engine::Postgres).await;
        let graph = Graph::load(&fixture("alembic/linear")).unwrap();
        let (first, second) = (&graph.revisions[0].id, &graph.revisions[1].id);
        let db = Database::create(server.as_ref(), false).await.unwrap();
        let mut driver =
            Driver::start(&graph.project, Engine::Postgres, &db.url, &driver_options())
                .await
                .unwrap();
        // Held, then finished by the same command.
        driver.hold(Direction::Upgrade, first).await.unwrap();
        let up = driver.upgrade(first).await.unwrap();
        assert!(up.is_ok(), "{:?}", up.error);
        assert_eq!(up.steps.len(), 1);
        assert_eq!(&up.steps[0].revision, first);
        assert_eq!(driver.current().await.unwrap(), vec![first.clone()]);
        // Held, then another command: the held one is cancelled and leaves nothing behind.
        driver.hold(Direction::Upgrade, second).await.unwrap();
        let back = driver
            .downgrade(&graph.step_back_target(first))
            .await
            .unwrap();
        assert!(back.is_ok(), "{:?}", back.error);
        assert_eq!(driver.current().await.unwrap(), Vec::<String>::new());
        // Held, then a question: cancelled too.
        driver.hold(Direction::Upgrade, first).await.unwrap();
        assert_eq!(driver.current().await.unwrap(), Vec::<String>::new());
        // A held command with nothing to run answers without stopping.
        driver.upgrade(first).await.unwrap();
        driver.hold(Direction::Upgrade, first).await.unwrap();
        let again = driver.upgrade(first).await.unwrap();
        assert!(again.is_ok() && again.steps.is_empty(), "{again:?}");
        // Held at the end of a run: stop cancels it.
        driver.hold(Direction::Upgrade, second).await.unwrap();
        driver.stop().await.unwrap();
        let mut check = Driver::start(&graph.project, Engine::Postgres, &db.url, &driver_options())
            .await
            .unwrap();
        assert_eq!(check.current().await.unwrap(), vec![first.clone()]);
        check.stop().await.unwrap();
        db.drop_database(server.as_ref()).await.unwrap();
        server.shutdown().await.unwrap();
    });
}

#[test]
fn driver_reports_a_python_without_alembic() {
    runtime().block_on(async {
        let graph = Graph::load(&fixture("alembic/linear")).unwrap();
        let url = migcheck::redact::SecretUrl::new("postgres://u:secretpw@127.0.0.1:1/db");
        // The system interpreter outside the venv has no alembic in a clean CI image; a
        // venv-less interpreter is simulated with -I -S by pointing at a script that fails.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("python-without-alembic");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nexec {} -I -S \"$@\"\n",
                support::test_python().display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let options = DriverOptions {
            python: Some(fake.clone()),
            startup_timeout: Duration::from_secs(30),
            ..DriverOptions::default()
        };
        let err = Driver::start(&graph.project, Engine::Postgres, &url, &options)
            .await
            .expect_err("no alembic there");
        let text = err.to_string();
        assert!(text.contains("`import alembic` fails"), "{text}");
        assert!(text.contains("python-without-alembic"), "{text}");
        assert!(!text.contains("secretpw"));
        assert_eq!(err.exit_code(), 2);
    });
}

/// Per-step overhead and a 300-revision up/down/up, step by step (run with
/// `--ignored --nocapture` to see the numbers).
#[test]
#[ignore = "measurement"]
fn measure_driver_300_revisions() {
    runtime().block_on(async {
        let server = local_server(Engine::Postgres).await;
        let dir = tempfile::tempdir().unwrap();
        generate_linear(dir.path(), 300);
        let graph = Graph::load(dir.path()).unwrap();
        let db = Database::create(server.as_ref(), false).await.unwrap();
        let started = Instant::now();
        let mut driver =
            Driver::start(&graph.project, Engine::Postgres, &db.url, &driver_options())
                .await
                .unwrap();
        let startup = started.elapsed();
        let mut overhead = Vec::new();
        let mut alembic_ms = Vec::new();
        let t = Instant::now();
        for pass in 0..3 {
            let ids: Vec<&str> = if pass == 1 {
                graph
                    .revisions
                    .iter()
                    .rev()
                    .map(|r| r.id.as_str())
                    .collect()
            } else {
                graph.revisions.iter().map(|r| r.id.as_str()).collect()
            };
            for id in ids {
                let r = if pass == 1 {
                    driver.downgrade(&graph.step_back_target(id)).await.unwrap()
                } else {
                    driver.upgrade(id).await.unwrap()
                };
                assert!(r.is_ok(), "{:?}", r.error);
                overhead.push(r.wall.as_secs_f64() * 1000.0 - r.alembic_ms);
                alembic_ms.push(r.alembic_ms);
            }
        }
        let total = t.elapsed();
        driver.stop().await.unwrap();
        server.shutdown().await.unwrap();
        overhead.sort_by(|a, b| a.partial_cmp(b).unwrap());
        alembic_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = |v: &[f64]| v[v.len() / 2];
        println!(
            "driver start {startup:?}; 900 steps (300 up, 300 down, 300 up) in {total:?}; \
             per step: Alembic median {:.1} ms, driver overhead median {:.3} ms (max {:.3} ms)",
            med(&alembic_ms),
            med(&overhead),
            overhead.last().unwrap()
        );
    });
}
