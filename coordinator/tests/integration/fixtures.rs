//! Test fixtures: real git repositories made with git2, and soa-config trees on disk.

use std::fs;
use std::path::{Path, PathBuf};

/// A bare repository on disk, with helpers to add commits and refs (the product suite's kit).
pub use galley_e2e::cluster::Repo as TestRepo;

/// A soa-configs tree in a temp dir.
pub struct SoaTree {
    pub root: PathBuf,
}

impl SoaTree {
    pub fn new(root: &Path) -> Self {
        fs::create_dir_all(root).expect("mkdir soa");
        Self {
            root: root.to_path_buf(),
        }
    }

    /// Writes `<root>/<service>/<file>`.
    pub fn file(&self, service: &str, file: &str, content: &str) -> &Self {
        let dir = self.root.join(service);
        fs::create_dir_all(&dir).expect("mkdir service");
        fs::write(dir.join(file), content).expect("write file");
        self
    }

    /// Parsed `<service>/deployments.json`.
    pub fn deployments(&self, service: &str) -> serde_json::Value {
        let text = fs::read_to_string(self.root.join(service).join("deployments.json"))
            .expect("read deployments.json");
        serde_json::from_str(&text).expect("valid JSON")
    }

    pub fn deployments_path(&self, service: &str) -> PathBuf {
        self.root.join(service).join("deployments.json")
    }
}

/// A reconciler whose Marathon and Mesos are unreachable and whose soa dir is empty (its
/// passes fail, which is fine for API tests); runs until `stop` turns true.
pub fn idle_reconciler(
    stop: tokio::sync::watch::Receiver<bool>,
) -> galley_coordinator::reconciler::ReconcilerHandle {
    use galley_coordinator::apply::ApplyBudget;
    use galley_coordinator::marathon::{MarathonClient, MarathonConfig};
    use galley_coordinator::mesos::MesosClient;
    use galley_coordinator::plan::CleanupPolicy;
    use galley_coordinator::reconciler::{ReconcileSettings, Reconciler};
    let dir = std::env::temp_dir().join(format!("galley-idle-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("idle soa dir");
    let marathon = MarathonClient::new(MarathonConfig {
        url: "http://127.0.0.1:9".into(),
        credentials: None,
        timeout: std::time::Duration::from_millis(200),
    });
    let mesos = MesosClient::new("http://127.0.0.1:9", std::time::Duration::from_millis(200));
    let settings = ReconcileSettings {
        soa_dir: dir.clone(),
        system_config_dir: dir,
        cluster: Some("c1".into()),
        interval: std::time::Duration::from_secs(3600),
        cleanup: CleanupPolicy {
            kill_threshold: 0.5,
            force: false,
        },
        budget: ApplyBudget {
            max_cleanup_deletes: 1,
            max_task_kills: 1,
        },
        dry_run: true,
    };
    Reconciler::new(
        std::sync::Arc::new(marathon),
        std::sync::Arc::new(mesos),
        settings,
        std::sync::Arc::new(|_| {}),
    )
    .spawn(stop)
}
