//! docker provider: a throwaway server in a container, through testcontainers.
//!
//! Every container carries migcheck's labels (who started it, from which process on which
//! host), is registered for cleanup, and is removed on success, failure, Ctrl-C and SIGTERM.
//! `migcheck cleanup` removes the ones a killed run left behind, and only those.

use std::collections::HashMap;
use std::sync::Arc;

use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use testcontainers::bollard::Docker;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::{cleanup, Conn, ProvisionOptions, Server};
use crate::engine::{Engine, ServerInfo};
use crate::error::{Error, Result};
use crate::redact::{self, SecretUrl};

/// Label set on every container migcheck starts.
pub const LABEL_MANAGED: &str = "dev.migcheck.managed";
/// The pid of the migcheck process that started the container.
pub const LABEL_PID: &str = "dev.migcheck.pid";
/// The host name of the machine that process ran on.
pub const LABEL_HOST: &str = "dev.migcheck.host";
/// Set when the container was kept on purpose (`--keep`).
pub const LABEL_KEEP: &str = "dev.migcheck.keep";

/// The image used for an engine when neither `--image` nor a version is given.
pub fn default_image(engine: Engine, version: Option<&str>) -> String {
    let (name, tag) = match engine {
        Engine::Postgres => ("postgres", "17"),
        Engine::Mysql => ("mysql", "8.4"),
        Engine::Mariadb => ("mariadb", "11.4"),
    };
    format!("{name}:{}", version.unwrap_or(tag))
}

/// Split `name[:tag]` (a registry host may carry a port: `registry:5000/pg:16`).
fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// Whether a Docker engine answers, and if not, why (for `auto` and for error messages).
pub async fn probe() -> std::result::Result<String, String> {
    let docker = Docker::connect_with_defaults().map_err(|e| {
        format!("no Docker engine configured ({e}); set DOCKER_HOST or start the Docker daemon")
    })?;
    match tokio::time::timeout(Duration::from_secs(3), docker.version()).await {
        Ok(Ok(v)) => Ok(v.version.unwrap_or_else(|| "unknown".to_string())),
        Ok(Err(e)) => Err(format!(
            "the Docker engine at {} does not answer: {e}",
            docker_host()
        )),
        Err(_) => Err(format!(
            "the Docker engine at {} did not answer within 3 s",
            docker_host()
        )),
    }
}

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// True when the engine runs on this machine, so published ports can be bound to loopback.
/// With a remote engine (GitLab's docker:dind, `DOCKER_HOST=tcp://docker:2375`) the port must be
/// reachable from here, on the engine's host.
fn engine_is_local() -> bool {
    is_local_engine(std::env::var("DOCKER_HOST").ok().as_deref())
}

fn is_local_engine(docker_host: Option<&str>) -> bool {
    match docker_host {
        None | Some("") => true,
        Some(h) => {
            h.starts_with("unix://")
                || h.starts_with("npipe://")
                || h.contains("://localhost")
                || h.contains("://127.")
                || h.contains("://[::1]")
        }
    }
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".to_string())
}

struct EngineSetup {
    port: u16,
    env: Vec<(String, String)>,
    args: Vec<String>,
    /// The final server's ready line and how often it appears in the log before it counts.
    ready_line: &'static str,
    ready_times: usize,
    user: &'static str,
    maintenance_db: &'static str,
    scheme: &'static str,
    /// The image's data directory: mounted as tmpfs, the throwaway data never touches disk.
    data_dir: &'static str,
}

fn setup(engine: Engine, password: &str) -> EngineSetup {
    match engine {
        // The official image's init server prints the ready line once, the real server again.
        Engine::Postgres => EngineSetup {
            port: 5432,
            env: vec![("POSTGRES_PASSWORD".into(), password.into())],
            args: [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
            .map(String::from)
            .to_vec(),
            ready_line: "database system is ready to accept connections",
            ready_times: 2,
            user: "postgres",
            maintenance_db: "postgres",
            scheme: "postgres",
            data_dir: "/var/lib/postgresql/data",
        },
        // The init server reports `port: 0`; the real one `port: 3306` followed by two spaces
        // (which keeps the X plugin's `port: 33060` from matching).
        Engine::Mysql | Engine::Mariadb => EngineSetup {
            port: 3306,
            // Loading time-zone tables costs the official images 1.5-2.5 s at start.
            env: vec![
                ("MYSQL_ROOT_PASSWORD".into(), password.into()),
                ("MARIADB_ROOT_PASSWORD".into(), password.into()),
                ("MYSQL_INITDB_SKIP_TZINFO".into(), "1".into()),
                ("MARIADB_INITDB_SKIP_TZINFO".into(), "1".into()),
            ],
            args: [
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                "--skip-name-resolve",
            ]
            .map(String::from)
            .to_vec(),
            ready_line: "port: 3306  ",
            ready_times: 1,
            user: "root",
            maintenance_db: "mysql",
            scheme: "mysql",
            data_dir: "/var/lib/mysql",
        },
    }
}

/// The container, shared between the server and its cleanup action so either can remove it.
type Slot = Arc<Mutex<Option<ContainerAsync<GenericImage>>>>;

pub struct DockerServer {
    slot: Slot,
    keep: bool,
    image: String,
    id: String,
    info: ServerInfo,
    admin_url: SecretUrl,
    startup: Duration,
    _registration: Option<cleanup::Registration>,
}

impl std::fmt::Debug for DockerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerServer")
            .field("image", &self.image)
            .field("id", &self.id)
            .field("admin_url", &self.admin_url)
            .finish()
    }
}

