//! Desired state for one cluster: every marathon instance of the soa dir, with its rendered app
//! (exactly as PaaSTA's setup_marathon_job would render it) and its bounce settings.
//!
//! Reading is per service and per instance: one broken file or instance is recorded in the
//! report and never hides the others. Whatever could not be read is marked so that the planner
//! leaves its apps alone (no bounce, no cleanup).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use galley_common::bounce_methods::{DrainMethod, validate_bounce_method, validate_drain_method};
use galley_common::branch_state::{BranchStateError, branch_state};
use galley_common::constraints::SlaveAttributes;
use galley_common::deployments::Deployments;
use galley_common::marathon_app::{AppInputs, SystemSettings, render};
use galley_common::smartstack::ServiceNamespaceConfig;
use galley_common::soa::{InstanceConfig, InstanceKind, ServiceConfig, ServiceSource};
use serde_json::Value;

use crate::desired::FactsOf;
use crate::fsutil::{MAX_CONFIG_FILE_BYTES, read_config_file};
use crate::plan::{AppDefinition, Desired, DesiredInstance, DrainKind, HacheckParams, HappyParams};
use crate::soa_dir;

/// What desired-state building needs besides the soa dir.
#[derive(Debug, Clone)]
pub struct DesiredContext {
    /// This cluster.
    pub cluster: String,
    /// Registry, volumes, dockercfg.
    pub system: SystemSettings,
    /// Mesos slaves' attributes (for `GROUP_BY` constraints).
    pub slaves: Vec<SlaveAttributes>,
}

/// Why an instance has no desired app this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceIssue {
    /// The service has no deployments.json yet (PaaSTA: skipped, counted as success).
    NoDeployments,
    /// deployments.json has no image for it ("Has Jenkins deployed it?").
    NotDeployed(String),
    /// Its config is invalid (message names file and key).
    Invalid(String),
}

/// The result of reading desired state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredReport {
    /// What the planner gets.
    pub desired: Desired,
    /// Instances without a desired app, and why.
    pub issues: BTreeMap<(String, String), InstanceIssue>,
    /// Services that could not be read at all, and why.
    pub service_errors: BTreeMap<String, String>,
    /// The services read, with their raw files and deployments (for monitoring and reads).
    pub services: BTreeMap<String, Arc<ServiceEntry>>,
    /// Every service directory listed (with or without instances in this cluster).
    pub listed: std::collections::BTreeSet<String>,
}

/// Which desired state a cache was last worked out for, by identity: the reconciler hands
/// every pass the same `Arc` until something changed, so "the same `Arc`" means "nothing to
/// work out again". Holds a `Weak`, so a freed state's address is never taken for a new one.
#[derive(Debug, Default)]
pub struct LastDesired(std::sync::Weak<DesiredReport>);

impl LastDesired {
    /// Records `desired`; `true` when it is not the one recorded last (or none was).
    pub fn changed_to(&mut self, desired: &Arc<DesiredReport>) -> bool {
        let changed = !std::sync::Weak::ptr_eq(&self.0, &Arc::downgrade(desired));
        if changed {
            self.0 = Arc::downgrade(desired);
        }
        changed
    }
}

/// One service as this pass read it: its raw files, whether it has a deployments.json, and
/// the facts of each configured Marathon instance ([`crate::desired::InstanceFacts`]). The
/// parsed config is not kept (see the `facts` module): [`ServiceEntry::config`] parses the
/// raw files again for the readers that need all of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceEntry {
    /// Raw files.
    pub source: ServiceSource,
    /// Whether it has a deployments.json (PaaSTA monitors only deployed services).
    pub deployed: bool,
    /// Per configured Marathon instance of this cluster, sorted by name.
    facts: Box<[(String, FactsOf)]>,
}

impl ServiceEntry {
    /// The facts of `instance`; `None` when it is not a configured Marathon instance.
    pub fn facts(&self, instance: &str) -> Option<&FactsOf> {
        let i = self
            .facts
            .binary_search_by(|(name, _)| name.as_str().cmp(instance))
            .ok()?;
        Some(&self.facts[i].1)
    }

