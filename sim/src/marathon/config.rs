//! Configuration of an emulated Marathon + Mesos cluster: agents, credentials, clock, timings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::{HostRuntime, SimClock};

/// Resources an agent reserves for one Mesos role (statically, as `--resources` does).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RoleResources {
    /// CPUs reserved for the role.
    pub cpus: f64,
    /// Memory in MB reserved for the role.
    pub mem: f64,
    /// Disk in MB reserved for the role.
    pub disk: f64,
}

/// One emulated Mesos agent (slave).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// Hostname, also used as the `host` of its tasks.
    pub hostname: String,
    /// Mesos attributes (`region`, `habitat`, `pool`, ...), usable in constraints.
    pub attributes: BTreeMap<String, String>,
    /// CPU capacity.
    pub cpus: f64,
    /// Memory capacity in MB.
    pub mem: f64,
    /// Disk capacity in MB.
    pub disk: f64,
    /// Inclusive host port range offered by the agent.
    pub ports: (u16, u16),
    /// Resources reserved for roles, on top of the unreserved (`*`) `cpus`/`mem`/`disk`.
    pub reserved: BTreeMap<String, RoleResources>,
}

impl AgentSpec {
    /// An agent with 8 CPUs, 16 GiB memory, 100 GB disk and ports 31000–31999.
    pub fn new(hostname: &str) -> Self {
        Self {
            hostname: hostname.to_string(),
            attributes: BTreeMap::new(),
            cpus: 8.0,
            mem: 16384.0,
            disk: 100_000.0,
            ports: (31000, 31999),
            reserved: BTreeMap::new(),
        }
    }

    /// Adds a Mesos attribute.
    pub fn attribute(mut self, key: &str, value: &str) -> Self {
        self.attributes.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets CPU and memory capacity.
    pub fn capacity(mut self, cpus: f64, mem: f64) -> Self {
        self.cpus = cpus;
        self.mem = mem;
        self
    }

    /// Reserves CPUs and memory for a Mesos role (offered to Marathon only when it is
    /// registered with that role, see [`MarathonSimConfig::mesos_role`]).
    pub fn reserve(mut self, role: &str, cpus: f64, mem: f64) -> Self {
        let r = RoleResources {
            cpus,
            mem,
            disk: 0.0,
        };
        self.reserved.insert(role.to_string(), r);
        self
    }
}

/// The default agents: `n` agents spread round-robin over two regions (`uswest1-prod`,
/// `useast1-prod`), two habitats per region, all in pool `default`.
pub fn default_agents(n: usize) -> Vec<AgentSpec> {
    const PLACES: [(&str, &str); 4] = [
        ("uswest1-prod", "uswest1aprod"),
        ("useast1-prod", "useast1aprod"),
        ("uswest1-prod", "uswest1bprod"),
        ("useast1-prod", "useast1bprod"),
    ];
    (0..n)
        .map(|i| {
            let (region, habitat) = PLACES[i % PLACES.len()];
            AgentSpec::new(&format!("mesos-agent-{}.{}", i + 1, region))
                .attribute("region", region)
                .attribute("habitat", habitat)
                .attribute("pool", "default")
        })
        .collect()
}

/// Durations of the simulated task lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// How long a task stays TASK_STAGING before TASK_RUNNING.
    pub staging: Duration,
    /// How long Mesos takes to confirm a kill (TASK_KILLED).
    pub kill: Duration,
    /// Granularity of [`crate::marathon::SimCluster::tick`]: time advances in steps of this size.
    pub step: Duration,
    /// Marathon's `--task_launch_timeout`: tasks still staging after this are killed.
    pub task_launch_timeout: Duration,
}

impl Timing {
    /// One-second staging, one-second kill confirmation, one-second steps, 300 s launch timeout.
    pub fn standard() -> Self {
        Self {
            staging: Duration::from_secs(1),
            kill: Duration::from_secs(1),
            step: Duration::from_secs(1),
            task_launch_timeout: Duration::from_secs(300),
        }
    }
}

/// Everything [`crate::marathon::MarathonSim::start`] needs. Build it with
/// [`MarathonSimConfig::virtual_time`] or [`MarathonSimConfig::real_time`] and the builder methods.
#[derive(Clone)]
pub struct MarathonSimConfig {
    /// Agents of the simulated Mesos cluster.
    pub agents: Vec<AgentSpec>,
    /// HTTP basic auth credentials (`--http_credentials user:pass`); `None` lets everyone in.
    pub credentials: Option<(String, String)>,
    /// The clock; virtual clocks move only through `tick`.
    pub clock: SimClock,
    /// Where Marathon listens.
    pub marathon_addr: SocketAddr,
    /// Where the Mesos master endpoints listen.
    pub mesos_addr: SocketAddr,
    /// When set, a background task runs the lifecycle at this period (real-time demo mode).
    pub realtime_period: Option<Duration>,
    /// The container engine the emulated agents start containers in.
    pub host_runtime: Option<Arc<dyn HostRuntime>>,
    /// Lifecycle durations.
    pub timing: Timing,
    /// Marathon's `--mesos_role`: the role it registers with besides `*`; resources agents
    /// reserve for other roles are never offered to it.
    pub mesos_role: Option<String>,
}

impl std::fmt::Debug for MarathonSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarathonSimConfig")
            .field("agents", &self.agents)
            .field("credentials", &self.credentials.as_ref().map(|(u, _)| u))
            .field("marathon_addr", &self.marathon_addr)
            .field("mesos_addr", &self.mesos_addr)
            .field("realtime_period", &self.realtime_period)
            .field("host_runtime", &self.host_runtime.is_some())
            .field("timing", &self.timing)
            .field("mesos_role", &self.mesos_role)
            .finish()
    }
}

impl MarathonSimConfig {
    /// Four default agents, a virtual clock, no auth, both listeners on `127.0.0.1:0`.
    pub fn virtual_time() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            agents: default_agents(4),
            credentials: None,
            clock: SimClock::virtual_default(),
            marathon_addr: loopback,
            mesos_addr: loopback,
            realtime_period: None,
            host_runtime: None,
            timing: Timing::standard(),
            mesos_role: None,
        }
    }

    /// Like [`Self::virtual_time`] but with the wall clock and a 200 ms lifecycle driver.
    pub fn real_time() -> Self {
        Self {
            clock: SimClock::real(),
            realtime_period: Some(Duration::from_millis(200)),
            ..Self::virtual_time()
        }
    }

    /// Replaces the agents.
    pub fn agents(mut self, agents: Vec<AgentSpec>) -> Self {
        self.agents = agents;
        self
    }

    /// Requires HTTP basic auth.
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_string(), password.to_string()));
        self
    }

    /// Uses this clock.
    pub fn clock(mut self, clock: SimClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the Marathon listen address.
    pub fn marathon_addr(mut self, addr: SocketAddr) -> Self {
        self.marathon_addr = addr;
        self
    }

    /// Sets the Mesos master listen address.
    pub fn mesos_addr(mut self, addr: SocketAddr) -> Self {
        self.mesos_addr = addr;
        self
    }

    /// Starts containers through this runtime.
    pub fn host_runtime(mut self, runtime: Arc<dyn HostRuntime>) -> Self {
        self.host_runtime = Some(runtime);
        self
    }

    /// Replaces the lifecycle timings.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Registers Marathon with a Mesos role (`--mesos_role`).
    pub fn mesos_role(mut self, role: &str) -> Self {
        self.mesos_role = Some(role.to_string());
        self
    }
}
