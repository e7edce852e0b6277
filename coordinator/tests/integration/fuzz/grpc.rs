//! Every request of the operator API (`CoordinatorService`) and of `DeployService`, with
//! arbitrary field values (empty, huge, NUL, `../`, unicode; any integer and enum value), sent
//! over a real socket to a started coordinator. Each gets a `Status` or an answer — never a
//! transport error or a hang —, the coordinator still answers `GetStatus` after it, and nothing
//! is written (see `env.rs`: in this tree no request can validly write a tag).

use std::time::Duration;

use galley_proto::v1 as pb;
use galley_proto::v1::coordinator_service_client::CoordinatorServiceClient;
use galley_proto::v1::deploy_service_client::DeployServiceClient;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tonic::transport::Channel;

use super::env::{Env, Written};
use super::support::{fuzz, nasty_string};

/// A field's value: a name that exists here (so validation goes further) or anything.
pub fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => proptest::sample::select(vec![
            "web", "main", "testcluster", "testcluster.main", "web.main", "slave1",
            "0123456789abcdef0123456789abcdef01234567", "alice@laptop",
        ])
        .prop_map(String::from),
        3 => nasty_string(),
    ]
}

/// One request of either service.
#[derive(Debug, Clone)]
pub enum Rpc {
    GetStatus,
    ListInstances(pb::ListInstancesRequest),
    GetInstance(pb::GetInstanceRequest),
    GetReplication(pb::GetReplicationRequest),
    GetPlan,
    ListAgents,
    GetHostInventory(pb::GetHostInventoryRequest),
    ListOrphans(pb::ListOrphansRequest),
    ListEvents(pb::ListEventsRequest),
    WatchEvents(pb::WatchEventsRequest),
    Reconcile(pb::ReconcileRequest),
    Pause(pb::PauseInstanceRequest),
    Resume(pb::ResumeInstanceRequest),
    Freeze(pb::FreezeClusterRequest),
    Unfreeze,
    Reap(pb::ReapRequest),
    SetReaperMode(pb::SetReaperModeRequest),
    Mark(pb::MarkForDeploymentRequest),
    Start(pb::InstanceStateRequest),
    Stop(pb::InstanceStateRequest),
    Restart(pb::InstanceStateRequest),
}

fn state_request() -> impl Strategy<Value = pb::InstanceStateRequest> {
    (field(), field(), field(), field()).prop_map(|(service, cluster, instance, requested_by)| {
        pb::InstanceStateRequest {
            service,
            cluster,
            instance,
            requested_by,
        }
    })
}

/// Any request, every field arbitrary.
pub fn rpc() -> impl Strategy<Value = Rpc> {
    let f = field;
    prop_oneof![
        Just(Rpc::GetStatus),
        (f(), any::<u32>(), f()).prop_map(|(service, page_size, page_token)| {
            Rpc::ListInstances(pb::ListInstancesRequest {
                service,
                page_size,
                page_token,
            })
        }),
        (f(), f()).prop_map(
            |(service, instance)| Rpc::GetInstance(pb::GetInstanceRequest { service, instance })
        ),
        (f(), any::<bool>()).prop_map(|(service, only_under_replicated)| {
            Rpc::GetReplication(pb::GetReplicationRequest {
                service,
                only_under_replicated,
            })
        }),
        Just(Rpc::GetPlan),
        Just(Rpc::ListAgents),
        f().prop_map(|host| Rpc::GetHostInventory(pb::GetHostInventoryRequest { host })),
        f().prop_map(|host| Rpc::ListOrphans(pb::ListOrphansRequest { host })),
        (f(), any::<u32>())
            .prop_map(|(service, limit)| Rpc::ListEvents(pb::ListEventsRequest { service, limit })),
        f().prop_map(|service| Rpc::WatchEvents(pb::WatchEventsRequest { service })),
        (f(), f(), any::<bool>()).prop_map(|(service, instance, wait)| {
            Rpc::Reconcile(pb::ReconcileRequest {
                service,
                instance,
                wait,
            })
        }),
        (f(), f(), f()).prop_map(|(service, instance, reason)| {
            Rpc::Pause(pb::PauseInstanceRequest {
                service,
                instance,
                reason,
            })
        }),
        (f(), f()).prop_map(
            |(service, instance)| Rpc::Resume(pb::ResumeInstanceRequest { service, instance })
        ),
        f().prop_map(|reason| Rpc::Freeze(pb::FreezeClusterRequest { reason })),
        Just(Rpc::Unfreeze),
        (
            f(),
            proptest::collection::vec(f(), 0..4),
            proptest::option::of(any::<bool>())
        )
            .prop_map(|(host, container_ids, dry_run)| Rpc::Reap(pb::ReapRequest {
                host,
                container_ids,
                dry_run
            }),),
        prop_oneof![any::<i32>(), 0i32..3]
            .prop_map(|mode| Rpc::SetReaperMode(pb::SetReaperModeRequest { mode })),
        (f(), f(), f(), f()).prop_map(|(service, deploy_group, git_sha, requested_by)| {
            Rpc::Mark(pb::MarkForDeploymentRequest {
                service,
                deploy_group,
                git_sha,
                requested_by,
            })
        }),
        state_request().prop_map(Rpc::Start),
        state_request().prop_map(Rpc::Stop),
        state_request().prop_map(Rpc::Restart),
    ]
}

