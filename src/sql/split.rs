//! Statement splitter: dialect-aware, line-tracking. (Implementation owned by the chain/splitter work.)

use crate::chain::{Script, Segment};
use crate::engine::Dialect;
use crate::error::Result;

use super::Statement;

/// Split a script into statements for `dialect`, keeping each statement's line in the file.
pub fn split(script: &Script, dialect: Dialect) -> Result<Vec<Statement>> {
    let _ = dialect;
    let mut out = Vec::new();
    for seg in &script.segments {
        match seg {
            Segment::Verbatim { text, line } => out.push(Statement {
                sql: text.clone(),
                line: *line,
            }),
            Segment::Sql { text, line } => out.push(Statement {
                sql: text.clone(),
                line: *line,
            }),
        }
    }
    Ok(out)
}

/// `text` with comments removed (placeholder until the real splitter lands).
pub(crate) fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}
