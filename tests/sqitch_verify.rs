//! `verify` on Sqitch projects, beyond the verdicts `fixtures/expectations.toml` checks through
//! every provider: what the reports say (the verify script's file and line, the plan's line
//! for a cycle), the runner's own refusals (engine mismatch, session SQL, a missing client),
//! and that the scripts really run through the client (a psql meta-command works).
//! Real PostgreSQL and MariaDB servers, started by migcheck's local provider.

mod support;

use std::path::Path;

use migcheck::engine::Engine;
use support::{copy_dir, fixture, migcheck, verify};

fn local(engine: &str) -> Vec<&str> {
    vec!["--engine", engine, "--provider", "local"]
}

fn check<'a>(
    checks: &'a [serde_json::Value],
    name: &str,
    migration: &str,
) -> &'a serde_json::Value {
    checks
        .iter()
        .find(|c| c["name"] == name && c["migration"] == migration)
        .unwrap_or_else(|| panic!("no {name} check for {migration} in {checks:#?}"))
}

#[test]
fn a_failing_verify_script_is_its_own_check_with_file_and_line() {
    for (dialect, engine, line) in [("postgres", "postgres", 7), ("mysql", "mariadb", 5)] {
        let run = verify(
            &fixture(&format!("sqitch/{dialect}/failing-verify")),
            &local(engine),
        );
        assert_eq!(run.code(), 1, "{}", run.describe());
        let checks = run.checks();
        let failed = check(&checks, "verify", "users_email");
        assert_eq!(failed["status"], "fail", "{failed:#}");
        assert!(
            failed["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("verify/users_email.sql")),
            "{failed:#}"
        );
        assert_eq!(failed["line"], line, "{failed:#}");
        assert!(
            failed["message"]
                .as_str()
                .is_some_and(|m| m.contains("email_address")),
            "{failed:#}"
        );
        // The deploy and its round trip are fine: only the verify script fails.
        assert_eq!(check(&checks, "upgrade", "users_email")["status"], "pass");
        assert_eq!(check(&checks, "roundtrip", "users_email")["status"], "pass");
        assert_eq!(check(&checks, "verify", "users")["status"], "pass");
        assert_eq!(run.json.as_ref().unwrap()["format"], "sqitch");
        // JUnit carries the verify check too.
        let junit = run.junit.clone().unwrap_or_default();
        assert!(junit.contains("verify"), "{junit}");
    }
}

#[test]
fn a_revert_that_forgets_an_index_names_it() {
    let run = verify(
        &fixture("sqitch/postgres/revert-forgets-index"),
        &local("postgres"),
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    let checks = run.checks();
    let roundtrip = check(&checks, "roundtrip", "users_email");
    assert_eq!(roundtrip["status"], "fail");
    let objects = roundtrip["objects"].to_string();
    assert!(objects.contains("users_created_at_idx"), "{roundtrip:#}");
    assert!(
        roundtrip["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("revert/users_email.sql")),
        "{roundtrip:#}"
    );
}

#[test]
fn a_dependency_cycle_starts_no_database_and_names_the_plan_line() {
    let run = verify(&fixture("sqitch/postgres/cycle"), &local("postgres"));
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert_eq!(run.failing(), vec!["chain".to_string()]);
    let json = run.json.as_ref().unwrap();
    assert!(
        json["provider"].is_null(),
        "no server for a cycle: {json:#}"
    );
    let chain = run
        .checks()
        .into_iter()
        .find(|c| c["name"] == "chain")
        .expect("a chain check");
    assert!(
        chain["message"]
            .as_str()
            .is_some_and(|m| m.contains("cycle")),
        "{chain:#}"
    );
    assert!(
        chain["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("sqitch.plan")),
        "{chain:#}"
    );
    assert_eq!(chain["line"], 6, "{chain:#}");
}

#[test]
fn bad_input_is_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    copy_dir(&fixture("sqitch/postgres/clean"), &project);
    // A malformed change line in the plan.
    let plan = project.join("sqitch.plan");
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, format!("{text}bad[line\n")).unwrap();
    let run = verify(&project, &local("postgres"));
    assert_eq!(run.code(), 2, "{}", run.describe());
    let lines = text.lines().count() + 1;
    assert!(
        run.stderr().contains(&format!("sqitch.plan:{lines}:")),
        "{}",
        run.describe()
    );
    // A PostgreSQL project verified on MariaDB.
    let run = verify(&fixture("sqitch/postgres/clean"), &local("mariadb"));
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("engine is pg"), "{}", run.describe());
    // Session SQL cannot carry over between client processes.
    let run = verify(
        &fixture("sqitch/postgres/clean"),
        &[
            "--engine",
            "postgres",
            "--provider",
            "local",
            "--session-sql",
            "SET lock_timeout = '1s'",
        ],
    );
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("Sqitch"), "{}", run.describe());
}

