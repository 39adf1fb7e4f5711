//! "Seen, not guessed": verify observes the locks, rewrites and rebuilds of each migration's
//! first upgrade on a real server (migcheck's local provider), and says where the static lint
//! agrees. The built binary runs the fixtures under `fixtures/observe/`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{fixture, verify, Run};

fn findings(run: &Run) -> Vec<Value> {
    run.json.as_ref().map(findings_in).unwrap_or_default()
}

fn findings_in(report: &Value) -> Vec<Value> {
    report["findings"].as_array().cloned().unwrap_or_default()
}

fn observed(run: &Run) -> Vec<Value> {
    run.json.as_ref().map(observed_in).unwrap_or_default()
}

fn observed_in(report: &Value) -> Vec<Value> {
    findings_in(report)
        .into_iter()
        .filter(|f| {
            f["rule"]
                .as_str()
                .is_some_and(|r| r.starts_with("observed-"))
        })
        .collect()
}

/// `rule file:line message` for each finding, for assertion messages.
fn describe(fs: &[Value]) -> String {
    fs.iter()
        .map(|f| {
            format!(
                "{} {}:{} {}",
                f["rule"].as_str().unwrap_or("?"),
                Path::new(f["file"].as_str().unwrap_or("?"))
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                f["line"],
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The findings of `rule` on `file` (a file name) at `line`.
fn at<'a>(fs: &'a [Value], rule: &str, file: &str, line: u64) -> Vec<&'a Value> {
    fs.iter()
        .filter(|f| {
            f["rule"] == rule
                && f["line"] == line
                && f["file"].as_str().is_some_and(|p| p.ends_with(file))
        })
        .collect()
}

/// Assert one finding of `rule` at `file:line` whose message contains every piece of `says`.
fn expect(fs: &[Value], rule: &str, file: &str, line: u64, says: &[&str]) {
    let hits = at(fs, rule, file, line);
    assert!(
        hits.iter().any(|f| {
            let m = f["message"].as_str().unwrap_or("");
            says.iter().all(|s| m.contains(s))
        }),
        "expected {rule} at {file}:{line} saying {says:?}; findings:\n{}",
        describe(fs)
    );
}

fn verify_pg(chain: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--engine", "postgres", "--provider", "local"];
    args.extend_from_slice(extra);
    let run = verify(&fixture(chain), &args);
    assert!(
        matches!(run.code(), 0 | 1),
        "verify did not run:\n{}",
        run.describe()
    );
    run
}

fn verify_mariadb(chain: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--engine", "mariadb", "--provider", "local"];
    args.extend_from_slice(extra);
    let run = verify(&fixture(chain), &args);
    assert!(
        matches!(run.code(), 0 | 1),
        "verify did not run:\n{}",
        run.describe()
    );
    run
}

#[test]
fn postgres_risky_migrations_are_observed_and_agree_with_the_static_rules() {
    let run = verify_pg("observe/postgres/risky", &[]);
    // Warnings do not fail the default gate (error); every round trip still passes.
    assert_eq!(run.code(), 0, "{}", run.describe());
    let fs = findings(&run);

    // CREATE INDEX without CONCURRENTLY: SHARE on orders during the build's scan.
    expect(
        &fs,
        "observed-blocking-lock",
        "0002_index_orders_user.up.sql",
        1,
        &[
            "SHARE on `orders`",
            "blocks writes",
            "static rule create-index-non-concurrently agrees",
        ],
    );
    assert_eq!(
        at(
            &fs,
            "create-index-non-concurrently",
            "0002_index_orders_user.up.sql",
            1
        )
        .len(),
        1
    );

    // Volatile default: the table is rewritten (line 2: after the comment).
    for (rule, says) in [
        (
            "observed-table-rewrite",
            vec!["`users` was rewritten", "users_pkey"],
        ),
        (
            "observed-blocking-lock",
            vec!["ACCESS EXCLUSIVE on `users`", "blocks reads and writes"],
        ),
    ] {
        let mut says = says;
        says.push("static rule add-column-rewriting-default agrees");
        expect(&fs, rule, "0003_add_token.up.sql", 2, &says);
    }
    assert_eq!(
        at(
            &fs,
            "add-column-rewriting-default",
            "0003_add_token.up.sql",
            2
        )
        .len(),
        1
    );

    // ALTER COLUMN TYPE numeric -> double precision: rewrite of orders and its two indexes.
    expect(
        &fs,
        "observed-table-rewrite",
        "0004_total_to_float.up.sql",
        1,
        &[
            "`orders` was rewritten",
            "orders_pkey",
            "orders_user_id_idx",
            "static rule alter-column-type agrees",
        ],
    );

    // SET NOT NULL: ACCESS EXCLUSIVE during a full scan, no rewrite.
    expect(
        &fs,
        "observed-blocking-lock",
        "0005_name_not_null.up.sql",
        1,
        &[
            "ACCESS EXCLUSIVE on `users`",
            "sequential scan",
            "static rule set-not-null agrees",
        ],
    );
    assert!(at(
        &fs,
        "observed-table-rewrite",
        "0005_name_not_null.up.sql",
        1
    )
    .is_empty());

    // FOREIGN KEY without NOT VALID: SHARE ROW EXCLUSIVE on both tables while validating.
    for table in ["`orders`", "`users`"] {
        expect(
            &fs,
            "observed-blocking-lock",
            "0006_orders_user_fk.up.sql",
            1,
            &[
                &format!("SHARE ROW EXCLUSIVE on {table}"),
                "static rule add-foreign-key-without-not-valid agrees",
            ],
        );
    }

    // Three statements after ADD COLUMN (brief ACCESS EXCLUSIVE) in the same transaction.
    expect(
        &fs,
        "observed-statements-under-access-exclusive",
        "0007_backfill_nickname.up.sql",
        2,
        &[
            "3 statements ran while `users` was locked ACCESS EXCLUSIVE (taken at line 1)",
            "static rule statements-after-access-exclusive agrees",
        ],
    );
    assert_eq!(
        at(
            &fs,
            "statements-after-access-exclusive",
            "0007_backfill_nickname.up.sql",
            2
        )
        .len(),
        1
    );
    // The ADD COLUMN itself only touched the catalog: not a blocking-lock finding.
    assert!(at(
        &fs,
        "observed-blocking-lock",
        "0007_backfill_nickname.up.sql",
        1
    )
    .is_empty());

    // timestamp -> timestamptz with TimeZone UTC: the server does no rewrite, and the static
    // rule, judging under the server's own TimeZone, agrees (nothing to reconcile).
    for rule in [
        "alter-column-type",
        "observed-table-rewrite",
        "observed-disagreement",
    ] {
        assert!(
            at(&fs, rule, "0008_created_at_timestamptz.up.sql", 4).is_empty(),
            "{rule}"
        );
    }

    // Migration 1 only creates tables: nothing pre-existing, nothing observed.
    assert!(
        !observed(&run)
            .iter()
            .any(|f| f["file"].as_str().is_some_and(|p| p.contains("0001_"))),
        "{}",
        describe(&observed(&run))
    );

    // Observed findings carry the migration id, a warning severity and the statement.
    for f in observed(&run) {
        assert!(f["migration"].is_string(), "{f}");
        assert!(f["statement"].is_string(), "{f}");
        let expected = if f["rule"] == "observed-disagreement" {
            "info"
        } else {
            "warning"
        };
        assert_eq!(f["severity"], expected, "{f}");
    }
    // The terminal output shows them too.
    assert!(run.stdout().contains("warning[observed-table-rewrite]"));
}

#[test]
fn postgres_safe_migrations_are_not_flagged() {
    let run = verify_pg("observe/postgres/safe", &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let obs = observed(&run);
    assert!(
        obs.is_empty(),
        "safe migrations were flagged:\n{}",
        describe(&obs)
    );
    // The static lint agrees: no warning on these migrations either.
    let warnings: Vec<Value> = findings(&run)
        .into_iter()
        .filter(|f| f["severity"] != "info")
        .collect();
    assert!(warnings.is_empty(), "{}", describe(&warnings));
}

#[test]
fn full_roundtrip_mode_observes_the_first_upgrade_too() {
    let run = verify_pg("observe/postgres/risky", &["--roundtrip", "full"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let fs = findings(&run);
    expect(
        &fs,
        "observed-table-rewrite",
        "0004_total_to_float.up.sql",
        1,
        &["`orders` was rewritten"],
    );
    // Observed once per migration, not again on the way back up.
    assert_eq!(
        at(
            &fs,
            "observed-table-rewrite",
            "0004_total_to_float.up.sql",
            1
        )
        .len(),
        1
    );
}

#[test]
fn observed_rules_follow_the_config_the_gate_and_no_lint() {
    // --disable turns one observed rule off; the others still run.
    let run = verify_pg(
        "observe/postgres/risky",
        &["--disable", "observed-blocking-lock"],
    );
    let rules: Vec<String> = observed(&run)
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(!rules.iter().any(|r| r == "observed-blocking-lock"));
    assert!(rules.iter().any(|r| r == "observed-table-rewrite"));

    // --no-lint: no observation at all.
    let run = verify_pg("observe/postgres/risky", &["--no-lint"]);
    assert_eq!(run.code(), 0);
    assert!(findings(&run).is_empty(), "{}", describe(&findings(&run)));

    // Observed warnings fail the gate like static ones: with every static rule off, only the
    // observation is left to fail `--fail-on warning`.
    let mut args = vec!["--fail-on", "warning"];
    let statics = [
        "create-index-non-concurrently",
        "add-column-rewriting-default",
        "alter-column-type",
        "set-not-null",
        "add-foreign-key-without-not-valid",
        "statements-after-access-exclusive",
    ];
    for r in &statics {
        args.extend(["--disable", r]);
    }
    let run = verify_pg("observe/postgres/risky", &args);
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert!(findings(&run).iter().all(|f| f["rule"]
        .as_str()
        .is_some_and(|r| r.starts_with("observed-"))));
    // ...and the observed findings say no static rule saw them.
    expect(
        &findings(&run),
        "observed-table-rewrite",
        "0003_add_token.up.sql",
        2,
        &["seen by the run only"],
    );
}

#[test]
fn migcheck_ignore_suppresses_an_observed_rule() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("observe/postgres/risky");
    for name in ["0001_create_tables.up.sql", "0001_create_tables.down.sql"] {
        std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    std::fs::write(
        dir.path().join("0002_add_token.up.sql"),
        "-- migcheck:ignore observed-table-rewrite, add-column-rewriting-default -- small table\n\
         ALTER TABLE users ADD COLUMN token double precision DEFAULT random();\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("0002_add_token.down.sql"),
        "ALTER TABLE users DROP COLUMN token;\n",
    )
    .unwrap();
    let run = verify(dir.path(), &["--engine", "postgres", "--provider", "local"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let fs = findings(&run);
    assert!(at(&fs, "observed-table-rewrite", "0002_add_token.up.sql", 2).is_empty());
    // Not named in the directive: still reported.
    expect(
        &fs,
        "observed-blocking-lock",
        "0002_add_token.up.sql",
        2,
        &["while rewriting it"],
    );
    assert!(
        !fs.iter().any(|f| f["rule"] == "unused-suppression"),
        "{}",
        describe(&fs)
    );
}

#[test]
fn mariadb_rebuilds_are_observed_and_instant_changes_are_not() {
    let run = verify_mariadb("observe/mysql/risky", &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let fs = findings(&run);
    expect(
        &fs,
        "observed-table-rebuild",
        "0003_score_to_bigint.up.sql",
        1,
        &[
            "`users` was rebuilt",
            "InnoDB table id changed",
            "static rule alter-column-type agrees",
        ],
    );
    assert_eq!(
        at(&fs, "alter-column-type", "0003_score_to_bigint.up.sql", 1).len(),
        1
    );
    expect(
        &fs,
        "observed-table-rebuild",
        "0004_orders_force_copy.up.sql",
        1,
        &["`orders` was rebuilt", "static rule algorithm-copy agrees"],
    );
    assert_eq!(
        at(&fs, "algorithm-copy", "0004_orders_force_copy.up.sql", 1).len(),
        1
    );
    assert_eq!(observed(&run).len(), 2, "{}", describe(&observed(&run)));

    let run = verify_mariadb("observe/mysql/safe", &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        findings(&run).is_empty(),
        "INSTANT/in-place changes were flagged:\n{}",
        describe(&findings(&run))
    );
}

/// Not an assertion on timings: prints what observation costs on the risky chain.
#[test]
fn observation_overhead_is_measured() {
    let off: Vec<&str> = migcheck::lint::rules::OBSERVED
        .iter()
        .flat_map(|r| ["--disable", r])
        .collect();
    let time = |args: &[&str]| -> (Duration, Value) {
        let started = Instant::now();
        let run = verify_pg("observe/postgres/risky", args);
        let took = started.elapsed();
        (took, run.json.clone().unwrap_or_default())
    };
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..3 {
        with.push(time(&[]));
        without.push(time(&off));
    }
    let median = |v: &mut Vec<(Duration, Value)>, key: &str| -> (Duration, u64) {
        v.sort_by_key(|(d, _)| *d);
        let (d, j) = &v[v.len() / 2];
        (*d, j["timings"][key].as_u64().unwrap_or(0))
    };
    let (w, w_mig) = median(&mut with, "migrations_ms");
    let (o, o_mig) = median(&mut without, "migrations_ms");
    eprintln!(
        "observation overhead on observe/postgres/risky (8 migrations, 13 statements): \
         verify {:.0} ms with, {:.0} ms without; migrations phase {w_mig} ms with, {o_mig} ms without",
        w.as_secs_f64() * 1000.0,
        o.as_secs_f64() * 1000.0
    );
    assert!(with.iter().all(|(_, j)| observed_in(j).len() > 1));
    assert!(without.iter().all(|(_, j)| observed_in(j).is_empty()));
}

/// The observation's queries are prepared on the migrations' connection: a migration's
/// `DISCARD ALL` drops them, and the next statement is still observed (no "prepared statement
/// does not exist"), in a non-transactional migration and in a transactional one after it.
#[test]
fn discard_all_in_a_migration_does_not_break_the_observation() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(tmp.path().join(name), text).unwrap();
    write(
        "00001_create.sql",
        "-- +goose Up\nCREATE TABLE t (id bigint PRIMARY KEY, total numeric(10, 2));\n\
         INSERT INTO t SELECT g, g FROM generate_series(1, 100) g;\n\
         -- +goose Down\nDROP TABLE t;\n",
    );
    write(
        "00002_discard.sql",
        "-- +goose NO TRANSACTION\n-- +goose Up\nDISCARD ALL;\n\
         ALTER TABLE t ALTER COLUMN total TYPE double precision;\n\
         -- +goose Down\nALTER TABLE t ALTER COLUMN total TYPE numeric(10, 2);\n",
    );
    write(
        "00003_after.sql",
        "-- +goose Up\nALTER TABLE t ALTER COLUMN total TYPE numeric(12, 2);\n\
         -- +goose Down\nALTER TABLE t ALTER COLUMN total TYPE double precision;\n",
    );
    let run = verify(
        tmp.path(),
        &[
            "--engine",
            "postgres",
            "--provider",
            "local",
            "--format",
            "goose",
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.describe());
    let fs = findings(&run);
    for (file, line) in [("00002_discard.sql", 4), ("00003_after.sql", 2)] {
        expect(
            &fs,
            "observed-table-rewrite",
            file,
            line,
            &["`t` was rewritten"],
        );
    }
    assert!(
        !run.stdout().contains("prepared statement")
            && !run.stderr().contains("prepared statement"),
        "{}",
        run.describe()
    );
}

/// `(compared, partial reads, scan counters read after a flush, differed)` from
/// `MIGCHECK_OBSERVE_CHECK`'s closing line.
fn relation_check_counts(stderr: &str) -> (u64, u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains("MIGCHECK_OBSERVE_CHECK: ") && l.contains("partial reads"))
        .unwrap_or_else(|| panic!("no MIGCHECK_OBSERVE_CHECK line:\n{stderr}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers[..] {
        [checked, partial, flushed, differed] => (checked, partial, flushed, differed),
        _ => panic!("unexpected line {line}"),
    }
}

/// `(rule, file name, line, message)` of the observed findings, sorted.
fn observed_keys(run: &Run) -> Vec<(String, String, u64, String)> {
    let mut keys: Vec<_> = observed(run)
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or("").to_string(),
                Path::new(f["file"].as_str().unwrap_or(""))
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                f["line"].as_u64().unwrap_or(0),
                f["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

/// The relations each migration starts from are read in full once, then by what changed since
/// the previous migration (`pg_catalog.pg_class` rows by `xmin`). The `cached` chain changes
/// what such a read must catch between two observed ups: storage replaced by the round trips
/// of a type change and by a TRUNCATE in a down, a schema renamed, a table renamed. Every
/// partial read equals a full one (the check switch), the findings equal those of full reads
/// only, and the findings name what a reader expects: no rewrite where only the catalog
/// changed, the new names where a rewrite happened after a rename.
#[test]
fn relations_read_by_what_changed_equal_full_reads() {
    for chain in ["observe/postgres/cached", "observe/postgres/risky"] {
        let mut cmd = support::migcheck();
        cmd.env("MIGCHECK_OBSERVE_CHECK", "1");
        let checked = support::verify_with(
            cmd,
            &fixture(chain),
            &["--engine", "postgres", "--provider", "local"],
        );
        assert!(matches!(checked.code(), 0 | 1), "{}", checked.describe());
        let (compared, partial, flushed, differed) = relation_check_counts(&checked.stderr());
        assert_eq!(differed, 0, "{chain}:\n{}", checked.stderr());
        assert!(
            compared >= 6 && compared == partial,
            "{chain}: {compared} of {partial} partial reads compared"
        );
        // PostgreSQL 15+: every observed migration's transaction starts from counters
        // flushed by the relations' read, read here anyway and found zero.
        assert!(
            flushed >= 6,
            "{chain}: {flushed} flushed scan counters checked"
        );

        let mut cmd = support::migcheck();
        cmd.env("MIGCHECK_OBSERVE_INCREMENTAL", "0");
        let full = support::verify_with(
            cmd,
            &fixture(chain),
            &["--engine", "postgres", "--provider", "local"],
        );
        assert_eq!(
            observed_keys(&checked),
            observed_keys(&full),
            "{chain}: the findings depend on how the relations were read"
        );
        if chain.ends_with("risky") {
            continue;
        }
        let fs = observed(&checked);
        let rewrites: Vec<(String, u64)> = at_rule(&fs, "observed-table-rewrite");
        assert_eq!(
            rewrites,
            vec![
                ("0002_amount_to_bigint.up.sql".to_string(), 1),
                ("0005_balance_to_float.up.sql".to_string(), 1),
                ("0007_add_tag.up.sql".to_string(), 2),
            ],
            "{}",
            describe(&fs)
        );
        expect(
            &fs,
            "observed-table-rewrite",
            "0005_balance_to_float.up.sql",
            1,
            &["`bank.accounts`"],
        );
        expect(
            &fs,
            "observed-table-rewrite",
            "0007_add_tag.up.sql",
            2,
            &["`entries`"],
        );
        for file in [
            "0003_add_memo.up.sql",
            "0004_rename_schema.up.sql",
            "0006_rename_ledger.up.sql",
        ] {
            assert!(
                fs.iter()
                    .all(|f| !f["file"].as_str().is_some_and(|p| p.ends_with(file))),
                "{file} only changed the catalog:\n{}",
                describe(&fs)
            );
        }
    }
}

/// `(file name, line)` of every finding of `rule`, sorted.
fn at_rule(fs: &[Value], rule: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = fs
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| {
            (
                Path::new(f["file"].as_str().unwrap_or(""))
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}
