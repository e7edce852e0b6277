//! Endpoint success and error shapes (spec §1.2, §1.3, §1.6).

use std::time::Duration;

use galley_sim::marathon::{Fault, FaultKind, MarathonSimConfig, Outcome};
use serde_json::json;

use super::harness::{Harness, cmd_app, docker_app};

#[tokio::test]
async fn ping_info_and_leader_headers() {
    let h = Harness::start().await;
    let r = h.get("/ping").await;
    assert_eq!((r.status, r.text.trim()), (200, "pong"));
    let r = h.get("/v2/info").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "marathon");
    assert_eq!(r.body["version"], "1.4.13");
    let leader = r
        .header("X-Marathon-Leader")
        .expect("leader header")
        .to_string();
    assert_eq!(leader, h.sim.marathon_url());
    let r = h.get("/v2/leader").await;
    assert_eq!(
        r.body["leader"].as_str().map(|l| format!("http://{l}")),
        Some(leader)
    );
    let r = h.get("/v2/nope").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({ "message": "URI not found: /v2/nope" }))
    );
}

#[tokio::test]
async fn create_applies_marathon_defaults() {
    let h = Harness::start().await;
    let r = h.create(json!({ "id": "web", "cmd": "sleep 1" })).await;
    let dep = r
        .header("Marathon-Deployment-Id")
        .expect("deployment header")
        .to_string();
    assert_eq!(
        r.header("Location"),
        Some(format!("{}/web", h.sim.marathon_url()).as_str())
    );
    let app = &r.body;
    assert_eq!(app["id"], "/web");
    assert_eq!(app["instances"], 1);
    assert_eq!(app["cpus"], 1.0);
    assert_eq!(app["mem"], 128.0);
    assert_eq!(app["args"], serde_json::Value::Null);
    assert_eq!(app["backoffFactor"], 1.15);
    assert_eq!(app["maxLaunchDelaySeconds"], 3600);
    assert_eq!(
        app["upgradeStrategy"],
        json!({ "minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0 })
    );
    assert_eq!(app["killSelection"], "YOUNGEST_FIRST");
    assert_eq!(
        app["unreachableStrategy"],
        json!({ "inactiveAfterSeconds": 0, "expungeAfterSeconds": 0 })
    );
    // AppsResource.create (v1.4.13) answers with the submitted app: its dynamic service port
    // is still 0 and it has no versionInfo; GET shows the assigned port.
    assert_eq!(
        app["portDefinitions"],
        json!([{ "port": 0, "protocol": "tcp", "name": "default", "labels": {} }])
    );
    assert_eq!(app["ports"], json!([0]));
    assert!(app.get("versionInfo").is_none(), "{app}");
    assert_eq!(app["tasks"], json!([]));
    assert_eq!(app["tasksRunning"], 0);
    assert_eq!(app["deployments"], json!([{ "id": dep }]));
    let stored = h.get("/v2/apps/web").await.body["app"].clone();
    let port = stored["portDefinitions"][0]["port"]
        .as_u64()
        .expect("service port");
    assert_eq!(
        port, 10000,
        "lowest free port of [local_port_min, local_port_max)"
    );
    assert_eq!(stored["ports"], json!([port]));
    assert_eq!(stored["version"], app["version"]);
    assert_eq!(stored["versionInfo"]["lastConfigChangeAt"], app["version"]);
    let keys: Vec<&String> = app.as_object().expect("object").keys().collect();
    assert_eq!(&keys[..4], ["id", "cmd", "args", "user"]);

    let dup = h
        .post("/v2/apps", json!({ "id": "/web", "cmd": "x" }))
        .await;
    assert_eq!(
        (dup.status, dup.body.clone()),
        (
            409,
            json!({ "message": "An app with id [/web] already exists." })
        )
    );
}

#[tokio::test]
async fn paasta_fields_round_trip() {
    let h = Harness::start().await;
    let sent = docker_app("/svc/main", 2);
    h.create(sent.clone()).await;
    let app = h.get("/v2/apps/svc/main").await.body["app"].clone();
    for key in [
        "env",
        "labels",
        "constraints",
        "uris",
        "backoffSeconds",
        "backoffFactor",
        "mem",
        "disk",
        "instances",
    ] {
        assert_eq!(app[key], sent[key], "{key}");
    }
    let docker = &app["container"]["docker"];
    assert_eq!(
        docker["parameters"],
        sent["container"]["docker"]["parameters"]
    );
    assert_eq!(docker["portMappings"][0]["containerPort"], 8888);
    assert!(
        docker["portMappings"][0]["servicePort"]
            .as_u64()
            .is_some_and(|p| p >= 10000)
    );
    assert_eq!(app["healthChecks"][0]["path"], "/status");
    assert_eq!(app["healthChecks"][0]["ignoreHttp1xx"], false);
    // A BRIDGE app keeps its (default) port definition, carrying its port mapping's service
    // port (GroupManagerActor.assignDynamicServicePorts, AppDefWrites; v1.4.13).
    let service_port = docker["portMappings"][0]["servicePort"].clone();
    assert_eq!(
        app["portDefinitions"],
        json!([{ "port": service_port, "protocol": "tcp", "name": "default", "labels": {} }])
    );
    assert_eq!(app["ports"], json!([service_port]));
    assert_eq!(app["fetch"][0]["uri"], "file:///root/.dockercfg");
}

#[tokio::test]
async fn bad_bodies_give_400_and_422() {
    let h = Harness::start().await;
    let r = h.call(reqwest::Method::POST, "/v2/apps", None).await;
    assert_eq!(r.status, 400);
    let r = h
        .http
        .post(format!("{}/v2/apps", h.sim.marathon_url()))
        .body("{nope")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["message"], "Invalid JSON");
    assert!(body["details"].is_string());

    let r = h.post("/v2/apps", json!({ "cmd": "x" })).await;
    assert_eq!(
        r.body,
        json!({ "message": "Invalid JSON", "details": [{ "path": "/id", "errors": ["error.path.missing"] }] })
    );
    let r = h
        .post(
            "/v2/apps",
            json!({ "id": "/a", "cmd": "x", "instances": "two" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["details"][0].clone()),
        (
            400,
            json!({ "path": "/instances", "errors": ["error.expected.jsnumber"] })
        )
    );

    let r = h
        .post("/v2/apps", json!({ "id": "/Bad_Id", "cmd": "x" }))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["message"], "Object is not valid");
    assert_eq!(r.body["details"][0]["path"], "/id");
    let err = r.body["details"][0]["errors"][0].as_str().expect("text");
    assert!(
        err.starts_with("must fully match regular expression '^(([a-z0-9]|"),
        "{err}"
    );

    let r = h.post("/v2/apps", json!({ "id": "/a" })).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body["details"][0]["errors"][0],
        "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
    );
    let r = h.post("/v2/apps", json!({ "id": "/a", "cmd": "x", "instances": -1, "upgradeStrategy": { "minimumHealthCapacity": 1.5 } })).await;
    assert_eq!(r.status, 422);
    let paths: Vec<&str> = r.body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        ["/instances", "/upgradeStrategy/minimumHealthCapacity"]
    );
    let r = h
        .post(
            "/v2/apps",
            json!({ "id": "/a", "cmd": "x", "constraints": [["hostname", "NEAR"]] }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Constraint operator must be one of the following"))
    );
}

