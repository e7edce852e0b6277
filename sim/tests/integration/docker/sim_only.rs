//! Emulator-only tests: the HostRuntime hook, sim hooks (orphans, replace), faults, event
//! streaming with filters, filter forms and errors, virtual-time stop, the CLI.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{
    EventsOptionsBuilder, ListContainersOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::StreamExt;
use galley_sim::docker::{
    ContainerSpec, DockerEngine, DockerHosts, DockerSim, DockerSimHandle, FaultRule, InitialState,
    MesosDockerConfig, StopBehavior,
};
use galley_sim::{HostRuntime, SimClock, TaskLaunch};

use super::backend::server_error;
use super::raw::{enc, request};

/// A served engine plus its bollard client; the tempdir keeps the socket alive.
struct Sim {
    handle: DockerSimHandle,
    docker: Docker,
    _dir: tempfile::TempDir,
}

impl Sim {
    fn engine(&self) -> &DockerEngine {
        self.handle.engine()
    }
}

async fn serve(engine: DockerEngine) -> Sim {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("docker.sock");
    let handle = DockerSim::serve_engine(&socket, engine)
        .await
        .expect("serve");
    let docker = Docker::connect_with_unix(
        socket.to_str().expect("utf-8"),
        10,
        bollard::API_DEFAULT_VERSION,
    )
    .expect("connect");
    Sim {
        handle,
        docker,
        _dir: dir,
    }
}

fn launch(host: &str, task_id: &str, container_id: &str) -> TaskLaunch {
    TaskLaunch {
        hostname: host.to_owned(),
        slave_id: "20160601-000000-1-5050-S0".to_owned(),
        task_id: task_id.to_owned(),
        container_id: container_id.to_owned(),
        app_id: "/svc/main".to_owned(),
        image: "registry.local/svc:git1234".to_owned(),
        env: BTreeMap::from([("PORT0".to_owned(), "31000".to_owned())]),
        labels: BTreeMap::new(),
        ports: vec![31000],
    }
}

async fn list_all(
    docker: &Docker,
    filters: &[(&str, &str)],
) -> Vec<bollard::models::ContainerSummary> {
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    for (k, v) in filters {
        map.entry(k).or_default().push(v);
    }
    let opts = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&map)
        .build();
    docker.list_containers(Some(opts)).await.expect("list")
}

/// A launched task becomes a running Mesos-shaped container on its host only; its end
/// leaves an exited (137) container behind.
#[tokio::test]
async fn host_runtime_creates_and_stops_mesos_shaped_containers() {
    let hosts = DockerHosts::new(SimClock::virtual_default(), MesosDockerConfig::mesos_1_4());
    let cid = uuid::Uuid::new_v4().to_string();
    let task = format!("svc_main.{}", uuid::Uuid::new_v4());
    hosts.task_launched(&launch("host-a", &task, &cid));
    assert!(hosts.engine("host-b").sim_containers().is_empty());
    let sim = serve(hosts.engine("host-a")).await;

    let listed = list_all(&sim.docker, &[("name", "^/mesos-")]).await;
    assert_eq!(listed.len(), 1);
    let name = format!("mesos-{cid}");
    assert_eq!(listed[0].names, Some(vec![format!("/{name}")]));
    assert_eq!(listed[0].state, Some(ContainerSummaryStateEnum::RUNNING));
    assert_eq!(
        listed[0].image.as_deref(),
        Some("registry.local/svc:git1234")
    );
    assert_eq!(
        listed[0]
            .labels
            .as_ref()
            .and_then(|l| l.get("MESOS_TASK_ID")),
        Some(&task)
    );
    let env = sim
        .docker
        .inspect_container(&name, None)
        .await
        .expect("inspect")
        .config
        .expect("config")
        .env
        .expect("env");
    for expected in [
        format!("MESOS_TASK_ID={task}"),
        "MARATHON_APP_ID=/svc/main".to_owned(),
        "MESOS_SANDBOX=/mnt/mesos/sandbox".to_owned(),
        format!("MESOS_CONTAINER_NAME={name}"),
        "PORT0=31000".to_owned(),
    ] {
        assert!(env.contains(&expected), "{expected} missing from {env:?}");
    }

    hosts.task_ended("host-a", &task);
    let listed = list_all(&sim.docker, &[]).await;
    assert_eq!(listed[0].state, Some(ContainerSummaryStateEnum::EXITED));
    assert!(
        listed[0]
            .status
            .as_deref()
            .unwrap_or("")
            .starts_with("Exited (137)")
    );
    let (history, _) = sim.engine().subscribe();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "start", "kill", "kill", "die", "stop"]);
    sim.handle.shutdown().await;
}

