//! What `deployments.json` says one instance should run: PaaSTA's "branch dict" (docker_image,
//! desired_state, force_bounce; spec §1.2, §2.4).
//!
//! Precedence, field by field:
//! 1. `docker_image` (and `git_sha`): `v2.deployments[<deploy_group>]` if that entry exists
//!    (the v2 readers of 2016-12), else the v1 entry, else `''`.
//! 2. `desired_state`/`force_bounce`: `v2.controls["<service>:<cluster>.<instance>"]` if that
//!    entry exists, else the v1 entry, else `start` / none.
//!
//! The v1 entry is `v1["<service>:<branch>"]`, branch = the instance's `branch` key or
//! `paasta-<cluster>.<instance>` (v0.19.9's reader, which honours `branch` even though the
//! generator ignores it). A file written by v0.19.9 has only v1, so it reads exactly as
//! v0.19.9 read it; a file with both sections agrees on every instance the generator wrote.

use crate::deployments::Deployments;
use crate::refs::DesiredState;
use crate::soa::{ConfigError, InstanceConfig};

/// One instance's deployment state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchState {
    /// `services-<service>:paasta-<sha>`, relative to the registry; `''` when nothing is deployed.
    pub docker_image: String,
    /// `start` or `stop`.
    pub desired_state: DesiredState,
    /// Appended to the hashed config when set, so a new value bounces the app.
    pub force_bounce: Option<String>,
    /// The deployed commit, known only from v2.
    pub git_sha: Option<String>,
}

impl BranchState {
    /// PaaSTA's empty branch dict: nothing deployed, `start`, no force_bounce.
    pub fn empty() -> Self {
        Self {
            docker_image: String::new(),
            desired_state: DesiredState::Start,
            force_bounce: None,
            git_sha: None,
        }
    }
}

/// Why an instance's deployment state could not be looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BranchStateError {
    /// The service has no deployments.json (PaaSTA's `NoDeploymentsAvailable`; setup counts
    /// the instance as a success and skips it).
    #[error("no deployments.json for service {service}")]
    NoDeploymentsAvailable {
        /// Service name.
        service: String,
    },
    /// The instance's `branch` or `deploy_group` key is bad.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Looks up `instance` in its service's parsed deployments.json; `None` = the file is missing.
pub fn branch_state(
    deployments: Option<&Deployments>,
    instance: &InstanceConfig,
) -> Result<BranchState, BranchStateError> {
    let Some(deployments) = deployments else {
        return Err(BranchStateError::NoDeploymentsAvailable {
            service: instance.service.clone(),
        });
    };
    let v1 = deployments
        .v1
        .get(&format!("{}:{}", instance.service, instance.branch()?));
    let v2_deployment = deployments.v2.deployments.get(&instance.deploy_group()?);
    let v2_control = deployments.v2.controls.get(&format!(
        "{}:{}",
        instance.service,
        instance.control_branch()
    ));

    let mut state = BranchState::empty();
    if let Some(d) = v2_deployment {
        state.docker_image = d.docker_image.clone();
        state.git_sha = Some(d.git_sha.clone());
    } else if let Some(e) = v1 {
        state.docker_image = e.docker_image.clone();
    }
    if let Some(c) = v2_control {
        state.desired_state = c.desired_state;
        state.force_bounce = c.force_bounce.clone();
    } else if let Some(e) = v1 {
        state.desired_state = e.desired_state;
        state.force_bounce = e.force_bounce.clone();
    }
    Ok(state)
}
