//! Entry points for the fuzz targets under `fuzz/`: the text parsers of chain discovery (file
//! names, goose and dbmate sections, markers and side files), which are private to discovery.
//! Not a stable API: it exists so that the parsers can be fuzzed one at a time, without a folder.

use super::{dbmate, diesel, flyway, golang_migrate, goose, popx, project, sqlx_simple};
use super::{first_content_line, ignored, Sectioned};
use crate::chain::{Format, Segment};

/// One format's reading of a file name: the version and name it took, slices of the input.
#[derive(Debug)]
pub struct NameParse<'a> {
    pub format: Format,
    pub version: &'a str,
    pub name: &'a str,
}

/// Every format's file-name parser on `name`; the predicates (ignored, Flyway look-alike,
/// Diesel generated, popx-specific) are run too, their answers in `flags`.
pub fn file_names(name: &str) -> (Vec<NameParse<'_>>, [bool; 4]) {
    let mut out = Vec::new();
    if let Some(n) = golang_migrate::parse_name(name) {
        out.push(NameParse {
            format: Format::GolangMigrate,
            version: n.version,
            name: n.title,
        });
    }
    if let Some(n) = popx::parse_name(name) {
        out.push(NameParse {
            format: Format::Popx,
            version: n.version,
            name: n.name,
        });
    }
    for (format, parsed) in [
        (Format::SqlxSimple, sqlx_simple::parse_name(name)),
        (Format::Dbmate, dbmate::parse_name(name)),
        (Format::Goose, goose::parse_name(name)),
    ] {
        if let Some((version, n)) = parsed {
            out.push(NameParse {
                format,
                version,
                name: n,
            });
        }
    }
    match flyway::parse_name(name) {
        Some(flyway::Name::Versioned { version, desc, .. }) => {
            // The version's text is a copy; find the slice it came from (after V/U).
            let text = &name[1..1 + version.text.len()];
            out.push(NameParse {
                format: Format::Flyway,
                version: text,
                name: desc,
            });
        }
        Some(flyway::Name::Repeatable { desc, .. }) => out.push(NameParse {
            format: Format::Flyway,
            version: &name[..0],
            name: desc,
        }),
        None => {}
    }
    let (version, rest) = diesel::parse_dir_name(name);
    out.push(NameParse {
        format: Format::Diesel,
        version: &name[..version.text.len()],
        // A name without `_` has no rest: the empty slice at the end of the name.
        name: if rest.is_empty() {
            &name[name.len()..]
        } else {
            rest
        },
    });
    let flags = [
        ignored(name),
        flyway::looks_like(name),
        diesel::looks_generated(name),
        popx::is_specific(name),
    ];
    (out, flags)
}

/// A goose or dbmate file's sections as discovery reads them.
#[derive(Debug)]
pub struct Sections {
    pub up: Option<Vec<Segment>>,
    pub down: Option<Vec<Segment>>,
    /// Lines of the section markers, up then down.
    pub marker_lines: Vec<usize>,
    /// Lines of the structural problems found.
    pub problem_lines: Vec<usize>,
}

fn sections(s: Sectioned) -> Sections {
    let marker_lines = [&s.up, &s.down]
        .into_iter()
        .flatten()
        .map(|x| x.marker_line)
        .collect();
    Sections {
        up: s.up.map(|x| x.segments),
        down: s.down.map(|x| x.segments),
        marker_lines,
        problem_lines: s.problems.iter().map(|p| p.0).collect(),
    }
}

/// `-- +goose Up` / `Down` sections and `StatementBegin`/`StatementEnd` blocks.
pub fn goose_sections(text: &str) -> Sections {
    sections(goose::parse(text))
}

/// `-- migrate:up` / `-- migrate:down` sections.
pub fn dbmate_sections(text: &str) -> Sections {
    sections(dbmate::parse(text))
}

/// What the one-line and side-file readers make of a text.
#[derive(Debug)]
pub struct Markers {
    pub goose_up: bool,
    pub dbmate_up: bool,
    pub sqlx_no_transaction: bool,
    pub popx_noop: bool,
    pub flyway_conf_no_transaction: bool,
    pub diesel_metadata_no_transaction: Result<bool, String>,
    pub cargo_sqlx_migrate: bool,
    pub go_mod_tool: Option<Format>,
    pub first_content_line: Option<usize>,
}

/// Every marker and side-file reader on `text` (as a script, a `.sql.conf`, a `metadata.toml`,
/// a `Cargo.toml` and a `go.mod`).
pub fn markers(text: &str) -> Markers {
    Markers {
        goose_up: goose::has_up_marker(text),
        dbmate_up: dbmate::has_up_marker(text),
        sqlx_no_transaction: golang_migrate::no_transaction_marker(text),
        popx_noop: popx::is_noop(text),
        flyway_conf_no_transaction: flyway::conf_no_transaction(text),
        diesel_metadata_no_transaction: diesel::no_transaction(text),
        cargo_sqlx_migrate: project::cargo_uses_sqlx_migrate(text),
        go_mod_tool: project::go_mod_tool(text),
        first_content_line: first_content_line(text),
    }
}
