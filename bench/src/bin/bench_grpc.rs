//! `bench-grpc`: latency of the operator API's read RPCs over a synthetic 10,000-instance
//! cluster, through a real tonic server and client on loopback. The view is built from a
//! synthetic pass record (no emulator); prints the view build time and p50/p99/max per RPC.
//!
//! `cargo run --release -p galley-bench --bin bench-grpc -- [--instances 10000] [--iterations 200]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Parser;
use galley_common::bounce_methods::BounceMethod;
use galley_common::observed::{ObservedApp, ObservedTask};
use galley_coordinator::deploy_log::{DeployLog, DeployLogConfig};
use galley_coordinator::election::Leadership;
use galley_coordinator::grpc::view::ViewBuilder;
use galley_coordinator::grpc::{OperatorDeps, OperatorService};
use galley_coordinator::marathon::{MarathonClient, MarathonConfig};
use galley_coordinator::mesos::MesosClient;
use galley_coordinator::plan::{
    CleanupPolicy, DesiredInstance, DrainKind, HappyParams, InstancePlan,
};
use galley_coordinator::reconciler::{
    ActivationReason, PassRecord, PassSnapshot, PassStatus, ReconcileSettings, Reconciler,
};
use galley_coordinator::server::{self, Services};
use galley_proto::v1 as pb;
use galley_proto::v1::coordinator_service_client::CoordinatorServiceClient;

#[derive(Parser)]
struct Args {
    /// Instances in the synthetic cluster.
    #[arg(long, default_value_t = 10_000)]
    instances: usize,
    /// Calls per RPC.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
}

fn synthetic(n: usize) -> PassRecord {
    let mut snap = PassSnapshot::default();
    let now = Utc::now();
    for i in 0..n {
        let (service, instance) = (format!("svc{:04}", i / 10), format!("inst{}", i % 10));
        let sha = format!("{:040x}", i);
        let app_id = format!("/{service}.{instance}.git{}.config{:08x}", &sha[..8], i);
        let desired = DesiredInstance {
            service: service.clone(),
            instance: instance.clone(),
            app_id: app_id.clone(),
            app: serde_json::json!({"container": {"docker": {"image": format!("r/services-{service}:paasta-{sha}")}}}).into(),
            instances: 3,
            bounce_method: BounceMethod::Crossover,
            bounce_margin_factor: 1.0,
            happy: HappyParams::default(),
            drain: DrainKind::Noop,
            hacheck: None,
        };
        let tasks = (0..3)
            .map(|t| ObservedTask {
                id: format!("{}.{t}", app_id.trim_start_matches('/')),
                host: format!("host{}", (i + t) % 500),
                ports: vec![31000 + t as u16],
                state: Some("TASK_RUNNING".into()),
                staged_at: Some(now - chrono::Duration::hours(1)),
                started_at: Some(now - chrono::Duration::hours(1)),
                health_results: vec![true],
            })
            .collect();
        std::sync::Arc::make_mut(&mut snap.apps).push(std::sync::Arc::new(ObservedApp {
            id: app_id.clone(),
            instances: 3,
            has_health_checks: true,
            tasks,
            tasks_running: 3,
            tasks_healthy: 3,
            ..Default::default()
        }));
        let report = std::sync::Arc::make_mut(&mut snap.desired);
        report
            .desired
            .configured
            .insert((service.clone(), instance.clone()));
        report.desired.instances.push(desired.into());
        snap.plan.instances.push(std::sync::Arc::new(InstancePlan {
            service,
            instance,
            app_id,
            bounce_method: Some(BounceMethod::Crossover),
            ..Default::default()
        }));
    }
    std::sync::Arc::make_mut(&mut snap.desired).desired.complete = true;
    PassRecord {
        generation: 1,
        reason: ActivationReason::Startup,
        started_at: now,
        duration: Duration::from_millis(100),
        status: PassStatus::UpToDate,
        snapshot: Arc::new(snap),
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<34} n={:<4} p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        samples.len(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let record = synthetic(args.instances);
    let t = Instant::now();
    let view = ViewBuilder::new("bench").build(&record);
    println!(
        "view of {} instances / {} apps built in {:.1} ms",
        view.len(),
        record.snapshot.apps.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let (_view_tx, view_rx) = tokio::sync::watch::channel(Arc::new(view));

    // A reconciler is needed for its handle only: it points nowhere and never runs a pass
    // that matters (the view above is fixed).
    let dir = tempfile::tempdir()?;
    let settings = ReconcileSettings {
        soa_dir: dir.path().into(),
        system_config_dir: dir.path().join("none"),
        cluster: Some("bench".into()),
        interval: Duration::from_secs(3600),
        cleanup: CleanupPolicy {
            kill_threshold: 0.5,
            force: false,
        },
        budget: galley_coordinator::apply::ApplyBudget {
            max_cleanup_deletes: 0,
            max_task_kills: 0,
        },
        dry_run: true,
    };
    let marathon = MarathonClient::new(MarathonConfig {
        url: "http://127.0.0.1:9".into(),
        credentials: None,
        timeout: Duration::from_secs(1),
    });
    let mesos = MesosClient::new("http://127.0.0.1:9", Duration::from_secs(1));
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let handle = Reconciler::new(
        Arc::new(marathon),
        Arc::new(mesos),
        settings,
        Arc::new(|_| {}),
    )
    .spawn(stop_rx);
    let deps = OperatorDeps {
        cluster: "bench".into(),
        reconciler: handle,
        deploy_log: Arc::new(DeployLog::new(DeployLogConfig {
            path_format: None,
            recent_capacity: 1000,
            broadcast_capacity: 16,
        })),
        leadership: tokio::sync::watch::channel(Leadership::sole("bench", 1)).1,
        agents: None,
        reaper: None,
        marathon_view: None,
    };
    let operator = OperatorService::with_view(deps, view_rx);
    let listener = server::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(server::serve(
        listener,
        Services::operator_only(operator),
        std::future::pending(),
    ));
    let mut client = CoordinatorServiceClient::connect(format!("http://{addr}"))
        .await
        .context("connect")?
        .max_decoding_message_size(64 * 1024 * 1024);

    let n = args.iterations;
    macro_rules! bench {
        ($name:expr, $iters:expr, $call:expr) => {{
            let mut samples = Vec::with_capacity($iters);
            for _ in 0..$iters {
                let t = Instant::now();
                let _ = $call.await?;
                samples.push(t.elapsed());
            }
            report($name, samples);
        }};
    }
    bench!("GetStatus", n, client.get_status(pb::GetStatusRequest {}));
    bench!(
        "GetInstance",
        n,
        client.get_instance(pb::GetInstanceRequest {
            service: "svc0500".into(),
            instance: "inst5".into()
        })
    );
    bench!(
        "ListInstances (service filter)",
        n,
        client.list_instances(pb::ListInstancesRequest {
            service: "svc0999".into(),
            ..Default::default()
        })
    );
    bench!(
        "ListInstances (page of 1000)",
        n,
        client.list_instances(pb::ListInstancesRequest {
            page_size: 1000,
            ..Default::default()
        })
    );
    bench!(
        "ListInstances (all 10000, one page)",
        n / 4,
        client.list_instances(pb::ListInstancesRequest {
            page_size: 10_000,
            ..Default::default()
        })
    );
    bench!(
        "GetReplication (all)",
        n / 4,
        client.get_replication(pb::GetReplicationRequest::default())
    );
    bench!("GetPlan", n / 4, client.get_plan(pb::GetPlanRequest {}));
    bench!(
        "ListEvents",
        n,
        client.list_events(pb::ListEventsRequest::default())
    );
    Ok(())
}
