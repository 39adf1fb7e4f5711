//! Cosmetic rule `routine-formatting`: a routine body that differs only in whitespace or
//! comments outside string literals behaves the same. Bodies are compared as token sequences:
//! string literals and quoted identifiers are tokens kept verbatim, whitespace and comments
//! separate tokens and are dropped.

/// How a body is lexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyDialect {
    /// `pg_get_functiondef` output of a `sql` or `plpgsql` function or procedure.
    Postgres,
    /// A MySQL/MariaDB routine body or trigger statement as the server stored it.
    Mysql,
}

/// Whether property `key` of the object at `path` is a routine body this rule may judge, and
/// how to lex it. Bodies in other languages (plpython: indentation is syntax; C) never are.
pub(super) fn routine_body_dialect(path: &str, key: &str, value: &str) -> Option<BodyDialect> {
    let routine = path.starts_with("function ") || path.starts_with("procedure ");
    if routine && key == "definition" {
        let language = value
            .lines()
            .find_map(|l| l.trim().strip_prefix("LANGUAGE "))?
            .trim();
        return matches!(language, "plpgsql" | "sql").then_some(BodyDialect::Postgres);
    }
    let trigger = path.contains(" > trigger ");
    if (routine && key == "body") || (trigger && key == "statement") {
        return Some(BodyDialect::Mysql);
    }
    None
}

/// The two texts have the same tokens.
pub(super) fn same_tokens(a: &str, b: &str, dialect: BodyDialect) -> bool {
    tokens(a, dialect) == tokens(b, dialect)
}

const OPERATOR: &str = "+-*/<>=~!@#%^&|`?";

