//! Benchmark of the reconciler (not a test): N service instances (default 10,000: 2,500
//! services × 4 instances, one task each) on the Marathon/Mesos emulator, through the real
//! HTTP clients. Prints the time to converge from an empty Marathon, then the duration of
//! steady-state passes (nothing to do) and how many Marathon list calls each made.
//!
//! `cargo run --release -p galley-bench --bin bench-reconcile -- [--instances 10000]`

use futures::stream as futures_stream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use galley_common::observed::ObservedApp;
use galley_coordinator::apply::ApplyBudget;
use galley_coordinator::marathon::{MarathonApi, MarathonClient, MarathonConfig, MarathonError};
use galley_coordinator::mesos::MesosClient;
use galley_coordinator::plan::CleanupPolicy;
use galley_coordinator::reconciler::{ActivationReason, PassStatus, ReconcileSettings, Reconciler};
use galley_sim::SimClock;
use galley_sim::marathon::{AgentSpec, MarathonSim, MarathonSimConfig};

const INSTANCES_PER_SERVICE: usize = 4;

/// The real client, counting list calls.
struct Counting {
    inner: MarathonClient,
    lists: AtomicUsize,
}

impl MarathonApi for Counting {
    async fn get_app(&self, id: &str) -> Result<Option<ObservedApp>, MarathonError> {
        self.inner.get_app(id).await
    }
    fn events(
        &self,
    ) -> futures_stream::BoxStream<
        'static,
        Result<galley_coordinator::marathon::MarathonEvent, MarathonError>,
    > {
        self.inner.events()
    }
    async fn list_apps(&self) -> Result<Vec<ObservedApp>, MarathonError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_apps().await
    }
    async fn create_app(&self, app: &serde_json::Value) -> Result<(), MarathonError> {
        self.inner.create_app(app).await
    }
    async fn scale_app(&self, id: &str, n: u32, force: bool) -> Result<(), MarathonError> {
        self.inner.scale_app(id, n, force).await
    }
    async fn kill_tasks(
        &self,
        ids: &[String],
        scale: bool,
        force: bool,
    ) -> Result<(), MarathonError> {
        self.inner.kill_tasks(ids, scale, force).await
    }
    async fn delete_app(&self, id: &str) -> Result<(), MarathonError> {
        self.inner.delete_app(id).await
    }
    async fn queue(&self) -> Result<Vec<galley_common::replication::QueueSignal>, MarathonError> {
        self.inner.queue().await
    }
}

/// Arguments.
#[derive(clap::Parser)]
struct Args {
    /// Instances to converge (4 per service).
    #[arg(long, default_value_t = 10_000)]
    instances: usize,
}

fn main() -> anyhow::Result<()> {
    let Args { instances } = <Args as clap::Parser>::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(instances))
}

