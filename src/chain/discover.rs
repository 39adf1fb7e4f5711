//! Format detection and chain assembly.
//!
//! One pass reads the folder (each candidate file once), classifies every entry, picks the format
//! (the forced one, or the one most files follow), turns files into migrations and then runs the
//! checks that need the whole chain (duplicates, missing or orphan downs, empty scripts).

mod dbmate;
mod diesel;
mod flyway;
#[doc(hidden)]
pub mod fuzzing;
mod golang_migrate;
mod goose;
mod popx;
mod project;
mod sqlx_simple;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::{
    Chain, ChainProblem, DiscoverOptions, Format, Migration, ProblemSeverity, Script, Segment,
    Version, VersionKey,
};
use crate::engine::{Dialect, Engine};
use crate::error::{Error, Result};

/// One direction of a sectioned file (dbmate, goose).
#[derive(Debug)]
struct Section {
    segments: Vec<Segment>,
    /// Line of the section marker, for problems about the section.
    marker_line: usize,
    no_transaction: bool,
}

/// A dbmate or goose file split into its sections, with structural problems `(line, kind, msg)`.
#[derive(Debug, Default)]
struct Sectioned {
    up: Option<Section>,
    down: Option<Section>,
    problems: Vec<(usize, &'static str, String)>,
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The first line holding something other than whitespace or comments, if any.
fn first_content_line(text: &str) -> Option<usize> {
    if crate::sql::is_blank(text) {
        return None;
    }
    let mut in_block = false;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if in_block {
            in_block = !t.contains("*/");
            continue;
        }
        if t.is_empty() || t.starts_with("--") || t.starts_with('#') {
            continue;
        }
        if t.starts_with("/*") && !t.starts_with("/*!") {
            in_block = !t.contains("*/");
            continue;
        }
        return Some(i + 1);
    }
    Some(1)
}

/// A directory entry of the migrations folder.
#[derive(Debug)]
struct Entry {
    name: String,
    path: PathBuf,
    is_dir: bool,
    /// False when the OS name is not UTF-8 (`name` is then a lossy rendering).
    utf8_name: bool,
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let os_name = e.file_name();
        let (name, utf8_name) = match os_name.to_str() {
            Some(s) => (s.to_string(), true),
            None => (os_name.to_string_lossy().into_owned(), false),
        };
        let path = dir.join(&os_name);
        // Follow symlinks: a linked migration folder or file counts as what it points to.
        let is_dir = path.is_dir();
        out.push(Entry {
            name,
            path,
            is_dir,
            utf8_name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Entries that are never migrations: dotfiles, READMEs, Markdown, Diesel/Flyway side files.
fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.to_ascii_lowercase().starts_with("readme")
        || name.ends_with(".md")
        || name == "metadata.toml"
}

/// Read a file as UTF-8 (a leading BOM is dropped); unreadable or non-UTF-8 files are exit-2 errors.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes =
        fs::read(path).map_err(|e| Error::input(path, None, format!("cannot read file: {e}")))?;
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with('\u{feff}') {
                s.drain(..'\u{feff}'.len_utf8());
            }
            Ok(s)
        }
        Err(e) => {
            let off = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..off].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(Error::input(
                path,
                Some(line),
                format!(
                    "file is not valid UTF-8 (first invalid byte at offset {off}); \
                     migration files must be UTF-8"
                ),
            ))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Goose,
    Dbmate,
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    GmUp,
    GmDown,
    /// A popx name with a dialect or `.autocommit` (dialect-less popx names are `GmUp`/`GmDown`).
    Popx,
    /// `{digits}...sql`: sqlx simple, dbmate or goose depending on the content.
    Numbered(Content),
    Flyway,
    /// A `.sql` file no format recognises.
    Other,
}

/// A top-level `.sql` file.
struct Flat {
    name: String,
    path: PathBuf,
    text: String,
    kind: Kind,
}

impl Flat {
    /// The format this file is evidence for, when detecting.
    fn evidence(&self) -> Option<Format> {
        match self.kind {
            Kind::GmUp | Kind::GmDown => Some(Format::GolangMigrate),
            Kind::Popx => Some(Format::Popx),
            Kind::Numbered(Content::Goose) => Some(Format::Goose),
            Kind::Numbered(Content::Dbmate) => Some(Format::Dbmate),
            Kind::Numbered(Content::Plain) => {
                sqlx_simple::parse_name(&self.name).map(|_| Format::SqlxSimple)
            }
            Kind::Flyway => Some(Format::Flyway),
            Kind::Other => None,
        }
    }
}

/// A non-empty subfolder: a Diesel migration when it holds `up.sql`.
struct DieselDir {
    name: String,
    path: PathBuf,
    entries: Vec<Entry>,
    has_scripts: bool,
}

fn pattern(format: Format) -> &'static str {
    match format {
        Format::GolangMigrate | Format::Sqlx => golang_migrate::PATTERN,
        Format::Popx => popx::PATTERN,
        Format::SqlxSimple => sqlx_simple::PATTERN,
        Format::Dbmate => dbmate::PATTERN,
        Format::Goose => goose::PATTERN,
        Format::Flyway => flyway::PATTERN,
        Format::Diesel => diesel::PATTERN,
        // Alembic, ...: read by a module of its own (`crate::formats`), never by this discovery.
        _ => "a project of its own (alembic.ini, ...)",
    }
}

