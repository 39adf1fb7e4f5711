//! The lint targets' common body: lint one script's text and check the findings' positions.

use migcheck::engine::Engine;
use migcheck::lint::LintConfig;

use crate::Lines;

/// Flags byte: bit 0 runs the script outside a transaction, bit 1 turns every rule on, bits 2-4
/// pick the PostgreSQL major version (11 to 18), bit 5 a non-UTC session time zone.
pub fn run(engine: Engine, flags: u8, sql: &str) {
    let config = LintConfig {
        enable_all: flags & 2 != 0,
        pg_version: Some(11 + u32::from((flags >> 2) & 7)),
        time_zone: (flags & 32 != 0).then(|| "Europe/Berlin".to_string()),
        ..LintConfig::default()
    };
    let findings = migcheck::lint::lint_text(sql, "m/1_x.up.sql", engine, flags & 1 != 0, &config);
    let lines = Lines::new(sql);
    for f in &findings {
        if let Some(line) = f.line {
            assert!(
                (1..=lines.count()).contains(&line),
                "{} on line {line} of a {}-line script",
                f.rule,
                lines.count()
            );
        }
        assert_ne!(f.column, Some(0), "{}: columns are 1-based", f.rule);
    }
    let _ = migcheck::lint::worst(&findings);
}
