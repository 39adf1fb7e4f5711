//! The SARIF 2.1.0 report, for GitHub code scanning (`github/codeql-action/upload-sarif`) and
//! any other SARIF viewer.
//!
//! One run: `tool.driver` lists every lint rule (`migcheck rules`) and the verify checks
//! (`migcheck/chain`, `migcheck/upgrade`, `migcheck/roundtrip`); a result per lint finding (level
//! from its severity) and per failed check (level `error`; a failed chain check gives one result
//! per chain problem). Locations are relative to `%SRCROOT%`, the git top level of the migrations
//! folder (else the current directory); `originalUriBaseIds` says where that was. Each result has
//! a `partialFingerprints` entry (`migcheck/v1`) hashed from the rule, the relative path, the
//! migration and the normalised statement, never the line, so that an edit elsewhere in the
//! file does not make an old finding new. A run that could not finish (exit 2 or 3, a signal) is
//! `executionSuccessful: false` with its error as a tool execution notification, not a result:
//! it says nothing about the code.
//!
//! Text is stripped of control characters and has URL passwords masked.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::ci::{self, Paths};
use super::{clean_text, CheckReport, Finding, Report, Run, Status};
use crate::error::Result;
use crate::lint::rules;

/// The schema the output validates against (OASIS SARIF 2.1.0, errata 01).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Where users learn about migcheck: the package's repository when Cargo.toml names one.
pub const INFORMATION_URI: &str = match option_env!("CARGO_PKG_REPOSITORY") {
    Some(uri) if !uri.is_empty() => uri,
    _ => "https://github.com/OWNER/migcheck",
};

/// The checks of `verify` as SARIF rules: (name, short description, help).
const CHECK_RULES: &[(&str, &str, &str)] = &[
    (
        "chain",
        "The migration chain is well formed",
        "One format, versions in the tool's own order, no duplicate versions, no stray files, a \
         down for every up. Fix the file named in the result: rename or remove it, or add the \
         missing down.",
    ),
    (
        "upgrade",
        "The migration applies on top of the previous ones",
        "The up script failed on an empty database that holds every earlier migration. The \
         result names the statement and the server's error.",
    ),
    (
        "roundtrip",
        "The down restores the schema, and the up applied again reproduces it",
        "After up, down must leave the schema exactly as it was before the up, and up again must \
         give the schema the first up gave. The result lists the objects that differ and the \
         schema diff: make the down undo everything the up does (indexes, constraints, types, \
         grants).",
    ),
];

/// Render the report as SARIF 2.1.0 JSON (pretty, ends with a newline).
pub fn render(report: &Report) -> String {
    render_with(report, &Paths::for_report(report))
}

/// Write the SARIF report to `path` atomically, creating parent directories.
pub fn write(report: &Report, path: &Path) -> Result<()> {
    super::write_atomic(path, render(report).as_bytes())
}