/// Whether `format` is read by a module of its own (`crate::formats`), not by this discovery.
pub(super) fn own_project(format: Format) -> bool {
    family(format) == 3
}

/// Formats whose files can be told apart only by suffix or content share a family: a misfit
/// there is a broken file of the chosen format (missing section, no `.up`), not a stray.
fn family(format: Format) -> u8 {
    match format {
        Format::GolangMigrate
        | Format::Sqlx
        | Format::Popx
        | Format::SqlxSimple
        | Format::Dbmate
        | Format::Goose => 0,
        Format::Flyway => 1,
        Format::Diesel => 2,
        // Formats read by a module of their own (Alembic, ...).
        _ => 3,
    }
}

/// Detection precedence on equal file counts.
const ORDER: [Format; 7] = [
    Format::Diesel,
    Format::Flyway,
    Format::Popx,
    Format::GolangMigrate,
    Format::Goose,
    Format::Dbmate,
    Format::SqlxSimple,
];

pub(super) fn discover(root: &Path, options: &DiscoverOptions) -> Result<Chain> {
    if options.format == Some(Format::Alembic) {
        return Err(Error::input(
            root,
            None,
            "no Alembic project here: expected alembic.ini, [tool.alembic] in pyproject.toml, or env.py",
        ));
    }
    // A format with a project of its own reached here: its project was not found.
    if let Some(format) = options.format.filter(|f| own_project(*f)) {
        return Err(Error::input(
            root,
            None,
            format!("no {format} project here (this command reads SQL-file chains and Alembic projects only)"),
        ));
    }
    match fs::metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::input(root, None, "migrations folder does not exist"));
        }
        Err(e) => {
            return Err(Error::input(
                root,
                None,
                format!("cannot read migrations folder: {e}"),
            ))
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::input(
                root,
                None,
                "not a directory (pass the folder that holds the migrations)",
            ))
        }
        Ok(_) => {}
    }
    let entries = list_dir(root)
        .map_err(|e| Error::input(root, None, format!("cannot read migrations folder: {e}")))?;

    let mut b = Builder::new(root, options);
    let mut flats = Vec::new();
    let mut dirs = Vec::new();
    let mut confs = HashSet::new();
    for e in entries {
        if ignored(&e.name) {
            continue;
        }
        if !e.utf8_name {
            if e.name.ends_with(".sql") || e.is_dir {
                b.problem(
                    "unrecognized-file",
                    ProblemSeverity::Error,
                    &e.path,
                    None,
                    "file name is not valid UTF-8".into(),
                );
            }
            continue;
        }
        if e.is_dir {
            if let Some(d) = probe_dir(e)? {
                dirs.push(d);
            }
            continue;
        }
        if e.name.ends_with(".sql.conf") {
            confs.insert(e.name);
            continue;
        }
        if !e.name.to_ascii_lowercase().ends_with(".sql") {
            continue;
        }
        flats.push(classify(e)?);
    }

    let (format, excluded, reason) = match options.format {
        Some(f) => {
            let any = match f {
                Format::Diesel => dirs.iter().any(|d| d.has_scripts),
                Format::Sqlx => flats
                    .iter()
                    .any(|x| x.evidence() == Some(Format::GolangMigrate)),
                Format::Popx => flats
                    .iter()
                    .any(|x| matches!(x.evidence(), Some(Format::Popx | Format::GolangMigrate))),
                Format::SqlxSimple => flats.iter().any(|x| {
                    matches!(x.kind, Kind::Numbered(_))
                        && sqlx_simple::parse_name(&x.name).is_some()
                }),
                _ => flats.iter().any(|x| x.evidence() == Some(f)),
            };
            if !any {
                return Err(Error::input(
                    root,
                    None,
                    format!("no {f} migrations found (looked for {})", pattern(f)),
                ));
            }
            (f, Vec::new(), "forced with --format".to_string())
        }
        None => {
            let (f, excluded) = detect(root, &flats, &dirs, &mut b)?;
            let (f, reason) = match f {
                Format::GolangMigrate | Format::Popx => tool_of_up_down_folder(root, f, &flats),
                _ => (f, "detected from the file names".to_string()),
            };
            (f, excluded, reason)
        }
    };

    for f in flats {
        if format == Format::Diesel {
            // Diesel reads folders only; a script kept next to them is not a migration.
            tracing::debug!(file = %f.path.display(), "not a Diesel migration (a plain file); ignored");
            continue;
        }
        match f.evidence() {
            Some(e) if excluded.contains(&e) => continue,
            Some(e) if options.format.is_none() && family(e) != family(format) => {
                b.unrecognized(&f.path, format, &format!("looks like a {e} migration"));
                continue;
            }
            _ => {}
        }
        b.flat(format, f, &confs)?;
    }
    if format == Format::Diesel {
        for d in dirs {
            b.diesel(d)?;
        }
    }
    b.popx_choose();
    let chain = b.finish(format, reason);
    if chain.migrations.is_empty() {
        return Err(nothing_recognised(root, format, &chain.problems));
    }
    Ok(chain)
}

