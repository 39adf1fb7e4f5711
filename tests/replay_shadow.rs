//! Replays through the shadow database (a second run of the ups, copied with `CREATE DATABASE
//! … TEMPLATE` when a step's round trip fails) give the very reports that replaying every up
//! on a fresh database gives (`MIGCHECK_NO_SHADOW=1`): same checks, messages, diffs, findings.
//! Every PostgreSQL fixture whose round trips fail, with its expectation's arguments, in step
//! and in full mode. Real PostgreSQL, started by migcheck's local provider.

mod support;

use support::{expectations, fixture, migcheck, verify_with};

/// What a report says, without timings and the throwaway databases' names.
fn verdict(run: &support::Run) -> serde_json::Value {
    let json = run.json.clone().unwrap_or(serde_json::Value::Null);
    let checks: Vec<serde_json::Value> = json["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "name": c["name"], "migration": c["migration"], "status": c["status"],
                "message": c["message"], "file": c["file"], "line": c["line"],
                "diff": c["diff"], "objects": c["objects"], "notes": c["notes"],
                "phases": c["phases"].as_array().map(|p| p.iter().map(|p| {
                    serde_json::json!([p["name"], p["status"], p["schema_differs"]])
                }).collect::<Vec<_>>()),
            })
        })
        .collect();
    let findings: Vec<serde_json::Value> = json["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|f| serde_json::json!([f["rule"], f["file"], f["line"], f["message"]]))
        .collect();
    serde_json::json!({ "exit": run.code(), "checks": checks, "findings": findings })
}

#[test]
fn shadow_replays_report_what_fresh_replays_report() {
    let cases: Vec<_> = expectations()
        .into_iter()
        .filter(|e| e.engines.iter().any(|n| n == "postgres"))
        .filter(|e| e.failing.iter().any(|f| f.starts_with("roundtrip")))
        .collect();
    assert!(
        cases.len() >= 8,
        "fixtures with failing round trips: {}",
        cases.len()
    );
    let mut differences = Vec::new();
    for e in &cases {
        // An expectation that names its mode runs in that mode only.
        let modes: &[&str] = if e.args.iter().any(|a| a == "--roundtrip") {
            &["as the expectation says"]
        } else {
            &["step", "full"]
        };
        for &mode in modes {
            let mut args: Vec<&str> = vec!["--engine", "postgres", "--provider", "local"];
            if !mode.contains(' ') {
                args.extend(["--roundtrip", mode]);
            }
            args.extend(e.args.iter().map(String::as_str));
            let shadow = verify_with(migcheck(), &fixture(&e.path), &args);
            let mut fresh_cmd = migcheck();
            fresh_cmd.env("MIGCHECK_NO_SHADOW", "1");
            let fresh = verify_with(fresh_cmd, &fixture(&e.path), &args);
            assert!(
                shadow.code() == 0 || shadow.code() == 1,
                "{} ({mode}): {}",
                e.path,
                shadow.describe()
            );
            let (a, b) = (verdict(&shadow), verdict(&fresh));
            if a != b {
                differences.push(format!(
                    "{} ({mode}):\n--- with the shadow\n{a:#}\n--- replaying from scratch\n{b:#}",
                    e.path
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

/// An up that fails only because an earlier down left data behind (rows deleted but the
/// sequence not reset, so the ids a later up relies on moved) is not reported as broken: it
/// applies on a fresh run of the ups, the chain goes on from there, and a warning names what
/// the earlier down leaves behind. PostgreSQL (through the shadow) and MariaDB (from scratch).
#[test]
fn an_up_that_fails_only_after_earlier_round_trips_is_not_blamed() {
    for (engine, id_column) in [
        ("postgres", "id serial PRIMARY KEY"),
        ("mariadb", "id INT AUTO_INCREMENT PRIMARY KEY"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            (
                "1_create_categories.up.sql",
                format!("CREATE TABLE categories ({id_column}, name VARCHAR(40) NOT NULL);\n"),
            ),
            ("1_create_categories.down.sql", "DROP TABLE categories;\n".to_string()),
            (
                "2_seed_categories.up.sql",
                "INSERT INTO categories (name) VALUES ('books'), ('games');\n".to_string(),
            ),
            // Deletes the rows, but the next ids are 3 and 4 after the up runs again.
            ("2_seed_categories.down.sql", "DELETE FROM categories;\n".to_string()),
            (
                "3_subcategories.up.sql",
                format!(
                    "CREATE TABLE subcategories ({id_column}, category_id INT NOT NULL REFERENCES categories (id));\n\
                     INSERT INTO subcategories (category_id) VALUES (1);\n"
                ),
            ),
            ("3_subcategories.down.sql", "DROP TABLE subcategories;\n".to_string()),
            (
                "4_more.up.sql",
                "CREATE TABLE tags (name VARCHAR(20) PRIMARY KEY);\n".to_string(),
            ),
            ("4_more.down.sql", "DROP TABLE tags;\n".to_string()),
        ];
        for (name, text) in &files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let run = verify_with(
            migcheck(),
            dir.path(),
            &[
                "--engine",
                engine,
                "--provider",
                "local",
                "--format",
                "golang-migrate",
            ],
        );
        assert_eq!(run.code(), 0, "{engine}: {}", run.describe());
        let checks = run.checks();
        let upgrade = checks
            .iter()
            .find(|c| c["name"] == "upgrade" && c["migration"] == "3_subcategories")
            .expect("upgrade of 3");
        assert_eq!(upgrade["status"], "pass", "{upgrade:#}");
        assert!(
            upgrade["notes"]
                .to_string()
                .contains("fresh run of the ups"),
            "{upgrade:#}"
        );
        // The chain went on: 4 was verified.
        assert!(checks.iter().any(|c| c["name"] == "roundtrip"
            && c["migration"] == "4_more"
            && c["status"] == "pass"));
        let findings = run.json.as_ref().unwrap()["findings"]
            .as_array()
            .unwrap()
            .clone();
        let left = findings
            .iter()
            .find(|f| f["rule"] == "round-trip-leaves-state")
            .unwrap_or_else(|| panic!("{engine}: no round-trip-leaves-state in {findings:#?}"));
        assert_eq!(left["severity"], "warning");
        assert_eq!(left["line"], 2, "{left:#}");
        assert!(
            left["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("3_subcategories.up.sql")),
            "{left:#}"
        );
    }
}
