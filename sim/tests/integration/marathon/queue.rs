//! The launch queue's offer statistics and role-aware placement, as Marathon 1.4.13 keeps and
//! writes them.

use galley_sim::marathon::{AgentSpec, MarathonSimConfig, default_agents};
use serde_json::{Value, json};

use super::harness::{Harness, cmd_app};

/// The `declined` count of one reason in a reject summary.
fn declined(summary: &Value, list: &str, reason: &str) -> u64 {
    summary[list]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["reason"] == reason)
        .and_then(|s| s["declined"].as_u64())
        .unwrap_or(0)
}

/// Follows `core/launchqueue/impl/OfferMatchStatisticsActor.scala` (statistics per launch
/// attempt, last declined offer per agent, funnel reason per offer) and
/// `raml/QueueInfoConversion.scala` (the summaries and timestamps written).
#[tokio::test]
async fn an_app_no_agent_can_take_is_declined_for_its_reasons() {
    let h = Harness::start().await;
    let mut app = cmd_app("/big", 2);
    app["cpus"] = json!(16);
    h.create(app).await;
    h.tick(3);
    let q = h.get("/v2/queue").await.body;
    let item = &q["queue"][0];
    assert_eq!(item["app"]["id"], "/big");
    assert_eq!(item["count"], 2);
    let s = &item["processedOffersSummary"];
    assert_eq!(
        declined(s, "rejectSummaryLastOffers", "InsufficientCpus"),
        4
    );
    assert_eq!(
        declined(s, "rejectSummaryLastOffers", "InsufficientMemory"),
        0
    );
    let attempt = declined(s, "rejectSummaryLaunchAttempt", "InsufficientCpus");
    assert!(attempt >= 8, "one offer per agent per round: {attempt}");
    assert_eq!(s["processedOffersCount"], s["unusedOffersCount"]);
    assert!(s["lastUnusedOfferAt"].is_string() && s.get("lastUsedOfferAt").is_none());

    // Room on one agent: one task launches, the other keeps being declined; the statistics
    // live on with the queue entry.
    h.sim
        .sim_set_agent_capacity("mesos-agent-1.uswest1-prod", 20.0, 16384.0);
    h.tick(1);
    let q = h.get("/v2/queue").await.body;
    let s = &q["queue"][0]["processedOffersSummary"];
    assert_eq!(q["queue"][0]["count"], 1);
    assert!(s["lastUsedOfferAt"].is_string());
    assert_eq!(
        declined(s, "rejectSummaryLastOffers", "InsufficientCpus"),
        4
    );
    // Scaled down to what runs: the scale check kills nothing, nothing waits, no item.
    h.put("/v2/apps/big?force=true", json!({ "instances": 1 }))
        .await;
    h.tick(2);
    assert_eq!(h.get("/v2/queue").await.body, json!({ "queue": [] }));
}

/// Constraints decline offers as UnfulfilledConstraint, ahead of resources in the funnel
/// (`mesos/NoOfferMatchReason.scala`, `reasonFunnel`; `mesos/ResourceMatcher.scala`).
#[tokio::test]
async fn constraints_come_first_in_the_funnel() {
    let h = Harness::start().await;
    let mut app = cmd_app("/uniq", 5);
    app["constraints"] = json!([["hostname", "UNIQUE"]]);
    h.create(app).await;
    h.tick(2);
    let q = h.get("/v2/queue?embed=lastUnusedOffers").await.body;
    let item = &q["queue"][0];
    let s = &item["processedOffersSummary"];
    assert_eq!(
        declined(s, "rejectSummaryLastOffers", "UnfulfilledConstraint"),
        4
    );
    let offer = &item["lastUnusedOffers"][0];
    assert_eq!(offer["reason"], json!(["UnfulfilledConstraint"]));
    assert!(
        offer["offer"]["resources"]
            .as_array()
            .is_some_and(|r| r.len() == 4)
    );
    assert_eq!(offer["offer"]["attributes"][0]["name"], "habitat");
}

/// `QueueInfoConversion` delay: `clock.now() until backOffUntil` in whole seconds, overdue
/// once negative; a launcher without a delay started with `backOffUntil = now`
/// (`TaskLauncherActor.replyWithQueuedInstanceCount`).
#[tokio::test]
async fn an_undelayed_launcher_is_overdue_a_second_after_it_started() {
    let h = Harness::start().await;
    let mut app = cmd_app("/big", 1);
    app["cpus"] = json!(16);
    h.create(app).await;
    let q = h.get("/v2/queue").await.body;
    assert_eq!(
        q["queue"][0]["delay"],
        json!({ "timeLeftSeconds": 0, "overdue": false })
    );
    h.tick(2);
    let q = h.get("/v2/queue").await.body;
    assert_eq!(
        q["queue"][0]["delay"],
        json!({ "timeLeftSeconds": 0, "overdue": true })
    );
}

/// Apps accepting only a role take only resources reserved for it, and only when Marathon is
/// registered with that role (`mesos/ResourceMatcher.scala`: `ResourceSelector` over the
/// offer's resources, `UnfulfilledRole` when none has an accepted role;
/// `MarathonConf.defaultAcceptedResourceRolesSet`).
#[tokio::test]
async fn accepted_resource_roles_wait_for_their_role() {
    let h = Harness::start().await;
    let mut app = cmd_app("/roled", 1);
    app["acceptedResourceRoles"] = json!(["some_role"]);
    h.create(app).await;
    h.tick(5);
    assert_eq!(h.sim.task_ids("/roled"), Vec::<String>::new());
    let q = h.get("/v2/queue").await.body;
    let s = &q["queue"][0]["processedOffersSummary"];
    assert_eq!(declined(s, "rejectSummaryLastOffers", "UnfulfilledRole"), 4);

    let mut agents = default_agents(3);
    agents.push(AgentSpec::new("reserved-1").reserve("some_role", 1.0, 256.0));
    let h = Harness::with(
        MarathonSimConfig::virtual_time()
            .agents(agents)
            .mesos_role("some_role"),
    )
    .await;
    let mut app = cmd_app("/roled", 3);
    app["acceptedResourceRoles"] = json!(["some_role"]);
    app["cpus"] = json!(0.5);
    h.create(app).await;
    h.tick(3);
    let tasks = h.get("/v2/apps/roled/tasks").await.body["tasks"].clone();
    let hosts: Vec<&str> = tasks
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["host"].as_str())
        .collect();
    assert_eq!(
        hosts,
        ["reserved-1", "reserved-1"],
        "the reservation holds two"
    );
    let q = h.get("/v2/queue").await.body;
    let s = &q["queue"][0]["processedOffersSummary"];
    assert_eq!(declined(s, "rejectSummaryLastOffers", "UnfulfilledRole"), 3);
    assert_eq!(
        declined(s, "rejectSummaryLastOffers", "InsufficientCpus"),
        1
    );
    // Apps without roles take `*` and Marathon's role.
    h.create(cmd_app("/plain", 4)).await;
    h.tick(3);
    assert_eq!(h.sim.app_counts("/plain").map(|c| c.running), Some(4));
    let state = h.get("/master/slaves").await.body;
    let reserved = state["slaves"]
        .as_array()
        .expect("slaves")
        .iter()
        .find(|s| s["hostname"] == "reserved-1")
        .map(|s| s["reserved_resources"]["some_role"]["cpus"].clone());
    assert_eq!(reserved, Some(json!(1.0)));
}
