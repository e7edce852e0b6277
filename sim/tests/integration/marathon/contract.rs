//! Contract test, apps and tasks: the emulator's answers compared key by key and type by type
//! with Marathon 1.4.13's published examples (`marathon-1.4.13/`, copied from
//! `docs/docs/rest-api/public/api/v2/examples/` at tag v1.4.13), and with the keys the 1.4.13
//! Scala writers produce (`scala_keys.rs`). Where an example disagrees with the writers, the
//! Scala code wins; each such place is an `Exception` naming the reason.

use serde_json::{Value, json};

use super::harness::{Harness, docker_app};
use super::scala_keys as keys;
use super::shape::{Exception, assert_keys, assert_shape, example};

fn concat(a: &[&'static str], b: &[&'static str]) -> Vec<&'static str> {
    a.iter().chain(b).copied().collect()
}

/// Asserts an app of `/v2/apps` has exactly `AppDefWrites` + `ExtendedAppInfoWrites` keys.
fn assert_app_info_keys(app: &Value) {
    assert_keys(
        app,
        &concat(keys::APP_ALWAYS, keys::APP_INFO_ALWAYS),
        &concat(keys::APP_OPTIONAL, keys::APP_INFO_OPTIONAL),
        "app",
    );
}

/// Asserts Task JSON keys, and health result keys when there are some.
fn assert_task_keys(task: &Value) {
    assert_keys(task, keys::TASK_ALWAYS, keys::TASK_OPTIONAL, "task");
    for h in task["healthCheckResults"].as_array().into_iter().flatten() {
        assert_keys(h, keys::HEALTH, &[], "health result");
    }
}

/// The example app of `app.json` as a POST body, minus what 1.4.13 refuses to create.
fn example_app_body() -> Value {
    let mut body = example("app.json");
    let obj = body.as_object_mut().expect("object");
    // `cmd` and `args` together: 422 (AppDefinition.validAppDefinition).
    obj.remove("args");
    // `ipAddress` with `portDefinitions`: 400 "You cannot specify both an IP address and
    // ports" (Formats.AppDefinitionReads).
    obj.remove("ipAddress");
    // Secrets need `--enable_features secrets`.
    obj.remove("secrets");
    obj["env"].as_object_mut().expect("env").remove("PASSWORD");
    body
}

/// Where `examples/app.json` (the 201 example of POST /v2/apps) and the 1.4.13 writers part.
const APP_201_EXCEPTIONS: &[Exception] = &[
    Exception {
        path: "/args",
        why: "AppDefWrites writes args null when empty; the example sets cmd and args, which 1.4 refuses",
    },
    Exception {
        path: "/ipAddress",
        why: "the example sets ipAddress together with portDefinitions, which AppDefinitionReads refuses; AppDefWrites writes null",
    },
    Exception {
        path: "/secrets",
        why: "secrets need the secrets feature",
    },
    Exception {
        path: "/env/PASSWORD",
        why: "secret env values need the secrets feature",
    },
];

