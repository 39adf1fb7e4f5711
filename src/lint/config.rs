//! `migcheck.toml`, section `[lint]`: found by walking up from the linted path, or given with
//! `--config FILE`. Command-line flags override it.
//!
//! ```toml
//! [lint]
//! fail-on = "warning"          # "error" (default) | "warning" | "info"
//! engine = "postgres"          # default engine when --engine is not given
//! pg-version = 13              # target Postgres major version
//! mysql-version = "8.0"
//! downs = false                # lint down scripts too
//! time-zone = "UTC"            # Postgres session TimeZone the migrations run under
//! enable = ["prefer-jsonb", "missing-lock-timeout"]
//! disable = ["rename-column"]
//!
//! [lint.severity]
//! drop-column = "warning"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::rules::{self, Rule};
use super::Severity;
use crate::config::{line_of, Item, Key};
use crate::engine::Engine;
use crate::error::{Error, Result};

pub use crate::config::FILE_NAME;

/// The keys of `[lint]` (`crate::config::LAYOUT`); a test keeps them equal to `RawLint`'s.
pub const KEYS: &[Key] = &[
    Key::value(
        "fail-on",
        "string",
        "\"error\"",
        "lowest finding severity that fails the run: \"error\", \"warning\" or \"info\" (as --fail-on)",
    ),
    Key::value(
        "engine",
        "string",
        "\"postgres\"",
        "engine whose rules `migcheck lint` applies: postgres, mysql or mariadb (as lint --engine; verify runs on its own --engine)",
    ),
    Key::value(
        "pg-version",
        "integer",
        "17",
        "PostgreSQL major version `migcheck lint` targets (as --pg-version); verify uses the server's",
    ),
    Key {
        name: "mysql-version",
        item: Item::Value,
        ty: "string",
        default: "",
        example: "\"8.0\"",
        doc: "MySQL/MariaDB version `migcheck lint` targets (as --mysql-version); recorded, not yet used by any rule",
    },
    Key::value(
        "downs",
        "boolean",
        "false",
        "lint down scripts too (as --downs)",
    ),
    Key::value(
        "time-zone",
        "string",
        "\"UTC\"",
        "PostgreSQL session TimeZone the migrations run under, for `migcheck lint` (as --time-zone); verify uses the server's",
    ),
    Key::value(
        "enable",
        "array of strings",
        "[]",
        "rules to turn on, e.g. the opt-in \"missing-lock-timeout\" and \"prefer-jsonb\"; \"all\" for every rule (as --enable)",
    ),
    Key::value(
        "disable",
        "array of strings",
        "[]",
        "rules to turn off; \"all\" for every rule (as --disable)",
    ),
    Key {
        name: "severity",
        item: Item::Ids {
            what: "rule id",
            ids: || rules::all().iter().map(|r| r.id).collect(),
            listed: || "`migcheck rules` lists them".to_string(),
        },
        ty: "table of strings",
        default: "",
        example: "drop-column = \"warning\"",
        doc: "severity per rule id, overriding the rule's own: \"error\", \"warning\" or \"info\"",
    },
];

/// `TimeZone` assumed for `migcheck lint` (what managed PostgreSQL services and migcheck's own
/// servers run with).
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// A rule's setting from the config or the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSetting {
    Off,
    On,
}

#[derive(Debug, Clone, Default)]
pub struct LintConfig {
    /// Explicit on/off per rule id; rules not listed follow their default.
    pub rules: BTreeMap<String, RuleSetting>,
    /// Severity overrides per rule id.
    pub severities: BTreeMap<String, Severity>,
    /// Every rule on unless explicitly off (`--enable all`).
    pub enable_all: bool,
    pub fail_on: Option<Severity>,
    pub engine: Option<Engine>,
    /// Target Postgres major version.
    pub pg_version: Option<u32>,
    pub mysql_version: Option<String>,
    /// Lint down scripts too.
    pub downs: bool,
    /// The session `TimeZone` migrations run under on Postgres (`time-zone`, `--time-zone`);
    /// verify takes the server's own.
    pub time_zone: Option<String>,
    /// The file this came from.
    pub source: Option<PathBuf>,
}

impl LintConfig {
    pub fn is_enabled(&self, rule: &Rule) -> bool {
        match self.rules.get(rule.id) {
            Some(RuleSetting::Off) => false,
            Some(RuleSetting::On) => true,
            None => self.enable_all || rule.default_enabled,
        }
    }

