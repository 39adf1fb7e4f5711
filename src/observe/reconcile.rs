//! What was observed, reconciled with the static lint rules.
//!
//! `reconcile` merges the observed findings with the static lint's: each observed finding says
//! which static rule agrees (or that none did), and a static lock/rewrite prediction the run did
//! not confirm becomes an `observed-disagreement` finding. The config's on/off and severities
//! and the `migcheck:ignore` directives that name observed rules (`Ignores`, read with the
//! lint's own parser, `crate::lint::suppress::directive`) are applied here.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{default_severity, Observation, ObservedScript};
use crate::lint::rules;
use crate::lint::LintConfig;
use crate::report::Finding;

/// Static rules that predict a rewrite (Postgres) or a rebuild (MySQL/MariaDB).
const PREDICTS_REWRITE: &[&str] = &[
    "add-column-rewriting-default",
    "alter-column-type",
    "add-column-serial",
    "add-column-stored-generated",
    "vacuum-full",
    "cluster",
];
const PREDICTS_REBUILD: &[&str] = &[
    "alter-column-type",
    "algorithm-copy",
    "convert-charset",
    "change-primary-key",
    "add-column-stored-generated",
    "add-fulltext-index",
    "add-foreign-key-with-checks",
];
/// Static rules that predict a lock blocking reads or writes (Postgres).
const PREDICTS_LOCK: &[&str] = &[
    "create-index-non-concurrently",
    "drop-index-non-concurrently",
    "reindex-non-concurrently",
    "add-foreign-key-without-not-valid",
    "add-check-without-not-valid",
    "add-unique-or-primary-key",
    "add-exclude-constraint",
    "set-not-null",
    "add-column-rewriting-default",
    "alter-column-type",
    "add-column-serial",
    "add-column-stored-generated",
    "vacuum-full",
    "cluster",
];
/// Static rules about other dangers whose statements also take ACCESS EXCLUSIVE: they agree
/// with an observed lock without predicting one.
const ALSO_LOCKS: &[&str] = &[
    "drop-table",
    "drop-column",
    "rename-table",
    "rename-column",
    "truncate",
    "add-column-not-null-without-default",
];

/// The observed rule a static prediction is checked against.
fn confirming_rule(static_rule: &str, mysql: bool) -> Option<&'static str> {
    if mysql {
        return PREDICTS_REBUILD
            .contains(&static_rule)
            .then_some(rules::observed_table_rebuild::RULE.id);
    }
    if static_rule == "statements-after-access-exclusive" {
        return Some(rules::observed_statements_under_access_exclusive::RULE.id);
    }
    if PREDICTS_REWRITE.contains(&static_rule) {
        return Some(rules::observed_table_rewrite::RULE.id);
    }
    PREDICTS_LOCK
        .contains(&static_rule)
        .then_some(rules::observed_blocking_lock::RULE.id)
}

/// Static rules that agree with an observed finding of `observed_rule`.
fn agrees(observed_rule: &str, static_rule: &str) -> bool {
    match observed_rule {
        "observed-blocking-lock" => {
            PREDICTS_LOCK.contains(&static_rule) || ALSO_LOCKS.contains(&static_rule)
        }
        "observed-table-rewrite" => PREDICTS_REWRITE.contains(&static_rule),
        "observed-statements-under-access-exclusive" => {
            static_rule == "statements-after-access-exclusive"
        }
        "observed-table-rebuild" => PREDICTS_REBUILD.contains(&static_rule),
        _ => false,
    }
}

