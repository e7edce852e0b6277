//! App definition cases: spec §3.3 test vector and §8 items 15–21, plus deployment lookup.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::bounce_methods::{
    BounceMethod, DrainMethod, validate_bounce_method, validate_drain_method,
};
use crate::branch_state::{BranchStateError, branch_state};
use crate::deployments::{Deployments, V1Entry, V2Control, V2Deployment};
use crate::refs::DesiredState;
use crate::soa::InstanceKind;

const IMAGE: &str = "services-service:paasta-0123456789abcdef0123456789abcdef01234567";

/// The §3.3 test vector's hashed text, verbatim.
const SPEC_HASHED: &str = r#"{"args": [], "backoff_factor": 2, "cmd": null, "constraints": [["region", "GROUP_BY", "1"], ["pool", "LIKE", "default"]], "container": {"docker": {"image": "fake_docker_registry:443/services-service:paasta-0123456789abcdef0123456789abcdef01234567", "network": "BRIDGE", "parameters": [{"key": "memory-swap", "value": "1024m"}], "portMappings": [{"containerPort": 8888, "hostPort": 0, "protocol": "tcp"}]}, "type": "DOCKER", "volumes": []}, "cpus": 0.25, "disk": 1024.0, "env": {"PAASTA_CLUSTER": "clustername", "PAASTA_INSTANCE": "instance", "PAASTA_SERVICE": "service"}, "health_checks": [], "mem": 1024.0, "uris": ["file:///root/.dockercfg"]}"#;

/// One instance and its surroundings, defaulting to the §3.3 test vector.
struct Fixture {
    config: Value,
    smartstack: Value,
    deployment: BranchState,
    slaves: Vec<SlaveAttributes>,
    autoscaled: Option<i64>,
}

fn slave(pairs: &[(&str, &str)]) -> SlaveAttributes {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>()
}

fn instance_config(service: &str, instance: &str, config: Value) -> InstanceConfig {
    InstanceConfig {
        service: service.into(),
        cluster: "clustername".into(),
        instance: instance.into(),
        kind: InstanceKind::Marathon,
        config: config.as_object().cloned().expect("config is a mapping"),
        file: format!("{service}/marathon-clustername.yaml"),
    }
}

impl Fixture {
    fn new() -> Self {
        Self {
            config: json!({}),
            smartstack: json!({}),
            deployment: BranchState {
                docker_image: IMAGE.into(),
                ..BranchState::empty()
            },
            slaves: vec![slave(&[("region", "fake_region")])],
            autoscaled: None,
        }
    }

    fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    fn smartstack(mut self, entry: Value) -> Self {
        self.smartstack = entry;
        self
    }

    fn force_bounce(mut self, fb: &str) -> Self {
        self.deployment.force_bounce = Some(fb.into());
        self
    }

    fn stopped(mut self) -> Self {
        self.deployment.desired_state = DesiredState::Stop;
        self
    }

    fn slaves(mut self, slaves: Vec<SlaveAttributes>) -> Self {
        self.slaves = slaves;
        self
    }

    fn instance(&self) -> InstanceConfig {
        instance_config("service", "instance", self.config.clone())
    }

    fn namespace(&self) -> ServiceNamespaceConfig {
        ServiceNamespaceConfig::from_entry(self.smartstack.as_object().expect("mapping"))
            .expect("valid smartstack entry")
    }

    fn render(&self) -> Result<MarathonApp, MarathonAppError> {
        let system = SystemSettings {
            docker_registry: "fake_docker_registry:443".into(),
            volumes: vec![],
            dockercfg_location: DEFAULT_DOCKERCFG_LOCATION.into(),
        };
        render(&AppInputs {
            instance: &self.instance(),
            namespace: &self.namespace(),
            deployment: &self.deployment,
            system: &system,
            slaves: &self.slaves,
            autoscaled_instances: self.autoscaled,
        })
    }

    fn app(&self) -> MarathonApp {
        self.render().expect("renders")
    }

    fn key(&self, key: &str) -> Value {
        self.app().dict.get(key).cloned().unwrap_or(Value::Null)
    }
}

fn config_error(result: Result<MarathonApp, MarathonAppError>) -> (String, String) {
    match result {
        Err(MarathonAppError::Config(ConfigError::BadValue { key, message, .. })) => (key, message),
        other => panic!("expected a BadValue error, got {other:?}"),
    }
}