#[tokio::test]
async fn paths_are_canonical_and_greedy() {
    let h = Harness::start().await;
    h.create(cmd_app("/a/b", 1)).await;
    assert_eq!(h.get("/v2/apps//a/b/").await.body["app"]["id"], "/a/b");
    assert_eq!(h.get("/v2/apps/a/./c/../b").await.body["app"]["id"], "/a/b");
    let r = h.get("/v2/apps/a/*").await;
    assert_eq!(r.body["*"][0]["id"], "/a/b");
    let r = h.get("/v2/apps/zzz/*").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({ "message": "Group '/zzz' does not exist" }))
    );
    let r = h.get("/v2/apps/a/b/tasks").await;
    assert_eq!(r.body["tasks"].as_array().map(Vec::len), Some(1));
    let r = h.get("/v2/apps/nope").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({ "message": "App '/nope' does not exist" }))
    );
    let r = h.get("/v2/apps/nope/tasks").await;
    assert_eq!(r.status, 404);
    let r = h.get("/v2/apps/a/b/versions").await;
    let v = r.body["versions"][0].as_str().expect("version").to_string();
    assert_eq!(
        h.get(&format!("/v2/apps/a/b/versions/{v}")).await.body["id"],
        "/a/b"
    );
    let r = h
        .get("/v2/apps/a/b/versions/2000-01-01T00:00:00.000Z")
        .await;
    assert_eq!(
        r.body["message"],
        "App '/a/b' does not exist in version 2000-01-01T00:00:00.000Z"
    );
}