#[test]
fn a_missing_client_is_an_environment_error() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    copy_dir(&fixture("sqitch/postgres/clean"), &project);
    let conf = project.join("sqitch.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        format!("{text}[engine \"pg\"]\n\tclient = /nonexistent/psql\n"),
    )
    .unwrap();
    let run = verify(&project, &local("postgres"));
    assert_eq!(run.code(), 3, "{}", run.describe());
    assert!(
        run.stderr().contains("/nonexistent/psql"),
        "{}",
        run.describe()
    );
}

/// Scripts run through psql: a meta-command and a Sqitch variable work as in production, and
/// a script that fails halfway (psql's ON_ERROR_STOP) fails its step at the right line.
#[test]
fn scripts_run_through_psql_with_sqitch_variables() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    write(
        &project,
        "sqitch.conf",
        "[core]\n\tengine = pg\n[deploy \"variables\"]\n\ttable_name = widgets\n",
    );
    write(
        &project,
        "sqitch.plan",
        "%syntax-version=1.0.0\n%project=vars\n\nwidgets 2026-01-01T00:00:00Z Dev <dev@example.com> # a table named by a variable\nbroken [widgets] 2026-01-02T00:00:00Z Dev <dev@example.com> # fails at line 3\n",
    );
    write(
        &project,
        "deploy/widgets.sql",
        "\\set ON_ERROR_STOP on\nBEGIN;\nCREATE TABLE :\"table_name\" (id int PRIMARY KEY);\nCOMMIT;\n",
    );
    write(
        &project,
        "revert/widgets.sql",
        "BEGIN;\nDROP TABLE :\"table_name\";\nCOMMIT;\n",
    );
    write(
        &project,
        "verify/widgets.sql",
        "SELECT id FROM :\"table_name\" WHERE FALSE;\n",
    );
    write(
        &project,
        "deploy/broken.sql",
        "BEGIN;\nCREATE TABLE ok (id int);\nSELECT no_such_function();\nCOMMIT;\n",
    );
    write(&project, "revert/broken.sql", "DROP TABLE ok;\n");
    let run = verify(&project, &local("postgres"));
    assert_eq!(run.code(), 1, "{}", run.describe());
    let checks = run.checks();
    assert_eq!(
        check(&checks, "upgrade", "widgets")["status"],
        "pass",
        "{}",
        run.describe()
    );
    assert_eq!(check(&checks, "roundtrip", "widgets")["status"], "pass");
    assert_eq!(check(&checks, "verify", "widgets")["status"], "pass");
    let broken = check(&checks, "upgrade", "broken");
    assert_eq!(broken["status"], "fail");
    assert_eq!(broken["line"], 3, "{broken:#}");
    assert!(
        broken["message"]
            .as_str()
            .is_some_and(|m| m.contains("no_such_function")),
        "{broken:#}"
    );
    // The password of the throwaway database never shows.
    assert!(!run.stdout().contains("PGPASSWORD"), "{}", run.describe());
}