#[test]
fn spec_test_vector_hashes_byte_for_byte() {
    let app = Fixture::new().app();
    assert_eq!(app.hash_input, SPEC_HASHED);
    assert_eq!(app.id, "service.instance.git01234567.configbe5e8565");
    assert_eq!(app.dict["id"], json!(app.id));
    assert_eq!(app.instances(), 1);
    assert_eq!(app.dict["backoff_seconds"], json!(10));
}

#[test]
fn force_bounce_changes_the_id() {
    // §3.3 and §8 item 16.
    let app = Fixture::new().force_bounce("20160101T000000").app();
    assert_eq!(app.id, "service.instance.git01234567.configf3367e93");
    assert_eq!(app.hash_input, format!("{SPEC_HASHED}20160101T000000"));
    assert_eq!(Fixture::new().app().id, Fixture::new().app().id);
}

#[test]
fn instance_count_and_stop_do_not_change_the_id() {
    // §3.3, §3.9 and §8 items 16–17.
    let seven = Fixture::new().config(json!({"instances": 7})).app();
    assert_eq!(seven.id, "service.instance.git01234567.configbe5e8565");
    assert_eq!(seven.instances(), 7);
    assert_eq!(seven.dict["backoff_seconds"], json!(2));

    let stopped = Fixture::new()
        .config(json!({"instances": 7}))
        .stopped()
        .app();
    assert_eq!(stopped.id, seven.id);
    assert_eq!(stopped.instances(), 0);
    assert_eq!(
        stopped.dict["backoff_seconds"],
        json!(1),
        "issue 16: PaaSTA 0.19.9's get_instances is 0 when stopped, so backoff_seconds is 1 \
         (paasta_tools/marathon_tools.py get_backoff_seconds); the id does not change"
    );

    let bounced = Fixture::new().force_bounce("123");
    assert_eq!(bounced.app().id, bounced.stopped().app().id);
}

#[test]
fn underscores_are_formatted_in_the_id() {
    let inst = instance_config("my_service", "canary_1", json!({}));
    let fx = Fixture::new();
    let app = render(&AppInputs {
        instance: &inst,
        namespace: &fx.namespace(),
        deployment: &fx.deployment,
        system: &SystemSettings {
            docker_registry: "r".into(),
            volumes: vec![],
            dockercfg_location: DEFAULT_DOCKERCFG_LOCATION.into(),
        },
        slaves: &fx.slaves,
        autoscaled_instances: None,
    })
    .expect("renders");
    assert!(
        app.id
            .starts_with("my--service.canary--1.git01234567.config"),
        "{}",
        app.id
    );
}

#[test]
fn defaults_of_an_empty_instance() {
    // §8 item 18.
    let fx = Fixture::new();
    let inst = fx.instance();
    let plain = fx.namespace();
    let smart =
        ServiceNamespaceConfig::from_entry(json!({"proxy_port": 20000}).as_object().unwrap())
            .unwrap();
    assert_eq!(inst.mem().unwrap(), 1024.0);
    assert_eq!(inst.cpus().unwrap(), 0.25);
    assert_eq!(inst.disk().unwrap(), 1024.0);
    assert_eq!(inst.bounce_method().unwrap(), "crossover");
    assert_eq!(inst.drain_method(&plain).unwrap(), "noop");
    assert_eq!(inst.drain_method(&smart).unwrap(), "hacheck");
    assert_eq!(inst.drain_method_params(&plain).unwrap(), Map::new());
    assert_eq!(
        json!(inst.drain_method_params(&smart).unwrap()),
        json!({"delay": 60})
    );
    assert_eq!(inst.bounce_health_params(&plain).unwrap(), Map::new());
    assert_eq!(
        json!(inst.bounce_health_params(&smart).unwrap()),
        json!({"check_haproxy": true})
    );
    assert_eq!(inst.bounce_margin_factor().unwrap(), 1.0);
    assert_eq!(inst.nerve_ns().unwrap(), "instance");
    assert_eq!(inst.replication_threshold().unwrap(), 50.0);
    assert_eq!(inst.backoff_factor().unwrap(), 2.into());
    assert_eq!(inst.max_launch_delay_seconds().unwrap(), 300.into());
    assert_eq!(inst.deploy_group().unwrap(), "clustername.instance");
    let templated = instance_config(
        "s",
        "fake_instance",
        json!({"deploy_group": "cluster_is_{cluster}"}),
    );
    assert_eq!(templated.deploy_group().unwrap(), "cluster_is_clustername");
}

