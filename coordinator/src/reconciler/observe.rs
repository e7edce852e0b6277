//! The observe step of a pass: Marathon's apps from the watched view when it is complete and
//! settled, else from a list of the pass's own (what every pass did before the view). Either
//! way the planner sees a whole, current picture; a failed list fails the pass.
//!
//! A view can be complete and settled and still miss an event (Marathon drops events for a
//! slow consumer without a word), so a plan made from the view that would drain, kill or
//! delete is confirmed first: every app of the instances it touches is fetched again
//! (`GET /v2/apps/{id}`), and the pass re-plans with those. A failed fetch fails the pass
//! before anything is applied.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use galley_common::observed::{AppSnapshot, ObservedApp, prefix_range};
use tokio::sync::watch;

use super::Reconciler;
use crate::marathon::{MarathonApi, MarathonError};
use crate::mesos::MesosApi;
use crate::plan::{Action, InstancePlan, Plan};

/// Apps fetched at once when a plan is confirmed.
const CONFIRM_CONCURRENCY: usize = 8;

/// How long a pass waits for events it has already received to be fetched.
const SETTLE: Duration = Duration::from_secs(2);

/// How much longer it waits while the view is complete and still fetching: a burst of events
/// (tens of thousands of task and health changes after a large deploy) leaves a backlog of
/// apps to fetch, and a full list instead would take as long at that size, cost Marathon
/// far more, and hold a second copy of every app (at 50,000 instances, right after
/// convergence, two steady passes in fifteen listed).
const SETTLE_BACKLOG: Duration = Duration::from_secs(8);

/// At most this many Marathon-triggered passes start per second (bursts of events during a
/// bounce are coalesced).
const MARATHON_PASS_GAP: Duration = Duration::from_millis(250);

/// Where a pass's apps came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppsSource {
    /// A full `GET /v2/apps?embed=apps.tasks` of its own.
    #[default]
    List,
    /// The list-then-watch view.
    View,
}

/// The apps to fetch again before a plan made from the view may apply: every app of each
/// instance whose plan drains, kills or deletes (its new app's health decides the old one's
/// fate), and every app the cleanup deletes. Empty when the plan destroys nothing. `apps`:
/// the pass's, sorted by id.
pub(super) fn apps_to_confirm(plan: &Plan, apps: &[Arc<ObservedApp>]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for p in &plan.instances {
        let destroys = p.actions.iter().any(|a| {
            matches!(
                a,
                Action::Drain { .. } | Action::KillTasks { .. } | Action::DeleteApp { .. }
            )
        });
        if destroys {
            ids.extend(instance_app_ids(p, apps));
        }
    }
    for a in &plan.cleanup.actions {
        if let Action::DeleteApp { app_id, .. } = a {
            ids.insert(app_id.clone());
        }
    }
    ids
}

/// The ids of a planned instance's apps in `apps` (sorted by id; found by the app-id form of
/// its name, `_` written `--`), and of its desired app whether `apps` has it or not.
fn instance_app_ids(p: &InstancePlan, apps: &[Arc<ObservedApp>]) -> Vec<String> {
    let short = galley_common::app_id::short_id(&p.service, &p.instance);
    let own = &apps[prefix_range(apps, &format!("/{short}."))];
    let mut ids: Vec<String> = own.iter().map(|a| a.id.clone()).collect();
    if !own.iter().any(|a| a.id == p.app_id) {
        ids.push(p.app_id.clone()); // a new app the view never saw
    }
    ids
}

/// At most this many apps of instances in flight are fetched again by one periodic pass.
pub(super) const IN_FLIGHT_REFRESH: usize = 64;

/// The periodic refresh of instances in flight (a bounce on, or a deployment waited for): a
/// view that lost their events would otherwise hold them until the next resync. Each periodic
/// pass takes the next window of at most [`IN_FLIGHT_REFRESH`] apps, in turn, so every
/// instance in flight is refreshed within a few periods however many there are.
#[derive(Debug, Default)]
pub(super) struct InFlightRefresh {
    /// Where the next window starts among the apps in flight.
    cursor: usize,
}