/// A folder of `{version}_{name}.up.sql` files: golang-migrate, sqlx or popx, as the project
/// around it says; popx is already certain when a file names a dialect.
fn tool_of_up_down_folder(root: &Path, detected: Format, flats: &[Flat]) -> (Format, String) {
    if detected == Format::Popx {
        return (
            Format::Popx,
            "detected from file names with a popx dialect or `.autocommit`".to_string(),
        );
    }
    if let Some(e) = project::detect(root) {
        return (e.format, format!("detected from {}", e.reason));
    }
    let marked = flats
        .iter()
        .find(|f| f.kind == Kind::GmUp && golang_migrate::no_transaction_marker(&f.text));
    if let Some(f) = marked {
        return (
            Format::Sqlx,
            format!(
                "detected from sqlx's `-- no-transaction` marker in {}",
                f.path.display()
            ),
        );
    }
    (
        Format::GolangMigrate,
        "assumed: no Cargo.toml depending on sqlx or go.mod requiring golang-migrate \
         around the folder; use --format sqlx for sqlx"
            .to_string(),
    )
}

/// Exit 2: files were there, but none is a migration the format can run.
fn nothing_recognised(root: &Path, format: Format, problems: &[ChainProblem]) -> Error {
    let first = problems
        .iter()
        .find(|p| p.severity == ProblemSeverity::Error)
        .or(problems.first());
    let example = match first {
        Some(p) => format!(
            "; {} problem(s), e.g. {}: {}",
            problems.len(),
            p.file.display(),
            p.message
        ),
        None => String::new(),
    };
    Error::input(
        root,
        None,
        format!(
            "no migration recognised: looked for {format} migrations ({}){example}",
            pattern(format)
        ),
    )
}

/// List a subfolder to see whether it is a Diesel migration; empty folders are ignored (as Diesel
/// ignores them).
fn probe_dir(e: Entry) -> Result<Option<DieselDir>> {
    let named = diesel::looks_generated(&e.name);
    let entries = match list_dir(&e.path) {
        Ok(v) => v,
        Err(err) if named => {
            return Err(Error::input(
                &e.path,
                None,
                format!("cannot read migration folder: {err}"),
            ))
        }
        // Unreadable folders that do not look like migrations are not our business.
        Err(_) => return Ok(None),
    };
    let has_scripts = entries
        .iter()
        .any(|x| !x.is_dir && (x.name == "up.sql" || x.name == "down.sql"));
    if entries.is_empty() {
        return Ok(None);
    }
    Ok(Some(DieselDir {
        name: e.name,
        path: e.path,
        entries,
        has_scripts,
    }))
}

fn classify(e: Entry) -> Result<Flat> {
    let name = e.name;
    let kind = if popx::is_specific(&name) {
        Kind::Popx
    } else if let Some(n) = golang_migrate::parse_name(&name) {
        if n.up {
            Kind::GmUp
        } else {
            Kind::GmDown
        }
    } else if name.starts_with(|c: char| c.is_ascii_digit()) && name.ends_with(".sql") {
        Kind::Numbered(Content::Plain)
    } else if flyway::parse_name(&name).is_some() {
        Kind::Flyway
    } else {
        Kind::Other
    };
    // Unrecognised files are reported by name; reading them would only risk a needless error.
    let text = if kind == Kind::Other {
        String::new()
    } else {
        read_text(&e.path)?
    };
    let kind = match kind {
        Kind::Numbered(_) if goose::has_up_marker(&text) => Kind::Numbered(Content::Goose),
        Kind::Numbered(_) if dbmate::has_up_marker(&text) => Kind::Numbered(Content::Dbmate),
        k => k,
    };
    Ok(Flat {
        name,
        path: e.path,
        text,
        kind,
    })
}

