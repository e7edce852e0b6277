//! soa-configs, from the files of a service directory down to every instance's rendered
//! Marathon app (`ServiceConfig::parse`, instances, deploy groups and branches, the
//! deployments.json lookup, the smartstack namespace, `render`): the example services shipped
//! in `deploy/examples/soa-configs` with their files mutated, replaced or added. Every error
//! names the file it is about (`<service>/<file>`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use galley_common::branch_state::branch_state;
use galley_common::deployments::Deployments;
use galley_common::marathon_app::{AppInputs, DEFAULT_DOCKERCFG_LOCATION, SystemSettings, render};
use galley_common::smartstack::ServiceNamespaceConfig;
use galley_common::soa::{ServiceConfig, ServiceSource, yaml_mapping};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::deployments::valid_files;
use crate::mutate::{
    TextEdit, TreeEdit, apply_edits, apply_tree_edits, text_edits, to_yaml, tree_edits,
};
use crate::support::{YAML_TOKENS, fuzz, nasty_string, soup};

/// The example services, file name → text.
fn examples() -> Vec<ServiceSource> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/soa-configs");
    let mut out = Vec::new();
    for name in ["web", "api", "batch"] {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(root.join(name)).expect("example service") {
            let path = entry.expect("entry").path();
            let file = path
                .file_name()
                .and_then(|f| f.to_str())
                .expect("name")
                .to_string();
            files.insert(file, std::fs::read_to_string(&path).expect("read"));
        }
        out.push(ServiceSource {
            name: name.into(),
            files,
        });
    }
    out
}

/// Runs the whole instance-reading pipeline; every error must name a file of the service.
pub fn check_service(
    source: &ServiceSource,
    deployments: Option<&str>,
) -> Result<(), TestCaseError> {
    let names_file = |what: &str, msg: String| -> Result<(), TestCaseError> {
        prop_assert!(
            msg.contains(&format!("{}/", source.name)),
            "{what}: {msg:?}"
        );
        Ok(())
    };
    let config = match ServiceConfig::parse(source) {
        Ok(c) => c,
        Err(e) => return names_file("parse", e.to_string()),
    };
    if let Err(e) = config.git_url() {
        names_file("git_url", e.to_string())?;
    }
    let deployments = deployments.and_then(|t| Deployments::parse(t).ok());
    let system = SystemSettings {
        docker_registry: "registry.example.com:443".into(),
        volumes: vec![],
        dockercfg_location: DEFAULT_DOCKERCFG_LOCATION.into(),
    };
    let instances = match config.all_instances() {
        Ok(i) => i,
        Err(e) => return names_file("instances", e.to_string()),
    };
    for inst in instances {
        for result in [inst.deploy_group(), inst.branch()] {
            if let Err(e) = result {
                names_file("deploy_group/branch", e.to_string())?;
            }
        }
        let state = match branch_state(deployments.as_ref(), &inst) {
            Ok(s) => s,
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                continue;
            }
        };
        let ns = match inst
            .nerve_ns()
            .and_then(|ns| ServiceNamespaceConfig::load(&config, &ns))
        {
            Ok(ns) => ns,
            Err(e) => {
                names_file("namespace", e.to_string())?;
                continue;
            }
        };
        let slaves = [BTreeMap::from([(
            "region".to_string(),
            "uswest1".to_string(),
        )])];
        let inputs = AppInputs {
            instance: &inst,
            namespace: &ns,
            deployment: &state,
            system: &system,
            slaves: &slaves,
            autoscaled_instances: None,
        };
        match render(&inputs) {
            Ok(app) => prop_assert!(
                app.id.starts_with(&format!("{}.", source.name)),
                "{}",
                app.id
            ),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        for result in [inst.bounce_method(), inst.drain_method(&ns)] {
            if let Err(e) = result {
                names_file("bounce/drain", e.to_string())?;
            }
        }
    }
    Ok(())
}

/// What happens to one file of the service.
#[derive(Debug, Clone)]
enum FileChange {
    Text(Vec<TextEdit>),
    Tree(Vec<TreeEdit>),
    Soup(String),
    Remove,
}

fn file_change() -> impl Strategy<Value = FileChange> {
    prop_oneof![
        3 => text_edits(YAML_TOKENS, 8).prop_map(FileChange::Text),
        3 => tree_edits(6).prop_map(FileChange::Tree),
        1 => soup(YAML_TOKENS, 60).prop_map(FileChange::Soup),
        1 => Just(FileChange::Remove),
    ]
}

fn extra_file_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "service.yaml",
            "smartstack.yaml",
            "deploy.yaml",
            "monitoring.yaml",
            "port",
            "vip",
            "marathon-norcal-prod.yaml",
            "chronos-norcal-prod.yaml",
            "marathon-.yaml",
            "marathon-a_b-c.yaml",
            "marathon-SHARED.yaml",
        ])
        .prop_map(String::from),
        "(marathon|chronos)-[a-z0-9_-]{0,12}\\.yaml",
    ]
}

#[test]
fn mutated_services_render_or_name_the_file() {
    let input = (
        0usize..3,
        proptest::collection::vec((any::<usize>(), file_change()), 0..4),
        proptest::collection::vec((extra_file_name(), soup(YAML_TOKENS, 40)), 0..2),
        proptest::option::of((0usize..3, tree_edits(3))),
    );
    let examples = examples();
    fuzz(
        "soa-service",
        600,
        input,
        |(which, changes, extra, deployments)| {
            let mut source = examples[which].clone();
            for (pick, change) in changes {
                let names: Vec<String> = source.files.keys().cloned().collect();
                let Some(name) = names.get(pick % names.len().max(1)) else {
                    continue;
                };
                let text = source.files.get(name).cloned().unwrap_or_default();
                match change {
                    FileChange::Text(edits) => drop(
                        source
                            .files
                            .insert(name.clone(), apply_edits(&text, &edits)),
                    ),
                    FileChange::Tree(edits) => {
                        let value = galley_common::yaml::load(&text).unwrap_or_default();
                        let doc = to_yaml(&apply_tree_edits(value, &edits));
                        source.files.insert(name.clone(), doc);
                    }
                    FileChange::Soup(s) => drop(source.files.insert(name.clone(), s)),
                    FileChange::Remove => drop(source.files.remove(name)),
                }
            }
            source.files.extend(extra);
            let deployments = deployments.map(|(i, edits)| {
                let value = apply_tree_edits(valid_files()[i].clone(), &edits);
                serde_json::to_string(&value).expect("json")
            });
            check_service(&source, deployments.as_deref())
        },
    );
}

/// Any service name and file name: errors still name `<service>/<file>`.
#[test]
fn yaml_mapping_errors_name_the_file() {
    let input = (nasty_string(), extra_file_name(), soup(YAML_TOKENS, 80));
    fuzz("soa-yaml-mapping", 1500, input, |(service, file, text)| {
        let path = format!("{service}/{file}");
        if let Err(e) = yaml_mapping(&path, &text) {
            let msg = e.to_string();
            prop_assert!(msg.contains(&path), "{msg:?}");
        }
        let source = ServiceSource {
            name: service,
            files: BTreeMap::from([(file, text)]),
        };
        check_service(&source, None)
    });
}
