//! Read a revision file's header assignments without running Python.
//!
//! A small Python tokenizer (strings with every prefix and quote form, comments, brackets,
//! backslash continuations) splits the module into logical lines; only the top-level
//! (column 0) assignments to `revision`, `down_revision`, `branch_labels` and `depends_on`
//! are read, with or without a type annotation. Their values must be literals: a string
//! (adjacent strings concatenate), `None`, or a tuple/list of strings. Anything else is an
//! error naming the line, because migcheck cannot know what Python would compute.

use std::path::Path;

use crate::error::{Error, Result};

/// One literal value of a header assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    None,
    Str(String),
    Seq(Vec<String>),
}

impl Value {
    /// The value as a list of strings (`None` and `()` are empty).
    pub fn into_list(self) -> Vec<String> {
        match self {
            Value::None => Vec::new(),
            Value::Str(s) => vec![s],
            Value::Seq(v) => v,
        }
    }
}

/// A header value and the line it was assigned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub value: Value,
    pub line: usize,
}

/// What a revision file declares (the last top-level assignment of each name wins, as in Python).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub revision: Option<Assigned>,
    pub down_revision: Option<Assigned>,
    pub branch_labels: Option<Assigned>,
    pub depends_on: Option<Assigned>,
    /// First line of the module docstring (Alembic shows it as the revision's message).
    pub doc: Option<String>,
}

