//! Benchmark of `galley-coordinator serve` as a user runs it (not a test): the built
//! `galley-sim marathon` and `galley-coordinator serve` binaries as child processes, a
//! soa-configs tree of N instances (default 10,000: 2,500 services × 4, one task each), the
//! README's config (the Marathon view on, a pass every 30 s). Prints, with the emulator's and
//! the coordinator's CPU apart:
//!
//! - convergence from an empty Marathon;
//! - steady passes with nothing to do (`Reconcile` with `wait`, through gRPC): median, p90;
//! - an idle window: CPU of each process, Marathon list calls, passes by trigger, RSS;
//! - a task killed in Marathon → the pass its event triggers (latency);
//! - one instance's `instances` changed in the soa dir → Marathon's app scaled (latency; each
//!   change made once the last one's deployment finished);
//! - optionally a soak with churn (tasks killed at random), RSS sampled over time;
//! - a restart on the converged cluster: the first pass with nothing to do, RSS (`--restart`).
//!
//! `cargo build --release -p galley-sim -p galley-coordinator -p galley-bench &&
//!  target/release/bench-serve [--instances 10000] [--soak-minutes 30]`
//!
//! `GALLEY_BENCH_KEEP=1` keeps the temp dir (soa tree, process logs) and prints its path.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use galley_bench::{instance_yaml, proc_cpu_seconds, proc_status_kib, write_soa_tree};
use galley_proto::v1 as pb;
use galley_proto::v1::coordinator_service_client::CoordinatorServiceClient;
use rand::seq::IndexedRandom;
use serde_json::Value;
use tonic::transport::Channel;

const PER_SERVICE: usize = 4;
const CLUSTER: &str = "bench";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Arguments.
#[derive(clap::Parser)]
struct Args {
    /// Instances (4 per service, one task each).
    #[arg(long, default_value_t = 10_000)]
    instances: usize,
    /// Steady passes to time.
    #[arg(long, default_value_t = 15)]
    steady: usize,
    /// Seconds of the idle window.
    #[arg(long, default_value_t = 60)]
    idle_seconds: u64,
    /// Minutes of soak with churn (0: none).
    #[arg(long, default_value_t = 0)]
    soak_minutes: u64,
    /// Tasks killed per minute during the soak.
    #[arg(long, default_value_t = 30)]
    churn_per_minute: u32,
    /// At the end, restart the coordinator on the converged cluster (killed, started again
    /// with the same config) and measure its cold start.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    restart: bool,
    /// `marathon.watch_events` (false: every pass lists Marathon, as before the view).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    watch_events: bool,
}

/// A child process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

/// CPU seconds and wall time at one moment, to compute a share of a core between two.
struct CpuMark {
    cpu: f64,
    at: Instant,
}

impl CpuMark {
    fn of(p: &Proc) -> Self {
        Self {
            cpu: proc_cpu_seconds(&p.pid()),
            at: Instant::now(),
        }
    }
    fn percent_since(&self, p: &Proc) -> f64 {
        let wall = self.at.elapsed().as_secs_f64();
        100.0 * (proc_cpu_seconds(&p.pid()) - self.cpu) / wall
    }
}

fn bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("bench dir")?.join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: cargo build --release -p galley-sim -p galley-coordinator",
        path.display()
    );
    Ok(path)
}

/// Starts a built binary; `GALLEY_BENCH_WRAP_<NAME>` (e.g. `GALLEY_BENCH_WRAP_COORDINATOR=
/// "heaptrack -o /tmp/ht"`) runs it under a profiler (CPU figures are then the wrapper's).
fn spawn(name: &str, args: &[&str], logs: &Path) -> anyhow::Result<Proc> {
    let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
    let key = format!(
        "GALLEY_BENCH_WRAP_{}",
        name.trim_start_matches("galley-").to_uppercase()
    );
    let wrap: Vec<String> = std::env::var(&key)
        .map(|w| w.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut cmd = match wrap.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(bin(name)?);
            c
        }
        None => Command::new(bin(name)?),
    };
    let child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    Ok(Proc(child))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn rss_mb(p: &Proc) -> f64 {
    proc_status_kib(&p.pid(), "VmRSS") as f64 / 1024.0
}

