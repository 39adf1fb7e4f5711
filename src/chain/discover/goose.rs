//! goose: `{int64>=1}_{name}.sql` with `-- +goose Up` / `-- +goose Down` sections and
//! `StatementBegin`/`StatementEnd` blocks sent verbatim.

use super::{first_content_line, Section, Sectioned};
use crate::chain::Segment;

/// Pattern shown in messages.
pub(super) const PATTERN: &str = "{version}_{name}.sql with a `-- +goose Up` annotation";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Annotation {
    Up,
    Down,
    Begin,
    End,
    NoTransaction,
    Other,
}

/// The annotation on a line, if it is one (`-- +goose up` is accepted: goose ignores case).
fn annotation(line: &str) -> Option<Annotation> {
    let rest = line.trim().strip_prefix("--")?.trim_start();
    let head = rest.get(..6)?;
    if !head.eq_ignore_ascii_case("+goose") {
        return None;
    }
    let words: Vec<String> = rest[6..]
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    Some(match words.as_slice() {
        ["UP", ..] => Annotation::Up,
        ["DOWN", ..] => Annotation::Down,
        ["STATEMENTBEGIN", ..] => Annotation::Begin,
        ["STATEMENTEND", ..] => Annotation::End,
        ["NO", "TRANSACTION", ..] => Annotation::NoTransaction,
        _ => Annotation::Other,
    })
}

/// True when the text has a goose Up annotation (used for format detection).
pub(super) fn has_up_marker(text: &str) -> bool {
    text.lines().any(|l| annotation(l) == Some(Annotation::Up))
}

