//! `AgentService.Session`, the agents' stream, on a started coordinator: a hello with any field
//! values, then any messages (inventories and deltas of arbitrary containers, heartbeats, reap
//! results for orders never sent), or no hello at all. The session is refused with a status or
//! runs and ends when the agent closes; the coordinator still answers `GetStatus`, and nothing
//! is written.

use std::time::Duration;

use galley_proto::v1 as pb;
use galley_proto::v1::agent_message::Body;
use galley_proto::v1::agent_service_client::AgentServiceClient;
use galley_proto::v1::coordinator_service_client::CoordinatorServiceClient;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tonic::transport::Channel;

use super::env::Env;
use super::grpc::{check_status, field};
use super::support::fuzz;

fn container() -> impl Strategy<Value = pb::Container> {
    let nanos = prop_oneof![any::<i64>(), Just(0), Just(1_700_000_000_000_000_000)];
    (
        (field(), field(), nanos.clone(), nanos, any::<i32>()),
        (field(), field(), field(), field()),
    )
        .prop_map(
            |((id, name, created, started, state), (env, label, app, image))| pb::Container {
                id,
                name,
                created_unix_nanos: created,
                started_unix_nanos: started,
                state,
                task_id_env: env,
                task_id_label: label,
                marathon_app_id: app,
                image,
            },
        )
}

fn hello() -> impl Strategy<Value = pb::AgentHello> {
    (field(), field(), field(), field(), field()).prop_map(
        |(hostname, mesos_slave_id, version, boot_id, instance_id)| pb::AgentHello {
            hostname,
            mesos_slave_id,
            version,
            boot_id,
            instance_id,
        },
    )
}

fn body() -> impl Strategy<Value = Option<Body>> {
    let containers = || proptest::collection::vec(container(), 0..3);
    proptest::option::weighted(
        0.95,
        prop_oneof![
            hello().prop_map(Body::Hello),
            containers().prop_map(|containers| Body::Inventory(pb::Inventory { containers })),
            (containers(), proptest::collection::vec(field(), 0..3)).prop_map(
                |(upserted, removed_ids)| {
                    Body::Delta(pb::InventoryDelta {
                        upserted,
                        removed_ids,
                    })
                }
            ),
            any::<u32>()
                .prop_map(|container_count| Body::Heartbeat(pb::Heartbeat { container_count })),
            (field(), any::<i32>(), any::<i32>(), field()).prop_map(
                |(order_id, status, refusal, detail)| {
                    Body::ReapResult(pb::ReapResult {
                        order_id,
                        status,
                        refusal,
                        detail,
                    })
                }
            ),
        ],
    )
}

/// A session: usually a hello first, then anything.
fn session() -> impl Strategy<Value = Vec<pb::AgentMessage>> {
    let first = prop_oneof![4 => hello().prop_map(|h| Some(Body::Hello(h))), 1 => body()];
    let message = (any::<u64>(), body()).prop_map(|(seq, body)| pb::AgentMessage { seq, body });
    (
        any::<u64>(),
        first,
        proptest::collection::vec(message, 0..6),
    )
        .prop_map(|(seq, first, rest)| {
            std::iter::once(pb::AgentMessage { seq, body: first })
                .chain(rest)
                .collect()
        })
}

#[test]
fn any_agent_session_is_refused_or_ends_and_writes_nothing() {
    let env = Env::start();
    let channel = env.rt.block_on(async {
        Channel::from_shared(env.grpc_url())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    });
    let before = env.written();
    fuzz("grpc-agent-session", 300, session(), |messages| {
        env.rt.block_on(async {
            let mut agents = AgentServiceClient::new(channel.clone());
            let exchange = async {
                let mut replies = agents
                    .session(tokio_stream::iter(messages))
                    .await?
                    .into_inner();
                while replies.message().await?.is_some() {}
                Ok::<(), tonic::Status>(())
            };
            let ended = tokio::time::timeout(Duration::from_secs(30), exchange)
                .await
                .map_err(|_| {
                    TestCaseError::fail("the session did not end after the agent closed")
                })?;
            if let Err(status) = &ended {
                check_status(status)?;
            }
            let mut ops = CoordinatorServiceClient::new(channel.clone());
            let alive = tokio::time::timeout(
                Duration::from_secs(10),
                ops.get_status(pb::GetStatusRequest {}),
            )
            .await
            .map_err(|_| TestCaseError::fail("GetStatus hung after the session"))?;
            prop_assert!(
                alive.is_ok(),
                "GetStatus failed after the session: {alive:?}"
            );
            Ok(())
        })?;
        prop_assert_eq!(&env.written(), &before, "a session wrote something");
        Ok(())
    });
}
