//! The config loader on the shipped example and on bad files.

use std::path::Path;

use galley_agent::config::{AgentConfig, ConfigError};

#[test]
fn the_example_config_parses_with_the_real_loader() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/agent.yaml");
    let cfg = AgentConfig::from_file(&path).expect("example parses");
    assert_eq!(
        cfg.coordinators(),
        [
            "https://mesos-master1.example.com:7070",
            "https://mesos-master2.example.com:7070",
            "https://mesos-master3.example.com:7070",
        ]
    );
    assert!(cfg.tls.is_some(), "https:// needs the tls section");
    assert_eq!(cfg.min_age_secs, 3600);
    assert_eq!(cfg.heartbeat_interval_secs, 10);
}

#[test]
fn unknown_keys_and_bad_values_are_errors_naming_the_file() {
    let p = Path::new("/etc/galley/agent.yaml");
    let err = AgentConfig::parse(p, "coordinator_url: http://x\nheartbeat: 3\n")
        .expect_err("unknown key");
    assert!(matches!(err, ConfigError::Schema { .. }));
    assert!(err.to_string().contains("/etc/galley/agent.yaml"), "{err}");
    assert!(err.to_string().contains("heartbeat"), "{err}");
    let err = AgentConfig::parse(p, "coordinator_url: http://x\nheartbeat_interval_secs: 0\n")
        .expect_err("zero");
    assert!(err.to_string().contains("heartbeat_interval_secs"), "{err}");
    let err = AgentConfig::parse(p, "docker_socket: /x\n").expect_err("missing url");
    assert!(err.to_string().contains("coordinator_url"), "{err}");
    let err = AgentConfig::parse(p, "coordinator_url: http://x\nmetrics_listen: localhost\n")
        .expect_err("no port");
    assert!(err.to_string().contains("metrics_listen"), "{err}");
    let ok = AgentConfig::parse(
        p,
        "coordinator_url: http://x\nmetrics_listen: 0.0.0.0:9101\n",
    )
    .expect("valid");
    assert_eq!(ok.metrics_listen.as_deref(), Some("0.0.0.0:9101"));
}

#[test]
fn galley_agent_version_works() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_galley-agent"))
        .arg("--version")
        .output()
        .expect("run galley-agent");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("galley-agent "));
}

#[test]
fn several_coordinators_and_tls_are_checked_together() {
    let p = Path::new("agent.yaml");
    let cfg = AgentConfig::parse(
        p,
        "coordinator_url: https://m1:7070\ncoordinator_urls: [https://m2:7070, https://m1:7070]\n\
         tls: {ca_file: /c, cert_file: /e, key_file: /k}\n",
    )
    .expect("parses");
    assert_eq!(cfg.coordinators(), ["https://m1:7070", "https://m2:7070"]);
    let err = AgentConfig::parse(p, "coordinator_urls: [https://m1:7070]\n")
        .expect_err("https without tls")
        .to_string();
    assert!(err.contains("agent.yaml") && err.contains("tls"), "{err}");
    let err = AgentConfig::parse(
        p,
        "coordinator_urls: [https://m1:7070, http://m2:7070]\ntls: {ca_file: /c, cert_file: /e, key_file: /k}\n",
    )
    .expect_err("mixed")
    .to_string();
    assert!(err.contains("https://"), "{err}");
    let err = AgentConfig::parse(p, "docker_socket: /x\n")
        .expect_err("no coordinator")
        .to_string();
    assert!(err.contains("coordinator_url"), "{err}");
}
