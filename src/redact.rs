//! Connection URLs carry passwords; they leave the process only through `Redacted`.

use std::fmt;

/// A database URL whose password never appears when displayed or debug-printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The real URL, for handing to a driver. Never log this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The password in the URL, if any, as written (percent-encoded).
    pub fn password(&self) -> Option<String> {
        let u = url::Url::parse(&self.0).ok()?;
        u.password().map(str::to_string)
    }

    /// Every form in which this URL's secrets can reach a message: the URL itself, the
    /// password as written and percent-decoded (servers echo the decoded one), and the same
    /// for `?password=` style query parameters. Scrub all of them from anything printed.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.0.clone()];
        if let Ok(u) = url::Url::parse(&self.0) {
            if let Some(p) = u.password() {
                out.push(p.to_string());
                out.push(percent_decode(p));
            }
            // `password=` style parameters, as written and decoded.
            for (key, raw) in u
                .query()
                .unwrap_or("")
                .split('&')
                .filter_map(|kv| kv.split_once('='))
            {
                if is_secret_key(key) {
                    out.push(raw.to_string());
                    out.push(percent_decode(raw));
                }
            }
        }
        // Longest first, so a password that contains another secret is removed whole.
        out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        out.dedup();
        out
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.redacted())
    }
}

/// Replace the password of a URL (and `password=` query parameters) with `***`.
/// Text that does not parse as a URL is returned with any `user:pass@` part masked.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let secret = is_secret_key(&k);
                    (
                        k.into_owned(),
                        if secret {
                            "***".to_string()
                        } else {
                            v.into_owned()
                        },
                    )
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => mask_userinfo(raw),
    }
}

fn is_secret_key(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "password" | "pass" | "pwd"
    )
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Mask password literals in SQL text shown to users (lint excerpts, failing statements):
/// `IDENTIFIED BY '...'`, `PASSWORD '...'`, `PASSWORD('...')`, `PASSWORD = '...'`.
/// A migration that creates a user often holds a real credential.
pub fn redact_sql_passwords(sql: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = next_password_keyword(&lower, search) {
        let (kw_start, kw_end) = found;
        search = kw_end;
        let boundary_before = kw_start == 0 || !is_word_byte(bytes[kw_start - 1]);
        let boundary_after = kw_end >= bytes.len() || !is_word_byte(bytes[kw_end]);
        if !boundary_before || !boundary_after {
            continue;
        }
        // Skip blanks, `=`, `(` and an inner `PASSWORD` keyword (`IDENTIFIED BY PASSWORD '...'`).
        let mut i = kw_end;
        loop {
            while i < bytes.len()
                && (bytes[i].is_ascii_whitespace() || matches!(bytes[i], b'=' | b'('))
            {
                i += 1;
            }
            if lower[i..].starts_with("password") {
                i += "password".len();
                continue;
            }
            break;
        }
        let Some(&quote) = bytes.get(i) else { break };
        if !matches!(quote, b'\'' | b'"') {
            continue;
        }
        // Find the closing quote (doubled quotes and backslash escapes stay inside).
        let mut j = i + 1;
        while j < bytes.len() {
            if bytes[j] == b'\\' {
                j += 2;
                continue;
            }
            if bytes[j] == quote {
                if bytes.get(j + 1) == Some(&quote) {
                    j += 2;
                    continue;
                }
                break;
            }
            j += 1;
        }
        let close = j.min(bytes.len());
        out.push_str(&sql[copied..=i]);
        out.push_str("***");
        copied = close;
        search = close;
    }
    out.push_str(&sql[copied..]);
    out
}