fn median_p90(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (v[v.len() / 2], v[(v.len() * 9 / 10).min(v.len() - 1)])
}

/// Marathon list calls the coordinator made so far.
async fn list_calls(http: &reqwest::Client, metrics: u16) -> f64 {
    metric_sum(
        http,
        metrics,
        "galley_call_duration_seconds_count",
        &[r#"op="list_apps""#],
    )
    .await
}

/// Sum of the `/metrics` samples of `name` whose labels contain every `labels` text.
async fn metric_sum(http: &reqwest::Client, port: u16, name: &str, labels: &[&str]) -> f64 {
    let Ok(resp) = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
    else {
        return f64::NAN;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && labels.iter().all(|x| l.contains(x))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    galley_coordinator::tls::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let services = args.instances.div_ceil(PER_SERVICE);
    let instances = services * PER_SERVICE;
    let mut tmp = tempfile::tempdir()?;
    if std::env::var_os("GALLEY_BENCH_KEEP").is_some() {
        tmp.disable_cleanup(true);
        println!("keeping {} (configs, process logs)", tmp.path().display());
    }
    let (soa, sys, logs) = (
        tmp.path().join("soa"),
        tmp.path().join("etc-paasta"),
        tmp.path().join("logs"),
    );
    std::fs::create_dir_all(&sys)?;
    std::fs::create_dir_all(&logs)?;
    std::fs::write(
        sys.join("cluster.json"),
        format!(r#"{{"cluster": "{CLUSTER}", "docker_registry": "registry:443", "volumes": []}}"#),
    )?;
    write_soa_tree(&soa, CLUSTER, services, PER_SERVICE, SHA)?;
    // 8 CPUs per emulated slave, 0.1 per task: 80 tasks each; keep room for bounces.
    let agents = (instances / 60 + 1).to_string();
    let (m, me, grpc, metrics) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let (listen, mesos_listen) = (format!("127.0.0.1:{m}"), format!("127.0.0.1:{me}"));
    let sim = spawn(
        "galley-sim",
        &[
            "marathon",
            "--listen",
            &listen,
            "--mesos-listen",
            &mesos_listen,
            "--agents",
            &agents,
        ],
        &logs,
    )?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let marathon = format!("http://{listen}");
    wait_until("galley-sim answers", Duration::from_secs(30), || async {
        http.get(format!("{marathon}/v2/info")).send().await.is_ok()
    })
    .await?;
    let config = format!(
        "cluster: {CLUSTER}
soa_dir: {soa}
system_config_dir: {sys}
marathon:
  url: {marathon}
  timeout_seconds: 60
  watch_events: {watch}
mesos:
  url: http://{mesos_listen}
reconcile:
  interval_seconds: 30
  kill_threshold: 0.5
  max_task_kills_per_pass: 100000
listen: 127.0.0.1:{grpc}
metrics_listen: 127.0.0.1:{metrics}
",
        soa = soa.display(),
        sys = sys.display(),
        watch = args.watch_events,
    );
    let cfg = tmp.path().join("coordinator.yaml");
    std::fs::write(&cfg, config)?;
    println!(
        "{instances} instances ({services} services × {PER_SERVICE}), {agents} emulated slaves, marathon.watch_events: {}",
        args.watch_events
    );
    let sim_start = CpuMark::of(&sim);
    let started = Instant::now();
    let serve_args = [
        "serve",
        "--config",
        &cfg.display().to_string(),
        "--insecure",
    ]
    .map(String::from);
    let serve_args: Vec<&str> = serve_args.iter().map(String::as_str).collect();
    let mut coord = spawn("galley-coordinator", &serve_args, &logs)?;
    let coord_start = CpuMark::of(&coord);
    wait_until(
        "every app created and running",
        Duration::from_secs(1800),
        || async { converged(&http, &marathon, metrics, instances).await },
    )
    .await
    .with_context(|| format!("logs in {}", logs.display()))?;
    let took = started.elapsed().as_secs_f64();
    let lists = list_calls(&http, metrics).await;
    println!(
        "converged from empty in {took:.1} s; CPU over it: coordinator {:.0}% of a core, emulator {:.0}%; Marathon list calls {lists}; coordinator RSS peak so far {:.0} MB",
        coord_start.percent_since(&coord),
        sim_start.percent_since(&sim),
        proc_status_kib(&coord.pid(), "VmHWM") as f64 / 1024.0,
    );

    let mut client = CoordinatorServiceClient::connect(format!("http://127.0.0.1:{grpc}")).await?;
    steady_passes(&mut client, &http, metrics, args.steady).await?;
    idle_window(&http, metrics, &coord, &sim, args.idle_seconds).await;
    task_death_latency(&mut client, &http, &marathon, 5).await?;
    soa_change_latency(&http, &marathon, &soa, 4).await?;
    if args.soak_minutes > 0 {
        soak(
            &http,
            &marathon,
            &coord,
            &sim,
            args.soak_minutes,
            args.churn_per_minute,
        )
        .await?;
    }
    println!(
        "coordinator RSS {:.0} MB (peak {:.0} MB); emulator RSS {:.0} MB",
        rss_mb(&coord),
        proc_status_kib(&coord.pid(), "VmHWM") as f64 / 1024.0,
        rss_mb(&sim)
    );
    if args.restart {
        coord = restart(coord, &serve_args, &logs, &http, &marathon, metrics).await?;
    }
    drop(coord);
    drop(sim);
    Ok(())
}

/// Kills the coordinator and starts it again on the converged cluster (the realistic cold
/// start: one full list, nothing to create), then prints how long until its first pass found
/// nothing to do, what it changed in Marathon (nothing is right), and its RSS.
async fn restart(
    coord: Proc,
    serve_args: &[&str],
    logs: &Path,
    http: &reqwest::Client,
    marathon: &str,
    metrics: u16,
) -> anyhow::Result<Proc> {
    let versions = |apps: Vec<Value>| -> std::collections::BTreeSet<(String, String)> {
        apps.iter()
            .map(|a| (a["id"].to_string(), a["version"].to_string()))
            .collect()
    };
    let before = versions(apps(http, marathon).await);
    drop(coord);
    std::fs::rename(
        logs.join("galley-coordinator.log"),
        logs.join("galley-coordinator-before-restart.log"),
    )?;
    let started = Instant::now();
    let coord = spawn("galley-coordinator", serve_args, logs)?;
    let up_to_date = || {
        metric_sum(
            http,
            metrics,
            "galley_pass_duration_seconds_count",
            &[r#"outcome="up_to_date""#],
        )
    };
    wait_until(
        "a pass with nothing to do",
        Duration::from_secs(600),
        || async { up_to_date().await >= 1.0 },
    )
    .await
    .with_context(|| format!("logs in {}", logs.display()))?;
    let took = started.elapsed().as_secs_f64();
    let lists = list_calls(http, metrics).await;
    let peak_then = proc_status_kib(&coord.pid(), "VmHWM") as f64 / 1024.0;
    let mut rss = Vec::new();
    for _ in 0..SETTLE.as_secs() {
        rss.push(rss_mb(&coord));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let changed = before
        .symmetric_difference(&versions(apps(http, marathon).await))
        .count();
    println!(
        "restart on the converged cluster: first pass with nothing to do {took:.1} s after start; Marathon list calls {lists}; apps changed in Marathon {changed}; coordinator RSS peak {peak_then:.0} MB by then, over the next {} s max {:.0} MB, then {:.0} MB (peak {:.0} MB)",
        SETTLE.as_secs(),
        rss.iter().copied().fold(0.0, f64::max),
        rss_mb(&coord),
        proc_status_kib(&coord.pid(), "VmHWM") as f64 / 1024.0,
    );
    Ok(coord)
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        if Instant::now() > deadline {
            bail!("timed out: {what}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

async fn apps(http: &reqwest::Client, marathon: &str) -> Vec<Value> {
    let Ok(resp) = http.get(format!("{marathon}/v2/apps")).send().await else {
        return Vec::new();
    };
    let body: Value = resp.json().await.unwrap_or_default();
    body["apps"].as_array().cloned().unwrap_or_default()
}

/// Every app created (the coordinator's counter), no deployment left, then one full list to
/// check every task runs. The cheap checks come first: listing every app every half second
/// would load the emulator (and this process) more than the coordinator under test does.
async fn converged(http: &reqwest::Client, marathon: &str, metrics: u16, instances: usize) -> bool {
    let created = metric_sum(http, metrics, "galley_apps_total", &[r#"op="created""#]).await;
    if created.is_nan() || created < instances as f64 {
        return false;
    }
    let deployments: Value = match http.get(format!("{marathon}/v2/deployments")).send().await {
        Ok(resp) => resp.json().await.unwrap_or_default(),
        Err(_) => return false,
    };
    if deployments.as_array().is_none_or(|d| !d.is_empty()) {
        return false;
    }
    let apps = apps(http, marathon).await;
    apps.len() == instances
        && apps
            .iter()
            .all(|a| a["tasksRunning"].as_u64() == a["instances"].as_u64())
}

async fn steady_passes(
    client: &mut CoordinatorServiceClient<Channel>,
    http: &reqwest::Client,
    metrics: u16,
    n: usize,
) -> anyhow::Result<()> {
    let lists = || list_calls(http, metrics);
    let before = lists().await;
    let mut times = Vec::new();
    let mut steps: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for _ in 0..n {
        let pass = client
            .reconcile(pb::ReconcileRequest {
                wait: true,
                ..Default::default()
            })
            .await?
            .into_inner()
            .pass
            .context("a pass")?;
        times.push(pass.duration_ms as f64);
        for step in pass.steps.split_whitespace() {
            if let Some((name, ms)) = step.split_once('=')
                && let Ok(ms) = ms.trim_end_matches("ms").parse::<f64>()
            {
                steps.entry(name.to_owned()).or_default().push(ms);
            }
        }
    }
    let (median, p90) = median_p90(&mut times);
    println!(
        "steady pass, nothing to do ({n} on demand): median {median:.0} ms, p90 {p90:.0} ms; Marathon list calls during them: {}",
        lists().await - before
    );
    let by_step: Vec<String> = steps
        .iter_mut()
        .map(|(name, v)| format!("{name} {:.1}", median_p90(v).0))
        .collect();
    println!("  median ms by step: {}", by_step.join(", "));
    Ok(())
}

/// Between the steady passes and the idle window.
const SETTLE: Duration = Duration::from_secs(30);

async fn idle_window(http: &reqwest::Client, metrics: u16, coord: &Proc, sim: &Proc, seconds: u64) {
    let lists = || list_calls(http, metrics);
    let passes = || metric_sum(http, metrics, "galley_pass_duration_seconds_count", &[]);
    // Right after convergence the view still fetches the last burst of task and health
    // events and the first rounds check every new instance: not idle yet.
    let mut settling = Vec::new();
    let settled_at = Instant::now() + SETTLE;
    while Instant::now() < settled_at {
        settling.push(rss_mb(coord));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "settling {} s after the steady passes: coordinator RSS max {:.0} MB",
        SETTLE.as_secs(),
        settling.iter().copied().fold(0.0, f64::max)
    );
    let (l0, p0) = (lists().await, passes().await);
    let (c, s) = (CpuMark::of(coord), CpuMark::of(sim));
    // RSS moves with each round's transient work and each trim: sampled every second.
    let mut rss = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        rss.push(rss_mb(coord));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (cp, sp) = (c.percent_since(coord), s.percent_since(sim));
    rss.sort_by(f64::total_cmp);
    let at = |q: f64| {
        rss.get(((rss.len() - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "idle {seconds} s (passes every 30 s): coordinator CPU {cp:.1}% of a core, emulator {sp:.1}%; {} passes, {} Marathon list calls ({:.1}/min); coordinator RSS {:.0} MB (over the window: min {:.0}, median {:.0}, max {:.0})",
        passes().await - p0,
        lists().await - l0,
        (lists().await - l0) * 60.0 / seconds as f64,
        rss_mb(coord),
        at(0.0),
        at(0.5),
        at(1.0),
    );
}

/// Kills one task through Marathon's API (Marathon replaces it) and waits for the pass its
/// events trigger; prints the latency from the kill to that pass's end.
async fn task_death_latency(
    client: &mut CoordinatorServiceClient<Channel>,
    http: &reqwest::Client,
    marathon: &str,
    samples: usize,
) -> anyhow::Result<()> {
    let apps = apps(http, marathon).await;
    let ids: Vec<String> = apps
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    let mut lat = Vec::new();
    for _ in 0..samples {
        let app = ids.choose(&mut rand::rng()).context("an app")?.clone();
        let one: Value = http
            .get(format!("{marathon}/v2/apps{app}"))
            .send()
            .await?
            .json()
            .await?;
        let Some(task) = one["app"]["tasks"][0]["id"].as_str() else {
            continue;
        };
        // Marathon's own stream tells when the task is gone (the kill takes the emulator's
        // kill time); the latency is from that event to the end of the pass it triggered.
        let mut events = http
            .get(format!(
                "{marathon}/v2/events?event_type=status_update_event"
            ))
            .header("Accept", "text/event-stream")
            .send()
            .await?
            .error_for_status()?;
        http.delete(format!("{marathon}/v2/apps{app}/tasks/{task}"))
            .send()
            .await?
            .error_for_status()?;
        let mut seen = String::new();
        let gone_at = loop {
            let chunk = tokio::time::timeout(Duration::from_secs(30), events.chunk())
                .await
                .context("the kill's event in time")??
                .context("the event stream ended")?;
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(task) && seen.contains("TASK_KILLED") {
                break Utc::now();
            }
        };
        drop(events);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = client
                .get_status(pb::GetStatusRequest::default())
                .await?
                .into_inner();
            // The first pass started once the event was out (the coordinator reads the same
            // stream; 100 ms of slack for the two readers). A pass that merely started after
            // the kill request may have been woken by another app's events and not seen it
            // (that gave negative latencies once the view stopped starving passes).
            if let Some(p) = status.last_pass
                && p.reason == "marathon_changed"
                && let Ok(at) = DateTime::parse_from_rfc3339(&p.started_at)
                && at.with_timezone(&Utc) >= gone_at - chrono::Duration::milliseconds(100)
            {
                let end =
                    at.with_timezone(&Utc) + chrono::Duration::milliseconds(p.duration_ms as i64);
                lat.push((end - gone_at).num_milliseconds() as f64);
                break;
            }
            if Instant::now() > deadline {
                bail!("no pass followed the kill of {task}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    print_latencies(
        "task killed in Marathon → its instance re-planned",
        &mut lat,
        "kills",
    );
    Ok(())
}

/// `label: median M ms, max X ms (N what)`.
fn print_latencies(label: &str, lat: &mut [f64], what: &str) {
    let (median, _) = median_p90(lat);
    let max = lat.iter().copied().fold(f64::NAN, f64::max);
    println!(
        "{label}: median {median:.0} ms, max {max:.0} ms ({} {what})",
        lat.len()
    );
}

/// Changes `svc00000.i0`'s `instances` in the soa dir (1 → 2 → 1 ...) and times until
/// Marathon's app has the new count.
async fn soa_change_latency(
    http: &reqwest::Client,
    marathon: &str,
    soa: &Path,
    samples: u32,
) -> anyhow::Result<()> {
    let all = apps(http, marathon).await;
    let app = all
        .iter()
        .filter_map(|a| a["id"].as_str())
        .find(|id| id.starts_with("/svc00000.i0."))
        .context("svc00000.i0's app")?
        .to_owned();
    let file = soa
        .join("svc00000")
        .join(format!("marathon-{CLUSTER}.yaml"));
    let mut lat = Vec::new();
    for k in 0..samples {
        let want = if k % 2 == 0 { 2 } else { 1 };
        let mut yaml = instance_yaml("i0", want);
        for i in 1..PER_SERVICE {
            yaml.push_str(&instance_yaml(&format!("i{i}"), 1));
        }
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, yaml)?;
        let t0 = Instant::now();
        std::fs::rename(&tmp, &file)?;
        loop {
            let one = app_of(http, marathon, &app).await?;
            if one["instances"].as_u64() == Some(u64::from(want)) {
                lat.push(t0.elapsed().as_secs_f64() * 1e3);
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("{app} never reached {want} instances");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The next change starts from a settled app: a change made while the last one's
        // deployment is in flight waits for it by design (the plan's `waiting_on`), and that
        // wait is the emulator's task launch, not the coordinator's latency.
        settle(http, marathon, &app, want).await?;
    }
    print_latencies(
        "soa-dir change to one instance → Marathon scaled",
        &mut lat,
        "changes",
    );
    Ok(())
}

/// `GET /v2/apps/<app>`'s `app`.
async fn app_of(http: &reqwest::Client, marathon: &str, app: &str) -> anyhow::Result<Value> {
    let mut one: Value = http
        .get(format!("{marathon}/v2/apps{app}"))
        .send()
        .await?
        .json()
        .await?;
    Ok(one["app"].take())
}

/// Waits until `app` runs `want` tasks with no deployment in flight (then 1 s more for its
/// events to reach the coordinator).
async fn settle(
    http: &reqwest::Client,
    marathon: &str,
    app: &str,
    want: u32,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    loop {
        let a = app_of(http, marathon, app).await?;
        let idle = a["deployments"].as_array().is_some_and(Vec::is_empty);
        if idle && a["tasksRunning"].as_u64() == Some(u64::from(want)) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(120) {
            bail!("{app} never settled at {want} tasks");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills random tasks at `per_minute` for `minutes`, sampling RSS and CPU every 30 s.
async fn soak(
    http: &reqwest::Client,
    marathon: &str,
    coord: &Proc,
    sim: &Proc,
    minutes: u64,
    per_minute: u32,
) -> anyhow::Result<()> {
    let ids: Vec<String> = apps(http, marathon)
        .await
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    let end = Instant::now() + Duration::from_secs(minutes * 60);
    let gap = Duration::from_secs_f64(60.0 / f64::from(per_minute.max(1)));
    let mut next_sample = Instant::now();
    let (mut c, mut s) = (CpuMark::of(coord), CpuMark::of(sim));
    let mut samples = Vec::new();
    println!("soak: {minutes} min, {per_minute} task kills a minute");
    while Instant::now() < end {
        if Instant::now() >= next_sample {
            let rss = rss_mb(coord);
            println!(
                "  t={:>5.0} s  coordinator RSS {rss:.0} MB, CPU {:.1}%; emulator CPU {:.1}%",
                (Instant::now() + Duration::from_secs(minutes * 60) - end).as_secs_f64(),
                c.percent_since(coord),
                s.percent_since(sim)
            );
            samples.push(rss);
            (c, s) = (CpuMark::of(coord), CpuMark::of(sim));
            next_sample += Duration::from_secs(30);
        }
        if let Some(app) = ids.choose(&mut rand::rng()) {
            let one: Value = http
                .get(format!("{marathon}/v2/apps{app}"))
                .send()
                .await?
                .json()
                .await?;
            if let Some(task) = one["app"]["tasks"][0]["id"].as_str() {
                let _ = http
                    .delete(format!("{marathon}/v2/apps{app}/tasks/{task}"))
                    .send()
                    .await;
            }
        }
        tokio::time::sleep(gap).await;
    }
    if let (Some(first), Some(last)) = (samples.get(2).or(samples.first()), samples.last()) {
        let max = samples.iter().copied().fold(0.0, f64::max);
        println!(
            "soak RSS: {first:.0} MB after warm-up → {last:.0} MB at the end (max {max:.0} MB)"
        );
    }
    Ok(())
}
