//! A long chain verified on two databases at once gives the verdicts of one database.
//!
//! Step mode splits a chain of 100 migrations or more when a core is spare; `MIGCHECK_SPLIT=1`
//! splits from 40 on, spare core or not, so these tests are short and do not depend on the
//! machine. Each test writes a 48-migration
//! chain, verifies it split and with `--no-split`, and compares every check and finding:
//! failing downs and replays in both halves, rewrites seen in both halves, a chain that halts
//! in the first half, a non-deterministic view in the first half (kept split while the second
//! half does not compare it again; otherwise the second half runs after the first, on one
//! database), the same on MariaDB, and Alembic projects and Sqitch plans on both engines
//! (their second database catches up in one run of the tool).

mod support;

use std::path::Path;

use serde_json::Value;
use support::{migcheck, verify_with, Run};

const MIGRATIONS: usize = 48;

/// Write a chain of `MIGRATIONS` migrations: migration `i` creates table `t{i}` with a few
/// rows, unless `special` gives its up and down.
fn write_chain(dir: &Path, special: impl Fn(usize) -> Option<(String, String)>) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 1..=MIGRATIONS {
        let (up, down) = special(i).unwrap_or_else(|| {
            (
                format!(
                    "CREATE TABLE t{i} (id bigint PRIMARY KEY, v varchar(40), n integer);\n\
                     INSERT INTO t{i} (id, v, n) VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3);\n"
                ),
                format!("DROP TABLE t{i};\n"),
            )
        });
        std::fs::write(dir.join(format!("{i:06}_m{i}.up.sql")), up).unwrap();
        std::fs::write(dir.join(format!("{i:06}_m{i}.down.sql")), down).unwrap();
    }
}

fn run(dir: &Path, engine: &str, split: bool) -> Run {
    run_with(dir, engine, split, &[])
}

/// `run` with `extra` arguments (an Alembic project's `--python`).
fn run_with(dir: &Path, engine: &str, split: bool, extra: &[&str]) -> Run {
    let mut cmd = migcheck();
    cmd.env("MIGCHECK_SPLIT", "1");
    let mut args = vec!["--engine", engine, "--provider", "local"];
    args.extend_from_slice(extra);
    if !split {
        args.push("--no-split");
    }
    let run = verify_with(cmd, dir, &args);
    assert!(matches!(run.code(), 0 | 1), "{}", run.describe());
    run
}

/// Every check and finding, as text, with the throwaway databases' random names set aside.
fn verdicts(run: &Run) -> Vec<String> {
    let json = run.json.as_ref().expect("a JSON report");
    let scrub = |v: &Value| {
        let text = v.to_string();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("migcheck_") {
            out.push_str(&rest[..at]);
            out.push_str("DB");
            let tail = &rest[at + "migcheck_".len()..];
            let skip = tail
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(tail.len());
            rest = &tail[skip..];
        }
        out.push_str(rest);
        out
    };
    let mut out: Vec<String> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            scrub(&serde_json::json!([
                c["name"],
                c["migration"],
                c["status"],
                c["message"],
                c["file"],
                c["line"],
                c["notes"],
                c["diff"]
            ]))
        })
        .collect();
    let mut findings: Vec<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            scrub(&serde_json::json!([
                f["rule"],
                f["file"],
                f["line"],
                f["message"]
            ]))
        })
        .collect();
    findings.sort();
    out.extend(findings);
    out
}

