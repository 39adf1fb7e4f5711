//! The lint's parsers against the servers: every statement of a corpus of valid SQL (a file of
//! our own covering many DDL forms, plus every statement of the repository's fixtures) lints
//! without a `parse-error`, and each corpus statement really is accepted by a real server
//! started through migcheck's local provider.

mod support;

use std::path::{Path, PathBuf};

use migcheck::chain::{Script, Segment};
use migcheck::engine::Engine;
use migcheck::lint::{lint_text, LintConfig};
use migcheck::provision::Database;

fn script(path: &Path) -> Script {
    Script {
        file: path.to_path_buf(),
        segments: vec![Segment::Sql {
            text: std::fs::read_to_string(path).unwrap(),
            line: 1,
        }],
        no_transaction: true,
    }
}

/// `file:line: message` for every parse-error the lint reports on `path`.
fn parse_errors(path: &Path, engine: Engine) -> Vec<String> {
    let config = LintConfig {
        enable_all: true,
        ..Default::default()
    };
    let text = std::fs::read_to_string(path).unwrap();
    lint_text(&text, &path.display().to_string(), engine, true, &config)
        .into_iter()
        .filter(|f| f.rule == "parse-error")
        .map(|f| format!("{}:{}: {}", f.file, f.line.unwrap_or(0), f.message))
        .collect()
}

/// Run every statement of `path` in order on a fresh database of `engine`; the statements the
/// server rejects, with their line.
fn server_rejects(path: &Path, engine: Engine) -> Vec<String> {
    support::runtime().block_on(async {
        let server = support::local_server(engine).await;
        let db = Database::create(&*server, false)
            .await
            .expect("create database");
        let mut conn = db.connect().await.expect("connect");
        let statements = migcheck::sql::split(&script(path), engine.dialect()).unwrap();
        assert!(statements.len() > 50, "a corpus, not a sample");
        let mut rejected = Vec::new();
        for st in &statements {
            if let Err(e) = conn.execute(&st.sql).await {
                rejected.push(format!("{}:{}: {e}", path.display(), st.line));
            }
        }
        conn.close().await;
        let _ = db.drop_database(&*server).await;
        let _ = server.shutdown().await;
        rejected
    })
}

fn sql_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            sql_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "sql") {
            out.push(p);
        }
    }
}

/// Fixture files of `engine` that hold valid SQL: every `.sql` under the verify fixtures and
/// the lint's rule fixtures, except the lint's own parse-error example.
fn fixture_files(dirs: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for d in dirs {
        sql_files(&support::fixture(d), &mut files);
    }
    // The two fixtures whose syntax error is their point (the server rejects them too).
    files.retain(|f| {
        !f.ends_with("parse-error/bad.sql")
            && !f.to_string_lossy().contains("broken/syntax-error-third")
    });
    // popx fixtures hold every dialect's files side by side (CockroachDB, SQLite, the other
    // engine's) by design; only the engine's own reach a server, which tests/formats.rs covers.
    files.retain(|f| !f.to_string_lossy().contains("/trust/popx-"));
    // Encoding fixtures (Latin-1 files that verify must reject) hold no SQL to lint.
    files.retain(|f| std::fs::read_to_string(f).is_ok());
    files.sort();
    files
}

