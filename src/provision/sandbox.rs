//! The sandbox of the `url` provider: on a server migcheck did not start (a shared CI server),
//! migrations run as a role created for one throwaway database that can reach nothing else.
//!
//! * PostgreSQL: a LOGIN role without SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or
//!   BYPASSRLS that owns the throwaway database (so trusted extensions still install). The
//!   admin user is made a member, which `CREATE DATABASE … OWNER` and observation need.
//! * MySQL/MariaDB: a user with the admin account's host pattern, granted everything on the
//!   throwaway schema and nothing else: no other schema, no global privilege.
//!
//! The role has the throwaway database's name and lives as long as it: created just before,
//! dropped just after (and by the cleanup registry or `migcheck cleanup` if migcheck dies).

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::provision::conn::{scrub_error, Conn};
use crate::redact::SecretUrl;

/// A role created for one throwaway database.
#[derive(Clone)]
pub struct SandboxRole {
    /// Role (PG) or user (MySQL) name: the database's name.
    pub name: String,
    /// MySQL account host (`'name'@'host'`); unused on PostgreSQL.
    pub host: String,
}

impl SandboxRole {
    /// `'name'@'host'` on MySQL, `"name"` on PostgreSQL.
    pub fn account(&self, engine: Engine) -> String {
        match engine {
            Engine::Postgres => format!("\"{}\"", self.name),
            Engine::Mysql | Engine::Mariadb => {
                format!("'{}'@'{}'", self.name, self.host.replace('\'', "''"))
            }
        }
    }
}

/// Why a sandbox could not be set up: the fix is a privilege or `--url-privileged`.
fn refused(engine: Engine, what: &str, e: &sqlx::Error, admin_url: &SecretUrl) -> Error {
    let needs = match engine {
        Engine::Postgres => "CREATEROLE (and CREATEDB)",
        Engine::Mysql | Engine::Mariadb => {
            "CREATE USER, and ALL PRIVILEGES ON `migcheck%`.* WITH GRANT OPTION (MariaDB ignores an escaped `migcheck\\_%` pattern when granting)"
        }
    };
    Error::environment(
        format!(
            "the url provider runs migrations as a sandbox role it creates, and {what} failed on {admin_url}: {}",
            scrub_error(e, admin_url)
        ),
        Some(format!(
            "give the user in --url {needs}, or pass --url-privileged to run the migrations as that user (no sandbox)"
        )),
    )
}

/// The role for database `name`, not created yet (registered for cleanup first).
pub async fn plan_role(
    conn: &mut Conn,
    engine: Engine,
    name: &str,
    admin_url: &SecretUrl,
) -> Result<SandboxRole> {
    let host = admin_host(conn)
        .await
        .map_err(|e| refused(engine, "reading CURRENT_USER()", &e, admin_url))?;
    Ok(SandboxRole {
        name: name.to_string(),
        host,
    })
}

/// Create `role`; returns the password it logs in with.
pub async fn create_role(
    conn: &mut Conn,
    engine: Engine,
    role: &SandboxRole,
    admin_url: &SecretUrl,
) -> Result<String> {
    let password = crate::provision::local::random_alnum(32);
    let q = role.account(engine);
    match engine {
        Engine::Postgres => {
            conn.execute(&format!(
                "CREATE ROLE {q} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE \
                 NOREPLICATION NOBYPASSRLS"
            ))
            .await
            .map_err(|e| refused(engine, "CREATE ROLE", &e, admin_url))?;
            // Membership lets a non-superuser admin create the database OWNER the role and
            // see the role's sessions; for a superuser it changes nothing.
            conn.execute(&format!("GRANT {q} TO CURRENT_USER"))
                .await
                .map_err(|e| refused(engine, "GRANT (role membership)", &e, admin_url))?;
        }
        Engine::Mysql | Engine::Mariadb => {
            conn.execute(&format!("CREATE USER {q} IDENTIFIED BY '{password}'"))
                .await
                .map_err(|e| refused(engine, "CREATE USER", &e, admin_url))?;
        }
    }
    Ok(password)
}

/// The host part of the account the admin connection matched: a user with the same host
/// pattern is reachable from where migcheck runs, whatever anonymous accounts the server has.
async fn admin_host(conn: &mut Conn) -> Result<String, sqlx::Error> {
    let Conn::Mysql(c) = conn else {
        return Ok(String::new());
    };
    let current: String = sqlx::query_scalar("SELECT CURRENT_USER()")
        .fetch_one(&mut *c)
        .await?;
    Ok(current
        .rsplit_once('@')
        .map(|(_, host)| host.to_string())
        .unwrap_or_else(|| "%".to_string()))
}