impl InFlightRefresh {
    /// The apps (ids) of the next window of instances in flight in `plan`.
    pub(super) fn next_window(&mut self, plan: &Plan, apps: &[Arc<ObservedApp>]) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for p in plan
            .instances
            .iter()
            .filter(|p| p.bouncing || !p.waiting_on.is_empty())
        {
            ids.extend(instance_app_ids(p, apps));
        }
        if ids.len() <= IN_FLIGHT_REFRESH {
            self.cursor = 0;
            return ids;
        }
        let start = self.cursor % ids.len();
        self.cursor = start + IN_FLIGHT_REFRESH;
        ids.into_iter()
            .cycle()
            .skip(start)
            .take(IN_FLIGHT_REFRESH)
            .collect()
    }
}

/// The apps a plan writes to in Marathon (created, scaled, tasks killed, deleted): the view
/// fetches them again before the next pass plans from it.
pub(super) fn written_apps(plan: &Plan) -> Vec<String> {
    let cleanup = plan.cleanup.actions.iter();
    plan.instances
        .iter()
        .flat_map(|p| p.actions.iter())
        .chain(cleanup)
        .filter_map(|a| match a {
            Action::CreateApp { app_id }
            | Action::ScaleApp { app_id, .. }
            | Action::KillTasks { app_id, .. }
            | Action::DeleteApp { app_id, .. } => Some(app_id.clone()),
            Action::Drain { .. } | Action::StopDraining { .. } => None,
        })
        .collect()
}

/// Replaces (or removes, or adds) each fetched app in `apps`, keeping id order.
pub(super) fn merge_fetched(
    apps: &mut Vec<Arc<ObservedApp>>,
    fetched: Vec<(String, Option<ObservedApp>)>,
) {
    for (id, app) in fetched {
        match (apps.binary_search_by(|a| a.id.as_str().cmp(&id)), app) {
            (Ok(i), Some(app)) => apps[i] = Arc::new(app),
            (Ok(i), None) => {
                apps.remove(i);
            }
            (Err(i), Some(app)) => apps.insert(i, Arc::new(app)),
            (Err(_), None) => {}
        }
    }
}

impl<M: MarathonApi, S: MesosApi> Reconciler<M, S> {
    /// The apps to plan from, and where they came from.
    pub(super) async fn observe_apps(&self) -> Result<(AppSnapshot, AppsSource), MarathonError> {
        if let Some(view) = &self.view {
            if let Some(apps) = view.current(SETTLE).await {
                return Ok((apps, AppsSource::View));
            }
            if view.status().complete
                && let Some(apps) = view.current(SETTLE_BACKLOG).await
            {
                return Ok((apps, AppsSource::View));
            }
        }
        // Each listed app equal to one the view holds is that same `Arc`: a pass that lists
        // while the view catches up on a burst (at 50,000 apps, right after convergence) then
        // holds one copy of the unchanged apps, not two, and the caches keyed by them stay.
        let held = self.view.as_ref().map(|v| v.held()).unwrap_or_default();
        let mut apps = self.marathon.list_apps_reusing(held).await?;
        apps.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((Arc::new(apps), AppsSource::List))
    }

