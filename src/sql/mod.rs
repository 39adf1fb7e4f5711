//! SQL text handling shared by every stage: statement splitting (apply, lint) and helpers.

mod server_wide;
mod split;

pub use server_wide::server_wide;
pub(crate) use split::strip_comments;
pub use split::{split, split_as_sent};

/// One statement ready to be sent to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement text without its terminating delimiter.
    pub sql: String,
    /// 1-based line in the migration file where the statement's first token is.
    pub line: usize,
}

/// True when `text` holds only whitespace and SQL comments.
pub fn is_blank(text: &str) -> bool {
    split::strip_comments(text).trim().is_empty()
}