/// POST /v2/apps (201, `examples/app.json`) and GET /v2/apps (`examples/app_list.json`),
/// `AppsResource.create`/`index` with `AppDefWrites` and `ExtendedAppInfoWrites`.
#[tokio::test]
async fn apps_match_the_examples_and_the_app_writers() {
    let h = Harness::start().await;
    let r = h.create(example_app_body()).await;
    assert_shape(&example("app.json"), &r.body, APP_201_EXCEPTIONS);
    assert_app_info_keys(&r.body);
    assert_eq!(r.body["tasks"], json!([]));

    let list_app = json!({
        "id": "/myapp", "cmd": "env && sleep 60", "instances": 3, "cpus": 0.1, "mem": 5,
        "env": { "LD_LIBRARY_PATH": "/usr/local/lib/myLib" },
        "constraints": [["hostname", "UNIQUE"]],
        "uris": ["https://raw.github.com/mesosphere/marathon/master/README.md"],
        "ports": [0, 0],
    });
    h.create(list_app).await;
    h.create(docker_app("/svc/main", 2)).await;
    h.tick(15);
    let r = h
        .get("/v2/apps?embed=apps.tasks&embed=apps.lastTaskFailure&embed=apps.readiness&embed=apps.taskStats")
        .await;
    let mine: Vec<Value> = r.body["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .filter(|a| a["id"] == "/myapp")
        .cloned()
        .collect();
    let exceptions = [Exception {
        path: "/apps[]/acceptedResourceRoles",
        why: "AppDefWrites writes acceptedResourceRoles only when non-empty",
    }];
    assert_shape(
        &example("app_list.json"),
        &json!({ "apps": mine }),
        &exceptions,
    );
    assert_eq!(mine[0]["ports"].as_array().map(Vec::len), Some(2));
    for app in r.body["apps"].as_array().expect("apps") {
        assert_app_info_keys(app);
        for t in app["tasks"].as_array().expect("tasks embedded") {
            assert_task_keys(t);
            assert!(t.get("servicePorts").is_none(), "AppInfo tasks carry none");
        }
    }
    let svc = h.get("/v2/apps/svc/main?embed=app.taskStats").await.body["app"].clone();
    assert!(svc["tasks"][0]["healthCheckResults"][0]["alive"].is_boolean());
    // TaskStatsByVersionWrites / TaskStatsWrites / TaskCountsWritesWithoutPrefix.
    let total = &svc["taskStats"]["totalSummary"]["stats"];
    assert_keys(
        &total["counts"],
        &["staged", "running", "healthy", "unhealthy"],
        &[],
        "task counts",
    );
    assert_keys(
        &total["lifeTime"],
        &["averageSeconds", "medianSeconds"],
        &[],
        "life time",
    );
    h.sim.sim_fail_task(&h.sim.task_ids("/svc/main")[0]);
    let failed = h.get("/v2/apps/svc/main").await.body["app"]["lastTaskFailure"].clone();
    assert_keys(&failed, keys::TASK_FAILURE, &[], "lastTaskFailure");
}

/// GET /v2/apps/{id}/tasks (`examples/app_tasks.json`, `AppTasksResource.indexJson`: no
/// service ports), GET /v2/tasks (`examples/tasks.json`, `TasksResource.indexJson`: the
/// app's service ports) and POST /v2/tasks/delete (`TasksResource.killTasks`: Task JSON
/// without health results or service ports).
#[tokio::test]
async fn task_lists_match_the_examples_and_the_task_writers() {
    let h = Harness::start().await;
    h.create(docker_app("/svc/main", 2)).await;
    h.tick(15);
    let r = h.get("/v2/apps/svc/main/tasks").await;
    assert_shape(&example("app_tasks.json"), &r.body, &[]);
    for t in r.body["tasks"].as_array().expect("tasks") {
        assert_task_keys(t);
        assert!(t.get("servicePorts").is_none());
        assert!(t["healthCheckResults"].is_array());
    }
    let r = h.get("/v2/tasks").await;
    assert_shape(&example("tasks.json"), &r.body, &[]);
    for t in r.body["tasks"].as_array().expect("tasks") {
        assert_task_keys(t);
    }
    let id = r.body["tasks"][0]["id"].clone();
    let r = h.post("/v2/tasks/delete", json!({ "ids": [id] })).await;
    let exceptions = [Exception {
        path: "/tasks[]/servicePorts",
        why: "TasksResource.killTasks builds EnrichedTask without service ports",
    }];
    assert_shape(&example("tasks.json"), &r.body, &exceptions);
    let killed = &r.body["tasks"][0];
    assert_task_keys(killed);
    assert!(killed.get("healthCheckResults").is_none() && killed.get("servicePorts").is_none());
}

/// Asserts Marathon 1.4's instance JSON (`Instance.instanceJsonWrites`) for a task.
fn assert_instance(instance: &Value, task_id: &str) {
    assert_keys(instance, keys::INSTANCE, &[], "instance");
    assert_keys(&instance["instanceId"], &["idString"], &[], "instance id");
    assert_keys(&instance["agentInfo"], keys::AGENT_INFO, &[], "agent info");
    assert_keys(
        &instance["state"],
        keys::INSTANCE_STATE_ALWAYS,
        keys::INSTANCE_STATE_OPTIONAL,
        "instance state",
    );
    assert_keys(&instance["state"]["condition"], &["str"], &[], "condition");
    let task = &instance["tasksMap"][task_id];
    assert_keys(task, keys::INTERNAL_TASK, &[], "internal task");
    assert_keys(
        &task["status"],
        keys::INTERNAL_STATUS_ALWAYS,
        keys::INTERNAL_STATUS_OPTIONAL,
        "task status",
    );
    assert_keys(
        &task["status"]["networkInfo"],
        &["hostName", "hostPorts", "ipAddresses"],
        &[],
        "network info",
    );
    assert!(
        instance["agentInfo"]["attributes"][0].is_string(),
        "base64 protobuf"
    );
    assert!(task["status"]["mesosStatus"].is_string(), "base64 protobuf");
}

/// DELETE /v2/apps/{id}/tasks[/{taskId}] without `scale`: 1.4.13's `AppTasksResource`
/// writes `Seq[Instance]` with `Instance.instanceJsonWrites`, not the Task JSON its examples
/// (`examples/app_task.json`, `examples/app_tasks.json`) show.
#[tokio::test]
async fn app_task_kills_answer_instances() {
    let h = Harness::start().await;
    h.create(docker_app("/svc/main", 3)).await;
    h.tick(15);
    let ids = h.sim.task_ids("/svc/main");
    let r = h
        .delete(&format!("/v2/apps/svc/main/tasks/{}", ids[0]))
        .await;
    let instance_not_task = [Exception {
        path: "/task",
        why: "AppTasksResource.deleteOne writes one Instance (instanceJsonWrites) under `task`",
    }];
    assert_shape(&example("app_task.json"), &r.body, &instance_not_task);
    assert!(r.body["task"].is_object());
    assert_instance(&r.body["task"], &ids[0]);
    assert_eq!(r.body["task"]["state"]["condition"]["str"], "running");

    let r = h.delete("/v2/apps/svc/main/tasks?host=*").await;
    let instances_not_tasks = [Exception {
        path: "/tasks[]",
        why: "AppTasksResource.deleteMany writes Instances (instanceJsonWrites)",
    }];
    assert_shape(&example("app_tasks.json"), &r.body, &instances_not_tasks);
    let killed = r.body["tasks"].as_array().expect("tasks");
    assert_eq!(
        killed.len(),
        3,
        "the task whose kill is pending is found too"
    );
    for (instance, id) in killed.iter().zip(&ids) {
        assert_instance(instance, id);
    }
}
