//! `migcheck.toml`, section `[verify]`: how `migcheck verify` compares schemas and prepares
//! the sessions that apply migrations. The same file as `[lint]` (given with `--config`, or
//! the nearest one at or above the migrations folder); flags override it.
//!
//! ```toml
//! [verify]
//! session-sql = ["SET FOREIGN_KEY_CHECKS = 0"]
//! cosmetic = "note"
//!
//! [verify.cosmetic-rules]
//! routine-formatting = "fail"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::cli::VerifyArgs;
use crate::compare::{CosmeticPolicy, CosmeticRule, Policies};
use crate::config::{line_of, Item, Key};
use crate::error::{Error, Result};
use crate::lint::config::LintConfig;

/// The keys of `[verify]` (`crate::config::LAYOUT`); a test keeps them equal to `RawVerify`'s.
pub const KEYS: &[Key] = &[
    Key::value(
        "session-sql",
        "array of strings",
        "[]",
        "SQL run, in order, on every connection that applies migrations (as --session-sql, which replaces the list)",
    ),
    Key::value(
        "cosmetic",
        "string",
        "\"note\"",
        "how differences that do not change behaviour count: \"ignore\", \"note\" or \"fail\" (as --cosmetic)",
    ),
    Key {
        name: "cosmetic-rules",
        item: Item::Ids {
            what: "cosmetic rule",
            ids: || CosmeticRule::ALL.iter().map(|r| r.id()).collect(),
            listed: || {
                let ids: Vec<&str> = CosmeticRule::ALL.iter().map(|r| r.id()).collect();
                format!("the cosmetic rules are {}", ids.join(", "))
            },
        },
        ty: "table of strings",
        default: "",
        example: "routine-formatting = \"fail\"",
        doc: "one cosmetic rule's policy, overriding `cosmetic` (as --cosmetic-rule): column-order, routine-formatting or view-column-order, each \"ignore\", \"note\" or \"fail\"",
    },
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyConfig {
    /// Run, in order, on every connection that applies migrations.
    pub session_sql: Vec<String>,
    pub cosmetic: Policies,
}

impl VerifyConfig {
    /// The config file's `[verify]` section, then the flags.
    pub fn resolve(args: &VerifyArgs) -> Result<VerifyConfig> {
        let file = match &args.rules.config {
            Some(p) => Some(p.clone()),
            None => LintConfig::discover(&args.path),
        };
        let mut config = match file {
            Some(path) if path.is_file() => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::input(&path, None, format!("cannot read the config: {e}"))
                })?;
                Self::parse(&text, &path)?
            }
            _ => VerifyConfig::default(),
        };
        if !args.session_sql.is_empty() {
            config.session_sql = args.session_sql.clone();
        }
        if let Some(policy) = args.cosmetic {
            config.cosmetic.default = policy;
        }
        for spec in &args.cosmetic_rule {
            let (rule, policy) = parse_rule_policy(spec)
                .map_err(|m| Error::Usage(format!("--cosmetic-rule {spec}: {m}")))?;
            config.cosmetic.rules.insert(rule, policy);
        }
        if let Some(blank) = config.session_sql.iter().find(|s| s.trim().is_empty()) {
            return Err(Error::Usage(format!(
                "session SQL `{blank}` is empty: give a statement such as `SET lock_timeout = '5s'`"
            )));
        }
        Ok(config)
    }

    pub fn parse(text: &str, path: &Path) -> Result<VerifyConfig> {
        crate::config::check(text, path)?;
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            Error::input(path, line, format!("invalid config: {}", e.message()))
        })?;
        let mut config = VerifyConfig::default();
        let Some(verify) = raw.verify else {
            return Ok(config);
        };
        let err = |span: std::ops::Range<usize>, msg: String| {
            Error::input(path, Some(line_of(text, span.start)), msg)
        };
        config.session_sql = verify
            .session_sql
            .unwrap_or_default()
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        if let Some(v) = verify.cosmetic {
            config.cosmetic.default = CosmeticPolicy::parse(v.get_ref()).ok_or_else(|| {
                err(
                    v.span(),
                    format!("cosmetic: `{}` is not ignore, note or fail", v.get_ref()),
                )
            })?;
        }
        for (id, policy) in verify.cosmetic_rules.unwrap_or_default() {
            let (rule, policy) = parse_rule_policy(&format!("{id}={}", policy.get_ref()))
                .map_err(|m| err(policy.span(), format!("[verify.cosmetic-rules] {m}")))?;
            config.cosmetic.rules.insert(rule, policy);
        }
        Ok(config)
    }
}

