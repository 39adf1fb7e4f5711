//! `migcheck status` and `wait` against real target databases on a local PostgreSQL and
//! MariaDB: each target is built by applying a chain with migcheck (sqlx's own migrator for
//! sqlx, Alembic itself for Alembic) and recording the version rows as each tool records them,
//! then broken the way production breaks.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use migcheck::apply::{apply, PreparedScript};
use migcheck::chain::{Format, Migration};
use migcheck::engine::{Dialect, Engine};
use migcheck::provision::{Conn, Server};
use migcheck::redact::SecretUrl;

const PASSWORD_MARK: &str = "s3cr3t-Status";

/// The three migrations every SQL chain holds, portable across PostgreSQL and MariaDB.
const UPS: [(&str, &str, &str); 3] = [
    (
        "create_users",
        "CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(50));",
        "DROP TABLE users;",
    ),
    (
        "add_email",
        "ALTER TABLE users ADD COLUMN email VARCHAR(100);",
        "ALTER TABLE users DROP COLUMN email;",
    ),
    (
        "index_email",
        "CREATE INDEX users_email ON users (email);",
        "DROP INDEX users_email ON users;",
    ),
];

/// Write a three-migration chain in `format`'s layout under `dir`.
fn write_chain(dir: &Path, format: Format) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, (name, up, down)) in UPS.iter().enumerate() {
        let n = i + 1;
        let write = |file: String, text: String| {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        match format {
            Format::GolangMigrate => {
                write(format!("{n:06}_{name}.up.sql"), format!("{up}\n"));
                write(format!("{n:06}_{name}.down.sql"), format!("{down}\n"));
            }
            Format::Sqlx => {
                write(format!("2024010100000{n}_{name}.up.sql"), format!("{up}\n"));
                write(
                    format!("2024010100000{n}_{name}.down.sql"),
                    format!("{down}\n"),
                );
            }
            Format::Popx => {
                write(
                    format!("2024010100000{n}000000_{name}.up.sql"),
                    format!("{up}\n"),
                );
                write(
                    format!("2024010100000{n}000000_{name}.down.sql"),
                    format!("{down}\n"),
                );
            }
            Format::Flyway => write(format!("V{n}__{name}.sql"), format!("{up}\n")),
            Format::Dbmate => write(
                format!("2024010100000{n}_{name}.sql"),
                format!("-- migrate:up\n{up}\n\n-- migrate:down\n{down}\n"),
            ),
            Format::Goose => write(
                format!("{n:05}_{name}.sql"),
                format!("-- +goose Up\n{up}\n\n-- +goose Down\n{down}\n"),
            ),
            Format::Diesel => {
                write(
                    format!("2024-01-01-00000{n}_{name}/up.sql"),
                    format!("{up}\n"),
                );
                write(
                    format!("2024-01-01-00000{n}_{name}/down.sql"),
                    format!("{down}\n"),
                );
            }
            _ => unreachable!(),
        }
    }
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The row `format`'s tool records after applying `m` (the `rank`-th migration, from 1).
fn record_sql(format: Format, m: &Migration, rank: usize, ok: bool) -> Vec<String> {
    let v = &m.version.text;
    let t = if ok { "TRUE" } else { "FALSE" };
    match format {
        Format::GolangMigrate => vec![
            "DELETE FROM schema_migrations".to_string(),
            format!(
                "INSERT INTO schema_migrations (version, dirty) VALUES ({v}, {})",
                if ok { "FALSE" } else { "TRUE" }
            ),
        ],
        Format::Flyway => {
            let bytes = std::fs::read(&m.up.file).unwrap();
            let checksum = migcheck::status::checksum::flyway(&bytes);
            let script =
                m.up.file
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
            vec![format!(
                "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, \
                 checksum, installed_by, execution_time, success) VALUES ({rank}, {}, {}, 'SQL', {}, \
                 {checksum}, 'deploy', 12, {t})",
                sql_str(v),
                sql_str(&m.name.replace('_', " ")),
                sql_str(&script)
            )]
        }
        Format::Goose => vec![format!(
            "INSERT INTO goose_db_version (version_id, is_applied) VALUES ({}, {t})",
            v.parse::<i64>().unwrap()
        )],
        Format::Dbmate => vec![format!(
            "INSERT INTO schema_migrations (version) VALUES ({})",
            sql_str(v)
        )],
        Format::Diesel => vec![format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ({})",
            sql_str(&v.replace('-', ""))
        )],
        Format::Popx => vec![format!(
            "INSERT INTO schema_migration (version) VALUES ({})",
            sql_str(v)
        )],
        _ => unreachable!(),
    }
}

/// A fresh database `name` on `server`; its URL.
async fn create_database(server: &dyn Server, name: &str) -> String {
    support::run_sql(server, &[&format!("CREATE DATABASE {name}")]).await;
    let mut u = url::Url::parse(server.admin_url().expose()).unwrap();
    u.set_path(&format!("/{name}"));
    u.to_string()
}

async fn connect(engine: Engine, url: &str) -> Conn {
    Conn::connect(engine, &SecretUrl::new(url)).await.unwrap()
}

