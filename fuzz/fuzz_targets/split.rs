//! The statement splitter (`migcheck::sql::split` and `split_as_sent`), PostgreSQL and MySQL.
//!
//! Input: one flags byte, then the script. Bit 0: MySQL (else PostgreSQL); bit 1: `split_as_sent`
//! (DELIMITER left to the server); bit 2: the text is cut at NUL bytes into segments, every
//! second one a goose verbatim block. Checks: no panic; the statements are non-empty pieces of
//! the input, in order, without surrounding whitespace, each on the line it reports; an error's
//! line is a line of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migcheck::chain::{Script, Segment};
use migcheck::engine::Dialect;
use migcheck_fuzz::{check_error_line, pieces_in_order, Lines};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = migcheck_fuzz::text(rest);
    let dialect = if flags & 1 == 0 {
        Dialect::Postgres
    } else {
        Dialect::Mysql
    };
    let lines = Lines::new(&text);
    let mut segments = Vec::new();
    let mut offset = 0;
    for (i, piece) in text.split('\0').enumerate() {
        let line = lines.line_at(offset);
        offset += piece.len() + 1;
        let piece = piece.to_string();
        segments.push(if flags & 4 != 0 && i % 2 == 1 {
            Segment::Verbatim { text: piece, line }
        } else {
            Segment::Sql { text: piece, line }
        });
    }
    let script = Script {
        file: "m/1_x.up.sql".into(),
        segments,
        no_transaction: false,
    };
    let result = if flags & 2 == 0 {
        migcheck::sql::split(&script, dialect)
    } else {
        migcheck::sql::split_as_sent(&script, dialect)
    };
    let _ = migcheck::sql::is_blank(&text);
    match result {
        Ok(statements) => {
            for st in &statements {
                assert_eq!(st.sql.trim_ascii(), st.sql, "statement keeps whitespace");
                let _ = migcheck::sql::server_wide(&st.sql, dialect);
            }
            if let Err(e) = pieces_in_order(
                &text,
                &lines,
                statements.iter().map(|s| (s.sql.as_str(), s.line)),
            ) {
                panic!("{e}");
            }
        }
        Err(e) => check_error_line(&e, &lines),
    }
});
