//! Local PostgreSQL: a copy of the template data directory (or a fresh `initdb`) in a temporary
//! directory, then `postgres` on a free loopback port.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::sys::signal::Signal;

use super::template::{self, Spec, TemplateCache};
use super::{
    chown_to, command, executable_in, finish, launch, prepare, random_alnum, run_as_for_root,
    run_tool, setup_timeout, socket_path_fits, write_private, Attempt, Launch, LocalServer,
    NotFound, RunAs, SearchPaths,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::provision::ProvisionOptions;
use crate::redact::SecretUrl;

/// `initdb` and `postgres` from one directory.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub dir: PathBuf,
    pub initdb: PathBuf,
    pub postgres: PathBuf,
}

const SYSTEM_DESC: &str = "/usr/lib/postgresql/*/bin, /usr/local/pgsql/bin";

/// `/usr/lib/postgresql/*/bin`, highest version first, then `/usr/local/pgsql/bin`.
fn system_dirs() -> Vec<PathBuf> {
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let key = name
                        .split('.')
                        .map(|p| p.parse::<u32>().unwrap_or(0))
                        .collect();
                    (key, e.path().join("bin"))
                })
                .collect()
        })
        .unwrap_or_default();
    versioned.sort_by(|a, b| b.0.cmp(&a.0));
    let mut dirs: Vec<PathBuf> = versioned.into_iter().map(|(_, d)| d).collect();
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs
}

/// The first directory holding both `initdb` and `postgres`. A directory of symlinks (such as
/// `/usr/local/bin`) resolves to the real installation when that holds both too.
pub(super) fn find(search: &SearchPaths) -> Result<PgBinaries, NotFound> {
    let dirs = search.dirs(&system_dirs());
    for (i, dir) in dirs.iter().enumerate() {
        let (Some(initdb), Some(postgres)) =
            (executable_in(dir, "initdb"), executable_in(dir, "postgres"))
        else {
            if i == 0 && search.bin_dir.as_deref() == Some(dir.as_path()) {
                tracing::warn!(
                    "--bin-dir {} holds no initdb and postgres; searching further",
                    dir.display()
                );
            }
            continue;
        };
        if let Some(real) = std::fs::canonicalize(&postgres)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            if let (Some(i2), Some(p2)) = (
                executable_in(&real, "initdb"),
                executable_in(&real, "postgres"),
            ) {
                return Ok(PgBinaries {
                    dir: real,
                    initdb: i2,
                    postgres: p2,
                });
            }
        }
        return Ok(PgBinaries {
            dir: dir.clone(),
            initdb,
            postgres,
        });
    }
    Err(NotFound {
        message: format!(
            "no PostgreSQL server binaries (initdb and postgres) found; searched {}",
            search.describe(SYSTEM_DESC)
        ),
        hint: "install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`), or pass \
               `--bin-dir DIR` naming the directory that holds initdb and postgres, or use an \
               existing server with `--provider url --url postgres://user:pw@host:5432/postgres`"
            .to_string(),
    })
}

/// What initdb is given besides the data directory and the password file; the template's
/// identity (see `template`) includes it.
const INITDB_OPTIONS: &[&str] = &[
    "-U",
    "migcheck",
    "--auth=scram-sha-256",
    "-E",
    "UTF8",
    "--locale=C",
];

fn template_spec(bins: &PgBinaries) -> Spec {
    Spec {
        engine: "postgres",
        binaries: vec![bins.initdb.clone(), bins.postgres.clone()],
        init_options: INITDB_OPTIONS.iter().map(|s| s.to_string()).collect(),
        version_command: (bins.postgres.clone(), vec!["--version".to_string()]),
    }
}

/// Start from the template when `templates` is given (building it first when missing or
/// stale), else from a fresh `initdb`. A template that cannot be used, or a server that does not
/// start from a copy of it, falls back to a fresh `initdb` with a warning: the cache never fails
/// a run.
pub(super) async fn start(
    options: &ProvisionOptions,
    bins: &PgBinaries,
    templates: Option<&TemplateCache>,
) -> Result<LocalServer> {
    let started = Instant::now();
    let run_as = run_as_for_root("postgres")?;
    if let Some(cache) = templates {
        let spec = template_spec(bins);
        match attempt(options, bins, &run_as, Some((cache, &spec)), started).await {
            Ok(server) => return Ok(server),
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Template { error, discard }) => {
                tracing::warn!(
                    "PostgreSQL template data directory not used ({error}); running initdb instead"
                );
                if discard {
                    template::discard(cache, &spec, setup_timeout(options)).await;
                }
            }
        }
    }
    attempt(options, bins, &run_as, None, started)
        .await
        .map_err(Attempt::into_error)
}

