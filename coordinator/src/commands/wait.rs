//! `--wait` of `mark-for-deployment` and `rollback`: follows each coordinator of the deploy
//! group (one `--server` per cluster) until every instance of the group runs the sha with all
//! tasks happy, or the timeout passes, or an instance cannot converge. Each coordinator's
//! `WatchEvents` stream shows what happens (and wakes the next read at once); `ListInstances`
//! is read every two seconds. On a terminal every instance has a progress bar; piped, each
//! change is one plain line.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use galley_coordinator::operator::screen::short;
use galley_coordinator::operator::wait::{InstanceWait, Progress, evidence};
use galley_coordinator::operator::{ClientTls, connect};
use galley_proto::v1 as pb;
use galley_proto::v1::coordinator_service_client::CoordinatorServiceClient;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::client::{TlsArgs, parse_duration};
use super::status::list_all;

/// `--wait` and its options.
#[derive(clap::Args, Debug, Clone)]
pub struct WaitArgs {
    /// Wait until every instance of the deploy group runs the sha with all tasks healthy.
    #[arg(long)]
    pub wait: bool,
    /// How long to wait (`30m`, `90s`, `1h`, or seconds); only with --wait (the git
    /// timeout is --git-timeout).
    #[arg(long, default_value = "30m", value_parser = parse_duration, requires = "wait")]
    pub timeout: Duration,
    /// A coordinator (`HOST:PORT`) of each cluster the deploy group is in; repeat per cluster.
    #[arg(long = "server", requires = "wait")]
    pub servers: Vec<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// What to wait for.
#[derive(Debug, Clone)]
pub struct Target {
    /// Service.
    pub service: String,
    /// Deploy group.
    pub deploy_group: String,
    /// Full sha.
    pub sha: String,
}

/// `(cluster, instance)`.
type Key = (String, String);

/// How a wait ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every instance runs the sha, all tasks happy.
    Converged,
    /// What is stuck and why, one line per instance (then its evidence).
    Failed(String),
}

/// One instance being waited for.
struct Tracked {
    wait: InstanceWait,
    progress: Progress,
    /// What Galley sees about it, as of the last read.
    evidence: Vec<String>,
}

/// One coordinator being followed.
struct Server {
    addr: String,
    cluster: String,
    client: CoordinatorServiceClient<Channel>,
}

impl WaitArgs {
    /// Refuses `--wait` without `--server` (before anything is pushed).
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.wait || !self.servers.is_empty(),
            "--wait needs --server HOST:PORT for each cluster of the deploy group"
        );
        Ok(())
    }
}

/// Waits for `target` on every server.
pub async fn wait(args: &WaitArgs, target: &Target) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        !args.servers.is_empty(),
        "--wait needs --server HOST:PORT for each cluster of the deploy group"
    );
    let tls = args.tls.tls();
    let mut servers = Vec::new();
    for addr in &args.servers {
        servers.push(dial(addr, tls.as_ref()).await?);
    }
    let (events_tx, mut events) = mpsc::channel(256);
    let mut streams = JoinSet::new();
    for s in &servers {
        streams.spawn(follow_events(
            s.addr.clone(),
            tls.clone(),
            target.service.clone(),
            events_tx.clone(),
        ));
    }
    let deadline = Instant::now() + args.timeout;
    let mut display = Display::new(std::io::stdout().is_terminal());
    let mut state: BTreeMap<Key, Tracked> = BTreeMap::new();
    let outcome = loop {
        let seen = poll(&mut servers, target, &mut state, &mut display).await?;
        if let Some(outcome) = verdict(&state, seen, &servers, target) {
            break outcome;
        }
        if Instant::now() >= deadline {
            break Outcome::Failed(timed_out(&state, args.timeout, target));
        }
        let next = (Instant::now() + Duration::from_secs(2)).min(deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            Some(e) = events.recv() => show_event(&mut display, &state, &e),
        }
        while let Ok(e) = events.try_recv() {
            show_event(&mut display, &state, &e);
        }
    };
    streams.abort_all();
    display.finish();
    Ok(outcome)
}

async fn dial(addr: &str, tls: Option<&ClientTls>) -> anyhow::Result<Server> {
    let mut client = connect(addr, tls, Duration::from_secs(20)).await?;
    let status = client
        .get_status(pb::GetStatusRequest {})
        .await
        .with_context(|| format!("GetStatus of {addr}"))?
        .into_inner();
    Ok(Server {
        addr: addr.to_owned(),
        cluster: status.cluster,
        client,
    })
}

/// Reads every server once; returns how many instances of the group were seen.
async fn poll(
    servers: &mut [Server],
    target: &Target,
    state: &mut BTreeMap<Key, Tracked>,
    display: &mut Display,
) -> anyhow::Result<usize> {
    let mut seen = 0;
    for s in servers.iter_mut() {
        let list = match list_all(&mut s.client, target.service.clone()).await {
            Ok(l) => l,
            Err(e) => {
                display.event(&format!("{}: {e:#} (retrying)", s.addr));
                continue;
            }
        };
        for i in list
            .instances
            .iter()
            .filter(|i| i.deploy_group == target.deploy_group)
        {
            seen += 1;
            let key = (s.cluster.clone(), i.instance.clone());
            let t = state.entry(key.clone()).or_insert_with(|| Tracked {
                wait: InstanceWait::default(),
                progress: Progress::Done,
                evidence: Vec::new(),
            });
            t.progress = t.wait.update(i, &target.sha);
            t.evidence = evidence(i);
            display.show(&key, target, &t.progress);
        }
    }
    Ok(seen)
}