#[test]
fn sqitch_is_detected_and_forced() {
    // Detected from sqitch.plan; `--format sqitch` on a folder without one is bad input.
    let run = verify(&fixture("sqitch/postgres/clean"), &local("postgres"));
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        run.json.as_ref().unwrap()["format_reason"]
            .as_str()
            .is_some_and(|r| r.contains("sqitch.plan")),
        "{}",
        run.describe()
    );
    let out = migcheck()
        .args(["lint", "--format", "sqitch"])
        .arg(fixture("postgres/golang-migrate/clean"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// What migcheck verifies is what Sqitch deploys: the real `sqitch deploy --verify` on a
/// database of its own gives the schema `migcheck snapshot` records for the same project
/// (Sqitch's registry left out), and `sqitch status` reports the plan's last change deployed.
#[test]
fn the_real_sqitch_deploys_the_schema_migcheck_verified() {
    let Some(sqitch) = sqitch_binary() else {
        return;
    };
    for (dialect, engine, scheme) in [
        ("postgres", Engine::Postgres, "pg"),
        ("mysql", Engine::Mariadb, "mysql"),
    ] {
        let rt = support::runtime();
        let server = rt.block_on(support::local_server(engine));
        // Created as migcheck creates its throwaway databases (UTF-8; MariaDB's default
        // character set would otherwise be latin1).
        let create = match engine {
            Engine::Postgres => {
                "CREATE DATABASE sq_real TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
            }
            _ => "CREATE DATABASE sq_real CHARACTER SET utf8mb4",
        };
        rt.block_on(support::run_sql(&*server, &[create]));
        let mut url = url::Url::parse(server.admin_url().expose()).expect("admin URL");
        url.set_path("/sq_real");
        let mut target = url.clone();
        target.set_scheme(scheme).expect("scheme");
        let target = format!("db:{target}");
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        copy_dir(&fixture(&format!("sqitch/{dialect}/clean")), &project);
        let deploy = std::process::Command::new(&sqitch)
            .args(["deploy", "--verify", &target])
            .current_dir(&project)
            .output()
            .expect("run sqitch deploy");
        assert!(
            deploy.status.success(),
            "sqitch deploy on {dialect}: {}",
            String::from_utf8_lossy(&deploy.stderr)
        );
        let status = std::process::Command::new(&sqitch)
            .args(["status", &target])
            .current_dir(&project)
            .output()
            .expect("run sqitch status");
        let status_text = String::from_utf8_lossy(&status.stdout).into_owned();
        let project_read = migcheck::sqitch::load(
            &project,
            &migcheck::chain::DiscoverOptions {
                engine: Some(engine),
                ..Default::default()
            },
        )
        .expect("migcheck reads the project");
        let last = &project_read.changes.last().unwrap().name;
        assert!(
            status_text.contains("Nothing to deploy (up-to-date)")
                && status_text.contains(&format!("# Name:     {last}\n")),
            "sqitch status on {dialect} (migcheck's last change: {last}):\n{status_text}\n{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let deployed = rt.block_on(async {
            let mut conn = migcheck::provision::Conn::connect(
                engine,
                &migcheck::redact::SecretUrl::new(url.to_string()),
            )
            .await
            .expect("connect to sqitch's database");
            let snap = migcheck::snapshot::take(&mut conn).await.expect("snapshot");
            conn.close().await;
            snap
        });
        rt.block_on(server.shutdown()).expect("shutdown");
        let mut deployed = deployed;
        // Sqitch's registry: the `sqitch` schema on PostgreSQL (a database of its own on MySQL).
        deployed.objects.retain(|path, _| {
            let name = path.split_once(' ').map_or("", |(_, rest)| rest);
            !(name == "sqitch" || name.starts_with("sqitch."))
        });
        let out = dir.path().join("snapshot.json");
        let run = migcheck()
            .args([
                "snapshot",
                "--engine",
                engine.name(),
                "--provider",
                "local",
                "-o",
            ])
            .arg(&out)
            .arg(&project)
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(0), "{run:?}");
        let verified: migcheck::snapshot::Snapshot =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert!(!verified.objects.is_empty());
        let only_deployed: Vec<_> = deployed
            .objects
            .keys()
            .filter(|k| !verified.objects.contains_key(*k))
            .collect();
        let only_verified: Vec<_> = verified
            .objects
            .keys()
            .filter(|k| !deployed.objects.contains_key(*k))
            .collect();
        assert!(
            only_deployed.is_empty() && only_verified.is_empty(),
            "{dialect}: only in sqitch's database {only_deployed:?}; only in migcheck's {only_verified:?}"
        );
        assert_eq!(
            deployed, verified,
            "{dialect}: the same objects, other definitions"
        );
    }
}

/// The real sqitch, or None (after a loud SKIPPED) with MIGCHECK_ALLOW_NO_SQITCH=1.
fn sqitch_binary() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("sqitch"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if std::env::var_os("MIGCHECK_ALLOW_NO_SQITCH").is_some() => {
            eprintln!(
                "SKIPPED: the_real_sqitch_deploys_the_schema_migcheck_verified needs sqitch \
                 (apt-get install sqitch libdbd-pg-perl libdbd-mysql-perl)"
            );
            None
        }
        None => panic!(
            "sqitch is not installed: apt-get install sqitch libdbd-pg-perl libdbd-mysql-perl \
             (or set MIGCHECK_ALLOW_NO_SQITCH=1 to skip this test loudly)"
        ),
    }
}

