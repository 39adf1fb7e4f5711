//! The JUnit report validates against tests/schemas/junit.xsd (the dialect Jenkins and GitLab
//! read) and has the structure CI views rely on. Validation uses `xmllint` (Debian package
//! libxml2-utils); without it these tests fail rather than pass unchecked.

use std::path::{Path, PathBuf};
use std::process::Command;

use migcheck::report::{
    junit, CheckReport, EngineReport, Finding, MigrationReport, OptionsReport, Phase,
    ProviderReport, Report, Status, Timings, Verdict, REPORT_VERSION,
};

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemas/junit.xsd");

// ---------------------------------------------------------------------------------------------
// Sample reports

fn check(name: &str, migration: Option<&str>, status: Status, ms: u64, msg: &str) -> CheckReport {
    CheckReport {
        name: name.to_string(),
        migration: migration.map(str::to_string),
        status,
        duration_ms: ms,
        message: msg.to_string(),
        file: None,
        line: None,
        detail: None,
        diff: None,
        objects: Vec::new(),
        notes: Vec::new(),
        phases: Vec::new(),
    }
}

fn phase(name: &str, status: Status, ms: u64, msg: &str) -> Phase {
    Phase {
        name: name.to_string(),
        status,
        schema_differs: false,
        duration_ms: ms,
        message: msg.to_string(),
    }
}

fn migration(id: &str, has_down: bool) -> MigrationReport {
    let (version, name) = id.split_once('_').unwrap_or((id, ""));
    let mut files = vec![format!("db/migrations/{id}.up.sql")];
    if has_down {
        files.push(format!("db/migrations/{id}.down.sql"));
    }
    MigrationReport {
        id: id.to_string(),
        version: version.to_string(),
        name: name.to_string(),
        files,
        has_down,
        no_transaction: false,
    }
}

fn base(engine: Option<(&str, &str)>) -> Report {
    Report {
        report_version: REPORT_VERSION,
        migcheck_version: "0.1.0".to_string(),
        verdict: Verdict::Pass,
        exit_code: 0,
        started_at: "2025-06-30T23:59:58.5Z".to_string(),
        duration_ms: 1500,
        chain: None,
        path: "db/migrations".to_string(),
        format: "golang-migrate".to_string(),
        format_reason: String::new(),
        engine: engine.map(|(name, version)| EngineReport {
            requested: None,
            name: name.to_string(),
            version: version.to_string(),
            version_num: 0,
        }),
        provider: engine.map(|(name, version)| ProviderReport {
            name: "url".to_string(),
            description: format!("{name} {version} at postgres://ci:hunter22@db:5432/postgres"),
            image: None,
            startup_ms: 0,
            sandbox: None,
        }),
        options: OptionsReport {
            roundtrip: "step".to_string(),
            require_down: false,
            cosmetic: "note".to_string(),
            fail_on: None,
            session_sql: Vec::new(),
            statement_timeout_s: 0,
            migration_timeout_s: 0,
            url_privileged: false,
        },
        migrations: Vec::new(),
        checks: Vec::new(),
        findings: Vec::new(),
        history: None,
        timings: Timings::default(),
    }
}

/// Add an upgrade and a passing roundtrip for `id`.
fn passing_migration(r: &mut Report, id: &str) {
    r.migrations.push(migration(id, true));
    let mut up = check("upgrade", Some(id), Status::Pass, 12, "applied");
    up.file = Some(format!("db/migrations/{id}.up.sql"));
    r.checks.push(up);
    let mut rt = check("roundtrip", Some(id), Status::Pass, 19, "reversible");
    rt.file = Some(format!("db/migrations/{id}.down.sql"));
    rt.phases = vec![
        phase("down", Status::Pass, 8, "schema restored"),
        phase("reapply", Status::Pass, 11, "schema identical"),
    ];
    r.checks.push(rt);
}

fn passing() -> Report {
    let mut r = base(Some(("postgres", "16.4")));
    r.checks.push(check(
        "chain",
        None,
        Status::Pass,
        1,
        "2 migrations, no problems",
    ));
    passing_migration(&mut r, "0001_init");
    passing_migration(&mut r, "0002_users");
    r
}

const NASTY_DIFF: &str = "--- before up\n+++ after down\n@@ -1,3 +1,4 @@\n table public.users\n\u{1b}[32m+  index users_email_idx (email) WHERE email <> '' AND a < b && c > d\u{1b}[0m\n\u{1b}[1;31m-  check \"ok\u{1}\" (x <> 0)\u{1b}[0m\n   default ']]>' \u{0}\u{b}\u{c}end\r\n";

