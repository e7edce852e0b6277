//! Mutual TLS and operator authorization over real sockets, with certificates made at test
//! time (rcgen): the right certificate gets in with its role; a wrong CA, an expired
//! certificate, no certificate, a read-only operator writing, and an agent reporting for
//! another host are each refused; rotated CA files take effect without a restart; a real
//! galley-agent connects over TLS with its own certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use galley_agent::docker::BollardDocker;
use galley_agent::reaper::ReaperLimits;
use galley_agent::session::{SessionSettings, hello};
use galley_agent::{AgentHandle, AgentSettings};
use galley_coordinator::agents::{AgentRegistry, agent_service_audited};
use galley_coordinator::deploy_log::{DeployLog, DeployLogConfig};
use galley_coordinator::election::Leadership;
use galley_coordinator::grpc::authz::{Role, RoleMap};
use galley_coordinator::grpc::{OperatorDeps, OperatorService};
use galley_coordinator::server::{self, Services};
use galley_coordinator::tls::{ServerTls, TlsFiles};
use galley_proto::v1::agent_message::Body as Up;
use galley_proto::v1::agent_service_client::AgentServiceClient;
use galley_proto::v1::coordinator_service_client::CoordinatorServiceClient;
use galley_proto::v1::{self as pb, AgentMessage};
use galley_sim::SimClock;
use galley_sim::docker::{DockerEngine, DockerSim};

use galley_e2e::pki::Pki;
use tokio::sync::watch;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

struct Server {
    addr: std::net::SocketAddr,
    tls: ServerTls,
    registry: AgentRegistry,
    log: Arc<DeployLog>,
    leadership: watch::Sender<Leadership>,
    ca_file: PathBuf,
}

async fn start_server(pki: &Pki) -> Server {
    let (cert, key) = pki.ca.issue(&["localhost"], false);
    let files = TlsFiles {
        cert: pki.write("server.crt", &cert),
        key: pki.write("server.key", &key),
        client_ca: pki.write("client-ca.pem", &pki.ca.pem),
    };
    let ca_file = pki.write("ca.pem", &pki.ca.pem);
    let tls = ServerTls::load(files).expect("server tls");
    let log = Arc::new(DeployLog::new(DeployLogConfig {
        path_format: None,
        recent_capacity: 100,
        broadcast_capacity: 16,
    }));
    let (leadership, leadership_rx) = watch::channel(Leadership::sole("m1:7070", 3));
    let (_stop, stop_rx) = watch::channel(false);
    let reconciler = super::fixtures::idle_reconciler(stop_rx);
    let registry = AgentRegistry::new(Duration::from_secs(5));
    let acting = galley_coordinator::election::acting_term(&leadership_rx);
    let operator = OperatorService::new(OperatorDeps {
        cluster: "c1".into(),
        reconciler,
        deploy_log: log.clone(),
        leadership: leadership_rx,
        agents: Some(registry.clone()),
        reaper: None,
        marathon_view: None,
    });
    let roles: RoleMap = [
        ("alice.ops".to_string(), Role::Operator),
        ("bob.ops".to_string(), Role::ReadOnly),
    ]
    .into();
    let listener = server::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let audit_to = operator.clone();
    tokio::spawn(server::serve(
        listener,
        Services {
            operator,
            agents: Some((
                agent_service_audited(
                    registry.clone(),
                    acting,
                    1,
                    Some(Arc::new(move |m: &str| audit_to.audit(None, None, m))),
                ),
                registry.clone(),
            )),
            deploy: None,
            tls: Some(tls.clone()),
            roles,
        },
        std::future::pending(),
    ));
    Server {
        addr,
        tls,
        registry,
        log,
        leadership,
        ca_file,
    }
}

async fn channel(s: &Server, client: Option<(&Path, &Path)>) -> Result<Channel, tonic::Status> {
    let ca = Certificate::from_pem(std::fs::read(&s.ca_file).expect("ca"));
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(ca)
        .domain_name("localhost");
    if let Some((c, k)) = client {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(c).expect("cert"),
            std::fs::read(k).expect("key"),
        ));
    }
    Endpoint::from_shared(format!("https://{}", s.addr))
        .expect("url")
        .tls_config(tls)
        .expect("tls")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("{e:?}")))
}

/// GetStatus with `client`'s certificate: the status code (Ok → `Code::Ok`).
async fn status_code(s: &Server, client: Option<(&Path, &Path)>) -> tonic::Code {
    let ch = match channel(s, client).await {
        Ok(c) => c,
        Err(e) => return e.code(),
    };
    match CoordinatorServiceClient::new(ch)
        .get_status(pb::GetStatusRequest {})
        .await
    {
        Ok(_) => tonic::Code::Ok,
        Err(e) => e.code(),
    }
}

/// The TLS layer refused: the handshake failed (or, under TLS 1.3, the server's alert
/// arrived with the first request), so the call never reached authorization.
fn refused_by_tls(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    )
}

