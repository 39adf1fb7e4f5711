//! A monorepo in one run: several chains (paths on the command line, or `[[chain]]` entries of
//! migcheck.toml) verified on one server started by migcheck's local provider, each in its own
//! throwaway database, with one report that names each chain and each chain's own config.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

fn tree(chains: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (to, fixture) in chains {
        support::copy_dir(&support::fixture(fixture), &root.path().join(to));
    }
    root
}

fn run_in(cwd: &Path, args: &[&str]) -> Output {
    support::migcheck()
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run migcheck")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn validate(schema_name: &str, value: &Value) {
    let path = support::repo_root().join("tests/schemas").join(schema_name);
    let schema: Value = read_json(&path);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_name}: {}", errors.join("\n"));
}

fn chain<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["chains"]
        .as_array()
        .expect("a run of several chains lists them under `chains`")
        .iter()
        .find(|c| c["chain"] == name)
        .unwrap_or_else(|| panic!("no chain {name} in {json:#}"))
}

#[test]
fn three_chains_share_one_server_and_one_report_names_each() {
    let root = tree(&[
        (
            "services/billing/migrations",
            "postgres/golang-migrate/clean",
        ),
        (
            "services/orders/migrations",
            "postgres/broken/down-forgets-index",
        ),
        ("services/users/migrations", "postgres/golang-migrate/clean"),
    ]);
    // The users service's own config: its lint warnings fail the gate there, not elsewhere.
    std::fs::write(
        root.path().join("services/users/migrations/migcheck.toml"),
        "[lint]\nfail-on = \"warning\"\n",
    )
    .unwrap();
    let out = run_in(
        root.path(),
        &[
            "verify",
            "services/billing/migrations",
            "services/orders/migrations",
            "services/users/migrations",
            "--jobs",
            "3",
            "--json",
            "r/run.json",
            "--junit",
            "r/run.xml",
            "--sarif",
            "r/run.sarif",
            "--markdown",
            "r/run.md",
            "--gitlab-codequality",
            "r/cq.json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("3 chains on one server, 3 at a time"),
        "{stdout}"
    );
    assert!(stdout.contains("3 chains: 1 passed, 2 failed"), "{stdout}");
    // Chains run at once, printed whole: the orders block holds only its own migrations.
    let orders_block: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("migcheck verify services/orders/migrations"))
        .skip(1)
        .take_while(|l| !l.starts_with("migcheck verify "))
        .collect();
    assert!(
        orders_block
            .iter()
            .any(|l| l.starts_with("✗ 0004_add_order_reference")),
        "{stdout}"
    );
    assert!(
        !orders_block.iter().any(|l| l.starts_with("✓ 000001_")),
        "another chain's lines inside the orders block:\n{stdout}"
    );

    let json = read_json(&root.path().join("r/run.json"));
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["chains"].as_array().unwrap().len(), 3);
    let billing = chain(&json, "services/billing/migrations");
    let orders = chain(&json, "services/orders/migrations");
    let users = chain(&json, "services/users/migrations");
    assert_eq!(
        (billing["verdict"].as_str(), billing["exit_code"].as_u64()),
        (Some("pass"), Some(0))
    );
    assert_eq!(
        support::failing_checks(orders),
        vec!["roundtrip:0004_add_order_reference"]
    );
    // Identical chains passed side by side: each had a database of its own.
    assert_eq!(support::failing_checks(users), Vec::<String>::new());
    assert_eq!(users["exit_code"], 1, "its own fail-on = warning fails it");
    assert_eq!(users["options"]["fail_on"], "warning");
    assert_eq!(billing["options"]["fail_on"], "error");
    // One server: every chain reports the same server start.
    let startups: Vec<&Value> = [billing, orders, users]
        .iter()
        .map(|c| &c["provider"]["startup_ms"])
        .collect();
    assert!(startups.iter().all(|s| *s == startups[0]), "{startups:?}");

    let junit = root.path().join("r/run.xml");
    support::validate_junit(&junit).unwrap();
    let xml = std::fs::read_to_string(&junit).unwrap();
    for name in ["billing", "orders", "users"] {
        assert!(
            xml.contains(&format!(
                "name=\"migcheck.postgres.services/{name}/migrations\""
            )),
            "{xml}"
        );
    }
    assert_eq!(xml.matches("<testsuite ").count(), 3);
    assert!(xml.contains("<failure"), "{xml}");

    let sarif = read_json(&root.path().join("r/run.sarif"));
    validate("sarif-schema-2.1.0.json", &sarif);
    assert_eq!(sarif["runs"].as_array().unwrap().len(), 1);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[index]["id"], r["ruleId"],
            "ruleIndex points at its rule"
        );
    }
    assert!(results.iter().any(|r| r["ruleId"] == "migcheck/roundtrip"
        && r["properties"]["chain"] == "services/orders/migrations"));
    assert_eq!(sarif["runs"][0]["invocations"][0]["exitCode"], 1);

    let cq = read_json(&root.path().join("r/cq.json"));
    validate("gitlab-codequality.json", &cq);
    let paths: Vec<&str> = cq
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["location"]["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.contains("services/users/")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.contains("services/orders/")),
        "{paths:?}"
    );

    let md = std::fs::read_to_string(root.path().join("r/run.md")).unwrap();
    assert!(md.starts_with("# migcheck: 3 chains, ❌ FAIL"), "{md}");
    assert!(
        md.contains("| services/orders/migrations | golang-migrate | **fail** | 1 | 1 |"),
        "{md}"
    );
}