/// Pick the format most files follow; every other clearly present format is `mixed-formats`
/// and its files are left out. Returns the format and the excluded ones.
fn detect(
    root: &Path,
    flats: &[Flat],
    dirs: &[DieselDir],
    b: &mut Builder,
) -> Result<(Format, Vec<Format>)> {
    let mut seen: Vec<(Format, usize, PathBuf)> = Vec::new();
    for f in ORDER {
        let mut files = flats
            .iter()
            .filter(|x| x.evidence() == Some(f))
            .map(|x| &x.path);
        let (count, first) = if f == Format::Diesel {
            let mut d = dirs.iter().filter(|d| d.has_scripts).map(|d| &d.path);
            let first = d.next().cloned();
            (first.iter().count() + d.count(), first)
        } else {
            let first = files.next().cloned();
            (first.iter().count() + files.count(), first)
        };
        if let Some(first) = first {
            seen.push((f, count, first));
        }
    }
    // A plain `1_x.sql` next to golang-migrate, dbmate or goose files is a broken file of that
    // format (no `.up`, no section), not a second format.
    let family = [
        Format::Popx,
        Format::GolangMigrate,
        Format::Goose,
        Format::Dbmate,
    ];
    if seen.iter().any(|s| family.contains(&s.0)) {
        seen.retain(|s| s.0 != Format::SqlxSimple);
    }
    // Dialect-less popx files have golang-migrate's names: one popx chain.
    if let Some(gm) = seen.iter().position(|s| s.0 == Format::GolangMigrate) {
        if let Some(px) = seen.iter().position(|s| s.0 == Format::Popx) {
            seen[px].1 += seen[gm].1;
            seen.remove(gm);
        }
    }
    let Some(best) = seen
        .iter()
        .enumerate()
        .max_by_key(|(i, s)| (s.1, std::cmp::Reverse(*i)))
        .map(|(_, s)| s.clone())
    else {
        let looked = ORDER
            .iter()
            .map(|f| format!("{} ({f})", pattern(*f)))
            .collect::<Vec<_>>()
            .join(", ");
        let stray = match flats.first() {
            Some(f) => format!(
                "; {} .sql file(s) match none of them (e.g. {})",
                flats.len(),
                f.name
            ),
            None => String::new(),
        };
        return Err(Error::input(
            root,
            None,
            format!("no migrations found; looked for {looked}{stray}"),
        ));
    };
    let mut excluded = Vec::new();
    for (f, count, file) in &seen {
        // Diesel never reads a plain file, whatever it looks like.
        if best.0 == Format::Diesel {
            break;
        }
        // One stray file of another format is a misnamed file, reported as unrecognized;
        // several (or as many as the main format has) mean two formats share the folder.
        if *f == best.0 || (*count < 2 && count * 2 < best.1) {
            continue;
        }
        excluded.push(*f);
        b.problem(
            "mixed-formats",
            ProblemSeverity::Error,
            file,
            None,
            format!(
                "{f} migration next to {} migrations (e.g. {}); a folder must use one format",
                best.0,
                best.2.display()
            ),
        );
    }
    Ok((best.0, excluded))
}

/// A migration being assembled.
struct Draft {
    version: Version,
    name: String,
    id: String,
    up: Script,
    up_line: Option<usize>,
    down: Option<Script>,
    down_line: Option<usize>,
    files: Vec<PathBuf>,
    repeatable: bool,
}

/// A down script waiting for its up.
struct Down {
    version: Version,
    id: String,
    script: Script,
    files: Vec<PathBuf>,
}

struct Builder {
    root: PathBuf,
    require_down: bool,
    engine: Engine,
    drafts: Vec<Draft>,
    downs: Vec<Down>,
    problems: Vec<ChainProblem>,
    /// popx files that run on this engine, before the best fit per version is chosen.
    popx: Vec<PopxFile>,
}

/// A popx file that popx would run on the engine being verified.
struct PopxFile {
    version: String,
    name: String,
    up: bool,
    fit: u8,
    autocommit: bool,
    path: PathBuf,
    text: String,
}

fn whole_file(path: &Path, text: String, no_transaction: bool) -> Script {
    Script {
        file: path.to_path_buf(),
        segments: vec![Segment::Sql { text, line: 1 }],
        no_transaction,
    }
}

/// A plain integer version no larger than `max`.
fn int_version(text: &str, max: u128) -> Option<Version> {
    let n = text.parse::<u128>().ok()?;
    (n <= max).then(|| Version::number(n, text))
}

impl Builder {
    fn new(root: &Path, options: &DiscoverOptions) -> Self {
        Builder {
            root: root.to_path_buf(),
            require_down: options.require_down,
            engine: options.engine(),
            drafts: Vec::new(),
            downs: Vec::new(),
            problems: Vec::new(),
            popx: Vec::new(),
        }
    }

    fn problem(
        &mut self,
        kind: &'static str,
        severity: ProblemSeverity,
        file: &Path,
        line: Option<usize>,
        message: String,
    ) {
        self.problems.push(ChainProblem {
            kind,
            severity,
            file: file.to_path_buf(),
            line,
            message,
        });
    }

    fn unrecognized(&mut self, file: &Path, format: Format, why: &str) {
        self.problem(
            "unrecognized-file",
            ProblemSeverity::Error,
            file,
            None,
            format!("{why}; {format} migrations must match {}", pattern(format)),
        );
    }

    fn version_or_problem(
        &mut self,
        f: &Flat,
        format: Format,
        text: &str,
        min: u128,
        max: u128,
    ) -> Option<Version> {
        let at_least_min = text.parse::<u128>().is_ok_and(|n| n >= min);
        match int_version(text, max).filter(|_| at_least_min) {
            Some(v) => Some(v),
            None => {
                // golang-migrate's file source skips a name its uint64 parse rejects, silently:
                // the migration would never run.
                let consequence = if format == Format::GolangMigrate {
                    ", so golang-migrate silently skips this file"
                } else {
                    ""
                };
                self.unrecognized(
                    &f.path,
                    format,
                    &format!("version {text} is out of range ({min}..={max}){consequence}"),
                );
                None
            }
        }
    }