async fn freeze(s: &Server, client: (&Path, &Path)) -> Result<(), tonic::Status> {
    let ch = channel(s, Some(client)).await?;
    CoordinatorServiceClient::new(ch)
        .freeze_cluster(pb::FreezeClusterRequest {
            reason: "tls test".into(),
        })
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_and_roles_decide_who_may_call_what() {
    let pki = Pki::new();
    let s = start_server(&pki).await;
    let alice = pki.client(&pki.ca, "alice", &["alice.ops"], false);
    let bob = pki.client(&pki.ca, "bob", &["bob.ops"], false);
    let carol = pki.client(&pki.ca, "carol", &["carol.ops"], false);
    let eve = pki.client(&pki.other_ca, "eve", &["alice.ops"], false);
    let old = pki.client(&pki.ca, "old", &["alice.ops"], true);
    let (a, b, c, e, o) = (alice, bob, carol, eve, old);
    assert_eq!(status_code(&s, Some((&a.0, &a.1))).await, tonic::Code::Ok);
    assert_eq!(status_code(&s, Some((&b.0, &b.1))).await, tonic::Code::Ok);
    assert_eq!(
        status_code(&s, Some((&c.0, &c.1))).await,
        tonic::Code::PermissionDenied,
        "a certificate without a role reads nothing"
    );
    assert!(
        refused_by_tls(status_code(&s, Some((&e.0, &e.1))).await),
        "another CA's certificate fails the handshake"
    );
    let expired = status_code(&s, Some((&o.0, &o.1))).await;
    assert!(
        refused_by_tls(expired),
        "an expired certificate fails the handshake: {expired:?}"
    );
    assert!(
        refused_by_tls(status_code(&s, None).await),
        "no certificate, no connection"
    );

    let denied = freeze(&s, (&b.0, &b.1)).await.expect_err("read-only");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(denied.message().contains("bob.ops"), "{}", denied.message());
    freeze(&s, (&a.0, &a.1)).await.expect("operator may freeze");
    let events: Vec<String> = s
        .log
        .recent(None, 100)
        .iter()
        .map(|e| e.message.clone())
        .collect();
    assert!(
        events
            .iter()
            .any(|m| m.contains("Denied") && m.contains("bob.ops") && m.contains("FreezeCluster")),
        "denial audited: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|m| m.contains("Operator alice.ops froze")),
        "write audited under the certificate's name: {events:?}"
    );

    // A follower refuses writes and names the leader, and still serves reads.
    s.leadership.send_replace(Leadership {
        acting: None,
        destructive: None,
        leader: Some("m2:7070".into()),
        me: "m1:7070".into(),
    });
    let refused = freeze(&s, (&a.0, &a.1)).await.expect_err("follower");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("m2:7070"),
        "{}",
        refused.message()
    );
    assert_eq!(status_code(&s, Some((&a.0, &a.1))).await, tonic::Code::Ok);

    // Rotating the client CA bundle on disk lets the other CA in, without a restart.
    let bundle = format!("{}{}", pki.ca.pem, pki.other_ca.pem);
    std::fs::write(pki.dir.path().join("client-ca.pem"), bundle).expect("rotate");
    s.tls.reload().expect("reload");
    assert_eq!(
        status_code(&s, Some((&e.0, &e.1))).await,
        tonic::Code::Ok,
        "the rotated CA bundle is in effect"
    );
    // A broken file on disk keeps the working config.
    std::fs::write(pki.dir.path().join("client-ca.pem"), "garbage").expect("break");
    assert!(s.tls.reload_if_changed().is_err());
    assert_eq!(status_code(&s, Some((&a.0, &a.1))).await, tonic::Code::Ok);
}

