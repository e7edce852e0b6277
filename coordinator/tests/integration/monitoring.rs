//! Replication monitoring end to end: the Marathon emulator runs an app, tasks are killed, the
//! replication check over `MarathonClient::list_apps` goes CRITICAL, and an `AlertTracker`
//! with a real `SensuClient` delivers CRITICAL then OK (then the removal OKs) to a TCP listener
//! standing in for Sensu's client socket. Time moves only through the emulator's clock.

use std::time::Duration;

use galley_common::monitoring::{CheckKind, MonitoringSources, Status};
use galley_common::replication::{
    CheckTarget, EvidenceConfig, MarathonObservation, NamespaceMember, ReplicationReport,
    check_marathon_instance, expected_count,
};
use galley_coordinator::marathon::{MarathonApi, MarathonClient, MarathonConfig};
use galley_coordinator::sensu::{AlertTracker, REMOVED_OUTPUT, SensuClient, Transition};
use galley_sim::marathon::{MarathonSim, MarathonSimConfig};
use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const APP_ID: &str = "/web.main.git01234567.config89abcdef";

/// Accepts connections forever; each one's bytes (up to close) are one event.
async fn fake_sensu() -> (u16, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            if sock.read_to_end(&mut buf).await.is_ok() && tx.send(buf).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Vec<u8>>) -> Value {
    let bytes = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event within 5s")
        .expect("listener alive");
    assert_eq!(bytes.last(), Some(&b'\n'), "newline-terminated");
    serde_json::from_slice(&bytes).expect("one JSON object")
}

fn app(instances: u32) -> Value {
    json!({
        "id": APP_ID,
        "instances": instances,
        "cpus": 0.25, "mem": 128.0, "disk": 128.0,
        "container": {"type": "DOCKER", "docker": {"image": "registry/services-web:paasta-01234567",
                      "network": "BRIDGE",
                      "portMappings": [{"containerPort": 8888, "hostPort": 0, "protocol": "tcp"}]}},
        "backoffSeconds": 1, "backoffFactor": 2,
    })
}

fn sources() -> MonitoringSources {
    let yaml = json!({"team": "web-team", "runbook": "y/rb-web", "page": true});
    MonitoringSources {
        overrides: Map::new(),
        monitoring_yaml: yaml.as_object().expect("map").clone(),
        general: Map::new(),
    }
}

async fn check(sim: &MarathonSim, marathon: &MarathonClient) -> ReplicationReport {
    let target = CheckTarget {
        service: "web".into(),
        instance: "main".into(),
        cluster: "norcal".into(),
        threshold: 50.0,
    };
    let members = [NamespaceMember {
        instance: "main".into(),
        nerve_ns: "main".into(),
        desired_instances: 3,
    }];
    let apps = marathon.list_apps().await.expect("list apps");
    let observed = MarathonObservation {
        apps: &apps,
        now: sim.now(),
        queue: &[],
    };
    let expected = expected_count(&members, "main");
    check_marathon_instance(&target, expected, observed, &EvidenceConfig::default())
}

#[tokio::test]
async fn killed_tasks_raise_critical_then_recovery_and_removal_send_ok() {
    let sim = MarathonSim::start(MarathonSimConfig::virtual_time())
        .await
        .expect("sim");
    let marathon = MarathonClient::new(MarathonConfig {
        url: sim.marathon_url(),
        credentials: None,
        timeout: Duration::from_secs(5),
    });
    let (port, mut events) = fake_sensu().await;
    let mut tracker =
        AlertTracker::new(SensuClient::new("127.0.0.1", port, Duration::from_secs(2)));
    let settings = sources()
        .resolve(CheckKind::Replication, "norcal")
        .map(std::sync::Arc::new);
    let mut report = async |r: &ReplicationReport| {
        tracker
            .report(
                CheckKind::Replication,
                "web",
                "main",
                r.status,
                &r.alert_output(),
                settings.as_ref(),
                true,
            )
            .await
            .expect("delivered")
    };

    marathon.create_app(&app(3)).await.expect("create");
    sim.tick(Duration::from_secs(30));
    let young = check(&sim, &marathon).await;
    assert_eq!(
        (young.available, young.status),
        (0, Status::Critical),
        "tasks younger than a minute do not count: {}",
        young.alert_output()
    );
    sim.tick(Duration::from_secs(60));
    let healthy = check(&sim, &marathon).await;
    assert_eq!((healthy.available, healthy.status), (3, Status::Ok));
    assert_eq!(report(&healthy).await, Transition::First);
    assert_eq!(next_event(&mut events).await["status"], json!(0));

    let victims = sim.task_ids(APP_ID);
    assert!(sim.sim_fail_task(&victims[0]) && sim.sim_fail_task(&victims[1]));
    let down = check(&sim, &marathon).await;
    assert_eq!((down.available, down.status), (1, Status::Critical));
    assert_eq!(report(&down).await, Transition::Raised);
    let critical = next_event(&mut events).await;
    assert_eq!(
        critical["name"],
        json!("check_marathon_services_replication.web.main")
    );
    assert_eq!(critical["status"], json!(2));
    assert_eq!(critical["team"], json!("web-team"));
    assert_eq!(critical["runbook"], json!("y/rb-web"));
    assert_eq!(critical["page"], json!(true));
    assert_eq!(critical["source"], json!("paasta-norcal"));
    assert_eq!(
        (&critical["alert_after"], &critical["interval"]),
        (&json!(120), &json!(60))
    );
    let output = critical["output"].as_str().expect("output");
    assert!(
        output.starts_with(
            "Service web.main has 1 out of 3 expected instances available!\n(threshold: 50%)\n\n"
        ),
        "{output}"
    );
    assert!(output.contains("paasta status -s web -i main -c norcal -vv"));
    assert!(
        output.contains("What Galley sees:") && output.contains("Container exited with status 137"),
        "the last task failure is in the alert: {output}"
    );

    sim.tick(Duration::from_secs(120));
    let recovered = check(&sim, &marathon).await;
    assert_eq!((recovered.available, recovered.status), (3, Status::Ok));
    assert_eq!(report(&recovered).await, Transition::Recovered);
    let ok = next_event(&mut events).await;
    assert_eq!(
        (&ok["status"], &ok["team"]),
        (&json!(0), &json!("web-team"))
    );
    assert_eq!(
        ok["output"],
        json!("Service web.main has 3 out of 3 expected instances available!\n(threshold: 50%)")
    );

    marathon.delete_app(APP_ID).await.expect("delete");
    tracker
        .retain_instances(
            &["web".to_string()].into(),
            &Default::default(),
            |_| Some(sources()),
            "norcal",
        )
        .await;
    let mut removed = Vec::new();
    for _ in 0..3 {
        removed.push(next_event(&mut events).await);
    }
    let names: Vec<&str> = removed.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "check_marathon_services_replication.web.main",
            "setup_marathon_job.web.main",
            "paasta_bounce_progress.web.main"
        ]
    );
    assert!(
        removed
            .iter()
            .all(|e| e["status"] == json!(0) && e["output"] == json!(REMOVED_OUTPUT))
    );
    assert_eq!(tracker.counts(), (6, 0));
    sim.shutdown().await;
}
