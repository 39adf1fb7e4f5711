//! Every fixture gives the verdict it was built for, through both providers, on both engines
//! (`fixtures/expectations.toml` says which). The binary is run end to end; its exit code,
//! JSON report and JUnit report are checked.

mod support;

use migcheck::engine::Engine;
use support::{expectations, fixture, verify, Expectation, Run};

/// Check one run against its expectation; returns a description of every mismatch.
fn judge(e: &Expectation, provider: &str, run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    let label = format!("{} ({provider}, args {:?})", e.path, e.args);
    if run.code() != e.exit {
        problems.push(format!(
            "{label}: expected exit {}, got {}\n{}",
            e.exit,
            run.code(),
            run.describe()
        ));
        return problems;
    }
    // Exit 2 (bad input) still writes a report naming the problem; exit 0/1 must list checks.
    let Some(json) = &run.json else {
        problems.push(format!("{label}: no JSON report\n{}", run.describe()));
        return problems;
    };
    let verdict = if e.exit == 0 { "pass" } else { "fail" };
    if json["verdict"] != verdict {
        problems.push(format!(
            "{label}: verdict {} (expected {verdict})",
            json["verdict"]
        ));
    }
    if json["exit_code"] != e.exit {
        problems.push(format!("{label}: report exit_code {}", json["exit_code"]));
    }
    if e.exit != 2 {
        let mut expected = e.failing.clone();
        expected.sort();
        if run.failing() != expected {
            problems.push(format!(
                "{label}: failing checks {:?}, expected {:?}\n{}",
                run.failing(),
                expected,
                run.describe()
            ));
        }
        if json["provider"]["name"] != provider && !run.failing().iter().any(|f| f == "chain") {
            problems.push(format!(
                "{label}: provider {} in report",
                json["provider"]["name"]
            ));
        }
    }
    let key = |c: &serde_json::Value| {
        format!(
            "{}:{}",
            c["name"].as_str().unwrap_or("?"),
            c["migration"].as_str().unwrap_or("")
        )
    };
    if e.exit == 2 {
        let stderr = run.stderr();
        if let Some(file) = &e.file {
            if !stderr.contains(file.as_str()) {
                problems.push(format!(
                    "{label}: the error does not name {file}\n{}",
                    run.describe()
                ));
            }
        }
        if let Some(line) = e.line {
            if !stderr.contains(&format!(":{line}")) {
                problems.push(format!(
                    "{label}: the error does not name line {line}\n{}",
                    run.describe()
                ));
            }
        }
    } else if e.file.is_some() || e.line.is_some() {
        let failed: Vec<serde_json::Value> = run
            .checks()
            .into_iter()
            .filter(|c| c["status"] == "fail")
            .collect();
        let first = failed.first().cloned().unwrap_or_default();
        let detail = format!(
            "{}{}",
            first["file"].as_str().unwrap_or(""),
            first["detail"].as_str().unwrap_or("")
        );
        if let Some(file) = &e.file {
            if !detail.contains(file.as_str()) {
                problems.push(format!(
                    "{label}: failure does not point at {file}: {first}"
                ));
            }
        }
        if let Some(line) = e.line {
            if first["line"] != line {
                problems.push(format!(
                    "{label}: failure points at line {}, expected {line}: {first}",
                    first["line"]
                ));
            }
        }
    }
    for wanted in &e.notes {
        let has = run
            .checks()
            .iter()
            .any(|c| key(c) == *wanted && c["notes"].as_array().is_some_and(|n| !n.is_empty()));
        if !has {
            problems.push(format!(
                "{label}: expected cosmetic notes on {wanted}\n{}",
                run.describe()
            ));
        }
    }
    for wanted in &e.skipped {
        let (check, migration) = wanted.split_once(':').unwrap_or((wanted, ""));
        let matching: Vec<_> = run
            .checks()
            .into_iter()
            .filter(|c| c["name"] == check && (migration == "*" || c["migration"] == migration))
            .collect();
        if matching.is_empty() || matching.iter().any(|c| c["status"] != "skip") {
            problems.push(format!(
                "{label}: expected {wanted} to be skipped\n{}",
                run.describe()
            ));
        }
    }
    match &run.junit {
        None => problems.push(format!("{label}: no JUnit report")),
        Some(_) => {
            if let Err(err) = support::validate_junit(&run.junit_path) {
                problems.push(format!("{label}: JUnit does not validate: {err}"));
            }
        }
    }
    problems
}