/// Mesos 0.23–1.3 naming (`mesos-<slaveId>.<containerId>`) and no label before Marathon 1.4.
#[tokio::test]
async fn host_runtime_old_mesos_naming() {
    let hosts = DockerHosts::new(SimClock::virtual_default(), MesosDockerConfig::mesos_1_3());
    let cid = uuid::Uuid::new_v4().to_string();
    hosts.task_launched(&launch("h", "svc_main.1", &cid));
    let c = &hosts.engine("h").sim_containers()[0];
    assert_eq!(c.name, format!("mesos-20160601-000000-1-5050-S0.{cid}"));
    assert!(!c.labels.contains_key("MESOS_TASK_ID"));
    assert!(c.env.contains(&"MESOS_TASK_ID=svc_main.1".to_owned()));
}

/// Orphans, foreign containers and containers without a task id can be injected in any
/// state; replace gives a new id and creation time under the same name.
#[tokio::test]
async fn sim_inject_and_replace() {
    let clock = SimClock::virtual_default();
    let engine = DockerEngine::new(clock.clone());
    let orphan = format!("mesos-{}", uuid::Uuid::new_v4());
    let oid = engine
        .sim_inject(
            ContainerSpec::new(&orphan, "img:1")
                .env("MESOS_TASK_ID", "gone.1")
                .label("MESOS_TASK_ID", "gone.1"),
        )
        .expect("orphan");
    engine
        .sim_inject(ContainerSpec::new("nginx-sidecar", "nginx:1"))
        .expect("foreign");
    engine
        .sim_inject(ContainerSpec::mesos_orphan(None, "img:1"))
        .expect("no task id");
    engine
        .sim_inject(
            ContainerSpec::new("old-exited", "img:1")
                .state(InitialState::Exited { exit_code: 143 }),
        )
        .expect("exited");
    let sim = serve(engine).await;
    assert_eq!(
        list_all(&sim.docker, &[("name", "^/mesos-")]).await.len(),
        2
    );
    assert_eq!(
        list_all(&sim.docker, &[("label", "MESOS_TASK_ID")])
            .await
            .len(),
        1
    );
    assert_eq!(list_all(&sim.docker, &[("exited", "143")]).await.len(), 1);
    let running = sim.docker.list_containers(None).await.expect("list");
    assert_eq!(running.len(), 3);

    clock.advance(Duration::from_secs(90));
    let new_id = sim.engine().sim_replace(&orphan).expect("replace");
    assert_ne!(new_id, oid);
    let old = server_error(sim.docker.inspect_container(&oid, None).await);
    assert_eq!(old, (404, format!("No such container: {oid}")));
    let i = sim
        .docker
        .inspect_container(&orphan, None)
        .await
        .expect("inspect");
    assert_eq!(i.id.as_deref(), Some(new_id.as_str()));
    assert_eq!(i.created.as_deref(), Some("2016-06-01T00:01:30Z"));
    assert!(
        i.config
            .and_then(|c| c.env)
            .unwrap_or_default()
            .contains(&"MESOS_TASK_ID=gone.1".to_owned())
    );
    let listed = list_all(&sim.docker, &[("name", "sidecar")]).await;
    assert_eq!(listed[0].status.as_deref(), Some("Up About a minute"));
    sim.handle.shutdown().await;
}

/// Fault switches: N failures on one path, then success; a response delay.
#[tokio::test]
async fn faults_fail_and_slow_requests() {
    let sim = serve(DockerEngine::new(SimClock::real())).await;
    sim.engine()
        .sim_fail_requests(FaultRule::path("/containers/json", 500, "boom").times(2));
    for _ in 0..2 {
        assert_eq!(
            server_error(sim.docker.list_containers(None).await),
            (500, "boom".to_owned())
        );
    }
    assert_eq!(sim.docker.ping().await.expect("ping unaffected"), "OK");
    assert!(
        sim.docker
            .list_containers(None)
            .await
            .expect("recovered")
            .is_empty()
    );

    sim.engine().sim_fail_requests(FaultRule::all(503, "down"));
    assert_eq!(
        server_error(sim.docker.ping().await),
        (503, "down".to_owned())
    );
    sim.engine().sim_clear_faults();
    sim.engine()
        .sim_set_response_delay(Duration::from_millis(300));
    let start = std::time::Instant::now();
    sim.docker.ping().await.expect("slow ping");
    assert!(start.elapsed() >= Duration::from_millis(300));
    sim.engine().sim_clear_faults();
    sim.handle.shutdown().await;
}

/// On a virtual clock, stop completes at once with the right exit code and events; a
/// container that exits on SIGTERM has no kill(9).
#[tokio::test]
async fn virtual_clock_stop_is_instant() {
    let engine = DockerEngine::new(SimClock::virtual_default());
    engine
        .sim_inject(ContainerSpec::new("stubborn", "img:1"))
        .expect("inject");
    engine
        .sim_inject(
            ContainerSpec::new("polite", "img:1")
                .stop_behavior(StopBehavior::ExitOnSigterm { exit_code: 143 }),
        )
        .expect("inject");
    let sim = serve(engine).await;
    let start = std::time::Instant::now();
    let t30 = || Some(StopContainerOptionsBuilder::new().t(30).build());
    sim.docker
        .stop_container("stubborn", t30())
        .await
        .expect("stop");
    sim.docker
        .stop_container("polite", t30())
        .await
        .expect("stop");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        sim.engine().container("stubborn").expect("c").exit_code,
        137
    );
    assert_eq!(sim.engine().container("polite").expect("c").exit_code, 143);
    let (history, _) = sim.engine().subscribe();
    let polite: Vec<&str> = history
        .iter()
        .filter(|e| e.attributes["name"] == "polite")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(polite, ["create", "start", "kill", "die", "stop"]);
    sim.handle.shutdown().await;
}

