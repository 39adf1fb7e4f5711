//! Column types seen so far in the chain, so that type changes can be judged against the old
//! type (binary-coercible on Postgres, in-place on MySQL) instead of always being flagged.

use std::collections::HashMap;

use super::model::{AddColumn, Op};

#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// table key -> column key -> lower-case type
    tables: HashMap<String, HashMap<String, String>>,
}

impl Schema {
    pub fn column_type(&self, table: &str, column: &str) -> Option<&str> {
        self.tables.get(table)?.get(column).map(String::as_str)
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::CreateTable { table, columns } => {
                self.tables
                    .insert(table.key.clone(), columns.iter().cloned().collect());
            }
            Op::AddColumn(AddColumn {
                table,
                column,
                data_type,
                ..
            }) => {
                self.tables
                    .entry(table.key.clone())
                    .or_default()
                    .insert(column.key.clone(), data_type.clone());
            }
            Op::AlterType {
                table,
                column,
                new_type,
                ..
            } => {
                self.tables
                    .entry(table.key.clone())
                    .or_default()
                    .insert(column.key.clone(), new_type.clone());
            }
            Op::DropColumn { table, column } => {
                if let Some(t) = self.tables.get_mut(&table.key) {
                    t.remove(&column.key);
                }
            }
            Op::RenameColumn { table, from, to } => {
                if let Some(t) = self.tables.get_mut(&table.key) {
                    if let Some(ty) = t.remove(&from.key) {
                        t.insert(super::model::Name::new(to.clone(), None).key, ty);
                    }
                }
            }
            Op::RenameTable { from, to } => {
                if let Some(t) = self.tables.remove(&from.key) {
                    self.tables
                        .insert(super::model::Name::new(to.clone(), None).key, t);
                }
            }
            Op::DropTable { tables } => {
                for t in tables {
                    self.tables.remove(&t.key);
                }
            }
            _ => {}
        }
    }
}

/// `varchar(20)` -> ("varchar", [20]); `numeric(10, 2)` -> ("numeric", [10, 2]).
fn split_type(t: &str) -> (String, Vec<u64>) {
    let t = t.trim();
    match t.split_once('(') {
        Some((base, rest)) => {
            let args = rest
                .trim_end_matches(')')
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            (base.trim().to_string(), args)
        }
        None => (t.to_string(), Vec::new()),
    }
}

fn pg_canonical(base: &str) -> &str {
    match base {
        "character varying" => "varchar",
        "int" | "int4" => "integer",
        "int8" => "bigint",
        "int2" => "smallint",
        "decimal" => "numeric",
        "bool" => "boolean",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        other => other,
    }
}

/// Whether Postgres changes `old` to `new` without rewriting the table (binary-coercible and
/// no stricter constraint): varchar growth or to text, numeric precision growth, same type.
pub fn pg_type_change_is_free(old: &str, new: &str) -> bool {
    let (ob, oa) = split_type(old);
    let (nb, na) = split_type(new);
    let (ob, nb) = (pg_canonical(&ob), pg_canonical(&nb));
    if ob == nb && oa == na {
        return true;
    }
    match (ob, nb) {
        ("varchar", "varchar") => na.is_empty() || (!oa.is_empty() && na[0] >= oa[0]),
        ("varchar" | "text", "text") | ("text", "varchar") => na.is_empty(),
        ("numeric", "numeric") => {
            na.is_empty()
                || (oa.len() == na.len()
                    && !oa.is_empty()
                    && na[0] >= oa[0]
                    && oa.get(1) == na.get(1))
        }
        ("varbit" | "bit varying", "varbit" | "bit varying") => {
            na.is_empty() || (!oa.is_empty() && na[0] >= oa[0])
        }
        // Fractional-second precision growth (no precision means the maximum, 6).
        ("timestamp", "timestamp")
        | ("timestamptz", "timestamptz")
        | ("time", "time")
        | ("timetz", "timetz")
        | ("interval", "interval") => na.is_empty() || (!oa.is_empty() && na[0] >= oa[0]),
        ("cidr", "inet") => true,
        _ => false,
    }
}

/// Whether Postgres changes `old` to `new` in place, knowing the server's major version and the
/// session `TimeZone`: on 12+ a `timestamp` <-> `timestamptz` change under a zero-offset zone
/// (UTC and its aliases) reinterprets no value, so the server skips the rewrite.
pub fn pg_type_change_is_free_on(old: &str, new: &str, pg_major: u32, time_zone: &str) -> bool {
    if pg_type_change_is_free(old, new) {
        return true;
    }
    let (ob, oa) = split_type(old);
    let (nb, na) = split_type(new);
    let zone_swap = matches!(
        (pg_canonical(&ob), pg_canonical(&nb)),
        ("timestamp", "timestamptz") | ("timestamptz", "timestamp")
    );
    let precision_kept = na.is_empty() || (!oa.is_empty() && na[0] >= oa[0]);
    zone_swap && precision_kept && pg_major >= 12 && is_utc(time_zone)
}

