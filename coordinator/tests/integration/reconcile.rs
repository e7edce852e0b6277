//! The reconciler end to end against the Marathon/Mesos emulator, through the real HTTP
//! clients, on the emulator's virtual clock. Each test drives passes and ticks explicitly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use galley_common::deployments::{Deployments, V1Entry, V2Control, V2Deployment};
use galley_common::refs::DesiredState;
use galley_coordinator::apply::{ApplyBudget, ApplyEvent};
use galley_coordinator::marathon::{MarathonClient, MarathonConfig};
use galley_coordinator::mesos::MesosClient;
use galley_coordinator::plan::CleanupPolicy;
use galley_coordinator::reconciler::{
    ActivationReason, PassRecord, PassStatus, ReconcileSettings, Reconciler,
};
use galley_sim::SimClock;
use galley_sim::marathon::{AgentSpec, Fault, MarathonSim, MarathonSimConfig, Outcome};

use crate::fixtures::SoaTree;

pub const SHA1: &str = "1111111111111111111111111111111111111111";
pub const SHA2: &str = "2222222222222222222222222222222222222222";

/// deployments.json text (cluster `testcluster`) running `sha` in `state` for `instances`.
pub fn deployments_text(
    service: &str,
    instances: &[&str],
    sha: &str,
    state: DesiredState,
    force_bounce: Option<&str>,
) -> String {
    let mut d = Deployments::default();
    for inst in instances {
        let image = format!("services-{service}:paasta-{sha}");
        d.v1.insert(
            format!("{service}:paasta-testcluster.{inst}"),
            V1Entry {
                docker_image: image.clone(),
                desired_state: state,
                force_bounce: force_bounce.map(String::from),
            },
        );
        d.v2.deployments.insert(
            format!("testcluster.{inst}"),
            V2Deployment {
                docker_image: image,
                git_sha: sha.into(),
            },
        );
        d.v2.controls.insert(
            format!("{service}:testcluster.{inst}"),
            V2Control {
                desired_state: state,
                force_bounce: force_bounce.map(String::from),
            },
        );
    }
    d.to_json_text()
}

pub struct Cluster {
    pub sim: MarathonSim,
    pub soa: SoaTree,
    pub reconciler: Reconciler<MarathonClient, MesosClient>,
    pub events: Arc<Mutex<Vec<ApplyEvent>>>,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    pub async fn new() -> Self {
        Self::with_policy(CleanupPolicy {
            kill_threshold: 0.5,
            force: false,
        })
        .await
    }

    pub async fn with_policy(cleanup: CleanupPolicy) -> Self {
        let hosts: Vec<String> = (1..=6).map(|i| format!("slave{i}.example.com")).collect();
        Self::build(cleanup, SimClock::virtual_at(chrono::Utc::now()), &hosts).await
    }