    /// Turn one top-level `.sql` file into (part of) a migration of `format`, or a problem.
    fn flat(&mut self, format: Format, f: Flat, confs: &HashSet<String>) -> Result<()> {
        match format {
            Format::GolangMigrate | Format::Sqlx => self.golang_migrate(f, format),
            Format::Popx => {
                self.popx_file(f);
                Ok(())
            }
            Format::SqlxSimple => {
                match sqlx_simple::parse_name(&f.name) {
                    Some((ver, desc)) if matches!(f.kind, Kind::Numbered(_)) => {
                        let Some(version) =
                            self.version_or_problem(&f, format, ver, 0, i64::MAX as u128)
                        else {
                            return Ok(());
                        };
                        let no_tx = golang_migrate::no_transaction_marker(&f.text);
                        let stem = f.name.trim_end_matches(".sql").to_string();
                        self.drafts.push(Draft {
                            version,
                            name: desc.to_string(),
                            id: stem,
                            up: whole_file(&f.path, f.text, no_tx),
                            up_line: None,
                            down: None,
                            down_line: None,
                            files: vec![f.path],
                            repeatable: false,
                        });
                    }
                    _ if matches!(f.kind, Kind::GmUp | Kind::GmDown) => self.unrecognized(
                        &f.path,
                        format,
                        "`.up.sql`/`.down.sql` files belong to the reversible layout and cannot be mixed with simple ones",
                    ),
                    _ => self.unrecognized(&f.path, format, "unexpected file name"),
                }
                Ok(())
            }
            Format::Dbmate => {
                // dbmate sorts by file name and keys applied versions by their digits.
                let parsed = match (f.kind, dbmate::parse_name(&f.name)) {
                    (Kind::Numbered(_), Some((ver, name))) => {
                        Some((Version::string(&f.name, ver), name.to_string()))
                    }
                    _ => None,
                };
                let Some((version, name)) = parsed else {
                    self.unrecognized(&f.path, format, "unexpected file name");
                    return Ok(());
                };
                let sections = dbmate::parse(&f.text);
                self.sectioned(f, version, name, sections, "`-- migrate:up`");
                Ok(())
            }
            Format::Goose => {
                let parsed = match (f.kind, goose::parse_name(&f.name)) {
                    (Kind::Numbered(_), Some((ver, name))) => {
                        Some((ver.to_string(), name.to_string()))
                    }
                    _ => None,
                };
                let Some((ver, name)) = parsed else {
                    self.unrecognized(&f.path, format, "unexpected file name");
                    return Ok(());
                };
                let Some(version) = self.version_or_problem(&f, format, &ver, 1, i64::MAX as u128)
                else {
                    return Ok(());
                };
                let sections = goose::parse(&f.text);
                self.sectioned(f, version, name, sections, "`-- +goose Up`");
                Ok(())
            }
            Format::Flyway => self.flyway(f, confs),
            // Never reached: `discover` leaves plain files out of a Diesel chain.
            Format::Diesel => Ok(()),
            // Alembic, ...: refused at the top of `discover`; a stray .sql file is all it could be.
            _ => {
                self.unrecognized(&f.path, format, ".sql file in a project of another tool");
                Ok(())
            }
        }
    }

    /// One file of a one-file-per-direction format (golang-migrate, sqlx, popx): an up becomes a
    /// draft migration, a down waits for its up in `attach_downs`.
    fn push_file(
        &mut self,
        up: bool,
        version: Version,
        id: String,
        name: String,
        script: Script,
        path: PathBuf,
    ) {
        if up {
            self.drafts.push(Draft {
                version,
                name,
                id,
                up: script,
                up_line: None,
                down: None,
                down_line: None,
                files: vec![path],
                repeatable: false,
            });
        } else {
            self.downs.push(Down {
                version,
                id,
                script,
                files: vec![path],
            });
        }
    }

    fn golang_migrate(&mut self, f: Flat, format: Format) -> Result<()> {
        let Some(n) = golang_migrate::parse_name(&f.name) else {
            let why = if matches!(f.kind, Kind::Numbered(_)) {
                "no `.up.sql` / `.down.sql` suffix"
            } else {
                "unexpected file name"
            };
            self.unrecognized(&f.path, format, why);
            return Ok(());
        };
        // golang-migrate parses a uint64, sqlx an i64.
        let max = if format == Format::Sqlx {
            i64::MAX as u128
        } else {
            u64::MAX as u128
        };
        let Some(version) = self.version_or_problem(&f, format, n.version, 0, max) else {
            return Ok(());
        };
        let (id, title, up) = (n.stem.to_string(), n.title.to_string(), n.up);
        let no_tx = golang_migrate::no_transaction_marker(&f.text);
        let script = whole_file(&f.path, f.text, no_tx);
        self.push_file(up, version, id, title, script, f.path);
        Ok(())
    }

