//! Deployment and lifecycle behaviour (spec §2), including the restart arithmetic examples.

use std::sync::{Arc, Mutex};

use galley_sim::marathon::{AgentSpec, HistoryKind, MarathonSimConfig, Outcome};
use galley_sim::{HostRuntime, TaskLaunch};
use serde_json::json;

use super::harness::{Harness, cmd_app, docker_app};

#[tokio::test]
async fn create_goes_staging_running_healthy_then_deployment_ends() {
    let h = Harness::start().await;
    let r = h.create(docker_app("/svc", 2)).await;
    let dep = r.header("Marathon-Deployment-Id").expect("id").to_string();
    let deps = h.get("/v2/deployments").await.body;
    assert_eq!(deps[0]["id"], dep);
    assert_eq!(deps[0]["totalSteps"], 2);
    assert_eq!(deps[0]["currentStep"], 2);
    assert_eq!(deps[0]["currentActions"][0]["action"], "ScaleApplication");
    assert_eq!(
        deps[0]["steps"][0]["actions"][0],
        json!({ "action": "StartApplication", "app": "/svc" })
    );
    let app = h.get("/v2/apps/svc").await.body["app"].clone();
    assert_eq!(
        (app["tasksStaged"].as_u64(), app["tasksRunning"].as_u64()),
        (Some(2), Some(0))
    );
    h.tick(1);
    let app = h.get("/v2/apps/svc").await.body["app"].clone();
    assert_eq!(
        (app["tasksRunning"].as_u64(), app["tasksHealthy"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(app["tasks"][0]["startedAt"].is_string());
    assert!(app["tasks"][0].get("healthCheckResults").is_none());
    h.tick(10);
    let app = h.get("/v2/apps/svc").await.body["app"].clone();
    assert_eq!(app["tasksHealthy"], 2);
    let result = &app["tasks"][0]["healthCheckResults"][0];
    assert_eq!(result["alive"], true);
    assert!(
        result["instanceId"]
            .as_str()
            .is_some_and(|i| i.starts_with("svc.marathon-"))
    );
    assert_eq!(app["deployments"], json!([]));
    assert_eq!(h.get("/v2/deployments").await.body, json!([]));
}

/// Restarts a healthy 4-instance app with the given strategy and returns the harness after the
/// restart request, with the history cleared just before it.
async fn restarted(min_health: f64, max_over: f64) -> Harness {
    let h = Harness::start().await;
    let mut app = docker_app("/r", 4);
    app["upgradeStrategy"] =
        json!({ "minimumHealthCapacity": min_health, "maximumOverCapacity": max_over });
    h.create(app).await;
    h.settle(60);
    h.sim.clear_history();
    let r = h.post("/v2/apps/r/restart", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("Marathon-Deployment-Id").is_some());
    h
}

fn min_happy(h: &Harness, app: &str) -> u32 {
    h.sim
        .samples()
        .iter()
        .filter_map(|s| s.apps.get(app))
        .map(|c| c.happy)
        .min()
        .unwrap_or(0)
}

fn max_tasks(h: &Harness, app: &str) -> u32 {
    h.sim
        .samples()
        .iter()
        .filter_map(|s| s.apps.get(app))
        .map(|c| c.staged + c.running)
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn restart_with_defaults_launches_all_then_kills_per_healthy() {
    let h = restarted(1.0, 1.0).await;
    assert_eq!(
        h.launches_and_kills("/r"),
        (4, 0),
        "minHealthy 4, maxCapacity 8: launch 4, kill none"
    );
    h.settle(120);
    assert_eq!(h.launches_and_kills("/r"), (4, 4));
    assert!(min_happy(&h, "/r") >= 4, "never below 4 healthy");
    assert_eq!(max_tasks(&h, "/r"), 8);
}

#[tokio::test]
async fn restart_half_capacity_kills_two_at_once() {
    let h = restarted(0.5, 0.0).await;
    assert_eq!(
        h.launches_and_kills("/r"),
        (0, 2),
        "kill R - minHealthy = 2 at once, no capacity to launch"
    );
    h.tick(1);
    assert_eq!(
        h.launches_and_kills("/r"),
        (2, 2),
        "a launch per confirmed kill"
    );
    h.settle(120);
    assert_eq!(h.launches_and_kills("/r"), (4, 4));
    assert!(min_happy(&h, "/r") >= 2);
    assert!(max_tasks(&h, "/r") <= 4);
}

#[tokio::test]
async fn restart_full_capacity_no_overcapacity_uses_the_extra_instance() {
    let h = restarted(1.0, 0.0).await;
    assert_eq!(
        h.launches_and_kills("/r"),
        (1, 0),
        "maxCapacity bumped to 5: one new instance"
    );
    h.settle(200);
    assert_eq!(h.launches_and_kills("/r"), (4, 4));
    assert!(min_happy(&h, "/r") >= 4);
    assert_eq!(max_tasks(&h, "/r"), 5);
}

#[tokio::test]
async fn restart_zero_capacity_kills_everything_first() {
    let h = restarted(0.0, 0.0).await;
    assert_eq!(h.launches_and_kills("/r"), (0, 4));
    h.tick(1);
    assert_eq!(h.launches_and_kills("/r"), (4, 4));
    h.settle(60);
    assert_eq!(h.sim.app_counts("/r").map(|c| c.healthy), Some(4));
}

#[tokio::test]
async fn lock_conflict_is_409_and_force_overrides() {
    let h = Harness::start().await;
    h.sim.sim_set_outcome("/stuck", Outcome::NeverHealthy);
    let dep = h
        .create(docker_app("/stuck", 1))
        .await
        .header("Marathon-Deployment-Id")
        .expect("id")
        .to_string();
    let r = h.put("/v2/apps/stuck", json!({ "instances": 2 })).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["deployments"], json!([{ "id": dep }]));
    assert_eq!(
        r.body["message"],
        format!(
            "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/{dep}'."
        )
    );
    assert_eq!(
        h.post("/v2/apps/stuck/restart", json!({})).await.status,
        409
    );
    let r = h
        .put("/v2/apps/stuck?force=True", json!({ "instances": 2 }))
        .await;
    assert_eq!(r.status, 200);
    let deps = h.get("/v2/deployments").await.body;
    assert_eq!(deps.as_array().map(Vec::len), Some(1));
    assert_ne!(deps[0]["id"], dep);
    assert_eq!(
        deps[0]["steps"][0]["actions"][0]["action"],
        "ScaleApplication"
    );
    let failed = h.sim.history().iter().any(
        |e| matches!(&e.kind, HistoryKind::DeploymentEnded { id, success: false } if *id == dep),
    );
    assert!(failed, "overridden deployment failed");

    let new = deps[0]["id"].as_str().expect("id").to_string();
    let r = h.delete(&format!("/v2/deployments/{new}?force=true")).await;
    assert_eq!((r.status, r.text.as_str()), (202, ""));
    let r = h.delete("/v2/deployments/nope").await;
    assert_eq!(
        r.body,
        json!({ "message": "DeploymentPlan nope does not exist" })
    );
    // DELETE app defaults to force=true even when locked.
    let r = h
        .put("/v2/apps/stuck?force=true", json!({ "instances": 1 }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(h.delete("/v2/apps/stuck").await.status, 200);
    assert_eq!(h.get("/v2/apps/stuck").await.status, 404);
}

#[tokio::test]
async fn rollback_deployment_restores_the_previous_definition() {
    let h = Harness::start().await;
    h.create(docker_app("/rb", 1)).await;
    h.settle(60);
    h.sim.sim_set_outcome("/rb", Outcome::NeverHealthy);
    let r = h.put("/v2/apps/rb", json!({ "cmd": "broken" })).await;
    let dep = r.body["deploymentId"].as_str().expect("id").to_string();
    h.tick(30);
    assert_eq!(h.sim.deployment_count(), 1);
    h.sim.sim_clear_outcomes();
    let r = h.delete(&format!("/v2/deployments/{dep}")).await;
    assert_eq!(r.status, 200);
    assert!(r.body["deploymentId"].is_string());
    h.settle(120);
    assert_eq!(
        h.get("/v2/apps/rb").await.body["app"]["cmd"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn never_healthy_app_keeps_its_deployment_and_is_killed_after_failures() {
    let h = Harness::start().await;
    h.sim.sim_set_outcome("/sick", Outcome::NeverHealthy);
    h.create(docker_app("/sick", 1)).await;
    h.tick(59);
    assert_eq!(
        h.sim.app_counts("/sick").map(|c| c.unhealthy),
        Some(0),
        "failures ignored during grace"
    );
    h.tick(600);
    assert_eq!(h.sim.deployment_count(), 1, "runs forever");
    let h2 = h.sim.history();
    let unhealthy_kills = h2.iter().filter(|e| matches!(&e.kind, HistoryKind::KillRequested { reason, .. } if reason == "unhealthy")).count();
    assert!(
        unhealthy_kills >= 2,
        "killed after maxConsecutiveFailures and relaunched"
    );
}

#[tokio::test]
async fn kill_and_scale_creates_a_scale_deployment() {
    let h = Harness::start().await;
    h.create(cmd_app("/web", 3)).await;
    h.settle(10);
    let victim = h.sim.task_ids("/web")[0].clone();
    let r = h
        .post("/v2/tasks/delete?scale=true", json!({ "ids": [victim] }))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("Marathon-Deployment-Id").is_some());
    h.settle(10);
    let app = h.get("/v2/apps/web").await.body["app"].clone();
    assert_eq!(
        (app["instances"].as_u64(), app["tasksRunning"].as_u64()),
        (Some(2), Some(2))
    );
    assert_ne!(
        app["versionInfo"]["lastScalingAt"],
        app["versionInfo"]["lastConfigChangeAt"]
    );
    assert!(!h.sim.task_ids("/web").contains(&victim));
    let r = h.delete("/v2/apps/web/tasks?scale=true&host=*").await;
    assert!(r.body["deploymentId"].is_string());
    h.settle(10);
    assert_eq!(h.get("/v2/apps/web").await.body["app"]["instances"], 0);
}

#[tokio::test]
async fn no_capacity_keeps_launches_queued_until_an_agent_fits() {
    let h =
        Harness::with(MarathonSimConfig::virtual_time().agents(
            vec![AgentSpec::new("small").attribute("pool", "default").capacity(0.5, 512.0)],
        ))
        .await;
    h.create(docker_app("/big", 3)).await;
    h.tick(2);
    assert_eq!(h.sim.app_counts("/big").map(|c| c.running), Some(2));
    assert_eq!(h.get("/v2/queue").await.body["queue"][0]["count"], 1);
    h.sim
        .sim_add_agent(AgentSpec::new("another").attribute("pool", "default"));
    h.settle(60);
    assert_eq!(h.sim.app_counts("/big").map(|c| c.healthy), Some(3));
}

#[tokio::test]
async fn constraints_restrict_placement() {
    let h = Harness::start().await;
    let mut unique = cmd_app("/uniq", 5);
    unique["constraints"] = json!([["hostname", "UNIQUE"]]);
    h.create(unique).await;
    let mut west = cmd_app("/west", 2);
    west["constraints"] = json!([["region", "LIKE", "uswest1-.*"]]);
    h.create(west).await;
    let mut spread = cmd_app("/spread", 4);
    spread["constraints"] = json!([["region", "GROUP_BY", "2"]]);
    h.create(spread).await;
    h.tick(2);
    assert_eq!(
        h.sim.app_counts("/uniq").map(|c| c.running),
        Some(4),
        "four agents, one task each"
    );
    let tasks = h.get("/v2/tasks").await.body["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let hosts = |app: &str| -> Vec<String> {
        tasks
            .iter()
            .filter(|t| t["appId"] == app)
            .map(|t| t["host"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(hosts("/west").iter().all(|h| h.ends_with("uswest1-prod")));
    let west_count = hosts("/spread")
        .iter()
        .filter(|h| h.ends_with("uswest1-prod"))
        .count();
    assert_eq!(west_count, 2, "GROUP_BY balances regions");
}

#[derive(Default)]
struct Recorder {
    launched: Mutex<Vec<TaskLaunch>>,
    ended: Mutex<Vec<String>>,
}

impl HostRuntime for Recorder {
    fn task_launched(&self, launch: &TaskLaunch) {
        self.launched.lock().expect("lock").push(launch.clone());
    }

    fn task_ended(&self, _hostname: &str, task_id: &str) {
        self.ended.lock().expect("lock").push(task_id.to_string());
    }
}

#[tokio::test]
async fn host_runtime_sees_mesos_shaped_launches() {
    let rec = Arc::new(Recorder::default());
    let h = Harness::with(MarathonSimConfig::virtual_time().host_runtime(rec.clone())).await;
    h.create(docker_app("/svc/main", 1)).await;
    h.tick(1);
    let launch = rec.launched.lock().expect("lock")[0].clone();
    assert_eq!(launch.app_id, "/svc/main");
    assert!(launch.task_id.starts_with("svc_main."));
    assert_eq!(launch.image, "registry.example/svc:abc");
    assert_eq!(launch.labels.get("MESOS_TASK_ID"), Some(&launch.task_id));
    assert_eq!(launch.env.get("MESOS_TASK_ID"), Some(&launch.task_id));
    assert_eq!(
        launch.env.get("MARATHON_APP_ID").map(String::as_str),
        Some("/svc/main")
    );
    assert_eq!(
        launch
            .env
            .get("MARATHON_APP_RESOURCE_MEM")
            .map(String::as_str),
        Some("256.0")
    );
    assert_eq!(
        launch.env.get("PAASTA_SERVICE").map(String::as_str),
        Some("svc")
    );
    assert_eq!(launch.env.get("PORT0"), Some(&launch.ports[0].to_string()));
    assert_eq!(
        launch.env.get("PORT_8888"),
        Some(&launch.ports[0].to_string())
    );
    assert_eq!(launch.env.get("HOST"), Some(&launch.hostname));
    assert!(uuid::Uuid::parse_str(&launch.container_id).is_ok());
    let task_uuid = launch
        .task_id
        .rsplit('.')
        .next()
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .expect("uuid");
    assert_eq!(task_uuid.get_version_num(), 1, "time-based task uuid");
    h.delete("/v2/apps/svc/main").await;
    h.tick(1);
    assert_eq!(rec.ended.lock().expect("lock").as_slice(), [launch.task_id]);
}