fn failing() -> Report {
    let mut r = base(Some(("mariadb", "11.4.2")));
    r.verdict = Verdict::Fail;
    r.exit_code = 1;
    r.checks
        .push(check("chain", None, Status::Pass, 1, "3 migrations"));
    passing_migration(&mut r, "0001_init");
    r.migrations.push(migration("0002_idx", true));
    let mut up = check("upgrade", Some("0002_idx"), Status::Pass, 7, "applied");
    up.file = Some("db/migrations/0002_idx.up.sql".into());
    r.checks.push(up);
    let mut rt = check(
        "roundtrip",
        Some("0002_idx"),
        Status::Fail,
        15,
        "down did not restore the schema:\n1 object <differs> & \u{1b}[31mmore\u{1b}[0m",
    );
    rt.file = Some("db/migrations/0002_idx.down.sql".into());
    rt.line = Some(3);
    rt.detail = Some("server said: \u{7}relation \"users\" & <friends>".into());
    rt.objects = vec!["table public.users > index users_email_idx".into()];
    rt.diff = Some(NASTY_DIFF.into());
    rt.phases = vec![
        phase("down", Status::Fail, 15, "schema differs"),
        phase("reapply", Status::Skip, 0, "not run"),
    ];
    r.checks.push(rt);
    r.migrations.push(migration("V1.3__flyway_style", false));
    let mut up = check(
        "upgrade",
        Some("V1.3__flyway_style"),
        Status::Fail,
        3,
        "ERROR 1064 (42000): syntax error near 'TABEL'",
    );
    up.detail = Some("at line 2 of db/migrations/V1.3__flyway_style.up.sql".into());
    r.checks.push(up);
    r
}

fn chain_failure() -> Report {
    let mut r = base(None);
    r.verdict = Verdict::Fail;
    r.exit_code = 1;
    let mut chain = check("chain", None, Status::Fail, 2, "2 problems in the chain");
    chain.file = Some("db/migrations/0003_b.up.sql".into());
    chain.line = Some(1);
    chain.detail = Some(
        "db/migrations/0003_b.up.sql:1: duplicate-version: 3 is also 0003_a\n\
         db/migrations/0009_x.down.sql: orphan-down: no up for this down"
            .into(),
    );
    r.checks.push(chain);
    r
}

fn with_skips() -> Report {
    let mut r = base(Some(("postgres", "15.8")));
    r.options.roundtrip = "full".into();
    r.checks
        .push(check("chain", None, Status::Pass, 1, "2 migrations"));
    r.migrations.push(migration("0001_seed", false));
    let mut up = check("upgrade", Some("0001_seed"), Status::Pass, 5, "applied");
    up.file = Some("db/migrations/0001_seed.up.sql".into());
    r.checks.push(up);
    // No file on the check: the migration's first file is used.
    r.checks.push(check(
        "roundtrip",
        Some("0001_seed"),
        Status::Skip,
        0,
        "no down: not reversible",
    ));
    let mut full = check(
        "roundtrip",
        None,
        Status::Skip,
        0,
        "full roundtrip needs every down",
    );
    full.detail = Some("0001_seed has no down".into());
    r.checks.push(full);
    r
}

// ---------------------------------------------------------------------------------------------
// xmllint

fn xmllint(args: &[&str], file: &Path) -> std::process::Output {
    match Command::new("xmllint").args(args).arg(file).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "xmllint not found: install libxml2-utils (apt-get install libxml2-utils) \
             to run the JUnit schema tests"
        ),
        Err(e) => panic!("could not run xmllint: {e}"),
    }
}

fn write_temp(dir: &Path, name: &str, xml: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, xml).expect("write temp file");
    path
}

/// Validate against the schema; Err carries xmllint's complaint.
fn validate(path: &Path) -> Result<(), String> {
    let out = xmllint(&["--noout", "--schema", SCHEMA], path);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn assert_valid(name: &str, report: &Report) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out").join(format!("{name}.xml"));
    junit::write(report, &path).expect("write JUnit report");
    let xml = std::fs::read_to_string(&path).expect("read JUnit report");
    assert_eq!(xml, junit::to_string(report), "write and to_string differ");
    if let Err(e) = validate(&path) {
        panic!("{name}: JUnit report does not validate:\n{e}\n--- report ---\n{xml}");
    }
    xml
}