#[tokio::test]
async fn list_filters_and_embeds() {
    let h = Harness::start().await;
    let mut a = cmd_app("/prod/web", 1);
    a["labels"] = json!({ "env": "prod", "tier": "web" });
    h.create(a).await;
    let mut b = cmd_app("/dev/worker", 1);
    b["cmd"] = json!("python Worker.py");
    b["labels"] = json!({ "env": "dev" });
    h.create(b).await;
    let ids = |r: &super::harness::Resp| -> Vec<String> {
        r.body["apps"]
            .as_array()
            .expect("apps")
            .iter()
            .map(|a| a["id"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(ids(&h.get("/v2/apps?id=WEB").await), ["/prod/web"]);
    assert_eq!(ids(&h.get("/v2/apps?cmd=worker").await), ["/dev/worker"]);
    assert_eq!(
        ids(&h.get("/v2/apps?label=env==prod,tier").await),
        ["/prod/web"]
    );
    assert_eq!(
        ids(&h.get("/v2/apps?label=env%20in%20(dev,%20qa)").await),
        ["/dev/worker"]
    );
    let r = h.get("/v2/apps").await;
    assert!(
        r.body["apps"][0].get("tasksRunning").is_some()
            && r.body["apps"][0].get("deployments").is_some()
    );
    assert!(r.body["apps"][0].get("tasks").is_none());
    let r = h
        .get("/v2/apps?embed=apps.tasks&embed=app.lastTaskFailure")
        .await;
    assert_eq!(r.body["apps"][0]["tasks"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn task_endpoints_and_errors() {
    let h = Harness::start().await;
    h.create(cmd_app("/web", 2)).await;
    let r = h.get("/v2/tasks?status=staging").await;
    assert_eq!(r.body["tasks"].as_array().map(Vec::len), Some(2));
    let task = r.body["tasks"][0].clone();
    let id = task["id"].as_str().expect("id").to_string();
    assert!(
        id.starts_with("web.") && id.len() == "web.".len() + 36,
        "{id}"
    );
    assert_eq!(task["state"], "TASK_STAGING");
    assert_eq!(task["startedAt"], serde_json::Value::Null);
    assert_eq!(task["appId"], "/web");
    h.tick(2);
    assert_eq!(
        h.get("/v2/tasks?status=running").await.body["tasks"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        h.get("/v2/tasks?status=staging").await.body["tasks"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    let r = h.delete("/v2/apps/web/tasks/web.nonexistent").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            404,
            json!({ "message": "Task 'web.nonexistent' does not exist" })
        )
    );
    let r = h.delete("/v2/apps/web/tasks?scale=true&wipe=true").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            400,
            json!({ "message": "You cannot use scale and wipe at the same time." })
        )
    );
    let r = h
        .post("/v2/tasks/delete", json!({ "ids": ["garbage"] }))
        .await;
    assert_eq!(r.status, 400);
    // TasksResource.killTasks wraps the MatchError `Task.Id` throws (core/task/Task.scala).
    assert_eq!(
        r.body["message"],
        "Invalid task id 'garbage'. [taskId garbage is no valid identifier (of class java.lang.String)]"
    );
    let r = h
        .post(
            "/v2/tasks/delete",
            json!({ "ids": ["web.00000000-0000-0000-0000-000000000000"] }),
        )
        .await;
    assert_eq!((r.status, r.body.clone()), (200, json!({ "tasks": [] })));

    // AppTasksResource.deleteOne (v1.4.13) answers with the internal instance JSON.
    let r = h.delete(&format!("/v2/apps/web/tasks/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["task"]["tasksMap"][&id]["taskId"], id.as_str());
    assert!(r.body["task"]["instanceId"]["idString"].is_string());
    h.tick(1);
    let ids: Vec<String> = h.sim.task_ids("/web");
    assert!(!ids.contains(&id), "killed task vanished");
    h.tick(2);
    assert_eq!(
        h.sim.app_counts("/web").map(|c| c.running),
        Some(2),
        "killed task replaced"
    );
    assert_eq!(
        h.sim.deployment_count(),
        0,
        "replacement needs no deployment"
    );
}

#[tokio::test]
async fn basic_auth_guards_everything_but_sim_control() {
    let h =
        Harness::with(MarathonSimConfig::virtual_time().credentials("marathon", "s3cret")).await;
    for path in ["/v2/apps", "/ping", "/v2/nope"] {
        let r = h.get(path).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.header("WWW-Authenticate"),
            Some("Basic realm=\"Mesosphere\"")
        );
    }
    let url = format!("{}/v2/apps", h.sim.marathon_url());
    let ok = h
        .http
        .get(&url)
        .basic_auth("marathon", Some("s3cret"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.status(), 200);
    let bad = h
        .http
        .get(&url)
        .basic_auth("marathon", Some("nope"))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), 401);
    assert_eq!(
        h.post("/_sim/tick", json!({ "seconds": 1 })).await.status,
        200
    );
}

#[tokio::test]
async fn faults_and_leader_loss() {
    let h = Harness::start().await;
    h.sim.sim_fault(
        Fault::status(500)
            .on_path("/v2/apps")
            .on_method("GET")
            .times(1),
    );
    assert_eq!(h.get("/v2/apps").await.status, 500);
    assert_eq!(h.get("/v2/apps").await.status, 200);
    h.sim.sim_fault(Fault {
        path_prefix: Some("/v2/info".into()),
        method: None,
        kind: FaultKind::Drop,
        count: Some(1),
    });
    assert!(
        h.http
            .get(format!("{}/v2/info", h.sim.marathon_url()))
            .send()
            .await
            .is_err(),
        "connection dropped"
    );
    assert_eq!(h.get("/v2/info").await.status, 200);
    h.sim.sim_fault(Fault {
        path_prefix: None,
        method: None,
        kind: FaultKind::Delay { millis: 150 },
        count: Some(1),
    });
    let started = std::time::Instant::now();
    assert_eq!(h.get("/ping").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    h.post("/_sim/faults", json!({ "path_prefix": "/v2/queue", "kind": { "status": { "status": 503, "message": "busy" } } })).await;
    assert_eq!(h.get("/v2/queue").await.body, json!({ "message": "busy" }));
    h.delete("/_sim/faults").await;
    assert_eq!(h.get("/v2/queue").await.status, 200);

    h.sim.sim_set_leader(false);
    let r = h.get("/v2/apps").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            503,
            json!({ "message": "Could not determine the current leader" })
        )
    );
    assert!(r.header("X-Marathon-Leader").is_none());
    let r = h.get("/v2/leader").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({ "message": "There is no leader" }))
    );
    h.put("/_sim/leader", json!({ "leader": true })).await;
    assert_eq!(h.get("/v2/apps").await.status, 200);
}

#[tokio::test]
async fn event_stream_reports_deployments_and_status_updates() {
    let h = Harness::start().await;
    let mut resp = h
        .http
        .get(format!("{}/v2/events", h.sim.marathon_url()))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("sse");
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream;charset=UTF-8"
    );
    let mut seen = String::new();
    let first = resp.chunk().await.expect("attached").expect("bytes");
    seen.push_str(&String::from_utf8_lossy(&first));
    assert!(
        seen.starts_with("event: event_stream_attached\r\ndata: {"),
        "{seen}"
    );
    h.create(cmd_app("/web", 1)).await;
    h.tick(2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("event: deployment_success") {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("in time")
            .expect("open")
            .expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    for event in [
        "api_post_event",
        "deployment_info",
        "status_update_event",
        "deployment_step_success",
        "instance_changed_event",
    ] {
        assert!(
            seen.contains(&format!("event: {event}\r\n")),
            "{event} missing"
        );
    }
    assert!(seen.contains("\"taskStatus\":\"TASK_RUNNING\""));
}

/// Reads `resp` until `needle` shows up (or panics after 5 s); returns what was read.
async fn read_until(resp: &mut reqwest::Response, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut seen = String::new();
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("{needle} in time; saw {seen}"))
            .expect("open")
            .unwrap_or_else(|| panic!("stream ended before {needle}; saw {seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// The body ends (the stream was closed by the server) within 5 s; events before the end are
/// skipped.
async fn assert_ends(resp: &mut reqwest::Response) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => panic!("the stream is still open"),
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None) | Err(_)) => return,
        }
    }
}

