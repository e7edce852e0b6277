//! The two backends of the contract suite (the emulator and a real dockerd), container
//! creation through bollard on both, and clean-up.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures::FutureExt;
use galley_sim::SimClock;
use galley_sim::docker::{DockerSim, DockerSimHandle};

/// Label put on every container a test creates, valued with the backend's run id.
pub const RUN_LABEL: &str = "galley-test-run";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Emulator,
    Dockerd,
}

/// A Docker daemon under test.
pub struct Backend {
    pub docker: Docker,
    pub socket: PathBuf,
    pub image: String,
    /// Unique per backend instance; part of every name and the value of [`RUN_LABEL`].
    pub run_id: String,
    sim: Option<DockerSimHandle>,
    _dir: Option<tempfile::TempDir>,
}

/// A scenario of the contract suite.
pub type Scenario = for<'a> fn(&'a Backend) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Runs `scenario` on a fresh backend of `kind`, then removes every container it created
/// (also when the scenario panics).
pub async fn run(kind: Kind, scenario: Scenario) {
    let Some(backend) = Backend::start(kind).await else {
        return;
    };
    let outcome = AssertUnwindSafe(scenario(&backend)).catch_unwind().await;
    backend.cleanup().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

impl Backend {
    async fn start(kind: Kind) -> Option<Self> {
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        match kind {
            Kind::Emulator => {
                let dir = tempfile::tempdir().expect("tempdir");
                let socket = dir.path().join("docker.sock");
                let sim = DockerSim::serve(&socket, SimClock::real())
                    .await
                    .expect("serve");
                let docker = connect(&socket);
                let image = "galley-test/busybox:1".to_owned();
                Some(Self {
                    docker,
                    socket,
                    image,
                    run_id,
                    sim: Some(sim),
                    _dir: Some(dir),
                })
            }
            Kind::Dockerd => {
                let socket = match std::env::var("GALLEY_DOCKER_SOCK") {
                    Ok(s) if !s.is_empty() => PathBuf::from(s),
                    _ => {
                        if std::env::var("GALLEY_REQUIRE_DOCKERD").as_deref() == Ok("1") {
                            panic!(
                                "GALLEY_REQUIRE_DOCKERD=1 but GALLEY_DOCKER_SOCK is not set: \
                                 run `eval \"$(scripts/dockerd.sh start DIR)\"` first"
                            );
                        }
                        // Written to stderr directly so libtest's capture does not hide it.
                        let _ = writeln!(
                            std::io::stderr(),
                            "==== SKIPPED: real dockerd not available (set GALLEY_DOCKER_SOCK, \
                             see scripts/dockerd.sh) ===="
                        );
                        return None;
                    }
                };
                let image = std::env::var("GALLEY_TEST_IMAGE")
                    .unwrap_or_else(|_| "galley-test/busybox:1".to_owned());
                let docker = connect(&socket);
                docker.ping().await.unwrap_or_else(|e| {
                    panic!(
                        "GALLEY_DOCKER_SOCK={} does not answer /_ping: {e}",
                        socket.display()
                    )
                });
                Some(Self {
                    docker,
                    socket,
                    image,
                    run_id,
                    sim: None,
                    _dir: None,
                })
            }
        }
    }

    /// A name unique to this backend instance: `galley-ct-<run>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("galley-ct-{}-{suffix}", self.run_id)
    }

    /// Creates (not starts) `/bin/sleep 3600` named `name` with env and labels (plus
    /// [`RUN_LABEL`]), network none. Returns the id.
    pub async fn create(
        &self,
        name: &str,
        env: &[(&str, &str)],
        labels: &[(&str, &str)],
    ) -> String {
        let mut all_labels: HashMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        all_labels.insert(RUN_LABEL.to_owned(), self.run_id.clone());
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec!["/bin/sleep".to_owned(), "3600".to_owned()]),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(all_labels),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_owned()),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(name).build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .expect("create container")
            .id
    }

    /// Creates and starts a container (see [`Self::create`]). Returns the id.
    pub async fn run_container(
        &self,
        name: &str,
        env: &[(&str, &str)],
        labels: &[(&str, &str)],
    ) -> String {
        let id = self.create(name, env, labels).await;
        self.docker
            .start_container(&id, None)
            .await
            .expect("start container");
        id
    }

    /// Filters restricted to this backend's containers.
    pub fn run_filter(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_owned(),
            vec![format!("{RUN_LABEL}={}", self.run_id)],
        )])
    }

    async fn cleanup(self) {
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&self.run_filter())
            .build();
        match self.docker.list_containers(Some(opts)).await {
            Ok(containers) => {
                for c in containers {
                    let Some(id) = c.id else { continue };
                    let rm = RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build();
                    if let Err(e) = self.docker.remove_container(&id, Some(rm)).await {
                        eprintln!("cleanup: removing {id} failed: {e}");
                    }
                }
            }
            Err(e) => eprintln!("cleanup: listing containers failed: {e}"),
        }
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}

fn connect(socket: &std::path::Path) -> Docker {
    let path = socket.to_str().expect("utf-8 socket path");
    Docker::connect_with_unix(path, 30, bollard::API_DEFAULT_VERSION).expect("bollard connect")
}

/// The status and message of a failed bollard call; panics on success or another error kind.
pub fn server_error<T: std::fmt::Debug>(r: Result<T, bollard::errors::Error>) -> (u16, String) {
    match r {
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        }) => (status_code, message),
        other => panic!("expected a Docker server error, got {other:?}"),
    }
}
