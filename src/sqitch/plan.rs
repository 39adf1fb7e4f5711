//! `sqitch.plan`: the grammar of Sqitch's plan file (syntax version 1.0.0), read the way
//! `App::Sqitch::Plan` reads it.
//!
//! ```text
//! %syntax-version=1.0.0
//! %project=flipr
//! %uri=https://example.com/flipr
//!
//! appschema 2026-01-05T10:00:00Z Ada <ada@example.com> # Add schema.
//! users [appschema] 2026-01-05T10:05:00Z Ada <ada@example.com> # Users table.
//! @v1.0 2026-01-06T09:00:00Z Ada <ada@example.com> # Tag v1.0.
//! ```
//!
//! The header (pragmas and comment lines) ends at the first blank line. Every other line is a
//! comment (`# ...`), blank, a tag (`@name timestamp planner <email> # note`) or a change
//! (`[+|-]name [deps] timestamp planner <email> # note`). Syntax errors are `Err` with the line,
//! as Sqitch refuses the whole plan for them. What Sqitch checks after the syntax (dependency
//! order, unknown dependencies, duplicate changes) is left to `super::chain`, which reports it
//! as chain problems.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};

/// Like POSIX `[:punct:]` without `_` (Sqitch's `$punct`).
const PUNCT: &str = "-!\"#$%&'()*+,./:;<=>?@[\\]^`{|}~";

fn is_punct(c: char) -> bool {
    PUNCT.contains(c)
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Perl's `\w` (Unicode): what `\b` at the end of a name looks at.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Sqitch's name rule for projects, changes and tags: no blank, `:`, `@`, `#` or `\`; neither
/// the first nor the last character is punctuation (`_` is not punctuation); it does not end in
/// `~`, `/`, `=`, `%` or `^` followed by digits (symbolic references such as `HEAD^2`).
pub fn is_valid_name(name: &str) -> bool {
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().last()) else {
        return false;
    };
    if is_punct(first) || is_punct(last) || !is_word(last) {
        return false;
    }
    if name
        .chars()
        .any(|c| is_blank(c) || matches!(c, ':' | '@' | '#' | '\\'))
    {
        return false;
    }
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.len() < name.len() && trimmed.ends_with(['~', '/', '=', '%', '^']) {
        return false;
    }
    true
}

const NAME_RULE: &str = "Invalid name; names must not begin with punctuation, contain \"@\", \":\", \"#\", \"\\\", or blanks, or end in punctuation or digits following punctuation";

/// One entry of a change's dependency list, as Sqitch's `Plan::Depend` parses it:
/// `[!][project:](change[@tag] | @tag | sha1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// `!` before it: a conflict, not a requirement.
    pub conflict: bool,
    /// `project:` when written.
    pub project: Option<String>,
    pub change: Option<String>,
    /// Without the `@`.
    pub tag: Option<String>,
    /// A 40-hex change id.
    pub id: Option<String>,
    /// The dependency exactly as written in the plan.
    pub text: String,
}

impl Dependency {
    /// Parse one dependency; None when Sqitch says it "is not a valid dependency specification".
    pub fn parse(text: &str) -> Option<Dependency> {
        let (conflict, rest) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (project, rest) = match rest.split_once(':') {
            Some((p, r)) if is_valid_name(p) => (Some(p.to_string()), r),
            Some(_) => return None,
            None => (None, rest),
        };
        let mut dep = Dependency {
            conflict,
            project,
            change: None,
            tag: None,
            id: None,
            text: text.to_string(),
        };
        if rest.len() == 40 && rest.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            dep.id = Some(rest.to_string());
            return Some(dep);
        }
        match rest.split_once('@') {
            Some((change, tag)) => {
                if !is_valid_name(tag) || !(change.is_empty() || is_valid_name(change)) {
                    return None;
                }
                dep.change = (!change.is_empty()).then(|| change.to_string());
                dep.tag = Some(tag.to_string());
            }
            None if is_valid_name(rest) => dep.change = Some(rest.to_string()),
            // An empty dependency ("!" alone, "proj:") names nothing: Sqitch refuses it too.
            None => return None,
        }
        Some(dep)
    }

    /// `change`, `change@tag`, `@tag` or the id: Sqitch's `key_name`.
    pub fn key(&self) -> String {
        let mut key = self.change.clone().unwrap_or_default();
        if let Some(tag) = &self.tag {
            key.push('@');
            key.push_str(tag);
        }
        if key.is_empty() {
            key = self.id.clone().unwrap_or_default();
        }
        key
    }

    /// True when it names another project's change (`other:change`).
    pub fn is_external(&self, project: &str) -> bool {
        self.project.as_deref().is_some_and(|p| p != project)
    }

    /// As `sqitch plan` prints it (Sqitch's `as_string`): `proj:key` for another project's
    /// change, the bare key for this project's.
    pub fn display(&self, project: &str) -> String {
        match &self.project {
            Some(p) if p != project => format!("{p}:{}", self.key()),
            _ => self.key(),
        }
    }
}

