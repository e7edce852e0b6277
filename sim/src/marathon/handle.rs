//! [`SimCluster`]: the shared, cloneable handle on the simulated cluster, with virtual-time
//! `tick` and the `sim_*` scripting methods.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::config::{AgentSpec, MarathonSimConfig};
use super::script::{AppCounts, Fault, FaultKind, HistoryEvent, MesosLeadership, Outcome, Sample};
use super::state::{Cluster, ForeignTask, RuntimeCall};
use crate::HostRuntime;

/// Handle on the simulated Marathon + Mesos cluster. Cloning shares the cluster.
#[derive(Clone)]
pub struct SimCluster {
    inner: Arc<Mutex<Cluster>>,
    runtime: Option<Arc<dyn HostRuntime>>,
    credentials: Option<(String, String)>,
    requests: super::requests::RequestLog,
    mesos_view: Arc<Mutex<MesosView>>,
}

/// How the emulated Mesos master distorts its answers (`PUT /_sim/mesos-view`).
#[derive(Debug, Clone, Default)]
pub struct MesosView {
    /// Slaves (hostnames) left out of every answer, with their tasks: a partial answer.
    pub hidden: std::collections::BTreeSet<String>,
    /// Answers frozen as they were when set (by endpoint): a stale master.
    pub frozen: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

impl SimCluster {
    /// A cluster built from `config` (no listeners; see [`super::MarathonSim::start`]).
    pub fn new(config: &MarathonSimConfig) -> Self {
        let cluster = Cluster::new(config, config.host_runtime.as_ref());
        Self {
            inner: Arc::new(Mutex::new(cluster)),
            runtime: config.host_runtime.clone(),
            credentials: config.credentials.clone(),
            requests: super::requests::RequestLog::default(),
            mesos_view: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the cluster, then makes its host-runtime calls outside the lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        let (out, calls) = {
            let mut c = self.lock();
            let out = f(&mut c);
            (out, std::mem::take(&mut c.runtime_calls))
        };
        if let Some(rt) = &self.runtime {
            for call in calls {
                match call {
                    RuntimeCall::Launched(launch) => rt.task_launched(&launch),
                    RuntimeCall::Ended { hostname, task_id } => rt.task_ended(&hostname, &task_id),
                }
            }
        }
        out
    }

    /// The request log of both listeners (see [`super::requests`]).
    pub fn requests(&self) -> &super::requests::RequestLog {
        &self.requests
    }

    /// How the Mesos master distorts its answers now.
    pub fn mesos_view(&self) -> MesosView {
        self.mesos_view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The Mesos master leaves `hidden` slaves (and their tasks) out of its answers and, with
    /// `freeze`, keeps answering what it would answer now (stale); `sim_mesos_view(&[],
    /// false)` restores it.
    pub fn sim_mesos_view(&self, hidden: &[String], freeze: bool) {
        let frozen = freeze.then(|| self.with(|c| super::mesos::snapshot(c)));
        let mut v = self
            .mesos_view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        v.hidden = hidden.iter().cloned().collect();
        v.frozen = frozen;
    }

    pub(crate) fn credentials(&self) -> Option<&(String, String)> {
        self.credentials.as_ref()
    }

    /// Advances the clock by `d` in steps of `Timing::step`, running the lifecycle after each.
    pub fn tick(&self, d: Duration) {
        let (clock, step) =
            self.with(|c| (c.clock.clone(), c.timing.step.max(Duration::from_millis(1))));
        let mut left = d;
        while !left.is_zero() {
            let s = left.min(step);
            clock.advance(s);
            self.with(Cluster::step);
            left -= s;
        }
    }

    /// Runs the lifecycle once at the current time (the real-time driver calls this).
    pub fn step_now(&self) {
        self.with(Cluster::step);
    }

    /// The simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        self.with(|c| c.now())
    }

    /// Scripts the tasks of apps whose id starts with `app_id_prefix` (later rules win).
    pub fn sim_set_outcome(&self, app_id_prefix: &str, outcome: Outcome) {
        self.with(|c| c.outcomes.push((app_id_prefix.to_string(), outcome)));
    }

    /// Forgets every scripted outcome (tasks are healthy again).
    pub fn sim_clear_outcomes(&self) {
        self.with(|c| c.outcomes.clear());
    }

    /// Injects a fault into the Marathon listener.
    pub fn sim_fault(&self, fault: Fault) {
        self.with(|c| c.faults.push(fault));
    }

    /// The faults injected, each with the hits it has left (`Some(0)`: spent).
    pub fn sim_faults(&self) -> Vec<Fault> {
        self.with(|c| c.faults.clone())
    }

    /// Removes every fault.
    pub fn sim_clear_faults(&self) {
        self.with(|c| c.faults.clear());
    }

    /// The fault that applies to a request, consuming one of its hits.
    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<FaultKind> {
        self.with(|c| {
            let f = c.faults.iter_mut().find(|f| f.matches(method, path))?;
            if let Some(n) = f.count.as_mut() {
                *n -= 1;
            }
            Some(f.kind.clone())
        })
    }

    /// Marathon leadership: `false` makes `/v2` answer 503 "Could not determine the current leader".
    /// Losing leadership closes every open event stream (Marathon's `HttpEventStreamActor`
    /// on `Standby`).
    pub fn sim_set_leader(&self, leader: bool) {
        self.with(|c| {
            if c.marathon_leader && !leader {
                c.events.break_streams();
            }
            c.marathon_leader = leader;
        });
    }

    /// Ends every open `/v2/events` stream, leadership unchanged (a network or proxy fault).
    pub fn sim_break_event_streams(&self) {
        self.with(|c| c.events.break_streams());
    }

    /// Loses the next `n` events on every stream, silently (a slow consumer in Marathon).
    pub fn sim_drop_events(&self, n: u64) {
        self.with(|c| c.events.drop_next(n));
    }

    /// Event streams open now.
    pub fn sim_open_event_streams(&self) -> usize {
        self.with(|c| c.events.open_streams())
    }

    /// Mesos master leadership (307 to another master, or 503).
    pub fn sim_set_mesos_leadership(&self, leadership: MesosLeadership) {
        self.with(|c| c.mesos_leadership = leadership);
    }

    /// Adds an agent; returns its slave id.
    pub fn sim_add_agent(&self, spec: AgentSpec) -> String {
        self.with(|c| c.add_agent(spec))
    }

    /// Removes an agent; its tasks are lost (TASK_LOST, replaced without backoff).
    pub fn sim_remove_agent(&self, hostname: &str) -> bool {
        self.with(|c| {
            let Some(ix) = c.agents.iter().position(|a| a.spec.hostname == hostname) else {
                return false;
            };
            let agent = c.agents.remove(ix);
            c.free_cache.clear();
            let lost: Vec<String> = c
                .tasks
                .values()
                .filter(|t| t.slave_id == agent.id)
                .map(|t| t.id.clone())
                .collect();
            for id in lost {
                c.end_task(&id, "TASK_LOST", "Agent removed");
            }
            c.foreign_tasks.retain(|t| t.slave_id != agent.id);
            c.step();
            true
        })
    }

    /// Changes an agent's CPU and memory capacity (running tasks stay).
    pub fn sim_set_agent_capacity(&self, hostname: &str, cpus: f64, mem: f64) -> bool {
        self.with(
            |c| match c.agents.iter_mut().find(|a| a.spec.hostname == hostname) {
                Some(a) => {
                    a.spec.cpus = cpus;
                    a.spec.mem = mem;
                    c.free_cache.clear();
                    true
                }
                None => false,
            },
        )
    }

    /// Adds a task that Mesos runs under Marathon's framework but Marathon does not know (what
    /// an orphan looks like). Returns its container id; the host runtime starts its container.
    pub fn sim_add_foreign_task(&self, hostname: &str, task_id: &str) -> Option<String> {
        let fw = self.with(|c| c.framework_id.clone());
        self.sim_add_foreign_task_in(hostname, task_id, &fw)
    }

    /// Like [`Self::sim_add_foreign_task`] under any framework id.
    pub fn sim_add_foreign_task_in(
        &self,
        hostname: &str,
        task_id: &str,
        framework_id: &str,
    ) -> Option<String> {
        self.with(|c| {
            let agent = c
                .agents
                .iter()
                .find(|a| a.spec.hostname == hostname)?
                .clone();
            let container_id = uuid::Uuid::new_v4().to_string();
            let task = ForeignTask {
                task_id: task_id.to_string(),
                host: hostname.to_string(),
                slave_id: agent.id.clone(),
                framework_id: framework_id.to_string(),
                container_id: container_id.clone(),
                started: c.now(),
            };
            c.foreign_tasks.push(task);
            if c.has_runtime {
                let mut env = std::collections::BTreeMap::new();
                env.insert("MESOS_TASK_ID".to_string(), task_id.to_string());
                let launch = crate::TaskLaunch {
                    hostname: hostname.to_string(),
                    slave_id: agent.id,
                    task_id: task_id.to_string(),
                    container_id: container_id.clone(),
                    app_id: super::ids::app_id_of_task(task_id).unwrap_or_default(),
                    image: String::new(),
                    env,
                    labels: [("MESOS_TASK_ID".to_string(), task_id.to_string())].into(),
                    ports: vec![],
                };
                c.runtime_calls.push(RuntimeCall::Launched(launch));
            }
            Some(container_id)
        })
    }

    /// Removes a foreign task (its container is told to stop).
    pub fn sim_remove_foreign_task(&self, task_id: &str) -> bool {
        self.with(|c| {
            let Some(ix) = c.foreign_tasks.iter().position(|t| t.task_id == task_id) else {
                return false;
            };
            let t = c.foreign_tasks.remove(ix);
            c.runtime_calls.push(RuntimeCall::Ended {
                hostname: t.host,
                task_id: t.task_id,
            });
            true
        })
    }

    /// Makes a task fail now (TASK_FAILED, with backoff).
    pub fn sim_fail_task(&self, task_id: &str) -> bool {
        self.with(|c| {
            let known = c.tasks.contains_key(task_id);
            c.end_task(task_id, "TASK_FAILED", "Container exited with status 137");
            c.step();
            known
        })
    }

    /// Every recorded event, oldest first.
    pub fn history(&self) -> Vec<HistoryEvent> {
        self.with(|c| c.history.iter().cloned().collect())
    }

    /// Per-app counts after every change, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.with(|c| c.sample_log.samples())
    }

    /// Current counts of an app.
    pub fn app_counts(&self, app_id: &str) -> Option<AppCounts> {
        self.with(|c| c.apps.contains_key(app_id).then(|| c.counts(app_id)))
    }

    /// Ids of an app's active tasks, oldest first.
    pub fn task_ids(&self, app_id: &str) -> Vec<String> {
        self.with(|c| c.app_tasks(app_id).iter().map(|t| t.id.clone()).collect())
    }

    /// Number of running deployments.
    pub fn deployment_count(&self) -> usize {
        self.with(|c| c.deployments.len())
    }

    /// Ids of the apps Marathon knows.
    pub fn app_ids(&self) -> Vec<String> {
        self.with(|c| c.apps.keys().cloned().collect())
    }

    /// Clears history and samples.
    pub fn clear_history(&self) {
        self.with(|c| {
            c.history.clear();
            c.sample_log.clear();
        });
    }

    pub(crate) fn set_addresses(&self, marathon: String, mesos: String) {
        self.with(|c| {
            c.marathon_address = marathon;
            c.mesos_address = mesos;
        });
    }
}
