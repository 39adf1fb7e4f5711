//! The lint on random SQL for PostgreSQL (`migcheck::lint::lint_text`): splitter, libpg_query,
//! the keyword fallback, every rule, suppression comments. Input: a flags byte (see
//! `migcheck_fuzz::lint::run`), then the script. Checks: no panic; findings are on lines of the
//! script, with 1-based columns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migcheck::engine::Engine;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    migcheck_fuzz::lint::run(Engine::Postgres, flags, &migcheck_fuzz::text(rest));
});