#[test]
fn memory_swap_is_mem_rounded_up() {
    // §8 item 18.
    for (mem, swap) in [
        (json!(50), "50m"),
        (json!(50.4), "51m"),
        (json!(1024), "1024m"),
    ] {
        let inst = instance_config("s", "i", json!({ "mem": mem }));
        assert_eq!(inst.mem_swap().unwrap(), swap);
        let app = Fixture::new().config(json!({ "mem": mem })).app();
        let params = &app.dict["container"]["docker"]["parameters"];
        assert_eq!(params, &json!([{"key": "memory-swap", "value": swap}]));
        assert!(app.dict["mem"].is_f64(), "mem is emitted as a float");
    }
}

#[test]
fn backoff_seconds_spreads_ten_seconds_over_the_instances() {
    // §8 item 19.
    for (instances, backoff) in [(100, 1), (1, 10), (0, 1), (3, 4)] {
        let app = Fixture::new()
            .config(json!({ "instances": instances }))
            .app();
        assert_eq!(
            app.dict["backoff_seconds"],
            json!(backoff),
            "{instances} instances"
        );
    }
}

#[test]
fn autoscaled_instances_are_clamped_and_backoff_uses_max_instances() {
    let fx = Fixture::new().config(json!({"min_instances": 2, "max_instances": 5, "instances": 9}));
    assert_eq!(
        fx.app().instances(),
        5,
        "no autoscaler value → max_instances"
    );
    for (autoscaled, want) in [(1, 2), (3, 3), (8, 5)] {
        let fx = Fixture {
            autoscaled: Some(autoscaled),
            ..Fixture::new().config(fx.config.clone())
        };
        let app = fx.app();
        assert_eq!(app.instances(), want, "autoscaled {autoscaled}");
        assert_eq!(app.dict["backoff_seconds"], json!(2));
    }
}

#[test]
fn computed_constraints() {
    // §8 item 20.
    let regions = |n: usize| {
        (0..n)
            .map(|i| slave(&[("region", &format!("r{i}"))]))
            .collect()
    };
    let cases: Vec<(&str, Value, Value, Vec<SlaveAttributes>, Value)> = vec![
        (
            "default",
            json!({}),
            json!({}),
            regions(1),
            json!([["region", "GROUP_BY", "1"], ["pool", "LIKE", "default"]]),
        ),
        (
            "discover habitat over two locations",
            json!({}),
            json!({"discover": "habitat"}),
            vec![
                slave(&[("habitat", "h1")]),
                slave(&[("habitat", "h2")]),
                slave(&[("habitat", "h2")]),
            ],
            json!([["habitat", "GROUP_BY", "2"], ["pool", "LIKE", "default"]]),
        ),
        (
            "extra constraints come first, stringified",
            json!({"extra_constraints": [["foo", 1]]}),
            json!({}),
            regions(1),
            json!([
                ["foo", "1"],
                ["region", "GROUP_BY", "1"],
                ["pool", "LIKE", "default"]
            ]),
        ),
        (
            "blacklist filters slaves and adds UNLIKE after GROUP_BY",
            json!({"deploy_blacklist": [["region", "r1"]]}),
            json!({}),
            regions(3),
            json!([
                ["region", "GROUP_BY", "2"],
                ["region", "UNLIKE", "r1"],
                ["pool", "LIKE", "default"]
            ]),
        ),
        (
            "whitelist filters slaves and adds one LIKE",
            json!({"deploy_whitelist": ["region", ["r0", "r2"]], "pool": "batch"}),
            json!({}),
            regions(3),
            json!([
                ["region", "GROUP_BY", "2"],
                ["region", "LIKE", "r0|r2"],
                ["pool", "LIKE", "batch"]
            ]),
        ),
        (
            "explicit constraints win verbatim and no slaves are needed",
            json!({"constraints": [["hostname", "UNIQUE"], ["x", "LIKE", 1]]}),
            json!({}),
            vec![],
            json!([["hostname", "UNIQUE"], ["x", "LIKE", 1]]),
        ),
    ];
    for (name, config, smartstack, slaves, want) in cases {
        let fx = Fixture::new()
            .config(config)
            .smartstack(smartstack)
            .slaves(slaves);
        assert_eq!(fx.key("constraints"), want, "{name}");
    }
}