/// A tag line: `@name timestamp planner <email> # note`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Without the `@`.
    pub name: String,
    pub line: usize,
    /// Index in `Plan::changes` of the change it follows.
    pub change: usize,
}

/// A change line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    pub name: String,
    pub line: usize,
    pub requires: Vec<Dependency>,
    pub conflicts: Vec<Dependency>,
    /// Names (without `@`) of the tags declared right after it.
    pub tags: Vec<String>,
    /// For an earlier instance of a reworked change: the tags Sqitch tries, in order, to name
    /// its scripts `name@tag.sql` (the tags between it and the next instance, latest change
    /// first, then its own). Empty for a change that is not reworked later.
    pub rework_tags: Vec<String>,
    /// Line of the last tag above this change (0: none). Sqitch checks dependencies one tag
    /// section at a time: what lies above that tag is "seen".
    pub section_start: usize,
    /// Set when the same name appears earlier with no tag in between (Sqitch refuses the plan:
    /// "duplicates earlier declaration"): the line of that earlier declaration.
    pub duplicate_of: Option<usize>,
    pub planner: String,
    pub timestamp: String,
    pub note: String,
}

/// A parsed plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub project: String,
    pub uri: Option<String>,
    /// Every pragma as written (`syntax-version`, `project`, `uri`, others), value `1` when
    /// there is no `=value`.
    pub pragmas: Vec<(String, String)>,
    pub changes: Vec<PlanChange>,
    pub tags: Vec<Tag>,
}

impl Plan {
    /// Index in `tags` of the tag `name` (without `@`).
    pub fn tag(&self, name: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.name == name)
    }
}

/// Read and parse a plan file.
pub fn read(path: &Path) -> Result<Plan> {
    if !path.exists() {
        return Err(Error::input(
            path,
            None,
            format!("Plan file {} does not exist", path.display()),
        ));
    }
    if !path.is_file() {
        return Err(Error::input(
            path,
            None,
            format!("Plan file {} is not a regular file", path.display()),
        ));
    }
    parse(path, &crate::chain::read_text(path)?)
}

/// `# note` at the start of a line (after blanks) or an empty line: Sqitch's "blank" line.
/// Returns Some(has_note). A lone `#` is not one (Sqitch wants a character after it).
fn blank_line(line: &str) -> Option<bool> {
    let rest = line.trim_start_matches(is_blank);
    if rest.is_empty() {
        return Some(false);
    }
    let after = rest.strip_prefix('#')?;
    (!after.is_empty()).then_some(true)
}

/// Strip the inline note: from the first `#` (and the blanks before it), or trailing blanks.
fn strip_note(line: &str) -> (&str, &str) {
    let (body, note) = match line.find('#') {
        Some(i) => (&line[..i], line[i + 1..].trim_start_matches(is_blank)),
        None => (line, ""),
    };
    (body.trim_end_matches(is_blank), note)
}

