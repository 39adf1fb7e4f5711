//! `migcheck init [PATH]`: write a commented `migcheck.toml` for the chain at PATH.
//!
//! The chain is read as `verify` reads it (an Alembic project, else `chain::discover`, with
//! `--format` and `--engine` / `MIGCHECK_ENGINE` as verify takes them); the file lists every key
//! of [`crate::config::LAYOUT`] at its default, commented out, with one line saying what it does,
//! and sets what init was told or found (the lint's engine and target version).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::chain::{self, DiscoverOptions, Format};
use crate::cli::InitArgs;
use crate::config::{Item, Key, FILE_NAME, LAYOUT};
use crate::engine::{Engine, EngineSpec};
use crate::error::{exit, Error, Result};
use crate::lint::config::LintConfig;

/// What init learnt about the project.
#[derive(Debug, Clone)]
pub struct Detected {
    /// The chain as the user named it.
    pub path: PathBuf,
    pub format: Format,
    /// Why that format (as verify prints it after `semantics:`).
    pub format_reason: String,
    /// `--engine` / `MIGCHECK_ENGINE`; None: verify's default, postgres.
    pub engine: Option<EngineSpec>,
}

impl Detected {
    /// Values init sets in the file: `(section, key, TOML value)`.
    fn values(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut out = Vec::new();
        let Some(spec) = &self.engine else {
            return out;
        };
        out.push(("lint", "engine", toml_string(spec.engine.name())));
        // A version that selects the image tag is also the version the lint should target.
        if let Some(v) = &spec.version {
            match spec.engine {
                Engine::Postgres => {
                    let major = v
                        .split(['.', '-'])
                        .next()
                        .and_then(|m| m.parse::<u32>().ok());
                    if let Some(m) = major.filter(|m| (9..=99).contains(m)) {
                        out.push(("lint", "pg-version", m.to_string()));
                    }
                }
                Engine::Mysql | Engine::Mariadb => {
                    out.push(("lint", "mysql-version", toml_string(v)));
                }
            }
        }
        out
    }
}

/// Read the chain at `path` as verify does: an Alembic project (or `--format alembic`), else the
/// migrations folder through `chain::discover`. A path that holds no chain is bad input (exit 2).
pub fn detect(path: &Path, format: Option<Format>, engine: Option<EngineSpec>) -> Result<Detected> {
    let alembic = match format {
        Some(f) => f == Format::Alembic,
        None => crate::alembic::chain::is_project(path),
    };
    let chain = if alembic {
        let graph = crate::alembic::graph::Graph::load(path)?;
        crate::alembic::chain::to_chain(&graph, path, true)
    } else {
        chain::discover(
            path,
            &DiscoverOptions {
                format,
                require_down: false,
                engine: engine.as_ref().map(|e| e.engine),
            },
        )?
    };
    Ok(Detected {
        path: path.to_path_buf(),
        format: chain.format,
        format_reason: chain.format_reason,
        engine,
    })
}