/// The run's SARIF log: one run of the tool holding every chain's results (GitHub code
/// scanning takes one run per tool and category), rule indexes renumbered into one rule
/// table, the run's exit code, and each chain's properties under `chains`.
pub fn render_run(run: &Run<'_>) -> String {
    if let Some(report) = run.single() {
        return render(report);
    }
    let docs: Vec<Value> = run
        .reports
        .iter()
        .map(|r| document(r, &Paths::for_report(r)))
        .collect();
    let mut merged = docs[0].clone();
    let target = &mut merged["runs"][0];
    let mut rules: Vec<Value> = target["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    let mut chains = Vec::new();
    for (doc, report) in docs.iter().zip(run.reports) {
        let this = &doc["runs"][0];
        let own_rules = this["tool"]["driver"]["rules"].as_array();
        for result in this["results"].as_array().into_iter().flatten() {
            let mut result = result.clone();
            let id = result["ruleId"].as_str().unwrap_or_default().to_string();
            let index = match rules.iter().position(|r| r["id"] == id.as_str()) {
                Some(i) => i,
                None => {
                    let rule = own_rules
                        .and_then(|all| all.iter().find(|r| r["id"] == id.as_str()))
                        .cloned()
                        .unwrap_or_else(|| json!({ "id": id }));
                    rules.push(rule);
                    rules.len() - 1
                }
            };
            result["ruleIndex"] = json!(index);
            result["properties"]["chain"] = json!(clean_text(Run::name(report)));
            results.push(result);
        }
        let invocation = &this["invocations"][0];
        for n in invocation["toolExecutionNotifications"]
            .as_array()
            .into_iter()
            .flatten()
        {
            notifications.push(n.clone());
        }
        let mut props = this["properties"].clone();
        props["chain"] = json!(clean_text(Run::name(report)));
        props["exitCode"] = json!(report.exit_code);
        chains.push(props);
    }
    target["tool"]["driver"]["rules"] = Value::Array(rules);
    target["results"] = Value::Array(results);
    let invocation = &mut target["invocations"][0];
    invocation["executionSuccessful"] = json!(notifications.is_empty());
    invocation["exitCode"] = json!(run.exit_code);
    invocation["exitCodeDescription"] = json!(ci::exit_meaning(run.exit_code));
    if notifications.is_empty() {
        if let Some(map) = invocation.as_object_mut() {
            map.remove("toolExecutionNotifications");
        }
    } else {
        invocation["toolExecutionNotifications"] = Value::Array(notifications);
    }
    target["properties"] = json!({
        "verdict": match run.verdict() {
            super::Verdict::Pass => "pass",
            super::Verdict::Fail => "fail",
        },
        "chains": chains,
    });
    let mut out = serde_json::to_string_pretty(&merged).unwrap_or_default();
    out.push('\n');
    out
}

pub(crate) fn render_with(report: &Report, paths: &Paths) -> String {
    let doc = document(report, paths);
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| {
        json!({"version": "2.1.0", "runs": [], "properties": {"error": e.to_string()}}).to_string()
    });
    out.push('\n');
    out
}

/// Rule ids and their index in `tool.driver.rules`.
struct RuleTable {
    ids: Vec<String>,
    rules: Vec<Value>,
}

impl RuleTable {
    fn index(&mut self, id: &str) -> usize {
        if let Some(i) = self.ids.iter().position(|r| r == id) {
            return i;
        }
        // A check or rule id no table entry knows (a newer check, a renamed rule): still a
        // valid reference.
        self.ids.push(id.to_string());
        self.rules.push(json!({
            "id": id,
            "shortDescription": { "text": id },
            "help": { "text": format!("See `migcheck rules` and the README for {id}.") },
        }));
        self.ids.len() - 1
    }
}

fn rule_table() -> RuleTable {
    let mut ids = Vec::new();
    let mut out = Vec::new();
    for (name, short, help) in CHECK_RULES {
        let id = format!("migcheck/{name}");
        out.push(json!({
            "id": id,
            "name": name,
            "shortDescription": { "text": short },
            "fullDescription": { "text": help },
            "help": { "text": help },
            "defaultConfiguration": { "level": "error" },
            "properties": { "tags": ["migcheck", "verify"] },
        }));
        ids.push(id);
    }
    for r in rules::all() {
        let engines: Vec<&str> = r.engines.iter().map(|e| e.name()).collect();
        let mut tags = vec!["migcheck", "lint"];
        tags.extend(&engines);
        out.push(json!({
            "id": r.id,
            "name": r.id,
            "shortDescription": { "text": clean_text(r.summary) },
            "fullDescription": { "text": clean_text(r.why) },
            "help": {
                "text": clean_text(&format!(
                    "{}\n\nWhy it is dangerous: {}\n\nSuppress one statement with \
                     `-- migcheck:ignore {} -- reason` on the line before it.",
                    r.recipe, r.why, r.id
                )),
                "markdown": clean_text(&format!(
                    "**Safe way:** {}\n\n**Why it is dangerous:** {}\n\nSuppress one statement \
                     with `-- migcheck:ignore {} -- reason` on the line before it.",
                    r.recipe, r.why, r.id
                )),
            },
            "defaultConfiguration": {
                "level": level(r.severity.name()),
                "enabled": r.default_enabled,
            },
            "properties": { "tags": tags },
        }));
        ids.push(r.id.to_string());
    }
    RuleTable { ids, rules: out }
}

