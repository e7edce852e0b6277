//! The desired state the campaign's operations lead to (what it deployed, stopped, scaled,
//! removed), the soa-config files it renders, and the check that Marathon converged to it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::schedule::INSTANCES;

/// One instance as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Service.
    pub service: &'static str,
    /// Instance.
    pub instance: &'static str,
    /// Its deploy group.
    pub group: &'static str,
    /// `instances:`.
    pub instances: u32,
    /// `cpus:` in thousandths.
    pub millicpus: u32,
    /// Removed from the config.
    pub removed: bool,
}

/// What should run.
#[derive(Debug, Clone)]
pub struct Model {
    /// The instances, in [`INSTANCES`] order.
    pub instances: Vec<Instance>,
    /// The sha each deploy group is marked for.
    pub group_sha: BTreeMap<&'static str, String>,
    /// `(service, instance, sha)` → stopped (the newest start/stop tag on that sha).
    pub stopped: BTreeMap<(&'static str, &'static str, String), bool>,
}

impl Model {
    /// The examples' instances (deploy/examples/soa-configs), nothing deployed yet.
    pub fn new() -> Self {
        let instances = INSTANCES
            .iter()
            .map(|&(service, instance, group)| {
                let (instances, millicpus) = match (service, instance) {
                    ("api", "main") => (2, 250),
                    ("api", "worker") => (4, 250),
                    ("web", "main") => (3, 500),
                    _ => (1, 500),
                };
                Instance {
                    service,
                    instance,
                    group,
                    instances,
                    millicpus,
                    removed: false,
                }
            })
            .collect();
        Self {
            instances,
            group_sha: BTreeMap::new(),
            stopped: BTreeMap::new(),
        }
    }

    /// The instance `service.instance`.
    pub fn get_mut(&mut self, service: &str, instance: &str) -> &mut Instance {
        self.instances
            .iter_mut()
            .find(|i| i.service == service && i.instance == instance)
            .expect("a known instance")
    }

    /// The sha deployed to the instance's group.
    pub fn sha_of(&self, service: &str, instance: &str) -> Option<&String> {
        let i = self
            .instances
            .iter()
            .find(|i| i.service == service && i.instance == instance)?;
        self.group_sha.get(i.group)
    }

    /// `marathon-norcal-prod.yaml` of `service`.
    pub fn render(&self, service: &str) -> String {
        let mut out = String::new();
        for i in self
            .instances
            .iter()
            .filter(|i| i.service == service && !i.removed)
        {
            out.push_str(&format!(
                "{}:\n  instances: {}\n  cpus: {}\n",
                i.instance,
                i.instances,
                f64::from(i.millicpus) / 1000.0
            ));
            match (i.service, i.instance) {
                ("api", inst) => {
                    out.push_str(
                        "  mem: 512\n  bounce_method: upthendown\n  healthcheck_mode: http\n  env:\n    FEATURE_FLAGS: 'on'\n",
                    );
                    if inst == "worker" {
                        out.push_str("  cmd: ./run_worker.sh\n");
                    }
                }
                ("web", "main") => out.push_str("  mem: 1024\n  env:\n    LOG_LEVEL: warning\n"),
                _ => out.push_str("  deploy_group: norcal-prod.canary\n  nerve_ns: main\n"),
            }
        }
        if out.is_empty() {
            out.push_str("{}\n");
        }
        out
    }

