//! Offer matching as Marathon 1.4's `ResourceMatcher` does it: every agent offers its free
//! unreserved resources (role `*`) and those reserved for Marathon's `--mesos_role`; an app
//! takes resources of the roles it accepts, must keep its constraints (LIKE, UNLIKE, UNIQUE,
//! CLUSTER, GROUP_BY, MAX_PER on `hostname` or attributes) and get its host ports. An offer
//! that does not fit is declined with every reason found (`NoOfferMatchReason`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::model::{AppSpec, Constraint};
use super::offers::Reason;
use super::state::{Agent, App, Cluster};

/// Resources of one role an agent still has free.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pool {
    /// CPUs.
    pub cpus: f64,
    /// Memory, MB.
    pub mem: f64,
    /// Disk, MB.
    pub disk: f64,
}

/// Resources an agent still has free, by role.
#[derive(Debug)]
pub struct Free {
    /// By role (`*` and every role the agent reserves resources for).
    pub pools: BTreeMap<String, Pool>,
    /// Host ports its tasks hold.
    pub ports_used: BTreeSet<u16>,
}

/// Where one more task of an app goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Index into `Cluster::agents`.
    pub agent: usize,
    /// Host ports.
    pub ports: Vec<u16>,
    /// The role whose resources it uses.
    pub role: String,
}

/// The unreserved role.
pub const UNRESERVED: &str = "*";

const EPS: f64 = 1e-9;

fn field_value<'a>(agent: &'a Agent, field: &str) -> Option<&'a str> {
    if field == "hostname" {
        Some(agent.spec.hostname.as_str())
    } else {
        agent.spec.attributes.get(field).map(String::as_str)
    }
}

/// LIKE/UNLIKE full-match; compiled patterns are cached (placement evaluates the same few
/// patterns against every agent for every launch).
fn full_match(pattern: &str, value: &str) -> bool {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, Option<regex::Regex>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 4096 {
            cache.clear();
        }
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(value))
    })
}

/// The values each GROUP_BY field of `constraints` takes over `all` agents (computed once per
/// placement, not once per agent evaluated).
fn group_values<'a>(constraints: &'a [Constraint], all: &'a [Agent]) -> Groups<'a> {
    constraints
        .iter()
        .filter(|c| c.op == "GROUP_BY")
        .map(|c| {
            let values = all
                .iter()
                .filter_map(|a| field_value(a, &c.field))
                .collect();
            (c.field.as_str(), values)
        })
        .collect()
}

/// GROUP_BY field → the values it takes over every agent.
type Groups<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

/// Whether placing one more task on `agent` keeps constraint `c`, given the agents of the app's
/// current tasks (`placed`) and GROUP_BY's set of groups over every agent.
fn satisfies(c: &Constraint, agent: &Agent, placed: &[&Agent], groups: &Groups<'_>) -> bool {
    let value = field_value(agent, &c.field);
    let count_of = |v: &str| {
        placed
            .iter()
            .filter(|a| field_value(a, &c.field) == Some(v))
            .count()
    };
    match c.op.as_str() {
        "LIKE" => value.is_some_and(|v| full_match(c.value.as_deref().unwrap_or(""), v)),
        "UNLIKE" => value.is_none_or(|v| !full_match(c.value.as_deref().unwrap_or(""), v)),
        "UNIQUE" => value.is_some_and(|v| count_of(v) == 0),
        "CLUSTER" => match (value, c.value.as_deref().filter(|s| !s.is_empty())) {
            (Some(v), Some(want)) => v == want,
            (Some(v), None) => placed
                .iter()
                .find_map(|a| field_value(a, &c.field))
                .is_none_or(|first| first == v),
            (None, _) => false,
        },
        "GROUP_BY" => {
            let Some(v) = value else { return false };
            let min = groups
                .get(c.field.as_str())
                .into_iter()
                .flatten()
                .map(|g| count_of(g))
                .min()
                .unwrap_or(0);
            count_of(v) <= min
        }
        "MAX_PER" => {
            let max = c
                .value
                .as_deref()
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(0);
            value.is_some_and(|v| count_of(v) < max)
        }
        _ => true,
    }
}

/// Free resources by agent id, recomputed (exactly as before, in task order) only for agents
/// whose tasks or capacity changed.
#[derive(Debug, Default)]
pub struct FreeCache(RefCell<HashMap<String, Arc<Free>>>);

impl FreeCache {
    /// Forgets every cached entry (agents or capacities changed).
    pub fn clear(&self) {
        self.0.borrow_mut().clear();
    }
}