/// SARIF level of a migcheck severity.
fn level(severity: &str) -> &'static str {
    match severity {
        "error" => "error",
        "warning" => "warning",
        _ => "note",
    }
}

/// A relative reference as a URI: every byte outside the unreserved set and `/` is
/// percent-encoded (spaces, `#`, `?`, `%`, `:`, non-ASCII).
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn file_uri(absolute: &Path) -> String {
    let text = absolute.to_string_lossy().replace('\\', "/");
    let text = if text.starts_with('/') {
        text
    } else {
        format!("/{text}")
    };
    format!("file://{}", uri_path(&text))
}

fn artifact_location(paths: &Paths, file: &str) -> Value {
    match paths.relative(file) {
        Some(rel) => json!({ "uri": uri_path(&rel), "uriBaseId": "%SRCROOT%" }),
        None => json!({ "uri": file_uri(&paths.absolute(file)) }),
    }
}

fn location(
    paths: &Paths,
    file: &str,
    line: Option<usize>,
    column: Option<usize>,
    snippet: Option<&str>,
    migration: Option<&str>,
) -> Value {
    let mut physical = Map::new();
    physical.insert("artifactLocation".into(), artifact_location(paths, file));
    // GitHub code scanning places a result only with a `region.startLine`: a problem with
    // the whole file is reported on its first line.
    let mut region = Map::new();
    match line.filter(|l| *l > 0) {
        Some(line) => {
            region.insert("startLine".into(), json!(line));
            if let Some(col) = column.filter(|c| *c > 0) {
                region.insert("startColumn".into(), json!(col));
            }
        }
        None => {
            region.insert("startLine".into(), json!(1));
        }
    }
    if let Some(text) = snippet.filter(|s| !s.trim().is_empty()) {
        region.insert("snippet".into(), json!({ "text": clean_text(text) }));
    }
    physical.insert("region".into(), Value::Object(region));
    let mut loc = Map::new();
    loc.insert("physicalLocation".into(), Value::Object(physical));
    if let Some(id) = migration {
        loc.insert(
            "logicalLocations".into(),
            json!([{ "name": clean_text(id), "kind": "module" }]),
        );
    }
    Value::Object(loc)
}

fn finding_result(
    report: &Report,
    paths: &Paths,
    table: &mut RuleTable,
    f: &Finding,
    fingerprint: &str,
) -> Value {
    let mut text = clean_text(&f.message);
    if let Some(help) = f.help.as_deref().filter(|h| !h.trim().is_empty()) {
        text.push_str(&format!("\nHelp: {}", clean_text(help)));
    }
    let gate = ci::fails_gate(report, f);
    let mut props = Map::new();
    props.insert("severity".into(), json!(clean_text(&f.severity)));
    props.insert("failsGate".into(), json!(gate));
    if let Some(m) = &f.migration {
        props.insert("migration".into(), json!(clean_text(m)));
    }
    json!({
        "ruleId": f.rule,
        "ruleIndex": table.index(&f.rule),
        "level": level(&f.severity),
        "message": { "text": text },
        "locations": [location(paths, &f.file, f.line, f.column, f.statement.as_deref(), f.migration.as_deref())],
        "partialFingerprints": { "migcheck/v1": fingerprint },
        "baselineState": if f.baseline { "unchanged" } else { "new" },
        "properties": props,
    })
}

/// What a failed check says: its message, the objects that differ, then its detail and diff
/// (each cut short: the JSON report has them whole).
fn check_text(check: &CheckReport) -> String {
    let mut parts = vec![clean_text(&check.message)];
    if !check.objects.is_empty() {
        parts.push(format!(
            "Objects that differ: {}",
            clean_text(&check.objects.join("; "))
        ));
    }
    if let Some(detail) = check.detail.as_deref().filter(|d| !d.trim().is_empty()) {
        parts.push(ci::shorten(clean_text(detail).trim_end(), 2000));
    }
    if let Some(diff) = check.diff.as_deref().filter(|d| !d.trim().is_empty()) {
        parts.push(ci::shorten(clean_text(diff).trim_end(), 4000));
    }
    parts.join("\n\n")
}

