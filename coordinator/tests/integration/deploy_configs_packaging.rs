//! Every coordinator and agent config shipped in `deploy/` (the packaged `/etc/galley`
//! defaults, the cluster examples) loads with the real loaders, found by naming convention so
//! a new file cannot be missed:
//!
//! - `coordinator*.yaml` anywhere under `deploy/` → `CoordinatorConfig::from_file`;
//! - `agent*.yaml` anywhere under `deploy/` → `AgentConfig::from_file`;
//! - a directory named `paasta` → the system config reader (`read_system_config`);
//! - `hiera/**.yaml` is puppet data, and `examples/soa-configs` has its own test.
//!
//! Any other YAML file under `deploy/` fails the test until it is given a convention here.

use std::path::{Path, PathBuf};

use galley_agent::config::AgentConfig;
use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::system_dir::read_system_config;

use crate::deploy_configs::{deploy_dir, files_under};

enum Kind {
    Coordinator,
    Agent,
    Other,
}

fn kind(deploy: &Path, path: &Path) -> Kind {
    let rel = path.strip_prefix(deploy).expect("under deploy");
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    if !is_yaml {
        return Kind::Other;
    }
    let under = |dir: &str| rel.components().any(|c| c.as_os_str() == dir);
    if under("soa-configs") || under("hiera") {
        Kind::Other
    } else if name.starts_with("coordinator") {
        Kind::Coordinator
    } else if name.starts_with("agent") {
        Kind::Agent
    } else {
        panic!(
            "{}: a YAML file in deploy/ that no test loads; name it coordinator*.yaml or \
             agent*.yaml, or teach deploy_configs_packaging.rs its convention",
            path.display()
        )
    }
}

#[test]
fn every_shipped_coordinator_and_agent_config_loads_with_the_real_loader() {
    let deploy = deploy_dir();
    let mut files = Vec::new();
    files_under(&deploy, &mut files);
    files.sort();
    let (mut coordinators, mut agents) = (Vec::new(), Vec::new());
    for path in &files {
        match kind(&deploy, path) {
            Kind::Coordinator => {
                CoordinatorConfig::from_file(path).unwrap_or_else(|e| {
                    panic!("{}", galley_coordinator::error_chain::ErrorChain(&e))
                });
                coordinators.push(path.clone());
            }
            Kind::Agent => {
                AgentConfig::from_file(path).unwrap_or_else(|e| panic!("{e}"));
                agents.push(path.clone());
            }
            Kind::Other => {}
        }
    }
    // The packaged defaults and the 3-master example are all there.
    for name in [
        "etc/galley/coordinator.yaml",
        "examples/cluster/coordinator-master1.yaml",
        "examples/cluster/coordinator-master2.yaml",
        "examples/cluster/coordinator-master3.yaml",
    ] {
        assert!(
            coordinators.contains(&deploy.join(name)),
            "{name}: {coordinators:?}"
        );
    }
    for name in [
        "etc/galley/agent.yaml",
        "examples/agent.yaml",
        "examples/cluster/agent.yaml",
    ] {
        assert!(agents.contains(&deploy.join(name)), "{name}: {agents:?}");
    }
}

#[test]
fn the_packaged_coordinator_default_is_inert() {
    let config =
        CoordinatorConfig::from_file(&deploy_dir().join("etc/galley/coordinator.yaml")).unwrap();
    assert!(
        config.reconcile.dry_run,
        "a fresh install must not touch Marathon"
    );
    assert!(config.listen.starts_with("127.0.0.1:"), "{}", config.listen);
}

#[test]
fn every_example_master_acts_under_one_election_over_mutual_tls() {
    use galley_coordinator::grpc::authz::Role;
    let dir = deploy_dir().join("examples/cluster");
    let masters: Vec<CoordinatorConfig> = (1..=3)
        .map(|n| {
            CoordinatorConfig::from_file(&dir.join(format!("coordinator-master{n}.yaml"))).unwrap()
        })
        .collect();
    let first = masters[0].election.as_ref().expect("master1: election");
    let mut ids = std::collections::BTreeSet::new();
    for (n, m) in masters.iter().enumerate() {
        // The election, not dry_run, decides who writes: every master is active.
        assert!(!m.reconcile.dry_run, "master{}: dry_run", n + 1);
        let e = m
            .election
            .as_ref()
            .unwrap_or_else(|| panic!("master{}: no election", n + 1));
        assert_eq!(
            e.zookeeper,
            first.zookeeper,
            "master{}: another ensemble",
            n + 1
        );
        assert_eq!(e.path, first.path, "master{}: another election path", n + 1);
        ids.insert(e.id.clone().expect("explicit election.id"));
        assert!(m.tls.is_some(), "master{}: no tls", n + 1);
        assert_eq!(m.roles, masters[0].roles, "master{}: other roles", n + 1);
    }
    assert_eq!(ids.len(), 3, "election ids must differ: {ids:?}");
    let roles: Vec<Role> = masters[0].roles.values().copied().collect();
    assert!(
        roles.contains(&Role::Operator) && roles.contains(&Role::ReadOnly),
        "{roles:?}"
    );
}

#[test]
fn every_shipped_system_config_dir_loads_with_the_real_reader() {
    let deploy = deploy_dir();
    let mut files = Vec::new();
    files_under(&deploy, &mut files);
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent())
        .filter(|d| d.file_name().is_some_and(|n| n == "paasta"))
        .map(Path::to_path_buf)
        .collect();
    dirs.sort();
    dirs.dedup();
    assert!(!dirs.is_empty(), "no system config example");
    for dir in dirs {
        let system = read_system_config(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(system.cluster.is_some(), "{}: no cluster", dir.display());
    }
}