    /// A cluster whose agents have these hostnames, on `clock`.
    pub async fn build(cleanup: CleanupPolicy, clock: SimClock, hosts: &[String]) -> Self {
        let tmp = tempfile::tempdir().expect("tmp");
        let agents = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                AgentSpec::new(host)
                    .attribute("region", if i % 2 == 0 { "uswest1" } else { "useast1" })
                    .attribute("pool", "default")
                    .capacity(16.0, 65536.0)
            })
            .collect();
        let sim = MarathonSim::start(
            MarathonSimConfig::virtual_time()
                .clock(clock.clone())
                .agents(agents),
        )
        .await
        .expect("sim");
        let sys: PathBuf = tmp.path().join("etc-paasta");
        std::fs::create_dir_all(&sys).expect("mkdir");
        std::fs::write(sys.join("cluster.json"), r#"{"cluster": "testcluster"}"#).expect("write");
        std::fs::write(
            sys.join("docker.json"),
            r#"{"docker_registry": "registry.example.com:443", "volumes": []}"#,
        )
        .expect("write");
        let soa = SoaTree::new(&tmp.path().join("soa"));
        let marathon = MarathonClient::new(MarathonConfig {
            url: sim.marathon_url(),
            credentials: None,
            timeout: Duration::from_secs(5),
        });
        let mesos = MesosClient::new(&sim.mesos_url(), Duration::from_secs(5));
        let settings = ReconcileSettings {
            soa_dir: soa.root.clone(),
            system_config_dir: sys,
            cluster: None,
            interval: Duration::from_secs(30),
            cleanup,
            budget: ApplyBudget {
                max_cleanup_deletes: 100,
                max_task_kills: 1000,
            },
            dry_run: false,
        };
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let reconciler = Reconciler::new(
            Arc::new(marathon),
            Arc::new(mesos),
            settings,
            Arc::new(move |e| sink.lock().expect("lock").push(e)),
        )
        .with_clock(Arc::new(move || clock.now()));
        Self {
            sim,
            soa,
            reconciler,
            events,
            _tmp: tmp,
        }
    }

    /// Writes `marathon-testcluster.yaml` of `service`.
    pub fn config(&self, service: &str, yaml: &str) {
        self.soa.file(service, "marathon-testcluster.yaml", yaml);
        if !self.soa.root.join(service).join("service.yaml").exists() {
            self.soa
                .file(service, "service.yaml", "description: test\n");
        }
    }

    /// Writes deployments.json so `service.instance` runs `sha` in `state`.
    pub fn deploy(
        &self,
        service: &str,
        instances: &[&str],
        sha: &str,
        state: DesiredState,
        force_bounce: Option<&str>,
    ) {
        self.soa.file(
            service,
            "deployments.json",
            &deployments_text(service, instances, sha, state, force_bounce),
        );
    }

    pub async fn pass(&mut self) -> PassRecord {
        self.reconciler.pass(ActivationReason::OnDemand).await
    }

    /// A pass run for `reason` (a periodic one refreshes instances in flight).
    pub async fn pass_for(&mut self, reason: ActivationReason) -> PassRecord {
        self.reconciler.pass(reason).await
    }

    /// Passes with `tick` of virtual time between them until a pass is up to date (twice in a
    /// row, so tasks had time to settle), or `max` rounds.
    pub async fn converge(&mut self, max: usize) -> usize {
        let mut quiet = 0;
        for round in 0..max {
            let record = self.pass().await;
            if record.status == PassStatus::UpToDate {
                quiet += 1;
                if quiet == 2 {
                    return round;
                }
            } else {
                quiet = 0;
            }
            self.sim.tick(Duration::from_secs(15));
        }
        panic!(
            "did not converge in {max} rounds; last status {:?}",
            self.pass().await.status
        );
    }

    /// App ids in Marathon (sorted).
    pub fn apps(&self) -> Vec<String> {
        let mut ids = self.sim.app_ids();
        ids.sort();
        ids
    }

    /// Apps whose id starts with `/<prefix>`, with their running task counts.
    pub fn running(&self, prefix: &str) -> BTreeMap<String, u32> {
        self.apps()
            .into_iter()
            .filter(|a| a.starts_with(&format!("/{prefix}")))
            .map(|a| {
                let c = self.sim.app_counts(&a).map(|c| c.running).unwrap_or(0);
                (a, c)
            })
            .collect()
    }

    /// Minimum, over every emulator sample after `from`, of tasks serving traffic (happy and not
    /// being killed) summed over the apps of `prefix`.
    pub fn min_serving_since(&self, prefix: &str, from: chrono::DateTime<chrono::Utc>) -> u32 {
        self.sim
            .samples()
            .iter()
            .filter(|s| s.at >= from)
            .map(|s| {
                s.apps
                    .iter()
                    .filter(|(id, _)| id.starts_with(&format!("/{prefix}")))
                    .map(|(_, c)| c.happy.saturating_sub(c.killing))
                    .sum::<u32>()
            })
            .min()
            .unwrap_or(0)
    }

    pub fn event_messages(&self) -> Vec<String> {
        self.events
            .lock()
            .expect("lock")
            .iter()
            .map(|e| e.message.clone())
            .collect()
    }
}

#[tokio::test]
async fn creates_a_service_from_scratch_and_then_does_nothing() {
    let mut c = Cluster::new().await;
    c.config("web", "main:\n  instances: 3\n");
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    c.converge(20).await;
    let running = c.running("web.main.");
    assert_eq!(running.len(), 1, "{running:?}");
    let (id, n) = running.iter().next().expect("app");
    assert!(id.starts_with("/web.main.git11111111.config"), "{id}");
    assert_eq!(*n, 3);
    let before = c.sim.history().len();
    assert_eq!(c.pass().await.status, PassStatus::UpToDate);
    assert_eq!(
        c.sim.history().len(),
        before,
        "a steady-state pass changes nothing"
    );
}

