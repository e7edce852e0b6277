//! `generate-deployments`: for each service, list its repo's refs and write
//! `<soa_dir>/<service>/deployments.json` as PaaSTA's `generate_deployments_for_service` did —
//! but for all services at once, in parallel, writing only what changed.
//!
//! A service whose config is broken or whose repo cannot be listed keeps its old file and is
//! reported; it never stops the others.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use galley_common::deployments::{self, Deployments, InstanceRefs};
use galley_common::refs::RefIndex;
use galley_common::soa::{ConfigError, ServiceConfig};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub mod stamp;

use crate::atomic::{Durability, WriteError, WriteOutcome, write_if_changed};
use crate::git::{GitError, GitSource, RemoteRef};
use crate::soa_dir::{self, SoaReadError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The yelpsoa-configs root.
    pub soa_dir: PathBuf,
    /// Only these services (all when empty).
    pub services: Vec<String>,
    /// Repositories listed at once.
    pub jobs: usize,
    /// Also deploy `refs/heads/<branch>` tips for instances without a deploy tag.
    pub legacy_branches: bool,
    /// Whether each written file is fsynced before its rename.
    pub durability: Durability,
    /// Skip services whose stamp shows nothing changed, and stamp the others ([`stamp`]).
    pub stamps: bool,
}

/// One service's failure; its deployments.json was left as it was.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Its directory could not be read.
    #[error(transparent)]
    Read(#[from] SoaReadError),
    /// Its configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Its repository could not be listed.
    #[error("git_url of {file}")]
    Git {
        /// Where the URL came from.
        file: String,
        /// The listing error.
        #[source]
        source: GitError,
    },
    /// Its deployments.json could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The result for one service.
#[derive(Debug)]
pub struct ServiceReport {
    /// Service name.
    pub service: String,
    /// Written, unchanged, or why it failed.
    pub outcome: Result<WriteOutcome, ServiceError>,
    /// Unchanged because its stamp showed nothing changed (nothing was read or listed).
    pub skipped: bool,
}

/// The result of a whole run.
#[derive(Debug, Default)]
pub struct GenerateReport {
    /// Per service, sorted by name.
    pub services: Vec<ServiceReport>,
    /// Wall time.
    pub elapsed: Duration,
}

impl GenerateReport {
    /// Services whose file was (re)written.
    pub fn written(&self) -> usize {
        self.count(|o| matches!(o, Ok(WriteOutcome::Written)))
    }
    /// Services whose file already matched (skipped ones included).
    pub fn unchanged(&self) -> usize {
        self.count(|o| matches!(o, Ok(WriteOutcome::Unchanged)))
    }
    /// Services skipped by their stamp.
    pub fn skipped(&self) -> usize {
        self.services.iter().filter(|s| s.skipped).count()
    }
    /// Services that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| o.is_err())
    }
    fn count(&self, f: impl Fn(&Result<WriteOutcome, ServiceError>) -> bool) -> usize {
        self.services.iter().filter(|s| f(&s.outcome)).count()
    }
}

/// Runs generation over the selected services. Fails as a whole only if the soa dir cannot be
/// listed; per-service failures are in the report.
pub async fn generate_all<G: GitSource>(
    opts: &GenerateOptions,
    git: Arc<G>,
) -> Result<GenerateReport, SoaReadError> {
    let started = tokio::time::Instant::now();
    let services = if opts.services.is_empty() {
        soa_dir::list_services(&opts.soa_dir)?
    } else {
        opts.services.clone()
    };
    let permits = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut tasks = JoinSet::new();
    for service in services {
        let (git, permits, opts) = (git.clone(), permits.clone(), opts.clone());
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore never closed");
            if opts.stamps && fresh(&opts, &service).await {
                return ServiceReport {
                    service,
                    outcome: Ok(WriteOutcome::Unchanged),
                    skipped: true,
                };
            }
            let outcome = generate_service(&opts, &service, git.as_ref()).await;
            ServiceReport {
                service,
                outcome,
                skipped: false,
            }
        });
    }
    let mut report = GenerateReport::default();
    while let Some(joined) = tasks.join_next().await {
        report
            .services
            .push(joined.expect("generation tasks do not panic"));
    }
    report.services.sort_by(|a, b| a.service.cmp(&b.service));
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One service: read, parse, list refs (only if it has instances), generate, write if changed;
/// with `opts.stamps`, stamp what it was generated from (or drop the stamp on failure). File
/// I/O runs on the blocking pool.
pub async fn generate_service<G: GitSource>(
    opts: &GenerateOptions,
    service: &str,
    git: &G,
) -> Result<WriteOutcome, ServiceError> {
    let inputs = if opts.stamps {
        let (soa, name) = (opts.soa_dir.clone(), service.to_string());
        blocking(move || stamp::Inputs::take(&soa, &name)).await
    } else {
        None
    };
    let result = generate_unstamped(opts, service, git).await;
    if opts.stamps {
        let (soa, name, legacy) = (
            opts.soa_dir.clone(),
            service.to_string(),
            opts.legacy_branches,
        );
        let stamped = match (&result, inputs) {
            (Ok((_, repo)), Some(inputs)) => repo.clone().map(|repo| (inputs, repo)),
            _ => None,
        };
        blocking(move || match stamped {
            Some((inputs, repo)) => {
                let stamp = inputs.stamp(&soa, &name, legacy, repo);
                if let Err(e) = stamp::write(&soa, &name, &stamp) {
                    tracing::debug!(service = name, error = %e, "stamp not written");
                }
            }
            None => stamp::remove(&soa, &name),
        })
        .await;
    }
    result.map(|(outcome, _)| outcome)
}

