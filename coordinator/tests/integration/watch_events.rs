//! WatchEvents streams deploy-log events as they happen, filtered by service, over real gRPC.

use std::sync::Arc;
use std::time::Duration;

use galley_coordinator::deploy_log::{Component, DeployEvent, DeployLog, DeployLogConfig, Level};
use galley_coordinator::election::Leadership;
use galley_coordinator::grpc::{OperatorDeps, OperatorService};
use galley_coordinator::server::{self, Services};
use galley_proto::v1::WatchEventsRequest;
use galley_proto::v1::coordinator_service_client::CoordinatorServiceClient;

#[tokio::test]
async fn watch_events_streams_only_the_named_services_events_as_they_happen() {
    // A reconciler whose Marathon is unreachable: its passes fail, which is fine here.
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let handle = crate::fixtures::idle_reconciler(stop_rx);
    let log = Arc::new(DeployLog::new(DeployLogConfig {
        path_format: None,
        recent_capacity: 10,
        broadcast_capacity: 16,
    }));
    let operator = OperatorService::new(OperatorDeps {
        cluster: "c1".into(),
        reconciler: handle,
        deploy_log: log.clone(),
        leadership: tokio::sync::watch::channel(Leadership::sole("test", 1)).1,
        agents: None,
        reaper: None,
        marathon_view: None,
    });
    let listener = server::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server::serve(
        listener,
        Services::operator_only(operator),
        std::future::pending(),
    ));
    let mut client = CoordinatorServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let mut stream = client
        .watch_events(WatchEventsRequest {
            service: "web".into(),
        })
        .await
        .expect("watch")
        .into_inner();
    let event = |svc: &str, msg: &str| {
        DeployEvent::new(
            chrono::Utc::now(),
            Level::Event,
            Component::Deploy,
            "c1",
            svc,
            "main",
            msg,
        )
    };
    log.log(event("api", "not for us")).expect("log");
    log.log(event("web", "crossover bounce in progress on web.main"))
        .expect("log");
    let got = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("in time")
        .expect("ok")
        .expect("an event");
    assert_eq!(
        (got.service.as_str(), got.message.as_str()),
        ("web", "crossover bounce in progress on web.main")
    );

    let err = client
        .watch_events(WatchEventsRequest {
            service: "bad name!".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
}
