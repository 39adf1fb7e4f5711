//! Which chains one `verify` run covers: the folders given on the command line, or the
//! `[[chain]]` entries of `migcheck.toml` (a monorepo keeps one migrations folder per service).
//!
//! ```toml
//! [[chain]]
//! path = "services/*/migrations"      # a glob, relative to this file
//!
//! [[chain]]
//! name = "billing"
//! path = "billing/db"
//! format = "flyway"
//! expect-snapshot = "billing/schema.json"
//! ```

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::Deserialize;
use toml::Spanned;

use super::Format;
use crate::config::{line_of, Item, Key, FILE_NAME};
use crate::error::{Error, Result};

/// One chain to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How reports name it: the path as given, or the entry's `name`.
    pub name: String,
    pub path: PathBuf,
    /// `format = ...` of its `[[chain]]` entry (the command line's `--format` otherwise).
    pub format: Option<Format>,
    /// `expect-snapshot = ...` of its `[[chain]]` entry.
    pub expect_snapshot: Option<PathBuf>,
}

impl Target {
    fn at(path: &Path) -> Target {
        Target {
            name: path.display().to_string(),
            path: path.to_path_buf(),
            format: None,
            expect_snapshot: None,
        }
    }
}

/// The chains of a run: `paths` when any were given, else the `[[chain]]` entries of `config`
/// (or of the nearest `migcheck.toml` at or above the working directory).
pub fn resolve(paths: &[PathBuf], config: Option<&Path>) -> Result<Vec<Target>> {
    let targets = if paths.is_empty() {
        let file = match config {
            Some(file) => Some(file.to_path_buf()),
            None => std::env::current_dir()
                .ok()
                .and_then(|dir| crate::lint::config::LintConfig::discover(&dir)),
        };
        let targets = match &file {
            Some(file) => load(file)?,
            None => Vec::new(),
        };
        if targets.is_empty() {
            let looked = match &file {
                Some(f) => format!("{} has no [[chain]] entry", f.display()),
                None => format!("no {FILE_NAME} at or above the working directory"),
            };
            return Err(Error::Usage(format!(
                "which migrations? give the folder (`migcheck verify migrations/`, several for a \
                 monorepo), or list the chains as [[chain]] entries in {FILE_NAME} ({looked})"
            )));
        }
        targets
    } else {
        paths.iter().map(|p| Target::at(p)).collect()
    };
    refuse_duplicates(&targets)?;
    Ok(targets)
}

/// The same folder twice (`a/` and `./a`, or two globs that meet) would be verified twice and
/// reported under two names.
fn refuse_duplicates(targets: &[Target]) -> Result<()> {
    let key = |t: &Target| std::fs::canonicalize(&t.path).unwrap_or_else(|_| t.path.clone());
    for (i, a) in targets.iter().enumerate() {
        if let Some(b) = targets[..i].iter().find(|b| key(b) == key(a)) {
            return Err(Error::Usage(format!(
                "the chain {} is given twice (also as {})",
                a.name, b.name
            )));
        }
        if let Some(b) = targets[..i].iter().find(|b| b.name == a.name) {
            return Err(Error::Usage(format!(
                "two chains are named {} ({} and {})",
                a.name,
                b.path.display(),
                a.path.display()
            )));
        }
    }
    Ok(())
}

/// The keys of a `[[chain]]` entry, for the config check, `migcheck init` and the README.
pub const KEYS: &[Key] = &[
    Key {
        name: "path",
        item: Item::Value,
        ty: "string",
        default: "",
        example: "\"services/*/migrations\"",
        doc: "the chain's folder, relative to this file; a pattern names every folder it matches",
    },
    Key {
        name: "name",
        item: Item::Value,
        ty: "string",
        default: "",
        example: "\"billing\"",
        doc: "how reports name the chain (default: its path)",
    },
    Key {
        name: "format",
        item: Item::Value,
        ty: "string",
        default: "",
        example: "\"flyway\"",
        doc: "as `--format`, for this chain only (default: detected)",
    },
    Key {
        name: "expect-snapshot",
        item: Item::Value,
        ty: "string",
        default: "",
        example: "\"billing/schema.json\"",
        doc: "as `--expect-snapshot`, for this chain only: the schema it must produce",
    },
];

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    chain: Vec<RawChain>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawChain {
    path: Spanned<String>,
    name: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    expect_snapshot: Option<String>,
}

/// The `[[chain]]` entries of a config file, paths resolved against its folder.
pub fn load(file: &Path) -> Result<Vec<Target>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::input(file, None, format!("cannot read the config: {e}")))?;
    parse(&text, file)
}