    /// The configured Marathon instances with their facts, sorted by name.
    pub fn instances(&self) -> impl Iterator<Item = (&str, &FactsOf)> {
        self.facts.iter().map(|(name, f)| (name.as_str(), f))
    }

    /// The parsed configuration, parsed again from the raw files (which parsed when the
    /// service was read: `None` only if they no longer do, which they cannot).
    pub fn config(&self) -> Option<ServiceConfig> {
        ServiceConfig::parse(&self.source).ok()
    }

    /// An entry of one `service.yaml` and no instances (for tests of caches keyed by entry).
    #[cfg(test)]
    pub(crate) fn for_tests(service_yaml: &str) -> Self {
        let files = [("service.yaml".to_owned(), service_yaml.to_owned())].into();
        Self {
            source: ServiceSource {
                name: "s".into(),
                files,
            },
            deployed: true,
            facts: Box::default(),
        }
    }
}

/// Reads the whole soa dir for `ctx.cluster` (blocking file I/O: call from a blocking task).
pub fn read_desired(soa_dir: &Path, ctx: &DesiredContext) -> DesiredReport {
    read_all(soa_dir, ctx, None)
}

/// [`read_desired`], keeping from `previous` every service entry and desired instance that
/// reads the same: the same `Arc`s, so the periodic full re-read (a safety net against
/// missed file events) holds one service's fresh copy at a time, not a second desired state
/// (at 50,000 instances that raised the RSS by ~100 MB every five minutes).
pub fn reread_desired(
    soa_dir: &Path,
    ctx: &DesiredContext,
    previous: &DesiredReport,
) -> DesiredReport {
    read_all(soa_dir, ctx, Some(previous))
}

fn read_all(
    soa_dir: &Path,
    ctx: &DesiredContext,
    previous: Option<&DesiredReport>,
) -> DesiredReport {
    let mut report = DesiredReport::default();
    let services = match soa_dir::list_services(soa_dir) {
        Ok(s) => s,
        Err(e) => {
            report.service_errors.insert(
                String::new(),
                crate::error_chain::ErrorChain(&e).to_string(),
            );
            return report; // complete stays false: nothing will be cleaned up
        }
    };
    report.desired.complete = true;
    for service in &services {
        read_service(soa_dir, service, ctx, &mut report, previous);
    }
    report.listed = services.into_iter().collect();
    report
}

/// `previous` with the `changed` services read again, and services added to or removed from
/// the soa dir since found by listing it: what [`read_desired`] would return, at the cost of
/// the services that changed. Falls back to a full read when `previous` is not complete.
pub fn update_desired(
    soa_dir: &Path,
    ctx: &DesiredContext,
    previous: DesiredReport,
    changed: &std::collections::BTreeSet<String>,
) -> DesiredReport {
    if !previous.desired.complete {
        return read_desired(soa_dir, ctx);
    }
    let Ok(services) = soa_dir::list_services(soa_dir) else {
        return read_desired(soa_dir, ctx); // records the listing error
    };
    let listed: std::collections::BTreeSet<String> = services.into_iter().collect();
    let stale: std::collections::BTreeSet<String> = changed
        .iter()
        .chain(previous.listed.symmetric_difference(&listed))
        .cloned()
        .collect();
    let mut report = previous;
    let keep = |s: &String| !stale.contains(s);
    report.desired.instances.retain(|d| keep(&d.service));
    report.desired.configured.retain(|(s, _)| keep(s));
    report.desired.unknown_services.retain(keep);
    report.issues.retain(|(s, _), _| keep(s));
    report.service_errors.retain(|s, _| keep(s));
    report.services.retain(|s, _| keep(s));
    for service in stale.iter().filter(|s| listed.contains(*s)) {
        read_service(soa_dir, service, ctx, &mut report, None);
    }
    // A full read lists services in order, each service's instances in its own order.
    report
        .desired
        .instances
        .sort_by(|a, b| a.service.cmp(&b.service));
    report.listed = listed;
    report
}

