//! Benchmark of the pure planner (not a test): N settled instances (one app each, its one
//! task healthy), planned from scratch (`plan`) and then by passes with nothing changed
//! (`plan_with_memo`, every instance reused). Prints each pass's time and the reuse counts.
//!
//! `cargo run --release -p galley-bench --bin bench-plan -- [--instances 50000] [--passes 3]`

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use galley_common::observed::{ObservedApp, ObservedTask};
use galley_coordinator::plan::{
    BounceMethod, CleanupPolicy, Desired, DesiredInstance, DrainKind, HappyParams, Observed,
    PlanMemo, plan, plan_with_memo,
};
use serde_json::json;

/// Arguments.
#[derive(clap::Parser)]
struct Args {
    /// Instances (one service, one app and one task each).
    #[arg(long, default_value_t = 50_000)]
    instances: usize,
    /// Memoized passes to time after the first.
    #[arg(long, default_value_t = 3)]
    passes: usize,
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    let now = Utc::now();
    let desired: Vec<DesiredInstance> = (0..args.instances)
        .map(|i| {
            let app_id = format!("/svc.i{i:06}.git1.config1");
            DesiredInstance {
                service: "svc".into(),
                instance: format!("i{i:06}"),
                app: json!({ "id": app_id }).into(),
                app_id,
                instances: 1,
                bounce_method: BounceMethod::Crossover,
                bounce_margin_factor: 1.0,
                happy: HappyParams::default(),
                drain: DrainKind::Noop,
                hacheck: None,
            }
        })
        .collect();
    let apps: Vec<Arc<ObservedApp>> = desired
        .iter()
        .map(|d| {
            Arc::new(ObservedApp {
                id: d.app_id.clone(),
                instances: 1,
                has_health_checks: true,
                tasks: vec![ObservedTask {
                    id: format!("{}.1", d.app_id.trim_start_matches('/')),
                    host: "slave1".into(),
                    started_at: Some(now - Duration::hours(1)),
                    health_results: vec![true],
                    ..Default::default()
                }],
                ..Default::default()
            })
        })
        .collect();
    let desired = Desired {
        configured: desired
            .iter()
            .map(|d| (d.service.clone(), d.instance.clone()))
            .collect(),
        instances: desired.into_iter().map(std::sync::Arc::new).collect(),
        complete: true,
        ..Desired::default()
    };
    let observed = Observed {
        apps: Arc::new(apps),
        drain: Default::default(),
        now,
    };
    let policy = CleanupPolicy {
        kill_threshold: 1.0,
        force: false,
    };
    let t = Instant::now();
    plan(&desired, &observed, policy);
    println!(
        "{} instances: plan from scratch {:.1} ms",
        args.instances,
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut memo = PlanMemo::new();
    for pass in 0..=args.passes {
        let t = Instant::now();
        plan_with_memo(&desired, &observed, policy, &mut memo);
        println!(
            "memoized pass {pass}: {:.1} ms (reused {}, planned {})",
            t.elapsed().as_secs_f64() * 1e3,
            memo.last_reused,
            memo.last_planned
        );
    }
}