/// Merge an observation into the static findings of the same run: notes of agreement on the
/// observed findings, `observed-disagreement` where a static prediction was not confirmed, the
/// config's on/off, severities and `migcheck:ignore` directives applied to the observed rules.
pub fn reconcile(
    findings: &mut Vec<Finding>,
    observation: Observation,
    config: &LintConfig,
    mysql: bool,
) {
    let Observation {
        findings: observed,
        scripts,
        brief_locks,
        ..
    } = observation;
    let by_file: HashMap<&str, &ObservedScript> =
        scripts.iter().map(|s| (s.file.as_str(), s)).collect();
    let statement_of = |f: &Finding| -> Option<(&str, usize)> {
        let script: &ObservedScript = by_file.get(f.file.as_str())?;
        Some((script.file.as_str(), script.statement_at(f.line?)?))
    };

    // Static findings per observed statement.
    let mut static_at: HashMap<(&str, usize), Vec<&str>> = HashMap::new();
    for f in findings.iter() {
        if let Some(key) = statement_of(f) {
            static_at.entry(key).or_default().push(f.rule.as_str());
        }
    }
    let mut observed_at: HashSet<((&str, usize), &str)> = HashSet::new();
    for f in &observed {
        if let Some(key) = statement_of(f) {
            observed_at.insert((key, f.rule.as_str()));
        }
    }

    let mut extra = Vec::new();
    for f in &observed {
        let mut f = f.clone();
        let agreeing: Vec<&str> = statement_of(&f)
            .and_then(|key| static_at.get(&key))
            .map(|rules| {
                let mut v: Vec<&str> = rules
                    .iter()
                    .copied()
                    .filter(|r| agrees(&f.rule, r))
                    .collect();
                v.dedup();
                v
            })
            .unwrap_or_default();
        let note = match agreeing.as_slice() {
            [] => " [seen by the run only: no static rule flagged this statement]".to_string(),
            [one] => format!(" [static rule {one} agrees]"),
            many => format!(" [static rules {} agree]", many.join(", ")),
        };
        f.message.push_str(&note);
        extra.push(f);
    }
    let mut disagreements = Vec::new();
    for f in findings.iter() {
        let Some(key) = statement_of(f) else {
            continue;
        };
        let Some(expected) = confirming_rule(&f.rule, mysql) else {
            continue;
        };
        if observed_at.contains(&(key, expected)) {
            continue;
        }
        let seen = observed_at
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, r)| *r)
            .collect::<Vec<_>>();
        let brief: Vec<String> = brief_locks
            .iter()
            .filter(|b| {
                by_file
                    .get(b.file.as_str())
                    .and_then(|s| s.statement_at(b.line))
                    == Some(key.1)
                    && b.file == key.0
            })
            .map(|b| format!("{} on `{}`", b.mode, b.table))
            .collect();
        let saw = match (seen.is_empty(), brief.is_empty()) {
            (true, true) => {
                "no blocking lock held during a scan or rewrite, no rewrite".to_string()
            }
            (true, false) => format!(
                "{} held only for a catalog change (no scan, no rewrite: brief unless it has to \
                 wait for other sessions)",
                brief.join(", ")
            ),
            (false, _) => seen.join(", "),
        };
        let what = match expected {
            "observed-table-rewrite" => "a rewrite of the table",
            "observed-table-rebuild" => "a rebuild (copy) of the table",
            "observed-statements-under-access-exclusive" => {
                "statements running under ACCESS EXCLUSIVE"
            }
            _ => "a lock that blocks reads or writes",
        };
        let rule = rules::observed_disagreement::RULE.id;
        disagreements.push(Finding {
            rule: rule.to_string(),
            severity: default_severity(rule),
            file: f.file.clone(),
            line: f.line,
            message: format!(
                "static rule {} predicts {what} here; the run on the server saw {saw} \
                 ({expected} did not fire)",
                f.rule
            ),
            column: f.column,
            statement: f.statement.clone(),
            help: None,
            migration: f.migration.clone(),
            ..Default::default()
        });
    }
    extra.extend(disagreements);

    let ignored = Ignores::read(&scripts);
    for mut f in extra {
        let Some(rule) = rules::find(&f.rule) else {
            continue;
        };
        if !config.is_enabled(rule) || ignored.covers(&f, &by_file) {
            continue;
        }
        f.severity = config.severity(rule).name().to_string();
        f.help.get_or_insert_with(|| rule.recipe.to_string());
        findings.push(f);
    }
    // Static `unused-suppression` findings about observed rules: those directives are read
    // here, against the observed findings.
    findings.retain(|f| {
        !(f.rule == rules::unused_suppression::RULE.id
            && rules::OBSERVED
                .iter()
                .any(|id| f.message.contains(&format!(" {id}`"))))
    });
}

/// `-- migcheck:ignore rule` (the next statement) and `-- migcheck:ignore-file rule`
/// directives that name observed rules, read from the observed scripts' files.
struct Ignores {
    /// (file, line of the statement the directive applies to, rule); line 0: the whole file.
    entries: HashSet<(String, usize, String)>,
}