fn engine_name(engine: Engine) -> &'static str {
    engine.name()
}

fn run_all(engine: Engine, provider: &str, extra: &[String]) {
    let cases: Vec<Expectation> = expectations()
        .into_iter()
        .filter(|e| e.engines.iter().any(|n| n == engine_name(engine)))
        .collect();
    assert!(
        !cases.is_empty(),
        "no fixtures for {engine} in fixtures/expectations.toml"
    );
    let mut problems = Vec::new();
    for e in &cases {
        let mut args: Vec<String> = vec![
            "--engine".into(),
            engine.name().into(),
            "--provider".into(),
            provider.into(),
        ];
        args.extend(extra.iter().cloned());
        args.extend(e.args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = verify(&fixture(&e.path), &args);
        problems.extend(judge(e, provider, &run));
    }
    assert!(
        problems.is_empty(),
        "{} of {} fixtures on {engine} via {provider} gave the wrong verdict:\n\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n\n")
    );
}

/// Run every fixture through `--provider url` against one server started by the local
/// provider, and check afterwards that only migcheck's throwaway databases came and went.
fn run_all_via_url(engine: Engine) {
    let rt = support::runtime();
    let server = rt.block_on(support::local_server(engine));
    let url = server.admin_url().expose().to_string();
    let sentinel = "keep_me_untouched";
    rt.block_on(async {
        let mut conn = migcheck::provision::Conn::connect(engine, server.admin_url())
            .await
            .expect("connect");
        exec(&mut conn, &format!("CREATE DATABASE {sentinel}")).await;
        conn.close().await;
    });
    let result = std::panic::catch_unwind(|| run_all(engine, "url", &["--url".to_string(), url]));
    let leftovers = rt.block_on(async {
        let mut conn = migcheck::provision::Conn::connect(engine, server.admin_url())
            .await
            .expect("connect");
        let names = list_databases(&mut conn).await;
        conn.close().await;
        names
    });
    rt.block_on(server.shutdown()).expect("shutdown");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(
        leftovers.iter().any(|d| d == sentinel),
        "the sentinel database disappeared: {leftovers:?}"
    );
    let throwaway: Vec<_> = leftovers
        .iter()
        .filter(|d| d.starts_with("migcheck_"))
        .collect();
    assert!(
        throwaway.is_empty(),
        "throwaway databases left behind: {throwaway:?}"
    );
}

async fn exec(conn: &mut migcheck::provision::Conn, sql: &str) {
    let q = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()));
    match conn {
        migcheck::provision::Conn::Postgres(c) => q.execute(c).await.map(|_| ()),
        migcheck::provision::Conn::Mysql(c) => q.execute(c).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn list_databases(conn: &mut migcheck::provision::Conn) -> Vec<String> {
    use sqlx::Row;
    match conn {
        migcheck::provision::Conn::Postgres(c) => {
            sqlx::query("SELECT datname::text FROM pg_database")
                .fetch_all(c)
                .await
                .expect("list databases")
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect()
        }
        migcheck::provision::Conn::Mysql(c) => {
            sqlx::query("SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA")
                .fetch_all(c)
                .await
                .expect("list databases")
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect()
        }
    }
}

#[test]
fn postgres_fixtures_via_local_provider() {
    run_all(Engine::Postgres, "local", &[]);
}

#[test]
fn postgres_fixtures_via_url_provider() {
    run_all_via_url(Engine::Postgres);
}

#[test]
fn mariadb_fixtures_via_local_provider() {
    run_all(Engine::Mariadb, "local", &[]);
}

#[test]
fn mariadb_fixtures_via_url_provider() {
    run_all_via_url(Engine::Mariadb);
}