pub fn parse(text: &str, file: &Path) -> Result<Vec<Target>> {
    // Unknown tables and keys anywhere in the file are bad input, as for its other readers.
    crate::config::check(text, file)?;
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        Error::input(file, line, format!("invalid config: {}", e.message()))
    })?;
    let base = file.parent().unwrap_or(Path::new(""));
    let err = |span: std::ops::Range<usize>, msg: String| {
        Error::input(
            file,
            Some(line_of(text, span.start)),
            format!("[[chain]] {msg}"),
        )
    };
    let mut targets = Vec::new();
    for entry in raw.chain {
        let format = match &entry.format {
            Some(f) => Some(Format::from_str(f.get_ref(), true).map_err(|_| {
                let known: Vec<&str> = Format::value_variants().iter().map(|f| f.name()).collect();
                err(
                    f.span(),
                    format!(
                        "format: `{}` is not one of {}",
                        f.get_ref(),
                        known.join(", ")
                    ),
                )
            })?),
            None => None,
        };
        let expect_snapshot = entry.expect_snapshot.as_ref().map(|p| base.join(p));
        let pattern = entry.path.get_ref();
        let is_glob = pattern.contains(['*', '?', '[']);
        let paths = if is_glob {
            if entry.name.is_some() || expect_snapshot.is_some() {
                return Err(err(
                    entry.path.span(),
                    format!(
                        "path `{pattern}` is a pattern: `name` and `expect-snapshot` belong to \
                         one chain, so list that chain in an entry of its own"
                    ),
                ));
            }
            let full = base.join(pattern);
            let matches = glob::glob(&full.to_string_lossy())
                .map_err(|e| err(entry.path.span(), format!("path `{pattern}`: {e}")))?;
            let mut found: Vec<PathBuf> = matches
                .filter_map(|m| m.ok())
                .filter(|p| p.is_dir())
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(err(
                    entry.path.span(),
                    format!("path `{pattern}` matches no folder"),
                ));
            }
            found
        } else {
            vec![base.join(pattern)]
        };
        for path in paths {
            // Named as the file names it: `services/billing/migrations`, not an absolute path.
            let name = match &entry.name {
                Some(n) => n.get_ref().clone(),
                None => path
                    .strip_prefix(base)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
            };
            targets.push(Target {
                name,
                path,
                format,
                expect_snapshot: expect_snapshot.clone(),
            });
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dirs: &[&str], config: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for d in dirs {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        std::fs::write(root.path().join(FILE_NAME), config).unwrap();
        root
    }

    #[test]
    fn globs_expand_to_sorted_folders_relative_to_the_file() {
        let root = tree(
            &[
                "services/b/migrations",
                "services/a/migrations",
                "services/c",
            ],
            "[lint]\nfail-on = \"error\"\n\n[[chain]]\npath = \"services/*/migrations\"\n\n\
             [[chain]]\nname = \"billing\"\npath = \"services/c\"\nformat = \"flyway\"\n\
             expect-snapshot = \"schema.json\"\n",
        );
        let targets = load(&root.path().join(FILE_NAME)).unwrap();
        let paths: Vec<PathBuf> = targets.iter().map(|t| t.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                root.path().join("services/a/migrations"),
                root.path().join("services/b/migrations"),
                root.path().join("services/c"),
            ]
        );
        assert_eq!(targets[2].name, "billing");
        assert_eq!(targets[2].format, Some(Format::Flyway));
        assert_eq!(
            targets[2].expect_snapshot,
            Some(root.path().join("schema.json"))
        );
        assert_eq!(targets[0].format, None);
    }

    #[test]
    fn bad_entries_name_the_file_and_line() {
        let root = tree(&["a"], "");
        let file = root.path().join(FILE_NAME);
        for (text, line, words) in [
            (
                "[[chain]]\npath = \"a\"\nformt = \"goose\"\n",
                3,
                "unknown key `formt` in [[chain]] (did you mean `format`?)",
            ),
            (
                "[[chain]]\npath = \"a\"\nformat = \"liquibase\"\n",
                3,
                "is not one of",
            ),
            (
                "\n[[chain]]\npath = \"nothing/*\"\n",
                3,
                "matches no folder",
            ),
            ("[[chain]]\nname = \"x\"\npath = \"*\"\n", 3, "is a pattern"),
            ("[[chain]]\nname = \"x\"\n", 1, "missing field `path`"),
        ] {
            let e = parse(text, &file).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("{}:{line}: ", file.display())),
                "{text:?}: {shown}"
            );
            assert!(shown.contains(words), "{text:?}: {shown}");
        }
    }

    #[test]
    fn command_line_paths_win_and_duplicates_are_refused() {
        let root = tree(&["a", "b"], "[[chain]]\npath = \"b\"\n");
        let a = root.path().join("a");
        let got = resolve(std::slice::from_ref(&a), Some(&root.path().join(FILE_NAME))).unwrap();
        assert_eq!(got, vec![Target::at(&a)]);
        let dup = resolve(&[a.clone(), root.path().join("./a")], None).unwrap_err();
        assert!(dup.to_string().contains("given twice"), "{dup}");
        let none = resolve(&[], Some(&root.path().join("missing.toml"))).unwrap_err();
        assert_eq!(none.exit_code(), 2);
        let empty = tree(&[], "[lint]\n");
        let e = resolve(&[], Some(&empty.path().join(FILE_NAME))).unwrap_err();
        assert!(e.to_string().contains("has no [[chain]] entry"), "{e}");
    }
}