#[test]
fn no_slaves_left_is_an_error() {
    let none = Fixture::new().slaves(vec![]).render();
    assert!(
        matches!(none, Err(MarathonAppError::NoSlavesAvailable(_))),
        "{none:?}"
    );
    let all_blacklisted = Fixture::new()
        .config(json!({"deploy_blacklist": [["region", "fake_region"]]}))
        .render()
        .unwrap_err();
    assert_eq!(
        all_blacklisted.to_string(),
        "No mesos slaves were available after filtering. Try again later"
    );
}

#[test]
fn app_dict_without_smartstack() {
    // §8 item 21.
    let app = Fixture::new().app();
    assert_eq!(app.dict["health_checks"], json!([]));
    assert_eq!(
        app.dict["container"],
        json!({
            "docker": {
                "image": format!("fake_docker_registry:443/{IMAGE}"),
                "network": "BRIDGE",
                "parameters": [{"key": "memory-swap", "value": "1024m"}],
                "portMappings": [{"containerPort": 8888, "hostPort": 0, "protocol": "tcp"}],
            },
            "type": "DOCKER",
            "volumes": [],
        })
    );
    assert_eq!(app.dict["uris"], json!(["file:///root/.dockercfg"]));
    assert_eq!(app.dict["backoff_factor"], json!(2));
    assert!(
        !app.dict.contains_key("max_launch_delay_seconds"),
        "v0.34 only"
    );
    assert!(!app.dict.contains_key("accepted_resource_roles"));
}

#[test]
fn health_checks_per_mode() {
    let common = json!({
        "gracePeriodSeconds": 60, "intervalSeconds": 10, "timeoutSeconds": 10,
        "maxConsecutiveFailures": 30,
    });
    let with = |extra: Value| {
        let mut check = common.clone();
        check
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!([check])
    };
    let cases = [
        (
            "smartstack defaults to http",
            json!({}),
            json!({"proxy_port": 1}),
            with(json!({"protocol": "HTTP", "path": "/status", "portIndex": 0})),
        ),
        (
            "smartstack uri",
            json!({}),
            json!({"proxy_port": 1, "healthcheck_uri": "/hc"}),
            with(json!({"protocol": "HTTP", "path": "/hc", "portIndex": 0})),
        ),
        (
            "instance uri wins",
            json!({"healthcheck_uri": "/mine"}),
            json!({"mode": "http"}),
            with(json!({"protocol": "HTTP", "path": "/mine", "portIndex": 0})),
        ),
        (
            "smartstack tcp",
            json!({}),
            json!({"proxy_port": 1, "mode": "tcp"}),
            with(json!({"protocol": "TCP", "portIndex": 0})),
        ),
        (
            "instance mode over smartstack",
            json!({"healthcheck_mode": "tcp"}),
            json!({"proxy_port": 1}),
            with(json!({"protocol": "TCP", "portIndex": 0})),
        ),
        (
            "cmd",
            json!({"healthcheck_mode": "cmd", "healthcheck_cmd": "/bin/true"}),
            json!({}),
            with(json!({"protocol": "COMMAND", "command": {"value": "/bin/true"}})),
        ),
        ("no mode", json!({}), json!({}), json!([])),
        (
            "tuned",
            json!({"healthcheck_mode": "tcp", "healthcheck_grace_period_seconds": 5.5,
                         "healthcheck_interval_seconds": 1, "healthcheck_timeout_seconds": 2,
                         "healthcheck_max_consecutive_failures": 6}),
            json!({}),
            json!([{"protocol": "TCP", "gracePeriodSeconds": 5.5, "intervalSeconds": 1,
                 "portIndex": 0, "timeoutSeconds": 2, "maxConsecutiveFailures": 6}]),
        ),
    ];
    for (name, config, smartstack, want) in cases {
        let fx = Fixture::new().config(config).smartstack(smartstack);
        assert_eq!(fx.key("health_checks"), want, "{name}");
    }
}