/// Give the role the database (MySQL: after `CREATE DATABASE`; PostgreSQL owns it at creation).
pub async fn grant_database(
    conn: &mut Conn,
    engine: Engine,
    role: &SandboxRole,
    database: &str,
    admin_url: &SecretUrl,
) -> Result<()> {
    if engine == Engine::Postgres {
        return Ok(());
    }
    conn.execute(&format!(
        "GRANT ALL PRIVILEGES ON `{database}`.* TO {}",
        role.account(engine)
    ))
    .await
    .map_err(|e| refused(engine, "GRANT on the throwaway schema", &e, admin_url))
}

/// Drop the role (after its database). Sessions of the role were ended with the database.
pub async fn drop_role(
    conn: &mut Conn,
    engine: Engine,
    role: &SandboxRole,
) -> Result<(), sqlx::Error> {
    match engine {
        Engine::Postgres => {
            conn.execute(&format!("DROP ROLE IF EXISTS {}", role.account(engine)))
                .await
        }
        Engine::Mysql | Engine::Mariadb => {
            conn.execute(&format!("DROP USER IF EXISTS {}", role.account(engine)))
                .await
        }
    }
}

/// `url` logging in as `user`/`password` instead (query parameters naming a user or password
/// are removed so that they cannot override it).
pub fn url_as(url: &SecretUrl, user: &str, password: &str) -> Result<SecretUrl> {
    let mut parsed = ::url::Url::parse(url.expose())
        .map_err(|e| Error::environment(format!("invalid server URL {url}: {e}"), None))?;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| !matches!(k.as_ref(), "user" | "password"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let bad = |_| Error::environment(format!("cannot set a user on {url}"), None);
    parsed.set_username(user).map_err(bad)?;
    parsed.set_password(Some(password)).map_err(bad)?;
    Ok(SecretUrl::new(parsed.to_string()))
}

/// A hint for a migration that failed for want of a privilege inside the sandbox.
pub fn permission_hint(engine: Engine, message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let denied = match engine {
        Engine::Postgres => {
            lower.contains("permission denied")
                || lower.contains("must be superuser")
                || lower.contains("must be owner")
                || lower.contains("must be able to set role")
                || lower.contains("must be member of role")
        }
        Engine::Mysql | Engine::Mariadb => {
            lower.contains("access denied")
                || lower.contains("command denied")
                || lower.contains("you do not have the super privilege")
                || lower.contains("log_bin_trust_function_creators")
                || lower.contains("you need (at least one of) the")
        }
    };
    if !denied {
        return None;
    }
    let extension = if engine == Engine::Postgres && lower.contains("extension") {
        " (an untrusted extension needs a superuser: install it in template1 on that server, or use --url-privileged)"
    } else {
        ""
    };
    Some(format!(
        "on --provider url the migrations run as a sandbox role that can reach only the \
         throwaway database{extension}; if the chain really needs more, pass --url-privileged \
         to run it as the user in --url"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_as_replaces_the_user_and_drops_query_credentials() {
        let u = SecretUrl::new(
            "postgres://admin:s3cret@db:5432/postgres?sslmode=require&password=x&user=y",
        );
        let got = url_as(&u, "migcheck_ab", "pw").unwrap();
        assert_eq!(
            got.expose(),
            "postgres://migcheck_ab:pw@db:5432/postgres?sslmode=require"
        );
        let plain = url_as(&SecretUrl::new("mysql://root@127.0.0.1:3306/"), "m", "p").unwrap();
        assert_eq!(plain.expose(), "mysql://m:p@127.0.0.1:3306/");
    }

    #[test]
    fn accounts_are_quoted() {
        let role = SandboxRole {
            name: "migcheck_x".into(),
            host: "%".into(),
        };
        assert_eq!(role.account(Engine::Postgres), "\"migcheck_x\"");
        assert_eq!(role.account(Engine::Mariadb), "'migcheck_x'@'%'");
    }

    #[test]
    fn permission_hints_only_for_denials() {
        assert!(permission_hint(
            Engine::Postgres,
            "permission denied to create extension \"plpython3u\""
        )
        .unwrap()
        .contains("untrusted extension"));
        assert!(permission_hint(
            Engine::Mariadb,
            "SELECT command denied to user 'm'@'localhost' for table `sentinel`.`keep`"
        )
        .is_some());
        assert!(permission_hint(Engine::Postgres, "relation \"t\" does not exist").is_none());
    }
}