impl DockerServer {
    pub fn container_id(&self) -> &str {
        &self.id
    }

    pub fn image(&self) -> &str {
        &self.image
    }
}

struct RemoveContainer {
    slot: Slot,
    label: String,
}

#[async_trait::async_trait]
impl cleanup::Cleanup for RemoveContainer {
    fn label(&self) -> String {
        self.label.clone()
    }

    async fn run(&self) {
        let container = self.slot.lock().await.take();
        if let Some(c) = container {
            if let Err(e) = c.rm().await {
                tracing::warn!("could not remove container: {e}");
            }
        }
    }
}

/// Start a container for `options.engine` and wait until it accepts connections.
pub async fn start(options: &ProvisionOptions) -> Result<DockerServer> {
    let started = Instant::now();
    probe().await.map_err(|why| {
        Error::environment(
            format!("--provider docker: {why}"),
            Some(
                "start Docker, point DOCKER_HOST at an engine, or use --provider local / url"
                    .into(),
            ),
        )
    })?;
    let engine = options.engine;
    let image = options
        .image
        .clone()
        .unwrap_or_else(|| default_image(engine, options.engine_version.as_deref()));
    let (name, tag) = split_image(&image);
    let password = super::local::random_alnum(24);
    let s = setup(engine, &password);

    let mut request = GenericImage::new(name, tag)
        .with_exposed_port(s.port.tcp())
        .with_wait_for(WaitFor::Nothing)
        .with_label(LABEL_MANAGED, "true")
        .with_label(LABEL_PID, std::process::id().to_string())
        .with_label(LABEL_HOST, hostname())
        .with_cmd(s.args.clone());
    for (k, v) in &s.env {
        request = request.with_env_var(k, v);
    }
    if options.keep {
        request = request.with_label(LABEL_KEEP, "true");
    }
    let port = format!("{}/tcp", s.port);
    let loopback = engine_is_local();
    let data_dir = s.data_dir.to_string();
    request = request.with_host_config_modifier(move |host| {
        host.tmpfs = Some(HashMap::from([(data_dir.clone(), "rw".to_string())]));
        if loopback {
            let binding = testcontainers::bollard::models::PortBinding {
                host_ip: Some("127.0.0.1".to_string()),
                host_port: Some(String::new()),
            };
            host.publish_all_ports = Some(false);
            host.port_bindings = Some(HashMap::from([(port.clone(), Some(vec![binding]))]));
        }
    });

    let container = request.start().await.map_err(|e| start_error(&image, e))?;
    let id = container.id().to_string();
    let slot: Slot = Arc::new(Mutex::new(Some(container)));
    // Registered at once: from here on, an interrupt or an error removes the container.
    let registration = (!options.keep).then(|| {
        cleanup::register(Arc::new(RemoveContainer {
            slot: slot.clone(),
            label: format!("container {} ({image})", short(&id)),
        }))
    });
    let remove_now = || async {
        let c = slot.lock().await.take();
        if let Some(c) = c {
            let _ = c.rm().await;
        }
    };

    let deadline = started + options.startup_timeout;
    let ready = wait_for_log(&slot, s.ready_line, s.ready_times, deadline).await;
    if let Err(why) = ready {
        let logs = last_logs(&slot).await;
        remove_now().await;
        return Err(Error::environment(
            format!("container {image} did not become ready: {why}\n--- last log lines\n{logs}"),
            Some("raise --startup-timeout, or check the image with `docker run`".into()),
        ));
    }
    let (host, port) = {
        let guard = slot.lock().await;
        let c = guard
            .as_ref()
            .ok_or_else(|| Error::environment("container removed", None))?;
        let host = c.get_host().await.map_err(|e| container_error(&image, e))?;
        let port = c
            .get_host_port_ipv4(s.port.tcp())
            .await
            .map_err(|e| container_error(&image, e))?;
        (host.to_string(), port)
    };
    let admin_url = SecretUrl::new(format!(
        "{}://{}:{password}@{host}:{port}/{}",
        s.scheme, s.user, s.maintenance_db
    ));
    let info = match connect_until_ready(engine, &admin_url, deadline).await {
        Ok(info) => info,
        Err(why) => {
            let logs = last_logs(&slot).await;
            remove_now().await;
            return Err(Error::environment(
                format!(
                    "container {image} printed its ready line but {admin_url} does not answer: {}\n--- last log lines\n{logs}",
                    redact::scrub(&why, &[&password])
                ),
                None,
            ));
        }
    };
    if info.engine != engine && !(engine == Engine::Mysql && info.engine == Engine::Mariadb) {
        tracing::warn!("asked for {engine}, the image {image} runs {}", info.engine);
    }
    Ok(DockerServer {
        slot,
        keep: options.keep,
        image,
        id,
        info,
        admin_url,
        startup: started.elapsed(),
        _registration: registration,
    })
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Poll the container's log until `line` has appeared `times` times, the container exits, or
/// the deadline passes.
async fn wait_for_log(
    slot: &Slot,
    line: &str,
    times: usize,
    deadline: Instant,
) -> std::result::Result<(), String> {
    loop {
        let (logs, running) = {
            let guard = slot.lock().await;
            let c = guard.as_ref().ok_or("container removed")?;
            let out = c.stdout_to_vec().await.unwrap_or_default();
            let err = c.stderr_to_vec().await.unwrap_or_default();
            let running = c.is_running().await.unwrap_or(false);
            let mut all = String::from_utf8_lossy(&out).into_owned();
            all.push_str(&String::from_utf8_lossy(&err));
            (all, running)
        };
        if logs.matches(line).count() >= times {
            return Ok(());
        }
        if !running {
            return Err("the container exited".into());
        }
        if Instant::now() >= deadline {
            return Err("timed out waiting for its ready log line".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Right after the ready line the first connection can still be refused: retry until it works.
async fn connect_until_ready(
    engine: Engine,
    url: &SecretUrl,
    deadline: Instant,
) -> std::result::Result<ServerInfo, String> {
    loop {
        let attempt = async {
            let mut conn = Conn::try_connect(engine, url).await?;
            conn.execute("SELECT 1").await?;
            let info = conn.server_info().await;
            conn.close().await;
            info
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(info)) => return Ok(info),
            Ok(Err(e)) if Instant::now() >= deadline => return Err(e.to_string()),
            Err(_) if Instant::now() >= deadline => {
                return Err("connection attempt timed out".into())
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn last_logs(slot: &Slot) -> String {
    let guard = slot.lock().await;
    let Some(c) = guard.as_ref() else {
        return String::new();
    };
    let out = c.stdout_to_vec().await.unwrap_or_default();
    let err = c.stderr_to_vec().await.unwrap_or_default();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn start_error(image: &str, e: testcontainers::TestcontainersError) -> Error {
    use testcontainers::core::error::ClientError;
    use testcontainers::TestcontainersError as T;
    match &e {
        T::Client(ClientError::PullImage { err, .. }) => Error::environment(
            format!("image {image} is not present on the Docker engine and cannot be pulled: {err}"),
            Some(format!(
                "pull it where a registry is reachable (`docker pull {image}`), mirror it into a private \
                 registry and pass --image REGISTRY/NAME:TAG, or use --provider local / url"
            )),
        ),
        T::Client(ClientError::Init(err)) => Error::environment(
            format!("no Docker engine: {err}"),
            Some("start Docker or set DOCKER_HOST; or use --provider local / url".into()),
        ),
        _ => container_error(image, e),
    }
}

fn container_error(image: &str, e: testcontainers::TestcontainersError) -> Error {
    Error::environment(format!("container {image}: {e}"), None)
}

#[async_trait::async_trait]
impl Server for DockerServer {
    fn provider(&self) -> &'static str {
        "docker"
    }

    fn describe(&self) -> String {
        format!(
            "docker {} {} (container {})",
            self.image,
            super::local::short_version(&self.info.version),
            short(&self.id)
        )
    }

    fn info(&self) -> &ServerInfo {
        &self.info
    }

    fn startup(&self) -> Duration {
        self.startup
    }

    fn image(&self) -> Option<&str> {
        Some(&self.image)
    }

    fn admin_url(&self) -> &SecretUrl {
        &self.admin_url
    }

    async fn shutdown(&self) -> Result<()> {
        let container = self.slot.lock().await.take();
        if let Some(c) = container {
            if self.keep {
                // Dropping would remove it: forget the handle and leave the container running.
                std::mem::forget(c);
            } else {
                c.rm().await.map_err(|e| container_error(&self.image, e))?;
            }
        }
        Ok(())
    }
}

/// A container labelled as migcheck's, as `migcheck cleanup` sees it.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub id: String,
    pub image: String,
    pub pid: Option<u32>,
    pub host: Option<String>,
    pub kept: bool,
}

impl Labelled {
    /// Left behind: started on this host by a process that no longer runs (or was kept).
    pub fn is_leftover(&self, this_host: &str) -> bool {
        if self.host.as_deref() != Some(this_host) {
            return false;
        }
        match self.pid {
            Some(pid) => self.kept || !process_is_migcheck(pid),
            None => false,
        }
    }
}

fn process_is_migcheck(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("migcheck"))
        .unwrap_or(false)
}

/// Every container carrying migcheck's label.
pub async fn list_labelled() -> Result<Vec<Labelled>> {
    use testcontainers::bollard::query_parameters::ListContainersOptionsBuilder;
    let docker = Docker::connect_with_defaults()
        .map_err(|e| Error::environment(format!("no Docker engine: {e}"), None))?;
    let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_MANAGED}=true")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker.list_containers(Some(options)).await.map_err(|e| {
        Error::environment(
            format!("listing containers on {}: {e}", docker_host()),
            None,
        )
    })?;
    Ok(containers
        .into_iter()
        .map(|c| {
            let labels = c.labels.unwrap_or_default();
            Labelled {
                id: c.id.unwrap_or_default(),
                image: c.image.unwrap_or_default(),
                pid: labels.get(LABEL_PID).and_then(|p| p.parse().ok()),
                host: labels.get(LABEL_HOST).cloned(),
                kept: labels.get(LABEL_KEEP).is_some_and(|v| v == "true"),
            }
        })
        .collect())
}

/// Force-remove a container by id.
pub async fn remove(id: &str) -> Result<()> {
    use testcontainers::bollard::query_parameters::RemoveContainerOptionsBuilder;
    let docker = Docker::connect_with_defaults()
        .map_err(|e| Error::environment(format!("no Docker engine: {e}"), None))?;
    docker
        .remove_container(
            id,
            Some(
                RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
        .await
        .map_err(|e| Error::environment(format!("removing container {}: {e}", short(id)), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_on_the_tag_only() {
        assert_eq!(split_image("postgres:16"), ("postgres".into(), "16".into()));
        assert_eq!(
            split_image("postgis/postgis:16-3.4"),
            ("postgis/postgis".into(), "16-3.4".into())
        );
        assert_eq!(
            split_image("registry:5000/pg"),
            ("registry:5000/pg".into(), "latest".into())
        );
        assert_eq!(
            split_image("registry:5000/pg:15"),
            ("registry:5000/pg".into(), "15".into())
        );
    }

    #[test]
    fn default_images_follow_the_engine_version() {
        assert_eq!(default_image(Engine::Postgres, Some("16")), "postgres:16");
        assert_eq!(default_image(Engine::Mariadb, None), "mariadb:11.4");
        assert_eq!(default_image(Engine::Mysql, Some("8.0")), "mysql:8.0");
    }

    #[test]
    fn ports_are_loopback_only_for_a_local_engine() {
        assert!(is_local_engine(None));
        assert!(is_local_engine(Some("unix:///var/run/docker.sock")));
        assert!(is_local_engine(Some("tcp://127.0.0.1:2375")));
        // GitLab docker-in-docker: the published port lives on host `docker`.
        assert!(!is_local_engine(Some("tcp://docker:2375")));
        assert!(!is_local_engine(Some("tcp://10.0.0.5:2376")));
    }

    #[test]
    fn leftovers_are_dead_runs_on_this_host_only() {
        let dead = Labelled {
            id: "a".into(),
            image: "i".into(),
            pid: Some(u32::MAX - 1),
            host: Some("h".into()),
            kept: false,
        };
        assert!(dead.is_leftover("h"));
        assert!(!dead.is_leftover("other-host"));
        let alive = Labelled {
            pid: Some(std::process::id()),
            ..dead.clone()
        };
        // The test binary's own command line names migcheck: a live run is never a leftover.
        assert!(!alive.is_leftover("h"));
        let kept = Labelled {
            kept: true,
            ..alive
        };
        assert!(kept.is_leftover("h"));
    }
}