    /// Fetches `ids` again (a plan from the view is about to destroy something) and merges
    /// them into `apps`. Any failed fetch fails the whole confirmation.
    pub(super) async fn confirm_apps(
        &self,
        apps: &mut Vec<Arc<ObservedApp>>,
        ids: BTreeSet<String>,
    ) -> Result<usize, MarathonError> {
        let marathon = self.marathon.as_ref();
        let fetched: Vec<(String, Option<ObservedApp>)> =
            futures::stream::iter(ids.into_iter().map(|id| async move {
                let app = marathon.get_app(&id).await;
                app.map(|app| (id, app))
            }))
            .buffer_unordered(CONFIRM_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let n = fetched.len();
        merge_fetched(apps, fetched);
        Ok(n)
    }
}

/// Completes when the view changed (after a short gap, so a burst is one pass); never without
/// a view.
pub(super) async fn changed(changes: Option<&mut watch::Receiver<u64>>) {
    let Some(changes) = changes else {
        return std::future::pending().await;
    };
    if changes.changed().await.is_err() {
        return std::future::pending().await;
    }
    tokio::time::sleep(MARATHON_PASS_GAP).await;
    changes.borrow_and_update();
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::plan::{DeleteReason, InstancePlan};

    fn app(id: &str, instances: u32) -> ObservedApp {
        ObservedApp {
            id: id.to_owned(),
            instances,
            ..ObservedApp::default()
        }
    }

    fn instance(service: &str, app_id: &str, actions: Vec<Action>) -> Arc<InstancePlan> {
        Arc::new(InstancePlan {
            service: service.to_owned(),
            instance: "main".to_owned(),
            app_id: app_id.to_owned(),
            actions,
            ..InstancePlan::default()
        })
    }

    fn ids(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_destroying_plans_are_confirmed_with_every_app_of_their_instance() {
        let apps: Vec<Arc<ObservedApp>> = [
            app("/api.main.git1.c1", 2),
            app("/api.main.git2.c2", 2),
            app("/api.mainx.git1.c1", 1), // another instance sharing the prefix text
            app("/web.main.git1.c1", 1),
            app("/gone.main.git1.c1", 1),
            app("/my--svc.main.git1.c1", 1),
            app("/my--svc.main.git2.c2", 1),
        ]
        .into_iter()
        .map(Arc::new)
        .collect();
        let mut apps = apps;
        apps.sort_by(|a, b| a.id.cmp(&b.id)); // as a pass's apps are
        let cases: Vec<(&str, Plan, BTreeSet<String>)> = vec![
            ("nothing to do", Plan::default(), ids(&[])),
            (
                "a create and a scale destroy nothing",
                Plan {
                    instances: vec![instance(
                        "web",
                        "/web.main.git2.c2",
                        vec![
                            Action::CreateApp {
                                app_id: "/web.main.git2.c2".into(),
                            },
                            Action::ScaleApp {
                                app_id: "/web.main.git2.c2".into(),
                                instances: 2,
                            },
                        ],
                    )],
                    ..Plan::default()
                },
                ids(&[]),
            ),
            (
                "a kill confirms the old and the new app",
                Plan {
                    instances: vec![instance(
                        "api",
                        "/api.main.git2.c2",
                        vec![Action::KillTasks {
                            app_id: "/api.main.git1.c1".into(),
                            task_ids: vec!["t".into()],
                        }],
                    )],
                    ..Plan::default()
                },
                ids(&["/api.main.git1.c1", "/api.main.git2.c2"]),
            ),
            (
                "a drain counts as destroying",
                Plan {
                    instances: vec![instance(
                        "api",
                        "/api.main.git2.c2",
                        vec![Action::Drain {
                            app_id: "/api.main.git1.c1".into(),
                            task_ids: vec!["t".into()],
                        }],
                    )],
                    ..Plan::default()
                },
                ids(&["/api.main.git1.c1", "/api.main.git2.c2"]),
            ),
            (
                "an instance with `_` in its name (`--` in app ids) confirms its old app",
                Plan {
                    instances: vec![Arc::new(InstancePlan {
                        service: "my_svc".into(),
                        instance: "main".into(),
                        app_id: "/my--svc.main.git2.c2".into(),
                        actions: vec![Action::DeleteApp {
                            app_id: "/my--svc.main.git1.c1".into(),
                            reason: DeleteReason::Bounced,
                        }],
                        ..InstancePlan::default()
                    })],
                    ..Plan::default()
                },
                ids(&["/my--svc.main.git1.c1", "/my--svc.main.git2.c2"]),
            ),
            (
                "a cleanup delete confirms the deleted app",
                {
                    let mut p = Plan::default();
                    p.cleanup.actions.push(Action::DeleteApp {
                        app_id: "/gone.main.git1.c1".into(),
                        reason: DeleteReason::Removed,
                    });
                    p
                },
                ids(&["/gone.main.git1.c1"]),
            ),
        ];
        for (name, plan, want) in cases {
            assert_eq!(apps_to_confirm(&plan, &apps), want, "{name}");
        }
    }

    #[test]
    fn periodic_refresh_takes_every_instance_in_flight_in_windows() {
        let mut apps: Vec<Arc<ObservedApp>> = (0..100)
            .flat_map(|i| {
                [
                    app(&format!("/svc.i{i:03}.git1.c1"), 1),
                    app(&format!("/svc.i{i:03}.git2.c2"), 1),
                ]
            })
            .chain([app("/calm.main.git1.c1", 1)])
            .map(Arc::new)
            .collect();
        apps.sort_by(|a, b| a.id.cmp(&b.id));
        let mut instances: Vec<Arc<InstancePlan>> = (0..100)
            .map(|i| {
                Arc::new(InstancePlan {
                    service: "svc".into(),
                    instance: format!("i{i:03}"),
                    app_id: format!("/svc.i{i:03}.git2.c2"),
                    bouncing: true,
                    ..InstancePlan::default()
                })
            })
            .collect();
        instances.push(Arc::new(InstancePlan {
            service: "calm".into(),
            instance: "main".into(),
            app_id: "/calm.main.git1.c1".into(),
            ..InstancePlan::default()
        }));
        let plan = Plan {
            instances,
            ..Plan::default()
        };
        let mut refresh = InFlightRefresh::default();
        let mut seen = BTreeSet::new();
        for _ in 0..4 {
            let window = refresh.next_window(&plan, &apps);
            assert_eq!(window.len(), IN_FLIGHT_REFRESH);
            seen.extend(window);
        }
        assert_eq!(seen.len(), 200, "every app in flight within four periods");
        assert!(
            !seen.contains("/calm.main.git1.c1"),
            "a settled instance is not fetched"
        );

        let small = Plan {
            instances: plan.instances[..3].to_vec(),
            ..Plan::default()
        };
        assert_eq!(refresh.next_window(&small, &apps).len(), 6, "all, when few");
    }

    #[test]
    fn written_apps_are_every_marathon_write() {
        let mut plan = Plan {
            instances: vec![instance(
                "api",
                "/api.main.git2.c2",
                vec![
                    Action::CreateApp {
                        app_id: "/a".into(),
                    },
                    Action::Drain {
                        app_id: "/b".into(),
                        task_ids: vec![],
                    },
                    Action::KillTasks {
                        app_id: "/c".into(),
                        task_ids: vec![],
                    },
                ],
            )],
            ..Plan::default()
        };
        plan.cleanup.actions.push(Action::DeleteApp {
            app_id: "/d".into(),
            reason: DeleteReason::Removed,
        });
        assert_eq!(written_apps(&plan), ["/a", "/c", "/d"]);
    }

    proptest! {
        /// Merging fetched apps equals replacing them in a map, and keeps id order.
        #[test]
        fn merge_matches_a_map(
            held in prop::collection::btree_map("/[a-e]", 0u32..5, 0..6),
            fetched in prop::collection::vec(("/[a-f]", prop::option::of(0u32..5)), 0..6),
        ) {
            let mut apps: Vec<Arc<ObservedApp>> =
                held.iter().map(|(id, n)| Arc::new(app(id, *n))).collect();
            let mut model: BTreeMap<String, u32> = held.clone();
            let mut batch = Vec::new();
            let mut seen = BTreeSet::new();
            for (id, n) in fetched {
                if !seen.insert(id.clone()) {
                    continue; // one fetch per id, as the confirm step does
                }
                match n {
                    Some(n) => { model.insert(id.clone(), n); }
                    None => { model.remove(&id); }
                }
                batch.push((id.clone(), n.map(|n| app(&id, n))));
            }
            merge_fetched(&mut apps, batch);
            let got: BTreeMap<String, u32> = apps.iter().map(|a| (a.id.clone(), a.instances)).collect();
            prop_assert_eq!(got, model);
            prop_assert!(apps.windows(2).all(|w| w[0].id < w[1].id));
        }
    }
}
