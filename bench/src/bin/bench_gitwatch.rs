//! Benchmark of the git watch (not a test). Over N services (default 2,000), each a local bare
//! repository with ~20 refs and 3 clusters × 2 instances, it measures:
//! 1. the CPU time and wall time of one poll round when no repository changed;
//! 2. the latency from a deploy tag written into a repository to the Marathon app POST, with
//!    the webhook and with polling at the default 10 s interval, through the real reconciler
//!    (cluster `norcal-prod`) against an in-process Marathon that records its POSTs.
//!
//! `cargo run --release -p galley-bench --bin bench-gitwatch -- [--services N] [--trials T]`
//!
//! Fixtures are kept under `target/bench-fixtures/gitwatch-N/` and reused.

use futures::stream as futures_stream;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use galley_common::observed::{MesosSlave, MesosState, ObservedApp, ObservedTask};
use galley_coordinator::apply::ApplyBudget;
use galley_coordinator::atomic::Durability;
use galley_coordinator::generate::GenerateOptions;
use galley_coordinator::git::Git2Source;
use galley_coordinator::gitwatch::webhook::{SIGNATURE_HEADER, WEBHOOK_PATH, sign};
use galley_coordinator::gitwatch::{GitWatchSettings, Watcher, WebhookSettings, spawn_git_watch};
use galley_coordinator::marathon::{MarathonApi, MarathonError};
use galley_coordinator::mesos::{MesosApi, MesosError};
use galley_coordinator::plan::CleanupPolicy;
use galley_coordinator::reconciler::{ReconcileSettings, Reconciler};
use git2::{Oid, Repository, Signature};
use tokio::time::Instant;

const CLUSTERS: [&str; 3] = ["norcal-prod", "nova-prod", "pnw-devc"];
const INSTANCES: [&str; 2] = ["main", "canary"];
const SECRET: &[u8] = b"bench-secret";

/// Marathon in memory: apps become fully running at once; every POST is timestamped.
#[derive(Default)]
struct FakeMarathon {
    apps: Mutex<BTreeMap<String, ObservedApp>>,
    posts: Mutex<Vec<(String, Instant)>>,
}

impl FakeMarathon {
    fn posted_since(&self, prefix: &str, since: Instant) -> Option<Instant> {
        let posts = self.posts.lock().expect("lock");
        posts
            .iter()
            .find(|(id, at)| id.starts_with(prefix) && *at >= since)
            .map(|(_, at)| *at)
    }
}

fn running(id: &str, n: u32) -> ObservedApp {
    let started = chrono::Utc::now() - chrono::Duration::hours(1);
    let tasks = (0..n)
        .map(|k| ObservedTask {
            id: format!("{}.{k}", id.trim_start_matches('/')),
            host: format!("slave{}.example.com", k % 4),
            ports: vec![31000 + k as u16],
            state: Some("TASK_RUNNING".into()),
            staged_at: Some(started),
            started_at: Some(started),
            health_results: vec![],
        })
        .collect();
    ObservedApp {
        id: id.to_string(),
        instances: n,
        tasks,
        tasks_running: n,
        ..Default::default()
    }
}