/// The text value of an XPath expression, as an XML parser decodes it.
fn xpath(xml: &str, expr: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_temp(dir.path(), "doc.xml", xml);
    let out = xmllint(&["--xpath", expr], &path);
    assert!(
        out.status.success(),
        "xmllint --xpath {expr} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // xmllint ends string results with a newline of its own.
    let text = String::from_utf8_lossy(&out.stdout);
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

// ---------------------------------------------------------------------------------------------
// A minimal reader for the structure assertions

#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every start tag outside CDATA sections, with attributes (entity-decoded).
fn start_tags(xml: &str) -> Vec<Tag> {
    let tag_re = regex::Regex::new(r"<([A-Za-z][A-Za-z0-9_-]*)((?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*\s*=\s*(?:\x22[^\x22]*\x22|'[^']*'))*)\s*/?>").unwrap();
    let attr_re =
        regex::Regex::new(r#"([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')"#).unwrap();
    let cdata_re = regex::Regex::new(r"(?s)<!\[CDATA\[.*?\]\]>").unwrap();
    let without_cdata = cdata_re.replace_all(xml, "");
    tag_re
        .captures_iter(&without_cdata)
        .map(|c| Tag {
            name: c[1].to_string(),
            attrs: attr_re
                .captures_iter(&c[2])
                .map(|a| {
                    let v = a.get(2).or_else(|| a.get(3)).map_or("", |m| m.as_str());
                    (a[1].to_string(), decode(v))
                })
                .collect(),
        })
        .collect()
}

fn decode(v: &str) -> String {
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn named<'a>(tags: &'a [Tag], name: &str) -> Vec<&'a Tag> {
    tags.iter().filter(|t| t.name == name).collect()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn passing_report_validates_and_has_one_case_per_check() {
    let report = passing();
    let xml = assert_valid("passing", &report);
    let tags = start_tags(&xml);
    let suites = named(&tags, "testsuite");
    assert_eq!(suites.len(), 1);
    assert_eq!(suites[0].attr("name"), Some("migcheck.postgres"));
    assert_eq!(suites[0].attr("tests"), Some("5"));
    assert_eq!(suites[0].attr("failures"), Some("0"));
    assert_eq!(suites[0].attr("timestamp"), Some("2025-06-30T23:59:58.5Z"));
    let cases = named(&tags, "testcase");
    assert_eq!(cases.len(), report.checks.len());
    let names: Vec<_> = cases.iter().filter_map(|c| c.attr("name")).collect();
    assert_eq!(
        names,
        ["chain", "upgrade", "roundtrip", "upgrade", "roundtrip"]
    );
    assert_eq!(cases[0].attr("classname"), Some("migcheck.postgres.chain"));
    assert_eq!(
        cases[3].attr("classname"),
        Some("migcheck.postgres.0002_users")
    );
    assert_eq!(
        cases[4].attr("file"),
        Some("db/migrations/0002_users.down.sql")
    );
    assert_eq!(cases[1].attr("time"), Some("0.012"));
    assert!(named(&tags, "failure").is_empty());
    assert!(named(&tags, "skipped").is_empty());
    // The provider description's password never reaches the report.
    assert!(!xml.contains("hunter22"), "{xml}");
    assert!(xml.contains("postgres://ci:***@db:5432/postgres"));
}

#[test]
fn failing_report_with_hostile_text_validates() {
    let xml = assert_valid("failing", &failing());
    assert!(!xml.contains('\u{1b}'), "ANSI escape left in the XML");
    for forbidden in ['\u{0}', '\u{1}', '\u{7}', '\u{b}', '\u{c}', '\r'] {
        assert!(
            !xml.contains(forbidden),
            "control character {forbidden:?} left in the XML"
        );
    }
    let tags = start_tags(&xml);
    let suite = named(&tags, "testsuite")[0];
    assert_eq!(suite.attr("name"), Some("migcheck.mariadb"));
    assert_eq!(suite.attr("tests"), Some("6"));
    assert_eq!(suite.attr("failures"), Some("2"));
    assert_eq!(suite.attr("errors"), Some("0"));

    let failures = named(&tags, "failure");
    assert_eq!(failures.len(), 2);
    assert_eq!(failures[0].attr("type"), Some("migcheck.roundtrip"));
    assert_eq!(
        failures[0].attr("message"),
        Some("down did not restore the schema: 1 object <differs> & more"),
        "message must be one clean line"
    );
    assert_eq!(failures[1].attr("type"), Some("migcheck.upgrade"));

    let cases = named(&tags, "testcase");
    let rt = cases
        .iter()
        .find(|c| {
            c.attr("classname") == Some("migcheck.mariadb.0002_idx")
                && c.attr("name") == Some("roundtrip")
        })
        .expect("roundtrip case for 0002_idx");
    assert_eq!(rt.attr("file"), Some("db/migrations/0002_idx.down.sql"));
    // Dots inside a migration id would split the class name in Jenkins.
    let flyway = cases
        .iter()
        .find(|c| {
            c.attr("name") == Some("upgrade")
                && c.attr("classname").is_some_and(|n| n.contains("flyway"))
        })
        .expect("flyway-style case");
    assert_eq!(
        flyway.attr("classname"),
        Some("migcheck.mariadb.V1_3__flyway_style")
    );
    // No file on the check: the migration's up file is used.
    assert_eq!(
        flyway.attr("file"),
        Some("db/migrations/V1.3__flyway_style.up.sql")
    );

    // The body as a parser reads it: location, detail, objects, the diff with `<&>` and `]]>`
    // intact, colour codes and control characters gone.
    let body = xpath(
        &xml,
        "string(//testcase[@classname='migcheck.mariadb.0002_idx'][@name='roundtrip']/failure)",
    );
    assert!(
        body.contains("at db/migrations/0002_idx.down.sql:3"),
        "{body}"
    );
    assert!(
        body.contains("server said: relation \"users\" & <friends>"),
        "{body}"
    );
    assert!(
        body.contains("table public.users > index users_email_idx"),
        "{body}"
    );
    assert!(
        body.contains("+  index users_email_idx (email) WHERE email <> '' AND a < b && c > d\n"),
        "{body}"
    );
    assert!(body.contains("-  check \"ok\" (x <> 0)\n"), "{body}");
    assert!(body.contains("   default ']]>' end"), "{body}");
    assert!(body.contains("down FAIL (15 ms): schema differs"), "{body}");
}

#[test]
fn chain_failure_without_engine_validates() {
    let xml = assert_valid("chain", &chain_failure());
    let tags = start_tags(&xml);
    let suite = named(&tags, "testsuite")[0];
    assert_eq!(suite.attr("name"), Some("migcheck"));
    assert_eq!(suite.attr("tests"), Some("1"));
    assert_eq!(suite.attr("failures"), Some("1"));
    let case = named(&tags, "testcase")[0];
    assert_eq!(case.attr("name"), Some("chain"));
    assert_eq!(case.attr("classname"), Some("migcheck.chain"));
    assert_eq!(case.attr("file"), Some("db/migrations/0003_b.up.sql"));
    assert_eq!(
        named(&tags, "failure")[0].attr("type"),
        Some("migcheck.chain")
    );
    let body = xpath(&xml, "string(//failure)");
    assert!(
        body.contains("duplicate-version: 3 is also 0003_a"),
        "{body}"
    );
    assert!(body.contains("orphan-down: no up for this down"), "{body}");
}

#[test]
fn skipped_checks_validate() {
    let xml = assert_valid("skips", &with_skips());
    let tags = start_tags(&xml);
    let skipped = named(&tags, "skipped");
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[0].attr("message"), Some("no down: not reversible"));
    assert_eq!(skipped[0].attr("type"), Some("migcheck.roundtrip"));
    assert_eq!(
        skipped[1].attr("message"),
        Some("full roundtrip needs every down")
    );
    let cases = named(&tags, "testcase");
    assert_eq!(cases.len(), 4);
    assert_eq!(
        cases[2].attr("file"),
        Some("db/migrations/0001_seed.up.sql"),
        "a check without a file falls back to its migration's first file"
    );
    assert_eq!(cases[3].attr("classname"), Some("migcheck.postgres.chain"));
    assert!(cases[3].attr("file").is_none());
    assert!(named(&tags, "failure").is_empty());
    assert_eq!(
        xpath(&xml, "string(//testcase[4]/skipped)"),
        "0001_seed has no down"
    );
}

/// The run could not finish (exit 3 after two migrations, exit 2 before any): its error is an
/// `<error>`, the checks completed before it keep their own outcome.
#[test]
fn run_errors_are_errors_and_validate() {
    for (code, name) in [(3u8, "provision"), (2, "chain")] {
        let mut r = passing();
        r.verdict = Verdict::Fail;
        r.exit_code = code;
        let mut e = check(
            name,
            None,
            Status::Fail,
            0,
            "server disk full <53100> & postgres://ci:hunter22@db/x",
        );
        e.file = Some("db/migrations/0002_users.up.sql".into());
        e.line = Some(4);
        e.detail = Some("could not extend file: No space left on device".into());
        r.checks.push(e);
        let xml = assert_valid(&format!("error-{code}"), &r);
        let tags = start_tags(&xml);
        assert!(named(&tags, "failure").is_empty(), "{xml}");
        let errors = named(&tags, "error");
        assert_eq!(errors.len(), 1, "{xml}");
        assert_eq!(
            errors[0].attr("type"),
            Some(format!("migcheck.{name}").as_str())
        );
        assert_eq!(
            errors[0].attr("message"),
            Some("server disk full <53100> & postgres://ci:***@db/x")
        );
        let suite = named(&tags, "testsuite")[0];
        assert_eq!(suite.attr("errors"), Some("1"));
        assert_eq!(suite.attr("failures"), Some("0"));
        let case = named(&tags, "testcase").last().copied().unwrap();
        assert_eq!(case.attr("file"), Some("db/migrations/0002_users.up.sql"));
        assert!(!xml.contains("hunter22"));
        let body = xpath(&xml, "string(//error)");
        assert!(body.contains("No space left on device"), "{body}");
    }
}

/// Findings that fail the gate are failures; those below it, or on baseline migrations, are
/// listed in passing cases. Both validate.
#[test]
fn gate_failing_findings_are_failures_and_validate() {
    let mut r = passing();
    r.verdict = Verdict::Fail;
    r.exit_code = 1;
    r.options.fail_on = Some("warning".into());
    let f = |rule: &str, severity: &str, migration: &str, baseline: bool| Finding {
        rule: rule.into(),
        severity: severity.into(),
        file: format!("db/migrations/{migration}.up.sql"),
        line: Some(2),
        message: format!("{rule} <here> & ]]> there"),
        statement: Some("DROP TABLE t".into()),
        help: Some("do it safely".into()),
        migration: Some(migration.into()),
        baseline,
        ..Default::default()
    };
    r.findings = vec![
        f("drop-column", "warning", "0001_init", false),
        f("prefer-jsonb", "info", "0001_init", false),
        f("drop-table", "error", "0002_users", true),
    ];
    let xml = assert_valid("findings", &r);
    let tags = start_tags(&xml);
    let failures = named(&tags, "failure");
    assert_eq!(failures.len(), 1, "{xml}");
    assert_eq!(failures[0].attr("type"), Some("migcheck.lint.drop-column"));
    let cases = named(&tags, "testcase");
    let lint: Vec<_> = cases
        .iter()
        .filter(|c| c.attr("name").is_some_and(|n| n.starts_with("lint:")))
        .collect();
    assert_eq!(lint.len(), 3);
    for case in &lint {
        assert!(case.attr("file").is_some_and(|f| f.ends_with(".up.sql")));
    }
    let baseline = xpath(
        &xml,
        "string(//testcase[@name='lint:drop-table']/system-out)",
    );
    assert!(
        baseline.contains("error[drop-table]: drop-table <here> & ]]> there"),
        "{baseline}"
    );
}

/// The schema is not vacuous: documents CI would misread are rejected.
#[test]
fn schema_rejects_invalid_documents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "two outcomes",
            r#"<testsuites><testsuite name="s"><testcase name="t"><failure/><skipped/></testcase></testsuite></testsuites>"#,
        ),
        (
            "testcase without name",
            r#"<testsuites><testsuite name="s"><testcase classname="c"/></testsuite></testsuites>"#,
        ),
        (
            "testsuite without name",
            r#"<testsuites><testsuite tests="1"><testcase name="t"/></testsuite></testsuites>"#,
        ),
        ("testcase as root", r#"<testcase name="t"/>"#),
        (
            "negative time",
            r#"<testsuites><testsuite name="s"><testcase name="t" time="-1"/></testsuite></testsuites>"#,
        ),
        (
            "bad timestamp",
            r#"<testsuites><testsuite name="s" timestamp="yesterday"/></testsuites>"#,
        ),
        (
            "system-out before testcase",
            r#"<testsuites><testsuite name="s"><system-out>x</system-out><testcase name="t"/></testsuite></testsuites>"#,
        ),
    ];
    for (i, (what, doc)) in cases.iter().enumerate() {
        let path = write_temp(dir.path(), &format!("bad{i}.xml"), doc);
        assert!(
            validate(&path).is_err(),
            "schema accepted an invalid document ({what}): {doc}"
        );
    }
    let ok = r#"<testsuites name="all" tests="1"><testsuite name="s" skipped="0" hostname="h" id="0" package="p" timestamp="2025-01-01T00:00:00Z"><properties><property name="k" value="v"/></properties><testcase name="t" classname="c" time="0.5" file="f.sql" line="3" assertions="1"><error message="m" type="e">body</error><system-out>o</system-out><system-err>e</system-err></testcase><system-out>o</system-out><system-err>e</system-err></testsuite></testsuites>"#;
    let path = write_temp(dir.path(), "good.xml", ok);
    validate(&path).expect("the full dialect validates");
}
