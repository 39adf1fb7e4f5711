//! The Alembic revision header parser (`migcheck::alembic::parse::parse_header`): the Python
//! lexer and the top-level assignments of `revision`, `down_revision`, `branch_labels` and
//! `depends_on`. Checks: no panic; assignment lines and an error's line are lines of the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use migcheck_fuzz::{check_error_line, Lines};

fuzz_target!(|data: &[u8]| {
    let text = migcheck_fuzz::text(data);
    let lines = Lines::new(&text);
    match migcheck::alembic::parse::parse_header(Path::new("versions/abc_x.py"), &text) {
        Ok(header) => {
            for a in [
                &header.revision,
                &header.down_revision,
                &header.branch_labels,
                &header.depends_on,
            ]
            .into_iter()
            .flatten()
            {
                assert!(
                    (1..=lines.count()).contains(&a.line),
                    "assignment on line {} of a {}-line file",
                    a.line,
                    lines.count()
                );
                let _ = a.value.clone().into_list();
            }
        }
        Err(e) => check_error_line(&e, &lines),
    }
});