/// What a stamp records of the repository: `Some(None)` no repository (no instances),
/// `Some(Some(..))` a local repository's url and refs, `None` unstampable.
type RepoInputs = Option<Option<(String, Vec<stamp::FileStamp>)>>;

async fn generate_unstamped<G: GitSource>(
    opts: &GenerateOptions,
    service: &str,
    git: &G,
) -> Result<(WriteOutcome, RepoInputs), ServiceError> {
    let plan = read_service_plan(&opts.soa_dir, service).await?;
    let (refs, repo) = match &plan.git_url {
        None => (None, Some(None)),
        Some(url) => {
            // Fingerprinted before listing: a push racing this run is seen by the next one.
            let fingerprint = if opts.stamps {
                let u = url.clone();
                blocking(move || stamp::refs_of(&u)).await
            } else {
                None
            };
            let refs = list_service_refs(service, url, git).await?;
            (Some(refs), fingerprint.map(|f| Some((url.clone(), f))))
        }
    };
    let outcome = write_service_deployments(opts, service, &plan, refs.as_deref()).await?;
    Ok((outcome, repo))
}

async fn fresh(opts: &GenerateOptions, service: &str) -> bool {
    let (soa, name, legacy) = (
        opts.soa_dir.clone(),
        service.to_string(),
        opts.legacy_branches,
    );
    galley_common::names::check("service", service).is_ok()
        && blocking(move || stamp::is_fresh(&soa, &name, legacy)).await
}

/// What generation needs from a service's config: its instances' refs and its repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// Per instance: control branch, deploy group, legacy branch.
    pub instances: Vec<InstanceRefs>,
    /// `git_url`; `None` when the service has no instances (its repo is never listed).
    pub git_url: Option<String>,
}

/// Reads and parses one service's config (on the blocking pool).
pub async fn read_service_plan(soa_dir: &Path, service: &str) -> Result<ServicePlan, ServiceError> {
    let (soa_dir, name) = (soa_dir.to_path_buf(), service.to_string());
    let (config, instances) = blocking(move || read_service_config(&soa_dir, &name)).await?;
    let git_url = if instances.is_empty() {
        None
    } else {
        Some(config.git_url()?)
    };
    Ok(ServicePlan { instances, git_url })
}

/// Lists the refs of `service`'s repository at `url`.
pub async fn list_service_refs<G: GitSource>(
    service: &str,
    url: &str,
    git: &G,
) -> Result<Vec<RemoteRef>, ServiceError> {
    git.list_refs(url)
        .await
        .map_err(|source| ServiceError::Git {
            file: format!("{service}/service.yaml"),
            source,
        })
}

/// Generates `service`'s deployments.json from `refs` (`None`: no instances) and writes it if
/// its bytes changed.
pub async fn write_service_deployments(
    opts: &GenerateOptions,
    service: &str,
    plan: &ServicePlan,
    refs: Option<&[RemoteRef]>,
) -> Result<WriteOutcome, ServiceError> {
    let deployments = match refs {
        Some(refs) if !plan.instances.is_empty() => {
            let index = RefIndex::new(refs.iter().map(|(n, s)| (n.as_str(), s.as_str())));
            deployments::generate(service, &plan.instances, &index, opts.legacy_branches)
        }
        _ => Deployments::default(),
    };
    let path = opts.soa_dir.join(service).join("deployments.json");
    let durability = opts.durability;
    Ok(
        blocking(move || {
            write_if_changed(&path, deployments.to_json_text().as_bytes(), durability)
        })
        .await?,
    )
}

fn read_service_config(
    soa_dir: &Path,
    service: &str,
) -> Result<(ServiceConfig, Vec<InstanceRefs>), ServiceError> {
    let source = soa_dir::read_service(soa_dir, service)?;
    let config = ServiceConfig::parse(&source)?;
    let instances = instance_refs(&config)?;
    Ok((config, instances))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking generation steps do not panic")
}

fn instance_refs(config: &ServiceConfig) -> Result<Vec<InstanceRefs>, ConfigError> {
    config
        .all_instances()?
        .iter()
        .map(|i| {
            Ok(InstanceRefs {
                control_branch: i.control_branch(),
                deploy_group: i.deploy_group()?,
                branch: i.branch()?,
            })
        })
        .collect()
}
