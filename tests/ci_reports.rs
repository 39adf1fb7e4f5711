//! The reports CI systems read, end to end through the built binary: SARIF (validated against
//! the OASIS SARIF 2.1.0 schema), the Markdown summary, GitHub Actions annotations and step
//! summary, GitLab Code Quality (validated against a schema written from GitLab's documented
//! format), and the JUnit changes (gate-failing findings are failures, a run that could not
//! finish is an error). `verify` runs use migcheck's own local provider.
//!
//! Schemas: `tests/schemas/sarif-schema-2.1.0.json` is the OASIS SARIF 2.1.0 errata 01 schema
//! as published in the oasis-tcs/sarif-spec repository (sarif-2.1/schema/, commit a560296).
//! `tests/schemas/gitlab-codequality.json` is ours, see its `$comment`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SECRET: &str = "pw-Ci7Rq2Lm";

fn schema(name: &str) -> jsonschema::Validator {
    let path = support::repo_root().join("tests/schemas").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("schema parses");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name} is not a usable schema: {e}"))
}

fn assert_valid(schema_name: &str, text: &str) -> Value {
    let value: Value = serde_json::from_str(text).expect("the report is JSON");
    let validator = schema(schema_name);
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "does not validate against {schema_name}:\n{}\n--- report ---\n{text}",
        errors.join("\n")
    );
    value
}

/// A run with every report, in `cwd`, with extra environment.
struct Reports {
    output: Output,
    dir: tempfile::TempDir,
}

impl Reports {
    fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    fn describe(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", self.describe()))
    }
    fn sarif(&self) -> Value {
        assert_valid("sarif-schema-2.1.0.json", &self.read("out.sarif"))
    }
    fn codequality(&self) -> Vec<Value> {
        let v = assert_valid(
            "gitlab-codequality.json",
            &self.read("gl-code-quality.json"),
        );
        v.as_array().expect("an array").clone()
    }
    /// Every output a person or a CI system sees.
    fn everything(&self) -> String {
        let mut all = self.stdout() + &self.stderr();
        for name in [
            "out.sarif",
            "summary.md",
            "gl-code-quality.json",
            "junit.xml",
            "report.json",
            "step-summary.md",
        ] {
            all.push_str(&std::fs::read_to_string(self.path(name)).unwrap_or_default());
        }
        all
    }
}

fn run(command: &str, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Reports {
    let dir = tempfile::tempdir().expect("temp dir for reports");
    let mut cmd: Command = support::migcheck();
    cmd.arg(command).args(args).current_dir(cwd);
    for (flag, name) in [
        ("--sarif", "out.sarif"),
        ("--markdown", "summary.md"),
        ("--gitlab-codequality", "gl-code-quality.json"),
        ("--junit", "junit.xml"),
        ("--json", "report.json"),
    ] {
        cmd.arg(flag).arg(dir.path().join(name));
    }
    for var in [
        "GITHUB_ACTIONS",
        "GITHUB_WORKSPACE",
        "GITHUB_STEP_SUMMARY",
        "CI_PROJECT_DIR",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v.replace("{reports}", &dir.path().display().to_string()));
    }
    let output = cmd.output().expect("run the migcheck binary");
    Reports { output, dir }
}

/// A git repository (really `git init`) holding `fixture` under `db/migrations`.
fn repo_with(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let repo = std::fs::canonicalize(tmp.path()).unwrap().join("repo");
    let migrations = repo.join("db/migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    for entry in std::fs::read_dir(support::fixture(fixture)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), migrations.join(entry.file_name())).unwrap();
    }
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&repo)
        .output()
        .expect("git must be installed for these tests (apt-get install git)");
    assert!(git.status.success(), "{git:?}");
    (tmp, repo)
}