/// `YYYY-MM-DDTHH:MM:SSZ` at the start of `s`: its length.
fn timestamp_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    for (i, &want) in shape.iter().enumerate() {
        let ok = if want == b'd' {
            b[i].is_ascii_digit()
        } else {
            b[i] == want
        };
        if !ok {
            return None;
        }
    }
    Some(20)
}

fn contains_timestamp(s: &str) -> bool {
    s.char_indices()
        .any(|(i, _)| timestamp_len(&s[i..]).is_some())
}

fn valid_date(ts: &str) -> bool {
    let n = |r: std::ops::Range<usize>| ts[r].parse::<u32>().unwrap_or(99);
    let (mo, dy, hr, mi, sc) = (n(5..7), n(8..10), n(11..13), n(14..16), n(17..19));
    (1..=12).contains(&mo) && (1..=31).contains(&dy) && hr < 24 && mi < 60 && sc < 61
}

/// `planner name <email>`, the whole of `s`: the name.
fn planner(s: &str) -> Option<&str> {
    let lt = s.find('<')?;
    let (name, email) = (&s[..lt], &s[lt + 1..]);
    // `[^<]+[[:blank:]]+<[^>]+>$`: a name, at least one blank, then `<email>` at the end.
    if name.chars().count() < 2 || !name.ends_with(is_blank) {
        return None;
    }
    let email = email.strip_suffix('>')?;
    if email.is_empty() || email.contains('>') {
        return None;
    }
    Some(&name[..name.len() - 1])
}

/// The parts of a change or tag line after the note is stripped.
struct Parsed<'a> {
    is_tag: bool,
    name: &'a str,
    deps: Option<&'a str>,
    timestamp: Option<&'a str>,
    planner: Option<&'a str>,
}

/// Match a change or tag line (without its note) as Sqitch's line regex does, backtracking
/// the same way (a shorter name, then without the optional parts); None when it does not match
/// at all (Sqitch then reports an invalid name).
fn parse_line(body: &str) -> Option<Parsed<'_>> {
    let mut rest = body.trim_start_matches(is_blank);
    let is_tag = rest.starts_with('@');
    if is_tag {
        rest = &rest[1..];
    } else if let Some(r) = rest.strip_prefix(['+', '-']) {
        rest = r.trim_start_matches(is_blank);
    }
    let token = rest.find(is_blank).unwrap_or(rest.len());
    let mut cuts: Vec<usize> = rest[..token]
        .char_indices()
        .map(|(i, _)| i)
        .skip(1)
        .collect();
    cuts.push(token);
    for &cut in cuts.iter().rev() {
        let name = &rest[..cut];
        // The name regex ends in `\b`: its last (word) character is followed by a non-word one.
        let boundary = rest[cut..].chars().next().is_none_or(|c| !is_word(c));
        if !boundary || !is_valid_name(name) {
            continue;
        }
        if let Some((deps, timestamp, planner)) = parse_tail(&rest[cut..]) {
            return Some(Parsed {
                is_tag,
                name,
                deps,
                timestamp,
                planner,
            });
        }
    }
    None
}

/// After the name: `[blanks] [\[deps\] blanks] [timestamp blanks] [planner <email>]`, all
/// optional, the whole rest; tried as the regex tries it (with each optional part first).
type Tail<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn parse_tail(rest: &str) -> Option<Tail<'_>> {
    let rest = rest.trim_start_matches(is_blank);
    let with_deps = rest
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .filter(|(list, _)| !list.is_empty())
        .map(|(list, after)| (Some(list), after.trim_start_matches(is_blank)));
    for (deps, rest) in with_deps.into_iter().chain([(None, rest)]) {
        let with_ts = timestamp_len(rest)
            .map(|len| (Some(&rest[..len]), rest[len..].trim_start_matches(is_blank)));
        for (ts, rest) in with_ts.into_iter().chain([(None, rest)]) {
            if rest.is_empty() {
                return Some((deps, ts, None));
            }
            if let Some(who) = planner(rest) {
                return Some((deps, ts, Some(who)));
            }
        }
    }
    None
}