/// One start: in its own temporary directory, with or without the template.
async fn attempt(
    options: &ProvisionOptions,
    bins: &PgBinaries,
    run_as: &Option<(String, RunAs)>,
    template: Option<(&TemplateCache, &Spec)>,
    started: Instant,
) -> std::result::Result<LocalServer, Attempt> {
    let (process, registration, dir) = prepare(
        format!("local PostgreSQL server ({})", bins.dir.display()),
        // Fast shutdown: roll back sessions, exit without waiting for clients.
        Signal::SIGINT,
    )?;
    let run_as_ids = run_as.as_ref().map(|(_, r)| *r);
    chown_to(&dir, run_as_ids)?;

    let password = random_alnum(32);
    let data = dir.join("data");
    let log = dir.join("server.log");

    let copied = match template {
        None => {
            initdb(options, bins, run_as, &dir, &data, &log, &password).await?;
            false
        }
        Some((cache, spec)) => {
            // The template's `migcheck` role gets a throwaway password that nobody keeps;
            // `set_password` gives it this run's before the server starts.
            let throwaway = random_alnum(32);
            let obtained = template::obtain(
                cache,
                spec,
                &data,
                run_as_ids,
                setup_timeout(options),
                || initdb(options, bins, run_as, &dir, &data, &log, &throwaway),
            )
            .await
            .map_err(|f| match f {
                template::Failure::Build(e) => Attempt::Fatal(e),
                template::Failure::Cache(error) => Attempt::Template {
                    error,
                    discard: false,
                },
            })?;
            let copied = obtained == template::Obtained::Copied;
            set_password(options, bins, run_as_ids, &dir, &data, &log, &password)
                .await
                .map_err(|e| Attempt::from_copy(copied, e))?;
            copied
        }
    };

    let socket_dir = if socket_path_fits(&dir.join(".s.PGSQL.65535")) {
        dir.as_os_str().to_os_string()
    } else {
        // Too long for a Unix socket path: TCP only.
        std::ffi::OsString::new()
    };
    let (info, admin_url) = launch(
        Launch {
            engine: Engine::Postgres,
            process: &process,
            log: &log,
            timeout: options.startup_timeout,
            password: &password,
            what: "postgres",
        },
        |port| {
            let mut cmd = command(&bins.postgres, &dir, run_as_ids);
            cmd.arg("-D")
                .arg(&data)
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(&socket_dir);
            for setting in [
                "listen_addresses=127.0.0.1",
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
                "wal_level=minimal",
                "max_wal_senders=0",
                "autovacuum=off",
                "jit=off",
                "huge_pages=off",
                "shared_buffers=32MB",
                "max_connections=40",
                "logging_collector=off",
                "unix_socket_permissions=0700",
                "TimeZone=UTC",
                "password_encryption=scram-sha-256",
            ] {
                cmd.arg("-c").arg(setting);
            }
            let url = SecretUrl::new(format!(
                "postgres://migcheck:{password}@127.0.0.1:{port}/postgres?sslmode=disable"
            ));
            Ok((cmd, url))
        },
    )
    .await
    .map_err(|e| Attempt::from_copy(copied, e))?;
    Ok(finish(
        process,
        registration,
        info,
        admin_url,
        started,
        &bins.dir,
    ))
}

/// `initdb` into `data`, the `migcheck` superuser with `password` (through a 0600 file that is
/// removed right after).
async fn initdb(
    options: &ProvisionOptions,
    bins: &PgBinaries,
    run_as: &Option<(String, RunAs)>,
    dir: &Path,
    data: &Path,
    log: &Path,
    password: &str,
) -> Result<()> {
    let started = Instant::now();
    let run_as_ids = run_as.as_ref().map(|(_, r)| *r);
    let pwfile = dir.join("pwfile");
    write_private(&pwfile, password)?;
    chown_to(&pwfile, run_as_ids)?;
    let mut initdb = command(&bins.initdb, dir, run_as_ids);
    initdb
        .arg("-D")
        .arg(data)
        .args(INITDB_OPTIONS)
        .arg(format!("--pwfile={}", pwfile.display()))
        .arg("--no-sync");
    let result = run_tool(initdb, "initdb", log, setup_timeout(options), &[password]).await;
    tracing::debug!("initdb took {} ms", started.elapsed().as_millis());
    let _ = std::fs::remove_file(&pwfile);
    result.map_err(|e| match (e, run_as) {
        (
            Error::Environment {
                message,
                hint: None,
            },
            Some((user, _)),
        ) => Error::environment(
            message,
            Some(format!(
                "initdb runs as user `{user}` because migcheck runs as root; the temporary \
                 directory {} must be reachable by that user (set TMPDIR to e.g. /tmp)",
                dir.display()
            )),
        ),
        (e, _) => e,
    })
}

/// Give the `migcheck` role of a data directory copied from the template this run's password,
/// before the server listens: `ALTER ROLE` in single-user mode (no network, no other session),
/// read from a 0600 file in the run's own directory that is removed right after. Errors end the
/// backend (`exit_on_error`), so a failure is a non-zero exit; the statement is never logged
/// (`log_min_error_statement=panic`). The alternative, trusting the socket for a first
/// connection, would leave a window in which any local process of the server's user could log
/// in without a password, and fails where the socket path is too long.
async fn set_password(
    options: &ProvisionOptions,
    bins: &PgBinaries,
    run_as_ids: Option<RunAs>,
    dir: &Path,
    data: &Path,
    log: &Path,
    password: &str,
) -> Result<()> {
    let started = Instant::now();
    let sql = dir.join("password.sql");
    write_private(
        &sql,
        &format!("ALTER ROLE migcheck PASSWORD '{password}'\n"),
    )?;
    let input = std::fs::File::open(&sql);
    let _ = std::fs::remove_file(&sql);
    let input = input
        .map_err(|e| Error::environment(format!("cannot open {}: {e}", sql.display()), None))?;
    let mut cmd = command(&bins.postgres, dir, run_as_ids);
    cmd.stdin(input)
        .arg("--single")
        .arg("-D")
        .arg(data)
        .arg("-F")
        .args(["-c", "exit_on_error=on"])
        .args(["-c", "log_min_error_statement=panic"])
        .args(["-c", "password_encryption=scram-sha-256"])
        .args(["-c", "shared_buffers=16MB"])
        .arg("postgres");
    let result = run_tool(
        cmd,
        "postgres --single (setting the password)",
        log,
        setup_timeout(options),
        &[password],
    )
    .await;
    tracing::debug!(
        "setting the password took {} ms",
        started.elapsed().as_millis()
    );
    result
}
