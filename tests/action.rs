//! The GitHub Action (`action.yml`, `scripts/action/run.sh`), the project's workflow and the
//! GitLab and Jenkins templates, checked the way far as a machine without GitHub or GitLab can:
//!
//! - every YAML file parses (YAML 1.2, as GitHub reads it);
//! - no `run:` script of the action interpolates an expression (script injection), and every
//!   input reaches the script through `env:` only;
//! - the action's run step is executed as GitHub executes a composite `bash` step (its script
//!   text in a file, `bash --noprofile --norc -eo pipefail FILE`), with the environment GitHub
//!   gives it (each mapped `INPUT_*`, defaults included, `GITHUB_OUTPUT`,
//!   `GITHUB_STEP_SUMMARY`, `GITHUB_ACTIONS=true`, `GITHUB_WORKSPACE`, `GITHUB_ACTION_PATH`),
//!   and the migcheck binary built for the tests, on real chains with a real local PostgreSQL;
//! - inputs holding shell metacharacters stay data.
//!
//! The build and cache steps (cargo install, actions/cache) are not run here.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yaml_rust2::{Yaml, YamlLoader};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parse one repository file holding one YAML document.
fn yaml(rel: &str) -> Yaml {
    let text = read(&support::repo_root().join(rel));
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{rel} does not parse as YAML: {e}"));
    assert_eq!(docs.len(), 1, "{rel}: expected one YAML document");
    docs.remove(0)
}

fn string<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {y:?}"))
}

/// A mapping's entries as (key, value), keys as strings.
fn entries<'a>(y: &'a Yaml, what: &str) -> Vec<(String, &'a Yaml)> {
    y.as_hash()
        .unwrap_or_else(|| panic!("{what}: expected a mapping, got {y:?}"))
        .iter()
        .map(|(k, v)| (string(k, what).to_string(), v))
        .collect()
}

fn steps<'a>(y: &'a Yaml, what: &str) -> &'a Vec<Yaml> {
    y.as_vec()
        .unwrap_or_else(|| panic!("{what}: expected a list of steps, got {y:?}"))
}

/// A step's `env:` as strings (empty when it has none).
fn step_env(step: &Yaml, what: &str) -> BTreeMap<String, String> {
    match &step["env"] {
        Yaml::BadValue => BTreeMap::new(),
        env => entries(env, what)
            .into_iter()
            .map(|(k, v)| (k, string(v, what).to_string()))
            .collect(),
    }
}

/// `${{ inputs.NAME }}` → NAME.
fn input_reference(value: &str) -> Option<&str> {
    value
        .trim()
        .strip_prefix("${{")?
        .strip_suffix("}}")?
        .trim()
        .strip_prefix("inputs.")
}

/// What the tests need from action.yml.
struct Action {
    /// Input name → its default ("" when none).
    inputs: BTreeMap<String, String>,
    outputs: Vec<String>,
    /// The `run` step: its script text and its `env:` mapping.
    run_script: String,
    run_env: BTreeMap<String, String>,
}

fn action() -> Action {
    let doc = yaml("action.yml");
    let inputs = entries(&doc["inputs"], "action.yml inputs")
        .into_iter()
        .map(|(name, spec)| {
            let default = match &spec["default"] {
                Yaml::BadValue | Yaml::Null => String::new(),
                d => string(d, &format!("default of input {name}")).to_string(),
            };
            (name, default)
        })
        .collect();
    let outputs = entries(&doc["outputs"], "action.yml outputs")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let run = steps(&doc["runs"]["steps"], "action.yml runs.steps")
        .iter()
        .find(|s| s["id"].as_str() == Some("run"))
        .expect("action.yml has a step with id `run`");
    Action {
        inputs,
        outputs,
        run_script: string(&run["run"], "the run step's script").to_string(),
        run_env: step_env(run, "the run step's env"),
    }
}

