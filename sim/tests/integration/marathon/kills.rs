//! Task kills as Marathon 1.4.13 handles them: a killed task stays an instance until Mesos
//! confirms the kill, so it still counts for the scale check and for placement, and the kill
//! endpoints still find it.

use std::collections::BTreeMap;
use std::time::Duration;

use galley_sim::marathon::{HistoryKind, MarathonSimConfig, Timing};
use serde_json::json;

use super::harness::{Harness, cmd_app};

/// Kills take 5 s to be confirmed.
async fn slow_kills() -> Harness {
    let timing = Timing {
        kill: Duration::from_secs(5),
        ..Timing::standard()
    };
    Harness::with(MarathonSimConfig::virtual_time().timing(timing)).await
}

/// Launches recorded for an app.
fn launches(h: &Harness, app: &str) -> Vec<(String, String)> {
    h.sim
        .history()
        .into_iter()
        .filter_map(|e| match e.kind {
            HistoryKind::TaskLaunched {
                app_id,
                task_id,
                host,
                ..
            } if app_id == app => Some((task_id, host)),
            _ => None,
        })
        .collect()
}

/// `MarathonSchedulerActor.scale` with `upgrade/ScalingProposition.scala`: instances being
/// killed count as running, so the replacement is queued once Mesos confirms the kill.
#[tokio::test]
async fn a_killed_task_is_replaced_only_after_mesos_confirms_the_kill() {
    let h = slow_kills().await;
    h.create(cmd_app("/web", 2)).await;
    h.settle(5);
    let victim = h.sim.task_ids("/web")[0].clone();
    let r = h.delete(&format!("/v2/apps/web/tasks/{victim}")).await;
    assert_eq!(r.status, 200);
    for _ in 0..4 {
        h.tick(1);
        assert_eq!(
            launches(&h, "/web").len(),
            2,
            "no replacement before TASK_KILLED"
        );
        assert!(h.sim.task_ids("/web").contains(&victim));
        let q = h.get("/v2/queue").await.body;
        assert_eq!(
            q,
            json!({ "queue": [] }),
            "nothing queued while the kill is pending"
        );
    }
    h.tick(1);
    assert!(
        !h.sim.task_ids("/web").contains(&victim),
        "expunged on TASK_KILLED"
    );
    assert_eq!(launches(&h, "/web").len(), 3, "replaced once killed");
}

/// `mesos/ResourceMatcher.scala` (`meetsAllConstraints` over every instance of the current
/// config, kills pending included): `hostname:UNIQUE` never has two tasks on one host, not
/// even while a killed task waits for its confirmation.
#[tokio::test]
async fn unique_hosts_hold_while_kills_are_pending() {
    let h = slow_kills().await;
    let mut app = cmd_app("/uniq", 4);
    app["constraints"] = json!([["hostname", "UNIQUE"]]);
    h.create(app).await;
    h.settle(5);
    let before = h.sim.task_ids("/uniq");
    for t in &before[..2] {
        h.delete(&format!("/v2/apps/uniq/tasks/{t}")).await;
    }
    h.tick(8);
    assert_eq!(h.sim.app_counts("/uniq").map(|c| c.running), Some(4));
    // Replay the history: active tasks per host never exceed one.
    let mut per_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut host_of: BTreeMap<String, String> = BTreeMap::new();
    for e in h.sim.history() {
        match e.kind {
            HistoryKind::TaskLaunched { task_id, host, .. } => {
                let on = per_host.entry(host.clone()).or_default();
                on.push(task_id.clone());
                assert!(on.len() <= 1, "two tasks on {host} at {}: {on:?}", e.at);
                host_of.insert(task_id, host);
            }
            HistoryKind::TaskEnded { task_id, .. } => {
                if let Some(on) = host_of.get(&task_id).and_then(|h| per_host.get_mut(h)) {
                    on.retain(|t| *t != task_id);
                }
            }
            _ => {}
        }
    }
}

/// `api/TaskKiller.scala`: `kill` answers every instance found, kills pending included
/// (`AppTasksResource.deleteOne`, 200 not 404); `killAndScale` lowers the instances by the
/// found instances not already being killed, so a task whose kill is pending gives a
/// deployment that changes nothing (`upgrade/DeploymentPlan.scala`: no action).
#[tokio::test]
async fn kills_of_a_task_being_killed_find_it() {
    let h = slow_kills().await;
    h.create(cmd_app("/web", 3)).await;
    h.settle(5);
    let victim = h.sim.task_ids("/web")[0].clone();
    assert_eq!(
        h.delete(&format!("/v2/apps/web/tasks/{victim}"))
            .await
            .status,
        200
    );
    let again = h.delete(&format!("/v2/apps/web/tasks/{victim}")).await;
    assert_eq!(again.status, 200);
    assert!(again.body["task"]["tasksMap"].get(&victim).is_some());
    let r = h
        .delete(&format!("/v2/apps/web/tasks/{victim}?scale=true"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("Marathon-Deployment-Id").is_some());
    assert!(r.body["deploymentId"].is_string() && r.body["version"].is_string());
    let app = h.get("/v2/apps/web").await.body["app"].clone();
    assert_eq!(app["instances"], 3, "nothing to scale down");
    let listed: Vec<&str> = app["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(
        listed.contains(&victim.as_str()),
        "still listed until TASK_KILLED"
    );
    let r = h
        .post("/v2/tasks/delete?scale=true", json!({ "ids": [victim] }))
        .await;
    assert_eq!(r.status, 200);
    h.tick(1);
    assert_eq!(
        h.sim.deployment_count(),
        0,
        "deployments without steps end at once"
    );

    // A live task killed with scale lowers the instances.
    let other = h.sim.task_ids("/web")[1].clone();
    let r = h
        .delete(&format!("/v2/apps/web/tasks/{other}?scale=true"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(h.get("/v2/apps/web").await.body["app"]["instances"], 2);
}

/// `TaskKiller.killAndScale` on an app without instances: `PathNotFoundException` (404
/// "Path ... does not exist", `api/MarathonExceptionMapper.scala`); without `scale`, the
/// unknown app is `AppTasksResource`'s `unknownApp`.
#[tokio::test]
async fn kill_and_scale_of_an_app_without_tasks_is_404() {
    let h = Harness::start().await;
    h.create(cmd_app("/empty", 0)).await;
    let r = h.delete("/v2/apps/empty/tasks?scale=true").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({ "message": "Path '/empty' does not exist" }))
    );
    let r = h.delete("/v2/apps/nope/tasks").await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, json!({ "message": "App '/nope' does not exist" }))
    );
    let r = h.delete("/v2/apps/empty/tasks").await;
    assert_eq!((r.status, r.body.clone()), (200, json!({ "tasks": [] })));
}
