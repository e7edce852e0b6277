//! `impl CoordinatorService for OperatorService`: validate, call the component, convert back.

use std::time::Duration;

use chrono::Utc;
use galley_proto::v1 as pb;
use galley_proto::v1::coordinator_service_server::CoordinatorService;
use tonic::{Request, Response, Status};

use super::convert;
use super::error::{OperatorError, require_name, require_text};
use super::identity::caller;
use super::{OperatorService, View};
use crate::agents::{OrderOutcome, OrphanReason, ReapNowOutcome};

type Reply<T> = Result<Response<T>, Status>;

const DEFAULT_PAGE: usize = 1000;
const MAX_PAGE: usize = 10_000;
const RECONCILE_WAIT: Duration = Duration::from_secs(60);

impl OperatorService {
    /// The view, or UNAVAILABLE before the first pass.
    fn ready_view(&self) -> Result<std::sync::Arc<View>, OperatorError> {
        let view = self.view();
        if view.generation == 0 {
            return Err(OperatorError::NoPassYet);
        }
        Ok(view)
    }

    /// Checks `service` (and `instance`, when given) against the latest pass.
    fn known(&self, service: &str, instance: Option<&str>) -> Result<(), OperatorError> {
        require_name("service", service)?;
        if let Some(i) = instance {
            require_name("instance", i)?;
        }
        let view = self.ready_view()?;
        match instance {
            Some(i) if !view.has_instance(service, i) => Err(OperatorError::UnknownInstance {
                service: service.to_owned(),
                instance: i.to_owned(),
            }),
            None if !view.has_service(service) => Err(OperatorError::UnknownService {
                service: service.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Fills in pause and freeze of `s`.
    fn overlay(&self, s: &mut pb::InstanceStatus, frozen: &str) {
        let key = (s.service.clone(), s.instance.clone());
        let paused = self.deps().reconciler.control.paused();
        if let Some(reason) = paused.get(&key) {
            s.paused_reason = reason.clone();
            s.paused_by = self.who().paused_by.get(&key).cloned().unwrap_or_default();
        }
        s.frozen_reason = frozen.to_owned();
    }

    fn reaper(&self) -> Result<&super::ReaperSlot, OperatorError> {
        self.deps()
            .reaper
            .as_deref()
            .ok_or(OperatorError::NotEnabled {
                what: "the orphan reaper",
            })
    }

    fn registry(&self) -> Result<&crate::agents::AgentRegistry, OperatorError> {
        self.deps()
            .agents
            .as_ref()
            .ok_or(OperatorError::NotEnabled {
                what: "the agent service",
            })
    }
}

#[tonic::async_trait]
impl CoordinatorService for OperatorService {
    async fn get_status(&self, _: Request<pb::GetStatusRequest>) -> Reply<pb::GetStatusResponse> {
        let view = self.view();
        let leadership = self.deps().leadership.borrow().clone();
        let control = &self.deps().reconciler.control;
        let agents = self
            .deps()
            .agents
            .as_ref()
            .map(|r| r.agents())
            .unwrap_or_default();
        Ok(Response::new(pb::GetStatusResponse {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            cluster: self.deps().cluster.clone(),
            leader: leadership.acting.is_some(),
            leader_term: leadership.acting.unwrap_or(0),
            leader_id: leadership.leader_name().to_owned(),
            destructive_allowed: leadership.destructive.is_some(),
            last_pass: view.pass.clone(),
            frozen_reason: control.frozen().unwrap_or_default(),
            frozen_by: self.who().frozen_by.clone(),
            paused_instances: control
                .paused()
                .into_keys()
                .map(|(s, i)| format!("{s}.{i}"))
                .collect(),
            reaper_mode: self
                .deps()
                .reaper
                .as_ref()
                .map(|r| convert::reaper_mode(r.mode()))
                .unwrap_or(pb::ReaperMode::Unspecified) as i32,
            agents_connected: agents.iter().filter(|a| a.connected).count() as u32,
            agents_known: agents.len() as u32,
            started_at: convert::timestamp(self.inner.started_at),
            api_version: "galley.v1".to_owned(),
            marathon_view: self
                .deps()
                .marathon_view
                .as_ref()
                .map(|v| convert::marathon_view(&v.status())),
        }))
    }

    async fn list_instances(
        &self,
        req: Request<pb::ListInstancesRequest>,
    ) -> Reply<pb::ListInstancesResponse> {
        let req = req.into_inner();
        let view = self.view();
        let range = if req.service.is_empty() {
            0..view.len()
        } else {
            require_name("service", &req.service)?;
            let r = view.service_range(&req.service);
            if r.is_empty() && view.generation > 0 {
                return Err(OperatorError::UnknownService {
                    service: req.service,
                }
                .into());
            }
            r
        };
        let start = if req.page_token.is_empty() {
            range.start
        } else {
            let (s, i) = req
                .page_token
                .split_once('.')
                .ok_or(OperatorError::BadValue {
                    field: "page_token",
                    // Shortened, as every echoed value: a whole huge token in the status
                    // outgrew the client's header limit (an HTTP/2 protocol error).
                    value: req.page_token.chars().take(40).collect(),
                    why: "is not a token from a previous page",
                })?;
            view.lower_bound(s, i).clamp(range.start, range.end)
        };
        let size = match req.page_size as usize {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let end = (start + size).min(range.end);
        let frozen = self.deps().reconciler.control.frozen().unwrap_or_default();
        let mut instances: Vec<_> = (start..end).filter_map(|n| view.instance_at(n)).collect();
        for s in &mut instances {
            self.overlay(s, &frozen);
        }
        let next_page_token = view
            .key(end)
            .filter(|_| end < range.end)
            .map(|(s, i)| format!("{s}.{i}"))
            .unwrap_or_default();
        Ok(Response::new(pb::ListInstancesResponse {
            instances,
            next_page_token,
            generation: view.generation,
            frozen_reason: frozen,
        }))
    }

    async fn get_instance(
        &self,
        req: Request<pb::GetInstanceRequest>,
    ) -> Reply<pb::InstanceStatus> {
        let req = req.into_inner();
        self.known(&req.service, Some(&req.instance))?;
        let view = self.view();
        let mut s =
            view.instance(&req.service, &req.instance)
                .ok_or(OperatorError::UnknownInstance {
                    service: req.service,
                    instance: req.instance,
                })?;
        let frozen = self.deps().reconciler.control.frozen().unwrap_or_default();
        self.overlay(&mut s, &frozen);
        Ok(Response::new(s))
    }

    async fn get_replication(
        &self,
        req: Request<pb::GetReplicationRequest>,
    ) -> Reply<pb::GetReplicationResponse> {
        let req = req.into_inner();
        if !req.service.is_empty() {
            self.known(&req.service, None)?;
        }
        let view = self.view();
        let service = (!req.service.is_empty()).then_some(req.service.as_str());
        let entries = view
            .replication(service)
            .into_iter()
            .filter(|e| !req.only_under_replicated || e.under_replicated)
            .collect();
        Ok(Response::new(pb::GetReplicationResponse {
            entries,
            generation: view.generation,
        }))
    }

    async fn get_plan(&self, _: Request<pb::GetPlanRequest>) -> Reply<pb::GetPlanResponse> {
        let view = self.view();
        let control = &self.deps().reconciler.control;
        let frozen = control.frozen();
        let paused = control.paused();
        let mut plan = view.plan();
        for p in &mut plan.instances {
            p.held_because = match (
                &frozen,
                paused.get(&(p.service.clone(), p.instance.clone())),
            ) {
                (Some(r), _) => format!("cluster frozen: {r}"),
                (None, Some(r)) => format!("instance paused: {r}"),
                (None, None) => String::new(),
            };
        }
        Ok(Response::new(plan))
    }

    async fn list_agents(
        &self,
        _: Request<pb::ListAgentsRequest>,
    ) -> Reply<pb::ListAgentsResponse> {
        let registry = self.registry()?;
        let running: std::collections::BTreeMap<String, usize> = registry
            .snapshot()
            .into_iter()
            .map(|h| {
                let n = h.containers.iter().filter(|c| c.state.is_alive()).count();
                (h.host, n)
            })
            .collect();
        let now = Utc::now();
        let agents = registry
            .agents()
            .iter()
            .map(|a| {
                let n = running.get(&a.identity.hostname).copied().unwrap_or(0);
                convert::agent(a, n, now)
            })
            .collect();
        Ok(Response::new(pb::ListAgentsResponse { agents }))
    }

    async fn get_host_inventory(
        &self,
        req: Request<pb::GetHostInventoryRequest>,
    ) -> Reply<pb::GetHostInventoryResponse> {
        let req = req.into_inner();
        require_name("host", &req.host)?;
        let snap = self
            .registry()?
            .host(&req.host)
            .ok_or(OperatorError::UnknownHost { host: req.host })?;
        Ok(Response::new(pb::GetHostInventoryResponse {
            host: snap.host,
            fresh: snap.fresh,
            containers: snap.containers.iter().map(convert::container).collect(),
        }))
    }

    async fn list_orphans(
        &self,
        req: Request<pb::ListOrphansRequest>,
    ) -> Reply<pb::ListOrphansResponse> {
        let req = req.into_inner();
        if !req.host.is_empty() {
            require_name("host", &req.host)?;
        }
        let slot = self.reaper()?;
        let status = slot.handle().status().borrow().clone();
        let orphans = status
            .last_plan
            .iter()
            .flat_map(|p| &p.findings)
            .filter(|f| req.host.is_empty() || f.host == req.host)
            .map(convert::orphan)
            .collect();
        Ok(Response::new(pb::ListOrphansResponse {
            orphans,
            mode: convert::reaper_mode(slot.mode()) as i32,
            passes: status.passes,
            blocked: status.blocked.unwrap_or_default(),
        }))
    }

    async fn list_events(
        &self,
        req: Request<pb::ListEventsRequest>,
    ) -> Reply<pb::ListEventsResponse> {
        let req = req.into_inner();
        if !req.service.is_empty() {
            require_name("service", &req.service)?;
        }
        let limit = match req.limit {
            0 => 100,
            n => n.min(1000) as usize,
        };
        let service = Some(req.service.as_str()).filter(|s| !s.is_empty());
        let events = self.deps().deploy_log.recent(service, limit);
        Ok(Response::new(pb::ListEventsResponse {
            events: events.iter().map(convert::event).collect(),
        }))
    }

    type WatchEventsStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::Event, Status>> + Send>>;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Reply<Self::WatchEventsStream> {
        let req = req.into_inner();
        if !req.service.is_empty() {
            require_name("service", &req.service)?;
        }
        let rx = self.deps().deploy_log.subscribe();
        let service = req.service;
        let stream = futures::stream::unfold(rx, move |mut rx| {
            let service = service.clone();
            async move {
                let only = Some(service.as_str()).filter(|s| !s.is_empty());
                loop {
                    match rx.recv().await {
                        Ok(event) if crate::deploy_log::matches_service(&event, only) => {
                            return Some((Ok(convert::event(&event)), rx));
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            let status = Status::data_loss(format!(
                                "fell {n} events behind; reconnect (ListEvents catches up)"
                            ));
                            return Some((Err(status), rx));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        let stream: Self::WatchEventsStream = Box::pin(stream);
        Ok(Response::new(stream))
    }

    async fn reconcile(&self, req: Request<pb::ReconcileRequest>) -> Reply<pb::ReconcileResponse> {
        let who = caller(&req);
        let req = req.into_inner();
        let target = match (req.service.as_str(), req.instance.as_str()) {
            ("", "") => "every instance".to_owned(),
            ("", _) => return Err(OperatorError::MissingField { field: "service" }.into()),
            (s, "") => {
                self.known(s, None)?;
                s.to_owned()
            }
            (s, i) => {
                self.known(s, Some(i))?;
                format!("{s}.{i}")
            }
        };
        let mut status = self.deps().reconciler.status.clone();
        let asked_at = Utc::now();
        self.audit(
            Some(&req.service)
                .filter(|s| !s.is_empty())
                .map(String::as_str),
            Some(&req.instance)
                .filter(|s| !s.is_empty())
                .map(String::as_str),
            &format!("Operator {who} asked for a reconcile pass of {target}"),
        );
        self.deps().reconciler.trigger();
        if !req.wait {
            return Ok(Response::new(pb::ReconcileResponse { pass: None }));
        }
        // Passes are coalesced: wait for one that started after the request.
        let wait = async {
            loop {
                if let Some(r) = status.borrow_and_update().clone()
                    && r.started_at >= asked_at
                {
                    return Ok(convert::pass_summary(&r));
                }
                if status.changed().await.is_err() {
                    return Err(OperatorError::ReconcilerGone);
                }
            }
        };
        let pass = tokio::time::timeout(RECONCILE_WAIT, wait)
            .await
            .map_err(|_| OperatorError::PassTimeout {
                seconds: RECONCILE_WAIT.as_secs(),
            })??;
        Ok(Response::new(pb::ReconcileResponse { pass: Some(pass) }))
    }

    async fn pause_instance(
        &self,
        req: Request<pb::PauseInstanceRequest>,
    ) -> Reply<pb::PauseInstanceResponse> {
        let who = caller(&req);
        let req = req.into_inner();
        self.known(&req.service, Some(&req.instance))?;
        require_text("reason", &req.reason)?;
        let key = (req.service.clone(), req.instance.clone());
        self.who().paused_by.insert(key.clone(), who.clone());
        self.deps().reconciler.control.pause(key, &req.reason);
        self.audit(
            Some(&req.service),
            Some(&req.instance),
            &format!(
                "Operator {who} paused reconciling {}.{}: {}",
                req.service, req.instance, req.reason
            ),
        );
        Ok(Response::new(pb::PauseInstanceResponse {}))
    }

    async fn resume_instance(
        &self,
        req: Request<pb::ResumeInstanceRequest>,
    ) -> Reply<pb::ResumeInstanceResponse> {
        let who = caller(&req);
        let req = req.into_inner();
        require_name("service", &req.service)?;
        require_name("instance", &req.instance)?;
        let key = (req.service.clone(), req.instance.clone());
        let control = &self.deps().reconciler.control;
        if !control.is_paused(&key) {
            // Not paused: only an error when the instance does not exist either.
            self.known(&req.service, Some(&req.instance))?;
        }
        let was_paused = control.resume(&key);
        self.who().paused_by.remove(&key);
        if was_paused {
            self.audit(
                Some(&req.service),
                Some(&req.instance),
                &format!(
                    "Operator {who} resumed reconciling {}.{}",
                    req.service, req.instance
                ),
            );
            self.deps().reconciler.trigger();
        }
        Ok(Response::new(pb::ResumeInstanceResponse { was_paused }))
    }

    async fn freeze_cluster(
        &self,
        req: Request<pb::FreezeClusterRequest>,
    ) -> Reply<pb::FreezeClusterResponse> {
        let who = caller(&req);
        let req = req.into_inner();
        require_text("reason", &req.reason)?;
        self.who().frozen_by = who.clone();
        self.deps().reconciler.control.freeze(&req.reason);
        self.audit(
            None,
            None,
            &format!("Operator {who} froze reconciling: {}", req.reason),
        );
        Ok(Response::new(pb::FreezeClusterResponse {}))
    }

    async fn unfreeze_cluster(
        &self,
        req: Request<pb::UnfreezeClusterRequest>,
    ) -> Reply<pb::UnfreezeClusterResponse> {
        let who = caller(&req);
        let control = &self.deps().reconciler.control;
        let was_frozen = control.frozen().is_some();
        control.unfreeze();
        self.who().frozen_by.clear();
        if was_frozen {
            self.audit(None, None, &format!("Operator {who} unfroze reconciling"));
            self.deps().reconciler.trigger();
        }
        Ok(Response::new(pb::UnfreezeClusterResponse { was_frozen }))
    }

    async fn reap(&self, req: Request<pb::ReapRequest>) -> Reply<pb::ReapResponse> {
        let who = caller(&req);
        let req = req.into_inner();
        require_name("host", &req.host)?;
        for id in &req.container_ids {
            require_name("container_ids", id)?;
        }
        let dry_run = req.dry_run.unwrap_or(true);
        let handle = self.reaper()?.handle();
        let ids: Vec<String> = if req.container_ids.is_empty() {
            let status = handle.status().borrow().clone();
            status
                .last_plan
                .iter()
                .flat_map(|p| &p.findings)
                .filter(|f| f.host == req.host && f.reason == OrphanReason::NoSuchTask)
                .map(|f| f.target.container_id.clone())
                .collect()
        } else {
            req.container_ids.clone()
        };
        let items = handle
            .reap_now(&req.host, &ids, dry_run)
            .await
            .map_err(OperatorError::from)?;
        let what = if dry_run { "dry-run reaped" } else { "reaped" };
        self.audit(
            None,
            None,
            &format!(
                "Operator {who} {what} {} container(s) on {}: {}",
                ids.len(),
                req.host,
                ids.join(", ")
            ),
        );
        let items = items
            .into_iter()
            .map(|item| {
                let (outcome, detail) = match item.outcome {
                    ReapNowOutcome::NotFound => ("NOT_FOUND", String::new()),
                    ReapNowOutcome::Refused { reason } => ("REFUSED", reason.to_owned()),
                    ReapNowOutcome::WouldReap => ("WOULD_REAP", String::new()),
                    ReapNowOutcome::Ordered(OrderOutcome::Done { detail }) => ("DONE", detail),
                    ReapNowOutcome::Ordered(o @ OrderOutcome::Refused { .. }) => {
                        ("AGENT_REFUSED", o.to_string())
                    }
                    ReapNowOutcome::Ordered(o @ OrderOutcome::Failed { .. }) => {
                        ("FAILED", o.to_string())
                    }
                    ReapNowOutcome::DeliveryFailed(e) => ("FAILED", e),
                };
                pb::ReapItem {
                    container_id: item.container_id,
                    outcome: outcome.to_owned(),
                    detail,
                }
            })
            .collect();
        Ok(Response::new(pb::ReapResponse { items, dry_run }))
    }

    async fn set_reaper_mode(
        &self,
        req: Request<pb::SetReaperModeRequest>,
    ) -> Reply<pb::SetReaperModeResponse> {
        let who = caller(&req);
        let raw = req.into_inner().mode;
        let mode = convert::reaper_mode_from(raw).ok_or(OperatorError::BadValue {
            field: "mode",
            value: raw.to_string(),
            why: "must be REAPER_MODE_REPORT or REAPER_MODE_ENFORCE",
        })?;
        let previous = self.reaper()?.set_mode(mode);
        if previous != mode {
            self.audit(
                None,
                None,
                &format!(
                    "Operator {who} set the orphan reaper mode to {mode:?} (was {previous:?})"
                ),
            );
        }
        Ok(Response::new(pb::SetReaperModeResponse {
            previous: convert::reaper_mode(previous) as i32,
        }))
    }
}
