//! `-- migcheck:ignore rule-a, rule-b -- reason` (the next statement) and
//! `-- migcheck:ignore-file rule-a` (the whole file). A suppression that matches nothing is
//! itself reported as `unused-suppression`.
//!
//! Directives are read from the script's raw text by line, because the splitter strips the
//! comments that precede a statement.

use std::collections::HashMap;

use super::model::Stmt;
use super::rules;
use super::{excerpt, LintConfig, Raw};
use crate::report::Finding;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub line: usize,
    pub col: usize,
    pub file_wide: bool,
    pub rules: Vec<String>,
}

/// A comment's text after its marker (`--`, or `#` in a Python revision) read as a directive:
/// whether it is file-wide, and the rule ids it names.
pub fn directive(comment: &str) -> Option<(bool, Vec<String>)> {
    let body = comment.trim_start();
    let (file_wide, rest) = if let Some(r) = body.strip_prefix("migcheck:ignore-file") {
        (true, r)
    } else if let Some(r) = body.strip_prefix("migcheck:ignore") {
        (false, r)
    } else {
        return None;
    };
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    // Everything after a second `--` is the reason.
    let list = rest.split("--").next().unwrap_or("");
    let rules = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    Some((file_wide, rules))
}

/// Find every directive in the raw lines.
pub fn parse(lines: &HashMap<usize, String>) -> Vec<Directive> {
    let mut out = Vec::new();
    let mut numbers: Vec<&usize> = lines.keys().collect();
    numbers.sort();
    for &n in numbers {
        let text = &lines[&n];
        let trimmed = text.trim_start();
        let Some(comment) = trimmed.strip_prefix("--") else {
            continue;
        };
        let Some((file_wide, rules)) = directive(comment) else {
            continue;
        };
        out.push(Directive {
            line: n,
            col: text.len() - trimmed.len() + 1,
            file_wide,
            rules,
        });
    }
    out
}

/// The statement a line directive applies to: the first one after it, with only blank and
/// comment lines in between.
fn target(d: &Directive, stmts: &[Stmt], lines: &HashMap<usize, String>) -> Option<usize> {
    let (i, stmt) = stmts.iter().enumerate().find(|(_, s)| s.line > d.line)?;
    let clear = (d.line + 1..stmt.line).all(|l| {
        lines
            .get(&l)
            .map(|t| t.trim().is_empty() || t.trim_start().starts_with("--"))
            .unwrap_or(true)
    });
    clear.then_some(i)
}

/// Drop suppressed findings, report unused directives, apply severity overrides.
pub(super) fn apply(
    raw: Vec<Raw>,
    directives: &[Directive],
    stmts: &[Stmt],
    lines: &HashMap<usize, String>,
    config: &LintConfig,
) -> Vec<Finding> {
    let targets: Vec<Option<usize>> = directives
        .iter()
        .map(|d| {
            if d.file_wide {
                None
            } else {
                target(d, stmts, lines)
            }
        })
        .collect();
    // used[d][r]: directive d's rule r suppressed something.
    let mut used: Vec<Vec<bool>> = directives
        .iter()
        .map(|d| vec![false; d.rules.len()])
        .collect();
    let mut out = Vec::new();
    for f in raw {
        let mut suppressed = false;
        for (di, d) in directives.iter().enumerate() {
            let applies = d.file_wide || (targets[di].is_some() && targets[di] == f.stmt);
            if !applies {
                continue;
            }
            for (ri, r) in d.rules.iter().enumerate() {
                if r == f.rule.id {
                    used[di][ri] = true;
                    suppressed = true;
                }
            }
        }
        if !suppressed {
            let statement = f.stmt.and_then(|i| stmts.get(i)).map(|s| excerpt(&s.sql));
            out.push(finding(
                f.rule, config, f.line, f.col, f.message, f.help, statement,
            ));
        }
    }
    let unused_rule = &rules::unused_suppression::RULE;
    if !config.is_enabled(unused_rule) {
        return out;
    }
    for (di, d) in directives.iter().enumerate() {
        let kind = if d.file_wide {
            "migcheck:ignore-file"
        } else {
            "migcheck:ignore"
        };
        if d.rules.is_empty() {
            out.push(finding(
                unused_rule,
                config,
                d.line,
                d.col,
                format!("`{kind}` names no rule"),
                None,
                None,
            ));
            continue;
        }
        for (ri, r) in d.rules.iter().enumerate() {
            if used[di][ri] {
                continue;
            }
            let message = match rules::find(r) {
                None => format!("`{kind} {r}`: unknown rule `{r}` (see `migcheck rules`)"),
                // A rule switched off in the config has nothing to suppress: not stale.
                Some(rule) if !config.is_enabled(rule) => continue,
                // Observed rules fire during verify only; verify judges those suppressions.
                Some(rule) if rules::is_observed(rule.id) => continue,
                Some(_) if !d.file_wide && targets[di].is_none() => {
                    format!("`{kind} {r}` is not followed by a statement on the next line")
                }
                Some(_) => format!("`{kind} {r}` matches no finding"),
            };
            out.push(finding(
                unused_rule,
                config,
                d.line,
                d.col,
                message,
                None,
                None,
            ));
        }
    }
    out
}

fn finding(
    rule: &rules::Rule,
    config: &LintConfig,
    line: usize,
    col: usize,
    message: String,
    help: Option<String>,
    statement: Option<String>,
) -> Finding {
    Finding {
        rule: rule.id.to_string(),
        severity: config.severity(rule).name().to_string(),
        file: String::new(),
        line: Some(line),
        message,
        column: Some(col),
        statement,
        help: Some(help.unwrap_or_else(|| rule.recipe.to_string())),
        migration: None,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> HashMap<usize, String> {
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect()
    }

    #[test]
    fn parses_rules_and_reason() {
        let d = parse(&lines(
            "  -- migcheck:ignore drop-table, rename-column -- agreed with ops\n-- migcheck:ignore-file truncate\n-- migcheck:ignored x\n-- note",
        ));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].rules, vec!["drop-table", "rename-column"]);
        assert_eq!(d[0].col, 3);
        assert!(!d[0].file_wide);
        assert!(d[1].file_wide);
        assert_eq!(d[1].rules, vec!["truncate"]);
    }
}
