//! A deploy group's history in git: its deploy tags, oldest first, read with the same listing
//! the git watch and the tag writer use (`ls-remote`, annotated tags peeled). Git stays the
//! only source of truth for "what was deployed before": `rollback`, `mark-for-deployment
//! --auto-rollback` and the coordinator's policy all read it here.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use galley_common::refs::parse_deploy_tag;

use crate::generate::{ServiceError, list_service_refs, read_service_plan};
use crate::git::Git2Source;

/// One deploy tag of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployTag {
    /// `refs/tags/paasta-<group>-<ts>-deploy`.
    pub ref_name: String,
    /// `YYYYMMDDTHHMMSS`.
    pub timestamp: String,
    /// The commit (peeled).
    pub sha: String,
}

/// Why the history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The service's config could not be read.
    #[error("service {service}: configuration unreadable")]
    Config {
        /// Service.
        service: String,
        /// Why.
        #[source]
        source: ServiceError,
    },
    /// The service has no instances (no repository to read).
    #[error("service {service} has no instances")]
    NoInstances {
        /// Service.
        service: String,
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
}

/// The deploy tags of `deploy_group` in `service`'s repository (its `git_url` in `soa_dir`),
/// oldest first. Listing is bounded by `timeout`.
pub async fn deploy_history(
    soa_dir: &Path,
    service: &str,
    deploy_group: &str,
    timeout: Duration,
) -> Result<Vec<DeployTag>, HistoryError> {
    let plan = read_service_plan(soa_dir, service)
        .await
        .map_err(|source| HistoryError::Config {
            service: service.to_owned(),
            source,
        })?;
    let url = plan.git_url.ok_or_else(|| HistoryError::NoInstances {
        service: service.to_owned(),
    })?;
    let refs = list_service_refs(service, &url, &Git2Source::new(timeout))
        .await
        .map_err(|source| HistoryError::Unreachable {
            service: service.to_owned(),
            source,
        })?;
    Ok(group_history(
        refs.iter().map(|(n, s)| (n.as_str(), s.as_str())),
        deploy_group,
    ))
}

/// The deploy tags of `deploy_group` among `refs` (`ls-remote` pairs), oldest first; an
/// annotated tag gives the commit it peels to.
pub fn group_history<'a>(
    refs: impl IntoIterator<Item = (&'a str, &'a str)>,
    deploy_group: &str,
) -> Vec<DeployTag> {
    let refs: Vec<(&str, &str)> = refs.into_iter().collect();
    let peeled: HashMap<&str, &str> = refs
        .iter()
        .filter_map(|(n, s)| n.strip_suffix("^{}").map(|base| (base, *s)))
        .collect();
    let mut out: Vec<DeployTag> = refs
        .iter()
        .filter_map(|(name, sha)| {
            let (group, ts) = parse_deploy_tag(name)?;
            (group == deploy_group).then(|| DeployTag {
                ref_name: (*name).to_owned(),
                timestamp: ts.to_owned(),
                sha: peeled.get(name).copied().unwrap_or(sha).to_owned(),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.timestamp, &a.ref_name).cmp(&(&b.timestamp, &b.ref_name)));
    out
}

/// The sha deployed now (the newest tag's).
pub fn current_sha(history: &[DeployTag]) -> Option<&str> {
    history.last().map(|t| t.sha.as_str())
}

/// The sha deployed before the current one: the newest tag whose sha differs from the
/// newest tag's (re-marking the same sha is not a version).
pub fn previous_sha(history: &[DeployTag]) -> Option<&str> {
    let current = current_sha(history)?;
    history
        .iter()
        .rev()
        .map(|t| t.sha.as_str())
        .find(|s| *s != current)
}

/// The full sha of the newest tag whose sha starts with `prefix` (an app id's 8 chars).
pub fn resolve_prefix<'a>(history: &'a [DeployTag], prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return None;
    }
    history
        .iter()
        .rev()
        .map(|t| t.sha.as_str())
        .find(|s| s.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::{current_sha, group_history, previous_sha, resolve_prefix};

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const T: &str = "cccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn the_history_is_the_groups_tags_in_time_order_with_annotated_tags_peeled() {
        let refs = [
            ("refs/tags/paasta-prod.main-20260102T000000-deploy", T),
            ("refs/tags/paasta-prod.main-20260102T000000-deploy^{}", B),
            ("refs/tags/paasta-prod.main-20260101T000000-deploy", A),
            ("refs/tags/paasta-prod.canary-20260103T000000-deploy", A),
            ("refs/tags/paasta-prod.main-20260104T000000-stop", A),
            ("refs/heads/master", B),
        ];
        let h = group_history(refs, "prod.main");
        let shas: Vec<&str> = h.iter().map(|t| t.sha.as_str()).collect();
        assert_eq!(shas, [A, B]);
        assert_eq!(h[1].timestamp, "20260102T000000");
        assert_eq!(current_sha(&h), Some(B));
        assert_eq!(group_history(refs, "prod.nothing"), vec![]);
    }

    #[test]
    fn the_previous_sha_skips_re_marks_of_the_current_one() {
        let refs = [
            ("refs/tags/paasta-g-20260101T000000-deploy", A),
            ("refs/tags/paasta-g-20260102T000000-deploy", B),
            ("refs/tags/paasta-g-20260103T000000-deploy", B),
        ];
        let h = group_history(refs, "g");
        assert_eq!(previous_sha(&h), Some(A));
        assert_eq!(
            previous_sha(&h[..1]),
            None,
            "one version: nothing before it"
        );
        assert_eq!(previous_sha(&[]), None);
        assert_eq!(resolve_prefix(&h, "aaaaaaaa"), Some(A));
        assert_eq!(resolve_prefix(&h, "dddddddd"), None);
        assert_eq!(resolve_prefix(&h, ""), None);
    }
}
