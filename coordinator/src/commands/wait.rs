//! `--wait` of `mark-for-deployment` and `rollback`: follows each coordinator of the deploy
//! group (one `--server` per cluster) until every instance of the group runs the sha with all
//! tasks happy, or the timeout passes, or an instance cannot converge. Each coordinator's
//! `WatchEvents` stream shows what happens (and wakes the next read at once); `ListInstances`
//! is read every two seconds. On a terminal every instance has a progress bar; piped, each
//! change is one plain line.

use std::collections::{BTreeMap, BTreeSet};
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
    /// Whether its `ListInstances` answered in the last round.
    answered: bool,
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

/// The coordinators to wait on, one per cluster of the deploy group.
pub struct Servers(Vec<Server>);

/// Dials every `--server` and checks that together they cover `clusters` (those the deploy
/// group runs on, from the soa dir): a deploy must not be called done while a cluster of it
/// is not watched. Call it before pushing anything.
pub async fn connect_servers(
    args: &WaitArgs,
    clusters: &BTreeSet<String>,
) -> anyhow::Result<Servers> {
    anyhow::ensure!(
        !args.servers.is_empty(),
        "--wait needs --server HOST:PORT for each cluster of the deploy group"
    );
    let tls = args.tls.tls();
    let mut servers = Vec::new();
    for addr in &args.servers {
        servers.push(dial(addr, tls.as_ref()).await?);
    }
    let covered: BTreeSet<&str> = servers.iter().map(|s| s.cluster.as_str()).collect();
    let missing: Vec<&str> = clusters
        .iter()
        .map(String::as_str)
        .filter(|c| !covered.contains(c))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the deploy group runs on {}: no --server for {} (the servers given coordinate {})",
        clusters.iter().cloned().collect::<Vec<_>>().join(", "),
        missing.join(", "),
        covered.into_iter().collect::<Vec<_>>().join(", ")
    );
    Ok(Servers(servers))
}

/// Waits for `target` on every server.
pub async fn wait(args: &WaitArgs, servers: Servers, target: &Target) -> anyhow::Result<Outcome> {
    let Servers(mut servers) = servers;
    let tls = args.tls.tls();
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
        let answered: Vec<(&str, bool)> = servers
            .iter()
            .map(|s| (s.cluster.as_str(), s.answered))
            .collect();
        if let Some(outcome) = verdict(&state, seen, &answered, target) {
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
        answered: false,
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
                s.answered = false;
                display.event(&format!("{}: {e:#} (retrying)", s.addr));
                continue;
            }
        };
        s.answered = true;
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

/// Converged, or failed for a stuck instance; `None` while converging. `answered` is each
/// server's cluster and whether it answered this round: "converged" and "no such instance"
/// need every server's answer (a cluster whose server failed to answer is not known to be
/// done, even if the others are).
fn verdict(
    state: &BTreeMap<Key, Tracked>,
    seen: usize,
    answered: &[(&str, bool)],
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
    if answered.iter().any(|(_, a)| !a) {
        return None;
    }
    if state.is_empty() && seen == 0 && !answered.is_empty() {
        let clusters: Vec<&str> = answered.iter().map(|(c, _)| *c).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(progress: Progress) -> Tracked {
        Tracked {
            wait: InstanceWait::default(),
            progress,
            evidence: Vec::new(),
        }
    }

    fn target() -> Target {
        Target {
            service: "web".into(),
            deploy_group: "prod.main".into(),
            sha: "a".repeat(40),
        }
    }

    #[test]
    fn a_cluster_whose_server_did_not_answer_is_never_taken_for_done() {
        let mut state = BTreeMap::new();
        state.insert(
            ("c1".to_owned(), "main".to_owned()),
            tracked(Progress::Done),
        );
        let both = [("c1", true), ("c2", true)];
        let c2_down = [("c1", true), ("c2", false)];
        assert!(matches!(
            verdict(&state, 1, &both, &target()),
            Some(Outcome::Converged)
        ));
        assert!(verdict(&state, 1, &c2_down, &target()).is_none());
        // Nobody answered yet: not "no such instance", just not known.
        let none_answered = [("c1", false), ("c2", false)];
        assert!(verdict(&BTreeMap::new(), 0, &none_answered, &target()).is_none());
        assert!(matches!(
            verdict(&BTreeMap::new(), 0, &both, &target()),
            Some(Outcome::Failed(why)) if why.contains("no instance of web")
        ));
        // A stuck instance fails at once, whoever else answered.
        state.insert(
            ("c1".to_owned(), "canary".to_owned()),
            tracked(Progress::Stuck {
                why: "re-marked".into(),
            }),
        );
        assert!(matches!(
            verdict(&state, 2, &c2_down, &target()),
            Some(Outcome::Failed(why)) if why.contains("re-marked")
        ));
    }
}