#[test]
fn postgres_corpus_is_valid_sql_and_lints_without_parse_errors() {
    let corpus = support::fixture("lint/corpus/postgres.sql");
    let rejected = server_rejects(&corpus, Engine::Postgres);
    assert!(
        rejected.is_empty(),
        "PostgreSQL rejects:\n{}",
        rejected.join("\n")
    );
    let errors = parse_errors(&corpus, Engine::Postgres);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn postgres_fixtures_lint_without_parse_errors() {
    let files = fixture_files(&[
        "postgres",
        "lint/postgres",
        "lint/chains/pg",
        "observe/postgres",
    ]);
    assert!(files.len() > 50, "{files:?}");
    let errors: Vec<String> = files
        .iter()
        .flat_map(|f| parse_errors(f, Engine::Postgres))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn postgres_parse_error_is_what_the_server_rejects() {
    // The one statement the lint calls unparseable is one the server refuses to parse too.
    let bad = support::fixture("lint/postgres/parse-error/bad.sql");
    assert_eq!(parse_errors(&bad, Engine::Postgres).len(), 1);
    let rejected = support::runtime().block_on(async {
        let server = support::local_server(Engine::Postgres).await;
        let db = Database::create(&*server, false)
            .await
            .expect("create database");
        let mut conn = db.connect().await.expect("connect");
        let text = std::fs::read_to_string(&bad).unwrap();
        let err = conn.execute(&text).await.err().map(|e| e.to_string());
        conn.close().await;
        let _ = db.drop_database(&*server).await;
        let _ = server.shutdown().await;
        err
    });
    assert!(
        rejected
            .as_deref()
            .is_some_and(|e| e.contains("syntax error")),
        "{rejected:?}"
    );
}

#[test]
fn mariadb_corpus_is_valid_sql_and_lints_without_parse_errors() {
    let corpus = support::fixture("lint/corpus/mariadb.sql");
    let rejected = server_rejects(&corpus, Engine::Mariadb);
    assert!(
        rejected.is_empty(),
        "MariaDB rejects:\n{}",
        rejected.join("\n")
    );
    let errors = parse_errors(&corpus, Engine::Mariadb);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn mysql_fixtures_lint_without_parse_errors() {
    let files = fixture_files(&["mysql", "lint/mysql", "lint/mariadb", "observe/mysql"]);
    assert!(files.len() > 20, "{files:?}");
    let errors: Vec<String> = files
        .iter()
        .flat_map(|f| parse_errors(f, Engine::Mariadb))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// (rule, file name, line, column) of a JSON report's findings, observed ones left out.
fn static_findings(findings: &serde_json::Value) -> Vec<(String, String, u64, u64)> {
    let mut out: Vec<_> = findings
        .as_array()
        .expect("a findings array")
        .iter()
        .filter(|f| !f["rule"].as_str().unwrap_or("").starts_with("observed-"))
        .map(|f| {
            let file = f["file"].as_str().unwrap_or("");
            (
                f["rule"].as_str().unwrap_or("").to_string(),
                file.rsplit('/').next().unwrap_or(file).to_string(),
                f["line"].as_u64().unwrap_or(0),
                f["column"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn lint_and_verify_give_the_same_static_verdict() {
    let chain = support::fixture("lint/chains/pg-server/migrations");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("lint.json");
    let lint = support::migcheck()
        .args(["lint", "--pg-version", "15", "--json"])
        .arg(&json)
        .arg(&chain)
        .output()
        .unwrap();
    assert_eq!(lint.status.code(), Some(0), "{lint:?}");
    let lint_report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let lint_findings = static_findings(&lint_report["findings"]);

    let run = support::verify(&chain, &["--engine", "postgres", "--provider", "local"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let report = run.json.as_ref().unwrap();
    assert_eq!(static_findings(&report["findings"]), lint_findings);

    let rules: Vec<&str> = lint_findings.iter().map(|f| f.0.as_str()).collect();
    // timestamp -> timestamptz under the UTC session and varchar growth: no rewrite, and the
    // server agrees (nothing observed rewrote the table).
    assert!(!rules.contains(&"alter-column-type"), "{rules:?}");
    let observed: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(
        !observed.contains(&"observed-table-rewrite"),
        "{observed:?}"
    );
    // The NOT NULL column goes to a table the migration emptied first.
    assert!(
        !rules.contains(&"add-column-not-null-without-default"),
        "{rules:?}"
    );
    // CREATE STATISTICS and COMMENT ON CONSTRAINT parse, so the SET NOT NULL after them is seen.
    assert!(!rules.contains(&"parse-error"), "{rules:?}");
    assert!(
        lint_findings
            .iter()
            .any(|f| f.0 == "set-not-null" && f.1 == "0004_stats_and_index.up.sql"),
        "{lint_findings:?}"
    );
}