/// Parse the text of a plan; `file` names it in errors.
pub fn parse(file: &Path, text: &str) -> Result<Plan> {
    let err = |line: usize, msg: String| Error::input(file, Some(line), msg);
    // Perl's getline: lines end at \n, a \r before it is dropped; no line after a final \n.
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut pragmas: Vec<(String, String)> = Vec::new();
    let mut project = None;
    for (n, line) in lines.by_ref() {
        match blank_line(line) {
            // Perl's truth: a comment whose note is "0" ends the header like a blank line.
            Some(false) => break,
            Some(true)
                if line.trim_start_matches(is_blank)[1..].trim_start_matches(is_blank) == "0" =>
            {
                break
            }
            Some(true) => continue,
            None => {}
        }
        let (body, _) = strip_note(line);
        let Some((name, value)) = parse_pragma(body) else {
            return Err(err(
                n,
                "Invalid pragma; a blank line must come between pragmas and changes".into(),
            ));
        };
        if name == "project" {
            let value = value.unwrap_or_default();
            if !is_valid_name(&value) {
                return Err(err(
                    n,
                    format!(
                        "invalid project name \"{value}\": project names must not begin with \
                         punctuation, contain \"@\", \":\", \"#\", \"\\\", or blanks, or end in \
                         punctuation or digits following punctuation"
                    ),
                ));
            }
            project = Some(value.clone());
            pragmas.push((name, value));
        } else {
            pragmas.push((name, value.unwrap_or_else(|| "1".into())));
        }
    }
    let Some(project) = project else {
        return Err(Error::input(
            file,
            None,
            format!("Missing %project pragma in {}", file.display()),
        ));
    };
    let uri = pragmas
        .iter()
        .rev()
        .find(|(k, _)| k == "uri")
        .map(|(_, v)| v.clone());

    let mut changes: Vec<PlanChange> = Vec::new();
    let mut tags: Vec<Tag> = Vec::new();
    let mut tag_lines: HashMap<String, usize> = HashMap::new();
    // Changes since the last tag: name -> line.
    let mut section: HashMap<String, usize> = HashMap::new();
    // Latest instance of each name: index in `changes`.
    let mut named: HashMap<String, usize> = HashMap::new();
    let mut section_start = 0;
    // Index of the first change after the last tag (the changes Sqitch has "checked").
    let mut checked = 0;

    for (n, line) in lines {
        if blank_line(line).is_some() {
            continue;
        }
        let (body, note) = strip_note(line);
        let Some(p) = parse_line(body) else {
            return Err(err(n, NAME_RULE.into()));
        };
        if p.timestamp.is_none() && contains_timestamp(body) {
            return Err(err(n, NAME_RULE.into()));
        }
        match (p.timestamp, p.planner) {
            (None, None) => {
                return Err(err(
                    n,
                    "Missing timestamp and planner name and email".into(),
                ));
            }
            (None, _) => return Err(err(n, "Missing timestamp".into())),
            (_, None) => return Err(err(n, "Missing planner name and email".into())),
            _ => {}
        }
        let shown = if p.is_tag {
            format!("@{}", p.name)
        } else {
            p.name.to_string()
        };
        if p.name == "ROOT" || p.name == "HEAD" {
            return Err(err(n, format!("\"{shown}\" is a reserved name")));
        }
        let hex = p
            .name
            .chars()
            .take(40)
            .filter(|c| matches!(c, '0'..='9' | 'a'..='f'))
            .count();
        if hex == 40 {
            return Err(err(
                n,
                format!(
                    "\"{}\" is invalid because it could be confused with a SHA1 ID",
                    p.name
                ),
            ));
        }
        let timestamp = p.timestamp.unwrap_or_default();
        if !valid_date(timestamp) {
            return Err(err(n, format!("invalid timestamp {timestamp}")));
        }
        if p.is_tag {
            if p.name.contains('/') {
                return Err(err(
                    n,
                    format!("Tag \"{}\" contains illegal character /", p.name),
                ));
            }
            let Some(last) = changes.len().checked_sub(1) else {
                return Err(err(
                    n,
                    format!("Tag \"{}\" declared without a preceding change", p.name),
                ));
            };
            if let Some(at) = tag_lines.get(p.name) {
                return Err(err(
                    n,
                    format!(
                        "Tag \"{}\" duplicates earlier declaration on line {at}",
                        p.name
                    ),
                ));
            }
            if p.deps.is_some() {
                return Err(err(n, "Tags may not specify dependencies".into()));
            }
            changes[last].tags.push(p.name.to_string());
            tags.push(Tag {
                name: p.name.to_string(),
                line: n,
                change: last,
            });
            tag_lines.insert(p.name.to_string(), n);
            section.clear();
            section_start = n;
            checked = changes.len();
            continue;
        }

        let mut requires = Vec::new();
        let mut conflicts = Vec::new();
        if let Some(deps) = p.deps {
            let mut seen = Vec::new();
            // Perl's `split /[[:blank:]]+/` keeps a leading empty field (which is no valid
            // dependency) and drops trailing ones.
            let leading = deps.starts_with(is_blank).then_some("");
            let words = deps.split(is_blank).filter(|s| !s.is_empty());
            for text in leading.into_iter().chain(words) {
                let dep = Dependency::parse(text).ok_or_else(|| {
                    err(
                        n,
                        format!("\"{text}\" is not a valid dependency specification"),
                    )
                })?;
                if seen.contains(&text) {
                    return Err(err(n, format!("Duplicate dependency \"{text}\"")));
                }
                seen.push(text);
                if dep.conflict {
                    conflicts.push(dep);
                } else {
                    requires.push(dep);
                }
            }
        }
        let duplicate_of = section.get(p.name).copied();
        if duplicate_of.is_none() {
            if let Some(&earlier) = named.get(p.name) {
                // A rework: the earlier instance's scripts become `name@tag.sql`, the tag being
                // the first of these whose deploy script exists.
                let mut rework = Vec::new();
                for c in changes[earlier + 1..checked].iter().rev() {
                    rework.extend(c.tags.iter().cloned());
                }
                rework.extend(changes[earlier].tags.iter().cloned());
                changes[earlier].rework_tags.extend(rework);
            }
            section.insert(p.name.to_string(), n);
            named.insert(p.name.to_string(), changes.len());
        }
        changes.push(PlanChange {
            name: p.name.to_string(),
            line: n,
            requires,
            conflicts,
            tags: Vec::new(),
            rework_tags: Vec::new(),
            section_start,
            duplicate_of,
            planner: p.planner.unwrap_or_default().trim_end().to_string(),
            timestamp: timestamp.to_string(),
            note: note.to_string(),
        });
    }
    Ok(Plan {
        project,
        uri,
        pragmas,
        changes,
        tags,
    })
}