#[test]
fn invalid_health_check_modes_are_errors() {
    let (key, message) = config_error(
        Fixture::new()
            .config(json!({"healthcheck_mode": "udp"}))
            .render(),
    );
    assert_eq!(key, "instance.healthcheck_mode");
    assert_eq!(
        message,
        "Unknown mode: udp. Only acceptable healthcheck modes are http/tcp/cmd"
    );

    let (key, message) = config_error(
        Fixture::new()
            .config(json!({"healthcheck_mode": "cmd"}))
            .render(),
    );
    assert_eq!(key, "instance.healthcheck_cmd");
    assert_eq!(
        message,
        "healthcheck mode 'cmd' requires a healthcheck_cmd to run"
    );

    let source = crate::soa::ServiceSource {
        name: "service".into(),
        files: [(
            "smartstack.yaml".to_string(),
            "instance:\n  proxy_port: 1\n  mode: https\n".to_string(),
        )]
        .into(),
    };
    let service = crate::soa::ServiceConfig::parse(&source).unwrap();
    let err = ServiceNamespaceConfig::load(&service, "instance").unwrap_err();
    assert_eq!(
        err,
        ConfigError::BadValue {
            file: "service/smartstack.yaml".into(),
            key: "instance.mode".into(),
            message: "Unknown mode: https".into(),
        }
    );
    assert_eq!(
        ServiceNamespaceConfig::load(&service, "other").unwrap(),
        Default::default()
    );
}

#[test]
fn cmd_and_args() {
    let fx = |c: Value| Fixture::new().config(c);
    let app = fx(json!({"cmd": "run.sh"})).app();
    assert_eq!(
        (&app.dict["cmd"], &app.dict["args"]),
        (&json!("run.sh"), &Value::Null)
    );
    let app = fx(json!({"args": ["--port", "8888"]})).app();
    assert_eq!(
        (&app.dict["cmd"], &app.dict["args"]),
        (&Value::Null, &json!(["--port", "8888"]))
    );
    let (key, message) = config_error(fx(json!({"cmd": "x", "args": ["y"]})).render());
    assert_eq!(key, "instance.args");
    assert_eq!(
        message,
        "Instance configuration can specify cmd or args, but not both."
    );
}

#[test]
fn env_starts_with_paasta_variables_and_user_env_overrides() {
    let env = Fixture::new()
        .config(json!({"env": {"FOO": "bar", "PAASTA_CLUSTER": "mine"}}))
        .key("env");
    assert_eq!(
        env,
        json!({"PAASTA_SERVICE": "service", "PAASTA_INSTANCE": "instance",
               "PAASTA_CLUSTER": "mine", "FOO": "bar"})
    );
    let (key, _) = config_error(Fixture::new().config(json!({"env": {"PORT": 1}})).render());
    assert_eq!(key, "instance.env.PORT");
}

#[test]
fn network_volumes_and_roles() {
    let app = Fixture::new()
        .config(json!({
            "net": "host",
            "extra_volumes": [{"containerPath": "/a", "hostPath": "/b", "mode": "RO"}],
            "accepted_resource_roles": ["slave_public"],
        }))
        .app();
    let docker = &app.dict["container"]["docker"];
    assert_eq!(docker["network"], json!("HOST"));
    assert!(
        docker.get("portMappings").is_none(),
        "port mappings only for BRIDGE"
    );
    assert_eq!(
        app.dict["container"]["volumes"],
        json!([{"containerPath": "/a", "hostPath": "/b", "mode": "RO"}])
    );
    assert_eq!(app.dict["accepted_resource_roles"], json!(["slave_public"]));
    let none = Fixture::new().config(json!({"net": "none"})).app();
    assert_eq!(none.dict["container"]["docker"]["network"], json!("NONE"));
}