fn fits(pool: &Pool, spec: &AppSpec) -> bool {
    pool.cpus + EPS >= spec.cpus && pool.mem + EPS >= spec.mem && pool.disk + EPS >= spec.disk
}

/// The scalar reasons of a pool that does not fit, in `ResourceMatcher`'s order (cpus, mem,
/// gpus, disk; resources the app asks none of are not checked).
fn scalar_reasons(pool: &Pool, spec: &AppSpec) -> Vec<Reason> {
    let mut out = Vec::new();
    if spec.cpus > 0.0 && pool.cpus + EPS < spec.cpus {
        out.push(Reason::InsufficientCpus);
    }
    if spec.mem > 0.0 && pool.mem + EPS < spec.mem {
        out.push(Reason::InsufficientMemory);
    }
    if spec.gpus > 0.0 {
        // Emulated agents have no GPUs.
        out.push(Reason::InsufficientGpus);
    }
    if spec.disk > 0.0 && pool.disk + EPS < spec.disk {
        out.push(Reason::InsufficientDisk);
    }
    out
}

impl Cluster {
    /// Forgets the cached free resources of one agent (a task was added or removed there).
    pub fn free_changed(&self, agent_id: &str) {
        self.free_cache.0.borrow_mut().remove(agent_id);
    }

    /// What an agent has free (cached).
    pub fn free(&self, agent: &Agent) -> Arc<Free> {
        if let Some(f) = self.free_cache.0.borrow().get(&agent.id) {
            return f.clone();
        }
        let free = Arc::new(self.compute_free(agent));
        self.free_cache
            .0
            .borrow_mut()
            .insert(agent.id.clone(), free.clone());
        free
    }

    fn compute_free(&self, agent: &Agent) -> Free {
        let mut pools = BTreeMap::new();
        let spec = &agent.spec;
        let unreserved = Pool {
            cpus: spec.cpus,
            mem: spec.mem,
            disk: spec.disk,
        };
        pools.insert(UNRESERVED.to_string(), unreserved);
        for (role, r) in &spec.reserved {
            let pool = Pool {
                cpus: r.cpus,
                mem: r.mem,
                disk: r.disk,
            };
            pools.insert(role.clone(), pool);
        }
        let mut ports_used = BTreeSet::new();
        debug_assert_eq!(
            self.tasks_by_agent.get(&agent.id).map_or(0, BTreeSet::len),
            self.tasks
                .values()
                .filter(|t| t.slave_id == agent.id)
                .count(),
            "the per-agent task index matches the tasks"
        );
        let own = self.tasks_by_agent.get(&agent.id).into_iter().flatten();
        for t in own.filter_map(|id| self.tasks.get(id)) {
            let pool = match pools.contains_key(&t.role) {
                true => t.role.as_str(),
                false => UNRESERVED,
            };
            if let Some(p) = pools.get_mut(pool) {
                p.cpus -= t.cpus;
                p.mem -= t.mem;
                p.disk -= t.disk;
            }
            ports_used.extend(t.ports.iter().copied());
        }
        Free { pools, ports_used }
    }

    /// The roles whose resources an app may use: its `acceptedResourceRoles`, else `*` and
    /// Marathon's own role (`--default_accepted_resource_roles` unset).
    fn accepted_roles(&self, spec: &AppSpec) -> BTreeSet<String> {
        if !spec.accepted_roles.is_empty() {
            return spec.accepted_roles.iter().cloned().collect();
        }
        let mut roles = BTreeSet::from([UNRESERVED.to_string()]);
        roles.extend(self.mesos_role.clone());
        roles
    }

    /// The agents whose instances count for the app's constraints: every instance not yet
    /// terminal (kills pending included), except those of an older configuration, which
    /// Marathon 1.4 ignores so that an upgrade can place a new task beside an old one
    /// (`ResourceMatcher.matchResources`, `meetsAllConstraints`).
    fn constraint_agents(&self, app: &App) -> Vec<&Agent> {
        self.app_tasks(&app.spec.id)
            .into_iter()
            .filter(|t| t.version >= app.config_version)
            .filter_map(|t| self.agents.iter().find(|a| a.id == t.slave_id))
            .collect()
    }