#[test]
fn action_scripts_interpolate_nothing_and_every_input_goes_through_env() {
    let doc = yaml("action.yml");
    let text = read(&support::repo_root().join("action.yml"));
    assert_eq!(string(&doc["runs"]["using"], "runs.using"), "composite");

    let mut env_references = 0;
    for (i, step) in steps(&doc["runs"]["steps"], "runs.steps")
        .iter()
        .enumerate()
    {
        let what = format!("action.yml step {i} ({:?})", step["name"]);
        if let Some(script) = step["run"].as_str() {
            assert_eq!(
                step["shell"].as_str(),
                Some("bash"),
                "{what}: composite run steps need `shell: bash`"
            );
            // Stricter than `${{ inputs.`: no expression at all is expanded into a script;
            // the scripts read GITHUB_ACTION_PATH and their env.
            assert!(
                !script.contains("${{"),
                "{what}: an expression inside a run script (script injection): {script}"
            );
        } else {
            let uses = string(&step["uses"], &format!("{what}: uses"));
            assert!(
                uses.contains("@v"),
                "{what}: `{uses}` is not pinned to a major version"
            );
            for (key, value) in entries(&step["with"], &format!("{what}: with")) {
                assert!(
                    !value.as_str().unwrap_or("").contains("${{ inputs."),
                    "{what}: input given to another action's `{key}`"
                );
            }
        }
        for value in step_env(step, &what).values() {
            if input_reference(value).is_some() {
                env_references += 1;
            }
        }
    }
    // Every `${{ inputs.` in the file is one of those env values (none hides in an `if:`,
    // a `with:` or a script).
    assert_eq!(
        text.matches("${{ inputs.").count(),
        env_references,
        "action.yml uses inputs outside env mappings"
    );

    let action = action();
    assert!(
        action.run_script.contains("scripts/action/run.sh"),
        "the run step runs scripts/action/run.sh: {}",
        action.run_script
    );
    let script = read(&support::repo_root().join("scripts/action/run.sh"));
    let code: Vec<&str> = script
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let code = code.join("\n");
    for name in action.inputs.keys() {
        let var = format!("INPUT_{}", name.to_uppercase().replace('-', "_"));
        let value = action
            .run_env
            .get(&var)
            .unwrap_or_else(|| panic!("input `{name}` is not passed to the run step as {var}"));
        assert_eq!(
            input_reference(value),
            Some(name.as_str()),
            "{var} holds {value}, not input `{name}`"
        );
        assert!(
            code.contains(&format!("${{{var}")) || code.contains(&format!("${var}")),
            "scripts/action/run.sh never reads {var} (input `{name}`)"
        );
    }
    // No INPUT_ variable without an input behind it.
    for (var, value) in &action.run_env {
        if var.starts_with("INPUT_") {
            let name = input_reference(value)
                .unwrap_or_else(|| panic!("{var} is not an input reference: {value}"));
            assert!(action.inputs.contains_key(name), "{var}: no input `{name}`");
        }
    }
    assert_eq!(
        action.run_env.get("MIGCHECK_BIN").map(String::as_str),
        Some("${{ steps.prepare.outputs.bin }}"),
        "the run step gets the built binary as MIGCHECK_BIN"
    );
    for (name, spec) in entries(&doc["outputs"], "outputs") {
        assert_eq!(
            string(&spec["value"], &format!("output {name}")),
            format!("${{{{ steps.run.outputs.{name} }}}}"),
            "output `{name}` comes from the run step"
        );
    }
    for name in [
        "verdict",
        "exit-code",
        "json",
        "junit",
        "sarif",
        "markdown",
        "evidence",
    ] {
        assert!(
            action.outputs.iter().any(|o| o == name),
            "no output `{name}`"
        );
    }
}

