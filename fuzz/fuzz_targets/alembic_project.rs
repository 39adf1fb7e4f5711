//! An Alembic project's configuration (`migcheck::alembic::config::find_project`): Python
//! `configparser` syntax with `%(name)s` interpolation in `alembic.ini`, `[tool.alembic]` in
//! `pyproject.toml`. The input is written into a fresh temporary folder: up to the first NUL
//! byte as `alembic.ini`, after it (when there is one) as `pyproject.toml`.
//! Checks: no panic; an error's line is a line of the file it names.
#![no_main]

use std::fs;

use libfuzzer_sys::fuzz_target;
use migcheck::error::Error;
use migcheck_fuzz::{check_error_line, Lines};

fuzz_target!(|data: &[u8]| {
    let (ini, toml) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    fs::write(dir.path().join("alembic.ini"), ini).expect("write alembic.ini");
    if let Some(toml) = toml {
        fs::write(dir.path().join("pyproject.toml"), toml).expect("write pyproject.toml");
    }
    if let Err(e) = migcheck::alembic::config::find_project(dir.path()) {
        let named = match &e {
            Error::Input { file: Some(f), .. } => f.file_name().and_then(|n| n.to_str()),
            _ => None,
        };
        let text = match named {
            Some("pyproject.toml") => toml.unwrap_or_default(),
            _ => ini,
        };
        check_error_line(&e, &Lines::new(&String::from_utf8_lossy(text)));
    }
});
