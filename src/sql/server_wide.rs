//! Statements whose effect reaches beyond the database they run in: other databases, roles
//! and users, the server's configuration. On a shared server (`--provider url`) migcheck
//! refuses to send them; the lint reports them as `server-wide-statement`.
//!
//! Recognised by the statement's leading keywords (after comments), so that lint and the
//! url-provider guard agree on the same text, whatever the parser makes of the rest.

use crate::engine::Dialect;

/// What a server-wide statement does, in words (`"DROP DATABASE"`), or `None`.
pub fn server_wide(sql: &str, dialect: Dialect) -> Option<String> {
    let words = leading_words(sql, 4);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let hit = |n: usize| Some(w[..n.min(w.len())].join(" "));
    match w.as_slice() {
        // A user mapping belongs to a foreign server of this database (its CREATE SERVER is
        // what reaches out).
        ["CREATE" | "DROP" | "ALTER", "USER", "MAPPING", ..] if dialect == Dialect::Postgres => {
            None
        }
        // MySQL's `ALTER DATABASE CHARACTER SET …` without a name changes the current one.
        ["ALTER", "DATABASE" | "SCHEMA", option, ..]
            if dialect == Dialect::Mysql
                && matches!(
                    *option,
                    "CHARACTER"
                        | "CHARSET"
                        | "COLLATE"
                        | "DEFAULT"
                        | "COMMENT"
                        | "READ"
                        | "ENCRYPTION"
                ) =>
        {
            None
        }
        ["CREATE" | "DROP" | "ALTER", "DATABASE", ..] => hit(2),
        ["ALTER", "SYSTEM", ..] => hit(2),
        ["CREATE" | "DROP" | "ALTER", "ROLE" | "USER" | "TABLESPACE", ..] => hit(2),
        ["CREATE" | "DROP", "SCHEMA", ..] if dialect == Dialect::Mysql => {
            // MySQL's SCHEMA is a synonym of DATABASE.
            Some(format!("{} SCHEMA (a database on MySQL/MariaDB)", w[0]))
        }
        ["RENAME", "USER", ..] | ["SET", "PASSWORD", ..] | ["GRANT" | "REVOKE", "PROXY", ..]
            if dialect == Dialect::Mysql =>
        {
            hit(2)
        }
        ["USE", ..] if dialect == Dialect::Mysql => {
            Some("USE (switches to another database)".into())
        }
        ["CREATE", "SERVER", ..] if dialect == Dialect::Postgres => {
            Some("CREATE SERVER (a foreign server: another database)".into())
        }
        _ if dialect == Dialect::Postgres && calls_dblink(sql) => {
            Some("dblink (a connection to another database)".into())
        }
        _ => None,
    }
}

/// The first `n` words of the statement, upper-cased, skipping comments and blanks.
fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = sql;
    while out.len() < n {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--").or_else(|| rest.strip_prefix('#')) {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
            continue;
        }
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after);
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(rest[..end].to_ascii_uppercase());
        rest = &rest[end..];
    }
    out
}

/// `dblink(...)`, `dblink_exec(...)`, `dblink_connect(...)` called anywhere in the statement.
fn calls_dblink(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("dblink") {
        let start = from + i;
        let before_ok = start == 0 || {
            let b = lower.as_bytes()[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'_')
        };
        let name_end = lower[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(lower.len(), |e| start + e);
        let name = &lower[start..name_end];
        let call = lower[name_end..].trim_start().starts_with('(');
        if before_ok
            && call
            && matches!(
                name,
                "dblink"
                    | "dblink_exec"
                    | "dblink_connect"
                    | "dblink_connect_u"
                    | "dblink_send_query"
            )
        {
            return true;
        }
        from = name_end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_server_wide_statements() {
        for (sql, dialect, want) in [
            ("DROP DATABASE sentinel", Dialect::Postgres, "DROP DATABASE"),
            (
                "-- no-transaction\nalter database sentinel rename to x",
                Dialect::Postgres,
                "ALTER DATABASE",
            ),
            (
                "ALTER SYSTEM SET work_mem = '1GB'",
                Dialect::Postgres,
                "ALTER SYSTEM",
            ),
            (
                "/* c */ CREATE ROLE app LOGIN",
                Dialect::Postgres,
                "CREATE ROLE",
            ),
            (
                "create user app identified by 'x'",
                Dialect::Mysql,
                "CREATE USER",
            ),
            (
                "DROP SCHEMA other",
                Dialect::Mysql,
                "DROP SCHEMA (a database on MySQL/MariaDB)",
            ),
            (
                "USE sentinel",
                Dialect::Mysql,
                "USE (switches to another database)",
            ),
            (
                "SELECT dblink_exec('dbname=sentinel', 'DELETE FROM keep')",
                Dialect::Postgres,
                "dblink (a connection to another database)",
            ),
            (
                "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw",
                Dialect::Postgres,
                "CREATE SERVER (a foreign server: another database)",
            ),
        ] {
            assert_eq!(server_wide(sql, dialect).as_deref(), Some(want), "{sql}");
        }
    }

    #[test]
    fn leaves_database_local_statements_alone() {
        for (sql, dialect) in [
            ("CREATE SCHEMA app", Dialect::Postgres),
            ("DROP SCHEMA app CASCADE", Dialect::Postgres),
            ("CREATE TABLE databases (id int)", Dialect::Postgres),
            ("CREATE EXTENSION dblink", Dialect::Postgres),
            (
                "SELECT * FROM users WHERE role = 'admin'",
                Dialect::Postgres,
            ),
            (
                "ALTER TABLE users ADD COLUMN dblink_url text",
                Dialect::Postgres,
            ),
            ("GRANT SELECT ON t TO app", Dialect::Postgres),
            ("USE INDEX", Dialect::Postgres),
            ("CREATE USER MAPPING FOR app SERVER s", Dialect::Postgres),
            ("ALTER DATABASE CHARACTER SET utf8mb4", Dialect::Mysql),
            (
                "ALTER SCHEMA DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
                Dialect::Mysql,
            ),
        ] {
            assert_eq!(server_wide(sql, dialect), None, "{sql}");
        }
    }
}