#[test]
fn project_workflow_and_ci_templates_parse() {
    // The project's workflow: the jobs the README promises, and the same rule on scripts.
    let workflow = yaml(".github/workflows/ci.yml");
    assert!(
        !workflow["on"].is_badvalue(),
        "ci.yml: `on` is a key (YAML 1.2)"
    );
    let jobs = entries(&workflow["jobs"], "ci.yml jobs");
    let job_names: Vec<&str> = jobs.iter().map(|(k, _)| k.as_str()).collect();
    for wanted in ["style", "test", "action"] {
        assert!(
            job_names.contains(&wanted),
            "ci.yml has no job `{wanted}`: {job_names:?}"
        );
    }
    let mut all_runs = String::new();
    for (job, spec) in &jobs {
        for step in steps(&spec["steps"], &format!("ci.yml job {job}")) {
            if let Some(script) = step["run"].as_str() {
                assert!(
                    !script.contains("${{"),
                    "ci.yml job {job}: an expression inside a run script: {script}"
                );
                all_runs.push_str(script);
                all_runs.push('\n');
            }
        }
    }
    for wanted in [
        "cargo fmt --all -- --check",
        "cargo clippy --all-targets --locked -- -D warnings",
        "bash .ci/run",
    ] {
        assert!(all_runs.contains(wanted), "ci.yml never runs `{wanted}`");
    }
    let action_steps = steps(&workflow["jobs"]["action"]["steps"], "ci.yml job action");
    let uses_here: Vec<&Yaml> = action_steps
        .iter()
        .filter(|s| s["uses"].as_str() == Some("./"))
        .collect();
    assert!(
        uses_here.len() >= 2,
        "the action job runs the action from the checkout"
    );
    let broken = uses_here
        .iter()
        .find(|s| {
            s["with"]["path"]
                .as_str()
                .is_some_and(|p| p.contains("down-forgets-index"))
        })
        .expect("the action job runs the broken fixture");
    assert_eq!(broken["continue-on-error"].as_bool(), Some(true));

    // GitLab: the hidden job a project extends.
    let gitlab = yaml("ci/gitlab/migcheck.gitlab-ci.yml");
    let job = &gitlab[".migcheck"];
    assert!(
        !job.is_badvalue(),
        "the GitLab template defines `.migcheck`"
    );
    let services = job["services"].as_vec().expect(".migcheck services");
    assert!(
        services.iter().any(|s| {
            s["name"].as_str().is_some_and(|n| n.contains("dind"))
                && s["alias"].as_str() == Some("docker")
        }),
        "a docker:dind service aliased docker"
    );
    let variables: BTreeMap<String, String> = entries(&job["variables"], ".migcheck variables")
        .into_iter()
        .map(|(k, v)| (k, string(v, "a GitLab variable").to_string()))
        .collect();
    for (name, value) in [
        ("DOCKER_HOST", Some("tcp://docker:2375")),
        ("DOCKER_TLS_CERTDIR", Some("")),
        ("GIT_DEPTH", Some("0")),
        ("MIGCHECK_PATHS", None),
        ("MIGCHECK_ENGINE", None),
        ("MIGCHECK_ARGS", None),
        ("MIGCHECK_INSTALL", None),
    ] {
        let got = variables
            .get(name)
            .unwrap_or_else(|| panic!(".migcheck has no variable {name}"));
        if let Some(value) = value {
            assert_eq!(got, value, "variable {name}");
        }
    }
    let script: Vec<&str> = job["script"]
        .as_vec()
        .expect(".migcheck script")
        .iter()
        .map(|l| string(l, "a script line"))
        .collect();
    let script = script.join("\n");
    for wanted in [
        "$MIGCHECK_PATHS",
        "$MIGCHECK_ARGS",
        "--junit migcheck.xml",
        "--gitlab-codequality gl-code-quality.json",
        "--json migcheck.json",
    ] {
        assert!(
            script.contains(wanted),
            "the GitLab script lacks `{wanted}`"
        );
    }
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"].as_str(), Some("always"));
    assert_eq!(artifacts["reports"]["junit"].as_str(), Some("migcheck.xml"));
    assert_eq!(
        artifacts["reports"]["codequality"].as_str(),
        Some("gl-code-quality.json")
    );
    assert!(
        artifacts["paths"]
            .as_vec()
            .is_some_and(|p| p.iter().any(|p| p.as_str() == Some("migcheck.json"))),
        "the JSON report is archived"
    );

    // Jenkins: no Groovy parser here; the file exists and names the steps it is for.
    let jenkinsfile = read(&support::repo_root().join("ci/jenkins/Jenkinsfile"));
    for wanted in [
        "pipeline {",
        "junit ",
        "archiveArtifacts",
        "migcheck cleanup",
        "migcheck verify",
    ] {
        assert!(
            jenkinsfile.contains(wanted),
            "the Jenkinsfile lacks `{wanted}`"
        );
    }
    assert_eq!(
        jenkinsfile.matches('{').count(),
        jenkinsfile.matches('}').count(),
        "the Jenkinsfile's braces are balanced"
    );
}

