//! Statement splitter: dialect-aware, line-tracking, single pass over the bytes.
//!
//! The scanner only ever slices the text at ASCII bytes (quotes, delimiters, whitespace) or at the
//! start of a word, so every slice is on a UTF-8 boundary.

use std::path::Path;

use crate::chain::{Script, Segment};
use crate::engine::Dialect;
use crate::error::{Error, Result};

use super::Statement;

/// Split a script into statements for `dialect`, keeping each statement's line in the file.
///
/// `Statement.sql` is what goes to the server: no leading or trailing comments, no delimiter.
pub fn split(script: &Script, dialect: Dialect) -> Result<Vec<Statement>> {
    split_with(script, dialect, true)
}

/// Like `split`, for a tool that sends the file to the server as it is (every format but Flyway
/// on MySQL): a `DELIMITER` line is then no client command but text the server rejects.
pub fn split_as_sent(script: &Script, dialect: Dialect) -> Result<Vec<Statement>> {
    split_with(script, dialect, false)
}

fn split_with(script: &Script, dialect: Dialect, client_commands: bool) -> Result<Vec<Statement>> {
    let mut out = Vec::new();
    for seg in &script.segments {
        match seg {
            Segment::Verbatim { text, line } => {
                if let Some(st) = verbatim(text, *line) {
                    out.push(st);
                }
            }
            Segment::Sql { text, line } => {
                let mut splitter = Splitter::new(text, *line, dialect, &script.file);
                splitter.client_commands = client_commands;
                splitter.run(&mut out)?;
            }
        }
    }
    Ok(out)
}

/// A goose `StatementBegin`/`StatementEnd` block: one statement, sent as written.
fn verbatim(text: &str, line: usize) -> Option<Statement> {
    let body = text.trim_start();
    let skipped = &text[..text.len() - body.len()];
    let line = line + count_newlines(skipped.as_bytes());
    let mut body = body.trim_end();
    if let Some(b) = body.strip_suffix(';') {
        body = b.trim_end();
    }
    if super::is_blank(body) {
        return None;
    }
    Some(Statement {
        sql: body.to_string(),
        line,
    })
}

fn count_newlines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Whether a MySQL statement is a stored-program definition whose body may hold semicolons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compound {
    /// Not decided yet (fewer than one word seen).
    Unknown,
    /// Started with CREATE; `n` words seen since.
    AfterCreate(u8),
    /// Started with BEGIN: a transaction, or MariaDB's `BEGIN NOT ATOMIC` block.
    AfterBegin,
    Yes,
    No,
}

struct Splitter<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    line: usize,
    dialect: Dialect,
    file: &'a Path,
    /// Byte offset and line of the current statement's first token.
    start: Option<(usize, usize)>,
    /// End of the last token that belongs to the current statement.
    end: usize,
    /// Only whitespace seen since the last newline (MySQL `DELIMITER` must start a line).
    line_start: bool,
    /// MySQL client delimiter (`DELIMITER //`); always `;` for Postgres.
    delimiter: String,
    /// Interpret `DELIMITER` lines as the mysql client does (Flyway); false: leave them to the server.
    client_commands: bool,
    /// BEGIN ATOMIC (Postgres) or BEGIN/CASE (MySQL compound) nesting depth.
    depth: usize,
    /// Postgres parenthesis depth: like psql, `;` inside parentheses (`CREATE RULE ... DO (a; b)`)
    /// does not end the statement.
    parens: usize,
    prev_was_begin: bool,
    /// The previous word was END (MySQL compound); `Some(true)` if it closed a block.
    after_end: Option<bool>,
    compound: Compound,
}

impl<'a> Splitter<'a> {
    fn new(text: &'a str, line: usize, dialect: Dialect, file: &'a Path) -> Self {
        Splitter {
            text,
            b: text.as_bytes(),
            i: 0,
            line,
            dialect,
            file,
            start: None,
            end: 0,
            line_start: true,
            delimiter: ";".to_string(),
            client_commands: true,
            depth: 0,
            parens: 0,
            prev_was_begin: false,
            after_end: None,
            compound: Compound::Unknown,
        }
    }

    fn peek(&self, at: usize) -> u8 {
        self.b.get(at).copied().unwrap_or(0)
    }

    fn mysql(&self) -> bool {
        self.dialect == Dialect::Mysql
    }

