//! The demo's timeline, in real time, one step every `step`: push a deploy tag (web.main
//! bounces), stop api.main, inject an orphan container (the reaper reports it), switch the
//! reaper to enforce (it is reaped). Meanwhile deploy-log events are printed as they happen,
//! and progress is read from the same in-memory view the operator API serves.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use galley_proto::v1 as pb;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::{DemoError, DemoOptions, Running, tree};
use galley_coordinator::agents::{OrphanReason, ReaperMode};
use galley_coordinator::deploy_log::DeployEvent;
use galley_coordinator::error_chain::ErrorChain;

/// What the demo saw happen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Reconcile passes run.
    pub passes: u64,
    /// The app web.main bounced to, once the bounce started.
    pub bounce_to: Option<String>,
    /// Whether that bounce finished (only the new app left, all tasks healthy).
    pub bounce_finished: bool,
    /// Whether api.main stopped (desired stop, no task running).
    pub stopped: bool,
    /// The injected orphan container.
    pub orphan: Option<String>,
    /// Whether the reaper reported it (`NO_SUCH_TASK`).
    pub orphan_reported: bool,
    /// Whether it is gone.
    pub orphan_reaped: bool,
    /// Deploy-log events printed.
    pub events: u64,
}

impl DemoSummary {
    /// One line per fact, `key: value`, for scripts.
    pub fn render(&self) -> String {
        format!(
            "summary: passes: {}\nsummary: bounce_started: {} ({})\nsummary: bounce_finished: {}\n\
             summary: stopped: {}\nsummary: orphan_reported: {}\nsummary: orphan_reaped: {}\n\
             summary: events: {}\n",
            self.passes,
            self.bounce_to.is_some(),
            self.bounce_to.as_deref().unwrap_or("-"),
            self.bounce_finished,
            self.stopped,
            self.orphan_reported,
            self.orphan_reaped,
            self.events
        )
    }
}

/// Prints the banner and the grpcurl commands to try.
fn banner(out: &mut impl Write, r: &Running, addr: SocketAddr) {
    let hosts = r.cluster.hostnames.join(", ");
    let _ = writeln!(
        out,
        "Galley demo: cluster {cluster} (Marathon {m}, Mesos {me}), slaves {hosts}\n\
         soa-configs in {soa}, git repositories in {repos}\n\
         gRPC API listening on {addr}\n\n\
         Try, in another terminal:\n\
         \x20 grpcurl -plaintext {addr} list\n\
         \x20 grpcurl -plaintext {addr} describe galley.v1.CoordinatorService\n\
         \x20 grpcurl -plaintext {addr} galley.v1.CoordinatorService/GetStatus\n\
         \x20 grpcurl -plaintext -d '{{\"service\": \"web\"}}' {addr} galley.v1.CoordinatorService/ListInstances\n\
         \x20 grpcurl -plaintext {addr} galley.v1.CoordinatorService/GetPlan\n\
         \x20 grpcurl -plaintext {addr} galley.v1.CoordinatorService/ListAgents\n\
         \x20 grpcurl -plaintext {addr} galley.v1.CoordinatorService/ListOrphans\n\
         \x20 grpcurl -plaintext -d '{{\"limit\": 20}}' {addr} galley.v1.CoordinatorService/ListEvents\n\
         \x20 grpcurl -plaintext -d '{{\"reason\": \"demo freeze\"}}' {addr} galley.v1.CoordinatorService/FreezeCluster\n\
         \x20 grpcurl -plaintext {addr} grpc.health.v1.Health/Check\n",
        cluster = tree::CLUSTER,
        m = r.cluster.sim.marathon_url(),
        me = r.cluster.sim.mesos_url(),
        soa = r.tree.soa_dir.display(),
        repos = r.tree.repos.display(),
    );
}

/// Plays the timeline until `shutdown` or `opts.run_for`; never fails (a failed step is
/// printed and the demo goes on).
pub(super) async fn play(
    r: &mut Running,
    opts: &DemoOptions,
    addr: SocketAddr,
    out: &mut (impl Write + Send),
    shutdown: impl Future<Output = ()> + Send,
) -> DemoSummary {
    banner(out, r, addr);
    let _ = out.flush();
    let start = Instant::now();
    let deadline = opts.run_for.map(|d| start + d);
    let mut events = r.deploy_log.subscribe();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut summary = DemoSummary::default();
    let mut next_step = 1u32;
    tokio::pin!(shutdown);
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = until_deadline => break,
            ev = events.recv() => match ev {
                Ok(e) => print_event(out, start, &e, &mut summary),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let _ = writeln!(out, "[{}] ({n} events not shown)", stamp(start));
                }
                Err(broadcast::error::RecvError::Closed) => {}
            },
            _ = tick.tick() => {
                if start.elapsed() >= opts.step * next_step {
                    step(r, next_step, start, out, &mut summary).await;
                    next_step += 1;
                }
                observe(r, start, out, &mut summary);
            }
        }
        let _ = out.flush();
    }
    observe(r, start, out, &mut summary);
    let _ = writeln!(
        out,
        "\n== demo ended after {:.1} s\n{}",
        start.elapsed().as_secs_f64(),
        summary.render()
    );
    let _ = out.flush();
    summary
}

fn stamp(start: Instant) -> String {
    format!("t+{:5.1}s", start.elapsed().as_secs_f64())
}