/// The commented file: every section and key of [`LAYOUT`], the detected values set.
pub fn template(detected: Option<&Detected>) -> String {
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    line(
        "# migcheck.toml: configuration of `migcheck verify` and `migcheck lint`, which find it by",
    );
    line(
        "# walking up from the migrations folder (or take --config FILE); their flags override it.",
    );
    line("# Every key is shown at its default, commented out: uncomment one to change it. A key");
    line("# migcheck does not know is an error. Reference: README, \"Configuration (migcheck.toml)\".");
    if let Some(d) = detected {
        let path = comment_text(&d.path.display().to_string());
        line("#");
        line(&format!(
            "# Written by `migcheck init` ({}) for {path}:",
            env!("CARGO_PKG_VERSION")
        ));
        line(&format!(
            "#   format: {} ({})",
            d.format,
            comment_text(&d.format_reason)
        ));
        match &d.engine {
            Some(e) => line(&format!("#   engine: {e} (from --engine / MIGCHECK_ENGINE)")),
            None => line(
                "#   engine: postgres, verify's default (give verify --engine, or init --engine to set the lint's)",
            ),
        }
        if d.format == Format::Alembic {
            line("#   Alembic opens its own connections: session-sql does not apply, set the session up in env.py.");
        }
        let engine = d
            .engine
            .as_ref()
            .map(|e| format!(" --engine {e}"))
            .unwrap_or_default();
        let shell_path = shell_word(&path);
        line(&format!("#   verify: migcheck verify {shell_path}{engine}"));
        line(&format!("#   lint:   migcheck lint {shell_path}"));
    }
    let values = detected.map(Detected::values).unwrap_or_default();
    for section in LAYOUT {
        let keys = match section.item {
            Item::Table(keys) => keys,
            Item::Tables(keys) => {
                // An example entry, all commented out: a chain is verified by naming it.
                line("");
                line(&format!("# {}; for example:", capitalised(section.doc)));
                line(&format!("# [[{}]]", section.name));
                for key in keys {
                    line(&format!("# {} = {}  # {}", key.name, key.example, key.doc));
                }
                continue;
            }
            _ => continue,
        };
        line("");
        line(&format!("# {}.", capitalised(section.doc)));
        line(&format!("[{}]", section.name));
        for key in keys {
            let set = values
                .iter()
                .find(|(s, k, _)| *s == section.name && *k == key.name)
                .map(|(_, _, v)| v.as_str());
            write_key(&mut line, section.name, key, set);
        }
    }
    out
}

fn write_key(line: &mut impl FnMut(&str), section: &str, key: &Key, set: Option<&str>) {
    match key.item {
        Item::Ids { .. } => {
            line(&format!("# {}; for example:", capitalised(key.doc)));
            line(&format!("# [{section}.{}]", key.name));
            line(&format!("# {}", key.example));
        }
        _ => {
            let unset = key.default.is_empty();
            let doc = if unset {
                format!("# {}; unset by default, for example:", capitalised(key.doc))
            } else {
                format!("# {}.", capitalised(key.doc))
            };
            line(&doc);
            match set {
                Some(v) if unset => line(&format!("{} = {v}  # set by migcheck init", key.name)),
                Some(v) => line(&format!(
                    "{} = {v}  # set by migcheck init; default {}",
                    key.name, key.default
                )),
                None if unset => line(&format!("# {} = {}", key.name, key.example)),
                None => line(&format!("# {} = {}", key.name, key.default)),
            }
        }
    }
}

/// `migcheck init`: write (or print) the template.
pub fn run(args: InitArgs) -> Result<u8> {
    let detected = detect(&args.path, args.format, args.engine.clone())?;
    let text = template(Some(&detected));
    if args.stdout {
        print!("{text}");
        return Ok(exit::PASS);
    }
    let dest = match &args.output {
        Some(p) if p.is_dir() => p.join(FILE_NAME),
        Some(p) => p.clone(),
        None => default_destination(&args.path),
    };
    write_new(&dest, &text, args.force)?;
    println!(
        "wrote {} for {} ({}, engine {})",
        dest.display(),
        args.path.display(),
        detected.format,
        detected
            .engine
            .as_ref()
            .map_or_else(|| "postgres".to_string(), ToString::to_string)
    );
    // verify and lint take the nearest migcheck.toml at or above the chain.
    let found = LintConfig::discover(&args.path);
    let same = |a: &Path, b: &Path| {
        std::fs::canonicalize(a)
            .ok()
            .is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a))
    };
    match found {
        Some(f) if same(&f, &dest) => {}
        Some(f) => eprintln!(
            "note: `migcheck verify {}` reads {} (the nearest at or above the chain), not this file: pass --config {}",
            args.path.display(),
            f.display(),
            dest.display()
        ),
        None => eprintln!(
            "note: verify and lint look for {FILE_NAME} at or above {}: pass --config {}",
            args.path.display(),
            dest.display()
        ),
    }
    Ok(exit::PASS)
}