impl MarathonApi for FakeMarathon {
    async fn get_app(&self, id: &str) -> Result<Option<ObservedApp>, MarathonError> {
        Ok(self.apps.lock().expect("lock").get(id).cloned())
    }
    fn events(
        &self,
    ) -> futures_stream::BoxStream<
        'static,
        Result<galley_coordinator::marathon::MarathonEvent, MarathonError>,
    > {
        Box::pin(futures_stream::pending())
    }
    async fn list_apps(&self) -> Result<Vec<ObservedApp>, MarathonError> {
        Ok(self.apps.lock().expect("lock").values().cloned().collect())
    }
    async fn create_app(&self, app: &serde_json::Value) -> Result<(), MarathonError> {
        let id = format!(
            "/{}",
            app["id"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
        );
        let n = app["instances"].as_u64().unwrap_or(1) as u32;
        self.posts
            .lock()
            .expect("lock")
            .push((id.clone(), Instant::now()));
        self.apps
            .lock()
            .expect("lock")
            .insert(id.clone(), running(&id, n));
        Ok(())
    }
    async fn scale_app(&self, id: &str, n: u32, _: bool) -> Result<(), MarathonError> {
        let mut apps = self.apps.lock().expect("lock");
        if apps.contains_key(id) {
            apps.insert(id.to_string(), running(id, n));
        }
        Ok(())
    }
    async fn kill_tasks(&self, ids: &[String], _: bool, _: bool) -> Result<(), MarathonError> {
        let mut apps = self.apps.lock().expect("lock");
        for app in apps.values_mut() {
            app.tasks.retain(|t| !ids.contains(&t.id));
            app.tasks_running = app.tasks.len() as u32;
        }
        Ok(())
    }
    async fn delete_app(&self, id: &str) -> Result<(), MarathonError> {
        self.apps.lock().expect("lock").remove(id);
        Ok(())
    }
    async fn queue(&self) -> Result<Vec<galley_common::replication::QueueSignal>, MarathonError> {
        Ok(Vec::new())
    }
}

struct FakeMesos;

impl MesosApi for FakeMesos {
    async fn state(&self) -> Result<MesosState, MesosError> {
        let slaves = (0..4)
            .map(|k| MesosSlave {
                id: format!("s{k}"),
                hostname: format!("slave{k}.example.com"),
                attributes: [("region".to_string(), "uswest1".to_string())].into(),
            })
            .collect();
        Ok(MesosState {
            slaves,
            ..Default::default()
        })
    }
}

/// Arguments.
#[derive(clap::Parser)]
struct Args {
    /// Services (repositories) in the fixture.
    #[arg(long, default_value_t = 2000)]
    services: usize,
    /// Trials of each measurement.
    #[arg(long, default_value_t = 3)]
    trials: usize,
}

fn main() -> anyhow::Result<()> {
    let Args { services, trials } = <Args as clap::Parser>::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let root = galley_bench::fixtures_dir(&format!("gitwatch-{services}"));
    build_fixture(&root, services)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(&root, services, trials))
}

fn settings(root: &Path, interval: Duration) -> GitWatchSettings {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    GitWatchSettings {
        generate: GenerateOptions {
            soa_dir: root.join("soa"),
            services: vec![],
            jobs: cores * 4,
            legacy_branches: false,
            durability: Durability::NoFsync,
            stamps: false,
        },
        poll_interval: interval,
        unreachable_alert_after: Duration::from_secs(300),
    }
}