fn rule_count() -> usize {
    let out = support::migcheck().arg("rules").output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn results(sarif: &Value) -> Vec<Value> {
    sarif["runs"][0]["results"].as_array().unwrap().clone()
}

fn uri(result: &Value) -> &str {
    result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn failed_round_trip_in_every_ci_report() {
    let (_tmp, repo) = repo_with("postgres/broken/down-forgets-index");
    let summary_file = repo.join("step-summary.md");
    std::fs::write(&summary_file, "# an earlier step\n").unwrap();
    // Run from a subfolder: paths are still relative to the repository's top level.
    let run = run(
        "verify",
        &["migrations", "--provider", "local"],
        &repo.join("db"),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_WORKSPACE", repo.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary_file.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    let down = "db/migrations/0004_add_order_reference.down.sql";
    let up = "db/migrations/0004_add_order_reference.up.sql";

    // SARIF
    let sarif = run.sarif();
    let run0 = &sarif["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    let lint_rules = rules
        .iter()
        .filter(|r| !r["id"].as_str().unwrap().starts_with("migcheck/"))
        .count();
    assert_eq!(
        lint_rules,
        rule_count(),
        "one rule per `migcheck rules` line"
    );
    assert_eq!(
        run0["originalUriBaseIds"]["%SRCROOT%"]["uri"],
        format!("file://{}/", repo.display())
    );
    let all = results(&sarif);
    let rt = all
        .iter()
        .find(|r| r["ruleId"] == "migcheck/roundtrip")
        .expect("a roundtrip result");
    assert_eq!(rt["level"], "error");
    assert_eq!(uri(rt), down);
    assert_eq!(
        rt["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"],
        "%SRCROOT%"
    );
    assert!(rt["message"]["text"]
        .as_str()
        .unwrap()
        .contains("orders_created_at_idx"));
    let idx = all
        .iter()
        .find(|r| r["ruleId"] == "create-index-non-concurrently")
        .expect("the index finding");
    assert_eq!(idx["level"], "warning");
    assert_eq!(idx["baselineState"], "new");
    assert_eq!(uri(idx), up);
    let region = &idx["locations"][0]["physicalLocation"]["region"];
    let json: Value = serde_json::from_str(&run.read("report.json")).unwrap();
    let in_json = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "create-index-non-concurrently")
        .unwrap();
    assert_eq!(region["startLine"], 2);
    assert_eq!(region["startColumn"], in_json["column"]);
    let rule_index = idx["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[rule_index]["id"], "create-index-non-concurrently");
    assert!(rules[rule_index]["help"]["text"]
        .as_str()
        .unwrap()
        .contains("CONCURRENTLY"));
    assert_eq!(run0["invocations"][0]["executionSuccessful"], true);

    // Markdown, and the same summary appended to the step summary.
    let md = run.read("summary.md");
    assert!(md.starts_with("## ❌ migcheck verify: FAIL"), "{md}");
    assert!(
        md.contains("| `0004_add_order_reference` | ✅ pass | ❌ fail |"),
        "{md}"
    );
    assert!(
        md.contains("### ❌ roundtrip · `0004_add_order_reference`"),
        "{md}"
    );
    assert!(md.contains("<details><summary>schema diff"), "{md}");
    assert!(
        md.contains("+table public.orders > index orders_created_at_idx"),
        "{md}"
    );
    assert!(
        md.contains(&format!("`{up}:2:{}`", in_json["column"])),
        "{md}"
    );
    let step = std::fs::read_to_string(&summary_file).unwrap();
    assert_eq!(
        step,
        format!("# an earlier step\n\n{md}"),
        "appended, never truncated"
    );

    // Annotations
    let out = run.stdout();
    let annotations: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
    assert!(
        annotations.iter().any(|l| l.starts_with(&format!(
            "::error file={down},title=migcheck roundtrip%3A 0004_add_order_reference::"
        ))),
        "{out}"
    );
    assert!(
        annotations.iter().any(|l| l.starts_with(&format!(
            "::warning file={up},line=2,col={},title=migcheck warning[create-index-non-concurrently]::",
            in_json["column"]
        ))),
        "{out}"
    );

    // GitLab Code Quality
    let cq = run.codequality();
    let blocker = cq
        .iter()
        .find(|i| i["check_name"] == "migcheck/roundtrip")
        .expect("roundtrip issue");
    assert_eq!(blocker["severity"], "blocker");
    assert_eq!(blocker["location"]["path"], down);
    let major = cq
        .iter()
        .find(|i| i["check_name"] == "create-index-non-concurrently")
        .expect("index issue");
    assert_eq!(major["severity"], "major");
    assert_eq!(major["location"]["path"], up);
    assert_eq!(major["location"]["lines"]["begin"], 2);

    // JUnit: the failed round trip is a failure, the warning below the gate is not.
    support::validate_junit(&run.path("junit.xml")).unwrap();
    let xml = run.read("junit.xml");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(!xml.contains("<error"), "{xml}");
}

#[test]
fn fingerprints_survive_an_unrelated_edit() {
    let (_tmp, repo) = repo_with("postgres/broken/down-forgets-index");
    let fingerprints = |run: &Reports| -> Vec<(String, String, u64)> {
        let sarif = run.sarif();
        let mut out: Vec<(String, String, u64)> = results(&sarif)
            .iter()
            .filter(|r| r["ruleId"] == "create-index-non-concurrently")
            .map(|r| {
                (
                    r["partialFingerprints"]["migcheck/v1"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    uri(r).to_string(),
                    r["locations"][0]["physicalLocation"]["region"]["startLine"]
                        .as_u64()
                        .unwrap(),
                )
            })
            .collect();
        let cq: Vec<String> = run
            .codequality()
            .iter()
            .filter(|i| i["check_name"] == "create-index-non-concurrently")
            .map(|i| i["fingerprint"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(cq, out.iter().map(|o| o.0.clone()).collect::<Vec<_>>());
        out.sort();
        out
    };
    let lint = |cwd: &Path| run("lint", &["db/migrations"], cwd, &[]);
    let before = lint(&repo);
    assert_eq!(before.code(), 0, "{}", before.describe());
    let first = fingerprints(&before);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].2, 2);
    // The same run again gives the same identities.
    assert_eq!(fingerprints(&lint(&repo)), first);
    // An edit above the statement moves it, and changes nothing else.
    let file = repo.join("db/migrations/0004_add_order_reference.up.sql");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("-- reviewed\n-- twice\n{text}")).unwrap();
    let moved = fingerprints(&lint(&repo));
    assert_eq!(moved[0].2, 4, "the line moved");
    assert_eq!(moved[0].0, first[0].0, "the fingerprint did not");
    // From another working directory the repository-relative identity is the same.
    let from_sub = fingerprints(&run("lint", &["migrations"], &repo.join("db"), &[]));
    assert_eq!(from_sub[0].0, first[0].0);
    assert_eq!(from_sub[0].1, first[0].1);
}

#[test]
fn environment_error_is_a_junit_error_and_no_report_shows_the_password() {
    let (_tmp, repo) = repo_with("postgres/golang-migrate/clean");
    let url = format!("postgres://alice:{SECRET}@127.0.0.1:1/postgres");
    let run = run(
        "verify",
        &["db/migrations", "--provider", "url", "--url", &url],
        &repo,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", "{reports}/step-summary.md"),
        ],
    );
    assert_eq!(run.code(), 3, "{}", run.describe());
    assert!(
        !run.everything().contains(SECRET),
        "password leaked:\n{}",
        run.everything()
    );

    support::validate_junit(&run.path("junit.xml")).unwrap();
    let xml = run.read("junit.xml");
    assert!(xml.contains("<error type=\"migcheck.provision\""), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");

    let sarif = run.sarif();
    let inv = &sarif["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false);
    assert_eq!(inv["exitCode"], 3);
    assert_eq!(
        inv["toolExecutionNotifications"][0]["descriptor"]["id"],
        "migcheck/provision"
    );
    assert!(
        !results(&sarif)
            .iter()
            .any(|r| r["ruleId"] == "migcheck/provision"),
        "a broken environment is not a code-scanning alert"
    );

    let md = run.read("summary.md");
    assert!(
        md.contains("exit 3 (no database could be started or reached)"),
        "{md}"
    );
    assert!(
        md.contains("### 🚫 provision (the run could not finish)"),
        "{md}"
    );
    assert!(
        md.contains("alice:\\*\\*\\*@127.0.0.1:1"),
        "escaped, as Markdown: {md}"
    );
    assert_eq!(run.read("step-summary.md"), md);
    assert!(
        run.stdout()
            .contains("::error title=migcheck provision%3A the run could not finish::"),
        "{}",
        run.describe()
    );
    let cq = run.codequality();
    assert!(cq.iter().any(|i| i["check_name"] == "migcheck/provision"
        && i["severity"] == "blocker"
        && i["location"]["path"] == "db/migrations"));
}

#[test]
fn bad_input_is_a_junit_error_too() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run(
        "verify",
        &["does/not/exist", "--provider", "local"],
        tmp.path(),
        &[],
    );
    assert_eq!(run.code(), 2, "{}", run.describe());
    support::validate_junit(&run.path("junit.xml")).unwrap();
    let xml = run.read("junit.xml");
    assert!(xml.contains("<error "), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
    assert_eq!(run.sarif()["runs"][0]["invocations"][0]["exitCode"], 2);
    assert!(run
        .read("summary.md")
        .contains("exit 2 (bad input or usage)"));
}

#[test]
fn lint_writes_every_ci_report_and_junit_follows_fail_on() {
    let chain = support::repo_root().join("fixtures/lint/chains/pg/migrations");
    let chain = chain.to_str().unwrap();
    let gate_error = run("lint", &[chain], &support::repo_root(), &[]);
    assert_eq!(gate_error.code(), 1, "{}", gate_error.describe());
    let gate_warning = run(
        "lint",
        &[chain, "--fail-on", "warning"],
        &support::repo_root(),
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(gate_warning.code(), 1);

    for r in [&gate_error, &gate_warning] {
        support::validate_junit(&r.path("junit.xml")).unwrap();
        let sarif = r.sarif();
        let found = results(&sarif);
        assert_eq!(found.len(), 3, "{found:#?}");
        for f in &found {
            assert!(
                uri(f).starts_with("fixtures/lint/chains/pg/migrations/"),
                "relative to the repository: {}",
                uri(f)
            );
        }
        assert_eq!(r.codequality().len(), 3);
        assert!(r
            .read("summary.md")
            .starts_with("## ❌ migcheck lint: FAIL"));
    }
    // One error and two warnings, each its own test case: only what fails the gate is red.
    let failures = |r: &Reports| r.read("junit.xml").matches("<failure").count();
    assert_eq!(failures(&gate_error), 1);
    assert_eq!(failures(&gate_warning), 3);
    let json: Value = serde_json::from_str(&gate_warning.read("report.json")).unwrap();
    assert_eq!(json["options"]["fail_on"], "warning");
    // GitHub: the error first, then the warnings, all below GitHub's caps.
    let out = gate_warning.stdout();
    let annotations: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations.len(), 3, "{out}");
    assert!(annotations[0].starts_with("::error file=fixtures/lint/chains/pg/migrations/0003_add_status.up.sql,line=1,col=30,title=migcheck error[add-column-not-null-without-default] fails the gate::"), "{out}");
    assert!(annotations[1].starts_with("::warning "), "{out}");
    assert!(annotations[1].contains("fails the gate::"), "{out}");
}

#[test]
fn clean_chain_reports_pass() {
    let (_tmp, repo) = repo_with("postgres/golang-migrate/clean");
    let run = run(
        "verify",
        &["db/migrations", "--provider", "local"],
        &repo,
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    let sarif = run.sarif();
    assert!(results(&sarif).iter().all(|r| r["level"] != "error"));
    assert_eq!(sarif["runs"][0]["invocations"][0]["exitCode"], 0);
    let md = run.read("summary.md");
    assert!(md.starts_with("## ✅ migcheck verify: PASS"), "{md}");
    assert!(
        md.contains("| `000007_reporting_and_row_security` | ✅ pass | ✅ pass |"),
        "{md}"
    );
    assert!(run.codequality().iter().all(|i| i["severity"] != "blocker"));
    assert!(
        !run.stdout().lines().any(|l| l.starts_with("::")),
        "no annotations outside GitHub Actions: {}",
        run.stdout()
    );
}

#[test]
fn unwritable_ci_report_paths_are_bad_input_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--sarif", "--markdown", "--gitlab-codequality"] {
        for command in ["verify", "lint"] {
            let mut cmd = support::migcheck();
            cmd.args([command, "fixtures/postgres/golang-migrate/clean"]);
            if command == "verify" {
                cmd.args(["--provider", "local"]);
            }
            let out = cmd
                .arg(flag)
                .arg(dir.path())
                .current_dir(support::repo_root())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {flag}: {err}");
            assert!(
                err.contains(flag) && err.contains("is a directory"),
                "{err}"
            );
            assert!(!err.contains("starting"), "no server is started: {err}");
        }
    }
}

/// The schemas are not vacuous: documents their consumers would reject fail them.
#[test]
fn schemas_reject_what_consumers_would_reject() {
    let sarif = schema("sarif-schema-2.1.0.json");
    for bad in [
        r#"{"version": "2.0.0", "runs": []}"#,
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}"#,
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "level": "fatal"}]}]}"#,
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "baselineState": "old"}]}]}"#,
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "locations": [{"physicalLocation": {"region": {"startLine": 0}}}]}]}]}"#,
    ] {
        let v: Value = serde_json::from_str(bad).unwrap();
        assert!(!sarif.is_valid(&v), "SARIF schema accepted {bad}");
    }
    let ok: Value = serde_json::from_str(
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}}]}]}"#,
    )
    .unwrap();
    assert!(sarif.is_valid(&ok));
    let cq = schema("gitlab-codequality.json");
    for bad in [
        r#"[{"description": "d", "check_name": "c", "fingerprint": "f", "severity": "high", "location": {"path": "p", "lines": {"begin": 1}}}]"#,
        r#"[{"description": "d", "check_name": "c", "severity": "info", "location": {"path": "p", "lines": {"begin": 1}}}]"#,
        r#"[{"description": "d", "check_name": "c", "fingerprint": "f", "severity": "info", "location": {"path": "p"}}]"#,
    ] {
        let v: Value = serde_json::from_str(bad).unwrap();
        assert!(!cq.is_valid(&v), "Code Quality schema accepted {bad}");
    }
}