    /// Record a token `[from, self.i)` that started on `line` as part of the statement.
    fn content(&mut self, from: usize, line: usize) {
        if self.start.is_none() {
            self.start = Some((from, line));
        }
        self.end = self.i;
    }

    fn emit(&mut self, out: &mut Vec<Statement>) {
        if let Some((s, line)) = self.start.take() {
            out.push(Statement {
                sql: self.text[s..self.end].to_string(),
                line,
            });
        }
        self.depth = 0;
        self.parens = 0;
        self.prev_was_begin = false;
        self.after_end = None;
        self.compound = Compound::Unknown;
    }

    fn unterminated(&self, line: usize, what: &str) -> Error {
        Error::input(
            self.file,
            Some(line),
            format!("unterminated {what} starting here"),
        )
    }

    fn run(mut self, out: &mut Vec<Statement>) -> Result<()> {
        let len = self.b.len();
        while self.i < len {
            let c = self.b[self.i];
            if c == b'\n' {
                self.line += 1;
                self.i += 1;
                self.line_start = true;
                continue;
            }
            if c.is_ascii_whitespace() {
                self.i += 1;
                continue;
            }
            let custom = self.delimiter != ";";
            if custom && self.b[self.i..].starts_with(self.delimiter.as_bytes()) {
                self.i += self.delimiter.len();
                self.emit(out);
                self.line_start = false;
                continue;
            }
            if self.mysql()
                && self.client_commands
                && self.line_start
                && self.start.is_none()
                && self.delimiter_command()?
            {
                continue;
            }
            self.line_start = false;
            let (from, line) = (self.i, self.line);
            match c {
                b';' if !custom => {
                    self.i += 1;
                    self.after_end = None;
                    if self.depth == 0 && self.parens == 0 {
                        self.emit(out);
                    } else {
                        self.content(from, line);
                    }
                    continue;
                }
                b'\'' => {
                    let backslash = self.mysql();
                    self.quoted(b'\'', backslash, "string literal")?;
                }
                b'"' if self.mysql() => self.quoted(b'"', true, "string literal")?,
                b'"' => self.quoted(b'"', false, "quoted identifier")?,
                b'`' if self.mysql() => self.quoted(b'`', false, "quoted identifier")?,
                b'-' if self.peek(self.i + 1) == b'-' && self.line_comment_after_dashes() => {
                    self.skip_line();
                    continue;
                }
                b'#' if self.mysql() => {
                    self.skip_line();
                    continue;
                }
                b'/' if self.peek(self.i + 1) == b'*' => {
                    let executable = self.mysql()
                        && (self.peek(self.i + 2) == b'!'
                            || (self.peek(self.i + 2) == b'M' && self.peek(self.i + 3) == b'!'));
                    self.block_comment(line)?;
                    if !executable {
                        continue;
                    }
                }
                b'$' if !self.mysql() => {
                    self.dollar(line)?;
                }
                b'(' if !self.mysql() => {
                    self.parens += 1;
                    self.i += 1;
                }
                b')' if !self.mysql() => {
                    self.parens = self.parens.saturating_sub(1);
                    self.i += 1;
                }
                c if is_word_start(c) => {
                    self.word(from);
                    // `E'...'`: Postgres string with backslash escapes.
                    if !self.mysql()
                        && self.i == from + 1
                        && (c == b'E' || c == b'e')
                        && self.peek(self.i) == b'\''
                    {
                        self.quoted(b'\'', true, "string literal")?;
                    }
                }
                _ => {
                    self.i += 1;
                    self.after_end = None;
                }
            }
            self.content(from, line);
        }
        self.emit(out);
        Ok(())
    }

    /// `--` starts a comment in Postgres; MySQL also needs whitespace (or the end) after it.
    fn line_comment_after_dashes(&self) -> bool {
        if !self.mysql() {
            return true;
        }
        let n = self.peek(self.i + 2);
        n == 0 || n.is_ascii_whitespace() || n.is_ascii_control()
    }

    /// Skip to the end of the line, leaving the newline for the main loop.
    fn skip_line(&mut self) {
        while self.i < self.b.len() && self.b[self.i] != b'\n' {
            self.i += 1;
        }
    }