/// Sends `rpc`: `Ok` for an answer, the status of a refusal.
async fn call(
    ops: &mut CoordinatorServiceClient<Channel>,
    deploy: &mut DeployServiceClient<Channel>,
    rpc: Rpc,
) -> Result<(), tonic::Status> {
    match rpc {
        Rpc::GetStatus => ops.get_status(pb::GetStatusRequest {}).await.map(drop),
        Rpc::ListInstances(r) => ops.list_instances(r).await.map(drop),
        Rpc::GetInstance(r) => ops.get_instance(r).await.map(drop),
        Rpc::GetReplication(r) => ops.get_replication(r).await.map(drop),
        Rpc::GetPlan => ops.get_plan(pb::GetPlanRequest {}).await.map(drop),
        Rpc::ListAgents => ops.list_agents(pb::ListAgentsRequest {}).await.map(drop),
        Rpc::GetHostInventory(r) => ops.get_host_inventory(r).await.map(drop),
        Rpc::ListOrphans(r) => ops.list_orphans(r).await.map(drop),
        Rpc::ListEvents(r) => ops.list_events(r).await.map(drop),
        // A stream that opened is answered; its first event may never come.
        Rpc::WatchEvents(r) => ops.watch_events(r).await.map(drop),
        Rpc::Reconcile(r) => ops.reconcile(r).await.map(drop),
        Rpc::Pause(r) => ops.pause_instance(r).await.map(drop),
        Rpc::Resume(r) => ops.resume_instance(r).await.map(drop),
        Rpc::Freeze(r) => ops.freeze_cluster(r).await.map(drop),
        Rpc::Unfreeze => ops
            .unfreeze_cluster(pb::UnfreezeClusterRequest {})
            .await
            .map(drop),
        Rpc::Reap(r) => ops.reap(r).await.map(drop),
        Rpc::SetReaperMode(r) => ops.set_reaper_mode(r).await.map(drop),
        Rpc::Mark(r) => deploy.mark_for_deployment(r).await.map(drop),
        Rpc::Start(r) => deploy.start(r).await.map(drop),
        Rpc::Stop(r) => deploy.stop(r).await.map(drop),
        Rpc::Restart(r) => deploy.restart(r).await.map(drop),
    }
}

/// A refusal must come from the server (a status it sent, with a message), not from the
/// transport.
pub fn check_status(status: &tonic::Status) -> Result<(), TestCaseError> {
    let transport = std::error::Error::source(status).is_some();
    prop_assert!(!transport, "a transport error: {status:?}");
    prop_assert!(
        !status.message().is_empty(),
        "a refusal without a message: {status:?}"
    );
    prop_assert!(
        status.code() != tonic::Code::Internal,
        "an internal error: {status:?}"
    );
    Ok(())
}

/// A client channel to `env`'s gRPC port.
pub fn channel(env: &Env) -> Channel {
    env.rt.block_on(async {
        Channel::from_shared(env.grpc_url())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    })
}