const NAMES: [&str; 4] = ["revision", "down_revision", "branch_labels", "depends_on"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    /// A string literal: decoded value; `plain` is false for f-strings and bytes.
    Str {
        value: String,
        plain: bool,
    },
    Op(String),
    Other(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// A logical line: its tokens and whether it starts at column 0.
#[derive(Debug)]
struct Logical {
    tokens: Vec<Token>,
    top_level: bool,
}

struct Lexer<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    line: usize,
    file: &'a Path,
}

impl<'a> Lexer<'a> {
    fn err(&self, line: usize, message: impl Into<String>) -> Error {
        Error::input(self.file, Some(line), message)
    }

    fn peek(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    fn logical_lines(mut self) -> Result<Vec<Logical>> {
        let mut out = Vec::new();
        let mut current: Vec<Token> = Vec::new();
        let mut top_level = false;
        let mut depth: usize = 0;
        let mut at_line_start = true;
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            if at_line_start && depth == 0 && current.is_empty() {
                // Column of the first token decides top-level-ness.
                top_level = !matches!(c, b' ' | b'\t' | b'\x0c');
                at_line_start = false;
            }
            match c {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    if depth == 0 {
                        if !current.is_empty() {
                            out.push(Logical {
                                tokens: std::mem::take(&mut current),
                                top_level,
                            });
                        }
                        at_line_start = true;
                    }
                }
                b' ' | b'\t' | b'\r' | b'\x0c' => self.pos += 1,
                b'#' => {
                    while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                b'\\' if matches!(self.peek(1), Some(b'\n')) => {
                    self.pos += 2;
                    self.line += 1;
                }
                b'\\' if matches!((self.peek(1), self.peek(2)), (Some(b'\r'), Some(b'\n'))) => {
                    self.pos += 3;
                    self.line += 1;
                }
                b'\'' | b'"' => {
                    let tok = self.string(String::new())?;
                    current.push(tok);
                }
                c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                    let start = self.pos;
                    while self.pos < self.src.len() {
                        let b = self.src[self.pos];
                        if b == b'_' || b.is_ascii_alphanumeric() || b >= 0x80 {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                    let word = &self.text[start..self.pos];
                    if matches!(self.peek(0), Some(b'\'' | b'"'))
                        && word.len() <= 3
                        && word.chars().all(|ch| {
                            matches!(ch.to_ascii_lowercase(), 'r' | 'b' | 'u' | 'f' | 't')
                        })
                    {
                        let tok = self.string(word.to_ascii_lowercase())?;
                        current.push(tok);
                    } else {
                        current.push(Token {
                            tok: Tok::Name(word.to_string()),
                            line: self.line,
                        });
                    }
                }
                c if c.is_ascii_digit() => {
                    let start = self.pos;
                    while self.pos < self.src.len()
                        && (self.src[self.pos].is_ascii_alphanumeric()
                            || matches!(self.src[self.pos], b'.' | b'_'))
                    {
                        self.pos += 1;
                    }
                    current.push(Token {
                        tok: Tok::Other(self.text[start..self.pos].to_string()),
                        line: self.line,
                    });
                }
                _ => {
                    // Operators: brackets change depth; `->` and `:=` and the rest are single tokens.
                    let start = self.pos;
                    match c {
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    let two = self.text.get(start..start + 2).unwrap_or("");
                    let len = if matches!(
                        two,
                        "->" | ":=" | "==" | "!=" | "<=" | ">=" | "**" | "//" | "+=" | "-=" | "|="
                    ) {
                        2
                    } else {
                        // Advance by one whole UTF-8 character.
                        self.text[start..].chars().next().map_or(1, char::len_utf8)
                    };
                    self.pos += len;
                    current.push(Token {
                        tok: Tok::Op(self.text[start..start + len].to_string()),
                        line: self.line,
                    });
                }
            }
        }
        if !current.is_empty() {
            out.push(Logical {
                tokens: current,
                top_level,
            });
        }
        Ok(out)
    }

    /// A string literal starting at `self.pos` (the quote), with the given lowercase prefix.
    fn string(&mut self, prefix: String) -> Result<Token> {
        let start_line = self.line;
        let quote = self.src[self.pos];
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let raw = prefix.contains('r');
        let plain = !prefix.contains('f') && !prefix.contains('b') && !prefix.contains('t');
        let mut value = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err(self.err(start_line, "unterminated string literal"));
            };
            if c == quote {
                if !triple {
                    self.pos += 1;
                    break;
                }
                if self.peek(1) == Some(quote) && self.peek(2) == Some(quote) {
                    self.pos += 3;
                    break;
                }
            }
            if c == b'\n' {
                if !triple {
                    return Err(self.err(start_line, "unterminated string literal"));
                }
                self.line += 1;
            }
            if c == b'\\' {
                let Some(next) = self.peek(1) else {
                    return Err(self.err(start_line, "unterminated string literal"));
                };
                if next == b'\n' {
                    self.line += 1;
                }
                if raw {
                    // Raw strings keep the backslash, but it still protects the next quote.
                    value.push('\\');
                    let ch = self.text[self.pos + 1..].chars().next().unwrap_or('\\');
                    value.push(ch);
                    self.pos += 1 + ch.len_utf8();
                    continue;
                }
                self.pos += 2;
                match next {
                    b'\n' => {}
                    b'\\' => value.push('\\'),
                    b'\'' => value.push('\''),
                    b'"' => value.push('"'),
                    b'n' => value.push('\n'),
                    b't' => value.push('\t'),
                    b'r' => value.push('\r'),
                    b'0' => value.push('\0'),
                    _ => {
                        // Unknown escapes keep their backslash, as in Python.
                        value.push('\\');
                        self.pos -= 1;
                    }
                }
                continue;
            }
            let ch = self.text[self.pos..].chars().next().unwrap_or('\u{fffd}');
            value.push(ch);
            self.pos += ch.len_utf8();
        }
        Ok(Token {
            tok: Tok::Str { value, plain },
            line: start_line,
        })
    }
}

/// Parse the header of one revision file.
pub fn parse_header(file: &Path, text: &str) -> Result<Header> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lexer = Lexer {
        src: text.as_bytes(),
        text,
        pos: 0,
        line: 1,
        file,
    };
    let lines = lexer.logical_lines()?;
    let mut header = Header::default();
    if let Some(first) = lines.first() {
        if let [Token {
            tok: Tok::Str { value, .. },
            ..
        }] = first.tokens.as_slice()
        {
            header.doc = value
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string);
        }
    }
    for logical in &lines {
        if !logical.top_level {
            continue;
        }
        let toks = &logical.tokens;
        let Some(Token {
            tok: Tok::Name(name),
            line,
        }) = toks.first()
        else {
            continue;
        };
        if !NAMES.contains(&name.as_str()) {
            continue;
        }
        // `name = value` or `name: annotation = value`; a bare annotation assigns nothing.
        let eq = match toks.get(1).map(|t| &t.tok) {
            Some(Tok::Op(op)) if op == "=" => 1,
            Some(Tok::Op(op)) if op == ":" => {
                let mut depth = 0usize;
                let mut found = None;
                for (i, t) in toks.iter().enumerate().skip(2) {
                    if let Tok::Op(op) = &t.tok {
                        match op.as_str() {
                            "(" | "[" | "{" => depth += 1,
                            ")" | "]" | "}" => depth = depth.saturating_sub(1),
                            "=" if depth == 0 => {
                                found = Some(i);
                                break;
                            }
                            _ => {}
                        }
                    }
                }
                match found {
                    Some(i) => i,
                    None => continue,
                }
            }
            // `revision.x = …`, `revision == …`, `revision += …`: not a header assignment we read.
            Some(Tok::Op(op)) if op.ends_with('=') && op != "==" => {
                return Err(Error::input(
                    file,
                    Some(*line),
                    format!("cannot read `{name}` statically: `{name} {op} …` is not a literal assignment"),
                ));
            }
            _ => continue,
        };
        let rhs = &toks[eq + 1..];
        let value = literal(file, name, *line, rhs)?;
        let assigned = Some(Assigned { value, line: *line });
        match name.as_str() {
            "revision" => header.revision = assigned,
            "down_revision" => header.down_revision = assigned,
            "branch_labels" => header.branch_labels = assigned,
            _ => header.depends_on = assigned,
        }
    }
    Ok(header)
}