/// Reads `service` into `report`; an entry or instance equal to `previous`'s is kept as that
/// `Arc`.
fn read_service(
    soa_dir: &Path,
    service: &str,
    ctx: &DesiredContext,
    report: &mut DesiredReport,
    previous: Option<&DesiredReport>,
) {
    let fail = |report: &mut DesiredReport, msg: String| {
        report.desired.unknown_services.insert(service.to_string());
        report.service_errors.insert(service.to_string(), msg);
    };
    let (source, config) = match soa_dir::read_service(soa_dir, service)
        .map_err(|e| crate::error_chain::ErrorChain(&e).to_string())
    {
        Ok(source) => match ServiceConfig::parse(&source) {
            Ok(c) => (source, c),
            Err(e) => return fail(report, crate::error_chain::ErrorChain(&e).to_string()),
        },
        Err(msg) => return fail(report, msg),
    };
    let instances = config.instance_names(&ctx.cluster, InstanceKind::Marathon);
    if instances.is_empty() {
        return;
    }
    for inst in &instances {
        report
            .desired
            .configured
            .insert((service.to_string(), inst.to_string()));
    }
    let path = soa_dir.join(service).join("deployments.json");
    let deployments = match read_config_file(&path, MAX_CONFIG_FILE_BYTES) {
        Ok(text) => match Deployments::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                let msg = format!("{}: {}", path.display(), crate::error_chain::ErrorChain(&e));
                return fail(report, msg);
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return fail(report, format!("cannot read {}: {e}", path.display())),
    };
    let merged =
        crate::desired::facts::merge_instances(&config, deployments.as_ref(), &ctx.cluster);
    let mut facts = Vec::with_capacity(merged.len());
    for (name, inst, instance_facts) in merged {
        let desired = inst
            .map_err(|e| invalid(&e))
            .and_then(|inst| desired_instance_of(&config, &inst, deployments.as_ref(), ctx));
        match desired {
            Ok(d) => {
                let d = match previous.and_then(|p| previous_instance(&p.desired, &d)) {
                    Some(same) if **same == d => Arc::clone(same),
                    _ => Arc::new(d),
                };
                report.desired.instances.push(d);
            }
            Err(issue) => {
                report
                    .issues
                    .insert((service.to_string(), name.clone()), issue);
            }
        }
        facts.push((name, instance_facts));
    }
    let entry = ServiceEntry {
        facts: facts.into_boxed_slice(),
        source,
        deployed: deployments.is_some(),
    };
    let entry = match previous.and_then(|p| p.services.get(service)) {
        Some(same) if **same == entry => Arc::clone(same),
        _ => Arc::new(entry),
    };
    report.services.insert(service.to_string(), entry);
}

/// `desired`'s instance named like `d` (its instances are in service order).
fn previous_instance<'a>(
    desired: &'a Desired,
    d: &DesiredInstance,
) -> Option<&'a Arc<DesiredInstance>> {
    let all = &desired.instances;
    let from = all.partition_point(|p| p.service < d.service);
    all[from..]
        .iter()
        .take_while(|p| p.service == d.service)
        .find(|p| p.instance == d.instance)
}

