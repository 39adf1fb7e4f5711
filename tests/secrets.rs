//! No secret in any output: a password given in the URL (percent-encoded in the userinfo, or as
//! a `?password=` parameter) never appears, encoded or decoded, in the terminal output, the JSON
//! or the JUnit report, the SARIF, Markdown or Code Quality report, even when the server's own
//! error message echoes it.
//!
//! One local server per engine; the url provider connects to it as a role with that password.

mod support;

use migcheck::engine::Engine;
use support::verify;

/// Needs percent-encoding in a URL (`@`, `/`, `#`) and reads as plain text in an error message.
const PASSWORD: &str = "p@ss/w#rd-Zq8";
const ENCODED: &str = "p%40ss%2Fw%23rd-Zq8";

/// The end of the password, which no escaping (Markdown escapes `#`) changes.
const TAIL: &str = "rd-Zq8";

fn assert_no_secret(run: &support::Run, what: &str) {
    let json = run
        .json
        .as_ref()
        .map(|j| serde_json::to_string(j).unwrap())
        .unwrap_or_default();
    for (name, text) in [
        ("stdout", run.stdout()),
        ("stderr", run.stderr()),
        ("JSON", json),
        ("JUnit", run.junit.clone().unwrap_or_default()),
    ] {
        for form in [PASSWORD, ENCODED] {
            assert!(
                !text.contains(form),
                "{what}: `{form}` leaked in {name}:\n{text}"
            );
        }
    }
}

/// A chain whose migration makes the server echo the password in its error message.
fn echoing_chain(engine: Engine) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let quoted = match engine {
        Engine::Postgres => format!("\"{PASSWORD}\""),
        _ => format!("`{PASSWORD}`"),
    };
    std::fs::write(
        dir.path().join("1_create.up.sql"),
        "CREATE TABLE t (id int);\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("1_create.down.sql"), "DROP TABLE t;\n").unwrap();
    std::fs::write(
        dir.path().join("2_echo.up.sql"),
        format!("SELECT * FROM {quoted};\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("2_echo.down.sql"), "SELECT 1;\n").unwrap();
    dir
}

#[test]
fn server_messages_echoing_the_password_are_scrubbed_in_every_form() {
    let rt = support::runtime();
    for engine in [Engine::Postgres, Engine::Mariadb] {
        let server = rt.block_on(support::local_server(engine));
        let create: Vec<String> = match engine {
            Engine::Postgres => vec![format!(
                "CREATE ROLE migcheck_secret LOGIN CREATEDB CREATEROLE PASSWORD '{PASSWORD}'"
            )],
            _ => vec![
                format!("CREATE USER 'migcheck_secret'@'%' IDENTIFIED BY '{PASSWORD}'"),
                "GRANT ALL PRIVILEGES ON *.* TO 'migcheck_secret'@'%' WITH GRANT OPTION"
                    .to_string(),
            ],
        };
        let create: Vec<&str> = create.iter().map(String::as_str).collect();
        rt.block_on(support::run_sql(server.as_ref(), &create));
        let userinfo = url::Url::parse(&support::url_as(
            server.as_ref(),
            "migcheck_secret",
            PASSWORD,
        ))
        .unwrap();
        assert!(userinfo.as_str().contains(ENCODED), "{userinfo}");
        let mut urls = vec![("userinfo", userinfo.to_string())];
        if engine == Engine::Postgres {
            // libpq-style parameter, which sqlx's PostgreSQL driver reads.
            let mut query = userinfo.clone();
            query.set_password(None).unwrap();
            query.query_pairs_mut().append_pair("password", PASSWORD);
            urls.push(("query", query.to_string()));
        }
        let chain = echoing_chain(engine);
        let result = std::panic::catch_unwind(|| {
            for (form, url) in &urls {
                let reports = tempfile::tempdir().unwrap();
                let ci = |name: &str| reports.path().join(name).display().to_string();
                let (sarif, markdown, quality) = (ci("s.sarif"), ci("s.md"), ci("cq.json"));
                let run = verify(
                    chain.path(),
                    &[
                        "--sarif",
                        &sarif,
                        "--markdown",
                        &markdown,
                        "--gitlab-codequality",
                        &quality,
                        "--engine",
                        engine.name(),
                        "--provider",
                        "url",
                        "--url",
                        url,
                        "--format",
                        "golang-migrate",
                    ],
                );
                let what = format!("{engine} ({form} password)");
                // The echoing migration fails: the gate fails, and its message is shown scrubbed.
                assert_eq!(run.code(), 1, "{what}: {}", run.describe());
                assert!(
                    run.stdout().contains("***"),
                    "{what}: the scrubbed message is shown: {}",
                    run.describe()
                );
                assert_no_secret(&run, &what);
                for file in [&sarif, &markdown, &quality] {
                    let text = std::fs::read_to_string(file)
                        .unwrap_or_else(|e| panic!("{what}: {file}: {e}"));
                    for form in [PASSWORD, ENCODED, TAIL] {
                        assert!(
                            !text.contains(form),
                            "{what}: `{form}` leaked in {file}:\n{text}"
                        );
                    }
                }
                assert!(
                    std::fs::read_to_string(&markdown)
                        .unwrap()
                        .contains("\\*\\*\\*"),
                    "{what}: the Markdown shows the scrubbed message"
                );
            }
        });
        rt.block_on(server.shutdown()).expect("shutdown");
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}