fn check_results(
    report: &Report,
    paths: &Paths,
    table: &mut RuleTable,
    check: &CheckReport,
    keys: &mut Vec<Vec<String>>,
) -> Vec<Value> {
    let id = format!("migcheck/{}", check.name);
    let index = table.index(&id);
    let problems = ci::chain_problems(check);
    let mut out = Vec::new();
    if problems.is_empty() {
        // Every result needs a location (GitHub drops those without): the migrations folder
        // when the check names no file.
        let file = ci::check_file(report, check).unwrap_or_else(|| report.path.clone());
        let file = Some(file);
        keys.push(ci::check_key(
            paths,
            &check.name,
            file.as_deref(),
            check.migration.as_deref(),
            "",
        ));
        let mut result = json!({
            "ruleId": id,
            "ruleIndex": index,
            "level": "error",
            "message": { "text": check_text(check) },
            "baselineState": "new",
        });
        if let Some(file) = file {
            result["locations"] = json!([location(
                paths,
                &file,
                check.line,
                None,
                None,
                check.migration.as_deref()
            )]);
        }
        if let Some(diff) = check.diff.as_deref().filter(|d| !d.trim().is_empty()) {
            result["properties"] = json!({ "diff": clean_text(diff) });
        }
        out.push(result);
    } else {
        for p in problems {
            keys.push(ci::check_key(
                paths,
                &check.name,
                Some(&p.file),
                None,
                &p.kind,
            ));
            out.push(json!({
                "ruleId": id,
                "ruleIndex": index,
                "level": level(&p.severity),
                "message": { "text": clean_text(&format!("{}: {}", p.kind, p.message)) },
                "locations": [location(paths, &p.file, p.line, None, None, None)],
                "baselineState": "new",
                "properties": { "problem": clean_text(&p.kind) },
            }));
        }
    }
    out
}