    pub fn severity(&self, rule: &Rule) -> Severity {
        self.severities
            .get(rule.id)
            .copied()
            .unwrap_or(rule.severity)
    }

    /// The session time zone assumed when neither the config, the flags nor a server say.
    pub fn time_zone(&self) -> &str {
        self.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE)
    }

    pub fn fail_on(&self) -> Severity {
        self.fail_on.unwrap_or(Severity::Error)
    }

    /// Turn a rule on or off by id (`all` for every rule); unknown ids are a usage error.
    pub fn set_rule(&mut self, id: &str, setting: RuleSetting) -> Result<()> {
        if id == "all" {
            match setting {
                RuleSetting::On => self.enable_all = true,
                RuleSetting::Off => {
                    for r in rules::all() {
                        self.rules.insert(r.id.to_string(), RuleSetting::Off);
                    }
                }
            }
            return Ok(());
        }
        check_rule_id(id).map_err(Error::Usage)?;
        self.rules.insert(id.to_string(), setting);
        Ok(())
    }

    /// The config file for `path`: the nearest `migcheck.toml` in it (when a directory) or in
    /// one of its ancestors.
    pub fn discover(path: &Path) -> Option<PathBuf> {
        let abs = std::path::absolute(path).ok()?;
        let start = if abs.is_dir() {
            abs
        } else {
            abs.parent()?.to_path_buf()
        };
        start
            .ancestors()
            .map(|d| d.join(FILE_NAME))
            .find(|p| p.is_file())
    }

    /// Read a config file; errors name the file and line.
    pub fn load(path: &Path) -> Result<LintConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(path, None, format!("cannot read the config: {e}")))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<LintConfig> {
        crate::config::check(text, path)?;
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            Error::input(path, line, format!("invalid config: {}", e.message()))
        })?;
        let mut config = LintConfig {
            source: Some(path.to_path_buf()),
            ..LintConfig::default()
        };
        let Some(lint) = raw.lint else {
            return Ok(config);
        };
        let err = |span: std::ops::Range<usize>, msg: String| {
            Error::input(path, Some(line_of(text, span.start)), msg)
        };
        if let Some(v) = lint.fail_on {
            config.fail_on = Some(Severity::parse(v.get_ref()).ok_or_else(|| {
                err(
                    v.span(),
                    format!("fail-on: `{}` is not error, warning or info", v.get_ref()),
                )
            })?);
        }
        if let Some(v) = lint.engine {
            config.engine = Some(
                v.get_ref()
                    .parse()
                    .map_err(|e: String| err(v.span(), format!("engine: {e}")))?,
            );
        }
        if let Some(v) = lint.pg_version {
            let n = *v.get_ref();
            if !(9..=99).contains(&n) {
                return Err(err(
                    v.span(),
                    format!("pg-version: {n} is not a PostgreSQL major version"),
                ));
            }
            config.pg_version = Some(n);
        }
        if let Some(v) = lint.mysql_version {
            config.mysql_version = Some(v.into_inner());
        }
        config.downs = lint.downs.unwrap_or(false);
        config.time_zone = lint.time_zone.map(Spanned::into_inner);
        for (list, setting) in [
            (lint.enable, RuleSetting::On),
            (lint.disable, RuleSetting::Off),
        ] {
            for id in list.unwrap_or_default() {
                let span = id.span();
                let id = id.into_inner();
                if id == "all" {
                    config.set_rule("all", setting)?;
                    continue;
                }
                check_rule_id(&id).map_err(|m| err(span.clone(), m))?;
                config.rules.insert(id, setting);
            }
        }
        for (id, sev) in lint.severity.unwrap_or_default() {
            check_rule_id(&id).map_err(|m| err(sev.span(), format!("[lint.severity] {m}")))?;
            let s = Severity::parse(sev.get_ref()).ok_or_else(|| {
                err(
                    sev.span(),
                    format!(
                        "[lint.severity] {id}: `{}` is not error, warning or info",
                        sev.get_ref()
                    ),
                )
            })?;
            config.severities.insert(id, s);
        }
        Ok(config)
    }
}