/// The literal on the right of `name =`.
fn literal(file: &Path, name: &str, line: usize, toks: &[Token]) -> Result<Value> {
    let not_literal = |why: &str| {
        Error::input(
            file,
            Some(line),
            format!(
                "cannot read `{name}` statically: {why}; migcheck reads revision headers without running \
                 Python, so write a string, None, or a tuple/list of strings"
            ),
        )
    };
    if toks.is_empty() {
        return Err(not_literal("no value after `=`"));
    }
    let mut p = ValueParser { toks, pos: 0 };
    let first = p.item().map_err(|w| not_literal(&w))?;
    if p.pos == toks.len() {
        return Ok(match first {
            Item::None => Value::None,
            Item::Str(s) => Value::Str(s),
            Item::Seq(v) => Value::Seq(v),
        });
    }
    // A bare tuple: `x = "a", "b"`.
    let mut items = vec![first];
    while p.pos < toks.len() {
        if !p.eat(",") {
            return Err(not_literal(&format!(
                "unexpected `{}`",
                show(&toks[p.pos].tok)
            )));
        }
        if p.pos == toks.len() {
            break;
        }
        items.push(p.item().map_err(|w| not_literal(&w))?);
    }
    seq(items).map(Value::Seq).map_err(|w| not_literal(&w))
}

enum Item {
    None,
    Str(String),
    Seq(Vec<String>),
}

fn seq(items: Vec<Item>) -> std::result::Result<Vec<String>, String> {
    items
        .into_iter()
        .map(|i| match i {
            Item::Str(s) => Ok(s),
            Item::None => Err("a tuple or list may only hold strings, not None".to_string()),
            Item::Seq(_) => Err("nested tuples or lists are not revision identifiers".to_string()),
        })
        .collect()
}

fn show(tok: &Tok) -> String {
    match tok {
        Tok::Name(s) | Tok::Op(s) | Tok::Other(s) => s.clone(),
        Tok::Str { .. } => "string".to_string(),
    }
}

struct ValueParser<'t> {
    toks: &'t [Token],
    pos: usize,
}