async fn run(instances: usize) -> anyhow::Result<()> {
    let services = instances.div_ceil(INSTANCES_PER_SERVICE);
    let tmp = tempfile::tempdir()?;
    let soa = tmp.path().join("soa");
    let sys = tmp.path().join("etc-paasta");
    std::fs::create_dir_all(&sys)?;
    std::fs::write(
        sys.join("cluster.json"),
        r#"{"cluster": "bench", "docker_registry": "registry:443", "volumes": []}"#,
    )?;
    let started = Instant::now();
    write_tree(&soa, services)?;
    println!(
        "soa-configs: {services} services × {INSTANCES_PER_SERVICE} instances written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let agents = (0..200)
        .map(|i| {
            AgentSpec::new(&format!("agent{i}"))
                .attribute("region", ["a", "b"][i % 2])
                .attribute("pool", "default")
                .capacity(1000.0, 1_000_000.0)
        })
        .collect();
    let clock = SimClock::virtual_at(chrono::Utc::now());
    let sim = MarathonSim::start(
        MarathonSimConfig::virtual_time()
            .clock(clock.clone())
            .agents(agents),
    )
    .await?;
    let marathon = Arc::new(Counting {
        inner: MarathonClient::new(MarathonConfig {
            url: sim.marathon_url(),
            credentials: None,
            timeout: Duration::from_secs(60),
        }),
        lists: AtomicUsize::new(0),
    });
    let mesos = Arc::new(MesosClient::new(&sim.mesos_url(), Duration::from_secs(60)));
    let settings = ReconcileSettings {
        soa_dir: soa,
        system_config_dir: sys,
        cluster: None,
        interval: Duration::from_secs(30),
        cleanup: CleanupPolicy {
            kill_threshold: 0.5,
            force: false,
        },
        budget: ApplyBudget {
            max_cleanup_deletes: 100,
            max_task_kills: 100_000,
        },
        dry_run: false,
    };
    let mut reconciler = Reconciler::new(marathon.clone(), mesos, settings, Arc::new(|_| {}))
        .with_clock(Arc::new(move || clock.now()));

    let probe_mesos = MesosClient::new(&sim.mesos_url(), Duration::from_secs(5));
    for _ in 0..3 {
        let t = Instant::now();
        marathon.list_apps().await?;
        let list = t.elapsed();
        let t = Instant::now();
        galley_coordinator::mesos::MesosApi::state(&probe_mesos).await?;
        println!(
            "  probe: list_apps {:.2} ms, mesos state {:.2} ms",
            list.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    for i in 0..3 {
        let t = Instant::now();
        marathon.create_app(&serde_json::json!({"id": format!("/probe.p{i}"), "cmd": "sleep 1", "instances": 1, "cpus": 0.1, "mem": 16})).await?;
        let create = t.elapsed();
        let t = Instant::now();
        marathon.delete_app(&format!("/probe.p{i}")).await?;
        println!(
            "  probe: create {:.2} ms, delete {:.2} ms",
            create.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    marathon.lists.store(0, Ordering::SeqCst);
    let started = Instant::now();
    let mut passes = 0;
    loop {
        let record = reconciler.pass(ActivationReason::OnDemand).await;
        passes += 1;
        println!(
            "  pass {passes}: {:?} in {} ms",
            record.status,
            record.duration.as_millis()
        );
        if record.status == PassStatus::UpToDate {
            break;
        }
        anyhow::ensure!(passes < 20, "did not converge");
        sim.tick(Duration::from_secs(5));
    }
    let apps = sim.app_ids().len();
    println!(
        "converged from empty: {apps} apps, {passes} passes, {:.2} s wall (emulator ticks included)",
        started.elapsed().as_secs_f64()
    );

    // Steady state as `serve` runs it: the loop task with its soa-dir watcher (so unchanged
    // desired state is not re-read), passes triggered on demand.
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let handle = reconciler.spawn(stop_rx);
    let mut status = handle.status.clone();
    let mut times = Vec::new();
    let mut last_gen = 0;
    for round in 0..8 {
        let before = marathon.lists.load(Ordering::SeqCst);
        if round > 0 {
            handle.trigger();
        }
        let record = loop {
            status.changed().await?;
            let rec = status.borrow_and_update().clone();
            if let Some(rec) = rec
                && rec.generation > last_gen
            {
                break rec;
            }
        };
        last_gen = record.generation;
        anyhow::ensure!(
            record.status == PassStatus::UpToDate,
            "steady state expected, got {:?}",
            record.status
        );
        let lists = marathon.lists.load(Ordering::SeqCst) - before;
        println!(
            "  steady pass {}: {:.1} ms, {lists} Marathon list call(s)",
            record.generation,
            record.duration.as_secs_f64() * 1e3
        );
        if round > 0 {
            times.push(record.duration.as_secs_f64() * 1e3);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "steady-state pass over {instances} instances: median {:.1} ms, min {:.1} ms",
        times[times.len() / 2],
        times[0]
    );
    sim.shutdown().await;
    Ok(())
}

fn write_tree(soa: &std::path::Path, services: usize) -> anyhow::Result<()> {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    galley_bench::write_soa_tree(soa, "bench", services, INSTANCES_PER_SERVICE, sha)?;
    Ok(())
}
