//! A user's cluster on one machine: the example yelpsoa-configs and `/etc/paasta` of
//! `deploy/examples/` copied into a temp dir, a bare git repository per service (its
//! `git_url`), the emulators started as `galley-sim marathon`, and config files written the
//! way README.md shows them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use git2::{Oid, Repository, Signature};

use crate::observe::get_json;
use crate::proc::{Proc, bin, eventually, free_port};

/// The cluster the examples are written for.
pub const CLUSTER: &str = "norcal-prod";

/// The workspace root (for `deploy/` and `README.md`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A temp dir laid out as a master: `soa/`, `etc-paasta/`, `repos/`, `logs/`.
pub struct Cluster {
    _dir: tempfile::TempDir,
    /// The temp dir.
    pub root: PathBuf,
    /// yelpsoa-configs.
    pub soa: PathBuf,
    /// `/etc/paasta`.
    pub sys: PathBuf,
    /// Process logs and deploy logs.
    pub logs: PathBuf,
}

impl Cluster {
    /// The examples of `deploy/examples/` with a bare repository per service (one commit,
    /// no tags yet) as its `git_url`. The emulated slaves run no hacheck, so services drain
    /// with `noop` (as the demo's do) instead of smartstack's default hacheck, whose
    /// safe-to-kill check would never answer.
    ///
    /// With `GALLEY_E2E_KEEP=1` the temp dir (configs, logs) is kept and its path printed.
    pub fn from_examples() -> Self {
        let mut dir = tempfile::tempdir().expect("temp dir");
        if std::env::var_os("GALLEY_E2E_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("keeping {}", dir.path().display());
        }
        let root = dir.path().to_path_buf();
        let c = Self {
            soa: root.join("soa"),
            sys: root.join("etc-paasta"),
            logs: root.join("logs"),
            root,
            _dir: dir,
        };
        let examples = workspace().join("deploy/examples");
        copy_dir(&examples.join("soa-configs"), &c.soa);
        copy_dir(&examples.join("cluster/paasta"), &c.sys);
        std::fs::create_dir_all(&c.logs).expect("logs dir");
        for service in c.services() {
            let repo = Repo::init(&c.root.join("repos").join(format!("{service}.git")));
            let yaml = c.soa.join(&service).join("service.yaml");
            let mut text = std::fs::read_to_string(&yaml).expect("service.yaml");
            text.push_str(&format!(
                "git_url: {}\ndrain_method: noop\n",
                repo.path.display()
            ));
            std::fs::write(&yaml, text).expect("service.yaml");
        }
        c
    }

    /// Keeps the temp dir (configs, logs) after the run; returns its path.
    pub fn keep(&mut self) -> PathBuf {
        self._dir.disable_cleanup(true);
        self.root.clone()
    }

    /// Service directories of the soa dir, sorted.
    pub fn services(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.soa)
            .expect("soa dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        out
    }

    /// The repository of `service`.
    pub fn repo(&self, service: &str) -> Repo {
        Repo::open(&self.root.join("repos").join(format!("{service}.git")))
    }

    /// Writes `text` to `rel` under the soa dir, atomically (as a git checkout or puppet
    /// would replace it).
    pub fn write_soa(&self, rel: &str, text: &str) {
        let path = self.soa.join(rel);
        let tmp = path.with_extension("e2e-tmp");
        std::fs::write(&tmp, text).expect("write soa file");
        std::fs::rename(&tmp, &path).expect("rename soa file");
    }

    /// Writes `text` to `name` under the root; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Runs `galley-coordinator ARGS…` to completion (a CLI call).
    pub fn cli(&self, args: &[&str]) -> Output {
        std::process::Command::new(bin("galley-coordinator"))
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run galley-coordinator")
    }

    /// Runs `galley-coordinator ARGS…` to completion without blocking the runtime (for
    /// commands that wait, like `mark-for-deployment --wait`).
    pub async fn cli_async(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(bin("galley-coordinator"))
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("run galley-coordinator")
    }

