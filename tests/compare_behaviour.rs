//! Issue 8, "compare behaviour, not noise", and `--session-sql`, asserted more precisely than
//! `fixtures/expectations.toml` does: notes and findings in the JSON report, snapshots that
//! are byte-identical whichever provider (and role) made them, session SQL from the config
//! file, a failing session statement. Real servers, started by migcheck's local provider.

mod support;

use std::path::Path;

use migcheck::engine::Engine;
use support::{fixture, verify, Run};

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(run.code(), code, "{}", run.describe());
}

fn check(run: &Run, name: &str, migration: &str) -> serde_json::Value {
    run.checks()
        .into_iter()
        .find(|c| c["name"] == name && c["migration"] == migration)
        .unwrap_or_else(|| panic!("no {name}:{migration}\n{}", run.describe()))
}

fn notes(check: &serde_json::Value) -> Vec<String> {
    check["notes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn findings(run: &Run, rule: &str) -> Vec<serde_json::Value> {
    run.json.as_ref().expect("JSON report")["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

#[test]
fn routine_formatting_is_a_note_on_both_engines() {
    for (path, engine, object) in [
        (
            "postgres/trust/routine-formatting",
            "postgres",
            "function public.touch_updated_at(): definition differs only in whitespace or comments",
        ),
        (
            "mysql/trust/routine-formatting",
            "mariadb",
            "procedure purge_notes: body differs only in whitespace or comments",
        ),
    ] {
        let run = verify(&fixture(path), &["--engine", engine, "--provider", "local"]);
        assert_exit(&run, 0);
        let roundtrip = run
            .checks()
            .into_iter()
            .find(|c| {
                c["name"] == "roundtrip"
                    && c["migration"].as_str().unwrap_or("").starts_with("0002_")
            })
            .expect("round trip of 0002");
        assert!(
            notes(&roundtrip).iter().any(|n| n.starts_with(object)),
            "{roundtrip}"
        );
    }
}

#[test]
fn view_column_order_explained_by_the_table_is_a_note() {
    let run = verify(
        &fixture("postgres/trust/view-column-order"),
        &["--engine", "postgres", "--provider", "local"],
    );
    assert_exit(&run, 0);
    let notes = notes(&check(&run, "roundtrip", "0002_reset_nicknames"));
    assert!(
        notes.iter().any(|n| n
            == "view public.user_list: column order follows its table's column order (column order does not change behaviour)"),
        "{notes:?}"
    );
    // The same view reordered against its table's order is a failure.
    let run = verify(
        &fixture("postgres/trust/view-order-unexplained"),
        &["--engine", "postgres", "--provider", "local"],
    );
    assert_exit(&run, 1);
    let c = check(&run, "roundtrip", "0002_list_created_at");
    assert_eq!(
        c["objects"],
        serde_json::json!(["view public.user_list"]),
        "{c}"
    );
}

#[test]
fn frozen_now_is_one_finding_at_the_migration_that_creates_it() {
    for mode in ["step", "full"] {
        let run = verify(
            &fixture("postgres/trust/frozen-now-view"),
            &[
                "--engine",
                "postgres",
                "--provider",
                "local",
                "--roundtrip",
                mode,
            ],
        );
        assert_exit(&run, 0);
        let found = findings(&run, "nondeterministic-definition");
        assert_eq!(found.len(), 1, "{mode}: {found:?}");
        let f = &found[0];
        assert_eq!(f["migration"], "0002_create_recent_events", "{mode}: {f}");
        assert_eq!(f["severity"], "warning");
        assert_eq!(f["line"], 1);
        assert!(
            f["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("view public.recent_events: definition differs between two runs"),
            "{f}"
        );
        // A finding at warning level fails the gate when asked to.
        let strict = verify(
            &fixture("postgres/trust/frozen-now-view"),
            &[
                "--engine",
                "postgres",
                "--provider",
                "local",
                "--roundtrip",
                mode,
                "--fail-on",
                "warning",
            ],
        );
        assert_exit(&strict, 1);
        assert!(strict.failing().is_empty(), "{:?}", strict.failing());
        let warnings: Vec<_> = strict.json.as_ref().expect("JSON")["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f["severity"] != "info")
            .map(|f| f["rule"].clone())
            .collect();
        assert_eq!(warnings, vec!["nondeterministic-definition"], "{mode}");
    }
}

#[test]
fn full_round_trip_reports_a_leftover_once() {
    let run = verify(
        &fixture("postgres/trust/leftover-reported-once"),
        &[
            "--engine",
            "postgres",
            "--provider",
            "local",
            "--roundtrip",
            "full",
        ],
    );
    assert_exit(&run, 1);
    assert_eq!(run.failing(), vec!["roundtrip:0002_create_tags"]);
    let c = check(&run, "roundtrip", "0002_create_tags");
    assert_eq!(c["objects"], serde_json::json!(["extension citext"]), "{c}");
}

/// `url` with the user name and password replaced.
fn snapshot_out(path: &str, engine: &str, provider_args: &[&str], out: &Path) -> String {
    let mut args = vec!["--engine", engine];
    args.extend_from_slice(provider_args);
    let out_str = out.to_str().expect("utf-8 path");
    args.extend(["--snapshot-out", out_str]);
    let run = verify(&fixture(path), &args);
    assert_exit(&run, 0);
    std::fs::read_to_string(out).expect("snapshot written")
}

/// The same chain through the local provider (role `postgres` / `root`) and through the url
/// provider as another role gives byte-identical `--snapshot-out` files.
#[test]
fn snapshots_do_not_depend_on_the_provider_or_its_role() {
    let rt = support::runtime();
    for (engine, path, create) in [
        (
            Engine::Postgres,
            "postgres/golang-migrate/clean",
            vec!["CREATE ROLE migcheck_other LOGIN CREATEDB CREATEROLE PASSWORD 'other-pw'"],
        ),
        (
            Engine::Mariadb,
            "mysql/golang-migrate/clean",
            vec![
                "CREATE USER 'migcheck_other'@'%' IDENTIFIED BY 'other-pw'",
                "GRANT ALL PRIVILEGES ON *.* TO 'migcheck_other'@'%' WITH GRANT OPTION",
            ],
        ),
    ] {
        let server = rt.block_on(support::local_server(engine));
        rt.block_on(support::run_sql(server.as_ref(), &create));
        let url = support::url_as(server.as_ref(), "migcheck_other", "other-pw");
        let dir = tempfile::tempdir().expect("temp dir");
        let result = std::panic::catch_unwind(|| {
            let local = snapshot_out(
                path,
                engine.name(),
                &["--provider", "local"],
                &dir.path().join("local.json"),
            );
            let via_url = snapshot_out(
                path,
                engine.name(),
                &["--provider", "url", "--url", &url],
                &dir.path().join("url.json"),
            );
            assert!(
                local == via_url,
                "{engine}: snapshots differ between providers:\n{}",
                similar::TextDiff::from_lines(&local, &via_url)
                    .unified_diff()
                    .header("local", "url")
            );
            if engine == Engine::Postgres {
                assert!(local.contains("<connecting role>: "), "{local}");
                assert!(!local.contains("migcheck_other"), "{local}");
            }
        });
        rt.block_on(server.shutdown()).expect("shutdown");
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Copy a fixture folder (flat) into a temp dir, with `config` as its migcheck.toml.
fn with_config(path: &str, config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(fixture(path)).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    std::fs::write(dir.path().join("migcheck.toml"), config).expect("config");
    dir
}

#[test]
fn session_sql_from_the_config_file_is_run_and_recorded() {
    let dir = with_config(
        "mysql/trust/session-foreign-key-checks",
        "[verify]\nsession-sql = [\"SET FOREIGN_KEY_CHECKS = 0\"]\n",
    );
    let run = verify(dir.path(), &["--engine", "mariadb", "--provider", "local"]);
    assert_exit(&run, 0);
    let json = run.json.as_ref().expect("JSON");
    assert_eq!(
        json["options"]["session_sql"],
        serde_json::json!(["SET FOREIGN_KEY_CHECKS = 0"])
    );
    assert!(
        run.stdout()
            .contains("session: SET FOREIGN_KEY_CHECKS = 0\n"),
        "{}",
        run.describe()
    );
    // Round trips ran under it too: the down of 0002 drops `users`, which `posts` references.
    assert_eq!(
        check(&run, "roundtrip", "0002_create_users")["status"],
        "pass"
    );

    // A flag replaces the config's list; here with a statement the server refuses: bad input.
    let run = verify(
        dir.path(),
        &[
            "--engine",
            "mariadb",
            "--provider",
            "local",
            "--session-sql",
            "SET FOREIGN_KEY_CHEKS = 0",
        ],
    );
    assert_exit(&run, 2);
    assert!(
        run.stderr()
            .contains("session SQL `SET FOREIGN_KEY_CHEKS = 0` failed: Unknown system variable"),
        "{}",
        run.describe()
    );
}

#[test]
fn session_search_path_on_postgres() {
    let path = fixture("postgres/trust/session-search-path");
    let run = verify(
        &path,
        &[
            "--engine",
            "postgres",
            "--provider",
            "local",
            "--session-sql",
            "SET search_path = app, public",
        ],
    );
    assert_exit(&run, 0);
    let snapshot_objects: Vec<String> = run
        .checks()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c.to_string())
        .collect();
    assert!(snapshot_objects.is_empty(), "{snapshot_objects:?}");
    let bad_config = with_config(
        "postgres/trust/session-search-path",
        "[verify]\nsession-sql = \"SET search_path = app\"\n",
    );
    let run = verify(
        bad_config.path(),
        &["--engine", "postgres", "--provider", "local"],
    );
    assert_exit(&run, 2);
    assert!(
        run.stderr().contains("migcheck.toml:2: "),
        "{}",
        run.describe()
    );
}