/// What one execution of the action's run step produced.
struct StepRun {
    output: Output,
    /// `$GITHUB_OUTPUT` parsed as the runner parses it.
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl StepRun {
    fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn out(&self, name: &str) -> &str {
        self.outputs.get(name).unwrap_or_else(|| {
            panic!(
                "no output `{name}`: {:?}\n{}",
                self.outputs,
                self.describe()
            )
        })
    }

    fn describe(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

/// `name=value` lines and `name<<DELIMITER` blocks, as the runner reads `$GITHUB_OUTPUT`.
fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        let equals = line.find('=');
        match (heredoc, equals) {
            (Some(h), e) if e.is_none_or(|e| h < e) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                let mut value = Vec::new();
                loop {
                    let l = lines.next().unwrap_or_else(|| {
                        panic!("GITHUB_OUTPUT: {name} is never closed by {delimiter}")
                    });
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                outputs.insert(name.to_string(), value.join("\n"));
            }
            (_, Some(e)) => {
                outputs.insert(line[..e].to_string(), line[e + 1..].to_string());
            }
            _ => panic!("GITHUB_OUTPUT: a line that is neither form: {line:?}"),
        }
    }
    outputs
}

/// Run the action's `run` step as GitHub runs a composite `bash` step, in `workspace` (the
/// step's working directory), with `given` inputs (by input name) and every other input at
/// its default.
fn run_step(workspace: &Path, given: &[(&str, &str)]) -> StepRun {
    let action = action();
    for (name, _) in given {
        assert!(action.inputs.contains_key(*name), "no input `{name}`");
    }
    let github = tempfile::tempdir().expect("temp dir for the runner's files");
    let script = github.path().join("step.sh");
    std::fs::write(&script, &action.run_script).unwrap();
    let output_file = github.path().join("github_output");
    let summary_file = github.path().join("step_summary");
    std::fs::write(&output_file, "").unwrap();
    std::fs::write(&summary_file, "").unwrap();

    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(workspace);
    support::isolate(&mut cmd);
    // Nothing of a CI system running these tests leaks in: GitHub's and the runner's
    // variables, inputs, a base to judge against.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("GITHUB_") || key.starts_with("RUNNER_") || key.starts_with("INPUT_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("MIGCHECK_SINCE")
        .env_remove("CI_MERGE_REQUEST_DIFF_BASE_SHA")
        .env_remove("CHANGE_TARGET")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_STEP_SUMMARY", &summary_file)
        .env("GITHUB_WORKSPACE", workspace)
        .env("GITHUB_ACTION_PATH", support::repo_root());
    // The step's env: block, with the expressions GitHub would have evaluated.
    for (var, value) in &action.run_env {
        let value = if let Some(name) = input_reference(value) {
            given
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| action.inputs[name].clone())
        } else if var == "MIGCHECK_BIN" {
            env!("CARGO_BIN_EXE_migcheck").to_string()
        } else {
            panic!("the run step's {var} = {value}: the test does not know what GitHub gives")
        };
        cmd.env(var, value);
    }
    let output = cmd.output().expect("run bash");
    StepRun {
        output,
        outputs: parse_github_output(&read(&output_file)),
        summary: read(&summary_file),
    }
}

