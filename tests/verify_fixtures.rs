//! Every fixture gives the verdict it was built for, through both providers, on both engines
//! (`fixtures/expectations.toml` says which). The binary is run end to end; its exit code,
//! JSON report and JUnit report are checked.

mod support;

use migcheck::engine::Engine;
use support::run_all;

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
    conn.execute(sql)
        .await
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