fn next_password_keyword(lower: &str, from: usize) -> Option<(usize, usize)> {
    let rest = lower.get(from..)?;
    let by = rest.find("identified").map(|i| {
        let after = from + i + "identified".len();
        let tail = &lower[after..];
        let trimmed = tail.trim_start();
        if trimmed.starts_with("by") {
            let end = after + (tail.len() - trimmed.len()) + 2;
            (from + i, end)
        } else {
            (from + i, after)
        }
    });
    let pw = rest
        .find("password")
        .map(|i| (from + i, from + i + "password".len()));
    match (by, pw) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn mask_userinfo(raw: &str) -> String {
    if let (Some(scheme_end), Some(at)) = (raw.find("://"), raw.rfind('@')) {
        let userinfo = &raw[scheme_end + 3..at];
        if let Some(colon) = userinfo.find(':') {
            return format!(
                "{}{}:***{}",
                &raw[..scheme_end + 3],
                &userinfo[..colon],
                &raw[at..]
            );
        }
    }
    raw.to_string()
}

/// Remove every occurrence of the given secrets from a message (server errors can echo them).
pub fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(*s, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_masked() {
        let u = SecretUrl::new("postgres://alice:s3cret@db:5432/app?sslmode=require");
        assert_eq!(
            u.to_string(),
            "postgres://alice:***@db:5432/app?sslmode=require"
        );
        assert!(!format!("{u:?}").contains("s3cret"));
    }

    #[test]
    fn query_password_is_masked() {
        assert_eq!(
            redact_url("mysql://root@h/db?password=hunter22"),
            "mysql://root@h/db?password=***"
        );
    }

    #[test]
    fn unparsable_url_still_masked() {
        assert_eq!(mask_userinfo("pg://a:b c@h"), "pg://a:***@h");
    }

    #[test]
    fn secrets_cover_encoded_decoded_and_query_forms() {
        let u = SecretUrl::new("postgres://alice:p%40ss%2Fw%23rd@db/app");
        let s = u.secrets();
        assert!(s.contains(&"p%40ss%2Fw%23rd".to_string()), "{s:?}");
        assert!(s.contains(&"p@ss/w#rd".to_string()), "{s:?}");
        let q = SecretUrl::new("mysql://root@db/app?password=hunter%2B22&ssl-mode=required");
        let s = q.secrets();
        assert!(s.contains(&"hunter+22".to_string()), "{s:?}");
        assert!(s.contains(&"hunter%2B22".to_string()), "{s:?}");
        let msg = "Access denied for user 'root' (using password hunter+22)";
        let refs: Vec<&str> = s.iter().map(String::as_str).collect();
        assert!(!scrub(msg, &refs).contains("hunter"));
    }

    #[test]
    fn sql_password_literals_are_masked() {
        for (sql, want) in [
            (
                "CREATE USER app IDENTIFIED BY 'hunter22';",
                "CREATE USER app IDENTIFIED BY '***';",
            ),
            (
                "create role app login password 'it''s secret' valid until 'infinity'",
                "create role app login password '***' valid until 'infinity'",
            ),
            (
                "SET PASSWORD FOR app = PASSWORD('x1y2z3')",
                "SET PASSWORD FOR app = PASSWORD('***')",
            ),
            (
                "ALTER USER a IDENTIFIED BY PASSWORD '*ABCDEF'",
                "ALTER USER a IDENTIFIED BY PASSWORD '***'",
            ),
            (
                "ALTER ROLE a ENCRYPTED PASSWORD 'md5abc'",
                "ALTER ROLE a ENCRYPTED PASSWORD '***'",
            ),
            (
                "ALTER TABLE t ADD COLUMN password text",
                "ALTER TABLE t ADD COLUMN password text",
            ),
            (
                "UPDATE t SET password_hash = 'x'",
                "UPDATE t SET password_hash = 'x'",
            ),
            (
                "CREATE USER u PASSWORD 'unterminated",
                "CREATE USER u PASSWORD '***",
            ),
        ] {
            assert_eq!(redact_sql_passwords(sql), want, "{sql}");
        }
    }

    #[test]
    fn scrub_removes_secrets() {
        assert_eq!(
            scrub("auth failed for hunter22", &["hunter22"]),
            "auth failed for ***"
        );
    }
}
