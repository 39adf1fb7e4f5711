//! Release evidence: `verify --evidence DIR` writes every report (JSON, JUnit, SARIF, Markdown), the final schema and
//! `manifest.json` (what ran, on what, from which commit, and the SHA-256 of every migration
//! file and every file in the folder); `migcheck evidence check DIR` re-hashes the folder.
//!
//! The manifest's own SHA-256 is printed by the run, into the CI log: a folder whose manifest
//! was rewritten along with the files no longer matches the log.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::{EvidenceArgs, EvidenceCommand};
use crate::error::{exit, Error, Result};
use crate::report::Report;

pub const MANIFEST: &str = "manifest.json";
pub const MANIFEST_VERSION: u32 = 1;

/// The files of the folder, by the name each report gets there.
pub const JSON: &str = "report.json";
pub const JUNIT: &str = "junit.xml";
pub const SARIF: &str = "report.sarif";
pub const MARKDOWN: &str = "summary.md";
pub const SCHEMA: &str = "schema.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub migcheck_version: String,
    /// RFC 3339 UTC: when the run started and when the folder was written.
    pub run_started_at: String,
    pub written_at: String,
    pub verdict: String,
    pub exit_code: u8,
    pub chain: ChainInfo,
    #[serde(default)]
    pub engine: Option<serde_json::Value>,
    /// The provider, its image or binaries (URLs redacted).
    #[serde(default)]
    pub provider: Option<serde_json::Value>,
    #[serde(default)]
    pub git: Option<GitInfo>,
    /// Every migration file the run read, relative to the chain folder.
    pub migrations: Vec<HashedFile>,
    /// Every other file of the evidence folder.
    pub files: Vec<HashedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainInfo {
    pub path: String,
    pub format: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GitInfo {
    pub commit: Option<String>,
    /// Uncommitted changes under the chain folder when the run started.
    pub dirty: bool,
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub base_commit: Option<String>,
    #[serde(default)]
    pub merge_base: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_file(path: &Path, shown: String) -> Result<HashedFile> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(HashedFile {
        path: shown,
        sha256: sha256_hex(&bytes),
        bytes: bytes.len() as u64,
    })
}

/// What `verify` hands the writer besides the report.
pub struct Inputs<'a> {
    pub chain_root: &'a Path,
    /// Every file of every migration, as the chain names them.
    pub migration_files: Vec<PathBuf>,
    /// The final schema snapshot, already written into the folder (None: none was taken).
    pub schema_written: bool,
}

/// Write the reports and the manifest into `dir`; returns the manifest's SHA-256.
pub fn write(dir: &Path, report: &Report, inputs: &Inputs<'_>) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    crate::report::json::write(report, &dir.join(JSON))?;
    crate::report::junit::write(report, &dir.join(JUNIT))?;
    crate::report::sarif::write(report, &dir.join(SARIF))?;
    crate::report::markdown::write(report, &dir.join(MARKDOWN))?;
    let mut names = vec![JSON, JUNIT, SARIF, MARKDOWN];
    if inputs.schema_written {
        names.push(SCHEMA);
    }
    let mut files = Vec::new();
    for name in names {
        files.push(hash_file(&dir.join(name), name.to_string())?);
    }
    let mut migrations = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &inputs.migration_files {
        let shown = file
            .strip_prefix(inputs.chain_root)
            .unwrap_or(file)
            .display()
            .to_string();
        if seen.insert(shown.clone()) {
            migrations.push(hash_file(file, shown)?);
        }
    }
    let git = crate::history::git::Repo::containing(inputs.chain_root)
        .ok()
        .flatten()
        .map(|repo| {
            let rel = repo.relative(inputs.chain_root).unwrap_or_default();
            GitInfo {
                commit: repo.head(),
                dirty: repo.is_dirty(&rel),
                base: report.history.as_ref().map(|h| h.base.clone()),
                base_commit: report.history.as_ref().map(|h| h.base_commit.clone()),
                merge_base: report.history.as_ref().map(|h| h.merge_base.clone()),
            }
        });
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        migcheck_version: env!("CARGO_PKG_VERSION").to_string(),
        run_started_at: report.started_at.clone(),
        written_at: crate::verify::now_rfc3339(),
        verdict: if report.exit_code == exit::PASS {
            "pass".to_string()
        } else {
            "fail".to_string()
        },
        exit_code: report.exit_code,
        chain: ChainInfo {
            path: report.path.clone(),
            format: report.format.clone(),
        },
        engine: report
            .engine
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
        provider: report
            .provider
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok()),
        git,
        migrations,
        files,
    };
    let mut text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    text.push('\n');
    crate::report::write_atomic(&dir.join(MANIFEST), text.as_bytes())?;
    Ok(sha256_hex(text.as_bytes()))
}

