//! The Docker Engine's answers as the agent decodes them: `BollardDocker` (list, inspect,
//! events) against a fake engine on a unix socket that answers every request with the given
//! status and body (arbitrary bytes, or real bodies mutated), and `parse_nanos` on any text.
//! Each call ends in records, `None`, or an error naming the Docker call; records are sane
//! (no negative times, no leading `/` in names) and convert to the wire form.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use galley_agent::convert::to_proto;
use galley_agent::docker::{BollardDocker, DockerApi, DockerError, parse_nanos};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use super::mutate::{apply_tree_edits, tree_edits};
use super::support::{bytes, fuzz};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Real bodies of `GET /containers/json`, `GET /containers/{id}/json` and one event.
fn seeds() -> Vec<Value> {
    vec![
        json!([{"Id": ID, "Names": ["/mesos-a1"], "Image": "registry/web:1", "Command": "sleep",
            "Created": 1_700_000_000, "Ports": [], "Labels": {"MESOS_TASK_ID": "web.main.t1"},
            "State": "running", "Status": "Up 1 hour", "HostConfig": {"NetworkMode": "none"},
            "Mounts": []}]),
        json!({"Id": ID, "Created": "2024-01-01T00:00:00.123456789Z", "Path": "sleep",
            "Args": ["3600"], "Name": "/mesos-a1", "Image": "sha256:00",
            "State": {"Status": "running", "Running": true, "Pid": 7, "ExitCode": 0,
                "StartedAt": "2024-01-01T00:00:01Z", "FinishedAt": "0001-01-01T00:00:00Z"},
            "Config": {"Image": "registry/web:1", "Env": ["MESOS_TASK_ID=web.main.t1",
                "MARATHON_APP_ID=/web.main", "PATH=/bin"], "Labels": {"MESOS_TASK_ID": "web.main.t1"}}}),
        json!({"Type": "container", "Action": "start", "Actor": {"ID": ID,
            "Attributes": {"name": "mesos-a1"}}, "time": 1_700_000_000, "timeNano": 1_700_000_000_000_000_000i64}),
    ]
}

/// A fake engine: every request is answered with the current (status, body), then closed.
struct FakeEngine {
    socket: PathBuf,
    answer: Arc<Mutex<(u16, Vec<u8>)>>,
}

impl FakeEngine {
    async fn start(dir: &Path) -> Self {
        let socket = dir.join("docker.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        let answer = Arc::new(Mutex::new((200, Vec::new())));
        let current = answer.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (status, body) = current.lock().expect("lock").clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n")
                        && stream.read(&mut byte).await.unwrap_or(0) == 1
                    {
                        head.push(byte[0]);
                    }
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n\
                         Content-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&[reply.into_bytes(), body].concat()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { socket, answer }
    }
}

fn check_error(e: &DockerError) -> Result<(), TestCaseError> {
    let msg = e.to_string();
    prop_assert!(msg.starts_with("docker "), "{msg:?}");
    Ok(())
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => bytes(512),
        4 => (0usize..3, tree_edits(5), any::<bool>()).prop_map(|(i, edits, lines)| {
            let v = apply_tree_edits(seeds()[i].clone(), &edits);
            let text = serde_json::to_string(&v).expect("json");
            // The events endpoint streams one JSON document per line.
            if lines { format!("{text}\n{text}\n").into_bytes() } else { text.into_bytes() }
        }),
    ]
}

/// One engine and client for a run of inputs.
struct Harness {
    rt: tokio::runtime::Runtime,
    engine: FakeEngine,
    docker: BollardDocker,
    _tmp: tempfile::TempDir,
}

impl Harness {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt");
        let tmp = tempfile::tempdir().expect("tmp");
        let engine = rt.block_on(FakeEngine::start(tmp.path()));
        let socket = engine.socket.to_str().expect("utf-8").to_owned();
        let docker = rt.block_on(async { BollardDocker::connect(&socket, 5).expect("client") });
        Self {
            rt,
            engine,
            docker,
            _tmp: tmp,
        }
    }

    /// Answers with `status` and `body`, and makes call `op` (list, inspect, events).
    fn check(&self, op: u8, status: u16, body: Vec<u8>) -> Result<(), TestCaseError> {
        *self.engine.answer.lock().expect("lock") = (status, body);
        let docker = &self.docker;
        self.rt.block_on(async {
            let call = async {
                let result = match op {
                    0 => docker.list().await.map(drop),
                    1 => match docker.inspect("mesos-a1").await {
                        Ok(Some(record)) => {
                            let (created, started) =
                                (record.created_unix_nanos, record.started_unix_nanos);
                            prop_assert!(created >= 0 && started >= 0, "{created}, {started}");
                            prop_assert!(!record.name.starts_with('/'), "{}", record.name);
                            to_proto(&record);
                            Ok(())
                        }
                        other => other.map(drop),
                    },
                    _ => {
                        let events: Vec<_> = docker.events(0).collect().await;
                        events.into_iter().find_map(Result::err).map_or(Ok(()), Err)
                    }
                };
                match result {
                    Ok(()) => Ok(()),
                    Err(e) => check_error(&e),
                }
            };
            tokio::time::timeout(Duration::from_secs(20), call)
                .await
                .map_err(|_| TestCaseError::fail("a Docker call hung"))?
        })
    }
}

/// `body` as a 200 answer to every call.
pub fn replay(body: Vec<u8>) -> Result<(), TestCaseError> {
    let harness = Harness::start();
    (0..3).try_for_each(|op| harness.check(op, 200, body.clone()))
}

#[test]
fn docker_answers_decode_or_fail_by_name() {
    let harness = Harness::start();
    let status = prop_oneof![4 => Just(200u16), 1 => proptest::sample::select(vec![204, 304, 400, 404, 409, 500])];
    fuzz(
        "docker-responses",
        800,
        (0u8..3, status, body()),
        |(op, status, body)| harness.check(op, status, body),
    );
}

/// Timestamps of any shape: a time since the epoch, or 0.
#[test]
fn any_timestamp_parses_to_nanos_or_zero() {
    let stamp = prop_oneof![
        ".{0,40}",
        "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})",
    ];
    fuzz(
        "docker-parse-nanos",
        5000,
        proptest::option::of(stamp),
        |s| {
            let nanos = parse_nanos(s.as_deref());
            prop_assert!(nanos >= 0, "{s:?} → {nanos}");
            Ok(())
        },
    );
}