/// Sends `rpc` and checks the answer: in time, an answer or a server's status, `GetStatus`
/// still answered, nothing written since `before`. The status of a refusal is returned.
pub fn check_rpc(
    env: &Env,
    channel: &Channel,
    rpc: Rpc,
    before: &Written,
) -> Result<Option<tonic::Status>, TestCaseError> {
    let refusal = env.rt.block_on(async {
        let mut ops = CoordinatorServiceClient::new(channel.clone());
        let mut deploy = DeployServiceClient::new(channel.clone());
        let answer =
            tokio::time::timeout(Duration::from_secs(90), call(&mut ops, &mut deploy, rpc))
                .await
                .map_err(|_| TestCaseError::fail("the request hung"))?;
        if let Err(status) = &answer {
            check_status(status)?;
        }
        let alive = tokio::time::timeout(
            Duration::from_secs(10),
            ops.get_status(pb::GetStatusRequest {}),
        )
        .await
        .map_err(|_| TestCaseError::fail("GetStatus hung after the request"))?;
        prop_assert!(
            alive.is_ok(),
            "GetStatus failed after the request: {alive:?}"
        );
        Ok(answer.err())
    })?;
    prop_assert_eq!(&env.written(), before, "a request wrote something");
    Ok(refusal)
}

#[test]
fn every_request_gets_a_status_and_writes_nothing() {
    let env = Env::start();
    let channel = channel(&env);
    let before = env.written();
    fuzz("grpc", 400, rpc(), |rpc| {
        check_rpc(&env, &channel, rpc, &before).map(drop)
    });
}

/// Bad-input fuzzing (`fuzz/regressions/grpc/mark-huge-git-sha.json` and
/// `list-instances-huge-page-token.json`, the fuzzer's minimal inputs): a `git_sha` or a
/// `page_token` of 20,000 characters was refused with the whole value in the message; the
/// status outgrew the client's header limit and reached it as an HTTP/2 protocol error instead
/// of INVALID_ARGUMENT. Echoed values are now shortened.
#[test]
fn huge_values_are_refused_as_invalid_arguments() {
    let env = Env::start();
    let channel = channel(&env);
    let before = env.written();
    let huge = "A".repeat(20_000);
    let mark = Rpc::Mark(pb::MarkForDeploymentRequest {
        service: "web".into(),
        deploy_group: "web".into(),
        git_sha: huge.clone(),
        requested_by: "web".into(),
    });
    let list = Rpc::ListInstances(pb::ListInstancesRequest {
        service: "web".into(),
        page_size: 0,
        page_token: huge,
    });
    for rpc in [mark, list] {
        let status = check_rpc(&env, &channel, rpc, &before)
            .unwrap_or_else(|e| panic!("{e}"))
            .expect("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().len() < 300, "{}", status.message().len());
    }
}

/// An [`Rpc`] from a regression file: `{"rpc": "<variant>", "<field>": <value>, ...}`
/// (missing fields are empty).
pub fn rpc_from_json(v: &serde_json::Value) -> Rpc {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let state = || pb::InstanceStateRequest {
        service: s("service"),
        cluster: s("cluster"),
        instance: s("instance"),
        requested_by: s("requested_by"),
    };
    match v["rpc"].as_str().unwrap_or_default() {
        "Mark" => Rpc::Mark(pb::MarkForDeploymentRequest {
            service: s("service"),
            deploy_group: s("deploy_group"),
            git_sha: s("git_sha"),
            requested_by: s("requested_by"),
        }),
        "ListInstances" => Rpc::ListInstances(pb::ListInstancesRequest {
            service: s("service"),
            page_size: v["page_size"].as_u64().unwrap_or_default() as u32,
            page_token: s("page_token"),
        }),
        "Start" => Rpc::Start(state()),
        "Stop" => Rpc::Stop(state()),
        "Restart" => Rpc::Restart(state()),
        "GetInstance" => Rpc::GetInstance(pb::GetInstanceRequest {
            service: s("service"),
            instance: s("instance"),
        }),
        "Pause" => Rpc::Pause(pb::PauseInstanceRequest {
            service: s("service"),
            instance: s("instance"),
            reason: s("reason"),
        }),
        "Freeze" => Rpc::Freeze(pb::FreezeClusterRequest {
            reason: s("reason"),
        }),
        "Reap" => Rpc::Reap(pb::ReapRequest {
            host: s("host"),
            container_ids: vec![s("container_id")],
            dry_run: v["dry_run"].as_bool(),
        }),
        other => panic!("no regression format for rpc {other:?} yet: add it here"),
    }
}
