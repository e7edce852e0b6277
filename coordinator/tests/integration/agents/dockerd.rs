//! A real agent on a real dockerd (Debian docker.io, started by `scripts/test.sh` through
//! `scripts/dockerd.sh`), with the coordinator in enforce mode and the Mesos emulator as the
//! source of live tasks. Skips loudly without `GALLEY_DOCKER_SOCK`, fails when
//! `GALLEY_REQUIRE_DOCKERD=1`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use galley_agent::AgentSettings;
use galley_agent::docker::BollardDocker;
use galley_agent::reaper::ReaperLimits;
use galley_agent::session::{SessionSettings, hello};
use galley_coordinator::agents::{
    AgentRegistry, ReaperHandle, ReaperMode, ReaperPolicy, TracingAudit,
};
use galley_coordinator::marathon::{MarathonClient, MarathonConfig};
use galley_coordinator::mesos::MesosClient;
use galley_sim::marathon::{AgentSpec, MarathonSim, MarathonSimConfig};
use tokio::sync::watch;

use super::harness::{CoordinatorServer, STALE_AFTER, wait_for};

const RUN_LABEL: &str = "galley-agents-test-run";
const HOST: &str = "dockerd-slave.example.com";
const MIN_AGE: Duration = Duration::from_secs(4);

fn dockerd() -> Option<(String, String)> {
    match std::env::var("GALLEY_DOCKER_SOCK") {
        Ok(s) if !s.is_empty() => {
            let image = std::env::var("GALLEY_TEST_IMAGE")
                .unwrap_or_else(|_| "galley-test/busybox:1".to_owned());
            Some((s, image))
        }
        _ => {
            assert!(
                std::env::var("GALLEY_REQUIRE_DOCKERD").as_deref() != Ok("1"),
                "GALLEY_REQUIRE_DOCKERD=1 but GALLEY_DOCKER_SOCK is not set: run `eval \"$(scripts/dockerd.sh start DIR)\"` first"
            );
            let _ = writeln!(
                std::io::stderr(),
                "==== SKIPPED: real dockerd not available (set GALLEY_DOCKER_SOCK, see scripts/dockerd.sh) ===="
            );
            None
        }
    }
}

async fn run(docker: &Docker, image: &str, run: &str, name: &str, task: &str) -> String {
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec!["/bin/sleep".to_owned(), "3600".to_owned()]),
        env: Some(vec![format!("MESOS_TASK_ID={task}")]),
        labels: Some(HashMap::from([
            ("MESOS_TASK_ID".to_owned(), task.to_owned()),
            (RUN_LABEL.to_owned(), run.to_owned()),
        ])),
        host_config: Some(HostConfig {
            network_mode: Some("none".to_owned()),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    };
    let opts = CreateContainerOptionsBuilder::new().name(name).build();
    let id = docker
        .create_container(Some(opts), body)
        .await
        .expect("create")
        .id;
    docker.start_container(&id, None).await.expect("start");
    id
}

async fn cleanup(docker: &Docker, run: &str) {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{RUN_LABEL}={run}")])]);
    let opts = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    for c in docker.list_containers(Some(opts)).await.unwrap_or_default() {
        if let Some(id) = c.id {
            let rm = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            let _ = docker.remove_container(&id, Some(rm)).await;
        }
    }
}

async fn exists(docker: &Docker, id: &str) -> bool {
    docker.inspect_container(id, None).await.is_ok()
}

