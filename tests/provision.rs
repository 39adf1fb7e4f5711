//! Provisioning against real servers: local PostgreSQL and MariaDB, the url provider on a server
//! started here, missing binaries, redaction, and cleanup on SIGINT and on SIGKILL.
//!
//! These tests need the server binaries (Debian: `apt-get install postgresql mariadb-server`);
//! without them they fail with a message saying so.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migcheck::engine::Engine;
use migcheck::error::{exit, Error};
use migcheck::provision::local::{self, LocalServer, SearchPaths};
use migcheck::provision::{
    cleanup, provision, provision_with, Conn, Database, ProviderKind, ProvisionOptions, Server,
};
use migcheck::redact::SecretUrl;

fn options(engine: Engine, provider: ProviderKind) -> ProvisionOptions {
    ProvisionOptions {
        engine_version: None,
        image: None,
        keep: false,
        engine,
        provider,
        url: None,
        bin_dir: None,
        startup_timeout: Duration::from_secs(60),
    }
}

/// Start a local server, failing loudly when the binaries are missing.
async fn start_local(engine: Engine) -> LocalServer {
    let search = SearchPaths::from_env(None);
    if let Err(nf) = local::find_binaries(engine, &search) {
        panic!(
            "this test needs {engine} server binaries, which are missing: {}\n  hint: {}",
            nf.message, nf.hint
        );
    }
    let requested = Instant::now();
    let server = local::start(&options(engine, ProviderKind::Local), &search)
        .await
        .unwrap_or_else(|e| panic!("starting a local {engine} server failed: {e}"));
    println!(
        "{}: ready {} ms after the request (startup() = {} ms)",
        server.describe(),
        requested.elapsed().as_millis(),
        server.startup().as_millis()
    );
    server
}

fn password_of(url: &SecretUrl) -> String {
    url::Url::parse(url.expose())
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .expect("admin URL has a password")
}

/// Whether `pid` is a live process (zombies count as dead: nobody may reap them in a container).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

fn wait_dead(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

async fn database_exists(server: &dyn Server, name: &str) -> bool {
    let mut conn = Conn::connect(server.info().engine, server.admin_url())
        .await
        .expect("admin connection");
    let n: i64 = match &mut conn {
        Conn::Postgres(c) => {
            sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut *c)
                .await
                .expect("pg_database")
        }
        Conn::Mysql(c) => sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
        )
        .bind(name)
        .fetch_one(&mut *c)
        .await
        .expect("schemata"),
    };
    conn.close().await;
    n > 0
}

/// Create a database, use it, drop it; the common part of the lifecycle tests.
async fn exercise_database(server: &dyn Server) {
    let db = Database::create(server, false)
        .await
        .expect("create database");
    assert!(db.name.starts_with("migcheck_"), "{}", db.name);
    assert_eq!(db.name.len(), "migcheck_".len() + 12);
    assert!(db.url.expose().contains(&db.name));
    assert!(database_exists(server, &db.name).await);

    let mut conn = db
        .connect()
        .await
        .expect("connect to the throwaway database");
    assert_eq!(
        support::scalar_i64(&mut conn, "SELECT count(*) FROM (SELECT 1 AS one) AS t").await,
        1
    );
    conn.execute("CREATE TABLE widgets (id INT PRIMARY KEY, name VARCHAR(40))")
        .await
        .expect("create table");
    conn.execute("INSERT INTO widgets VALUES (1, 'one')")
        .await
        .expect("insert");
    assert_eq!(
        support::scalar_i64(&mut conn, "SELECT count(*) FROM widgets WHERE name = 'one'").await,
        1
    );
    // Keep the session open: dropping must cope with it.
    let name = db.name.clone();
    db.drop_database(server).await.expect("drop database");
    assert!(!database_exists(server, &name).await, "{name} still exists");
    drop(conn);
}

async fn lifecycle(engine: Engine, title: &str) {
    let server = start_local(engine).await;
    let describe = server.describe();
    assert!(
        describe.starts_with(&format!("local {title} ")),
        "describe: {describe}"
    );
    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(alive(pid), "server pid {pid} not running");
    assert!(dir.is_dir());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "temp dir mode {mode:o}");
    assert!(server.info().version_num > 0, "{:?}", server.info());

    exercise_database(&server).await;

    let stopping = Instant::now();
    server.shutdown().await.expect("shutdown");
    println!(
        "{describe}: shutdown took {} ms",
        stopping.elapsed().as_millis()
    );
    assert!(!alive(pid), "server pid {pid} still alive after shutdown");
    assert!(
        !dir.exists(),
        "{} still exists after shutdown",
        dir.display()
    );
    // Idempotent.
    server.shutdown().await.expect("second shutdown");
}

