//! Every app body `galley-coordinator render-app` produces for the example services in
//! `deploy/examples/soa-configs` (through the library path it uses, `desired_instance`)
//! validates against Marathon 1.4.13's `schema/AppDefinition.json` (copied to
//! `marathon-1.4.13/`, see its README).

use galley_common::constraints::SlaveAttributes;
use galley_common::deployments::{Deployments, V2Control, V2Deployment};
use galley_common::refs::DesiredState;
use galley_common::soa::{InstanceKind, ServiceConfig};
use galley_coordinator::desired::{DesiredContext, desired_instance};
use galley_coordinator::soa_dir;
use galley_coordinator::system_dir::read_system_config;
use serde_json::{Value, json};

use crate::deploy_configs::deploy_dir;
use crate::json_schema::Validator;

const SCHEMA: &str = include_str!("marathon-1.4.13/AppDefinition.json");

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("AppDefinition.json parses")
}

/// deployments.json running one sha in `state` for every Marathon instance of `config`.
fn deployments(config: &ServiceConfig, state: DesiredState) -> Deployments {
    let mut d = Deployments::default();
    let sha = "1234567890abcdef1234567890abcdef12345678";
    for inst in config.all_instances().expect("instances") {
        let group = inst.deploy_group().expect("deploy group");
        let image = format!("services-{}:paasta-{sha}", inst.service);
        let deployment = V2Deployment {
            docker_image: image,
            git_sha: sha.into(),
        };
        d.v2.deployments.insert(group, deployment);
        let control = V2Control {
            desired_state: state,
            force_bounce: None,
        };
        let key = format!("{}:{}", inst.service, inst.control_branch());
        d.v2.controls.insert(key, control);
    }
    d
}

fn slaves() -> Vec<SlaveAttributes> {
    ["uswest1-prod", "useast1-prod"]
        .iter()
        .map(|region| {
            SlaveAttributes::from([
                ("region".to_string(), region.to_string()),
                ("pool".to_string(), "default".to_string()),
            ])
        })
        .collect()
}

#[test]
fn the_validator_knows_every_keyword_of_the_schema_and_catches_errors() {
    let schema = schema();
    let v = Validator::new(&schema);
    assert_eq!(v.unsupported_keywords(), Vec::<String>::new());
    let ok = json!({ "id": "/web.main", "cmd": "sleep 1", "instances": 1 });
    assert_eq!(v.validate(&ok), Vec::<String>::new());
    for bad in [
        json!({ "id": "/web.main", "instances": -1 }),
        json!({ "id": "/web.main", "cmd": "x", "args": ["y"] }),
        json!({ "id": "/Web_Main" }),
        json!({ "id": "/a", "unknownField": 1 }),
        json!({ "id": "/a", "constraints": [["hostname", "NEAR"]] }),
        json!({ "id": "/a", "env": { "A": 1 } }),
    ] {
        assert!(!v.validate(&bad).is_empty(), "accepted {bad}");
    }
}

/// Every Marathon instance of every example service, in every cluster it has, started and
/// stopped.
#[test]
fn rendered_example_apps_validate_against_marathon_app_definition() {
    let schema = schema();
    let validator = Validator::new(&schema);
    let soa = deploy_dir().join("examples/soa-configs");
    let system = read_system_config(&deploy_dir().join("examples/cluster/paasta"))
        .expect("example system config");
    let mut rendered = 0;
    for service in soa_dir::list_services(&soa).expect("services") {
        let source = soa_dir::read_service(&soa, &service).expect("read");
        let config = ServiceConfig::parse(&source).expect("parse");
        for state in [DesiredState::Start, DesiredState::Stop] {
            let d = deployments(&config, state);
            for cluster in config.clusters() {
                let ctx = DesiredContext {
                    cluster: cluster.to_string(),
                    system: system.settings.clone(),
                    slaves: slaves(),
                };
                for name in config.instance_names(cluster, InstanceKind::Marathon) {
                    let desired = desired_instance(&config, name, Some(&d), &ctx)
                        .unwrap_or_else(|e| panic!("{service}.{name} in {cluster}: {e:?}"));
                    let app = desired.app.to_value();
                    let errors = validator.validate(&app);
                    assert!(
                        errors.is_empty(),
                        "{service}.{name} in {cluster} ({state:?}) breaks AppDefinition.json:\n{}\n{:#}",
                        errors.join("\n"),
                        app
                    );
                    rendered += 1;
                }
            }
        }
    }
    assert!(rendered >= 10, "only {rendered} apps rendered");
}
