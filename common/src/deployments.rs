//! `deployments.json`: the v1 and v2 formats and PaaSTA's algorithm that derives them from a
//! service's git refs (spec §2.3–§2.4, `generate_deployments_for_service`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pyjson;
use crate::refs::{DesiredState, RefIndex};

/// The whole file: `{"v1": {...}, "v2": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployments {
    /// `"<service>:<branch>"` → entry.
    pub v1: BTreeMap<String, V1Entry>,
    /// Per deploy group and per control branch (PaaSTA ≥ 0.53).
    #[serde(default)]
    pub v2: V2,
}

/// A v1 entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Entry {
    /// `services-<service>:paasta-<sha>`, relative to the registry.
    pub docker_image: String,
    /// `start` or `stop`.
    pub desired_state: DesiredState,
    /// Timestamp of the winning start/stop tag, if any.
    pub force_bounce: Option<String>,
}

/// The v2 section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2 {
    /// deploy group → what it runs.
    pub deployments: BTreeMap<String, V2Deployment>,
    /// `"<service>:<cluster>.<instance>"` → control.
    pub controls: BTreeMap<String, V2Control>,
}

/// What a deploy group runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Deployment {
    /// `services-<service>:paasta-<sha>`.
    pub docker_image: String,
    /// Full commit sha.
    pub git_sha: String,
}

/// Start/stop control of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Control {
    /// `start` or `stop`.
    pub desired_state: DesiredState,
    /// Timestamp of the winning start/stop tag, if any.
    pub force_bounce: Option<String>,
}

/// What generation needs to know of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRefs {
    /// `<cluster>.<instance>`.
    pub control_branch: String,
    /// Configured (interpolated) deploy group, default the control branch.
    pub deploy_group: String,
    /// The instance's `branch` key or `paasta-<cluster>.<instance>` (used only with legacy branches).
    pub branch: String,
}

/// `services-<service>:paasta-<sha>`.
pub fn docker_image_name(service: &str, sha: &str) -> String {
    format!("services-{service}:paasta-{sha}")
}

/// Reverse of [`docker_image_name`] on a full image URL: the text between `/services-` (or a
/// leading `services-`) and `:paasta-`.
pub fn service_from_image(image: &str) -> Option<&str> {
    let start = match image.find("/services-") {
        Some(i) => i + "/services-".len(),
        None => image.strip_prefix("services-").map(|_| "services-".len())?,
    };
    let rest = &image[start..];
    rest.find(":paasta-").map(|end| &rest[..end])
}

/// Generates a service's deployments from its refs as PaaSTA 0.19.9 (v1) and 0.53 (v2) did.
///
/// For each instance, the newest `paasta-<deploy_group>-<ts>-deploy` tag gives the sha; the
/// start/stop tag on that same sha with the greatest force_bounce gives the desired state; an
/// instance whose group has no deploy tag is omitted. With `legacy_branches`, such an instance
/// instead deploys the tip of `refs/heads/<branch>` if it exists (seed-era convention), keyed
/// under its branch in v1.
pub fn generate(
    service: &str,
    instances: &[InstanceRefs],
    refs: &RefIndex,
    legacy_branches: bool,
) -> Deployments {
    let mut out = Deployments::default();
    for inst in instances {
        let control_key = format!("{service}:{}", inst.control_branch);
        if let Some((_, sha)) = refs.latest_deploy(&inst.deploy_group) {
            let (desired_state, force_bounce) = refs.desired_state(&inst.control_branch, sha);
            let docker_image = docker_image_name(service, sha);
            out.v1.insert(
                format!("{service}:paasta-{}", inst.control_branch),
                V1Entry {
                    docker_image: docker_image.clone(),
                    desired_state,
                    force_bounce: force_bounce.clone(),
                },
            );
            out.v2.deployments.insert(
                inst.deploy_group.clone(),
                V2Deployment {
                    docker_image,
                    git_sha: sha.to_string(),
                },
            );
            out.v2.controls.insert(
                control_key,
                V2Control {
                    desired_state,
                    force_bounce,
                },
            );
        } else if legacy_branches && let Some(sha) = refs.head(&inst.branch) {
            let (desired_state, force_bounce) = legacy_desired_state(refs, inst, sha);
            let docker_image = docker_image_name(service, sha);
            out.v1.insert(
                format!("{service}:{}", inst.branch),
                V1Entry {
                    docker_image: docker_image.clone(),
                    desired_state,
                    force_bounce: force_bounce.clone(),
                },
            );
            out.v2
                .deployments
                .entry(inst.deploy_group.clone())
                .or_insert(V2Deployment {
                    docker_image,
                    git_sha: sha.to_string(),
                });
            out.v2.controls.insert(
                control_key,
                V2Control {
                    desired_state,
                    force_bounce,
                },
            );
        }
    }
    out
}

/// Era A wrote control tags as `paasta-<branch>-<ts>-<state>`; era B as
/// `paasta-<cluster>.<instance>-…`. Either may address a legacy branch; the greater force_bounce wins.
fn legacy_desired_state(
    refs: &RefIndex,
    inst: &InstanceRefs,
    sha: &str,
) -> (DesiredState, Option<String>) {
    let a = refs.desired_state(&inst.control_branch, sha);
    let b = refs.desired_state(&inst.branch, sha);
    let key = |s: &(DesiredState, Option<String>)| (s.1.clone(), s.0);
    if key(&b) > key(&a) { b } else { a }
}

/// Errors reading a deployments.json.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentsParseError {
    /// Not JSON.
    #[error("deployments.json is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// JSON of the wrong shape.
    #[error("deployments.json has an unexpected shape: {0}")]
    Shape(String),
}

impl Deployments {
    /// Parses any deployments.json PaaSTA ever wrote: v1+v2, v1 only, or the pre-2014-12 flat
    /// form `{"svc:branch": "services-svc:paasta-<sha>"}` (upgraded to start/no force_bounce).
    pub fn parse(text: &str) -> Result<Self, DeploymentsParseError> {
        let value: Value = serde_json::from_str(text).map_err(DeploymentsParseError::Json)?;
        let Value::Object(top) = value else {
            return Err(DeploymentsParseError::Shape(
                "top level is not an object".into(),
            ));
        };
        if top.contains_key("v1") {
            return serde_json::from_value(Value::Object(top))
                .map_err(|e| DeploymentsParseError::Shape(e.to_string()));
        }
        let mut v1 = BTreeMap::new();
        for (key, entry) in top {
            let entry = match entry {
                Value::String(image) => V1Entry {
                    docker_image: image,
                    desired_state: DesiredState::Start,
                    force_bounce: None,
                },
                other => serde_json::from_value(other)
                    .map_err(|e| DeploymentsParseError::Shape(format!("{key}: {e}")))?,
            };
            v1.insert(key, entry);
        }
        Ok(Deployments {
            v1,
            v2: V2::default(),
        })
    }

    /// The file's text as PaaSTA's `json.dump` writes it (keys sorted, so identical state gives
    /// identical bytes).
    pub fn to_json_text(&self) -> String {
        let value = serde_json::to_value(self).expect("deployments serialise");
        pyjson::dumps(&value, true)
    }
}

#[cfg(test)]
mod tests;
