//! Local PostgreSQL: `initdb` into a temporary directory, then `postgres` on a free loopback port.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::sys::signal::Signal;

use super::{
    chown_to, command, executable_in, finish, launch, prepare, random_alnum, run_as_for_root,
    run_tool, setup_timeout, socket_path_fits, write_private, Launch, LocalServer, NotFound,
    SearchPaths,
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

pub(super) async fn start(options: &ProvisionOptions, bins: &PgBinaries) -> Result<LocalServer> {
    let started = Instant::now();
    let run_as = run_as_for_root("postgres")?;
    let (process, registration, dir) = prepare(
        format!("local PostgreSQL server ({})", bins.dir.display()),
        // Fast shutdown: roll back sessions, exit without waiting for clients.
        Signal::SIGINT,
    )?;
    let run_as_ids = run_as.as_ref().map(|(_, r)| *r);
    chown_to(&dir, run_as_ids)?;

    let password = random_alnum(32);
    let pwfile = dir.join("pwfile");
    write_private(&pwfile, &password)?;
    chown_to(&pwfile, run_as_ids)?;
    let data = dir.join("data");
    let log = dir.join("server.log");

    let mut initdb = command(&bins.initdb, &dir, run_as_ids);
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "migcheck", "--auth=scram-sha-256"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .args(["-E", "UTF8", "--locale=C", "--no-sync"]);
    let result = run_tool(initdb, "initdb", &log, setup_timeout(options), &[&password]).await;
    tracing::debug!("initdb took {} ms", started.elapsed().as_millis());
    let _ = std::fs::remove_file(&pwfile);
    if let Err(e) = result {
        return Err(match (e, &run_as) {
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
        });
    }

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
    .await?;
    Ok(finish(
        process,
        registration,
        info,
        admin_url,
        started,
        &bins.dir,
    ))
}
