//! The monitor's own reads, end to end through the reconciler's passes and the real clients:
//! Marathon's launch queue (backoff evidence for an app whose tasks keep failing; "no
//! capacity" evidence for an app no agent can take, from the queue's reject summaries; at most
//! one read per round; a failing read never fails the round) and the smartstack path (UP
//! backends per discover location from the synapse haproxy emulator).

use std::sync::Arc;
use std::time::Duration;

use galley_common::monitoring::{SensuEvent, Status};
use galley_common::refs::DesiredState;
use galley_coordinator::haproxy::{HaproxyClient, HaproxySettings};
use galley_coordinator::marathon::{MarathonClient, MarathonConfig};
use galley_coordinator::mesos::MesosClient;
use galley_coordinator::metrics::Metrics;
use galley_coordinator::monitor::{InstanceReplication, Monitor, SmartstackSources};
use galley_coordinator::sensu::{SensuError, SensuSink};
use galley_sim::haproxy::HaproxySim;
use galley_sim::marathon::{Fault, Outcome};

use crate::reconcile::{Cluster, SHA1};

/// No team is configured in these trees, so nothing is ever sent.
struct NoSensu;

impl SensuSink for NoSensu {
    async fn send(&self, _: &SensuEvent) -> Result<(), SensuError> {
        Ok(())
    }
}

fn monitor(metrics: &Arc<Metrics>) -> Monitor<NoSensu> {
    Monitor::new(
        "testcluster".into(),
        NoSensu,
        metrics.clone(),
        Arc::new(|_| {}),
    )
}

fn marathon(c: &Cluster) -> MarathonClient {
    MarathonClient::new(MarathonConfig {
        url: c.sim.marathon_url(),
        credentials: None,
        timeout: Duration::from_secs(5),
    })
}