#[tokio::test]
async fn local_postgres_lifecycle() {
    lifecycle(Engine::Postgres, "PostgreSQL").await;
}

#[tokio::test]
async fn local_mariadb_lifecycle() {
    lifecycle(Engine::Mariadb, "MariaDB").await;
}

#[tokio::test]
async fn local_postgres_reports_version() {
    let server = start_local(Engine::Postgres).await;
    let info = server.info().clone();
    assert_eq!(info.engine, Engine::Postgres);
    assert!(info.version_num >= 90000, "{info:?}");
    assert!(
        server
            .describe()
            .contains(&format!("({})", server.bin_dir().display())),
        "{}",
        server.describe()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn local_mysql_request_is_served_by_mariadb_with_engine_from_version() {
    // Debian's mysqld is MariaDB: the engine reported is what the server says it is.
    let server = start_local(Engine::Mysql).await;
    let info = server.info().clone();
    if info.version.contains("MariaDB") {
        assert_eq!(info.engine, Engine::Mariadb);
    } else {
        assert_eq!(info.engine, Engine::Mysql);
    }
    let v = info.version.split('-').next().unwrap().to_string();
    let parts: Vec<u32> = v.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(
        info.version_num,
        parts[0] * 10000 + parts[1] * 100 + parts[2]
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dropping_a_local_server_kills_it_and_removes_its_directory() {
    let server = start_local(Engine::Postgres).await;
    let (pid, dir) = (server.pid(), server.dir().to_path_buf());
    drop(server);
    assert!(!alive(pid), "server pid {pid} survived drop");
    assert!(!dir.exists(), "{} survived drop", dir.display());
}

/// Start a local server, add a database the user cares about, then use the url provider on it.
async fn url_provider_leaves_other_databases(engine: Engine, scheme: &str) {
    let host = start_local(engine).await;
    let keep = format!("keepme_{}", std::process::id());
    {
        let mut admin = Conn::connect(host.info().engine, host.admin_url())
            .await
            .unwrap();
        admin
            .execute(&format!("CREATE DATABASE {keep}"))
            .await
            .unwrap();
        admin.close().await;
    }
    let keep_url = {
        let mut u = url::Url::parse(host.admin_url().expose()).unwrap();
        u.set_path(&format!("/{keep}"));
        SecretUrl::new(u.to_string())
    };
    {
        let mut c = Conn::connect(host.info().engine, &keep_url).await.unwrap();
        c.execute("CREATE TABLE precious (id INT PRIMARY KEY)")
            .await
            .unwrap();
        c.execute("INSERT INTO precious VALUES (42)").await.unwrap();
        c.close().await;
    }

    // The URL the user would pass (mariadb:// is accepted too).
    let raw = host.admin_url().expose().to_string();
    let user_url = format!("{scheme}{}", &raw[raw.find("://").unwrap()..]);
    let mut opts = options(engine, ProviderKind::Auto);
    opts.url = Some(SecretUrl::new(user_url));
    let server = provision(&opts).await.expect("url provider");
    assert_eq!(server.provider(), "url");
    assert_eq!(server.startup(), Duration::ZERO);
    let password = password_of(host.admin_url());
    let describe = server.describe();
    assert!(!describe.contains(&password), "{describe}");
    assert!(describe.contains("***"), "{describe}");
    assert!(describe.starts_with("url "), "{describe}");

    exercise_database(server.as_ref()).await;
    // A database left behind is dropped by the url server's shutdown.
    // Sandboxed, as verify creates them on a url server: the role goes with it.
    let leftover = Database::create(server.as_ref(), true).await.unwrap();
    let leftover_name = leftover.name.clone();
    server.shutdown().await.unwrap();
    assert!(!database_exists(&host, &leftover_name).await);
    server.shutdown().await.unwrap();

    assert!(database_exists(&host, &keep).await, "{keep} was dropped");
    let mut c = Conn::connect(host.info().engine, &keep_url).await.unwrap();
    assert_eq!(
        support::scalar_i64(&mut c, "SELECT count(*) FROM precious WHERE id = 42").await,
        1
    );
    c.close().await;
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn url_provider_on_postgres_touches_only_its_database() {
    url_provider_leaves_other_databases(Engine::Postgres, "postgresql").await;
}

#[tokio::test]
async fn url_provider_on_mariadb_touches_only_its_database() {
    url_provider_leaves_other_databases(Engine::Mariadb, "mariadb").await;
}

fn empty_search() -> (tempfile::TempDir, SearchPaths) {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    let path = root.path().join("path");
    std::fs::create_dir(&bin).unwrap();
    std::fs::create_dir(&path).unwrap();
    let search = SearchPaths {
        bin_dir: Some(bin),
        path: Some(path.into_os_string()),
        system_dirs: false,
    };
    (root, search)
}

#[tokio::test]
async fn auto_without_binaries_is_an_environment_error_with_a_hint() {
    let (root, search) = empty_search();
    for (engine, package, url) in [
        (
            Engine::Postgres,
            "apt-get install postgresql",
            "--url postgres://",
        ),
        (
            Engine::Mariadb,
            "apt-get install mariadb-server",
            "--url mysql://",
        ),
        (
            Engine::Mysql,
            "apt-get install mariadb-server",
            "--url mysql://",
        ),
    ] {
        let err = match provision_with(&options(engine, ProviderKind::Auto), &search).await {
            Ok(s) => panic!("found a server without binaries: {}", s.describe()),
            Err(e) => e,
        };
        assert_eq!(err.exit_code(), exit::ENVIRONMENT);
        let Error::Environment { message, hint } = &err else {
            panic!("not an environment error: {err:?}");
        };
        let hint = hint.as_deref().expect("hint");
        assert!(hint.contains(package), "{hint}");
        assert!(hint.contains("--bin-dir DIR"), "{hint}");
        assert!(hint.contains("--provider url"), "{hint}");
        assert!(hint.contains(url), "{hint}");
        // Names the places searched.
        assert!(
            message.contains(&root.path().join("bin").display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&root.path().join("path").display().to_string()),
            "{message}"
        );

        // `--provider local` says the same.
        let err = match provision_with(&options(engine, ProviderKind::Local), &search).await {
            Ok(_) => panic!("local provider without binaries"),
            Err(e) => e,
        };
        assert_eq!(err.exit_code(), exit::ENVIRONMENT, "{err}");
    }
}

#[tokio::test]
async fn url_provider_without_url_is_a_usage_error() {
    let err = match provision(&options(Engine::Postgres, ProviderKind::Url)).await {
        Ok(_) => panic!("url provider without a URL"),
        Err(e) => e,
    };
    assert!(matches!(err, Error::Usage(_)), "{err:?}");
    assert_eq!(err.exit_code(), exit::BAD_INPUT);
    assert!(err.to_string().contains("--url"), "{err}");
}

#[tokio::test]
async fn mismatched_url_scheme_is_a_usage_error() {
    let mut opts = options(Engine::Mysql, ProviderKind::Url);
    opts.url = Some(SecretUrl::new(
        "postgres://u:hunter2hunter2@127.0.0.1:1/postgres",
    ));
    let err = match provision(&opts).await {
        Ok(_) => panic!("accepted a postgres URL for mysql"),
        Err(e) => e,
    };
    assert_eq!(err.exit_code(), exit::BAD_INPUT);
    assert!(!err.to_string().contains("hunter2hunter2"), "{err}");
}

#[tokio::test]
async fn passwords_never_appear_in_output() {
    let server = start_local(Engine::Postgres).await;
    let password = password_of(server.admin_url());
    assert!(password.len() >= 16);
    let mut shown = vec![
        server.describe(),
        format!("{server:?}"),
        format!("{:?}", server.admin_url()),
        server.admin_url().to_string(),
    ];

    let db = Database::create(&server, false).await.unwrap();
    shown.push(format!("{db:?}"));
    shown.push(db.url.to_string());

    // A wrong password: the error must not echo either password.
    let wrong = server
        .admin_url()
        .expose()
        .replace(&password, "wrongpassword123");
    let err = Conn::connect(Engine::Postgres, &SecretUrl::new(wrong))
        .await
        .err()
        .expect("wrong password accepted");
    shown.push(err.to_string());
    shown.push(format!("{err:?}"));

    // The url provider pointed at a port nobody listens on.
    let mut opts = options(Engine::Postgres, ProviderKind::Url);
    let dead = {
        let mut u = url::Url::parse(server.admin_url().expose()).unwrap();
        u.set_port(Some(1)).unwrap();
        u.to_string()
    };
    opts.url = Some(SecretUrl::new(dead));
    opts.startup_timeout = Duration::from_secs(5);
    let err = provision(&opts).await.err().expect("connected to port 1");
    assert_eq!(err.exit_code(), exit::ENVIRONMENT);
    shown.push(err.to_string());
    shown.push(format!("{err:?}"));

    let url_server = {
        let mut o = options(Engine::Postgres, ProviderKind::Url);
        o.url = Some(server.admin_url().clone());
        provision(&o).await.unwrap()
    };
    shown.push(url_server.describe());

    for text in &shown {
        assert!(!text.contains(&password), "password leaked: {text}");
        assert!(
            !text.contains("wrongpassword123"),
            "password leaked: {text}"
        );
    }
    db.drop_database(&server).await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn auto_picks_local_when_no_url_is_given() {
    let search = SearchPaths::from_env(None);
    if let Err(nf) = local::find_binaries(Engine::Postgres, &search) {
        panic!("this test needs PostgreSQL binaries: {}", nf.message);
    }
    let server = provision(&options(Engine::Postgres, ProviderKind::Auto))
        .await
        .expect("auto provider");
    assert_eq!(server.provider(), "local");
    assert!(
        server.describe().starts_with("local PostgreSQL "),
        "{}",
        server.describe()
    );
    server.shutdown().await.unwrap();
}

// ---- cleanup on signals, in a child process (the registry is process-wide) ----

const HELPER_ENV: &str = "MIGCHECK_PROVISION_TEST_HELPER";

/// Not a test on its own: run by `interrupt_*`/`sigkill_*` in a child process. Starts a server
/// (and a database on it) inside `run_guarded`, prints `READY <pid> <dir>`, then waits.
#[tokio::test]
#[ignore = "helper run in a child process by the signal tests"]
async fn helper_hold_server() {
    let Ok(engine) = std::env::var(HELPER_ENV) else {
        return;
    };
    let engine: Engine = engine.parse().unwrap();
    let result = cleanup::run_guarded(async {
        let server = local::start(
            &options(engine, ProviderKind::Local),
            &SearchPaths::from_env(None),
        )
        .await?;
        let _db = Database::create(&server, false).await?;
        println!("READY {} {}", server.pid(), server.dir().display());
        tokio::time::sleep(Duration::from_secs(120)).await;
        Ok(())
    })
    .await;
    match result {
        Err(Error::Interrupted(sig)) => {
            println!("INTERRUPTED {sig} pending={}", cleanup::pending())
        }
        other => println!("FINISHED {other:?}"),
    }
}

struct Helper {
    child: std::process::Child,
    stdout: BufReader<std::process::ChildStdout>,
    pid: u32,
    dir: PathBuf,
}

// The child is returned inside `Helper`; every caller waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_helper(engine: Engine) -> Helper {
    if let Err(nf) = local::find_binaries(engine, &SearchPaths::from_env(None)) {
        panic!("this test needs {engine} server binaries: {}", nf.message);
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "helper_hold_server",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, engine.name())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut said = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            let status = child.wait();
            // What the helper printed (its `FINISHED Err(...)` names why the server did not start).
            panic!("helper exited before its server was ready ({status:?}); it said:\n{said}");
        }
        said.push_str(&line);
        // libtest may print `test helper_hold_server ... ` on the same line first.
        if let Some(rest) = line.trim().split_once("READY ").map(|(_, r)| r) {
            let (pid, dir) = rest.split_once(' ').unwrap();
            return Helper {
                pid: pid.parse().unwrap(),
                dir: PathBuf::from(dir),
                child,
                stdout,
            };
        }
    }
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
}

fn interrupt_cleans_up(engine: Engine, sig: nix::sys::signal::Signal, name: &str) {
    let mut h = spawn_helper(engine);
    assert!(alive(h.pid));
    assert!(h.dir.is_dir());
    signal(h.child.id(), sig);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut h.stdout, &mut rest).unwrap();
    let status = h.child.wait().unwrap();
    assert!(
        rest.contains(&format!("INTERRUPTED {name} pending=0")),
        "helper said: {rest} ({status})"
    );
    assert!(!alive(h.pid), "server {} survived {name}", h.pid);
    assert!(!h.dir.exists(), "{} survived {name}", h.dir.display());
}

#[test]
fn sigint_stops_the_server_and_removes_its_directory() {
    interrupt_cleans_up(Engine::Postgres, nix::sys::signal::Signal::SIGINT, "SIGINT");
}

#[test]
fn sigterm_stops_mariadb_and_removes_its_directory() {
    interrupt_cleans_up(
        Engine::Mariadb,
        nix::sys::signal::Signal::SIGTERM,
        "SIGTERM",
    );
}

fn sigkill_leaves_no_server(engine: Engine) {
    let mut h = spawn_helper(engine);
    signal(h.child.id(), nix::sys::signal::Signal::SIGKILL);
    let _ = h.child.wait();
    let dead = wait_dead(h.pid, Duration::from_secs(10));
    // Nothing can remove the directory of a SIGKILLed process; do it here.
    let _ = std::fs::remove_dir_all(&h.dir);
    assert!(dead, "server {} outlived its SIGKILLed parent", h.pid);
}

#[test]
fn sigkill_of_migcheck_takes_postgres_down() {
    sigkill_leaves_no_server(Engine::Postgres);
}

#[test]
fn sigkill_of_migcheck_takes_mariadb_down() {
    sigkill_leaves_no_server(Engine::Mariadb);
}