#[test]
fn bad_values_name_file_and_key() {
    let cases = [
        (json!({"cpus": "lots"}), "instance.cpus"),
        (json!({"instances": -1}), "instance.instances"),
        (json!({"instances": 1.5}), "instance.instances"),
        (
            json!({"deploy_blacklist": [["region"]]}),
            "instance.deploy_blacklist",
        ),
        (
            json!({"deploy_whitelist": ["region", "a"]}),
            "instance.deploy_whitelist",
        ),
        (
            json!({"extra_constraints": [["a", ["nested"]]]}),
            "instance.extra_constraints",
        ),
        (
            json!({"constraints": "hostname:UNIQUE"}),
            "instance.constraints",
        ),
        (
            json!({"extra_volumes": ["/a:/b"]}),
            "instance.extra_volumes",
        ),
        (json!({"net": 1}), "instance.net"),
    ];
    for (config, want_key) in cases {
        let err = Fixture::new().config(config.clone()).render().unwrap_err();
        match err {
            MarathonAppError::Config(ConfigError::BadValue { file, key, .. }) => {
                assert_eq!(
                    (file.as_str(), key.as_str()),
                    ("service/marathon-clustername.yaml", want_key)
                );
            }
            other => panic!("{config}: {other:?}"),
        }
    }
    let inst = instance_config("s", "i", json!({"bounce_margin_factor": 0}));
    assert!(inst.bounce_margin_factor().is_err());
    let inst = instance_config("s", "i", json!({"bounce_margin_factor": 0.5}));
    assert_eq!(inst.bounce_margin_factor().unwrap(), 0.5);
}

#[test]
fn missing_docker_image_is_an_error_with_setup_message() {
    let mut fx = Fixture::new();
    fx.deployment.docker_image.clear();
    let err = fx.render().unwrap_err();
    assert_eq!(
        err.to_string(),
        "Docker url not available because there is no docker_image"
    );
    assert_eq!(
        err.setup_message().as_deref(),
        Some(
            "Docker image for service.instance not in deployments.json. Exiting. Has Jenkins deployed it?"
        )
    );
}

#[test]
fn unknown_bounce_and_drain_methods() {
    // §8 item 30.
    assert_eq!(
        validate_bounce_method("crossover"),
        Ok(BounceMethod::Crossover)
    );
    assert_eq!(validate_drain_method("hacheck"), Ok(DrainMethod::Hacheck));
    assert_eq!(
        validate_bounce_method("fake_bounce")
            .unwrap_err()
            .to_string(),
        "ERROR: bounce_method not recognized: fake_bounce. Must be one of \
         (upthendown, downthenup, down, brutal, crossover)"
    );
    assert_eq!(
        validate_drain_method("fake_drain").unwrap_err().to_string(),
        "ERROR: drain_method not recognized: fake_drain. Must be one of (hacheck, noop, test)"
    );
}

#[test]
fn wire_json_camel_cases_top_level_keys_and_drops_empty_values() {
    let app = Fixture::new()
        .config(json!({"cmd": "run", "accepted_resource_roles": ["*"]}))
        .stopped()
        .app();
    let wire = app.to_wire_json();
    let keys: Vec<&str> = wire
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec![
            "acceptedResourceRoles",
            "backoffFactor",
            "backoffSeconds",
            "cmd",
            "constraints",
            "container",
            "cpus",
            "disk",
            "env",
            "id",
            "instances",
            "mem",
            "uris",
        ]
    );
    assert_eq!(wire["instances"], json!(0), "0 is kept");
    assert_eq!(
        wire["container"]["docker"]["portMappings"][0]["containerPort"],
        json!(8888)
    );
    assert_eq!(
        to_camel_case("max_launch_delay_seconds"),
        "maxLaunchDelaySeconds"
    );
    assert_eq!(to_camel_case("health_checks"), "healthChecks");
}

#[test]
fn system_settings_from_the_merged_system_config() {
    let config = json!({"docker_registry": "reg:443", "volumes": [{"containerPath": "/x"}]});
    let settings =
        SystemSettings::from_system_config(config.as_object().unwrap(), "/etc/paasta").unwrap();
    assert_eq!(settings.dockercfg_location, "file:///root/.dockercfg");
    assert_eq!(settings.volumes.len(), 1);
    let err = SystemSettings::from_system_config(
        json!({"volumes": []}).as_object().unwrap(),
        "/etc/paasta",
    );
    assert!(err.unwrap_err().to_string().contains("docker_registry"));
}

fn deployments(v1: &[(&str, &str, DesiredState, Option<&str>)], v2: bool) -> Deployments {
    let mut d = Deployments::default();
    for (key, image, state, fb) in v1 {
        d.v1.insert(
            key.to_string(),
            V1Entry {
                docker_image: image.to_string(),
                desired_state: *state,
                force_bounce: fb.map(Into::into),
            },
        );
    }
    if v2 {
        d.v2.deployments.insert(
            "clustername.instance".into(),
            V2Deployment {
                docker_image: "services-service:paasta-v2".into(),
                git_sha: "v2".into(),
            },
        );
        d.v2.controls.insert(
            "service:clustername.instance".into(),
            V2Control {
                desired_state: DesiredState::Stop,
                force_bounce: Some("v2fb".into()),
            },
        );
    }
    d
}

