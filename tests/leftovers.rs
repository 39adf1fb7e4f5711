//! Nothing is left behind however migcheck ends: a run killed with SIGKILL (no chance to clean
//! up) leaves a record, and `migcheck cleanup` or the next run removes what it names. A Ctrl-C
//! while MariaDB sets up its data directory leaves nothing either.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use migcheck::engine::Engine;
use migcheck::provision::{Conn, Server};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A work folder: migrations, a private TMPDIR and a private state folder.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new(sleep_sql: &str) -> Work {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("migrations");
        std::fs::create_dir(&m).unwrap();
        std::fs::write(m.join("0001_create.up.sql"), "CREATE TABLE t (id int);\n").unwrap();
        std::fs::write(m.join("0001_create.down.sql"), "DROP TABLE t;\n").unwrap();
        std::fs::write(m.join("0002_sleep.up.sql"), format!("{sleep_sql};\n")).unwrap();
        std::fs::write(m.join("0002_sleep.down.sql"), "SELECT 1;\n").unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        // The local provider may run the server as an unprivileged user.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        Work { dir }
    }

    fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }
    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn migcheck(&self) -> std::process::Command {
        let mut cmd = support::migcheck();
        // Its own template cache: the install-db test needs the installer to run (it builds
        // the template), and no test depends on the user's cache.
        cmd.env("TMPDIR", self.tmp())
            .env("MIGCHECK_STATE_DIR", self.state())
            .env("MIGCHECK_TEMPLATE_DIR", self.dir.path().join("templates"));
        cmd
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        found.sort();
        found
    }

    fn cleanup(&self, extra: &[&str]) -> std::process::Output {
        self.migcheck()
            .arg("cleanup")
            .args(extra)
            .output()
            .expect("run migcheck cleanup")
    }
}

/// Start `verify`, wait until migration 0001 passed (0002 sleeps), and SIGKILL it.
fn kill_during_run(work: &Work, engine: &str, extra: &[&str]) {
    let mut child = work
        .migcheck()
        .arg("verify")
        .arg(work.migrations())
        .args(["--engine", engine])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start migcheck");
    wait_for_line(&mut child, "0001_create");
    std::thread::sleep(Duration::from_millis(300));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
}

