//! `sqitch.conf`: Sqitch's Git-style configuration file (`[core]`, `[engine "pg"]`,
//! `[target "prod"]`, `key = value`), and the settings in it that decide where the plan and the
//! scripts are.
//!
//! Only the project's own `sqitch.conf` is read: the user file (`~/.sqitch/sqitch.conf`), the
//! system file and `$SQITCH_CONFIG` are not, so that a project reads the same on every machine.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One `key = value` of the file; the key is `section[.subsection].name`, with the section and
/// the name lower-cased and the subsection as written (Git's and Sqitch's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A parsed `sqitch.conf`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it was read from (None: the project has no `sqitch.conf`).
    pub file: Option<PathBuf>,
    pub entries: Vec<Entry>,
}

impl Config {
    /// Read and parse `path`; unreadable or malformed files are input errors (exit 2).
    pub fn read(path: &Path) -> Result<Config> {
        let text = crate::chain::read_text(path)?;
        Config::parse(path, &text)
    }

    /// Parse the text of a config file; `file` is only used in error messages.
    pub fn parse(file: &Path, text: &str) -> Result<Config> {
        let entries = Parser::new(text)
            .run()
            .map_err(|(line, msg)| Error::input(file, Some(line), msg))?;
        Ok(Config {
            file: Some(file.to_path_buf()),
            entries,
        })
    }

    /// The last value set for `key` (`core.engine`, `engine.pg.client`); like Sqitch, an empty
    /// value counts as unset.
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = canonical_key(key);
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The line of the last `key` (for error messages).
    pub fn line_of(&self, key: &str) -> Option<usize> {
        let key = canonical_key(key);
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.line)
    }
}

/// `Section.Sub.Name` → `section.Sub.name`.
fn canonical_key(key: &str) -> String {
    match (key.find('.'), key.rfind('.')) {
        (Some(first), Some(last)) if first != last => format!(
            "{}{}{}",
            key[..first].to_lowercase(),
            &key[first..last],
            key[last..].to_lowercase()
        ),
        _ => key.to_lowercase(),
    }
}

/// The engine key Sqitch derives from a target URI (`db:pg://host/db`, `db:postgres:`,
/// `db:mariadb:`): `pg`, `mysql`, `sqlite`, ... (URI::db's canonical engine names).
pub fn engine_of_uri(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("db:").unwrap_or(uri);
    let scheme = rest.split(':').next()?.trim();
    if scheme.is_empty() || rest.len() == scheme.len() {
        return None;
    }
    Some(canonical_engine(scheme))
}

/// URI::db's canonical engine for a scheme: `postgres`/`postgresql` are `pg`, `maria`/`mariadb`
/// are `mysql`, `cockroachdb` is `cockroach`, `sqlite3` is `sqlite`.
pub fn canonical_engine(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "pg" | "postgres" | "postgresql" => "pg",
        "mysql" | "maria" | "mariadb" => "mysql",
        "sqlite" | "sqlite3" => "sqlite",
        "cockroach" | "cockroachdb" => "cockroach",
        other => return other.to_string(),
    }
    .to_string()
}

/// Where Sqitch finds things, resolved from a `Config` the way `App::Sqitch::Target` does it.
/// Paths are relative to the project directory (Sqitch's working directory) unless absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Canonical engine key (`pg`, `mysql`, ...) from `core.engine` or the default target's URI.
    pub engine: Option<String>,
    /// The default target's name or URI (`core.target`, `engine.<e>.target`, else `db:<e>:`).
    pub target: Option<String>,
    /// `client` (target, then engine, then core), when set.
    pub client: Option<String>,
    /// `registry` when set (Sqitch's default: `sqitch`).
    pub registry: Option<String>,
    pub top_dir: PathBuf,
    pub plan_file: PathBuf,
    pub deploy_dir: PathBuf,
    pub revert_dir: PathBuf,
    pub verify_dir: PathBuf,
    pub reworked_deploy_dir: PathBuf,
    pub reworked_revert_dir: PathBuf,
    pub reworked_verify_dir: PathBuf,
    /// Script file extension without the dot (`sql`).
    pub extension: String,
}