/// Verify `dir` split and not; the verdicts must be the same. Returns the split run's report.
fn same_verdicts(dir: &Path, engine: &str) -> Value {
    let split = run(dir, engine, true);
    let single = run(dir, engine, false);
    assert_eq!(split.code(), single.code(), "{}", split.describe());
    let (a, b) = (verdicts(&split), verdicts(&single));
    if a != b {
        let only_split: Vec<&String> = a.iter().filter(|x| !b.contains(x)).collect();
        let only_single: Vec<&String> = b.iter().filter(|x| !a.contains(x)).collect();
        panic!("split and single verdicts differ\nsplit only: {only_split:#?}\nsingle only: {only_single:#?}");
    }
    assert!(
        single.json.as_ref().unwrap()["timings"]["second_database"].is_null(),
        "--no-split split"
    );
    // The checks come in the chain's order, as on one database.
    let upgrades = |run: &Run| -> Vec<String> {
        run.json.as_ref().unwrap()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == "upgrade")
            .map(|c| c["migration"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(upgrades(&split), upgrades(&single));
    assert_eq!(upgrades(&split).len(), MIGRATIONS);
    split.json.unwrap()
}

/// The migration of every failing check, in report order.
fn failed_migrations(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .filter_map(|c| c["migration"].as_str())
        .collect()
}

fn split_from(report: &Value) -> Option<String> {
    report["timings"]["second_database"]["from_migration"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn failing_downs_replays_and_rewrites_in_both_halves_give_the_same_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path(), |i| match i {
        // A down that forgets an index: the round trip fails, the up again collides.
        6 => Some((
            "CREATE INDEX t3_v_idx ON t3 (v);\n".into(),
            "SELECT 1;\n".into(),
        )),
        // Rewrites, seen by the observation.
        12 => Some((
            "ALTER TABLE t2 ALTER COLUMN n TYPE bigint;\n".into(),
            "ALTER TABLE t2 ALTER COLUMN n TYPE integer;\n".into(),
        )),
        40 => Some((
            "ALTER TABLE t35 ALTER COLUMN n TYPE bigint;\n".into(),
            "ALTER TABLE t35 ALTER COLUMN n TYPE integer;\n".into(),
        )),
        // A down that restores something else.
        33 => Some((
            "ALTER TABLE t20 ADD COLUMN note text;\n".into(),
            "ALTER TABLE t20 DROP COLUMN note;\nALTER TABLE t20 ADD COLUMN extra integer;\n".into(),
        )),
        _ => None,
    });
    let report = same_verdicts(dir.path(), "postgres");
    assert_eq!(split_from(&report).as_deref(), Some("000027_m27"));
    let failed = failed_migrations(&report);
    assert!(
        failed.contains(&"000006_m6") && failed.contains(&"000033_m33"),
        "{failed:?}"
    );
    let rewrites = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "observed-table-rewrite")
        .count();
    assert_eq!(rewrites, 2, "{}", report["findings"]);
    let second = &report["timings"]["second_database"];
    assert!(second["catch_up_ms"].as_u64().is_some() && second["total_ms"].as_u64() > Some(0));
}

#[test]
fn a_chain_that_halts_in_the_first_half_reports_the_rest_as_not_run() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path(), |i| {
        (i == 10).then(|| {
            (
                "CREATE TABLE t10 (id bigint PRIMARY KEY,);\n".into(),
                "DROP TABLE t10;\n".into(),
            )
        })
    });
    let report = same_verdicts(dir.path(), "postgres");
    // The second database's work is thrown away: nothing of it is reported.
    assert_eq!(split_from(&report), None);
    let skipped = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "skip" && c["name"] == "upgrade")
        .count();
    assert_eq!(skipped, MIGRATIONS - 10);
}

/// A view that freezes `'now'` into its definition: two runs of the same SQL differ.
fn frozen_view(days: u32) -> String {
    format!(
        "CREATE OR REPLACE VIEW recent AS SELECT id FROM t1 \
         WHERE 'now'::timestamp - interval '{days} days' > TIMESTAMP '2000-01-01';\n"
    )
}

/// The first half learns that the view's definition is not deterministic; the second half
/// never compares it, so its verdicts stand without that mask (and the view, whose frozen
/// value differs between the two databases, does not stop the split).
#[test]
fn a_non_deterministic_view_in_the_first_half_alone_keeps_the_split() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path(), |i| {
        (i == 4).then(|| (frozen_view(7), "DROP VIEW recent;\n".into()))
    });
    let report = same_verdicts(dir.path(), "postgres");
    assert_eq!(split_from(&report).as_deref(), Some("000027_m27"));
    let nondeterministic: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "nondeterministic-definition")
        .collect();
    assert_eq!(nondeterministic.len(), 1, "{nondeterministic:#?}");
}