fn print_event(out: &mut impl Write, start: Instant, e: &DeployEvent, summary: &mut DemoSummary) {
    if e.level != galley_coordinator::deploy_log::Level::Event {
        return;
    }
    summary.events += 1;
    let who = if e.service == galley_coordinator::deploy_log::NOT_APPLICABLE {
        "cluster".to_owned()
    } else {
        format!("{}.{}", e.service, e.instance)
    };
    let _ = writeln!(out, "[{}] {who}: {}", stamp(start), e.message);
}

/// Script step `n` (1-based); steps past the last do nothing.
async fn step(
    r: &mut Running,
    n: u32,
    start: Instant,
    out: &mut (impl Write + Send),
    summary: &mut DemoSummary,
) {
    let ts = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    let result: Result<String, DemoError> = match n {
        1 => {
            let tag = format!("refs/tags/paasta-{}.everything-{ts}-deploy", tree::CLUSTER);
            match tree::push_release(&r.tree, "web", &tag) {
                Ok(sha) => regenerate(r)
                    .await
                    .map(|()| format!("pushed {tag} -> {sha} (web.main bounces)")),
                Err(e) => Err(e),
            }
        }
        3 => {
            let deployed = "refs/tags/paasta-norcal-prod.main-20161101T100000-deploy";
            let tag = format!("refs/tags/paasta-{}.main-{ts}-stop", tree::CLUSTER);
            match tree::push_control(&r.tree, "api", deployed, &tag) {
                Ok(_) => regenerate(r)
                    .await
                    .map(|()| format!("pushed {tag} (paasta stop of api.main)")),
                Err(e) => Err(e),
            }
        }
        4 => {
            let host = r.cluster.hostnames[1].clone();
            r.cluster.inject_orphan(&host).map(|id| {
                let text = format!(
                    "an executor crashed on {host}: container {} has no task any more",
                    &id[..12]
                );
                summary.orphan = Some(id);
                text
            })
        }
        6 => {
            let previous = r.reaper.set_mode(ReaperMode::Enforce);
            r.operator.audit(
                None,
                None,
                &format!("Operator demo set the orphan reaper mode to Enforce (was {previous:?})"),
            );
            Ok("switched the orphan reaper to enforce (SetReaperMode)".to_owned())
        }
        _ => return,
    };
    match result {
        Ok(text) => {
            let _ = writeln!(out, "\n[{}] == {text}", stamp(start));
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "\n[{}] == step {n} failed: {}",
                stamp(start),
                ErrorChain(&e)
            );
        }
    }
}

/// generate-deployments over the demo tree, then an immediate reconcile pass.
async fn regenerate(r: &Running) -> Result<(), DemoError> {
    galley_coordinator::generate::generate_all(&r.generate, r.git.clone()).await?;
    r.reconciler.trigger();
    Ok(())
}

/// Updates `summary` from the operator view, the reaper and the emulators; prints milestones.
fn observe(r: &Running, start: Instant, out: &mut impl Write, summary: &mut DemoSummary) {
    let view = r.operator.view();
    summary.passes = view.generation;
    let web = view.instance("web", "main");
    if let Some(web) = web {
        let pushed = summary.bounce_to.is_some();
        let initial = r.initial_web_app();
        if !pushed && !initial.is_empty() && web.desired_app_id != initial {
            summary.bounce_to = Some(web.desired_app_id.clone());
            let _ = writeln!(
                out,
                "[{}] == bounce started: web.main -> {}",
                stamp(start),
                web.desired_app_id
            );
        }
        if pushed && !summary.bounce_finished && settled(&web) {
            summary.bounce_finished = true;
            let _ = writeln!(
                out,
                "[{}] == bounce finished: web.main runs only {}",
                stamp(start),
                web.desired_app_id
            );
        }
    }
    if let Some(api) = view.instance("api", "main")
        && !summary.stopped
        && api.desired_state == pb::DesiredState::Stop as i32
        && api.tasks_running == 0
    {
        summary.stopped = true;
        let _ = writeln!(
            out,
            "[{}] == api.main stopped: no task running",
            stamp(start)
        );
    }
    if let Some(id) = summary.orphan.clone() {
        let host = &r.cluster.hostnames[1];
        if !summary.orphan_reported {
            let status = r.reaper.handle().status().borrow().clone();
            let found = status
                .last_plan
                .iter()
                .flat_map(|p| &p.findings)
                .any(|f| f.target.container_id == id && f.reason == OrphanReason::NoSuchTask);
            if found {
                summary.orphan_reported = true;
                let _ = writeln!(
                    out,
                    "[{}] == orphan reported by the reaper (NO_SUCH_TASK); see ListOrphans",
                    stamp(start)
                );
            }
        }
        if !summary.orphan_reaped && !r.cluster.container_exists(host, &id) {
            summary.orphan_reaped = true;
            let _ = writeln!(out, "[{}] == orphan reaped on {host}", stamp(start));
        }
    }
}

/// Only the desired app is left and all its tasks are healthy.
fn settled(s: &pb::InstanceStatus) -> bool {
    s.apps.len() == 1
        && s.apps[0].desired
        && s.tasks_healthy >= s.tasks_expected
        && s.tasks_expected > 0
}

impl Running {
    /// web.main's app id before the push (remembered from the first view that had it).
    fn initial_web_app(&self) -> String {
        let mut first = self.first_web_app.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_empty()
            && let Some(w) = self.operator.view().instance("web", "main")
        {
            first.clone_from(&w.desired_app_id);
        }
        first.clone()
    }
}