/// `migcheck evidence check DIR [--chain PATH]`.
pub fn run(args: EvidenceArgs) -> Result<u8> {
    match args.command {
        EvidenceCommand::Check { dir, chain } => check(&dir, chain.as_deref()),
    }
}

fn check(dir: &Path, chain: Option<&Path>) -> Result<u8> {
    let manifest_path = dir.join(MANIFEST);
    if !manifest_path.exists() {
        // A run of several chains writes one folder per chain.
        let mut chains: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join(MANIFEST).is_file())
            .collect();
        chains.sort();
        if !chains.is_empty() {
            if chain.is_some() {
                return Err(Error::Usage(format!(
                    "{} holds the evidence of {} chains: check one folder at a time with --chain",
                    dir.display(),
                    chains.len()
                )));
            }
            let mut code = exit::PASS;
            for folder in &chains {
                code = code.max(check(folder, None)?);
            }
            return Ok(code);
        }
    }
    let text = std::fs::read(&manifest_path).map_err(|e| {
        Error::input(
            &manifest_path,
            None,
            format!(
                "cannot read the evidence manifest: {e} (is this a `verify --evidence` folder?)"
            ),
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
        Error::input(
            &manifest_path,
            Some(e.line()),
            format!("not a migcheck evidence manifest: {e}"),
        )
    })?;
    if manifest.manifest_version > MANIFEST_VERSION {
        return Err(Error::input(
            &manifest_path,
            None,
            format!(
                "manifest version {} is newer than this migcheck understands ({MANIFEST_VERSION})",
                manifest.manifest_version
            ),
        ));
    }
    let mut problems = Vec::new();
    let listed: BTreeSet<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
    for file in &manifest.files {
        compare(&dir.join(&file.path), file, &mut problems);
    }
    for name in files_in(dir) {
        if name != MANIFEST && !listed.contains(&name) {
            problems.push(format!("added after the run: {name}"));
        }
    }
    if let Some(root) = chain {
        let mut dirs = BTreeSet::new();
        let listed: BTreeSet<&str> = manifest
            .migrations
            .iter()
            .map(|m| m.path.as_str())
            .collect();
        for file in &manifest.migrations {
            let path = root.join(&file.path);
            compare(&path, file, &mut problems);
            if let Some(parent) = path.parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
        // A migration file beside the verified ones that the run never saw.
        for d in dirs {
            for name in files_in(&d) {
                let path = d.join(&name);
                let shown = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                let migration_like = [".sql", ".py", ".toml", ".conf"]
                    .iter()
                    .any(|ext| name.ends_with(ext));
                if migration_like && !listed.contains(shown.as_str()) {
                    problems.push(format!("migration file not verified by the run: {shown}"));
                }
            }
        }
    }
    println!(
        "evidence: {} · manifest sha256 {}",
        dir.display(),
        sha256_hex(&text)
    );
    println!(
        "run: migcheck {} · {} · verdict {} (exit {}) · started {}",
        manifest.migcheck_version,
        manifest.chain.path,
        manifest.verdict,
        manifest.exit_code,
        manifest.run_started_at
    );
    if let Some(git) = &manifest.git {
        println!(
            "git: commit {}{}{}",
            git.commit.as_deref().unwrap_or("none"),
            if git.dirty {
                " (uncommitted changes)"
            } else {
                ""
            },
            git.base
                .as_deref()
                .map(|b| format!(" · base {b}"))
                .unwrap_or_default()
        );
    }
    if problems.is_empty() {
        let chain_part = if chain.is_some() {
            format!(", {} migration files", manifest.migrations.len())
        } else {
            String::new()
        };
        println!(
            "INTACT: {} files match the manifest{chain_part}",
            manifest.files.len()
        );
        Ok(exit::PASS)
    } else {
        for p in &problems {
            println!("  {p}");
        }
        println!(
            "CHANGED: {} difference(s) from the manifest",
            problems.len()
        );
        Ok(exit::GATE_FAILED)
    }
}

fn compare(path: &Path, expected: &HashedFile, problems: &mut Vec<String>) {
    match std::fs::read(path) {
        Ok(bytes) if sha256_hex(&bytes) == expected.sha256 => {}
        Ok(_) => problems.push(format!("changed after the run: {}", expected.path)),
        Err(_) => problems.push(format!("missing: {}", expected.path)),
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