    /// Matches one agent's offer: the pool and ports a task would get, or why it does not fit.
    fn evaluate(
        &self,
        agent: &Agent,
        spec: &AppSpec,
        roles: &BTreeSet<String>,
        placed: &[&Agent],
        groups: &Groups<'_>,
    ) -> Result<(String, f64), Vec<Reason>> {
        let free = self.free(agent);
        // Marathon sees reserved resources only of the role it registered with; reserved
        // pools come first, as Mesos offers them before unreserved ones.
        let usable: Vec<(&String, &Pool)> = free
            .pools
            .iter()
            .filter(|(r, _)| *r == UNRESERVED || self.mesos_role.as_ref() == Some(*r))
            .filter(|(r, _)| roles.contains(*r))
            .rev()
            .collect();
        let fitting = usable.iter().find(|(_, p)| fits(p, spec));
        let mut reasons = match fitting {
            Some(_) => Vec::new(),
            None => {
                let largest = usable
                    .iter()
                    .map(|(_, p)| **p)
                    .max_by(|a, b| a.cpus.total_cmp(&b.cpus))
                    .unwrap_or_default();
                scalar_reasons(&largest, spec)
            }
        };
        if usable.is_empty() {
            reasons.push(Reason::UnfulfilledRole);
        }
        let constraints_ok = spec
            .constraints
            .iter()
            .all(|c| satisfies(c, agent, placed, groups));
        if !constraints_ok {
            reasons.push(Reason::UnfulfilledConstraint);
        }
        match fitting {
            Some((role, pool)) if reasons.is_empty() => Ok(((*role).clone(), pool.cpus)),
            _ => Err(reasons),
        }
    }

    /// Picks an agent for one more task of `app`: the one holding fewest of its tasks, then
    /// with the most free CPUs. Without one, every agent's reasons.
    pub fn place(&self, app: &App) -> Result<Placement, Vec<(usize, Vec<Reason>)>> {
        let spec = &app.spec;
        let placed = self.constraint_agents(app);
        let roles = self.accepted_roles(spec);
        let groups = group_values(&spec.constraints, &self.agents);
        let mut best: Option<((usize, i64), Placement)> = None;
        let mut declined = Vec::new();
        for (i, agent) in self.agents.iter().enumerate() {
            match self.evaluate(agent, spec, &roles, &placed, &groups) {
                Ok((role, free_cpus)) => {
                    let same_app = placed.iter().filter(|a| a.id == agent.id).count();
                    let key = (same_app, -((free_cpus * 1000.0) as i64));
                    // Ports are picked only for an agent that would win so far: the result is
                    // the same (the best agent whose ports suffice), without picking ports on
                    // every agent for every launch.
                    if best.as_ref().is_some_and(|(k, _)| key >= *k) {
                        continue;
                    }
                    match pick_ports(spec, agent, &self.free(agent).ports_used) {
                        Some(ports) => {
                            let placement = Placement {
                                agent: i,
                                ports,
                                role,
                            };
                            best = Some((key, placement));
                        }
                        None => declined.push((i, vec![Reason::InsufficientPorts])),
                    }
                }
                Err(reasons) => declined.push((i, reasons)),
            }
        }
        best.map(|(_, p)| p).ok_or(declined)
    }
}

/// Host ports for a task: fixed ones as requested, the rest from the agent's range.
fn pick_ports(spec: &AppSpec, agent: &Agent, used: &BTreeSet<u16>) -> Option<Vec<u16>> {
    // Ports taken by this launch, besides `used` (not a copy of `used`: placement tries this
    // on every agent for every launch).
    let mut mine: BTreeSet<u16> = BTreeSet::new();
    let taken = |p: &u16, mine: &BTreeSet<u16>| used.contains(p) || mine.contains(p);
    let mut out = Vec::with_capacity(spec.ports.len());
    let mut next = agent.spec.ports.0;
    let wanted: BTreeMap<usize, u16> = spec
        .ports
        .iter()
        .enumerate()
        .filter(|(_, p)| p.host_port != 0)
        .map(|(i, p)| (i, p.host_port))
        .collect();
    for (i, _) in spec.ports.iter().enumerate() {
        if let Some(&fixed) = wanted.get(&i) {
            if fixed < agent.spec.ports.0 || fixed > agent.spec.ports.1 || taken(&fixed, &mine) {
                return None;
            }
            mine.insert(fixed);
            out.push(fixed);
            continue;
        }
        while taken(&next, &mine) || wanted.values().any(|&w| w == next) {
            next = next.checked_add(1)?;
        }
        if next > agent.spec.ports.1 {
            return None;
        }
        mine.insert(next);
        out.push(next);
    }
    Some(out)
}
