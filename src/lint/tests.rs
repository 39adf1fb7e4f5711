//! Driver tests: suppression, exemptions, versions, positions, chain state, fixtures.

use std::path::{Path, PathBuf};

use super::*;

fn lint(engine: Engine, sql: &str) -> Vec<Finding> {
    lint_text(sql, "m.sql", engine, false, &LintConfig::default())
}

fn rules_of(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|f| f.rule.as_str()).collect()
}

#[test]
fn suppression_on_previous_line_and_file_wide() {
    let sql = "-- migcheck:ignore drop-table -- archived in ticket 42\nDROP TABLE old;\nDROP TABLE other;\n";
    let f: Vec<_> = lint(Engine::Postgres, sql)
        .into_iter()
        .filter(|f| f.rule != "statements-after-access-exclusive")
        .collect();
    assert_eq!(rules_of(&f), vec!["drop-table"]);
    assert_eq!(f[0].line, Some(3));

    let sql = "DROP TABLE a;\n-- migcheck:ignore-file drop-table\nDROP TABLE b;\n";
    assert!(lint(Engine::Mysql, sql)
        .iter()
        .all(|f| f.rule == "multiple-ddl-statements"));
}

#[test]
fn suppression_spans_comment_lines_but_not_code() {
    let sql = "-- migcheck:ignore drop-table\n-- more words\n\nDROP TABLE old;\n";
    assert!(lint(Engine::Postgres, sql).is_empty());
    let sql = "-- migcheck:ignore drop-table\nSELECT 1;\nDROP TABLE old;\n";
    let f = lint(Engine::Postgres, sql);
    assert_eq!(rules_of(&f), vec!["unused-suppression", "drop-table"]);
}

#[test]
fn unused_and_unknown_suppressions_are_reported() {
    let sql = "-- migcheck:ignore drop-table, drop-tabel\nDROP TABLE t;\n-- migcheck:ignore-file truncate\n";
    let f = lint(Engine::Postgres, sql);
    let unused: Vec<_> = f
        .iter()
        .filter(|f| f.rule == "unused-suppression")
        .map(|f| (f.line, f.message.clone()))
        .collect();
    assert_eq!(unused.len(), 2, "{f:?}");
    assert!(unused[0].1.contains("unknown rule `drop-tabel`"));
    assert_eq!(unused[1].0, Some(3));
    assert_eq!(
        f.iter()
            .find(|f| f.rule == "unused-suppression")
            .unwrap()
            .severity,
        "warning"
    );
}

#[test]
fn created_in_same_migration_is_exempt() {
    let sql = "CREATE TABLE t (id bigint);\nALTER TABLE t ADD COLUMN a int NOT NULL;\nCREATE INDEX i ON t (a);\nALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;\n";
    assert!(
        lint(Engine::Postgres, sql).is_empty(),
        "{:?}",
        lint(Engine::Postgres, sql)
    );
    // An existing table next to it is not.
    let sql = "CREATE TABLE t (id bigint);\nCREATE INDEX i ON u (a);\n";
    assert_eq!(
        rules_of(&lint(Engine::Postgres, sql)),
        vec!["create-index-non-concurrently"]
    );
}

#[test]
fn version_conditions() {
    let mut c = LintConfig::default();
    let sql = "ALTER TABLE t ADD COLUMN a int DEFAULT 0";
    c.pg_version = Some(10);
    assert!(
        rules_of(&lint_text(sql, "m.sql", Engine::Postgres, false, &c))
            .contains(&"add-column-rewriting-default")
    );
    c.pg_version = Some(11);
    assert!(lint_text(sql, "m.sql", Engine::Postgres, false, &c).is_empty());
    // The server version (verify) wins over the config.
    let script = Script {
        file: "m.sql".into(),
        segments: vec![Segment::Sql {
            text: sql.into(),
            line: 1,
        }],
        no_transaction: false,
    };
    let f = lint_scripts(&[(None, &script)], Engine::Postgres, Some(100_012), &c);
    assert!(rules_of(&f).contains(&"add-column-rewriting-default"));
}

#[test]
fn positions_excerpt_and_help() {
    let sql = "SELECT 1;\n\n  ALTER TABLE users\n    ADD COLUMN status text NOT NULL;\n";
    let f = lint(Engine::Postgres, sql);
    let f = f
        .iter()
        .find(|f| f.rule == "add-column-not-null-without-default")
        .unwrap();
    assert_eq!((f.line, f.column), (Some(4), Some(16)));
    assert_eq!(
        f.statement.as_deref(),
        Some("ALTER TABLE users ADD COLUMN status text NOT NULL")
    );
    assert_eq!(f.severity, "error");
    assert!(f.help.as_deref().unwrap().contains("backfill"));
    assert!(f.message.contains("`status`") && f.message.contains("`users`"));
}

#[test]
fn severity_override_and_disable() {
    let mut c = LintConfig::default();
    c.severities.insert("drop-table".into(), Severity::Warning);
    c.rules.insert("truncate".into(), RuleSetting::Off);
    c.rules
        .insert("multiple-ddl-statements".into(), RuleSetting::Off);
    let f = lint_text(
        "DROP TABLE a; TRUNCATE b;",
        "m.sql",
        Engine::Mysql,
        false,
        &c,
    );
    assert_eq!(rules_of(&f), vec!["drop-table"]);
    assert_eq!(f[0].severity, "warning");
    assert_eq!(exit_code(&f, Severity::Error), 0);
    assert_eq!(exit_code(&f, Severity::Warning), 1);
}

