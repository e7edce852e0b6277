//! The git-server webhook: `POST /v1/git-webhook`, authenticated GitHub-style with
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body under the shared secret>`
//! (compared in constant time). The JSON body names what changed, either
//! `{"service": "<name>"}` or `{"repository": "<git url>"}` — `repository` may also be an object
//! with `url`, `clone_url`, `ssh_url` or `git_url` (GitHub, Gitea and GitLab push payloads).
//! Other fields are ignored.
//!
//! Answers: 202 `{"services": [...]}` (a re-list of each is under way), 401 for a missing or
//! wrong signature (logged with the peer address; nothing happens), 400 for a body that names
//! nothing, 404 when no service uses that repository.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::GitWatchHandle;
use crate::metrics::OutcomeLabels;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The webhook route.
pub const WEBHOOK_PATH: &str = "/v1/git-webhook";

#[derive(Clone)]
struct Hook {
    secret: Arc<Vec<u8>>,
    watch: GitWatchHandle,
}

/// The webhook router (serve it with `into_make_service_with_connect_info::<SocketAddr>()`).
pub fn router(secret: Vec<u8>, watch: GitWatchHandle) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(receive))
        .with_state(Hook {
            secret: Arc::new(secret),
            watch,
        })
}

/// `sha256=<hex>` for `body` under `secret` (what a git server sends; used by tests and benches).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is a valid signature of `body` (constant-time comparison of the MAC).
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(tag) = header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

async fn receive(
    State(hook): State<Hook>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let (status, outcome, answer) = if !verify(&hook.secret, &body, signature) {
        tracing::warn!(%peer, signed = signature.is_some(),
            "git webhook: rejected request with a missing or bad signature");
        (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            json!({"error": "missing or bad X-Hub-Signature-256"}),
        )
    } else {
        dispatch(&hook.watch, &body)
    };
    hook.watch.count_webhook(OutcomeLabels { outcome });
    (status, axum::Json(answer)).into_response()
}

fn dispatch(watch: &GitWatchHandle, body: &[u8]) -> (StatusCode, &'static str, Value) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return bad_request("body is not JSON");
    };
    let services = if let Some(service) = value.get("service").and_then(Value::as_str) {
        if let Err(e) = galley_common::names::check("service", service) {
            return bad_request(&e.to_string());
        }
        if watch.knows_service(service) {
            vec![service.to_string()]
        } else {
            vec![]
        }
    } else if let Some(urls) = repository_urls(&value) {
        let mut found: Vec<String> = urls
            .iter()
            .flat_map(|u| watch.services_for_url(u))
            .collect();
        found.sort();
        found.dedup();
        found
    } else {
        return bad_request("body names neither `service` nor `repository`");
    };
    if services.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            "unknown",
            json!({"error": "no service uses this repository"}),
        );
    }
    for service in &services {
        tracing::info!(service, "git webhook: re-listing");
        watch.refresh(service);
    }
    (
        StatusCode::ACCEPTED,
        "accepted",
        json!({ "services": services }),
    )
}

fn bad_request(why: &str) -> (StatusCode, &'static str, Value) {
    tracing::warn!(why, "git webhook: bad request");
    (
        StatusCode::BAD_REQUEST,
        "bad_request",
        json!({ "error": why }),
    )
}

fn repository_urls(value: &Value) -> Option<Vec<String>> {
    match value.get("repository")? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Object(o) => {
            let urls: Vec<String> = [
                "url",
                "clone_url",
                "ssh_url",
                "git_url",
                "git_ssh_url",
                "git_http_url",
            ]
            .iter()
            .filter_map(|k| o.get(*k).and_then(Value::as_str).map(String::from))
            .collect();
            (!urls.is_empty()).then_some(urls)
        }
        _ => None,
    }
}

/// A comparable form of a git URL: `host/path` without scheme, user, port, `.git` or trailing
/// `/` (`git@h:a/b.git`, `ssh://git@h/a/b`, `https://h/a/b.git` all give `h/a/b`); local paths
/// keep their path.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let rest = if let Some((_, rest)) = url.split_once("://") {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        match rest.split_once('/') {
            Some((host, path)) => {
                let host = host.split(':').next().unwrap_or(host);
                format!("{host}/{path}")
            }
            None => rest.to_string(),
        }
    } else if !url.starts_with('/') && !url.starts_with('.') && url.contains(':') {
        let rest = url.rsplit_once('@').map_or(url, |(_, r)| r);
        rest.replacen(':', "/", 1)
    } else {
        url.to_string()
    };
    let rest = rest.trim_end_matches('/');
    rest.strip_suffix(".git")
        .unwrap_or(rest)
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_right_secret_and_body() {
        let sig = sign(b"s3cret", b"{\"service\":\"web\"}");
        assert!(verify(b"s3cret", b"{\"service\":\"web\"}", Some(&sig)));
        assert!(!verify(b"other", b"{\"service\":\"web\"}", Some(&sig)));
        assert!(!verify(b"s3cret", b"{\"service\":\"api\"}", Some(&sig)));
        assert!(!verify(b"s3cret", b"{}", None));
        assert!(!verify(b"s3cret", b"{}", Some("sha1=abcd")));
    }

    #[test]
    fn urls_of_one_repository_normalize_alike() {
        let want = "git.example.com/services/web";
        for u in [
            "git@git.example.com:services/web.git",
            "ssh://git@git.example.com:22/services/web.git",
            "https://git.example.com/services/web",
            "https://Git.example.com/services/web.git/",
        ] {
            assert_eq!(normalize_url(u), want, "{u}");
        }
        assert_eq!(normalize_url("/srv/git/web.git"), "/srv/git/web");
    }
}
