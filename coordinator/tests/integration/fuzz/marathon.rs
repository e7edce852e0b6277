//! Marathon's responses, through the real `MarathonClient` against a server answering with
//! anything: every operation's body (app list, one app, the launch queue, error bodies with
//! and without `deployments`) as arbitrary bytes or a real body mutated, under any status and
//! any framing; and the event stream. Each call ends (no hang) in `Ok` or an error that names
//! Marathon and the URL.

use std::time::Duration;

use futures::StreamExt;
use galley_coordinator::marathon::{MarathonApi, MarathonClient, MarathonConfig, MarathonError};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::http::{FixedServer, Response, response, runtime};
use super::mutate::{apply_tree_edits, tree_edits};
use super::support::{bytes, fuzz};

/// Real bodies of each endpoint, from Marathon 1.4.
pub fn seeds() -> Vec<Value> {
    let app = json!({
        "id": "/web.main.gitaaaaaaaa.configbbbbbbbb", "instances": 2,
        "healthChecks": [{"protocol": "HTTP", "path": "/status"}],
        "deployments": [{"id": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}],
        "tasks": [{"id": "web.main.t1", "appId": "/web.main.gitaaaaaaaa.configbbbbbbbb",
            "host": "slave1", "ports": [31000], "state": "TASK_RUNNING",
            "stagedAt": "2024-01-01T00:00:00.000Z", "startedAt": "2024-01-01T00:00:01.000Z",
            "healthCheckResults": [{"alive": true}]}],
        "lastTaskFailure": {"taskId": "web.main.t0", "state": "TASK_FAILED", "message": "boom",
            "host": "slave1", "timestamp": "2024-01-01T00:00:00.000Z"},
        "tasksStaged": 0, "tasksRunning": 1, "tasksHealthy": 1, "tasksUnhealthy": 0,
    });
    vec![
        json!({ "apps": [app.clone()] }),
        json!({ "app": app }),
        json!({"queue": [{"app": {"id": "/web.main.x"}, "count": 2,
            "delay": {"timeLeftSeconds": 7, "overdue": false},
            "processedOffersSummary": {"unusedOffersCount": 9,
                "lastUnusedOfferAt": "2024-01-01T00:00:01.000Z",
                "rejectSummaryLastOffers": [{"reason": "InsufficientCpus", "declined": 6}]}}]}),
        json!({"message": "App is locked by one or more deployments.",
            "deployments": [{"id": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}]}),
    ]
}

/// A body: arbitrary bytes, or a real body (of any endpoint) mutated.
pub fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => bytes(512),
        3 => (0usize..4, tree_edits(5)).prop_map(|(i, edits)| {
            serde_json::to_vec(&apply_tree_edits(seeds()[i].clone(), &edits)).expect("json")
        }),
    ]
}

/// Checks an error: it names Marathon and what it was doing.
fn check_error(e: &MarathonError) -> Result<(), TestCaseError> {
    let msg = e.to_string();
    prop_assert!(
        msg.starts_with("marathon ") && msg.contains("http://127.0.0.1:"),
        "{msg:?}"
    );
    Ok(())
}

#[test]
fn every_operation_decodes_any_response_or_fails_by_name() {
    let rt = runtime();
    let server = rt.block_on(FixedServer::start());
    let client = MarathonClient::new(MarathonConfig {
        url: server.url.clone(),
        credentials: Some(("user".into(), "secret".into())),
        timeout: Duration::from_secs(5),
    });
    fuzz(
        "marathon-responses",
        600,
        (0u8..7, response(body())),
        |(op, resp): (u8, Response)| {
            server.respond(resp.raw());
            rt.block_on(async {
                let call = async {
                    let id = "/web.main.gitaaaaaaaa.configbbbbbbbb";
                    match op {
                        0 => client.list_apps().await.map(drop),
                        1 => client.get_app(id).await.map(drop),
                        2 => client.queue().await.map(drop),
                        3 => client.create_app(&json!({"id": id})).await,
                        4 => client.scale_app(id, 3, false).await,
                        5 => {
                            client
                                .kill_tasks(&["web.main.t1".into()], true, false)
                                .await
                        }
                        _ => client.delete_app(id).await,
                    }
                };
                let result = tokio::time::timeout(Duration::from_secs(20), call).await;
                let result = result.map_err(|_| TestCaseError::fail("a Marathon call hung"))?;
                match &result {
                    Ok(()) => {
                        let not_found = op == 1 && resp.status == 404;
                        prop_assert!(
                            resp.status / 100 == 2 || not_found,
                            "{} taken for success",
                            resp.status
                        );
                    }
                    Err(e) => check_error(e)?,
                }
                Ok(())
            })
        },
    );
}

/// The event stream through the client: any body, framed anyhow, ends in events, an error
/// naming the stream, or its end.
#[test]
fn the_event_stream_ends_or_fails_by_name_on_any_body() {
    let rt = runtime();
    let server = rt.block_on(FixedServer::start());
    let client = MarathonClient::new(MarathonConfig {
        url: server.url.clone(),
        credentials: None,
        timeout: Duration::from_secs(5),
    });
    let body = prop_oneof![
        bytes(2048),
        super::sse::stream_text().prop_map(String::into_bytes)
    ];
    fuzz("marathon-events", 300, response(body), |resp| {
        server.respond(resp.raw());
        rt.block_on(async {
            let events = client.events().collect::<Vec<_>>();
            let events = tokio::time::timeout(Duration::from_secs(20), events)
                .await
                .map_err(|_| TestCaseError::fail("the event stream hung"))?;
            for e in events.iter().filter_map(|r| r.as_ref().err()) {
                check_error(e)?;
            }
            Ok(())
        })
    });
}