impl ValueParser<'_> {
    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.toks.get(self.pos), Some(Token { tok: Tok::Op(o), .. }) if o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn item(&mut self) -> std::result::Result<Item, String> {
        let Some(tok) = self.toks.get(self.pos) else {
            return Err("the value ends early".to_string());
        };
        match &tok.tok {
            Tok::Name(n) if n == "None" => {
                self.pos += 1;
                Ok(Item::None)
            }
            Tok::Str { .. } => {
                let mut s = String::new();
                while let Some(Token {
                    tok: Tok::Str { value, plain },
                    ..
                }) = self.toks.get(self.pos)
                {
                    if !plain {
                        return Err("f-strings and bytes are not plain strings".to_string());
                    }
                    s.push_str(value);
                    self.pos += 1;
                }
                Ok(Item::Str(s))
            }
            Tok::Op(o) if o == "(" || o == "[" => {
                let close = if o == "(" { ")" } else { "]" };
                let paren = o == "(";
                self.pos += 1;
                let mut items = Vec::new();
                let mut trailing_comma = false;
                loop {
                    if self.eat(close) {
                        break;
                    }
                    items.push(self.item()?);
                    trailing_comma = false;
                    if self.eat(",") {
                        trailing_comma = true;
                        continue;
                    }
                    if self.eat(close) {
                        break;
                    }
                    return Err(match self.toks.get(self.pos) {
                        Some(t) => format!("unexpected `{}`", show(&t.tok)),
                        None => format!("missing `{close}`"),
                    });
                }
                // `("abc")` is just a parenthesised string.
                if paren && items.len() == 1 && !trailing_comma {
                    return Ok(items.pop().unwrap_or(Item::None));
                }
                seq(items).map(Item::Seq)
            }
            other => Err(format!("`{}` is an expression, not a literal", show(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> Header {
        parse_header(Path::new("t.py"), text).expect("parses")
    }

    fn err(text: &str) -> String {
        parse_header(Path::new("t.py"), text)
            .expect_err("fails")
            .to_string()
    }

    #[test]
    fn legacy_and_typed_forms() {
        let h = header(
            "\"\"\"add users\n\nRevision ID: abc\n\"\"\"\nfrom typing import Sequence, Union\n\
             # revision = 'no'\nrevision: str = \"abc\"\n\
             down_revision: Union[str, Sequence[str], None] = ('x', \"y\",)\n\
             branch_labels: str | None = None\ndepends_on = 'd1'\n\
             def upgrade():\n    revision = 'inner'\n",
        );
        assert_eq!(h.revision.unwrap().value, Value::Str("abc".into()));
        let down = h.down_revision.unwrap();
        assert_eq!(down.value, Value::Seq(vec!["x".into(), "y".into()]));
        assert_eq!(down.line, 8);
        assert_eq!(h.branch_labels.unwrap().value, Value::None);
        assert_eq!(h.depends_on.unwrap().value, Value::Str("d1".into()));
        assert_eq!(h.doc.as_deref(), Some("add users"));
    }

    #[test]
    fn concatenation_lists_and_continuations() {
        let h = header(
            "revision = ('ab'\n    'cd')\ndown_revision = \\\n  ['a1', 'b2']\nbranch_labels = 'x', 'y'\n",
        );
        assert_eq!(h.revision.unwrap().value, Value::Str("abcd".into()));
        assert_eq!(
            h.down_revision.unwrap().value,
            Value::Seq(vec!["a1".into(), "b2".into()])
        );
        assert_eq!(
            h.branch_labels.unwrap().value,
            Value::Seq(vec!["x".into(), "y".into()])
        );
    }

    #[test]
    fn expressions_are_rejected_with_line() {
        let e = err("revision = 'a'\ndown_revision = get_parent()\n");
        assert!(
            e.starts_with("t.py:2: cannot read `down_revision` statically"),
            "{e}"
        );
        let e = err("revision = f'{x}'\n");
        assert!(e.contains("t.py:1:"), "{e}");
        let e = err("revision = 'a' + 'b'\n");
        assert!(e.contains("t.py:1:"), "{e}");
    }

    #[test]
    fn strings_hide_assignments() {
        let h =
            header("x = '''\nrevision = 'fake'\n'''\nrevision = 'real'\ndown_revision = None\n");
        let r = h.revision.unwrap();
        assert_eq!(r.value, Value::Str("real".into()));
        assert_eq!(r.line, 4);
    }

    #[test]
    fn unterminated_string_is_input_error() {
        let e = err("revision = 'abc\n");
        assert!(e.contains("t.py:1: unterminated"), "{e}");
    }
}