#[tokio::test]
async fn enforce_on_real_dockerd_reaps_exactly_the_old_orphans() {
    let Some((sock, image)) = dockerd() else {
        return;
    };
    let docker =
        Docker::connect_with_unix(&sock, 30, bollard::API_DEFAULT_VERSION).expect("docker");
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let outcome = tokio::spawn(scenario(docker.clone(), sock, image, run_id.clone())).await;
    cleanup(&docker, &run_id).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn scenario(docker: Docker, sock: String, image: String, run_id: String) {
    let sim =
        MarathonSim::start(MarathonSimConfig::virtual_time().agents(vec![AgentSpec::new(HOST)]))
            .await
            .expect("sim");
    let name = |_| format!("mesos-{}", uuid::Uuid::new_v4());
    let mut live = Vec::new();
    for i in 0..3 {
        let task = format!("svc.main.live{i}.{run_id}");
        sim.sim_add_foreign_task(HOST, &task).expect("task");
        live.push(run(&docker, &image, &run_id, &name(i), &task).await);
    }
    let mut old = Vec::new();
    for i in 0..2 {
        old.push(
            run(
                &docker,
                &image,
                &run_id,
                &name(i),
                &format!("gone.main.old{i}.{run_id}"),
            )
            .await,
        );
    }
    let other_name = format!("galley-agents-{run_id}-db");
    let other = run(
        &docker,
        &image,
        &run_id,
        &other_name,
        &format!("gone.db.{run_id}"),
    )
    .await;
    tokio::time::sleep(MIN_AGE + Duration::from_secs(1)).await;
    let young = run(
        &docker,
        &image,
        &run_id,
        &name(9),
        &format!("gone.main.young.{run_id}"),
    )
    .await;

    let registry = AgentRegistry::new(STALE_AFTER);
    let (_leader, leader_rx) = watch::channel(Some(1));
    let server = CoordinatorServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        registry.clone(),
        leader_rx.clone(),
    )
    .await;
    let agent = galley_agent::spawn(
        Arc::new(BollardDocker::connect(&sock, 30).expect("bollard")),
        AgentSettings {
            session: SessionSettings {
                coordinator_urls: vec![format!("http://{}", server.addr)],
                tls: None,
                hello: hello(HOST, None),
                heartbeat: Duration::from_millis(100),
                backoff_min: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
            },
            relist_every: Duration::from_secs(5),
            limits: ReaperLimits {
                min_age: MIN_AGE,
                max_per_minute: 10,
            },
        },
    );
    let marathon = Arc::new(MarathonClient::new(MarathonConfig {
        url: sim.marathon_url(),
        credentials: None,
        timeout: Duration::from_secs(2),
    }));
    let mesos = Arc::new(MesosClient::new(&sim.mesos_url(), Duration::from_secs(2)));
    let policy = ReaperPolicy {
        // Passes are driven back to back: every one is a sighting.
        sighting_gap: Duration::ZERO,
        mode: ReaperMode::Enforce,
        min_age: MIN_AGE,
        grace_seconds: 1,
        ..ReaperPolicy::defaults()
    };
    let reaper = ReaperHandle::new(
        galley_coordinator::agents::MarathonSource::List(marathon),
        mesos,
        registry.clone(),
        leader_rx,
        policy,
        Arc::new(TracingAudit),
    );
    let mine: Vec<&String> = live.iter().chain(&old).chain([&other, &young]).collect();
    wait_for("inventory", || {
        registry.host(HOST).is_some_and(|h| {
            h.fresh
                && mine
                    .iter()
                    .all(|id| h.containers.iter().any(|c| &&c.id == id))
        })
    })
    .await;
    reaper.pass().await;
    let plan = reaper.pass().await;
    for id in &old {
        assert!(
            plan.orders.iter().any(|(_, t)| &t.container_id == id),
            "old orphan {id} ordered:\n{plan}"
        );
    }
    for id in live.iter().chain([&other, &young]) {
        assert!(
            plan.orders.iter().all(|(_, t)| &t.container_id != id),
            "{id} must not be ordered:\n{plan}"
        );
    }
    for id in &old {
        let d = docker.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while exists(&d, id).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "old orphan {id} not reaped"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for id in live.iter().chain([&other, &young]) {
        assert!(exists(&docker, id).await, "{id} was touched");
    }
    drop(agent);
    server.stop().await;
    sim.shutdown().await;
}
