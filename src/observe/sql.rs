//! What a statement's text says, for the recorder and `crate::apply`: whether it steers the
//! transaction or drops the session's prepared statements, and its one-line excerpt for
//! findings.

/// Whether `sql` drops the session's prepared statements (`DISCARD ALL`, `DEALLOCATE`), so
/// that the connection must forget the ones it prepared.
pub(crate) fn forgets_prepared(sql: &str) -> bool {
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(';')
        .to_ascii_uppercase();
    matches!(first.as_str(), "DISCARD" | "DEALLOCATE")
}

/// BEGIN, COMMIT, ROLLBACK, SAVEPOINT...: statements that only steer the transaction.
pub(crate) fn is_transaction_control(sql: &str) -> bool {
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(';')
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE"
    ) || sql
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_uppercase)
        .eq(["PREPARE", "TRANSACTION"])
}

/// Whether a statement opens (`Some(true)`) or closes (`Some(false)`) a transaction block.
pub(crate) fn transaction_effect(sql: &str) -> Option<bool> {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(2)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    match words.first().map(String::as_str) {
        Some("BEGIN") => Some(true),
        Some("START") if words.get(1).is_some_and(|w| w == "TRANSACTION") => Some(true),
        Some("COMMIT" | "END" | "ABORT") => Some(false),
        Some("ROLLBACK") if words.get(1).is_none_or(|w| w != "TO") => Some(false),
        Some("PREPARE") if words.get(1).is_some_and(|w| w == "TRANSACTION") => Some(false),
        _ => None,
    }
}

/// The statement on one line, whitespace collapsed, at most 120 characters.
pub(super) fn excerpt(sql: &str) -> String {
    let one: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 120 {
        let cut: String = one.chars().take(117).collect();
        format!("{cut}...")
    } else {
        one
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_statements() {
        assert_eq!(transaction_effect("BEGIN"), Some(true));
        assert_eq!(transaction_effect("start transaction;"), Some(true));
        assert_eq!(transaction_effect("COMMIT"), Some(false));
        assert_eq!(transaction_effect("ROLLBACK TO SAVEPOINT a"), None);
        assert_eq!(transaction_effect("ROLLBACK"), Some(false));
        assert_eq!(transaction_effect("CREATE TABLE begin (a int)"), None);
        assert!(is_transaction_control("commit;"));
        assert!(!is_transaction_control("UPDATE t SET a = 1"));
    }
}
