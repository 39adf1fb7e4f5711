//! Local MariaDB / MySQL: initialise a data directory, then run the server on a free loopback
//! port with an init file that creates the `migcheck` account.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::sys::signal::Signal;

use super::{
    command, executable_in, finish, launch, prepare, random_alnum, run_tool, setup_timeout,
    socket_path_fits, write_private, Launch, LocalServer, NotFound, SearchPaths,
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

pub(super) async fn start(options: &ProvisionOptions, bins: &MyBinaries) -> Result<LocalServer> {
    let started = Instant::now();
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

    match &bins.installer {
        Installer::Script(script) => {
            let mut cmd = command(script, &dir, None);
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                // Its own tmpdir: a starting server deletes every `#sql*` file in its tmpdir,
                // so in a shared /tmp parallel bootstraps removed each other's temporary
                // tables ("Unknown table 'mysql.tmp_user_sys'", 3 in 8 concurrent runs), and
                // would touch other servers' files on this machine.
                .arg(format!("--tmpdir={}", dir.display()))
                // root@localhost authenticates by Unix socket only (the socket lives in our
                // 0700 directory): no passwordless account is reachable over TCP.
                .arg("--auth-root-authentication-method=socket")
                .arg("--skip-test-db");
            let real = std::fs::canonicalize(&bins.server).unwrap_or_else(|_| bins.server.clone());
            let standard = real.starts_with("/usr/sbin") || real.starts_with("/usr/bin");
            if !standard {
                if let Some(base) = real.parent().and_then(Path::parent) {
                    cmd.arg(format!("--basedir={}", base.display()));
                }
            }
            if as_root {
                cmd.arg("--user=root");
            }
            cmd.args(speed_options(bins.flavor));
            run_tool(cmd, "mariadb-install-db", &log, setup_timeout(options), &[]).await?;
        }
        Installer::Initialize => {
            let mut cmd = command(&bins.server, &dir, None);
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
                &log,
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
    let init = dir.join("init.sql");
    write_private(
        &init,
        &format!(
            "CREATE USER IF NOT EXISTS 'migcheck'@'127.0.0.1' IDENTIFIED BY '{password}';\n\
             GRANT ALL PRIVILEGES ON *.* TO 'migcheck'@'127.0.0.1' WITH GRANT OPTION;\n"
        ),
    )?;
    let socket = dir.join("mysql.sock");
    if !socket_path_fits(&socket) {
        return Err(Error::environment(
            format!(
                "the temporary directory path {} is too long for a Unix socket",
                dir.display()
            ),
            Some("set TMPDIR to a short path such as /tmp".to_string()),
        ));
    }
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
    .await?;
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