#[tokio::test]
async fn event_streams_attach_detach_and_break() {
    let h = Harness::start().await;
    let url = format!("{}/v2/events", h.sim.marathon_url());
    // Jetty's servlet streams only to clients that accept `text/event-stream`.
    let plain = h.http.get(&url).send().await.expect("plain get");
    assert_eq!(plain.status(), 405);
    let sse = |url: &str| h.http.get(url).header("Accept", "text/event-stream").send();
    let mut a = sse(&url).await.expect("sse a");
    read_until(&mut a, "event: event_stream_attached").await;
    // A second stream's attach is published to every stream, as Marathon 1.4 does.
    let mut b = sse(&url).await.expect("sse b");
    read_until(&mut b, "event: event_stream_attached").await;
    read_until(&mut a, "event: event_stream_attached").await;
    assert_eq!(h.sim.sim_open_event_streams(), 2);
    drop(b);
    read_until(&mut a, "event: event_stream_detached").await;

    // The test control ends every open stream; new ones attach again.
    let broken = h
        .http
        .post(format!("{}/_sim/events/break", h.sim.marathon_url()))
        .send()
        .await
        .expect("break")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    assert_eq!(broken["broken"], 1, "{broken}");
    assert_ends(&mut a).await;
    let mut c = sse(&url).await.expect("sse c");
    read_until(&mut c, "event: event_stream_attached").await;

    // Standing down closes the streams; a standby has no leader to serve new ones.
    h.sim.sim_set_leader(false);
    assert_ends(&mut c).await;
    let refused = sse(&url).await.expect("sse refused");
    assert_eq!(refused.status(), 503);
    h.sim.sim_set_leader(true);
    let mut d = sse(&url).await.expect("sse d");
    read_until(&mut d, "event: event_stream_attached").await;
    h.create(cmd_app("/after", 1)).await;
    read_until(&mut d, "event: api_post_event").await;
}

