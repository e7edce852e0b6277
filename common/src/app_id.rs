//! Marathon app ids as PaaSTA v0.19.9 builds and parses them (spec §3.2, §3.3, §2.5):
//! `<service>.<instance>.git<sha8>.config<hash8>`, with every `_` written as `--` because
//! Marathon ids forbid underscores.

use md5::{Digest, Md5};
use serde_json::Value;

use crate::pyjson;

/// Separator between the parts of a job id, and between an app id and a Mesos task's uuid.
pub const SPACER: &str = ".";

/// A job id that is not `service.instance` or `service.instance.git….config…`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidJobNameError {
    /// Exactly one of the two hashes was given to [`compose_job_id`].
    #[error(
        "invalid job id because git_hash ({git_hash}) and config_hash ({config_hash}) must both \
         be defined or neither can be defined"
    )]
    OneHashOnly {
        /// The git hash, or `None`.
        git_hash: String,
        /// The config hash, or `None`.
        config_hash: String,
    },
    /// The id does not split into 2 or 4 parts on `.`.
    #[error("invalid job id {job_id}")]
    WrongPartCount {
        /// The id as given.
        job_id: String,
    },
}

/// The parts of a job id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobId {
    /// Service name.
    pub service: String,
    /// Instance name.
    pub instance: String,
    /// `git<sha8>`, when the id has four parts.
    pub git_hash: Option<String>,
    /// `config<hash8>`, when the id has four parts.
    pub config_hash: Option<String>,
}

/// `compose_job_id`: `service.instance`, plus `.git_hash.config_hash` when both are given.
/// Empty hashes count as absent (Python truthiness).
pub fn compose_job_id(
    service: &str,
    instance: &str,
    git_hash: Option<&str>,
    config_hash: Option<&str>,
) -> Result<String, InvalidJobNameError> {
    let git_hash = git_hash.filter(|s| !s.is_empty());
    let config_hash = config_hash.filter(|s| !s.is_empty());
    match (git_hash, config_hash) {
        (None, None) => Ok(format!("{service}{SPACER}{instance}")),
        (Some(g), Some(c)) => Ok(format!("{service}{SPACER}{instance}{SPACER}{g}{SPACER}{c}")),
        (g, c) => Err(InvalidJobNameError::OneHashOnly {
            git_hash: g.unwrap_or("None").to_string(),
            config_hash: c.unwrap_or("None").to_string(),
        }),
    }
}

/// `decompose_job_id`: splits on `.`; exactly 2 or 4 parts are valid.
pub fn decompose_job_id(job_id: &str) -> Result<JobId, InvalidJobNameError> {
    let parts: Vec<&str> = job_id.split(SPACER).collect();
    let (git_hash, config_hash) = match parts.len() {
        2 => (None, None),
        4 => (Some(parts[2].to_string()), Some(parts[3].to_string())),
        _ => {
            return Err(InvalidJobNameError::WrongPartCount {
                job_id: job_id.to_string(),
            });
        }
    };
    Ok(JobId {
        service: parts[0].to_string(),
        instance: parts[1].to_string(),
        git_hash,
        config_hash,
    })
}

/// `format_job_id`: [`compose_job_id`] after replacing `_` with `--` in every part.
pub fn format_job_id(
    service: &str,
    instance: &str,
    git_hash: Option<&str>,
    config_hash: Option<&str>,
) -> Result<String, InvalidJobNameError> {
    let fmt = |s: &str| s.replace('_', "--");
    compose_job_id(
        &fmt(service),
        &fmt(instance),
        git_hash.map(fmt).as_deref(),
        config_hash.map(fmt).as_deref(),
    )
}

/// `deformat_job_id`: `--` back to `_`, then [`decompose_job_id`]. A leading `/` (as Marathon
/// reports ids) is not stripped here; callers strip it as PaaSTA does.
pub fn deformat_job_id(job_id: &str) -> Result<JobId, InvalidJobNameError> {
    decompose_job_id(&job_id.replace("--", "_"))
}

/// The short id `<service>.<instance>` (formatted): every app of the instance starts with it.
pub fn short_id(service: &str, instance: &str) -> String {
    let mut id = String::with_capacity(service.len() + instance.len() + 1);
    push_short_id(&mut id, service, instance);
    id
}

/// Appends [`short_id`] to `buf` (for callers that reuse one buffer per instance).
pub fn push_short_id(buf: &mut String, service: &str, instance: &str) {
    let mut push = |name: &str| {
        for (i, part) in name.split('_').enumerate() {
            if i > 0 {
                buf.push_str("--");
            }
            buf.push_str(part);
        }
    };
    push(service);
    push(SPACER);
    push(instance);
}

/// Whether a Marathon app id (with or without its leading `/`) belongs to the instance whose
/// short id is given: it starts with `<short id>.` (era B; era A's dot-less prefix also
/// matched `svc.main2`, which this deliberately does not).
pub fn is_app_of(app_id: &str, short_id: &str) -> bool {
    app_id
        .trim_start_matches('/')
        .strip_prefix(short_id)
        .is_some_and(|rest| rest.starts_with(SPACER))
}

