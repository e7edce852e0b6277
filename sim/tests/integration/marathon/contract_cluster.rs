//! Contract test, the rest of what Galley reads: `/v2/queue`, `/v2/deployments`, `/v2/info`,
//! `/v2/leader`, `/v2/events` and error bodies, against Marathon 1.4.13's examples
//! (`marathon-1.4.13/`, and the inline examples of the RAML files named below) and the keys of
//! its Scala writers (`scala_keys.rs`). The Scala code wins over an example; each such place
//! is an `Exception` naming the reason.

use std::time::Duration;

use galley_sim::marathon::Outcome;
use serde_json::{Value, json};

use super::harness::{Harness, cmd_app, docker_app};
use super::scala_keys as keys;
use super::shape::{Exception, assert_keys, assert_shape, example, sse_events};

/// GET /v2/queue?embed=lastUnusedOffers (`examples/queue.json`, second item: the first one
/// predates `since` and the reject summaries). `QueueResource`, `QueueInfoConversion`.
#[tokio::test]
async fn queue_matches_the_example_and_queue_info_conversion() {
    let h = Harness::start().await;
    // Four tasks fit (one per 8-CPU agent), the fifth does not: used and declined offers.
    let mut app = cmd_app("/foo", 5);
    app["user"] = json!("root");
    app["env"] = json!({ "MASTER": "zk://172.16.0.12:2181/mesos" });
    app["executor"] = json!("//cmd");
    app["constraints"] = json!([["hostname", "LIKE", ".*"]]);
    app["uris"] = json!(["http://www.mesosphere.io/index.html"]);
    app["cpus"] = json!(5);
    app["container"] = json!({ "type": "DOCKER", "docker": {
        "image": "thomasr/dispatch", "network": "HOST", "privileged": false, "forcePullImage": false } });
    h.create(app).await;
    h.tick(2);
    let r = h.get("/v2/queue?embed=lastUnusedOffers").await;
    let full_example = json!({ "queue": [example("queue.json")["queue"][1].clone()] });
    let exceptions = [
        Exception {
            path: "/queue[]/app/ports",
            why: "AppConversion writes ports = None (deprecated field)",
        },
        Exception {
            path: "/queue[]/app/uris",
            why: "AppConversion writes uris = None (deprecated field)",
        },
        Exception {
            path: "/queue[]/lastUnusedOffers[]/offer/resources[]",
            why: "OfferConversion fills only the field of the resource's type",
        },
        Exception {
            path: "/queue[]/lastUnusedOffers[]/offer/attributes[]",
            why: "OfferConversion fills only the field of the attribute's type",
        },
    ];
    assert_shape(&full_example, &r.body, &exceptions);
    let item = &r.body["queue"][0];
    assert_keys(
        item,
        keys::QUEUE_ITEM_ALWAYS,
        keys::QUEUE_ITEM_OPTIONAL,
        "queue item",
    );
    assert_keys(
        &item["delay"],
        &["timeLeftSeconds", "overdue"],
        &[],
        "delay",
    );
    let summary = &item["processedOffersSummary"];
    assert_keys(
        summary,
        keys::OFFERS_SUMMARY_ALWAYS,
        keys::OFFERS_SUMMARY_OPTIONAL,
        "offers summary",
    );
    assert_keys(
        &item["app"],
        keys::QUEUE_APP_ALWAYS,
        keys::QUEUE_APP_OPTIONAL,
        "queue app",
    );
    // The example lists InsufficientGpus twice and no InsufficientPorts; the funnel
    // (NoOfferMatchReason.reasonFunnel) has one step per reason, InsufficientPorts last.
    for list in ["rejectSummaryLastOffers", "rejectSummaryLaunchAttempt"] {
        let reasons: Vec<&str> = summary[list]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(|s| s["reason"].as_str())
            .collect();
        assert_eq!(reasons, keys::REASON_FUNNEL, "{list}");
    }
    let cpus = &summary["rejectSummaryLastOffers"][3];
    assert_eq!(cpus["reason"], "InsufficientCpus");
    assert_eq!(
        (cpus["declined"].as_u64(), cpus["processed"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(
        item["lastUnusedOffers"][0]["reason"],
        json!(["InsufficientCpus"])
    );
    assert!(
        h.get("/v2/queue").await.body["queue"][0]
            .get("lastUnusedOffers")
            .is_none()
    );
}

/// GET /v2/deployments (`examples/deployments.json`, `DeploymentStepInfoWrites` with
/// `ReadinessCheckResultFormat`) and DELETE /v2/deployments/{id}
/// (`examples/deployments_result.json`).
#[tokio::test]
async fn deployments_match_the_examples_with_readiness_results() {
    let h = Harness::start().await;
    let mut app = cmd_app("/foo", 5);
    app["constraints"] = json!([["hostname", "UNIQUE"]]);
    app["readinessChecks"] = json!([{ "name": "myReadyCheck", "preserveLastResponse": true }]);
    h.create(app).await;
    h.tick(3);
    let r = h.get("/v2/deployments").await;
    assert_shape(&example("deployments.json"), &r.body, &[]);
    let d = &r.body[0];
    assert_keys(d, keys::DEPLOYMENT, &[], "deployment");
    let results = d["currentActions"][0]["readinessCheckResults"]
        .as_array()
        .expect("results");
    assert_eq!(
        results.len(),
        4,
        "one per ready task of the step (5th cannot be placed)"
    );
    for res in results {
        assert_keys(
            res,
            keys::READINESS_RESULT_ALWAYS,
            keys::READINESS_RESULT_OPTIONAL,
            "readiness result",
        );
        assert_eq!(res["name"], "myReadyCheck");
    }
    let app = h.get("/v2/apps?embed=apps.readiness").await.body["apps"][0].clone();
    assert_eq!(
        app["readinessCheckResults"].as_array().map(Vec::len),
        Some(4)
    );
    // `Formats.ReadinessCheckFormat`: every field, with its default.
    assert_eq!(
        app["readinessChecks"][0],
        json!({
            "name": "myReadyCheck", "protocol": "HTTP", "path": "/", "portName": "http-api",
            "intervalSeconds": 30, "timeoutSeconds": 10, "httpStatusCodesForReady": [200],
            "preserveLastResponse": true,
        })
    );

    let id = d["id"].as_str().expect("id");
    let r = h.delete(&format!("/v2/deployments/{id}")).await;
    assert_shape(&example("deployments_result.json"), &r.body, &[]);
    assert_keys(
        &r.body,
        &["deploymentId", "version"],
        &[],
        "deployment result",
    );
}

/// GET /v2/info (`examples/info.json`, `InfoResource`) and GET /v2/leader (inline example of
/// `leader.raml`).
#[tokio::test]
async fn info_and_leader_match_the_examples() {
    let h = Harness::start().await;
    let r = h.get("/v2/info").await;
    assert_shape(&example("info.json"), &r.body, &[]);
    assert_keys(&r.body, keys::INFO, &[], "info");
    assert_keys(
        &r.body["marathon_config"],
        keys::MARATHON_CONFIG,
        &[],
        "marathon_config",
    );
    assert_keys(
        &r.body["zookeeper_config"],
        keys::ZOOKEEPER_CONFIG,
        &[],
        "zookeeper_config",
    );
    let leader = h.get("/v2/leader").await;
    assert_shape(
        &json!({ "leader": "marathon.globalcorp.com:8080" }),
        &leader.body,
        &[],
    );
    h.sim.sim_set_leader(false);
    let r = h.get("/v2/leader").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({ "message": "There is no leader" }))
    );
}

/// Error bodies as `MarathonExceptionMapper` writes them, against the inline examples of
/// `apps.raml` (409 exists, 400, 422, 404) and the locked 409 (`AppLockedException`).
#[tokio::test]
async fn error_bodies_match_the_exception_mapper() {
    let h = Harness::start().await;
    h.create(cmd_app("/existing-app", 1)).await;
    h.settle(5);
    let r = h.post("/v2/apps", cmd_app("/existing-app", 1)).await;
    assert_eq!(r.status, 409);
    assert_shape(
        &json!({"message":"An app with id [/existing-app] already exists."}),
        &r.body,
        &[],
    );
    assert_keys(&r.body, &["message"], &[], "409");
    let r = h.post("/v2/apps", json!({ "id": 1, "cmd": "x" })).await;
    assert_eq!(r.status, 400);
    let invalid = json!({"message":"Invalid JSON","details":[{"path":"/id","errors":["error.expected.jsstring"]}]});
    assert_eq!(r.body, invalid);
    let r = h
        .post(
            "/v2/apps",
            json!({ "id": "/a", "cmd": "x", "upgradeStrategy": { "minimumHealthCapacity": 1.5 } }),
        )
        .await;
    assert_eq!(r.status, 422);
    let not_valid = json!({"message":"Object is not valid","details":[{"path":"/upgradeStrategy/minimumHealthCapacity","errors":["is greater than 1"]}]});
    assert_shape(&not_valid, &r.body, &[]);
    let r = h.get("/v2/apps/not_existent").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            404,
            json!({ "message": "App '/not_existent' does not exist" })
        )
    );
    let r = h.put("/v2/apps/existing-app", json!({ "cmd": "y" })).await;
    assert_eq!(r.status, 200);
    let r = h.put("/v2/apps/existing-app", json!({ "cmd": "z" })).await;
    assert_eq!(r.status, 409);
    assert_keys(&r.body, &["message", "deployments"], &[], "locked");
    assert_keys(&r.body["deployments"][0], &["id"], &[], "locked deployment");
}

