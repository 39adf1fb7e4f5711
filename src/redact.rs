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

    /// The password in the URL, if any (to scrub it from server messages).
    pub fn password(&self) -> Option<String> {
        let u = url::Url::parse(&self.0).ok()?;
        u.password().map(str::to_string)
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
                    let secret =
                        matches!(k.to_ascii_lowercase().as_str(), "password" | "pass" | "pwd");
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
    fn scrub_removes_secrets() {
        assert_eq!(
            scrub("auth failed for hunter22", &["hunter22"]),
            "auth failed for ***"
        );
    }
}