#[test]
fn chain_entries_in_migcheck_toml_on_mariadb_with_evidence_per_chain() {
    let root = tree(&[
        ("db/inventory", "mysql/golang-migrate/clean"),
        ("db/ledger", "mysql/broken/down-forgets-index"),
        ("legacy/schema", "mysql/dbmate/clean"),
    ]);
    std::fs::write(
        root.path().join("migcheck.toml"),
        "[[chain]]\npath = \"db/*\"\n\n[[chain]]\nname = \"legacy\"\npath = \"legacy/schema\"\nformat = \"dbmate\"\n",
    )
    .unwrap();
    let out = run_in(
        root.path(),
        &[
            "verify",
            "--engine",
            "mariadb",
            "--json",
            "run.json",
            "--evidence",
            "evidence",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let json = read_json(&root.path().join("run.json"));
    let names: Vec<&str> = json["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chain"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["db/inventory", "db/ledger", "legacy"]);
    assert_eq!(chain(&json, "db/inventory")["verdict"], "pass");
    assert_eq!(chain(&json, "legacy")["format"], "dbmate");
    assert_eq!(chain(&json, "legacy")["verdict"], "pass");
    assert_eq!(
        support::failing_checks(chain(&json, "db/ledger")),
        vec!["roundtrip:0004_add_order_reference"]
    );
    assert_eq!(chain(&json, "db/ledger")["engine"]["name"], "mariadb");

    // One evidence folder per chain; the parent is checked folder by folder.
    let evidence = root.path().join("evidence");
    for folder in ["db-inventory", "db-ledger", "legacy"] {
        assert!(
            evidence.join(folder).join("manifest.json").is_file(),
            "{folder}"
        );
    }
    let check = run_in(root.path(), &["evidence", "check", "evidence"]);
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
    let report = evidence.join("db-ledger/report.json");
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::write(&report, text.replace("\"fail\"", "\"pass\"")).unwrap();
    let check = run_in(root.path(), &["evidence", "check", "evidence"]);
    assert_eq!(check.status.code(), Some(1), "{}", describe(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("report.json"),
        "{}",
        describe(&check)
    );
}

#[test]
fn the_least_trustworthy_chain_sets_the_exit_code_and_every_chain_is_reported() {
    let root = tree(&[
        ("a", "postgres/broken/down-forgets-index"),
        ("b", "postgres/broken/non-utf8"),
    ]);
    let out = run_in(root.path(), &["verify", "a", "b", "--json", "run.json"]);
    // Bad input in one chain (exit 2) outranks the other's failed gate (exit 1).
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: b: "), "{stderr}");
    let json = read_json(&root.path().join("run.json"));
    assert_eq!(json["exit_code"], 2);
    assert_eq!(chain(&json, "a")["exit_code"], 1);
    assert_eq!(chain(&json, "b")["exit_code"], 2);
}

#[test]
fn several_chains_refuse_what_names_one_schema_and_nothing_is_bad_input() {
    let root = tree(&[
        ("a", "postgres/golang-migrate/clean"),
        ("b", "postgres/golang-migrate/clean"),
    ]);
    for args in [
        &["verify", "a", "b", "--expect-snapshot", "s.json"][..],
        &["verify", "a", "b", "--snapshot-out", "s.json"],
        &["verify", "a", "./a"],
        &["snapshot", "a", "b", "-o", "s.json"],
        &["verify"],
    ] {
        let out = run_in(root.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::write(
        root.path().join("migcheck.toml"),
        "[[chain]]\npath = \"a\"\nformt = \"goose\"\n",
    )
    .unwrap();
    let out = run_in(root.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("migcheck.toml:3: "), "{stderr}");
}

/// A chain whose every up takes a while, so that progress has something to show.
fn slow_chain(dir: &Path, migrations: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 1..=migrations {
        std::fs::write(
            dir.join(format!("{i:02}_t{i}.up.sql")),
            format!("CREATE TABLE t{i} (id int);\nSELECT pg_sleep(0.05);\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{i:02}_t{i}.down.sql")),
            format!("DROP TABLE t{i};\n"),
        )
        .unwrap();
    }
}

#[test]
fn a_terminal_shows_a_bar_per_chain_and_a_log_gets_plain_lines() {
    let root = tempfile::tempdir().unwrap();
    slow_chain(&root.path().join("a"), 8);
    slow_chain(&root.path().join("b"), 8);
    // `script` gives migcheck a terminal (util-linux, on every Debian system).
    let bin = env!("CARGO_BIN_EXE_migcheck");
    let mut cmd = std::process::Command::new("script");
    support::isolate(&mut cmd);
    let out = cmd
        .current_dir(root.path())
        .env("TERM", "xterm")
        .env("MIGCHECK_PROVIDER", "local")
        .args(["-qec", &format!("{bin} verify a b"), "/dev/null"])
        .output()
        .expect("run script(1)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for chain in ["a", "b"] {
        assert!(
            text.contains(&format!("{chain} [")) && text.contains("/8 verifying 0"),
            "no bar for {chain}:\n{text}"
        );
    }
    // Without a terminal: no bar, no escape sequences, the lines themselves are the progress.
    let plain = run_in(root.path(), &["verify", "a"]);
    let stdout = String::from_utf8_lossy(&plain.stdout);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(
        !stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'),
        "{stdout}{stderr}"
    );
    assert!(!stderr.contains("verifying"), "{stderr}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("✓ 0")).count(),
        8,
        "{stdout}"
    );
}