    /// `galley-coordinator generate-deployments --soa-dir SOA` (must succeed).
    pub fn generate_deployments(&self) {
        let soa = self.soa.display().to_string();
        let out = self.cli(&["generate-deployments", "--soa-dir", &soa]);
        assert!(
            out.status.success(),
            "generate-deployments failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// README.md's `serve` config for this cluster on `sim`, listening on `port`: cluster, soa
    /// and system-config dirs, Marathon and Mesos, a pass every `interval` seconds, a deploy
    /// log per service in `logs/` — then `extra` (YAML of the other sections, e.g. `git:`,
    /// `reaper:`, `tls:`).
    pub fn serve_config(&self, sim: &SimProc, port: u16, interval: f64, extra: &str) -> String {
        format!(
            "cluster: {CLUSTER}
soa_dir: {soa}
system_config_dir: {sys}
marathon:
  url: {marathon}
  timeout_seconds: 10
mesos:
  url: {mesos}
reconcile:
  interval_seconds: {interval}
  kill_threshold: 0.5
  dry_run: false
deploy_log: {logs}/deploy-{{service}}.log
listen: 127.0.0.1:{port}
{extra}",
            soa = self.soa.display(),
            sys = self.sys.display(),
            marathon = sim.marathon,
            mesos = sim.mesos,
            logs = self.logs.display(),
        )
    }

    /// Points `sensu.json` of the system config at `sensu` (where every coordinator of this
    /// cluster sends its events).
    pub fn use_sensu(&self, sensu: &crate::observe::SensuListener) {
        std::fs::write(
            self.sys.join("sensu.json"),
            format!(
                r#"{{"sensu_host": "127.0.0.1", "sensu_port": {}}}"#,
                sensu.port
            ),
        )
        .expect("sensu.json");
    }

    /// A copy of the system config for coordinator `node` (`etc-paasta-<node>/`) whose
    /// `sensu.json` names `sensu`, as each master's own Sensu client: on a real cluster every
    /// coordinator talks to the Sensu client of its own host. Call it after
    /// [`SimProc::start`], which writes `synapse.json` into the shared one. Returns the dir.
    pub fn node_system_config(&self, node: &str, sensu: &crate::observe::SensuListener) -> PathBuf {
        let dir = self.root.join(format!("etc-paasta-{node}"));
        copy_dir(&self.sys, &dir);
        std::fs::write(
            dir.join("sensu.json"),
            format!(
                r#"{{"sensu_host": "127.0.0.1", "sensu_port": {}}}"#,
                sensu.port
            ),
        )
        .expect("sensu.json");
        dir
    }

    /// Starts `galley-coordinator serve --config FILE [extra…]` as process `name`.
    pub fn serve(&self, name: &str, config: &Path, extra: &[&str]) -> Proc {
        let cfg = config.display().to_string();
        let mut args = vec!["serve", "--config", cfg.as_str()];
        args.extend_from_slice(extra);
        Proc::start(name, &bin("galley-coordinator"), &args, &self.logs)
    }
}

/// `galley-sim marathon` with its Marathon, Mesos and (optionally) per-slave Docker sockets.
pub struct SimProc {
    /// The process.
    pub proc: Proc,
    /// Marathon's base URL.
    pub marathon: String,
    /// The Mesos master's base URL.
    pub mesos: String,
    /// Slave hostname → its Docker socket (with `--docker-dir`).
    pub docker: BTreeMap<String, PathBuf>,
}

impl SimProc {
    /// Starts `galley-sim marathon --agents N` on free ports, with synapse's haproxy stats
    /// for every slave (written into `sys`'s `synapse.json` as `synapse_haproxy_url_format`,
    /// so smartstack replication is checked) and, with `docker_dir`, a Docker emulator per
    /// slave there; waits until Marathon answers.
    pub async fn start(c: &Cluster, agents: usize, docker_dir: Option<&Path>) -> Self {
        let (m, s, h) = (free_port(), free_port(), free_port());
        let listen = format!("127.0.0.1:{m}");
        let mesos_listen = format!("127.0.0.1:{s}");
        let haproxy_listen = format!("127.0.0.1:{h}");
        let n = agents.to_string();
        let mut args = vec![
            "marathon",
            "--listen",
            &listen,
            "--mesos-listen",
            &mesos_listen,
            "--haproxy-listen",
            &haproxy_listen,
            "--agents",
            &n,
        ];
        let dir = docker_dir.map(|d| d.display().to_string());
        if let Some(d) = &dir {
            args.extend(["--docker-dir", d.as_str()]);
        }
        let proc = Proc::start("galley-sim", &bin("galley-sim"), &args, &c.logs);
        std::fs::write(
            c.sys.join("synapse.json"),
            format!(
                r#"{{"synapse_haproxy_url_format": "http://{haproxy_listen}/{{host:s}}/;csv;norefresh"}}"#
            ),
        )
        .expect("synapse.json");
        let marathon = format!("http://{listen}");
        let info = format!("{marathon}/v2/info");
        eventually(
            "galley-sim answers /v2/info",
            Duration::from_secs(30),
            || get_json(&info),
        )
        .await;
        let docker = match docker_dir {
            None => BTreeMap::new(),
            Some(d) => {
                let slaves = get_json(&format!("http://{mesos_listen}/master/slaves"))
                    .await
                    .expect("mesos slaves");
                slaves["slaves"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["hostname"].as_str())
                    .map(|h| (h.to_owned(), d.join(format!("{h}.sock"))))
                    .collect()
            }
        };
        Self {
            proc,
            marathon,
            mesos: format!("http://{mesos_listen}"),
            docker,
        }
    }
}

impl SimProc {
    /// Scripts how the tasks of apps whose id starts with `app_id_prefix` behave from now on
    /// (`healthy`, `never_healthy`, `fail_on_launch`, `stuck_staging`), through `/_sim/outcomes`.
    pub async fn set_outcome(&self, app_id_prefix: &str, kind: &str) {
        let body = serde_json::json!({"appIdPrefix": app_id_prefix, "outcome": {"kind": kind}});
        let resp = crate::observe::http()
            .post(format!("{}/_sim/outcomes", self.marathon))
            .json(&body)
            .send()
            .await
            .expect("/_sim/outcomes answers");
        assert!(
            resp.status().is_success(),
            "/_sim/outcomes: {}",
            resp.status()
        );
    }
}

/// A bare repository: commits and tags as a developer's pushes would leave them.
pub struct Repo {
    /// Where it is (the service's `git_url`).
    pub path: PathBuf,
    repo: Repository,
}

/// Tag timestamps: strictly increasing across the test binary, so the newest tag wins.
static TAG_MINUTE: AtomicU32 = AtomicU32::new(0);

impl Repo {
    /// `git init --bare` with one commit.
    pub fn init(path: &Path) -> Self {
        let repo = Repository::init_bare(path).expect("init bare repo");
        let r = Self {
            path: path.to_path_buf(),
            repo,
        };
        r.commit("initial");
        r
    }

    /// `git init --bare`, empty (no commit, no ref).
    pub fn bare(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            repo: Repository::init_bare(path).expect("init bare repo"),
        }
    }

    /// Points the full ref `name` at `sha`.
    pub fn set_ref(&self, name: &str, sha: &str) -> &Self {
        self.repo
            .reference(name, Oid::from_str(sha).expect("sha"), true, "e2e")
            .expect("reference");
        self
    }

    /// An annotated tag `refs/tags/<name>` on `sha`; returns the tag object's id.
    pub fn annotated_tag(&self, name: &str, sha: &str) -> String {
        let obj = self
            .repo
            .find_object(Oid::from_str(sha).expect("sha"), None)
            .expect("object");
        let sig = Signature::now("Galley E2E", "e2e@example.com").expect("signature");
        self.repo
            .tag(name, &obj, &sig, "annotated", true)
            .expect("tag")
            .to_string()
    }

    /// Opens an existing repository.
    pub fn open(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            repo: Repository::open_bare(path).expect("open repo"),
        }
    }

