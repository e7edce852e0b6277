//! A coordinator started as `serve` starts it (`Coordinator::start`, plaintext gRPC, the git
//! webhook on) over the Marathon emulator, with one service `web` (instance `main` in cluster
//! `testcluster`) whose repository has a commit but no deploy tag: no valid request can write
//! a tag, so whatever a fuzzed request does, nothing may be written — no ref in the repository,
//! no app or event in Marathon, no deployments.json.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use galley_coordinator::config::CoordinatorConfig;
use galley_coordinator::runtime::{Coordinator, Running, StartOptions};
use galley_sim::marathon::{MarathonSim, MarathonSimConfig};
use git2::Repository;
use tokio::runtime::Runtime;

use super::http::runtime;
use crate::fixtures::TestRepo;

/// What was written, compared before and after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Every ref of the service's repository.
    pub refs: Vec<String>,
    /// Marathon's apps.
    pub apps: Vec<String>,
    /// Marathon's event history length.
    pub marathon_events: usize,
    /// The service's deployments.json, if any.
    pub deployments: Option<Vec<u8>>,
}

/// The started coordinator and what it talks to.
pub struct Env {
    /// The runtime everything runs on (the fuzz loop is synchronous).
    pub rt: Runtime,
    /// The coordinator.
    pub running: Running,
    /// The webhook's address.
    pub webhook: SocketAddr,
    /// The webhook's HMAC secret.
    pub secret: Vec<u8>,
    sim: MarathonSim,
    repo: PathBuf,
    soa: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Env {
    /// Starts the emulator and the coordinator, and waits until the operator API has a view.
    pub fn start() -> Self {
        let rt = runtime();
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let repo = TestRepo::bare(&root.join("web.git"));
        repo.commit("v1");
        let soa = root.join("soa");
        std::fs::create_dir_all(soa.join("web")).expect("mkdir");
        let web = |file: &str, text: String| std::fs::write(soa.join("web").join(file), text);
        web(
            "service.yaml",
            format!("git_url: {}\n", repo.path.display()),
        )
        .expect("write");
        web(
            "marathon-testcluster.yaml",
            "main:\n  instances: 1\n".into(),
        )
        .expect("write");
        let sys = root.join("etc-paasta");
        std::fs::create_dir_all(&sys).expect("mkdir");
        std::fs::write(sys.join("cluster.json"), r#"{"cluster": "testcluster"}"#).expect("write");
        std::fs::write(
            sys.join("docker.json"),
            r#"{"docker_registry": "r:443", "volumes": []}"#,
        )
        .expect("write");
        let secret = b"fuzz-secret".to_vec();
        std::fs::write(root.join("secret"), &secret).expect("write");
        let sim = rt
            .block_on(MarathonSim::start(MarathonSimConfig::real_time()))
            .expect("marathon emulator");
        let webhook: SocketAddr = format!("127.0.0.1:{}", galley_e2e::proc::free_port())
            .parse()
            .expect("addr");
        let text = format!(
            "cluster: testcluster\nsoa_dir: {soa}\nsystem_config_dir: {sys}\n\
             marathon: {{url: \"{marathon}\"}}\nmesos: {{url: \"{mesos}\"}}\n\
             reconcile: {{interval_seconds: 1}}\ndeploy_log: {log}\nlisten: 127.0.0.1:0\n\
             git: {{poll_interval_seconds: 3600, webhook_listen: \"{webhook}\", \
             webhook_secret_file: {secret}, mirror_dir: {mirrors}}}\n",
            soa = soa.display(),
            sys = sys.display(),
            marathon = sim.marathon_url(),
            mesos = sim.mesos_url(),
            log = root.join("deploy-{service}.log").display(),
            secret = root.join("secret").display(),
            mirrors = root.join("mirrors").display(),
        );
        let config_path = root.join("coordinator.yaml");
        let config = CoordinatorConfig::from_yaml(&config_path, &text).expect("config");
        let opts = StartOptions {
            config_path,
            insecure: true,
            ..StartOptions::default()
        };
        let running = rt
            .block_on(Coordinator::start(config, opts))
            .expect("start");
        let env = Self {
            rt,
            running,
            webhook,
            secret,
            sim,
            repo: repo.path.clone(),
            soa,
            _tmp: tmp,
        };
        env.wait_for_a_pass();
        env
    }

    /// Until the git watcher's first round has written deployments.json and a pass has
    /// finished (the operator API answers from its view only then).
    fn wait_for_a_pass(&self) {
        let start = Instant::now();
        let mut status = self.running.reconciler().status.clone();
        while status.borrow_and_update().is_none() || self.written().deployments.is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "not settled within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The gRPC endpoint.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.running.grpc_addr())
    }

    /// What is written now.
    pub fn written(&self) -> Written {
        let repo = Repository::open_bare(&self.repo).expect("open");
        let mut refs: Vec<String> = repo
            .references()
            .expect("refs")
            .filter_map(|r| r.ok()?.name().ok().map(String::from))
            .collect();
        refs.sort();
        Written {
            refs,
            apps: self.sim.app_ids(),
            marathon_events: self.sim.history().len(),
            deployments: std::fs::read(self.soa.join("web/deployments.json")).ok(),
        }
    }
}
