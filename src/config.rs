//! `migcheck.toml`: the one place that knows the file's layout, its top-level tables and every
//! key in them. The sections are parsed by their own modules (`[verify]` by
//! `crate::verify_config`, `[lint]` by `crate::lint::config`, which the history rules share);
//! both call [`check`] first, so a key that no parser reads is an error naming the file and
//! line (`path:line: unknown key ...`) instead of being silently ignored. `migcheck init`
//! writes its template from the same layout (`crate::init`).

use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::error::{Error, Result};

/// The config file's name: found at or above the migrations folder, or given with `--config`.
pub const FILE_NAME: &str = "migcheck.toml";

/// One key of `migcheck.toml`, with what the template and the README say about it.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub item: Item,
    /// The value's type, as the README's reference table names it.
    pub ty: &'static str,
    /// What a file without the key means, as TOML text (`"error"`, `[]`, `false`): the template
    /// shows it commented out. Empty when the key has no default (unset means "not given").
    pub default: &'static str,
    /// For a key without a default, an example value; for an id table, an example entry.
    pub example: &'static str,
    /// One line: what the key does.
    pub doc: &'static str,
}

/// What a key holds.
#[derive(Debug, Clone, Copy)]
pub enum Item {
    /// A string, number, boolean or array; the section's parser checks its type and value.
    Value,
    /// A table whose keys are these.
    Table(&'static [Key]),
    /// A table keyed by ids (rule ids): `what` names one in messages (`rule id`), `ids` lists
    /// them, `listed` says where to find them when no id is close to an unknown one.
    Ids {
        what: &'static str,
        ids: fn() -> Vec<&'static str>,
        listed: fn() -> String,
    },
    /// An array of tables (`[[chain]]`) whose keys are these.
    Tables(&'static [Key]),
}

impl Key {
    /// True for a table (with known keys or keyed by ids).
    pub fn is_table(&self) -> bool {
        matches!(
            self.item,
            Item::Table(_) | Item::Tables(_) | Item::Ids { .. }
        )
    }

    pub const fn value(
        name: &'static str,
        ty: &'static str,
        default: &'static str,
        doc: &'static str,
    ) -> Key {
        Key {
            name,
            item: Item::Value,
            ty,
            default,
            example: "",
            doc,
        }
    }
}

/// The top-level tables. Every reader of `migcheck.toml` takes its section from here.
pub const LAYOUT: &[Key] = &[
    Key {
        name: "verify",
        item: Item::Table(crate::verify_config::KEYS),
        ty: "table",
        default: "",
        example: "",
        doc: "how `migcheck verify` (and `migcheck snapshot`) compares schemas and prepares its sessions",
    },
    Key {
        name: "lint",
        item: Item::Table(crate::lint::config::KEYS),
        ty: "table",
        default: "",
        example: "",
        doc: "the unsafe-operation lint and the history rules, in `migcheck lint` and `migcheck verify`",
    },
    Key {
        name: "chain",
        item: Item::Tables(crate::chain::targets::KEYS),
        ty: "array of tables",
        default: "",
        example: "",
        doc: "the chains `migcheck verify` with no path verifies, one entry each (a monorepo)",
    },
];

/// The keys of a top-level table of [`LAYOUT`] (`verify`, `lint`).
pub fn section(name: &str) -> &'static [Key] {
    LAYOUT
        .iter()
        .find_map(|k| match k.item {
            Item::Table(keys) if k.name == name => Some(keys),
            _ => None,
        })
        .unwrap_or(&[])
}

/// Check `text` (the contents of the config file at `path`) against [`LAYOUT`]: a syntax error,
/// an unknown table or key at any level, or a value where a table belongs is bad
/// input naming the file and the line. Values are left to the sections' parsers.
pub fn check(text: &str, path: &Path) -> Result<()> {
    let doc = DeTable::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        Error::input(path, line, format!("invalid config: {}", e.message()))
    })?;
    walk(doc.get_ref(), LAYOUT, &[])
        .map_err(|(at, message)| Error::input(path, Some(line_of(text, at)), message))
}

