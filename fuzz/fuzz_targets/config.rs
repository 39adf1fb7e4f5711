//! `migcheck.toml` parsing: the `[verify]` section (`VerifyConfig::parse`) and the `[lint]`
//! section (`LintConfig::parse`). Checks: no panic; an error's line is a line of the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use migcheck::lint::config::LintConfig;
use migcheck::verify_config::VerifyConfig;
use migcheck_fuzz::{check_error_line, Lines};

fuzz_target!(|data: &[u8]| {
    let text = migcheck_fuzz::text(data);
    let lines = Lines::new(&text);
    let path = Path::new("migcheck.toml");
    if let Err(e) = VerifyConfig::parse(&text, path) {
        check_error_line(&e, &lines);
    }
    match LintConfig::parse(&text, path) {
        Ok(config) => {
            for rule in migcheck::lint::rules::all() {
                let _ = config.is_enabled(rule);
                let _ = config.severity(rule);
            }
            let _ = config.fail_on();
            let _ = config.time_zone();
        }
        Err(e) => check_error_line(&e, &lines),
    }
});