    fn sectioned(
        &mut self,
        f: Flat,
        version: Version,
        name: String,
        s: Sectioned,
        up_marker: &str,
    ) {
        for (line, kind, msg) in s.problems {
            self.problem(kind, ProblemSeverity::Error, &f.path, Some(line), msg);
        }
        let Some(up) = s.up else {
            self.problem(
                "missing-section",
                ProblemSeverity::Error,
                &f.path,
                None,
                format!("no {up_marker} section; the file cannot be applied"),
            );
            return;
        };
        let script = |sec: Section| Script {
            file: f.path.clone(),
            segments: sec.segments,
            no_transaction: sec.no_transaction,
        };
        let up_line = Some(up.marker_line);
        let down_line = s.down.as_ref().map(|d| d.marker_line);
        let id = f.name.trim_end_matches(".sql").to_string();
        self.drafts.push(Draft {
            version,
            name,
            id,
            up: script(up),
            up_line,
            down: s.down.map(script),
            down_line,
            files: vec![f.path.clone()],
            repeatable: false,
        });
    }

    fn flyway(&mut self, f: Flat, confs: &HashSet<String>) -> Result<()> {
        let format = Format::Flyway;
        let Some(name) = flyway::parse_name(&f.name) else {
            let why = if flyway::looks_like(&f.name) {
                "looks like a Flyway migration but the name is malformed"
            } else {
                "unexpected file name"
            };
            self.unrecognized(&f.path, format, why);
            return Ok(());
        };
        let conf_name = format!("{}.conf", f.name);
        let mut files = vec![f.path.clone()];
        let mut no_tx = false;
        if confs.contains(&conf_name) {
            let conf_path = self.root.join(&conf_name);
            no_tx = flyway::conf_no_transaction(&read_text(&conf_path)?);
            files.push(conf_path);
        }
        match name {
            flyway::Name::Repeatable { desc, stem } => {
                let (desc, id) = (desc.to_string(), stem.to_string());
                self.drafts.push(Draft {
                    version: Version {
                        key: VersionKey::Numbers(Vec::new()),
                        text: String::new(),
                    },
                    name: desc,
                    id,
                    up: whole_file(&f.path, f.text, no_tx),
                    up_line: None,
                    down: None,
                    down_line: None,
                    files,
                    repeatable: true,
                });
            }
            flyway::Name::Versioned {
                undo,
                version,
                desc,
                stem,
            } => {
                let (desc, id) = (desc.to_string(), stem.to_string());
                let script = whole_file(&f.path, f.text, no_tx);
                if undo {
                    self.downs.push(Down {
                        version,
                        id,
                        script,
                        files,
                    });
                } else {
                    self.drafts.push(Draft {
                        version,
                        name: desc,
                        id,
                        up: script,
                        up_line: None,
                        down: None,
                        down_line: None,
                        files,
                        repeatable: false,
                    });
                }
            }
        }
        Ok(())
    }

    fn diesel(&mut self, d: DieselDir) -> Result<()> {
        let (version, name) = diesel::parse_dir_name(&d.name);
        let name = name.to_string();
        let mut up = None;
        let mut down = None;
        let mut no_tx = false;
        let mut meta = None;
        for e in &d.entries {
            if e.is_dir {
                continue;
            }
            match e.name.as_str() {
                "up.sql" => up = Some((e.path.clone(), read_text(&e.path)?)),
                "down.sql" => down = Some((e.path.clone(), read_text(&e.path)?)),
                "metadata.toml" => {
                    match diesel::no_transaction(&read_text(&e.path)?) {
                        Ok(b) => no_tx = b,
                        Err(why) => self.problem(
                            "ignored-metadata",
                            ProblemSeverity::Warning,
                            &e.path,
                            None,
                            format!(
                                "invalid metadata.toml ({why}): Diesel ignores the file and \
                                 runs the migration in a transaction"
                            ),
                        ),
                    }
                    meta = Some(e.path.clone());
                }
                n if n.to_ascii_lowercase().ends_with(".sql") => self.problem(
                    "unrecognized-file",
                    ProblemSeverity::Warning,
                    &e.path,
                    None,
                    "Diesel runs only up.sql and down.sql of a migration folder; this file is ignored"
                        .into(),
                ),
                _ => {}
            }
        }
        let down = down.map(|(p, t)| (p.clone(), whole_file(&p, t, no_tx)));
        let Some((up_path, up_text)) = up else {
            // Diesel refuses a non-empty folder without up.sql (UnknownMigrationFormat).
            let (file, message) = match down {
                Some((p, _)) => (p, "down.sql without an up.sql in the same folder"),
                None => (
                    d.path.clone(),
                    "folder without up.sql: Diesel refuses to run (unknown migration format)",
                ),
            };
            let kind = if file == d.path {
                "empty-migration"
            } else {
                "orphan-down"
            };
            self.problem(kind, ProblemSeverity::Error, &file, None, message.into());
            return Ok(());
        };
        let mut files = vec![up_path.clone()];
        files.extend(down.as_ref().map(|(p, _)| p.clone()));
        files.extend(meta);
        self.drafts.push(Draft {
            version,
            name,
            id: d.name,
            up: whole_file(&up_path, up_text, no_tx),
            up_line: None,
            down: down.map(|(_, s)| s),
            down_line: None,
            files,
            repeatable: false,
        });
        Ok(())
    }