#[test]
fn deployment_state_lookup() {
    use DesiredState::*;
    let inst = instance_config("service", "instance", json!({}));
    assert_eq!(
        branch_state(None, &inst),
        Err(BranchStateError::NoDeploymentsAvailable {
            service: "service".into()
        })
    );
    assert_eq!(
        branch_state(Some(&Deployments::default()), &inst),
        Ok(BranchState::empty())
    );

    let v1 = deployments(
        &[(
            "service:paasta-clustername.instance",
            "img1",
            Stop,
            Some("fb"),
        )],
        false,
    );
    let state = branch_state(Some(&v1), &inst).unwrap();
    assert_eq!(
        (
            state.docker_image.as_str(),
            state.desired_state,
            state.force_bounce.as_deref()
        ),
        ("img1", Stop, Some("fb"))
    );

    let custom_branch = instance_config("service", "instance", json!({"branch": "my_branch"}));
    let v1 = deployments(&[("service:my_branch", "img2", Start, None)], false);
    assert_eq!(
        branch_state(Some(&v1), &custom_branch)
            .unwrap()
            .docker_image,
        "img2"
    );

    let both = deployments(
        &[("service:paasta-clustername.instance", "img1", Start, None)],
        true,
    );
    let state = branch_state(Some(&both), &inst).unwrap();
    assert_eq!(
        state,
        BranchState {
            docker_image: "services-service:paasta-v2".into(),
            desired_state: Stop,
            force_bounce: Some("v2fb".into()),
            git_sha: Some("v2".into()),
        }
    );
}

/// Issue 16: explicit constraints with non-string values (YAML `2`) keep PaaSTA's config hash
/// (the dict holds the values as written) but go to Marathon as strings, which is all
/// Marathon 1.4 accepts ("Constraint definition must be an array of strings").
#[test]
fn typed_constraint_values_hash_as_written_and_go_as_strings() {
    let typed = Fixture::new()
        .config(json!({"constraints": [["pool", "LIKE", 2], ["region", "GROUP_BY", 3]]}))
        .app();
    let strings = Fixture::new()
        .config(json!({"constraints": [["pool", "LIKE", "2"], ["region", "GROUP_BY", "3"]]}))
        .app();
    assert_eq!(
        typed.dict["constraints"][0][2],
        json!(2),
        "hashed as PaaSTA saw it"
    );
    assert_ne!(
        typed.id, strings.id,
        "PaaSTA's hash differs for 2 and \"2\""
    );
    let wire = typed.to_wire_json();
    assert_eq!(
        wire["constraints"],
        json!([["pool", "LIKE", "2"], ["region", "GROUP_BY", "3"]])
    );
    assert!(
        wire["constraints"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c.as_array().unwrap())
            .all(Value::is_string),
        "every field a string on the wire"
    );
}

/// Constraints Marathon would refuse whatever the types are refused here, naming the key.
#[test]
fn constraints_marathon_would_refuse_are_errors() {
    for (constraints, needle) in [
        (json!([["pool"]]), "2 or 3 fields"),
        (json!([["pool", "LIKE", "a", "b"]]), "2 or 3 fields"),
        (
            json!([["pool", "SOMETIMES", "a"]]),
            "operator \"SOMETIMES\"",
        ),
        (json!([["pool", "LIKE", ["a"]]]), "scalars"),
    ] {
        let err = Fixture::new()
            .config(json!({ "constraints": constraints }))
            .render()
            .unwrap_err()
            .to_string();
        assert!(err.contains("constraints[0]"), "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

/// A deliberate difference from PaaSTA, kept: an `env` value that is not a string (YAML
/// `PORT: 8080`) is refused naming the key, where PaaSTA sent a body Marathon refused.
#[test]
fn typed_env_values_are_refused_naming_the_key() {
    for value in [json!(8080), json!(true), json!(null), json!(["a"])] {
        let err = Fixture::new()
            .config(json!({ "env": { "PORT": value } }))
            .render()
            .unwrap_err()
            .to_string();
        assert!(err.contains("env.PORT"), "{err}");
        assert!(err.contains("string"), "{err}");
    }
}