/// The app id of a Mesos task or executor id `<app id>.<uuid>`: everything before the last `.`.
pub fn app_id_from_task_id(task_id: &str) -> &str {
    task_id.rsplit_once(SPACER).map_or(task_id, |(app, _)| app)
}

/// `get_code_sha_from_dockerurl`: `git` + the first 8 characters of the last `-`-separated
/// piece of the image URL.
pub fn code_sha_from_docker_url(docker_url: &str) -> String {
    let last = docker_url.rsplit('-').next().unwrap_or(docker_url);
    let sha8: String = last.chars().take(8).collect();
    format!("git{sha8}")
}

/// The exact text PaaSTA feeds to md5: `json.dumps(config, sort_keys=True)` followed by the
/// force_bounce string when there is one.
pub fn config_hash_input(config: &Value, force_bounce: Option<&str>) -> String {
    let mut text = pyjson::dumps(config, true);
    text.push_str(force_bounce.unwrap_or(""));
    text
}

/// `get_config_hash`: `config` + the first 8 hex digits of the md5 of [`config_hash_input`].
pub fn config_hash(config: &Value, force_bounce: Option<&str>) -> String {
    config_hash_of_input(&config_hash_input(config, force_bounce))
}

/// `config` + the first 8 hex digits of the md5 of an already built [`config_hash_input`].
pub fn config_hash_of_input(input: &str) -> String {
    let digest = Md5::digest(input.as_bytes());
    format!("config{}", &hex::encode(digest)[..8])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(service: &str, instance: &str, git: Option<&str>, config: Option<&str>) -> JobId {
        JobId {
            service: service.into(),
            instance: instance.into(),
            git_hash: git.map(Into::into),
            config_hash: config.map(Into::into),
        }
    }

    #[test]
    fn compose_joins_two_or_four_parts_and_rejects_a_lone_hash() {
        // §8 item 11.
        let compose = |g, c| compose_job_id("my_cool_service", "main", g, c);
        assert_eq!(compose(None, None).unwrap(), "my_cool_service.main");
        assert_eq!(
            compose(Some("git123abc"), Some("config456def")).unwrap(),
            "my_cool_service.main.git123abc.config456def"
        );
        for (g, c) in [(Some("git123abc"), None), (None, Some("config456def"))] {
            let err = compose(g, c).unwrap_err();
            assert!(
                matches!(err, InvalidJobNameError::OneHashOnly { .. }),
                "{err}"
            );
        }
        assert_eq!(compose(Some(""), None).unwrap(), "my_cool_service.main");
    }

    #[test]
    fn decompose_accepts_two_or_four_parts_only() {
        // §8 item 12.
        for bad in ["foo", "a.b.c", "a.b.c.d.e", ""] {
            assert_eq!(
                decompose_job_id(bad),
                Err(InvalidJobNameError::WrongPartCount { job_id: bad.into() })
            );
        }
        assert_eq!(
            decompose_job_id("my_cool_service.main").unwrap(),
            job("my_cool_service", "main", None, None)
        );
        assert_eq!(
            decompose_job_id("my_cool_service.main.git123abc.config456def").unwrap(),
            job(
                "my_cool_service",
                "main",
                Some("git123abc"),
                Some("config456def")
            )
        );
    }

    #[test]
    fn format_and_deformat_swap_underscores_and_double_dashes() {
        // §8 item 13.
        assert_eq!(
            deformat_job_id("ser--vice.in--stance.git--hash.config--hash").unwrap(),
            job(
                "ser_vice",
                "in_stance",
                Some("git_hash"),
                Some("config_hash")
            )
        );
        assert_eq!(
            format_job_id(
                "ser_vice",
                "in_stance",
                Some("git_hash"),
                Some("config_hash")
            )
            .unwrap(),
            "ser--vice.in--stance.git--hash.config--hash"
        );
        assert_eq!(short_id("my_service", "canary_1"), "my--service.canary--1");
    }

    #[test]
    fn apps_match_their_instance_by_prefix_with_the_dot() {
        assert!(is_app_of("/svc.main.gitabc.configdef", "svc.main"));
        assert!(is_app_of("svc.main.gitabc.configdef", "svc.main"));
        assert!(!is_app_of("/svc.main2.gitabc.configdef", "svc.main"));
        assert_eq!(
            app_id_from_task_id("svc.main.git1.config2.7a5c-11e5"),
            "svc.main.git1.config2"
        );
    }

    #[test]
    fn code_sha_is_git_plus_eight_characters_of_the_last_dash_piece() {
        // §8 item 14.
        let sha = code_sha_from_docker_url(
            "docker-paasta.yelpcorp.com:443/services-cieye:paasta-93340779404579",
        );
        assert_eq!(sha, "git93340779");
        assert_eq!(sha.len(), 11);
    }

    #[test]
    fn config_hash_of_foo_bar() {
        // §8 item 15 (era B's JSON method).
        let hash = config_hash(&json!({"foo": "bar"}), None);
        assert_eq!(hash, "config94232c5b");
        assert_eq!(hash.len(), 14);
        assert_eq!(
            config_hash_input(&json!({"b": 1, "a": 2.0}), Some("X")),
            r#"{"a": 2.0, "b": 1}X"#
        );
    }
}