/// Time zone names PostgreSQL resolves to a zone with a zero offset at all times.
pub fn is_utc(zone: &str) -> bool {
    let z = zone.trim().trim_matches('\'').to_ascii_lowercase();
    let z = z.strip_prefix("etc/").unwrap_or(&z);
    matches!(
        z,
        "utc"
            | "uct"
            | "gmt"
            | "gmt0"
            | "gmt+0"
            | "gmt-0"
            | "zulu"
            | "universal"
            | "greenwich"
            | "z"
            | "+00"
            | "0"
    )
}

/// Bytes per character assumed for MySQL string columns (utf8mb4, the default since 8.0).
const MYSQL_BYTES_PER_CHAR: u64 = 4;

/// Whether MySQL/MariaDB can apply `old` -> `new` in place or instantly: same type, varchar
/// growth that keeps the length prefix size (both under 256 bytes or both at/over it),
/// ENUM/SET members appended at the end.
pub fn mysql_type_change_is_inplace(old: &str, new: &str) -> bool {
    let norm = |t: &str| t.replace(' ', "");
    if norm(old) == norm(new) {
        return true;
    }
    let (ob, oa) = split_type(old);
    let (nb, na) = split_type(new);
    let ob = if ob == "character varying" {
        "varchar".into()
    } else {
        ob
    };
    let nb = if nb == "character varying" {
        "varchar".into()
    } else {
        nb
    };
    if ob == "varchar" && nb == "varchar" {
        if let (Some(&o), Some(&n)) = (oa.first(), na.first()) {
            let (ob_, nb_) = (o * MYSQL_BYTES_PER_CHAR, n * MYSQL_BYTES_PER_CHAR);
            return n >= o && ((ob_ < 256) == (nb_ < 256));
        }
        return false;
    }
    let members = |t: &str| -> Option<(String, Vec<String>)> {
        let (base, rest) = t.split_once('(')?;
        let list = rest.trim_end().strip_suffix(')')?;
        Some((
            base.trim().to_string(),
            list.split(',').map(|m| m.trim().to_string()).collect(),
        ))
    };
    if let (Some((ob, om)), Some((nb, nm))) = (members(old), members(new)) {
        if (ob == "enum" || ob == "set") && ob == nb {
            return nm.len() >= om.len() && nm[..om.len()] == om[..];
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_coercible() {
        assert!(pg_type_change_is_free("varchar(20)", "varchar(40)"));
        assert!(pg_type_change_is_free("character varying(20)", "text"));
        assert!(pg_type_change_is_free("varchar(20)", "varchar"));
        assert!(!pg_type_change_is_free("varchar(40)", "varchar(20)"));
        assert!(pg_type_change_is_free("numeric(10,2)", "numeric(12,2)"));
        assert!(!pg_type_change_is_free("numeric(10,2)", "numeric(12,3)"));
        assert!(!pg_type_change_is_free("integer", "bigint"));
        assert!(pg_type_change_is_free("int", "integer"));
        assert!(!pg_type_change_is_free("text", "varchar(10)"));
    }

    #[test]
    fn pg_timestamp_zone_and_precision() {
        assert!(pg_type_change_is_free_on(
            "timestamp",
            "timestamptz",
            12,
            "UTC"
        ));
        assert!(pg_type_change_is_free_on(
            "timestamp without time zone",
            "timestamp with time zone",
            15,
            "Etc/UTC"
        ));
        assert!(pg_type_change_is_free_on(
            "timestamptz",
            "timestamp",
            15,
            "utc"
        ));
        assert!(!pg_type_change_is_free_on(
            "timestamp",
            "timestamptz",
            11,
            "UTC"
        ));
        assert!(!pg_type_change_is_free_on(
            "timestamp",
            "timestamptz",
            15,
            "Europe/Paris"
        ));
        assert!(!pg_type_change_is_free_on(
            "timestamp",
            "timestamptz(3)",
            15,
            "UTC"
        ));
        assert!(pg_type_change_is_free("timestamp(3)", "timestamp(6)"));
        assert!(pg_type_change_is_free("timestamptz(3)", "timestamptz"));
        assert!(!pg_type_change_is_free("timestamp", "timestamp(3)"));
    }

    #[test]
    fn mysql_inplace() {
        assert!(mysql_type_change_is_inplace("varchar(20)", "varchar(40)"));
        assert!(!mysql_type_change_is_inplace("varchar(40)", "varchar(100)"));
        assert!(mysql_type_change_is_inplace("varchar(100)", "varchar(200)"));
        assert!(mysql_type_change_is_inplace(
            "enum('a', 'b')",
            "enum('a', 'b', 'c')"
        ));
        assert!(!mysql_type_change_is_inplace(
            "enum('a', 'b')",
            "enum('c', 'a', 'b')"
        ));
        assert!(!mysql_type_change_is_inplace("int", "bigint"));
    }
}