/// A workspace holding `fixture` as `project/migrations`.
fn workspace_with(fixture: &str) -> tempfile::TempDir {
    let workspace = tempfile::tempdir().expect("temp workspace");
    support::copy_dir(
        &support::fixture(fixture),
        &workspace.path().join("project/migrations"),
    );
    workspace
}

/// The inputs both round-trip runs give: every report, relative to the working directory.
const REPORT_INPUTS: [(&str, &str); 7] = [
    ("working-directory", "project"),
    ("path", "migrations"),
    ("engine", "postgres"),
    ("provider", "local"),
    ("json", "reports/migcheck.json"),
    ("junit", "reports/migcheck.xml"),
    ("sarif", "reports/migcheck.sarif"),
];

fn report_inputs() -> Vec<(&'static str, &'static str)> {
    let mut inputs = REPORT_INPUTS.to_vec();
    inputs.push(("markdown", "reports/summary.md"));
    inputs.push(("evidence", "evidence"));
    inputs
}

fn json_report(path: &str) -> serde_json::Value {
    serde_json::from_str(&read(Path::new(path))).expect("the JSON report parses")
}

#[test]
fn action_step_on_a_clean_chain_passes_and_sets_its_outputs() {
    let workspace = workspace_with("postgres/golang-migrate/clean");
    let project = workspace.path().join("project");
    let run = run_step(workspace.path(), &report_inputs());
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(run.out("verdict"), "pass");
    assert_eq!(run.out("exit-code"), "0");
    for name in action().outputs {
        run.out(&name);
    }
    for (name, rel) in [
        ("json", "reports/migcheck.json"),
        ("junit", "reports/migcheck.xml"),
        ("sarif", "reports/migcheck.sarif"),
        ("markdown", "reports/summary.md"),
        ("evidence", "evidence"),
    ] {
        let expected: PathBuf = project.join(rel);
        assert_eq!(
            Path::new(run.out(name)),
            expected,
            "output `{name}` is the report's absolute path"
        );
        assert!(expected.exists(), "{} was not written", expected.display());
    }
    assert!(project.join("evidence/manifest.json").is_file());
    let report = json_report(run.out("json"));
    assert_eq!(report["verdict"], "pass");
    assert_eq!(
        report["provider"]["name"], "local",
        "--provider local reached migcheck"
    );
    assert_eq!(report["engine"]["name"], "postgres");
    support::validate_junit(Path::new(run.out("junit"))).expect("the JUnit report validates");

    // GITHUB_ACTIONS, GITHUB_WORKSPACE and GITHUB_STEP_SUMMARY reached migcheck: annotations
    // relative to the workspace, the summary appended.
    let stdout = run.stdout();
    assert!(
        stdout.contains("::warning file=project/migrations/000006_evolve_order_status.up.sql"),
        "no annotation relative to the workspace\n{}",
        run.describe()
    );
    assert!(
        run.summary.contains("migcheck verify: PASS"),
        "the step summary: {}",
        run.summary
    );
    // The command line is printed, quoted as a shell would need it.
    assert!(
        stdout.contains("migcheck verify --engine=postgres --provider=local"),
        "{}",
        run.describe()
    );
}

#[test]
fn action_step_on_a_down_that_forgets_an_index_fails_the_gate() {
    let workspace = workspace_with("postgres/broken/down-forgets-index");
    let run = run_step(workspace.path(), &REPORT_INPUTS);
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert_eq!(run.out("verdict"), "fail");
    assert_eq!(run.out("exit-code"), "1");
    let report = json_report(run.out("json"));
    assert_eq!(report["verdict"], "fail");
    assert_eq!(
        support::failing_checks(&report),
        ["roundtrip:0004_add_order_reference"]
    );
    let junit = read(Path::new(run.out("junit")));
    assert!(
        junit.contains("<failure"),
        "the JUnit report has the failure"
    );
    // Not asked for: outputs empty, nothing written.
    assert_eq!(run.out("markdown"), "");
    assert_eq!(run.out("evidence"), "");
    assert!(
        run.stdout()
            .contains("::error file=project/migrations/0004_add_order_reference.down.sql"),
        "{}",
        run.describe()
    );
    assert!(
        run.summary.contains("0004_add_order_reference"),
        "{}",
        run.summary
    );
}