    /// A quoted string or identifier; a doubled quote is an escape, and so is a backslash when
    /// `backslash` is set.
    fn quoted(&mut self, q: u8, backslash: bool, what: &str) -> Result<()> {
        let start_line = self.line;
        self.i += 1;
        self.after_end = None;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            if c == b'\n' {
                self.line += 1;
            } else if c == b'\\' && backslash {
                if self.peek(self.i + 1) == b'\n' {
                    self.line += 1;
                }
                self.i += 2;
                continue;
            } else if c == q {
                if self.peek(self.i + 1) == q {
                    self.i += 2;
                    continue;
                }
                self.i += 1;
                return Ok(());
            }
            self.i += 1;
        }
        Err(self.unterminated(start_line, what))
    }

    /// `/* ... */`, nested in Postgres, flat in MySQL.
    fn block_comment(&mut self, start_line: usize) -> Result<()> {
        let nested = !self.mysql();
        let mut depth = 1usize;
        self.i += 2;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            if c == b'\n' {
                self.line += 1;
            } else if c == b'*' && self.peek(self.i + 1) == b'/' {
                self.i += 2;
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
                continue;
            } else if nested && c == b'/' && self.peek(self.i + 1) == b'*' {
                self.i += 2;
                depth += 1;
                continue;
            }
            self.i += 1;
        }
        Err(self.unterminated(start_line, "block comment"))
    }

    /// `$$ ... $$` or `$tag$ ... $tag$`; a `$` that does not open a tag (`$1`) is a plain byte.
    fn dollar(&mut self, start_line: usize) -> Result<()> {
        self.after_end = None;
        let mut j = self.i + 1;
        if self.peek(j) != b'$' {
            if !is_word_start(self.peek(j)) {
                self.i += 1;
                return Ok(());
            }
            while j < self.b.len() && is_word_char(self.b[j]) && self.b[j] != b'$' {
                j += 1;
            }
            if self.peek(j) != b'$' {
                self.i += 1;
                return Ok(());
            }
        }
        let tag = &self.text[self.i..=j];
        let body_start = j + 1;
        match self.text[body_start..].find(tag) {
            Some(off) => {
                self.line += count_newlines(&self.b[body_start..body_start + off]);
                self.i = body_start + off + tag.len();
                Ok(())
            }
            None => Err(self.unterminated(start_line, &format!("dollar-quoted string {tag}"))),
        }
    }

    /// Consume a word and update the block-depth tracking it drives.
    fn word(&mut self, from: usize) {
        let mut j = from;
        let custom = self.delimiter != ";";
        while j < self.b.len() && is_word_char(self.b[j]) {
            // A custom delimiter such as `$$` may follow a word directly (`END$$`).
            if custom && j > from && self.b[j..].starts_with(self.delimiter.as_bytes()) {
                break;
            }
            j += 1;
        }
        self.i = j;
        // `t.end` or `NEW.begin` are column references, not keywords.
        if from > 0 && self.b[from - 1] == b'.' {
            self.after_end = None;
            self.prev_was_begin = false;
            return;
        }
        let w = &self.text[from..j];
        let is = |k: &str| w.eq_ignore_ascii_case(k);
        match self.dialect {
            Dialect::Postgres => {
                if self.depth > 0 {
                    if is("CASE") {
                        self.depth += 1;
                    } else if is("END") {
                        self.depth -= 1;
                    }
                } else if self.prev_was_begin && is("ATOMIC") {
                    self.depth = 1;
                }
                self.prev_was_begin = is("BEGIN");
            }
            Dialect::Mysql => {
                if self.compound == Compound::AfterBegin && is("NOT") && !custom {
                    // The opening BEGIN was seen before we knew it opened a block.
                    self.compound = Compound::Yes;
                    self.depth = 1;
                    return;
                }
                self.compound = match self.compound {
                    Compound::Unknown if self.start.is_none() && is("CREATE") => {
                        Compound::AfterCreate(0)
                    }
                    Compound::Unknown if self.start.is_none() && is("BEGIN") => {
                        Compound::AfterBegin
                    }
                    Compound::Unknown => Compound::No,
                    Compound::AfterBegin => Compound::No,
                    Compound::AfterCreate(_)
                        if is("PROCEDURE") || is("FUNCTION") || is("TRIGGER") || is("EVENT") =>
                    {
                        Compound::Yes
                    }
                    Compound::AfterCreate(n) if n < 8 && !is("TABLE") && !is("VIEW") => {
                        Compound::AfterCreate(n + 1)
                    }
                    Compound::AfterCreate(_) => Compound::No,
                    other => other,
                };
                if self.compound != Compound::Yes || custom {
                    return;
                }
                if let Some(closed) = self.after_end.take() {
                    // END IF / END LOOP / ... close an inner statement we never counted.
                    if is("IF") || is("LOOP") || is("WHILE") || is("REPEAT") {
                        if closed {
                            self.depth += 1;
                        }
                        return;
                    }
                    // END CASE closes the CASE counted when it opened.
                    if is("CASE") {
                        return;
                    }
                }
                if is("BEGIN") || is("CASE") {
                    self.depth += 1;
                } else if is("END") {
                    let closed = self.depth > 0;
                    self.depth = self.depth.saturating_sub(1);
                    self.after_end = Some(closed);
                }
            }
        }
    }

    /// A `DELIMITER xx` client command at the start of a line; true when one was consumed.
    fn delimiter_command(&mut self) -> Result<bool> {
        const KW: &[u8] = b"delimiter";
        let rest = &self.b[self.i..];
        if rest.len() <= KW.len()
            || !rest[..KW.len()].eq_ignore_ascii_case(KW)
            || !matches!(rest[KW.len()], b' ' | b'\t')
        {
            return Ok(false);
        }
        let arg_start = self.i + KW.len();
        let mut eol = arg_start;
        while eol < self.b.len() && self.b[eol] != b'\n' {
            eol += 1;
        }
        let arg = self.text[arg_start..eol]
            .split_whitespace()
            .next()
            .unwrap_or("");
        let arg = strip_quotes(arg);
        if arg.is_empty() {
            return Err(Error::input(
                self.file,
                Some(self.line),
                "DELIMITER needs an argument (e.g. `DELIMITER //`)",
            ));
        }
        self.delimiter = arg.to_string();
        self.i = eol;
        Ok(true)
    }
}

