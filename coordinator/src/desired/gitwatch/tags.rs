//! Writing control tags, the write side of PaaSTA's CLI (spec §7): `mark-for-deployment` pushes
//! `refs/tags/paasta-<deploy_group>-<UTC ts>-deploy` on a commit; `start`/`stop` push
//! `refs/tags/paasta-<cluster>.<instance>-<UTC ts>-start|stop` on the sha currently deployed to
//! the instance's deploy group; `restart` is `start` with a new timestamp.
//!
//! Everything is validated before anything is pushed (service, instance, deploy group, sha
//! shape, the current deployment, an existing tag of the same name); the push is one ref update.
//! Every write and every refusal is audited in the tracing log (`target: "audit"`) with who,
//! which ref and which sha; writes also go to the deploy log with PaaSTA's messages.
//!
//! Deliberate deviation: PaaSTA force-pushed deploy tags; we never force, so two writes of the
//! same name within one second are refused rather than one silently replacing the other.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use galley_common::refs::{
    DesiredState, RefIndex, control_tag_name, deploy_tag_name, parse_control_tag, parse_deploy_tag,
};

use super::push::{PushCredentials, PushError, push_tag_blocking};
use crate::deploy_log::{Component, DeployEvent, DeployLog, Level, NOT_APPLICABLE};
use crate::error_chain::ErrorChain;
use crate::generate::{ServiceError, ServicePlan, list_service_refs, read_service_plan};
use crate::git::Git2Source;
use crate::metrics::{Metrics, OutcomeLabels};
use crate::soa_dir::SoaReadError;

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRequest {
    /// A deploy tag for `deploy_group` on `sha`.
    MarkForDeployment {
        /// Service.
        service: String,
        /// Deploy group (one of the service's instances' groups).
        deploy_group: String,
        /// Full 40-hex commit id.
        sha: String,
    },
    /// A start or stop tag for `cluster.instance` on its deployed sha.
    SetState {
        /// Service.
        service: String,
        /// Cluster.
        cluster: String,
        /// Instance.
        instance: String,
        /// `start` (also restart) or `stop`.
        state: DesiredState,
    },
}

/// A tag that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagWritten {
    /// The full ref name, e.g. `refs/tags/paasta-prod.main-20240101T000000-deploy`.
    pub ref_name: String,
    /// The commit it points at.
    pub sha: String,
    /// The repository it was pushed to.
    pub git_url: String,
}

/// Why a tag was not written. Nothing was pushed in any case.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// A request field is malformed.
    #[error("invalid {field}: {message}")]
    InvalidArgument {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such service directory.
    #[error("unknown service {service}")]
    UnknownService {
        /// Service.
        service: String,
    },
    /// No such instance in the service's config.
    #[error("service {service} has no instance {cluster}.{instance}")]
    UnknownInstance {
        /// Service.
        service: String,
        /// Cluster.
        cluster: String,
        /// Instance.
        instance: String,
    },
    /// No instance of the service uses this deploy group.
    #[error("service {service} has no deploy group {deploy_group} (known: {known})")]
    UnknownDeployGroup {
        /// Service.
        service: String,
        /// Group asked for.
        deploy_group: String,
        /// The service's groups, comma-separated.
        known: String,
    },
    /// start/stop of an instance whose deploy group was never marked for deployment.
    #[error(
        "No branches found for {cluster}.{instance} of {service}: deploy group {deploy_group} has no deploy tag"
    )]
    NotDeployed {
        /// Service.
        service: String,
        /// Cluster.
        cluster: String,
        /// Instance.
        instance: String,
        /// Its deploy group.
        deploy_group: String,
    },
    /// The tag already exists (two writes within one second).
    #[error("{ref_name} already exists in {git_url}; retry in a second")]
    TagExists {
        /// The ref.
        ref_name: String,
        /// The repository.
        git_url: String,
    },
    /// The service's config could not be read.
    #[error("service {service} configuration")]
    Config {
        /// Service.
        service: String,
        /// Why.
        #[source]
        source: ServiceError,
    },
    /// The repository could not be listed.
    #[error("repository of service {service} is unreachable")]
    Unreachable {
        /// Service.
        service: String,
        /// Why.
        #[source]
        source: ServiceError,
    },
    /// The push failed or was refused.
    #[error(transparent)]
    Push(#[from] PushError),
    /// The push did not finish in time (it may still land; the deploy log will not say so).
    #[error("push to {git_url} timed out after {timeout:?}")]
    Timeout {
        /// The repository.
        git_url: String,
        /// The limit.
        timeout: Duration,
    },
}

/// Settings of a [`TagWriter`].
#[derive(Debug, Clone)]
pub struct TagWriterSettings {
    /// yelpsoa-configs root (services, instances, git_url).
    pub soa_dir: PathBuf,
    /// Listing and push timeout.
    pub timeout: Duration,
    /// Push credentials.
    pub credentials: PushCredentials,
    /// Mirrors of remote repositories.
    pub mirror_dir: PathBuf,
}

