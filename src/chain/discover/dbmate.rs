//! dbmate: `{digits}*.sql` holding `-- migrate:up` and `-- migrate:down` sections.

use std::sync::LazyLock;

use regex::Regex;

use super::{first_content_line, line_of, Section, Sectioned};
use crate::chain::Segment;

/// Pattern shown in messages.
pub(super) const PATTERN: &str = "{version}_{name}.sql with a `-- migrate:up` section";

// dbmate's own markers; the option words follow on the same line.
static UP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^--\s*migrate:up(\s*$|\s+\S+)").expect("static regex"));
static DOWN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^--\s*migrate:down(\s*$|\s+\S+)").expect("static regex"));

/// True when the text has a dbmate up marker (used for format detection).
pub(super) fn has_up_marker(text: &str) -> bool {
    UP.is_match(text)
}

/// `(version, name)` of `{digits}{anything}.sql`.
pub(super) fn parse_name(name: &str) -> Option<(&str, &str)> {
    let stem = name.strip_suffix(".sql")?;
    let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = stem[digits..].trim_start_matches(['_', '-', '.']);
    Some((&stem[..digits], rest))
}

struct Marker {
    /// Byte offset of the marker line's start and of the line after it.
    start: usize,
    body: usize,
    line: usize,
    no_transaction: bool,
}

fn markers(re: &Regex, text: &str) -> Vec<Marker> {
    re.find_iter(text)
        .map(|m| {
            let eol = text[m.start()..]
                .find('\n')
                .map_or(text.len(), |p| m.start() + p);
            let options = &text[m.start()..eol];
            Marker {
                start: m.start(),
                body: (eol + 1).min(text.len()),
                line: line_of(text, m.start()),
                no_transaction: options.split_whitespace().any(|w| w == "transaction:false"),
            }
        })
        .collect()
}

pub(super) fn parse(text: &str) -> Sectioned {
    let ups = markers(&UP, text);
    let downs = markers(&DOWN, text);
    let mut out = Sectioned::default();
    for (list, what) in [(&ups, "migrate:up"), (&downs, "migrate:down")] {
        for extra in list.iter().skip(1) {
            out.problems.push((
                extra.line,
                "duplicate-section",
                format!("second `-- {what}` marker; dbmate uses only the first"),
            ));
        }
    }
    let (up, down) = (ups.first(), downs.first());
    let first = [up, down]
        .into_iter()
        .flatten()
        .map(|m| m.start)
        .min()
        .unwrap_or(text.len());
    if let Some(line) = first_content_line(&text[..first]) {
        out.problems.push((
            line,
            "statements-outside-section",
            "SQL before the first `-- migrate:up` / `-- migrate:down` marker is never run"
                .to_string(),
        ));
    }
    // Each section runs to the other marker when that one comes later, else to the end.
    let section = |m: &Marker, other: Option<&Marker>, no_tx: bool| {
        let end = other
            .filter(|o| o.start > m.start)
            .map_or(text.len(), |o| o.start);
        Section {
            segments: vec![Segment::Sql {
                text: text[m.body.min(end)..end].to_string(),
                line: m.line + 1,
            }],
            marker_line: m.line,
            no_transaction: no_tx,
        }
    };
    let up_no_tx = up.is_some_and(|m| m.no_transaction);
    out.up = up.map(|m| section(m, down, up_no_tx));
    out.down = down.map(|m| section(m, up, up_no_tx || m.no_transaction));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(s: &Section) -> (&str, usize) {
        match &s.segments[0] {
            Segment::Sql { text, line } => (text.as_str(), *line),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sections_and_lines() {
        let text = "-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down\nDROP TABLE a;\n";
        let p = parse(text);
        assert!(p.problems.is_empty());
        let up = p.up.unwrap();
        assert_eq!(sql(&up), ("CREATE TABLE a (id int);\n\n", 2));
        assert_eq!(up.marker_line, 1);
        assert_eq!(sql(&p.down.unwrap()), ("DROP TABLE a;\n", 5));
    }

    #[test]
    fn transaction_false() {
        let p = parse("-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- migrate:down\nDROP INDEX i;");
        assert!(p.up.unwrap().no_transaction);
        assert!(p.down.unwrap().no_transaction);
        let p = parse("-- migrate:up\nSELECT 1;\n-- migrate:down transaction:false\nSELECT 2;");
        assert!(!p.up.unwrap().no_transaction);
        assert!(p.down.unwrap().no_transaction);
    }

    #[test]
    fn missing_and_misplaced_sections() {
        let p = parse("-- migrate:up\r\nSELECT 1;\r\n");
        assert!(p.up.is_some() && p.down.is_none());
        let p = parse("CREATE TABLE x (a int);\n");
        assert!(p.up.is_none());
        assert_eq!(p.problems[0].1, "statements-outside-section");
        let p =
            parse("-- a comment is fine\n-- migrate:down\nSELECT 2;\n-- migrate:up\nSELECT 1;\n");
        assert!(p.problems.is_empty());
        assert_eq!(sql(&p.down.unwrap()), ("SELECT 2;\n", 3));
        assert_eq!(sql(&p.up.unwrap()), ("SELECT 1;\n", 5));
        // `-- migrate:upgrade` is not a marker.
        assert!(!has_up_marker("-- migrate:upgrade\n"));
        assert!(has_up_marker("--migrate:up\n"));
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_name("20240101120000_create_users.sql"),
            Some(("20240101120000", "create_users"))
        );
        assert_eq!(parse_name("3-add.sql"), Some(("3", "add")));
        assert_eq!(parse_name("x3.sql"), None);
    }
}