#[test]
fn action_step_verifies_several_chains_in_one_run() {
    let workspace = tempfile::tempdir().unwrap();
    for (to, fixture) in [
        ("project/services/a", "postgres/golang-migrate/clean"),
        ("project/services/b", "postgres/broken/down-forgets-index"),
    ] {
        support::copy_dir(&support::fixture(fixture), &workspace.path().join(to));
    }
    let run = run_step(
        workspace.path(),
        &[
            ("working-directory", "project"),
            ("path", "services/a\nservices/b\n"),
            ("provider", "local"),
            ("json", "migcheck.json"),
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert_eq!(run.out("verdict"), "fail");
    let report = json_report(run.out("json"));
    let chains: Vec<(&str, &str)> = report["chains"]
        .as_array()
        .expect("one report naming each chain")
        .iter()
        .map(|c| (c["chain"].as_str().unwrap(), c["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(chains, [("services/a", "pass"), ("services/b", "fail")]);
    assert!(
        run.stdout()
            .contains("title=[services/b] migcheck roundtrip"),
        "{}",
        run.describe()
    );
    assert!(
        run.summary.starts_with("# migcheck: 2 chains"),
        "{}",
        run.summary
    );
}

/// Every file or folder under `dir` whose name starts with `pwned`.
fn pwned(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with("pwned") {
            found.push(path.clone());
        }
        if path.is_dir() {
            found.extend(pwned(&path));
        }
    }
    found
}

#[test]
fn inputs_with_shell_metacharacters_stay_one_argument_and_never_run() {
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path();
    let marker = |name: &str| ws.join(name).display().to_string();

    // A path with `;`, spaces and a command, given as a block (`path: |`): one line, one path.
    let path = format!("x; touch {}", marker("pwned-semicolon"));
    let run = run_step(
        ws,
        &[("path", &format!("{path}\n")), ("json", "report.json")],
    );
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert_eq!(run.out("verdict"), "error");
    assert_eq!(run.out("exit-code"), "2");
    let report = read(&ws.join("report.json"));
    assert!(
        report.contains(&serde_json::to_string(&path).unwrap()),
        "migcheck got `{path}` as one argument: {report}"
    );
    assert!(
        run.stderr()
            .contains(&format!("{path}: migrations folder does not exist")),
        "{}",
        run.describe()
    );

    // On one line, without spaces: `$(…)`, backquotes, `&&`, `|`, `>` are characters of a path.
    let path = format!(
        "chain$(touch${{IFS}}{})&&`touch${{IFS}}{}`|tee>{}",
        marker("pwned-subst"),
        marker("pwned-backquote"),
        marker("pwned-redirect")
    );
    let run = run_step(ws, &[("path", &path), ("json", "report2.json")]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    let report = read(&ws.join("report2.json"));
    assert!(
        report.contains(&serde_json::to_string(&path).unwrap()),
        "migcheck got `{path}` as one argument: {report}"
    );

    // Other inputs: a flag value and extra arguments.
    let run = run_step(
        ws,
        &[
            ("path", "migrations"),
            (
                "engine",
                &format!("postgres;touch {}", marker("pwned-engine")),
            ),
            (
                "args",
                &format!(
                    "--no-lint $(touch {}) `touch {}`",
                    marker("pwned-args"),
                    marker("pwned-args2")
                ),
            ),
        ],
    );
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert_eq!(run.out("verdict"), "error");

    // A path that looks like a flag is still a path (it comes after `--`).
    let run = run_step(ws, &[("path", "--version")]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr()
            .contains("--version: migrations folder does not exist"),
        "{}",
        run.describe()
    );

    assert_eq!(pwned(ws), Vec::<PathBuf>::new(), "an input was executed");
}

#[test]
fn the_url_input_reaches_migcheck_and_its_password_is_never_printed() {
    let workspace = workspace_with("postgres/golang-migrate/clean");
    let password = "s3cret-Pw-7f2c";
    // Nothing listens on port 1: the url provider is tried and the connection refused (exit 3).
    let url = format!("postgres://migcheck:{password}@127.0.0.1:1/postgres");
    let run = run_step(
        workspace.path(),
        &[
            ("working-directory", "project"),
            ("path", "migrations"),
            ("url", &url),
            ("json", "migcheck.json"),
        ],
    );
    assert_eq!(run.code(), 3, "{}", run.describe());
    assert_eq!(run.out("verdict"), "error");
    assert_eq!(run.out("exit-code"), "3");
    assert!(
        run.stderr().contains("127.0.0.1:1"),
        "the URL reached migcheck\n{}",
        run.describe()
    );
    let report = read(Path::new(run.out("json")));
    let outputs = format!("{:?}", run.outputs);
    for (what, text) in [
        ("stdout", run.stdout()),
        ("stderr", run.stderr()),
        ("the JSON report", report),
        ("the outputs", outputs),
        ("the summary", run.summary.clone()),
    ] {
        assert!(
            !text.contains(password),
            "the password is in {what}: {text}"
        );
    }
}

#[test]
fn lint_through_the_action_takes_several_paths_and_refuses_verify_inputs() {
    let root = support::repo_root();
    let run = run_step(
        &root,
        &[
            ("command", "lint"),
            (
                "path",
                "fixtures/postgres/golang-migrate/clean fixtures/postgres/broken/down-forgets-index",
            ),
            ("fail-on", "error"),
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(run.out("verdict"), "pass");
    let stdout = run.stdout();
    for folder in ["golang-migrate/clean/", "broken/down-forgets-index/"] {
        assert!(
            stdout.contains(&format!("file=fixtures/postgres/{folder}")),
            "lint read {folder}\n{}",
            run.describe()
        );
    }

    for (input, value) in [
        ("provider", "local"),
        ("evidence", "evidence"),
        ("url", "postgres://x@y/z"),
        ("session-sql", "SET x = 1"),
    ] {
        let run = run_step(
            &root,
            &[
                ("command", "lint"),
                ("path", "fixtures/postgres/golang-migrate/clean"),
                (input, value),
            ],
        );
        assert_eq!(run.code(), 2, "{input} with lint\n{}", run.describe());
        assert_eq!(run.out("verdict"), "error");
        assert!(
            run.stdout().contains(&format!(
                "::error title=migcheck action::input '{input}' applies to command verify only"
            )),
            "{}",
            run.describe()
        );
    }

    let run = run_step(&root, &[("command", "migrate"), ("path", "x")]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    let run = run_step(&root, &[("path", " \n ")]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stdout().contains("input 'path' is empty"),
        "{}",
        run.describe()
    );
}

#[test]
fn readme_ci_examples_parse_and_the_action_workflow_is_short() {
    let section = support::readme_section("## CI examples\n");
    let section = section.as_str();
    let blocks = support::yaml_blocks(section);
    assert!(blocks.len() >= 4, "the CI examples hold yaml blocks");
    for block in &blocks {
        if let Err(e) = YamlLoader::load_from_str(block) {
            panic!("a README yaml example does not parse: {e}\n{block}");
        }
    }
    // The first one is a whole workflow using the action, in fewer than ten lines.
    let workflow = blocks[0].as_str();
    assert!(workflow.contains("uses: OWNER/migcheck@"), "{workflow}");
    assert!(
        workflow.lines().count() < 10,
        "the action's workflow takes {} lines",
        workflow.lines().count()
    );
}