impl Settings {
    /// Resolve the settings. A `core.target` (or `engine.<e>.target`) naming a target that has
    /// no `target.<name>.uri` is an error, as in Sqitch ("Cannot find target").
    pub fn resolve(config: &Config, conf_file: &Path) -> Result<Settings> {
        let raw_engine = config.get("core.engine").map(|e| e.trim_end().to_string());
        let target = config.get("core.target").map(str::to_string).or_else(|| {
            raw_engine.as_ref().map(|e| {
                config
                    .get(&format!("engine.{e}.target"))
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("db:{e}:"))
            })
        });
        // A target is a URI (it has a colon) or the name of a `[target "name"]` section.
        let (target_name, uri) = match &target {
            Some(t) if t.contains(':') => (None, Some(t.clone())),
            Some(name) => {
                let uri = config.get(&format!("target.{name}.uri")).ok_or_else(|| {
                    let line = config.line_of("core.target").or_else(|| {
                        config.line_of(&format!(
                            "engine.{}.target",
                            raw_engine.as_deref().unwrap_or("")
                        ))
                    });
                    let has_section = config
                        .entries
                        .iter()
                        .any(|e| e.key.starts_with(&format!("target.{name}.")));
                    Error::input(
                        conf_file,
                        line,
                        if has_section {
                            format!("No URI associated with target \"{name}\"")
                        } else {
                            format!("Cannot find target \"{name}\"")
                        },
                    )
                })?;
                (Some(name.clone()), Some(uri.to_string()))
            }
            None => (None, None),
        };
        // The engine whose `[engine "<key>"]` section applies is the target URI's canonical one.
        let engine = uri
            .as_deref()
            .and_then(engine_of_uri)
            .or_else(|| raw_engine.as_deref().map(canonical_engine));
        let fetch = |key: &str| -> Option<String> {
            target_name
                .as_ref()
                .and_then(|t| config.get(&format!("target.{t}.{key}")))
                .or_else(|| {
                    engine
                        .as_ref()
                        .and_then(|e| config.get(&format!("engine.{e}.{key}")))
                })
                .or_else(|| config.get(&format!("core.{key}")))
                .map(str::to_string)
        };
        let top_dir = clean(&PathBuf::from(fetch("top_dir").unwrap_or_default()));
        let reworked_dir = fetch("reworked_dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| top_dir.clone());
        let dir = |key: &str, base: &Path, sub: &str| -> PathBuf {
            clean(
                &fetch(key)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| base.join(sub)),
            )
        };
        Ok(Settings {
            plan_file: clean(
                &fetch("plan_file")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| top_dir.join("sqitch.plan")),
            ),
            deploy_dir: dir("deploy_dir", &top_dir, "deploy"),
            revert_dir: dir("revert_dir", &top_dir, "revert"),
            verify_dir: dir("verify_dir", &top_dir, "verify"),
            reworked_deploy_dir: dir("reworked_deploy_dir", &reworked_dir, "deploy"),
            reworked_revert_dir: dir("reworked_revert_dir", &reworked_dir, "revert"),
            reworked_verify_dir: dir("reworked_verify_dir", &reworked_dir, "verify"),
            extension: fetch("extension").unwrap_or_else(|| "sql".to_string()),
            client: fetch("client"),
            registry: fetch("registry"),
            top_dir,
            engine,
            target,
        })
    }
}

/// Drop `.` components (Path::Class's `cleanup`), keeping an empty path for the current dir.
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Config::GitLike's parser (non-strict mode, as Sqitch uses it), with line numbers.
struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    section: Option<String>,
    out: Vec<Entry>,
}

type ParseResult<T> = std::result::Result<T, (usize, String)>;

