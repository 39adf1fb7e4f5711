//! Cosmetic rule `view-column-order`: a view over one table whose select list is the same
//! list in another order, where each order is its table's column order. That is what
//! `SELECT *` re-expanded after a column was dropped and added back at the end gives; the
//! view's columns moved exactly as the table's did, which counts like `column-order`.

use std::collections::BTreeMap;

use crate::snapshot::{SchemaObject, Snapshot};

/// The view properties this rule may excuse.
pub(super) const VIEW_ORDER_KEYS: &[&str] = &["definition", "columns"];

pub(super) fn view_order_explained(
    path: &str,
    e: &SchemaObject,
    a: &SchemaObject,
    differing: &[&String],
    expected: &Snapshot,
    actual: &Snapshot,
) -> bool {
    let is_view = path.starts_with("view ") || path.starts_with("materialized view ");
    if !is_view
        || differing.is_empty()
        || differing
            .iter()
            .any(|k| !VIEW_ORDER_KEYS.contains(&k.as_str()))
    {
        return false;
    }
    let (Some(ed), Some(ad)) = (
        e.properties.get("definition"),
        a.properties.get("definition"),
    ) else {
        return false;
    };
    let (Some(es), Some(as_)) = (select_list(ed), select_list(ad)) else {
        return false;
    };
    if squash(es.prefix) != squash(as_.prefix) || squash(es.suffix) != squash(as_.suffix) {
        return false;
    }
    let sorted = |items: &[&str]| {
        let mut v: Vec<String> = items.iter().map(|i| squash(i)).collect();
        v.sort();
        v
    };
    if sorted(&es.items) != sorted(&as_.items) {
        return false;
    }
    // The column list (PostgreSQL: name and type per line) may only be reordered too.
    fn lines(o: &SchemaObject) -> Vec<&str> {
        let mut v: Vec<&str> = o
            .properties
            .get("columns")
            .map(|c| c.lines().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }
    if lines(e) != lines(a) {
        return false;
    }
    let (Some(en), Some(an)) = (names(&es.items), names(&as_.items)) else {
        return false;
    };
    let (et, at) = (table_columns(expected), table_columns(actual));
    et.iter().any(|(table, e_cols)| {
        at.get(table)
            .is_some_and(|a_cols| follows(&en, e_cols) && follows(&an, a_cols))
    })
}

/// Every name is a column of the table, in the table's order.
fn follows(names: &[String], columns: &[&str]) -> bool {
    let ordered: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| names.iter().any(|n| n == c))
        .collect();
    ordered.len() == names.len() && ordered.iter().zip(names).all(|(c, n)| c == n)
}

/// Each table's columns in position order: `table path -> [column]`.
fn table_columns(snapshot: &Snapshot) -> BTreeMap<&str, Vec<&str>> {
    let mut by_table: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for (path, object) in &snapshot.objects {
        let Some((table, column)) = path.split_once(" > column ") else {
            continue;
        };
        let position = object
            .cosmetic
            .get("position")
            .and_then(|p| p.parse().ok())
            .unwrap_or(u64::MAX);
        by_table.entry(table).or_default().push((position, column));
    }
    by_table
        .into_iter()
        .map(|(t, mut cols)| {
            cols.sort();
            (t, cols.into_iter().map(|(_, c)| c).collect())
        })
        .collect()
}

/// The output column name of each select item: its alias, else the column it names.
fn names(items: &[&str]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|item| {
            let item = item.trim();
            let lower = item.to_ascii_lowercase();
            let name = match lower.rfind(" as ") {
                Some(p) => &item[p + 4..],
                None => item.rsplit('.').next()?,
            };
            let name = name.trim();
            let unquoted = name
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .or_else(|| name.strip_prefix('`').and_then(|n| n.strip_suffix('`')))
                .unwrap_or(name);
            let plain = unquoted
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80);
            (plain && !unquoted.is_empty()).then(|| unquoted.to_string())
        })
        .collect()
}

/// A view definition cut around its top-level select list.
#[derive(Debug, PartialEq, Eq)]
struct SelectList<'a> {
    prefix: &'a str,
    items: Vec<&'a str>,
    suffix: &'a str,
}

/// Split `definition` at its first top-level `SELECT` and the `FROM` that ends its list.
fn select_list(definition: &str) -> Option<SelectList<'_>> {
    let bytes = definition.as_bytes();
    let mut depth = 0i32;
    let mut select_end: Option<usize> = None;
    let mut item_start = 0;
    let mut items = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' | b'`' => {
                let close = definition[i + 1..].find(c as char)?;
                i += close + 2;
                continue;
            }
            b'(' => depth += 1,
            b')' => depth -= 1,
            b',' if depth == 0 && select_end.is_some() => {
                items.push(&definition[item_start..i]);
                item_start = i + 1;
            }
            _ if depth == 0 && starts_word(definition, i) => {
                let word = &definition[i..];
                if select_end.is_none() && keyword(word, "select") {
                    select_end = Some(i + 6);
                    item_start = i + 6;
                } else if select_end.is_some() && keyword(word, "from") {
                    items.push(&definition[item_start..i]);
                    return Some(SelectList {
                        prefix: &definition[..select_end?],
                        items,
                        suffix: &definition[i..],
                    });
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn starts_word(text: &str, i: usize) -> bool {
    let b = text.as_bytes();
    b[i].is_ascii_alphabetic()
        && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'.'))
}

fn keyword(text: &str, word: &str) -> bool {
    text.len() >= word.len()
        && text[..word.len()].eq_ignore_ascii_case(word)
        && text[word.len()..]
            .bytes()
            .next()
            .is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
}

/// Whitespace runs collapsed to one space, ends trimmed.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_postgres_and_mysql_select_lists() {
        let pg = select_list(" SELECT t.id,\n    t.name AS label,\n    lower((t.email)::text) AS e\n   FROM t\n  WHERE t.x = ANY (ARRAY[1, 2]);").unwrap();
        assert_eq!(pg.items.len(), 3);
        assert_eq!(names(&pg.items).unwrap(), vec!["id", "label", "e"]);
        assert!(pg.suffix.starts_with("FROM t"));
        let my = select_list(
            "select `t`.`id` AS `id`,`t`.`from_x` AS `from_x` from `t` where `t`.`a` = ','",
        )
        .unwrap();
        assert_eq!(names(&my.items).unwrap(), vec!["id", "from_x"]);
        assert_eq!(my.prefix, "select");
    }

    #[test]
    fn order_must_be_the_tables() {
        assert!(follows(&["id".into(), "b".into()], &["id", "a", "b"]));
        assert!(!follows(&["b".into(), "id".into()], &["id", "a", "b"]));
        assert!(!follows(&["id".into(), "z".into()], &["id", "a", "b"]));
    }
}
