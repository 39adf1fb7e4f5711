//! `--provider url` touches only the throwaway database it creates: a migration with a
//! server-wide statement (another database, a role or user, the server's configuration,
//! dblink, `USE`) fails before any of it runs, and a sentinel database on the same server is
//! unchanged afterwards. `--url-privileged` lets such statements through, loudly.
//!
//! One local server per engine, reached through the url provider as its admin user.

mod support;

use std::path::Path;

use migcheck::engine::Engine;
use migcheck::provision::{Conn, Server};
use support::verify;

fn chain_with(probe: &str) -> tempfile::TempDir {
    chain_with_down(probe, "SELECT 1")
}

fn chain_with_down(probe: &str, down: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("1_create.up.sql"), "CREATE TABLE t (id int);\n").unwrap();
    std::fs::write(p.join("1_create.down.sql"), "DROP TABLE t;\n").unwrap();
    std::fs::write(p.join("2_probe.up.sql"), format!("SELECT 1;\n{probe};\n")).unwrap();
    std::fs::write(p.join("2_probe.down.sql"), format!("{down};\n")).unwrap();
    std::fs::write(p.join("3_after.up.sql"), "CREATE TABLE u (id int);\n").unwrap();
    std::fs::write(p.join("3_after.down.sql"), "DROP TABLE u;\n").unwrap();
    dir
}

async fn scalar(conn: &mut Conn, sql: &'static str) -> String {
    let got: Result<Option<String>, sqlx::Error> = match conn {
        Conn::Postgres(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
        Conn::Mysql(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
    };
    got.unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_default()
}

/// What the probes could have changed: the sentinel's rows, roles/users, databases, settings.
async fn server_state(server: &dyn Server) -> Vec<String> {
    let engine = server.info().engine;
    let mut conn = Conn::connect(engine, server.admin_url()).await.unwrap();
    let queries: &[&str] = match engine {
        Engine::Postgres => &[
            "SELECT string_agg(datname || ':' || datallowconn::text, ',' ORDER BY datname) FROM pg_database",
            "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles",
            "SELECT count(*)::text FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf'",
        ],
        _ => &[
            "SELECT GROUP_CONCAT(schema_name ORDER BY schema_name) FROM information_schema.schemata",
            "SELECT GROUP_CONCAT(CONCAT(user, '@', host) ORDER BY user, host) FROM mysql.user",
            "SELECT CAST(COUNT(*) AS CHAR) FROM sentinel.keep",
        ],
    };
    let mut out = Vec::new();
    for q in queries {
        out.push(scalar(&mut conn, q).await);
    }
    conn.close().await;
    out
}

/// `migcheck verify` of `chain` through the url provider as the server's admin.
fn verify_via_url(chain: &Path, engine: Engine, url: &str, extra: &[&str]) -> support::Run {
    let mut args = vec![
        "--engine",
        engine.name(),
        "--provider",
        "url",
        "--url",
        url,
        "--format",
        "golang-migrate",
    ];
    args.extend_from_slice(extra);
    verify(chain, &args)
}

#[test]
fn url_provider_refuses_server_wide_statements_and_the_sentinel_survives() {
    let rt = support::runtime();
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let server = rt.block_on(support::local_server(engine));
        let admin = server.admin_url().expose().to_string();
        let setup: &[&str] = match engine {
            Engine::Postgres => &["CREATE DATABASE sentinel"],
            _ => &[
                "CREATE DATABASE sentinel",
                "CREATE TABLE sentinel.keep (id int)",
                "INSERT INTO sentinel.keep VALUES (1), (2)",
            ],
        };
        let probes: &[&str] = match engine {
            Engine::Postgres => &[
                "DROP DATABASE sentinel",
                "ALTER DATABASE sentinel RENAME TO gone",
                "ALTER DATABASE sentinel ALLOW_CONNECTIONS false",
                "ALTER SYSTEM SET work_mem = '64MB'",
                "CREATE ROLE probe_role",
                "CREATE DATABASE probe_db",
                "SELECT dblink_exec('dbname=sentinel', 'CREATE TABLE planted (id int)')",
            ],
            _ => &[
                "DROP DATABASE sentinel",
                "DROP SCHEMA sentinel",
                "USE sentinel",
                "CREATE USER 'probe'@'%' IDENTIFIED BY 'probe-pw'",
                "CREATE DATABASE probe_db",
            ],
        };
        rt.block_on(support::run_sql(server.as_ref(), setup));
        let before = rt.block_on(server_state(server.as_ref()));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for probe in probes {
                let chain = chain_with(probe);
                let run = verify_via_url(chain.path(), engine, &admin, &[]);
                let what = format!("{engine}: {probe}");
                assert_eq!(run.code(), 1, "{what}: {}", run.describe());
                assert_eq!(run.failing(), vec!["upgrade:2_probe".to_string()], "{what}");
                assert!(
                    run.stdout().contains("refused: "),
                    "{what}: {}",
                    run.describe()
                );
                assert!(
                    run.stdout().contains("2_probe.up.sql:2"),
                    "{what}: {}",
                    run.describe()
                );
            }
            let after = rt.block_on(server_state(server.as_ref()));
            assert_eq!(before, after, "{engine}: the server changed");

            // The owner of the server may lift the guard; migcheck says so.
            let chain = match engine {
                Engine::Postgres => {
                    chain_with_down("CREATE ROLE probe_privileged", "DROP ROLE probe_privileged")
                }
                _ => chain_with_down(
                    "CREATE USER 'probe_privileged'@'%'",
                    "DROP USER 'probe_privileged'@'%'",
                ),
            };
            let run = verify_via_url(chain.path(), engine, &admin, &["--url-privileged"]);
            assert!(run.failing().is_empty(), "{engine}: {}", run.describe());
            assert!(
                run.stdout()
                    .contains("--url-privileged: the sandbox is OFF"),
                "{}",
                run.describe()
            );
        }));
        rt.block_on(server.shutdown()).expect("shutdown");
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

