//! The agent's `/metrics` and `/healthz` on a real socket, over the Docker emulator and a
//! minimal in-test coordinator (an `AgentService` that acks and sends reap orders): scraped
//! with plain HTTP/1.1 and parsed with a Prometheus text parser.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use galley_agent::docker::{BollardDocker, DockerApi};
use galley_agent::metrics::{AgentMetrics, serve};
use galley_agent::reaper::ReaperLimits;
use galley_agent::session::{SessionSettings, hello};
use galley_agent::{AgentSettings, spawn_with_metrics};
use galley_proto::v1::agent_service_server::{AgentService, AgentServiceServer};
use galley_proto::v1::coordinator_message::Body as Down;
use galley_proto::v1::{Ack, AgentMessage, CoordinatorMessage, ReapOrder};
use galley_sim::SimClock;
use galley_sim::docker::{ContainerSpec, DockerSim};
use prometheus_parse::{Scrape, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// Acks the first session and then sends whatever the test queued.
struct FakeCoordinator {
    down: Mutex<Option<mpsc::Receiver<CoordinatorMessage>>>,
}

type DownStream = Pin<Box<dyn Stream<Item = Result<CoordinatorMessage, Status>> + Send>>;

#[tonic::async_trait]
impl AgentService for FakeCoordinator {
    type SessionStream = DownStream;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<DownStream>, Status> {
        let Some(down) = self.down.lock().expect("lock").take() else {
            return Err(Status::unavailable("one session only"));
        };
        let mut up = request.into_inner();
        tokio::spawn(async move { while let Ok(Some(_)) = up.message().await {} });
        let stream = futures::StreamExt::map(ReceiverStream::new(down), Ok);
        Ok(Response::new(Box::pin(stream)))
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut sock = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n");
    sock.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf8");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_owned())
}

async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("prometheus text parses")
}

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).is_some_and(|x| x == *v))
        })
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
}

async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn healthz_is(addr: SocketAddr, code: u16, needle: &str) -> bool {
    let (status, body) = http_get(addr, "/healthz").await;
    status == code && body.contains(needle)
}

#[tokio::test]
async fn metrics_and_healthz_report_inventory_session_and_reaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("docker.sock");
    let sim = DockerSim::serve(&sock, SimClock::real())
        .await
        .expect("serve");
    let engine = sim.engine().clone();
    let old = chrono::Utc::now() - chrono::Duration::hours(2);
    let orphan = engine
        .sim_inject(ContainerSpec::mesos_orphan(Some("t.1"), "img").created_at(old))
        .expect("inject");
    let young = engine
        .sim_inject(ContainerSpec::mesos_orphan(Some("t.2"), "img"))
        .expect("inject");
    engine
        .sim_inject(ContainerSpec::new("postgres", "img").created_at(old))
        .expect("inject");
    let docker = Arc::new(BollardDocker::connect(sock.to_str().expect("utf8"), 5).expect("docker"));

    // A coordinator address with nothing listening yet: the agent keeps reconnecting.
    let coordinator_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let metrics = Arc::new(AgentMetrics::new());
    let settings = AgentSettings {
        session: SessionSettings {
            coordinator_urls: vec![format!("http://{coordinator_addr}")],
            tls: None,
            hello: hello("slave-1", None),
            heartbeat: Duration::from_secs(1),
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
        },
        relist_every: Duration::from_secs(3600),
        limits: ReaperLimits {
            min_age: Duration::from_secs(3600),
            max_per_minute: 10,
        },
    };
    let _agent = spawn_with_metrics(docker.clone(), settings, metrics.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let http = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, metrics, std::future::pending()));

    eventually("503 while disconnected", || {
        healthz_is(http, 503, "not connected to the coordinator")
    })
    .await;
    eventually("reconnects counted", || async {
        value(
            &scrape(http).await,
            "galley_agent_session_reconnects_total",
            &[],
        )
        .is_some_and(|n| n >= 2.0)
    })
    .await;
    let s = scrape(http).await;
    assert_eq!(value(&s, "galley_agent_containers", &[]), Some(3.0));
    assert_eq!(value(&s, "galley_agent_session_connected", &[]), Some(0.0));
    assert_eq!(
        value(&s, "galley_agent_inventory_relists_total", &[]),
        Some(1.0)
    );

    // The coordinator comes up: ack, then one order that reaps and one refused as too young.
    let (down_tx, down_rx) = mpsc::channel(8);
    let order = async |id: &str, order_id: &str| {
        let rec = docker.inspect(id).await.expect("inspect").expect("exists");
        ReapOrder {
            order_id: order_id.to_owned(),
            leader_term: 1,
            container_id: rec.id,
            container_name: rec.name,
            created_unix_nanos: rec.created_unix_nanos,
            grace_seconds: 1,
            reason: "NO_SUCH_TASK".to_owned(),
        }
    };
    let msgs = [
        Down::Ack(Ack {
            leader_term: 1,
            heartbeat_interval_seconds: 0,
        }),
        Down::ReapOrder(order(&orphan, "o-1").await),
        Down::ReapOrder(order(&young, "o-2").await),
    ];
    for body in msgs {
        down_tx
            .send(CoordinatorMessage { body: Some(body) })
            .await
            .expect("queued");
    }
    let service = AgentServiceServer::new(FakeCoordinator {
        down: Mutex::new(Some(down_rx)),
    });
    let coordinator = TcpListener::bind(coordinator_addr).await.expect("rebind");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(coordinator)),
    );

    eventually("healthy once connected", || healthz_is(http, 200, "ok")).await;
    eventually("both reap results", || async {
        let s = scrape(http).await;
        value(
            &s,
            "galley_agent_reap_results_total",
            &[("outcome", "done")],
        ) == Some(1.0)
            && value(
                &s,
                "galley_agent_reap_results_total",
                &[("outcome", "refused"), ("reason", "too_young")],
            ) == Some(1.0)
    })
    .await;
    eventually("reaped container leaves the gauge", || async {
        value(&scrape(http).await, "galley_agent_containers", &[]) == Some(2.0)
    })
    .await;
    let s = scrape(http).await;
    assert_eq!(value(&s, "galley_agent_session_connected", &[]), Some(1.0));
    assert_eq!(value(&s, "galley_agent_reap_orders_total", &[]), Some(2.0));
    let stops = value(
        &s,
        "galley_agent_docker_call_duration_seconds",
        &[("op", "stop")],
    );
    assert_eq!(stops, Some(1.0), "one stop call timed");
    assert_eq!(
        value(&s, "galley_agent_docker_errors_total", &[("op", "events")]),
        None
    );

    // Docker goes away: the event stream breaks, the re-list fails, health says so.
    sim.shutdown().await;
    eventually("503 naming docker", || {
        healthz_is(http, 503, "docker inventory not current")
    })
    .await;
    let s = scrape(http).await;
    assert!(
        value(&s, "galley_agent_docker_errors_total", &[("op", "list")]).is_some_and(|n| n >= 1.0)
            || value(&s, "galley_agent_docker_errors_total", &[("op", "events")])
                .is_some_and(|n| n >= 1.0),
        "docker errors counted"
    );
}
