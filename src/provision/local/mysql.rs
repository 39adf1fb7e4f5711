//! Local MariaDB / MySQL: a copy of the template data directory (or a freshly initialised one),
//! then the server on a free loopback port with an init file that creates the `migcheck` account.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::sys::signal::Signal;

use super::template::{self, Spec, TemplateCache};
use super::{
    command, executable_in, finish, launch, prepare, random_alnum, run_tool, setup_timeout,
    socket_path_fits, write_private, Attempt, Launch, LocalServer, NotFound, SearchPaths,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::provision::ProvisionOptions;
use crate::redact::SecretUrl;

/// Which server family the binary belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Mariadb,
    /// Oracle MySQL, with its major version.
    Oracle {
        major: u32,
    },
}

/// How the data directory gets initialised.
#[derive(Debug, Clone)]
pub enum Installer {
    /// `mariadb-install-db` / `mysql_install_db`.
    Script(PathBuf),
    /// `mysqld --initialize-insecure` (Oracle MySQL 5.7+).
    Initialize,
}

#[derive(Debug, Clone)]
pub struct MyBinaries {
    pub server: PathBuf,
    pub flavor: Flavor,
    pub installer: Installer,
}

const SYSTEM: &[&str] = &[
    "/usr/sbin",
    "/usr/bin",
    "/usr/local/mysql/bin",
    "/usr/local/mysql/scripts",
    "/usr/local/mariadb/bin",
    "/usr/local/mariadb/scripts",
];

fn first_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().find_map(|d| executable_in(d, name))
}

