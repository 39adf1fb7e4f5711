//! Find an Alembic project's configuration: `alembic.ini` (section `[alembic]`) or
//! `[tool.alembic]` in `pyproject.toml`, and from it the folders that hold revision files.
//!
//! Relative paths resolve against the folder holding the configuration file (Alembic resolves
//! them against the working directory, and is run from that folder in practice).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where an Alembic project's revisions live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The folder holding the configuration file (`%(here)s`).
    pub root: PathBuf,
    /// `alembic.ini`, when the project has one.
    pub ini: Option<PathBuf>,
    /// `pyproject.toml`, when it has a `[tool.alembic]` table.
    pub toml: Option<PathBuf>,
    /// `script_location`: the folder holding env.py.
    pub script_location: PathBuf,
    /// The folders scanned for revision files (`version_locations`, else `<script_location>/versions`).
    pub version_locations: Vec<PathBuf>,
    /// `recursive_version_locations = true`: scan sub-folders too.
    pub recursive: bool,
}

impl Project {
    /// The configuration file the driver hands to `alembic.config.Config`.
    pub fn config_file(&self) -> &Path {
        self.ini
            .as_deref()
            .or(self.toml.as_deref())
            .unwrap_or(&self.root)
    }
}

/// Locate the project from a path the user gave: an `alembic.ini` or `pyproject.toml` file, the
/// folder holding one, or the script folder (env.py and versions/) below such a folder.
pub fn find_project(path: &Path) -> Result<Project> {
    if path.is_file() {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        return if name.ends_with(".toml") {
            load(&dir, None, Some(path.to_path_buf()))
        } else {
            load(&dir, Some(path.to_path_buf()), toml_with_alembic(&dir)?)
        };
    }
    if !path.is_dir() {
        return Err(Error::input(path, None, "no such file or folder"));
    }
    let ini = path.join("alembic.ini");
    let toml = toml_with_alembic(path)?;
    if ini.is_file() || toml.is_some() {
        return load(path, ini.is_file().then_some(ini), toml);
    }
    // The script folder itself (env.py): its parent usually holds alembic.ini.
    if path.join("env.py").is_file() {
        if let Some(parent) = path.parent() {
            let ini = parent.join("alembic.ini");
            let toml = toml_with_alembic(parent)?;
            if ini.is_file() || toml.is_some() {
                return load(parent, ini.is_file().then_some(ini), toml);
            }
        }
        return Err(Error::input(
            path,
            None,
            "this folder holds env.py but no alembic.ini or pyproject.toml with [tool.alembic] \
             was found here or in its parent; pass the folder that holds alembic.ini",
        ));
    }
    Err(Error::input(
        path,
        None,
        "not an Alembic project: no alembic.ini and no pyproject.toml with [tool.alembic]",
    ))
}

fn toml_with_alembic(dir: &Path) -> Result<Option<PathBuf>> {
    let path = dir.join("pyproject.toml");
    if !path.is_file() {
        return Ok(None);
    }
    let text = read(&path)?;
    let value: toml::Table = toml::from_str(&text)
        .map_err(|e| Error::input(&path, None, format!("invalid TOML: {e}")))?;
    let has = value
        .get("tool")
        .and_then(|t| t.get("alembic"))
        .is_some_and(|a| a.is_table());
    Ok(has.then_some(path))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::input(path, None, format!("cannot read: {e}")))
}

