//! The Mesos master's `/master/state` and `/master/slaves`, through the real `MesosClient`
//! against a server answering with anything (arbitrary bytes, a real state mutated; any status
//! and framing): `Ok`, or an error naming the master's URL; never a hang.

use std::time::Duration;

use galley_coordinator::mesos::{MesosApi, MesosClient};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::json;

use super::http::{FixedServer, response, runtime};
use super::mutate::{apply_tree_edits, tree_edits};
use super::support::{bytes, fuzz};

/// A real state: slaves with attributes of every type, tasks with container ids.
fn seed() -> serde_json::Value {
    json!({
        "slaves": [{"id": "S1", "hostname": "slave1",
            "attributes": {"region": "uswest1", "rack": 7, "ssd": true, "weights": [1, 2]}}],
        "frameworks": [{"id": "F1", "tasks": [{"id": "web.main.t1", "slave_id": "S1",
            "state": "TASK_RUNNING", "statuses": [{"container_status":
                {"container_id": {"value": "c-1"}}}, {"container_status": null}]}]}],
    })
}

#[test]
fn state_and_slaves_decode_any_response_or_fail_by_name() {
    let rt = runtime();
    let server = rt.block_on(FixedServer::start());
    let client = MesosClient::new(&server.url, Duration::from_secs(5))
        .with_credentials(Some(("user".into(), "secret".into())));
    let body = prop_oneof![
        1 => bytes(512),
        3 => tree_edits(5).prop_map(|e| serde_json::to_vec(&apply_tree_edits(seed(), &e)).expect("json")),
    ];
    fuzz(
        "mesos-responses",
        600,
        (any::<bool>(), response(body)),
        |(slaves, resp)| {
            server.respond(resp.raw());
            rt.block_on(async {
                let call = async {
                    if slaves {
                        client.slaves().await.map(drop)
                    } else {
                        client.state().await.map(drop)
                    }
                };
                let result = tokio::time::timeout(Duration::from_secs(20), call)
                    .await
                    .map_err(|_| TestCaseError::fail("a Mesos call hung"))?;
                match result {
                    Ok(()) => {
                        prop_assert!(resp.status / 100 == 2, "{} taken for success", resp.status)
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        prop_assert!(msg.starts_with("mesos master http://127.0.0.1:"), "{msg:?}");
                    }
                }
                Ok(())
            })
        },
    );
}
