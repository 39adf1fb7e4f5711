//! Each format runs as its own tool runs it, and verify, lint and the JSON report agree about it
//! (issue 8 §1). Real servers from the local provider; the fixtures are `fixtures/*/trust/*`.

mod support;

use std::process::Output;

use support::{fixture, migcheck, verify};

fn lint(folder: &str, args: &[&str]) -> (Output, serde_json::Value) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let json = tmp.path().join("lint.json");
    let output = migcheck()
        .arg("lint")
        .arg(fixture(folder))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run migcheck lint");
    let report = std::fs::read_to_string(&json)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("lint JSON parses"))
        .unwrap_or(serde_json::Value::Null);
    (output, report)
}

fn rules(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| x["rule"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn migration<'a>(json: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    json["migrations"]
        .as_array()
        .and_then(|m| m.iter().find(|x| x["id"] == id))
        .unwrap_or_else(|| panic!("no migration {id} in {json}"))
}

#[test]
fn flyway_concurrently_runs_outside_a_transaction_in_verify_lint_and_json() {
    let folder = "postgres/trust/flyway-concurrently";
    let run = verify(&fixture(folder), &["--engine", "postgres"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let json = run.json.as_ref().unwrap();
    assert_eq!(
        migration(json, "V2__index_items_sku")["no_transaction"],
        true
    );
    assert_eq!(migration(json, "V1__create_items")["no_transaction"], false);
    let findings = json["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        findings
            .iter()
            .all(|f| f["rule"] != "concurrently-in-transaction"),
        "{findings:?}"
    );
    let (out, report) = lint(folder, &[]);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(!rules(&report).contains(&"concurrently-in-transaction".to_string()));
}

#[test]
fn golang_migrate_single_statement_passes_and_multi_statement_fails_as_in_production() {
    let alone = "postgres/trust/golang-migrate-concurrently-alone";
    let run = verify(&fixture(alone), &["--engine", "postgres"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let json = run.json.as_ref().unwrap();
    assert_eq!(json["format"], "golang-migrate");
    let reason = json["format_reason"].as_str().unwrap();
    assert!(reason.contains("go.mod"), "{reason}");
    assert!(run
        .stdout()
        .contains("semantics: golang-migrate (detected from"));
    assert_eq!(
        migration(json, "000002_index_items_sku")["no_transaction"],
        true
    );
    let (out, report) = lint(alone, &[]);
    assert_eq!(out.status.code(), Some(0), "{report}");

    let multi = "postgres/trust/golang-migrate-concurrently-in-multi";
    let run = verify(&fixture(multi), &["--engine", "postgres"]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let json = run.json.as_ref().unwrap();
    assert_eq!(
        migration(json, "000002_index_items_sku")["no_transaction"],
        false
    );
    let failed = run
        .checks()
        .into_iter()
        .find(|c| c["status"] == "fail")
        .unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("cannot run inside a transaction block"),
        "{failed}"
    );
    // The lint says the same about the same file: verify and lint never contradict each other.
    let (out, report) = lint(multi, &[]);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(rules(&report).contains(&"concurrently-in-transaction".to_string()));
}

#[test]
fn sqlx_semantics_detected_from_cargo_toml_and_overridden_by_format() {
    let folder = fixture("postgres/trust/sqlx-project-detected");
    let run = verify(&folder, &["--engine", "postgres"]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let json = run.json.as_ref().unwrap();
    assert_eq!(json["format"], "sqlx");
    assert!(json["format_reason"]
        .as_str()
        .unwrap()
        .contains("Cargo.toml depends on sqlx"));
    let run = verify(
        &folder,
        &["--engine", "postgres", "--format", "golang-migrate"],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    let json = run.json.as_ref().unwrap();
    assert_eq!(json["format"], "golang-migrate");
    assert_eq!(json["format_reason"], "forced with --format");
}

#[test]
fn popx_folder_runs_the_engines_own_files_on_both_engines() {
    for (folder, engine, picked) in [
        (
            "postgres/trust/popx-dialects",
            "postgres",
            "20240101000003000000_state_default.postgres.up.sql",
        ),
        (
            "mysql/trust/popx-dialects",
            "mariadb",
            "20240101000003000000_state_default.up.sql",
        ),
    ] {
        let run = verify(&fixture(folder), &["--engine", engine]);
        assert_eq!(run.code(), 0, "{}", run.describe());
        let json = run.json.as_ref().unwrap();
        assert_eq!(json["format"], "popx");
        assert_eq!(json["migrations"].as_array().unwrap().len(), 4);
        let files = migration(json, "20240101000003000000_state_default")["files"].to_string();
        assert!(files.contains(picked), "{files}");
        // .autocommit runs outside a transaction; popx opens none on MySQL at all.
        let idx = migration(json, "20240101000004000000_identities_state_idx");
        assert_eq!(idx["no_transaction"], true);
        // Not a silent pass: the lint reads the same four migrations.
        let (out, report) = lint(folder, &["--engine", engine]);
        assert_eq!(out.status.code(), Some(0), "{report}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("4 script"), "{text}");
    }
}

#[test]
fn a_folder_without_migrations_is_bad_input_for_lint_and_verify() {
    let folder = "postgres/trust/nothing-recognised";
    let run = verify(&fixture(folder), &["--engine", "postgres"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr().contains("nothing-recognised"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("no migrations found"),
        "{}",
        run.stderr()
    );
    let json = run.json.as_ref().unwrap();
    assert!(json["engine"].is_null(), "no database is started: {json}");
    let (out, _) = lint(folder, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("no migrations found"), "{err}");
}

#[test]
fn delimiter_under_golang_migrate_fails_with_the_servers_error_and_a_hint() {
    let run = verify(
        &fixture("mysql/trust/golang-migrate-delimiter-fails"),
        &["--engine", "mariadb"],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    let failed = run
        .checks()
        .into_iter()
        .find(|c| c["status"] == "fail")
        .unwrap();
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("[42000]"), "{message}");
    assert!(message.contains("command of the mysql client"), "{message}");
    assert_eq!(failed["line"], 2, "{failed}");
}