/// The second half redefines the view the first half learned is not deterministic: without
/// that mask its comparisons would differ from one database's, so the chain goes on on one.
#[test]
fn a_non_deterministic_view_met_again_in_the_second_half_keeps_the_chain_on_one_database() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path(), |i| match i {
        4 => Some((frozen_view(7), "DROP VIEW recent;\n".into())),
        33 => Some((frozen_view(1), frozen_view(7))),
        _ => None,
    });
    let report = same_verdicts(dir.path(), "postgres");
    assert_eq!(split_from(&report), None);
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "nondeterministic-definition"));
    assert_eq!(failed_migrations(&report), Vec::<&str>::new());
}

#[test]
fn mariadb_chains_split_with_the_same_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    write_chain(dir.path(), |i| match i {
        7 => Some((
            "ALTER TABLE t2 ADD COLUMN note varchar(20);\n".into(),
            "ALTER TABLE t2 DROP COLUMN note;\nALTER TABLE t2 ADD COLUMN other integer;\n".into(),
        )),
        41 => Some((
            "CREATE INDEX t30_v_idx ON t30 (v);\n".into(),
            "SELECT 1;\n".into(),
        )),
        _ => None,
    });
    let report = same_verdicts(dir.path(), "mariadb");
    assert_eq!(split_from(&report).as_deref(), Some("000027_m27"));
}

