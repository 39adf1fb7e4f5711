//! Template data directories of the local provider, on real servers: a run from the template
//! works and shares nothing with the previous one; a stale, incomplete or damaged template is
//! rebuilt; one that a server will not start from falls back to a fresh init; concurrent first
//! runs on an empty cache all succeed. Every test has its own cache folder
//! (`TemplateCache::at`), so none depends on the user's cache or on another test.
//!
//! Needs the server binaries (Debian: `apt-get install postgresql mariadb-server`). No timings
//! are asserted.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use migcheck::engine::Engine;
use migcheck::provision::local::{self, LocalServer, SearchPaths, TemplateCache};
use migcheck::provision::{Conn, ProviderKind, ProvisionOptions, Server};
use migcheck::redact::SecretUrl;

const MANIFEST: &str = "migcheck-template.json";

fn options(engine: Engine) -> ProvisionOptions {
    ProvisionOptions {
        engine_version: None,
        image: None,
        keep: false,
        engine,
        provider: ProviderKind::Local,
        url: None,
        bin_dir: None,
        startup_timeout: Duration::from_secs(60),
    }
}

/// An empty cache in a fresh temporary folder.
fn empty_cache() -> (tempfile::TempDir, TemplateCache) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cache = TemplateCache::at(tmp.path().join("templates"));
    (tmp, cache)
}

async fn start(engine: Engine, cache: &TemplateCache) -> LocalServer {
    let bins = local::find_binaries(engine, &SearchPaths::from_env(None)).unwrap_or_else(|nf| {
        panic!(
            "this test needs {engine} server binaries, which are missing: {}\n  hint: {}",
            nf.message, nf.hint
        )
    });
    let requested = Instant::now();
    let server = local::start_with_templates(&options(engine), &bins, Some(cache))
        .await
        .unwrap_or_else(|e| panic!("starting a local {engine} server failed: {e}"));
    println!(
        "{}: ready {} ms after the request",
        server.describe(),
        requested.elapsed().as_millis()
    );
    server
}

fn prefix(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "postgres-",
        _ => "mariadb-",
    }
}

/// The one template folder in the cache, and nothing half-built beside it.
fn the_template(cache: &TemplateCache, engine: Engine) -> PathBuf {
    let names: Vec<String> = std::fs::read_dir(&cache.dir)
        .expect("the cache folder exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let dirs: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(prefix(engine)) && !n.ends_with(".lock"))
        .collect();
    assert_eq!(dirs.len(), 1, "one template expected in {names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with('.')),
        "build or stale folders left: {names:?}"
    );
    cache.dir.join(dirs[0])
}

fn manifest(tpl: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(tpl.join(MANIFEST)).expect("manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// Every file the manifest lists is there with its size.
fn assert_intact(tpl: &Path, what: &str) {
    let m = manifest(tpl);
    for f in m["files"].as_array().unwrap() {
        let path = tpl.join("data").join(f["path"].as_str().unwrap());
        let meta = std::fs::symlink_metadata(&path)
            .unwrap_or_else(|e| panic!("{what}: {} missing: {e}", path.display()));
        if f["kind"] == "file" {
            assert_eq!(
                Some(meta.len()),
                f["size"].as_u64(),
                "{what}: {}",
                path.display()
            );
        }
    }
}

fn password_of(url: &SecretUrl) -> String {
    url::Url::parse(url.expose())
        .unwrap()
        .password()
        .expect("admin URL has a password")
        .to_string()
}

/// Connect as the admin, create a table, and leave it there (the next run must not see it).
async fn create_probe(server: &dyn Server) {
    let engine = server.info().engine;
    let mut conn = Conn::connect(engine, server.admin_url())
        .await
        .expect("admin connection");
    let statements: &[&str] = match engine {
        Engine::Postgres => &[
            "CREATE TABLE leak_probe (id INT PRIMARY KEY, name VARCHAR(40))",
            "INSERT INTO leak_probe VALUES (1, 'one')",
        ],
        _ => &[
            "CREATE DATABASE leak_probe",
            "CREATE TABLE leak_probe.t (id INT PRIMARY KEY, name VARCHAR(40))",
            "INSERT INTO leak_probe.t VALUES (1, 'one')",
        ],
    };
    for sql in statements {
        conn.execute(sql).await.expect(sql);
    }
    let count = match engine {
        Engine::Postgres => support::scalar_i64(&mut conn, "SELECT count(*) FROM leak_probe").await,
        _ => support::scalar_i64(&mut conn, "SELECT count(*) FROM leak_probe.t").await,
    };
    assert_eq!(count, 1);
    conn.close().await;
}

/// How many probe tables the server has (0 on a fresh server).
async fn probes(server: &dyn Server) -> i64 {
    let engine = server.info().engine;
    let mut conn = Conn::connect(engine, server.admin_url())
        .await
        .expect("admin connection");
    let n =
        match engine {
            Engine::Postgres => {
                support::scalar_i64(
                    &mut conn,
                    "SELECT count(*) FROM pg_class WHERE relname = 'leak_probe'",
                )
                .await
            }
            _ => support::scalar_i64(
                &mut conn,
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'leak_probe'",
            )
            .await,
        };
    conn.close().await;
    n
}

/// Every byte of every file under `dir`, searched for `needle`.
fn tree_contains(dir: &Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let bytes = std::fs::read(e.path()).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    return true;
                }
            }
        }
    }
    false
}