/// `(version, name)` of `{digits}_{name}.sql`.
pub(super) fn parse_name(name: &str) -> Option<(&str, &str)> {
    super::sqlx_simple::parse_name(name)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

pub(super) fn parse(text: &str) -> Sectioned {
    let mut out = Sectioned::default();
    let mut no_transaction = false;
    let mut current: Option<Dir> = None;
    // Start (byte, line) of the plain SQL run being collected, and of an open block.
    let mut run = (0usize, 1usize);
    let mut block: Option<(usize, usize, usize)> = None; // body start, body line, Begin line
    let mut first_marker: Option<usize> = None;
    let mut offset = 0usize;
    for (idx, raw) in text.split_inclusive('\n').enumerate() {
        let line_no = idx + 1;
        let line_start = offset;
        offset += raw.len();
        let Some(ann) = annotation(raw) else {
            continue;
        };
        match ann {
            Annotation::Up | Annotation::Down => {
                if block.is_some() {
                    out.problems.push((
                        line_no,
                        "bad-annotation",
                        "section annotation inside a StatementBegin/StatementEnd block".into(),
                    ));
                    block = None;
                }
                if let Some(dir) = current {
                    push_sql(section(&mut out, dir), text, run, line_start);
                }
                first_marker.get_or_insert(line_start);
                let dir = if ann == Annotation::Up {
                    Dir::Up
                } else {
                    Dir::Down
                };
                let slot = match dir {
                    Dir::Up => &mut out.up,
                    Dir::Down => &mut out.down,
                };
                if slot.is_some() {
                    let what = if dir == Dir::Up { "Up" } else { "Down" };
                    out.problems.push((
                        line_no,
                        "duplicate-section",
                        format!("second `-- +goose {what}` annotation"),
                    ));
                } else {
                    *slot = Some(Section {
                        segments: Vec::new(),
                        marker_line: line_no,
                        no_transaction: false,
                    });
                }
                current = Some(dir);
                run = (offset, line_no + 1);
            }
            Annotation::Begin => {
                if block.is_some() {
                    out.problems.push((
                        line_no,
                        "bad-annotation",
                        "StatementBegin inside another StatementBegin block".into(),
                    ));
                    continue;
                }
                if let Some(dir) = current {
                    push_sql(section(&mut out, dir), text, run, line_start);
                }
                // The SQL before the block is taken: a block a section annotation cuts short
                // leaves its body as plain SQL, not the text before it a second time.
                run = (offset, line_no + 1);
                block = Some((offset, line_no + 1, line_no));
            }
            Annotation::End => {
                let Some((body, body_line, _)) = block.take() else {
                    out.problems.push((
                        line_no,
                        "bad-annotation",
                        "StatementEnd without a StatementBegin".into(),
                    ));
                    continue;
                };
                if let Some(s) = current.and_then(|d| section(&mut out, d)) {
                    // The segment starts at the block's first non-blank line.
                    let mut body = body;
                    let mut body_line = body_line;
                    for l in text[body..line_start].split_inclusive('\n') {
                        if !l.trim().is_empty() {
                            break;
                        }
                        body += l.len();
                        body_line += 1;
                    }
                    let sql = &text[body..line_start];
                    if !sql.trim().is_empty() {
                        s.segments.push(Segment::Verbatim {
                            text: sql.to_string(),
                            line: body_line,
                        });
                    }
                }
                run = (offset, line_no + 1);
            }
            Annotation::NoTransaction => no_transaction = true,
            Annotation::Other => {}
        }
    }
    if let Some((_, _, begin_line)) = block {
        out.problems.push((
            begin_line,
            "bad-annotation",
            "StatementBegin without a matching StatementEnd".into(),
        ));
    } else if let Some(dir) = current {
        push_sql(section(&mut out, dir), text, run, text.len());
    }
    let before = &text[..first_marker.unwrap_or(text.len())];
    if let Some(line) = first_content_line(before) {
        out.problems.push((
            line,
            "statements-outside-section",
            "SQL before the first `-- +goose Up` / `-- +goose Down` annotation is never run".into(),
        ));
    }
    for s in [out.up.as_mut(), out.down.as_mut()].into_iter().flatten() {
        s.no_transaction = no_transaction;
    }
    out
}

fn section(out: &mut Sectioned, dir: Dir) -> Option<&mut Section> {
    match dir {
        Dir::Up => out.up.as_mut(),
        Dir::Down => out.down.as_mut(),
    }
}

fn push_sql(section: Option<&mut Section>, text: &str, run: (usize, usize), end: usize) {
    let Some(s) = section else { return };
    let (start, line) = run;
    if start < end && !text[start..end].trim().is_empty() {
        s.segments.push(Segment::Sql {
            text: text[start..end].to_string(),
            line,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_blocks_and_lines() {
        let text = "-- +goose Up\nCREATE TABLE a (id int);\n-- +goose StatementBegin\n\nCREATE FUNCTION f() RETURNS int AS $$\nSELECT 1;\n$$ LANGUAGE sql;\n-- +goose StatementEnd\nCREATE TABLE b (id int);\n\n-- +goose Down\nDROP TABLE b;\n";
        let p = parse(text);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let up = p.up.unwrap();
        assert_eq!(up.marker_line, 1);
        assert_eq!(
            up.segments,
            vec![
                Segment::Sql {
                    text: "CREATE TABLE a (id int);\n".into(),
                    line: 2
                },
                Segment::Verbatim {
                    text: "CREATE FUNCTION f() RETURNS int AS $$\nSELECT 1;\n$$ LANGUAGE sql;\n"
                        .into(),
                    line: 5
                },
                Segment::Sql {
                    text: "CREATE TABLE b (id int);\n\n".into(),
                    line: 9
                },
            ]
        );
        assert_eq!(
            p.down.unwrap().segments,
            vec![Segment::Sql {
                text: "DROP TABLE b;\n".into(),
                line: 12
            }]
        );
    }

    #[test]
    fn case_insensitive_and_no_transaction() {
        let p = parse("-- +goose NO TRANSACTION\n-- +goose up\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- +goose ENVSUB ON\n-- +goose down\r\nDROP INDEX i;\r\n");
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let up = p.up.unwrap();
        assert!(up.no_transaction);
        assert_eq!(up.segments.len(), 1);
        assert!(p.down.unwrap().no_transaction);
        assert!(has_up_marker("--+goose UP\n"));
        assert!(!has_up_marker("-- goose up\n"));
    }

    #[test]
    fn structural_problems() {
        let p = parse("CREATE TABLE x (a int);\n");
        assert!(p.up.is_none());
        assert_eq!(p.problems[0].1, "statements-outside-section");
        let p = parse("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n");
        assert_eq!(
            p.problems[0],
            (
                2,
                "bad-annotation",
                "StatementBegin without a matching StatementEnd".into()
            )
        );
        let p = parse("-- +goose Up\nSELECT 1;\n-- +goose StatementEnd\n-- +goose Up\n");
        let kinds: Vec<_> = p.problems.iter().map(|p| p.1).collect();
        assert_eq!(kinds, vec!["bad-annotation", "duplicate-section"]);
    }

    #[test]
    fn unterminated_block_cut_by_a_section_keeps_each_statement_once() {
        // Found by the discover_text fuzz target: the SQL before the StatementBegin came out
        // twice (once before the block, once again with the block's body).
        let p = parse("-- +goose Up\nCREATE TABLE a (id int);\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\nDROP TABLE a;\n");
        assert_eq!(
            p.problems,
            vec![(
                5,
                "bad-annotation",
                "section annotation inside a StatementBegin/StatementEnd block".into()
            )]
        );
        assert_eq!(
            p.up.unwrap().segments,
            vec![
                Segment::Sql {
                    text: "CREATE TABLE a (id int);\n".into(),
                    line: 2
                },
                Segment::Sql {
                    text: "SELECT 1;\n".into(),
                    line: 4
                },
            ]
        );
        assert_eq!(
            p.down.unwrap().segments,
            vec![Segment::Sql {
                text: "DROP TABLE a;\n".into(),
                line: 6
            }]
        );
    }
}
