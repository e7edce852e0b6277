//! Containers as a user sees them with `docker`: the Docker Engine API on a unix socket (a
//! slave's emulator of `galley-sim marathon --docker-dir`, or the private real dockerd of
//! `scripts/test.sh`), through bollard.
//!
//! `scripts/test.sh` starts the real dockerd and exports `GALLEY_DOCKER_SOCK`,
//! `GALLEY_TEST_IMAGE` and `GALLEY_REQUIRE_DOCKERD=1`; without them [`real_dockerd`] prints
//! SKIPPED.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};

/// The label every container an [`Engine`] creates carries, with the engine's run id as
/// value: what [`Engine::remove_mine`] removes.
pub const RUN_LABEL: &str = "galley-e2e-run";

/// The private real dockerd: its socket and a busybox image it has.
#[derive(Debug, Clone)]
pub struct RealDockerd {
    /// `GALLEY_DOCKER_SOCK`.
    pub socket: PathBuf,
    /// `GALLEY_TEST_IMAGE` (default `galley-test/busybox:1`).
    pub image: String,
}

/// The real dockerd if `GALLEY_DOCKER_SOCK` is set; `None` (after a loud SKIPPED line naming
/// `what`) when it is not and `GALLEY_REQUIRE_DOCKERD` is unset. Panics when it is required
/// and missing.
pub fn real_dockerd(what: &str) -> Option<RealDockerd> {
    match std::env::var("GALLEY_DOCKER_SOCK") {
        Ok(s) if !s.is_empty() => Some(RealDockerd {
            socket: PathBuf::from(s),
            image: std::env::var("GALLEY_TEST_IMAGE")
                .unwrap_or_else(|_| "galley-test/busybox:1".to_owned()),
        }),
        _ => {
            assert!(
                std::env::var_os("GALLEY_REQUIRE_DOCKERD").is_none(),
                "GALLEY_REQUIRE_DOCKERD is set but GALLEY_DOCKER_SOCK is not: \
                 run `eval \"$(scripts/dockerd.sh start DIR)\"` first"
            );
            eprintln!(
                "==== SKIPPED: {what}: no real dockerd (set GALLEY_DOCKER_SOCK, see scripts/dockerd.sh) ===="
            );
            None
        }
    }
}

impl RealDockerd {
    /// Holds the real dockerd for this test, across processes (an advisory lock on a file in
    /// the temp dir named after the socket), until the guard is dropped. A test whose agent
    /// watches the real dockerd sees every container there, so two such tests at once would
    /// take each other's containers for orphans. Once held, containers that earlier runs left
    /// behind (labelled [`RUN_LABEL`], e.g. of a run that was killed) are removed.
    pub async fn exclusive(&self) -> DockerdLock {
        let name = self.socket.display().to_string().replace('/', "_");
        let path = std::env::temp_dir().join(format!("galley-e2e-dockerd{name}.lock"));
        let file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("lock file {}: {e}", path.display()));
        let file = match file.try_lock() {
            Ok(()) => file,
            Err(_) => {
                eprintln!(
                    "waiting for {} (another e2e test holds it: {})",
                    self.socket.display(),
                    path.display()
                );
                tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                    .await
                    .expect("lock task")
                    .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()))
            }
        };
        let left = Engine::connect(&self.socket, &self.image, "")
            .remove_where(RUN_LABEL)
            .await;
        if left > 0 {
            eprintln!("removed {left} containers earlier e2e runs left on the real dockerd");
        }
        DockerdLock { _file: file }
    }
}

/// The real dockerd is this test's while this lives (see [`RealDockerd::exclusive`]).
#[derive(Debug)]
pub struct DockerdLock {
    _file: std::fs::File,
}

/// A random id shaped like a UUID (`8-4-4-4-12` hex digits), for task ids and names.
pub fn unique_id() -> String {
    let word = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.finish()
    };
    let hex = format!("{:016x}{:016x}", word(), word());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// One container of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Full id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Its `MESOS_TASK_ID` label, if any.
    pub task_id: Option<String>,
    /// `running`, `exited`, ...
    pub state: String,
}

/// One Docker engine, and the containers this test creates there.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    image: String,
    run: String,
    /// The socket (for messages).
    pub socket: PathBuf,
}

impl Engine {
    /// The engine on `socket`; containers are created from `image` and labelled
    /// [`RUN_LABEL`]`=run`.
    pub fn connect(socket: &Path, image: &str, run: &str) -> Self {
        let docker = Docker::connect_with_unix(
            &socket.display().to_string(),
            30,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap_or_else(|e| panic!("docker {}: {e}", socket.display()));
        Self {
            docker,
            image: image.to_owned(),
            run: run.to_owned(),
            socket: socket.to_owned(),
        }
    }

    /// `docker run -d --name NAME --network none` of `sh -c 'sleep 3600'`, with
    /// `MESOS_TASK_ID=task` as env and label when given (as the Mesos docker executor sets
    /// them); returns the id.
    pub async fn run(&self, name: &str, task_id: Option<&str>) -> String {
        self.try_run(name, task_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Self::run`], with Docker's refusal as an error (an engine answering faults).
    pub async fn try_run(&self, name: &str, task_id: Option<&str>) -> Result<String, String> {
        let mut labels = HashMap::from([(RUN_LABEL.to_owned(), self.run.clone())]);
        let mut env = Vec::new();
        if let Some(t) = task_id {
            labels.insert("MESOS_TASK_ID".to_owned(), t.to_owned());
            env.push(format!("MESOS_TASK_ID={t}"));
        }
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec!["sh".into(), "-c".into(), "sleep 3600".into()]),
            env: Some(env),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_owned()),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(name).build();
        let id = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| format!("create {name} on {}: {e}", self.socket.display()))?
            .id;
        self.docker
            .start_container(&id, None)
            .await
            .map_err(|e| format!("start {name} on {}: {e}", self.socket.display()))?;
        Ok(id)
    }

    /// Every container (`docker ps -a`).
    pub async fn containers(&self) -> Result<Vec<Container>, String> {
        let opts = ListContainersOptionsBuilder::new().all(true).build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| format!("list {}: {e}", self.socket.display()))?;
        Ok(list
            .into_iter()
            .map(|c| Container {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_owned(),
                task_id: c.labels.and_then(|mut l| l.remove("MESOS_TASK_ID")),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect())
    }

    /// The running containers.
    pub async fn running(&self) -> Result<Vec<Container>, String> {
        let mut all = self.containers().await?;
        all.retain(|c| c.state == "running");
        Ok(all)
    }

    /// Whether container `id` exists (in any state); `Err` when Docker does not answer.
    pub async fn exists(&self, id: &str) -> Result<bool, String> {
        match self.docker.inspect_container(id, None).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(format!("inspect {id} on {}: {e}", self.socket.display())),
        }
    }

    /// Force-removes every container this run created here (labelled [`RUN_LABEL`]`=run`);
    /// returns how many. Errors are ignored (cleanup).
    pub async fn remove_mine(&self) -> usize {
        self.remove_where(&format!("{RUN_LABEL}={}", self.run))
            .await
    }

    /// Force-removes every container matching the label filter `label` (`k` or `k=v`).
    async fn remove_where(&self, label: &str) -> usize {
        let filters = HashMap::from([("label".to_owned(), vec![label.to_owned()])]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let mut n = 0;
        for c in self
            .docker
            .list_containers(Some(opts))
            .await
            .unwrap_or_default()
        {
            let Some(id) = c.id else { continue };
            let rm = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            if self.docker.remove_container(&id, Some(rm)).await.is_ok() {
                n += 1;
            }
        }
        n
    }
}