/// A live `/events` stream (no `since`) delivers only matching events, in order; the legacy
/// filter form works there too.
#[tokio::test]
async fn events_stream_live_with_filters() {
    let sim = serve(DockerEngine::new(SimClock::real())).await;
    let filters = HashMap::from([
        ("event", vec!["die", "destroy"]),
        ("label", vec!["app=web"]),
    ]);
    let mut stream = sim
        .docker
        .events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
    // The request goes out on first poll; poll once so the subscription exists.
    let first = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(ev) = stream.next().await {
            got.push(ev.expect("event").action.unwrap_or_default());
            if got.len() == 3 {
                break;
            }
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let engine = sim.engine();
    engine
        .sim_inject(ContainerSpec::new("web-1", "img:1").label("app", "web"))
        .expect("inject");
    engine
        .sim_inject(ContainerSpec::new("db-1", "img:1").label("app", "db"))
        .expect("inject");
    engine.kill("db-1", None).expect("kill db");
    engine.kill("web-1", None).expect("kill web");
    engine.remove("web-1", false).expect("rm web");
    engine
        .sim_inject(ContainerSpec::new("web-2", "img:1").label("app", "web"))
        .expect("inject");
    engine.sim_exit("web-2", 3).expect("exit");
    let got = tokio::time::timeout(Duration::from_secs(5), first)
        .await
        .expect("in time")
        .expect("join");
    assert_eq!(got, ["die", "destroy", "die"]);

    let legacy = r#"{"event":{"create":true},"container":{"web-2":true}}"#;
    let now = chrono::Utc::now().timestamp() + 1;
    let r = request(
        sim.handle.socket_path(),
        "GET",
        &format!("/events?since=0&until={now}&filters={}", enc(legacy)),
    )
    .await;
    assert_eq!(r.status, 200);
    let lines: Vec<serde_json::Value> = r
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.body);
    assert_eq!(lines[0]["Action"], "create");
    assert_eq!(lines[0]["Actor"]["Attributes"]["name"], "web-2");
    assert_eq!(lines[0]["status"], "create");
    assert_eq!(lines[0]["scope"], "local");
    sim.handle.shutdown().await;
}

/// A filter that is not JSON, and an ambiguous id prefix.
#[tokio::test]
async fn malformed_filter_and_ambiguous_prefix() {
    let engine = DockerEngine::new(SimClock::virtual_default());
    let sim = serve(engine).await;
    let sock = sim.handle.socket_path();
    let r = request(
        sock,
        "GET",
        &format!("/containers/json?filters={}", enc("notjson")),
    )
    .await;
    assert_eq!(r.status, 500);

    // Two ids that share a prefix: the prefix is ambiguous (500), a longer one resolves.
    let mut ids: Vec<String> = (0..40)
        .map(|i| {
            sim.engine()
                .sim_inject(ContainerSpec::new(&format!("c{i}"), "img:1"))
                .expect("inject")
        })
        .collect();
    ids.sort();
    let pair = ids
        .windows(2)
        .find(|w| w[0][..1] == w[1][..1])
        .expect("40 ids share a first hex digit");
    let r = request(sock, "GET", &format!("/containers/{}/json", &pair[0][..1])).await;
    assert_eq!(
        (r.status, r.message()),
        (
            500,
            format!("multiple IDs found with provided prefix: {}", &pair[0][..1])
        )
    );
    let r = request(sock, "GET", &format!("/containers/{}/json", pair[0])).await;
    assert_eq!(r.status, 200);
    sim.handle.shutdown().await;
}

/// `galley-sim docker --socket PATH --demo-containers 2` serves Mesos-shaped containers.
#[tokio::test]
async fn cli_serves_demo_containers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("d.sock");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_galley-sim"))
        .args(["docker", "--socket"])
        .arg(&socket)
        .args(["--demo-containers", "2"])
        .kill_on_drop(true)
        .spawn()
        .expect("spawn galley-sim");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "socket never appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let docker = Docker::connect_with_unix(
        socket.to_str().expect("utf-8"),
        10,
        bollard::API_DEFAULT_VERSION,
    )
    .expect("connect");
    let listed = list_all(&docker, &[("name", "^/mesos-"), ("label", "MESOS_TASK_ID")]).await;
    assert_eq!(listed.len(), 2);
    child.kill().await.expect("kill galley-sim");
}
