//! hacheck drain end to end: a fake hacheck (the spool HTTP API) listening on each emulated
//! agent's address, the reconciler bouncing a smartstack service through it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use galley_common::refs::DesiredState;
use galley_coordinator::plan::CleanupPolicy;
use galley_sim::SimClock;

use crate::reconcile::{Cluster, SHA1, SHA2};

/// Spool states by `<spool>/<port>`: `(state, since)`; plus a log of POSTs with their time.
#[derive(Clone, Default)]
struct Fake {
    spools: Arc<Mutex<BTreeMap<String, (String, f64)>>>,
    posts: Arc<Mutex<Vec<(String, String, f64)>>>,
    clock: Option<SimClock>,
}

impl Fake {
    fn now(&self) -> f64 {
        self.clock.as_ref().expect("clock").now().timestamp_millis() as f64 / 1000.0
    }
}

async fn get_spool(
    State(f): State<Fake>,
    Path((spool, port)): Path<(String, String)>,
) -> (StatusCode, String) {
    match f
        .spools
        .lock()
        .expect("lock")
        .get(&format!("{spool}/{port}"))
    {
        Some((state, since)) if state != "up" => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Service {spool} in {state} state since {since}: Drained by Paasta"),
        ),
        _ => (StatusCode::OK, "OK".into()),
    }
}

async fn post_spool(
    State(f): State<Fake>,
    Path((spool, port)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let status = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("status="))
        .unwrap_or("")
        .to_string();
    let now = f.now();
    f.posts
        .lock()
        .expect("lock")
        .push((format!("{spool}/{port}"), status.clone(), now));
    f.spools
        .lock()
        .expect("lock")
        .insert(format!("{spool}/{port}"), (status, now));
    StatusCode::OK
}

/// Serves the fake on 127.0.0.1:P and 127.0.0.2:P (the whole 127/8 is loopback).
async fn serve(fake: Fake) -> u16 {
    let app = axum::Router::new()
        .route(
            "/spool/{spool}/{port}/status",
            get(get_spool).post(post_spool),
        )
        .with_state(fake);
    let first = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = first.local_addr().expect("addr").port();
    let second = tokio::net::TcpListener::bind(("127.0.0.2", port))
        .await
        .expect("bind 127.0.0.2");
    tokio::spawn(axum::serve(first, app.clone()).into_future());
    tokio::spawn(axum::serve(second, app).into_future());
    port
}

#[tokio::test]
async fn smartstack_bounce_drains_through_hacheck_and_kills_only_after_the_delay() {
    let clock = SimClock::virtual_at(chrono::Utc::now());
    let fake = Fake {
        clock: Some(clock.clone()),
        ..Default::default()
    };
    let port = serve(fake.clone()).await;
    let hosts = vec!["127.0.0.1".to_string(), "127.0.0.2".to_string()];
    let mut c = Cluster::build(
        CleanupPolicy {
            kill_threshold: 0.5,
            force: false,
        },
        clock,
        &hosts,
    )
    .await;
    c.soa.file("web", "service.yaml", "description: web\n");
    c.soa
        .file("web", "smartstack.yaml", "main:\n  proxy_port: 20001\n");
    c.config(
        "web",
        &format!(
            "main:\n  instances: 2\n  drain_method_params: {{delay: 30, hacheck_port: {port}}}\n"
        ),
    );
    c.deploy("web", &["main"], SHA1, DesiredState::Start, None);
    c.converge(30).await;
    let old = c.running("web.main.").into_keys().next().expect("old app");
    assert!(
        fake.posts.lock().expect("lock").is_empty(),
        "nothing drained while creating"
    );

    c.deploy("web", &["main"], SHA2, DesiredState::Start, None);
    c.converge(60).await;
    let now = c.running("web.main.");
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(!now.contains_key(&old));
    let posts = fake.posts.lock().expect("lock").clone();
    let downs: Vec<_> = posts.iter().filter(|(_, s, _)| s == "down").collect();
    assert_eq!(downs.len(), 2, "both old tasks drained: {posts:?}");
    assert!(
        downs
            .iter()
            .all(|(spool, _, _)| spool.starts_with("web.main/")),
        "{downs:?}"
    );
    // Each old task ended at least `delay` after it was drained.
    let history = c.sim.history();
    let killed_at = history
        .iter()
        .filter(|h| {
            format!("{h:?}").contains("KillRequested")
                && format!("{h:?}").contains(old.trim_start_matches('/'))
        })
        .map(|h| h.at.timestamp_millis() as f64 / 1000.0)
        .fold(f64::INFINITY, f64::min);
    let first_drain = downs
        .iter()
        .map(|(_, _, t)| *t)
        .fold(f64::INFINITY, f64::min);
    assert!(
        killed_at.is_finite(),
        "old tasks were killed (or their app deleted)"
    );
    assert!(
        killed_at - first_drain >= 30.0,
        "killed {}s after draining",
        killed_at - first_drain
    );
}