/// An Alembic project of `MIGCHECK_TEST_PYTHON`'s Alembic in `project`: the `linear`
/// fixture's ini and env.py, 48 revisions creating a table each, revision `i` on top of
/// `parents(i)`, and one downgrade forgetting a column in each half (5 and 40).
fn write_alembic_project(project: &Path, parents: impl Fn(usize) -> Vec<usize>) {
    let fixture = support::fixture("alembic/linear");
    std::fs::copy(fixture.join("alembic.ini"), project.join("alembic.ini")).unwrap();
    let versions = project.join("migrations/versions");
    std::fs::create_dir_all(&versions).unwrap();
    for file in ["env.py", "script.py.mako"] {
        std::fs::copy(
            fixture.join("migrations").join(file),
            project.join("migrations").join(file),
        )
        .unwrap();
    }
    for i in 1..=MIGRATIONS {
        let down_revision = match parents(i).as_slice() {
            [] => "None".to_string(),
            [one] => format!("\"r{one:04}\""),
            many => format!(
                "({})",
                many.iter()
                    .map(|p| format!("\"r{p:04}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        // A column added to the previous table that the downgrade forgets: the round trip
        // fails, the upgrade again collides with it (a replay follows).
        let forgotten = if i == 5 || i == 40 {
            format!(
                "\n    op.add_column(\"t{}\", sa.Column(\"extra\", sa.Integer))",
                i - 1
            )
        } else {
            String::new()
        };
        std::fs::write(
            versions.join(format!("r{i:04}_t{i}.py")),
            format!(
                "\"\"\"table t{i}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
                 revision = \"r{i:04}\"\ndown_revision = {down_revision}\n\
                 branch_labels = None\ndepends_on = None\n\n\n\
                 def upgrade():\n    op.create_table(\"t{i}\", sa.Column(\"id\", sa.Integer, \
                 primary_key=True), sa.Column(\"v\", sa.String(40))){forgotten}\n\n\n\
                 def downgrade():\n    op.drop_table(\"t{i}\")\n"
            ),
        )
        .unwrap();
    }
}

/// Write an Alembic project (`write_alembic_project`), verify it split and with `--no-split`
/// on `engine`: the same verdicts, the split at 57% (Alembic's share), the two forgetful
/// downgrades failing.
fn alembic_project_splits(engine: &str, parents: impl Fn(usize) -> Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    write_alembic_project(dir.path(), parents);
    let python = support::test_python();
    let extra = ["--python", python.to_str().unwrap()];
    let split = run_with(dir.path(), engine, true, &extra);
    let single = run_with(dir.path(), engine, false, &extra);
    assert_eq!(verdicts(&split), verdicts(&single));
    let report = split.json.unwrap();
    assert_eq!(split_from(&report).as_deref(), Some("r0028"));
    assert_eq!(failed_migrations(&report), vec!["r0005", "r0040"]);
}

fn straight(i: usize) -> Vec<usize> {
    if i == 1 {
        vec![]
    } else {
        vec![i - 1]
    }
}

/// A straight chain: the second database catches up with one `alembic upgrade`.
#[test]
fn alembic_projects_split_with_the_same_verdicts() {
    alembic_project_splits("postgres", straight);
}

/// The same on MariaDB, whose DDL commits at once: the catch-up's one command too.
#[test]
fn alembic_projects_on_mariadb_split_with_the_same_verdicts() {
    alembic_project_splits("mariadb", straight);
}

/// Two branches open where the chain splits (11-20 and 21-28 both on top of 10, merged by
/// 29): the second database catches up with one `alembic upgrade` per branch head.
#[test]
fn alembic_projects_with_open_branches_at_the_split_give_the_same_verdicts() {
    alembic_project_splits("postgres", |i| match i {
        1 => vec![],
        21 => vec![10],
        29 => vec![20, 28],
        _ => vec![i - 1],
    });
}

/// A Sqitch plan of 48 changes for `engine` (`pg` or `mysql`), whose scripts the engine's
/// client runs as Sqitch runs them: one deploy script in each half adds an index to the
/// previous table that its revert leaves behind.
fn write_sqitch_plan(project: &Path, engine: &str) {
    for sub in ["deploy", "revert", "verify"] {
        std::fs::create_dir_all(project.join(sub)).unwrap();
    }
    std::fs::write(
        project.join("sqitch.conf"),
        format!("[core]\n\tengine = {engine}\n"),
    )
    .unwrap();
    let mut plan = String::from("%syntax-version=1.0.0\n%project=long\n\n");
    for i in 1..=MIGRATIONS {
        let requires = if i > 1 {
            format!("[t{}] ", i - 1)
        } else {
            String::new()
        };
        plan.push_str(&format!(
            "t{i} {requires}2026-01-05T00:00:00Z Tester <t@example.com> # table {i}\n"
        ));
        let index = if i == 6 || i == 41 {
            format!("CREATE INDEX t{0}_v ON t{0} (v);\n", i - 1)
        } else {
            String::new()
        };
        let files = [
            (
                "deploy",
                format!(
                    "BEGIN;\nCREATE TABLE t{i} (id bigint PRIMARY KEY, v varchar(40));\n{index}COMMIT;\n"
                ),
            ),
            ("revert", format!("BEGIN;\nDROP TABLE t{i};\nCOMMIT;\n")),
            ("verify", format!("SELECT id FROM t{i} WHERE 1 = 0;\n")),
        ];
        for (sub, text) in files {
            std::fs::write(project.join(sub).join(format!("t{i}.sql")), text).unwrap();
        }
    }
    std::fs::write(project.join("sqitch.plan"), plan).unwrap();
}

/// Write a Sqitch plan for `conf_engine`, verify it split and with `--no-split` on `engine`:
/// the same verdicts, the split at half the plan (Sqitch's share), the two deploys whose
/// revert forgets an index failing.
fn sqitch_plan_splits(conf_engine: &str, engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_sqitch_plan(dir.path(), conf_engine);
    let report = same_verdicts(dir.path(), engine);
    assert_eq!(split_from(&report).as_deref(), Some("t25"));
    assert_eq!(failed_migrations(&report), vec!["t6", "t41"]);
}

/// The second database catches up with every deploy script in one psql session (several
/// `--file`).
#[test]
fn sqitch_plans_split_with_the_same_verdicts() {
    sqitch_plan_splits("pg", "postgres");
}

/// The same with the mariadb client (several `source` in one session).
#[test]
fn sqitch_plans_on_mariadb_split_with_the_same_verdicts() {
    sqitch_plan_splits("mysql", "mariadb");
}