/// Writes deploy and control tags; shared by the gRPC service and the subcommands.
pub struct TagWriter {
    settings: TagWriterSettings,
    git: Git2Source,
    deploy_log: Option<Arc<DeployLog>>,
    metrics: Option<Arc<Metrics>>,
    clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

impl TagWriter {
    /// A writer on the wall clock; `deploy_log`/`metrics` are optional sinks.
    pub fn new(
        settings: TagWriterSettings,
        deploy_log: Option<Arc<DeployLog>>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        let git = Git2Source::new(settings.timeout);
        Self {
            settings,
            git,
            deploy_log,
            metrics,
            clock: Arc::new(Utc::now),
        }
    }

    /// Uses `clock` for tag timestamps.
    pub fn with_clock(mut self, clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates `request`, pushes its tag, audits and logs it. `who` is `user@host`.
    pub async fn write(&self, request: &TagRequest, who: &str) -> Result<TagWritten, TagError> {
        let result = self.write_inner(request).await;
        let outcome = match &result {
            Ok(w) => {
                tracing::info!(target: "audit", who, ref_name = %w.ref_name, sha = %w.sha,
                    git_url = %w.git_url, "control tag written");
                self.deploy_log(request, w, who);
                "written"
            }
            Err(e) => {
                tracing::warn!(target: "audit", who, request = ?request, error = %ErrorChain(e),
                    "control tag refused");
                match e {
                    TagError::Push(PushError::Git { .. })
                    | TagError::Timeout { .. }
                    | TagError::Unreachable { .. } => "failed",
                    _ => "refused",
                }
            }
        };
        if let Some(m) = &self.metrics {
            m.tag_writes.get_or_create(&OutcomeLabels { outcome }).inc();
        }
        result
    }

    async fn write_inner(&self, request: &TagRequest) -> Result<TagWritten, TagError> {
        let now = (self.clock)();
        let (ref_name, sha, url, (_, names)) = match request {
            TagRequest::MarkForDeployment {
                service,
                deploy_group,
                sha,
            } => {
                check_name("service", service)?;
                check_name("deploy_group", deploy_group)?;
                check_sha(sha)?;
                let plan = self.plan(service).await?;
                if !plan
                    .instances
                    .iter()
                    .any(|i| &i.deploy_group == deploy_group)
                {
                    let mut known: Vec<&str> = plan
                        .instances
                        .iter()
                        .map(|i| i.deploy_group.as_str())
                        .collect();
                    known.sort();
                    known.dedup();
                    return Err(TagError::UnknownDeployGroup {
                        service: service.clone(),
                        deploy_group: deploy_group.clone(),
                        known: known.join(", "),
                    });
                }
                let (url, index) = self.refs(service, &plan).await?;
                let newest = index
                    .1
                    .iter()
                    .filter_map(|n| parse_deploy_tag(n))
                    .filter(|(g, _)| g == deploy_group)
                    .map(|(_, ts)| ts);
                let ts = tag_timestamp(now, newest);
                let ref_name = deploy_tag_name(deploy_group, &ts);
                (ref_name, sha.to_ascii_lowercase(), url, index)
            }
            TagRequest::SetState {
                service,
                cluster,
                instance,
                state,
            } => {
                check_name("service", service)?;
                check_name("cluster", cluster)?;
                check_name("instance", instance)?;
                let plan = self.plan(service).await?;
                let branch = format!("{cluster}.{instance}");
                let inst = plan
                    .instances
                    .iter()
                    .find(|i| i.control_branch == branch)
                    .ok_or_else(|| TagError::UnknownInstance {
                        service: service.clone(),
                        cluster: cluster.clone(),
                        instance: instance.clone(),
                    })?;
                let (url, index) = self.refs(service, &plan).await?;
                let (_, sha) = index.0.latest_deploy(&inst.deploy_group).ok_or_else(|| {
                    TagError::NotDeployed {
                        service: service.clone(),
                        cluster: cluster.clone(),
                        instance: instance.clone(),
                        deploy_group: inst.deploy_group.clone(),
                    }
                })?;
                let sha = sha.to_string();
                let newest = index
                    .1
                    .iter()
                    .filter_map(|n| parse_control_tag(n))
                    .filter(|t| t.control_branches.contains(&branch.as_str()))
                    .map(|t| t.force_bounce);
                let ts = tag_timestamp(now, newest);
                (control_tag_name(&branch, &ts, *state), sha, url, index)
            }
        };
        if names.contains(&ref_name) {
            return Err(TagError::TagExists {
                ref_name,
                git_url: url,
            });
        }
        self.push(url, ref_name, sha).await
    }

    async fn plan(&self, service: &str) -> Result<ServicePlan, TagError> {
        match read_service_plan(&self.settings.soa_dir, service).await {
            Ok(plan) => Ok(plan),
            Err(ServiceError::Read(SoaReadError::NoSuchService { .. })) => {
                Err(TagError::UnknownService {
                    service: service.to_string(),
                })
            }
            Err(source) => Err(TagError::Config {
                service: service.to_string(),
                source,
            }),
        }
    }

    /// The repository URL, its ref index and its ref names.
    async fn refs(
        &self,
        service: &str,
        plan: &ServicePlan,
    ) -> Result<(String, (RefIndex, Vec<String>)), TagError> {
        let url = plan
            .git_url
            .clone()
            .ok_or_else(|| TagError::InvalidArgument {
                field: "service",
                message: format!("service {service} has no instances"),
            })?;
        let refs = list_service_refs(service, &url, &self.git)
            .await
            .map_err(|source| TagError::Unreachable {
                service: service.to_string(),
                source,
            })?;
        let index = RefIndex::new(refs.iter().map(|(n, s)| (n.as_str(), s.as_str())));
        let names = refs.into_iter().map(|(n, _)| n).collect();
        Ok((url, (index, names)))
    }

    async fn push(
        &self,
        url: String,
        ref_name: String,
        sha: String,
    ) -> Result<TagWritten, TagError> {
        let (creds, mirrors) = (
            self.settings.credentials.clone(),
            self.settings.mirror_dir.clone(),
        );
        let (u, r, s) = (url.clone(), ref_name.clone(), sha.clone());
        let task =
            tokio::task::spawn_blocking(move || push_tag_blocking(&u, &r, &s, &creds, &mirrors));
        match tokio::time::timeout(self.settings.timeout, task).await {
            Err(_) => Err(TagError::Timeout {
                git_url: url,
                timeout: self.settings.timeout,
            }),
            Ok(joined) => {
                joined.expect("push does not panic")?;
                Ok(TagWritten {
                    ref_name,
                    sha,
                    git_url: url,
                })
            }
        }
    }

    fn deploy_log(&self, request: &TagRequest, written: &TagWritten, who: &str) {
        let Some(log) = &self.deploy_log else { return };
        let now = (self.clock)();
        let event = match request {
            TagRequest::MarkForDeployment {
                service,
                deploy_group,
                ..
            } => DeployEvent::new(
                now,
                Level::Event,
                Component::Deploy,
                NOT_APPLICABLE,
                service,
                NOT_APPLICABLE,
                &format!(
                    "Marked {} in for deployment in deploy group {deploy_group}",
                    written.sha
                ),
            ),
            TagRequest::SetState {
                service,
                cluster,
                instance,
                state,
            } => DeployEvent::new(
                now,
                Level::Event,
                Component::Deploy,
                cluster,
                service,
                instance,
                &format!(
                    "Issued request to change state of {instance} (an instance of {service}) \
                     to '{state}' by {who}"
                ),
            ),
        };
        if let Err(e) = log.log(event) {
            tracing::warn!(error = %ErrorChain(&e), "deploy log write failed");
        }
    }
}

fn check_sha(sha: &str) -> Result<(), TagError> {
    if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        // Shortened: the whole value in the status could outgrow the client's header limit,
        // turning INVALID_ARGUMENT into an HTTP/2 protocol error.
        Err(TagError::InvalidArgument {
            field: "git_sha",
            message: format!(
                "{} is not a full 40-hex commit id",
                galley_common::names::shown(sha)
            ),
        })
    }
}

/// The timestamp of a new tag: now (UTC, `%Y%m%dT%H%M%S`), or one second after the newest
/// tag of the same kind (`existing`) when that is not older than now. PaaSTA used the clock
/// alone, so `stop` then `start` within one second made two tags with one timestamp and the
/// stop won; a Galley tag is always the newest of its group or instance.
fn tag_timestamp<'a>(now: DateTime<Utc>, existing: impl Iterator<Item = &'a str>) -> String {
    const FORMAT: &str = "%Y%m%dT%H%M%S";
    let newest = existing
        .filter_map(|ts| chrono::NaiveDateTime::parse_from_str(ts, FORMAT).ok())
        .max();
    let now = now.naive_utc();
    let at = match newest {
        Some(n) if n.and_utc().timestamp() >= now.and_utc().timestamp() => {
            n + chrono::Duration::seconds(1)
        }
        _ => now,
    };
    at.format(FORMAT).to_string()
}

/// Names end up in ref names and paths: the one name check (`galley_common::names`).
fn check_name(field: &'static str, value: &str) -> Result<(), TagError> {
    galley_common::names::check(field, value).map_err(|e| TagError::InvalidArgument {
        field,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::tag_timestamp;

    #[test]
    fn a_new_tag_is_newer_than_every_tag_of_its_kind() {
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 12, 6, 5, 38, 47)
            .unwrap();
        assert_eq!(tag_timestamp(now, std::iter::empty()), "20261206T053847");
        assert_eq!(
            tag_timestamp(now, ["20261206T053846"].into_iter()),
            "20261206T053847",
            "older tags do not matter"
        );
        assert_eq!(
            tag_timestamp(now, ["20261206T053847", "junk"].into_iter()),
            "20261206T053848",
            "a stop written this second: the start is one second later"
        );
        assert_eq!(
            tag_timestamp(now, ["20261206T053850"].into_iter()),
            "20261206T053851",
            "a clock behind the newest tag still writes the newest"
        );
    }
}