    /// A commit holding one file with `content`; returns its full sha.
    pub fn commit(&self, content: &str) -> String {
        let blob = self.repo.blob(content.as_bytes()).expect("blob");
        let mut tb = self.repo.treebuilder(None).expect("treebuilder");
        tb.insert("README", blob, 0o100644).expect("insert");
        let tree = self
            .repo
            .find_tree(tb.write().expect("tree"))
            .expect("tree");
        let sig = Signature::now("Galley E2E", "e2e@example.com").expect("signature");
        self.repo
            .commit(None, &sig, &sig, content, &tree, &[])
            .expect("commit")
            .to_string()
    }

    /// A lightweight tag `refs/tags/<name>` on `sha`.
    pub fn tag(&self, name: &str, sha: &str) {
        self.set_ref(&format!("refs/tags/{name}"), sha);
    }

    /// The deploy tags of `group` (`paasta-<group>-<ts>-deploy`) and their shas, oldest first.
    pub fn deploy_tags(&self, group: &str) -> Vec<(String, String)> {
        let prefix = format!("refs/tags/paasta-{group}-");
        let mut out: Vec<(String, String)> = self
            .repo
            .references()
            .expect("references")
            .filter_map(Result::ok)
            .filter_map(|r| {
                let name = r.name().ok()?.to_owned();
                let rest = name.strip_prefix(&prefix)?;
                // `<ts>-deploy` exactly: another group's name may extend this one.
                let ts = rest.strip_suffix("-deploy")?;
                (ts.len() == 15 && !ts.contains('-')).then_some(())?;
                let sha = r.peel_to_commit().ok()?.id().to_string();
                Some((name, sha))
            })
            .collect();
        out.sort();
        out
    }

    /// `paasta-<group>-<ts>-deploy` on `sha`, with a timestamp newer than any before.
    pub fn deploy(&self, group: &str, sha: &str) {
        self.tag(&format!("paasta-{group}-{}-deploy", next_ts()), sha);
    }

    /// `paasta-<cluster>.<instance>-<ts>-stop|start` on `sha`.
    pub fn set_state(&self, instance: &str, sha: &str, state: &str) {
        self.tag(
            &format!("paasta-{CLUSTER}.{instance}-{}-{state}", next_ts()),
            sha,
        );
    }
}

/// `YYYYMMDDTHHMMSS`, one minute later each call, in 2026-01.
fn next_ts() -> String {
    let m = TAG_MINUTE.fetch_add(1, Ordering::SeqCst);
    format!(
        "202601{:02}T{:02}{:02}00",
        1 + m / 1440,
        m / 60 % 24,
        m % 60
    )
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
