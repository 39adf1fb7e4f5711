//! Chain discovery on a real folder (`migcheck::chain::discover`), then the lint of the chain it
//! found. The input is written into a fresh temporary folder as up to 8 files: one options byte
//! (low nibble: the forced `--format`, none for 0 and above 9; bits 4-5: the engine; bit 6:
//! `--require-down`), then files separated by NUL bytes, each a name line (reduced to
//! `[A-Za-z0-9._-]`, one `/` allowed for a Diesel-style subfolder) and its content.
//! Checks: no panic; the chain is in version order, versioned before repeatable; problems and
//! findings have 1-based lines.
#![no_main]

use std::fs;

use libfuzzer_sys::fuzz_target;
use migcheck::chain::{DiscoverOptions, Format};
use migcheck::engine::Engine;
use migcheck::lint::LintConfig;

const FORMATS: [Format; 9] = [
    Format::GolangMigrate,
    Format::Sqlx,
    Format::SqlxSimple,
    Format::Dbmate,
    Format::Goose,
    Format::Flyway,
    Format::Diesel,
    Format::Popx,
    Format::Alembic,
];

/// The name line as a relative path inside the folder, or None when nothing usable is left.
fn file_name(line: &str) -> Option<String> {
    let mut out = String::new();
    let mut slash = false;
    for c in line.chars().take(64) {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if c == '/' && !slash && !out.is_empty() {
            out.push('/');
            slash = true;
        }
    }
    let ok = out
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != "..");
    ok.then_some(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let options = DiscoverOptions {
        format: match opts & 15 {
            n @ 1..=9 => Some(FORMATS[usize::from(n) - 1]),
            _ => None,
        },
        require_down: opts & 64 != 0,
        engine: match (opts >> 4) & 3 {
            1 => Some(Engine::Postgres),
            2 => Some(Engine::Mysql),
            3 => Some(Engine::Mariadb),
            _ => None,
        },
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let root = dir.path().join("migrations");
    fs::create_dir(&root).expect("migrations folder");
    for file in rest.split(|&b| b == 0).take(8) {
        let (name, content) = match file.iter().position(|&b| b == b'\n') {
            Some(i) => (&file[..i], &file[i + 1..]),
            None => (file, &[][..]),
        };
        let Some(name) = file_name(&String::from_utf8_lossy(name)) else {
            continue;
        };
        let path = root.join(&name);
        if let Some((sub, _)) = name.split_once('/') {
            let sub = root.join(sub);
            if sub.is_file() || (!sub.is_dir() && fs::create_dir(&sub).is_err()) {
                continue;
            }
        }
        if path.is_dir() {
            continue;
        }
        // Bytes as given: discovery must refuse non-UTF-8 content without panicking.
        fs::write(&path, content).expect("write a migration file");
    }

    let Ok(chain) = migcheck::chain::discover(&root, &options) else {
        return;
    };
    for pair in chain.migrations.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            (a.repeatable, &a.version.key) <= (b.repeatable, &b.version.key),
            "{} comes before {}",
            a.id,
            b.id
        );
    }
    for p in &chain.problems {
        assert_ne!(p.line, Some(0), "{}: lines are 1-based", p.kind);
    }
    let engine = options.engine();
    for f in migcheck::lint::lint_chain(&chain, engine, None, &LintConfig::default()) {
        assert_ne!(f.line, Some(0), "{}: lines are 1-based", f.rule);
    }
});
