//! Agents on every slave: the coordinator's side of container inventory and orphan reaping.
//!
//! PaaSTA's `cleanup_marathon_orphaned_containers` ran blind on each slave. Galley splits it:
//! `galley-agent` reports its Docker inventory over a long-lived gRPC stream
//! ([`service::agent_service`]); the coordinator, which sees Marathon and Mesos, decides which
//! containers are orphans ([`planner::plan_reap`], pure) and orders the agent to reap them
//! ([`reaper::ReaperHandle`]); the agent re-checks everything before acting.
//!
//! # Wiring
//! ```text
//! let registry = AgentRegistry::new(stale_after);            // ~3 heartbeats
//! Server::builder().add_service(agent_service(registry.clone(), leader_rx.clone(), 10))
//! let (reaper, task) = ReaperHandle::spawn(marathon, mesos, registry, leader_rx, policy, audit);
//! ```
//! Tasks: one pump per agent session (in `service`), one reaper loop, one task per order in
//! flight. Channels: registry → session (`Outbound`, bounded), session → registry (direct
//! calls), order answers through oneshots, status on a `watch`, audit through [`AuditSink`].

pub mod audit;
/// The orphan planner, its container model and the reaper policy (the `galley-planner` crate).
pub use galley_planner::orphans::{model, planner, policy};
pub mod reaper;
pub mod registry;
pub mod service;
pub mod validate;

pub use audit::{AuditEvent, AuditSink, ChannelAudit, ReaperCounters, TracingAudit};
pub use model::{ContainerObs, ContainerState, HostSnapshot, OrderOutcome, OrderSpec, OrderTarget};
pub use planner::{ClusterView, Finding, HoldReason, OrphanReason, ReapPlan, plan_reap};
pub use policy::{ReaperMode, ReaperPolicy};
pub use reaper::{
    MarathonSource, ReapNowError, ReapNowItem, ReapNowOutcome, ReaperHandle, ReaperStatus,
    ViewError,
};
pub use registry::{AgentRegistry, AgentStatus, DeliveryError, RegistryError, RegistryLimits};
pub use service::{AgentServiceImpl, DenialAudit, agent_service, agent_service_audited};
