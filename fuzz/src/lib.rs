//! Helpers shared by the fuzz targets: line numbers of byte offsets and the checks that a
//! parser's output is made of pieces of its input.

use migcheck::error::Error;

/// 1-based line numbers of a text's byte offsets.
pub struct Lines {
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
}

impl Lines {
    pub fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// The line byte `offset` is on.
    pub fn line_at(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// How many lines the text has (a text ending in a newline has an empty last one).
    pub fn count(&self) -> usize {
        self.starts.len()
    }
}

/// Pieces reported as `(text, line)` must be found in `text`, in this order, without
/// overlapping, each starting on its line. Returns the first piece that is not.
pub fn pieces_in_order<'a>(
    text: &str,
    lines: &Lines,
    pieces: impl IntoIterator<Item = (&'a str, usize)>,
) -> Result<(), String> {
    let mut cursor = 0;
    for (piece, line) in pieces {
        if piece.is_empty() {
            return Err(format!("empty piece at line {line}"));
        }
        let found = text[cursor..]
            .match_indices(piece)
            .map(|(i, _)| cursor + i)
            .find(|&at| lines.line_at(at) == line);
        match found {
            Some(at) => cursor = at + piece.len(),
            None => {
                return Err(format!(
                    "{piece:?} (line {line}) is not in the input after byte {cursor} on its line"
                ))
            }
        }
    }
    Ok(())
}

/// True when `inner` is a slice of `outer` (not merely equal to a part of it).
pub fn is_slice_of(outer: &str, inner: &str) -> bool {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    i >= o && i + inner.len() <= o + outer.len()
}

/// An input error's line, when it names one, must be a line of the text.
pub fn check_error_line(err: &Error, lines: &Lines) {
    if let Error::Input {
        line: Some(line), ..
    } = err
    {
        assert!(
            (1..=lines.count()).contains(line),
            "error on line {line} of a {}-line text: {err}",
            lines.count()
        );
    }
}

/// The fuzz input as text: invalid UTF-8 is replaced, so every input is used.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

pub mod lint;