async fn run(root: &Path, services: usize, trials: usize) -> anyhow::Result<()> {
    // 1. Poll rounds over unchanged repositories.
    let git = Arc::new(Git2Source::new(Duration::from_secs(30)));
    let watcher = Arc::new(Watcher::new(
        settings(root, Duration::from_secs(10)),
        git.clone(),
        Arc::new(|| {}),
        None,
    ));
    let first = watcher.poll_round().await?;
    println!(
        "first round: {} services in {:.3} s ({} written)",
        first.services,
        first.elapsed.as_secs_f64(),
        first.written
    );
    let mut figures = Vec::new();
    for _ in 0..5 {
        let cpu = galley_bench::cpu_seconds();
        let r = watcher.poll_round().await?;
        anyhow::ensure!(r.unchanged == services, "round saw changes: {r:?}");
        figures.push((galley_bench::cpu_seconds() - cpu, r.elapsed.as_secs_f64()));
    }
    figures.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (cpu, wall) = figures[figures.len() / 2];
    println!(
        "unchanged poll round over {services} repos (median of 5): CPU {:.0} ms, wall {:.0} ms \
         => {:.1}% of one core at a 10 s interval",
        cpu * 1e3,
        wall * 1e3,
        cpu * 10.0
    );
    drop(watcher);

    // 2. Latency to the Marathon POST.
    let marathon = Arc::new(FakeMarathon::default());
    let reconcile = ReconcileSettings {
        soa_dir: root.join("soa"),
        system_config_dir: root.join("etc-paasta"),
        cluster: Some("norcal-prod".into()),
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
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handle = Reconciler::new(
        marathon.clone(),
        Arc::new(FakeMesos),
        reconcile,
        Arc::new(|_| {}),
    )
    .spawn(stop_rx.clone());
    let startup = Instant::now();
    handle.status.changed().await?;
    let pass = handle.status.borrow().clone().expect("a pass");
    println!(
        "startup reconcile pass: {:?} in {:.3} s ({} apps created)",
        pass.status,
        startup.elapsed().as_secs_f64(),
        marathon.posts.lock().expect("lock").len()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let reconciler = handle.clone();
    let mut watch = spawn_git_watch(
        settings(root, Duration::from_secs(10)),
        git,
        Arc::new(move || reconciler.trigger()),
        None,
        Some(WebhookSettings {
            listener,
            secret: SECRET.to_vec(),
        }),
        stop_rx,
    );
    watch.rounds.changed().await?;
    let url = format!("http://{}{WEBHOOK_PATH}", watch.webhook_addr.expect("addr"));
    galley_coordinator::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let mut seq = 0;
    for mode in ["webhook", "polling"] {
        let mut latencies = Vec::new();
        for t in 0..trials {
            seq += 1;
            let service = format!("service_{:05}", (seq * 7919) % services);
            tokio::time::sleep(Duration::from_millis(1500 + 1100 * t as u64)).await;
            let (sha, at) = push_deploy(root, &service, seq)?;
            if mode == "webhook" {
                let body = format!(r#"{{"service": "{service}"}}"#);
                http.post(&url)
                    .header(SIGNATURE_HEADER, sign(SECRET, body.as_bytes()))
                    .body(body)
                    .send()
                    .await?
                    .error_for_status()?;
            }
            // Marathon app ids escape `_` as `--` (PaaSTA's compose_job_id).
            let prefix = format!("/{}.main.git{}", service.replace('_', "--"), &sha[..8]);
            let deadline = at + Duration::from_secs(30);
            let posted = loop {
                if let Some(p) = marathon.posted_since(&prefix, at) {
                    break p;
                }
                if Instant::now() > deadline {
                    let posts = marathon.posts.lock().expect("lock");
                    let last: Vec<&String> = posts.iter().rev().take(3).map(|(id, _)| id).collect();
                    anyhow::bail!("{prefix} never POSTed; last POSTs {last:?}");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            latencies.push((posted - at).as_secs_f64());
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "{mode}: tag → Marathon POST over {trials} trials: min {:.3} s, median {:.3} s, max {:.3} s",
            latencies[0],
            latencies[latencies.len() / 2],
            latencies[latencies.len() - 1]
        );
    }
    let _ = stop_tx.send(true);
    Ok(())
}

/// Writes a new commit and a newer deploy tag for `norcal-prod.main` straight into the bare
/// repository (what a push leaves behind); returns the sha and when the ref landed.
fn push_deploy(root: &Path, service: &str, seq: usize) -> anyhow::Result<(String, Instant)> {
    let repo = Repository::open_bare(root.join("repos").join(format!("{service}.git")))?;
    let sig = Signature::now("bench", "bench@example.com")?;
    let oid = galley_bench::commit(
        &repo,
        &sig,
        &format!("{service} bench {seq} {:?}", std::time::SystemTime::now()),
    )?;
    let tag = format!(
        "refs/tags/paasta-norcal-prod.main-2030{:04}T000000-deploy",
        100 + seq
    );
    repo.reference(&tag, oid, true, "bench")?;
    Ok((oid.to_string(), Instant::now()))
}

fn build_fixture(root: &Path, services: usize) -> anyhow::Result<()> {
    let done = root.join(".complete");
    if done.exists() {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(root);
    let sys = root.join("etc-paasta");
    std::fs::create_dir_all(&sys)?;
    std::fs::write(sys.join("cluster.json"), r#"{"cluster": "norcal-prod"}"#)?;
    std::fs::write(
        sys.join("docker.json"),
        r#"{"docker_registry": "registry.example.com:443", "volumes": []}"#,
    )?;
    let sig = Signature::new(
        "bench",
        "bench@example.com",
        &git2::Time::new(1_480_000_000, 0),
    )?;
    for i in 0..services {
        let name = format!("service_{i:05}");
        let repo_path = root.join("repos").join(format!("{name}.git"));
        let repo = Repository::init_bare(&repo_path)?;
        let shas: Vec<Oid> = (0..3)
            .map(|k| galley_bench::commit(&repo, &sig, &format!("{name} {k}")))
            .collect::<Result<_, _>>()?;
        repo.reference("refs/heads/master", shas[2], true, "")?;
        for (c, cluster) in CLUSTERS.iter().enumerate() {
            for (n, inst) in INSTANCES.iter().enumerate() {
                let group = format!("{cluster}.{inst}");
                let old = format!("refs/tags/paasta-{group}-20161101T000000-deploy");
                repo.reference(&old, shas[0], true, "")?;
                let new = format!("refs/tags/paasta-{group}-2016110{}T00000{n}-deploy", 2 + c);
                repo.reference(&new, shas[1 + n], true, "")?;
            }
        }
        for t in 0..8 {
            repo.reference(&format!("refs/tags/v1.{t}"), shas[t % 3], true, "")?;
        }
        let dir = root.join("soa").join(&name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("service.yaml"),
            format!("git_url: {}\ndescription: bench\n", repo_path.display()),
        )?;
        for cluster in CLUSTERS {
            let body = "main:\n  instances: 3\n  cpus: 0.5\ncanary:\n  instances: 1\n";
            std::fs::write(dir.join(format!("marathon-{cluster}.yaml")), body)?;
        }
    }
    std::fs::write(done, "")?;
    Ok(())
}