/// `migcheck.toml` in the working directory when it holds the chain (the usual project root),
/// else next to the chain.
fn default_destination(chain: &Path) -> PathBuf {
    let cwd = std::env::current_dir().and_then(std::fs::canonicalize);
    let abs = std::fs::canonicalize(chain);
    if let (Ok(cwd), Ok(abs)) = (cwd, abs) {
        if abs.starts_with(&cwd) {
            return PathBuf::from(FILE_NAME);
        }
    }
    if chain.is_file() {
        // An alembic.ini named directly.
        return chain.parent().unwrap_or(Path::new(".")).join(FILE_NAME);
    }
    chain.join(FILE_NAME)
}

/// Write `text` to `dest`, which must not exist unless `force`.
fn write_new(dest: &Path, text: &str, force: bool) -> Result<()> {
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(dest).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            Error::input(
                dest,
                None,
                "already exists; migcheck init does not overwrite it (--force replaces it, --stdout prints the new file instead)",
            )
        } else {
            Error::Io {
                path: dest.to_path_buf(),
                source,
            }
        }
    })?;
    file.write_all(text.as_bytes()).map_err(|source| Error::Io {
        path: dest.to_path_buf(),
        source,
    })
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Text safe inside a TOML comment (no control characters, which would end it or be refused).
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .collect()
}

