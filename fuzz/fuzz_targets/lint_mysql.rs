//! The lint on random SQL for MySQL and MariaDB (`migcheck::lint::lint_text`): splitter,
//! sqlparser, migcheck's own reading of the forms sqlparser lacks, the keyword fallback, every
//! rule, suppression comments. Input: a flags byte (bit 7: MariaDB, else MySQL; the others as in
//! `migcheck_fuzz::lint::run`), then the script. Checks: no panic; findings are on lines of the
//! script, with 1-based columns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migcheck::engine::Engine;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let engine = if flags & 128 != 0 {
        Engine::Mariadb
    } else {
        Engine::Mysql
    };
    migcheck_fuzz::lint::run(engine, flags, &migcheck_fuzz::text(rest));
});