/// Converged, or failed for a stuck instance; `None` while converging.
fn verdict(
    state: &BTreeMap<Key, Tracked>,
    seen: usize,
    servers: &[Server],
    target: &Target,
) -> Option<Outcome> {
    let stuck: Vec<String> = state
        .iter()
        .filter_map(|((cluster, instance), t)| match &t.progress {
            Progress::Stuck { why } => {
                Some(format!("{}.{instance} on {cluster}: {why}", target.service))
            }
            _ => None,
        })
        .collect();
    if !stuck.is_empty() {
        return Some(Outcome::Failed(format!(
            "cannot converge:\n  {}",
            stuck.join("\n  ")
        )));
    }
    if state.is_empty() && seen == 0 && !servers.is_empty() {
        let clusters: Vec<&str> = servers.iter().map(|s| s.cluster.as_str()).collect();
        return Some(Outcome::Failed(format!(
            "no instance of {} uses deploy group {} on {}",
            target.service,
            target.deploy_group,
            clusters.join(", ")
        )));
    }
    state
        .values()
        .all(|t| t.progress == Progress::Done)
        .then_some(Outcome::Converged)
}

fn timed_out(state: &BTreeMap<Key, Tracked>, timeout: Duration, target: &Target) -> String {
    let mut out = format!(
        "timed out after {}s: deploy group {} is not on {} everywhere",
        timeout.as_secs(),
        target.deploy_group,
        short(&target.sha)
    );
    for ((cluster, instance), t) in state {
        if let Progress::Converging {
            happy,
            expected,
            detail,
        } = &t.progress
        {
            out.push_str(&format!(
                "\n  {}.{instance} on {cluster}: {happy}/{expected} task(s) of {} happy; {detail}",
                target.service,
                short(&target.sha)
            ));
            for e in t.evidence.iter().skip(1) {
                out.push_str(&format!("\n    * {e}"));
            }
        }
    }
    out
}

/// Shows the operator-visible events (level `event`) of the group's instances and of the
/// service as a whole, first line only.
fn show_event(display: &mut Display, state: &BTreeMap<Key, Tracked>, e: &pb::Event) {
    let ours = e.instance == "N/A" || state.contains_key(&(e.cluster.clone(), e.instance.clone()));
    if e.level != "event" || !ours {
        return;
    }
    let first = e.message.lines().next().unwrap_or_default();
    display.event(&format!(
        "[{}] {}.{}: {first}",
        e.cluster, e.service, e.instance
    ));
}

/// Follows one coordinator's deploy-log events of `service` (reconnecting), as lines.
async fn follow_events(
    addr: String,
    tls: Option<ClientTls>,
    service: String,
    tx: mpsc::Sender<pb::Event>,
) {
    loop {
        if let Ok(mut client) = connect(&addr, tls.as_ref(), Duration::from_secs(3600)).await {
            let req = pb::WatchEventsRequest {
                service: service.clone(),
            };
            if let Ok(stream) = client.watch_events(req).await {
                let mut stream = stream.into_inner();
                while let Ok(Some(e)) = stream.message().await {
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Progress bars on a terminal, plain lines otherwise.
struct Display {
    bars: Option<MultiProgress>,
    per_instance: BTreeMap<Key, ProgressBar>,
    last_line: BTreeMap<Key, String>,
}

impl Display {
    fn new(terminal: bool) -> Self {
        Self {
            bars: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout())),
            per_instance: BTreeMap::new(),
            last_line: BTreeMap::new(),
        }
    }

    fn show(&mut self, key: &Key, target: &Target, p: &Progress) {
        let name = format!("{}.{} on {}", target.service, key.1, key.0);
        let (pos, len, text) = match p {
            Progress::Done => (
                1,
                1,
                format!("done: runs {}, every task happy", short(&target.sha)),
            ),
            Progress::Converging {
                happy,
                expected,
                detail,
            } => (u64::from(*happy), u64::from(*expected), detail.clone()),
            Progress::Stuck { why } => (0, 1, format!("stuck: {why}")),
        };
        match &self.bars {
            Some(multi) => {
                let bar = self.per_instance.entry(key.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(len.max(1)));
                    let style = ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:20}] {pos}/{len} {wide_msg}",
                    )
                    .expect("a valid template")
                    .progress_chars("=> ");
                    bar.set_style(style);
                    bar.set_prefix(name.clone());
                    bar
                });
                bar.set_length(len.max(1));
                bar.set_position(pos);
                bar.set_message(text);
            }
            None => {
                let line = match p {
                    Progress::Converging { .. } => format!("{name}: {pos}/{len} {text}"),
                    _ => format!("{name}: {text}"),
                };
                if self.last_line.get(key) != Some(&line) {
                    println!("{line}");
                    self.last_line.insert(key.clone(), line);
                }
            }
        }
    }

    fn event(&mut self, line: &str) {
        let text = format!("event: {line}");
        match &self.bars {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => println!("{text}"),
        }
    }

    fn finish(&mut self) {
        for bar in self.per_instance.values() {
            bar.abandon();
        }
    }
}