async fn from_template_works_and_runs_share_nothing(engine: Engine) {
    let (_tmp, cache) = empty_cache();

    let first = start(engine, &cache).await;
    let tpl = the_template(&cache, engine);
    let built = manifest(&tpl);
    assert_eq!(built["identity"]["format"], 1, "{built}");
    assert!(
        built["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{built}"
    );
    let first_password = password_of(first.admin_url());
    assert!(
        !tree_contains(&tpl, first_password.as_bytes()),
        "the run's password is in the template"
    );
    create_probe(&first).await;
    let first_dir = first.dir().to_path_buf();
    first.shutdown().await.unwrap();
    assert!(!first_dir.exists(), "the run's directory was not removed");

    let second = start(engine, &cache).await;
    assert_eq!(
        manifest(&the_template(&cache, engine)),
        built,
        "a valid template was rebuilt"
    );
    assert_eq!(
        probes(&second).await,
        0,
        "a table of the previous run is there"
    );
    create_probe(&second).await;

    // The password is the run's own: the previous one does not log in.
    let second_password = password_of(second.admin_url());
    assert_ne!(first_password, second_password);
    let stale = SecretUrl::new(
        second
            .admin_url()
            .expose()
            .replace(&second_password, &first_password),
    );
    assert!(
        Conn::try_connect(engine, &stale).await.is_err(),
        "the previous run's password logs in"
    );
    second.shutdown().await.unwrap();

    let third = start(engine, &cache).await;
    assert_eq!(probes(&third).await, 0);
    third.shutdown().await.unwrap();
}

#[tokio::test]
async fn postgres_from_template_works_and_runs_share_nothing() {
    from_template_works_and_runs_share_nothing(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_from_template_works_and_runs_share_nothing() {
    from_template_works_and_runs_share_nothing(Engine::Mariadb).await;
}

/// Build the template, damage it with `damage`, and check the next run rebuilds it and works.
async fn rebuilt_after(engine: Engine, what: &str, damage: impl FnOnce(&Path)) {
    let (_tmp, cache) = empty_cache();
    start(engine, &cache).await.shutdown().await.unwrap();
    let tpl = the_template(&cache, engine);
    let good = manifest(&tpl);
    assert_intact(&tpl, "as built");
    damage(&tpl);

    let server = start(engine, &cache).await;
    let tpl = the_template(&cache, engine);
    let rebuilt = manifest(&tpl);
    assert_eq!(rebuilt["identity"], good["identity"], "{what}: not rebuilt");
    assert_eq!(rebuilt["files"], good["files"], "{what}: not rebuilt");
    assert_intact(&tpl, what);
    create_probe(&server).await;
    server.shutdown().await.unwrap();

    // And the rebuilt template serves the next run as it is.
    let next = start(engine, &cache).await;
    assert_eq!(manifest(&the_template(&cache, engine)), rebuilt, "{what}");
    assert_eq!(probes(&next).await, 0, "{what}");
    next.shutdown().await.unwrap();
}

/// A manifest from other binaries (the server was upgraded): stale.
fn make_stale(tpl: &Path) {
    let mut m = manifest(tpl);
    let size = m["identity"]["binaries"][0]["size"].as_u64().unwrap();
    m["identity"]["binaries"][0]["size"] = (size + 1).into();
    std::fs::write(tpl.join(MANIFEST), m.to_string()).unwrap();
}

/// The largest file of the template, cut in half (a copy that stopped midway).
fn truncate_largest(tpl: &Path) {
    let m = manifest(tpl);
    let largest = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "file")
        .max_by_key(|f| f["size"].as_u64().unwrap())
        .unwrap();
    let path = tpl.join("data").join(largest["path"].as_str().unwrap());
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

#[tokio::test]
async fn postgres_stale_template_is_rebuilt() {
    rebuilt_after(Engine::Postgres, "stale manifest", make_stale).await;
}

#[tokio::test]
async fn mariadb_stale_template_is_rebuilt() {
    rebuilt_after(Engine::Mariadb, "stale manifest", make_stale).await;
}

#[tokio::test]
async fn postgres_truncated_template_is_rebuilt() {
    rebuilt_after(Engine::Postgres, "truncated file", truncate_largest).await;
}

#[tokio::test]
async fn mariadb_truncated_template_is_rebuilt() {
    rebuilt_after(Engine::Mariadb, "truncated file", truncate_largest).await;
}

#[tokio::test]
async fn postgres_template_without_manifest_or_files_is_rebuilt() {
    // A build that crashed before its manifest was written (and its leftover staging folder).
    rebuilt_after(Engine::Postgres, "no manifest", |tpl| {
        std::fs::remove_file(tpl.join(MANIFEST)).unwrap();
        let staging = tpl.parent().unwrap().join(format!(
            ".{}.build-crashed",
            tpl.file_name().unwrap().to_string_lossy()
        ));
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("half"), "x").unwrap();
    })
    .await;
    // A folder of the data directory gone.
    rebuilt_after(Engine::Postgres, "missing folder", |tpl| {
        std::fs::remove_dir_all(tpl.join("data/base")).unwrap();
    })
    .await;
}

/// Damage the sizes cannot see (pg_control zeroed): the server does not start from the copy,
/// the run falls back to a fresh initdb and succeeds, and the template is rebuilt next time.
#[tokio::test]
async fn postgres_template_a_server_cannot_start_from_falls_back_to_initdb() {
    let (_tmp, cache) = empty_cache();
    start(Engine::Postgres, &cache)
        .await
        .shutdown()
        .await
        .unwrap();
    let tpl = the_template(&cache, Engine::Postgres);
    let good = manifest(&tpl);
    let control = tpl.join("data/global/pg_control");
    let len = std::fs::metadata(&control).unwrap().len();
    std::fs::write(&control, vec![0u8; len as usize]).unwrap();

    let server = start(Engine::Postgres, &cache).await;
    create_probe(&server).await;
    server.shutdown().await.unwrap();
    assert!(
        !tpl.exists(),
        "a template the server would not start from was kept"
    );

    let next = start(Engine::Postgres, &cache).await;
    assert_eq!(
        manifest(&the_template(&cache, Engine::Postgres))["files"],
        good["files"]
    );
    assert_eq!(probes(&next).await, 0);
    next.shutdown().await.unwrap();
}

/// `n` runs at once on an empty cache: one builds, the others wait and copy; all work.
async fn concurrent_first_runs(engine: Engine, n: usize) {
    let (_tmp, cache) = empty_cache();
    let servers = futures_util::future::join_all((0..n).map(|_| start(engine, &cache))).await;
    for server in &servers {
        create_probe(server).await;
    }
    the_template(&cache, engine);
    for server in servers {
        server.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_first_runs_all_succeed() {
    concurrent_first_runs(Engine::Postgres, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_concurrent_first_runs_all_succeed() {
    concurrent_first_runs(Engine::Mariadb, 3).await;
}
