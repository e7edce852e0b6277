//! The real Marathon and Mesos clients (reqwest) against the `sim` emulators over sockets.

use std::time::Duration;

use galley_coordinator::marathon::{MarathonApi, MarathonClient, MarathonConfig, MarathonError};
use galley_coordinator::mesos::{MesosApi, MesosClient, MesosError};
use galley_sim::marathon::{AgentSpec, MarathonSim, MarathonSimConfig, MesosLeadership, Outcome};
use serde_json::json;

fn client(sim: &MarathonSim, credentials: Option<(&str, &str)>) -> MarathonClient {
    MarathonClient::new(MarathonConfig {
        url: sim.marathon_url(),
        credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
        timeout: Duration::from_secs(5),
    })
}

fn paasta_app(id: &str, instances: u32) -> serde_json::Value {
    json!({
        "id": id,
        "instances": instances,
        "cpus": 0.25,
        "mem": 1024.0,
        "disk": 1024.0,
        "container": {
            "type": "DOCKER",
            "docker": {"image": "registry:443/services-web:paasta-0123456789abcdef", "network": "BRIDGE",
                       "portMappings": [{"containerPort": 8888, "hostPort": 0, "protocol": "tcp"}],
                       "parameters": [{"key": "memory-swap", "value": "1024m"}]},
            "volumes": []
        },
        "healthChecks": [{"protocol": "HTTP", "path": "/status", "gracePeriodSeconds": 60, "intervalSeconds": 10,
                          "portIndex": 0, "timeoutSeconds": 10, "maxConsecutiveFailures": 30}],
        "backoffSeconds": 1,
        "backoffFactor": 2,
        "constraints": [["pool", "LIKE", "default"]],
        "uris": ["file:///root/.dockercfg"],
        "env": {"PAASTA_SERVICE": "web"},
    })
}

#[tokio::test]
async fn create_list_scale_kill_delete_round_trip() {
    let sim = MarathonSim::start(MarathonSimConfig::virtual_time().credentials("galley", "s3cret"))
        .await
        .expect("sim");
    let marathon = client(&sim, Some(("galley", "s3cret")));
    let id = "/web.main.git01234567.configbe5e8565";
    marathon
        .create_app(&paasta_app(id, 2))
        .await
        .expect("create");
    let apps = marathon.list_apps().await.expect("list");
    assert_eq!(apps.len(), 1);
    assert_eq!(
        (
            apps[0].id.as_str(),
            apps[0].instances,
            apps[0].has_health_checks
        ),
        (id, 2, true)
    );
    assert_eq!(apps[0].deployments.len(), 1, "a deployment is in flight");

    sim.tick(Duration::from_secs(120));
    let apps = marathon.list_apps().await.expect("list");
    let app = &apps[0];
    assert!(app.deployments.is_empty(), "{app:?}");
    assert_eq!((app.tasks.len(), app.tasks_healthy), (2, 2));
    let task = &app.tasks[0];
    assert!(
        task.id.starts_with("web.main.git01234567.configbe5e8565."),
        "{}",
        task.id
    );
    assert_eq!(app.id, id);
    assert!(task.started_at.is_some() && !task.host.is_empty() && !task.ports.is_empty());
    assert_eq!(task.health_results, vec![true]);

    marathon.scale_app(id, 3, false).await.expect("scale");
    sim.tick(Duration::from_secs(120));
    assert_eq!(marathon.list_apps().await.expect("list")[0].tasks.len(), 3);

    let victim = marathon.list_apps().await.expect("list")[0].tasks[0]
        .id
        .clone();
    marathon
        .kill_tasks(std::slice::from_ref(&victim), true, true)
        .await
        .expect("kill");
    sim.tick(Duration::from_secs(30));
    let app = &marathon.list_apps().await.expect("list")[0];
    assert_eq!(app.instances, 2, "scale=true lowers instances");
    assert!(app.tasks.iter().all(|t| t.id != victim));

    marathon.delete_app(id).await.expect("delete");
    sim.tick(Duration::from_secs(30));
    assert!(marathon.list_apps().await.expect("list").is_empty());
    let err = marathon.delete_app(id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_locked_app_is_reported_as_locked_and_bad_credentials_as_401() {
    let sim = MarathonSim::start(MarathonSimConfig::virtual_time().credentials("galley", "s3cret"))
        .await
        .expect("sim");
    sim.sim_set_outcome("/stuck", Outcome::NeverHealthy);
    let marathon = client(&sim, Some(("galley", "s3cret")));
    marathon
        .create_app(&paasta_app("/stuck.main.gitaaaaaaaa.configbbbbbbbb", 1))
        .await
        .expect("create");
    sim.tick(Duration::from_secs(30));
    let err = marathon
        .scale_app("/stuck.main.gitaaaaaaaa.configbbbbbbbb", 2, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MarathonError::Locked { deployments, .. } if deployments.len() == 1),
        "{err}"
    );
    let app = &marathon.list_apps().await.expect("list")[0];
    assert!(
        app.tasks
            .iter()
            .all(|t| t.health_results.iter().all(|alive| !alive)),
        "{app:?}"
    );

    let wrong = client(&sim, Some(("galley", "wrong")));
    let err = wrong.list_apps().await.unwrap_err();
    assert!(
        matches!(err, MarathonError::Status { status: 401, .. }),
        "{err}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_marathon_is_a_request_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let marathon = MarathonClient::new(MarathonConfig {
        url,
        credentials: None,
        timeout: Duration::from_secs(2),
    });
    assert!(matches!(
        marathon.list_apps().await,
        Err(MarathonError::Request { .. })
    ));
}