/// The first problem in file order: (byte offset, message).
fn walk(
    table: &DeTable<'_>,
    keys: &[Key],
    at: &[&str],
) -> std::result::Result<(), (usize, String)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in entries {
        let name: &str = key.get_ref();
        let start = key.span().start;
        let mut path = at.to_vec();
        path.push(name);
        let Some(known) = keys.iter().find(|k| k.name == name) else {
            return Err((start, unknown(name, value.get_ref(), keys, at)));
        };
        let sub = value.get_ref().as_table();
        match (known.item, sub) {
            (Item::Value, _) => {}
            (Item::Table(inner), Some(t)) => walk(t, inner, &path)?,
            (Item::Tables(inner), _) => {
                let Some(array) = value.get_ref().as_array() else {
                    return Err((
                        start,
                        format!("`{name}` must be an array of tables ([[{name}]] entries)"),
                    ));
                };
                for entry in array.iter() {
                    match entry.get_ref().as_table() {
                        Some(t) => walk(t, inner, &path)?,
                        None => {
                            return Err((
                                entry.span().start,
                                format!("each `{name}` entry must be a table ([[{name}]])"),
                            ))
                        }
                    }
                }
            }
            (Item::Ids { what, ids, listed }, Some(t)) => {
                let ids = ids();
                let mut entries: Vec<_> = t.iter().collect();
                entries.sort_by_key(|(k, _)| k.span().start);
                for (id, _) in entries {
                    let id_name: &str = id.get_ref();
                    if !ids.contains(&id_name) {
                        let hint = match closest(id_name, ids.iter().copied()) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => listed(),
                        };
                        return Err((
                            id.span().start,
                            format!(
                                "unknown key `{id_name}` in {}: not a {what} ({hint})",
                                header(&path)
                            ),
                        ));
                    }
                }
            }
            (Item::Table(_) | Item::Ids { .. }, None) => {
                return Err((
                    start,
                    format!(
                        "`{name}` must be a table ({}), not a {}",
                        header(&path),
                        value.get_ref().type_str()
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn unknown(name: &str, value: &DeValue<'_>, keys: &[Key], at: &[&str]) -> String {
    let show = |n: &str, table: bool| {
        let mut p = at.to_vec();
        p.push(n);
        if table {
            header(&p)
        } else {
            format!("`{n}`")
        }
    };
    let candidates = keys.iter();
    let what = if value.is_table() { "table" } else { "key" };
    let here = if at.is_empty() {
        String::new()
    } else {
        format!(" in {}", header(at))
    };
    let hint = if let Some(c) = closest(name, candidates.clone().map(|k| k.name)) {
        let table = keys.iter().any(|k| k.name == c && k.is_table());
        format!("did you mean {}?", show(c, table))
    } else if let Some(owner) = at
        .is_empty()
        .then(|| {
            LAYOUT
                .iter()
                .find(|s| section(s.name).iter().any(|k| k.name == name))
        })
        .flatten()
    {
        format!("it belongs in [{}]", owner.name)
    } else {
        let all: Vec<String> = candidates.map(|k| show(k.name, k.is_table())).collect();
        if at.is_empty() {
            format!("{FILE_NAME} has the tables {}", all.join(", "))
        } else {
            format!("the keys are {}", all.join(", "))
        }
    };
    format!(
        "unknown {what} {}{here} ({hint})",
        show(name, value.is_table())
    )
}

/// `[lint.severity]`.
/// `[lint.severity]`; `[[chain]]` for an array of tables.
fn header(path: &[&str]) -> String {
    let array = path.len() == 1
        && LAYOUT
            .iter()
            .any(|k| k.name == path[0] && matches!(k.item, Item::Tables(_)));
    if array {
        format!("[[{}]]", path[0])
    } else {
        format!("[{}]", path.join("."))
    }
}

/// The known name nearest to `name`, when it is near enough to be a misspelling: equal but for
/// case or `_` against `-`, or a few edits away (at most one per three characters).
pub fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let wanted = norm(name);
    known
        .map(|k| (edit_distance(&wanted, &norm(k)), k))
        .filter(|(d, k)| *d <= (wanted.chars().count().max(k.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The field names a serde struct accepts (after `rename_all`), read from its `Deserialize`
/// impl: tests compare them with the layout, so a field added to a parser without a [`Key`]
/// (which would then be rejected as unknown) fails a test.
#[cfg(test)]
pub(crate) fn serde_fields<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    struct Fields(&'static [&'static str]);
    #[derive(Debug)]
    struct Done;
    impl std::fmt::Display for Done {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("not a struct")
        }
    }
    impl std::error::Error for Done {}
    impl de::Error for Done {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Done
        }
    }
    impl<'de> de::Deserializer<'de> for &mut Fields {
        type Error = Done;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Done> {
            Err(Done)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> std::result::Result<V::Value, Done> {
            self.0 = fields;
            Err(Done)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields = Fields(&[]);
    let _ = T::deserialize(&mut fields);
    fields.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> std::result::Result<(), String> {
        super::check(text, Path::new("cfg/migcheck.toml")).map_err(|e| {
            assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT, "{e}");
            e.to_string()
        })
    }

    #[test]
    fn a_misspelled_top_level_table_is_an_error_with_a_hint() {
        let e =
            check("[verify]\ncosmetic = \"note\"\n\n[lnt]\nfail-on = \"warning\"\n").unwrap_err();
        assert_eq!(
            e,
            "cfg/migcheck.toml:4: unknown table [lnt] (did you mean [lint]?)"
        );
        let e = check("[Verify]\n").unwrap_err();
        assert!(e.ends_with("(did you mean [verify]?)"), "{e}");
    }

    #[test]
    fn an_unknown_top_level_table_without_a_close_name_lists_the_tables() {
        let e = check("# comment\n[database]\nurl = \"x\"\n").unwrap_err();
        assert_eq!(
            e,
            "cfg/migcheck.toml:2: unknown table [database] (migcheck.toml has the tables [verify], [lint], [[chain]])"
        );
        // A key outside any table is unknown too.
        let e = check("fail-on = \"warning\"\n[lint]\n").unwrap_err();
        assert_eq!(
            e,
            "cfg/migcheck.toml:1: unknown key `fail-on` (it belongs in [lint])"
        );
        let e = check("x = 1\n").unwrap_err();
        assert!(
            e.ends_with("(migcheck.toml has the tables [verify], [lint], [[chain]])"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_in_a_section_name_the_section_and_the_close_key() {
        let e = check("[lint]\nfail-on = \"error\"\nfail_on = \"warning\"\n").unwrap_err();
        assert_eq!(
            e,
            "cfg/migcheck.toml:3: unknown key `fail_on` in [lint] (did you mean `fail-on`?)"
        );
        let e = check("[verify]\n\nsesion-sql = []\n").unwrap_err();
        assert_eq!(
            e,
            "cfg/migcheck.toml:3: unknown key `sesion-sql` in [verify] (did you mean `session-sql`?)"
        );
        let e = check("[verify]\nx = 1\n").unwrap_err();
        assert!(e.starts_with("cfg/migcheck.toml:2: unknown key `x` in [verify] (the keys are `session-sql`, `cosmetic`, [verify.cosmetic-rules])"), "{e}");
        // Dotted keys are keys of the same tables.
        let e = check("lint.fial-on = \"error\"\n").unwrap_err();
        assert!(
            e.starts_with(
                "cfg/migcheck.toml:1: unknown key `fial-on` in [lint] (did you mean `fail-on`?)"
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_subtables_are_errors() {
        let e = check("[lint]\n[lint.severty]\ndrop-column = \"warning\"\n").unwrap_err();
        assert_eq!(
            e,
            "cfg/migcheck.toml:2: unknown table [lint.severty] in [lint] (did you mean [lint.severity]?)"
        );
        let e = check("[verify.cosmetic_rules]\n").unwrap_err();
        assert!(e.contains("did you mean [verify.cosmetic-rules]?"), "{e}");
        let e = check("[lint.x.y]\n").unwrap_err();
        assert!(
            e.starts_with("cfg/migcheck.toml:1: unknown table [lint.x] in [lint]"),
            "{e}"
        );
    }

    #[test]
    fn unknown_ids_in_id_tables_are_errors() {
        let e = check("[lint.severity]\ndrop-column = \"warning\"\ndrop-tabel = \"info\"\n")
            .unwrap_err();
        assert_eq!(
            e,
            "cfg/migcheck.toml:3: unknown key `drop-tabel` in [lint.severity]: not a rule id (did you mean `drop-table`?)"
        );
        let e = check("[lint.severity]\nnothing-like-it = \"info\"\n").unwrap_err();
        assert!(
            e.ends_with("not a rule id (`migcheck rules` lists them)"),
            "{e}"
        );
        let e = check("[verify.cosmetic-rules]\ncolumn-ordre = \"fail\"\n").unwrap_err();
        assert!(
            e.ends_with("not a cosmetic rule (did you mean `column-order`?)"),
            "{e}"
        );
        let e = check("[verify.cosmetic-rules]\nnope = \"fail\"\n").unwrap_err();
        assert!(
            e.ends_with(
                "(the cosmetic rules are column-order, routine-formatting, view-column-order)"
            ),
            "{e}"
        );
        // History rules are configured in [lint.severity] too.
        check("[lint.severity]\nreleased-migration-edited = \"warning\"\n").unwrap();
    }

    #[test]
    fn tables_and_values_in_the_wrong_place_are_errors() {
        let e = check("lint = 1\n").unwrap_err();
        assert_eq!(
            e,
            "cfg/migcheck.toml:1: `lint` must be a table ([lint]), not a integer"
        );
        let e = check("[[verify]]\n").unwrap_err();
        assert!(
            e.contains("`verify` must be a table ([verify]), not a array"),
            "{e}"
        );
        let e = check("[lint]\nseverity = \"warning\"\n").unwrap_err();
        assert!(
            e.starts_with("cfg/migcheck.toml:2: `severity` must be a table ([lint.severity])"),
            "{e}"
        );
    }

    #[test]
    fn the_first_problem_in_file_order_is_reported() {
        // Keys are stored sorted; the error is still the first one in the file.
        let e = check("[lint]\nzzz = 1\naaa = 2\n").unwrap_err();
        assert!(
            e.starts_with("cfg/migcheck.toml:2: unknown key `zzz`"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = check("[lint]\nfail-on = \n").unwrap_err();
        assert!(
            e.starts_with("cfg/migcheck.toml:2: invalid config: "),
            "{e}"
        );
        let e = check("[lint]\n[lint]\n").unwrap_err();
        assert!(
            e.starts_with("cfg/migcheck.toml:2: invalid config: "),
            "{e}"
        );
    }

    #[test]
    fn chain_entries_are_checked_like_tables() {
        check("[[chain]]\npath = \"db/migrations\"\n\n[[chain]]\nname = \"x\"\npath = \"o\"\n")
            .unwrap();
        let e = check("[[chain]]\npath = \"a\"\nanything = 1\n").unwrap_err();
        assert!(e.contains(":3: unknown key `anything` in [[chain]]"), "{e}");
        let e = check("[[chain]]\npath = \"a\"\nformt = \"goose\"\n").unwrap_err();
        assert!(e.contains("did you mean `format`?"), "{e}");
        let e = check("chain = 1\n").unwrap_err();
        assert!(e.contains("must be an array of tables"), "{e}");
    }

    #[test]
    fn known_files_pass() {
        check("").unwrap();
        check("# only a comment\n").unwrap();
        check("[verify]\nsession-sql = [\"SET x = 1\"]\ncosmetic = \"fail\"\n[verify.cosmetic-rules]\nroutine-formatting = \"note\"\n[lint]\nfail-on = \"warning\"\nengine = \"mysql\"\npg-version = 13\nmysql-version = \"8.0\"\ndowns = true\ntime-zone = \"UTC\"\nenable = [\"prefer-jsonb\"]\ndisable = [\"rename-column\"]\n[lint.severity]\ndrop-column = \"warning\"\n").unwrap();
        // Inline tables are tables.
        check("lint = { fail-on = \"info\", severity = { drop-column = \"info\" } }\n").unwrap();
    }

    #[test]
    fn near_names() {
        let known = ["verify", "lint"];
        assert_eq!(closest("lnt", known.into_iter()), Some("lint"));
        assert_eq!(closest("LINT", known.into_iter()), Some("lint"));
        assert_eq!(closest("verfiy", known.into_iter()), Some("verify"));
        assert_eq!(closest("x", known.into_iter()), None);
        assert_eq!(closest("database", known.into_iter()), None);
        assert_eq!(edit_distance("drop-tabel", "drop-table"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn the_readme_reference_table_names_every_key() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let start = readme
            .find("## Configuration (`migcheck.toml`)")
            .expect("the README's configuration section");
        let section = &readme[start..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
        for table in LAYOUT {
            let keys = match table.item {
                Item::Table(keys) => keys,
                Item::Tables(keys) => {
                    for key in keys {
                        let row =
                            format!("| `[[{}]]` | `{}` | {} | ", table.name, key.name, key.ty);
                        assert!(section.contains(&row), "README lacks the row {row}");
                    }
                    continue;
                }
                _ => continue,
            };
            for key in keys {
                let row = match key.item {
                    Item::Ids { .. } => format!("| `[{}.{}]` | ", table.name, key.name),
                    _ => format!("| `[{}]` | `{}` | {} | ", table.name, key.name, key.ty),
                };
                assert!(section.contains(&row), "README lacks the row {row}");
            }
        }
    }

    #[test]
    fn every_section_has_keys() {
        assert!(!section("verify").is_empty());
        assert!(!section("lint").is_empty());
        // `[[chain]]` entries are an array of tables, not a section.
        assert!(section("chain").is_empty());
    }
}