fn tokens(text: &str, dialect: BodyDialect) -> Vec<&str> {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut out: Vec<&str> = Vec::new();
    // `pg_get_functiondef` puts the body in one dollar quote (`AS $function$ ... $function$`):
    // its content is code, lexed like the rest; dollar quotes inside it are literals.
    let mut body_tag: Option<&str> = None;
    let mut prev_end = usize::MAX;
    let mut i = 0;
    while i < n {
        let c = bytes[i];
        let start = i;
        let rest = &text[i..];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let mysql = dialect == BodyDialect::Mysql;
        // Comments.
        let line_comment = rest.starts_with("--")
            && (!mysql
                || rest
                    .as_bytes()
                    .get(2)
                    .is_none_or(|b| b.is_ascii_whitespace()))
            || (mysql && c == b'#');
        if line_comment {
            i += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        if rest.starts_with("/*")
            && !(mysql && (rest.starts_with("/*!") || rest.starts_with("/*+")))
        {
            i += block_comment_len(rest, !mysql);
            continue;
        }
        if rest.starts_with("/*") {
            // MySQL executable comment: code, kept verbatim.
            i += rest.find("*/").map_or(rest.len(), |p| p + 2);
        } else if c == b'\'' {
            let escapes = mysql || (prev_end == start && matches!(out.last(), Some(&"E" | &"e")));
            i += quoted_len(rest, b'\'', escapes);
        } else if c == b'"' {
            i += quoted_len(rest, b'"', mysql);
        } else if c == b'`' && mysql {
            i += quoted_len(rest, b'`', false);
        } else if c == b'$' && !mysql {
            match dollar_tag(rest) {
                Some(tag) if body_tag.is_none() => {
                    body_tag = Some(tag);
                    i += tag.len();
                }
                Some(tag) if body_tag == Some(tag) => {
                    i += tag.len();
                }
                Some(tag) => {
                    let after = &rest[tag.len()..];
                    i += tag.len() + after.find(tag).map_or(after.len(), |p| p + tag.len());
                }
                None => i += word_len(rest),
            }
        } else if is_word(c) {
            i += word_len(rest);
        } else if OPERATOR.as_bytes().contains(&c) {
            i += 1;
            while i < n
                && OPERATOR.as_bytes().contains(&bytes[i])
                && !text[i..].starts_with("--")
                && !text[i..].starts_with("/*")
            {
                i += 1;
            }
        } else {
            // One punctuation character (or one non-ASCII character).
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
        out.push(&text[start..i]);
        prev_end = i;
    }
    out
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn word_len(rest: &str) -> usize {
    let len = rest.bytes().take_while(|&b| is_word(b)).count();
    len.max(1)
}

/// `$tag$` at the start of `rest` (a dollar-quote delimiter, not a `$1` parameter).
fn dollar_tag(rest: &str) -> Option<&str> {
    let inner = &rest[1..];
    let end = inner.find('$')?;
    let tag = &inner[..end];
    let valid = tag.bytes().enumerate().all(|(k, b)| {
        b == b'_' || b.is_ascii_alphabetic() || b >= 0x80 || (k > 0 && b.is_ascii_digit())
    });
    valid.then(|| &rest[..end + 2])
}

/// Length of a quoted literal starting at `rest[0]`; doubled quotes (and, with `escapes`,
/// backslash escapes) stay inside. An unterminated literal runs to the end.
fn quoted_len(rest: &str, quote: u8, escapes: bool) -> usize {
    let bytes = rest.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if escapes && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Length of a block comment at the start of `rest` (PostgreSQL nests them, MySQL does not).
fn block_comment_len(rest: &str, nested: bool) -> usize {
    let bytes = rest.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' && (nested || depth == 0) {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: BodyDialect = BodyDialect::Postgres;
    const MY: BodyDialect = BodyDialect::Mysql;

    fn pg_function(body: &str) -> String {
        format!(
            "CREATE OR REPLACE FUNCTION public.f()\n RETURNS trigger\n LANGUAGE plpgsql\nAS $function${body}$function$\n"
        )
    }

    #[test]
    fn whitespace_and_comments_outside_literals_are_formatting() {
        let a = pg_function("\nBEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND;\n");
        let b = pg_function(
            "\nBEGIN\n    -- keep the timestamp fresh\n    NEW.updated_at:=now(); /* a /* nested */ note */\n\n    RETURN NEW;\nEND;",
        );
        assert!(same_tokens(&a, &b, PG));
    }

    #[test]
    fn any_other_difference_is_not() {
        let a = pg_function("BEGIN RETURN 'a  b'; END;");
        for other in [
            "BEGIN RETURN 'a b'; END;",
            "BEGIN RETURN 'a  b' ; END; SELECT 1;",
            "begin RETURN 'a  b'; END;",
            "BEGIN RETURN $q$a  b$q$; END;",
        ] {
            assert!(!same_tokens(&a, &pg_function(other), PG), "{other}");
        }
        // Whitespace inside a nested dollar-quoted literal is data.
        assert!(!same_tokens(
            &pg_function("BEGIN EXECUTE $q$SELECT  1$q$; END;"),
            &pg_function("BEGIN EXECUTE $q$SELECT 1$q$; END;"),
            PG
        ));
        // Separating or joining operators changes tokens: `>=` is not `> =`.
        assert!(!same_tokens("a >= b", "a > = b", PG));
        assert!(same_tokens("a>=b", "a >= b", PG));
        // Joining two words is not whitespace.
        assert!(!same_tokens("RETURN x", "RETURNx", PG));
        // E'' strings keep backslash escapes: the quote after \ does not end the literal.
        assert!(!same_tokens(
            r"x := E'a\' --  b';",
            r"x := E'a\' -- b';",
            PG
        ));
    }

    #[test]
    fn mysql_comments_and_literals() {
        let a = "BEGIN\n  SET NEW.total = NEW.qty * NEW.price;\nEND";
        let b = "BEGIN\n  # recompute\n  SET NEW.total = NEW.qty*NEW.price; -- always\nEND";
        assert!(same_tokens(a, b, MY));
        assert!(!same_tokens("SET x = 'a  b'", "SET x = 'a b'", MY));
        assert!(!same_tokens(
            r"SET x = 'it\'s  x'",
            r"SET x = 'it\'s x'",
            MY
        ));
        // `--` without a space is not a comment in MySQL: `1--1` is 1 - (-1).
        assert!(!same_tokens("SET x = 1--1", "SET x = 1", MY));
        // Executable comments are code.
        assert!(!same_tokens("/*!50000 SET x = 1 */", "", MY));
    }

    #[test]
    fn only_sql_and_plpgsql_bodies_on_postgres() {
        let python = "CREATE FUNCTION f()\n RETURNS int\n LANGUAGE plpython3u\nAS $function$\nreturn 1$function$";
        assert_eq!(
            routine_body_dialect("function public.f()", "definition", python),
            None
        );
        assert_eq!(
            routine_body_dialect("function public.f()", "definition", &pg_function("x")),
            Some(PG)
        );
        assert_eq!(
            routine_body_dialect("procedure p", "body", "BEGIN END"),
            Some(MY)
        );
        assert_eq!(
            routine_body_dialect("table t > trigger tr", "statement", "SET x = 1"),
            Some(MY)
        );
        assert_eq!(
            routine_body_dialect("view public.v", "definition", "SELECT 1"),
            None
        );
    }
}