/// The guard is for shared servers only: on a server migcheck started itself, the statement
/// runs (and the lint reports it as `server-wide-statement`).
#[test]
fn local_provider_runs_server_wide_statements_and_lint_names_them() {
    let chain = chain_with_down("CREATE ROLE probe_local", "DROP ROLE probe_local");
    let run = verify(
        chain.path(),
        &[
            "--engine",
            "postgres",
            "--provider",
            "local",
            "--format",
            "golang-migrate",
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    let findings = run.json.as_ref().unwrap()["findings"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "server-wide-statement"),
        "{findings:?}"
    );
}

/// A down that leaves a role behind: the up cannot run twice on one server. That is the
/// migration's failure (its round trip), not a broken environment: every result before it is
/// kept, and the rest of the chain is skipped with the reason.
#[test]
fn leftover_role_fails_its_migration_and_keeps_the_results() {
    let chain = chain_with("CREATE ROLE probe_leftover");
    let run = verify(
        chain.path(),
        &[
            "--engine",
            "postgres",
            "--provider",
            "local",
            "--format",
            "golang-migrate",
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert_eq!(
        run.failing(),
        vec!["roundtrip:2_probe".to_string()],
        "{}",
        run.describe()
    );
    let checks = run.checks();
    let status = |name: &str, m: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name && c["migration"] == m)
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("upgrade", "1_create").as_deref(), Some("pass"));
    assert_eq!(status("roundtrip", "1_create").as_deref(), Some("pass"));
    assert_eq!(status("upgrade", "2_probe").as_deref(), Some("pass"));
    assert_eq!(status("upgrade", "3_after").as_deref(), Some("skip"));
    assert!(
        run.stdout().contains("cannot run twice"),
        "{}",
        run.describe()
    );
}

/// What the keyword guard cannot see (dynamic SQL, a program run by COPY, an untrusted
/// extension, a cross-database name, a prepared statement, a global setting) the sandbox role
/// stops: the server itself refuses, the migration fails with a hint, and nothing changed.
/// What a chain normally does (trusted extensions, functions, triggers, grants) still runs.
#[test]
fn sandbox_role_stops_what_the_guard_cannot_see() {
    let rt = support::runtime();
    let marker =
        std::env::temp_dir().join(format!("migcheck-sandbox-probe-{}", std::process::id()));
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let server = rt.block_on(support::local_server(engine));
        let admin = server.admin_url().expose().to_string();
        let setup: &[&str] = match engine {
            Engine::Postgres => &["CREATE DATABASE sentinel", "CREATE ROLE victim SUPERUSER"],
            _ => &[
                "CREATE DATABASE sentinel",
                "CREATE TABLE sentinel.keep (id int)",
                "INSERT INTO sentinel.keep VALUES (1), (2)",
            ],
        };
        let copy_probe = format!("COPY (SELECT 1) TO PROGRAM 'touch {}'", marker.display());
        let probes: Vec<&str> = match engine {
            Engine::Postgres => vec![
                "DO $$ BEGIN EXECUTE 'CREATE ' || 'ROLE probe_dynamic'; END $$",
                "DO $$ BEGIN EXECUTE 'ALTER ' || 'ROLE victim NOSUPERUSER'; END $$",
                &copy_probe,
                "CREATE EXTENSION dblink",
                "SET ROLE victim",
            ],
            _ => vec![
                "DELETE FROM sentinel.keep",
                "CREATE TABLE stolen AS SELECT * FROM mysql.user",
                "PREPARE s FROM CONCAT('DROP ', 'DATABASE sentinel'); EXECUTE s",
                "SET GLOBAL max_connections = 999",
                "GRANT ALL ON *.* TO CURRENT_USER",
            ],
        };
        rt.block_on(support::run_sql(server.as_ref(), setup));
        let before = rt.block_on(server_state(server.as_ref()));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for probe in &probes {
                let chain = chain_with(probe);
                let run = verify_via_url(chain.path(), engine, &admin, &[]);
                let what = format!("{engine}: {probe}");
                assert_eq!(run.code(), 1, "{what}: {}", run.describe());
                assert_eq!(run.failing(), vec!["upgrade:2_probe".to_string()], "{what}");
                let out = run.stdout();
                assert!(
                    !out.contains("refused: "),
                    "{what}: the server must refuse it: {out}"
                );
                assert!(
                    out.contains("2_probe.up.sql:2"),
                    "{what}: {}",
                    run.describe()
                );
                assert!(
                    out.contains("sandbox role"),
                    "{what}: no hint: {}",
                    run.describe()
                );
                let sandbox = &run.json.as_ref().unwrap()["provider"]["sandbox"];
                assert!(sandbox.as_str().unwrap().starts_with("on:"), "{sandbox}");
            }
            assert!(!marker.exists(), "COPY TO PROGRAM ran");
            let after = rt.block_on(server_state(server.as_ref()));
            assert_eq!(before, after, "{engine}: the server changed");

            // What chains really do still runs inside the sandbox.
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path();
            let (up, down) = match engine {
                Engine::Postgres => (
                    "CREATE EXTENSION pgcrypto;\nCREATE EXTENSION citext;\n\
                     CREATE TABLE t (id uuid DEFAULT gen_random_uuid() PRIMARY KEY, email citext);\n\
                     CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
                     CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();\n\
                     CREATE SCHEMA app;\nGRANT SELECT ON t TO PUBLIC;\n",
                    "DROP SCHEMA app;\nDROP TABLE t;\nDROP FUNCTION touch();\n\
                     DROP EXTENSION citext;\nDROP EXTENSION pgcrypto;\n",
                ),
                _ => (
                    "CREATE TABLE t (id int PRIMARY KEY, n int);\n\
                     CREATE VIEW v AS SELECT id FROM t;\n\
                     CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.n = 0;\n\
                     CREATE INDEX t_n ON t (n);\n",
                    "DROP TRIGGER t_bi;\nDROP VIEW v;\nDROP TABLE t;\n",
                ),
            };
            std::fs::write(p.join("1_app.up.sql"), up).unwrap();
            std::fs::write(p.join("1_app.down.sql"), down).unwrap();
            let run = verify_via_url(p, engine, &admin, &[]);
            assert_eq!(run.code(), 0, "{engine}: {}", run.describe());
            let after = rt.block_on(server_state(server.as_ref()));
            assert_eq!(before, after, "{engine}: the sandbox role was left behind");
        }));
        rt.block_on(server.shutdown()).expect("shutdown");
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