fn load(dir: &Path, ini: Option<PathBuf>, toml: Option<PathBuf>) -> Result<Project> {
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let here = root.to_string_lossy().into_owned();
    let mut script_location: Option<String> = None;
    let mut versions: Option<Vec<String>> = None;
    let mut recursive: Option<bool> = None;
    let mut location_file = None;

    if let Some(ini_path) = &ini {
        let text = read(ini_path)?;
        let sections = parse_ini(ini_path, &text)?;
        if let Some(section) = sections.get("alembic") {
            let get = |key: &str| -> Result<Option<String>> {
                match section.get(key) {
                    Some((raw, line)) => interpolate(raw, &sections, "alembic", &here, 0)
                        .map(Some)
                        .map_err(|m| Error::input(ini_path, Some(*line), m)),
                    None => Ok(None),
                }
            };
            script_location = get("script_location")?;
            if script_location.is_some() {
                location_file = Some(ini_path.clone());
            }
            if let Some(list) = get("version_locations")? {
                let sep = match get("path_separator")?.or(get("version_path_separator")?) {
                    None => None,
                    Some(s) => Some(match s.as_str() {
                        "space" => " ",
                        "newline" => "\n",
                        "os" | ":" => ":",
                        ";" => ";",
                        other => {
                            let line = section
                                .get("path_separator")
                                .or(section.get("version_path_separator"))
                                .map(|(_, l)| *l);
                            return Err(Error::input(
                                ini_path,
                                line,
                                format!("`{other}` is not a valid path_separator (space, newline, os, :, ;)"),
                            ));
                        }
                    }),
                };
                let parts: Vec<String> = match sep {
                    Some(sep) => list
                        .split(sep)
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                    // Alembic's legacy splitting: on commas and spaces.
                    None => list
                        .split([',', ' ', '\n'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                };
                versions = Some(parts);
            }
            if let Some(r) = get("recursive_version_locations")? {
                recursive = Some(ini_bool(&r).ok_or_else(|| {
                    let line = section.get("recursive_version_locations").map(|(_, l)| *l);
                    Error::input(ini_path, line, format!("`{r}` is not a boolean"))
                })?);
            }
        }
    }

    if let Some(toml_path) = &toml {
        let text = read(toml_path)?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| Error::input(toml_path, None, format!("invalid TOML: {e}")))?;
        let alembic = table
            .get("tool")
            .and_then(|t| t.get("alembic"))
            .and_then(|a| a.as_table())
            .cloned()
            .unwrap_or_default();
        let sub = |s: &str| s.replace("%(here)s", &here);
        let bad = |key: &str, want: &str| {
            Error::input(
                toml_path,
                None,
                format!("[tool.alembic] {key} must be {want}"),
            )
        };
        if script_location.is_none() {
            if let Some(v) = alembic.get("script_location") {
                script_location = Some(sub(v
                    .as_str()
                    .ok_or_else(|| bad("script_location", "a string"))?));
                location_file = Some(toml_path.clone());
            }
        }
        if versions.is_none() {
            if let Some(v) = alembic.get("version_locations") {
                let arr = v
                    .as_array()
                    .ok_or_else(|| bad("version_locations", "a list of strings"))?;
                let mut out = Vec::new();
                for item in arr {
                    out.push(sub(item
                        .as_str()
                        .ok_or_else(|| bad("version_locations", "a list of strings"))?));
                }
                versions = Some(out);
            }
        }
        if recursive.is_none() {
            if let Some(v) = alembic.get("recursive_version_locations") {
                recursive = Some(
                    v.as_bool()
                        .or_else(|| v.as_str().and_then(ini_bool))
                        .ok_or_else(|| bad("recursive_version_locations", "a boolean"))?,
                );
            }
        }
    }

    let Some(script_location) = script_location else {
        let file = ini
            .as_ref()
            .or(toml.as_ref())
            .cloned()
            .unwrap_or(root.clone());
        return Err(Error::input(
            file,
            None,
            "no script_location in [alembic] (or [tool.alembic]): Alembic would not know where env.py is",
        ));
    };
    if script_location.contains(':') && !Path::new(&script_location).is_absolute() {
        let file = location_file.unwrap_or(root.clone());
        return Err(Error::input(
            file,
            None,
            format!(
                "script_location `{script_location}` names a Python package resource; migcheck reads \
                 revision files from a folder: use a path (e.g. %(here)s/alembic)"
            ),
        ));
    }
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            root.join(p)
        }
    };
    let script_location = resolve(&script_location);
    let version_locations = match versions {
        Some(v) if !v.is_empty() => v.iter().map(|p| resolve(p)).collect(),
        _ => vec![script_location.join("versions")],
    };
    Ok(Project {
        root,
        ini,
        toml,
        script_location,
        version_locations,
        recursive: recursive.unwrap_or(false),
    })
}

impl Project {
    /// `env.py` in the script folder, which every Alembic command runs (bad input without it).
    pub fn require_env_py(&self) -> Result<()> {
        let env = self.script_location.join("env.py");
        if env.is_file() {
            return Ok(());
        }
        let file = self
            .ini
            .as_ref()
            .or(self.toml.as_ref())
            .cloned()
            .unwrap_or_else(|| self.root.clone());
        Err(Error::input(
            file,
            None,
            format!(
                "{} does not exist: script_location names the folder that holds env.py, which \
                 Alembic runs for every command",
                env.display()
            ),
        ))
    }
}

fn ini_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Section name -> key (lowercased) -> (raw value, line).
type Sections = HashMap<String, HashMap<String, (String, usize)>>;