#[tokio::test]
async fn mesos_state_has_attributes_and_every_frameworks_tasks_and_follows_the_leader_redirect() {
    let agents = vec![
        AgentSpec::new("slave1.example.com")
            .attribute("region", "uswest1")
            .attribute("pool", "default"),
        AgentSpec::new("slave2.example.com")
            .attribute("region", "useast1")
            .attribute("pool", "default"),
    ];
    let sim = MarathonSim::start(MarathonSimConfig::virtual_time().agents(agents))
        .await
        .expect("sim");
    sim.sim_add_foreign_task("slave1.example.com", "chronos-job.1234")
        .expect("foreign task");
    let mesos = MesosClient::new(&sim.mesos_url(), Duration::from_secs(5));
    let state = mesos.state().await.expect("state");
    let regions: Vec<_> = state
        .slaves
        .iter()
        .map(|s| s.attributes["region"].as_str())
        .collect();
    assert_eq!(regions.len(), 2);
    assert!(regions.contains(&"uswest1") && regions.contains(&"useast1"));
    let task = state
        .tasks
        .iter()
        .find(|t| t.id == "chronos-job.1234")
        .expect("foreign task listed");
    assert_eq!(task.state, "TASK_RUNNING");
    let slave1 = state
        .slaves
        .iter()
        .find(|s| s.hostname == "slave1.example.com")
        .expect("slave1");
    assert_eq!(task.slave_id, slave1.id, "the task names its agent");

    // A follower master redirects (307, scheme-relative Location) to the leader.
    let leader = MarathonSim::start(
        MarathonSimConfig::virtual_time().agents(vec![AgentSpec::new("leader-slave")]),
    )
    .await
    .expect("leader sim");
    let port = |url: String| -> u16 {
        url.trim_end_matches('/')
            .rsplit(':')
            .next()
            .expect("port")
            .parse()
            .expect("port")
    };
    sim.sim_set_mesos_leadership(MesosLeadership::Follower {
        host: "127.0.0.1".into(),
        port: port(leader.mesos_url()),
    });
    let followed = mesos.state().await.expect("redirect followed");
    assert_eq!(
        followed
            .slaves
            .iter()
            .map(|s| s.hostname.as_str())
            .collect::<Vec<_>>(),
        vec!["leader-slave"]
    );
    sim.sim_set_mesos_leadership(MesosLeadership::Follower {
        host: "127.0.0.1".into(),
        port: port(sim.mesos_url()),
    });
    assert!(mesos.state().await.is_err(), "a redirect loop is given up");
    sim.sim_set_mesos_leadership(MesosLeadership::NoLeader);
    assert!(matches!(
        mesos.state().await,
        Err(MesosError::Status { status: 503, .. })
    ));
    sim.sim_set_mesos_leadership(MesosLeadership::Leading);
    assert_eq!(mesos.state().await.expect("state").slaves.len(), 2);
    leader.shutdown().await;
    sim.shutdown().await;
}

/// Mesos basic auth: the credentials go on the wire and never into `Debug` output.
#[tokio::test]
async fn mesos_credentials_are_sent_and_never_shown() {
    use galley_coordinator::mesos::{MesosApi, MesosClient};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "request ended early");
            req.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"slaves": []}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(reply.as_bytes()).await.expect("write");
        String::from_utf8_lossy(&req).to_lowercase()
    });
    let client = MesosClient::new(&format!("http://{addr}"), std::time::Duration::from_secs(5))
        .with_credentials(Some(("galley".into(), "s3cret-pw".into())));
    assert!(!format!("{client:?}").contains("s3cret-pw"), "{client:?}");
    client.slaves().await.expect("slaves");
    let request = server.await.expect("server");
    // base64("galley:s3cret-pw")
    assert!(
        request.contains("authorization: basic z2fsbgv5onmzy3jldc1wdw=="),
        "{request}"
    );
}