    /// Whether Marathon's `apps` (`/v2/apps?embed=apps.tasks`) are what the model wants: each
    /// configured instance one app on its group's sha with `instances` (0 when stopped) all
    /// running and the configured cpus, removed instances no app, and no other app.
    pub fn converged(&self, apps: &[Value]) -> Result<(), String> {
        let mut seen = 0;
        for i in &self.instances {
            let prefix = format!("/{}.{}.", i.service, i.instance);
            let mine: Vec<&Value> = apps
                .iter()
                .filter(|a| a["id"].as_str().is_some_and(|id| id.starts_with(&prefix)))
                .collect();
            seen += mine.len();
            if i.removed {
                if !mine.is_empty() {
                    return Err(format!(
                        "{}.{} is removed but has {}",
                        i.service,
                        i.instance,
                        ids(&mine)
                    ));
                }
                continue;
            }
            let Some(sha) = self.group_sha.get(i.group) else {
                continue;
            };
            let [app] = mine.as_slice() else {
                return Err(format!(
                    "{}.{} has apps {}",
                    i.service,
                    i.instance,
                    ids(&mine)
                ));
            };
            let id = app["id"].as_str().unwrap_or_default();
            if !id.contains(&format!(".git{}.", &sha[..8])) {
                return Err(format!(
                    "{}.{} runs {id}, not sha {}",
                    i.service,
                    i.instance,
                    &sha[..8]
                ));
            }
            let stopped = self
                .stopped
                .get(&(i.service, i.instance, sha.clone()))
                .copied()
                .unwrap_or(false);
            let want = if stopped { 0 } else { u64::from(i.instances) };
            let (n, running) = (app["instances"].as_u64(), app["tasksRunning"].as_u64());
            if n != Some(want) || running != Some(want) {
                return Err(format!(
                    "{id}: instances {n:?}, running {running:?}, want {want}"
                ));
            }
            let cpus = app["cpus"].as_f64().unwrap_or(-1.0);
            if (cpus - f64::from(i.millicpus) / 1000.0).abs() > 1e-6 {
                return Err(format!(
                    "{id}: cpus {cpus}, want {}",
                    f64::from(i.millicpus) / 1000.0
                ));
            }
        }
        if seen != apps.len() {
            return Err(format!(
                "unknown apps among {}",
                ids(&apps.iter().collect::<Vec<_>>())
            ));
        }
        Ok(())
    }
}

/// The orphans (host, container id) the reaper must have taken by convergence: those on a
/// host where Marathon runs a task. On a host without tasks the reaper holds them by design
/// (`MESOS_NO_TASKS_ON_HOST`: Mesos' task list for it may be missing); demanding their reap
/// made seed 101 fail convergence once, spuriously (the regression test below).
pub fn orphans_due<'a>(
    apps: &[Value],
    orphans: &'a [(String, String)],
) -> Vec<&'a (String, String)> {
    let busy: std::collections::BTreeSet<&str> = apps
        .iter()
        .flat_map(|a| a["tasks"].as_array().into_iter().flatten())
        .filter_map(|t| t["host"].as_str())
        .collect();
    orphans
        .iter()
        .filter(|(host, _)| busy.contains(host.as_str()))
        .collect()
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

fn ids(apps: &[&Value]) -> String {
    let v: Vec<&str> = apps.iter().filter_map(|a| a["id"].as_str()).collect();
    format!("{v:?}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Model, orphans_due};

    #[test]
    fn orphans_on_hosts_without_tasks_are_not_due() {
        let apps = [json!({"id": "/a", "tasks": [{"host": "h1"}]})];
        let orphans = [
            ("h1".to_owned(), "o1".to_owned()),
            ("h2".to_owned(), "o2".to_owned()),
        ];
        assert_eq!(orphans_due(&apps, &orphans), vec![&orphans[0]]);
    }

    #[test]
    fn converged_means_one_app_per_instance_on_its_sha() {
        let mut m = Model::new();
        m.instances.truncate(1);
        m.group_sha.insert("norcal-prod.main", "aaaaaaaa11".into());
        let app =
            |id: &str, n: u64| json!({"id": id, "instances": n, "tasksRunning": n, "cpus": 0.25});
        assert!(
            m.converged(&[app("/api.main.gitaaaaaaaa.configx", 2)])
                .is_ok()
        );
        assert!(
            m.converged(&[app("/api.main.gitbbbbbbbb.configx", 2)])
                .is_err()
        );
        assert!(
            m.converged(&[app("/api.main.gitaaaaaaaa.configx", 1)])
                .is_err()
        );
        m.stopped.insert(("api", "main", "aaaaaaaa11".into()), true);
        assert!(
            m.converged(&[app("/api.main.gitaaaaaaaa.configx", 0)])
                .is_ok()
        );
        m.instances[0].removed = true;
        assert!(
            m.converged(&[app("/api.main.gitaaaaaaaa.configx", 0)])
                .is_err()
        );
        assert!(m.converged(&[]).is_ok());
        assert!(m.render("api").starts_with("{}"));
    }
}