/// `routine-formatting=fail`.
fn parse_rule_policy(spec: &str) -> std::result::Result<(CosmeticRule, CosmeticPolicy), String> {
    let (id, policy) = spec
        .split_once('=')
        .ok_or_else(|| "expected RULE=POLICY, e.g. routine-formatting=fail".to_string())?;
    let rule = CosmeticRule::parse(id.trim()).ok_or_else(|| {
        let ids: Vec<&str> = CosmeticRule::ALL.iter().map(|r| r.id()).collect();
        format!(
            "unknown cosmetic rule `{}` (the rules are {})",
            id.trim(),
            ids.join(", ")
        )
    })?;
    let policy = CosmeticPolicy::parse(policy.trim())
        .ok_or_else(|| format!("`{}` is not ignore, note or fail", policy.trim()))?;
    Ok((rule, policy))
}

#[derive(Deserialize)]
struct RawFile {
    verify: Option<RawVerify>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawVerify {
    session_sql: Option<Vec<Spanned<String>>>,
    cosmetic: Option<Spanned<String>>,
    cosmetic_rules: Option<BTreeMap<String, Spanned<String>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<VerifyConfig> {
        VerifyConfig::parse(text, Path::new("cfg/migcheck.toml"))
    }

    #[test]
    fn reads_the_verify_section() {
        let c = parse(
            "[lint]\nfail-on = \"warning\"\n[verify]\nsession-sql = [\"SET FOREIGN_KEY_CHECKS = 0\", \"SET sql_mode = ''\"]\ncosmetic = \"fail\"\n[verify.cosmetic-rules]\nroutine-formatting = \"note\"\n",
        )
        .unwrap();
        assert_eq!(
            c.session_sql,
            vec!["SET FOREIGN_KEY_CHECKS = 0", "SET sql_mode = ''"]
        );
        assert_eq!(c.cosmetic.default, CosmeticPolicy::Fail);
        assert_eq!(
            c.cosmetic.of(CosmeticRule::RoutineFormatting),
            CosmeticPolicy::Note
        );
        assert_eq!(
            c.cosmetic.of(CosmeticRule::ColumnOrder),
            CosmeticPolicy::Fail
        );
        assert_eq!(parse("[lint]\n").unwrap(), VerifyConfig::default());
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("[verify]\ncosmetic = \"loud\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cfg/migcheck.toml:2: "), "{e}");
        let e = parse("[verify]\n\n[verify.cosmetic-rules]\ncolumn-ordre = \"fail\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cfg/migcheck.toml:4: "), "{e}");
        assert!(e.contains("column-order"), "{e}");
        let e = parse("[verify]\nsession_sql = []\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cfg/migcheck.toml:2: "), "{e}");
        assert!(e.contains("did you mean `session-sql`?"), "{e}");
    }

    #[test]
    fn unknown_tables_fail_the_verify_section_too() {
        // The lint section is misspelled: verify reads the same file and says so.
        let e = parse("[verify]\ncosmetic = \"fail\"\n[lnt]\nfail-on = \"info\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cfg/migcheck.toml:3: unknown table [lnt] (did you mean [lint]?)"
        );
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
    }

    #[test]
    fn the_layout_lists_what_the_parser_reads() {
        let keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(keys, crate::config::serde_fields::<RawVerify>());
        for table in crate::config::serde_fields::<RawFile>() {
            let layout: Vec<&str> = crate::config::section(table)
                .iter()
                .map(|k| k.name)
                .collect();
            assert_eq!(layout, keys, "[{table}] in crate::config::LAYOUT");
        }
    }
}