async fn exec(engine: Engine, url: &str, statements: &[String]) {
    let mut conn = connect(engine, url).await;
    for sql in statements {
        conn.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn.close().await;
}

/// Apply the first `upto` migrations of the chain at `dir` with migcheck's apply stage and
/// record each as its tool does (the version table first, as the tool creates it).
async fn build_target(engine: Engine, url: &str, dir: &Path, format: Format, upto: usize) {
    let (chain, _) = migcheck::status::load_chain(dir, Some(format), engine).unwrap();
    let dialect = engine.dialect();
    let mut conn = connect(engine, url).await;
    for sql in migcheck::bookkeeping::statements(format, dialect) {
        conn.execute(sql).await.unwrap();
    }
    for (i, m) in chain.migrations.iter().take(upto).enumerate() {
        let script = PreparedScript {
            file: m.up.file.clone(),
            statements: migcheck::sql::split(&m.up, dialect).unwrap(),
            no_transaction: m.up.no_transaction,
        };
        apply(&mut conn, &script)
            .await
            .unwrap_or_else(|e| panic!("{}: {}", m.id, e.message));
        for sql in record_sql(format, m, i + 1, true) {
            conn.execute(&sql).await.unwrap();
        }
    }
    conn.close().await;
}

/// Apply the first `upto` migrations (by version) with sqlx's own migrator, which records
/// them in `_sqlx_migrations` with its own checksums.
async fn build_with_sqlx(engine: Engine, url: &str, dir: &Path, upto: i64) {
    let migrator = sqlx_core::migrate::Migrator::new(dir).await.unwrap();
    match connect(engine, url).await {
        Conn::Postgres(mut c) => migrator.run_to(upto, &mut c).await.unwrap(),
        Conn::Mysql(mut c) => migrator.run_to(upto, &mut c).await.unwrap(),
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    json: serde_json::Value,
}

impl Out {
    /// A finished command's exit code and output, and the JSON report it wrote at `json`
    /// (`Null` when it wrote none).
    fn read(output: std::process::Output, json: &Path) -> Out {
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            json: std::fs::read_to_string(json)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(serde_json::Value::Null),
        }
    }

    fn describe(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    fn states(&self) -> Vec<(String, String)> {
        self.json["migrations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        (
                            m["version"].as_str().unwrap().to_string(),
                            m["state"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn problem_kinds(&self) -> Vec<String> {
        self.json["problems"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| p["kind"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `migcheck status DIR --url URL --json ...` plus `extra`.
fn status(dir: &Path, url: &str, extra: &[&str]) -> Out {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("status.json");
    let output = support::migcheck()
        .arg("status")
        .arg(dir)
        .args(["--url", url])
        .arg("--json")
        .arg(&json)
        .args(extra)
        .output()
        .unwrap();
    let out = Out::read(output, &json);
    assert!(
        !out.stdout.contains(PASSWORD_MARK) && !out.stderr.contains(PASSWORD_MARK),
        "the password was printed:\n{}",
        out.describe()
    );
    assert!(
        !json.exists()
            || !std::fs::read_to_string(&json)
                .unwrap()
                .contains(PASSWORD_MARK)
    );
    out
}

/// A URL for `db` as a user with a password (the status tests never print it).
async fn user_url(server: &dyn Server, db_url: &str) -> String {
    let engine = server.info().engine;
    let user = "status_reader";
    let stmts: Vec<String> = match engine.dialect() {
        Dialect::Postgres => vec![format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN \
             CREATE ROLE {user} LOGIN SUPERUSER PASSWORD '{PASSWORD_MARK}'; END IF; END $$"
        )],
        Dialect::Mysql => vec![
            format!("CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{PASSWORD_MARK}'"),
            format!("GRANT ALL ON *.* TO '{user}'@'%'"),
            format!(
                "CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{PASSWORD_MARK}'"
            ),
            format!("GRANT ALL ON *.* TO '{user}'@'localhost'"),
        ],
    };
    let refs: Vec<&str> = stmts.iter().map(String::as_str).collect();
    support::run_sql(server, &refs).await;
    let mut u = url::Url::parse(db_url).unwrap();
    u.set_username(user).unwrap();
    u.set_password(Some(PASSWORD_MARK)).unwrap();
    u.to_string()
}

/// What must stay byte-for-byte the same: the schema snapshot and every version-table row.
async fn fingerprint(engine: Engine, url: &str, table: &str) -> (String, Vec<String>) {
    let mut conn = connect(engine, url).await;
    let snapshot = migcheck::snapshot::take(&mut conn).await.unwrap();
    let rows: Vec<String> = match &mut conn {
        Conn::Postgres(c) => sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(t AS TEXT) FROM {table} t ORDER BY 1"
        )))
        .fetch_all(&mut *c)
        .await
        .unwrap(),
        Conn::Mysql(c) => sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "SELECT CONCAT_WS('|', version, dirty) FROM {table} ORDER BY 1"
        )))
        .fetch_all(&mut *c)
        .await
        .unwrap(),
    };
    conn.close().await;
    (serde_json::to_string(&snapshot).unwrap(), rows)
}

fn states(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn scenarios(rt: &tokio::runtime::Runtime, server: &dyn Server, tag: &str) {
    let engine = server.info().engine;
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut db = |rt: &tokio::runtime::Runtime| {
        n += 1;
        rt.block_on(create_database(server, &format!("st_{tag}_{n}")))
    };

    // golang-migrate: up to date, then one behind, dirty, and a version from another branch.
    let gm = tmp.path().join("gm");
    write_chain(&gm, Format::GolangMigrate);
    let url = db(rt);
    rt.block_on(build_target(engine, &url, &gm, Format::GolangMigrate, 3));
    let secret_url = rt.block_on(user_url(server, &url));
    let before = rt.block_on(fingerprint(engine, &url, "schema_migrations"));
    let started = Instant::now();
    let out = status(&gm, &secret_url, &[]);
    eprintln!(
        "status on 3 golang-migrate migrations: {:?}",
        started.elapsed()
    );
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(out.json["status_version"], 1);
    assert_eq!(out.json["verdict"], "up-to-date");
    assert!(
        out.stdout.contains("up to date: 3 applied, 0 pending"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("***"), "{}", out.describe());
    if engine == Engine::Mariadb {
        // A mariadb:// URL works as the drivers' mysql:// one; the server says what it is.
        let out = status(&gm, &secret_url.replacen("mysql://", "mariadb://", 1), &[]);
        assert_eq!(out.code, 0, "{}", out.describe());
        assert_eq!(out.json["engine"], "mariadb");
        assert!(out.json["target"].as_str().unwrap().starts_with("mysql://"));
    }
    // Nothing changed: the schema and the version rows are byte-for-byte the same.
    assert_eq!(
        rt.block_on(fingerprint(engine, &url, "schema_migrations")),
        before
    );

    let url = db(rt);
    rt.block_on(build_target(engine, &url, &gm, Format::GolangMigrate, 2));
    let out = status(&gm, &url, &[]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert_eq!(
        out.states(),
        states(&[
            ("000001", "applied"),
            ("000002", "applied"),
            ("000003", "pending")
        ])
    );
    assert_eq!(
        out.json["pending"],
        serde_json::json!(["000003_index_email"])
    );
    assert!(out
        .stdout
        .contains("pending, in the order they will run: 000003_index_email"));

    // The third migration failed partway: golang-migrate left version 3 dirty.
    rt.block_on(exec(
        engine,
        &url,
        &record_sql(
            Format::GolangMigrate,
            &chain_of(&gm, Format::GolangMigrate, engine)[2],
            3,
            false,
        ),
    ));
    let before = rt.block_on(fingerprint(engine, &url, "schema_migrations"));
    let out = status(&gm, &url, &[]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(out.problem_kinds(), ["dirty"]);
    eprintln!("{}", out.stdout);
    assert!(out.stdout.contains("DIRTY"), "{}", out.describe());
    let junit = tmp.path().join("status.xml");
    let _ = status(&gm, &url, &["--junit", junit.to_str().unwrap()]);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("migcheck.status.dirty"), "{xml}");
    assert!(xml.contains("migrate force 2"), "{xml}");
    support::validate_junit(&junit).unwrap();
    assert!(out.stdout.contains("migrate force 3"), "{}", out.describe());
    assert!(out.stdout.contains("migrate force 2"), "{}", out.describe());
    assert_eq!(
        rt.block_on(fingerprint(engine, &url, "schema_migrations")),
        before
    );

    // Deployed from another branch: version 7 is not in this chain.
    rt.block_on(exec(
        engine,
        &url,
        &["UPDATE schema_migrations SET version = 7, dirty = FALSE".to_string()],
    ));
    let out = status(&gm, &url, &[]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(out.problem_kinds(), ["unknown"]);
    assert_eq!(out.json["unknown"][0]["version"], "7");
    assert!(out.stdout.contains("UNKNOWN"), "{}", out.describe());

    // No version table at all: nothing applied, every migration pending, and it says so.
    let url = db(rt);
    let out = status(&gm, &url, &[]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert_eq!(out.json["table_exists"], false);
    assert!(
        out.stdout.contains("no schema_migrations table"),
        "{}",
        out.describe()
    );
    assert_eq!(out.json["pending"].as_array().unwrap().len(), 3);

    // The URL from an environment variable and from a mounted secret file.
    let secret_file = tmp.path().join("db-url");
    std::fs::write(&secret_file, format!("{secret_url}\n")).unwrap();
    for args in [
        vec!["--url-env".to_string(), "STATUS_TEST_URL".to_string()],
        vec!["--url-file".to_string(), secret_file.display().to_string()],
    ] {
        let output = support::migcheck()
            .arg("status")
            .arg(&gm)
            .args(&args)
            .env("STATUS_TEST_URL", &secret_url)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stdout}");
        assert!(!stdout.contains(PASSWORD_MARK));
    }
    let output = support::migcheck()
        .arg("status")
        .arg(&gm)
        .args(["--url-env", "STATUS_TEST_UNSET"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));

    // A wrong password: exit 3, and the password is in no output; a bad scheme: exit 2; a
    // host that does not answer: exit 3 within --connect-timeout.
    let wrong = secret_url.replace(PASSWORD_MARK, &format!("{PASSWORD_MARK}-wrong"));
    let out = status(&gm, &wrong, &[]);
    assert_eq!(out.code, 3, "{}", out.describe());
    assert!(out.stderr.contains("***"), "{}", out.describe());
    let out = status(&gm, "redis://u:pw@127.0.0.1/x", &[]);
    assert_eq!(out.code, 2, "{}", out.describe());
    let started = Instant::now();
    let out = status(
        &gm,
        &format!("postgres://u:{PASSWORD_MARK}@10.255.255.1:5432/x"),
        &["--connect-timeout", "1"],
    );
    assert_eq!(out.code, 3, "{}", out.describe());
    assert!(started.elapsed() < Duration::from_secs(10));

    // sqlx, applied by sqlx's own migrator: migcheck's checksums are sqlx's.
    let sq = tmp.path().join("sqlx");
    write_chain(&sq, Format::Sqlx);
    let url = db(rt);
    rt.block_on(build_with_sqlx(engine, &url, &sq, 20240101000002));
    let out = status(&sq, &url, &["--format", "sqlx"]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert_eq!(
        out.json["pending"],
        serde_json::json!(["20240101000003_index_email"])
    );
    rt.block_on(build_with_sqlx(engine, &url, &sq, 20240101000003));
    let out = status(&sq, &url, &["--format", "sqlx"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    // Someone edits an applied migration: the checksum no longer matches.
    let edited = sq.join("20240101000002_add_email.up.sql");
    std::fs::write(
        &edited,
        "ALTER TABLE users ADD COLUMN email VARCHAR(200);\n",
    )
    .unwrap();
    let out = status(&sq, &url, &["--format", "sqlx"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(out.problem_kinds(), ["edited"]);
    assert_eq!(
        out.states()[1],
        ("20240101000002".to_string(), "edited".to_string())
    );
    // sqlx agrees: its own migrator refuses the edited chain.
    let migrator = rt
        .block_on(sqlx_core::migrate::Migrator::new(sq.as_path()))
        .unwrap();
    let refused = rt.block_on(async {
        match connect(engine, &url).await {
            Conn::Postgres(mut c) => migrator.run(&mut c).await.err(),
            Conn::Mysql(mut c) => migrator.run(&mut c).await.err(),
        }
    });
    assert!(
        matches!(
            refused,
            Some(sqlx_core::migrate::MigrateError::VersionMismatch(
                20240101000002
            ))
        ),
        "{refused:?}"
    );
    std::fs::write(&edited, format!("{}\n", UPS[1].1)).unwrap();
    // A failed sqlx migration (success = false).
    rt.block_on(exec(
        engine,
        &url,
        &[
            "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 20240101000003"
                .to_string(),
        ],
    ));
    let out = status(&sq, &url, &["--format", "sqlx"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(out.problem_kinds(), ["failed"]);
    assert!(
        out.stdout
            .contains("DELETE FROM _sqlx_migrations WHERE version = 20240101000003"),
        "{}",
        out.describe()
    );

    // sqlx.toml ignoring carriage returns: files written with CRLF, applied by sqlx with that
    // setting, then converted to LF: sqlx and migcheck both see the same checksums.
    let project = tmp.path().join("sqlx_crlf");
    let crlf = project.join("migrations");
    write_chain(&crlf, Format::Sqlx);
    for entry in std::fs::read_dir(&crlf).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        std::fs::write(entry.path(), text.replace('\n', "\r\n")).unwrap();
    }
    std::fs::write(
        project.join("sqlx.toml"),
        "[migrate]\nignored-chars = [\"\\r\"]\n",
    )
    .unwrap();
    let url = db(rt);
    rt.block_on(async {
        let mut config = sqlx_core::migrate::ResolveConfig::new();
        config.ignore_char('\r');
        let migrator = sqlx_core::migrate::Migrator::new(sqlx_core::migrate::ResolveWith(
            crlf.clone(),
            config,
        ))
        .await
        .unwrap();
        match connect(engine, &url).await {
            Conn::Postgres(mut c) => migrator.run(&mut c).await.unwrap(),
            Conn::Mysql(mut c) => migrator.run(&mut c).await.unwrap(),
        }
    });
    let out = status(&crlf, &url, &["--format", "sqlx"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    for entry in std::fs::read_dir(&crlf).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        std::fs::write(entry.path(), text.replace('\r', "")).unwrap();
    }
    let out = status(&crlf, &url, &["--format", "sqlx"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    // Without the setting, the CRLF files are edited ones.
    std::fs::remove_file(project.join("sqlx.toml")).unwrap();
    for entry in std::fs::read_dir(&crlf).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        std::fs::write(entry.path(), text.replace('\n', "\r\n")).unwrap();
    }
    let out = status(&crlf, &url, &["--format", "sqlx"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(out.problem_kinds(), ["edited", "edited", "edited"]);

    // Flyway: up to date, then a failed row, then an edited script.
    let fw = tmp.path().join("flyway");
    write_chain(&fw, Format::Flyway);
    let url = db(rt);
    rt.block_on(build_target(engine, &url, &fw, Format::Flyway, 3));
    let out = status(&fw, &url, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    // A repeatable script: pending until run, applied while its checksum matches the last
    // successful run, pending again once changed.
    let view = "CREATE OR REPLACE VIEW user_names AS SELECT name FROM users;\n";
    std::fs::write(fw.join("R__user_names.sql"), view).unwrap();
    let out = status(&fw, &url, &[]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert_eq!(
        out.json["pending"],
        serde_json::json!(["R__user_names"]),
        "{}",
        out.describe()
    );
    let checksum = migcheck::status::checksum::flyway(view.as_bytes());
    rt.block_on(exec(engine, &url, &[
        view.to_string(),
        format!(
            "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, \
             checksum, installed_by, execution_time, success) VALUES (4, NULL, 'user names', 'SQL', \
             'R__user_names.sql', {checksum}, 'deploy', 3, TRUE)"
        ),
    ]));
    let out = status(&fw, &url, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    std::fs::write(
        fw.join("R__user_names.sql"),
        "CREATE OR REPLACE VIEW user_names AS SELECT id, name FROM users;\n",
    )
    .unwrap();
    let out = status(&fw, &url, &[]);
    assert_eq!(out.code, 4, "{}", out.describe());
    std::fs::remove_file(fw.join("R__user_names.sql")).unwrap();
    rt.block_on(exec(
        engine,
        &url,
        &["UPDATE flyway_schema_history SET success = FALSE WHERE version = '3'".to_string()],
    ));
    let out = status(&fw, &url, &[]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(out.problem_kinds(), ["failed"]);
    assert!(out.stdout.contains("flyway repair"), "{}", out.describe());
    std::fs::write(
        fw.join("V2__add_email.sql"),
        "ALTER TABLE users ADD COLUMN email VARCHAR(200);\r\n",
    )
    .unwrap();
    let out = status(&fw, &url, &[]);
    assert_eq!(out.problem_kinds(), ["edited", "failed"]);
    // Line endings alone do not change Flyway's checksum.
    std::fs::write(fw.join("V2__add_email.sql"), format!("{}\r\n", UPS[1].1)).unwrap();
    let out = status(&fw, &url, &[]);
    assert_eq!(out.problem_kinds(), ["failed"], "{}", out.describe());

    // The other tools: two of three applied, then a version from another branch.
    for format in [Format::Dbmate, Format::Goose, Format::Diesel, Format::Popx] {
        let dir = tmp.path().join(format.name());
        write_chain(&dir, format);
        let url = db(rt);
        rt.block_on(build_target(engine, &url, &dir, format, 2));
        let fmt = ["--format", format.name()];
        let out = status(&dir, &url, &fmt);
        assert_eq!(out.code, 4, "{format}: {}", out.describe());
        let chain = chain_of(&dir, format, engine);
        assert_eq!(
            out.json["pending"],
            serde_json::json!([chain[2].id]),
            "{format}"
        );
        let table = migcheck::status::bookkeeping::default_table(format);
        let foreign = match format {
            Format::Goose => {
                format!("INSERT INTO {table} (version_id, is_applied) VALUES (99, TRUE)")
            }
            _ => format!("INSERT INTO {table} (version) VALUES ('20991231000000')"),
        };
        rt.block_on(exec(engine, &url, &[foreign]));
        let out = status(&dir, &url, &fmt);
        assert_eq!(out.code, 1, "{format}: {}", out.describe());
        assert_eq!(out.problem_kinds(), ["unknown"], "{format}");
        if format == Format::Goose {
            // goose rolled version 2 back: its latest row says not applied, so it is pending.
            rt.block_on(exec(
                engine,
                &url,
                &[
                    format!("DELETE FROM {table} WHERE version_id = 99"),
                    format!("INSERT INTO {table} (version_id, is_applied) VALUES (2, FALSE)"),
                ],
            ));
            let out = status(&dir, &url, &fmt);
            assert_eq!(out.code, 4, "{}", out.describe());
            assert_eq!(
                out.json["pending"],
                serde_json::json!([chain[1].id, chain[2].id])
            );
        }
    }

    // The session is read-only: the server itself refuses a write in it.
    let url = db(rt);
    rt.block_on(build_target(engine, &url, &gm, Format::GolangMigrate, 3));
    rt.block_on(async {
        let mut session =
            migcheck::status::session::ReadOnlySession::open(engine, &SecretUrl::new(&url))
                .await
                .unwrap();
        let rows = session
            .query("SELECT CAST(COUNT(*) AS CHAR(1)) FROM schema_migrations")
            .await
            .unwrap();
        assert_eq!(rows, vec![vec![Some("1".to_string())]]);
        let err = session
            .execute("INSERT INTO schema_migrations (version, dirty) VALUES (4, FALSE)")
            .await
            .unwrap_err();
        assert!(
            err.contains("read-only") || err.contains("READ ONLY"),
            "{err}"
        );
        session.close().await;
    });
    assert_eq!(
        rt.block_on(fingerprint(engine, &url, "schema_migrations"))
            .1
            .len(),
        1
    );
}

/// `migcheck plan`: the pending SQL, lint findings judged by live table sizes, and drift
/// (a column added by hand); the target is left byte-for-byte as it was.
fn plan_scenarios(rt: &tokio::runtime::Runtime, server: &dyn Server, tag: &str) {
    let engine = server.info().engine;
    let tmp = tempfile::tempdir().unwrap();
    let gm = tmp.path().join("gm");
    write_chain(&gm, Format::GolangMigrate);
    let plan = |url: &str, extra: &[&str]| {
        let json = tmp.path().join("plan.json");
        let md = tmp.path().join("plan.md");
        let _ = std::fs::remove_file(&json);
        let output = support::migcheck()
            .arg("plan")
            .arg(&gm)
            .args(["--url", url])
            .arg("--json")
            .arg(&json)
            .arg("--markdown")
            .arg(&md)
            .args(extra)
            .output()
            .unwrap();
        let out = Out::read(output, &json);
        let markdown = std::fs::read_to_string(&md).unwrap_or_default();
        (out, markdown)
    };

    // Two of three applied, nothing changed by hand, the table empty.
    let url = rt.block_on(create_database(server, &format!("plan_{tag}_1")));
    rt.block_on(build_target(engine, &url, &gm, Format::GolangMigrate, 2));
    let (out, markdown) = plan(&url, &[]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert_eq!(out.json["plan_version"], 1);
    assert_eq!(out.json["pending"][0]["id"], "000003_index_email");
    assert!(out.json["pending"][0]["sql"]
        .as_str()
        .unwrap()
        .contains("CREATE INDEX users_email"));
    assert_eq!(out.json["drift"]["checked"], true, "{}", out.describe());
    assert_eq!(out.json["drift"]["changes"], serde_json::json!([]));
    assert!(out.stdout.contains("drift: none"), "{}", out.describe());
    assert!(
        markdown.contains("```sql\nCREATE INDEX users_email"),
        "{markdown}"
    );
    if engine == Engine::Postgres {
        let f = &out.json["findings"][0];
        assert_eq!(
            f["rule"],
            "create-index-non-concurrently",
            "{}",
            out.describe()
        );
        assert_eq!(f["severity"], "info", "{}", out.describe());
    }

    // Production grew and someone added a column by hand.
    let mut fill =
        vec!["INSERT INTO users (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')".to_string()];
    fill.push(match engine.dialect() {
        Dialect::Postgres => "ANALYZE users".to_string(),
        Dialect::Mysql => "ANALYZE TABLE users".to_string(),
    });
    fill.push("ALTER TABLE users ADD COLUMN nickname VARCHAR(20)".to_string());
    rt.block_on(exec(engine, &url, &fill));
    let before = rt.block_on(fingerprint(engine, &url, "schema_migrations"));
    let (out, markdown) = plan(&url, &["--large-table-rows", "3"]);
    assert_eq!(
        rt.block_on(fingerprint(engine, &url, "schema_migrations")),
        before
    );
    assert_eq!(out.code, 1, "{}", out.describe());
    let changes = out.json["drift"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{}", out.describe());
    assert!(
        changes[0]["object"]
            .as_str()
            .unwrap()
            .ends_with("column nickname"),
        "{}",
        out.describe()
    );
    assert_eq!(changes[0]["change"], "added");
    // The live size estimates the findings are judged by.
    let users = out.json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            let name = t["table"].as_str().unwrap();
            name == "users" || name == "public.users"
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(users["rows"], 3, "{}", out.describe());
    assert!(
        out.stdout.contains("only on the target"),
        "{}",
        out.describe()
    );
    assert!(markdown.contains("nickname"), "{markdown}");
    if engine == Engine::Postgres {
        let f = &out.json["findings"][0];
        assert_eq!(f["severity"], "error", "{}", out.describe());
        assert!(
            f["message"].as_str().unwrap().contains("about 3 rows"),
            "{}",
            out.describe()
        );
    }
    let (out, _) = plan(&url, &["--no-drift"]);
    assert_eq!(out.json["drift"]["checked"], false);

    // JUnit and release evidence, re-checked by `migcheck evidence check`.
    let junit = tmp.path().join("plan.xml");
    let evidence = tmp.path().join("evidence");
    let (out, _) = plan(
        &url,
        &[
            "--junit",
            junit.to_str().unwrap(),
            "--evidence",
            evidence.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.describe());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("migcheck.plan.drift"), "{xml}");
    assert!(xml.contains("<skipped"), "{xml}");
    support::validate_junit(&junit).unwrap();
    for name in [
        "report.json",
        "junit.xml",
        "summary.md",
        "schema.json",
        "manifest.json",
    ] {
        assert!(evidence.join(name).is_file(), "{name}");
    }
    assert!(out.stdout.contains("manifest sha256"), "{}", out.describe());
    let check = support::migcheck()
        .args(["evidence", "check"])
        .arg(&evidence)
        .arg("--chain")
        .arg(&gm)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

fn chain_of(dir: &Path, format: Format, engine: Engine) -> Vec<Migration> {
    migcheck::status::load_chain(dir, Some(format), engine)
        .unwrap()
        .0
        .migrations
}

/// Run the project's Alembic (the test venv) against `url` with `args`; it must succeed.
fn run_alembic(project: &Path, engine: Engine, url: &str, args: &[&str]) {
    let sa_url = match engine.dialect() {
        Dialect::Postgres => url.replacen("postgres://", "postgresql+psycopg://", 1),
        // PyMySQL takes no `ssl-mode` (the local server's URL has one): the query goes.
        Dialect::Mysql => {
            url.split('?')
                .next()
                .unwrap()
                .replacen("mysql://", "mysql+pymysql://", 1)
        }
    };
    let out = std::process::Command::new(support::test_python())
        .args(["-m", "alembic", "-c"])
        .arg(project.join("alembic.ini"))
        .args(args)
        .env("DATABASE_URL", &sa_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "alembic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Alembic itself applies the project: all heads, then one branch one revision behind.
fn alembic_scenarios(rt: &tokio::runtime::Runtime, server: &dyn Server, tag: &str) {
    let engine = server.info().engine;
    let project = support::fixture("alembic/two_heads");
    let url = rt.block_on(create_database(server, &format!("st_{tag}_alembic")));
    let alembic = |args: &[&str]| run_alembic(&project, engine, &url, args);
    alembic(&["upgrade", "heads"]);
    let out = status(&project, &url, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(
        out.json["alembic"]["current"],
        serde_json::json!(["3c000000000b", "3c000000000c"])
    );
    // One branch one revision behind.
    alembic(&["downgrade", "3c000000000c@-1"]);
    let out = status(&project, &url, &[]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert_eq!(out.json["pending"], serde_json::json!(["3c000000000c"]));
    let heads = out.json["alembic"]["heads"].as_array().unwrap();
    let behind: Vec<&serde_json::Value> = heads.iter().filter(|h| h["applied"] == false).collect();
    assert_eq!(behind.len(), 1, "{}", out.describe());
    assert_eq!(behind[0]["head"], "3c000000000c");
    assert!(
        out.stdout.contains("head 3c000000000c: 1 pending"),
        "{}",
        out.describe()
    );
    // A revision from another branch of the code.
    rt.block_on(exec(
        engine,
        &url,
        &["INSERT INTO alembic_version (version_num) VALUES ('ffffffffffff')".to_string()],
    ));
    let out = status(&project, &url, &[]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(out.problem_kinds(), ["unknown"]);
}

/// A chain of 200 migrations, all applied: status answers quickly (the time is printed).
fn large_chain(rt: &tokio::runtime::Runtime, server: &dyn Server) {
    let engine = server.info().engine;
    let tmp = tempfile::tempdir().unwrap();
    for i in 1..=200 {
        std::fs::write(
            tmp.path().join(format!("{i:06}_t{i}.up.sql")),
            format!("CREATE TABLE t{i} (id INT PRIMARY KEY);\n"),
        )
        .unwrap();
        std::fs::write(
            tmp.path().join(format!("{i:06}_t{i}.down.sql")),
            format!("DROP TABLE t{i};\n"),
        )
        .unwrap();
    }
    let url = rt.block_on(create_database(server, "st_large"));
    rt.block_on(build_target(
        engine,
        &url,
        tmp.path(),
        Format::GolangMigrate,
        200,
    ));
    let started = Instant::now();
    let out = status(tmp.path(), &url, &[]);
    let status_time = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(out.json["migrations"].as_array().unwrap().len(), 200);
    let started = Instant::now();
    let output = support::migcheck()
        .arg("plan")
        .arg(tmp.path())
        .args(["--url", &url])
        .output()
        .unwrap();
    let plan_time = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("drift: none"), "{stdout}");
    eprintln!("200 migrations: status {status_time:?}, plan with drift {plan_time:?}");
}

#[test]
fn status_on_postgres() {
    let rt = support::runtime();
    let server = rt.block_on(support::local_server(Engine::Postgres));
    large_chain(&rt, server.as_ref());
    scenarios(&rt, server.as_ref(), "pg");
    plan_scenarios(&rt, server.as_ref(), "pg");
    wait_scenarios(&rt, server.as_ref(), "pg");
    alembic_scenarios(&rt, server.as_ref(), "pg");
    alembic_plan_scenarios(&rt, server.as_ref(), "pg");
    // Last: it turns TLS on for the server and requires it of one role.
    let certs = tempfile::tempdir().unwrap();
    let tls = Tls::generate(certs.path());
    let url = rt.block_on(postgres_tls_url(server.as_ref(), &tls));
    tls_scenarios(&rt, server.as_ref(), &url, &tls, "pg");
}

#[test]
fn status_on_mariadb() {
    let rt = support::runtime();
    let server = rt.block_on(support::local_server(Engine::Mariadb));
    scenarios(&rt, server.as_ref(), "my");
    plan_scenarios(&rt, server.as_ref(), "my");
    wait_scenarios(&rt, server.as_ref(), "my");
    alembic_scenarios(&rt, server.as_ref(), "my");
    alembic_plan_scenarios(&rt, server.as_ref(), "my");
}

/// MariaDB reads its TLS files at start only, so the server comes from the docker provider,
/// on the test image with a TLS configuration added (built here, from the local image).
#[test]
fn status_plan_wait_over_tls_on_mariadb() {
    if !support::docker_ready("status_plan_wait_over_tls_on_mariadb") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let tls = Tls::generate(certs.path());
    let image = "migcheck-test/mariadb-tls:10.11";
    std::fs::write(
        certs.path().join("tls.cnf"),
        "[mariadbd]\nssl-ca=/etc/mysql/tls/ca.crt\nssl-cert=/etc/mysql/tls/server.crt\n\
         ssl-key=/etc/mysql/tls/server.key\n",
    )
    .unwrap();
    std::fs::write(
        certs.path().join("Dockerfile"),
        format!(
            "FROM {}\nCOPY ca.crt server.crt server.key /etc/mysql/tls/\n\
             COPY tls.cnf /etc/mysql/mariadb.conf.d/90-tls.cnf\n",
            support::image(Engine::Mariadb)
        ),
    )
    .unwrap();
    // The server runs as mysql: it must read its key.
    std::fs::set_permissions(
        certs.path().join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let built = std::process::Command::new("docker")
        .args(["build", "-q", "-t", image])
        .arg(certs.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let rt = support::runtime();
    let options = migcheck::provision::ProvisionOptions {
        engine: Engine::Mariadb,
        provider: migcheck::provision::ProviderKind::Docker,
        url: None,
        bin_dir: None,
        startup_timeout: Duration::from_secs(120),
        engine_version: None,
        image: Some(image.to_string()),
        keep: false,
    };
    let server = rt
        .block_on(migcheck::provision::provision(&options))
        .expect("the TLS MariaDB container starts");
    let db = rt.block_on(create_database(server.as_ref(), "tls_my"));
    let user = "tls_reader";
    let stmts: Vec<String> = vec![
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD_MARK}' REQUIRE SSL"),
        format!("GRANT SELECT ON tls_my.* TO '{user}'@'%'"),
    ];
    let refs: Vec<&str> = stmts.iter().map(String::as_str).collect();
    rt.block_on(support::run_sql(server.as_ref(), &refs));
    let mut u = url::Url::parse(&db).unwrap();
    u.set_username(user).unwrap();
    u.set_password(Some(PASSWORD_MARK)).unwrap();
    u.set_host(Some("localhost")).unwrap();
    u.set_query(None);
    tls_scenarios(&rt, server.as_ref(), u.as_str(), &tls, "my");
    rt.block_on(server.shutdown()).unwrap();
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", image])
        .output();
}

/// A test CA, a server certificate it signed for `localhost` and 127.0.0.1, and a second CA
/// that signed nothing.
struct Tls {
    ca: PathBuf,
    other_ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Tls {
    fn generate(dir: &Path) -> Tls {
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl (apt-get install openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        for ca in ["ca", "other-ca"] {
            let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
            args.extend(ec);
            let (key, crt, subj) = (
                format!("{ca}.key"),
                format!("{ca}.crt"),
                format!("/CN=migcheck test {ca}"),
            );
            args.extend([
                "-keyout",
                &key,
                "-out",
                &crt,
                "-subj",
                &subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            openssl(&args);
        }
        let mut args = vec!["req", "-nodes"];
        args.extend(ec);
        args.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        openssl(&args);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n\
             keyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ]);
        Tls {
            ca: dir.join("ca.crt"),
            other_ca: dir.join("other-ca.crt"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        }
    }
}

/// Turn TLS on for the running local PostgreSQL (its settings reload without a restart), and
/// make a role that may only connect over TLS; a URL for it on a fresh database.
async fn postgres_tls_url(server: &dyn Server, tls: &Tls) -> String {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut admin = Conn::connect(Engine::Postgres, server.admin_url())
        .await
        .unwrap();
    let Conn::Postgres(c) = &mut admin else {
        unreachable!()
    };
    let show = |name: &'static str| {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("SHOW {name}")))
    };
    let data_dir = show("data_directory").fetch_one(&mut *c).await.unwrap();
    let hba = show("hba_file").fetch_one(&mut *c).await.unwrap();
    // The server checks its key: owned by the server's user, no access for others.
    let owner = std::fs::metadata(&data_dir).unwrap();
    let dir = tls.key.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in [&tls.cert, &tls.key] {
        std::os::unix::fs::chown(f, Some(owner.uid()), Some(owner.gid())).unwrap();
    }
    std::fs::set_permissions(&tls.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let role = "tls_reader";
    let rules = format!(
        "hostnossl all {role} all reject\nhostssl all {role} all scram-sha-256\n{}",
        std::fs::read_to_string(&hba).unwrap()
    );
    std::fs::write(&hba, rules).unwrap();
    let sql_path = |p: &Path| sql_str(&p.display().to_string());
    for sql in [
        format!("ALTER SYSTEM SET ssl_cert_file = {}", sql_path(&tls.cert)),
        format!("ALTER SYSTEM SET ssl_key_file = {}", sql_path(&tls.key)),
        "ALTER SYSTEM SET ssl = on".to_string(),
        format!("CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{PASSWORD_MARK}'"),
        "SELECT pg_reload_conf()".to_string(),
    ] {
        admin
            .execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    admin.close().await;
    let url = create_database(server, "tls_pg").await;
    // Until the reload took: a new session sees the new setting.
    let mut on = String::new();
    for _ in 0..50 {
        let mut conn = Conn::connect(Engine::Postgres, server.admin_url())
            .await
            .unwrap();
        if let Conn::Postgres(c) = &mut conn {
            on = show("ssl").fetch_one(&mut *c).await.unwrap();
        }
        conn.close().await;
        if on == "on" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(on, "on", "TLS did not come on: see the server log");
    let mut u = url::Url::parse(&url).unwrap();
    u.set_username(role).unwrap();
    u.set_password(Some(PASSWORD_MARK)).unwrap();
    u.set_host(Some("localhost")).unwrap();
    u.set_query(None);
    u.to_string()
}

/// `url` is a role that the server lets in over TLS only, on an empty database of `server`:
/// status, plan and wait connect with each TLS mode as the driver's own URL parameters say.
fn tls_scenarios(
    rt: &tokio::runtime::Runtime,
    server: &dyn Server,
    url: &str,
    tls: &Tls,
    tag: &str,
) {
    let engine = server.info().engine;
    let tmp = tempfile::tempdir().unwrap();
    let gm = tmp.path().join("gm");
    write_chain(&gm, Format::GolangMigrate);
    // Built by the admin (no TLS), two of three applied.
    let mut admin_db = url::Url::parse(server.admin_url().expose()).unwrap();
    admin_db.set_path(url::Url::parse(url).unwrap().path());
    rt.block_on(build_target(
        engine,
        admin_db.as_str(),
        &gm,
        Format::GolangMigrate,
        2,
    ));
    let with = |params: &[(&str, &Path)], mode: &str| {
        let mut u = url::Url::parse(url).unwrap();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair(
                if engine == Engine::Postgres {
                    "sslmode"
                } else {
                    "ssl-mode"
                },
                mode,
            );
            for (k, v) in params {
                q.append_pair(k, &v.display().to_string());
            }
        }
        u.to_string()
    };
    let (disable, require, verify_full, root_param) = if engine == Engine::Postgres {
        ("disable", "require", "verify-full", "sslrootcert")
    } else {
        ("DISABLED", "REQUIRED", "VERIFY_IDENTITY", "ssl-ca")
    };

    // Without TLS the server turns the role away: the TLS runs below really use TLS.
    let out = status(&gm, &with(&[], disable), &[]);
    assert_eq!(out.code, 3, "{tag}: {}", out.describe());

    let out = status(&gm, &with(&[], require), &[]);
    assert_eq!(out.code, 4, "{tag}: {}", out.describe());
    assert_eq!(
        out.json["pending"],
        serde_json::json!(["000003_index_email"])
    );

    let verified = with(&[(root_param, &tls.ca)], verify_full);
    let out = status(&gm, &verified, &[]);
    assert_eq!(out.code, 4, "{tag}: {}", out.describe());
    assert!(
        out.json["target"].as_str().unwrap().contains(verify_full),
        "{tag}: the TLS mode shows in the redacted target: {}",
        out.describe()
    );

    // A certificate no trusted CA signed is an environment failure, with the reason.
    let out = status(&gm, &with(&[(root_param, &tls.other_ca)], verify_full), &[]);
    eprintln!("{tag}, a CA that signed nothing: {}", out.stderr.trim());
    assert_eq!(out.code, 3, "{tag}: {}", out.describe());
    assert!(
        out.stderr.to_ascii_lowercase().contains("certificate"),
        "{tag}: {}",
        out.describe()
    );

    // plan reads the same target over TLS.
    let output = support::migcheck()
        .arg("plan")
        .arg(&gm)
        .args(["--url", &verified, "--no-drift"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{tag}: {stdout}");
    assert!(
        stdout.contains("CREATE INDEX users_email"),
        "{tag}: {stdout}"
    );
    assert!(!stdout.contains(PASSWORD_MARK));

    // The deploy lands; wait over TLS returns at once.
    let chain = chain_of(&gm, Format::GolangMigrate, engine);
    let script = PreparedScript {
        file: chain[2].up.file.clone(),
        statements: migcheck::sql::split(&chain[2].up, engine.dialect()).unwrap(),
        no_transaction: false,
    };
    rt.block_on(async {
        let mut conn = connect(engine, admin_db.as_str()).await;
        apply(&mut conn, &script).await.unwrap();
        for sql in record_sql(Format::GolangMigrate, &chain[2], 3, true) {
            conn.execute(&sql).await.unwrap();
        }
        conn.close().await;
    });
    let output = support::migcheck()
        .arg("wait")
        .arg(&gm)
        .args(["--url", &verified, "--timeout", "30"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{tag}: {stderr}");
    assert!(!stderr.contains(PASSWORD_MARK));
}

/// `plan` on an Alembic project one revision behind on one branch, with a new revision on top:
/// the pending revisions' SQL as Alembic runs it, and the lint on that SQL by the live sizes.
fn alembic_plan_scenarios(rt: &tokio::runtime::Runtime, server: &dyn Server, tag: &str) {
    let engine = server.info().engine;
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    support::copy_dir(&support::fixture("alembic/two_heads"), &project);
    std::fs::write(
        project.join("migrations/versions/3c000000000d_index_b.py"),
        "\"\"\"index users.b\n\nRevision ID: 3c000000000d\nRevises: 3c000000000c\n\"\"\"\n\
         from alembic import op\n\n\
         revision = '3c000000000d'\ndown_revision = '3c000000000c'\n\
         branch_labels = None\ndepends_on = None\n\n\n\
         def upgrade() -> None:\n    op.create_index('users_b', 'users', ['b'])\n\n\n\
         def downgrade() -> None:\n    op.drop_index('users_b', table_name='users')\n",
    )
    .unwrap();
    let url = rt.block_on(create_database(server, &format!("plan_{tag}_alembic")));
    run_alembic(&project, engine, &url, &["upgrade", "3c000000000b"]);
    let plan = |extra: &[&str]| {
        let json = tmp.path().join("plan.json");
        let output = support::migcheck()
            .arg("plan")
            .arg(&project)
            .args(["--url", &url, "--python"])
            .arg(support::test_python())
            .arg("--json")
            .arg(&json)
            .args(extra)
            .output()
            .unwrap();
        Out::read(output, &json)
    };
    let out = plan(&[]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert_eq!(out.json["drift"]["checked"], true, "{}", out.describe());
    let pending = out.json["pending"].as_array().unwrap();
    let ids: Vec<&str> = pending.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["3c000000000c", "3c000000000d"], "{}", out.describe());
    let sql = |i: usize| {
        pending[i]["sql"]
            .as_str()
            .unwrap_or("")
            .to_ascii_uppercase()
    };
    assert!(
        sql(0).contains("ALTER TABLE USERS ADD COLUMN B INTEGER"),
        "{}",
        out.describe()
    );
    assert!(
        sql(1).contains("CREATE INDEX USERS_B ON USERS"),
        "{}",
        out.describe()
    );
    assert!(
        !sql(0).contains("ALEMBIC_VERSION"),
        "bookkeeping is not the plan's SQL"
    );
    assert!(
        pending[1]["note"]
            .as_str()
            .unwrap()
            .contains("ephemeral database"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("CREATE INDEX users_b"),
        "{}",
        out.describe()
    );
    if engine == Engine::Postgres {
        // The index is built without CONCURRENTLY, on a table the target has empty: a note.
        let finding = out.json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == "create-index-non-concurrently")
            .unwrap_or_else(|| panic!("no finding: {}", out.describe()));
        assert_eq!(finding["migration"], "3c000000000d");
        assert_eq!(finding["severity"], "info", "{}", out.describe());
        assert!(finding["file"]
            .as_str()
            .unwrap()
            .ends_with("3c000000000d_index_b.py"));
    }
    // Without the ephemeral database nothing renders the SQL: the plan says so.
    let out = plan(&["--no-drift"]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert!(
        out.json["pending"][0]["sql"].is_null(),
        "{}",
        out.describe()
    );
    assert!(
        out.json["pending"][0]["note"]
            .as_str()
            .unwrap()
            .contains("not rendered"),
        "{}",
        out.describe()
    );
}

/// `wait` returns 0 once the last migration lands while it waits, 1 at once on a dirty version,
/// and 3 on timeout naming what is still missing.
fn wait_scenarios(rt: &tokio::runtime::Runtime, server: &dyn Server, tag: &str) {
    let engine = server.info().engine;
    let tmp = tempfile::tempdir().unwrap();
    let gm: PathBuf = tmp.path().join("gm");
    write_chain(&gm, Format::GolangMigrate);
    let url = rt.block_on(create_database(server, &format!("wait_{tag}")));
    rt.block_on(build_target(engine, &url, &gm, Format::GolangMigrate, 2));

    // Times out, naming the missing migration.
    let started = Instant::now();
    let out = support::migcheck()
        .arg("wait")
        .arg(&gm)
        .args(["--url", &url, "--timeout", "2s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("timed out after 2s; still missing: 1 pending: 000003_index_email"),
        "{stderr}"
    );
    assert!(stderr.contains("next look in"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // The deploy lands while it waits.
    let mut child = support::migcheck()
        .arg("wait")
        .arg(&gm)
        .args(["--url", &url, "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "wait returned before the deploy"
    );
    let chain = chain_of(&gm, Format::GolangMigrate, engine);
    rt.block_on(async {
        let mut conn = connect(engine, &url).await;
        let script = PreparedScript {
            file: chain[2].up.file.clone(),
            statements: migcheck::sql::split(&chain[2].up, engine.dialect()).unwrap(),
            no_transaction: false,
        };
        apply(&mut conn, &script).await.unwrap();
        for sql in record_sql(Format::GolangMigrate, &chain[2], 3, true) {
            conn.execute(&sql).await.unwrap();
        }
        conn.close().await;
    });
    let landed = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("1 pending: 000003_index_email"), "{stderr}");
    assert!(stderr.contains("is up to date (3 migrations)"), "{stderr}");
    // Backoff is capped at 5 s.
    assert!(
        landed.elapsed() < Duration::from_secs(7),
        "{:?}",
        landed.elapsed()
    );

    // golang-migrate is migrating: its version is dirty while it holds its lock. wait keeps
    // waiting, and returns 0 once the migration is done and the lock released.
    let lock_sql = match engine.dialect() {
        Dialect::Postgres => "SELECT CAST(pg_advisory_lock(42) AS TEXT)".to_string(),
        Dialect::Mysql => {
            let name = migcheck::status::checksum::golang_migrate_mysql_lock(
                &format!("wait_{tag}"),
                "schema_migrations",
            );
            format!("SELECT CAST(GET_LOCK('{name}', 10) AS CHAR)")
        }
    };
    let mut holder = rt.block_on(connect(engine, &url));
    rt.block_on(async {
        match &mut holder {
            Conn::Postgres(c) => {
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(lock_sql.clone()))
                    .fetch_one(&mut *c)
                    .await
                    .unwrap();
            }
            Conn::Mysql(c) => {
                let got = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(lock_sql.clone()))
                    .fetch_one(&mut *c)
                    .await
                    .unwrap();
                assert_eq!(got, "1");
            }
        }
        holder
            .execute("UPDATE schema_migrations SET dirty = TRUE")
            .await
            .unwrap();
    });
    let child = support::migcheck()
        .arg("wait")
        .arg(&gm)
        .args(["--url", &url, "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    rt.block_on(async {
        holder
            .execute("UPDATE schema_migrations SET dirty = FALSE")
            .await
            .unwrap();
        holder.close().await;
    });
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("a migration is running"), "{stderr}");

    // A dirty version nobody works on needs a person: exit 1 at once.
    rt.block_on(exec(
        engine,
        &url,
        &["UPDATE schema_migrations SET dirty = TRUE".to_string()],
    ));
    let started = Instant::now();
    let out = support::migcheck()
        .arg("wait")
        .arg(&gm)
        .args(["--url", &url, "--timeout", "60"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrate force"));
    assert!(started.elapsed() < Duration::from_secs(10));

    // A server that is not there yet: retried until the timeout, exit 3.
    let out = support::migcheck()
        .arg("wait")
        .arg(&gm)
        .args([
            "--url",
            "postgres://nobody:pw@127.0.0.1:9/none",
            "--timeout",
            "1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("does not accept connections"), "{stderr}");
    assert!(!stderr.contains(":pw@"), "{stderr}");
}

/// The YAML examples of the README's deploy-time section parse (Helm's `{{ }}` inside a plain
/// scalar included), and the commands they run are subcommands migcheck has.
#[test]
fn readme_deploy_time_examples_parse() {
    let section = support::readme_section("## Before and at deploy time");
    let section = section.as_str();
    let blocks = support::yaml_blocks(section);
    assert_eq!(blocks.len(), 2);
    for block in &blocks {
        if let Err(e) = yaml_rust2::YamlLoader::load_from_str(block) {
            panic!("a README yaml example does not parse: {e}\n{block}");
        }
    }
    assert!(blocks[0].contains(r#"["migcheck", "wait""#));
    for sub in ["status", "plan", "wait"] {
        let out = support::migcheck().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help");
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in ["--url-env", "--url-file", "--json", "--table"] {
            assert!(help.contains(flag), "{sub} lacks {flag}");
        }
    }
}
