//! Property test: random create/scale/restart/delete/kill sequences plus ticks keep the
//! cluster's invariants, observed over HTTP.

use std::collections::BTreeMap;

use galley_sim::marathon::{HistoryKind, Outcome};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::harness::{Harness, docker_app};

#[derive(Debug, Clone)]
enum Op {
    Create(usize, u32),
    Scale(usize, u32),
    Restart(usize),
    Delete(usize),
    KillOne(usize, bool),
    Tick(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..4u32).prop_map(|(a, n)| Op::Create(a, n)),
        (0..3usize, 0..5u32).prop_map(|(a, n)| Op::Scale(a, n)),
        (0..3usize).prop_map(Op::Restart),
        (0..3usize).prop_map(Op::Delete),
        (0..3usize, any::<bool>()).prop_map(|(a, s)| Op::KillOne(a, s)),
        (1..40u64).prop_map(Op::Tick),
    ]
}

const APPS: [&str; 3] = ["/p/a", "/p/b", "/q/c"];

async fn check_invariants(h: &Harness) {
    let apps = h.get("/v2/apps?embed=apps.tasks").await.body["apps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let deployments = h
        .get("/v2/deployments")
        .await
        .body
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut per_app: BTreeMap<String, usize> = BTreeMap::new();
    for d in &deployments {
        for a in d["affectedApps"].as_array().into_iter().flatten() {
            *per_app
                .entry(a.as_str().unwrap_or("").to_string())
                .or_default() += 1;
        }
    }
    assert!(
        per_app.values().all(|&n| n <= 1),
        "at most one deployment per app: {per_app:?}"
    );
    for app in &apps {
        let tasks = app["tasks"].as_array().cloned().unwrap_or_default();
        let n = |k: &str| app[k].as_u64().unwrap_or(u64::MAX) as usize;
        assert_eq!(
            n("tasksStaged") + n("tasksRunning"),
            tasks.len(),
            "counts add up"
        );
        assert!(n("tasksHealthy") + n("tasksUnhealthy") <= n("tasksRunning"));
        let alive = |t: &Value| t["healthCheckResults"][0]["alive"] == true;
        assert_eq!(tasks.iter().filter(|t| alive(t)).count(), n("tasksHealthy"));
    }
    let listed: Vec<String> = h.get("/v2/tasks").await.body["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect();
    for e in h.sim.history() {
        if let HistoryKind::TaskEnded { task_id, .. } = e.kind {
            assert!(
                !listed.contains(&task_id),
                "ended task {task_id} still listed"
            );
        }
    }
}

async fn run(ops: Vec<Op>) {
    let h = Harness::start().await;
    h.sim.sim_set_outcome(
        "/q",
        Outcome::CrashAfter {
            after: std::time::Duration::from_secs(25),
        },
    );
    for op in ops {
        match op {
            Op::Create(a, n) => {
                h.post("/v2/apps", docker_app(APPS[a], n)).await;
            }
            Op::Scale(a, n) => {
                h.put(
                    &format!("/v2/apps{}?force=true", APPS[a]),
                    json!({ "instances": n }),
                )
                .await;
            }
            Op::Restart(a) => {
                h.post(
                    &format!("/v2/apps{}/restart?force=true", APPS[a]),
                    json!({}),
                )
                .await;
            }
            Op::Delete(a) => {
                h.delete(&format!("/v2/apps{}", APPS[a])).await;
            }
            Op::KillOne(a, scale) => {
                if let Some(t) = h.sim.task_ids(APPS[a]).first() {
                    h.post(
                        &format!("/v2/tasks/delete?scale={scale}&force=true"),
                        json!({ "ids": [t] }),
                    )
                    .await;
                }
            }
            Op::Tick(s) => h.tick(s),
        }
        check_invariants(&h).await;
    }
    // Healthy apps converge: every deployment of /p apps finishes.
    h.tick(120);
    let deployments = h.get("/v2/deployments").await.body;
    for d in deployments.as_array().into_iter().flatten() {
        let apps = d["affectedApps"].as_array().cloned().unwrap_or_default();
        assert!(
            apps.iter()
                .all(|a| a.as_str().is_some_and(|a| a.starts_with("/q"))),
            "stuck deployment {d}"
        );
    }
    for id in ["/p/a", "/p/b"] {
        let r = h.get(&format!("/v2/apps{id}")).await;
        if r.status == 200 {
            let app = &r.body["app"];
            assert_eq!(app["tasksHealthy"], app["instances"], "{id} converged");
        }
    }
    h.sim.shutdown().await;
}

/// `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    // 32 cases in CI; `PROPTEST_CASES=10000` for a long run.
    #![proptest_config(ProptestConfig { cases: cases(32), ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_invariants(ops in proptest::collection::vec(op(), 1..12)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(run(ops));
    }
}

/// The case the property test found (CI, issue 14): a forced scale over a running restart
/// deployment. The restart is cancelled with a task of the old version still running; the
/// scale must finish once the instances it started are ready (Marathon 1.4's
/// `TaskStartActor`), not wait for every task to be of the new version.
#[tokio::test]
async fn forced_scale_over_a_running_restart_finishes() {
    run(vec![Op::Create(0, 1), Op::Restart(0), Op::Scale(0, 2)]).await;
}

/// The same with ticks between the calls, so the restart has launched its new task.
#[tokio::test]
async fn forced_scale_over_a_half_done_restart_finishes() {
    run(vec![
        Op::Create(0, 1),
        Op::Tick(30),
        Op::Restart(0),
        Op::Tick(2),
        Op::Scale(0, 2),
    ])
    .await;
}