#[tokio::test]
async fn a_config_change_crossover_bounces_without_dropping_below_the_desired_count() {
    let mut c = Cluster::new().await;
    c.config("web", "main:\n  instances: 4\n");
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    c.converge(20).await;
    let old: Vec<String> = c.running("web.main.").into_keys().collect();
    let from = c.sim.now();
    c.config("web", "main:\n  instances: 4\n  cpus: 0.5\n");
    c.converge(40).await;
    let now = c.running("web.main.");
    assert_eq!(now.len(), 1, "old app deleted: {now:?}");
    assert_ne!(now.keys().next(), old.first(), "a new app id");
    assert_eq!(*now.values().next().expect("app"), 4);
    assert!(
        c.min_serving_since("web.main.", from) >= 4,
        "crossover kept 4 tasks serving throughout"
    );
    let events = c.event_messages();
    assert!(
        events
            .iter()
            .any(|m| m.starts_with("crossover bounce in progress on web.main.")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|m| m.starts_with(
            "crossover bounce on web.main finishing. Now running web.main.git11111111.config"
        )),
        "{events:?}"
    );
}

#[tokio::test]
async fn every_bounce_method_completes() {
    for method in ["brutal", "upthendown", "downthenup", "crossover"] {
        let mut c = Cluster::new().await;
        c.config(
            "svc",
            &format!("main:\n  instances: 2\n  bounce_method: {method}\n"),
        );
        c.deploy("svc", &["main"], SHA1, DesiredState::Start, None);
        c.converge(20).await;
        let from = c.sim.now();
        c.deploy("svc", &["main"], SHA2, DesiredState::Start, None);
        c.converge(40).await;
        let running = c.running("svc.main.");
        assert_eq!(running.len(), 1, "{method}: {running:?}");
        assert!(
            running
                .keys()
                .next()
                .expect("app")
                .starts_with("/svc.main.git22222222."),
            "{method}"
        );
        assert_eq!(*running.values().next().expect("n"), 2, "{method}");
        let min = c.min_serving_since("svc.main.", from);
        match method {
            "upthendown" | "crossover" => assert!(min >= 2, "{method} kept capacity: {min}"),
            _ => {} // brutal and downthenup may drop to zero by design
        }
    }
}