/// `path` as one shell word.
fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{CosmeticPolicy, CosmeticRule};
    use crate::lint::Severity;
    use crate::verify_config::VerifyConfig;

    fn detected(engine: Option<&str>) -> Detected {
        Detected {
            path: PathBuf::from("db/migrations"),
            format: Format::GolangMigrate,
            format_reason: "detected from the file names".to_string(),
            engine: engine.map(|e| e.parse().unwrap()),
        }
    }

    fn parse_both(text: &str) -> (VerifyConfig, LintConfig) {
        let path = Path::new("migcheck.toml");
        let verify = VerifyConfig::parse(text, path).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let lint = LintConfig::parse(text, path).unwrap_or_else(|e| panic!("{e}\n{text}"));
        (verify, lint)
    }

    #[test]
    fn the_template_parses_with_both_parsers() {
        for d in [
            None,
            Some(detected(None)),
            Some(detected(Some("mariadb:10.11"))),
            Some(detected(Some("postgres:16"))),
            Some(detected(Some("mysql"))),
        ] {
            let text = template(d.as_ref());
            crate::config::check(&text, Path::new("migcheck.toml"))
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            parse_both(&text);
        }
    }

    #[test]
    fn the_template_lists_every_key_the_parsers_accept() {
        let text = template(None);
        for section in LAYOUT {
            if let Item::Tables(keys) = section.item {
                assert!(
                    text.contains(&format!("\n# [[{}]]\n", section.name)),
                    "{text}"
                );
                for key in keys {
                    let wanted = format!("\n# {} = {}  # {}", key.name, key.example, key.doc);
                    assert!(text.contains(&wanted), "{wanted}\n{text}");
                }
                continue;
            }
            let Item::Table(keys) = section.item else {
                continue;
            };
            let header = format!("\n[{}]\n", section.name);
            assert!(text.contains(&header), "{header}\n{text}");
            for key in keys {
                let wanted = match key.item {
                    Item::Ids { .. } => format!("\n# [{}.{}]\n", section.name, key.name),
                    _ => format!("\n# {} = ", key.name),
                };
                assert!(text.contains(&wanted), "{wanted}\n{text}");
                assert!(text.contains(&capitalised(key.doc)), "{}", key.doc);
            }
        }
    }

    /// Uncomment `# key = value` lines (not `# [table]` headers, not example entries).
    fn uncomment_defaults(text: &str) -> String {
        let mut out = String::new();
        for l in text.lines() {
            let key = l
                .strip_prefix("# ")
                .and_then(|r| r.split_once(" = "))
                .map(|(k, _)| k);
            let is_default = key.is_some_and(|k| {
                LAYOUT
                    .iter()
                    .filter_map(|s| match s.item {
                        Item::Table(keys) => Some(keys),
                        _ => None,
                    })
                    .flatten()
                    .any(|x| x.name == k && !x.default.is_empty() && matches!(x.item, Item::Value))
            });
            out.push_str(if is_default { &l[2..] } else { l });
            out.push('\n');
        }
        out
    }

    #[test]
    fn the_commented_defaults_are_the_parsers_defaults() {
        let text = uncomment_defaults(&template(None));
        assert!(text.contains("\nfail-on = \"error\"\n"), "{text}");
        assert!(text.contains("\nsession-sql = []\n"), "{text}");
        let (verify, lint) = parse_both(&text);
        assert_eq!(verify, VerifyConfig::default());
        let none = LintConfig::default();
        assert_eq!(lint.fail_on(), none.fail_on());
        assert_eq!(lint.fail_on(), Severity::Error);
        assert_eq!(lint.engine, Some(Engine::Postgres));
        assert_eq!(lint.pg_version, Some(crate::lint::DEFAULT_PG_MAJOR));
        assert_eq!(lint.time_zone(), none.time_zone());
        assert_eq!(lint.downs, none.downs);
        assert!(lint.rules.is_empty() && lint.severities.is_empty() && !lint.enable_all);
        assert_eq!(lint.mysql_version, None);
        assert_eq!(
            verify.cosmetic.of(CosmeticRule::ColumnOrder),
            CosmeticPolicy::Note
        );
    }

    #[test]
    fn the_examples_parse_too() {
        // Uncommenting every line that holds a `key = value` (examples and table headers too)
        // still gives a file the parsers accept.
        let text: String = template(None)
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(r) if r.contains(" = ") || (r.starts_with('[') && r.ends_with(']')) => {
                    format!("{r}\n")
                }
                _ => format!("{l}\n"),
            })
            .collect();
        let (verify, lint) = parse_both(&text);
        assert_eq!(
            verify.cosmetic.of(CosmeticRule::RoutineFormatting),
            CosmeticPolicy::Fail
        );
        assert_eq!(lint.mysql_version.as_deref(), Some("8.0"));
        assert!(!lint.severities.is_empty());
    }

    #[test]
    fn detected_values_are_set() {
        let text = template(Some(&detected(Some("mariadb:10.11"))));
        assert!(
            text.contains("\nengine = \"mariadb\"  # set by migcheck init; default \"postgres\"\n"),
            "{text}"
        );
        assert!(
            text.contains("\nmysql-version = \"10.11\"  # set by migcheck init\n"),
            "{text}"
        );
        assert!(
            text.contains("#   verify: migcheck verify db/migrations --engine mariadb:10.11\n"),
            "{text}"
        );
        assert!(
            text.contains("#   format: golang-migrate (detected from the file names)\n"),
            "{text}"
        );
        let (_, lint) = parse_both(&text);
        assert_eq!(lint.engine, Some(Engine::Mariadb));
        assert_eq!(lint.mysql_version.as_deref(), Some("10.11"));

        let (_, lint) = parse_both(&template(Some(&detected(Some("postgres:16")))));
        assert_eq!(lint.engine, Some(Engine::Postgres));
        assert_eq!(lint.pg_version, Some(16));
        // Without --engine nothing is set: postgres is the default anyway.
        let text = template(Some(&detected(None)));
        assert!(text.contains("\n# engine = \"postgres\"\n"), "{text}");
        assert!(!text.contains("set by migcheck init"), "{text}");
    }

    #[test]
    fn odd_paths_stay_in_their_comment() {
        let mut d = detected(None);
        d.path = PathBuf::from("my db/it's\nhere");
        let text = template(Some(&d));
        assert!(
            text.contains("migcheck verify 'my db/it'\\''s?here'"),
            "{text}"
        );
        parse_both(&text);
    }

    #[test]
    fn detection_reads_the_chain_like_verify() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let d = detect(&root.join("postgres/golang-migrate/clean"), None, None).unwrap();
        assert_eq!(d.format, Format::GolangMigrate);
        let e = detect(&root.join("does-not-exist"), None, None).unwrap_err();
        assert_eq!(e.exit_code(), exit::BAD_INPUT);
    }
}