fn strip_quotes(s: &str) -> &str {
    for q in ['\'', '"', '`'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// `text` with comments removed, for blank checks in any dialect: `--` and `#`-at-line-start
/// line comments and (nested) block comments go; MySQL `/*! ... */` executable comments stay.
/// Unterminated constructs are tolerated (the splitter reports them).
pub(crate) fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut kept = 0; // start of the pending run of text to keep
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        let comment_end = match c {
            b'\n' => {
                line_start = true;
                i += 1;
                continue;
            }
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => Some(line_end(b, i)),
            b'#' if line_start => Some(line_end(b, i)),
            b'/' if b.get(i + 1) == Some(&b'*') && b.get(i + 2) != Some(&b'!') => {
                Some(block_end(b, i))
            }
            b'\'' | b'"' | b'`' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != c {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                i = (j + 1).min(b.len());
                None
            }
            _ => {
                i += 1;
                None
            }
        };
        line_start = false;
        if let Some(end) = comment_end {
            out.push_str(&text[kept..i]);
            out.push(' ');
            i = end;
            kept = end;
        }
    }
    out.push_str(&text[kept..]);
    out
}

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| from + p)
}

fn block_end(b: &[u8], from: usize) -> usize {
    let mut depth = 0usize;
    let mut i = from;
    while i + 1 < b.len() {
        if b[i] == b'/' && b[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn script(text: &str, line: usize) -> Script {
        Script {
            file: PathBuf::from("m/1_x.sql"),
            segments: vec![Segment::Sql {
                text: text.to_string(),
                line,
            }],
            no_transaction: false,
        }
    }

    fn pg(text: &str) -> Vec<(String, usize)> {
        run(text, Dialect::Postgres)
    }

    fn my(text: &str) -> Vec<(String, usize)> {
        run(text, Dialect::Mysql)
    }

    fn run(text: &str, d: Dialect) -> Vec<(String, usize)> {
        split(&script(text, 1), d)
            .expect("split")
            .into_iter()
            .map(|s| (s.sql, s.line))
            .collect()
    }

    fn err(text: &str, d: Dialect) -> String {
        split(&script(text, 1), d).unwrap_err().to_string()
    }

    fn s(sql: &str, line: usize) -> (String, usize) {
        (sql.to_string(), line)
    }

    #[test]
    fn basic_statements_and_lines() {
        let got = pg("CREATE TABLE a (id int);\n\nCREATE TABLE b (id int);\n");
        assert_eq!(
            got,
            vec![
                s("CREATE TABLE a (id int)", 1),
                s("CREATE TABLE b (id int)", 3)
            ]
        );
    }

    #[test]
    fn no_trailing_semicolon_at_eof() {
        assert_eq!(
            pg("SELECT 1;\nSELECT 2"),
            vec![s("SELECT 1", 1), s("SELECT 2", 2)]
        );
        assert_eq!(my("SELECT 1"), vec![s("SELECT 1", 1)]);
    }

    #[test]
    fn empty_statements_and_comment_only_text_are_skipped() {
        assert_eq!(pg(";;\n  ;\n-- only a comment\n/* and this */"), vec![]);
        assert_eq!(pg(""), vec![]);
    }

    #[test]
    fn leading_and_trailing_comments_are_removed() {
        let got = pg("-- create users\n/* note */\nCREATE TABLE u (id int) -- trailing\n;\n");
        assert_eq!(got, vec![s("CREATE TABLE u (id int)", 3)]);
        // Comments inside a statement stay.
        let got = pg("SELECT 1 /* mid */ + 2;");
        assert_eq!(got, vec![s("SELECT 1 /* mid */ + 2", 1)]);
    }

    #[test]
    fn segment_line_offsets_apply() {
        let got = split(&script("\nSELECT 1;\nSELECT 2;", 10), Dialect::Postgres).unwrap();
        assert_eq!(got[0].line, 11);
        assert_eq!(got[1].line, 12);
    }

    #[test]
    fn crlf_files() {
        let got = pg("SELECT 1;\r\n\r\nSELECT 'a;\r\nb';\r\nSELECT 3;\r\n");
        assert_eq!(
            got,
            vec![s("SELECT 1", 1), s("SELECT 'a;\r\nb'", 3), s("SELECT 3", 5)]
        );
    }

    #[test]
    fn pg_strings_and_identifiers() {
        let got = pg("INSERT INTO t VALUES ('it''s; fine');\nSELECT \"a;\"\"b\" FROM t;");
        assert_eq!(
            got,
            vec![
                s("INSERT INTO t VALUES ('it''s; fine')", 1),
                s("SELECT \"a;\"\"b\" FROM t", 2)
            ]
        );
        // Standard strings: a backslash is literal, so '\' is a complete string.
        assert_eq!(
            pg("SELECT '\\';SELECT 2"),
            vec![s("SELECT '\\'", 1), s("SELECT 2", 1)]
        );
    }

    #[test]
    fn pg_escape_strings() {
        let got = pg("SELECT E'a\\'; b';\nSELECT e'\\\\';\nSELECT 3;");
        assert_eq!(
            got,
            vec![
                s("SELECT E'a\\'; b'", 1),
                s("SELECT e'\\\\'", 2),
                s("SELECT 3", 3)
            ]
        );
    }

    #[test]
    fn pg_dollar_quotes() {
        let text = "CREATE FUNCTION f() RETURNS int AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$ LANGUAGE plpgsql;\nSELECT 2;";
        let got = pg(text);
        assert_eq!(got.len(), 2);
        assert!(got[0].0.ends_with("$$ LANGUAGE plpgsql"));
        assert_eq!(got[1], s("SELECT 2", 6));

        let text = "DO $body$ BEGIN PERFORM 'x $$ y'; END $body$;\nSELECT 3;";
        assert_eq!(
            pg(text),
            vec![
                s("DO $body$ BEGIN PERFORM 'x $$ y'; END $body$", 1),
                s("SELECT 3", 2)
            ]
        );
    }

    #[test]
    fn pg_positional_parameter_is_not_a_dollar_quote() {
        let got = pg("PREPARE p AS SELECT $1 + $2;\nSELECT a$b FROM t;");
        assert_eq!(
            got,
            vec![
                s("PREPARE p AS SELECT $1 + $2", 1),
                s("SELECT a$b FROM t", 2)
            ]
        );
    }

    #[test]
    fn pg_semicolons_inside_parentheses() {
        let text = "CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\nSELECT 1;";
        let got = pg(text);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], s("SELECT 1", 2));
    }

    #[test]
    fn pg_nested_block_comments() {
        let got = pg("/* outer /* inner; */ still comment; */ SELECT 1; SELECT /* x */ 2;");
        assert_eq!(got, vec![s("SELECT 1", 1), s("SELECT /* x */ 2", 1)]);
    }

    #[test]
    fn pg_begin_atomic() {
        let text = "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND;\nSELECT 3;";
        let got = pg(text);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].0.ends_with("SELECT 2;\nEND"));
        assert_eq!(got[1], s("SELECT 3", 6));
        // A transaction BEGIN is an ordinary statement.
        assert_eq!(
            pg("BEGIN;\nSELECT 1;\nEND;"),
            vec![s("BEGIN", 1), s("SELECT 1", 2), s("END", 3)]
        );
    }

    #[test]
    fn line_numbers_after_multiline_strings_and_comments() {
        let text = "INSERT INTO t VALUES ('a\nb\nc');\n/* x\ny */\nSELECT $$\n\n$$;\nSELECT 9;";
        let got = pg(text);
        assert_eq!(got[0].1, 1);
        assert_eq!(got[1].1, 6);
        assert_eq!(got[2], s("SELECT 9", 9));
    }

    #[test]
    fn pg_unterminated_constructs() {
        let e = err("SELECT 1;\nSELECT $body$ abc;\n", Dialect::Postgres);
        assert!(
            e.contains(":2: unterminated dollar-quoted string $body$ starting here"),
            "{e}"
        );
        let e = err("\n\nSELECT 'abc;", Dialect::Postgres);
        assert!(e.contains(":3: unterminated string literal"), "{e}");
        let e = err("SELECT \"abc;", Dialect::Postgres);
        assert!(e.contains("unterminated quoted identifier"), "{e}");
        let e = err("SELECT 1; /* /* */", Dialect::Postgres);
        assert!(e.contains("unterminated block comment"), "{e}");
        assert!(e.contains("m/1_x.sql:1:"), "{e}");
    }

    #[test]
    fn mysql_strings_and_backticks() {
        let got = my("INSERT INTO `t;x` VALUES ('a\\'; b', \"c\"\"; d\", 'e''f');\nSELECT 2;");
        assert_eq!(
            got,
            vec![
                s(
                    "INSERT INTO `t;x` VALUES ('a\\'; b', \"c\"\"; d\", 'e''f')",
                    1
                ),
                s("SELECT 2", 2)
            ]
        );
    }

    #[test]
    fn mysql_comments() {
        let got = my("# hash comment;\n-- dash comment;\nSELECT 1--1;\nSELECT /* a; */ 2;\n");
        assert_eq!(got, vec![s("SELECT 1--1", 3), s("SELECT /* a; */ 2", 4)]);
        // Block comments do not nest in MySQL.
        assert_eq!(my("/* a /* b */ SELECT 1;"), vec![s("SELECT 1", 1)]);
    }

    #[test]
    fn mysql_executable_comments_are_kept() {
        let got = my("/*!40101 SET NAMES utf8 */;\n/*M!100100 SET x=1 */;\n");
        assert_eq!(
            got,
            vec![
                s("/*!40101 SET NAMES utf8 */", 1),
                s("/*M!100100 SET x=1 */", 2)
            ]
        );
    }

    #[test]
    fn mysql_delimiter() {
        let text = "DELIMITER //\nCREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND //\ndelimiter ;\nSELECT 2;";
        let got = my(text);
        assert_eq!(
            got,
            vec![
                s("CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND", 2),
                s("SELECT 2", 7)
            ]
        );
        let text = "DELIMITER $$\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = 1; END$$\nDELIMITER ;\n";
        let got = my(text);
        assert_eq!(got.len(), 1);
        assert!(got[0].0.ends_with("END"), "{got:?}");
        assert!(err("DELIMITER \nSELECT 1", Dialect::Mysql).contains("DELIMITER needs"));
    }

    #[test]
    fn delimiter_left_to_the_server() {
        let script = Script {
            file: "f.sql".into(),
            segments: vec![Segment::Sql {
                text: "SELECT 1;\nDELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 2; END //\n"
                    .into(),
                line: 1,
            }],
            no_transaction: false,
        };
        let got = split_as_sent(&script, Dialect::Mysql).unwrap();
        assert_eq!(got[0].sql, "SELECT 1");
        assert!(got[1].sql.starts_with("DELIMITER //"), "{got:?}");
        assert_eq!(got[1].line, 2);
    }

    #[test]
    fn mysql_compound_bodies_without_delimiter() {
        let text = "CREATE DEFINER=`root`@`%` PROCEDURE p(x INT)\nBEGIN\n  IF x > 0 THEN\n    SELECT 1;\n  END IF;\n  CASE x WHEN 1 THEN SELECT 2; ELSE SELECT 3; END CASE;\n  WHILE x > 0 DO SET x = x - 1; END WHILE;\n  SELECT CASE WHEN x THEN 1 ELSE 2 END;\nEND;\nSELECT 9;";
        let got = my(text);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].0.starts_with("CREATE DEFINER"));
        assert!(got[0].0.ends_with("END"));
        assert_eq!(got[1], s("SELECT 9", 10));

        let text = "CREATE OR REPLACE TRIGGER trg BEFORE UPDATE ON t FOR EACH ROW\nBEGIN\n  SET NEW.end = 1;\n  lbl: LOOP LEAVE lbl; END LOOP lbl;\nEND;\nCREATE TABLE z (a int);\nCREATE TABLE y (b int);";
        let got = my(text);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[1], s("CREATE TABLE z (a int)", 6));

        // A function without BEGIN ends at its first semicolon.
        let got = my("CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1;\nSELECT f();");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn mariadb_anonymous_block_and_transactions() {
        let got = my(
            "BEGIN NOT ATOMIC\n  DECLARE x INT;\n  SET x = 1;\nEND;\nBEGIN;\nSELECT 1;\nCOMMIT;",
        );
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[1], s("BEGIN", 5));
    }

    #[test]
    fn mysql_delimiter_with_crlf_and_mid_line_word() {
        let got = my(
            "DELIMITER //\r\nSELECT 1; SELECT 2 //\r\nDELIMITER ;\r\nSELECT delimiter FROM t;\r\n",
        );
        assert_eq!(
            got,
            vec![s("SELECT 1; SELECT 2", 2), s("SELECT delimiter FROM t", 4)]
        );
    }

    #[test]
    fn pg_dollar_tags_are_case_sensitive() {
        let got = pg("SELECT $A$ x $a$ ; $A$;\nSELECT 2;");
        assert_eq!(got, vec![s("SELECT $A$ x $a$ ; $A$", 1), s("SELECT 2", 2)]);
    }

    #[test]
    fn mysql_has_no_dollar_quotes_or_nested_comments() {
        let got = my("SELECT '$$';\nSELECT 2;");
        assert_eq!(got, vec![s("SELECT '$$'", 1), s("SELECT 2", 2)]);
        let e = err("SELECT 'abc", Dialect::Mysql);
        assert!(e.contains("unterminated string literal"));
    }

    #[test]
    fn verbatim_segments() {
        let sc = Script {
            file: PathBuf::from("x.sql"),
            segments: vec![
                Segment::Sql {
                    text: "SELECT 1;\n".into(),
                    line: 2,
                },
                Segment::Verbatim {
                    text: "\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n"
                        .into(),
                    line: 4,
                },
                Segment::Verbatim {
                    text: "  \n".into(),
                    line: 8,
                },
            ],
            no_transaction: false,
        };
        let got = split(&sc, Dialect::Postgres).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1].sql,
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql"
        );
        assert_eq!(got[1].line, 5);
    }

    #[test]
    fn strip_comments_for_blank_checks() {
        assert!(crate::sql::is_blank("-- a\n/* b /* c */ */\n# d\n  \r\n"));
        assert!(!crate::sql::is_blank("-- a\nSELECT 1"));
        assert!(!crate::sql::is_blank("/*!40101 SET x=1 */"));
        assert!(!crate::sql::is_blank("SELECT '-- not a comment'"));
        assert_eq!(strip_comments("a -- x\nb").trim(), "a  \nb");
    }

    #[test]
    fn never_panics_on_truncated_input() {
        let text = "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 'a\\'b', \"c\", `d`; END //\nDELIMITER ;\n/*! x */ # c\n-- d\nSELECT E'\\'', $t$ é $t$, $1, (1; 2), /* /* */ */ 'ü';\nCREATE FUNCTION f() BEGIN ATOMIC SELECT CASE WHEN 1 THEN 2 END; END;\r\n";
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            for d in [Dialect::Postgres, Dialect::Mysql] {
                let _ = split(&script(&text[..end], 1), d);
                let _ = strip_comments(&text[..end]);
            }
        }
    }

    #[test]
    fn large_input_is_linear() {
        let mut text = String::new();
        for i in 0..10_000 {
            text.push_str(&format!(
                "INSERT INTO t VALUES ({i}, 'v;{i}', $$x;{i}$$); -- c\n"
            ));
        }
        let started = std::time::Instant::now();
        let got = pg(&text);
        assert_eq!(got.len(), 10_000);
        assert_eq!(got[9_999].1, 10_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
