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