/// A CI user that may create databases and roles but is no superuser (the usual shared-server
/// grant) runs the sandbox; one that may not create roles gets a broken-environment verdict
/// naming the privilege and `--url-privileged`, which then runs the chain as that user, loudly.
#[test]
fn sandbox_needs_a_user_that_may_create_roles() {
    let rt = support::runtime();
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let server = rt.block_on(support::local_server(engine));
        let setup: &[&str] = match engine {
            Engine::Postgres => &[
                "CREATE ROLE ci LOGIN PASSWORD 'ci-pw' CREATEDB CREATEROLE",
                "CREATE ROLE weak LOGIN PASSWORD 'weak-pw' CREATEDB",
            ],
            _ => &[
                "CREATE USER 'ci'@'%' IDENTIFIED BY 'ci-pw'",
                "GRANT CREATE USER ON *.* TO 'ci'@'%'",
                "GRANT ALL PRIVILEGES ON `migcheck%`.* TO 'ci'@'%' WITH GRANT OPTION",
                "CREATE USER 'weak'@'%' IDENTIFIED BY 'weak-pw'",
                "GRANT ALL PRIVILEGES ON `migcheck%`.* TO 'weak'@'%'",
            ],
        };
        rt.block_on(support::run_sql(server.as_ref(), setup));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let chain = chain_with_down("CREATE TABLE inside (id int)", "DROP TABLE inside");
            let ci = support::url_as(server.as_ref(), "ci", "ci-pw");
            let run = verify_via_url(chain.path(), engine, &ci, &[]);
            assert_eq!(run.code(), 0, "{engine} as ci: {}", run.describe());
            // The statements that create the sandbox role carry its password: no log shows
            // them, even with every target at debug (sqlx logs each statement's text there).
            let out = support::migcheck()
                .arg("verify")
                .arg(chain.path())
                .args(["--engine", engine.name(), "--provider", "url", "--url", &ci])
                .args(["--format", "golang-migrate"])
                .env("MIGCHECK_LOG", "debug")
                .output()
                .unwrap();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(0), "{engine}: {all}");
            let revealing: Vec<&str> = all
                .lines()
                .filter(|l| l.contains("PASSWORD '") || l.contains("IDENTIFIED BY '"))
                .collect();
            assert!(revealing.is_empty(), "{engine}: {revealing:?}");
            assert!(
                all.contains("created throwaway database"),
                "debug logs: {all}"
            );

            let weak = support::url_as(server.as_ref(), "weak", "weak-pw");
            let run = verify_via_url(chain.path(), engine, &weak, &[]);
            assert_eq!(run.code(), 3, "{engine} as weak: {}", run.describe());
            assert!(
                run.stderr().contains("--url-privileged"),
                "{}",
                run.describe()
            );
            assert!(!run.stderr().contains("weak-pw"), "{}", run.describe());

            let run = verify_via_url(chain.path(), engine, &weak, &["--url-privileged"]);
            assert_eq!(run.code(), 0, "{engine} privileged: {}", run.describe());
            assert!(
                run.stdout().contains("sandbox is OFF"),
                "{}",
                run.describe()
            );
            let json = run.json.as_ref().unwrap();
            assert_eq!(json["options"]["url_privileged"], true);
            assert!(json["provider"]["sandbox"]
                .as_str()
                .unwrap()
                .starts_with("OFF"));
        }));
        rt.block_on(server.shutdown()).expect("shutdown");
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}
