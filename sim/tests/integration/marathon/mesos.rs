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