/// Jetty's heartbeat: a bare CRLF every 10 s on a quiet stream (the paused clock jumps to it).
#[tokio::test(start_paused = true)]
async fn quiet_event_streams_carry_jetty_heartbeats() {
    let h = Harness::start().await;
    let mut resp = h
        .http
        .get(format!("{}/v2/events", h.sim.marathon_url()))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("sse");
    read_until(&mut resp, "event: event_stream_attached").await;
    let started = tokio::time::Instant::now();
    let beat = resp.chunk().await.expect("open").expect("a heartbeat");
    assert_eq!(&beat[..], b"\r\n");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited <= Duration::from_secs(11),
        "{waited:?}"
    );
}

#[tokio::test]
async fn queue_shows_backoff_growth() {
    let h = Harness::start().await;
    h.sim.sim_set_outcome("/crashy", Outcome::FailOnLaunch);
    let mut app = cmd_app("/crashy", 1);
    app["backoffSeconds"] = json!(2);
    app["backoffFactor"] = json!(2.0);
    app["maxLaunchDelaySeconds"] = json!(7);
    h.create(app).await;
    let mut delays = Vec::new();
    for _ in 0..4 {
        // Staging lasts 1 s, then the launch fails and the delay grows.
        h.tick(1);
        let q = h.get("/v2/queue").await.body;
        let left = q["queue"][0]["delay"]["timeLeftSeconds"]
            .as_u64()
            .expect("delay");
        delays.push(left);
        assert_eq!(q["queue"][0]["count"], 1);
        assert_eq!(q["queue"][0]["delay"]["overdue"], false);
        h.tick(left);
    }
    assert_eq!(delays, [2, 4, 7, 7]);
    let app = h.get("/v2/apps/crashy").await.body["app"].clone();
    assert_eq!(app["lastTaskFailure"]["state"], "TASK_FAILED");
    assert_eq!(
        app["deployments"].as_array().map(Vec::len),
        Some(1),
        "deployment never finishes"
    );
    h.tick(1);
    assert_eq!(h.delete("/v2/queue/crashy/delay").await.status, 204);
    assert_eq!(
        h.sim.app_counts("/crashy").map(|c| c.staged),
        Some(1),
        "relaunched at once"
    );
    assert_eq!(
        h.delete("/v2/queue/nope/delay").await.body,
        json!({ "message": "Application /nope not found in tasks queue." })
    );
}