fn wait_for_line(child: &mut Child, needle: &str) {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return;
                }
            }
            _ => panic!(
                "migcheck ended before printing {needle}:\n{}",
                seen.join("\n")
            ),
        }
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// SIGKILL during a local-server run: the server dies with migcheck, its data directory stays,
/// and the run's record names it. The next run removes it (and says so); the record goes.
#[test]
fn sigkill_leaves_a_record_the_next_run_clears() {
    let work = Work::new("SELECT pg_sleep(60)");
    kill_during_run(&work, "postgres", &["--provider", "local"]);
    let left = Work::entries(&work.tmp());
    assert_eq!(left.len(), 1, "the killed run's data directory: {left:?}");
    let records = Work::entries(&work.state());
    assert_eq!(records.len(), 1, "{records:?}");
    let record = std::fs::read_to_string(&records[0]).unwrap();
    assert!(record.contains(left[0].to_str().unwrap()), "{record}");

    // A dry run only lists it.
    let dry = work.cleanup(&["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("would remove directory"),
        "{}",
        text(&dry)
    );
    assert!(left[0].exists());

    // The next verify of any chain sweeps it first.
    let fast = tempfile::tempdir().unwrap();
    std::fs::write(fast.path().join("1_a.up.sql"), "CREATE TABLE a (id int);\n").unwrap();
    std::fs::write(fast.path().join("1_a.down.sql"), "DROP TABLE a;\n").unwrap();
    let out = work
        .migcheck()
        .arg("verify")
        .arg(fast.path())
        .args(["--engine", "postgres", "--provider", "local"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("removed what a killed run left: directory"),
        "{}",
        text(&out)
    );
    assert!(
        Work::entries(&work.tmp()).is_empty(),
        "{:?}",
        Work::entries(&work.tmp())
    );
    assert!(
        Work::entries(&work.state()).is_empty(),
        "{:?}",
        Work::entries(&work.state())
    );
}

async fn names_on(server: &dyn Server) -> (Vec<String>, Vec<String>) {
    let mut conn = Conn::connect(server.info().engine, server.admin_url())
        .await
        .unwrap();
    let Conn::Mysql(c) = &mut conn else {
        panic!("MariaDB expected")
    };
    let dbs: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'migcheck\\_%'",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap();
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(user AS CHAR) FROM mysql.user WHERE user LIKE 'migcheck\\_%'",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap();
    conn.close().await;
    (dbs, users)
}

/// SIGKILL during a url-provider run: the throwaway database and its sandbox user stay on the
/// shared server. The record holds no password, so `cleanup` without the URL only lists them;
/// with `--url` it drops both.
#[test]
fn sigkill_on_a_shared_server_is_cleaned_up_with_its_url() {
    let rt = support::runtime();
    let server = rt.block_on(support::local_server(Engine::Mariadb));
    let admin = server.admin_url().expose().to_string();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let work = Work::new("DO SLEEP(60)");
        kill_during_run(&work, "mariadb", &["--provider", "url", "--url", &admin]);
        let (dbs, users) = rt.block_on(names_on(server.as_ref()));
        assert_eq!(dbs.len(), 1, "the killed run's database: {dbs:?}");
        assert_eq!(users, dbs, "its sandbox user has its name");
        let record = std::fs::read_to_string(&Work::entries(&work.state())[0]).unwrap();
        let password = url::Url::parse(&admin)
            .unwrap()
            .password()
            .unwrap()
            .to_string();
        assert!(
            !record.contains(&password),
            "a record holds no password: {record}"
        );

        let out = work.cleanup(&[]);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("left      database {}", dbs[0])),
            "{}",
            text(&out)
        );
        assert!(stdout.contains("pass --url"), "{}", text(&out));
        assert_eq!(
            rt.block_on(names_on(server.as_ref())).0,
            dbs,
            "nothing dropped without --url"
        );

        let mariadb_url = admin.replacen("mysql://", "mariadb://", 1);
        let out = work.cleanup(&["--url", &mariadb_url]);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("removed   database"), "{}", text(&out));
        assert!(!text(&out).contains(&password), "{}", text(&out));
        let (dbs, users) = rt.block_on(names_on(server.as_ref()));
        assert!(dbs.is_empty() && users.is_empty(), "{dbs:?} {users:?}");
        assert!(Work::entries(&work.state()).is_empty());
    }));
    rt.block_on(server.shutdown()).expect("shutdown");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Ctrl-C while mariadb-install-db's own bootstrap server writes the data directory: the
/// whole installer (its server too) stops before the directory is removed, so none is left.
#[test]
fn ctrl_c_during_mariadb_install_db_leaves_nothing() {
    for attempt in 1..=4 {
        let work = Work::new("SELECT 1");
        let mut child = work
            .migcheck()
            .arg("verify")
            .arg(work.migrations())
            .args(["--engine", "mariadb", "--provider", "local"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let tmp = work.tmp().to_string_lossy().to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        // The bootstrap server names the data directory under our TMPDIR.
        while !support::processes_mentioning(&tmp)
            .iter()
            .any(|p| p.contains("bootstrap"))
        {
            assert!(
                Instant::now() < deadline && child.try_wait().unwrap().is_none(),
                "attempt {attempt}: the installer's bootstrap server never showed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Land the signal at a different moment of the set-up each time.
        std::thread::sleep(Duration::from_millis(40 * (attempt - 1)));
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
        let status = child.wait().unwrap();
        let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap_or_default();
        assert_eq!(status.code(), Some(130), "attempt {attempt}: {stderr}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !support::processes_mentioning(&tmp).is_empty() {
            assert!(
                Instant::now() < deadline,
                "attempt {attempt}: processes outlived migcheck: {:?}",
                support::processes_mentioning(&tmp)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let left = Work::entries(&work.tmp());
        assert!(
            left.is_empty(),
            "attempt {attempt}: left behind: {left:?}\n{stderr}"
        );
        assert!(
            Work::entries(&work.state()).is_empty(),
            "attempt {attempt}: a record stayed"
        );
    }
}