/// The value of one sample line of the exposition, e.g. `name{labels}`.
fn sample(metrics: &Metrics, series: &str) -> Option<f64> {
    let text = metrics.encode().expect("encode");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

const QUEUE_CALLS: &str = r#"galley_call_duration_seconds_count{target="marathon",op="queue"}"#;
const QUEUE_ERRORS: &str = r#"galley_call_errors_total{target="marathon",op="queue"}"#;

fn web_main(results: &galley_coordinator::monitor::Results) -> Option<&InstanceReplication> {
    results.get(&("web".to_string(), "main".to_string()))
}

#[tokio::test]
async fn monitoring_shows_launch_backoff_from_the_queue_once_per_round() {
    let mut c = Cluster::new().await;
    c.config(
        "web",
        "main:\n  instances: 2\n  backoff_factor: 3\n  drain_method: noop\n",
    );
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    c.sim.sim_set_outcome("/web.main", Outcome::FailOnLaunch);
    let metrics = Arc::new(Metrics::new());
    let mut monitor = monitor(&metrics).with_launch_queue(Arc::new(marathon(&c)));

    let mut rounds = 0.0;
    let mut seen = None;
    for _ in 0..30 {
        let record = c.pass().await;
        let results = monitor.observe(&record, c.sim.now()).await;
        rounds += 1.0;
        let web = web_main(&results).expect("web.main checked").clone();
        assert_eq!(web.status, Status::Critical);
        if web.output.contains("is backing off") {
            seen = Some(web);
            break;
        }
        c.sim.tick(Duration::from_secs(1));
    }
    let web = seen.expect("queue delay evidence within 30 rounds");
    assert!(
        web.output.contains("What Galley sees:")
            && web.output.contains("task(s) waiting, next launch in"),
        "{}",
        web.output
    );
    assert!(
        web.output.contains("last task failure of /web.main."),
        "{}",
        web.output
    );
    assert_eq!(
        sample(&metrics, QUEUE_CALLS),
        Some(rounds),
        "one read per round"
    );

    // A failing queue read: the round still reports, the failure is counted.
    c.sim.sim_fault(Fault::status(500).on_path("/v2/queue"));
    let record = c.pass().await;
    let results = monitor.observe(&record, c.sim.now()).await;
    let web = web_main(&results).expect("still checked");
    assert_eq!(web.status, Status::Critical);
    assert!(!web.output.contains("is backing off"), "{}", web.output);
    assert_eq!(sample(&metrics, QUEUE_ERRORS), Some(1.0));
}

/// An instance asking for more CPUs than any agent has: Marathon's launch queue declines
/// every agent's offer for InsufficientCpus (`processedOffersSummary.rejectSummaryLastOffers`,
/// Marathon 1.4.13's `QueueInfoConversion`), and the check's evidence names it.
#[tokio::test]
async fn monitoring_names_no_capacity_from_the_queue_reject_summary() {
    let mut c = Cluster::new().await;
    c.config(
        "web",
        "main:\n  instances: 2\n  cpus: 64\n  drain_method: noop\n",
    );
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    let metrics = Arc::new(Metrics::new());
    let mut monitor = monitor(&metrics).with_launch_queue(Arc::new(marathon(&c)));

    let mut seen = None;
    for _ in 0..10 {
        let record = c.pass().await;
        let results = monitor.observe(&record, c.sim.now()).await;
        let web = web_main(&results).expect("web.main checked").clone();
        if web.output.contains("no agent can take") {
            seen = Some(web);
            break;
        }
        c.sim.tick(Duration::from_secs(1));
    }
    let web = seen.expect("no-capacity evidence within 10 rounds");
    assert_eq!(web.status, Status::Critical);
    assert!(
        web.output
            .contains("no agent can take /web.main.git11111111.config")
            && web.output.contains("'s tasks: InsufficientCpus\n"),
        "{}",
        web.output
    );
    let app = c
        .sim
        .app_ids()
        .into_iter()
        .find(|id| id.starts_with("/web.main."))
        .expect("app created");
    assert_eq!(c.sim.task_ids(&app), Vec::<String>::new(), "nothing placed");

    // Room appears: the queue's last offer is used, the evidence goes.
    for host in (1..=6).map(|i| format!("slave{i}.example.com")) {
        c.sim.sim_set_agent_capacity(&host, 128.0, 65536.0);
    }
    c.sim.tick(Duration::from_secs(2));
    let record = c.pass().await;
    let results = monitor.observe(&record, c.sim.now()).await;
    let web = web_main(&results).expect("web.main checked");
    assert!(!web.output.contains("no agent can take"), "{}", web.output);
}

#[tokio::test]
async fn monitoring_counts_smartstack_instances_per_location_from_haproxy() {
    let mut c = Cluster::new().await;
    c.config("web", "main:\n  instances: 4\n  drain_method: noop\n");
    c.soa.file(
        "web",
        "smartstack.yaml",
        "main:\n  proxy_port: 20001\n  discover: region\n",
    );
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    c.converge(40).await;
    c.sim.tick(Duration::from_secs(90));

    let haproxy = HaproxySim::start(
        "127.0.0.1:0".parse().expect("addr"),
        Some(c.sim.cluster().clone()),
        Some("region"),
    )
    .await
    .expect("haproxy emulator");
    let settings = HaproxySettings {
        url_format: haproxy.url_format(),
        ..HaproxySettings::default()
    };
    let metrics = Arc::new(Metrics::new());
    let mut monitor = monitor(&metrics)
        .with_launch_queue(Arc::new(marathon(&c)))
        .with_smartstack(SmartstackSources {
            slaves: Arc::new(MesosClient::new(&c.sim.mesos_url(), Duration::from_secs(5))),
            haproxy: HaproxyClient::new(settings),
        });

    let record = c.pass().await;
    let results = monitor.observe(&record, c.sim.now()).await;
    let web = web_main(&results).expect("web.main checked");
    assert_eq!(
        &*web.output,
        "- Service web.main has 2 out of 2 expected instances in useast1 (OK: 100%)\n\
         - Service web.main has 2 out of 2 expected instances in uswest1 (OK: 100%)\n"
    );
    assert_eq!(
        (web.status, web.available, web.expected),
        (Status::Ok, 4, 4)
    );
    assert_eq!(
        sample(&metrics, QUEUE_CALLS),
        None,
        "healthy: no queue read"
    );

    // useast1's first slave (slave2) sees no UP backend: CRITICAL for that location only.
    haproxy.sim_set_csv(
        "slave2.example.com",
        "# pxname,svname,status\nweb.main,10.0.0.2:31000_slave2.example.com,DOWN\n",
    );
    let record = c.pass().await;
    let results = monitor.observe(&record, c.sim.now()).await;
    let web = web_main(&results).expect("web.main checked");
    assert_eq!(web.status, Status::Critical);
    assert!(
        web.output.starts_with(
            "- Service web.main has 0 out of 2 expected instances in useast1 (CRITICAL: 0%)\n\
             - Service web.main has 2 out of 2 expected instances in uswest1 (OK: 100%)\n"
        ),
        "{}",
        web.output
    );
    assert!(
        web.output
            .contains("paasta status -s web -i main -c testcluster -vv"),
        "{}",
        web.output
    );

    // slave2's haproxy is down: no view, no verdict for the instance; the failure is counted.
    haproxy.sim_set_down("slave2.example.com");
    let record = c.pass().await;
    let results = monitor.observe(&record, c.sim.now()).await;
    assert!(web_main(&results).is_none(), "{results:?}");
    let errors = r#"galley_call_errors_total{target="haproxy",op="stats"}"#;
    assert_eq!(sample(&metrics, errors), Some(1.0));
}

/// The monitor works an instance's check inputs out once per service entry: a changed config
/// (a new entry) is checked with its new expected count at the next pass.
#[tokio::test]
async fn monitoring_follows_a_changed_instance_count() {
    let mut c = Cluster::new().await;
    c.config("web", "main:\n  instances: 2\n  drain_method: noop\n");
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    let metrics = Arc::new(Metrics::new());
    let mut monitor = monitor(&metrics);
    let record = c.pass().await;
    let results = monitor.observe(&record, c.sim.now()).await;
    assert_eq!(web_main(&results).expect("checked").expected, 2);
    let record = c.pass().await;
    let results = monitor.observe(&record, c.sim.now()).await;
    assert_eq!(web_main(&results).expect("checked").expected, 2);

    c.config("web", "main:\n  instances: 5\n  drain_method: noop\n");
    let record = c.pass().await;
    let results = monitor.observe(&record, c.sim.now()).await;
    assert_eq!(
        web_main(&results).expect("checked").expected,
        5,
        "the new config's count, not the prepared one of the last entry"
    );
}

/// Checks proportional to change: once an instance's checks are quiet with old tasks, a pass
/// that is not a round, on the same desired state and the same apps, reuses its result; a
/// round checks it again, and a changed app (a task killed) is checked at once.
#[tokio::test]
async fn settled_instances_are_not_checked_again_until_an_input_changes() {
    use galley_coordinator::reconciler::{ActivationReason, PassRecord};
    let mut c = Cluster::new().await;
    c.config("web", "main:\n  instances: 2\n  drain_method: noop\n");
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    c.converge(20).await;
    c.sim.tick(Duration::from_secs(120)); // every task older than a minute
    let metrics = Arc::new(Metrics::new());
    let mut monitor = monitor(&metrics);
    let record = c.pass().await;
    let again = |reason| PassRecord {
        reason,
        ..record.clone()
    };
    let first = monitor.observe(&record, c.sim.now()).await;
    assert_eq!(web_main(&first).expect("checked").status, Status::Ok);
    assert_eq!(monitor.checks_reused(), 0, "first report: news");
    monitor
        .observe(&again(ActivationReason::MarathonChanged), c.sim.now())
        .await;
    assert_eq!(monitor.checks_reused(), 0, "quiet now: settles");
    let reused = monitor
        .observe(&again(ActivationReason::MarathonChanged), c.sim.now())
        .await;
    assert_eq!(monitor.checks_reused(), 1, "same desired state and apps");
    assert_eq!(reused, first, "the reused result is the checked one");
    monitor
        .observe(&again(ActivationReason::Periodic), c.sim.now())
        .await;
    assert_eq!(monitor.checks_reused(), 0, "a round checks everything");

    let apps = marathon(&c);
    let task = galley_coordinator::marathon::MarathonApi::list_apps(&apps)
        .await
        .expect("list")
        .into_iter()
        .find(|a| a.id.starts_with("/web.main."))
        .expect("web.main")
        .tasks[0]
        .id
        .clone();
    assert!(c.sim.sim_fail_task(&task), "failed");
    let record = c.pass().await;
    let killed = monitor.observe(&record, c.sim.now()).await;
    assert_eq!(monitor.checks_reused(), 0);
    assert_eq!(
        web_main(&killed).expect("checked").available,
        1,
        "the kill is seen"
    );
}