fn document(report: &Report, paths: &Paths) -> Value {
    let mut table = rule_table();
    let error_index = ci::run_error_index(report);
    let mut results = Vec::new();

    // Findings first, then failed checks; fingerprints are computed per list.
    let finding_keys: Vec<Vec<String>> = report
        .findings
        .iter()
        .map(|f| ci::finding_key(paths, f))
        .collect();
    let finding_fps = ci::fingerprints(&finding_keys);
    for (f, fp) in report.findings.iter().zip(&finding_fps) {
        results.push(finding_result(report, paths, &mut table, f, fp));
    }

    let mut check_keys = Vec::new();
    let mut check_values = Vec::new();
    for (i, check) in report.checks.iter().enumerate() {
        let failed_chain_warnings = check.name == "chain" && !ci::chain_problems(check).is_empty();
        if Some(i) == error_index || (check.status != Status::Fail && !failed_chain_warnings) {
            continue;
        }
        check_values.extend(check_results(
            report,
            paths,
            &mut table,
            check,
            &mut check_keys,
        ));
    }
    for (mut v, fp) in check_values.into_iter().zip(ci::fingerprints(&check_keys)) {
        v["partialFingerprints"] = json!({ "migcheck/v1": fp });
        results.push(v);
    }

    let mut invocation = Map::new();
    invocation.insert("executionSuccessful".into(), json!(error_index.is_none()));
    invocation.insert("exitCode".into(), json!(report.exit_code));
    invocation.insert(
        "exitCodeDescription".into(),
        json!(ci::exit_meaning(report.exit_code)),
    );
    if let Some(i) = error_index {
        let check = &report.checks[i];
        let mut notification = json!({
            "level": "error",
            "message": { "text": check_text(check) },
            "descriptor": { "id": format!("migcheck/{}", check.name) },
        });
        if let Some(file) = ci::check_file(report, check) {
            notification["locations"] =
                json!([location(paths, &file, check.line, None, None, None)]);
        }
        invocation.insert("toolExecutionNotifications".into(), json!([notification]));
    }

    let base = paths.base();
    let mut base_uri = file_uri(base);
    if !base_uri.ends_with('/') {
        base_uri.push('/');
    }
    let c = report.counts();
    let mut props = Map::new();
    props.insert(
        "verdict".into(),
        json!(match report.verdict {
            super::Verdict::Pass => "pass",
            super::Verdict::Fail => "fail",
        }),
    );
    props.insert("path".into(), json!(clean_text(&report.path)));
    props.insert("format".into(), json!(clean_text(&report.format)));
    props.insert("startedAt".into(), json!(report.started_at));
    props.insert(
        "checks".into(),
        json!({ "passed": c.passed, "failed": c.failed, "skipped": c.skipped }),
    );
    if let Some(e) = &report.engine {
        props.insert(
            "engine".into(),
            json!(clean_text(&format!("{} {}", e.name, e.version))),
        );
    }
    if let Some(level) = &report.options.fail_on {
        props.insert("failOn".into(), json!(level));
    }

    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "migcheck",
                    "fullName": "migcheck: database migration verifier",
                    "version": clean_text(&report.migcheck_version),
                    "semanticVersion": clean_text(&report.migcheck_version),
                    "informationUri": INFORMATION_URI,
                    "rules": table.rules,
                }
            },
            "invocations": [Value::Object(invocation)],
            "originalUriBaseIds": { "%SRCROOT%": { "uri": base_uri } },
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": props,
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::samples;
    use std::path::PathBuf;

    fn paths() -> Paths {
        Paths::new(PathBuf::from("/work/repo/db"), PathBuf::from("/work/repo"))
    }

    fn doc(report: &Report) -> Value {
        serde_json::from_str(&render_with(report, &paths())).expect("SARIF parses")
    }

    fn sample_findings() -> Report {
        let mut r = samples::failing();
        r.options.fail_on = Some("error".into());
        r.findings = vec![
            Finding {
                rule: "drop-table".into(),
                severity: "error".into(),
                file: "migrations/0002_add_email.up.sql".into(),
                line: Some(3),
                column: Some(1),
                message: "table `t` is dropped at postgres://u:hunter2@h/db".into(),
                statement: Some("DROP TABLE t".into()),
                help: Some("rename first".into()),
                migration: Some("0002_add_email".into()),
                ..Default::default()
            },
            Finding {
                rule: "create-index-non-concurrently".into(),
                severity: "warning".into(),
                file: "migrations/0001_create_users.up.sql".into(),
                line: Some(5),
                column: Some(1),
                message: "index without CONCURRENTLY".into(),
                statement: Some("CREATE INDEX i ON t (a)".into()),
                migration: Some("0001_create_users".into()),
                baseline: true,
                ..Default::default()
            },
            Finding {
                rule: "prefer-jsonb".into(),
                severity: "info".into(),
                file: "migrations/0001_create_users.up.sql".into(),
                line: None,
                message: "json".into(),
                ..Default::default()
            },
        ];
        r
    }

    #[test]
    fn driver_lists_every_lint_rule_and_the_checks() {
        let v = doc(&samples::passing());
        assert_eq!(v["version"], "2.1.0");
        assert_eq!(v["$schema"], SCHEMA_URI);
        let driver = &v["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], "migcheck");
        assert_eq!(driver["version"], "0.1.0");
        assert!(driver["informationUri"]
            .as_str()
            .unwrap()
            .starts_with("https://"));
        let rules = driver["rules"].as_array().unwrap();
        assert_eq!(rules.len(), rules::all().len() + CHECK_RULES.len());
        for r in rules::all() {
            let entry = rules.iter().find(|e| e["id"] == r.id).expect(r.id);
            assert_eq!(entry["shortDescription"]["text"], r.summary);
            assert!(entry["help"]["text"]
                .as_str()
                .unwrap()
                .starts_with(r.recipe));
        }
        assert!(rules.iter().any(|e| e["id"] == "migcheck/roundtrip"));
        assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 0);
        assert_eq!(v["runs"][0]["invocations"][0]["executionSuccessful"], true);
        assert_eq!(
            v["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"],
            "file:///work/repo/"
        );
    }

    #[test]
    fn results_for_findings_and_failed_checks() {
        let v = doc(&sample_findings());
        let run = &v["runs"][0];
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 4, "{results:#?}");
        let drop = &results[0];
        assert_eq!(drop["ruleId"], "drop-table");
        assert_eq!(drop["level"], "error");
        assert_eq!(drop["baselineState"], "new");
        assert_eq!(drop["properties"]["failsGate"], true);
        let idx = drop["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(run["tool"]["driver"]["rules"][idx]["id"], "drop-table");
        let loc = &drop["locations"][0]["physicalLocation"];
        assert_eq!(
            loc["artifactLocation"]["uri"],
            "db/migrations/0002_add_email.up.sql"
        );
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(loc["region"]["startLine"], 3);
        assert_eq!(loc["region"]["startColumn"], 1);
        assert_eq!(loc["region"]["snippet"]["text"], "DROP TABLE t");
        assert_eq!(
            drop["locations"][0]["logicalLocations"][0]["name"],
            "0002_add_email"
        );
        assert!(!v.to_string().contains("hunter2"), "password leaked");
        assert_eq!(results[1]["level"], "warning");
        assert_eq!(results[1]["baselineState"], "unchanged");
        assert_eq!(results[1]["properties"]["failsGate"], false);
        assert_eq!(results[2]["level"], "note");
        for r in results {
            let region = &r["locations"][0]["physicalLocation"]["region"];
            assert!(region["startLine"].as_u64().unwrap() >= 1, "{r}");
        }
        let rt = &results[3];
        assert_eq!(rt["ruleId"], "migcheck/roundtrip");
        assert_eq!(rt["level"], "error");
        let text = rt["message"]["text"].as_str().unwrap();
        assert!(
            text.contains("table public.users > index users_email_idx"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "{text}");
        assert_eq!(
            rt["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "db/migrations/0002_add_email.down.sql"
        );
        let fps: Vec<&str> = results
            .iter()
            .map(|r| r["partialFingerprints"]["migcheck/v1"].as_str().unwrap())
            .collect();
        let mut unique = fps.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), fps.len(), "fingerprints are unique");
    }

    #[test]
    fn fingerprints_survive_line_moves() {
        let a = doc(&sample_findings());
        let mut moved = sample_findings();
        for f in &mut moved.findings {
            f.line = f.line.map(|l| l + 7);
        }
        let b = doc(&moved);
        let fp = |v: &Value, i: usize| v["runs"][0]["results"][i]["partialFingerprints"].clone();
        for i in 0..3 {
            assert_eq!(fp(&a, i), fp(&b, i));
        }
        assert_ne!(
            a["runs"][0]["results"][0]["locations"],
            b["runs"][0]["results"][0]["locations"]
        );
    }

    #[test]
    fn chain_problems_are_results_of_their_own() {
        let v = doc(&ci::chain_failure_sample());
        let results = v["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["ruleId"], "migcheck/chain");
        assert!(results[1]["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("orphan-down"));
        assert_eq!(
            results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "db/migrations/0004_x.down.sql"
        );
    }

    #[test]
    fn run_error_is_a_notification_not_a_result() {
        let mut r = samples::passing();
        r.exit_code = 3;
        r.verdict = super::super::Verdict::Fail;
        let mut e = CheckReport::new(
            "provision",
            None,
            Status::Fail,
            "cannot connect to postgres://alice:s3cret@db/x",
        );
        e.detail = Some("connection refused".into());
        r.checks.push(e);
        let v = doc(&r);
        let inv = &v["runs"][0]["invocations"][0];
        assert_eq!(inv["executionSuccessful"], false);
        assert_eq!(inv["exitCode"], 3);
        let n = &inv["toolExecutionNotifications"][0];
        assert_eq!(n["level"], "error");
        assert_eq!(n["descriptor"]["id"], "migcheck/provision");
        assert!(v["runs"][0]["results"].as_array().unwrap().is_empty());
        assert!(!v.to_string().contains("s3cret"));
    }

    #[test]
    fn uris_are_encoded() {
        assert_eq!(uri_path("db/a b#1%.sql"), "db/a%20b%231%25.sql");
        assert_eq!(uri_path("é:x"), "%C3%A9%3Ax");
        assert_eq!(file_uri(Path::new("/a b/c")), "file:///a%20b/c");
    }

    #[test]
    fn write_matches_render() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/migcheck.sarif");
        let r = sample_findings();
        write(&r, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), render(&r));
    }
}
