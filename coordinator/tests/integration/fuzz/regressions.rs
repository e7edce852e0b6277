//! Replays every input kept under `fuzz/regressions/<target>/` (workspace root) through its
//! target: minimal inputs the fuzzers found, and nasty seeds (deep nesting, alias bombs,
//! invalid UTF-8, huge numbers, lying lengths) that keep the harness honest.

use std::time::Duration;

use galley_coordinator::marathon::events::SseParser;
use galley_coordinator::marathon::{MarathonApi, MarathonClient, MarathonConfig};
use galley_coordinator::mesos::{MesosApi, MesosClient};

use super::config::check_config;
use super::env::Env;
use super::http::{FixedServer, Framing, Response, runtime};
use galley_e2e::fuzz::regression_inputs as inputs;

fn ok_response(body: Vec<u8>) -> Vec<u8> {
    Response {
        status: 200,
        framing: Framing::Exact,
        content_type: Some("application/json"),
        body,
    }
    .raw()
}

#[test]
fn coordinator_config_regressions_replay() {
    for (path, bytes) in inputs("coordinator-config") {
        if let Err(e) = check_config(&String::from_utf8_lossy(&bytes)) {
            panic!("{}: {e}", path.display());
        }
    }
}

/// Each body as a 200 to every Marathon and Mesos read: decoded or refused by name, in time.
#[test]
fn response_regressions_replay() {
    let rt = runtime();
    let server = rt.block_on(FixedServer::start());
    let timeout = Duration::from_secs(5);
    let marathon = MarathonClient::new(MarathonConfig {
        url: server.url.clone(),
        credentials: None,
        timeout,
    });
    let mesos = MesosClient::new(&server.url, timeout);
    let mut bodies = inputs("marathon-responses");
    bodies.extend(inputs("mesos-responses"));
    for (path, body) in bodies {
        server.respond(ok_response(body));
        rt.block_on(async {
            let errors = [
                marathon.list_apps().await.err().map(|e| e.to_string()),
                marathon.get_app("/web").await.err().map(|e| e.to_string()),
                marathon.queue().await.err().map(|e| e.to_string()),
                mesos.state().await.err().map(|e| e.to_string()),
                mesos.slaves().await.err().map(|e| e.to_string()),
            ];
            for msg in errors.into_iter().flatten() {
                assert!(msg.contains(&server.url), "{}: {msg}", path.display());
            }
        });
    }
}

/// Each stream in chunks of 1, 2, 7 and all bytes: the same events or the same error.
#[test]
fn sse_regressions_replay() {
    for (path, stream) in inputs("sse") {
        let parse = |size: usize| {
            let mut parser = SseParser::default();
            let mut events = Vec::new();
            for chunk in stream.chunks(size) {
                events.extend(parser.feed(chunk).map_err(|e| e.to_string())?);
            }
            Ok::<_, String>(events)
        };
        let whole = parse(stream.len().max(1));
        for size in [1, 2, 7] {
            assert_eq!(parse(size), whole, "{}: chunks of {size}", path.display());
        }
    }
}

/// Each raw request to the webhook of a started coordinator: a 4xx or a closed connection,
/// and nothing written.
#[test]
fn webhook_regressions_replay() {
    let env = Env::start();
    let before = env.written();
    for (path, request) in inputs("webhook") {
        let statuses = env
            .rt
            .block_on(super::webhook::send(&env, &request))
            .expect("in time");
        assert!(
            statuses.iter().all(|s| (400..500).contains(s)),
            "{}: {statuses:?}",
            path.display()
        );
        assert_eq!(env.written(), before, "{}: wrote something", path.display());
    }
}

/// Each request (`rpc_from_json`'s format) to a started coordinator: a status or an answer,
/// `GetStatus` after it, nothing written.
#[test]
fn grpc_regressions_replay() {
    let env = Env::start();
    let channel = super::grpc::channel(&env);
    let before = env.written();
    for (path, bytes) in inputs("grpc") {
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON request");
        let rpc = super::grpc::rpc_from_json(&json);
        if let Err(e) = super::grpc::check_rpc(&env, &channel, rpc, &before) {
            panic!("{}: {e}", path.display());
        }
    }
}