#[tokio::test]
async fn stop_scales_to_zero_with_the_same_id_and_start_bounces_to_a_new_one() {
    let mut c = Cluster::new().await;
    c.config("web", "main:\n  instances: 2\n");
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    c.converge(20).await;
    let id = c.running("web.main.").into_keys().next().expect("app");
    // §8 item 16: stop with the same force_bounce keeps the id; the app is scaled to 0.
    c.deploy("web", &["main"], SHA1, DesiredState::Stop, None);
    c.converge(20).await;
    assert_eq!(
        c.running("web.main."),
        BTreeMap::from([(id.clone(), 0)]),
        "stopped: same app, 0 tasks"
    );
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    c.converge(20).await;
    assert_eq!(
        c.running("web.main."),
        BTreeMap::from([(id.clone(), 2)]),
        "started again: same app, scaled up"
    );
    // A stop tag carries a new force_bounce (its timestamp): PaaSTA then bounces to a new,
    // zero-instance app and deletes the old one.
    c.deploy(
        "web",
        &["main"],
        SHA1,
        DesiredState::Stop,
        Some("20161129T000000"),
    );
    c.converge(20).await;
    let stopped = c.running("web.main.");
    assert_eq!(
        stopped.values().copied().collect::<Vec<_>>(),
        vec![0],
        "{stopped:?}"
    );
    assert_ne!(stopped.keys().next(), Some(&id));
    c.deploy(
        "web",
        &["main"],
        SHA1,
        DesiredState::Start,
        Some("20161129T010000"),
    );
    c.converge(30).await;
    let running = c.running("web.main.");
    assert_eq!(running.len(), 1);
    let (new_id, n) = running.into_iter().next().expect("app");
    assert_ne!(new_id, id, "a new force_bounce is a new config hash");
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_never_healthy_new_version_stalls_the_bounce_and_keeps_the_old_app() {
    let mut c = Cluster::new().await;
    c.config("api", "main:\n  instances: 2\n  healthcheck_mode: http\n");
    c.deploy("api", &["main"], SHA1, DesiredState::Start, None);
    c.sim.tick(Duration::from_secs(1));
    c.converge(30).await;
    let old = c.running("api.main.").into_keys().next().expect("old app");
    c.sim
        .sim_set_outcome("/api.main.git22222222", Outcome::NeverHealthy);
    c.deploy("api", &["main"], SHA2, DesiredState::Start, None);
    for _ in 0..20 {
        c.pass().await;
        c.sim.tick(Duration::from_secs(15));
    }
    let running = c.running("api.main.");
    assert_eq!(
        running.get(&old),
        Some(&2),
        "old app untouched: {running:?}"
    );
    assert_eq!(running.len(), 2, "new app exists but never took over");
}

#[tokio::test]
async fn marathon_down_mid_bounce_changes_nothing_and_the_bounce_resumes() {
    let mut c = Cluster::new().await;
    c.config("web", "main:\n  instances: 3\n");
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    c.converge(20).await;
    c.deploy("web", &["main"], SHA2, DesiredState::Start, None);
    c.pass().await; // creates the new app
    c.sim.sim_fault(Fault::status(503));
    let before = c.sim.history().len();
    for _ in 0..3 {
        c.sim.tick(Duration::from_secs(15));
        let r = c.pass().await;
        assert!(
            matches!(r.status, PassStatus::FailedReadingMarathon(_)),
            "{:?}",
            r.status
        );
    }
    let kills = c.sim.history()[before..]
        .iter()
        .filter(|h| format!("{h:?}").contains("Kill"))
        .count();
    assert_eq!(kills, 0, "no kills while Marathon is unreadable");
    c.sim.sim_clear_faults();
    c.converge(30).await;
    let running = c.running("web.main.");
    assert_eq!(running.len(), 1);
    assert!(
        running
            .keys()
            .next()
            .expect("app")
            .starts_with("/web.main.git22222222.")
    );
}

#[tokio::test]
async fn cleanup_deletes_removed_instances_but_refuses_mass_deletion() {
    let mut c = Cluster::new().await;
    c.config(
        "web",
        "main:\n  instances: 1\ncanary:\n  instances: 1\nbatch:\n  instances: 1\n",
    );
    c.deploy(
        "web",
        &["main", "canary", "batch"],
        SHA1,
        DesiredState::Start,
        None,
    );
    c.converge(20).await;
    assert_eq!(c.apps().len(), 3);
    // One instance removed: 1/3 ≤ 0.5, deleted.
    c.config("web", "main:\n  instances: 1\ncanary:\n  instances: 1\n");
    c.converge(20).await;
    assert_eq!(c.apps().len(), 2);
    assert!(
        c.event_messages()
            .iter()
            .any(|m| m.starts_with("Deleted stale marathon job that looks lost: web.batch."))
    );
    // Everything removed: refused, nothing deleted.
    std::fs::remove_file(c.soa.root.join("web/marathon-testcluster.yaml")).expect("rm");
    let r = c.pass().await;
    assert_eq!(
        r.status,
        PassStatus::UpToDate,
        "{:?}",
        r.snapshot.plan.cleanup
    );
    assert!(r.snapshot.plan.cleanup.refused.is_some());
    assert_eq!(c.apps().len(), 2);
}

#[tokio::test]
async fn a_broken_service_config_leaves_its_apps_alone_and_others_deploying() {
    let mut c = Cluster::new().await;
    c.config("good", "main:\n  instances: 1\n");
    c.deploy("good", &["main"], SHA1, DesiredState::Start, None);
    c.config("bad", "main:\n  instances: 1\n");
    c.deploy("bad", &["main"], SHA1, DesiredState::Start, None);
    c.converge(20).await;
    c.config("bad", "main: [broken\n");
    c.deploy("good", &["main"], SHA2, DesiredState::Start, None);
    c.converge(30).await;
    assert!(
        c.running("good.main.")
            .keys()
            .all(|k| k.starts_with("/good.main.git22222222."))
    );
    assert_eq!(
        c.running("bad.main.").len(),
        1,
        "bad's app is neither bounced nor cleaned up"
    );
    let r = c.pass().await;
    assert!(
        r.snapshot.desired.service_errors["bad"].contains("bad/marathon-testcluster.yaml"),
        "{:?}",
        r.snapshot.desired.service_errors
    );
}