async fn agent_hello(s: &Server, client: (&Path, &Path), host: &str) -> Result<(), tonic::Status> {
    let ch = channel(s, Some(client)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(AgentMessage {
        seq: 1,
        body: Some(Up::Hello(hello(host, None))),
    })
    .await
    .expect("queue hello");
    let mut inbound = AgentServiceClient::new(ch)
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    inbound.message().await?;
    drop(tx);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reports_only_for_its_own_hostname() {
    let pki = Pki::new();
    let s = start_server(&pki).await;
    let (c, k) = pki.client(&pki.ca, "host-a", &["host-a.example"], false);
    let e = agent_hello(&s, (&c, &k), "host-b.example")
        .await
        .expect_err("another host");
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    assert!(e.message().contains("host-b.example"), "{}", e.message());
    assert!(s.registry.host("host-b.example").is_none());
    assert!(
        s.log
            .recent(None, 100)
            .iter()
            .any(|e| e.message.contains("Denied agent session")
                && e.message.contains("host-b.example")),
        "the refused session is audited"
    );
    agent_hello(&s, (&c, &k), "host-a.example")
        .await
        .expect("own host");
}

fn start_agent(
    socket: &Path,
    s: &Server,
    host: &str,
    tls: galley_agent::config::AgentTls,
) -> AgentHandle {
    let docker = BollardDocker::connect(socket.to_str().expect("utf8"), 5).expect("docker");
    galley_agent::spawn(
        Arc::new(docker),
        AgentSettings {
            session: SessionSettings {
                coordinator_urls: vec![format!("https://localhost:{}", s.addr.port())],
                tls: Some(tls),
                hello: hello(host, None),
                heartbeat: Duration::from_millis(100),
                backoff_min: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
            },
            relist_every: Duration::from_secs(5),
            limits: ReaperLimits {
                min_age: Duration::from_secs(3600),
                max_per_minute: 10,
            },
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_connects_over_mutual_tls_and_trusts_only_its_ca() {
    let pki = Pki::new();
    let s = start_server(&pki).await;
    let socket = pki.dir.path().join("docker.sock");
    let _docker = DockerSim::serve_engine(&socket, DockerEngine::new(SimClock::real()))
        .await
        .expect("docker sim");
    let (c, k) = pki.client(&pki.ca, "agent-a", &["host-a.example"], false);
    let good = galley_agent::config::AgentTls {
        ca_file: s.ca_file.clone(),
        cert_file: c.clone(),
        key_file: k.clone(),
    };
    // An agent that trusts another CA never talks to this coordinator.
    let other_ca = pki.write("other-ca.pem", &pki.other_ca.pem);
    let wary = start_agent(
        &socket,
        &s,
        "host-b.example",
        galley_agent::config::AgentTls {
            ca_file: other_ca,
            ..good.clone()
        },
    );
    let agent = start_agent(&socket, &s, "host-a.example", good);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !s.registry.host("host-a.example").is_some_and(|h| h.fresh) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "agent never reported over TLS"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        s.registry.host("host-b.example").is_none(),
        "an agent must not talk to a coordinator its CA did not sign"
    );

    // Rotating the agent's files takes effect without a restart: the session ends at the next
    // heartbeat and the new connection uses the new certificate — here one the coordinator does
    // not trust, so the agent drops off.
    let (rc, rk) = pki.other_ca.issue(&["host-a.example"], false);
    std::fs::write(&c, rc).expect("rotate cert");
    std::fs::write(&k, rk).expect("rotate key");
    let connected = |s: &Server| {
        s.registry
            .agents()
            .iter()
            .any(|a| a.identity.hostname == "host-a.example" && a.connected)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while connected(&s) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent kept its session after its certificate files changed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !connected(&s),
        "a certificate of another CA must not get back in"
    );
    drop((agent, wary));
}

/// The operator's own tool over mutual TLS: real grpcurl with a CA and a client certificate
/// lists services, reads with a read-only certificate, is refused a write with it
/// (`PermissionDenied`), writes with an operator certificate, and gets nowhere without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_over_mutual_tls_obeys_the_roles() {
    let Some(bin) = galley_e2e::Grpcurl::find("unused").map(|g| g.program().to_owned()) else {
        assert!(
            std::env::var("GALLEY_REQUIRE_GRPCURL").as_deref() != Ok("1"),
            "grpcurl not found but GALLEY_REQUIRE_GRPCURL=1"
        );
        eprintln!("\n*** SKIPPED: grpcurl not found; run scripts/test.sh to install it ***\n");
        return;
    };
    let pki = Pki::new();
    let s = start_server(&pki).await;
    let (ac, ak) = pki.client(&pki.ca, "alice", &["alice.ops"], false);
    let (bc, bk) = pki.client(&pki.ca, "bob", &["bob.ops"], false);
    let addr = s.addr.to_string();
    let ca = s.ca_file.display().to_string();
    // `grpcurl [-d DATA] -cacert … ADDR METHOD`: flags first, then the address.
    let run = |cert: Option<(&Path, &Path)>, args: &[&str]| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["-cacert", &ca, "-servername", "localhost"]);
        if let Some((c, k)) = cert {
            cmd.arg("-cert").arg(c).arg("-key").arg(k);
        }
        let (flags, rest) = args.split_at(args.len() - 1);
        let o = cmd
            .args(flags)
            .arg(&addr)
            .args(rest)
            .output()
            .expect("run grpcurl");
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let alice = Some((ac.as_path(), ak.as_path()));
    let bob = Some((bc.as_path(), bk.as_path()));
    let (ok, out) = tokio::task::block_in_place(|| run(bob, &["list"]));
    assert!(ok && out.contains("galley.v1.CoordinatorService"), "{out}");
    let (ok, out) =
        tokio::task::block_in_place(|| run(bob, &["galley.v1.CoordinatorService/GetStatus"]));
    assert!(ok && out.contains("\"leaderTerm\": \"3\""), "{out}");
    let freeze = [
        "-d",
        r#"{"reason": "grpcurl"}"#,
        "galley.v1.CoordinatorService/FreezeCluster",
    ];
    let (ok, out) = tokio::task::block_in_place(|| run(bob, &freeze));
    assert!(!ok && out.contains("PermissionDenied"), "{out}");
    let (ok, out) = tokio::task::block_in_place(|| run(alice, &freeze));
    assert!(ok, "{out}");
    let (ok, out) = tokio::task::block_in_place(|| run(None, &["list"]));
    assert!(!ok, "no client certificate must not get in: {out}");
}
