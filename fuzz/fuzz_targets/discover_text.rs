//! Chain discovery's text parsers, without a folder (`migcheck::chain::fuzzing`): every format's
//! file-name parser (golang-migrate/sqlx, popx, sqlx simple, dbmate, goose, Flyway, Diesel) on the
//! input's first line; goose annotations, dbmate markers, sqlx/popx/Flyway/Diesel markers and
//! side files (`.sql.conf`, `metadata.toml`), `Cargo.toml` and `go.mod` detection on the rest.
//! Checks: no panic; versions and names are slices of the file name, numeric versions are
//! digits; section segments are pieces of the text, in order, on the lines they report; marker,
//! problem and first-content lines are lines of the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migcheck::chain::fuzzing;
use migcheck::chain::{Format, Segment};
use migcheck_fuzz::{is_slice_of, pieces_in_order, Lines};

fuzz_target!(|data: &[u8]| {
    let input = migcheck_fuzz::text(data);
    let (name, text) = input.split_once('\n').unwrap_or((&input, ""));

    let (parses, _flags) = fuzzing::file_names(name);
    for p in &parses {
        assert!(
            is_slice_of(name, p.version),
            "{p:?}: version not from the name"
        );
        assert!(is_slice_of(name, p.name), "{p:?}: name not from the name");
        match p.format {
            Format::Flyway => assert!(
                p.version
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'_'),
                "{p:?}"
            ),
            Format::Diesel => {}
            _ => assert!(
                !p.version.is_empty() && p.version.bytes().all(|b| b.is_ascii_digit()),
                "{p:?}"
            ),
        }
    }

    let lines = Lines::new(text);
    let line_ok = |l: usize| (1..=lines.count()).contains(&l);
    for sections in [
        fuzzing::goose_sections(text),
        fuzzing::dbmate_sections(text),
    ] {
        for l in sections.marker_lines.iter().chain(&sections.problem_lines) {
            assert!(line_ok(*l), "line {l} of a {}-line text", lines.count());
        }
        for segments in [&sections.up, &sections.down].into_iter().flatten() {
            let pieces = segments
                .iter()
                .map(|s| match s {
                    Segment::Sql { text, line } | Segment::Verbatim { text, line } => {
                        (text.as_str(), *line)
                    }
                })
                .filter(|(t, _)| !t.is_empty());
            if let Err(e) = pieces_in_order(text, &lines, pieces) {
                panic!("{e}");
            }
        }
    }

    let markers = fuzzing::markers(text);
    if let Some(l) = markers.first_content_line {
        assert!(line_ok(l), "first content line {l} of {}", lines.count());
    }
});
