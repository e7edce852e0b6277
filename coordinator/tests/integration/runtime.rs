//! The composition root's graceful shutdown (issue 17): a coordinator started with
//! `Coordinator::start` (with a ZooKeeper election when one is available) and an agent started
//! with `galley_agent::spawn`, each in a runtime of its own so their tasks can be counted.
//! After `AgentHandle::shutdown` the agent's runtime has no task left and the coordinator saw
//! its session end; after `Running::shutdown` the coordinator's runtime has no task left,
//! nothing was aborted, its election node is gone, and the deploy log holds every action.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use galley_agent::AgentSettings;
use galley_agent::docker::BollardDocker;
use galley_agent::reaper::ReaperLimits;
use galley_agent::session::{SessionSettings, hello};
use galley_common::refs::DesiredState;
use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::runtime::{Coordinator, StartOptions};
use galley_sim::SimClock;
use galley_sim::docker::{DockerHosts, DockerSim, MesosDockerConfig};
use galley_sim::marathon::{MarathonSim, MarathonSimConfig, default_agents};
use tokio::runtime::Runtime;

use crate::election::{unique_path, zookeeper};
use crate::reconcile::{SHA1, deployments_text};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Polls `cond` every 50 ms for at most `timeout`.
fn wait(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Until the runtime has no task alive (at most 5 s); the count left.
fn settle(rt: &Runtime) -> usize {
    let start = Instant::now();
    while rt.metrics().num_alive_tasks() > 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.metrics().num_alive_tasks()
}

fn write_tree(root: &Path) {
    let svc = root.join("soa/svc");
    std::fs::create_dir_all(&svc).expect("mkdir");
    std::fs::write(svc.join("service.yaml"), "description: runtime test\n").expect("write");
    std::fs::write(
        svc.join("marathon-testcluster.yaml"),
        "main:\n  instances: 2\n  bounce_method: brutal\n",
    )
    .expect("write");
    let text = deployments_text("svc", &["main"], SHA1, DesiredState::Start, None);
    std::fs::write(svc.join("deployments.json"), text).expect("write");
    let sys = root.join("etc-paasta");
    std::fs::create_dir_all(&sys).expect("mkdir");
    std::fs::write(sys.join("cluster.json"), r#"{"cluster": "testcluster"}"#).expect("write");
    std::fs::write(
        sys.join("docker.json"),
        r#"{"docker_registry": "registry.example.com:443", "volumes": []}"#,
    )
    .expect("write");
}

#[test]
fn shutdown_ends_every_task_and_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    write_tree(root);
    let zk = zookeeper();

    // The emulated cluster, in its own runtime: Marathon, Mesos, one slave's Docker engine.
    let sim_rt = runtime();
    let hosts = Arc::new(DockerHosts::new(
        SimClock::real(),
        MesosDockerConfig::mesos_1_4(),
    ));
    let slave = default_agents(1);
    let host = slave[0].hostname.clone();
    let (sim, docker_sim) = sim_rt.block_on(async {
        let sim = MarathonSim::start(
            MarathonSimConfig::real_time()
                .agents(slave)
                .host_runtime(hosts.clone()),
        )
        .await
        .expect("sim");
        let sock = root.join("docker.sock");
        let docker = DockerSim::serve_engine(&sock, hosts.engine(&host))
            .await
            .expect("docker");
        (sim, docker)
    });

    // The coordinator, in its own runtime.
    let election = match &zk {
        Some(zk) => format!(
            "election: {{zookeeper: \"{zk}\", path: {}/leader, session_timeout_seconds: 4, grace_period_seconds: 0}}\n",
            unique_path("runtime")
        ),
        None => String::new(),
    };
    let config_text = format!(
        "cluster: testcluster\nsoa_dir: {soa}\nsystem_config_dir: {sys}\n\
         marathon: {{url: \"{marathon}\"}}\nmesos: {{url: \"{mesos}\"}}\n\
         reconcile: {{interval_seconds: 0.5}}\ndeploy_log: {log}\nlisten: 127.0.0.1:0\n\
         metrics_listen: 127.0.0.1:0\ngit: {{poll_interval_seconds: 3600}}\n\
         reaper: {{interval_seconds: 1}}\n{election}",
        soa = root.join("soa").display(),
        sys = root.join("etc-paasta").display(),
        marathon = sim.marathon_url(),
        mesos = sim.mesos_url(),
        log = root.join("deploy-{service}.log").display(),
    );
    let config =
        CoordinatorConfig::from_yaml(&root.join("coordinator.yaml"), &config_text).expect("config");
    let coord_rt = runtime();
    let running = coord_rt
        .block_on(Coordinator::start(
            config,
            StartOptions {
                config_path: root.join("coordinator.yaml"),
                insecure: true,
                ..StartOptions::default()
            },
        ))
        .expect("start");
    let grpc = running.grpc_addr();

    // An agent for the slave, in its own runtime.
    let agent_rt = runtime();
    let agent = agent_rt.block_on(async {
        let docker = BollardDocker::connect(root.join("docker.sock").to_str().expect("utf-8"), 5)
            .expect("docker client");
        galley_agent::spawn(
            Arc::new(docker),
            AgentSettings {
                session: SessionSettings {
                    coordinator_urls: vec![format!("http://{grpc}")],
                    tls: None,
                    hello: hello(&host, None),
                    heartbeat: Duration::from_secs(1),
                    backoff_min: Duration::from_millis(100),
                    backoff_max: Duration::from_secs(1),
                },
                relist_every: Duration::from_secs(30),
                limits: ReaperLimits {
                    min_age: Duration::from_secs(3600),
                    max_per_minute: 10,
                },
            },
        )
    });

    // Running: it leads, creates the app, and the agent reports.
    wait(
        "the coordinator leads and acts",
        Duration::from_secs(30),
        || running.leadership().borrow().destructive.is_some(),
    );
    wait("svc.main's app is created", Duration::from_secs(30), || {
        sim.app_ids().iter().any(|a| a.starts_with("/svc.main."))
    });
    wait(
        "the agent's inventory arrives",
        Duration::from_secs(30),
        || {
            running
                .agents()
                .agents()
                .iter()
                .any(|a| a.connected && a.fresh)
        },
    );

    // The agent stops cleanly: no task left, and the coordinator saw the session end.
    let clean = agent_rt.block_on(agent.shutdown(Duration::from_secs(10)));
    assert!(clean, "the agent had to abort tasks");
    assert_eq!(settle(&agent_rt), 0, "agent tasks left running");
    wait(
        "the coordinator sees the agent go",
        Duration::from_secs(10),
        || running.agents().agents().iter().all(|a| !a.connected),
    );

    // The coordinator stops cleanly.
    let report = coord_rt.block_on(running.shutdown(Duration::from_secs(15)));
    assert!(report.aborted.is_empty(), "aborted: {:?}", report.aborted);
    assert_eq!(settle(&coord_rt), 0, "coordinator tasks left running");
    assert!(
        std::net::TcpStream::connect(grpc).is_err(),
        "the gRPC port is closed"
    );

    // Nothing lost: the create is in the deploy log; the election node is gone.
    let log = std::fs::read_to_string(root.join("deploy-svc.log")).expect("deploy log");
    assert!(log.contains("create /svc.main."), "{log}");
    if let Some(zk) = &zk {
        let path = config_text
            .split("path: ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .expect("election path")
            .to_owned();
        let children = sim_rt.block_on(async {
            let client = zookeeper_client::Client::connect(zk).await.expect("zk");
            client.list_children(&path).await.unwrap_or_default()
        });
        assert!(children.is_empty(), "election nodes left: {children:?}");
    }
    sim_rt.block_on(async {
        docker_sim.shutdown().await;
        sim.shutdown().await;
    });
}