/// `%name[=value]` (blanks allowed around `%` and `=`): name and value.
fn parse_pragma(body: &str) -> Option<(String, Option<String>)> {
    let rest = body.trim_start_matches(is_blank).strip_prefix('%')?;
    let rest = rest.trim_start_matches(is_blank);
    let end = rest
        .find(|c: char| is_blank(c) || c == '=')
        .unwrap_or(rest.len());
    let name = &rest[..end];
    let (first, last) = (name.chars().next()?, name.chars().last()?);
    if is_punct(first) || (name.len() > first.len_utf8() && (is_punct(last) || is_blank(last))) {
        return None;
    }
    let rest = rest[end..].trim_start_matches(is_blank);
    if rest.is_empty() {
        return Some((name.to_string(), None));
    }
    let value = rest.strip_prefix('=')?.trim_start_matches(is_blank);
    if value.is_empty() {
        return None;
    }
    Some((name.to_string(), Some(value.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "%syntax-version=1.0.0\n%project=flipr\n%uri=https://example.com/\n\n";

    fn plan(body: &str) -> Result<Plan> {
        parse(Path::new("sqitch.plan"), &format!("{HEAD}{body}"))
    }

    fn error(body: &str) -> String {
        plan(body).unwrap_err().to_string()
    }

    #[test]
    fn names() {
        for ok in [
            "users",
            "a",
            "add_users",
            "schema/users",
            "v1.0",
            "x-1",
            "_x",
            "a_",
            "ünï",
        ] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in [
            "", "-a", "a-", "a b", "a:b", "a@b", "a#b", "a\\b", "HEAD^2", "x~1", "a/3", ".a", "a.",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn dependencies() {
        let d = Dependency::parse("!other:users@v1.0").unwrap();
        assert!(d.conflict);
        assert_eq!(d.project.as_deref(), Some("other"));
        assert_eq!(d.key(), "users@v1.0");
        assert_eq!(d.display("flipr"), "other:users@v1.0");
        assert!(d.is_external("flipr"));
        let d = Dependency::parse("flipr:users").unwrap();
        assert_eq!(d.display("flipr"), "users");
        assert!(!d.is_external("flipr"));
        let d = Dependency::parse("@v1.0").unwrap();
        assert_eq!(
            (d.change.as_deref(), d.tag.as_deref()),
            (None, Some("v1.0"))
        );
        let id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(Dependency::parse(id).unwrap().id.as_deref(), Some(id));
        for bad in ["", "!", "x:", "a@", "@", "a@b@c", "a:b:c", "-a"] {
            assert!(Dependency::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn grammar() {
        let p = plan(
            "# A comment line.\n\
             appschema 2026-01-05T10:00:00Z Ada Lovelace <ada@example.com> # Add schema.\n\
             \n\
             users [appschema !old other:thing] 2026-01-05T10:05:00Z Ada <ada@x> # Users.\n\
             @v1.0 2026-01-06T09:00:00Z Ada <ada@x> # Tag it.\n\
             @gold 2026-01-06T09:00:01Z Ada <ada@x>\n\
             + widgets [users@v1.0]2026-01-07T00:00:00Z Ada <ada@x>\n\
             \t- gadgets 2026-01-07T00:00:00ZAda <ada@x>\r\n",
        )
        .unwrap();
        assert_eq!(p.project, "flipr");
        assert_eq!(p.uri.as_deref(), Some("https://example.com/"));
        let names: Vec<_> = p
            .changes
            .iter()
            .map(|c| (c.name.as_str(), c.line))
            .collect();
        assert_eq!(
            names,
            [
                ("appschema", 6),
                ("users", 8),
                ("widgets", 11),
                ("gadgets", 12)
            ]
        );
        let users = &p.changes[1];
        assert_eq!(users.tags, ["v1.0", "gold"]);
        assert_eq!(users.requires.len(), 2);
        assert_eq!(users.conflicts[0].key(), "old");
        assert_eq!(users.note, "Users.");
        assert_eq!(p.changes[0].planner, "Ada Lovelace");
        assert_eq!(p.changes[2].requires[0].key(), "users@v1.0");
        assert_eq!(p.changes[2].section_start, 10);
        assert_eq!(p.tag("gold").unwrap().change, 1);
    }

    #[test]
    fn reworked_changes_get_rework_tags() {
        let p = plan(
            "f 2026-01-01T00:00:00Z A <a@x>\n\
             @v1 2026-01-01T00:00:00Z A <a@x>\n\
             g 2026-01-01T00:00:00Z A <a@x>\n\
             @v2 2026-01-01T00:00:00Z A <a@x>\n\
             f [f@v1] 2026-01-02T00:00:00Z A <a@x>\n\
             @v3 2026-01-01T00:00:00Z A <a@x>\n\
             f 2026-01-03T00:00:00Z A <a@x>\n",
        )
        .unwrap();
        assert_eq!(p.changes[0].rework_tags, ["v2", "v1"]);
        assert_eq!(p.changes[2].rework_tags, ["v3"]);
        assert!(p.changes[3].rework_tags.is_empty());
        assert!(p.changes.iter().all(|c| c.duplicate_of.is_none()));
    }

    #[test]
    fn duplicates_without_a_tag_are_recorded_not_refused() {
        let p = plan("a 2026-01-01T00:00:00Z A <a@x>\na 2026-01-01T00:00:00Z A <a@x>\n").unwrap();
        assert_eq!(p.changes[1].duplicate_of, Some(5));
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let cases = [
            ("a 2026-01-01T00:00:00Z\n", "sqitch.plan:5: Missing planner name and email"),
            ("a A <a@x>\n", "sqitch.plan:5: Missing timestamp"),
            ("a\n", "sqitch.plan:5: Missing timestamp and planner name and email"),
            ("\n-a- 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:6: Invalid name;"),
            ("a b 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: Invalid name;"),
            ("a. A <a@x>\n", "sqitch.plan:5: Missing timestamp"),
            // The name regex takes `w[a` first, and the planner swallows the rest (Sqitch too).
            ("w[a]2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: Invalid name;"),
            ("a€ 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: Invalid name;"),
            ("x~1 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: Invalid name;"),
            ("#\n", "sqitch.plan:5: Invalid name;"),
            ("@v1 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: Tag \"v1\" declared without a preceding change"),
            ("HEAD 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: \"HEAD\" is a reserved name"),
            ("a 2026-01-01T00:00:00Z A <a@x>\n@ROOT 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:6: \"@ROOT\" is a reserved name"),
            ("0123456789abcdef0123456789abcdef01234567 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: \"0123456789abcdef0123456789abcdef01234567\" is invalid because it could be confused with a SHA1 ID"),
            ("a 2026-01-01T00:00:00Z A <a@x>\n@v1 2026-01-01T00:00:00Z A <a@x>\n@v1 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:7: Tag \"v1\" duplicates earlier declaration on line 6"),
            ("a 2026-01-01T00:00:00Z A <a@x>\n@v1 [a] 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:6: Tags may not specify dependencies"),
            ("a 2026-01-01T00:00:00Z A <a@x>\n@v/a 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:6: Tag \"v/a\" contains illegal character /"),
            ("a [b b] 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: Duplicate dependency \"b\""),
            ("a [b@] 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: \"b@\" is not a valid dependency specification"),
            ("a [ b] 2026-01-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: \"\" is not a valid dependency specification"),
            ("a 2026-13-01T00:00:00Z A <a@x>\n", "sqitch.plan:5: invalid timestamp"),
        ];
        for (body, want) in cases {
            let got = error(body);
            assert!(got.starts_with(want), "{body:?}: {got}");
        }
    }

    #[test]
    fn header_errors() {
        let p = |t: &str| parse(Path::new("sqitch.plan"), t).unwrap_err().to_string();
        assert_eq!(
            p("%project=x\na 2026-01-01T00:00:00Z A <a@x>\n"),
            "sqitch.plan:2: Invalid pragma; a blank line must come between pragmas and changes"
        );
        assert_eq!(
            p("%syntax-version=1.0.0\n\na 2026-01-01T00:00:00Z A <a@x>\n"),
            "sqitch.plan: Missing %project pragma in sqitch.plan"
        );
        assert!(p("%project=a:b\n").starts_with("sqitch.plan:1: invalid project name \"a:b\""));
        // Comment lines stay in the header; pragmas may have blanks and notes.
        let ok = parse(
            Path::new("sqitch.plan"),
            "# hello\n % project = x # note\n%foo\n\na 2026-01-01T00:00:00Z A <a@x>",
        )
        .unwrap();
        assert_eq!(ok.project, "x");
        assert_eq!(ok.pragmas[1], ("foo".to_string(), "1".to_string()));
        assert_eq!(ok.changes[0].line, 5);
        // Perl's truth: a header comment "# 0" ends the header, as Sqitch 1.3.1 does.
        let zero = parse(
            Path::new("p"),
            "%project=x\n# 0\na 2026-01-01T00:00:00Z A <a@x>",
        )
        .unwrap();
        assert_eq!(zero.changes[0].line, 3);
    }
}