/// Reads SSE frames until `until` shows up `times` times (5 s at most).
async fn read_events(resp: &mut reqwest::Response, until: &str, times: usize) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen.matches(until).count() < times {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("in time")
            .expect("open")
            .expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// GET /v2/events (`examples/events.txt`): every payload has the keys of its event class
/// (`core/event/Events.scala`, `Formats.EventFormats`) plus `eventType` and `timestamp`;
/// `group_change_success` follows every accepted change (`GroupManagerActor.getUpgrade`).
#[tokio::test]
async fn events_match_the_example_and_the_event_writers() {
    let h = Harness::start().await;
    let mut resp = h
        .http
        .get(format!("{}/v2/events", h.sim.marathon_url()))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("sse");
    let mut seen = read_events(&mut resp, "event_stream_attached", 1).await;
    h.sim.sim_set_outcome("/sick", Outcome::NeverHealthy);
    let mut sick = docker_app("/sick", 1);
    sick["healthChecks"][0]["gracePeriodSeconds"] = json!(0);
    sick["healthChecks"][0]["maxConsecutiveFailures"] = json!(1);
    h.create(sick).await;
    h.create(docker_app("/grp/web", 1)).await;
    h.tick(12);
    h.delete("/v2/apps/grp/web").await;
    h.post("/v2/apps", cmd_app("/grp/web2", 1)).await;
    h.tick(3);
    h.put("/v2/apps/grp/web2", json!({ "cmd": "y" })).await;
    h.put("/v2/apps/grp/web2", json!({ "cmd": "z" })).await;
    h.put("/v2/apps/grp/web2?force=true", json!({ "cmd": "w" }))
        .await;
    seen.push_str(&read_events(&mut resp, "event: group_change_success", 6).await);
    let events = sse_events(&seen);

    let example_events = sse_events(
        &std::fs::read_to_string(format!(
            "{}/tests/integration/marathon/marathon-1.4.13/events.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("events.txt"),
    );
    for (kind, sample) in &example_events {
        let (_, ours) = events
            .iter()
            .find(|(k, _)| k == kind)
            .unwrap_or_else(|| panic!("no {kind} seen"));
        assert_shape(sample, ours, &[]);
    }
    for (kind, payload_keys) in keys::EVENTS {
        let (_, ours) = events
            .iter()
            .find(|(k, _)| k == kind)
            .unwrap_or_else(|| panic!("no {kind} seen in {seen}"));
        let mut always: Vec<&str> = payload_keys.to_vec();
        always.extend(["eventType", "timestamp"]);
        assert_keys(ours, &always, &[], kind);
    }
    let plans = events.iter().filter(|(k, _)| k.starts_with("deployment_"));
    for (kind, payload) in plans {
        assert_keys(&payload["plan"], keys::PLAN, &[], kind);
        assert_keys(&payload["plan"]["target"], keys::GROUP, &[], kind);
        if payload.get("currentStep").is_some() {
            assert_keys(&payload["currentStep"], &["actions"], &[], "DeploymentStep");
        }
    }
    let groups: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "group_change_success")
        .map(|(_, v)| &v["groupId"])
        .collect();
    // POST /sick, POST /grp/web (parent groups), DELETE (root update), POST, PUT, forced PUT.
    let expected = ["/", "/grp", "/", "/grp", "/grp", "/grp"].map(|g| json!(g));
    assert_eq!(groups, expected.iter().collect::<Vec<_>>());
    let failed = events
        .iter()
        .find(|(k, _)| k == "group_change_failed")
        .expect("failed");
    assert!(
        failed.1["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("App is locked"))
    );
}
