//! soa-configs parsing cases.

use serde_json::json;

use super::*;

fn source(name: &str, files: &[(&str, &str)]) -> ServiceSource {
    ServiceSource {
        name: name.into(),
        files: files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn instance_files_are_recognised_like_paasta_b() {
    assert_eq!(
        is_instance_file("marathon-norcal-devc.yaml"),
        Some((InstanceKind::Marathon, "norcal-devc"))
    );
    assert_eq!(
        is_instance_file("chronos-a_b.yaml"),
        Some((InstanceKind::Chronos, "a_b"))
    );
    // §8 item 40: upper-case "shared" files are symlink targets, never clusters.
    assert_eq!(is_instance_file("marathon-PROD.yaml"), None);
    assert_eq!(is_instance_file("chronos-SHARED.yaml"), None);
    assert_eq!(is_instance_file("marathon-x.yml"), None);
    assert_eq!(is_instance_file("service.yaml"), None);
}

#[test]
fn instances_deep_merge_over_service_yaml_and_interpolate_deploy_group() {
    let svc = ServiceConfig::parse(&source(
        "web",
        &[
            (
                "service.yaml",
                "deploy_group: '{cluster}.everything'\nenv: {A: '1'}\ngit_url: /repos/web.git\n",
            ),
            (
                "marathon-norcal.yaml",
                "main:\n  env: {B: '2'}\ncanary:\n  deploy_group: canary-{service}\n",
            ),
            ("chronos-norcal.yaml", "nightly: {}\n"),
            ("marathon-SHARED.yaml", "ignored: {}\n"),
        ],
    ))
    .expect("parses");
    assert_eq!(svc.git_url().expect("url"), "/repos/web.git");
    assert_eq!(
        svc.clusters().into_iter().collect::<Vec<_>>(),
        vec!["norcal"]
    );
    let all = svc.all_instances().expect("instances");
    let names: Vec<_> = all.iter().map(|i| (i.instance.as_str(), i.kind)).collect();
    assert_eq!(
        names,
        vec![
            ("main", InstanceKind::Marathon),
            ("canary", InstanceKind::Marathon),
            ("nightly", InstanceKind::Chronos)
        ]
    );
    assert_eq!(all[0].config["env"], json!({"A": "1", "B": "2"}));
    assert_eq!(all[0].deploy_group().expect("group"), "norcal.everything");
    assert_eq!(all[1].deploy_group().expect("group"), "canary-web");
    assert_eq!(all[1].branch().expect("branch"), "paasta-norcal.canary");
    // Issue 16: a chronos job is its own dict (chronos_tools.load_chronos_job_config), so
    // service.yaml's deploy_group is no default for it.
    assert_eq!(all[2].deploy_group().expect("group"), "norcal.nightly");
    assert_eq!(all[2].config.get("env"), None);
}

#[test]
fn default_deploy_group_and_git_url() {
    let svc = ServiceConfig::parse(&source("api", &[("marathon-c1.yaml", "main: {}\n")]))
        .expect("parses");
    let i = svc
        .instance("c1", InstanceKind::Marathon, "main")
        .expect("instance");
    assert_eq!(i.deploy_group().expect("group"), "c1.main");
    assert_eq!(
        svc.git_url().expect("url"),
        "git@git.yelpcorp.com:services/api.git"
    );
}

#[test]
fn errors_name_file_and_key() {
    let err =
        ServiceConfig::parse(&source("api", &[("marathon-c1.yaml", "main: [\n")])).unwrap_err();
    assert!(err.to_string().contains("api/marathon-c1.yaml"), "{err}");
    let svc = ServiceConfig::parse(&source(
        "api",
        &[(
            "marathon-c1.yaml",
            "main: 3\nother:\n  deploy_group: '{region}'\n",
        )],
    ))
    .expect("parses");
    let err = svc.all_instances().unwrap_err();
    assert_eq!(
        err.to_string(),
        "api/marathon-c1.yaml: key `main`: an instance must be a mapping of settings, found 3"
    );
    let other = svc
        .instance("c1", InstanceKind::Marathon, "other")
        .expect("instance");
    let err = other.deploy_group().unwrap_err().to_string();
    assert!(
        err.contains(
            "api/marathon-c1.yaml: key `other.deploy_group`: unknown placeholder {region}"
        ),
        "{err}"
    );
    let err = svc
        .instance("c1", InstanceKind::Marathon, "nope")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "nope not found in config file api/marathon-c1.yaml"
    );
    let err = ServiceConfig::parse(&source("api", &[("service.yaml", "- a\n")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "api/service.yaml: key `(top level)`: must be a mapping, found a list"
    );
}

#[test]
fn general_config_carries_generated_keys_and_service_yaml_wins() {
    let svc = ServiceConfig::parse(&source(
        "api",
        &[
            ("port", "1234\n"),
            ("smartstack.yaml", "main: {proxy_port: 20001}\n"),
            ("service.yaml", "port: 99\n"),
        ],
    ))
    .expect("parses");
    assert_eq!(svc.general["port"], json!(99));
    assert_eq!(
        svc.general["smartstack"],
        json!({"main": {"proxy_port": 20001}})
    );
    assert_eq!(svc.general["monitoring"], json!({}));
}
