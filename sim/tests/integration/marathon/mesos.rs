//! Mesos master endpoints over the simulated cluster (spec §3.1).

use galley_sim::marathon::MesosLeadership;
use serde_json::json;

use super::harness::{Harness, cmd_app};

#[tokio::test]
async fn master_state_lists_agents_framework_and_tasks() {
    let h = Harness::start().await;
    h.create(cmd_app("/web", 2)).await;
    h.tick(2);
    let container = h
        .sim
        .sim_add_foreign_task("mesos-agent-1.uswest1-prod", "lost_app.1234")
        .expect("agent exists");
    for path in ["/master/state", "/master/state.json", "/state"] {
        let r = h.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        let s = &r.body;
        for key in [
            "version",
            "id",
            "pid",
            "hostname",
            "leader",
            "leader_info",
            "slaves",
            "frameworks",
            "orphan_tasks",
            "activated_slaves",
        ] {
            assert!(s.get(key).is_some(), "{path}: {key}");
        }
        assert_eq!(s["slaves"].as_array().map(Vec::len), Some(4));
        assert_eq!(s["slaves"][0]["attributes"]["pool"], "default");
        let fw = &s["frameworks"][0];
        assert_eq!(fw["name"], "marathon");
        let tasks = fw["tasks"].as_array().expect("tasks");
        assert_eq!(tasks.len(), 3, "two marathon tasks and one Mesos-only task");
        let t = &tasks[0];
        assert_eq!(t["state"], "TASK_RUNNING");
        assert_eq!(t["framework_id"], fw["id"]);
        assert!(
            t["statuses"][0]["container_status"]["container_id"]["value"]
                .as_str()
                .is_some_and(|c| c.len() == 36)
        );
        assert_eq!(
            tasks[2]["statuses"][0]["container_status"]["container_id"]["value"],
            json!(container)
        );
    }
    let marathon_ids: Vec<String> = h.get("/v2/tasks").await.body["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        !marathon_ids.contains(&"lost_app.1234".to_string()),
        "unknown to Marathon"
    );
    let slaves = h.get("/master/slaves").await.body;
    assert!(
        slaves["slaves"][0]["used_resources"]["cpus"]
            .as_f64()
            .is_some()
    );
    let r = h.get("/master/state?jsonp=cb").await;
    assert!(r.text.starts_with("cb({") && r.text.ends_with(");"));
}

#[tokio::test]
async fn non_leading_master_redirects_and_no_leader_is_503() {
    let h = Harness::start().await;
    h.sim.sim_set_mesos_leadership(MesosLeadership::Follower {
        host: "mesos-master-2".into(),
        port: 5050,
    });
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .get(format!("{}/master/state", h.sim.mesos_url()))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"],
        "//mesos-master-2:5050/master/state"
    );
    let r = client
        .get(format!("{}/state", h.sim.mesos_url()))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        r.headers()["location"],
        "//mesos-master-2:5050/master/state"
    );
    h.put("/_sim/mesos-leader", json!({ "mode": "no_leader" }))
        .await;
    assert_eq!(h.get("/master/state").await.status, 503);
    h.put("/_sim/mesos-leader", json!({ "mode": "leading" }))
        .await;
    assert_eq!(h.get("/master/state").await.status, 200);
}

#[tokio::test]
async fn a_partial_or_stale_master_leaves_slaves_out_or_answers_old_state() {
    let h = Harness::start().await;
    h.create(cmd_app("/web", 4)).await;
    h.tick(2);
    let slaves = |b: &serde_json::Value| -> Vec<String> {
        b["slaves"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["hostname"].as_str().map(str::to_owned))
            .collect()
    };
    // The slave of a task, to hide.
    let id = h.get("/master/tasks").await.body["tasks"][0]["slave_id"]
        .as_str()
        .expect("a task")
        .to_owned();
    let all = h.get("/master/slaves").await.body;
    let host = all["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == id.as_str())
        .and_then(|s| s["hostname"].as_str())
        .expect("the task's slave")
        .to_owned();
    let r = h
        .put("/_sim/mesos-view", json!({"hide": [host], "freeze": false}))
        .await;
    assert_eq!(r.status, 200);
    let state = h.get("/master/state").await.body;
    assert_eq!(slaves(&state).len(), 3, "{state}");
    assert!(!slaves(&state).contains(&host));
    let hidden_id = h.get("/master/slaves").await.body["slaves"].clone();
    assert_eq!(hidden_id.as_array().map(Vec::len), Some(3));
    let tasks = h.get("/master/tasks").await.body["tasks"].clone();
    let on_host = tasks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["slave_id"] == id.as_str())
        .count();
    assert_eq!(on_host, 0, "the hidden slave's tasks are left out: {tasks}");
    // Stale: the answer stays as it was when frozen.
    h.put("/_sim/mesos-view", json!({"freeze": true})).await;
    let before = h.get("/master/tasks").await.body["tasks"]
        .as_array()
        .map(Vec::len);
    h.create(cmd_app("/api", 2)).await;
    h.tick(2);
    assert_eq!(
        h.get("/master/tasks").await.body["tasks"]
            .as_array()
            .map(Vec::len),
        before
    );
    assert_eq!(h.delete("/_sim/mesos-view").await.status, 200);
    assert_eq!(
        h.get("/master/tasks").await.body["tasks"]
            .as_array()
            .map(Vec::len),
        before.map(|n| n + 2)
    );
}

#[tokio::test]
async fn the_request_log_names_who_asked_and_how_it_was_answered() {
    let h = Harness::start().await;
    h.get("/v2/apps").await; // not recorded: the log is off until asked for
    assert_eq!(
        h.put("/_sim/requests", json!({"record": true}))
            .await
            .status,
        200
    );
    let resp = h
        .http
        .post(format!("{}/v2/apps", h.sim.marathon_url()))
        .basic_auth("c2", Some("x"))
        .header("Content-Type", "application/json")
        .body(cmd_app("/web", 1).to_string())
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status().as_u16(), 201);
    h.get("/master/state").await;
    h.post(
        "/_sim/faults",
        json!({"path_prefix": "/v2/apps", "kind": {"status": {"status": 503, "message": "x"}}, "count": 1}),
    )
    .await;
    assert_eq!(h.get("/v2/apps").await.status, 503);
    let log = h.get("/_sim/requests").await.body["requests"].clone();
    let log = log.as_array().expect("requests");
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(
        (&log[0]["method"], &log[0]["user"], &log[0]["status"]),
        (&json!("POST"), &json!("c2"), &json!(201))
    );
    assert_eq!(log[0]["ids"], json!(["/web"]));
    assert_eq!(
        (&log[1]["target"], &log[1]["path"]),
        (&json!("mesos"), &json!("/master/state"))
    );
    assert_eq!(
        (&log[2]["status"], &log[2]["fault"]),
        (&json!(503), &json!(true))
    );
    assert!(log[2]["user"].is_null());
}