/// Sqitch's MySQL registry has a `checkit()` function that verify scripts call, as Sqitch's
/// MySQL tutorial writes them (`SELECT sqitch.checkit(COUNT(*), '...')`): it is there, it
/// passes a change that is deployed and raises the script's message for one that is not.
#[test]
fn mysql_verify_scripts_can_call_sqitch_checkit() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    write(&project, "sqitch.conf", "[core]\n\tengine = mysql\n");
    write(
        &project,
        "sqitch.plan",
        "%syntax-version=1.0.0\n%project=checkit\n\nusers 2026-01-01T00:00:00Z Dev <dev@example.com> # a table\nghost [users] 2026-01-02T00:00:00Z Dev <dev@example.com> # creates nothing\n",
    );
    let verify_table = |table: &str| {
        format!(
            "SELECT sqitch.checkit(COUNT(*), 'Table \"{table}\" does not exist')\n  FROM information_schema.tables\n WHERE table_schema = DATABASE() AND table_name = '{table}';\n"
        )
    };
    write(
        &project,
        "deploy/users.sql",
        "CREATE TABLE users (id INT PRIMARY KEY);\n",
    );
    write(&project, "revert/users.sql", "DROP TABLE users;\n");
    write(&project, "verify/users.sql", &verify_table("users"));
    write(&project, "deploy/ghost.sql", "SELECT 1;\n");
    write(&project, "revert/ghost.sql", "SELECT 1;\n");
    write(&project, "verify/ghost.sql", &verify_table("ghost"));
    let run = verify(&project, &local("mariadb"));
    assert_eq!(run.code(), 1, "{}", run.describe());
    let checks = run.checks();
    assert_eq!(check(&checks, "verify", "users")["status"], "pass");
    let ghost = check(&checks, "verify", "ghost");
    assert_eq!(ghost["status"], "fail", "{ghost:#}");
    assert!(
        ghost["message"]
            .as_str()
            .is_some_and(|m| m.contains("Table \"ghost\" does not exist")),
        "{ghost:#}"
    );
    assert_eq!(check(&checks, "roundtrip", "ghost")["status"], "pass");
}

/// A round trip that fails and whose ups cannot be replayed on a fresh database (an earlier
/// change left a role, which belongs to the server) still reports the change's verify script.
#[test]
fn a_verify_script_is_reported_when_the_ups_cannot_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    write(&project, "sqitch.conf", "[core]\n\tengine = pg\n");
    write(
        &project,
        "sqitch.plan",
        "%syntax-version=1.0.0\n%project=replay\n\nrole_r 2026-01-01T00:00:00Z Dev <dev@example.com> # a role\nleaky [role_r] 2026-01-02T00:00:00Z Dev <dev@example.com> # revert leaves the table; verify fails\n",
    );
    write(
        &project,
        "deploy/role_r.sql",
        "CREATE ROLE migcheck_replay_r;\n",
    );
    write(
        &project,
        "revert/role_r.sql",
        "DROP ROLE migcheck_replay_r;\n",
    );
    write(&project, "verify/role_r.sql", "SELECT 1;\n");
    write(
        &project,
        "deploy/leaky.sql",
        "CREATE TABLE leaky (id int);\n",
    );
    write(&project, "revert/leaky.sql", "SELECT 1;\n");
    write(&project, "verify/leaky.sql", "SELECT 1/0;\n");
    let run = verify(&project, &local("postgres"));
    assert_eq!(run.code(), 1, "{}", run.describe());
    let checks = run.checks();
    assert_eq!(check(&checks, "roundtrip", "leaky")["status"], "fail");
    let verified = check(&checks, "verify", "leaky");
    assert_eq!(verified["status"], "fail", "{verified:#}");
    assert!(
        verified["message"]
            .as_str()
            .is_some_and(|m| m.contains("division by zero")),
        "{verified:#}"
    );
}

/// MariaDB: Sqitch's variables reach a script as user variables, quoted as Sqitch quotes them
/// (a value with a quote arrives unchanged), and a verify script can call
/// `sqitch.checkit()` on a server migcheck started.
#[test]
fn mariadb_variables_arrive_as_sqitch_sends_them() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    write(
        &project,
        "sqitch.conf",
        "[core]\n\tengine = mysql\n[deploy \"variables\"]\n\twho = O'Brien & Sons\n",
    );
    write(
        &project,
        "sqitch.plan",
        "%syntax-version=1.0.0\n%project=vars\n\nowners 2026-01-01T00:00:00Z Dev <dev@example.com> # a row from a variable\n",
    );
    write(
        &project,
        "deploy/owners.sql",
        "CREATE TABLE owners (name VARCHAR(40) NOT NULL);\nINSERT INTO owners VALUES (@who);\n",
    );
    write(&project, "revert/owners.sql", "DROP TABLE owners;\n");
    write(
        &project,
        "verify/owners.sql",
        "SELECT sqitch.checkit(COUNT(*), 'the owner row is not there') FROM owners \
         WHERE name = CONCAT('O', CHAR(39), 'Brien & Sons');\n",
    );
    let run = verify(&project, &local("mariadb"));
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(check(&run.checks(), "verify", "owners")["status"], "pass");
}