    /// Keep a popx file when popx would run it on this engine; other dialects are skipped.
    fn popx_file(&mut self, f: Flat) {
        let Some(n) = popx::parse_name(&f.name) else {
            // popx itself stops on a `.sql` file that does not match its pattern.
            self.unrecognized(&f.path, Format::Popx, "unexpected file name");
            return;
        };
        let Some(fit) = n.dialect.fit(self.engine) else {
            tracing::debug!(file = %f.path.display(), "popx file for another dialect; ignored");
            return;
        };
        self.popx.push(PopxFile {
            version: n.version.to_string(),
            name: n.name.to_string(),
            up: n.up,
            fit,
            autocommit: n.autocommit,
            path: f.path,
            text: f.text,
        });
    }

    /// popx's `sortAndFilter` / `find`: per version and direction, the engine's own file wins
    /// over the dialect-less one.
    fn popx_choose(&mut self) {
        let mut files = std::mem::take(&mut self.popx);
        files.sort_by(|a, b| (&a.version, a.up, b.fit).cmp(&(&b.version, b.up, a.fit)));
        let mut previous: Option<(String, bool, u8, PathBuf)> = None;
        for f in files {
            if let Some((v, up, fit, path)) = &previous {
                if *v == f.version && *up == f.up {
                    if *fit == f.fit {
                        let message =
                            format!("version {} is also used by {}", f.version, path.display());
                        self.problem(
                            "duplicate-version",
                            ProblemSeverity::Error,
                            &f.path,
                            None,
                            message,
                        );
                    }
                    continue;
                }
            }
            previous = Some((f.version.clone(), f.up, f.fit, f.path.clone()));
            let version = Version::string(&f.version, &f.version);
            let id = format!("{}_{}", f.version, f.name);
            // popx skips a file of blank and `--` lines: nothing is sent.
            let text = if popx::is_noop(&f.text) {
                String::new()
            } else {
                f.text
            };
            let script = whole_file(&f.path, text, f.autocommit);
            self.push_file(f.up, version, id, f.name, script, f.path);
        }
    }

    /// Pair downs with ups: same id first, then same version (golang-migrate and Flyway pair by
    /// version alone). Indexed so that large chains stay linear.
    fn attach_downs(&mut self, format: Format) {
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        let mut by_version: HashMap<&VersionKey, Vec<usize>> = HashMap::new();
        for (i, d) in self.drafts.iter().enumerate() {
            if !d.repeatable {
                by_id.entry(d.id.as_str()).or_insert(i);
                by_version.entry(&d.version.key).or_default().push(i);
            }
        }
        let mut attach: Vec<(usize, Down)> = Vec::new();
        let mut taken: HashSet<usize> = HashSet::new();
        let mut orphans = Vec::new();
        for down in std::mem::take(&mut self.downs) {
            let free = |i: &usize| self.drafts[*i].down.is_none() && !taken.contains(i);
            let same_version = by_version.get(&down.version.key);
            let slot = by_id
                .get(down.id.as_str())
                .copied()
                .filter(free)
                .or_else(|| same_version.and_then(|v| v.iter().copied().find(free)));
            match slot {
                Some(i) => {
                    taken.insert(i);
                    attach.push((i, down));
                }
                None => {
                    let message = match same_version.and_then(|v| v.first()) {
                        Some(&t) => format!(
                            "second down for version {} ({} already has one)",
                            down.version,
                            self.drafts[t].up.file.display()
                        ),
                        None => format!("down for version {} has no matching up", down.version),
                    };
                    orphans.push((down.script.file, message));
                }
            }
        }
        for (i, down) in attach {
            let d = &mut self.drafts[i];
            d.down = Some(down.script);
            d.files.extend(down.files);
        }
        // popx keeps downs apart and runs one only for an applied up: an extra one is harmless
        // (a dialect-less down for a version only one dialect has).
        if format == Format::Popx {
            orphans.clear();
        }
        for (file, message) in orphans {
            self.problem("orphan-down", ProblemSeverity::Error, &file, None, message);
        }
    }