impl Parser {
    fn new(text: &str) -> Self {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            section: None,
            out: Vec::new(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_to_eol(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    fn run(mut self) -> ParseResult<Vec<Entry>> {
        loop {
            while self.peek().is_some_and(char::is_whitespace) {
                self.bump();
            }
            match self.peek() {
                None => return Ok(self.out),
                Some('#' | ';') => self.skip_to_eol(),
                Some('[') => self.section_header()?,
                Some(_) => self.key_value()?,
            }
        }
    }

    fn section_header(&mut self) -> ParseResult<()> {
        let line = self.line;
        self.bump(); // [
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, '[' | ']' | '"') {
                break;
            }
            name.push(c);
            self.bump();
        }
        if name.is_empty() {
            return Err((line, "invalid section header".to_string()));
        }
        let mut section = name.to_lowercase();
        self.skip_blanks();
        if self.peek() == Some('"') {
            self.bump();
            let mut sub = String::new();
            loop {
                match self.bump() {
                    Some('"') => break,
                    Some('\\') => match self.bump() {
                        Some(c @ ('\\' | '"')) => sub.push(c),
                        _ => {
                            return Err((
                                line,
                                "invalid escape in a quoted subsection name".to_string(),
                            ));
                        }
                    },
                    Some('\n') | None => {
                        return Err((line, "unterminated subsection name".to_string()));
                    }
                    Some(c) => sub.push(c),
                }
            }
            section = format!("{section}.{sub}");
        }
        if self.bump() != Some(']') {
            return Err((line, "invalid section header (missing `]`)".to_string()));
        }
        self.section = Some(section);
        Ok(())
    }

    fn key_value(&mut self) -> ParseResult<()> {
        let line = self.line;
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if matches!(c, '=' | '\n' | '#' | ';') {
                break;
            }
            name.push(c);
            self.bump();
        }
        let name = name.trim_end().to_string();
        let Some(section) = self.section.clone() else {
            return Err((line, format!("`{name}` is outside any [section]")));
        };
        if name.is_empty() {
            return Err((line, "a line with no key".to_string()));
        }
        let key = format!("{section}.{}", name.to_lowercase());
        if self.peek() != Some('=') {
            // A key with no value (a boolean true); a comment may follow.
            self.skip_to_eol();
            self.out.push(Entry {
                key,
                value: "true".to_string(),
                line,
            });
            return Ok(());
        }
        self.bump(); // =
        self.skip_blanks();
        let mut value = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => break,
                Some('#' | ';') => {
                    self.skip_to_eol();
                    break;
                }
                Some(' ' | '\t') => {
                    self.skip_blanks();
                    if matches!(self.peek(), None | Some('\n' | '#' | ';')) {
                        continue;
                    }
                    value.push(' ');
                }
                Some('\\') => {
                    self.bump();
                    match self.bump() {
                        Some('\n') => {}
                        Some('\r') if self.peek() == Some('\n') => {
                            self.bump();
                        }
                        Some(c @ ('\\' | '"' | '\'')) => value.push(c),
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some('b') => value.push('\u{8}'),
                        _ => return Err((self.line, "invalid escape in a value".to_string())),
                    }
                }
                Some('"') => {
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                Some('\n') => {}
                                Some(c @ ('\\' | '"')) => value.push(c),
                                Some('n') => value.push('\n'),
                                Some('t') => value.push('\t'),
                                Some('b') => value.push('\u{8}'),
                                _ => {
                                    return Err((
                                        self.line,
                                        "invalid escape in a quoted value".to_string(),
                                    ));
                                }
                            },
                            Some('\n') | None => {
                                return Err((line, "unterminated quoted value".to_string()));
                            }
                            Some(c) => value.push(c),
                        }
                    }
                }
                Some('\r') => {
                    self.bump();
                }
                Some(c) => {
                    value.push(c);
                    self.bump();
                }
            }
        }
        self.out.push(Entry { key, value, line });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(Path::new("sqitch.conf"), text).unwrap()
    }

    #[test]
    fn sections_subsections_values_and_comments() {
        let c = parse(
            "[core]\n\tengine = pg\n\t# plan_file = nope.plan\n\ttop_dir = db ; a comment\n\
             [engine \"pg\"]\n\tclient = /usr/bin/psql\n\ttarget = \"db:pg://u@h/x\"\n\
             [Target \"Prod\"]\n\tURI = db:pg:prod\n[deploy]\n\tverify\n",
        );
        assert_eq!(c.get("core.engine"), Some("pg"));
        assert_eq!(c.get("core.plan_file"), None);
        assert_eq!(c.get("core.top_dir"), Some("db"));
        assert_eq!(c.get("engine.pg.client"), Some("/usr/bin/psql"));
        assert_eq!(c.get("engine.pg.target"), Some("db:pg://u@h/x"));
        assert_eq!(c.get("target.Prod.uri"), Some("db:pg:prod"));
        assert_eq!(c.get("TARGET.Prod.URI"), Some("db:pg:prod"));
        assert_eq!(c.get("deploy.verify"), Some("true"));
        assert_eq!(c.line_of("engine.pg.client"), Some(6));
    }

    #[test]
    fn malformed_lines_are_errors_with_a_line() {
        let err = Config::parse(Path::new("sqitch.conf"), "engine = pg\n").unwrap_err();
        assert!(err.to_string().starts_with("sqitch.conf:1: "), "{err}");
        let err = Config::parse(Path::new("sqitch.conf"), "[core]\n\n[engine \"pg\n").unwrap_err();
        assert!(err.to_string().starts_with("sqitch.conf:3: "), "{err}");
        assert_eq!(err.exit_code(), crate::error::exit::BAD_INPUT);
    }

    #[test]
    fn settings_follow_target_engine_core_precedence() {
        let c = parse(
            "[core]\n engine = postgres\n top_dir = db\n extension = psql\n\
             [engine \"pg\"]\n client = psql15\n deploy_dir = elsewhere/deploy\n",
        );
        let s = Settings::resolve(&c, Path::new("sqitch.conf")).unwrap();
        assert_eq!(s.engine.as_deref(), Some("pg"));
        assert_eq!(s.target.as_deref(), Some("db:postgres:"));
        assert_eq!(s.client.as_deref(), Some("psql15"));
        assert_eq!(s.plan_file, PathBuf::from("db/sqitch.plan"));
        assert_eq!(s.deploy_dir, PathBuf::from("elsewhere/deploy"));
        assert_eq!(s.revert_dir, PathBuf::from("db/revert"));
        assert_eq!(s.reworked_verify_dir, PathBuf::from("db/verify"));
        assert_eq!(s.extension, "psql");

        let c = parse(
            "[core]\n target = prod\n[target \"prod\"]\n uri = db:mariadb://root@h/app\n \
             plan_file = prod.plan\n[engine \"mysql\"]\n client = mariadb\n",
        );
        let s = Settings::resolve(&c, Path::new("sqitch.conf")).unwrap();
        assert_eq!(s.engine.as_deref(), Some("mysql"));
        assert_eq!(s.client.as_deref(), Some("mariadb"));
        assert_eq!(s.plan_file, PathBuf::from("prod.plan"));
        assert_eq!(s.deploy_dir, PathBuf::from("deploy"));

        let s = Settings::resolve(&Config::default(), Path::new("sqitch.conf")).unwrap();
        assert_eq!(s.engine, None);
        assert_eq!(s.plan_file, PathBuf::from("sqitch.plan"));

        let c = parse("[core]\n target = nowhere\n");
        let err = Settings::resolve(&c, Path::new("sqitch.conf")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sqitch.conf:2: Cannot find target \"nowhere\""
        );
    }

    #[test]
    fn engine_names_are_canonical() {
        assert_eq!(engine_of_uri("db:pg://x/y").as_deref(), Some("pg"));
        assert_eq!(engine_of_uri("db:postgresql:").as_deref(), Some("pg"));
        assert_eq!(engine_of_uri("db:mariadb:app").as_deref(), Some("mysql"));
        assert_eq!(engine_of_uri("mysql://h/db").as_deref(), Some("mysql"));
        assert_eq!(engine_of_uri("prod"), None);
    }
}