/// Oracle MySQL or MariaDB, from the binary's real name or `--version`.
fn flavor_of(server: &Path) -> Option<Flavor> {
    let real = std::fs::canonicalize(server).unwrap_or_else(|_| server.to_path_buf());
    if real.file_name().is_some_and(|n| n == "mariadbd") {
        return Some(Flavor::Mariadb);
    }
    let out = std::process::Command::new(server)
        .args(["--no-defaults", "--version"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if text.to_ascii_lowercase().contains("mariadb") {
        return Some(Flavor::Mariadb);
    }
    // `mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)`
    let major = text
        .split_whitespace()
        .skip_while(|w| *w != "Ver")
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(8);
    Some(Flavor::Oracle { major })
}

pub(super) fn find(engine: Engine, search: &SearchPaths) -> Result<MyBinaries, NotFound> {
    let system: Vec<PathBuf> = SYSTEM.iter().map(PathBuf::from).collect();
    let dirs = search.dirs(&system);
    let names: &[&str] = if engine == Engine::Mysql {
        &["mysqld", "mariadbd"]
    } else {
        &["mariadbd", "mysqld"]
    };
    for name in names {
        let Some(server) = first_in(&dirs, name) else {
            continue;
        };
        let Some(flavor) = flavor_of(&server) else {
            continue;
        };
        let installer = match flavor {
            Flavor::Oracle { major } if major >= 5 => Installer::Initialize,
            _ => {
                // Next to the server first (tarball layouts keep it in ../scripts).
                let mut near = Vec::new();
                if let Some(parent) = server.parent() {
                    near.push(parent.to_path_buf());
                    if let Some(base) = parent.parent() {
                        near.push(base.join("bin"));
                        near.push(base.join("scripts"));
                    }
                }
                near.extend(dirs.iter().cloned());
                match first_in(&near, "mariadb-install-db")
                    .or_else(|| first_in(&near, "mysql_install_db"))
                {
                    Some(script) => Installer::Script(script),
                    None => {
                        tracing::debug!(
                            "found {} but no mariadb-install-db/mysql_install_db",
                            server.display()
                        );
                        continue;
                    }
                }
            }
        };
        return Ok(MyBinaries {
            server,
            flavor,
            installer,
        });
    }
    let (what, package) = if engine == Engine::Mysql {
        (
            "MySQL/MariaDB",
            "`apt-get install mariadb-server` (or Oracle MySQL's mysql-server)",
        )
    } else {
        ("MariaDB", "`apt-get install mariadb-server`")
    };
    Err(NotFound {
        message: format!(
            "no {what} server binaries (mariadbd or mysqld, with mariadb-install-db for MariaDB) \
             found; searched {}",
            search.describe(&SYSTEM.join(", "))
        ),
        hint: format!(
            "install the server (Debian/Ubuntu: {package}), or pass `--bin-dir DIR` naming the \
             directory that holds the server binary, or use an existing server with \
             `--provider url --url mysql://user:pw@host:3306/`"
        ),
    })
}

/// Options that make a throwaway server start and run fast.
fn speed_options(flavor: Flavor) -> Vec<String> {
    let mut o: Vec<String> = [
        "--skip-log-bin",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--innodb-buffer-pool-size=32M",
        "--skip-name-resolve",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if flavor == Flavor::Mariadb {
        // Small redo log: nothing to allocate at install time, no resize at start.
        o.push("--innodb-log-file-size=8M".to_string());
    }
    o
}

/// `mariadb-install-db`'s options besides the paths of the run: what shapes the data directory
/// (the template's identity includes them).
fn install_options(bins: &MyBinaries) -> Vec<String> {
    let mut o = vec![
        // root@localhost authenticates by Unix socket only (the socket lives in our 0700
        // directory): no passwordless account is reachable over TCP.
        "--auth-root-authentication-method=socket".to_string(),
        "--skip-test-db".to_string(),
    ];
    let real = std::fs::canonicalize(&bins.server).unwrap_or_else(|_| bins.server.clone());
    let standard = real.starts_with("/usr/sbin") || real.starts_with("/usr/bin");
    if !standard {
        if let Some(base) = real.parent().and_then(Path::parent) {
            o.push(format!("--basedir={}", base.display()));
        }
    }
    if nix::unistd::geteuid().is_root() {
        o.push("--user=root".to_string());
    }
    o.extend(speed_options(bins.flavor));
    if bins.flavor == Flavor::Mariadb {
        // No `ib_buffer_pool` in the data directory: runs never load it, and its size follows
        // what the bootstrap happened to read, so two builds of one template differed.
        o.push("--innodb-buffer-pool-dump-at-shutdown=0".to_string());
    }
    o
}

/// Templates cover `mariadb-install-db` (MariaDB, and MySQL before 5.7); Oracle MySQL's
/// `--initialize-insecure` (not verified here) still runs per run.
fn template_spec(bins: &MyBinaries) -> Option<Spec> {
    let Installer::Script(script) = &bins.installer else {
        return None;
    };
    Some(Spec {
        engine: match bins.flavor {
            Flavor::Mariadb => "mariadb",
            Flavor::Oracle { .. } => "mysql",
        },
        binaries: vec![bins.server.clone(), script.clone()],
        init_options: install_options(bins),
        version_command: (
            bins.server.clone(),
            vec!["--no-defaults".to_string(), "--version".to_string()],
        ),
    })
}

/// Start from the template when `templates` is given and the installer is
/// `mariadb-install-db` (building it first when missing or stale), else from a fresh install.
/// A template that cannot be used, or a server that does not start from a copy of it, falls back
/// to a fresh install with a warning: the cache never fails a run.
pub(super) async fn start(
    options: &ProvisionOptions,
    bins: &MyBinaries,
    templates: Option<&TemplateCache>,
) -> Result<LocalServer> {
    let started = Instant::now();
    if let (Some(cache), Some(spec)) = (templates, template_spec(bins)) {
        match attempt(options, bins, Some((cache, &spec)), started).await {
            Ok(server) => return Ok(server),
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Template { error, discard }) => {
                tracing::warn!(
                    "template data directory not used ({error}); initialising a fresh one"
                );
                if discard {
                    template::discard(cache, &spec, setup_timeout(options)).await;
                }
            }
        }
    }
    attempt(options, bins, None, started)
        .await
        .map_err(Attempt::into_error)
}

/// Initialise the data directory at `data` (the run's directory `dir` is its tmpdir).
async fn install(
    options: &ProvisionOptions,
    bins: &MyBinaries,
    dir: &Path,
    data: &Path,
    log: &Path,
) -> Result<()> {
    let started = Instant::now();
    let as_root = nix::unistd::geteuid().is_root();
    match &bins.installer {
        Installer::Script(script) => {
            let mut cmd = command(script, dir, None);
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                // Its own tmpdir: a starting server deletes every `#sql*` file in its tmpdir,
                // so in a shared /tmp parallel bootstraps removed each other's temporary
                // tables ("Unknown table 'mysql.tmp_user_sys'", 3 in 8 concurrent runs), and
                // would touch other servers' files on this machine.
                .arg(format!("--tmpdir={}", dir.display()))
                .args(install_options(bins));
            run_tool(cmd, "mariadb-install-db", log, setup_timeout(options), &[]).await?;
        }
        Installer::Initialize => {
            let mut cmd = command(&bins.server, dir, None);
            cmd.arg("--no-defaults")
                .arg("--initialize-insecure")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--tmpdir={}", dir.display()));
            if as_root {
                cmd.arg("--user=root");
            }
            run_tool(
                cmd,
                "mysqld --initialize-insecure",
                log,
                setup_timeout(options),
                &[],
            )
            .await?;
        }
    }
    tracing::debug!(
        "initialising the data directory took {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}

/// One start: in its own temporary directory (also the server's tmpdir), with or without the
/// template.
async fn attempt(
    options: &ProvisionOptions,
    bins: &MyBinaries,
    template: Option<(&TemplateCache, &Spec)>,
    started: Instant,
) -> std::result::Result<LocalServer, Attempt> {
    let as_root = nix::unistd::geteuid().is_root();
    let server_dir = bins
        .server
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let title = match bins.flavor {
        Flavor::Mariadb => "MariaDB",
        Flavor::Oracle { .. } => "MySQL",
    };
    let (process, registration, dir) = prepare(
        format!("local {title} server ({})", server_dir.display()),
        Signal::SIGTERM,
    )?;
    let data = dir.join("data");
    let log = dir.join("server.log");
    let password = random_alnum(32);
    let socket = dir.join("mysql.sock");
    if !socket_path_fits(&socket) {
        return Err(Error::environment(
            format!(
                "the temporary directory path {} is too long for a Unix socket",
                dir.display()
            ),
            Some("set TMPDIR to a short path such as /tmp".to_string()),
        )
        .into());
    }

    // The template holds no account that logs in over TCP: `migcheck` and its password come
    // from this run's init file below, run by the server at start on its own copy.
    let copied = match template {
        None => {
            install(options, bins, &dir, &data, &log).await?;
            false
        }
        Some((cache, spec)) => {
            let obtained =
                template::obtain(cache, spec, &data, None, setup_timeout(options), || {
                    install(options, bins, &dir, &data, &log)
                })
                .await
                .map_err(|f| match f {
                    template::Failure::Build(e) => Attempt::Fatal(e),
                    template::Failure::Cache(error) => Attempt::Template {
                        error,
                        discard: false,
                    },
                })?;
            obtained == template::Obtained::Copied
        }
    };

    let init = dir.join("init.sql");
    write_private(
        &init,
        &format!(
            "CREATE USER IF NOT EXISTS 'migcheck'@'127.0.0.1' IDENTIFIED BY '{password}';\n\
             GRANT ALL PRIVILEGES ON *.* TO 'migcheck'@'127.0.0.1' WITH GRANT OPTION;\n"
        ),
    )?;
    let what = if bins.flavor == Flavor::Mariadb {
        "mariadbd"
    } else {
        "mysqld"
    };
    let (info, admin_url) = launch(
        Launch {
            engine: options.engine,
            process: &process,
            log: &log,
            timeout: options.startup_timeout,
            password: &password,
            what,
        },
        |port| {
            let mut cmd = command(&bins.server, &dir, None);
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--pid-file={}", dir.join("server.pid").display()))
                .arg(format!("--tmpdir={}", dir.display()))
                .arg(format!("--port={port}"))
                .arg("--bind-address=127.0.0.1")
                .arg("--skip-performance-schema")
                .arg(format!("--init-file={}", init.display()))
                .args(speed_options(bins.flavor));
            if bins.flavor == Flavor::Mariadb {
                // Nothing survives the server: skip the shutdown flush and the buffer pool
                // dump/load (not for install-db, whose data the server needs).
                cmd.args([
                    "--innodb-fast-shutdown=2",
                    "--innodb-buffer-pool-dump-at-shutdown=0",
                    "--innodb-buffer-pool-load-at-startup=0",
                ]);
            }
            if let Flavor::Oracle { major } = bins.flavor {
                if major >= 8 {
                    // The X plugin would listen on a fixed port (33060).
                    cmd.arg("--mysqlx=OFF");
                }
            }
            if as_root {
                cmd.arg("--user=root");
            }
            let url = SecretUrl::new(format!(
                "mysql://migcheck:{password}@127.0.0.1:{port}/?ssl-mode=disabled"
            ));
            Ok((cmd, url))
        },
    )
    .await
    .map_err(|e| Attempt::from_copy(copied, e))?;
    if info.engine != options.engine {
        tracing::warn!(
            "asked for {} but {} is {} {}; verifying against it",
            options.engine,
            bins.server.display(),
            super::engine_title(info.engine),
            info.version
        );
    }
    Ok(finish(
        process,
        registration,
        info,
        admin_url,
        started,
        &server_dir,
    ))
}