    /// Diesel, popx and dbmate compare versions as strings: when versions of different lengths
    /// make that order differ from the numeric one, say which order is used (a warning).
    fn string_order_note(&mut self, format: Format, drafts: &[Draft]) {
        let digits = |d: &Draft| match &d.version.key {
            VersionKey::Text(_)
                if d.version
                    .text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'-') =>
            {
                Some(d.version.text.replace('-', ""))
            }
            _ => None,
        };
        let numeric = |s: &str| {
            let t = s.trim_start_matches('0');
            (t.len(), t.to_string())
        };
        for pair in drafts.windows(2) {
            let (Some(a), Some(b)) = (digits(&pair[0]), digits(&pair[1])) else {
                continue;
            };
            if numeric(&a) > numeric(&b) {
                let message = format!(
                    "{format} compares versions as strings, so {} runs before {} although its \
                     number is larger; migcheck applies them in {format}'s order",
                    pair[0].version, pair[1].version
                );
                let file = pair[1].up.file.clone();
                self.problem(
                    "string-order",
                    ProblemSeverity::Warning,
                    &file,
                    None,
                    message,
                );
                return;
            }
        }
    }

    fn finish(mut self, format: Format, format_reason: String) -> Chain {
        self.attach_downs(format);
        let mut drafts = std::mem::take(&mut self.drafts);
        drafts.sort_by(|a, b| {
            (a.repeatable, &a.version.key, &a.name, &a.id).cmp(&(
                b.repeatable,
                &b.version.key,
                &b.name,
                &b.id,
            ))
        });
        for pair in drafts.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            // dbmate's key is the file name; its applied versions are the leading digits.
            let same = a.version.key == b.version.key
                || (format == Format::Dbmate && a.version.text == b.version.text);
            if !b.repeatable && same {
                self.problem(
                    "duplicate-version",
                    ProblemSeverity::Error,
                    &b.up.file,
                    None,
                    format!(
                        "version {} is also used by {}",
                        b.version,
                        a.up.file.display()
                    ),
                );
            }
        }
        self.string_order_note(format, &drafts);
        // popx refuses to start when an up has no down.
        let missing = if self.require_down || format == Format::Popx {
            ProblemSeverity::Error
        } else {
            ProblemSeverity::Warning
        };
        for d in &mut drafts {
            d.up.no_transaction = runs_outside_transaction(format, &d.up, self.engine);
            if let Some(down) = &mut d.down {
                down.no_transaction = runs_outside_transaction(format, down, self.engine);
            }
        }
        for d in &drafts {
            // A popx file of comments only is popx's no-op (a dialect with nothing to do).
            if d.up.is_empty() && format != Format::Popx {
                self.problem(
                    "empty-migration",
                    ProblemSeverity::Error,
                    &d.up.file,
                    d.up_line,
                    "the up script holds no SQL (only whitespace or comments)".into(),
                );
            }
            match &d.down {
                None if !d.repeatable => {
                    let msg = missing_down_message(format, d);
                    self.problem("missing-down", missing, &d.up.file, d.up_line, msg);
                }
                Some(s) if s.is_empty() && !(format == Format::Popx && d.up.is_empty()) => {
                    let file = s.file.clone();
                    self.problem(
                        "empty-down",
                        ProblemSeverity::Warning,
                        &file,
                        d.down_line,
                        "the down script holds no SQL, so it cannot undo anything".into(),
                    );
                }
                _ => {}
            }
        }
        // Deterministic output: by file, then line (file-level problems first).
        self.problems
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Chain {
            root: self.root,
            format,
            format_reason,
            migrations: drafts
                .into_iter()
                .map(|d| Migration {
                    version: d.version,
                    name: d.name,
                    id: d.id,
                    up: d.up,
                    down: d.down,
                    files: d.files,
                    repeatable: d.repeatable,
                })
                .collect(),
            problems: self.problems,
        }
    }
}

/// Whether the tool runs `script` outside a transaction on `engine`; `script.no_transaction`
/// holds the format's own marker on entry.
///
/// Tools that send the whole file as one multi-statement string (golang-migrate always; sqlx,
/// dbmate, Diesel and popx when their marker says "no transaction") get PostgreSQL's
/// simple-query rule: several statements in one string are one implicit transaction, a single
/// statement runs on its own. goose and Flyway send statements one by one.
fn runs_outside_transaction(format: Format, script: &Script, engine: Engine) -> bool {
    let dialect = engine.dialect();
    let pg = dialect == Dialect::Postgres;
    let marked = script.no_transaction;
    // A script the splitter cannot read fails in `prepare` with its own message.
    let statements = || crate::sql::split(script, dialect).ok();
    let single = || statements().is_some_and(|s| s.len() <= 1);
    match format {
        Format::GolangMigrate => !pg || single(),
        Format::Sqlx | Format::SqlxSimple | Format::Dbmate | Format::Diesel => {
            marked && (!pg || single())
        }
        // popx opens no transaction on MySQL at all.
        Format::Popx => !pg || (marked && single()),
        // Flyway runs a migration outside a transaction when one of its statements cannot run
        // inside one (PostgreSQL: CONCURRENTLY, VACUUM, ...).
        Format::Flyway => {
            marked
                || (pg
                    && statements().is_some_and(|s| {
                        s.iter()
                            .any(|st| super::must_run_outside_transaction(&st.sql))
                    }))
        }
        // Goose, and formats whose scripts say it themselves.
        _ => marked,
    }
}

fn missing_down_message(format: Format, d: &Draft) -> String {
    let expected = match format {
        Format::GolangMigrate | Format::Sqlx | Format::Popx => format!("no {}.down.sql", d.id),
        Format::SqlxSimple => {
            "sqlx simple migrations have no down; reversibility cannot be checked".to_string()
        }
        Format::Dbmate => "no `-- migrate:down` section".to_string(),
        Format::Goose => "no `-- +goose Down` section".to_string(),
        Format::Flyway => format!("no U{}__{}.sql undo script", d.version, d.name),
        Format::Diesel => format!("no down.sql in {}", d.id),
        // Alembic, ...: never read by this discovery.
        _ => "no down script".to_string(),
    };
    format!("migration {} has no down: {expected}", d.id)
}

#[cfg(test)]
mod tests;