#[test]
fn chain_state_knows_old_types() {
    let first = Script {
        file: "1.sql".into(),
        segments: vec![Segment::Sql {
            text: "CREATE TABLE t (name varchar(20), n int);".into(),
            line: 1,
        }],
        no_transaction: false,
    };
    let second = Script {
        file: "2.sql".into(),
        segments: vec![Segment::Sql {
            text: "ALTER TABLE t ALTER COLUMN name TYPE varchar(50);\nALTER TABLE t ALTER COLUMN n TYPE bigint;".into(),
            line: 1,
        }],
        no_transaction: false,
    };
    let f = lint_scripts(
        &[(None, &first), (None, &second)],
        Engine::Postgres,
        None,
        &LintConfig::default(),
    );
    let types: Vec<_> = f.iter().filter(|f| f.rule == "alter-column-type").collect();
    assert_eq!(types.len(), 1, "{f:?}");
    assert_eq!(types[0].line, Some(2));
    assert!(
        types[0].message.contains("from integer to bigint")
            || types[0].message.contains("from int to bigint"),
        "{}",
        types[0].message
    );
}

#[test]
fn unterminated_input_is_a_finding_not_a_crash() {
    for sql in [
        "SELECT 'abc",
        "CREATE FUNCTION f() AS $$ BEGIN",
        "/* open",
        "ALTER TABLE",
    ] {
        let f = lint(Engine::Postgres, sql);
        assert!(f.iter().all(|f| f.line.is_some()));
        let _ = lint(Engine::Mysql, sql);
    }
}

// ---- fixtures: fixtures/lint/<engine>/<rule-id>/{bad,good}.sql ----

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lint")
}

fn fixture_findings(engine: Engine, dir: &Path, name: &str) -> Vec<Finding> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let no_tx = text.starts_with("-- no-transaction");
    let config = LintConfig {
        enable_all: true,
        pg_version: text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-- pg-version: "))
            .and_then(|v| v.trim().parse().ok()),
        ..Default::default()
    };
    lint_text(&text, &path.display().to_string(), engine, no_tx, &config)
}

#[test]
fn every_rule_has_fixtures_for_each_engine_and_they_behave() {
    let mut missing = Vec::new();
    // Observed and history rules never fire on SQL text (tests/observe.rs, tests/history.rs).
    for rule in rules::all()
        .iter()
        .filter(|r| !rules::is_observed(r.id) && !crate::history::is_history(r.id))
    {
        for &engine in rule.engines {
            let dir = fixtures_root().join(engine.name()).join(rule.id);
            if !dir.join("bad.sql").is_file() || !dir.join("good.sql").is_file() {
                missing.push(format!("{}/{}", engine.name(), rule.id));
                continue;
            }
            let bad = fixture_findings(engine, &dir, "bad.sql");
            assert!(
                bad.iter().any(|f| f.rule == rule.id),
                "{}/{}/bad.sql does not trigger its rule: {bad:?}",
                engine.name(),
                rule.id
            );
            let good = fixture_findings(engine, &dir, "good.sql");
            assert!(
                !good.iter().any(|f| f.rule == rule.id),
                "{}/{}/good.sql triggers its rule: {good:?}",
                engine.name(),
                rule.id
            );
        }
    }
    assert!(missing.is_empty(), "missing fixtures: {missing:#?}");
}

#[test]
fn no_stray_fixture_directories() {
    for engine in [Engine::Postgres, Engine::Mysql, Engine::Mariadb] {
        let dir = fixtures_root().join(engine.name());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let rule = rules::find(&name).unwrap_or_else(|| panic!("{name}: no such rule"));
            assert!(
                rule.applies_to(engine),
                "{}/{name}: rule does not claim this engine",
                engine.name()
            );
        }
    }
}

#[test]
fn nested_begin_in_begin_atomic_on_one_line() {
    // A SQL-standard function body holding nested BEGINs, all on one line: the splitter ends
    // the function at the first END and every further `END;` is a statement of its own, all
    // on line 1. Each statement's column is found after the previous one (this was quadratic
    // in the line's length), and a repeated statement gets its own column.
    let n = 2_000;
    let head = format!(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC {}SELECT 1; {}",
        "BEGIN ".repeat(n),
        "END; ".repeat(n)
    );
    let sql = format!("{head}DROP TABLE t; DROP TABLE t;\n");
    let f = lint(Engine::Postgres, &sql);
    let at: Vec<_> = f
        .iter()
        .filter(|f| f.rule != "statements-after-access-exclusive")
        .map(|f| (f.rule.as_str(), f.line, f.column))
        .collect();
    let first_drop = head.len() + 1;
    let second_drop = first_drop + "DROP TABLE t; ".len();
    assert_eq!(
        at,
        vec![
            ("parse-error", Some(1), Some(1)),
            (
                "drop-table",
                Some(1),
                Some(first_drop + "DROP TABLE ".len())
            ),
            (
                "drop-table",
                Some(1),
                Some(second_drop + "DROP TABLE ".len())
            ),
        ]
    );
    let parse_error = f.iter().find(|f| f.rule == "parse-error").unwrap();
    assert!(
        parse_error.message.contains("at or near \"BEGIN\""),
        "{}",
        parse_error.message
    );
}

#[test]
fn statement_columns_count_characters_after_the_previous_statement() {
    // Multi-byte text before a statement, statements repeated on a line, a statement on the
    // next line: columns are in characters and each statement's own.
    let sql = "SELECT 'é'; DROP TABLE t; DROP TABLE t;\n  DROP TABLE u;\n";
    let f = lint(Engine::Postgres, sql);
    let at: Vec<_> = f
        .iter()
        .filter(|f| f.rule == "drop-table")
        .map(|f| (f.line, f.column))
        .collect();
    assert_eq!(
        at,
        vec![
            (Some(1), Some(24)),
            (Some(1), Some(38)),
            (Some(2), Some(14))
        ]
    );
}