/// An instance whose config is invalid: the message names the file and key.
fn invalid(e: &(dyn std::error::Error + 'static)) -> InstanceIssue {
    InstanceIssue::Invalid(crate::error_chain::ErrorChain(e).to_string())
}

/// One instance's desired app and bounce settings.
pub fn desired_instance(
    config: &ServiceConfig,
    instance: &str,
    deployments: Option<&Deployments>,
    ctx: &DesiredContext,
) -> Result<DesiredInstance, InstanceIssue> {
    let inst = config
        .instance(&ctx.cluster, InstanceKind::Marathon, instance)
        .map_err(|e| invalid(&e))?;
    desired_instance_of(config, &inst, deployments, ctx)
}

/// [`desired_instance`] of an instance already merged (`inst`).
fn desired_instance_of(
    config: &ServiceConfig,
    inst: &InstanceConfig,
    deployments: Option<&Deployments>,
    ctx: &DesiredContext,
) -> Result<DesiredInstance, InstanceIssue> {
    let state = match branch_state(deployments, inst) {
        Ok(s) => s,
        Err(BranchStateError::NoDeploymentsAvailable { .. }) => {
            return Err(InstanceIssue::NoDeployments);
        }
        Err(e) => return Err(invalid(&e)),
    };
    let ns = namespace(config, inst).map_err(|e| invalid(&e))?;
    let inputs = AppInputs {
        instance: inst,
        namespace: &ns,
        deployment: &state,
        system: &ctx.system,
        slaves: &ctx.slaves,
        autoscaled_instances: None,
    };
    let app = render(&inputs).map_err(|e| match e.setup_message() {
        Some(msg) => InstanceIssue::NotDeployed(msg),
        None => invalid(&e),
    })?;
    let bounce_method = inst.bounce_method().map_err(|e| invalid(&e))?;
    let bounce_method = validate_bounce_method(&bounce_method)
        .map_err(|e| InstanceIssue::Invalid(e.to_string()))?;
    let drain = inst.drain_method(&ns).map_err(|e| invalid(&e))?;
    let drain =
        match validate_drain_method(&drain).map_err(|e| InstanceIssue::Invalid(e.to_string()))? {
            DrainMethod::Hacheck => DrainKind::Hacheck,
            DrainMethod::Noop | DrainMethod::Test => DrainKind::Noop,
        };
    let health = inst.bounce_health_params(&ns).map_err(|e| invalid(&e))?;
    let hacheck = match drain {
        DrainKind::Hacheck => Some(hacheck_params(inst, &ns).map_err(|e| invalid(&e))?),
        DrainKind::Noop => None,
    };
    let instances = app.instances().max(0) as u32;
    Ok(DesiredInstance {
        service: config.name.clone(),
        instance: inst.instance.clone(),
        app_id: format!("/{}", app.id),
        app: AppDefinition::new(&app.to_wire_json()),
        instances,
        bounce_method,
        bounce_margin_factor: inst.bounce_margin_factor().map_err(|e| invalid(&e))?,
        happy: HappyParams {
            min_task_uptime: health.get("min_task_uptime").and_then(Value::as_f64),
        },
        drain,
        hacheck,
    })
}

/// hacheck's `drain_method_params`: `delay` (120 s), `hacheck_port` (6666), `expiration`
/// (10 × delay); the spool is `<service>.<nerve_ns>`.
fn hacheck_params(
    inst: &InstanceConfig,
    ns: &ServiceNamespaceConfig,
) -> Result<HacheckParams, galley_common::soa::ConfigError> {
    let params = inst.drain_method_params(ns)?;
    let num = |key: &str| params.get(key).and_then(Value::as_f64);
    let delay = num("delay").unwrap_or(120.0);
    let port = match num("hacheck_port") {
        None => 6666,
        Some(p) if (1.0..=65535.0).contains(&p) && p.fract() == 0.0 => p as u16,
        Some(p) => {
            return Err(inst.bad(
                "drain_method_params.hacheck_port",
                format!("must be a port number, found {p}"),
            ));
        }
    };
    Ok(HacheckParams {
        spool: format!("{}.{}", inst.service, inst.nerve_ns()?),
        port,
        delay,
        expiration: num("expiration").unwrap_or(10.0 * delay),
    })
}

fn namespace(
    config: &ServiceConfig,
    inst: &InstanceConfig,
) -> Result<ServiceNamespaceConfig, galley_common::soa::ConfigError> {
    let ns = inst.nerve_ns()?;
    ServiceNamespaceConfig::load(config, &ns)
}