impl Ignores {
    fn read(scripts: &[ObservedScript]) -> Self {
        let mut entries = HashSet::new();
        for script in scripts {
            let Ok(text) = std::fs::read_to_string(Path::new(&script.file)) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let Some((file_wide, ids)) = directive(line) else {
                    continue;
                };
                let target = if file_wide {
                    Some(0)
                } else {
                    // The first statement starting after the directive, with only blank and
                    // comment lines in between.
                    script
                        .statements
                        .iter()
                        .map(|(start, _)| *start)
                        .find(|start| *start > i + 1)
                        .filter(|start| {
                            lines[i + 1..start - 1].iter().all(|l| {
                                let t = l.trim();
                                t.is_empty() || t.starts_with("--")
                            })
                        })
                };
                if let Some(target) = target {
                    for id in ids.into_iter().filter(|id| rules::is_observed(id)) {
                        entries.insert((script.file.clone(), target, id));
                    }
                }
            }
        }
        Ignores { entries }
    }

    fn covers(&self, f: &Finding, scripts: &HashMap<&str, &ObservedScript>) -> bool {
        let start = scripts.get(f.file.as_str()).and_then(|s| {
            f.line
                .and_then(|l| s.statement_at(l))
                .map(|i| s.statements[i].0)
        });
        [Some(0), start].into_iter().flatten().any(|line| {
            self.entries
                .contains(&(f.file.clone(), line, f.rule.clone()))
        })
    }
}

/// `-- migcheck:ignore a, b -- reason` -> (false, [a, b]); `ignore-file` -> (true, ...): the
/// lint's own reading of a directive, after the line's `--`.
fn directive(line: &str) -> Option<(bool, Vec<String>)> {
    crate::lint::suppress::directive(line.trim_start().strip_prefix("--")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::wanted;

    #[test]
    fn directives_name_rules() {
        assert_eq!(
            directive("  -- migcheck:ignore observed-table-rewrite, x -- agreed"),
            Some((
                false,
                vec!["observed-table-rewrite".to_string(), "x".to_string()]
            ))
        );
        assert_eq!(
            directive("-- migcheck:ignore-file observed-blocking-lock"),
            Some((true, vec!["observed-blocking-lock".to_string()]))
        );
        assert_eq!(directive("-- migcheck:ignored x"), None);
        assert_eq!(directive("SELECT 1"), None);
    }

    fn finding(rule: &str, line: usize) -> Finding {
        Finding {
            rule: rule.to_string(),
            severity: "warning".to_string(),
            file: "m/0002.up.sql".to_string(),
            line: Some(line),
            message: "m".to_string(),
            ..Default::default()
        }
    }

    fn observation(observed: Vec<Finding>) -> Observation {
        Observation {
            findings: observed,
            scripts: vec![ObservedScript {
                file: "m/0002.up.sql".to_string(),
                migration: None,
                statements: vec![(1, 2), (4, 4)],
                excerpts: vec!["a".to_string(), "b".to_string()],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn agreement_and_disagreement_are_reported() {
        let mut findings = vec![
            finding("create-index-non-concurrently", 2),
            finding("alter-column-type", 4),
        ];
        let observed = vec![finding("observed-blocking-lock", 1)];
        reconcile(
            &mut findings,
            observation(observed),
            &LintConfig::default(),
            false,
        );
        let lock = findings
            .iter()
            .find(|f| f.rule == "observed-blocking-lock")
            .unwrap();
        assert!(
            lock.message
                .contains("[static rule create-index-non-concurrently agrees]"),
            "{}",
            lock.message
        );
        let dis: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.rule == "observed-disagreement")
            .collect();
        assert_eq!(dis.len(), 1, "{findings:?}");
        assert_eq!(dis[0].line, Some(4));
        assert!(dis[0].message.contains("alter-column-type"));
        assert_eq!(dis[0].severity, "info");
    }

    #[test]
    fn config_turns_observed_rules_off() {
        let mut config = LintConfig::default();
        config
            .set_rule("observed-blocking-lock", crate::lint::RuleSetting::Off)
            .unwrap();
        let mut findings = Vec::new();
        reconcile(
            &mut findings,
            observation(vec![finding("observed-blocking-lock", 1)]),
            &config,
            false,
        );
        assert!(findings.is_empty(), "{findings:?}");
        assert!(wanted(&config));
        for id in rules::OBSERVED {
            config.set_rule(id, crate::lint::RuleSetting::Off).unwrap();
        }
        assert!(!wanted(&config));
    }
}