fn check_rule_id(id: &str) -> std::result::Result<(), String> {
    if rules::find(id).is_some() {
        return Ok(());
    }
    let near: Vec<&str> = rules::all()
        .iter()
        .map(|r| r.id)
        .filter(|r| r.contains(id) || id.contains(r))
        .collect();
    let hint = if near.is_empty() {
        " (`migcheck rules` lists them)".to_string()
    } else {
        format!(" (did you mean {}?)", near.join(", "))
    };
    Err(format!("unknown rule `{id}`{hint}"))
}

#[derive(Deserialize)]
struct RawFile {
    lint: Option<RawLint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawLint {
    fail_on: Option<Spanned<String>>,
    engine: Option<Spanned<String>>,
    pg_version: Option<Spanned<u32>>,
    mysql_version: Option<Spanned<String>>,
    downs: Option<bool>,
    time_zone: Option<Spanned<String>>,
    enable: Option<Vec<Spanned<String>>>,
    disable: Option<Vec<Spanned<String>>>,
    severity: Option<BTreeMap<String, Spanned<String>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LintConfig> {
        LintConfig::parse(text, Path::new("cfg/migcheck.toml"))
    }

    #[test]
    fn full_config() {
        let c = parse(
            "[verify]\ncosmetic = \"fail\"\n[lint]\nfail-on = \"warning\"\nengine = \"mysql\"\npg-version = 13\ndowns = true\nenable = [\"prefer-jsonb\"]\ndisable = [\"rename-column\"]\n[lint.severity]\ndrop-column = \"warning\"\n",
        )
        .unwrap();
        assert_eq!(c.fail_on(), Severity::Warning);
        assert_eq!(c.engine, Some(Engine::Mysql));
        assert_eq!(c.pg_version, Some(13));
        assert!(c.downs);
        assert!(c.is_enabled(rules::find("prefer-jsonb").unwrap()));
        assert!(!c.is_enabled(rules::find("rename-column").unwrap()));
        assert!(c.is_enabled(rules::find("drop-table").unwrap()));
        assert_eq!(
            c.severity(rules::find("drop-column").unwrap()),
            Severity::Warning
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("[lint]\nfail-on = \"error\"\ndisable = [\"drop-tabel\"]\n").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("cfg/migcheck.toml:3: "), "{s}");
        assert!(s.contains("unknown rule `drop-tabel`"), "{s}");
        let e = parse("[lint]\n\nfail-on = \"sometimes\"\n").unwrap_err();
        assert!(e.to_string().starts_with("cfg/migcheck.toml:3: "), "{e}");
        let e = parse("[lint]\nbogus = 1\n").unwrap_err();
        assert!(e.to_string().starts_with("cfg/migcheck.toml:2: "), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
        let e = parse("[lint\n").unwrap_err();
        assert!(e.to_string().starts_with("cfg/migcheck.toml:1: "), "{e}");
    }

    #[test]
    fn unknown_keys_anywhere_in_the_file_fail_the_lint_too() {
        // Before, each parser read only its own section: `[lnt]` and `[verify] x` were ignored.
        let e = parse("[lnt]\nfail-on = \"warning\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cfg/migcheck.toml:1: unknown table [lnt] (did you mean [lint]?)"
        );
        assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
        let e = parse("[lint]\n[verify]\nx = 1\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cfg/migcheck.toml:3: unknown key `x` in [verify]"),
            "{e}"
        );
        let e = parse("[lint]\nfail_on = \"info\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cfg/migcheck.toml:2: unknown key `fail_on` in [lint] (did you mean `fail-on`?)"
        );
    }

    #[test]
    fn the_layout_lists_what_the_parser_reads() {
        let keys: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        assert_eq!(keys, crate::config::serde_fields::<RawLint>());
        for table in crate::config::serde_fields::<RawFile>() {
            let layout: Vec<&str> = crate::config::section(table)
                .iter()
                .map(|k| k.name)
                .collect();
            assert_eq!(layout, keys, "[{table}] in crate::config::LAYOUT");
        }
    }

    #[test]
    fn discovery_walks_up() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("db/migrations");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("0001_a.up.sql"), "SELECT 1;").unwrap();
        assert!(LintConfig::discover(&nested).is_none_or(|p| !p.starts_with(dir.path())));
        std::fs::write(dir.path().join(FILE_NAME), "[lint]\n").unwrap();
        assert_eq!(
            LintConfig::discover(&nested.join("0001_a.up.sql")),
            Some(dir.path().join(FILE_NAME))
        );
        assert_eq!(
            LintConfig::discover(&nested),
            Some(dir.path().join(FILE_NAME))
        );
    }
}
