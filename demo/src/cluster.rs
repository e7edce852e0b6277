//! The demo's emulated cluster, in-process: Marathon + Mesos (`galley_sim::marathon`, real
//! time), one Docker Engine emulator socket per slave (tasks appear there as Mesos-shaped
//! containers through `DockerHosts`), and one real `galley-agent` per slave dialing the
//! coordinator over gRPC.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use galley_agent::docker::BollardDocker;
use galley_agent::reaper::ReaperLimits;
use galley_agent::session::{SessionSettings, hello};
use galley_agent::{AgentHandle, AgentSettings};
use galley_sim::SimClock;
use galley_sim::docker::{
    ContainerSpec, DockerHosts, DockerSim, DockerSimHandle, MesosDockerConfig,
};
use galley_sim::marathon::{MarathonSim, MarathonSimConfig, default_agents};

use super::DemoError;

/// Slaves in the demo cluster.
pub const SLAVES: usize = 3;

/// The running emulators and agents.
pub struct EmulatedCluster {
    /// Marathon and the Mesos master.
    pub sim: MarathonSim,
    /// Every slave's Docker engine.
    pub hosts: Arc<DockerHosts>,
    /// Slave hostnames, in order.
    pub hostnames: Vec<String>,
    sockets: BTreeMap<String, std::path::PathBuf>,
    docker: Vec<DockerSimHandle>,
    agents: Vec<AgentHandle>,
}

impl EmulatedCluster {
    /// Starts Marathon/Mesos with [`SLAVES`] slaves and a Docker emulator socket per slave
    /// under `dir`.
    pub async fn start(dir: &Path) -> Result<Self, DemoError> {
        let hosts = Arc::new(DockerHosts::new(
            SimClock::real(),
            MesosDockerConfig::mesos_1_4(),
        ));
        let slaves = default_agents(SLAVES);
        let hostnames: Vec<String> = slaves.iter().map(|a| a.hostname.clone()).collect();
        let sim = MarathonSim::start(
            MarathonSimConfig::real_time()
                .agents(slaves)
                .host_runtime(hosts.clone()),
        )
        .await
        .map_err(|e| DemoError::Emulator(e.to_string()))?;
        let mut sockets = BTreeMap::new();
        let mut docker = Vec::new();
        for (i, host) in hostnames.iter().enumerate() {
            let sock = dir.join(format!("docker-{i}.sock"));
            let handle = DockerSim::serve_engine(&sock, hosts.engine(host))
                .await
                .map_err(|e| DemoError::Emulator(e.to_string()))?;
            docker.push(handle);
            sockets.insert(host.clone(), sock);
        }
        Ok(Self {
            sim,
            hosts,
            hostnames,
            sockets,
            docker,
            agents: Vec::new(),
        })
    }

    /// Starts a real `galley-agent` (the library) per slave, dialing `coordinator_url`.
    pub fn start_agents(&mut self, coordinator_url: &str) -> Result<(), DemoError> {
        for (host, sock) in &self.sockets {
            let path = sock.to_str().ok_or_else(|| {
                DemoError::Emulator(format!("socket path {} is not UTF-8", sock.display()))
            })?;
            let docker = BollardDocker::connect(path, 5)
                .map_err(|e| DemoError::Emulator(format!("agent of {host}: {e}")))?;
            let settings = AgentSettings {
                session: SessionSettings {
                    coordinator_urls: vec![coordinator_url.to_owned()],
                    tls: None,
                    hello: hello(host, None),
                    heartbeat: Duration::from_secs(1),
                    backoff_min: Duration::from_millis(200),
                    backoff_max: Duration::from_secs(2),
                },
                relist_every: Duration::from_secs(30),
                limits: ReaperLimits {
                    min_age: Duration::from_secs(60),
                    max_per_minute: 10,
                },
            };
            self.agents
                .push(galley_agent::spawn(Arc::new(docker), settings));
        }
        Ok(())
    }

    /// Puts an orphan on `host`: a Mesos-named container, two hours old, whose task Mesos and
    /// Marathon have never heard of (what a crashed executor leaves behind). Returns its id.
    pub fn inject_orphan(&self, host: &str) -> Result<String, DemoError> {
        let task = format!("retired.main.{}", uuid::Uuid::new_v4());
        let created = chrono::Utc::now() - chrono::Duration::hours(2);
        self.hosts
            .engine(host)
            .sim_inject(
                ContainerSpec::mesos_orphan(
                    Some(&task),
                    "docker-registry.example.com:443/services-retired:paasta-0",
                )
                .created_at(created),
            )
            .map_err(|e| DemoError::Emulator(format!("inject orphan on {host}: {e}")))
    }

    /// Whether container `id` still exists on `host`.
    pub fn container_exists(&self, host: &str, id: &str) -> bool {
        self.hosts.engine(host).container(id).is_ok()
    }

    /// Stops every agent cleanly (sessions half-closed, orders finished).
    pub async fn stop_agents(&mut self) {
        for agent in self.agents.drain(..) {
            if !agent.shutdown(Duration::from_secs(5)).await {
                tracing::warn!("demo: an agent had to be aborted");
            }
        }
    }

    /// Stops the agents, then the Docker sockets, then Marathon/Mesos.
    pub async fn shutdown(mut self) {
        self.stop_agents().await;
        for d in self.docker.drain(..) {
            d.shutdown().await;
        }
        self.sim.shutdown().await;
    }
}