/// Python `configparser` syntax: `[section]`, `key = value` or `key: value`, full-line `#`/`;`
/// comments, indented continuation lines.
fn parse_ini(path: &Path, text: &str) -> Result<Sections> {
    let mut sections: Sections = HashMap::new();
    let mut current: Option<String> = None;
    let mut last_key: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        let indented = raw.starts_with([' ', '\t']);
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if indented {
            if let (Some(sec), Some(key)) = (&current, &last_key) {
                if let Some(entry) = sections.get_mut(sec).and_then(|s| s.get_mut(key)) {
                    if !entry.0.is_empty() {
                        entry.0.push('\n');
                    }
                    entry.0.push_str(trimmed);
                    continue;
                }
            }
        }
        if trimmed.starts_with('[') {
            let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
                return Err(Error::input(
                    path,
                    Some(line_no),
                    "malformed section header",
                ));
            };
            current = Some(name.to_string());
            sections.entry(name.to_string()).or_default();
            last_key = None;
            continue;
        }
        let Some(sec) = &current else {
            return Err(Error::input(
                path,
                Some(line_no),
                "a key before the first [section]",
            ));
        };
        let split = trimmed.find(['=', ':']);
        let (key, value) = match split {
            Some(at) => (trimmed[..at].trim(), trimmed[at + 1..].trim()),
            None => {
                return Err(Error::input(
                    path,
                    Some(line_no),
                    format!("`{trimmed}` is not `key = value`"),
                ))
            }
        };
        let key = key.to_ascii_lowercase();
        sections
            .entry(sec.clone())
            .or_default()
            .insert(key.clone(), (value.to_string(), line_no));
        last_key = Some(key);
    }
    Ok(sections)
}

/// configparser's basic interpolation: `%(name)s` from the same section, `[DEFAULT]` or `here`;
/// `%%` is a literal `%`.
fn interpolate(
    raw: &str,
    sections: &Sections,
    section: &str,
    here: &str,
    depth: usize,
) -> std::result::Result<String, String> {
    if depth > 10 {
        return Err("interpolation nests too deeply (a value refers to itself?)".to_string());
    }
    let mut out = String::new();
    let mut rest = raw;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(r) = after.strip_prefix('%') {
            out.push('%');
            rest = r;
            continue;
        }
        let Some(inner) = after.strip_prefix('(') else {
            return Err(format!(
                "bad interpolation in `{raw}`: `%` must be `%%` or `%(name)s`"
            ));
        };
        let Some(close) = inner.find(")s") else {
            return Err(format!("bad interpolation in `{raw}`: missing `)s`"));
        };
        let name = inner[..close].to_ascii_lowercase();
        let value = if name == "here" {
            here.to_string()
        } else {
            let found = sections
                .get(section)
                .and_then(|s| s.get(&name))
                .or_else(|| sections.get("DEFAULT").and_then(|s| s.get(&name)));
            match found {
                Some((v, _)) => interpolate(v, sections, section, here, depth + 1)?,
                None => {
                    return Err(format!(
                        "`%({name})s` refers to an option that does not exist"
                    ))
                }
            }
        };
        out.push_str(&value);
        rest = &inner[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_with_here_and_separators() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("alembic.ini"),
            "[alembic]\n# comment\nscript_location = %(here)s/migrations\n\
             path_separator = os\nversion_locations = %(here)s/a:%(here)s/b\n\
             recursive_version_locations = true\nsqlalchemy.url = driver://u:p@h/db\n",
        )
        .unwrap();
        let p = find_project(dir.path()).unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(p.script_location, root.join("migrations"));
        assert_eq!(p.version_locations, vec![root.join("a"), root.join("b")]);
        assert!(p.recursive);
    }

    #[test]
    fn pyproject_and_script_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nname='x'\n[tool.alembic]\nscript_location = \"%(here)s/alembic\"\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("alembic")).unwrap();
        std::fs::write(dir.path().join("alembic/env.py"), "").unwrap();
        let p = find_project(&dir.path().join("alembic")).unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(p.version_locations, vec![root.join("alembic/versions")]);
        assert_eq!(p.toml, Some(dir.path().join("pyproject.toml")));
    }

    #[test]
    fn missing_option_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("alembic.ini"),
            "[alembic]\nscript_location = %(nope)s/x\n",
        )
        .unwrap();
        let e = find_project(dir.path()).unwrap_err().to_string();
        assert!(e.contains("alembic.ini:2:"), "{e}");
    }
}
